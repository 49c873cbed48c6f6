/* kern/simd_avx2_rows8.c — AVX2 matmul tiles of 8 weight rows x 1-4 tokens for Q4_0 and Q8_0
 * weights (Q8_0 activations) and Q4_K (Q8_K activations), prefill and decode. The 8 rows' blocks are interleaved in registers
 * as they are loaded: a 4x8 (Q4_0) or 8x8 (Q8_0) transpose of 32-bit words puts 4 consecutive
 * weights of each row in one 32-bit lane, so one broadcast of 4 activation bytes serves all 8 rows,
 * the integer sums land in their row's lane, and the block scales are applied to 8 rows with one
 * multiply-add (the 2-row tiles need a horizontal sum, a float conversion and sign operations per
 * row and token). Each tile reads either layout: the GGUF one (8 rows ws bytes apart, transposed
 * while loading) or PD_LAYOUT_R8 (kern/repack.c: the group's blocks stored already in that lane
 * order, one contiguous stream per 8 rows, prefetched ahead — what decode from memory needs;
 * pd_model_repack puts inference weights in it at load). Same numbers as the scalar twins: exact
 * int32 block sums times d_w * d_x, summed in float in block order.
 * Everything is written out by hand: with loops and small arrays GCC kept the rows on the stack
 * (and a scale array stalled on store forwarding), which made the first version no faster. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <stddef.h>
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

/* Software prefetch of the repacked stream, PD_R8_PF bytes ahead of the block being read (0: off):
 * the lines [p + PD_R8_PF, p + PD_R8_PF + bytes). */
#ifndef PD_R8_PF
#define PD_R8_PF 1024
#endif
static inline __attribute__((always_inline)) void pf_ahead(const char *p, size_t bytes) {
    if (PD_R8_PF > 0)
        for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + PD_R8_PF + o, _MM_HINT_T0);
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

/* 32 bytes at q of each of 8 rows (ws apart) -> W[j] with bytes 4j..4j+3 of row r in lane r (8x8
 * transpose of 32-bit words), written out like q4_0_rows8. */
