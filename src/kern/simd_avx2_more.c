/* kern/simd_avx2_more.c — AVX2 dots of the types GGUF files mix in beside the main ones: Q4_1,
 * Q5_1 (Q8_1 activations), Q5_0, IQ4_NL (Q8_0), Q2_K, Q3_K, IQ4_XS (Q8_K), and the Q8_1
 * activation converter (Q5_K shares Q4_K's kernel in simd_avx2.c). Each computes exactly what its
 * scalar twin in dot_ref.c computes (integer
 * parts exact, float sums in another order); Q5_0 and IQ4_NL (the 896-wide fallbacks of Q4_K_M
 * files) have 2-row x 4-token matmul tiles, Q2_K / Q3_K / IQ4_XS 1-row x 4-token ones (the row
 * unpacked once for the 4 tokens), Q4_1 / Q5_1 2 x 4 ones as Q5_0's. Kept apart from
 * simd_avx2.c, whose tiles serve the hot types. Tested against the twins in test_dot_more.c. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

PD_TARGET_AVX2_BEGIN

#include "simd_avx2_util.h"

/* 16 bytes of nibbles → 32 bytes: low nibbles (weights 0..15) then high nibbles (16..31). */
static inline __m256i nibbles32(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0xF);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

/* 32 bits → 32 bytes, byte j = 0xFF where bit j is set. */
static inline __m256i bits32(uint32_t x) {
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3,
                                          3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* sum of products of 32 unsigned (0..127) bytes u with 32 signed bytes s, in 8 int32 lanes */
static inline __m256i dot_u8s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
/* same for signed w (|w| <= 127) with signed x */
static inline __m256i dot_s8s8(__m256i w, __m256i x) {
    return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}
static inline __m256i scale_pair16(int lo, int hi) { return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo)); }

static inline __m256i iq4_lookup(__m256i nib) {
    const __m128i t = _mm_loadu_si128((const __m128i *)pd_iq4nl_values);
    return _mm256_shuffle_epi8(_mm256_set_m128i(t, t), nib);
}

/* ---------- 32-weight blocks ---------- */

/* Q4_1 (five = 0) and Q5_1 (five = 1): unsigned levels with a min, Q8_1 activations. Both blocks
 * start with d, m; Q5_1 then has qh[4] before qs. */
static inline __attribute__((always_inline)) float dot_x_1(int five, int64_t n, const void *w, const void *x) {
    const pd_block_q8_1 *b = x;
    const size_t bs = five ? sizeof(pd_block_q5_1) : sizeof(pd_block_q4_1);
    const size_t qs_at = five ? offsetof(pd_block_q5_1, qs) : offsetof(pd_block_q4_1, qs);
    __m256 acc = _mm256_setzero_ps();
    float sm = 0;
    const __m256i b4 = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < n / PD_QK; i++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)i * bs;
        uint16_t d, m;
        memcpy(&d, blk + offsetof(pd_block_q4_1, d), 2);
        memcpy(&m, blk + offsetof(pd_block_q4_1, m), 2);
        __m256i q = nibbles32(blk + qs_at);
        if (five) q = _mm256_or_si256(q, _mm256_and_si256(bits32(pd_q5_high(blk + offsetof(pd_block_q5_1, qh))), b4));
        __m256i p = dot_u8s8(q, _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p), acc);
        sm += h2f(m) * h2f(b[i].s);
    }
    return hsum8(acc) + sm;
}
static float dot_q4_1(int64_t n, const void *w, const void *x) { return dot_x_1(0, n, w, x); }
static float dot_q5_1(int64_t n, const void *w, const void *x) { return dot_x_1(1, n, w, x); }

