/* kern/sgemm.c — f32 GEMM for training. pd_sgemm uses OpenBLAS's cblas_sgemm when the build
 * found it; pd_sgemm_builtin is our own blocked kernel (BLIS-style: B packed in 16-wide panels,
 * A in 6-high panels, a 6x16 AVX2+FMA register micro-kernel, scalar twin without AVX2). */
#include "kern_impl.h"
#include "ponder/alloc.h"
#include "ponder/threads.h"
#if PD_X86
#include <immintrin.h>
#endif
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#ifdef PD_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define MR PD_SGEMM_MR
#define NR PD_SGEMM_NR
#define KC 256
#define MC 96
#define NC 512

/* element (i, k) of op(A) and (k, j) of op(B) */
static inline float a_at(int ta, const float *A, int64_t lda, int64_t i, int64_t k) {
    return ta ? A[k * lda + i] : A[i * lda + k];
}
static inline float b_at(int tb, const float *B, int64_t ldb, int64_t k, int64_t j) {
    return tb ? B[j * ldb + k] : B[k * ldb + j];
}

/* Pack op(A)[i0:i0+mc, k0:k0+kc] as panels of MR rows: p[(panel*kc + k)*MR + r], zero-padded. */
static void pack_a(int ta, const float *A, int64_t lda, int64_t i0, int mc, int64_t k0, int kc, float *p) {
    for (int ip = 0; ip < mc; ip += MR) {
        int rows = mc - ip < MR ? mc - ip : MR;
        for (int k = 0; k < kc; k++) {
            for (int r = 0; r < rows; r++) p[k * MR + r] = a_at(ta, A, lda, i0 + ip + r, k0 + k);
            for (int r = rows; r < MR; r++) p[k * MR + r] = 0;
        }
        p += (size_t)kc * MR;
    }
}

/* Pack op(B)[k0:k0+kc, j0:j0+nc] as panels of NR columns: p[(panel*kc + k)*NR + c]. */
static void pack_b(int tb, const float *B, int64_t ldb, int64_t k0, int kc, int64_t j0, int nc, float *p) {
    for (int jp = 0; jp < nc; jp += NR) {
        int cols = nc - jp < NR ? nc - jp : NR;
        float *q = p + (size_t)(jp / NR) * kc * NR;
        if (!tb && cols == NR) {
            for (int k = 0; k < kc; k++) memcpy(q + k * NR, B + (k0 + k) * ldb + j0 + jp, NR * sizeof(float));
        } else {
            for (int k = 0; k < kc; k++) {
                for (int c = 0; c < cols; c++) q[k * NR + c] = b_at(tb, B, ldb, k0 + k, j0 + jp + c);
                for (int c = cols; c < NR; c++) q[k * NR + c] = 0;
            }
        }
    }
}

/* Store a MR x NR accumulator tile into C (rows x cols valid), applying alpha / beta. */
static inline void store_tile(const float *acc, float *C, int64_t ldc, int rows, int cols, float alpha, float beta,
                              int first) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float v = alpha * acc[r * NR + c];
            float *o = &C[r * ldc + c];
            if (!first) *o += v;
            else if (beta == 0.0f) *o = v;
            else *o = beta * *o + v;
        }
}

static void micro_scalar(int kc, const float *pa, const float *pb, float *C, int64_t ldc, int rows, int cols,
                         float alpha, float beta, int first) {
    float acc[MR * NR] = {0};
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++) acc[r * NR + c] += pa[k * MR + r] * pb[k * NR + c];
    store_tile(acc, C, ldc, rows, cols, alpha, beta, first);
}

#if PD_X86
/* The register loop alone (12 accumulators + 2 B vectors + 1 broadcast = 15 registers; alpha and
 * beta stay out of it so nothing spills), then the store. Also gemm_bf16.c's AVX2 micro-kernel
 * (kern_impl.h: pd_sgemm_micro_avx2_acc, MR × NR = PD_SGEMM_MR × PD_SGEMM_NR, k in panel order). */
__attribute__((target("avx2,fma"), noinline)) void pd_sgemm_micro_avx2_acc(int kc, const float *pa, const float *pb,
                                                                          float *acc) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++, pa += MR, pb += NR) {
        __m256 b0 = _mm256_loadu_ps(pb), b1 = _mm256_loadu_ps(pb + 8), a;
        a = _mm256_broadcast_ss(pa + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(pa + 1); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(pa + 2); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(pa + 3); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(pa + 4); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(pa + 5); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    _mm256_storeu_ps(acc + 0, c00); _mm256_storeu_ps(acc + 8, c01);
    _mm256_storeu_ps(acc + 16, c10); _mm256_storeu_ps(acc + 24, c11);
    _mm256_storeu_ps(acc + 32, c20); _mm256_storeu_ps(acc + 40, c21);
    _mm256_storeu_ps(acc + 48, c30); _mm256_storeu_ps(acc + 56, c31);
    _mm256_storeu_ps(acc + 64, c40); _mm256_storeu_ps(acc + 72, c41);
    _mm256_storeu_ps(acc + 80, c50); _mm256_storeu_ps(acc + 88, c51);
}

__attribute__((target("avx2,fma"))) static void micro_avx2(int kc, const float *pa, const float *pb, float *C,
                                                           int64_t ldc, int rows, int cols, float alpha, float beta,
                                                           int first) {
    float acc[MR * NR];
    pd_sgemm_micro_avx2_acc(kc, pa, pb, acc);
    if (rows == MR && cols == NR) {
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
        for (int r = 0; r < MR; r++)
            for (int h = 0; h < 2; h++) {
                float *o = C + r * ldc + 8 * h;
                __m256 v = _mm256_mul_ps(va, _mm256_loadu_ps(acc + r * NR + 8 * h));
                if (!first) v = _mm256_add_ps(_mm256_loadu_ps(o), v);
                else if (beta != 0.0f) v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(o), v);
                _mm256_storeu_ps(o, v);
            }
        return;
    }
    store_tile(acc, C, ldc, rows, cols, alpha, beta, first);
}

