/* ponder/model.h — decoder-only transformer architectures (llama, qwen2, qwen3, phi3): config from
 * GGUF metadata, weight tensors (memory-mapped where possible), the KV cache, and the batched
 * inference forward pass. Training (train/) reads the same config and tensor names. */
#ifndef PONDER_MODEL_H
#define PONDER_MODEL_H
#include "ponder/gguf.h"
#include "ponder/kern.h"
#include "ponder/tok.h"

typedef enum { PD_ARCH_LLAMA = 0, PD_ARCH_QWEN2, PD_ARCH_QWEN3, PD_ARCH_PHI3 } pd_arch;

typedef struct {
    pd_arch arch;
    char arch_name[32];       /* as in general.architecture */
    char name[128];           /* general.name */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv;
    int head_dim;             /* key_length (= value_length); need not equal n_embd / n_head */
    int n_ff;
    int n_ctx_train;
    float norm_eps;
    pd_rope rope;             /* mode, n_rot, base, freq_scale, attn_factor; factors set from tensors */
    int rope_orig_ctx;        /* original context for long/short factor choice (phi3), 0 = none */
    bool tied_output;         /* no output.weight: logits use token_embd */
    bool qkv_bias, qk_norm;
} pd_model_config;

typedef struct {
    pd_tensor attn_norm;
    pd_tensor wq, wk, wv, wqkv;   /* separate or fused (wqkv.data != NULL) */
    pd_tensor bq, bk, bv;         /* qwen2 biases (data NULL if absent) */
    pd_tensor q_norm, k_norm;     /* qwen3 per-head RMSNorm weights [head_dim] */
    pd_tensor wo;
    pd_tensor ffn_norm;
    pd_tensor w_gate, w_up, w_gate_up, w_down; /* w_gate_up: phi3 fused (gate rows first) */
} pd_layer;

/* Optional per-linear-layer adapter hook (train/ adapters): adds Δ(x) into y after y = W x.
 * `which` names the matrix ("q","k","v","o","gate","up","down"). */
typedef void (*pd_linear_hook)(void *ctx, int layer, const char *which, const float *x, int64_t n_tokens,
                               int64_t in_dim, float *y, int64_t out_dim);
/* Optional residual-stream hook: called after layer `layer` with the hidden states of the batch
 * (n_tokens × n_embd); may read or modify them (steering, probes). */
typedef void (*pd_residual_hook)(void *ctx, int layer, float *hidden, int64_t n_tokens, int64_t n_embd);

typedef struct pd_model {
    pd_model_config cfg;
    pd_tensor tok_embd, output_norm, output;  /* output.data == tok_embd.data when tied */
    pd_tensor rope_freqs;                     /* llama-3.1 / phi3 short factors (data NULL if absent) */
    pd_tensor rope_long;                      /* phi3 long factors (data NULL if absent) */
    pd_layer *layers;
    pd_tokenizer *tok;                        /* NULL if the file has no vocabulary */
    pd_gguf *gguf;                            /* owns the mapping the tensors point into */
    void *owned;                              /* extra memory owned by the model (NULL if none) */
    pd_linear_hook linear_hook; void *linear_hook_ctx;
    pd_residual_hook residual_hook; void *residual_hook_ctx;
} pd_model;

pd_model *pd_model_load(const char *path);            /* GGUF, or llama2.c .bin (converted in memory) */
pd_model *pd_model_from_gguf(pd_gguf *g);             /* takes ownership of g (also on failure) */
void pd_model_free(pd_model *m);
int64_t pd_model_n_params(const pd_model *m);

/* ---- KV cache: per layer, per kv head, per position; many sequences ---- */
typedef struct pd_kv pd_kv;
pd_kv *pd_kv_new(const pd_model_config *cfg, int n_seq_max, int n_ctx_max, pd_type kv_type /* F32 or F16 */);
void pd_kv_free(pd_kv *kv);
int pd_kv_seq_len(const pd_kv *kv, int seq);           /* positions stored for seq */
pd_status pd_kv_seq_rewind(pd_kv *kv, int seq, int pos); /* keep positions [0, pos) */
pd_status pd_kv_seq_copy(pd_kv *kv, int src, int dst);   /* dst becomes a copy of src (fork) */
void pd_kv_seq_clear(pd_kv *kv, int seq);          /* empty seq and free its buffers */
pd_type pd_kv_type(const pd_kv *kv);
int pd_kv_n_seq_max(const pd_kv *kv);
int pd_kv_n_ctx_max(const pd_kv *kv);
size_t pd_kv_bytes(const pd_kv *kv);                   /* K+V bytes currently allocated */
/* Read access (kv/ policies, probes, tests): the cached rows of (seq, layer, kv head). Row p < *len
 * starts at element p * head_dim of *k / *v (type pd_kv_type: F32 or F16); K rows are after rope
 * (and qk-norm). Valid until the sequence grows, is copied into, or is cleared. */
pd_status pd_kv_view(const pd_kv *kv, int seq, int layer, int head, const void **k, const void **v, int *len);

/* ---- forward ----
 * A batch of tokens from one or more sequences. Each token's pos must be its sequence's next
 * position (tokens of one sequence in order). Logits (n_vocab floats each) are written for the
 * tokens with want_logits[i] != 0 (all when want_logits == NULL), in batch order. */
typedef struct {
    int32_t n;
    const int32_t *token;
    const int32_t *seq;         /* NULL: all sequence 0 */
    const int32_t *pos;         /* NULL: continue each sequence from its current length */
    const int8_t *want_logits;  /* NULL: every token */
} pd_batch;
pd_status pd_model_forward(const pd_model *m, pd_kv *kv, const pd_batch *b, float *logits);

/* Convenience: one sequence, tokens appended at its end, logits of the last token only (or all when all=true). */
pd_status pd_model_eval(const pd_model *m, pd_kv *kv, int seq, const int32_t *tokens, int n, bool all, float *logits);

#endif
