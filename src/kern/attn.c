/* kern/attn.c — paged attention over model/kv.c's blocks: the scalar reference that defines it, and
 * the chunk loop of the SIMD levels, which calls each level's row conversion and per-chunk step
 * (kern/attn_avx2.c, kern/attn_avx512.c). One call = one GQA group (n_q query heads
 * sharing a K/V head) against n_rows cached rows, online softmax (no score matrix unless the caller
 * asks for the weights). The contiguous kernels (pd_attend_head*) stay in ops.c for training-side
 * callers; the inference forward pass uses these. */
#include "attn_impl.h"
#include <math.h>

void pd_attend_paged_ref(const pd_attn_paged *a) {
    const int64_t hd = a->head_dim;
    const size_t krb = pd_row_bytes(a->k_type, hd), vrb = pd_row_bytes(a->v_type, hd);
    float kr[PD_ATT_MAX_HEAD_DIM], vr[PD_ATT_MAX_HEAD_DIM];
    float m[64], l[64];
    for (int h0 = 0; h0 < a->n_q; h0 += 64) { /* heads in groups of 64 (a GQA group is never larger in practice) */
        int nh = a->n_q - h0 < 64 ? a->n_q - h0 : 64;
        for (int h = 0; h < nh; h++) {
            m[h] = -INFINITY;
            l[h] = 0;
            for (int64_t d = 0; d < hd; d++) a->out[(h0 + h) * a->out_stride + d] = 0;
        }
        for (int64_t r = 0; r < a->n_rows; r++) {
            const unsigned char *blk = a->blocks[r / a->block_rows];
            size_t slot = (size_t)(r % a->block_rows);
            pd_dequantize_row(a->k_type, blk + a->k_off + slot * krb, kr, hd);
            pd_dequantize_row(a->v_type, blk + a->v_off + slot * vrb, vr, hd);
            for (int h = 0; h < nh; h++) {
                const float *q = a->q + (h0 + h) * a->q_stride;
                float *out = a->out + (h0 + h) * a->out_stride;
                float s = 0;
                for (int64_t d = 0; d < hd; d++) s += q[d] * kr[d];
                s *= a->scale;
                if (a->probs) a->probs[(h0 + h) * a->probs_stride + r] = s;
                if (s > m[h]) {
                    float c = m[h] == -INFINITY ? 0.0f : expf(m[h] - s);
                    for (int64_t d = 0; d < hd; d++) out[d] *= c;
                    l[h] *= c;
                    m[h] = s;
                }
                float p = expf(s - m[h]);
                l[h] += p;
                for (int64_t d = 0; d < hd; d++) out[d] += p * vr[d];
            }
        }
        for (int h = 0; h < nh && a->n_rows > 0; h++) {
            float inv = 1.0f / l[h], *out = a->out + (h0 + h) * a->out_stride;
            for (int64_t d = 0; d < hd; d++) out[d] *= inv;
            if (a->probs) {
                float *p = a->probs + (h0 + h) * a->probs_stride;
                for (int64_t r = 0; r < a->n_rows; r++) p[r] = expf(p[r] - m[h]) * inv;
            }
        }
    }
}

#if PD_X86
/* n descriptors that share the K/V head (blocks, offsets, types, head_dim, scale, n_q; pd_attend_paged_multi
 * checks it), each with its own rows, queries and outputs: each 16-row chunk of K and V is converted
 * to F32 once for all of them (prefill: the tokens of a chunk of the batch), and every (token, head)
 * gets exactly the steps a call of its own would make, so the results are the same to the bit. The
 * level's ops convert the rows and make each step. */
enum { SUB = 16 }; /* rows per step (the result must not depend on block_rows) */

/* Asks for the K and V rows of the chunk at row r1 while the current one is worked on: the cache's
 * blocks are small separate allocations the hardware prefetchers do not follow, so without this each
 * chunk's rows came from memory as it was converted (rows_to_f32 was 18-20 % of a 1-thread tg256
 * decode profile of llama-110m q4_0, 5.4 % at tg64; 6.5-7 % and 2.7 % with it). Results unchanged. */
static void prefetch_chunk(const pd_attn_paged *a, int64_t r1, int64_t rows, size_t krb, size_t vrb) {
    if (r1 >= rows) return;
    const size_t cnt = (size_t)(rows - r1 < SUB ? rows - r1 : SUB);
    const unsigned char *blk = a->blocks[r1 / a->block_rows];
    const unsigned char *kp = blk + a->k_off + (size_t)(r1 % a->block_rows) * krb;
    const unsigned char *vp = blk + a->v_off + (size_t)(r1 % a->block_rows) * vrb;
    for (size_t o = 0; o < cnt * krb; o += 64) __builtin_prefetch(kp + o, 0, 3);
    for (size_t o = 0; o < cnt * vrb; o += 64) __builtin_prefetch(vp + o, 0, 3);
}

