/* kern/simd_avx2.c — AVX2 + FMA + F16C kernels: vec_dot for every weight type, matmul tiles
 * (several weight rows x several tokens per call, so a weight block loaded once serves every
 * token of the tile), activation conversion and attention (one head or a GQA group). Compiled
 * for that ISA in a target region (kern_impl.h), called only when the CPU has it; each kernel is
 * tested against its scalar twin. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <stddef.h>
#include <math.h>
#include <string.h>

PD_TARGET_AVX2_BEGIN

#include "simd_avx2_util.h"

static inline __m256 ld_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 ld_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* ---------- float dots (public vec_dot semantics) ---------- */

static float dot_f32(int64_t n, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

#define PD_DOT16(name, LD, CONV)                                                                                     \
    static float name(int64_t n, const void *w, const void *x) {                                                     \
        const uint16_t *a = w, *b = x;                                                                                \
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps(); \
        int64_t i = 0;                                                                                                \
        for (; i + 32 <= n; i += 32) {                                                                                \
            s0 = _mm256_fmadd_ps(LD(a + i), LD(b + i), s0);                                                           \
            s1 = _mm256_fmadd_ps(LD(a + i + 8), LD(b + i + 8), s1);                                                   \
            s2 = _mm256_fmadd_ps(LD(a + i + 16), LD(b + i + 16), s2);                                                 \
            s3 = _mm256_fmadd_ps(LD(a + i + 24), LD(b + i + 24), s3);                                                 \
        }                                                                                                             \
        for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(LD(a + i), LD(b + i), s0);                                   \
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));                                 \
        for (; i < n; i++) s += CONV(a[i]) * CONV(b[i]);                                                              \
        return s;                                                                                                     \
    }
PD_DOT16(dot_f16, ld_f16, h2f)
PD_DOT16(dot_bf16, ld_bf16, pd_bf16_to_f32)

/* (The F32 / F16 / BF16 matmul tiles of this level are in mm_f32.c, in lane order.) */

/* ---------- Q8_0 / Q4_0 ---------- */

/* int8 x int8 products of 32 lanes summed in pairs of 4 to 8 int32, as float */
static inline __m256 mul_sum_i8(__m256i aw, __m256i sx) {
    __m256i p16 = _mm256_maddubs_epi16(aw, sx);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

static inline __m256i unpack_q4(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(0xF)), hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(0xF));
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

static float dot_q8_0(int64_t n, const void *w, const void *x) {
    const pd_block_q8_0 *a = w, *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t nb = n / PD_QK, i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)a[i].qs), x0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)a[i + 1].qs);
        __m256i x1 = _mm256_loadu_si256((const __m256i *)b[i + 1].qs);
        __m256 p0 = mul_sum_i8(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0));
        __m256 p1 = mul_sum_i8(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(x1, w1));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), p0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i + 1].d) * h2f(b[i + 1].d)), p1, acc1);
    }
    for (; i < nb; i++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)a[i].qs), x0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256 p0 = mul_sum_i8(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), p0, acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

static float dot_q4_0(int64_t n, const void *w, const void *x) {
    const pd_block_q4_0 *a = w;
    const pd_block_q8_0 *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t nb = n / PD_QK, i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i w0 = unpack_q4(a[i].qs), x0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256i w1 = unpack_q4(a[i + 1].qs), x1 = _mm256_loadu_si256((const __m256i *)b[i + 1].qs);
        __m256 p0 = mul_sum_i8(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0));
        __m256 p1 = mul_sum_i8(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(x1, w1));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), p0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i + 1].d) * h2f(b[i + 1].d)), p1, acc1);
    }
    for (; i < nb; i++) {
        __m256i w0 = unpack_q4(a[i].qs), x0 = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256 p0 = mul_sum_i8(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(x0, w0));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), p0, acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

/* Tile of QT_NR weight rows x QT_MR tokens for block-32 weights (Q8_0 or Q4_0) with Q8_0
 * activations: each weight block is loaded (and unpacked) once for all QT_MR tokens. */
#define QT_NR 2
#define QT_MR 4

