/* kern/mm_f32_avx512.c — the AVX-512 level's F32 / F16 / BF16 matmul (kt->mm_float), in the lane
 * order of pd_dot_f32_lanes (mm_f32.c): the same bits as the AVX2 and scalar levels at twice their
 * width, so a token's outputs depend neither on the tokens around it nor on the machine.
 * A zmm holds two 8-lane accumulators, one output's sums for tokens 2p and 2p+1. The 8 weights of a
 * k step are broadcast into both halves; the activations come from a per-call copy in which each
 * pair of tokens is interleaved by 8-element chunks (k 0-7 of token 2p, k 0-7 of token 2p+1, k 8-15
 * of token 2p, ...), so one load gives both tokens' chunk. Lane j of each half still sees the
 * products k = j, j+8, ... in order, and the halves are summed with the tree of the AVX2 tiles, so
 * every output is pd_dot_f32_lanes to the bit (the K mod 8 tail fused-added in order after it).
 * Tile: 3 pairs (6 tokens) x 8 outputs: 24 accumulators, 3 activation vectors and 1 weight vector
 * of the 32 registers; 11 loads (with their conversions) per 24 FMAs.
 * The copy holds F32 activations for every weight type (already rounded to the weight type by
 * pd_matmul): an F16 copy for F16 weights (half the bytes, 3 more conversions per 24 FMAs) measured
 * 1-6% slower (1024x3072 and 3072x1024, M=512, 1 thread, min of 5x5 interleaved, load 5).
 * Blocking: tasks of (token span of about XS bytes of the copy, block of XB weight rows), span-major,
 * handed out to the threads dynamically; each 6-token group of the span passes over the block (the
 * span and the block stay in L2, the group's activations in L1). The copy lives in a per-thread
 * scratch (pd_mm_float_scratch): allocated per call, its page faults cost 30% of the time.
 * vdpbf16ps is not used for BF16: it rounds its pair sums differently, so it cannot keep this order.
 * 1-3 token calls (decode) are bound by the weight bytes: they take the AVX2 level's streaming path
 * (pd_mm_float_avx2), which gives these same bits, except one token on weights in PD_LAYOUT_R8
 * (repack.c: each 8-row group one stream of the rows' 8-element chunks, as inference loads them):
 * group_1x8 reads a k step's 8 chunks as 4 vectors of two rows (one F16 conversion per 16 weights,
 * half the AVX2 tile's) and reduces them with the AVX2 tile's tree, so the bits are the same. A
 * matrix read from memory, F16 1024x151936 (qwen3's output), 1 thread, min of 3x8 interleaved:
 * 12.4 -> 10.1 ms (25 -> 31 GB/s) against the AVX2 path on plain rows; F16 1024x4096 (L3) 0.147 ->
 * 0.101 ms. The prefill tile reads R8 groups too (the 8 rows' weights of a k step one 128- or
 * 256-byte run), with a software prefetch (XPF) in the group's stream. */
#include "kern_impl.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stddef.h>

#if PD_X86
#include <immintrin.h>

PD_TARGET_AVX512_BEGIN

#define XR 8  /* outputs per tile */
#define XP 3  /* token pairs per tile */
#define XB 32 /* weight rows per block */
#define XS (256 * 1024) /* bytes of paired activations per token span */
/* PD_LAYOUT_R8 groups: the tile's software prefetch distance in the group's stream. Without it the
 * tile on a group ran 5-20% slower than on the plain rows (F16 1024x3072 and 3072x1024, M=512, 1
 * thread, min of 4x2 interleaved); 4096 bytes ahead it is level with them (2048: close; 8192: noise). */
#define XPF 4096

/* 8 weights from element i of a row of type wt, exactly converted to F32, in both halves */
static inline __attribute__((always_inline)) __m512 ldw2(pd_type wt, const char *row, int64_t i) {
    const uint16_t *h = (const uint16_t *)row + i;
    if (wt == PD_TYPE_F16) return _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)h)));
    if (wt == PD_TYPE_BF16) {
        __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)h));
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
    }
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)((const float *)row + i))));
}

/* the chunk of k = i..i+7 of both tokens of a pair row of the copy */
static inline __m512 ldx2(const char *p, int64_t i) { return _mm512_load_ps((const float *)p + 2 * i); }

