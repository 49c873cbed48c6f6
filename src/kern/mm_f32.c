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
 * mm_float (pd_matmul's path for these types, kt->mm_float): prefill (M > 3) over blocks of 16 weight
 * rows handed out to the threads dynamically, each 3-token group passing over the block. F16 weights
 * read an F16 copy of the activations there (made once per call; exact, since pd_matmul rounded the
 * activations to F16), both operands converted with vcvtph2ps as they are loaded: half the bytes of
 * F32 activations per tile step, the same products in the same order, so the same bits (measured
 * 10-25% faster per matrix than F32 activations; bench/README.md). F16/BF16 weights are converted in
 * registers as they are loaded (an F32 panel converted once per block doubles the bytes
 * the tile reads from L2, and measured slower, as did K-sliced panels with carried accumulators; see
 * the floatrows note of session 7; pd_matmul's token spans, made for the small quantised rows,
 * re-read these 2-4x larger rows once per span and measured 15-30% slower). Decode (M <= 3) streams
 * the rows once, 8 at a time, with the next 8 rows prefetched for F16/BF16. The AVX-512 level keeps
 * this decode path and has its own prefill tile in the same order (mm_f32_avx512.c: two tokens per
 * zmm), so results are identical across machines.
 * Both read the weights in either layout: plain rows, or PD_LAYOUT_R8 (repack.c; pd_model_repack puts
 * inference weights in it), where each 8-row group is one stream of the rows' 8-element chunks in the
 * order the 8 lanes take them, plus the rows' K mod 8 tails (the N mod 8 rows left plain). The same
 * products in the same order: the same bits (test_mm_f32 test_repack_float). */
#include "kern_impl.h"
#include "ponder/alloc.h"
#include <math.h>
#include <pthread.h>
#include <stddef.h>

/* Per-calling-thread scratch for the prefill activation copies (here and mm_f32_avx512.c): a
 * multi-MB buffer allocated per call came fresh from the kernel each time, its page faults 30% of
 * a 3072x1024x512 F16 product's CPU time. A thread key frees it when a thread that used it exits. */
static _Thread_local void *mmf_scratch;
static _Thread_local size_t mmf_scratch_cap;
static pthread_key_t mmf_key;
static pthread_once_t mmf_once = PTHREAD_ONCE_INIT;
static int mmf_key_ok;

static void mmf_scratch_dtor(void *p) { pd_aligned_free(p); }
static void mmf_key_init(void) { mmf_key_ok = pthread_key_create(&mmf_key, mmf_scratch_dtor) == 0; }

void *pd_mm_float_scratch(size_t n) {
    if (n <= mmf_scratch_cap) return mmf_scratch;
    pthread_once(&mmf_once, mmf_key_init);
    pd_aligned_free(mmf_scratch);
    mmf_scratch_cap = 0;
    mmf_scratch = pd_aligned_alloc(64, n + n / 4 + 4096);
    if (mmf_key_ok) pthread_setspecific(mmf_key, mmf_scratch);
    if (mmf_scratch) mmf_scratch_cap = n + n / 4 + 4096;
    return mmf_scratch;
}

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
#define FB_R 16  /* prefill: weight rows per block */
#define LF_PF 4096 /* PD_LAYOUT_R8: the 2-3 token tile's prefetch distance in a group's stream (bytes) */

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

/* the K mod 8 tail of one output, fused-added in order onto its lane sum (activations of type xt:
 * F32, or the F16 copy of activations already rounded to F16; tw: the row's element k at k - kb) */
static inline float lanes_tail(pd_type wt, pd_type xt, float s, int64_t n8, int64_t n, const char *tw, int64_t kb,
                               const char *x) {
    for (int64_t k = n8; k < n; k++) s = fmaf(ldw1(wt, tw, k - kb), ldw1(xt, x, k), s);
    return s;
}

/* Where the tiles find a row's weights. pk = 0: rows ws bytes apart, element i of row q at index i
 * of lf_vrow. pk = 1 (PD_LAYOUT_R8, repack.c; rows in whole 8-row groups from wb): the chunk of
 * elements i..i+7 of row q at index 8 i of lf_vrow (the group's 8 rows' chunks one after the other:
 * one contiguous stream), the K mod 8 tail of row q at index k - n8 of lf_trow. */
#define LF_ES(wt) ((size_t)((wt) == PD_TYPE_F32 ? 4 : 2))
#define LF_ST(pk) ((pk) ? 8 : 1)
static inline const char *lf_vrow(int pk, pd_type wt, const char *wb, size_t ws, int q) {
    return pk ? wb + (size_t)(q / 8) * 8 * ws + (size_t)(q % 8) * 8 * LF_ES(wt) : wb + (size_t)q * ws;
}
static inline const char *lf_trow(int pk, pd_type wt, const char *wb, size_t ws, int q, int64_t n8, int64_t n) {
    return pk ? wb + (size_t)(q / 8) * 8 * ws + (size_t)n8 * 8 * LF_ES(wt) + (size_t)(q % 8) * (size_t)(n - n8) * LF_ES(wt)
              : wb + (size_t)q * ws;
}

/* row q of a tile of nr rows (q >= nr repeats the last row: computed, never stored) */
#define LF_Q(nr, q) ((q) < (nr) ? (q) : (nr) - 1)

/* 1 token x up to 8 outputs (rows q0..q0+nr-1 from wb; pk: one whole 8-row group) */
static inline __attribute__((always_inline)) void lanes_1x8(pd_type wt, int pk, int64_t n, const char *wb, size_t ws,
                                                            int q0, int nr, const float *x, float *y, const char *pf) {
    const char *w0 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 0)), *w1 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 1)),
               *w2 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 2)), *w3 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 3)),
               *w4 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 4)), *w5 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 5)),
               *w6 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 6)), *w7 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 7));
    const int st = LF_ST(pk);
    int64_t n8 = n & ~(int64_t)7;
    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    /* pf (decode, F16 / BF16): the next 8 rows, prefetched in order while these stream (the bytes of
     * 8 rows x 8 weights per step; for F32 rows it measured slower than the hardware prefetch alone) */