#endif

typedef void (*micro_fn)(int, const float *, const float *, float *, int64_t, int, int, float, float, int);

static void sgemm_blocked(micro_fn micro, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { /* C = beta * C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    float *pb = pd_aligned_alloc(64, (size_t)KC * NC * sizeof(float));
    int nt = pd_threads_get();
    if ((double)M * N * K < 1e6) nt = 1;
    float **pas = calloc((size_t)nt, sizeof(float *));
    int ok = pb && pas;
    for (int t = 0; ok && t < nt; t++) ok = (pas[t] = pd_aligned_alloc(64, (size_t)KC * MC * sizeof(float))) != NULL;
    if (!ok) { /* out of memory: fall back to a plain loop (slow but correct) */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += (double)a_at(ta, A, lda, i, k) * b_at(tb, B, ldb, k, j);
                C[i * ldc + j] = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j]));
            }
        goto done;
    }
    for (int64_t jc = 0; jc < N; jc += NC) {
        int nc = (int)(N - jc < NC ? N - jc : NC);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int kc = (int)(K - pc < KC ? K - pc : KC);
            int first = pc == 0;
            pack_b(tb, B, ldb, pc, kc, jc, nc, pb);
            int64_t n_ic = (M + MC - 1) / MC;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
            for (int64_t ib = 0; ib < n_ic; ib++) {
                int64_t ic = ib * MC;
                int mc = (int)(M - ic < MC ? M - ic : MC);
                float *pa = pas[omp_get_thread_num()];
                pack_a(ta, A, lda, ic, mc, pc, kc, pa);
                for (int jr = 0; jr < nc; jr += NR)
                    for (int ir = 0; ir < mc; ir += MR)
                        micro(kc, pa + (size_t)(ir / MR) * kc * MR, pb + (size_t)(jr / NR) * kc * NR,
                              C + (ic + ir) * ldc + jc + jr, ldc, mc - ir < MR ? mc - ir : MR,
                              nc - jr < NR ? nc - jr : NR, alpha, beta, first);
            }
        }
    }
done:
    if (pas)
        for (int t = 0; t < nt; t++) pd_aligned_free(pas[t]);
    free(pas);
    pd_aligned_free(pb);
}

void pd_sgemm_builtin(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    micro_fn micro = micro_scalar;
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) micro = micro_avx2;
#endif
    sgemm_blocked(micro, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#ifdef PD_HAVE_OPENBLAS
/* One thread pool (DESIGN.md): OpenBLAS is kept single-threaded and our OpenMP pool splits C into
 * slabs — rows of C when M is large enough, else columns — each computed by one cblas_sgemm call.
 * A second, spinning OpenBLAS worker pool next to OpenMP's made 2-thread runs slower than 1. */
static void blas_slab(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}
#endif

void pd_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
#ifdef PD_HAVE_OPENBLAS
    static _Atomic int blas_single = 0;
    if (!blas_single) {
        openblas_set_num_threads(1);
        blas_single = 1;
    }
    if (M > 0 && N > 0 && K > 0 && M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX && lda <= INT32_MAX &&
        ldb <= INT32_MAX && ldc <= INT32_MAX) {
        int nt = pd_threads_get();
        double flops = 2.0 * (double)M * (double)N * (double)K;
        if (nt <= 1 || flops < 2e6 || omp_in_parallel()) {
            blas_slab(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
            return;
        }
        int by_rows = M >= N || M >= 16 * (int64_t)nt;
        int64_t dim = by_rows ? M : N, align = by_rows ? MR : NR;
        int64_t chunk = (dim + nt - 1) / nt;
        chunk = (chunk + align - 1) / align * align;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
        for (int t = 0; t < nt; t++) {
            int64_t lo = (int64_t)t * chunk, hi = lo + chunk < dim ? lo + chunk : dim;
            if (lo >= hi) continue;
            if (by_rows) {
                const float *a = trans_a ? A + lo : A + lo * lda;
                blas_slab(trans_a, trans_b, hi - lo, N, K, alpha, a, lda, B, ldb, beta, C + lo * ldc, ldc);
            } else {
                const float *b = trans_b ? B + lo * ldb : B + lo;
                blas_slab(trans_a, trans_b, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
            }
        }
        return;
    }
#endif
    pd_sgemm_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
