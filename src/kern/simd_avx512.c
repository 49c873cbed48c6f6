/* kern/simd_avx512.c — AVX-512 (F + BW + VL) kernels: float dots and matmul tiles 16 lanes wide
 * with masked tails, and Q8_0 / Q4_0 dots and tiles that take two 32-weight blocks per register
 * (with VNNI's vpdpbusd where the CPU has it, maddubs+madd otherwise); Q4_K / Q6_K dots and
 * tiles 64 weights per register (VNNI's vpdpwssd for the scaled sums where present). Attention
 * keeps its AVX2 version. Compiled in a target region for the ISA, used only when the CPU has
 * it; tested against the scalar twins on AVX-512 CPUs (test_dot) and, on any CPU, through
 * scalar stand-ins for the intrinsics (test_avx512_emu). */
#include "kern_impl.h"
#if PD_X86 || defined(PD_AVX512_EMULATE)
#ifndef PD_AVX512_EMULATE
#include <immintrin.h>
#endif

/* PD_AVX512_EMULATE: tests/kern/test_avx512_emu.c compiles this file with scalar stand-ins for the
 * intrinsics, so CPUs without AVX-512 still check the kernels' logic against the scalar twins. */
#ifndef PD_AVX512_EMULATE
PD_TARGET_AVX512_BEGIN
#endif

static inline __mmask16 tail_mask(int64_t left) { return (__mmask16)((1u << left) - 1u); }

static inline __m512 l_f32(const float *p) { return _mm512_loadu_ps(p); }
static inline __m512 lm_f32(const float *p, __mmask16 k) { return _mm512_maskz_loadu_ps(k, p); }
static inline __m512 l_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline __m512 lm_f16(const uint16_t *p, __mmask16 k) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p)); }
static inline __m512 l_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}
static inline __m512 lm_bf16(const uint16_t *p, __mmask16 k) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p)), 16));
}

/* ---------- float dots: public vec_dot semantics (both operands of the same type) ---------- */

#define PD_DOT512(name, T, LD, LDM)                                                                                  \
    static float name(int64_t n, const void *w, const void *x) {                                                     \
        const T *a = w, *b = x;                                                                                       \
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps(); \
        int64_t i = 0;                                                                                                \
        for (; i + 64 <= n; i += 64) {                                                                                \
            s0 = _mm512_fmadd_ps(LD(a + i), LD(b + i), s0);                                                           \
            s1 = _mm512_fmadd_ps(LD(a + i + 16), LD(b + i + 16), s1);                                                 \
            s2 = _mm512_fmadd_ps(LD(a + i + 32), LD(b + i + 32), s2);                                                 \
            s3 = _mm512_fmadd_ps(LD(a + i + 48), LD(b + i + 48), s3);                                                 \
        }                                                                                                             \
        for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(LD(a + i), LD(b + i), s0);                                 \
        if (i < n) {                                                                                                  \
            __mmask16 k = tail_mask(n - i);                                                                           \
            s1 = _mm512_fmadd_ps(LDM(a + i, k), LDM(b + i, k), s1);                                                   \
        }                                                                                                             \
        return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));                     \
    }
PD_DOT512(dot_f32, float, l_f32, lm_f32)
PD_DOT512(dot_f16, uint16_t, l_f16, lm_f16)
PD_DOT512(dot_bf16, uint16_t, l_bf16, lm_bf16)

/* ---------- float matmul tiles: 4 weight rows x 4 tokens, F32 activations ---------- */

#define F5_NR 4
#define F5_MR 4