static inline float ldw1(pd_type wt, const char *row, int64_t k) {
    if (wt == PD_TYPE_F16) return _cvtsh_ss(((const uint16_t *)row)[k]);
    if (wt == PD_TYPE_BF16) return pd_bf16_to_f32(((const uint16_t *)row)[k]);
    return ((const float *)row)[k];
}

#define LO(v) _mm512_castps512_ps256(v)
#define HI(v) _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))

/* bytes per weight */
#define ES(wt) ((size_t)((wt) == PD_TYPE_F32 ? 4 : 2))

/* One token's 8 sums (s) to y[0..nr), each with its K mod 8 tail fused-added in order (x: the
 * token's F32 activations, already rounded to the weight type; pk: the rows are one 8-row group of
 * PD_LAYOUT_R8, whose tails follow its chunks row after row) */
static inline __attribute__((always_inline)) void put8(pd_type wt, int pk, __m256 s, float *y, int nr, int64_t n8,
                                                       int64_t n, const char *wb, size_t ws, const float *x) {
    if (n8 == n && nr == XR) {
        _mm256_storeu_ps(y, s);
        return;
    }
    float r[8];
    _mm256_storeu_ps(r, s);
    for (int q = 0; q < nr; q++) {
        const char *w = pk ? wb + (size_t)n8 * 8 * ES(wt) + (size_t)q * (size_t)(n - n8) * ES(wt) - (size_t)n8 * ES(wt)
                           : wb + (size_t)q * ws;
        float a = r[q];
        for (int64_t k = n8; k < n; k++) a = fmaf(ldw1(wt, w, k), x[k], a);
        y[q] = a;
    }
}

/* hadd_ps on each 128-bit lane of a zmm: [x0+x1, x2+x3, y0+y1, y2+y3] per lane, the same sums as
 * _mm256_hadd_ps on each half */
static inline __m512 hadd512(__m512 x, __m512 y) {
    return _mm512_add_ps(_mm512_shuffle_ps(x, y, 0x88), _mm512_shuffle_ps(x, y, 0xDD));
}

/* mm_f32.c's lanes_reduce8 on both halves of eight zmm accumulators at once: [sums of the low halves |
 * sums of the high halves], each the same tree (and the same operand order) as lanes_reduce8's */
static inline __m512 lanes_reduce8x2(__m512 v0, __m512 v1, __m512 v2, __m512 v3, __m512 v4, __m512 v5, __m512 v6,
                                     __m512 v7) {
    __m512 h = hadd512(hadd512(v0, v1), hadd512(v2, v3)); /* 128-bit lanes: rows 0-3 of a: lo, hi; of b: lo, hi */
    __m512 g = hadd512(hadd512(v4, v5), hadd512(v6, v7)); /* the same for rows 4-7 */
    __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(h, g, _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(h, g, _MM_SHUFFLE(3, 1, 3, 1))); /* a 0-3, b 0-3, a 4-7, b 4-7 */
    return _mm512_shuffle_f32x4(s, s, _MM_SHUFFLE(3, 1, 2, 0));
}

/* one pair's two tokens (ta, tb; tb < 0: absent) from its 8 accumulators */
static inline __attribute__((always_inline)) void put_pair(pd_type wt, int pk, __m512 v0, __m512 v1, __m512 v2, __m512 v3,
                                                           __m512 v4, __m512 v5, __m512 v6, __m512 v7, int64_t ta,
                                                           int64_t tb, float *y, int64_t ldy, int nr, int64_t n8,
                                                           int64_t n, const char *wb, size_t ws, const char *x,
                                                           size_t xs) {
    __m512 s = lanes_reduce8x2(v0, v1, v2, v3, v4, v5, v6, v7);
    put8(wt, pk, LO(s), y + ta * ldy, nr, n8, n, wb, ws, (const float *)(x + (size_t)ta * xs));
    if (tb >= 0) put8(wt, pk, HI(s), y + tb * ldy, nr, n8, n, wb, ws, (const float *)(x + (size_t)tb * xs));
}