static float dot_q5_0(int64_t n, const void *w, const void *x) {
    const pd_block_q5_0 *a = w;
    const pd_block_q8_0 *b = x;
    __m256 acc = _mm256_setzero_ps();
    const __m256i b4 = _mm256_set1_epi8(0x10), off = _mm256_set1_epi8(16);
    for (int64_t i = 0; i < n / PD_QK; i++) {
        __m256i q = _mm256_or_si256(nibbles32(a[i].qs), _mm256_and_si256(bits32(pd_q5_high(a[i].qh)), b4));
        __m256i p = dot_s8s8(_mm256_sub_epi8(q, off), _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

static float dot_iq4_nl(int64_t n, const void *w, const void *x) {
    const pd_block_iq4_nl *a = w;
    const pd_block_q8_0 *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PD_QK; i++) {
        __m256i p = dot_s8s8(iq4_lookup(nibbles32(a[i].qs)), _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

/* Matmul tile for Q5_0 (kind 0) and IQ4_NL (kind 1), Q8_0 activations: 2 weight rows x up to 4
 * tokens; each weight block is unpacked once for all tokens of the tile (as simd_avx2.c's Q4_0 tile).
 * Same per-block products and scales as the dots above. */
#define T32_NR 2
#define T32_MR 4

static inline __attribute__((always_inline)) __m256i unpack32(int kind, const uint8_t *blk) {
    if (kind == 0) {
        uint32_t qh = pd_q5_high(blk + offsetof(pd_block_q5_0, qh));
        __m256i q = _mm256_or_si256(nibbles32(blk + offsetof(pd_block_q5_0, qs)),
                                    _mm256_and_si256(bits32(qh), _mm256_set1_epi8(0x10)));
        return _mm256_sub_epi8(q, _mm256_set1_epi8(16));
    }
    return iq4_lookup(nibbles32(blk + offsetof(pd_block_iq4_nl, qs)));
}

static inline __attribute__((always_inline)) void tile32_mr(int kind, int MR, int64_t n, const void *w, size_t ws,
                                                            const void *x, size_t xs, float *y, int64_t ldy) {
    const size_t bs = kind ? sizeof(pd_block_iq4_nl) : sizeof(pd_block_q5_0);
    const pd_block_q8_0 *xb[T32_MR];
    for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_0 *)((const char *)x + (size_t)m * xs);
    __m256 acc[T32_NR][T32_MR];
    for (int r = 0; r < T32_NR; r++)
        for (int m = 0; m < MR; m++) acc[r][m] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / PD_QK; i++) {
        __m256i v[T32_NR], u[T32_NR];
        __m256 d[T32_NR];
        for (int r = 0; r < T32_NR; r++) {
            const uint8_t *blk = (const uint8_t *)w + (size_t)r * ws + (size_t)i * bs;
            uint16_t dh;
            memcpy(&dh, blk, 2); /* d first in both blocks */
            v[r] = unpack32(kind, blk);
            u[r] = _mm256_sign_epi8(v[r], v[r]);
            d[r] = _mm256_set1_ps(h2f(dh));
        }
        for (int m = 0; m < MR; m++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)xb[m][i].qs);
            __m256 dx = _mm256_set1_ps(h2f(xb[m][i].d));
            for (int r = 0; r < T32_NR; r++) {
                __m256i p = dot_u8s8(u[r], _mm256_sign_epi8(xv, v[r]));
                acc[r][m] = _mm256_fmadd_ps(_mm256_mul_ps(d[r], dx), _mm256_cvtepi32_ps(p), acc[r][m]);
            }
        }
    }
    for (int m = 0; m < MR; m++)
        for (int r = 0; r < T32_NR; r++) y[m * ldy + r] = hsum8(acc[r][m]);
}

#define PD_T32_Q5(MR, ...) tile32_mr(0, MR, __VA_ARGS__)
#define PD_T32_IQ4(MR, ...) tile32_mr(1, MR, __VA_ARGS__)
static void tile_q5_0(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                      int64_t ldy) {
    if (nr != T32_NR || mr < 2 || mr > T32_MR) { /* one token (decode): the dot is faster */
        pd_tile_by_dots(dot_q5_0, n, w, ws, nr, x, xs, mr, y, ldy);
        return;
    }
    PD_TILE_MR_SWITCH(PD_T32_Q5, mr, n, w, ws, x, xs, y, ldy)
}
static void tile_iq4_nl(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                        int64_t ldy) {
    if (nr != T32_NR || mr < 2 || mr > T32_MR) { /* one token (decode): the dot is faster */
        pd_tile_by_dots(dot_iq4_nl, n, w, ws, nr, x, xs, mr, y, ldy);
        return;
    }
    PD_TILE_MR_SWITCH(PD_T32_IQ4, mr, n, w, ws, x, xs, y, ldy)
}

/* The same tile for Q4_1 (five = 0) and Q5_1 (five = 1) with Q8_1 activations: unsigned levels,
 * plus the min term m_w * s_x per block. */
static inline __attribute__((always_inline)) void tile_x1_mr(int five, int MR, int64_t n, const void *w, size_t ws,
                                                             const void *x, size_t xs, float *y, int64_t ldy) {
    const size_t bs = five ? sizeof(pd_block_q5_1) : sizeof(pd_block_q4_1);
    const size_t qs_at = five ? offsetof(pd_block_q5_1, qs) : offsetof(pd_block_q4_1, qs);
    const pd_block_q8_1 *xb[T32_MR];
    for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_1 *)((const char *)x + (size_t)m * xs);
    __m256 acc[T32_NR][T32_MR];
    float sm[T32_NR][T32_MR];
    for (int r = 0; r < T32_NR; r++)
        for (int m = 0; m < MR; m++) acc[r][m] = _mm256_setzero_ps(), sm[r][m] = 0;
    const __m256i b4 = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < n / PD_QK; i++) {
        __m256i v[T32_NR];
        float d[T32_NR], mn[T32_NR];
        for (int r = 0; r < T32_NR; r++) {
            const uint8_t *blk = (const uint8_t *)w + (size_t)r * ws + (size_t)i * bs;
            uint16_t dh, mh;
            memcpy(&dh, blk + offsetof(pd_block_q4_1, d), 2);
            memcpy(&mh, blk + offsetof(pd_block_q4_1, m), 2);
            v[r] = nibbles32(blk + qs_at);
            if (five) v[r] = _mm256_or_si256(v[r], _mm256_and_si256(bits32(pd_q5_high(blk + offsetof(pd_block_q5_1, qh))), b4));
            d[r] = h2f(dh);
            mn[r] = h2f(mh);
        }
        for (int m = 0; m < MR; m++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)xb[m][i].qs);
            float dx = h2f(xb[m][i].d), sx = h2f(xb[m][i].s);
            for (int r = 0; r < T32_NR; r++) {
                acc[r][m] = _mm256_fmadd_ps(_mm256_set1_ps(d[r] * dx), _mm256_cvtepi32_ps(dot_u8s8(v[r], xv)), acc[r][m]);
                sm[r][m] += mn[r] * sx;
            }
        }
    }
    for (int m = 0; m < MR; m++)
        for (int r = 0; r < T32_NR; r++) y[m * ldy + r] = hsum8(acc[r][m]) + sm[r][m];
}

