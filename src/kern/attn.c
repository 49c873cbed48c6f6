/* kern/attn.c — paged attention over model/kv.c's blocks: the scalar reference that defines it and
 * the dispatch to the AVX2 and AVX-512 versions (kern/attn_avx2.c, kern/attn_avx512.c). One call = one GQA group (n_q query heads
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

void pd_attend_paged(const pd_attn_paged *a) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX512) {
        pd_attend_paged_avx512(a);
        return;
    }
    if (pd_isa_active() >= PD_ISA_AVX2) {
        pd_attend_paged_avx2(a);
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
    if (shared && pd_isa_active() >= PD_ISA_AVX512) {
        pd_attend_paged_multi_avx512(a, n);
        return;
    }
    if (shared && pd_isa_active() >= PD_ISA_AVX2) {
        pd_attend_paged_multi_avx2(a, n);
        return;
    }
#endif
    for (int t = 0; t < n; t++) pd_attend_paged(&a[t]);
}
