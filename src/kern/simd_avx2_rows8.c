/* kern/simd_avx2_rows8.c — AVX2 matmul tile of 8 Q4_0 weight rows x 2-4 tokens (Q8_0 activations),
 * for prefill. The 8 rows' blocks are interleaved in registers as they are loaded: a 4x8 transpose
 * of 32-bit words puts 4 consecutive weights of each row in one 32-bit lane, so one broadcast of 4
 * activation bytes serves all 8 rows, the integer sums land in their row's lane, and the block
 * scales are applied to 8 rows with one multiply-add (the 2-row tile needs a horizontal sum, a
 * float conversion and two sign operations per row and token). Weights are read in their GGUF
 * layout: no repacked copy is kept. Same numbers as the scalar twin: exact int32 block sums times
 * d_w * d_x, summed in float in block order. (The same interleave for Q8_0, which needs the sign
 * trick and an int32 widening per 4 weights, measured 25% slower than its 2-row tile: not used.) */
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

/* the 8 rows' F16 block scales as 8 floats, row r in lane r */
static inline __m256 scales8(const char *w, size_t ws) {
    uint16_t h[8];
    for (int r = 0; r < 8; r++) memcpy(&h[r], w + (size_t)r * ws, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/* Q4_0: w points at block i of row 0; the 16 nibble bytes of each row -> W[j] (j = 0..7) holding
 * the unsigned nibbles of weights 4j..4j+3 of row r in lane r. */
static inline void q4_0_rows8(const char *w, size_t ws, __m256i W[8]) {
    __m128i r[8];
    for (int k = 0; k < 8; k++) r[k] = _mm_loadu_si128((const __m128i *)(w + (size_t)k * ws + 2));
    __m256i a0 = _mm256_set_m128i(r[4], r[0]), a1 = _mm256_set_m128i(r[5], r[1]);
    __m256i a2 = _mm256_set_m128i(r[6], r[2]), a3 = _mm256_set_m128i(r[7], r[3]);
    __m256i t0 = _mm256_unpacklo_epi32(a0, a1), t1 = _mm256_unpacklo_epi32(a2, a3);
    __m256i t2 = _mm256_unpackhi_epi32(a0, a1), t3 = _mm256_unpackhi_epi32(a2, a3);
    __m256i T[4] = {_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1), _mm256_unpacklo_epi64(t2, t3),
                    _mm256_unpackhi_epi64(t2, t3)};
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int d = 0; d < 4; d++) {
        W[d] = _mm256_and_si256(T[d], m4);                             /* weights 4d..4d+3 */
        W[4 + d] = _mm256_and_si256(_mm256_srli_epi16(T[d], 4), m4); /* weights 16+4d.. */
    }
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

/* Tile entry: 8 rows x 2..4 tokens here. One token (decode) and the last rows of a matrix go to
 * the previous tile in its own row count: per CPU-second it was 10-15% faster for a single token
 * (the transpose and the activation sum are shared by fewer products there). */
static pd_tile_fn q4_0_prev;
static int q4_0_prev_nr;
static void tile_q4_0_r8(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    if (nr != R8_G * 8 || mr < 2 || mr > R8_MR) {
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
}

#else
void pd_kern_table_avx2_rows8(pd_kern_table *t) { (void)t; }
#endif
