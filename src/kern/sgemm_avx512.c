/* kern/sgemm_avx512.c — the AVX-512 register loop of pd_sgemm's built-in kernel: a 12 × 32 tile of
 * F32 accumulators (24 zmm) fed by two 16-wide B vectors and one broadcast per row and k (27 of the
 * 32 registers, nothing spills). sgemm.c packs the panels (A in 12-row, B in 32-column panels) and
 * stores the tile. Used only where the CPU has AVX-512F (pd_isa_active() == PD_ISA_AVX512); tested on
 * any CPU by compiling this file with the scalar stand-ins of tests/kern/avx512_emu.h
 * (PD_AVX512_EMULATE, test_sgemm). */
#include "kern_impl.h"
#if PD_X86 || defined(PD_AVX512_EMULATE)
#ifndef PD_AVX512_EMULATE
#include <immintrin.h>
PD_TARGET_AVX512_BEGIN
#define ST512(p, v) _mm512_storeu_ps((p), (v))
#else
#include <string.h>
#define ST512(p, v) memcpy((p), &(v), 64) /* the stand-ins have no store */
#endif

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

#ifndef PD_AVX512_EMULATE
PD_TARGET_END
#endif
#endif