/* Tokens m0..m0+mm-1 (mm <= 2 XP; pair rows pp[0..XP), absent pairs repeating the last) x
 * outputs 0..nr-1 (nr <= XR; absent rows repeat the last: computed, never stored) of a block;
 * pk: the rows are one 8-row group of PD_LAYOUT_R8 (row r's chunk of elements i..i+7 at element
 * 8 i + 8 r of the group: the 8 rows' loads of a k step are one 128- or 256-byte run). */
static inline __attribute__((always_inline)) void tile_pairs(pd_type wt, int pk, int64_t n,
                                                             const char *wb, size_t ws, int nr, const char *const *pp,
                                                             int64_t m0, int mm, float *y, int64_t ldy, const char *x,
                                                             size_t xs) {
    int64_t n8 = n & ~(int64_t)7;
    const int64_t st = pk ? 8 : 1;
    const char *wr[XR];
    __m512 c[XP][XR];
#pragma GCC unroll 16
    for (int r = 0; r < XR; r++) wr[r] = pk ? wb + (size_t)r * 8 * ES(wt) : wb + (size_t)(r < nr ? r : nr - 1) * ws;
#pragma GCC unroll 16
    for (int p = 0; p < XP; p++)
#pragma GCC unroll 16
        for (int r = 0; r < XR; r++) c[p][r] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n8; i += 8) {
        if (pk) { /* the group's stream, XPF bytes ahead, into L1 */
            const char *f = wb + (size_t)i * 8 * ES(wt) + XPF;
            _mm_prefetch(f, _MM_HINT_T0);
            _mm_prefetch(f + 64, _MM_HINT_T0);
            if (ES(wt) == 4) {
                _mm_prefetch(f + 128, _MM_HINT_T0);
                _mm_prefetch(f + 192, _MM_HINT_T0);
            }
        }
        __m512 a[XP];
#pragma GCC unroll 16
        for (int p = 0; p < XP; p++) a[p] = ldx2(pp[p], i);
#pragma GCC unroll 16
        for (int r = 0; r < XR; r++) {
            __m512 v = ldw2(wt, wr[r], i * st);
#pragma GCC unroll 16
            for (int p = 0; p < XP; p++) c[p][r] = _mm512_fmadd_ps(v, a[p], c[p][r]);
        }
    }
    for (int p = 0; p < XP && 2 * p < mm; p++)
        put_pair(wt, pk, c[p][0], c[p][1], c[p][2], c[p][3], c[p][4], c[p][5], c[p][6], c[p][7], m0 + 2 * p,
                 2 * p + 1 < mm ? m0 + 2 * p + 1 : -1, y, ldy, nr, n8, n, wb, ws, x, xs);
}

/* pair row p of the copy: tokens 2p and 2p+1 (or 2p twice when 2p+1 = M) interleaved by 8-element chunks */
static void pair_row(const char *x, size_t xs, int64_t M, int64_t p, int64_t n8, float *d) {
    const float *a = (const float *)(x + (size_t)(2 * p) * xs);
    const float *b = 2 * p + 1 < M ? (const float *)(x + (size_t)(2 * p + 1) * xs) : a;
    for (int64_t i = 0; i < n8; i += 8) {
        _mm256_store_ps(d + 2 * i, _mm256_loadu_ps(a + i));
        _mm256_store_ps(d + 2 * i + 8, _mm256_loadu_ps(b + i));
    }
}

/* 16 weights from element e of a run of type wt (two rows' 8-element chunks of a group), exactly
 * converted to F32 */
static inline __attribute__((always_inline)) __m512 ldw16(pd_type wt, const char *run, int64_t e) {
    if (wt == PD_TYPE_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)run + e)));
    if (wt == PD_TYPE_BF16)
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)((const uint16_t *)run + e))), 16));
    return _mm512_loadu_ps((const float *)run + e);
}

/* mm_f32.c's lanes_reduce8 (the same hadd tree, the same operand order): r[i] = tree(v[i]) */
static inline __m256 lanes_reduce8(__m256 v0, __m256 v1, __m256 v2, __m256 v3, __m256 v4, __m256 v5, __m256 v6,
                                   __m256 v7) {
    __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(v0, v1), _mm256_hadd_ps(v2, v3));
    __m256 g = _mm256_hadd_ps(_mm256_hadd_ps(v4, v5), _mm256_hadd_ps(v6, v7));
    return _mm256_add_ps(_mm256_permute2f128_ps(h, g, 0x20), _mm256_permute2f128_ps(h, g, 0x31));
}