#define PD_FTILE512(name, T, LD, LDM)                                                                                \
    static float name##_one(int64_t n, const T *a, const float *b) {                                                 \
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();                                                    \
        int64_t i = 0;                                                                                                \
        for (; i + 32 <= n; i += 32) {                                                                                \
            s0 = _mm512_fmadd_ps(LD(a + i), l_f32(b + i), s0);                                                        \
            s1 = _mm512_fmadd_ps(LD(a + i + 16), l_f32(b + i + 16), s1);                                              \
        }                                                                                                             \
        for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(LD(a + i), l_f32(b + i), s0);                              \
        if (i < n) {                                                                                                  \
            __mmask16 k = tail_mask(n - i);                                                                           \
            s1 = _mm512_fmadd_ps(LDM(a + i, k), lm_f32(b + i, k), s1);                                                \
        }                                                                                                             \
        return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));                                                           \
    }                                                                                                                 \
    static void name(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,         \
                     int64_t ldy) {                                                                                   \
        if (nr != F5_NR || mr > F5_MR) {                                                                              \
            for (int m = 0; m < mr; m++)                                                                              \
                for (int r = 0; r < nr; r++)                                                                          \
                    y[m * ldy + r] = name##_one(n, (const T *)((const char *)w + r * ws),                            \
                                                (const float *)((const char *)x + m * xs));                           \
            return;                                                                                                   \
        }                                                                                                             \
        const T *w0 = w, *w1 = (const T *)((const char *)w + ws), *w2 = (const T *)((const char *)w + 2 * ws),        \
                *w3 = (const T *)((const char *)w + 3 * ws);                                                          \
        if (mr == 1) {                                                                                                \
            const float *x0 = x;                                                                                      \
            __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;                                               \
            int64_t i = 0;                                                                                            \
            for (; i + 16 <= n; i += 16) {                                                                            \
                __m512 a = l_f32(x0 + i);                                                                             \
                c0 = _mm512_fmadd_ps(LD(w0 + i), a, c0);                                                              \
                c1 = _mm512_fmadd_ps(LD(w1 + i), a, c1);                                                              \
                c2 = _mm512_fmadd_ps(LD(w2 + i), a, c2);                                                              \
                c3 = _mm512_fmadd_ps(LD(w3 + i), a, c3);                                                              \
            }                                                                                                         \
            if (i < n) {                                                                                              \
                __mmask16 k = tail_mask(n - i);                                                                       \
                __m512 a = lm_f32(x0 + i, k);                                                                         \
                c0 = _mm512_fmadd_ps(LDM(w0 + i, k), a, c0);                                                          \
                c1 = _mm512_fmadd_ps(LDM(w1 + i, k), a, c1);                                                          \
                c2 = _mm512_fmadd_ps(LDM(w2 + i, k), a, c2);                                                          \
                c3 = _mm512_fmadd_ps(LDM(w3 + i, k), a, c3);                                                          \
            }                                                                                                         \
            y[0] = _mm512_reduce_add_ps(c0);                                                                          \
            y[1] = _mm512_reduce_add_ps(c1);                                                                          \
            y[2] = _mm512_reduce_add_ps(c2);                                                                          \
            y[3] = _mm512_reduce_add_ps(c3);                                                                          \
            return;                                                                                                   \
        }                                                                                                             \
        /* rows of tokens beyond mr alias token 0; their sums are computed and dropped */                             \
        const float *x0 = x, *x1 = (const float *)((const char *)x + (mr > 1 ? xs : 0)),                              \
                    *x2 = (const float *)((const char *)x + (mr > 2 ? 2 * xs : 0)),                                   \
                    *x3 = (const float *)((const char *)x + (mr > 3 ? 3 * xs : 0));                                   \
        __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00; \
        __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;                \
        int64_t i = 0;                                                                                                \
        for (; i + 16 <= n; i += 16) {                                                                                \
            __m512 a0 = l_f32(x0 + i), a1 = l_f32(x1 + i), a2 = l_f32(x2 + i), a3 = l_f32(x3 + i), v;                 \
            v = LD(w0 + i);                                                                                           \
            c00 = _mm512_fmadd_ps(v, a0, c00); c01 = _mm512_fmadd_ps(v, a1, c01);                                    \
            c02 = _mm512_fmadd_ps(v, a2, c02); c03 = _mm512_fmadd_ps(v, a3, c03);                                     \
            v = LD(w1 + i);                                                                                           \
            c10 = _mm512_fmadd_ps(v, a0, c10); c11 = _mm512_fmadd_ps(v, a1, c11);                                    \
            c12 = _mm512_fmadd_ps(v, a2, c12); c13 = _mm512_fmadd_ps(v, a3, c13);                                     \
            v = LD(w2 + i);                                                                                           \
            c20 = _mm512_fmadd_ps(v, a0, c20); c21 = _mm512_fmadd_ps(v, a1, c21);                                    \
            c22 = _mm512_fmadd_ps(v, a2, c22); c23 = _mm512_fmadd_ps(v, a3, c23);                                     \
            v = LD(w3 + i);                                                                                           \
            c30 = _mm512_fmadd_ps(v, a0, c30); c31 = _mm512_fmadd_ps(v, a1, c31);                                    \
            c32 = _mm512_fmadd_ps(v, a2, c32); c33 = _mm512_fmadd_ps(v, a3, c33);                                     \
        }                                                                                                             \
        if (i < n) {                                                                                                  \
            __mmask16 k = tail_mask(n - i);                                                                           \
            __m512 a0 = lm_f32(x0 + i, k), a1 = lm_f32(x1 + i, k), a2 = lm_f32(x2 + i, k), a3 = lm_f32(x3 + i, k), v; \
            v = LDM(w0 + i, k);                                                                                       \
            c00 = _mm512_fmadd_ps(v, a0, c00); c01 = _mm512_fmadd_ps(v, a1, c01);                                    \
            c02 = _mm512_fmadd_ps(v, a2, c02); c03 = _mm512_fmadd_ps(v, a3, c03);                                     \
            v = LDM(w1 + i, k);                                                                                       \
            c10 = _mm512_fmadd_ps(v, a0, c10); c11 = _mm512_fmadd_ps(v, a1, c11);                                    \
            c12 = _mm512_fmadd_ps(v, a2, c12); c13 = _mm512_fmadd_ps(v, a3, c13);                                     \
            v = LDM(w2 + i, k);                                                                                       \
            c20 = _mm512_fmadd_ps(v, a0, c20); c21 = _mm512_fmadd_ps(v, a1, c21);                                    \
            c22 = _mm512_fmadd_ps(v, a2, c22); c23 = _mm512_fmadd_ps(v, a3, c23);                                     \
            v = LDM(w3 + i, k);                                                                                       \
            c30 = _mm512_fmadd_ps(v, a0, c30); c31 = _mm512_fmadd_ps(v, a1, c31);                                    \
            c32 = _mm512_fmadd_ps(v, a2, c32); c33 = _mm512_fmadd_ps(v, a3, c33);                                     \
        }                                                                                                             \
        __m512 acc[F5_MR][F5_NR] = {{c00, c10, c20, c30}, {c01, c11, c21, c31}, {c02, c12, c22, c32},                 \
                                    {c03, c13, c23, c33}};                                                            \
        for (int m = 0; m < mr; m++)                                                                                  \
            for (int r = 0; r < F5_NR; r++) y[m * ldy + r] = _mm512_reduce_add_ps(acc[m][r]);                         \
    }