#define PD_QTILE(name, WB, LOADW, ONE)                                                                               \
    static inline __attribute__((always_inline)) void name##_mr(int MR, int64_t n, const void *w, size_t ws,          \
                                                                const void *x, size_t xs, float *y, int64_t ldy) {    \
        const WB *wa = w, *wb = (const WB *)((const char *)w + ws);                                                   \
        const pd_block_q8_0 *xb[QT_MR];                                                                               \
        for (int m = 0; m < MR; m++) xb[m] = (const pd_block_q8_0 *)((const char *)x + m * xs);                       \
        __m256 acc[QT_NR][QT_MR];                                                                                     \
        for (int r = 0; r < QT_NR; r++)                                                                               \
            for (int m = 0; m < MR; m++) acc[r][m] = _mm256_setzero_ps();                                             \
        int64_t nb = n / PD_QK;                                                                                       \
        for (int64_t i = 0; i < nb; i++) {                                                                            \
            __m256i v0 = LOADW(wa + i), v1 = LOADW(wb + i);                                                           \
            __m256i u0 = _mm256_sign_epi8(v0, v0), u1 = _mm256_sign_epi8(v1, v1);                                     \
            __m256 d0 = _mm256_set1_ps(h2f(wa[i].d)), d1 = _mm256_set1_ps(h2f(wb[i].d));                              \
            PD_UNROLL4 for (int m = 0; m < MR; m++) {                                                    \
                __m256i xv = _mm256_loadu_si256((const __m256i *)xb[m][i].qs);                                        \
                __m256 dx = _mm256_set1_ps(h2f(xb[m][i].d));                                                          \
                acc[0][m] = _mm256_fmadd_ps(_mm256_mul_ps(d0, dx), mul_sum_i8(u0, _mm256_sign_epi8(xv, v0)), acc[0][m]); \
                acc[1][m] = _mm256_fmadd_ps(_mm256_mul_ps(d1, dx), mul_sum_i8(u1, _mm256_sign_epi8(xv, v1)), acc[1][m]); \
            }                                                                                                         \
        }                                                                                                             \
        for (int m = 0; m < MR; m++)                                                                                  \
            for (int r = 0; r < QT_NR; r++) y[m * ldy + r] = hsum8(acc[r][m]);                                        \
    }                                                                                                                 \
    static void name(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,         \
                     int64_t ldy) {                                                                                   \
        if (nr != QT_NR || mr < 1 || mr > QT_MR) {                                                                    \
            pd_tile_by_dots(ONE, n, w, ws, nr, x, xs, mr, y, ldy);                                                    \
            return;                                                                                                   \
        }                                                                                                             \
        PD_TILE_MR_SWITCH(name##_mr, mr, n, w, ws, x, xs, y, ldy)                                                     \
    }

static inline __m256i load_q8w(const pd_block_q8_0 *b) { return _mm256_loadu_si256((const __m256i *)b->qs); }
static inline __m256i load_q4w(const pd_block_q4_0 *b) { return unpack_q4(b->qs); }
PD_QTILE(tile_q8_0, pd_block_q8_0, load_q8w, dot_q8_0)
PD_QTILE(tile_q4_0, pd_block_q4_0, load_q4w, dot_q4_0)

/* ---------- K-quants ---------- */

#define KT 4 /* tokens per K-quant tile */

static inline __m256i scale_pair(int8_t lo, int8_t hi) {
    return _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo));
}

/* K-quant tiles: one weight row against KT tokens; the row's scales and nibbles are unpacked once
 * per super-block for all KT tokens. The min / bias corrections use the Q8_K block sums. */

/* One Q4_K (five = 0) or Q5_K (five = 1) weight row against T tokens (T, five constant after
 * inlining). The blocks share d, dmin and the 6-bit scales; Q5_K adds a fifth bit per weight (qh). */
