/* kern/simd_avx512_q6k.c — AVX-512 VNNI matmul tile for Q6_K weights (Q8_K activations) in the
 * 8-row repacked layout (PD_LAYOUT_R8, kern/repack.c): 8 rows x 1-4 tokens, prefill and decode.
 * Filled into the AVX-512 level only where the CPU has AVX512_VNNI; without it Q6_K matrices are
 * not repacked (no other level has an 8-row Q6_K tile) and the GGUF-layout tiles run.
 *
 * Layout read here (repack.c): per block index, the 8 rows' 210-byte blocks as 52 interleaved
 * 32-bit words (word k of row r at 4*(8k + r): ql = words 0..31, qh = 32..47, the 16 int8 scales
 * = 48..51), then the 8 rows' F16 d (16 bytes): 1680 bytes per block index, one stream per group.
 *
 * Design. A 64-byte load holds words k, k+1 of the 8 rows; one vpermd pairs them (row r in lanes
 * 2r, 2r+1), so one 8-byte broadcast of activation bytes serves the 8 rows in one multiply (as the
 * Q4_K tile). For 8 consecutive columns l of a 128-weight half, the ql words give the low nibbles
 * of weights l (low) and l+64 (high), the ql words 32 bytes on give l+32 and l+96, and the qh word
 * pair gives all four their top 2 bits (vpternlog: nibble | (qh shifted & 0x30)). The weights stay
 * unsigned (stored value q+32, 0..63); the -32 is applied once per sub-block as -32*scale*bsum
 * (vpdpwssd of the scales against the Q8_K bsums). vpmaddubsw gives int16 words of 2 products of
 * at most 63*128; vpaddw of two of them (columns l and l+8: the same 16-weight sub-block) stays
 * below 2^15, so one vpdpwssd applies the sub-block scales to 4 products per word. (vpdpbusd
 * sums 4 products into int32, and 8 no longer fit the int16 operand of the scale step: packing two
 * of them with vpackssdw measured 5-9% slower in prefill; the 512-bit integer multiplies, about one
 * a cycle on Zen 5 here, bound this tile: 32 vpmaddubsw + 20 vpdpwssd per token and super-block.)
 * Per super-block the two lanes of a row are added: the int32 sum is exactly the scalar dot's sumi.
 * Float step as the scalar twin (pd_dot_q6_K_ref): y += (d * dx) * (float)sumi per super-block,
 * a multiply, a multiply and an add (no FMA), from y = 0: the results equal it to the bit. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <cpuid.h>
#include <stddef.h>
#include <string.h>

PD_TARGET_AVX512VNNI_BEGIN

/* Software prefetch in the decode tiles (1..Q6K_MR-1 tokens), this many blocks (1680 bytes each) ahead
 * (0: off). Decode of a 1024 x 151936 matrix (the tied output of qwen3-0.6b, 128 MB, on huge pages)
 * from memory, 1 thread, best CPU ms of 20, three interleaved rounds, load 3.5: none 5.0-6.6, 1 block
 * 3.6-4.2, 2 blocks 3.4-3.6, 4 blocks 3.4-5.1 (the GGUF-layout tile: 4.6-7.3). Not in the 4-token
 * prefill tile, where the blocks are in cache and the prefetches cost 3-4%. */
#ifndef PD_Q6K512_PF
#define PD_Q6K512_PF 2
#endif
#ifndef Q6K_MR
#define Q6K_MR 4 /* tokens per tile */
#endif

/* byte offsets inside one block index of a group */
enum { Q6_QL = 0, Q6_QH = 1024, Q6_SC = 1536, Q6_D = 1664, Q6_GB = 8 * sizeof(pd_block_q6_K) };
_Static_assert(Q6_GB == 1680 && Q6_D + 16 == Q6_GB, "q6_K group block");

