/* ponder/train.h — training a decoder from scratch (pretrain / SFT): the model as flat f32 arrays
 * (all parameters in one allocation, grads and AdamW moments in the same layout), forward with
 * saved activations, hand-written backward, masked cross-entropy, AdamW + clipping + LR schedule,
 * and GGUF checkpoints that `ponder run` loads directly.
 * The architecture is the one the inference path runs (model.h): llama (RoPE NORM), qwen2 (NEOX,
 * q/k/v biases), qwen3 (NEOX, per-head QK RMSNorm); tied or untied output head; GQA; SwiGLU. */
#ifndef PONDER_TRAIN_H
#define PONDER_TRAIN_H
#include "ponder/error.h"
#include "ponder/rng.h"
#include "ponder/task.h"
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration ---- */
typedef struct {
    char arch[16];          /* "llama", "qwen2" or "qwen3" (general.architecture) */
    int n_vocab, dim, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx;
    float norm_eps, rope_base;
    bool rope_neox;         /* NEOX pairs (i, i+hd/2) for qwen2/qwen3, NORM pairs (2i, 2i+1) for llama */
    bool tied;              /* logits use token_embd (no output.weight) */
    bool qkv_bias, qk_norm;
    /* rope as the inference path applies it (kern.h pd_rope; 0 / NULL: none): linear scaling
     * (positions × freq_scale), cos/sin × attn_factor, per-pair frequency divisors (Llama-3.1's
     * rope_freqs.weight, head_dim/2 floats; copied by pd_tmodel_new and saved with the model) */
    float rope_freq_scale, rope_attn_factor;
    const float *rope_factors;
} pd_tcfg;

/* Fill arch-dependent defaults (rope mode, biases, qk-norm, eps, theta) for arch; dims are left alone. */
pd_status pd_tcfg_set_arch(pd_tcfg *c, const char *arch);
/* Check dims are positive and consistent (head_dim even, n_head % n_head_kv == 0, ...). */
pd_status pd_tcfg_validate(const pd_tcfg *c);

/* Parameter tensors, in their order inside the one allocation. Per-layer kinds hold n_layer
 * consecutive tensors. Absent kinds (biases without qkv_bias, ...) have size 0. */
enum {
    PD_TP_TOK_EMBD, PD_TP_ATTN_NORM, PD_TP_WQ, PD_TP_WK, PD_TP_WV, PD_TP_BQ, PD_TP_BK, PD_TP_BV,
    PD_TP_QNORM, PD_TP_KNORM, PD_TP_WO, PD_TP_FFN_NORM, PD_TP_GATE, PD_TP_UP, PD_TP_DOWN,
    PD_TP_OUT_NORM, PD_TP_OUTPUT, PD_TP_COUNT
};
/* Elements of each kind (all layers together); returns the total. */
size_t pd_tcfg_param_sizes(const pd_tcfg *c, size_t sizes[PD_TP_COUNT]);

/* One named GGUF tensor inside the flat parameter array. */
typedef struct {
    char name[64];          /* e.g. "blk.3.attn_q.weight" */
    size_t offset, n;       /* in floats */
    int n_dims;
    int64_t ne[2];          /* ggml order: ne[0] = row length (input dim) */
    bool decay;             /* AdamW weight decay applies (matrices and embeddings, not norms/biases) */
    int kind, layer;        /* PD_TP_* and block index (0 for tensors outside the blocks) */
} pd_ttensor;
/* The tensor table (malloc'd array, *n entries). */
pd_ttensor *pd_tcfg_tensors(const pd_tcfg *c, int *n);

/* ---- the model being trained ---- */
typedef struct pd_tmodel pd_tmodel;
pd_tmodel *pd_tmodel_new(const pd_tcfg *c, int B, int T);   /* params zero; B×T the largest batch */
void pd_tmodel_free(pd_tmodel *m);
const pd_tcfg *pd_tmodel_cfg(const pd_tmodel *m);
size_t pd_tmodel_n_params(const pd_tmodel *m);
float *pd_tmodel_params(pd_tmodel *m);   /* n_params floats */
float *pd_tmodel_grads(pd_tmodel *m);
/* Random init: N(0, 0.02) matrices and embeddings (output projections scaled by 1/sqrt(2·n_layer)),
 * norms 1, biases 0. */
void pd_tmodel_init(pd_tmodel *m, pd_rng *rng);

/* One micro-batch of B rows × T tokens. seg[i] is the index (within its row) where token i's document
 * starts: attention stays inside a document and RoPE positions restart there (packing). seg may be
 * NULL (one document per row). targets[i] is the next token to predict at i, or -1 (no loss). */