#define LF_STEP18(i)                                                                                                  \
    do {                                                                                                              \
        __m256 a = _mm256_loadu_ps(x + (i));                                                                          \
        c0 = _mm256_fmadd_ps(ldw(wt, w0, (i) * st), a, c0);                                                           \
        c1 = _mm256_fmadd_ps(ldw(wt, w1, (i) * st), a, c1);                                                           \
        c2 = _mm256_fmadd_ps(ldw(wt, w2, (i) * st), a, c2);                                                           \
        c3 = _mm256_fmadd_ps(ldw(wt, w3, (i) * st), a, c3);                                                           \
        c4 = _mm256_fmadd_ps(ldw(wt, w4, (i) * st), a, c4);                                                           \
        c5 = _mm256_fmadd_ps(ldw(wt, w5, (i) * st), a, c5);                                                           \
        c6 = _mm256_fmadd_ps(ldw(wt, w6, (i) * st), a, c6);                                                           \
        c7 = _mm256_fmadd_ps(ldw(wt, w7, (i) * st), a, c7);                                                           \
    } while (0)
    /* 8 rows x 8 weights of 2 bytes per step: two lines into L1, and the same two lines of the 8
     * rows after those into L2 (a matrix read from memory: 3072x65536 F16 18.8 -> 15.6 ms, min of 4x3
     * interleaved, load 8; past the last row it prefetches bytes after the matrix, which never faults) */
    if (pf && wt != PD_TYPE_F32)
        for (int64_t i = 0; i < n8; i += 8) {
            const char *q = pf + (size_t)i * 16;
            _mm_prefetch(q, _MM_HINT_T0);
            _mm_prefetch(q + 64, _MM_HINT_T0);
            _mm_prefetch(q + 16 * (size_t)n, _MM_HINT_T1);
            _mm_prefetch(q + 16 * (size_t)n + 64, _MM_HINT_T1);
            LF_STEP18(i);
        }
    else
        for (int64_t i = 0; i < n8; i += 8) LF_STEP18(i);
    __m256 s = lanes_reduce8(c0, c1, c2, c3, c4, c5, c6, c7);
    if (n8 == n && nr == 8) {
        _mm256_storeu_ps(y, s);
        return;
    }
    float r[8];
    _mm256_storeu_ps(r, s);
    for (int q = 0; q < nr; q++)
        y[q] = lanes_tail(wt, PD_TYPE_F32, r[q], n8, n, lf_trow(pk, wt, wb, ws, q0 + q, n8, n), pk ? n8 : 0,
                          (const char *)x);
}