static inline int64_t ld64(const void *p) {
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline __m512i ld512(const char *p) { return _mm512_loadu_si512((const void *)p); }
#define BC8(p) _mm512_set1_epi64(ld64(p))
/* an empty asm that "changes" v: keeps the compiler from merging the per-token chains */
#define PD_KEEP(v) __asm__("" : "+v"(v))
#if defined(__clang__)
#define PD_UNROLL8 _Pragma("unroll 8")
#else
#define PD_UNROLL8 _Pragma("GCC unroll 8")
#endif

/* vpshufb control word: the int16 word at byte b of the 128-bit chunk, twice (a whole int32 lane) */
#define W2(b) ((int)((unsigned)(b) | (unsigned)((b) + 1) << 8 | (unsigned)(b) << 16 | (unsigned)((b) + 1) << 24))

/* Scale vectors of one 128-weight half of the 8 rows (lanes 2r, 2r+1: row r): sc[j]: row r's scale
 * of sub-block j (int16, in all four words); b[k]: -32 * row r's scales 4k..4k+3 as int16 (two per
 * lane), against an 8-byte broadcast of the half's bsums 4k..4k+3. */
typedef struct {
    __m512i sc[8], b[2];
} q6k_half_scales;

static inline __attribute__((always_inline)) void q6k_scales_of(const char *p, __m512i pair, q6k_half_scales *s) {
    const __m512i S = _mm512_permutexvar_epi32(pair, ld512(p)); /* qword r: row r's 8 scales */
    const __m512i Te = _mm512_srai_epi16(_mm512_slli_epi16(S, 8), 8), To = _mm512_srai_epi16(S, 8);
    PD_UNROLL4 for (int w = 0; w < 4; w++) { /* word w of each qword, four times: scales 2w (Te), 2w+1 (To) */
        const __m512i c = _mm512_set4_epi32(W2(8 + 2 * w), W2(8 + 2 * w), W2(2 * w), W2(2 * w));
        s->sc[2 * w] = _mm512_shuffle_epi8(Te, c);
        s->sc[2 * w + 1] = _mm512_shuffle_epi8(To, c);
    }
    const __m512i lo = _mm512_unpacklo_epi16(Te, To), hi = _mm512_unpackhi_epi16(Te, To); /* rows 2c, 2c+1 */
    const __m512i m32 = _mm512_set1_epi16(-32);
    s->b[0] = _mm512_mullo_epi16(_mm512_unpacklo_epi64(lo, hi), m32);
    s->b[1] = _mm512_mullo_epi16(_mm512_unpackhi_epi64(lo, hi), m32);
}

/* Q6_K x MR tokens on the repacked layout (w = the group's start). */
static inline __attribute__((always_inline)) void q6_K_vnni(int MR, int64_t n, const void *w, const void *x, size_t xs,
                                                            float *y, int64_t ldy) {
    const pd_block_q8_K *xb[Q6K_MR];
    PD_UNROLL8 for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_K *)((const char *)x + (size_t)m * xs);
    __m512 acc[Q6K_MR]; /* lane 2r: row r (lane 2r+1 repeats it) */
    PD_UNROLL8 for (int m = 0; m < MR; m++) acc[m] = _mm512_setzero_ps();
    const __m512i pair = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    const __m512i dsel = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30);
    const char *wb = w;
    for (int64_t i = 0; i < n / PD_QK_K; i++, wb += Q6_GB) {
        if (PD_Q6K512_PF > 0 && MR < Q6K_MR) /* decode: the block PD_Q6K512_PF on, into L1 */
            for (int o = 0; o < Q6_GB; o += 64) _mm_prefetch(wb + PD_Q6K512_PF * Q6_GB + o, _MM_HINT_T0);
        const __m512 dw = _mm512_permutexvar_ps(
            dsel, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wb + Q6_D)))));
        __m512i isum[Q6K_MR];
        PD_UNROLL8 for (int m = 0; m < MR; m++) isum[m] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            q6k_half_scales s;
            q6k_scales_of(wb + Q6_SC + 64 * h, pair, &s);
            PD_UNROLL8 for (int m = 0; m < MR; m++) { /* -32 * sum over sub-blocks of scale * bsum */
                const int16_t *bs = xb[m][i].bsums + 8 * h;
                isum[m] = _mm512_dpwssd_epi32(isum[m], s.b[0], BC8(bs));
                isum[m] = _mm512_dpwssd_epi32(isum[m], s.b[1], BC8(bs + 4));
            }
            PD_UNROLL4 for (int pp = 0; pp < 2; pp++) { /* columns 16pp..16pp+15: sub-blocks 2g + pp */
                __m512i q[2][4];
                PD_UNROLL4 for (int e = 0; e < 2; e++) {
                    const char *qp = wb + 512 * h + 64 * (2 * pp + e);
                    const __m512i L0 = _mm512_permutexvar_epi32(pair, ld512(qp + Q6_QL));
                    const __m512i L1 = _mm512_permutexvar_epi32(pair, ld512(qp + Q6_QL + 256));
                    const __m512i H = _mm512_permutexvar_epi32(pair, ld512(wb + Q6_QH + 256 * h + 64 * (2 * pp + e)));
                    /* weights (0..63) of columns 8p.. of the half: +0, +32, +64, +96 */
                    q[e][0] = _mm512_ternarylogic_epi32(_mm512_and_si512(L0, m4), _mm512_slli_epi16(H, 4), m30, 0xF8);
                    q[e][1] = _mm512_ternarylogic_epi32(_mm512_and_si512(L1, m4), _mm512_slli_epi16(H, 2), m30, 0xF8);
                    q[e][2] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(L0, 4), m4), H, m30, 0xF8);
                    q[e][3] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(L1, 4), m4),
                                                        _mm512_srli_epi16(H, 2), m30, 0xF8);
                }
                PD_UNROLL8 for (int m = 0; m < MR; m++) {
                    const int8_t *xq = xb[m][i].qs + 128 * h + 16 * pp;
                    PD_UNROLL4 for (int g = 0; g < 4; g++) {
                        /* int16 words of 2 + 2 products (at most 4 * 63 * 128 = 32256), then the scale */
                        const __m512i a = _mm512_add_epi16(_mm512_maddubs_epi16(q[0][g], BC8(xq + 32 * g)),
                                                           _mm512_maddubs_epi16(q[1][g], BC8(xq + 32 * g + 8)));
                        isum[m] = _mm512_dpwssd_epi32(isum[m], a, s.sc[2 * g + pp]);
                    }
                    PD_KEEP(isum[m]);
                }
            }
        }
        PD_UNROLL8 for (int m = 0; m < MR; m++) {
            /* lane 2r: the sum of row r */
            const __m512i z = _mm512_add_epi32(isum[m], _mm512_shuffle_epi32(isum[m], _MM_PERM_CDAB));
            const __m512 f = _mm512_mul_ps(dw, _mm512_set1_ps(xb[m][i].d));
            acc[m] = _mm512_add_ps(acc[m], _mm512_mul_ps(f, _mm512_cvtepi32_ps(z)));
        }
    }
    PD_UNROLL8 for (int m = 0; m < MR; m++)
        _mm256_storeu_si256((__m256i *)(y + m * ldy), _mm512_cvtepi64_epi32(_mm512_castps_si512(acc[m])));
}
#undef BC8
#undef PD_KEEP

