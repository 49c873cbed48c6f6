/* kern/attn_avx512.c — AVX-512 parts of paged attention (the meaning is pd_attend_paged_ref in
 * kern/attn.c, whose chunk loop calls these; the same parts as attn_avx2.c: 16 cached rows converted
 * to F32 per chunk, then per head the scores, one online-softmax rescale and the V accumulation).
 * What differs from AVX2, and why: a full chunk's 16 scores are made by 16 accumulators (one per
 * row, 16 lanes of the head dimension each) and one transposing reduction tree that leaves score j
 * in lane j — 45 shuffles and adds per 16 scores instead of 16 horizontal sums — so the exp, the
 * running max and the weights each take one 16-lane operation per chunk. On a full-width AVX-512
 * core (Zen 5) the FMAs run twice as wide as AVX2's. Results differ from the AVX2 level in the last
 * bits (other summation order, as AVX2 differs from scalar); multi and single calls stay equal to
 * the bit, which is what tests/kern/test_attn_multi.c checks at every level. */
#include "attn_impl.h"
#if PD_X86
#include <immintrin.h>
#include <math.h>

PD_TARGET_AVX512_BEGIN

enum { SUB = 16 }; /* rows per step, as the AVX2 level (the result must not depend on block_rows) */

/* the 16-row loops must be unrolled, or the 16 accumulators live on the stack */
#if defined(__clang__)
#define UNROLL16 _Pragma("unroll 16")
#else
#define UNROLL16 _Pragma("GCC unroll 16")
#endif

static inline __mmask16 head_tail(int64_t left) { return (__mmask16)((1u << left) - 1u); }

/* One cached row (hd elements of type t) to F32. */
static inline void row_to_f32(pd_type t, const unsigned char *src, float *dst, int64_t hd) {
    if (t == PD_TYPE_F16) {
        const uint16_t *s = (const uint16_t *)src;
        int64_t d = 0;
        for (; d + 16 <= hd; d += 16)
            _mm512_storeu_ps(dst + d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + d))));
        if (d < hd) {
            __mmask16 k = head_tail(hd - d);
            _mm512_mask_storeu_ps(dst + d, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, s + d)));
        }
    } else if (t == PD_TYPE_Q8_0) {
        const pd_block_q8_0 *b = (const pd_block_q8_0 *)src;
        for (int64_t i = 0; i < hd / PD_QK; i++, dst += PD_QK) {
            __m512 dv = _mm512_set1_ps(_cvtsh_ss(b[i].d));
            __m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[i].qs));
            __m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16)));
            _mm512_storeu_ps(dst, _mm512_mul_ps(dv, _mm512_cvtepi32_ps(q0)));
            _mm512_storeu_ps(dst + 16, _mm512_mul_ps(dv, _mm512_cvtepi32_ps(q1)));
        }
    } else { /* Q4_0: element j < 16 is the low nibble of qs[j], element j + 16 its high nibble; minus 8 */
        const pd_block_q4_0 *b = (const pd_block_q4_0 *)src;
        const __m128i lo4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
        for (int64_t i = 0; i < hd / PD_QK; i++, dst += PD_QK) {
            __m512 dv = _mm512_set1_ps(_cvtsh_ss(b[i].d));
            __m128i raw = _mm_loadu_si128((const __m128i *)b[i].qs);
            __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, lo4), eight);
            __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), lo4), eight);
            _mm512_storeu_ps(dst, _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo))));
            _mm512_storeu_ps(dst + 16, _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi))));
        }
    }
}

/* e^x for x <= 0, 16 lanes: the same range reduction and polynomial as pd_exp_le0_avx2 */
static inline __m512 exp_le0(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), x);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-6f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

/* 16 accumulators (16 lanes each) -> one vector whose lane j is the sum of a[j]'s lanes. Level 1 pairs
 * rows inside 128-bit lanes, level 2 gathers four rows per 128-bit lane, levels 3-4 add the four
 * 128-bit lanes across. */
static inline __m512 sum16x16(__m512 a[16]) {
    __m512 b[8], c[4];
    UNROLL16
    for (int i = 0; i < 8; i++)
        b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    UNROLL16
    for (int i = 0; i < 4; i++)
        c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0x44), _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0xEE));
    __m512 d01 = _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xDD));
    __m512 d23 = _mm512_add_ps(_mm512_shuffle_f32x4(c[2], c[3], 0x88), _mm512_shuffle_f32x4(c[2], c[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(d01, d23, 0x88), _mm512_shuffle_f32x4(d01, d23, 0xDD));
}

/* Scores of a full chunk: lane j = q · K row j (16 rows, ld floats apart). */
static inline __m512 scores16(const float *q, const float *K, int64_t ld, int64_t hd) {
    __m512 a[16];
    UNROLL16
    for (int j = 0; j < 16; j++) a[j] = _mm512_setzero_ps();
    int64_t d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m512 qv = _mm512_loadu_ps(q + d);
        UNROLL16
        for (int j = 0; j < 16; j++) a[j] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(K + j * ld + d), a[j]);
    }
    if (d < hd) {
        __mmask16 k = head_tail(hd - d);
        __m512 qv = _mm512_maskz_loadu_ps(k, q + d);
        UNROLL16
        for (int j = 0; j < 16; j++) a[j] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(k, K + j * ld + d), a[j]);
    }
    return sum16x16(a);
}