/* one k step of 8 of the 3 x 4 block */
#define LF_STEP34(i)                                                                                                  \
    do {                                                                                                              \
        __m256 a0 = ldw(xt, x0, (i)), a1 = ldw(xt, x1, (i)), a2 = ldw(xt, x2, (i)), v;                              \
        v = ldw(wt, w0, (i) * st);                                                                                    \
        c00 = _mm256_fmadd_ps(v, a0, c00); c10 = _mm256_fmadd_ps(v, a1, c10); c20 = _mm256_fmadd_ps(v, a2, c20);      \
        v = ldw(wt, w1, (i) * st);                                                                                    \
        c01 = _mm256_fmadd_ps(v, a0, c01); c11 = _mm256_fmadd_ps(v, a1, c11); c21 = _mm256_fmadd_ps(v, a2, c21);      \
        v = ldw(wt, w2, (i) * st);                                                                                    \
        c02 = _mm256_fmadd_ps(v, a0, c02); c12 = _mm256_fmadd_ps(v, a1, c12); c22 = _mm256_fmadd_ps(v, a2, c22);      \
        v = ldw(wt, w3, (i) * st);                                                                                    \
        c03 = _mm256_fmadd_ps(v, a0, c03); c13 = _mm256_fmadd_ps(v, a1, c13); c23 = _mm256_fmadd_ps(v, a2, c23);      \
    } while (0)

/* The 3 x 4 block's outputs from its 12 accumulators (+ the K mod 8 tails): y rows ldy apart. */
static inline __attribute__((always_inline)) void lanes_store34(pd_type wt, pd_type xt, int pk, int64_t n8, int64_t n,
                                                                const char *wb, size_t ws, int q0, int nr,
                                                                const char *x0,
                                                                const char *x1, const char *x2, int mr, float *y,
                                                                int64_t ldy,
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
    const char *xr[3] = {x0, x1, x2};
    for (int m = 0; m < mr; m++)
        for (int q = 0; q < nr; q++)
            y[m * ldy + q] =
                lanes_tail(wt, xt, r[4 * m + q], n8, n, lf_trow(pk, wt, wb, ws, q0 + q, n8, n), pk ? n8 : 0, xr[m]);
}

/* 3 tokens (x0..x2; missing ones repeat the last, not stored) x up to 4 outputs over the whole of K.
 * With F32 activations the k loop is unrolled by two steps (each accumulator still sees its products
 * in the order k, k+8, …). With F16 activations all 16 ymm registers are live (12 accumulators, 3
 * converted activations, 1 converted weight): unrolled, GCC 12 kept an accumulator on the stack
 * (a load and store per step, ~40% of the samples), so that loop goes one step at a time. */
static inline __attribute__((always_inline)) void lanes_3x4(pd_type wt, pd_type xt, int pk, int64_t n,
                                                            const char *wb, size_t ws, int q0, int nr, const char *x0,
                                                            const char *x1, const char *x2, int mr, float *y,
                                                            int64_t ldy) {
    const char *w0 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 0)), *w1 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 1)),
               *w2 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 2)), *w3 = lf_vrow(pk, wt, wb, ws, q0 + LF_Q(nr, 3));
    const int st = LF_ST(pk);
    int64_t n8 = n & ~(int64_t)7, i = 0;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    /* pk: the 4 rows' chunks of a step are one run of 4 x 8 weights in the group's stream: prefetched
     * LF_PF bytes ahead into L1 (as mm_f32_avx512.c's tile on a group) */