static inline __attribute__((always_inline)) void q45_K_rows(int T, int five, int64_t n, const void *w,
                                                             const pd_block_q8_K *const *b, float *out) {
    const size_t bsz = five ? sizeof(pd_block_q5_K) : sizeof(pd_block_q4_K);
    const size_t qs_at = five ? offsetof(pd_block_q5_K, qs) : offsetof(pd_block_q4_K, qs);
    __m256 acc[KT], accm[KT];
    for (int t = 0; t < T; t++) acc[t] = accm[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)i * bsz;
        uint8_t sm[16];
        pd_q4k_unpack(blk + offsetof(pd_block_q4_K, scales), sm, sm + 8);
        const uint8_t *sc = sm;
        /* mins duplicated per pair of 16-sums: madd with bsums gives mn[j] * (bsums[2j] + bsums[2j+1]) */
        __m128i mn8 = _mm_loadl_epi64((const __m128i *)(sm + 8));
        __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn8, mn8));
        __m256i isum[KT], hb = _mm256_setzero_si256();
        if (five) hb = _mm256_loadu_si256((const __m256i *)(blk + offsetof(pd_block_q5_K, qh)));
        for (int t = 0; t < T; t++) isum[t] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i q4 = _mm256_loadu_si256((const __m256i *)(blk + qs_at + 32 * j));
            __m256i lo = _mm256_and_si256(q4, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            if (five) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one), 4));
            }
            __m256i s0 = _mm256_set1_epi16(sc[2 * j]), s1 = _mm256_set1_epi16(sc[2 * j + 1]);
            for (int t = 0; t < T; t++) {
                __m256i y0 = _mm256_loadu_si256((const __m256i *)(b[t][i].qs + 64 * j));
                __m256i y1 = _mm256_loadu_si256((const __m256i *)(b[t][i].qs + 64 * j + 32));
                __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0);
                __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(p0, p1));
            }
        }
        uint16_t dh, mh;
        memcpy(&dh, blk + offsetof(pd_block_q4_K, d), 2);
        memcpy(&mh, blk + offsetof(pd_block_q4_K, dmin), 2);
        float d = h2f(dh), dmin = h2f(mh);
        for (int t = 0; t < T; t++) {
            float dy = b[t][i].d;
            __m256i bs = _mm256_loadu_si256((const __m256i *)b[t][i].bsums);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dy * d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
            accm[t] = _mm256_fmadd_ps(_mm256_set1_ps(dy * dmin), _mm256_cvtepi32_ps(_mm256_madd_epi16(bs, mins)), accm[t]);
        }
    }
    for (int t = 0; t < T; t++) out[t] = hsum8(_mm256_sub_ps(acc[t], accm[t]));
}

static void q4_K_row_xKT(int64_t n, const pd_block_q4_K *a, const pd_block_q8_K *const *b, float *out) {
    q45_K_rows(KT, 0, n, a, b, out);
}

static float dot_q4_K(int64_t n, const void *w, const void *x) {
    const pd_block_q8_K *b = x;
    float o;
    q45_K_rows(1, 0, n, w, &b, &o);
    return o;
}

static void q5_K_row_xKT(int64_t n, const pd_block_q5_K *a, const pd_block_q8_K *const *b, float *out) {
    q45_K_rows(KT, 1, n, a, b, out);
}

static float dot_q5_K(int64_t n, const void *w, const void *x) {
    const pd_block_q8_K *b = x;
    float o;
    q45_K_rows(1, 1, n, w, &b, &o);
    return o;
}

static inline __attribute__((always_inline)) void q6_K_rows(int T, int64_t n, const pd_block_q6_K *a,
                                                            const pd_block_q8_K *const *b, float *out) {
    __m256 acc[KT];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        const int8_t *sc = a[i].scales;
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        __m256i isum[KT];
        /* start from -32 * sum_j sc_j * bsums_j (the 6-bit values are stored with a +32 offset) */
        for (int t = 0; t < T; t++) {
            __m256i bs = _mm256_loadu_si256((const __m256i *)b[t][i].bsums);
            isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = a[i].ql + 64 * h, *qh = a[i].qh + 32 * h;
            const int8_t *s = sc + 8 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m3), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m3), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m3), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m3), 4));
            __m256i sp[4];
            for (int g = 0; g < 4; g++) sp[g] = scale_pair(s[2 * g], s[2 * g + 1]);
            PD_UNROLL4 for (int t = 0; t < T; t++) {
                const int8_t *y = b[t][i].qs + 128 * h;
                __m256i p = _mm256_setzero_si256();
                PD_UNROLL4 for (int g = 0; g < 4; g++) {
                    __m256i m = _mm256_maddubs_epi16(q[g], _mm256_loadu_si256((const __m256i *)(y + 32 * g)));
                    p = _mm256_add_epi32(p, _mm256_madd_epi16(m, sp[g]));
                }
                isum[t] = _mm256_add_epi32(isum[t], p);
            }
        }
        float d = h2f(a[i].d);
        for (int t = 0; t < T; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * b[t][i].d), _mm256_cvtepi32_ps(isum[t]), acc[t]);
    }
    for (int t = 0; t < T; t++) out[t] = hsum8(acc[t]);
}