typedef struct {
    int B, T;
    const int32_t *tokens, *targets, *seg;
} pd_tbatch;

/* Forward with saved activations; returns the SUM of -log p(target) over the batch's targets
 * (and their count in *n_targets). The logits of the last forward stay readable. */
double pd_tmodel_forward(pd_tmodel *m, const pd_tbatch *b, int64_t *n_targets);
const float *pd_tmodel_logits(const pd_tmodel *m);  /* [B*T][n_vocab] of the last forward */
/* Backward of (loss_sum * scale), ACCUMULATED into the grads (call after forward on the same batch). */
void pd_tmodel_backward(pd_tmodel *m, const pd_tbatch *b, float scale);
void pd_tmodel_zero_grad(pd_tmodel *m);
/* Train with a local attention window: each query sees the first `sink` positions of its document and
 * its `recent` most recent ones (itself included); 0, 0 (the default): full causal attention. */
pd_status pd_tmodel_set_window(pd_tmodel *m, int sink, int recent);
/* mixed windows: with on, pd_tmodel_window_draw(m, key) sets the window of the next forward/backward to
 * the base window's (S, R), (S, 2R), (S, 4R) or full attention, equally likely, a function of key
 * only (pd_rng stream PD_STREAM_WINDOW of the run), so a resumed run draws the same; off: no-op.
 * pd_tmodel_window_base puts the base window back (the held-out loss uses it). */
void pd_tmodel_set_window_mix(pd_tmodel *m, bool on);
void pd_tmodel_window_draw(pd_tmodel *m, uint64_t key);
void pd_tmodel_window_base(pd_tmodel *m);

/* ---- precision of the training GEMMs (`--precision f32|bf16`) ----
 * BF16 mixed precision as PyTorch autocast users know it: every GEMM of forward and backward (linear
 * layers and attention) takes its operands rounded to BF16 and accumulates in F32 (ponder/gemm_bf16.h:
 * vdpbf16ps where the CPU has AVX512-BF16, the same numbers more slowly elsewhere); master weights,
 * gradients, AdamW moments, norms, softmax and the loss stay F32. The weights' BF16 copy is made once
 * per optimizer step (the first forward after pd_tmodel_zero_grad or a write through pd_tmodel_params). */
typedef enum { PD_PREC_F32 = 0, PD_PREC_BF16 = 1 } pd_precision;
const char *pd_precision_name(pd_precision p);                /* "f32", "bf16" */
pd_status pd_precision_parse(const char *s, pd_precision *p); /* "f32" | "bf16", else PD_ERR_ARG naming s */
pd_status pd_tmodel_set_precision(pd_tmodel *m, pd_precision p); /* PD_ERR_NOMEM for the BF16 copy */
pd_precision pd_tmodel_precision(const pd_tmodel *m);

/* ---- optimiser ---- */
typedef struct {
    float lr, min_lr_frac;      /* peak LR; cosine decays to lr·min_lr_frac */
    int warmup, total_steps;
    float beta1, beta2, eps, weight_decay, clip;  /* clip <= 0: no clipping */
} pd_optcfg;
void pd_optcfg_default(pd_optcfg *o);
float pd_lr_at(const pd_optcfg *o, int64_t step);      /* warm-up then cosine; step counts from 0 */
/* Global L2 norm of the grads (double accumulation). */
double pd_tmodel_grad_norm(pd_tmodel *m);
/* One AdamW step at `step` (0-based): clip grads to o->clip, then update params and moments.
 * Returns the pre-clip gradient norm. */
double pd_tmodel_adamw(pd_tmodel *m, const pd_optcfg *o, int64_t step, float lr);
float *pd_tmodel_adam_m(pd_tmodel *m);
float *pd_tmodel_adam_v(pd_tmodel *m);

/* ---- checkpoints (GGUF) ----
 * Weights under their inference names (F32), the model's vocabulary and chat template, the AdamW
 * moments as opt.m.<name> / opt.v.<name>, and ponder.train.* keys: step, rng state, optimiser and
 * data settings (the JSON string ponder.train.config). Written atomically. A model loaded from a
 * file writes back that file's metadata (tokenizer.*, general.*, ...; arch keys from its config);
 * a model made by pd_tmodel_new writes ponder's byte vocabulary (specials below) and a Qwen3-style
 * template, and cannot be saved with any other n_vocab. */