static inline __attribute__((always_inline)) void rows8x32(const char *q, size_t ws, __m256i W[8]) {
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

/* 8 * the sum of the 32 int8 of activation block i, in every lane (Q4_0's -8 offset): pd_matmul
 * stores it after the row's blocks (act_sums) */
static inline __m256i sum8x(const char *sums, int64_t i) {
    int32_t v;
    memcpy(&v, sums + 4 * i, 4);
    return _mm256_set1_epi32(v);
}

/* Q4_0 x MR tokens. Nibbles q in 0..15 are the unsigned operand of maddubs: a pair gives at most
 * 2*15*128 = 3840 in magnitude and 8 pairs fit int16 (30720), so the 32 products of a row are
 * summed in int16 and widened once; sum (q-8)x = sum qx - 8 sum x. */
static inline __attribute__((always_inline)) void q4_0_r8x(int MR, int PK, int64_t n, const void *w, size_t ws,
                                                           const void *x, size_t xs, float *y, int64_t ldy) {
    const pd_block_q8_0 *xb[R8_MR];
    const char *xsum[R8_MR];
    for (int m = 0; m < MR; m++) {
        xb[m] = (const pd_block_q8_0 *)((const char *)x + (size_t)m * xs);
        xsum[m] = (const char *)(xb[m] + n / PD_QK);
    }
    __m256 acc[R8_G][R8_MR];
    for (int g = 0; g < R8_G; g++)
        for (int m = 0; m < MR; m++) acc[g][m] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const char *wp = w;
    const size_t bstep = PK ? 8 * sizeof(pd_block_q4_0) : sizeof(pd_block_q4_0);
    for (int64_t i = 0; i < n / PD_QK; i++, wp += bstep) {
        __m256i W[R8_G][8];
        __m256 dw[R8_G];
        if (PK) { /* the group's block i: 8 scales, then the nibble words already in lanes */
            pf_ahead(wp, bstep);
            const __m256i m4 = _mm256_set1_epi8(0xF);
            for (int j = 0; j < 4; j++) {
                __m256i T = ld256(wp + 16 + 32 * j);
                W[0][j] = _mm256_and_si256(T, m4);
                W[0][j + 4] = _mm256_and_si256(_mm256_srli_epi16(T, 4), m4);
            }
            dw[0] = _mm256_cvtph_ps(ld128(wp));
        } else {
            for (int g = 0; g < R8_G; g++) {
                q4_0_rows8(wp + (size_t)(8 * g) * ws, ws, W[g]);
                dw[g] = scales8(wp + (size_t)(8 * g) * ws, ws);
            }
        }
        PD_UNROLL4 for (int m = 0; m < MR; m++) {
            const int8_t *q = xb[m][i].qs;
            __m256i bias = sum8x(xsum[m], i);
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
static inline __attribute__((always_inline)) void q8_0_r8x(int MR, int PK, int64_t n, const void *w, size_t ws,
                                                           const void *x, size_t xs, float *y, int64_t ldy) {
    const pd_block_q8_0 *xb[R8_MR];
    for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_0 *)((const char *)x + (size_t)m * xs);
    __m256 acc[R8_MR];
    for (int m = 0; m < MR; m++) acc[m] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const char *wp = w;
    const size_t bstep = PK ? 8 * sizeof(pd_block_q8_0) : sizeof(pd_block_q8_0);
    for (int64_t i = 0; i < n / PD_QK; i++, wp += bstep) {
        __m256i W[8], A[8];
        if (PK) {
            pf_ahead(wp, bstep);
            for (int j = 0; j < 8; j++) W[j] = ld256(wp + 16 + 32 * j);
        } else {
            rows8x32(wp + 2, ws, W);
        }
        A[0] = _mm256_sign_epi8(W[0], W[0]);
        A[1] = _mm256_sign_epi8(W[1], W[1]);
        A[2] = _mm256_sign_epi8(W[2], W[2]);
        A[3] = _mm256_sign_epi8(W[3], W[3]);
        A[4] = _mm256_sign_epi8(W[4], W[4]);
        A[5] = _mm256_sign_epi8(W[5], W[5]);
        A[6] = _mm256_sign_epi8(W[6], W[6]);
        A[7] = _mm256_sign_epi8(W[7], W[7]);
        __m256 dw = PK ? _mm256_cvtph_ps(ld128(wp)) : scales8(wp, ws);
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

/* ---------- Q4_K ---------- */

#if defined(__clang__)
#define PD_UNROLL8 _Pragma("unroll 8")
#else
#define PD_UNROLL8 _Pragma("GCC unroll 8")
#endif

/* shuffle control: byte b (and b+1 if pair) of every 32-bit lane into both / the two int16 halves */
static inline __m256i lane_bytes_ctrl(int b0, int b1) {
    const __m256i offs = _mm256_setr_epi8(0, 0, 0, 0, 4, 0, 4, 0, 8, 0, 8, 0, 12, 0, 12, 0, 0, 0, 0, 0, 4, 0, 4, 0, 8, 0,
                                          8, 0, 12, 0, 12, 0);
    return _mm256_add_epi8(_mm256_set1_epi32((int)(0x80008000u | (unsigned)b1 << 16 | (unsigned)b0)), offs);
}

/* The 8 rows' super-block heads, word k (of d|dmin, scale bytes 0-3, 4-7, 8-11) of row r in lane r
 * of Hk -> d and dmin as floats, and the 6-bit scales / mins of sub-blocks 0-3 and 4-7 as bytes of
 * each lane (the word operations of pd_q4k_unpack, on 8 rows at once). */
static inline __attribute__((always_inline)) void q4k_heads8(__m256i H0, __m256i H1, __m256i H2, __m256i H3, __m256 *dv,
                                                             __m256 *mv, __m256i *S03, __m256i *S47, __m256i *M03,
                                                             __m256i *M47) {
    const __m256i k3f = _mm256_set1_epi32(0x3f3f3f3f), k0f = _mm256_set1_epi32(0x0f0f0f0f), k03 = _mm256_set1_epi32(0x03030303);
    __m256i dm = _mm256_permute4x64_epi64(
        _mm256_packus_epi32(_mm256_and_si256(H0, _mm256_set1_epi32(0xFFFF)), _mm256_srli_epi32(H0, 16)), 0xD8);
    *dv = _mm256_cvtph_ps(_mm256_castsi256_si128(dm));
    *mv = _mm256_cvtph_ps(_mm256_extracti128_si256(dm, 1));
    *S03 = _mm256_and_si256(H1, k3f);
    *S47 = _mm256_or_si256(_mm256_and_si256(H3, k0f), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(H1, 6), k03), 4));
    *M03 = _mm256_and_si256(H2, k3f);
    *M47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(H3, 4), k0f),
                           _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(H2, 6), k03), 4));
}

