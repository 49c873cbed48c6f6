/* kern/sgemm_impl.h — internals of the built-in f32 GEMM shared by sgemm.c, sgemm_avx512.c and
 * test_sgemm.c (kern_impl.h has the accumulator-tile contract that gemm_bf16.c also uses). */
#ifndef PONDER_SGEMM_IMPL_H
#define PONDER_SGEMM_IMPL_H
#include "kern_impl.h"

/* A register loop that writes its tile into C itself (no accumulator round trip through memory):
 * acc = Σ_k pa[k][0..MR) ⊗ pb[k][0..NR) over kc packed k in panel order, from 0, one FMA per k; then
 * for the rows × cols valid part: first k block C = alpha·acc (beta 0: C not read) or
 * fma(beta, C, alpha·acc); later blocks C = C + alpha·acc. (The same operations, in the same order, as
 * sgemm.c's store of an accumulator tile.) */
typedef void (*pd_sgemm_c_fn)(int kc, const float *pa, const float *pb, float *C, int64_t ldc, int rows, int cols,
                              float alpha, float beta, int first);
/* sgemm_avx512.c: the 12 × 32 tile, AVX-512F */
void pd_sgemm_micro_avx512_c(int kc, const float *pa, const float *pb, float *C, int64_t ldc, int rows, int cols,
                             float alpha, float beta, int first);
/* dst[k·dst_stride + i] = src[i·ld + k] for i < nrows (≤ 16), k < kc: the packing of an operand whose
 * K runs along its rows (op(A) not transposed, op(B) transposed), 16 × 16 register transposes */
void pd_sgemm_pack_t_avx512(const float *src, int64_t ld, int nrows, int kc, float *dst, int dst_stride);
/* pd_sgemm_blocked over a C-writing register loop (mr × nr), with the blocking chosen for it */
void pd_sgemm_blocked_c(pd_sgemm_c_fn cf, int mr, int nr, int nt, int trans_a, int trans_b, int64_t M, int64_t N,
                        int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc);
#endif