/* Scores of a partial chunk (cnt < 16 rows: the last rows of a sequence), row by row. */
static inline __m512 scores_part(const float *q, const float *K, int64_t ld, int64_t hd, int cnt) {
    float s[16] = {0};
    for (int j = 0; j < cnt; j++) {
        const float *k = K + j * ld;
        __m512 acc = _mm512_setzero_ps();
        int64_t d = 0;
        for (; d + 16 <= hd; d += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(k + d), acc);
        if (d < hd) {
            __mmask16 m = head_tail(hd - d);
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), _mm512_maskz_loadu_ps(m, k + d), acc);
        }
        s[j] = _mm512_reduce_add_ps(acc);
    }
    return _mm512_loadu_ps(s);
}

/* out[0..hd) += Σ_j p[j] · V row j, for cnt rows */
static inline void accumulate_v(float *out, const float *p, const float *V, int64_t ld, int cnt, int64_t hd) {
    int64_t d0 = 0;
    for (; d0 + 128 <= hd; d0 += 128) { /* 8 independent FMA chains: enough to cover the FMA latency */
        __m512 o[8];
        UNROLL16
        for (int i = 0; i < 8; i++) o[i] = _mm512_loadu_ps(out + d0 + 16 * i);
        for (int j = 0; j < cnt; j++) {
            const float *v = V + j * ld + d0;
            __m512 pj = _mm512_set1_ps(p[j]);
            UNROLL16
            for (int i = 0; i < 8; i++) o[i] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 16 * i), o[i]);
        }
        UNROLL16
        for (int i = 0; i < 8; i++) _mm512_storeu_ps(out + d0 + 16 * i, o[i]);
    }
    for (; d0 + 64 <= hd; d0 += 64) {
        __m512 o0 = _mm512_loadu_ps(out + d0), o1 = _mm512_loadu_ps(out + d0 + 16);
        __m512 o2 = _mm512_loadu_ps(out + d0 + 32), o3 = _mm512_loadu_ps(out + d0 + 48);
        for (int j = 0; j < cnt; j++) {
            const float *v = V + j * ld + d0;
            __m512 pj = _mm512_set1_ps(p[j]);
            o0 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v), o0);
            o1 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 16), o1);
            o2 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 32), o2);
            o3 = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 48), o3);
        }
        _mm512_storeu_ps(out + d0, o0);
        _mm512_storeu_ps(out + d0 + 16, o1);
        _mm512_storeu_ps(out + d0 + 32, o2);
        _mm512_storeu_ps(out + d0 + 48, o3);
    }
    for (; d0 < hd; d0 += 16) {
        __mmask16 k = hd - d0 >= 16 ? (__mmask16)0xFFFF : head_tail(hd - d0);
        __m512 o = _mm512_maskz_loadu_ps(k, out + d0);
        for (int j = 0; j < cnt; j++)
            o = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(k, V + j * ld + d0), o);
        _mm512_mask_storeu_ps(out + d0, k, o);
    }
}

/* One head, cnt <= SUB rows (K, V: F32 rows with stride ld floats): scores, rescale, accumulate. */
static void att_step(float *out, float *m, float *l, const float *q, const float *K, const float *V, int64_t ld,
                            int cnt, int64_t hd, float scale, float *probs) {
    const __mmask16 live = cnt == SUB ? (__mmask16)0xFFFF : head_tail(cnt);
    __m512 sc = cnt == SUB ? scores16(q, K, ld, hd) : scores_part(q, K, ld, hd, cnt);
    sc = _mm512_mul_ps(sc, _mm512_set1_ps(scale));
    if (probs) _mm512_mask_storeu_ps(probs, live, sc);
    float cm = _mm512_mask_reduce_max_ps(live, sc);
    if (cm > *m) {
        float c = *m == -INFINITY ? 0.0f : expf(*m - cm);
        __m512 cv = _mm512_set1_ps(c);
        int64_t d = 0;
        for (; d + 16 <= hd; d += 16) _mm512_storeu_ps(out + d, _mm512_mul_ps(cv, _mm512_loadu_ps(out + d)));
        for (; d < hd; d++) out[d] *= c;
        *l *= c;
        *m = cm;
    }
    __m512 p = _mm512_maskz_mov_ps(live, exp_le0(_mm512_sub_ps(sc, _mm512_set1_ps(*m))));
    *l += _mm512_reduce_add_ps(p);
    float pw[SUB] __attribute__((aligned(64)));
    _mm512_store_ps(pw, p);
    accumulate_v(out, pw, V, ld, cnt, hd);
}

static void rows_to_f32(pd_type t, const unsigned char *src, size_t src_stride, int cnt, float *dst, int64_t hd) {
    for (int j = 0; j < cnt; j++) row_to_f32(t, src + (size_t)j * src_stride, dst + j * hd, hd);
}

const pd_attn_ops pd_attn_ops_avx512 = {rows_to_f32, att_step};

PD_TARGET_END

#endif