/* Decode, 1 token x one 8-row group of PD_LAYOUT_R8 (g; rb: the row bytes): a k step's 8 chunks are
 * one run of 64 weights, read as 4 vectors of two rows each (one conversion per 16 weights, half the
 * AVX2 tile's), against the token's chunk in both halves; lane j of each half is the AVX2 tile's
 * accumulator of that row, so the sums are the same. */
static inline __attribute__((always_inline)) void group_1x8(pd_type wt, int64_t n, const char *g, size_t rb,
                                                            const float *x, float *y) {
    const int64_t n8 = n & ~(int64_t)7;
    __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t i = 0; i < n8; i += 8) {
        const char *b = g + (size_t)i * 8 * ES(wt);
        __m512 a = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd((const double *)(x + i))));
        c0 = _mm512_fmadd_ps(ldw16(wt, b, 0), a, c0);
        c1 = _mm512_fmadd_ps(ldw16(wt, b, 16), a, c1);
        c2 = _mm512_fmadd_ps(ldw16(wt, b, 32), a, c2);
        c3 = _mm512_fmadd_ps(ldw16(wt, b, 48), a, c3);
    }
    __m256 s = lanes_reduce8(LO(c0), HI(c0), LO(c1), HI(c1), LO(c2), HI(c2), LO(c3), HI(c3));
    put8(wt, 1, s, y, XR, n8, n, g, rb, x);
}

/* one block of weight rows [r0, r0 + nb) (rows below N8: 8-row groups) against tokens [ms, me) (ms
 * even), 2 XP at a time */
static inline __attribute__((always_inline)) void block_rows(pd_type wt, int64_t K, int64_t N8,
                                                             const char *w, size_t ws, int64_t r0, int nb,
                                                             const char *xp, size_t ps, int64_t ms, int64_t me,
                                                             int64_t M, float *y, int64_t ldy, const char *x,
                                                             size_t xs) {
    int64_t np = (M + 1) / 2;
    for (int64_t m0 = ms; m0 < me; m0 += 2 * XP) {
        int mm = (int)(me - m0 < 2 * XP ? me - m0 : 2 * XP);
        int64_t p = m0 / 2;
        const char *pp[XP];
        for (int j = 0; j < XP; j++) pp[j] = xp + (size_t)(p + j < np ? p + j : np - 1) * ps;
        for (int q = 0; q < nb; q += XR) {
            const char *wb = w + (size_t)(r0 + q) * ws;
            if (r0 + q + XR <= N8) tile_pairs(wt, 1, K, wb, ws, XR, pp, m0, mm, y + r0 + q, ldy, x, xs);
            else tile_pairs(wt, 0, K, wb, ws, nb - q < XR ? nb - q : XR, pp, m0, mm, y + r0 + q, ldy, x, xs);
        }
    }
}

/* decode of the groups of rows [r0, r1) (multiples of 8) */
static void decode_groups(pd_type wt, int64_t K, const char *w, size_t ws, const float *x, float *y, int64_t r0,
                          int64_t r1) {
    for (int64_t r = r0; r < r1; r += 8) {
        const char *g = w + (size_t)r * ws;
        if (wt == PD_TYPE_F16) group_1x8(PD_TYPE_F16, K, g, ws, x, y + r);
        else if (wt == PD_TYPE_BF16) group_1x8(PD_TYPE_BF16, K, g, ws, x, y + r);
        else group_1x8(PD_TYPE_F32, K, g, ws, x, y + r);
    }
}

/* prefill task tk: (token span tk / nblk, row block tk % nblk) */
static void prefill_task(pd_type wt, int64_t K, int64_t N, int64_t N8, const char *w, size_t ws, const char *xp,
                         size_t ps, int64_t M, float *y, int64_t ldy, const char *x, size_t xs, int64_t nblk,
                         int64_t span, int64_t tk) {
    int64_t b = tk % nblk, ms = tk / nblk * span, me = ms + span < M ? ms + span : M;
    int64_t r0 = b * XB;
    int nb = (int)(N - r0 < XB ? N - r0 : XB);
    if (wt == PD_TYPE_F16) block_rows(PD_TYPE_F16, K, N8, w, ws, r0, nb, xp, ps, ms, me, M, y, ldy, x, xs);
    else if (wt == PD_TYPE_BF16) block_rows(PD_TYPE_BF16, K, N8, w, ws, r0, nb, xp, ps, ms, me, M, y, ldy, x, xs);
    else block_rows(PD_TYPE_F32, K, N8, w, ws, r0, nb, xp, ps, ms, me, M, y, ldy, x, xs);
}