static void attend_chunks(const pd_attn_paged *a, int n, const pd_attn_ops *ops) {
    const int64_t hd = a->head_dim;
    const size_t krb = pd_row_bytes(a->k_type, hd), vrb = pd_row_bytes(a->v_type, hd);
    float kbuf[SUB * PD_ATT_MAX_HEAD_DIM] __attribute__((aligned(64)));
    float vbuf[SUB * PD_ATT_MAX_HEAD_DIM] __attribute__((aligned(64)));
    enum { MAXS = 256 }; /* (token, head) states per pass */
    float m[MAXS], l[MAXS];
    const int hc = a->n_q < MAXS / n ? a->n_q : (MAXS / n < 64 ? MAXS / n : 64); /* heads per pass (n <= MAXS) */
    int64_t rows = 0;
    for (int t = 0; t < n; t++) rows = a[t].n_rows > rows ? a[t].n_rows : rows;
    for (int h0 = 0; h0 < a->n_q; h0 += hc) {
        int nh = a->n_q - h0 < hc ? a->n_q - h0 : hc;
        for (int t = 0; t < n; t++)
            for (int h = 0; h < nh; h++) {
                m[t * nh + h] = -INFINITY;
                l[t * nh + h] = 0;
                for (int64_t d = 0; d < hd; d++) a[t].out[(h0 + h) * a[t].out_stride + d] = 0;
            }
        for (int64_t r0 = 0; r0 < rows; r0 += SUB) {
            int cmax = (int)(rows - r0 < SUB ? rows - r0 : SUB);
            const unsigned char *blk = a->blocks[r0 / a->block_rows];
            const unsigned char *kp = blk + a->k_off + (size_t)(r0 % a->block_rows) * krb;
            const unsigned char *vp = blk + a->v_off + (size_t)(r0 % a->block_rows) * vrb;
            const float *K = (const float *)kp, *V = (const float *)vp; /* F32 rows are used in place */
            prefetch_chunk(a, r0 + SUB, rows, krb, vrb);
            if (a->k_type != PD_TYPE_F32) {
                ops->rows_to_f32(a->k_type, kp, krb, cmax, kbuf, hd);
                K = kbuf;
            }
            if (a->v_type != PD_TYPE_F32) {
                ops->rows_to_f32(a->v_type, vp, vrb, cmax, vbuf, hd);
                V = vbuf;
            }
            for (int t = 0; t < n; t++) {
                const pd_attn_paged *at = &a[t];
                if (at->n_rows <= r0) continue;
                int cnt = (int)(at->n_rows - r0 < SUB ? at->n_rows - r0 : SUB);
                for (int h = 0; h < nh; h++)
                    ops->step(at->out + (h0 + h) * at->out_stride, &m[t * nh + h], &l[t * nh + h],
                              at->q + (h0 + h) * at->q_stride, K, V, hd, cnt, hd, at->scale,
                              at->probs ? at->probs + (h0 + h) * at->probs_stride + r0 : NULL);
            }
        }
        for (int t = 0; t < n; t++) {
            const pd_attn_paged *at = &a[t];
            for (int h = 0; h < nh && at->n_rows > 0; h++) {
                float inv = 1.0f / l[t * nh + h], *out = at->out + (h0 + h) * at->out_stride;
                for (int64_t d = 0; d < hd; d++) out[d] *= inv;
                if (at->probs) {
                    float *p = at->probs + (h0 + h) * at->probs_stride;
                    for (int64_t r = 0; r < at->n_rows; r++) p[r] = expf(p[r] - m[t * nh + h]) * inv;
                }
            }
        }
    }
}

/* the SIMD level's ops, or NULL for the scalar reference */
static const pd_attn_ops *level_ops(void) {
    pd_isa isa = pd_isa_active();
    return isa >= PD_ISA_AVX512 ? &pd_attn_ops_avx512 : isa >= PD_ISA_AVX2 ? &pd_attn_ops_avx2 : NULL;
}
#endif

void pd_attend_paged(const pd_attn_paged *a) {
#if PD_X86
    const pd_attn_ops *ops = level_ops();
    if (ops) {
        attend_chunks(a, 1, ops);
        return;
    }
#endif
    pd_attend_paged_ref(a);
}

void pd_attend_paged_multi(const pd_attn_paged *a, int n) {
    bool shared = n >= 1 && n <= 256;
    for (int t = 1; t < n && shared; t++)
        shared = a[t].blocks == a->blocks && a[t].block_rows == a->block_rows && a[t].k_off == a->k_off &&
                 a[t].v_off == a->v_off && a[t].k_type == a->k_type && a[t].v_type == a->v_type &&
                 a[t].head_dim == a->head_dim &&
                 a[t].scale == a->scale && a[t].n_q == a->n_q;
#if PD_X86
    const pd_attn_ops *ops = level_ops();
    if (shared && ops) {
        attend_chunks(a, n, ops);
        return;
    }
#endif
    for (int t = 0; t < n; t++) pd_attend_paged(&a[t]);
}
