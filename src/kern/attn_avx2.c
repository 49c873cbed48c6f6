/* kern/attn_avx2.c — AVX2 + FMA + F16C parts of paged attention (the meaning is pd_attend_paged_ref in
 * kern/attn.c, whose chunk loop calls these): cached rows converted to F32 16 at a time into a small
 * buffer (F16 via F16C, Q8_0 / Q4_0 from their blocks; F32 rows are used in place; K and V each by its
 * own type), which serves every query head of the GQA group and every token of a prefill chunk; then
 * per head the scores, one online-softmax rescale and the V accumulation on F32. So each cached byte is
 * read once per group per chunk of tokens, and a quantised cache costs its (smaller) memory traffic
 * plus the conversion. */
#include "attn_impl.h"
#if PD_X86
#include <immintrin.h>
#include <math.h>

PD_TARGET_AVX2_BEGIN

#include "simd_avx2_util.h"

enum { SUB = 16 }; /* rows per step, independent of the block size */


/* One cached row (hd elements of type t) to F32. */
static inline void att_row_f32(pd_type t, const unsigned char *src, float *dst, int64_t hd) {
    if (t == PD_TYPE_F16) {
        const uint16_t *s = (const uint16_t *)src;
        int64_t d = 0;
        for (; d + 8 <= hd; d += 8) _mm256_storeu_ps(dst + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + d))));
        for (; d < hd; d++) dst[d] = _cvtsh_ss(s[d]);
    } else if (t == PD_TYPE_Q8_0) {
        const pd_block_q8_0 *b = (const pd_block_q8_0 *)src;
        for (int64_t i = 0; i < hd / PD_QK; i++, dst += PD_QK) {
            __m256 dv = _mm256_set1_ps(_cvtsh_ss(b[i].d));
            for (int j = 0; j < PD_QK; j += 8) {
                __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].qs + j)));
                _mm256_storeu_ps(dst + j, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(q)));
            }
        }
    } else { /* Q4_0: element j < 16 is the low nibble of qs[j], element j + 16 its high nibble; minus 8 */
        const pd_block_q4_0 *b = (const pd_block_q4_0 *)src;
        const __m128i lo4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
        for (int64_t i = 0; i < hd / PD_QK; i++, dst += PD_QK) {
            __m256 dv = _mm256_set1_ps(_cvtsh_ss(b[i].d));
            __m128i raw = _mm_loadu_si128((const __m128i *)b[i].qs);
            __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, lo4), eight);
            __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), lo4), eight);
            _mm256_storeu_ps(dst, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))));
            _mm256_storeu_ps(dst + 8, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))));
            _mm256_storeu_ps(dst + 16, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))));
            _mm256_storeu_ps(dst + 24, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))));
        }
    }
}

static inline float att_dot(const float *q, const float *k, int64_t hd) {
    __m256 acc = _mm256_setzero_ps();
    int64_t d = 0;
    for (; d + 8 <= hd; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(k + d), acc);
    float s = hsum8(acc);
    for (; d < hd; d++) s += q[d] * k[d];
    return s;
}

/* One head, cnt <= SUB rows (K, V: F32 rows with stride ld floats): scores, rescale, accumulate. */
static void att_step(float *out, float *m, float *l, const float *q, const float *K, const float *V, int64_t ld,
                            int cnt, int64_t hd, float scale, float *probs) {
    float sc[SUB] __attribute__((aligned(32)));
    int j = 0;
    for (; j + 4 <= cnt; j += 4) { /* four rows at once: four independent FMA chains */
        const float *k0 = K + j * ld, *k1 = k0 + ld, *k2 = k1 + ld, *k3 = k2 + ld;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t d = 0;
        for (; d + 8 <= hd; d += 8) {
            __m256 qv = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + d), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + d), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + d), a3);
        }
        sc[j] = hsum8(a0);
        sc[j + 1] = hsum8(a1);
        sc[j + 2] = hsum8(a2);
        sc[j + 3] = hsum8(a3);
        for (; d < hd; d++) {
            sc[j] += q[d] * k0[d];
            sc[j + 1] += q[d] * k1[d];
            sc[j + 2] += q[d] * k2[d];
            sc[j + 3] += q[d] * k3[d];
        }
    }
    for (; j < cnt; j++) sc[j] = att_dot(q, K + j * ld, hd);
    float cm = -INFINITY;
    for (j = 0; j < cnt; j++) {
        sc[j] *= scale;
        if (probs) probs[j] = sc[j];
        if (sc[j] > cm) cm = sc[j];
    }
    if (cm > *m) {
        float c = *m == -INFINITY ? 0.0f : expf(*m - cm);
        for (int64_t d = 0; d < hd; d++) out[d] *= c;
        *l *= c;
        *m = cm;
    }
    __m256 mv = _mm256_set1_ps(*m), lsum = _mm256_setzero_ps();
    for (j = 0; j + 8 <= cnt; j += 8) {
        __m256 p = pd_exp_le0_avx2(_mm256_sub_ps(_mm256_load_ps(sc + j), mv));
        _mm256_store_ps(sc + j, p);
        lsum = _mm256_add_ps(lsum, p);
    }
    *l += hsum8(lsum);
    for (; j < cnt; j++) {
        sc[j] = expf(sc[j] - *m);
        *l += sc[j];
    }
    int64_t d0 = 0;
    for (; d0 + 32 <= hd; d0 += 32) {
        __m256 o0 = _mm256_loadu_ps(out + d0), o1 = _mm256_loadu_ps(out + d0 + 8);
        __m256 o2 = _mm256_loadu_ps(out + d0 + 16), o3 = _mm256_loadu_ps(out + d0 + 24);
        for (j = 0; j < cnt; j++) {
            const float *v = V + j * ld + d0;
            __m256 p = _mm256_broadcast_ss(sc + j);
            o0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v), o0);
            o1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 8), o1);
            o2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 16), o2);
            o3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v + 24), o3);
        }
        _mm256_storeu_ps(out + d0, o0);
        _mm256_storeu_ps(out + d0 + 8, o1);
        _mm256_storeu_ps(out + d0 + 16, o2);
        _mm256_storeu_ps(out + d0 + 24, o3);
    }
    for (; d0 + 8 <= hd; d0 += 8) {
        __m256 o = _mm256_loadu_ps(out + d0);
        for (j = 0; j < cnt; j++) o = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + j), _mm256_loadu_ps(V + j * ld + d0), o);
        _mm256_storeu_ps(out + d0, o);
    }
    for (; d0 < hd; d0++) {
        float o = out[d0];
        for (j = 0; j < cnt; j++) o += sc[j] * V[j * ld + d0];
        out[d0] = o;
    }
}

static void rows_to_f32(pd_type t, const unsigned char *src, size_t src_stride, int cnt, float *dst, int64_t hd) {
    for (int j = 0; j < cnt; j++) att_row_f32(t, src + (size_t)j * src_stride, dst + j * hd, hd);
}

const pd_attn_ops pd_attn_ops_avx2 = {rows_to_f32, att_step};

PD_TARGET_END

#endif
