/* kern/simd_avx512_r8.c — AVX-512 VNNI matmul tiles for Q4_0 and Q8_0 weights in the 8-row repacked
 * layout (PD_LAYOUT_R8, kern/repack.c), prefill and decode; installed only on CPUs with VNNI.
 * The layout already puts 4 consecutive weights of each of the 8 rows in one 32-bit lane, so one
 * vpdpbusd (u8 x s8, 4 products summed into each int32 lane, no saturation) with the token's 4
 * activation bytes as an embedded broadcast operand does what the AVX2 tile needs a broadcast, a
 * sign, a maddubs and a madd for. The unsigned operand is the weight: Q4_0's nibbles (0..15) as
 * they are, minus 8 * sum(x) per block afterwards (the block sums pd_matmul appends to each
 * activation row, act_sums); Q8_0's weights + 128 (an xor of the sign bit), minus 128 * sum(x)
 * (the same sums, so the AVX-512 level asks pd_matmul for them for Q8_0 too). Per block the int32
 * sum is exact and the float step is the AVX2 tile's (acc += (d_w * d_x) * float(sum), in block
 * order), so the outputs are those of the AVX2 tiles to the bit, whatever the token grouping.
 * Prefill tiles take two consecutive groups (16 rows: group g in the low 256 bits of a register, g+1
 * in the high) and 8 tokens (the 32 registers hold a block's weights and 8 tokens' accumulators):
 * pd_matmul hands tile_r8 tile_nr = 16 rows where two groups are left. One token reads the groups
 * one at a time (one memory stream). The GGUF-layout tile (the last N mod 8 rows) stays the AVX2
 * one, in steps of its 8 rows and 4 tokens. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <string.h>

PD_TARGET_AVX512VNNI_BEGIN


#define V8_MR 8 /* tokens per tile */

#if defined(__clang__)
#define PD_UNROLL8 _Pragma("unroll 8")
#else
#define PD_UNROLL8 _Pragma("GCC unroll 8")
#endif

/* software prefetch of the group stream, PD_V8_PF bytes ahead of the block being read (0: off). Off:
 * one group follows another in one contiguous stream, which the hardware prefetchers follow; out of
 * cache (q8_0 4096 x 16384, one token, min of 4x30, load ~7) 1024 bytes ahead ran at 20 GB per
 * CPU-second and none at 40 (q4_0: 27 -> 34) */
#ifndef PD_V8_PF
#define PD_V8_PF 0
#endif
static inline __attribute__((always_inline)) void pf_ahead(const char *p, size_t bytes) {
    if (PD_V8_PF > 0)
        for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + PD_V8_PF + o, _MM_HINT_T0);
}

static inline int32_t ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline __m256i ld256(const char *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i ld128(const char *p) { return _mm_loadu_si128((const __m128i *)p); }
/* 4 activation bytes in every lane (GCC folds it into vpdpbusd's {1to8} memory operand) */
#define BC4(p) _mm256_set1_epi32(ld32(p))

/* acc += (dw * d_x) * float(is): the AVX2 tile's float step (d_x converted already broadcast: a
 * vpbroadcastw load and one conversion, exact like h2f) */
#define V8_ACC(acc, dw, dx16, is) \
    (acc) = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_cvtph_ps(_mm_set1_epi16((short)(dx16)))), _mm256_cvtepi32_ps(is), acc)

/* Q4_0 x MR tokens over one 8-row group (w: its start). Per block: 4 words of nibbles, the low
 * nibbles weights 4k..4k+3, the high ones 16+4k..16+4k+3; two vpdpbusd chains per token. */