#define PD_T32_Q41(MR, ...) tile_x1_mr(0, MR, __VA_ARGS__)
#define PD_T32_Q51(MR, ...) tile_x1_mr(1, MR, __VA_ARGS__)
static void tile_q4_1(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                      int64_t ldy) {
    if (nr != T32_NR || mr < 2 || mr > T32_MR) { /* one token (decode): the dot is faster */
        pd_tile_by_dots(dot_q4_1, n, w, ws, nr, x, xs, mr, y, ldy);
        return;
    }
    PD_TILE_MR_SWITCH(PD_T32_Q41, mr, n, w, ws, x, xs, y, ldy)
}
static void tile_q5_1(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                      int64_t ldy) {
    if (nr != T32_NR || mr < 2 || mr > T32_MR) { /* one token (decode): the dot is faster */
        pd_tile_by_dots(dot_q5_1, n, w, ws, nr, x, xs, mr, y, ldy);
        return;
    }
    PD_TILE_MR_SWITCH(PD_T32_Q51, mr, n, w, ws, x, xs, y, ldy)
}

/* ---------- 256-weight super-blocks, Q8_K activations ---------- */

/* One weight row against T tokens (T constant after inlining): the row's scales and 2/3/4-bit
 * values are unpacked once per super-block for all T tokens; dot = T 1, tile = T KQ_T. */
#define KQ_T 4

static inline __attribute__((always_inline)) void q2_K_rows(int T, int64_t n, const pd_block_q2_K *a,
                                                            const pd_block_q8_K *const *b, float *out) {
    float s[KQ_T] = {0};
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xF);
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        __m128i sc8 = _mm_loadu_si128((const __m128i *)a[i].scales);
        __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
        __m256i isum[KQ_T];
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * h));
            for (int sh = 0; sh < 4; sh++) {
                int k = 8 * h + 2 * sh;
                __m256i v = _mm256_and_si256(_mm256_srli_epi16(q, 2 * sh), m3);
                __m256i sp = scale_pair16(a[i].scales[k] & 0xF, a[i].scales[k + 1] & 0xF);
                for (int t = 0; t < T; t++) {
                    __m256i y = _mm256_loadu_si256((const __m256i *)(b[t][i].qs + 16 * k));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(v, y), sp));
                }
            }
        }
        float d = h2f(a[i].d), dmin = h2f(a[i].dmin);
        for (int t = 0; t < T; t++) {
            int32_t summ = hsum8i(_mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)b[t][i].bsums)));
            s[t] += b[t][i].d * d * (float)hsum8i(isum[t]) - b[t][i].d * dmin * (float)summ;
        }
    }
    for (int t = 0; t < T; t++) out[t] = s[t];
}

