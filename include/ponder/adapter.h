/* ponder/adapter.h — parameter-efficient adapters on linear layers: LoRA, PiSSA and SoKA
 * (../shared/specs/training.md §1, §2). A linear layer y = W x (W: d_out×d_in, row o holds the
 * weights of output o, i.e. ggml ne = [d_in, d_out]) becomes y = W x + Δ(x); only Δ's factors
 * are trained. Everything is row-major; a batch is n token rows of d_in (X) / d_out (Y) floats.
 *
 *   LoRA:  Δ(x) = s·B·A·x,  A r×d_in (Kaiming-uniform, a = √5: U(−1/√d_in, 1/√d_in)), B d_out×r
 *          (zero), s = α/r.
 *   PiSSA: W = U S Vᵀ; B = U_r S_r^½ (d_out×r), A = S_r^½ V_rᵀ (r×d_in), s = 1. (The PiSSA paper
 *          names these the other way round; we keep LoRA's names so files share one layout.)
 *   SoKA:  Δ(x) = s·Σ_k (A_k ⊗ B_k)·x, A_k m1×n1, B_k m2×n2, d_out = m1·m2, d_in = n1·n2, s = 1,
 *          initialised from the KPSVD of W: A_k = √σ_k·Â_k, B_k = √σ_k·B̂_k, k < r, r from the rank
 *          rule (energy / elbow / both, tau, r_max) or fixed. (A⊗B) is never formed: with x read
 *          row-major as X (n1×n2), (A⊗B)x = vec_rowmajor(A·X·Bᵀ) — the column-major statement of
 *          the same identity is (A⊗B) vec(X) = vec(B X Aᵀ).
 *
 * "W replaced by its residual" (PiSSA/SoKA) is represented without touching W: the layer keeps a
 * frozen copy of its initial factors (A0, B0) and applies Δ_eff = Δ(A, B) − Δ(A0, B0), so
 *   W x + Δ_eff(x) = (W − Δ(A0,B0)) x + Δ(A,B) x = W_res x + Δ(A,B) x.
 * This is exact at step 0 for any stored type of W (quantised bases included: the SVD is taken of
 * the dequantised W, and the residual is "dequantised W − principal part", never requantised),
 * and it is PiSSA's own "save as LoRA" form: Δ_eff = [B | −B0]·[A ; A0]·x, a rank-2r LoRA that
 * llama.cpp loads on the unmodified base. pd_adapter_residual() gives W_res explicitly. */
#ifndef PONDER_ADAPTER_H
#define PONDER_ADAPTER_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "ponder/error.h"
#include "ponder/rng.h"
#include "ponder/svd.h"
#include "ponder/tensor.h"
#include "ponder/train.h"

typedef enum { PD_ADAPTER_LORA = 0, PD_ADAPTER_PISSA = 1, PD_ADAPTER_SOKA = 2 } pd_adapter_method;
const char *pd_adapter_method_name(pd_adapter_method m);
int pd_adapter_method_from_name(const char *name); /* -1 if unknown */

/* Target matrices of a transformer block, by name pattern. */
enum { PD_AT_Q, PD_AT_K, PD_AT_V, PD_AT_O, PD_AT_GATE, PD_AT_UP, PD_AT_DOWN, PD_AT_COUNT };
const char *pd_adapter_target_name(int t);   /* "q", "k", "v", "o", "gate", "up", "down" */
const char *pd_adapter_target_tensor(int t); /* "attn_q", ..., "ffn_down" (GGUF blk.N.<this>.weight) */
int pd_adapter_target_from_name(const char *name); /* also accepts the tensor names; -1 if unknown */
/* "q,v" / "all" → bit mask (1u << PD_AT_*); PD_ERR_ARG naming the bad item. */
pd_status pd_adapter_parse_targets(const char *list, unsigned *mask);
/* Mask → "q,v" (buf of at least 40 bytes). */
void pd_adapter_targets_str(unsigned mask, char *buf, size_t cap);

