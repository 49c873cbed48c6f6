/* kern/mm_f32.c — the F32, F16 and BF16 matmuls of the SIMD levels, built so that a token's output
 * does not depend on how many tokens share the call: every output is computed in one fixed order, the
 * "lane order" of pd_dot_f32_lanes (its scalar twin, below), whatever the tile, block or thread.
 * Lane order: eight partial sums, lane j a chain of fused multiply-adds over k = j, j+8, j+16, …
 * (k < K rounded down to 8), added as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)); the last K mod 8 products
 * are then fused-added one by one. F16 / BF16 weights are converted to F32 exactly (the activations
 * are already rounded to the weight type by pd_matmul), so they follow the same order on the
 * converted values: pd_dot_f32_lanes(K, f32(w), x) to the bit.
 * The tiles keep one 8-lane accumulator per (token, output) and reduce eight accumulators at once
 * with a transposing hadd tree (the same tree for each of them), so no horizontal sum is paid per
 * output: one token goes 8 outputs at a time (8 independent FMA chains), 2-3 tokens 4 outputs at a
 * time (12 chains, each loaded weight used 3 times).
 * pd_mm_float (AVX2 level, pd_matmul's path for these types): prefill (M > 3) runs over panels of
 * 16 weight rows (F16/BF16 converted to F32 once per panel, reused by every token), blocks of 96
 * tokens and 256-wide slices of K: a slice of the panel (16 KiB) stays in L1 while every 3-token
 * group of the block passes over it, and the 12 accumulators of each 3x4 tile are kept in a small
 * buffer between slices (each lane still sums k = j, j+8, … in order). Decode (M <= 3) streams the
 * rows once, converting F16/BF16 in registers. AVX-512 machines run the same AVX2 code for F32 (a
 * wider tile would have to keep this order to keep results identical across machines). */
#include "kern_impl.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdlib.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

float pd_dot_f32_lanes(int64_t n, const float *w, const float *x) {
    int64_t n8 = n & ~(int64_t)7;
    float l[8];
    for (int j = 0; j < 8; j++) {
        float a = 0.0f;
        for (int64_t k = j; k < n8; k += 8) a = fmaf(w[k], x[k], a);
        l[j] = a;
    }
    float s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
    for (int64_t k = n8; k < n; k++) s = fmaf(w[k], x[k], s);
    return s;
}

#if PD_X86
#include <immintrin.h>

PD_TARGET_AVX2_BEGIN

#define LF_NR 16 /* outputs (weight rows) per tile */
#define LF_MR 3  /* tokens per tile */
#define FB_R 16  /* prefill: weight rows per panel */
#define FB_T 96  /* prefill: tokens per block (a multiple of 3) */
#define FB_KC 256 /* prefill: K slice (a multiple of 8) */

/* 8 weights from element i of a row of type wt (F32, F16 or BF16; a constant at every call site, so
 * each use is specialised), exactly converted to F32 */
static inline __attribute__((always_inline)) __m256 ldw(pd_type wt, const char *row, int64_t i) {
    if (wt == PD_TYPE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    if (wt == PD_TYPE_BF16)
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i))), 16));
    return _mm256_loadu_ps((const float *)row + i);
}
static inline float ldw1(pd_type wt, const char *row, int64_t k) {
    if (wt == PD_TYPE_F16) return _cvtsh_ss(((const uint16_t *)row)[k]);
    if (wt == PD_TYPE_BF16) return pd_bf16_to_f32(((const uint16_t *)row)[k]);
    return ((const float *)row)[k];
}

/* The lane-order sums of eight accumulators at once: r[i] = tree(v[i]). */
static inline __m256 lanes_reduce8(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 v4, __m256 v5, __m256 v6,
                                   __m256 v7) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    __m256 g = _mm256_hadd_ps(_mm256_hadd_ps(v4, v5), _mm256_hadd_ps(v6, v7));
    return _mm256_add_ps(_mm256_permute2f128_ps(h, g, 0x20), _mm256_permute2f128_ps(h, g, 0x31));
}

/* the K mod 8 tail of one output, fused-added in order onto its lane sum */
static inline float lanes_tail(pd_type wt, float s, int64_t n8, int64_t n, const char *w, const float *x) {
    for (int64_t k = n8; k < n; k++) s = fmaf(ldw1(wt, w, k), x[k], s);
    return s;
}