static inline __attribute__((always_inline)) void q4_0_v8(int MR, int64_t n, const char *w, const char *x, size_t xs,
                                                          float *y, int64_t ldy) {
    const int64_t nb = n / PD_QK;
    const pd_block_q8_0 *xb[V8_MR];
    const char *xsum[V8_MR];
    __m256 acc[V8_MR];
    for (int m = 0; m < MR; m++) {
        xb[m] = (const pd_block_q8_0 *)(x + (size_t)m * xs);
        xsum[m] = (const char *)(xb[m] + nb);
        acc[m] = _mm256_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0xF);
    for (int64_t i = 0; i < nb; i++, w += 8 * sizeof(pd_block_q4_0)) {
        pf_ahead(w, 8 * sizeof(pd_block_q4_0));
        const __m256i T0 = ld256(w + 16), T1 = ld256(w + 48), T2 = ld256(w + 80), T3 = ld256(w + 112);
        const __m256i L0 = _mm256_and_si256(T0, m4), L1 = _mm256_and_si256(T1, m4);
        const __m256i L2 = _mm256_and_si256(T2, m4), L3 = _mm256_and_si256(T3, m4);
        const __m256i H0 = _mm256_and_si256(_mm256_srli_epi16(T0, 4), m4), H1 = _mm256_and_si256(_mm256_srli_epi16(T1, 4), m4);
        const __m256i H2 = _mm256_and_si256(_mm256_srli_epi16(T2, 4), m4), H3 = _mm256_and_si256(_mm256_srli_epi16(T3, 4), m4);
        const __m256 dw = _mm256_cvtph_ps(ld128(w));
        PD_UNROLL8 for (int m = 0; m < MR; m++) {
            const int8_t *q = xb[m][i].qs;
            __m256i s0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), L0, BC4(q));
            __m256i s1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), H0, BC4(q + 16));
            s0 = _mm256_dpbusd_epi32(s0, L1, BC4(q + 4));
            s1 = _mm256_dpbusd_epi32(s1, H1, BC4(q + 20));
            s0 = _mm256_dpbusd_epi32(s0, L2, BC4(q + 8));
            s1 = _mm256_dpbusd_epi32(s1, H2, BC4(q + 24));
            s0 = _mm256_dpbusd_epi32(s0, L3, BC4(q + 12));
            s1 = _mm256_dpbusd_epi32(s1, H3, BC4(q + 28));
            const __m256i is = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), BC4(xsum[m] + 4 * i));
            V8_ACC(acc[m], dw, xb[m][i].d, is);
        }
    }
    for (int m = 0; m < MR; m++) _mm256_storeu_ps(y + m * ldy, acc[m]);
}

/* Q8_0 x MR tokens over one 8-row group: 8 words of weights per block, + 128 as unsigned bytes. */
static inline __attribute__((always_inline)) void q8_0_v8(int MR, int64_t n, const char *w, const char *x, size_t xs,
                                                          float *y, int64_t ldy) {
    const int64_t nb = n / PD_QK;
    const pd_block_q8_0 *xb[V8_MR];
    const char *xsum[V8_MR];
    __m256 acc[V8_MR];
    for (int m = 0; m < MR; m++) {
        xb[m] = (const pd_block_q8_0 *)(x + (size_t)m * xs);
        xsum[m] = (const char *)(xb[m] + nb);
        acc[m] = _mm256_setzero_ps();
    }
    const __m256i k80 = _mm256_set1_epi8((char)0x80);
    for (int64_t i = 0; i < nb; i++, w += 8 * sizeof(pd_block_q8_0)) {
        pf_ahead(w, 8 * sizeof(pd_block_q8_0));
        __m256i W0 = _mm256_xor_si256(ld256(w + 16), k80), W1 = _mm256_xor_si256(ld256(w + 48), k80);
        __m256i W2 = _mm256_xor_si256(ld256(w + 80), k80), W3 = _mm256_xor_si256(ld256(w + 112), k80);
        __m256i W4 = _mm256_xor_si256(ld256(w + 144), k80), W5 = _mm256_xor_si256(ld256(w + 176), k80);
        __m256i W6 = _mm256_xor_si256(ld256(w + 208), k80), W7 = _mm256_xor_si256(ld256(w + 240), k80);
        const __m256 dw = _mm256_cvtph_ps(ld128(w));
        PD_UNROLL8 for (int m = 0; m < MR; m++) {
            const int8_t *q = xb[m][i].qs;
            __m256i s0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), W0, BC4(q));
            __m256i s1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), W1, BC4(q + 4));
            s0 = _mm256_dpbusd_epi32(s0, W2, BC4(q + 8));
            s1 = _mm256_dpbusd_epi32(s1, W3, BC4(q + 12));
            s0 = _mm256_dpbusd_epi32(s0, W4, BC4(q + 16));
            s1 = _mm256_dpbusd_epi32(s1, W5, BC4(q + 20));
            s0 = _mm256_dpbusd_epi32(s0, W6, BC4(q + 24));
            s1 = _mm256_dpbusd_epi32(s1, W7, BC4(q + 28));
            /* 128 * sum(x) = 16 * the stored 8 * sum(x) */
            const __m256i is = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_slli_epi32(BC4(xsum[m] + 4 * i), 4));
            V8_ACC(acc[m], dw, xb[m][i].d, is);
        }
    }
    for (int m = 0; m < MR; m++) _mm256_storeu_ps(y + m * ldy, acc[m]);
}

