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
 * 2r, 2r+1), so one 8-byte broadcast of activation bytes serves the 8 rows in one vpdpbusd (as the
 * Q4_K tile). For 8 consecutive columns l of a 128-weight half, the ql words give the low nibbles
 * of weights l (low) and l+64 (high), the ql words 32 bytes on give l+32 and l+96, and the qh word
 * pair gives all four their top 2 bits (vpternlog: nibble | (qh shifted & 0x30)). The weights stay
 * unsigned (stored value q+32, 0..63); the -32 is applied once per sub-block as -32*scale*bsum.
 * A vpdpbusd lane sums 4 products of at most 63*128: that fits int16, 8 do not, so two vpdpbusd
 * results (weights of two different sub-blocks) are narrowed by vpackssdw (exact) into one
 * register and scaled by one vpdpwssd; after the pack a 128-bit chunk c holds, as int32 lanes,
 * rows 2c, 2c+1, 2c, 2c+1, which the scale vectors (and the bias's) follow. Per super-block the
 * two copies of a row are added: the int32 sum is exactly the scalar dot's sumi.
 * Float step as the scalar twin (pd_dot_q6_K_ref): y += (d * dx) * (float)sumi per super-block,
 * a multiply, a multiply and an add (no FMA), from y = 0: the results equal it to the bit. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <cpuid.h>
#include <stddef.h>
#include <string.h>

PD_TARGET_AVX512VNNI_BEGIN

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

/* vpshufb control word: int16 word at byte b of the 128-bit chunk, twice (both halves of an int32 lane) */
#define W2(b) ((int)((unsigned)(b) | (unsigned)((b) + 1) << 8 | (unsigned)(b) << 16 | (unsigned)((b) + 1) << 24))

/* Scale vectors of one 128-weight half of the 8 rows, for the packed lane order (chunk c: rows 2c,
 * 2c+1, 2c, 2c+1): sc[pp][gp]: lanes 4c+0/1 the scales of sub-block 4gp+pp of rows 2c/2c+1,
 * lanes 4c+2/3 those of sub-block 4gp+2+pp (int16, in both words of the lane); b1/b2: -32 * the
 * scale pairs (2k, 2k+1) / (2(k^1), 2(k^1)+1) of row 2c+(k&1) in lane 4c+k, against the bsums
 * pairs k and k^1 of the half. */
typedef struct {
    __m512i sc[2][2], b1, b2;
} q6k_half_scales;

static inline __attribute__((always_inline)) void q6k_scales_of(const char *p, __m512i pair, q6k_half_scales *s) {
    const __m512i S = _mm512_permutexvar_epi32(pair, ld512(p)); /* qword r: row r's 8 scales */
    const __m512i Te = _mm512_srai_epi16(_mm512_slli_epi16(S, 8), 8), To = _mm512_srai_epi16(S, 8);
    const __m512i c0 = _mm512_set4_epi32(W2(10), W2(2), W2(8), W2(0));  /* words 0 and 1 of rows 2c, 2c+1 */
    const __m512i c1 = _mm512_set4_epi32(W2(14), W2(6), W2(12), W2(4)); /* words 2 and 3 */
    s->sc[0][0] = _mm512_shuffle_epi8(Te, c0);
    s->sc[0][1] = _mm512_shuffle_epi8(Te, c1);
    s->sc[1][0] = _mm512_shuffle_epi8(To, c0);
    s->sc[1][1] = _mm512_shuffle_epi8(To, c1);
    const __m512i lo = _mm512_unpacklo_epi16(Te, To), hi = _mm512_unpackhi_epi16(Te, To); /* rows 2c, 2c+1 */
    const __m512i m32 = _mm512_set1_epi16(-32);
    s->b1 = _mm512_mullo_epi16(_mm512_mask_blend_epi32(0xAAAA, lo, hi), m32);
    s->b2 = _mm512_mullo_epi16(_mm512_shuffle_epi32(_mm512_mask_blend_epi32(0x5555, lo, hi), _MM_PERM_CDAB), m32);
}

/* Q6_K x MR tokens on the repacked layout (w = the group's start). */
static inline __attribute__((always_inline)) void q6_K_vnni(int MR, int64_t n, const void *w, const void *x, size_t xs,
                                                            float *y, int64_t ldy) {
    const pd_block_q8_K *xb[Q6K_MR];
    PD_UNROLL8 for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_K *)((const char *)x + (size_t)m * xs);
    __m512 acc[Q6K_MR]; /* lane 4c + k: row 2c + (k & 1) (lanes 4c+2, 4c+3 repeat 4c, 4c+1) */
    PD_UNROLL8 for (int m = 0; m < MR; m++) acc[m] = _mm512_setzero_ps();
    const __m512i pair = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    const __m512i dsel = _mm512_setr_epi32(0, 1, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7);
    const __m512i m4 = _mm512_set1_epi8(0xF), m30 = _mm512_set1_epi8(0x30);
    const char *wb = w;
    for (int64_t i = 0; i < n / PD_QK_K; i++, wb += Q6_GB) {
        const __m512 dw = _mm512_permutexvar_ps(
            dsel, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wb + Q6_D)))));
        __m512i isum[Q6K_MR];
        PD_UNROLL8 for (int m = 0; m < MR; m++) isum[m] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            q6k_half_scales s;
            q6k_scales_of(wb + Q6_SC + 64 * h, pair, &s);
            PD_UNROLL8 for (int m = 0; m < MR; m++) { /* -32 * sum over sub-blocks of scale * bsum */
                const __m512i b = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(xb[m][i].bsums + 8 * h)));
                isum[m] = _mm512_dpwssd_epi32(isum[m], s.b1, b);
                isum[m] = _mm512_dpwssd_epi32(isum[m], s.b2, _mm512_shuffle_epi32(b, _MM_PERM_CDAB));
            }
            PD_UNROLL4 for (int p = 0; p < 4; p++) {
                const char *qp = wb + 512 * h + 64 * p;
                const __m512i L0 = _mm512_permutexvar_epi32(pair, ld512(qp + Q6_QL));
                const __m512i L1 = _mm512_permutexvar_epi32(pair, ld512(qp + Q6_QL + 256));
                const __m512i H = _mm512_permutexvar_epi32(pair, ld512(wb + Q6_QH + 256 * h + 64 * p));
                /* weights (0..63) of columns 8p.. of the half: +0, +32, +64, +96 */
                const __m512i q0 = _mm512_ternarylogic_epi32(_mm512_and_si512(L0, m4), _mm512_slli_epi16(H, 4), m30, 0xF8);
                const __m512i q1 = _mm512_ternarylogic_epi32(_mm512_and_si512(L1, m4), _mm512_slli_epi16(H, 2), m30, 0xF8);
                const __m512i q2 =
                    _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(L0, 4), m4), H, m30, 0xF8);
                const __m512i q3 = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(L1, 4), m4),
                                                             _mm512_srli_epi16(H, 2), m30, 0xF8);
                const int pp = p / 2;
                PD_UNROLL8 for (int m = 0; m < MR; m++) {
                    const int8_t *xq = xb[m][i].qs + 128 * h + 8 * p;
                    __m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q0, BC8(xq));
                    __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q1, BC8(xq + 32));
                    __m512i d2 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q2, BC8(xq + 64));
                    __m512i d3 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q3, BC8(xq + 96));
                    isum[m] = _mm512_dpwssd_epi32(isum[m], _mm512_packs_epi32(d0, d1), s.sc[pp][0]);
                    isum[m] = _mm512_dpwssd_epi32(isum[m], _mm512_packs_epi32(d2, d3), s.sc[pp][1]);
                    PD_KEEP(isum[m]);
                }
            }
        }
        PD_UNROLL8 for (int m = 0; m < MR; m++) {
            /* lanes 4c, 4c+1: the sums of rows 2c, 2c+1 */
            const __m512i z = _mm512_add_epi32(isum[m], _mm512_shuffle_epi32(isum[m], _MM_PERM_BADC));
            const __m512 f = _mm512_mul_ps(dw, _mm512_set1_ps(xb[m][i].d));
            acc[m] = _mm512_add_ps(acc[m], _mm512_mul_ps(f, _mm512_cvtepi32_ps(z)));
        }
    }
    const __m512i out = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 0, 1, 4, 5, 8, 9, 12, 13);
    PD_UNROLL8 for (int m = 0; m < MR; m++)
        _mm256_storeu_ps(y + m * ldy, _mm512_castps512_ps256(_mm512_permutexvar_ps(out, acc[m])));
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