static pd_status mm_float_avx512(pd_type wt, int64_t K, int64_t N, const char *w, size_t ws, int r8, const void *xv,
                                 size_t xs, int64_t M, float *y, int64_t ldy, int nt) {
    if (M == 1 && r8 && N >= 8) { /* decode of the 8-row groups, row blocks over the threads */
        const int64_t N8 = N / 8 * 8;
        if (N8 < N) pd_mm_float_avx2(wt, K, N - N8, w + (size_t)N8 * ws, ws, 0, xv, xs, 1, y + N8, ldy, 1);
        int64_t rb = N8 / (8 * (int64_t)nt);
        rb = rb < 16 ? 16 : rb > 256 ? 256 : (rb + 15) / 16 * 16;
        int64_t nb = (N8 + rb - 1) / rb;
        if (nb < 2 || nt <= 1) { /* no OpenMP region: even a 1-thread one ends in a barrier (a futex call) */
            decode_groups(wt, K, w, ws, xv, y, 0, N8);
            return PD_OK;
        }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int64_t b = 0; b < nb; b++)
            decode_groups(wt, K, w, ws, xv, y, b * rb, b * rb + rb < N8 ? b * rb + rb : N8);
        return PD_OK;
    }
    if (M <= 3) return pd_mm_float_avx2(wt, K, N, w, ws, r8, xv, xs, M, y, ldy, nt);
    const char *x = xv;
    const int64_t N8 = r8 ? N / 8 * 8 : 0;
    int64_t n8 = K & ~(int64_t)7, np = (M + 1) / 2;
    size_t ps = ((size_t)n8 * 2 * 4 + 63) / 64 * 64;
    if (!ps) ps = 64;
    char *xp = pd_mm_float_scratch(ps * (size_t)np);
    if (!xp) return pd_fail_ctx(PD_ERR_NOMEM, "matmul: paired activations (%lld x %lld)", (long long)M, (long long)K);
    /* tasks: (token span, row block), span-major: a span's copy (about XS bytes) stays in L2 while
     * the row blocks pass over it */
    int64_t nblk = (N + XB - 1) / XB, span = (int64_t)(XS / ps) * 2;
    span = span < 2 * XP ? 2 * XP : span / (2 * XP) * (2 * XP);
    int64_t nspan = (M + span - 1) / span, ntask = nspan * nblk;
    if (ntask < nt) nt = (int)ntask;
    if (nt <= 1) { /* no OpenMP region (a decode team's row block, or 1 thread): see the decode branch */
        for (int64_t p = 0; p < np; p++) pair_row(x, xs, M, p, n8, (float *)(xp + (size_t)p * ps));
        for (int64_t tk = 0; tk < ntask; tk++) prefill_task(wt, K, N, N8, w, ws, xp, ps, M, y, ldy, x, xs, nblk, span, tk);
        return PD_OK;
    }
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(static)
        for (int64_t p = 0; p < np; p++) pair_row(x, xs, M, p, n8, (float *)(xp + (size_t)p * ps));
#pragma omp for schedule(dynamic, 1)
        for (int64_t tk = 0; tk < ntask; tk++) prefill_task(wt, K, N, N8, w, ws, xp, ps, M, y, ldy, x, xs, nblk, span, tk);
    }
    return PD_OK;
}

PD_TARGET_END

void pd_kern_table_lanes_avx512(pd_kern_table *t) {
    t->mm_float[PD_TYPE_F32] = t->mm_float[PD_TYPE_F16] = t->mm_float[PD_TYPE_BF16] = mm_float_avx512;
}

#else
void pd_kern_table_lanes_avx512(pd_kern_table *t) { (void)t; }
#endif
