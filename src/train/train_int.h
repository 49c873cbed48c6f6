/* train/train_int.h — internals shared by the train/ files: the f32 instantiation of the model
 * template (tmodel_tmpl.h) and the pd_tmodel struct. Not a public header. */
#ifndef PONDER_TRAIN_INT_H
#define PONDER_TRAIN_INT_H
#include "ponder/data.h"
#include "ponder/gemm_bf16.h"
#include "ponder/kern.h"
#include "ponder/train.h"
#include <math.h>

#define TR float
#define TN(x) pd_tr_##x
#define TR_FROZEN /* frozen matrices in their stored type (pd_tmodel_load_frozen) */
#define TR_EXP(x) expf(x)
#define TR_GEMM(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc) \
    pd_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc)
/* `--precision bf16` (pd_tmodel_set_precision): what PyTorch autocast does for bf16 on CPU — every
 * GEMM of the step (linear forward, dX and dW, the attention's five) takes its operands rounded to
 * BF16 (nearest even, as vcvtneps2bf16) and accumulates in F32 (pd_gemm_bf16: vdpbf16ps where the CPU
 * has AVX512-BF16, the same bits through F32 panels elsewhere); weights, gradients, AdamW state,
 * activations, norms, softmax, SwiGLU and the loss stay F32. Weights are read from the BF16 copy
 * made once per optimizer step (pd_tmodel's wh). */
#define TR_GEMM_MP(bf16, ta, tb, M, N, K, A, Ah, lda, B, Bh, ldb, beta, C, ldc)                 \
    ((bf16) ? pd_gemm_bf16(ta, tb, M, N, K, A, Ah, lda, B, Bh, ldb, beta, C, ldc)              \
            : TR_GEMM(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))
/* fused f32 elementwise passes: kern's AVX2 versions (ponder/kern.h) */
#define TR_EXPSUM(a, n, mx) pd_exp_sum(a, n, mx)
#define TR_SWIGLU_FWD(sw, g, u, n) pd_swiglu(sw, g, u, n)
#define TR_SWIGLU_BWD(dg, du, dsw, g, u, n) pd_swiglu_backward(dg, du, dsw, g, u, n)
/* train/tops.c: RMSNorm over a block of rows (forward with the residual add x += add fused in front;
 * backward: dx += ..., dwp = the block's partial weight gradient) and the AdamW update, AVX2 with
 * scalar twins; contracts as the template's TR_RMSNORM_FWD / TR_RMSNORM_BWD loops */
typedef struct { float gscale, b1, b2, bc1, bc2, lr, wd, eps; } pd_trk_adamw_args;
void pd_trk_rmsnorm_fwd(float *y, float *rstd, float *x, const float *add, const float *w, int64_t rows, int n,
                        float eps);
void pd_trk_rmsnorm_bwd(float *dx, float *dwp, const float *dy, const float *x, const float *w, const float *rstd,
                        int64_t rows, int n);
/* p -= lr·(m̂/(√v̂ + eps) + wd·p) after the moment updates, g scaled by gscale (the bits of the plain loop) */
void pd_trk_adamw(float *p, const float *g, float *m, float *v, int64_t n, const pd_trk_adamw_args *a);
#define TR_RMSNORM_FWD(y, rstd, x, add, w, rows, n, eps) pd_trk_rmsnorm_fwd(y, rstd, x, add, w, rows, n, eps)
#define TR_RMSNORM_BWD(dx, dwp, dy, x, w, rstd, rows, n) pd_trk_rmsnorm_bwd(dx, dwp, dy, x, w, rstd, rows, n)
#include "tmodel_tmpl.h"

struct pd_tmodel {
    pd_tcfg cfg;
    int B, T;                   /* batch capacity */
    size_t n_params;
    float *params, *grads, *m, *v;  /* same layout; m, v: AdamW moments */
    pd_tr_params p, g;
    int win_sink, win_recent, win_mix; /* pd_tmodel_set_window's base window; win_mix: drawn per micro-batch */
    float *act_mem;
    size_t act_floats;
    pd_tr_acts a;
    pd_tr_grads_act ga;
    int curB, curT;             /* shape the activations are laid out for */
    float *cs;                  /* RoPE table [n_ctx][head_dim/2][2] (pd_rope_cache: the inference angles) */
    float *rope_factors;        /* the model's copy of cfg.rope_factors (NULL: none) */
    pd_ttensor *tensors;
    int n_tensors;
    /* the vocabulary and chat format: of the file the model was loaded from (src, whose KVs other
     * than the weights' and ponder.* are written back on save), or ponder's byte vocabulary */
    struct pd_model *src;       /* NULL for models made by pd_tmodel_new */
    pd_tokenizer *own_tok;      /* the byte vocabulary (pd_tmodel_new with n_vocab PD_TRAIN_VOCAB) */
    pd_tchat chat;              /* chat.tok NULL: no vocabulary */
    /* pd_tmodel_load_frozen: the base's quantised/half block matrices stay in their stored type (views
     * into src), [kind·n_layer + l] as p.frozen reads them; their params/grads slices are unused */
    pd_tensor *frozen;          /* NULL: every weight is in params */
    float *frozen_scratch;      /* the largest frozen matrix, dequantised before each use */
    /* --precision (pd_tmodel_set_precision): with bf16, wh is the BF16 copy of params (same layout),
     * remade by the first forward after wh_stale is set — by pd_tmodel_zero_grad (each optimizer
     * step's start), pd_tmodel_params (the caller may write) and the optimizer */
    pd_precision precision;
    uint16_t *wh;
    bool wh_stale;
};
/* params changed behind the model's back (optimizer, loads): the BF16 copy is remade before the next forward */
static inline void pd_tmodel_touch(pd_tmodel *m) { m->wh_stale = true; }
/* tensor i of m->tensors is a frozen matrix (no f32 copy, no gradient) */
bool pd_tmodel_is_frozen(const pd_tmodel *m, int i);