/* Sum over the 8 sub-blocks s of min[r][s] * (the sum of the token's 32 activations of s), row r in
 * lane r; mnp0..3 hold the mins of sub-blocks (2p, 2p+1) as int16 pairs. B[s] = bsums[2s] +
 * bsums[2s+1] (fits int16), packed so that 32-bit word p of the low half holds (B[2p], B[2p+1]) for
 * p = 0, 1 and word 4 + p' of the high half for p = 2, 3. */
static inline __attribute__((always_inline)) __m256i q4k_mins8(const int16_t *bsums, __m256i mnp0, __m256i mnp1,
                                                               __m256i mnp2, __m256i mnp3) {
    __m256i B = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), _mm256_set1_epi16(1));
    __m256i Bp = _mm256_packs_epi32(B, B);
    return _mm256_add_epi32(
        _mm256_add_epi32(_mm256_madd_epi16(mnp0, _mm256_permutevar8x32_epi32(Bp, _mm256_set1_epi32(0))),
                         _mm256_madd_epi16(mnp1, _mm256_permutevar8x32_epi32(Bp, _mm256_set1_epi32(1)))),
        _mm256_add_epi32(_mm256_madd_epi16(mnp2, _mm256_permutevar8x32_epi32(Bp, _mm256_set1_epi32(4))),
                         _mm256_madd_epi16(mnp3, _mm256_permutevar8x32_epi32(Bp, _mm256_set1_epi32(5)))));
}

/* Q4_K x MR tokens (Q8_K activations). Per super-block: the 16-byte heads of the 8 rows (d, dmin,
 * 12 scale bytes) transposed like Q4_0's nibbles give d, dmin and the 6-bit scales / mins of the 8
 * rows in lanes (the word operations of pd_q4k_unpack, on 8 rows at once); each 32-byte quarter of
 * the nibbles is transposed 8x8, and per token its low nibbles (sub-block 2j) and high nibbles
 * (2j+1) are summed in int16 over 8 broadcasts (at most 8 * 2*15*128 = 30720) and widened once
 * with the row's scale (madd). The mins use the Q8_K 16-sums, paired per 32-weight sub-block. */
static inline __attribute__((always_inline)) void q4_K_r8x(int MR, int64_t n, const void *w, size_t ws, const void *x,
                                                           size_t xs, float *y, int64_t ldy) {
    const pd_block_q8_K *xb[R8_MR];
    for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_K *)((const char *)x + (size_t)m * xs);
    __m256 acc[R8_MR], accm[R8_MR];
    for (int m = 0; m < MR; m++) acc[m] = accm[m] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const char *wp = w;
    for (int64_t i = 0; i < n / PD_QK_K; i++, wp += sizeof(pd_block_q4_K)) {
        __m256i H0, H1, H2, H3;
        {
            __m256i a0 = _mm256_set_m128i(ld128(wp + 4 * ws), ld128(wp)), a1 = _mm256_set_m128i(ld128(wp + 5 * ws), ld128(wp + ws));
            __m256i a2 = _mm256_set_m128i(ld128(wp + 6 * ws), ld128(wp + 2 * ws));
            __m256i a3 = _mm256_set_m128i(ld128(wp + 7 * ws), ld128(wp + 3 * ws));
            __m256i t0 = _mm256_unpacklo_epi32(a0, a1), t1 = _mm256_unpacklo_epi32(a2, a3);
            __m256i t2 = _mm256_unpackhi_epi32(a0, a1), t3 = _mm256_unpackhi_epi32(a2, a3);
            H0 = _mm256_unpacklo_epi64(t0, t1); /* d | dmin */
            H1 = _mm256_unpackhi_epi64(t0, t1); /* scale bytes 0-3 */
            H2 = _mm256_unpacklo_epi64(t2, t3); /* 4-7 */
            H3 = _mm256_unpackhi_epi64(t2, t3); /* 8-11 */
        }
        __m256 dv, mv;
        __m256i S03, S47, M03, M47;
        q4k_heads8(H0, H1, H2, H3, &dv, &mv, &S03, &S47, &M03, &M47);
        __m256i mnp0 = _mm256_shuffle_epi8(M03, lane_bytes_ctrl(0, 1)), mnp1 = _mm256_shuffle_epi8(M03, lane_bytes_ctrl(2, 3));
        __m256i mnp2 = _mm256_shuffle_epi8(M47, lane_bytes_ctrl(0, 1)), mnp3 = _mm256_shuffle_epi8(M47, lane_bytes_ctrl(2, 3));
        __m256i isum[R8_MR];
        for (int m = 0; m < MR; m++) isum[m] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i T[8];
            rows8x32(wp + offsetof(pd_block_q4_K, qs) + 32 * j, ws, T);
            __m256i slo[R8_MR], shi[R8_MR];
            for (int m = 0; m < MR; m++) slo[m] = shi[m] = _mm256_setzero_si256();
            /* the activation words: 16 bytes loaded into both halves, one word spread by an in-lane
             * shuffle (a shuffle-port op instead of a load per broadcast: the loads were the limit) */
            PD_UNROLL4 for (int m = 0; m < MR; m++) {
                const int8_t *q = xb[m][i].qs + 64 * j;
                const __m256i a0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q));
                const __m256i a1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(q + 16)));
                const __m256i b0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(q + 32)));
                const __m256i b1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(q + 48)));