/* ---- 16 rows: two consecutive groups, group g in the low 256 bits of each register and g + 1 in
 * the high ones, so one 4-byte activation broadcast serves 16 rows; per lane the same operations
 * as the 8-row tiles above (so the same bits). gs: bytes from one group to the next (8 * ws). */
static inline __m512i ld2x256(const char *p, size_t gs) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(ld256(p)), ld256(p + gs), 1);
}
static inline __m512 scales16(const char *p, size_t gs) {
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(ld128(p)), ld128(p + gs), 1));
}
#define BC4Z(p) _mm512_set1_epi32(ld32(p))
#define V16_ACC(acc, dw, dx16, is) \
    (acc) = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_cvtph_ps(_mm256_set1_epi16((short)(dx16)))), _mm512_cvtepi32_ps(is), acc)

static inline __attribute__((always_inline)) void q4_0_v16(int MR, int64_t n, const char *w, size_t gs, const char *x,
                                                           size_t xs, float *y, int64_t ldy) {
    const int64_t nb = n / PD_QK;
    const pd_block_q8_0 *xb[V8_MR];
    const char *xsum[V8_MR];
    __m512 acc[V8_MR];
    for (int m = 0; m < MR; m++) {
        xb[m] = (const pd_block_q8_0 *)(x + (size_t)m * xs);
        xsum[m] = (const char *)(xb[m] + nb);
        acc[m] = _mm512_setzero_ps();
    }
    const __m512i m4 = _mm512_set1_epi8(0xF);
    for (int64_t i = 0; i < nb; i++, w += 8 * sizeof(pd_block_q4_0)) {
        const __m512i T0 = ld2x256(w + 16, gs), T1 = ld2x256(w + 48, gs), T2 = ld2x256(w + 80, gs), T3 = ld2x256(w + 112, gs);
        const __m512i L0 = _mm512_and_si512(T0, m4), L1 = _mm512_and_si512(T1, m4);
        const __m512i L2 = _mm512_and_si512(T2, m4), L3 = _mm512_and_si512(T3, m4);
        const __m512i H0 = _mm512_and_si512(_mm512_srli_epi16(T0, 4), m4), H1 = _mm512_and_si512(_mm512_srli_epi16(T1, 4), m4);
        const __m512i H2 = _mm512_and_si512(_mm512_srli_epi16(T2, 4), m4), H3 = _mm512_and_si512(_mm512_srli_epi16(T3, 4), m4);
        const __m512 dw = scales16(w, gs);
        PD_UNROLL8 for (int m = 0; m < MR; m++) {
            const int8_t *q = xb[m][i].qs;
            __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), L0, BC4Z(q));
            __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), H0, BC4Z(q + 16));
            s0 = _mm512_dpbusd_epi32(s0, L1, BC4Z(q + 4));
            s1 = _mm512_dpbusd_epi32(s1, H1, BC4Z(q + 20));
            s0 = _mm512_dpbusd_epi32(s0, L2, BC4Z(q + 8));
            s1 = _mm512_dpbusd_epi32(s1, H2, BC4Z(q + 24));
            s0 = _mm512_dpbusd_epi32(s0, L3, BC4Z(q + 12));
            s1 = _mm512_dpbusd_epi32(s1, H3, BC4Z(q + 28));
            const __m512i is = _mm512_sub_epi32(_mm512_add_epi32(s0, s1), BC4Z(xsum[m] + 4 * i));
            V16_ACC(acc[m], dw, xb[m][i].d, is);
        }
    }
    for (int m = 0; m < MR; m++) {
        _mm256_storeu_ps(y + m * ldy, _mm512_castps512_ps256(acc[m]));
        _mm256_storeu_ps(y + m * ldy + 8, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[m]), 1)));
    }
}