static void q6_K_row_xKT(int64_t n, const pd_block_q6_K *a, const pd_block_q8_K *const *b, float *out) {
    q6_K_rows(KT, n, a, b, out);
}

static float dot_q6_K(int64_t n, const void *w, const void *x) {
    const pd_block_q8_K *b = x;
    float o;
    q6_K_rows(1, n, w, &b, &o);
    return o;
}

#define PD_KTILE(name, WB, ROWFN, ONE) PD_KQ_TILE(name, WB, ROWFN, ONE, KT)
PD_KTILE(tile_q4_K, pd_block_q4_K, q4_K_row_xKT, dot_q4_K)
PD_KTILE(tile_q6_K, pd_block_q6_K, q6_K_row_xKT, dot_q6_K)
PD_KTILE(tile_q5_K, pd_block_q5_K, q5_K_row_xKT, dot_q5_K)

/* ---------- activation conversion (same bits as the scalar versions in quant.c) ---------- */

/* F32 values rounded to F16 (round to nearest even, as pd_f32_to_f16) and back. */
void pd_act_f16_round_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) y[i] = pd_f16_to_f32(pd_f32_to_f16(x[i]));
}

/* F32 -> F16 storage (the F16 KV cache: every token's K and V rows) and back, 8 at a time with F16C;
 * same bits as pd_f32_to_f16 / pd_f16_to_f32 (round to nearest even, subnormals, inf; a NaN stays a
 * quiet NaN) — tests/kern/test_quant.c. */
void pd_f16_from_f32_avx2(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = pd_f32_to_f16(x[i]);
}
void pd_f16_to_f32_avx2(const uint16_t *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++) y[i] = pd_f16_to_f32(x[i]);
}

/* F32 values rounded to BF16 (nearest even; NaN kept quiet) and back. */
void pd_act_bf16_round_avx2(const float *x, float *y, int64_t n) {
    const __m256i lsb = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), hi = _mm256_set1_epi32((int)0xffff0000u);
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000), quiet = _mm256_set1_epi32(0x400000);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
        __m256i r = _mm256_add_epi32(v, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(v, 16), lsb)));
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(v, absm), inf);
        r = _mm256_blendv_epi8(r, _mm256_or_si256(v, quiet), nan);
        _mm256_storeu_si256((__m256i *)(y + i), _mm256_and_si256(r, hi));
    }
    for (; i < n; i++) y[i] = pd_bf16_to_f32(pd_f32_to_bf16(x[i]));
}

static inline __m256 abs8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
/* 32 int32 (four vectors, in order) → 32 int8 in order (values already within int8) */
static inline __m256i pack_i32_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i r = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* ggml-cpu's Q8_0 activation quantiser: d = amax/127 (F16), q = rint(x * (127/amax)). */
void pd_act_q8_0_avx2(const float *x, void *vy, int64_t nb) {
    pd_block_q8_0 *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        float amax = hmax8(_mm256_max_ps(_mm256_max_ps(abs8(v0), abs8(v1)), _mm256_max_ps(abs8(v2), abs8(v3))));
        y[i].d = pd_f32_to_f16(amax / 127.f);
        __m256 id = _mm256_set1_ps(amax != 0.f ? 127.f / amax : 0.0f);
        __m256i q = pack_i32_i8(_mm256_cvtps_epi32(_mm256_mul_ps(v0, id)), _mm256_cvtps_epi32(_mm256_mul_ps(v1, id)),
                                _mm256_cvtps_epi32(_mm256_mul_ps(v2, id)), _mm256_cvtps_epi32(_mm256_mul_ps(v3, id)));
        _mm256_storeu_si256((__m256i *)y[i].qs, q);
    }
}

/* ggml's Q8_K quantiser: max = the first value of largest magnitude, iscale = -127/max,
 * q = min(127, nearest-even(iscale * x)), d = 1/iscale, bsums over 16. */