/* row q of a tile of nr rows (q >= nr repeats the last row: computed, never stored) */
#define LF_ROW(w, ws, nr, q) ((w) + (size_t)((q) < (nr) ? (q) : (nr) - 1) * (ws))

/* 1 token x up to 8 outputs */
static inline __attribute__((always_inline)) void lanes_1x8(pd_type wt, int64_t n, const char *wb, size_t ws, int nr,
                                                            const float *x, float *y, const char *pf) {
    const char *w0 = LF_ROW(wb, ws, nr, 0), *w1 = LF_ROW(wb, ws, nr, 1), *w2 = LF_ROW(wb, ws, nr, 2),
               *w3 = LF_ROW(wb, ws, nr, 3), *w4 = LF_ROW(wb, ws, nr, 4), *w5 = LF_ROW(wb, ws, nr, 5),
               *w6 = LF_ROW(wb, ws, nr, 6), *w7 = LF_ROW(wb, ws, nr, 7);
    int64_t n8 = n & ~(int64_t)7;
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    /* pf (decode): the next 8 rows, prefetched in order while these stream (the bytes of 8 rows x 8
     * weights per step) */
    const int esz = wt == PD_TYPE_F32 ? 4 : 2;
    for (int64_t i = 0; i < n8; i += 8) {
        __m256 a = _mm256_loadu_ps(x + i);
        if (pf) {
            const char *q = pf + (size_t)i * 8 * esz;
            _mm_prefetch(q, _MM_HINT_T0);
            _mm_prefetch(q + 64, _MM_HINT_T0);
            if (esz == 4) {
                _mm_prefetch(q + 128, _MM_HINT_T0);
                _mm_prefetch(q + 192, _MM_HINT_T0);
            }
        }
        c0 = _mm256_fmadd_ps(ldw(wt, w0, i), a, c0);
        c1 = _mm256_fmadd_ps(ldw(wt, w1, i), a, c1);
        c2 = _mm256_fmadd_ps(ldw(wt, w2, i), a, c2);
        c3 = _mm256_fmadd_ps(ldw(wt, w3, i), a, c3);
        c4 = _mm256_fmadd_ps(ldw(wt, w4, i), a, c4);
        c5 = _mm256_fmadd_ps(ldw(wt, w5, i), a, c5);
        c6 = _mm256_fmadd_ps(ldw(wt, w6, i), a, c6);
        c7 = _mm256_fmadd_ps(ldw(wt, w7, i), a, c7);
    }
    __m256 s = lanes_reduce8(c0, c1, c2, c3, c4, c5, c6, c7);
    if (n8 == n && nr == 8) {
        _mm256_storeu_ps(y, s);
        return;
    }
    float r[8];
    _mm256_storeu_ps(r, s);
    for (int q = 0; q < nr; q++) y[q] = lanes_tail(wt, r[q], n8, n, LF_ROW(wb, ws, nr, q), x);
}

/* one k step of 8 of the 3 x 4 block */
#define LF_STEP34(i)                                                                                                  \
    do {                                                                                                              \
        __m256 a0 = _mm256_loadu_ps(x0 + (i)), a1 = _mm256_loadu_ps(x1 + (i)), a2 = _mm256_loadu_ps(x2 + (i)), v;     \
        v = ldw(wt, w0, (i));                                                                                         \
        c00 = _mm256_fmadd_ps(v, a0, c00); c10 = _mm256_fmadd_ps(v, a1, c10); c20 = _mm256_fmadd_ps(v, a2, c20);      \
        v = ldw(wt, w1, (i));                                                                                         \
        c01 = _mm256_fmadd_ps(v, a0, c01); c11 = _mm256_fmadd_ps(v, a1, c11); c21 = _mm256_fmadd_ps(v, a2, c21);      \
        v = ldw(wt, w2, (i));                                                                                         \
        c02 = _mm256_fmadd_ps(v, a0, c02); c12 = _mm256_fmadd_ps(v, a1, c12); c22 = _mm256_fmadd_ps(v, a2, c22);      \
        v = ldw(wt, w3, (i));                                                                                         \
        c03 = _mm256_fmadd_ps(v, a0, c03); c13 = _mm256_fmadd_ps(v, a1, c13); c23 = _mm256_fmadd_ps(v, a2, c23);      \
    } while (0)