typedef struct {
    int64_t step;
    pd_rng rng;
    const char *config_json;    /* free-form run settings to restore with --resume (may be NULL) */
    bool with_optimizer;        /* false: a plain model file (no opt.* tensors) */
} pd_tckpt_info;
pd_status pd_tmodel_save(const pd_tmodel *m, const char *path, const pd_tckpt_info *info);
/* Load any model of a trainable architecture (llama, qwen2, qwen3 as the inference loader reads
 * them: GGUF or llama2.c .bin; rope_freqs / linear scaling included; no partial rotary, long/short
 * rope factors or fused matrices) into
 * a new model with batch capacity B×T (T is capped at the model's context), its weights
 * dequantised into the f32 masters — F32, F16, BF16 or Q8_0 weights; other types are refused here
 * (fine-tune those through an adapter). The model's tokenizer and chat family come along
 * (pd_tmodel_chat). A checkpoint also restores: info (may be NULL) receives step, rng and a
 * malloc'd config_json (free it; NULL if absent); *has_opt tells whether the moments were restored. */
pd_tmodel *pd_tmodel_load(const char *path, int B, int T, pd_tckpt_info *info, bool *has_opt);
/* The same for a base that stays frozen under an adapter: any stored type. Its non-F32 block
 * matrices (q, k, v, o, gate, up, down) stay in their stored type (views of the file; dequantised
 * into one scratch buffer just before each use, so the numbers equal f32 masters of the dequantised
 * weights) and get no gradient; the rest (embeddings, norms, F32 matrices) is loaded as f32. No AdamW
 * moments are allocated (pd_tmodel_adamw must not be called on it). */
pd_tmodel *pd_tmodel_load_frozen(const char *path, int B, int T);
/* Give a frozen matrix ("blk.3.attn_q.weight") an f32 copy and a gradient — an adapted matrix,
 * trained through its W_eff. No effect on a matrix already in f32; PD_ERR_ARG for an unknown name. */
pd_status pd_tmodel_thaw(pd_tmodel *m, const char *name);
/* The model's vocabulary and chat format (struct pd_tchat, ponder/data.h): what its training data
 * is rendered and tokenised with. tok is NULL when the model has no vocabulary. */
struct pd_tchat;
const struct pd_tchat *pd_tmodel_chat(const pd_tmodel *m);

/* The model as the inference path sees it (an in-memory GGUF loaded by pd_model_from_gguf): for
 * generation during training. Free with pd_model_free. */
struct pd_model;
struct pd_model *pd_tmodel_snapshot(const pd_tmodel *m);

/* ---- greedy task accuracy (through the inference path) ---- */
typedef struct {
    int n, correct;
    double accuracy, score_sum, mean_think_tokens, mean_gen_tokens, tokens_per_s, seconds;
} pd_geval;
/* Greedy-decode each item's prompt (pm's chat template, as `ponder run`) with pm (up to max_new tokens), verify with
 * the item's task (or the reference answer for JSONL items); records (may be NULL) gets one JSON
 * line per item. */
pd_status pd_train_greedy_eval(const struct pd_model *pm, const pd_task_item *items, int n, int max_new,
                               FILE *records, pd_geval *res);

/* Load model_path through the inference path and print a markdown table (accuracy, mean thinking
 * tokens, tokens/s) of greedy decoding on n held-out items of `task` at each difficulty in diffs. */
pd_status pd_train_report(const char *model_path, const char *task, const int *diffs, int nd, int n, uint64_t seed,
                          int max_new, FILE *out, FILE *records);

/* ---- the settings every training run shares ----
 * `ponder train` (pd_train_opts), `ponder finetune` (pd_finetune_opts, adapter.h) and the RL loop embed
 * one of these as their `.run`: data, optimisation, output and evaluation settings. */