/* 8 rows (nr = 8 always: pd_matmul sends only whole groups here, tile_nr is not a multiple of 8) x
 * 1..Q6K_MR tokens */
static void tile_q6_K_vnni(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                           int64_t ldy) {
    (void)ws, (void)nr;
    switch (mr) {
    case 1: q6_K_vnni(1, n, w, x, xs, y, ldy); break;
    case 2: q6_K_vnni(2, n, w, x, xs, y, ldy); break;
    case 3: q6_K_vnni(3, n, w, x, xs, y, ldy); break;
    default: q6_K_vnni(Q6K_MR, n, w, x, xs, y, ldy); break;
    }
}

PD_TARGET_END

/* CPUID leaf 7 subleaf 0 ECX bit 11: AVX512_VNNI */
static int cpu_avx512vnni(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c >> 11 & 1);
}

void pd_kern_table_avx512_q6k(pd_kern_table *t) {
    if (!cpu_avx512vnni()) return; /* no 8-row Q6_K tile: Q6_K stays in the GGUF layout */
    t->tile_r8[PD_TYPE_Q6_K] = tile_q6_K_vnni;
    t->tile_mr[PD_TYPE_Q6_K] = Q6K_MR;
}
#else
void pd_kern_table_avx512_q6k(pd_kern_table *t) { (void)t; }
#endif