void pd_act_q8_K_avx2(const float *x, void *vy, int64_t nb) {
    pd_block_q8_K *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        __m256 am = _mm256_setzero_ps();
        for (int j = 0; j < PD_QK_K; j += 8) am = _mm256_max_ps(am, abs8(_mm256_loadu_ps(x + j)));
        float amax = hmax8(am);
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0; /* the first x with |x| == amax (as the scalar loop: NaN compares unequal) */
        const __m256 av = _mm256_set1_ps(amax);
        for (int j = 0; j < PD_QK_K; j += 8) {
            int mk = _mm256_movemask_ps(_mm256_cmp_ps(abs8(_mm256_loadu_ps(x + j)), av, _CMP_EQ_OQ));
            if (mk) {
                max = x[j + __builtin_ctz((unsigned)mk)];
                break;
            }
        }
        float iscale = -127.f / max;
        __m256 is = _mm256_set1_ps(iscale);
        __m256i lim = _mm256_set1_epi32(127);
        const __m256i one8 = _mm256_set1_epi8(1), one16 = _mm256_set1_epi16(1);
        __m256i s4[8]; /* per 32 values: sums of 4 bytes, bytes 0-15 in the low half, 16-31 in the high */
        for (int j = 0; j < PD_QK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++)
                q[k] = _mm256_min_epi32(lim, _mm256_cvtps_epi32(_mm256_mul_ps(is, _mm256_loadu_ps(x + j + 8 * k))));
            __m256i b = pack_i32_i8(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), b);
            s4[j / 32] = _mm256_madd_epi16(_mm256_maddubs_epi16(one8, b), one16);
        }
        /* the 16-sums: two horizontal adds give [bsums 0 2 4 6 | 1 3 5 7] (and 8-15), packed to int16
         * (|sum| <= 16*127) and interleaved back into order */
        __m256i u = _mm256_hadd_epi32(_mm256_hadd_epi32(s4[0], s4[1]), _mm256_hadd_epi32(s4[2], s4[3]));
        __m256i v = _mm256_hadd_epi32(_mm256_hadd_epi32(s4[4], s4[5]), _mm256_hadd_epi32(s4[6], s4[7]));
        __m256i p = _mm256_packs_epi32(u, v); /* [0 2 4 6 8 10 12 14 | 1 3 5 7 9 11 13 15] */
        __m128i ev = _mm256_castsi256_si128(p), od = _mm256_extracti128_si256(p, 1);
        _mm_storeu_si128((__m128i *)y[i].bsums, _mm_unpacklo_epi16(ev, od));
        _mm_storeu_si128((__m128i *)(y[i].bsums + 8), _mm_unpackhi_epi16(ev, od));
        y[i].d = 1.f / iscale;
    }
}

/* ---------- attention ---------- */

static inline __attribute__((always_inline)) __m256 kv_ld(pd_type t, const void *row, int64_t d) {
    if (t == PD_TYPE_F16) return ld_f16((const uint16_t *)row + d);
    if (t == PD_TYPE_BF16) return ld_bf16((const uint16_t *)row + d);
    return _mm256_loadu_ps((const float *)row + d);
}
static inline __attribute__((always_inline)) float kv_ld1(pd_type t, const void *row, int64_t d) {
    if (t == PD_TYPE_F16) return h2f(((const uint16_t *)row)[d]);
    if (t == PD_TYPE_BF16) return pd_bf16_to_f32(((const uint16_t *)row)[d]);
    return ((const float *)row)[d];
}

#define ATT_CHUNK 64

/* Online softmax over chunks of ATT_CHUNK keys: scores four keys at a time, one rescale per
 * chunk, vector exp, then V accumulated 32 dims at a time in registers across the chunk.
 * One call advances one head's state (running max m, running sum l, unnormalised out). */
typedef struct { float m, l; } att_state;

