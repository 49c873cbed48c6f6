/* kern/simd_avx512_q4k.c — AVX-512 VNNI matmul tiles for Q4_K weights (Q8_K activations) in the
 * 8-row repacked layout (PD_LAYOUT_R8, kern/repack.c): 8 rows x 1-4 tokens, prefill and decode.
 * Filled into the AVX-512 level only where the CPU has AVX512_VNNI (else the AVX2 tiles stay).
 *
 * Design. In the R8 layout a 64-byte load holds 32-bit words d and d+1 (4 nibble bytes each) of a
 * quarter of the 8 rows: [row 0..7 word d | row 0..7 word d+1]. One vpermd puts them in pairs, row
 * r's words d and d+1 in lanes 2r and 2r+1, so that one 8-byte broadcast of the activation bytes
 * 4d..4d+7 (a memory operand, no shuffle per token) serves all 8 rows in one vpdpbusd (unsigned
 * nibbles x signed activations, summed into int32 lanes: no separate widening or add). Per token
 * and quarter, a lane sums 16 products of at most 15*128, which fits int16, so the sub-block scale
 * is applied by vpdpwssd on the int32 lanes read as int16 pairs (the value and its sign word times
 * the scale and 0). The mins use the Q8_K 16-sums directly: lane 2r holds (min[r][s], min[r][s])
 * as int16, lane 2r+1 the same for s+1, against an 8-byte broadcast of bsums[2s..2s+3]. The lane
 * pairs are added once per super-block, the scale sums into even lanes and the min sums into odd
 * lanes of one vector, which meets d and dmin interleaved the same way in one FMA.
 * Same integer sums and the same float operations in the same order as the AVX2 repacked tile
 * (simd_avx2_rows8.c q4_K_pkx): acc += (d*dx)*isum and accm += (dmin*dx)*isum_min per super-block,
 * y = acc - accm, so the results equal it to the bit (and the scalar twin within its tolerance).
 * Measured on Zen 5 (1 thread, CPU time, 1024x3072): 2.0x the AVX2 repacked tile in prefill (M = 512)
 * and 1.7x in decode from cache; ggml's q4_K_8x8 repacked kernels: 2.1-2.6x / 1.9-2.3x. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <stddef.h>
#include <string.h>
#include <cpuid.h>

PD_TARGET_AVX512VNNI_BEGIN

#ifndef Q4K_MR
#define Q4K_MR 4 /* tokens per tile (6 and 8 measured no faster in prefill: register spills) */
#endif

/* Software prefetch of the group's stream, this many bytes ahead (0: off). Off: decode of a
 * 1024 x 65536 matrix streamed from memory took 0.906 ms CPU without it, 0.991 ms at 1024 bytes
 * ahead (best of 4 interleaved rounds of 60, load 7), 0.93-1.05 ms at 4096: the hardware
 * prefetchers follow the one contiguous stream per group */
#ifndef PD_Q4K512_PF
#define PD_Q4K512_PF 0
#endif
static inline __attribute__((always_inline)) void pf_ahead(const char *p, size_t bytes) {
    if (PD_Q4K512_PF > 0)
        for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + PD_Q4K512_PF + o, _MM_HINT_T0);
}

