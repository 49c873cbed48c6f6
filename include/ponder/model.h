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
/* The same, told each row's sequence (seq[i]) and position (pos[i]): per-sequence, current-position
 * steering (reason/steer.c). Called after the plain hook, after the block's FFN residual add (where
 * llama.cpp applies control vectors). */
typedef void (*pd_residual_rows_hook)(void *ctx, int layer, float *hidden, int64_t n_tokens, int64_t n_embd,
                                      const int32_t *seq, const int32_t *pos);

typedef struct pd_model {
    pd_model_config cfg;
    pd_tensor tok_embd, output_norm, output;  /* output.data == tok_embd.data when tied */
    pd_tensor rope_freqs;                     /* llama-3.1 / phi3 short factors (data NULL if absent) */
    pd_tensor rope_long;                      /* phi3 long factors (data NULL if absent) */
    pd_layer *layers;
    pd_tokenizer *tok;                        /* NULL if the file has no vocabulary */
    pd_gguf *gguf;                            /* owns the mapping the tensors point into */
    void *owned;                              /* extra memory owned by the model (NULL if none) */
    void *repacked;                           /* pd_model_repack's weights (NULL if none) */
    pd_linear_hook linear_hook; void *linear_hook_ctx;
    pd_residual_hook residual_hook; void *residual_hook_ctx;
    pd_residual_rows_hook residual_rows_hook; void *residual_rows_hook_ctx;
} pd_model;

pd_model *pd_model_load(const char *path);            /* GGUF, or llama2.c .bin (converted in memory) */
pd_model *pd_model_from_gguf(pd_gguf *g);             /* takes ownership of g (also on failure) */
void pd_model_free(pd_model *m);
int64_t pd_model_n_params(const pd_model *m);
/* For inference only: the matmul weights (every layer's projections and `output`, also when it is
 * the tied embedding: get_rows reads it with pd_tensor_row_f32) of type Q4_0 / Q8_0 / Q4_K / Q6_K are rearranged
 * into 8-row groups where the active kernels read that layout (kern.h: pd_repack_r8), so decode streams
 * each group contiguously. The rearranged copy replaces the file's bytes: the tensors point at it
 * and the mapped pages of the originals are given back (pd_gguf_release), so memory does not
 * double. Logits are unchanged to the bit (Q4_K, Q6_K: to rounding, their GGUF-layout tiles add in
 * another order). Call it after loading and before anything that reads
 * weight bytes other than pd_matmul (adapters, training: they read GGUF rows); with a linear
 * hook set, or a second time, it does nothing. */
pd_status pd_model_repack(pd_model *m);

/* ---- KV cache: paged blocks per (sequence, layer, kv head), copy-on-write, quantisable ----
 * Each (seq, layer, kv head) holds an ordered list of LIVE rows. A row is one cached position:
 * its K (after rope and qk-norm: keys are stored rotated and never re-rotated), its V, and the
 * position it was written at. Rows are appended in position order and stay in that order;
 * eviction removes rows from the list (heads may keep different positions and different
 * counts); attention runs over the live rows only. Rows live in fixed-size blocks drawn from one
 * pool per cache; forks share blocks (reference counts) and a block is copied only when one side
 * writes into it. See model/kv.c for the layout and docs in the README ("KV cache"). */
typedef struct pd_kv pd_kv;
typedef struct {
    pd_type type;            /* K storage, and V's unless v_type_set: F32, F16, Q8_0, Q4_0 (Q types need
                                head_dim % 32 == 0) */
    bool v_type_set;         /* V stored as v_type (any of the four, independent of K: llama.cpp's -ctv) */
    pd_type v_type;
    int block_rows;          /* rows per block, a multiple of 16 in [16, 1024]; 0 = PD_KV_BLOCK_ROWS */
    size_t pool_keep_bytes;  /* released blocks kept for reuse up to this many bytes, the rest goes back to
                                the system (0 = PD_KV_POOL_KEEP; SIZE_MAX = keep everything) */
} pd_kv_params;
#define PD_KV_BLOCK_ROWS 32
#define PD_KV_POOL_KEEP ((size_t)64 << 20)
pd_kv *pd_kv_new(const pd_model_config *cfg, int n_seq_max, int n_ctx_max, pd_type kv_type);
pd_kv *pd_kv_new_ex(const pd_model_config *cfg, int n_seq_max, int n_ctx_max, const pd_kv_params *p);
void pd_kv_free(pd_kv *kv);
bool pd_kv_type_ok(pd_type t);                         /* a type pd_kv_new accepts (head_dim permitting) */
/* Positions consumed by seq: the next token of seq goes to this position. Eviction does not
 * change it (it is not the live count). */