/* ---- one adapted linear layer ---- */
typedef struct {
    pd_adapter_method method;
    int64_t d_in, d_out;
    int rank;               /* LoRA/PiSSA: r; SoKA: number of Kronecker terms */
    float scale;            /* s above */
    int64_t m1, n1, m2, n2; /* SoKA factor shapes (0 for LoRA/PiSSA) */
    float *A, *B;           /* trainable factors (shapes above; SoKA: r consecutive small matrices) */
    float *A0, *B0;         /* frozen initial factors (PiSSA, SoKA) or NULL (LoRA) */
    float *gA, *gB;         /* gradients, accumulated by the backward functions */
    double *spectrum;       /* PiSSA/SoKA: singular values at init (n_spectrum), else NULL */
    int64_t n_spectrum;
} pd_adapter_layer;

int64_t pd_adapter_layer_n_params(const pd_adapter_layer *L); /* trainable floats: |A| + |B| */
int64_t pd_adapter_layer_a_size(const pd_adapter_layer *L);
int64_t pd_adapter_layer_b_size(const pd_adapter_layer *L);
void pd_adapter_layer_free(pd_adapter_layer *L);  /* frees the arrays, zeroes the struct */

/* SoKA options. */
typedef struct {
    int64_t m1, n1;     /* 0: pd_kron_factor_dim(d_out / d_in) */
    int terms;          /* > 0: exactly this many terms; 0: adaptive by rule */
    pd_rank_rule rule;  /* default PD_RANK_BOTH */
    double tau;         /* energy threshold, default 0.90 */
    int r_max;          /* default 8 */
} pd_soka_opts;
void pd_soka_opts_default(pd_soka_opts *o);

pd_status pd_adapter_lora_init(pd_adapter_layer *L, int64_t d_in, int64_t d_out, int r, float alpha, pd_rng *rng);
/* W: d_out×d_in f32 (dequantise first: pd_linear_to_f32). */
pd_status pd_adapter_pissa_init(pd_adapter_layer *L, const float *W, int64_t d_in, int64_t d_out, int r,
                                pd_svd_method svd);
pd_status pd_adapter_soka_init(pd_adapter_layer *L, const float *W, int64_t d_in, int64_t d_out,
                               const pd_soka_opts *o, pd_svd_method svd);
/* Zero-initialised layer of the given shape with room for frozen factors when the method has them
 * (used by the file reader). For SoKA pass m1, n1 (m2 = d_out/m1, n2 = d_in/n1). */
pd_status pd_adapter_layer_alloc(pd_adapter_layer *L, pd_adapter_method m, int64_t d_in, int64_t d_out, int rank,
                                 int64_t m1, int64_t n1, float scale);

/* Y[n×d_out] += user_scale·Δ_eff(X[n×d_in]). Double-precision accumulation. */
void pd_adapter_forward(const pd_adapter_layer *L, const float *X, int64_t n, float *Y, float user_scale);
/* Given dY (n×d_out): gA, gB += ∂(Σ dY·Y)/∂(A, B); dX (n×d_in, may be NULL) += ∂/∂X of Δ_eff. */
void pd_adapter_backward(pd_adapter_layer *L, const float *X, int64_t n, const float *dY, float *dX);
void pd_adapter_zero_grad(pd_adapter_layer *L);
/* D (d_out×d_in) = Δ_eff as a dense matrix (merging, tests). */
void pd_adapter_delta_dense(const pd_adapter_layer *L, float *D);
/* Gradient route for engines that materialise W_eff = W + Δ_eff: given G = ∂loss/∂W_eff
 * (d_out×d_in), gA, gB += the chain rule through Δ(A, B). */
void pd_adapter_grad_from_dW(pd_adapter_layer *L, const float *G);
/* W (d_out×d_in f32) -= Δ(A0, B0): the explicit residual W_res (PiSSA/SoKA; LoRA: no change). */
void pd_adapter_residual(const pd_adapter_layer *L, float *W);

