/* kern/simd_avx2_rows8.c — AVX2 matmul tiles of 8 weight rows x 1-4 tokens for Q4_0 and Q8_0
 * weights (Q8_0 activations), prefill and decode. The 8 rows' blocks are interleaved in registers
 * as they are loaded: a 4x8 (Q4_0) or 8x8 (Q8_0) transpose of 32-bit words puts 4 consecutive
 * weights of each row in one 32-bit lane, so one broadcast of 4 activation bytes serves all 8 rows,
 * the integer sums land in their row's lane, and the block scales are applied to 8 rows with one
 * multiply-add (the 2-row tiles need a horizontal sum, a float conversion and sign operations per
 * row and token). Weights are read in their GGUF layout: no repacked copy is kept. Same numbers as
 * the scalar twins: exact int32 block sums times d_w * d_x, summed in float in block order.
 * Everything is written out by hand: with loops and small arrays GCC kept the rows on the stack
 * (and a scale array stalled on store forwarding), which made the first version no faster. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <string.h>

PD_TARGET_AVX2_BEGIN

#include "simd_avx2_util.h"

#define R8_MR 4
#define R8_G 1 /* groups of 8 rows per tile (2 measured no faster) */

/* 4 activation bytes (weights 4j..4j+3 of a block) in every 32-bit lane */
static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

static inline uint16_t ld16(const char *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* the 8 rows' F16 block scales as 8 floats, row r in lane r (inserted in registers: going through
 * a small array on the stack stalls on store forwarding) */
static inline __m256 scales8(const char *w, size_t ws) {
    __m128i h = _mm_cvtsi32_si128(ld16(w));
    h = _mm_insert_epi16(h, ld16(w + ws), 1);
    h = _mm_insert_epi16(h, ld16(w + 2 * ws), 2);
    h = _mm_insert_epi16(h, ld16(w + 3 * ws), 3);
    h = _mm_insert_epi16(h, ld16(w + 4 * ws), 4);
    h = _mm_insert_epi16(h, ld16(w + 5 * ws), 5);
    h = _mm_insert_epi16(h, ld16(w + 6 * ws), 6);
    h = _mm_insert_epi16(h, ld16(w + 7 * ws), 7);
    return _mm256_cvtph_ps(h);
}

static inline __m128i ld128(const char *p) { return _mm_loadu_si128((const __m128i *)p); }

/* Q4_0: w points at block i of row 0; the 16 nibble bytes of each row -> W[j] (j = 0..7) holding
 * the unsigned nibbles of weights 4j..4j+3 of row r in lane r. Written out: GCC kept the loop
 * versions in memory. */
static inline __attribute__((always_inline)) void q4_0_rows8(const char *w, size_t ws, __m256i W[8]) {
    const char *q = w + 2;
    __m256i a0 = _mm256_set_m128i(ld128(q + 4 * ws), ld128(q)), a1 = _mm256_set_m128i(ld128(q + 5 * ws), ld128(q + ws));
    __m256i a2 = _mm256_set_m128i(ld128(q + 6 * ws), ld128(q + 2 * ws));
    __m256i a3 = _mm256_set_m128i(ld128(q + 7 * ws), ld128(q + 3 * ws));
    __m256i t0 = _mm256_unpacklo_epi32(a0, a1), t1 = _mm256_unpacklo_epi32(a2, a3);
    __m256i t2 = _mm256_unpackhi_epi32(a0, a1), t3 = _mm256_unpackhi_epi32(a2, a3);
    __m256i T0 = _mm256_unpacklo_epi64(t0, t1), T1 = _mm256_unpackhi_epi64(t0, t1);
    __m256i T2 = _mm256_unpacklo_epi64(t2, t3), T3 = _mm256_unpackhi_epi64(t2, t3);
    const __m256i m4 = _mm256_set1_epi8(0xF);
    W[0] = _mm256_and_si256(T0, m4); /* weights 4d..4d+3 */
    W[1] = _mm256_and_si256(T1, m4);
    W[2] = _mm256_and_si256(T2, m4);
    W[3] = _mm256_and_si256(T3, m4);
    W[4] = _mm256_and_si256(_mm256_srli_epi16(T0, 4), m4); /* weights 16+4d.. */
    W[5] = _mm256_and_si256(_mm256_srli_epi16(T1, 4), m4);
    W[6] = _mm256_and_si256(_mm256_srli_epi16(T2, 4), m4);
    W[7] = _mm256_and_si256(_mm256_srli_epi16(T3, 4), m4);
}