#define PD_Q4K_D(d, A, B, IMM)                                                                                         \
    {                                                                                                                   \
        __m256i lo = _mm256_and_si256(T[d], m4), hi = _mm256_and_si256(_mm256_srli_epi16(T[d], 4), m4);                \
        slo[m] = _mm256_add_epi16(slo[m], _mm256_maddubs_epi16(lo, _mm256_shuffle_epi32(A, IMM)));                   \
        shi[m] = _mm256_add_epi16(shi[m], _mm256_maddubs_epi16(hi, _mm256_shuffle_epi32(B, IMM)));                   \
    }
                PD_Q4K_D(0, a0, b0, 0x00) PD_Q4K_D(1, a0, b0, 0x55) PD_Q4K_D(2, a0, b0, 0xAA) PD_Q4K_D(3, a0, b0, 0xFF)
                PD_Q4K_D(4, a1, b1, 0x00) PD_Q4K_D(5, a1, b1, 0x55) PD_Q4K_D(6, a1, b1, 0xAA) PD_Q4K_D(7, a1, b1, 0xFF)
#undef PD_Q4K_D
            }
            __m256i S = j < 2 ? S03 : S47;
            __m256i sl = _mm256_shuffle_epi8(S, lane_bytes_ctrl((2 * j) % 4, (2 * j) % 4));
            __m256i sh = _mm256_shuffle_epi8(S, lane_bytes_ctrl((2 * j + 1) % 4, (2 * j + 1) % 4));
            for (int m = 0; m < MR; m++)
                isum[m] = _mm256_add_epi32(isum[m], _mm256_add_epi32(_mm256_madd_epi16(slo[m], sl), _mm256_madd_epi16(shi[m], sh)));
        }
        PD_UNROLL4 for (int m = 0; m < MR; m++) {
            const __m256i im = q4k_mins8(xb[m][i].bsums, mnp0, mnp1, mnp2, mnp3);
            __m256 dx = _mm256_set1_ps(xb[m][i].d);
            acc[m] = _mm256_fmadd_ps(_mm256_mul_ps(dv, dx), _mm256_cvtepi32_ps(isum[m]), acc[m]);
            accm[m] = _mm256_fmadd_ps(_mm256_mul_ps(mv, dx), _mm256_cvtepi32_ps(im), accm[m]);
        }
    }
    for (int m = 0; m < MR; m++) _mm256_storeu_ps(y + m * ldy, _mm256_sub_ps(acc[m], accm[m]));
}

/* Q4_K x MR tokens on the repacked layout (w = the group's start), register-blocked. Same integer
 * sums and the same float order as q4_K_r8x (so the same bits), arranged so that everything of the
 * inner loop stays in the 16 registers: per 32-byte word group d of a quarter j, the nibbles of
 * the 8 rows are loaded once and split (sub-blocks 2j and 2j+1), and each token's two activation
 * words are broadcast from memory (a load, no shuffle) into its int16 sums. (The generic version
 * kept the 8 nibble words in an array that GCC copied through the stack in 16-byte halves and read
 * back in 32-byte loads, which cannot be store-forwarded, and spilled its sums.) */