#define LF_STEP34F(i)                                                                                                 \
    do {                                                                                                              \
        __m256 a0 = _mm256_loadu_ps(x0 + (i)), a1 = _mm256_loadu_ps(x1 + (i)), a2 = _mm256_loadu_ps(x2 + (i)), v;     \
        v = _mm256_loadu_ps(w0 + (i));                                                                                \
        c00 = _mm256_fmadd_ps(v, a0, c00); c10 = _mm256_fmadd_ps(v, a1, c10); c20 = _mm256_fmadd_ps(v, a2, c20);      \
        v = _mm256_loadu_ps(w1 + (i));                                                                                \
        c01 = _mm256_fmadd_ps(v, a0, c01); c11 = _mm256_fmadd_ps(v, a1, c11); c21 = _mm256_fmadd_ps(v, a2, c21);      \
        v = _mm256_loadu_ps(w2 + (i));                                                                                \
        c02 = _mm256_fmadd_ps(v, a0, c02); c12 = _mm256_fmadd_ps(v, a1, c12); c22 = _mm256_fmadd_ps(v, a2, c22);      \
        v = _mm256_loadu_ps(w3 + (i));                                                                                \
        c03 = _mm256_fmadd_ps(v, a0, c03); c13 = _mm256_fmadd_ps(v, a1, c13); c23 = _mm256_fmadd_ps(v, a2, c23);      \
    } while (0)

/* The 3 x 4 block's outputs from its 12 accumulators (+ the K mod 8 tails): y rows ldy apart. */
static inline __attribute__((always_inline)) void lanes_store34(pd_type wt, int64_t n8, int64_t n, const char *wb,
                                                                size_t ws, int nr, const float *x0, const float *x1,
                                                                const float *x2, int mr, float *y, int64_t ldy,
                                                                __m256 c00, __m256 c01, __m256 c02, __m256 c03,
                                                                __m256 c10, __m256 c11, __m256 c12, __m256 c13,
                                                                __m256 c20, __m256 c21, __m256 c22, __m256 c23) {
    __m256 s01 = lanes_reduce8(c00, c01, c02, c03, c10, c11, c12, c13);
    __m128 s2 = _mm256_castps256_ps128(lanes_reduce8(c20, c21, c22, c23, c20, c21, c22, c23));
    if (n8 == n && nr == 4) {
        _mm_storeu_ps(y, _mm256_castps256_ps128(s01));
        if (mr > 1) _mm_storeu_ps(y + ldy, _mm256_extractf128_ps(s01, 1));
        if (mr > 2) _mm_storeu_ps(y + 2 * ldy, s2);
        return;
    }
    float r[12];
    _mm256_storeu_ps(r, s01);
    _mm_storeu_ps(r + 8, s2);
    const float *xr[3] = {x0, x1, x2};
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < nr; q++)
            y[m * ldy + q] = lanes_tail(wt, r[4 * m + q], n8, n, LF_ROW(wb, ws, nr, q), xr[m]);
}

/* 3 tokens (x0..x2; missing ones repeat the last, not stored) x up to 4 outputs over the whole of K.
 * The k loop is unrolled by two steps; each accumulator still sees its products in the order k, k+8, … */
static inline __attribute__((always_inline)) void lanes_3x4(pd_type wt, int64_t n, const char *wb, size_t ws, int nr,
                                                            const float *x0, const float *x1, const float *x2,
                                                            int mr, float *y, int64_t ldy) {
    const char *w0 = LF_ROW(wb, ws, nr, 0), *w1 = LF_ROW(wb, ws, nr, 1), *w2 = LF_ROW(wb, ws, nr, 2),
               *w3 = LF_ROW(wb, ws, nr, 3);
    int64_t n8 = n & ~(int64_t)7, i = 0;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    for (; i + 16 <= n8; i += 16) {
        LF_STEP34(i);
        LF_STEP34(i + 8);
    }
    if (i < n8) LF_STEP34(i);
    lanes_store34(wt, n8, n, wb, ws, nr, x0, x1, x2, mr, y, ldy, c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22,
                  c23);
}

/* The same 3 x 4 block over one K slice of kw floats: weights from the packed panel slice (rows q
 * at p + q * FB_KC), activations from the packed token slices x0..x2; the accumulators are carried
 * in acc[12] from the previous slice (first: start from zero). The last slice reduces them and
 * stores the outputs (tails of K mod 8 from the original rows: wt, wb, ws, xo*). */
