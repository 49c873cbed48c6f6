/* kern/sgemm_avx512.c — the AVX-512 register loops of pd_sgemm's built-in kernel: a 12 × 32 tile of
 * F32 accumulators (24 zmm) fed by two 16-wide B vectors and one broadcast per row and k (27 of the
 * 32 registers, nothing spills). sgemm.c packs the panels (A in 12-row, B in 32-column panels).
 * Two forms: _c writes the tile into C itself (alpha, beta, masked for edge tiles; what pd_sgemm
 * runs), _acc stores the accumulators for sgemm.c's generic store (kept as the reference form). Used only where the CPU has AVX-512F (pd_isa_active() == PD_ISA_AVX512); tested on
 * any CPU by compiling this file with the scalar stand-ins of tests/kern/avx512_emu.h
 * (PD_AVX512_EMULATE, test_sgemm). */
#include "kern_impl.h"
#if PD_X86 || defined(PD_AVX512_EMULATE)
#ifndef PD_AVX512_EMULATE
#include <immintrin.h>
PD_TARGET_AVX512_BEGIN
#define ST512(p, v) _mm512_storeu_ps((p), (v))
#define MST512(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define PREFETCH_C(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#include <string.h>
#define ST512(p, v) memcpy((p), &(v), 64) /* the stand-ins have no store */
static inline void emu_mask_store(float *p, __mmask16 m, emu_v512 v) {
    float f[16];
    memcpy(f, &v, 64);
    for (int i = 0; i < 16; i++)
        if (m >> i & 1) p[i] = f[i];
}
#define MST512(p, m, v) emu_mask_store((p), (m), (v))
#define PREFETCH_C(p) (void)(p)
#endif
#include "sgemm_impl.h"

/* acc[MR][NR] = Σ_k pa[k][0..MR) ⊗ pb[k][0..NR) over kc packed k in panel order, from 0, one FMA per k */
void pd_sgemm_micro_avx512_acc(int kc, const float *pa, const float *pb, float *acc) {
    __m512 c[PD_SGEMM512_MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < PD_SGEMM512_MR; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, pa += PD_SGEMM512_MR, pb += PD_SGEMM512_NR) {
        __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
        /* unrolled: 12 broadcasts, 24 FMAs per k, the accumulators stay in registers */
#pragma GCC unroll 12
        for (int r = 0; r < PD_SGEMM512_MR; r++) {
            __m512 a = _mm512_set1_ps(pa[r]);
            c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]);
        }
    }
#pragma GCC unroll 12
    for (int r = 0; r < PD_SGEMM512_MR; r++) {
        ST512(acc + r * PD_SGEMM512_NR, c[r][0]);
        ST512(acc + r * PD_SGEMM512_NR + 16, c[r][1]);
    }
}

/* one row of the tile into C: v = alpha·acc; first: v or fma(beta, C, v); later: C + v */
static inline void row_to_c(float *o, __m512 a0, __m512 a1, __mmask16 m0, __mmask16 m1, __m512 va, __m512 vb,
                            int mode) {
    __m512 v0 = _mm512_mul_ps(va, a0), v1 = _mm512_mul_ps(va, a1);
    if (mode == 1) {
        v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, o), v0);
        v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, o + 16), v1);
    } else if (mode == 2) {
        v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, o), v0);
        v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, o + 16), v1);
    }
    MST512(o, m0, v0);
    MST512(o + 16, m1, v1);
}

void pd_sgemm_micro_avx512_c(int kc, const float *pa, const float *pb, float *C, int64_t ldc, int rows, int cols,
                             float alpha, float beta, int first) {
    __m512 c[PD_SGEMM512_MR][2];
    /* C's lines are wanted at the end: ask for them now (the loop below takes hundreds of cycles) */
    for (int r = 0; r < rows; r++) {
        PREFETCH_C(C + r * ldc);
        PREFETCH_C(C + r * ldc + 31);
    }
#pragma GCC unroll 12
    for (int r = 0; r < PD_SGEMM512_MR; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, pa += PD_SGEMM512_MR, pb += PD_SGEMM512_NR) {
        __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
#pragma GCC unroll 12
        for (int r = 0; r < PD_SGEMM512_MR; r++) {
            __m512 a = _mm512_set1_ps(pa[r]);
            c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]);
        }
    }
    __mmask16 m0 = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
    __mmask16 m1 = cols >= 32 ? (__mmask16)0xffff : cols <= 16 ? (__mmask16)0 : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    int mode = !first ? 2 : beta != 0.0f ? 1 : 0;
#pragma GCC unroll 12
    for (int r = 0; r < PD_SGEMM512_MR; r++)
        if (r < rows) row_to_c(C + r * ldc, c[r][0], c[r][1], m0, m1, va, vb, mode);
}

#ifndef PD_AVX512_EMULATE
/* 16 × 16 transpose in registers: r[i] lane j → r[j] lane i */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    /* r[4q + s] holds, in each 128-bit lane L, elements (rows 4q..4q+3, column 4L + s) */
#pragma GCC unroll 2
    for (int q = 0; q < 4; q += 2)
#pragma GCC unroll 4
        for (int s = 0; s < 4; s++) {
            t[4 * q + s] = _mm512_shuffle_f32x4(r[4 * q + s], r[4 * q + 4 + s], 0x88);     /* lanes 0,2 | 0,2 */
            t[4 * q + 4 + s] = _mm512_shuffle_f32x4(r[4 * q + s], r[4 * q + 4 + s], 0xdd); /* lanes 1,3 | 1,3 */
        }
#pragma GCC unroll 4
    for (int s = 0; s < 4; s++) {
        r[s] = _mm512_shuffle_f32x4(t[s], t[8 + s], 0x88);
        r[8 + s] = _mm512_shuffle_f32x4(t[s], t[8 + s], 0xdd);
        r[4 + s] = _mm512_shuffle_f32x4(t[4 + s], t[12 + s], 0x88);
        r[12 + s] = _mm512_shuffle_f32x4(t[4 + s], t[12 + s], 0xdd);
    }
}

/* nrows a constant in each instantiation: the 16 rows live in registers, unrolled */
static inline __attribute__((always_inline)) void pack_t_n(const float *src, int64_t ld, const int nrows, int kc,
                                                            float *dst, int dst_stride) {
    __mmask16 m = (__mmask16)((1u << nrows) - 1);
    int k = 0;
    for (; k + 16 <= kc; k += 16) {
        __m512 r[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) r[i] = i < nrows ? _mm512_loadu_ps(src + i * ld + k) : _mm512_setzero_ps();
        transpose16(r);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) _mm512_mask_storeu_ps(dst + (int64_t)(k + j) * dst_stride, m, r[j]);
    }
    for (; k < kc; k++)
        for (int i = 0; i < nrows; i++) dst[(int64_t)k * dst_stride + i] = src[i * ld + k];
}

void pd_sgemm_pack_t_avx512(const float *src, int64_t ld, int nrows, int kc, float *dst, int dst_stride) {
    if (nrows == 12) pack_t_n(src, ld, 12, kc, dst, dst_stride);
    else if (nrows == 16) pack_t_n(src, ld, 16, kc, dst, dst_stride);
    else
        for (int k = 0; k < kc; k++)
            for (int i = 0; i < nrows; i++) dst[(int64_t)k * dst_stride + i] = src[i * ld + k];
}

PD_TARGET_END
#endif
#endif