#define PD_Q4K_BC(p) _mm256_set1_epi32(ld32(p))
/* an empty asm that "changes" v: keeps GCC from reassociating the running sums into a tree of
 * all 16 products per token (which it then spills to the stack) */
#define PD_KEEP(v) __asm__("" : "+x"(v))
static inline int32_t ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline __attribute__((always_inline)) void q4_K_pkx(int MR, int64_t n, const void *w, const void *x, size_t xs,
                                                           float *y, int64_t ldy) {
    const pd_block_q8_K *xb[R8_MR];
    for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_K *)((const char *)x + (size_t)m * xs);
    __m256 acc[R8_MR], accm[R8_MR];
    for (int m = 0; m < MR; m++) acc[m] = accm[m] = _mm256_setzero_ps();
    const char *wp = w;
    const size_t bstep = 8 * sizeof(pd_block_q4_K);
    for (int64_t i = 0; i < n / PD_QK_K; i++, wp += bstep) {
        pf_ahead(wp, 128);
        const __m256i H0 = ld256(wp), H1 = ld256(wp + 32), H2 = ld256(wp + 64), H3 = ld256(wp + 96);
        __m256 dv, mv;
        __m256i S03, S47, M03, M47;
        q4k_heads8(H0, H1, H2, H3, &dv, &mv, &S03, &S47, &M03, &M47);
        __m256i isum[R8_MR];
        for (int m = 0; m < MR; m++) isum[m] = _mm256_setzero_si256();
        PD_UNROLL4 for (int j = 0; j < 4; j++) {
            const char *qj = wp + 128 + 256 * j;
            pf_ahead(qj, 256);
            __m256i slo[R8_MR], shi[R8_MR];
            const __m256i m4 = _mm256_set1_epi8(0xF);
#define PD_Q4K_W(d)                                                                                                    \
    {                                                                                                                   \
        const __m256i T = ld256(qj + 32 * (d));                                                                         \
        const __m256i lo = _mm256_and_si256(T, m4), hi = _mm256_and_si256(_mm256_srli_epi16(T, 4), m4);                \
        PD_UNROLL4 for (int m = 0; m < MR; m++) {                                                                       \
            const int8_t *q = xb[m][i].qs + 64 * j + 4 * (d);                                                           \
            const __m256i pl = _mm256_maddubs_epi16(lo, PD_Q4K_BC(q)), ph = _mm256_maddubs_epi16(hi, PD_Q4K_BC(q + 32)); \
            slo[m] = (d) ? _mm256_add_epi16(slo[m], pl) : pl;                                                           \
            shi[m] = (d) ? _mm256_add_epi16(shi[m], ph) : ph;                                                           \
            PD_KEEP(slo[m]);                                                                                            \
            PD_KEEP(shi[m]);                                                                                            \
        }                                                                                                               \
    }
            PD_Q4K_W(0) PD_Q4K_W(1) PD_Q4K_W(2) PD_Q4K_W(3) PD_Q4K_W(4) PD_Q4K_W(5) PD_Q4K_W(6) PD_Q4K_W(7)
#undef PD_Q4K_W
            const __m256i S = j < 2 ? S03 : S47;
            const __m256i sl = _mm256_shuffle_epi8(S, lane_bytes_ctrl((2 * j) % 4, (2 * j) % 4));
            const __m256i sh = _mm256_shuffle_epi8(S, lane_bytes_ctrl((2 * j + 1) % 4, (2 * j + 1) % 4));
            PD_UNROLL4 for (int m = 0; m < MR; m++)
                isum[m] = _mm256_add_epi32(isum[m], _mm256_add_epi32(_mm256_madd_epi16(slo[m], sl), _mm256_madd_epi16(shi[m], sh)));
        }
        const __m256i mnp0 = _mm256_shuffle_epi8(M03, lane_bytes_ctrl(0, 1)), mnp1 = _mm256_shuffle_epi8(M03, lane_bytes_ctrl(2, 3));
        const __m256i mnp2 = _mm256_shuffle_epi8(M47, lane_bytes_ctrl(0, 1)), mnp3 = _mm256_shuffle_epi8(M47, lane_bytes_ctrl(2, 3));
        PD_UNROLL4 for (int m = 0; m < MR; m++) {
            const __m256i im = q4k_mins8(xb[m][i].bsums, mnp0, mnp1, mnp2, mnp3);
            __m256 dx = _mm256_set1_ps(xb[m][i].d);
            acc[m] = _mm256_fmadd_ps(_mm256_mul_ps(dv, dx), _mm256_cvtepi32_ps(isum[m]), acc[m]);
            accm[m] = _mm256_fmadd_ps(_mm256_mul_ps(mv, dx), _mm256_cvtepi32_ps(im), accm[m]);
        }
    }
    for (int m = 0; m < MR; m++) _mm256_storeu_ps(y + m * ldy, _mm256_sub_ps(acc[m], accm[m]));
}
#undef PD_Q4K_BC
#undef PD_KEEP

