/* kern/gemm_bf16_impl.h — private to gemm_bf16.c and gemm_bf16_avx512.c: the BF16-pair panel
 * layout of the AVX512-BF16 path and its micro-kernel, so that tests/kern/test_gemm_bf16_emu.c can
 * run the same driver with scalar stand-ins for the intrinsics on CPUs without avx512_bf16. */
#ifndef PD_GEMM_BF16_IMPL_H
#define PD_GEMM_BF16_IMPL_H
#include <stdint.h>

/* Pair panels: the K block in pairs p = (k, k+1), k even; a 32-bit word holds a pair, element k in
 * the low half (VDPBF16PS's "bf16[2j]"), element k+1 in the high half. A panel: [np][PD_BF16P_MR]
 * words (one per row); B panel: [np][PD_BF16P_NR] words (one per column). */
#define PD_BF16P_MR 6
#define PD_BF16P_NR 32
/* acc[PD_BF16P_MR][PD_BF16P_NR] = the pair sums of np pairs from acc = +0 (the definition's block) */
typedef void (*pd_bf16p_micro_fn)(int np, const uint32_t *pa, const uint32_t *pb, float *acc);
void pd_gemm_bf16_micro_avx512bf16(int np, const uint32_t *pa, const uint32_t *pb, float *acc);
/* y[0..n) = pd_bf16_round(x[0..n)) by vcvtneps2bf16 (AVX512-BF16 CPUs only; gemm_bf16_avx512.c) */
void pd_bf16_round_run_avx512bf16(const float *x, uint16_t *y, int n);
/* the whole GEMM (pd_gemm_bf16's contract) on pair panels with the given micro-kernel */
void pd_gemm_bf16_pairs(pd_bf16p_micro_fn micro, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                        const uint16_t *Ab, int64_t lda, const float *B, const uint16_t *Bb, int64_t ldb, float beta,
                        float *C, int64_t ldc);

#endif