typedef struct {
    pd_optcfg opt;              /* opt.total_steps is set from steps */
    const char *task;           /* task name, or NULL with data_path */
    int dlo, dhi;               /* task difficulty range */
    const char *data_path;      /* JSONL (task items / SFT examples) or text corpus */
    bool strict;                /* a malformed JSONL line fails the run (default: warned and skipped) */
    int B, T, accum;            /* micro-batch rows × tokens, micro-batches per step */
    int64_t steps;              /* the schedule's length (on resume: <= 0 keeps the checkpoint's) */
    int64_t stop_at;            /* > 0: end after this step as if interrupted (checkpoint written; the
                                   schedule still spans `steps`) */
    uint64_t seed;
    int threads;
    const char *out;            /* the result (model or adapter); checkpoints with optimizer state go to
                                   <out>.ckpt */
    const char *resume;         /* checkpoint to continue from, or NULL */
    const char *log_path;       /* steps.jsonl, or NULL */
    const char *plot_path;      /* loss-curve SVG/PNG, or NULL (none) */
    int ckpt_every;             /* steps between checkpoints to <out>.ckpt (0: only at the end) */
    int eval_every;             /* steps between held-out evaluations (0: only at the end) */
    int eval_batches;           /* held-out micro-batches for the held-out loss */
    int eval_n;                 /* items for greedy accuracy (0: none) */
    int eval_difficulty;        /* difficulty of those items (0: dhi) */
    int max_new;                /* generation limit for greedy accuracy */
    int attn_sink, attn_recent; /* `ponder train --attn-window S,R` (pd_tmodel_set_window; 0, 0: full);
                                   kept in the checkpoint */
    int attn_mix;               /* `--attn-window S,R,mixed`: each training micro-batch draws its window
                                   (pd_tmodel_window_draw: R, 2R, 4R or full attention) */
    FILE *progress;             /* progress bar / lines (NULL: silent) */
    double *loss_curve;         /* optional: receives the loss of each step run (indexed by step) */
    pd_precision precision;     /* `--precision f32|bf16` (pd_tmodel_set_precision); kept in the checkpoint */
} pd_run_opts;
/* The shared defaults: difficulty 3, batch 8×256, accum 1, seed 1, 4 held-out batches, max_new 256,
 * pd_optcfg_default; steps as given. */
void pd_run_opts_default(pd_run_opts *r, int64_t steps);

/* ---- the training run (what `ponder train` does) ---- */
typedef struct {
    pd_tcfg cfg;                /* architecture and sizes (n_vocab is set by the run) */
    pd_run_opts run;            /* run.out is required: the final model (no optimizer state, loads in
                                   llama.cpp too) */
    const char *init;           /* start from this model's weights, vocabulary and chat template (any
                                   trainable model, pd_tmodel_load) instead of a random init; NULL: new */
} pd_train_opts;
void pd_train_opts_default(pd_train_opts *o);
typedef struct {
    int64_t steps_done;
    double final_loss, heldout_loss, tokens_per_s, seconds;
    pd_geval eval;
    size_t n_params;
    char task[64];              /* the task trained on ("" for a data file; on resume the checkpoint's) */
    uint64_t seed;              /* the run's seed (on resume the checkpoint's) */
} pd_train_result;
pd_status pd_train_run(const pd_train_opts *o, pd_train_result *res);
/* The effective settings of a run as one JSON object (malloc'd, valid UTF-8; NULL + error when out of
 * memory): {"init": PATH} or {"model": {arch, dim, ...}}, and {"run": {every pd_run_opts field}}.
 * What `ponder train --dry-run` prints. */
char *pd_train_opts_json(const pd_train_opts *o);

/* Loss-curve plot, SVG or PNG by the extension of path (ponder/plot.h): loss[i] is the training
 * loss at step x0+i+1 (drawn with its running mean); eval points (step, held-out loss) are drawn
 * as dots. Written atomically. */
pd_status pd_train_plot_svg(const char *path, const double *loss, int64_t x0, int64_t n, const double *eval_x,
                            const double *eval_y, int n_eval);

/* ---- benchmarks (`ponder bench gemm`, `ponder bench train`) ----
 * gemm: pd_sgemm GFLOP/s on square and training-step shapes; *peak (may be NULL) gets the best
 * square rate. train: the gemm table, then training steps of the 1M/10M/50M models (only = "1M",
 * "10M", "50M" or NULL for all) on B×T random tokens: tokens/s (wall and per CPU second), GFLOP/s
 * and their share of the FMA peak (measured at start). */
pd_status pd_bench_gemm_run(FILE *out, int threads, double *peak);
pd_status pd_bench_train_run(FILE *out, const char *only, int threads, int steps, int B, int T);
/* `ponder bench gemm|train [flags]` entry points (argv[0] = "gemm" / "train"; cli/cmd_bench.c). */
int pd_bench_gemm(int argc, char **argv);
int pd_bench_train(int argc, char **argv);

/* The byte-level vocabulary size and special tokens of models trained from scratch. */
#define PD_TRAIN_N_SPECIALS 5
extern const char *const pd_train_specials[PD_TRAIN_N_SPECIALS];
#define PD_TRAIN_VOCAB (256 + PD_TRAIN_N_SPECIALS)

#endif