int pd_kv_seq_len(const pd_kv *kv, int seq);
/* Drop every live row at position >= pos in every head, and continue the sequence at pos. */
pd_status pd_kv_seq_rewind(pd_kv *kv, int seq, int pos);
/* dst becomes a copy of src (fork): block tables copied, blocks shared copy-on-write. */
pd_status pd_kv_seq_copy(pd_kv *kv, int src, int dst);
void pd_kv_seq_clear(pd_kv *kv, int seq);              /* empty seq; its blocks go back to the pool */
pd_type pd_kv_type(const pd_kv *kv);                   /* K's storage type */
pd_type pd_kv_v_type(const pd_kv *kv);                 /* V's storage type */
int pd_kv_n_seq_max(const pd_kv *kv);
int pd_kv_n_ctx_max(const pd_kv *kv);

/* ---- live rows of one (seq, layer, kv head) ---- */
int pd_kv_n_live(const pd_kv *kv, int seq, int layer, int head);  /* 0 when out of range */
/* pos[i] = original position of live row i, for rows [row0, row0 + n) (ascending). */
pd_status pd_kv_positions(const pd_kv *kv, int seq, int layer, int head, int row0, int n, int32_t *pos);
/* Live rows [row0, row0 + n) dequantised to F32: k and v (either may be NULL) receive n rows of
 * head_dim floats. K rows are as attention sees them (after rope / qk-norm). */
pd_status pd_kv_read(const pd_kv *kv, int seq, int layer, int head, int row0, int n, float *k, float *v);
/* Eviction: keep only the live rows keep[0..n_keep) (indices into the current live list,
 * strictly increasing); the others are dropped, the survivors keep their order and positions.
 * Blocks no longer needed go back to the pool; blocks shared with another sequence (a fork) are
 * never written: this sequence gets its own copy of a shared block it has to rewrite. Cost: the
 * rows after the first dropped one are moved down (no re-rotation, no requantisation). */
pd_status pd_kv_evict(pd_kv *kv, int seq, int layer, int head, const int32_t *keep, int n_keep);
/* Same with a mask: keep live row i when keep_mask[i] != 0 (n_live entries). */
pd_status pd_kv_evict_mask(pd_kv *kv, int seq, int layer, int head, const uint8_t *keep_mask);

/* ---- attention observer (eviction policies) ----
 * When set, pd_model_forward hands the attention weights of selected query rows to `fn`, after
 * each layer's attention, on the calling thread, in batch order. A query row is observed when
 * it is among the last `last_n` tokens of its sequence in that forward call (1 = the newest
 * token of each sequence, as in decode; INT_MAX = every token, e.g. to accumulate over a prefill)
 * and seq_mask is NULL or seq_mask[seq] != 0. No observer (the default) costs nothing.
 * The callback must not modify the cache (no evict / rewind / copy inside it): evict between
 * forward calls. probs is valid only during the call. */
typedef struct {
    int seq, layer, kv_head;
    int32_t pos;             /* the query's position */
    int n_q;                 /* query heads of this kv head's GQA group: q heads kv_head*n_q .. +n_q-1 */
    int n_rows;              /* live rows this query attended to: rows [0, n_rows) of (seq, layer, kv_head),
                                including the rows this forward call appended up to the query itself */
    const float *probs;      /* [n_q][n_rows] softmax weights, each row sums to 1 */
} pd_kv_attn;
typedef void (*pd_kv_observer)(void *ctx, const pd_kv_attn *a);
/* fn NULL removes the observer. seq_mask (n_seq_max bytes, or NULL = all) is read at each forward. */
void pd_kv_set_observer(pd_kv *kv, pd_kv_observer fn, void *ctx, int last_n, const uint8_t *seq_mask);

/* ---- memory accounting ---- */
typedef struct {
    int block_rows;
    size_t block_bytes;      /* one block: K + V + positions of block_rows rows (+ header) */
    int64_t blocks_used;     /* referenced by at least one sequence */
    int64_t blocks_free;     /* kept in the pool for reuse */
    int64_t blocks_peak;     /* max blocks_used since creation (or pd_kv_reset_peak) */
    int64_t cow_copies;      /* blocks copied because a shared block was written */
    size_t bytes_used, bytes_peak, bytes_held; /* blocks_used / blocks_peak / (used + free) x block_bytes */
} pd_kv_stats;
void pd_kv_get_stats(const pd_kv *kv, pd_kv_stats *st);
void pd_kv_reset_peak(pd_kv *kv);
size_t pd_kv_bytes(const pd_kv *kv);                   /* bytes of blocks in use (= stats.bytes_used) */
size_t pd_kv_peak_bytes(const pd_kv *kv);              /* = stats.bytes_peak */

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