#define LF_PF34(i)                                                                                                    \
    do {                                                                                                              \
        if (pk) {                                                                                                     \
            _mm_prefetch(w0 + (size_t)(i) * 8 * LF_ES(wt) + LF_PF, _MM_HINT_T0);                                      \
            if (LF_ES(wt) == 4) _mm_prefetch(w0 + (size_t)(i) * 8 * LF_ES(wt) + LF_PF + 64, _MM_HINT_T0);            \
        }                                                                                                             \
    } while (0)
    if (xt == PD_TYPE_F32)
        for (; i + 16 <= n8; i += 16) {
            LF_PF34(i);
            LF_STEP34(i);
            LF_PF34(i + 8);
            LF_STEP34(i + 8);
        }
    else
        for (; i < n8; i += 8) {
            LF_PF34(i);
            LF_STEP34(i);
        }
    if (i < n8) LF_STEP34(i);
    lanes_store34(wt, xt, pk, n8, n, wb, ws, q0, nr, x0, x1, x2, mr, y, ldy, c00, c01, c02, c03, c10, c11, c12, c13,
                  c20, c21, c22, c23);
}

/* mr <= 3 tokens x nr <= 16 outputs (blocks of 8 for 1 token, of 4 for 2-3), weights of type wt
 * (pk: nr a multiple of 8, whole 8-row groups), activations of type xt (F32; F16 only for 2-3 tokens:
 * the prefill copy) */
static inline __attribute__((always_inline)) void tile_lanes(pd_type wt, pd_type xt, int pk, int64_t n, const char *wb,
                                                             size_t ws, int nr, const void *xv, size_t xs, int mr,
                                                             float *y, int64_t ldy, const char *pf) {
    for (int m0 = 0; m0 < mr; m0 += LF_MR) { /* mr <= LF_MR from pd_matmul; more is allowed */
        int mm = mr - m0 < LF_MR ? mr - m0 : LF_MR;
        const char *x0 = (const char *)xv + (size_t)m0 * xs;
        float *ym = y + m0 * ldy;
        if (mm == 1 && xt == PD_TYPE_F32) {
            for (int q0 = 0; q0 < nr; q0 += 8)
                lanes_1x8(wt, pk, n, wb, ws, q0, nr - q0 < 8 ? nr - q0 : 8, (const float *)x0, ym + q0,
                          pf && ws == (size_t)n * 2 ? pf + (size_t)q0 * ws : NULL);
            continue;
        }
        const char *x1 = mm > 1 ? x0 + xs : x0, *x2 = mm > 2 ? x1 + xs : x1;
        for (int q0 = 0; q0 < nr; q0 += 4)
            lanes_3x4(wt, xt, pk, n, wb, ws, q0, nr - q0 < 4 ? nr - q0 : 4, x0, x1, x2, mm, ym + q0, ldy);
    }
}

static void tile_f32_lanes(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                           int64_t ldy) {
    tile_lanes(PD_TYPE_F32, PD_TYPE_F32, 0, n, w, ws, nr, x, xs, mr, y, ldy, NULL);
}
static void tile_f16_lanes(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                           int64_t ldy) {
    tile_lanes(PD_TYPE_F16, PD_TYPE_F32, 0, n, w, ws, nr, x, xs, mr, y, ldy, NULL);
}
static void tile_bf16_lanes(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                            int64_t ldy) {
    tile_lanes(PD_TYPE_BF16, PD_TYPE_F32, 0, n, w, ws, nr, x, xs, mr, y, ldy, NULL);
}

/* pd_matmul's path for F32 / F16 / BF16 weights (x: M rows in the activation format, xs bytes apart) */
/* The bodies of pd_mm_float_avx2's parallel loops, as functions of their own: an OpenMP region's
 * outlined function does not get the region's target attributes under clang, so the AVX2 code inlined
 * into it made clang 14's backend fail ("Do not know how to split the result of this operator"). */