/* pd_tmodel_new with or without AdamW moments (frozen bases under adapters need none) */
pd_tmodel *pd_tmodel_new_ex(const pd_tcfg *c, int B, int T, bool moments);
/* under mpirun: every trainable (not frozen) gradient summed over the ranks in rank order (ponder/dist.h) */
pd_status pd_tmodel_sum_grads(pd_tmodel *m);

/* ---- train/loop.c: what `ponder train` (trainer.c) and `ponder finetune` (peft.c) share ---- */
#include "ponder/data.h"
#include "ponder/progress.h"
#include <cjson/cJSON.h>
#include <stdio.h>

/* Named pd_rng streams derived from the run's seed (pd_rng_derive(seed, stream)); fixed values,
 * changing one changes every run's numbers. */
#define PD_STREAM_EVAL_ITEMS 0xACCu       /* held-out task items for greedy accuracy (+ difficulty in reports) */
#define PD_STREAM_HELDOUT 0xE7A1u         /* held-out micro-batches for the held-out loss */
#define PD_STREAM_WINDOW 0x3171Du         /* --attn-window S,R,mixed: each micro-batch's window */
#define PD_STREAM_LORA_INIT 0x10A0000u    /* LoRA A init, + layer·PD_AT_COUNT + target */
#define PD_STREAM_SOKA_CALIB 0xCA11Bu     /* calibration batches of SoKA's update initialisation */
#define PD_STREAM_RL_EVAL_ITEMS 0xE1u     /* RL's held-out task items (pd_rl_eval_items) */
#define PD_STREAM_BENCH_INIT 1u           /* `ponder bench rl`: the synthetic model's weights */
#define PD_STREAM_BENCH_ROLLOUT 7u        /* `ponder bench rl`: the timed step's rollouts */

/* adds task/data, batch shape, steps, seed and optimiser settings of r to j (in that order) */
void pd_run_opts_to_json(cJSON *j, const pd_run_opts *r);
/* reads back the numbers and the seed (steps only when r->steps <= 0) and task/data (copied into
 * *keep, freed by the caller); a checkpoint without one of them keeps r's */
pd_status pd_run_opts_from_json(const cJSON *j, pd_run_opts *r, char **keep);

typedef struct { int32_t *tok, *tgt, *seg; } pd_run_bufs;
pd_status pd_run_bufs_alloc(pd_run_bufs *b, size_t n); /* PD_ERR_NOMEM if any failed; free with _free */
void pd_run_bufs_free(pd_run_bufs *b);

/* the step loop's shared state: the caller fills the first block, pd_run_open the rest */
typedef struct {
    pd_tmodel *m;
    pd_data *d;
    uint64_t seed;
    int B, T, accum, eval_batches, eval_every, ckpt_every, max_new;
    FILE *progress;
    bool eval_lines_on_tty;     /* eval lines on a terminal too (clearing the bar's line first) */
    double *loss_curve;         /* optional, indexed by step */
    /* data parallel (ponder/dist.h): gradient ranges to sum over the ranks as [offset, count] pairs in
     * floats (NULL: every tensor that is not frozen; n_grad_ranges 0: none — fine-tuning's adapter step
     * sums its factor gradients itself, pd_adapted_step) */
    const size_t (*grad_ranges)[2];
    int n_grad_ranges;

    FILE *log;
    const char *log_path;
    pd_run_bufs bb;             /* accum·B·T tokens */
    /* data parallel: B above is this rank's share of the global batch (batch / ranks); the rank
     * draws every rank's micro-batches from the shared stream (so all ranks' streams stay equal) and
     * keeps its own: micro-batches rank·accum .. rank·accum + accum − 1 of ranks·accum */
    int rank, ranks;
    pd_run_bufs skip;           /* B·T tokens: where the other ranks' micro-batches are drawn */
    double *mb_loss;            /* ranks·accum losses of the step's micro-batches */
    pd_task_item *items;
    int n_items, n_ev, max_ev;
    double *curve, *ex, *ey;    /* loss per step; eval points for the plot */
    pd_progress pg;
    pd_precision precision;     /* the run's --precision, set on the model by pd_run_open */
    int64_t start;
    double t_run, tokens_run;
    /* results so far */
    int64_t steps_done;
    double final_loss, heldout_loss, seconds, tokens_per_s;
    pd_geval eval;
} pd_run;