static inline __attribute__((always_inline)) void slice_3x4(int pf, int64_t kw, const float *p, const float *x0,
                                                            const float *x1, const float *x2, __m256 *acc, int first,
                                                            int last, pd_type wt, int64_t n, const char *wb,
                                                            size_t ws, int nr, const float *xo0, const float *xo1,
                                                            const float *xo2, int mr, float *y, int64_t ldy) {
    const float *w0 = p, *w1 = p + FB_KC, *w2 = p + 2 * FB_KC, *w3 = p + 3 * FB_KC;
    __m256 c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23;
    if (first) {
        c00 = _mm256_setzero_ps();
        c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c00;
    } else {
        c00 = acc[0], c01 = acc[1], c02 = acc[2], c03 = acc[3], c10 = acc[4], c11 = acc[5];
        c12 = acc[6], c13 = acc[7], c20 = acc[8], c21 = acc[9], c22 = acc[10], c23 = acc[11];
    }
    int64_t i = 0;
    for (; i + 16 <= kw; i += 16) {
        if (pf) { /* the next token group's slices (3 rows of FB_KC right after x2), one line each */
            _mm_prefetch((const char *)(x0 + 3 * FB_KC + i), _MM_HINT_T0);
            _mm_prefetch((const char *)(x0 + 4 * FB_KC + i), _MM_HINT_T0);
            _mm_prefetch((const char *)(x0 + 5 * FB_KC + i), _MM_HINT_T0);
        }
        LF_STEP34F(i);
        LF_STEP34F(i + 8);
    }
    if (i < kw) LF_STEP34F(i);
    if (last) {
        lanes_store34(wt, n & ~(int64_t)7, n, wb, ws, nr, xo0, xo1, xo2, mr, y, ldy, c00, c01, c02, c03, c10, c11,
                      c12, c13, c20, c21, c22, c23);
        return;
    }
    acc[0] = c00, acc[1] = c01, acc[2] = c02, acc[3] = c03, acc[4] = c10, acc[5] = c11;
    acc[6] = c12, acc[7] = c13, acc[8] = c20, acc[9] = c21, acc[10] = c22, acc[11] = c23;
}

/* mr <= 3 tokens x nr <= 16 outputs (blocks of 8 for 1 token, of 4 for 2-3), weights of type wt */
static inline __attribute__((always_inline)) void tile_lanes(pd_type wt, int64_t n, const char *wb, size_t ws, int nr,
                                                             const void *xv, size_t xs, int mr, float *y,
                                                             int64_t ldy, const char *pf) {
    for (int m0 = 0; m0 < mr; m0 += LF_MR) { /* mr <= LF_MR from pd_matmul; more is allowed */
        int mm = mr - m0 < LF_MR ? mr - m0 : LF_MR;
        const float *x0 = (const float *)((const char *)xv + (size_t)m0 * xs);
        float *ym = y + m0 * ldy;
        if (mm == 1) {
            for (int q0 = 0; q0 < nr; q0 += 8)
                lanes_1x8(wt, n, wb + (size_t)q0 * ws, ws, nr - q0 < 8 ? nr - q0 : 8, x0, ym + q0,
                          pf && ws * 8 == (size_t)n * 8 * (wt == PD_TYPE_F32 ? 4 : 2) ? pf + (size_t)q0 * ws : NULL);
            continue;
        }
        const float *x1 = (const float *)((const char *)x0 + xs), *x2 = mm > 2 ? (const float *)((const char *)x1 + xs) : x1;
        for (int q0 = 0; q0 < nr; q0 += 4)
            lanes_3x4(wt, n, wb + (size_t)q0 * ws, ws, nr - q0 < 4 ? nr - q0 : 4, x0, x1, x2, mm, ym + q0, ldy);
    }
}

static void tile_f32_lanes(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                           int64_t ldy) {
    tile_lanes(PD_TYPE_F32, n, w, ws, nr, x, xs, mr, y, ldy, NULL);
}
static void tile_f16_lanes(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                           int64_t ldy) {
    tile_lanes(PD_TYPE_F16, n, w, ws, nr, x, xs, mr, y, ldy, NULL);
}
static void tile_bf16_lanes(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                            int64_t ldy) {
    tile_lanes(PD_TYPE_BF16, n, w, ws, nr, x, xs, mr, y, ldy, NULL);
}

/* The first n8 weights of nr rows of type wt (ws bytes apart) as F32, slice-major: slice s, row q
 * at p + (s * FB_R + q) * FB_KC (rows past nr repeat the last one) */