static inline __attribute__((always_inline)) void q8_0_v16(int MR, int64_t n, const char *w, size_t gs, const char *x,
                                                           size_t xs, float *y, int64_t ldy) {
    const int64_t nb = n / PD_QK;
    const pd_block_q8_0 *xb[V8_MR];
    const char *xsum[V8_MR];
    __m512 acc[V8_MR];
    for (int m = 0; m < MR; m++) {
        xb[m] = (const pd_block_q8_0 *)(x + (size_t)m * xs);
        xsum[m] = (const char *)(xb[m] + nb);
        acc[m] = _mm512_setzero_ps();
    }
    const __m512i k80 = _mm512_set1_epi8((char)0x80);
    for (int64_t i = 0; i < nb; i++, w += 8 * sizeof(pd_block_q8_0)) {
        const __m512i W0 = _mm512_xor_si512(ld2x256(w + 16, gs), k80), W1 = _mm512_xor_si512(ld2x256(w + 48, gs), k80);
        const __m512i W2 = _mm512_xor_si512(ld2x256(w + 80, gs), k80), W3 = _mm512_xor_si512(ld2x256(w + 112, gs), k80);
        const __m512i W4 = _mm512_xor_si512(ld2x256(w + 144, gs), k80), W5 = _mm512_xor_si512(ld2x256(w + 176, gs), k80);
        const __m512i W6 = _mm512_xor_si512(ld2x256(w + 208, gs), k80), W7 = _mm512_xor_si512(ld2x256(w + 240, gs), k80);
        const __m512 dw = scales16(w, gs);
        PD_UNROLL8 for (int m = 0; m < MR; m++) {
            const int8_t *q = xb[m][i].qs;
            __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W0, BC4Z(q));
            __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W1, BC4Z(q + 4));
            s0 = _mm512_dpbusd_epi32(s0, W2, BC4Z(q + 8));
            s1 = _mm512_dpbusd_epi32(s1, W3, BC4Z(q + 12));
            s0 = _mm512_dpbusd_epi32(s0, W4, BC4Z(q + 16));
            s1 = _mm512_dpbusd_epi32(s1, W5, BC4Z(q + 20));
            s0 = _mm512_dpbusd_epi32(s0, W6, BC4Z(q + 24));
            s1 = _mm512_dpbusd_epi32(s1, W7, BC4Z(q + 28));
            const __m512i is = _mm512_sub_epi32(_mm512_add_epi32(s0, s1), _mm512_slli_epi32(BC4Z(xsum[m] + 4 * i), 4));
            V16_ACC(acc[m], dw, xb[m][i].d, is);
        }
    }
    for (int m = 0; m < MR; m++) {
        _mm256_storeu_ps(y + m * ldy, _mm512_castps512_ps256(acc[m]));
        _mm256_storeu_ps(y + m * ldy + 8, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[m]), 1)));
    }
}

#define V8_MR_SWITCH(FN, mr, ...)          \
    switch (mr) {                          \
    case 1: FN(1, __VA_ARGS__); break;     \
    case 2: FN(2, __VA_ARGS__); break;     \
    case 3: FN(3, __VA_ARGS__); break;     \
    case 4: FN(4, __VA_ARGS__); break;     \
    case 5: FN(5, __VA_ARGS__); break;     \
    case 6: FN(6, __VA_ARGS__); break;     \
    case 7: FN(7, __VA_ARGS__); break;     \
    default: FN(8, __VA_ARGS__); break;    \
    }
_Static_assert(V8_MR == 8, "the switch covers 1..8 tokens");

/* repacked tiles: two groups (nr = 16) or one (nr = 8), 1..V8_MR tokens. One token (decode, the
 * weights streamed from memory) reads the two groups one after the other: out of cache (4096 x
 * 16384, min of 4x30, load ~8) the two interleaved streams ran at 0.52x (q4_0) / 0.87x (q8_0) the
 * speed of one. */
static void tile_q4_0_v8(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    if (nr == 16 && mr > 1) {
        V8_MR_SWITCH(q4_0_v16, mr, n, (const char *)w, 8 * ws, (const char *)x, xs, y, ldy)
        return;
    }
    for (int g = 0; g < nr; g += 8) /* one token: the groups one after the other (one stream) */
        V8_MR_SWITCH(q4_0_v8, mr, n, (const char *)w + (size_t)g * ws, (const char *)x, xs, y + g, ldy)
}
static void tile_q8_0_v8(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                         int64_t ldy) {
    if (nr == 16 && mr > 1) {
        V8_MR_SWITCH(q8_0_v16, mr, n, (const char *)w, 8 * ws, (const char *)x, xs, y, ldy)
        return;
    }
    for (int g = 0; g < nr; g += 8) /* one token: the groups one after the other (one stream) */
        V8_MR_SWITCH(q8_0_v8, mr, n, (const char *)w + (size_t)g * ws, (const char *)x, xs, y + g, ldy)
}