/* ---- frozen base linear, any stored type (rows dequantised with pd_dequantize_row) ---- */
/* W: ne[0] = d_in, ne[1] = d_out. out: d_out×d_in f32. */
pd_status pd_linear_to_f32(const pd_tensor *W, float *out);
/* Y[n×d_out] = X·Wᵀ (f32 rows, double accumulation). */
pd_status pd_linear_forward(const pd_tensor *W, const float *X, int64_t n, float *Y);
/* dX[n×d_in] += dY·W. */
pd_status pd_linear_backward_x(const pd_tensor *W, const float *dY, int64_t n, float *dX);

/* ---- a set of adapters over a model's blocks ---- */
typedef struct pd_adapter {
    pd_adapter_method method;
    int n_layer;
    unsigned targets;       /* mask of PD_AT_* */
    int rank;               /* nominal rank (LoRA/PiSSA r; SoKA fixed terms or 0 = adaptive) */
    float alpha;            /* LoRA α (PiSSA/SoKA: the value that gives scale 1) */
    pd_soka_opts soka;      /* SoKA settings used at init */
    float user_scale;       /* inference multiplier (--adapter-scale), default 1; not saved */
    char arch[32];          /* base model's general.architecture ("" if unknown) */
    pd_adapter_layer *layers; /* n_layer × PD_AT_COUNT; a slot is in use when its A != NULL */
} pd_adapter;

pd_adapter *pd_adapter_new(pd_adapter_method m, int n_layer);
void pd_adapter_free(pd_adapter *a);
static inline pd_adapter_layer *pd_adapter_slot(pd_adapter *a, int layer, int target) {
    return &a->layers[layer * PD_AT_COUNT + target];
}
int64_t pd_adapter_n_params(const pd_adapter *a);
int pd_adapter_n_slots(const pd_adapter *a);

/* GGUF adapter files: general.type = "adapter", general.architecture, adapter.type ("lora" for LoRA
 * and PiSSA, "soka" for SoKA), adapter.lora.alpha, and ponder.adapter.{method, rank, alpha, targets,
 * n_params, soka.rule, soka.tau, soka.r_max, soka.terms}.
 * LoRA/PiSSA tensors are llama.cpp's layout: blk.N.<t>.weight.lora_a ne = [d_in, r'] and .lora_b
 * ne = [r', d_out] (f32), where for PiSSA r' = 2r and lora_a = [A; A0], lora_b = [B | −B0] with
 * alpha = 2r (llama.cpp scale alpha/r' = 1), so llama.cpp applies exactly Δ_eff.
 * SoKA tensors: blk.N.<t>.weight.soka_a ne = [n1, m1, r], .soka_b ne = [n2, m2, r], and the frozen
 * .soka_a0 / .soka_b0 of the same shapes. */
pd_status pd_adapter_save(const pd_adapter *a, const char *path);
/* Same, letting `extra` add keys/tensors before writing (fine-tuning checkpoints add opt.* tensors,
 * which pd_adapter_load skips). */
struct pd_gguf_writer;
pd_status pd_adapter_save_ex(const pd_adapter *a, const char *path,
                             pd_status (*extra)(struct pd_gguf_writer *w, void *ctx), void *ctx);
pd_adapter *pd_adapter_load(const char *path);
/* Human summary (method, arch, layers, targets, rank settings, trainable parameters, rank histogram),
 * each line prefixed by `indent`; used by `ponder adapters info` and `ponder inspect`. */
void pd_adapter_print_summary(const pd_adapter *a, FILE *f, const char *indent);

/* The model's pd_linear_hook (ponder/model.h): ctx is a pd_adapter*; adds user_scale·Δ_eff(x). */
void pd_adapter_linear_hook(void *ctx, int layer, const char *which, const float *x, int64_t n_tokens,
                            int64_t in_dim, float *y, int64_t out_dim);