static void panel_pack(pd_type wt, int64_t n8, const char *w, size_t ws, int nr, float *p) {
    for (int q = 0; q < FB_R; q++) {
        const char *row = w + (size_t)(q < nr ? q : nr - 1) * ws;
        for (int64_t k0 = 0, s = 0; k0 < n8; k0 += FB_KC, s++) {
            float *o = p + (size_t)(s * FB_R + q) * FB_KC;
            int64_t kw = n8 - k0 < FB_KC ? n8 - k0 : FB_KC;
            if (wt == PD_TYPE_F32) memcpy(o, (const float *)row + k0, (size_t)kw * 4);
            else if (wt == PD_TYPE_F16)
                for (int64_t i = 0; i < kw; i += 8) _mm256_storeu_ps(o + i, ldw(PD_TYPE_F16, row, k0 + i));
            else
                for (int64_t i = 0; i < kw; i += 8) _mm256_storeu_ps(o + i, ldw(PD_TYPE_BF16, row, k0 + i));
        }
    }
}

/* Prefill of one panel of nr <= FB_R rows (p: panel_pack's layout; wb: the original rows) against M
 * tokens (xp: slice s of token m at xp + (s * M + m) * FB_KC; x: the original rows): blocks of FB_T
 * tokens, K slices, 3 x 4 tiles; acc holds (FB_T / 3) * (FB_R / 4) * 12 vectors. */
static void panel_prefill(pd_type wt, int64_t K, const float *p, const char *wb, size_t ws, int nr, const float *xp,
                          const float *x, size_t xs, int64_t M, float *y, int64_t ldy, __m256 *acc) {
    int64_t n8 = K & ~(int64_t)7;
    for (int64_t t0 = 0; t0 < M; t0 += FB_T) {
        int tm = (int)(M - t0 < FB_T ? M - t0 : FB_T);
        for (int64_t k0 = 0, s = 0;; k0 += FB_KC, s++) {
            int64_t kw = n8 - k0 < FB_KC ? n8 - k0 : FB_KC;
            int last = k0 + kw >= n8;
            const float *xs0 = xp + (size_t)(s * M + t0) * FB_KC, *ps = p + (size_t)s * FB_R * FB_KC;
            for (int g = 0; g < tm; g += 3) {
                int mm = tm - g < 3 ? tm - g : 3;
                const float *x0 = xs0 + (size_t)g * FB_KC, *x1 = mm > 1 ? x0 + FB_KC : x0, *x2 = mm > 2 ? x1 + FB_KC : x1;
                const float *xo0 = (const float *)((const char *)x + (size_t)(t0 + g) * xs);
                const float *xo1 = mm > 1 ? (const float *)((const char *)xo0 + xs) : xo0;
                const float *xo2 = mm > 2 ? (const float *)((const char *)xo1 + xs) : xo1;
                float *yg = y + (t0 + g) * ldy;
                for (int q = 0; q < nr; q += 4)
                    slice_3x4(q == 0, kw, ps + (size_t)q * FB_KC, x0, x1, x2, acc + ((g / 3) * (FB_R / 4) + q / 4) * 12, k0 == 0,
                              last, wt, K, wb + (size_t)q * ws, ws, nr - q < 4 ? nr - q : 4, xo0, xo1, xo2, mm,
                              yg + q, ldy);
            }
            if (last) break;
        }
    }
}