static inline __attribute__((always_inline)) void attend_chunk_t(pd_type t, float *out, att_state *st, const float *q,
                                                                 const char *kb, const char *vb, size_t kstr,
                                                                 size_t vstr, int cnt, int64_t hd, float scale) {
    float sc[ATT_CHUNK] __attribute__((aligned(32)));
    int64_t hd8 = hd & ~(int64_t)7;
    int j = 0;
    for (; j + 4 <= cnt; j += 4) {
        const char *k0 = kb + (size_t)j * kstr, *k1 = k0 + kstr, *k2 = k1 + kstr, *k3 = k2 + kstr;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t d = 0; d < hd8; d += 8) {
            __m256 qv = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(qv, kv_ld(t, k0, d), a0);
            a1 = _mm256_fmadd_ps(qv, kv_ld(t, k1, d), a1);
            a2 = _mm256_fmadd_ps(qv, kv_ld(t, k2, d), a2);
            a3 = _mm256_fmadd_ps(qv, kv_ld(t, k3, d), a3);
        }
        __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(sc + j, s4);
        for (int64_t d = hd8; d < hd; d++) {
            sc[j] += q[d] * kv_ld1(t, k0, d);
            sc[j + 1] += q[d] * kv_ld1(t, k1, d);
            sc[j + 2] += q[d] * kv_ld1(t, k2, d);
            sc[j + 3] += q[d] * kv_ld1(t, k3, d);
        }
    }
    for (; j < cnt; j++) {
        const char *k0 = kb + (size_t)j * kstr;
        __m256 a0 = _mm256_setzero_ps();
        for (int64_t d = 0; d < hd8; d += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), kv_ld(t, k0, d), a0);
        float s = hsum8(a0);
        for (int64_t d = hd8; d < hd; d++) s += q[d] * kv_ld1(t, k0, d);
        sc[j] = s;
    }
    float cm = -INFINITY;
    for (j = 0; j < cnt; j++) {
        sc[j] *= scale;
        if (sc[j] > cm) cm = sc[j];
    }
    if (cm > st->m) {
        float c = st->m == -INFINITY ? 0.0f : expf(st->m - cm);
        for (int64_t d = 0; d < hd; d++) out[d] *= c;
        st->l *= c;
        st->m = cm;
    }
    __m256 mv = _mm256_set1_ps(st->m), lsum = _mm256_setzero_ps();
    for (j = 0; j + 8 <= cnt; j += 8) {
        __m256 p = pd_exp_le0_avx2(_mm256_sub_ps(_mm256_loadu_ps(sc + j), mv));
        _mm256_storeu_ps(sc + j, p);
        lsum = _mm256_add_ps(lsum, p);
    }
    st->l += hsum8(lsum);
    for (; j < cnt; j++) {
        sc[j] = expf(sc[j] - st->m);
        st->l += sc[j];
    }
    int64_t d0 = 0;
    for (; d0 + 32 <= hd; d0 += 32) {
        __m256 o0 = _mm256_loadu_ps(out + d0), o1 = _mm256_loadu_ps(out + d0 + 8);
        __m256 o2 = _mm256_loadu_ps(out + d0 + 16), o3 = _mm256_loadu_ps(out + d0 + 24);
        for (j = 0; j < cnt; j++) {
            const char *v = vb + (size_t)j * vstr;
            __m256 p = _mm256_broadcast_ss(sc + j);
            o0 = _mm256_fmadd_ps(p, kv_ld(t, v, d0), o0);
            o1 = _mm256_fmadd_ps(p, kv_ld(t, v, d0 + 8), o1);
            o2 = _mm256_fmadd_ps(p, kv_ld(t, v, d0 + 16), o2);
            o3 = _mm256_fmadd_ps(p, kv_ld(t, v, d0 + 24), o3);
        }
        _mm256_storeu_ps(out + d0, o0);
        _mm256_storeu_ps(out + d0 + 8, o1);
        _mm256_storeu_ps(out + d0 + 16, o2);
        _mm256_storeu_ps(out + d0 + 24, o3);
    }
    for (; d0 + 8 <= hd; d0 += 8) {
        __m256 o0 = _mm256_loadu_ps(out + d0);
        for (j = 0; j < cnt; j++) o0 = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + j), kv_ld(t, vb + (size_t)j * vstr, d0), o0);
        _mm256_storeu_ps(out + d0, o0);
    }
    for (; d0 < hd; d0++) {
        float o = out[d0];
        for (j = 0; j < cnt; j++) o += sc[j] * kv_ld1(t, vb + (size_t)j * vstr, d0);
        out[d0] = o;
    }
}

/* n_q query heads sharing one K/V head: each chunk of K/V rows is read from memory once and
 * reused (from cache) by every head. */