static inline __m256i ld256(const char *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Q8_0: the 32 int8 of each row -> W[j] with weights 4j..4j+3 of row r in lane r (8x8 transpose of
 * 32-bit words), written out like q4_0_rows8. */
static inline __attribute__((always_inline)) void q8_0_rows8(const char *w, size_t ws, __m256i W[8]) {
    const char *q = w + 2;
    __m256i a0 = ld256(q), a1 = ld256(q + ws), a2 = ld256(q + 2 * ws), a3 = ld256(q + 3 * ws);
    __m256i a4 = ld256(q + 4 * ws), a5 = ld256(q + 5 * ws), a6 = ld256(q + 6 * ws), a7 = ld256(q + 7 * ws);
    __m256i t0 = _mm256_unpacklo_epi32(a0, a1), t1 = _mm256_unpackhi_epi32(a0, a1); /* d0 d0 d1 d1 | d4.. ; d2.. | d6.. */
    __m256i t2 = _mm256_unpacklo_epi32(a2, a3), t3 = _mm256_unpackhi_epi32(a2, a3);
    __m256i t4 = _mm256_unpacklo_epi32(a4, a5), t5 = _mm256_unpackhi_epi32(a4, a5);
    __m256i t6 = _mm256_unpacklo_epi32(a6, a7), t7 = _mm256_unpackhi_epi32(a6, a7);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2); /* rows 0-3: d0|d4, d1|d5 */
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3); /* d2|d6, d3|d7 */
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6); /* rows 4-7 */
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    W[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    W[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    W[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    W[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    W[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    W[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    W[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    W[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* sum of the 32 int8 of an activation block, times 8, in every lane (Q4_0's -8 offset) */
static inline __m256i sum8x(const int8_t *qs) {
    __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)qs)),
                                  _mm256_set1_epi16(1));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm256_slli_epi32(_mm256_broadcastd_epi32(h), 3);
}

/* Q4_0 x MR tokens. Nibbles q in 0..15 are the unsigned operand of maddubs: a pair gives at most
 * 2*15*128 = 3840 in magnitude and 8 pairs fit int16 (30720), so the 32 products of a row are
 * summed in int16 and widened once; sum (q-8)x = sum qx - 8 sum x. */
static inline __attribute__((always_inline)) void q4_0_r8(int MR, int64_t n, const void *w, size_t ws, const void *x,
                                                          size_t xs, float *y, int64_t ldy) {
    const pd_block_q8_0 *xb[R8_MR];
    for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_0 *)((const char *)x + (size_t)m * xs);
    __m256 acc[R8_G][R8_MR];
    for (int g = 0; g < R8_G; g++)
        for (int m = 0; m < MR; m++) acc[g][m] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const char *wp = w;
    for (int64_t i = 0; i < n / PD_QK; i++, wp += sizeof(pd_block_q4_0)) {
        __m256i W[R8_G][8];
        __m256 dw[R8_G];
        for (int g = 0; g < R8_G; g++) {
            q4_0_rows8(wp + (size_t)(8 * g) * ws, ws, W[g]);
            dw[g] = scales8(wp + (size_t)(8 * g) * ws, ws);
        }
        PD_UNROLL4 for (int m = 0; m < MR; m++) {
            const int8_t *q = xb[m][i].qs;
            __m256i bias = sum8x(q);
            __m256 dx = _mm256_set1_ps(h2f(xb[m][i].d));
            for (int g = 0; g < R8_G; g++) {
                /* written out (a loop over j was not unrolled): two independent int16 chains */
                __m256i s0 = _mm256_add_epi16(_mm256_maddubs_epi16(W[g][0], bcast4(q + 0)), _mm256_maddubs_epi16(W[g][1], bcast4(q + 4)));
                __m256i s1 = _mm256_add_epi16(_mm256_maddubs_epi16(W[g][2], bcast4(q + 8)), _mm256_maddubs_epi16(W[g][3], bcast4(q + 12)));
                s0 = _mm256_add_epi16(s0, _mm256_add_epi16(_mm256_maddubs_epi16(W[g][4], bcast4(q + 16)), _mm256_maddubs_epi16(W[g][5], bcast4(q + 20))));
                s1 = _mm256_add_epi16(s1, _mm256_add_epi16(_mm256_maddubs_epi16(W[g][6], bcast4(q + 24)), _mm256_maddubs_epi16(W[g][7], bcast4(q + 28))));
                __m256i is = _mm256_sub_epi32(_mm256_madd_epi16(_mm256_add_epi16(s0, s1), ones), bias);
                acc[g][m] = _mm256_fmadd_ps(_mm256_mul_ps(dw[g], dx), _mm256_cvtepi32_ps(is), acc[g][m]);
            }
        }
    }
    for (int m = 0; m < MR; m++)
        for (int g = 0; g < R8_G; g++) _mm256_storeu_ps(y + m * ldy + 8 * g, acc[g][m]);
}

/* Q8_0 x MR tokens: |w| as the unsigned operand and the activation given w's sign; a pair can reach
 * 2*128*127, so each maddubs is widened to int32 before the sums. */
static inline __attribute__((always_inline)) void q8_0_r8(int MR, int64_t n, const void *w, size_t ws, const void *x,
                                                          size_t xs, float *y, int64_t ldy) {
    const pd_block_q8_0 *xb[R8_MR];
    for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_0 *)((const char *)x + (size_t)m * xs);
    __m256 acc[R8_MR];
    for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const char *wp = w;
    for (int64_t i = 0; i < n / PD_QK; i++, wp += sizeof(pd_block_q8_0)) {
        __m256i W[8], A[8];
        q8_0_rows8(wp, ws, W);
        A[0] = _mm256_sign_epi8(W[0], W[0]);
        A[1] = _mm256_sign_epi8(W[1], W[1]);
        A[2] = _mm256_sign_epi8(W[2], W[2]);
        A[3] = _mm256_sign_epi8(W[3], W[3]);
        A[4] = _mm256_sign_epi8(W[4], W[4]);
        A[5] = _mm256_sign_epi8(W[5], W[5]);
        A[6] = _mm256_sign_epi8(W[6], W[6]);
        A[7] = _mm256_sign_epi8(W[7], W[7]);
        __m256 dw = scales8(wp, ws);
        PD_UNROLL4 for (int m = 0; m < MR; m++) {
            const int8_t *q = xb[m][i].qs;
#define PD_R8_P(j) _mm256_madd_epi16(_mm256_maddubs_epi16(A[j], _mm256_sign_epi8(bcast4(q + 4 * (j)), W[j])), ones)
            __m256i is = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(PD_R8_P(0), PD_R8_P(1)),
                                                           _mm256_add_epi32(PD_R8_P(2), PD_R8_P(3))),
                                          _mm256_add_epi32(_mm256_add_epi32(PD_R8_P(4), PD_R8_P(5)),
                                                           _mm256_add_epi32(PD_R8_P(6), PD_R8_P(7))));
#undef PD_R8_P
            acc[m] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(h2f(xb[m][i].d))), _mm256_cvtepi32_ps(is), acc[m]);
        }
    }
    for (int m = 0; m < MR; m++) _mm256_storeu_ps(y + m * ldy, acc[m]);
}