PD_TARGET_END

/* the GGUF-layout tiles of the level below (AVX2's: 8 rows x at most 4 tokens), in steps of their
 * own rows and tokens (the AVX-512 level's tiles take 16 rows x 8 tokens) */
static pd_tile_fn gguf_q4_0, gguf_q8_0;
static int gguf_q4_0_nr, gguf_q4_0_mr, gguf_q8_0_nr, gguf_q8_0_mr;
static void tile_steps(pd_tile_fn f, int fnr, int fmr, int64_t n, const void *w, size_t ws, int nr, const void *x,
                       size_t xs, int mr, float *y, int64_t ldy) {
    for (int r0 = 0; r0 < nr; r0 += fnr)
        for (int m0 = 0; m0 < mr; m0 += fmr)
            f(n, (const char *)w + (size_t)r0 * ws, ws, nr - r0 < fnr ? nr - r0 : fnr, (const char *)x + (size_t)m0 * xs,
              xs, mr - m0 < fmr ? mr - m0 : fmr, y + m0 * ldy + r0, ldy);
}
static void tile_q4_0_gguf(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                           int64_t ldy) {
    tile_steps(gguf_q4_0, gguf_q4_0_nr, gguf_q4_0_mr, n, w, ws, nr, x, xs, mr, y, ldy);
}
static void tile_q8_0_gguf(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                           int64_t ldy) {
    tile_steps(gguf_q8_0, gguf_q8_0_nr, gguf_q8_0_mr, n, w, ws, nr, x, xs, mr, y, ldy);
}

/* Called by dispatch.c after the AVX-512 level has taken the AVX2 8-row tiles: on a CPU with
 * AVX512-VNNI, the repacked Q4_0 / Q8_0 tiles become these (V8_MR tokens), the GGUF-layout tiles
 * the AVX2 ones in steps of their token count, and the Q8_0 activations carry their block sums. */
void pd_kern_table_avx512_r8(pd_kern_table *t) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512vl")) return;
    if (!t->tile_r8[PD_TYPE_Q4_0] || !t->tile_r8[PD_TYPE_Q8_0] || !t->act_sums[PD_TYPE_Q4_0]) return;
    gguf_q4_0 = t->tile[PD_TYPE_Q4_0];
    gguf_q4_0_nr = t->tile_nr[PD_TYPE_Q4_0] > 0 ? t->tile_nr[PD_TYPE_Q4_0] : 1;
    gguf_q4_0_mr = t->tile_mr[PD_TYPE_Q4_0] > 0 ? t->tile_mr[PD_TYPE_Q4_0] : 1;
    gguf_q8_0 = t->tile[PD_TYPE_Q8_0];
    gguf_q8_0_nr = t->tile_nr[PD_TYPE_Q8_0] > 0 ? t->tile_nr[PD_TYPE_Q8_0] : 1;
    gguf_q8_0_mr = t->tile_mr[PD_TYPE_Q8_0] > 0 ? t->tile_mr[PD_TYPE_Q8_0] : 1;
    t->tile[PD_TYPE_Q4_0] = tile_q4_0_gguf;
    t->tile[PD_TYPE_Q8_0] = tile_q8_0_gguf;
    t->tile_nr[PD_TYPE_Q4_0] = t->tile_nr[PD_TYPE_Q8_0] = 16; /* pd_matmul: two groups per repacked tile */
    t->tile_mr[PD_TYPE_Q4_0] = t->tile_mr[PD_TYPE_Q8_0] = V8_MR;
    t->tile_r8[PD_TYPE_Q4_0] = tile_q4_0_v8;
    t->tile_r8[PD_TYPE_Q8_0] = tile_q8_0_v8;
    t->act_sums[PD_TYPE_Q8_0] = 1;
}

#else
void pd_kern_table_avx512_r8(pd_kern_table *t) { (void)t; }
#endif