/* tile_lanes with each argument that selects code a constant (one specialised copy each) */
static void tile_sel(pd_type wt, pd_type xt, int pk, int64_t n, const char *wb, size_t ws, int nr, const void *xv,
                     size_t xs, int mr, float *y, int64_t ldy, const char *pf) {
#define LF_SEL(WT, XT)                                                                                                \
    do {                                                                                                              \
        if (pk) tile_lanes(WT, XT, 1, n, wb, ws, nr, xv, xs, mr, y, ldy, pf);                                         \
        else tile_lanes(WT, XT, 0, n, wb, ws, nr, xv, xs, mr, y, ldy, pf);                                            \
    } while (0)
    if (wt == PD_TYPE_F16 && xt == PD_TYPE_F16) LF_SEL(PD_TYPE_F16, PD_TYPE_F16);
    else if (wt == PD_TYPE_F16) LF_SEL(PD_TYPE_F16, PD_TYPE_F32);
    else if (wt == PD_TYPE_BF16) LF_SEL(PD_TYPE_BF16, PD_TYPE_F32);
    else LF_SEL(PD_TYPE_F32, PD_TYPE_F32);
#undef LF_SEL
}

/* rows r..r+nr-1 (r a multiple of 8) of a matrix whose rows below N8 are 8-row groups (repack.c)
 * and the rest plain rows: the groups' part and the plain part, each by its own tile */
static void tile_span(pd_type wt, pd_type xt, int64_t n, const char *w, size_t ws, int64_t N8, int64_t r, int nr,
                      const void *xv, size_t xs, int mr, float *y, int64_t ldy, const char *pf) {
    int np = r < N8 ? (int)(N8 - r < nr ? N8 - r : nr) : 0;
    if (np) tile_sel(wt, xt, 1, n, w + (size_t)r * ws, ws, np, xv, xs, mr, y, ldy, pf);
    if (np < nr) tile_sel(wt, xt, 0, n, w + (size_t)(r + np) * ws, ws, nr - np, xv, xs, mr, y + np, ldy, np ? NULL : pf);
}

/* decode: rows r0..r1 (a block) streamed once, 8 (1 token) or 4 (2-3 tokens) at a time */
static void decode_rows(pd_type wt, int64_t K, int64_t N, int64_t N8, const char *w, size_t ws, const float *x,
                        size_t xs, int64_t M, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r += LF_NR) {
        int nr = (int)(r1 - r < LF_NR ? r1 - r : LF_NR);
        /* the rows 8 ahead, while they exist (prefetched in the 1-token tile, rows packed) */
        const char *wr = w + (size_t)r * ws, *pf = r + nr + 8 <= N ? wr + 8 * ws : NULL;
        tile_span(wt, PD_TYPE_F32, K, w, ws, N8, r, nr, x, xs, (int)M, y + r, ldy, pf);
    }
}

/* prefill: the block of FB_R rows from r0, every 3-token group passing over it */
static void prefill_block(pd_type wt, int64_t K, int64_t N, int64_t N8, const char *w, size_t ws, const float *x,
                          size_t xs, const uint16_t *xh, size_t xhs, int64_t M, float *y, int64_t ldy, int64_t r0) {
    int nr = (int)(N - r0 < FB_R ? N - r0 : FB_R);
    for (int64_t m0 = 0; m0 < M; m0 += LF_MR) {
        int mm = (int)(M - m0 < LF_MR ? M - m0 : LF_MR);
        float *ym = y + m0 * ldy + r0;
        if (xh)
            tile_span(PD_TYPE_F16, PD_TYPE_F16, K, w, ws, N8, r0, nr, (const char *)xh + (size_t)m0 * xhs, xhs, mm, ym,
                      ldy, NULL);
        else
            tile_span(wt, PD_TYPE_F32, K, w, ws, N8, r0, nr, (const char *)x + (size_t)m0 * xs, xs, mm, ym, ldy, NULL);
    }
}