/* what differs between the runs: before_eval (may be NULL) readies the model for evaluation; save
 * writes the checkpoint after steps_done steps (final: the last step of the schedule) */
typedef struct {
    void *ctx;
    void (*before_eval)(void *ctx);
    pd_status (*save)(void *ctx, int64_t steps_done, bool final);
} pd_run_hooks;

/* a pd_run for the run settings o */
#define PD_RUN_OF(o, model, data, tty_evals)                                                                  \
    ((pd_run){.m = (model), .d = (data), .seed = (o).seed, .B = (o).B, .T = (o).T, .accum = (o).accum,        \
              .eval_batches = (o).eval_batches, .eval_every = (o).eval_every, .ckpt_every = (o).ckpt_every,    \
              .max_new = (o).max_new, .progress = (o).progress, .eval_lines_on_tty = (tty_evals),              \
              .loss_curve = (o).loss_curve, .precision = (o).precision})
/* the results so far into a pd_train_result or pd_finetune_result */
#define PD_RUN_RESULT(res, r)                                                                                 \
    ((res)->steps_done = (r).steps_done, (res)->final_loss = (r).final_loss,                                 \
     (res)->heldout_loss = (r).heldout_loss, (res)->eval = (r).eval, (res)->seconds = (r).seconds,            \
     (res)->tokens_per_s = (r).tokens_per_s)
/* On resume from step `start`: drop the step log's lines of later steps (atomically; a missing log is
 * fine), so that the resumed run logs each step once */
pd_status pd_run_log_keep_upto(const char *path, int64_t start);
/* m's GEMM precision (pd_tmodel_set_precision); bf16 on a CPU without AVX512-BF16 says once on stderr
 * that it runs without a speed-up. pd_run_open calls it with r->precision; the RL loop too. */
pd_status pd_run_precision(pd_tmodel *m, pd_precision p);
/* buffers, loss curve, held-out items, step log (appended when start > 0) */
pd_status pd_run_open(pd_run *r, int64_t steps, int64_t start, const char *log_path, int eval_n, int eval_difficulty,
                      int dhi);
void pd_run_begin(pd_run *r, const char *label, int64_t steps); /* progress bar and clock */
double pd_run_heldout_loss(pd_run *r);                          /* fixed stream: never moves the training data */
/* draw accum micro-batches from rng, zero the gradients, forward/backward each; *loss: mean per target.
 * A non-finite loss, weight or gradient is an error naming the step and the tensor (nothing updated). */
pd_status pd_run_micro(pd_run *r, pd_rng *rng, int64_t step, double *loss);
/* after forward/backward of step (0-based): a non-finite loss, weight or gradient is an error naming
 * the step and the first tensor that went bad (weights first); nothing is updated */
pd_status pd_tmodel_check_finite(const pd_tmodel *m, int64_t step, double loss);
/* test hook: PD_TEST_NAN_AT_STEP=N poisons the first attention norm weight before step N (1-based) */
void pd_run_test_poison(pd_tmodel *m, int64_t step);
/* before step 1: some of the next micro-batches from (a copy of) rng must hold target tokens */
pd_status pd_run_check_targets(pd_run *r, const pd_rng *rng);
/* before any work: out, the checkpoint (may be NULL), log and plot paths can be written */
pd_status pd_run_check_outputs(const pd_run_opts *o, const char *ckpt_path);
/* On resume from step `start` of a checkpoint whose schedule is `schedule` steps: run->steps <= 0
 * becomes the schedule; nothing left to do is an error; a different end says on stderr that the LR
 * schedule stays the checkpoint's (and what happens past it). */
pd_status pd_run_resume_steps(pd_run_opts *r, int64_t start, int64_t schedule);
/* the schedule length ("steps") saved in a checkpoint's config, 0 if absent */
int64_t pd_run_json_steps(const cJSON *j);
/* after step `step` (0-based) began at t0: loss curve, step log, evaluation (every eval_every, or
 * eval_final), checkpoint (every ckpt_every, or ckpt_final), progress */
pd_status pd_run_after_step(pd_run *r, int64_t step, double loss, float lr, double gnorm, double t0, bool eval_final,
                            bool ckpt_final, const pd_run_hooks *h);
pd_status pd_run_finish(pd_run *r, const char *plot_path); /* timing, progress end, loss-curve plot */
void pd_run_close(pd_run *r);

#endif
