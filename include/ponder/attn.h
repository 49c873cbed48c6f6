/* ponder/attn.h — paged attention over the KV cache's blocks (kern/attn.c, kern/attn_avx2.c): the
 * kernel the inference forward pass uses. Kept apart from kern.h's contiguous pd_attend_head*
 * (training-side callers) because its shape follows model/kv.c's block layout. */
#ifndef PONDER_ATTN_H
#define PONDER_ATTN_H
#include "ponder/kern.h"
/* Paged attention (model/kv.c's blocks): n_q query heads sharing one K/V head, over n_rows rows
 * held in blocks of block_rows rows; row r's K is at blocks[r / block_rows] + k_off
 * + (r % block_rows) * pd_row_bytes(k_type, head_dim), its V at ... + v_off + (r % block_rows) *
 * pd_row_bytes(v_type, head_dim). k_type, v_type: F32, F16, Q8_0 or Q4_0, any pair (llama.cpp's
 * -ctk / -ctv), read directly (dequantised 16 rows at a time into registers / L1, never a full F32 copy).
 * Rows are taken 16 at a time whatever block_rows is (a multiple of 16), so the result does not
 * depend on the block size. out[h] = softmax(q[h]·K^T * scale) · V. When probs is not NULL it
 * receives the softmax weights: probs[h * probs_stride + r] for r < n_rows. */
#define PD_ATT_MAX_HEAD_DIM 512
typedef struct {
    const unsigned char *const *blocks;
    int block_rows;
    size_t k_off, v_off;
    pd_type k_type, v_type;
    int64_t n_rows, head_dim;
    float scale;
    int n_q;
    const float *q;
    int64_t q_stride;
    float *out;
    int64_t out_stride;
    float *probs;
    int64_t probs_stride;
} pd_attn_paged;
void pd_attend_paged(const pd_attn_paged *a);
void pd_attend_paged_ref(const pd_attn_paged *a);  /* scalar reference (tests) */
/* n calls of pd_attend_paged at once, for descriptors over the same K/V head (same blocks, offsets,
 * types, head_dim, scale and n_q; each its own n_rows, q, out, probs), e.g. the tokens of one
 * sequence in a prefill batch: each K/V chunk is dequantised once for all of them. Same results
 * to the bit as the n calls (descriptors that do not share, or n > 256, are done one by one). */
void pd_attend_paged_multi(const pd_attn_paged *a, int n);

#endif