PD_FTILE512(tile_f32, float, l_f32, lm_f32)
PD_FTILE512(tile_f16, uint16_t, l_f16, lm_f16)
PD_FTILE512(tile_bf16, uint16_t, l_bf16, lm_bf16)

/* ---------- Q8_0 / Q4_0: two 32-weight blocks per 512-bit register ---------- */

static inline __m256i q4_unpack256(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(0xF)), hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0xF));
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

/* blocks i and i+1 (the upper half is zero when only block i exists) */
static inline __m512i pair_q8_0(const pd_block_q8_0 *b, int has2) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)b[0].qs);
    __m256i hi = has2 ? _mm256_loadu_si256((const __m256i *)b[1].qs) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
static inline __m512i pair_q4_0(const pd_block_q4_0 *b, int has2) {
    __m256i lo = q4_unpack256(b[0].qs), hi = has2 ? q4_unpack256(b[1].qs) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}
static inline __m512 pair_scale(float lo, float hi) {
    __m256d l = _mm256_castps_pd(_mm256_set1_ps(lo)), h = _mm256_castps_pd(_mm256_set1_ps(hi));
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(l), h, 1));
}
static inline float blk_d(const void *blk) { return _cvtsh_ss(*(const uint16_t *)blk); }
/* x with its sign flipped where w is negative (so |w| * sx = w * x, as AVX2's sign_epi8) */
static inline __m512i sign_by(__m512i x, __m512i w) {
    return _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
}
static inline __m512 i8dot_bw(__m512i aw, __m512i sx) {
    return _mm512_cvtepi32_ps(_mm512_madd_epi16(_mm512_maddubs_epi16(aw, sx), _mm512_set1_epi16(1)));
}

