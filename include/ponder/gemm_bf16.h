/* ponder/gemm_bf16.h — the BF16 GEMM of mixed-precision training (`ponder train --precision bf16`):
 * both operands rounded to BF16, products summed in F32, on three paths that give the same bits
 * (a scalar twin that defines the result, AVX2 through F32 panels, AVX512-BF16's vdpbf16ps). */
#ifndef PONDER_GEMM_BF16_H
#define PONDER_GEMM_BF16_H
#include <stdbool.h>
#include <stdint.h>
#include "ponder/error.h"

/* F32 -> BF16 as vcvtneps2bf16 does it: round to nearest, ties to even; NaN stays NaN (made quiet,
 * payload's top bits kept); ±inf kept; subnormal inputs become ±0 (the instruction's DAZ), and a
 * normal input never rounds to a subnormal (the exponent field only grows). */
uint16_t pd_bf16_round(float f);
/* y[i] = pd_bf16_round(x[i]) for i < n (OpenMP over chunks when n is large) */
void pd_bf16_round_n(const float *x, uint16_t *y, int64_t n);

/* C[M][N] = beta·C + op(A)·op(B) with every element of op(A) and op(B) rounded to BF16, row-major;
 * op(A) = A[M][K] (ta = 0) or A stored [K][M] (ta = 1); op(B) = B[K][N] (tb = 0) or B stored [N][K]
 * (tb = 1). Each operand is given as F32 (A, rounded here with pd_bf16_round as it is packed) or as
 * BF16 bits already rounded (Ab; when non-NULL it is used and A is ignored, same indexing).
 * beta = 0 overwrites C without reading it.
 *
 * The result, exactly (what pd_gemm_bf16_ref computes and every path reproduces bit for bit):
 * K is cut into blocks of PD_GEMM_BF16_KC (even) and each block into pairs (k, k+1), k even; a block
 * whose length is odd gets a zero pair partner. Per block, acc starts at +0 and for each pair takes
 *     acc = fma(a[k+1], b[k+1], acc);  acc = fma(a[k], b[k], acc)
 * — Intel's VDPBF16PS per lane (the odd element of the pair first) — every fma in F32 with
 * round-to-nearest-even, DAZ on its inputs and FTZ on its result (a result below FLT_MIN in magnitude
 * becomes a zero of its sign), as that instruction does regardless of MXCSR. A BF16×BF16 product is
 * exact in F32 (8-bit significands), so fused or not only matters at the range ends. The blocks then
 * go into C in order: first C = acc (beta = 0) or ftz(ftz(beta·C) + acc) (beta = 1: ftz(C + acc)),
 * then C = ftz(C + acc) for each further block (C's input DAZ as well). K = 0: one block with acc = 0.
 * Threads: pd_threads_get() (one when called inside an OpenMP parallel region). */
#define PD_GEMM_BF16_KC 256
void pd_gemm_bf16(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, const uint16_t *Ab, int64_t lda,
                  const float *B, const uint16_t *Bb, int64_t ldb, float beta, float *C, int64_t ldc);

/* the paths: the scalar twin (the definition above, plain loops), F32 panels + the AVX2 FMA
 * micro-kernel under MXCSR FTZ+DAZ, BF16 pair panels + _mm512_dpbf16_ps */
typedef enum { PD_GEMM_BF16_SCALAR = 0, PD_GEMM_BF16_AVX2 = 1, PD_GEMM_BF16_AVX512BF16 = 2 } pd_gemm_bf16_path;
void pd_gemm_bf16_ref(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, const uint16_t *Ab,
                      int64_t lda, const float *B, const uint16_t *Bb, int64_t ldb, float beta, float *C, int64_t ldc);
/* one path by name (tests): PD_ERR_UNSUPPORTED when this CPU cannot run it (nothing written) */
pd_status pd_gemm_bf16_on(pd_gemm_bf16_path path, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                          const uint16_t *Ab, int64_t lda, const float *B, const uint16_t *Bb, int64_t ldb, float beta,
                          float *C, int64_t ldc);
/* the path pd_gemm_bf16 takes here: AVX512-BF16 when the CPU has avx512_bf16 and the AVX-512 kernels
 * are active (pd_isa_active), else AVX2 when active, else scalar */
pd_gemm_bf16_path pd_gemm_bf16_best(void);
const char *pd_gemm_bf16_path_name(pd_gemm_bf16_path p);

#endif