/* ---- fine-tuning a base model through an adapter (ponder finetune) ----
 * The base is loaded into the training engine (train.h; quantised bases are dequantised to f32 on
 * load). Each step the engine's adapted matrices are set to W_eff = W0 + Δ_eff(A, B) (so PiSSA/SoKA
 * start exactly at the base), forward/backward run as in `ponder train`, and the engine's gradient
 * of W_eff is pulled back onto the factors with pd_adapter_grad_from_dW; only the factors get
 * AdamW updates. Outputs: `out` (a clean adapter file, llama.cpp-loadable for LoRA/PiSSA) and
 * `out`.ckpt (the same plus AdamW moments opt.{m,v}.blk.N.<t>.{A,B} and ponder.finetune.* keys:
 * step, rng, settings) which --resume continues bit for bit. */
typedef struct {
    const char *base;           /* base model GGUF (required unless resuming: the checkpoint names it) */
    pd_adapter_method method;
    unsigned targets;           /* default q,v */
    int rank;                   /* LoRA/PiSSA r (default 8) */
    float alpha;                /* LoRA α (default 2·rank) */
    pd_soka_opts soka;
    bool soka_init_update;      /* SoKA init from the KPSVD of the estimated update ΔŴ = −Σ_b ∇_W L(batch_b)
                                 * over calib_batches training batches (spec §1.4 SOKA_INIT_UPDATE)
                                 * instead of the KPSVD of W (SOKA_INIT_WEIGHT, default) */
    int calib_batches;          /* default 8 */
    pd_svd_method svd;
    pd_run_opts run;            /* run.steps 0: write the freshly initialised adapter and stop;
                                 * run.stop_at: files written and evaluated there, as if interrupted;
                                 * default lr 1e-3, weight decay 0, clip 1, cosine to 0.1 */
} pd_finetune_opts;
void pd_finetune_opts_default(pd_finetune_opts *o);
typedef struct {
    int64_t steps_done, n_params;
    double initial_heldout_loss, final_loss, heldout_loss, seconds, tokens_per_s;
    pd_geval eval;
} pd_finetune_result;
pd_status pd_finetune_run(const pd_finetune_opts *o, pd_finetune_result *res);

/* ---- merging ----
 * Write base + Δ_eff as a new model GGUF: every KV and tensor of the base is copied; each adapted
 * matrix (blk.N.<t>.weight) is dequantised, Δ_eff is added, and the result is stored as F32 or,
 * with keep_type, requantised to the base tensor's type (rounding error of that type). The adapter
 * must match the base's layer count and matrix shapes. */
pd_status pd_adapter_merge_file(const char *base_path, const pd_adapter *a, const char *out_path, bool keep_type);

/* Load an adapter file, check it against the model (architecture, layer count, matrix shapes) and
 * install it as the model's linear hook with the given scale. *out owns the adapter: free it with
 * pd_adapter_free after the model is done (the model only borrows it). */
struct pd_model;
pd_status pd_model_attach_adapter(struct pd_model *m, const char *path, float scale, pd_adapter **out);

/* ---- parameter counts from dimensions alone (ponder adapters count) ---- */
typedef struct {
    const char *name;   /* "llama2-7b", ... */
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff;
} pd_model_shape;
const pd_model_shape *pd_model_shape_find(const char *name);  /* NULL if unknown */
const pd_model_shape *pd_model_shape_at(int i);                /* NULL past the end */
/* d_in, d_out of target t in a block of this shape. */
void pd_model_shape_dims(const pd_model_shape *s, int t, int64_t *d_in, int64_t *d_out);
/* Trainable parameters of one matrix: LoRA/PiSSA r·(d_in + d_out); SoKA terms·(m1·n1 + m2·n2) with
 * the default (near-square) factor shapes. */
int64_t pd_adapter_count_matrix(pd_adapter_method m, int64_t d_in, int64_t d_out, int rank_or_terms);

#endif