static inline __attribute__((always_inline)) void q3_K_rows(int T, int64_t n, const pd_block_q3_K *a,
                                                            const pd_block_q8_K *const *b, float *out) {
    float s[KQ_T] = {0};
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        int8_t sc[16];
        pd_q3k_scales(a[i].scales, sc);
        __m256i hm = _mm256_loadu_si256((const __m256i *)a[i].hmask);
        __m256i isum[KQ_T];
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * h));
            for (int sh = 0; sh < 4; sh++) {
                int k = 8 * h + 2 * sh, bit = 4 * h + sh;
                __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * sh), m3);
                __m256i nohi = _mm256_xor_si256(_mm256_and_si256(_mm256_srli_epi16(hm, bit), one), one);
                __m256i v = _mm256_sub_epi8(lo, _mm256_slli_epi16(nohi, 2)), u = _mm256_sign_epi8(v, v);
                __m256i sp = scale_pair16(sc[k], sc[k + 1]);
                for (int t = 0; t < T; t++) {
                    __m256i y = _mm256_loadu_si256((const __m256i *)(b[t][i].qs + 16 * k));
                    __m256i p = _mm256_maddubs_epi16(u, _mm256_sign_epi8(y, v));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, sp));
                }
            }
        }
        float d = h2f(a[i].d);
        for (int t = 0; t < T; t++) s[t] += d * b[t][i].d * (float)hsum8i(isum[t]);
    }
    for (int t = 0; t < T; t++) out[t] = s[t];
}

static inline __attribute__((always_inline)) void iq4_xs_rows(int T, int64_t n, const pd_block_iq4_xs *a,
                                                              const pd_block_q8_K *const *b, float *out) {
    float s[KQ_T] = {0};
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        __m256i isum[KQ_T];
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            __m256i v = iq4_lookup(nibbles32(a[i].qs + 16 * ib)), u = _mm256_sign_epi8(v, v);
            __m256i ls = _mm256_set1_epi16((short)(pd_iq4xs_scale(&a[i], ib) - 32));
            for (int t = 0; t < T; t++) {
                __m256i p = _mm256_maddubs_epi16(u, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(b[t][i].qs + 32 * ib)), v));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, ls));
            }
        }
        float d = h2f(a[i].d);
        for (int t = 0; t < T; t++) s[t] += d * b[t][i].d * (float)hsum8i(isum[t]);
    }
    for (int t = 0; t < T; t++) out[t] = s[t];
}

#define PD_KQ_ROWS(name, WB)                                                                                       \
    static float dot_##name(int64_t n, const void *w, const void *x) {                                             \
        const pd_block_q8_K *b = x;                                                                                 \
        float o;                                                                                                    \
        name##_rows(1, n, w, &b, &o);                                                                               \
        return o;                                                                                                   \
    }                                                                                                               \
    static void name##_row_xT(int64_t n, const WB *a, const pd_block_q8_K *const *b, float *out) {                  \
        name##_rows(KQ_T, n, a, b, out);                                                                            \
    }                                                                                                               \
    PD_KQ_TILE(tile_##name, WB, name##_row_xT, dot_##name, KQ_T)
PD_KQ_ROWS(q2_K, pd_block_q2_K)
PD_KQ_ROWS(q3_K, pd_block_q3_K)
PD_KQ_ROWS(iq4_xs, pd_block_iq4_xs)

/* ---------- Q8_1 activations ---------- */

/* As pd_act_q8_0_avx2, plus s = F16(d * sum(q)) with the unrounded d (ggml-cpu's quantize_row_q8_1). */
void pd_act_q8_1_avx2(const float *x, void *vy, int64_t nb) {
    pd_block_q8_1 *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < nb; i++, x += PD_QK) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        float amax = _mm_cvtss_f32(m4), d = amax / 127.f;
        y[i].d = pd_f32_to_f16(d);
        __m256 id = _mm256_set1_ps(amax != 0.f ? 127.f / amax : 0.0f);
        __m256i q[4];
        for (int k = 0; k < 4; k++) q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], id));
        int32_t sum = hsum8i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        y[i].s = pd_f32_to_f16(d * (float)sum);
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, p);
    }
}

PD_TARGET_END

void pd_kern_table_avx2_more(pd_kern_table *t) {
#define PD_SET(T, name) (t->dot[T] = dot_##name, t->tile[T] = tile_##name)
    PD_SET(PD_TYPE_Q4_1, q4_1);
    PD_SET(PD_TYPE_Q5_0, q5_0);
    PD_SET(PD_TYPE_Q5_1, q5_1);
    PD_SET(PD_TYPE_IQ4_NL, iq4_nl);
    PD_SET(PD_TYPE_Q2_K, q2_K);
    PD_SET(PD_TYPE_Q3_K, q3_K);
    PD_SET(PD_TYPE_IQ4_XS, iq4_xs);
#undef PD_SET
    t->tile_nr[PD_TYPE_Q5_0] = t->tile_nr[PD_TYPE_IQ4_NL] = t->tile_nr[PD_TYPE_Q4_1] = t->tile_nr[PD_TYPE_Q5_1] = T32_NR;
    t->tile_mr[PD_TYPE_Q5_0] = t->tile_mr[PD_TYPE_IQ4_NL] = t->tile_mr[PD_TYPE_Q4_1] = t->tile_mr[PD_TYPE_Q5_1] = T32_MR;
}

#else
void pd_kern_table_avx2_more(pd_kern_table *t) { (void)t; }
#endif