static inline __attribute__((always_inline)) void attend_avx2_t(pd_type t, float *out, int64_t out_stride,
                                                                const float *q, int64_t q_stride, int n_q,
                                                                const char *K, const char *V, size_t kstr,
                                                                size_t vstr, int64_t n_kv, int64_t hd, float scale) {
    for (int h0 = 0; h0 < n_q; h0 += 64) {
        int nh = n_q - h0 < 64 ? n_q - h0 : 64;
        att_state st[64];
        for (int h = 0; h < nh; h++) {
            st[h].m = -INFINITY;
            st[h].l = 0;
            float *o = out + (h0 + h) * out_stride;
            for (int64_t d = 0; d < hd; d++) o[d] = 0;
        }
        if (n_kv <= 0) continue;
        for (int64_t j0 = 0; j0 < n_kv; j0 += ATT_CHUNK) {
            int cnt = (int)(n_kv - j0 < ATT_CHUNK ? n_kv - j0 : ATT_CHUNK);
            for (int h = 0; h < nh; h++)
                attend_chunk_t(t, out + (h0 + h) * out_stride, &st[h], q + (h0 + h) * q_stride, K + (size_t)j0 * kstr,
                               V + (size_t)j0 * vstr, kstr, vstr, cnt, hd, scale);
        }
        for (int h = 0; h < nh; h++) {
            float inv = 1.0f / st[h].l, *o = out + (h0 + h) * out_stride;
            for (int64_t d = 0; d < hd; d++) o[d] *= inv;
        }
    }
}

void pd_attend_heads_avx2(float *out, int64_t out_stride, const float *q, int64_t q_stride, int n_q, const void *K,
                          const void *V, pd_type kv_type, int64_t k_stride, int64_t v_stride, int64_t n_kv,
                          int64_t head_dim, float scale) {
    size_t es = kv_type == PD_TYPE_F32 ? 4 : 2;
    size_t ks = (size_t)k_stride * es, vs = (size_t)v_stride * es;
    if (kv_type == PD_TYPE_F16)
        attend_avx2_t(PD_TYPE_F16, out, out_stride, q, q_stride, n_q, K, V, ks, vs, n_kv, head_dim, scale);
    else if (kv_type == PD_TYPE_BF16)
        attend_avx2_t(PD_TYPE_BF16, out, out_stride, q, q_stride, n_q, K, V, ks, vs, n_kv, head_dim, scale);
    else
        attend_avx2_t(PD_TYPE_F32, out, out_stride, q, q_stride, n_q, K, V, ks, vs, n_kv, head_dim, scale);
}

void pd_attend_head_avx2(float *out, const float *q, const void *K, const void *V, pd_type kv_type, int64_t k_stride,
                         int64_t v_stride, int64_t n_kv, int64_t head_dim, float scale) {
    pd_attend_heads_avx2(out, head_dim, q, head_dim, 1, K, V, kv_type, k_stride, v_stride, n_kv, head_dim, scale);
}

PD_TARGET_END

void pd_kern_table_avx2(pd_kern_table *t) {
    t->dot[PD_TYPE_F32] = dot_f32;
    t->dot[PD_TYPE_F16] = dot_f16;
    t->dot[PD_TYPE_BF16] = dot_bf16;
    t->dot[PD_TYPE_Q8_0] = dot_q8_0;
    t->dot[PD_TYPE_Q4_0] = dot_q4_0;
    t->dot[PD_TYPE_Q4_K] = dot_q4_K;
    t->dot[PD_TYPE_Q6_K] = dot_q6_K;
    t->tile[PD_TYPE_Q8_0] = tile_q8_0;
    t->tile[PD_TYPE_Q4_0] = tile_q4_0;
    t->tile[PD_TYPE_Q4_K] = tile_q4_K;
    t->tile[PD_TYPE_Q6_K] = tile_q6_K;
    for (int i = 0; i < PD_TYPE_COUNT; i++) {
        t->tile_nr[i] = 4;
        t->tile_mr[i] = 4;
    }
    t->tile_nr[PD_TYPE_Q8_0] = t->tile_nr[PD_TYPE_Q4_0] = QT_NR;
    t->tile_mr[PD_TYPE_Q8_0] = t->tile_mr[PD_TYPE_Q4_0] = QT_MR;
    pd_kern_table_avx2_more(t);
    t->dot[PD_TYPE_Q5_K] = dot_q5_K; /* Q5_K shares Q4_K's kernel */
    t->tile[PD_TYPE_Q5_K] = tile_q5_K;
    pd_kern_table_avx2_rows8(t);
}

#else /* not x86: no AVX2 kernels; the dispatcher never selects this level */
void pd_kern_table_avx2(pd_kern_table *t) { (void)t; }
#endif