static pd_tile_fn q8_0_prev;
static int q8_0_prev_nr;
static void tile_q8_0_r8(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    if (nr != 8 || mr < 1 || mr > R8_MR) {
        for (int r = 0; r < nr; r += q8_0_prev_nr)
            q8_0_prev(n, (const char *)w + (size_t)r * ws, ws, nr - r < q8_0_prev_nr ? nr - r : q8_0_prev_nr, x, xs, mr,
                      y + r, ldy);
        return;
    }
    PD_TILE_MR_SWITCH(q8_0_r8, mr, n, w, ws, x, xs, y, ldy)
}

/* Tile entry: 8 rows x 1..4 tokens here (decode included: 1.75x the 2-row tile per CPU-second);
 * the last rows of a matrix (fewer than 8) go to the previous tile in its own row count. */
static pd_tile_fn q4_0_prev;
static int q4_0_prev_nr;
static void tile_q4_0_r8(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    if (nr != R8_G * 8 || mr < 1 || mr > R8_MR) {
        for (int r = 0; r < nr; r += q4_0_prev_nr)
            q4_0_prev(n, (const char *)w + (size_t)r * ws, ws, nr - r < q4_0_prev_nr ? nr - r : q4_0_prev_nr, x, xs, mr,
                      y + r, ldy);
        return;
    }
    PD_TILE_MR_SWITCH(q4_0_r8, mr, n, w, ws, x, xs, y, ldy)
}

PD_TARGET_END

/* Called at the end of the AVX2 table: takes over Q4_0's tile, keeping the previous one (and its
 * row count) for what it does better. */
void pd_kern_table_avx2_rows8(pd_kern_table *t) {
    q4_0_prev = t->tile[PD_TYPE_Q4_0];
    q4_0_prev_nr = t->tile_nr[PD_TYPE_Q4_0] > 0 ? t->tile_nr[PD_TYPE_Q4_0] : 1;
    t->tile[PD_TYPE_Q4_0] = tile_q4_0_r8;
    t->tile_nr[PD_TYPE_Q4_0] = R8_G * 8;
    t->tile_mr[PD_TYPE_Q4_0] = R8_MR;
    q8_0_prev = t->tile[PD_TYPE_Q8_0];
    q8_0_prev_nr = t->tile_nr[PD_TYPE_Q8_0] > 0 ? t->tile_nr[PD_TYPE_Q8_0] : 1;
    t->tile[PD_TYPE_Q8_0] = tile_q8_0_r8;
    t->tile_nr[PD_TYPE_Q8_0] = 8;
    t->tile_mr[PD_TYPE_Q8_0] = R8_MR;
}

#else
void pd_kern_table_avx2_rows8(pd_kern_table *t) { (void)t; }
#endif