pd_status pd_mm_float_avx2(pd_type wt, int64_t K, int64_t N, const char *w, size_t ws, int r8, const void *xv,
                           size_t xs, int64_t M, float *y, int64_t ldy, int nt) {
    const float *x = xv;
    const int64_t N8 = r8 ? N / 8 * 8 : 0;
    if (M <= LF_MR) { /* decode: stream the rows once, 8 (1 token) or 4 (2-3 tokens) at a time */
        int64_t rb = N / (8 * (int64_t)nt);
        rb = rb < 16 ? 16 : rb > 256 ? 256 : (rb + 15) / 16 * 16;
        int64_t nb = (N + rb - 1) / rb;
        if (nb < 2 || nt <= 1) { /* no OpenMP region: even a 1-thread one ends in a barrier (a futex call) */
            decode_rows(wt, K, N, N8, w, ws, x, xs, M, y, ldy, 0, N);
            return PD_OK;
        }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; b++) {
            int64_t r0 = b * rb, r1 = r0 + rb < N ? r0 + rb : N;
            decode_rows(wt, K, N, N8, w, ws, x, xs, M, y, ldy, r0, r1);
        }
        return PD_OK;
    }
    /* Prefill: blocks of FB_R rows handed out dynamically; each 3-token group passes over the block
     * (its activations stay in L1 while the block's rows stream from L2). F16 weights read an F16
     * copy of the activations (exact: pd_matmul rounded them to F16), converted in registers as the
     * weights are: half the activation bytes per tile step, the same products in the same order. */
    int64_t np = (N + FB_R - 1) / FB_R;
    if (np < nt) nt = (int)np;
    uint16_t *xh = NULL;
    size_t xhs = 0;
    if (wt == PD_TYPE_F16) {
        xhs = ((size_t)K * 2 + 63) / 64 * 64;
        xh = pd_mm_float_scratch(xhs * (size_t)M);
        if (!xh) return pd_fail_ctx(PD_ERR_NOMEM, "matmul: F16 activations (%lld x %lld)", (long long)M, (long long)K);
    }
    if (nt <= 1) { /* no OpenMP region (a decode team's row block, or 1 thread) */
        for (int64_t m = 0; xh && m < M; m++)
            pd_f16_from_f32_avx2((const float *)((const char *)x + (size_t)m * xs), (uint16_t *)((char *)xh + m * xhs), K);
        for (int64_t b = 0; b < np; b++) prefill_block(wt, K, N, N8, w, ws, x, xs, xh, xhs, M, y, ldy, b * FB_R);
        return PD_OK;
    }
#pragma omp parallel num_threads(nt)
    {
        if (xh) {
#pragma omp for schedule(static)
            for (int64_t m = 0; m < M; m++)
                pd_f16_from_f32_avx2((const float *)((const char *)x + (size_t)m * xs), (uint16_t *)((char *)xh + m * xhs),
                                     K);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t b = 0; b < np; b++) prefill_block(wt, K, N, N8, w, ws, x, xs, xh, xhs, M, y, ldy, b * FB_R);
    }
    return PD_OK;
}

PD_TARGET_END

void pd_kern_table_f32_lanes(pd_kern_table *t) {
    t->tile[PD_TYPE_F32] = tile_f32_lanes;
    t->tile_nr[PD_TYPE_F32] = LF_NR;
    t->tile_mr[PD_TYPE_F32] = LF_MR;
    t->mm_float[PD_TYPE_F32] = pd_mm_float_avx2;
}

/* The AVX2 level's F16 / BF16 tiles in lane order too (the AVX-512 level keeps its own). */
void pd_kern_table_f16_lanes(pd_kern_table *t) {
    t->tile[PD_TYPE_F16] = tile_f16_lanes;
    t->tile[PD_TYPE_BF16] = tile_bf16_lanes;
    t->tile_nr[PD_TYPE_F16] = t->tile_nr[PD_TYPE_BF16] = LF_NR;
    t->tile_mr[PD_TYPE_F16] = t->tile_mr[PD_TYPE_BF16] = LF_MR;
    t->mm_float[PD_TYPE_F16] = t->mm_float[PD_TYPE_BF16] = pd_mm_float_avx2;
}

#else /* not x86: the scalar table is all there is */
void pd_kern_table_f32_lanes(pd_kern_table *t) { (void)t; }
void pd_kern_table_f16_lanes(pd_kern_table *t) { (void)t; }
#endif