/* GGUF layout (PK = 0) and PD_LAYOUT_R8 (PK = 1; w = the group's start) */
#define q4_0_r8(MR, ...) q4_0_r8x(MR, 0, __VA_ARGS__)
#define q8_0_r8(MR, ...) q8_0_r8x(MR, 0, __VA_ARGS__)
#define q4_K_r8(MR, ...) q4_K_r8x(MR, __VA_ARGS__)
#define q4_0_pk(MR, ...) q4_0_r8x(MR, 1, __VA_ARGS__)
#define q8_0_pk(MR, ...) q8_0_r8x(MR, 1, __VA_ARGS__)
#define q4_K_pk(MR, n, w, ws, ...) q4_K_pkx(MR, n, w, __VA_ARGS__)
_Static_assert(R8_G == 1, "the repacked layout holds groups of 8 rows");

/* Repacked tiles: always 8 rows (pd_matmul sends the last N mod 8 rows, kept in the GGUF layout,
 * to the tiles below); one token included (one contiguous stream per group, unlike the GGUF
 * layout's 8). */
static void tile_q4_0_pk(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    (void)nr;
    PD_TILE_MR_SWITCH(q4_0_pk, mr, n, w, ws, x, xs, y, ldy)
}
static void tile_q8_0_pk(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    (void)nr;
    PD_TILE_MR_SWITCH(q8_0_pk, mr, n, w, ws, x, xs, y, ldy)
}
static void tile_q4_K_pk(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    (void)nr;
    PD_TILE_MR_SWITCH(q4_K_pk, mr, n, w, ws, x, xs, y, ldy)
}

static pd_tile_fn q4_K_prev;
static void tile_q4_K_r8(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    /* One token (decode) goes to the previous kernel too: in cache this tile is 1.66x faster there,
     * but decode streams the weights from memory, and with short rows (Q4_K at K = 1024: 9 cache
     * lines a row) the 8 interleaved rows ran at half the one-row kernel's speed out of cache
     * (3.4-4.0 vs 7.9-8.3 GB per CPU-second, 1024 x 151936; software prefetch of the next tile
     * did not change it). */
    if (nr != 8 || mr < 2 || mr > R8_MR) {
        q4_K_prev(n, w, ws, nr, x, xs, mr, y, ldy); /* handles any row and token count */
        return;
    }
    PD_TILE_MR_SWITCH(q4_K_r8, mr, n, w, ws, x, xs, y, ldy)
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

/* Called at the end of the AVX2 table: takes over the Q4_0, Q8_0 and Q4_K tiles, keeping the
 * previous ones (and their row counts) for the last rows of a matrix. */
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
    q4_K_prev = t->tile[PD_TYPE_Q4_K];
    t->tile[PD_TYPE_Q4_K] = tile_q4_K_r8;
    t->tile_nr[PD_TYPE_Q4_K] = 8;
    t->tile_mr[PD_TYPE_Q4_K] = R8_MR;
    t->tile_r8[PD_TYPE_Q4_0] = tile_q4_0_pk;
    t->act_sums[PD_TYPE_Q4_0] = 1; /* the Q4_0 tiles read the activation block sums */
    t->tile_r8[PD_TYPE_Q8_0] = tile_q8_0_pk;
    t->tile_r8[PD_TYPE_Q4_K] = tile_q4_K_pk;
}

#else
void pd_kern_table_avx2_rows8(pd_kern_table *t) { (void)t; }
#endif