/* Body shared by the BW and VNNI variants: I8DOT(|w|, signed x) → 16 float lanes. */
#define PD_Q512(SUF, I8DOT)                                                                                          \
    static float dot_q8_0##SUF(int64_t n, const void *w, const void *x) {                                            \
        const pd_block_q8_0 *a = w, *b = x;                                                                           \
        __m512 acc = _mm512_setzero_ps();                                                                             \
        int64_t nb = n / PD_QK;                                                                                       \
        for (int64_t i = 0; i < nb; i += 2) {                                                                         \
            int has2 = i + 1 < nb;                                                                                    \
            __m512i wv = pair_q8_0(a + i, has2), xv = pair_q8_0(b + i, has2);                                         \
            __m512 d = pair_scale(blk_d(&a[i]) * blk_d(&b[i]), has2 ? blk_d(&a[i + 1]) * blk_d(&b[i + 1]) : 0.0f);    \
            acc = _mm512_fmadd_ps(d, I8DOT(_mm512_abs_epi8(wv), sign_by(xv, wv)), acc);                               \
        }                                                                                                             \
        return _mm512_reduce_add_ps(acc);                                                                             \
    }                                                                                                                 \
    static float dot_q4_0##SUF(int64_t n, const void *w, const void *x) {                                            \
        const pd_block_q4_0 *a = w;                                                                                   \
        const pd_block_q8_0 *b = x;                                                                                   \
        __m512 acc = _mm512_setzero_ps();                                                                             \
        int64_t nb = n / PD_QK;                                                                                       \
        for (int64_t i = 0; i < nb; i += 2) {                                                                         \
            int has2 = i + 1 < nb;                                                                                    \
            __m512i wv = pair_q4_0(a + i, has2), xv = pair_q8_0(b + i, has2);                                         \
            __m512 d = pair_scale(blk_d(&a[i]) * blk_d(&b[i]), has2 ? blk_d(&a[i + 1]) * blk_d(&b[i + 1]) : 0.0f);    \
            acc = _mm512_fmadd_ps(d, I8DOT(_mm512_abs_epi8(wv), sign_by(xv, wv)), acc);                               \
        }                                                                                                             \
        return _mm512_reduce_add_ps(acc);                                                                             \
    }                                                                                                                 \
    /* 2 weight rows x 4 tokens; each weight block pair is unpacked once for the 4 tokens */                         \
    PD_QTILE512(tile_q8_0##SUF, pd_block_q8_0, pair_q8_0, dot_q8_0##SUF, I8DOT)                                      \
    PD_QTILE512(tile_q4_0##SUF, pd_block_q4_0, pair_q4_0, dot_q4_0##SUF, I8DOT)

#define Q5_NR 4
#define Q5_MR 4
/* Scales: one pair vector per weight row and per token for each block pair, so each (row, token)
 * product costs one multiply; the weights' |w| and sign masks are made once for all tokens.
 * Instances for 1..4 tokens, so decode (one token) shares each activation block across 4 rows. */
#define PD_QTILE512(name, WB, PAIRW, ONE, I8DOT)                                                                     \
    static inline __attribute__((always_inline)) void name##_mr(int MR, int64_t n, const void *w, size_t ws,          \
                                                                const void *x, size_t xs, float *y, int64_t ldy) {    \
        const WB *wr[Q5_NR];                                                                                          \
        const pd_block_q8_0 *xb[Q5_MR];                                                                               \
        for (int r = 0; r < Q5_NR; r++) wr[r] = (const WB *)((const char *)w + r * ws);                              \
        for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_0 *)((const char *)x + m * xs);                      \
        __m512 acc[Q5_NR][Q5_MR];                                                                                     \
        for (int r = 0; r < Q5_NR; r++)                                                                               \
            for (int m = 0; m < MR; m++) acc[r][m] = _mm512_setzero_ps();                                             \
        int64_t nb = n / PD_QK;                                                                                       \
        for (int64_t i = 0; i < nb; i += 2) {                                                                         \
            int has2 = i + 1 < nb;                                                                                    \
            __m512i v[Q5_NR], u[Q5_NR];                                                                               \
            __m512 dw[Q5_NR];                                                                                         \
            PD_UNROLL4 for (int r = 0; r < Q5_NR; r++) {                                                 \
                v[r] = PAIRW(wr[r] + i, has2);                                                                        \
                u[r] = _mm512_abs_epi8(v[r]);                                                                         \
                dw[r] = pair_scale(blk_d(&wr[r][i]), has2 ? blk_d(&wr[r][i + 1]) : 0.0f);                             \
            }                                                                                                         \
            PD_UNROLL4 for (int m = 0; m < MR; m++) {                                                    \
                __m512i xv = pair_q8_0(xb[m] + i, has2);                                                              \
                __m512 dx = pair_scale(blk_d(&xb[m][i]), has2 ? blk_d(&xb[m][i + 1]) : 0.0f);                         \
                PD_UNROLL4 for (int r = 0; r < Q5_NR; r++) acc[r][m] =                                   \
                    _mm512_fmadd_ps(_mm512_mul_ps(dw[r], dx), I8DOT(u[r], sign_by(xv, v[r])), acc[r][m]);             \
            }                                                                                                         \
        }                                                                                                             \
        for (int m = 0; m < MR; m++)                                                                                  \
            for (int r = 0; r < Q5_NR; r++) y[m * ldy + r] = _mm512_reduce_add_ps(acc[r][m]);                         \
    }                                                                                                                 \
    static void name(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,         \
                     int64_t ldy) {                                                                                   \
        if (nr != Q5_NR || mr < 1 || mr > Q5_MR) {                                                                    \
            pd_tile_by_dots(ONE, n, w, ws, nr, x, xs, mr, y, ldy);                                                    \
            return;                                                                                                   \
        }                                                                                                             \
        PD_TILE_MR_SWITCH(name##_mr, mr, n, w, ws, x, xs, y, ldy)                                                     \
    }

PD_Q512(_bw, i8dot_bw)


/* ---------- K-quants: Q4_K / Q6_K against Q8_K, 64 weights per 512-bit register ---------- */

/* The SIMD form of the scalar twins: each 64-weight chunk of a super-block is one register of
 * unsigned weights (Q4_K nibbles 0..15; Q6_K 6-bit values 0..63, their -32 offset applied once per
 * super-block through the Q8_K block sums), multiplied with the 64 activations by maddubs (no
 * saturation: |pair| <= 63 * 128 * 2), then scaled by the 16-bit sub-block scales and summed to
 * 32 bits by SACC (madd + add, or VNNI's vpdpwssd that fuses both). */
#define K5_T 4 /* tokens per K-quant tile row */

static inline __m512i k5_ld(const void *p) { return _mm512_loadu_si512(p); }

/* Q4_K weights 64c..64c+63 of a super-block: low nibbles of bytes 32c..32c+31, then high nibbles */
static inline __m512i q4k_w64(const uint8_t *qs) {
    __m256i b = _mm256_loadu_si256((const __m256i *)qs);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(b), _mm256_srli_epi16(b, 4), 1);
    return _mm512_and_si512(v, _mm512_set1_epi8(0xF));
}
/* int16 lanes 0..15 = lo (weights of the chunk's first 32), lanes 16..31 = hi */
static inline __m512i q4k_scale(uint8_t lo, uint8_t hi) {
    return _mm512_mask_set1_epi16(_mm512_set1_epi16((short)lo), (__mmask32)0xFFFF0000u, (short)hi);
}