static inline int64_t ld64(const void *p) {
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline __m256i ld256(const char *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m512i ld512(const char *p) { return _mm512_loadu_si512((const void *)p); }

/* Per super-block of the 8 rows, from the 128 head bytes (word k of row r at 4*(8k + r)): */
typedef struct {
    __m512 dm;      /* lane 2r: d of row r, lane 2r+1: dmin */
    __m512i sc[8];  /* sub-block s's 6-bit scale of row r in the low int16 of lanes 2r and 2r+1 */
    __m512i mn[4];  /* int16 pairs: (min[r][2p], same) in lane 2r, (min[r][2p+1], same) in lane 2r+1 */
} q4k_heads;

/* vpshufb controls, per 32-bit lane: even lanes (byte b0, zero, b0 or zero, zero), odd lanes the
 * same with b1 (byte indices within the lane; vpshufb indexes within 128-bit lanes); filled once
 * by pd_kern_table_avx512_q4k: scales of sub-block k (and k + 4), mins of sub-blocks (0,1), (2,3) */
static int8_t q4k_ctrl_sc[4][64] __attribute__((aligned(64))), q4k_ctrl_mn[2][64] __attribute__((aligned(64)));
static void pair_ctrl_init(int8_t c[64], int b0, int b1, int both) {
    for (int l = 0; l < 16; l++) {
        int b = 4 * (l & 3) + (l & 1 ? b1 : b0);
        c[4 * l] = (int8_t)b;
        c[4 * l + 1] = (int8_t)0x80;
        c[4 * l + 2] = (int8_t)(both ? b : 0x80);
        c[4 * l + 3] = (int8_t)0x80;
    }
}
static inline __m512i ctrl(const int8_t *c) { return _mm512_load_si512((const void *)c); }

static inline __attribute__((always_inline)) void q4k_heads_of(const char *wp, q4k_heads *h) {
    const __m256i H0 = ld256(wp), H1 = ld256(wp + 32), H2 = ld256(wp + 64), H3 = ld256(wp + 96);
    const __m256i k3f = _mm256_set1_epi32(0x3f3f3f3f), k0f = _mm256_set1_epi32(0x0f0f0f0f), k03 = _mm256_set1_epi32(0x03030303);
    /* d | dmin per row: the F16 pair of lane r, converted as 16 halves in lane order */
    h->dm = _mm512_cvtph_ps(H0);
    const __m256i S03 = _mm256_and_si256(H1, k3f);
    const __m256i S47 = _mm256_or_si256(_mm256_and_si256(H3, k0f), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(H1, 6), k03), 4));
    const __m256i M03 = _mm256_and_si256(H2, k3f);
    const __m256i M47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(H3, 4), k0f),
                                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(H2, 6), k03), 4));
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i S03d = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(S03));
    const __m512i S47d = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(S47));
    const __m512i M03d = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(M03));
    const __m512i M47d = _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(M47));
    PD_UNROLL4 for (int s = 0; s < 4; s++) {
        const __m512i c = ctrl(q4k_ctrl_sc[s]);
        h->sc[s] = _mm512_shuffle_epi8(S03d, c);
        h->sc[s + 4] = _mm512_shuffle_epi8(S47d, c);
    }
    h->mn[0] = _mm512_shuffle_epi8(M03d, ctrl(q4k_ctrl_mn[0]));
    h->mn[1] = _mm512_shuffle_epi8(M03d, ctrl(q4k_ctrl_mn[1]));
    h->mn[2] = _mm512_shuffle_epi8(M47d, ctrl(q4k_ctrl_mn[0]));
    h->mn[3] = _mm512_shuffle_epi8(M47d, ctrl(q4k_ctrl_mn[1]));
}

#if defined(__clang__)
#define PD_UNROLL8 _Pragma("unroll 8")
#else
#define PD_UNROLL8 _Pragma("GCC unroll 8")
#endif
/* an empty asm that "changes" v: keeps the compiler from merging the per-token chains */
#define PD_KEEP(v) __asm__("" : "+v"(v))
#define BC8(p) _mm512_set1_epi64(ld64(p))