/* pd_matmul's path for F32 / F16 / BF16 weights (x: M rows in the activation format, xs bytes apart) */
static pd_status mm_float(pd_type wt, int64_t K, int64_t N, const char *w, size_t ws, const void *xv, size_t xs,
                          int64_t M, float *y, int64_t ldy, int nt) {
    const float *x = xv;
    if (M <= LF_MR) { /* decode: stream the rows once, 8 (1 token) or 4 (2-3 tokens) at a time */
        int64_t rb = N / (8 * (int64_t)nt);
        rb = rb < 16 ? 16 : rb > 256 ? 256 : (rb + 15) / 16 * 16;
        int64_t nb = (N + rb - 1) / rb;
        if (nb < 2) nt = 1;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
        for (int64_t b = 0; b < nb; b++) {
            int64_t r0 = b * rb, r1 = r0 + rb < N ? r0 + rb : N;
            for (int64_t r = r0; r < r1; r += LF_NR) {
                int nr = (int)(r1 - r < LF_NR ? r1 - r : LF_NR);
                /* the rows 8 ahead, while they exist (prefetched in the 1-token tile, rows packed) */
                const char *wr = w + (size_t)r * ws, *pf = r + nr + 8 <= N ? wr + 8 * ws : NULL;
                if (wt == PD_TYPE_F16) tile_lanes(PD_TYPE_F16, K, wr, ws, nr, x, xs, (int)M, y + r, ldy, pf);
                else if (wt == PD_TYPE_BF16) tile_lanes(PD_TYPE_BF16, K, wr, ws, nr, x, xs, (int)M, y + r, ldy, pf);
                else tile_lanes(PD_TYPE_F32, K, wr, ws, nr, x, xs, (int)M, y + r, ldy, pf);
            }
        }
        return PD_OK;
    }
    /* Prefill: weights and activations packed slice-major, so a tile reads contiguous 1 KiB rows that
     * stay in L1 (the GGUF rows of K = 1024 / 3072 are 4 KiB-multiples apart: read in place they
     * fall into the same L1 sets) and the activation slices of a token block stream in order. */
    int64_t np = (N + FB_R - 1) / FB_R, n8 = K & ~(int64_t)7, nsl = n8 > 0 ? (n8 + FB_KC - 1) / FB_KC : 1;
    if (np < nt) nt = (int)np;
    size_t pb = (size_t)nsl * FB_R * FB_KC * 4;
    size_t accb = (size_t)(FB_T / 3) * (FB_R / 4) * 12 * sizeof(__m256);
    size_t per = accb + pb, xall;
    if (!pd_mul_ok((size_t)nsl * FB_KC * 4, (size_t)M, &xall)) return pd_fail(PD_ERR_RANGE, "matmul: activations too large");
    char *buf = pd_aligned_alloc(64, per * (size_t)nt + xall);
    if (!buf) return pd_fail(PD_ERR_NOMEM, "matmul: %d-row panels of K=%lld", FB_R, (long long)K);
    float *xp = (float *)(buf + per * (size_t)nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int me = 0;
#if defined(_OPENMP)
        me = omp_get_thread_num();
#endif
        char *mine = buf + per * (size_t)me;
        __m256 *acc = (__m256 *)mine;
        float *panel = (float *)(mine + accb);
#pragma omp for schedule(static)
        for (int64_t m = 0; m < M; m++)
            for (int64_t k0 = 0, s = 0; k0 < n8; k0 += FB_KC, s++)
                memcpy(xp + (size_t)(s * M + m) * FB_KC, (const float *)((const char *)x + (size_t)m * xs) + k0,
                       (size_t)(n8 - k0 < FB_KC ? n8 - k0 : FB_KC) * 4);
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < np; b++) {
            int64_t r0 = b * FB_R;
            int nr = (int)(N - r0 < FB_R ? N - r0 : FB_R);
            panel_pack(wt, n8, w + (size_t)r0 * ws, ws, nr, panel);
            panel_prefill(wt, K, panel, w + (size_t)r0 * ws, ws, nr, xp, x, xs, M, y + r0, ldy, acc);
        }
    }
    pd_aligned_free(buf);
    return PD_OK;
}

PD_TARGET_END

void pd_kern_table_f32_lanes(pd_kern_table *t) {
    t->tile[PD_TYPE_F32] = tile_f32_lanes;
    t->tile_nr[PD_TYPE_F32] = LF_NR;
    t->tile_mr[PD_TYPE_F32] = LF_MR;
    t->mm_float[PD_TYPE_F32] = mm_float;
}

/* The AVX2 level's F16 / BF16 tiles in lane order too (the AVX-512 level keeps its own). */
void pd_kern_table_f16_lanes(pd_kern_table *t) {
    t->tile[PD_TYPE_F16] = tile_f16_lanes;
    t->tile[PD_TYPE_BF16] = tile_bf16_lanes;
    t->tile_nr[PD_TYPE_F16] = t->tile_nr[PD_TYPE_BF16] = LF_NR;
    t->tile_mr[PD_TYPE_F16] = t->tile_mr[PD_TYPE_BF16] = LF_MR;
    t->mm_float[PD_TYPE_F16] = t->mm_float[PD_TYPE_BF16] = mm_float;
}

#else /* not x86: the scalar table is all there is */
void pd_kern_table_f32_lanes(pd_kern_table *t) { (void)t; }
void pd_kern_table_f16_lanes(pd_kern_table *t) { (void)t; }
#endif
