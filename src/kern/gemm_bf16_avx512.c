/* kern/gemm_bf16_avx512.c — the AVX512-BF16 micro-kernel of pd_gemm_bf16: a 6 × 32 tile of F32
 * accumulators fed by _mm512_dpbf16_ps (vdpbf16ps) over BF16 pair panels (gemm_bf16_impl.h).
 * Used only when the CPU has avx512_bf16 (pd_gemm_bf16_best); tested on any CPU by compiling this
 * file with the scalar stand-ins of tests/kern/avx512bf16_emu.h (PD_AVX512_EMULATE). */
#include "kern_impl.h"
#include "gemm_bf16_impl.h"
#include "ponder/gemm_bf16.h"
#if PD_X86 || defined(PD_AVX512_EMULATE)
#ifndef PD_AVX512_EMULATE
#include <immintrin.h>
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16")
#endif
#define PD_BH(x) ((__m512bh)(x))
#else
#define PD_BH(x) (x) /* the stand-ins have one vector type */
#endif

void pd_gemm_bf16_micro_avx512bf16(int np, const uint32_t *pa, const uint32_t *pb, float *acc) {
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    for (int p = 0; p < np; p++, pa += PD_BF16P_MR, pb += PD_BF16P_NR) {
        __m512bh b0 = PD_BH(_mm512_loadu_si512(pb)), b1 = PD_BH(_mm512_loadu_si512(pb + 16)), a;
        a = PD_BH(_mm512_set1_epi32((int)pa[0])); c00 = _mm512_dpbf16_ps(c00, a, b0); c01 = _mm512_dpbf16_ps(c01, a, b1);
        a = PD_BH(_mm512_set1_epi32((int)pa[1])); c10 = _mm512_dpbf16_ps(c10, a, b0); c11 = _mm512_dpbf16_ps(c11, a, b1);
        a = PD_BH(_mm512_set1_epi32((int)pa[2])); c20 = _mm512_dpbf16_ps(c20, a, b0); c21 = _mm512_dpbf16_ps(c21, a, b1);
        a = PD_BH(_mm512_set1_epi32((int)pa[3])); c30 = _mm512_dpbf16_ps(c30, a, b0); c31 = _mm512_dpbf16_ps(c31, a, b1);
        a = PD_BH(_mm512_set1_epi32((int)pa[4])); c40 = _mm512_dpbf16_ps(c40, a, b0); c41 = _mm512_dpbf16_ps(c41, a, b1);
        a = PD_BH(_mm512_set1_epi32((int)pa[5])); c50 = _mm512_dpbf16_ps(c50, a, b0); c51 = _mm512_dpbf16_ps(c51, a, b1);
    }
    _mm512_storeu_ps(acc + 0, c00); _mm512_storeu_ps(acc + 16, c01);
    _mm512_storeu_ps(acc + 32, c10); _mm512_storeu_ps(acc + 48, c11);
    _mm512_storeu_ps(acc + 64, c20); _mm512_storeu_ps(acc + 80, c21);
    _mm512_storeu_ps(acc + 96, c30); _mm512_storeu_ps(acc + 112, c31);
    _mm512_storeu_ps(acc + 128, c40); _mm512_storeu_ps(acc + 144, c41);
    _mm512_storeu_ps(acc + 160, c50); _mm512_storeu_ps(acc + 176, c51);
}

#ifndef PD_AVX512_EMULATE
/* y[i] = pd_bf16_round(x[i]): vcvtneps2bf16 rounds exactly as the definition (RNE, subnormal inputs to
 * ±0, NaN quiet) */
void pd_bf16_round_run_avx512bf16(const float *x, uint16_t *y, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = pd_bf16_round(x[i]);
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
#endif