/* Q6_K weights of one 128-weight half as two registers: w[0] = elements 0..63, w[1] = 64..127
 * (unsigned, stored value = signed value + 32) */
static inline void q6k_w128(const uint8_t *ql, const uint8_t *qh, __m512i w[2]) {
    const __m512i m4 = _mm512_set1_epi8(0xF), m3 = _mm512_set1_epi8(3);
    __m512i l = k5_ld(ql);
    __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
    __m512i h01 = _mm512_inserti64x4(_mm512_castsi256_si512(hb), _mm256_srli_epi16(hb, 2), 1); /* bits 0-1 | 2-3 */
    __m512i h23 = _mm512_srli_epi16(h01, 4);                                                     /* bits 4-5 | 6-7 */
    w[0] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_slli_epi16(_mm512_and_si512(h01, m3), 4));
    w[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                           _mm512_slli_epi16(_mm512_and_si512(h23, m3), 4));
}
/* Q6_K scale of each maddubs lane of chunk c (weights 64c..64c+63): lane i covers elements
 * 64c + 2i, +1, whose scale is scales[4c + i/8] */
static const int16_t q6k_sidx[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                     2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};

static inline __m512i sacc_bw(__m512i acc, __m512i p16, __m512i sc16) {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(p16, sc16));
}