/* Q4_K x MR tokens on the repacked layout (w = the group's start). */
static inline __attribute__((always_inline)) void q4_K_vnni(int MR, int64_t n, const void *w, const void *x, size_t xs,
                                                            float *y, int64_t ldy) {
    const pd_block_q8_K *xb[Q4K_MR];
    PD_UNROLL8 for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_K *)((const char *)x + (size_t)m * xs);
    __m512 acc[Q4K_MR]; /* lane 2r: the scale sums' float accumulator of row r, lane 2r+1: the mins' */
    PD_UNROLL8 for (int m = 0; m < MR; m++) acc[m] = _mm512_setzero_ps();
    const __m512i pair = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    const __m512i m4 = _mm512_set1_epi8(0xF);
    const char *wp = w;
    for (int64_t i = 0; i < n / PD_QK_K; i++, wp += 8 * sizeof(pd_block_q4_K)) {
        pf_ahead(wp, 128);
        q4k_heads h;
        q4k_heads_of(wp, &h);
        __m512i isum[Q4K_MR];
        PD_UNROLL8 for (int m = 0; m < MR; m++) isum[m] = _mm512_setzero_si512();
        PD_UNROLL4 for (int j = 0; j < 4; j++) {
            const char *qj = wp + 128 + 256 * j;
            pf_ahead(qj, 256);
            __m512i slo[Q4K_MR], shi[Q4K_MR];
            PD_UNROLL8 for (int m = 0; m < MR; m++) slo[m] = shi[m] = _mm512_setzero_si512();
            PD_UNROLL4 for (int p = 0; p < 4; p++) {
                const __m512i P = _mm512_permutexvar_epi32(pair, ld512(qj + 64 * p));
                const __m512i lo = _mm512_and_si512(P, m4), hi = _mm512_and_si512(_mm512_srli_epi16(P, 4), m4);
                PD_UNROLL8 for (int m = 0; m < MR; m++) {
                    const int8_t *q = xb[m][i].qs + 64 * j + 8 * p;
                    slo[m] = _mm512_dpbusd_epi32(slo[m], lo, BC8(q));
                    shi[m] = _mm512_dpbusd_epi32(shi[m], hi, BC8(q + 32));
                    PD_KEEP(slo[m]);
                    PD_KEEP(shi[m]);
                }
            }
            PD_UNROLL8 for (int m = 0; m < MR; m++) {
                isum[m] = _mm512_dpwssd_epi32(isum[m], slo[m], h.sc[2 * j]);
                isum[m] = _mm512_dpwssd_epi32(isum[m], shi[m], h.sc[2 * j + 1]);
            }
        }
        PD_UNROLL8 for (int m = 0; m < MR; m++) {
            const int16_t *bs = xb[m][i].bsums;
            __m512i im = _mm512_dpwssd_epi32(_mm512_setzero_si512(), h.mn[0], BC8(bs));
            im = _mm512_dpwssd_epi32(im, h.mn[1], BC8(bs + 4));
            im = _mm512_dpwssd_epi32(im, h.mn[2], BC8(bs + 8));
            im = _mm512_dpwssd_epi32(im, h.mn[3], BC8(bs + 12));
            /* even lanes: isum[2r] + isum[2r+1], odd lanes: im[2r] + im[2r+1] */
            const __m512i a = _mm512_mask_blend_epi32(0xAAAA, isum[m], im);
            const __m512i b = _mm512_shuffle_epi32(_mm512_mask_blend_epi32(0xAAAA, im, isum[m]), _MM_PERM_CDAB);
            const __m512i z = _mm512_add_epi32(a, b);
            const __m512 f = _mm512_mul_ps(h.dm, _mm512_set1_ps(xb[m][i].d));
            acc[m] = _mm512_fmadd_ps(f, _mm512_cvtepi32_ps(z), acc[m]);
        }
    }
    PD_UNROLL8 for (int m = 0; m < MR; m++) {
        /* even lanes: acc - accm; then the even lanes packed into 8 floats */
        const __m512 d = _mm512_sub_ps(acc[m], _mm512_permute_ps(acc[m], 0xB1));
        _mm256_storeu_si256((__m256i *)(y + m * ldy), _mm512_cvtepi64_epi32(_mm512_castps_si512(d)));
    }
}
#undef BC8
#undef PD_KEEP

/* 8 rows (nr = 8 always: pd_matmul sends only whole groups here) x 1..Q4K_MR tokens */
static void tile_q4_K_vnni(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,
                           int64_t ldy) {
    (void)ws, (void)nr;
    switch (mr) {
    case 1: q4_K_vnni(1, n, w, x, xs, y, ldy); break;
    case 2: q4_K_vnni(2, n, w, x, xs, y, ldy); break;
    case 3: q4_K_vnni(3, n, w, x, xs, y, ldy); break;
#if Q4K_MR > 4
    case 4: q4_K_vnni(4, n, w, x, xs, y, ldy); break;
    case 5: q4_K_vnni(5, n, w, x, xs, y, ldy); break;
#endif
#if Q4K_MR > 6
    case 6: q4_K_vnni(6, n, w, x, xs, y, ldy); break;
    case 7: q4_K_vnni(7, n, w, x, xs, y, ldy); break;
#endif
    default: q4_K_vnni(Q4K_MR, n, w, x, xs, y, ldy); break;
    }
}

PD_TARGET_END

/* CPUID leaf 7 subleaf 0 ECX bit 11: AVX512_VNNI */
static int cpu_avx512vnni(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c >> 11 & 1);
}

void pd_kern_table_avx512_q4k(pd_kern_table *t) {
    if (!cpu_avx512vnni()) return; /* the AVX2 tiles stay */
    PD_UNROLL4 for (int k = 0; k < 4; k++) {
        pair_ctrl_init(q4k_ctrl_sc[k], k, k, 0);
    }
    pair_ctrl_init(q4k_ctrl_mn[0], 0, 1, 1);
    pair_ctrl_init(q4k_ctrl_mn[1], 2, 3, 1);
    t->tile_r8[PD_TYPE_Q4_K] = tile_q4_K_vnni;
    t->tile_mr[PD_TYPE_Q4_K] = Q4K_MR;
}
#else
void pd_kern_table_avx512_q4k(pd_kern_table *t) { (void)t; }
#endif