#define PD_K512(SUF, SACC)                                                                                           \
    static inline __attribute__((always_inline)) void q4_K_rows##SUF(int T, int64_t n, const pd_block_q4_K *a,        \
                                                                     const pd_block_q8_K *const *b, float *out) {     \
        __m512 acc[K5_T];                                                                                             \
        float accm[K5_T];                                                                                             \
        for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps(), accm[t] = 0.0f;                                     \
        for (int64_t i = 0; i < n / PD_QK_K; i++) {                                                                   \
            uint8_t sc[8], mn[8];                                                                                     \
            pd_q4k_unpack(a[i].scales, sc, mn);                                                                       \
            __m512i isum[K5_T];                                                                                       \
            for (int t = 0; t < T; t++) isum[t] = _mm512_setzero_si512();                                             \
            PD_UNROLL4 for (int c = 0; c < 4; c++) {                                                                  \
                __m512i wv = q4k_w64(a[i].qs + 32 * c), s = q4k_scale(sc[2 * c], sc[2 * c + 1]);                      \
                PD_UNROLL4 for (int t = 0; t < T; t++) isum[t] =                                                      \
                    SACC(isum[t], _mm512_maddubs_epi16(wv, k5_ld(b[t][i].qs + 64 * c)), s);                           \
            }                                                                                                         \
            float d = blk_d(&a[i].d), dmin = blk_d(&a[i].dmin);                                                       \
            for (int t = 0; t < T; t++) {                                                                             \
                const int16_t *bs = b[t][i].bsums;                                                                    \
                int32_t summ = 0;                                                                                     \
                for (int k = 0; k < 8; k++) summ += mn[k] * (bs[2 * k] + bs[2 * k + 1]);                             \
                acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(b[t][i].d * d), _mm512_cvtepi32_ps(isum[t]), acc[t]);         \
                accm[t] += b[t][i].d * dmin * (float)summ;                                                            \
            }                                                                                                         \
        }                                                                                                             \
        for (int t = 0; t < T; t++) out[t] = _mm512_reduce_add_ps(acc[t]) - accm[t];                                  \
    }                                                                                                                 \
    static inline __attribute__((always_inline)) void q6_K_rows##SUF(int T, int64_t n, const pd_block_q6_K *a,        \
                                                                     const pd_block_q8_K *const *b, float *out) {     \
        __m512 acc[K5_T];                                                                                             \
        for (int t = 0; t < T; t++) acc[t] = _mm512_setzero_ps();                                                     \
        const __m512i sidx = k5_ld(q6k_sidx);                                                                         \
        for (int64_t i = 0; i < n / PD_QK_K; i++) {                                                                   \
            const int8_t *sc = a[i].scales;                                                                           \
            __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)));       \
            __m512i isum[K5_T];                                                                                       \
            /* start from -32 * sum_k sc_k * bsums_k (the stored values carry a +32 offset) */                        \
            for (int t = 0; t < T; t++) {                                                                             \
                const int16_t *bs = b[t][i].bsums;                                                                    \
                int32_t bias = 0;                                                                                     \
                for (int k = 0; k < 16; k++) bias += sc[k] * bs[k];                                                   \
                isum[t] = _mm512_maskz_set1_epi32((__mmask16)1, -32 * bias);                                          \
            }                                                                                                         \
            for (int h = 0; h < 2; h++) {                                                                             \
                __m512i wv[2];                                                                                        \
                q6k_w128(a[i].ql + 64 * h, a[i].qh + 32 * h, wv);                                                     \
                PD_UNROLL4 for (int g = 0; g < 2; g++) {                                                              \
                    int c = 2 * h + g;                                                                                \
                    __m512i s = _mm512_permutexvar_epi16(_mm512_add_epi16(sidx, _mm512_set1_epi16((short)(4 * c))),   \
                                                         sc16);                                                       \
                    PD_UNROLL4 for (int t = 0; t < T; t++) isum[t] =                                                  \
                        SACC(isum[t], _mm512_maddubs_epi16(wv[g], k5_ld(b[t][i].qs + 64 * c)), s);                    \
                }                                                                                                     \
            }                                                                                                         \
            float d = blk_d(&a[i].d);                                                                                 \
            for (int t = 0; t < T; t++)                                                                               \
                acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d * b[t][i].d), _mm512_cvtepi32_ps(isum[t]), acc[t]);         \
        }                                                                                                             \
        for (int t = 0; t < T; t++) out[t] = _mm512_reduce_add_ps(acc[t]);                                            \
    }                                                                                                                 \
    static float dot_q4_K##SUF(int64_t n, const void *w, const void *x) {                                            \
        const pd_block_q8_K *b = x;                                                                                   \
        float o;                                                                                                      \
        q4_K_rows##SUF(1, n, w, &b, &o);                                                                              \
        return o;                                                                                                     \
    }                                                                                                                 \
    static float dot_q6_K##SUF(int64_t n, const void *w, const void *x) {                                            \
        const pd_block_q8_K *b = x;                                                                                   \
        float o;                                                                                                      \
        q6_K_rows##SUF(1, n, w, &b, &o);                                                                              \
        return o;                                                                                                     \
    }                                                                                                                 \
    static void q4_K_rowT##SUF(int64_t n, const pd_block_q4_K *a, const pd_block_q8_K *const *b, float *out) {        \
        q4_K_rows##SUF(K5_T, n, a, b, out);                                                                           \
    }                                                                                                                 \
    static void q6_K_rowT##SUF(int64_t n, const pd_block_q6_K *a, const pd_block_q8_K *const *b, float *out) {        \
        q6_K_rows##SUF(K5_T, n, a, b, out);                                                                           \
    }                                                                                                                 \
    PD_KTILE512(tile_q4_K##SUF, pd_block_q4_K, q4_K_rowT##SUF, dot_q4_K##SUF)                                         \
    PD_KTILE512(tile_q6_K##SUF, pd_block_q6_K, q6_K_rowT##SUF, dot_q6_K##SUF)

/* K-quant tile: each weight row against K5_T tokens at a time (the row's nibbles and scales are
 * unpacked once per super-block for all of them); leftover tokens by single dots. */
#define PD_KTILE512(name, WB, ROWFN, ONE)                                                                            \
    static void name(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,         \
                     int64_t ldy) {                                                                                   \
        int m0 = 0;                                                                                                   \
        for (; m0 + K5_T <= mr; m0 += K5_T) {                                                                         \
            const pd_block_q8_K *xb[K5_T];                                                                            \
            for (int t = 0; t < K5_T; t++) xb[t] = (const pd_block_q8_K *)((const char *)x + (size_t)(m0 + t) * xs);  \
            for (int r = 0; r < nr; r++) {                                                                            \
                float o[K5_T];                                                                                        \
                ROWFN(n, (const WB *)((const char *)w + (size_t)r * ws), xb, o);                                      \
                for (int t = 0; t < K5_T; t++) y[(m0 + t) * ldy + r] = o[t];                                          \
            }                                                                                                         \
        }                                                                                                             \
        if (m0 < mr) pd_tile_by_dots(ONE, n, w, ws, nr, (const char *)x + (size_t)m0 * xs, xs, mr - m0, y + m0 * ldy, \
                                     ldy);                                                                            \
    }

PD_K512(_bw, sacc_bw)

#ifndef PD_AVX512_EMULATE
PD_TARGET_END
PD_TARGET_AVX512VNNI_BEGIN
#endif
static inline __m512 i8dot_vnni(__m512i aw, __m512i sx) {
    return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sx));
}
PD_Q512(_vnni, i8dot_vnni)
/* vpdpwssd: the 16-bit scale multiply and the 32-bit accumulate in one instruction */
static inline __m512i sacc_vnni(__m512i acc, __m512i p16, __m512i sc16) { return _mm512_dpwssd_epi32(acc, p16, sc16); }
PD_K512(_vnni, sacc_vnni)
#ifndef PD_AVX512_EMULATE
PD_TARGET_END
#endif

void pd_kern_table_avx512(pd_kern_table *t) {
    t->dot[PD_TYPE_F32] = dot_f32;
    t->dot[PD_TYPE_F16] = dot_f16;
    t->dot[PD_TYPE_BF16] = dot_bf16;
    t->tile[PD_TYPE_F32] = tile_f32;
    t->tile[PD_TYPE_F16] = tile_f16;
    t->tile[PD_TYPE_BF16] = tile_bf16;
    int vnni = 0;
#ifndef PD_AVX512_EMULATE
    __builtin_cpu_init();
    vnni = __builtin_cpu_supports("avx512vnni");
#endif
    t->dot[PD_TYPE_Q8_0] = vnni ? dot_q8_0_vnni : dot_q8_0_bw;
    t->dot[PD_TYPE_Q4_0] = vnni ? dot_q4_0_vnni : dot_q4_0_bw;
    t->tile[PD_TYPE_Q8_0] = vnni ? tile_q8_0_vnni : tile_q8_0_bw;
    t->tile[PD_TYPE_Q4_0] = vnni ? tile_q4_0_vnni : tile_q4_0_bw;
    t->dot[PD_TYPE_Q4_K] = vnni ? dot_q4_K_vnni : dot_q4_K_bw;
    t->dot[PD_TYPE_Q6_K] = vnni ? dot_q6_K_vnni : dot_q6_K_bw;
    t->tile[PD_TYPE_Q4_K] = vnni ? tile_q4_K_vnni : tile_q4_K_bw;
    t->tile[PD_TYPE_Q6_K] = vnni ? tile_q6_K_vnni : tile_q6_K_bw;
    t->tile_nr[PD_TYPE_F32] = t->tile_nr[PD_TYPE_F16] = t->tile_nr[PD_TYPE_BF16] = F5_NR;
    t->tile_mr[PD_TYPE_F32] = t->tile_mr[PD_TYPE_F16] = t->tile_mr[PD_TYPE_BF16] = F5_MR;
    t->tile_nr[PD_TYPE_Q8_0] = t->tile_nr[PD_TYPE_Q4_0] = Q5_NR;
    t->tile_mr[PD_TYPE_Q8_0] = t->tile_mr[PD_TYPE_Q4_0] = Q5_MR;
    t->tile_nr[PD_TYPE_Q4_K] = t->tile_nr[PD_TYPE_Q6_K] = 4; /* rows per task; the kernel loops over them */
    t->tile_mr[PD_TYPE_Q4_K] = t->tile_mr[PD_TYPE_Q6_K] = K5_T;
}

#else /* not x86: no AVX-512 kernels; the dispatcher never selects this level */
void pd_kern_table_avx512(pd_kern_table *t) { (void)t; }
#endif
