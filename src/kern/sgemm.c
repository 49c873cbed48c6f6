/* kern/sgemm.c — f32 GEMM for training. Two engines: OpenBLAS's cblas_sgemm when the build found
 * it, and our own blocked kernel, pd_sgemm_builtin (BLIS-style: B packed in NR-wide panels, A in
 * MR-high panels, a register micro-kernel: 12 × 32 AVX-512 (sgemm_avx512.c) where the CPU has it,
 * 6 × 16 AVX2+FMA, or a scalar twin). pd_sgemm chooses between them per shape class (transposes ×
 * small/large) by a one-time measurement at the first call (PONDER_SGEMM=blas|builtin pins one),
 * and sizes its threads by the work (pd_sgemm_threads_for). */
#include "kern_impl.h"
#include "ponder/alloc.h"
#include "ponder/threads.h"
#if PD_X86
#include <immintrin.h>
#endif
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef PD_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define MR PD_SGEMM_MR
#define NR PD_SGEMM_NR
#define KC 256
#define MC 96  /* a multiple of both micro-kernels' MR (6, 12) */
#define NC 512 /* a multiple of both NR (16, 32) */
#define MAX_TILE (PD_SGEMM512_MR * PD_SGEMM512_NR)
/* threads: each gets at least this much work (pd_sgemm_threads_for) */
#define PD_SGEMM_FLOPS_PER_THREAD 2e6
/* engine classes: a product of at least this many flops is "large" (linear layers), else "small"
 * (attention blocks); the probe's repetitions and the margin the built-in kernel must win by */
#define PD_SGEMM_LARGE_FLOPS 8e6
#define PD_SGEMM_PROBE_REPS 3
#define PD_SGEMM_MARGIN 1.15

/* element (i, k) of op(A) and (k, j) of op(B) */
static inline float a_at(int ta, const float *A, int64_t lda, int64_t i, int64_t k) {
    return ta ? A[k * lda + i] : A[i * lda + k];
}
static inline float b_at(int tb, const float *B, int64_t ldb, int64_t k, int64_t j) {
    return tb ? B[j * ldb + k] : B[k * ldb + j];
}

/* n floats (n the micro-kernel's MR or NR: a constant-size copy, no memcpy call) */
static inline void copy_row(float *d, const float *s, int n) {
    switch (n) {
    case 6: memcpy(d, s, 6 * sizeof(float)); break;
    case 12: memcpy(d, s, 12 * sizeof(float)); break;
    case 16: memcpy(d, s, 16 * sizeof(float)); break;
    case 32: memcpy(d, s, 32 * sizeof(float)); break;
    default: memcpy(d, s, (size_t)n * sizeof(float));
    }
}

/* Pack op(A)[i0:i0+mc, k0:k0+kc] as panels of mr rows: p[(panel*kc + k)*mr + r], zero-padded. */
static void pack_a(int ta, const float *A, int64_t lda, int64_t i0, int mc, int64_t k0, int kc, int mr, float *p) {
    for (int ip = 0; ip < mc; ip += mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
        if (ta && rows == mr) { /* op(A)'s column k is contiguous: mr floats per k */
            for (int k = 0; k < kc; k++) copy_row(p + k * mr, A + (k0 + k) * lda + i0 + ip, mr);
        } else {
            for (int k = 0; k < kc; k++) {
                for (int r = 0; r < rows; r++)
                    p[k * mr + r] = ta ? A[(k0 + k) * lda + i0 + ip + r] : A[(i0 + ip + r) * lda + k0 + k];
                for (int r = rows; r < mr; r++) p[k * mr + r] = 0;
            }
        }
        p += (size_t)kc * mr;
    }
}

/* Pack panel jp/nr of op(B)[k0:k0+kc, j0:j0+nc] as q[k*nr + c], zero-padded. */
static void pack_b_panel(int tb, const float *B, int64_t ldb, int64_t k0, int kc, int64_t j0, int nc, int nr, int jp,
                         float *q) {
    int cols = nc - jp < nr ? nc - jp : nr;
    if (!tb && cols == nr) {
        for (int k = 0; k < kc; k++) copy_row(q + k * nr, B + (k0 + k) * ldb + j0 + jp, nr);
    } else {
        for (int k = 0; k < kc; k++) {
            for (int c = 0; c < cols; c++) q[k * nr + c] = tb ? B[(j0 + jp + c) * ldb + k0 + k] : B[(k0 + k) * ldb + j0 + jp + c];
            for (int c = cols; c < nr; c++) q[k * nr + c] = 0;
        }
    }
}

/* Add an mr × nr accumulator tile into C (rows × cols valid): first k block C = alpha·acc + beta·C
 * (beta 0: C is not read), later blocks C += alpha·acc. */
static void store_tile(const float *acc, int nr, float *C, int64_t ldc, int rows, int cols, float alpha, float beta,
                       int first) {
    for (int r = 0; r < rows; r++) {
        const float *a = acc + r * nr;
        float *o = C + r * ldc;
        if (!first) {
#pragma omp simd
            for (int c = 0; c < cols; c++) o[c] += alpha * a[c];
        } else if (beta == 0.0f) {
#pragma omp simd
            for (int c = 0; c < cols; c++) o[c] = alpha * a[c];
        } else {
#pragma omp simd
            for (int c = 0; c < cols; c++) o[c] = beta * o[c] + alpha * a[c];
        }
    }
}

#if PD_X86
/* store_tile for a full tile whose width is a multiple of 8, 8 lanes at a time */
__attribute__((target("avx2,fma"))) static void store_tile_avx2(const float *acc, int nr, float *C, int64_t ldc, int rows,
                                                                float alpha, float beta, int first) {
    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < nr; c += 8) {
            float *o = C + r * ldc + c;
            __m256 v = _mm256_mul_ps(va, _mm256_loadu_ps(acc + r * nr + c));
            if (!first) v = _mm256_add_ps(_mm256_loadu_ps(o), v);
            else if (beta != 0.0f) v = _mm256_fmadd_ps(vb, _mm256_loadu_ps(o), v);
            _mm256_storeu_ps(o, v);
        }
}
#endif

/* the scalar twin of the register loops (6 × 16) */
static void micro_scalar_acc(int kc, const float *pa, const float *pb, float *acc) {
    for (int i = 0; i < MR * NR; i++) acc[i] = 0;
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++) acc[r * NR + c] += pa[k * MR + r] * pb[k * NR + c];
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
#endif

/* Packing buffers, kept per thread (the attention calls GEMMs from inside its parallel loop, many
 * small ones: no allocation per call). Fixed sizes, so one allocation each per thread, freed when the
 * thread exits (a pthread key's destructor; the main thread's stay reachable until exit). */
static _Thread_local float *tl_pa, *tl_pb;
static pthread_key_t tl_key;
static pthread_once_t tl_key_once = PTHREAD_ONCE_INIT;
static void tl_free(void *unused) {
    (void)unused;
    pd_aligned_free(tl_pa);
    pd_aligned_free(tl_pb);
    tl_pa = tl_pb = NULL;
}
static void tl_key_make(void) {
    if (pthread_key_create(&tl_key, tl_free)) tl_key = (pthread_key_t)-1;
}
static float *tl_buf(float **slot, size_t floats) {
    if (!*slot) {
        pthread_once(&tl_key_once, tl_key_make);
        *slot = pd_aligned_alloc(64, floats * sizeof(float));
        if (*slot && tl_key != (pthread_key_t)-1) pthread_setspecific(tl_key, (void *)1);
    }
    return *slot;
}

/* C = alpha·op(A)·op(B) + beta·C by plain loops in double (out of memory only) */
static void gemm_plain(int ta, int tb, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t K, float alpha,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = j0; j < j1; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)a_at(ta, A, lda, i, k) * b_at(tb, B, ldb, k, j);
            C[i * ldc + j] = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j]));
        }
}

void pd_sgemm_blocked(pd_sgemm_acc_fn accf, int mr, int nr, int nt, int ta, int tb, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { /* C = beta * C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    if (nt < 1 || omp_in_parallel()) nt = 1;
    float *pb = tl_buf(&tl_pb, (size_t)KC * NC);
    if (!pb) { /* out of memory: plain loops (slow but correct) */
        gemm_plain(ta, tb, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int64_t n_ic = (M + MC - 1) / MC;
#if PD_X86
    int vec_store = accf != micro_scalar_acc && pd_isa_active() >= PD_ISA_AVX2 && nr % 8 == 0;
#endif
    /* One parallel region per call: per (jc, pc) block the threads pack B's panels together, then
     * take (row block, column group) items dynamically (a thread the OS delays leaves its items to
     * the other). Few row blocks (skinny M): the columns are split into groups so that every thread
     * has work; each item packs its own A block. */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *pa = tl_buf(&tl_pa, (size_t)KC * MC);
        for (int64_t jc = 0; jc < N; jc += NC) {
            int nc = (int)(N - jc < NC ? N - jc : NC);
            int n_panels = (nc + nr - 1) / nr;
            int64_t groups = 1;
            if (nt > 1 && n_ic < 2 * nt) groups = (2 * nt + n_ic - 1) / n_ic;
            if (groups > n_panels) groups = n_panels;
            int per_group = (int)((n_panels + groups - 1) / groups);
            for (int64_t pc = 0; pc < K; pc += KC) {
                int kc = (int)(K - pc < KC ? K - pc : KC);
                int first = pc == 0;
#pragma omp for schedule(static)
                for (int jp = 0; jp < n_panels; jp++)
                    pack_b_panel(tb, B, ldb, pc, kc, jc, nc, nr, jp * nr, pb + (size_t)jp * kc * nr);
#pragma omp for schedule(dynamic, 1)
                for (int64_t it = 0; it < n_ic * groups; it++) {
                    int64_t ic = (it / groups) * MC;
                    int g = (int)(it % groups);
                    int mc = (int)(M - ic < MC ? M - ic : MC);
                    int p0 = g * per_group, p1 = p0 + per_group < n_panels ? p0 + per_group : n_panels;
                    if (p0 >= p1) continue;
                    if (!pa) { /* out of memory in this thread: its items by plain loops, per k block */
                        int64_t j0 = jc + (int64_t)p0 * nr, j1 = jc + (int64_t)p1 * nr < jc + nc ? jc + (int64_t)p1 * nr : jc + nc;
                        for (int64_t i = ic; i < ic + mc; i++)
                            for (int64_t j = j0; j < j1; j++) {
                                float s = 0;
                                for (int k = 0; k < kc; k++) s += a_at(ta, A, lda, i, pc + k) * b_at(tb, B, ldb, pc + k, j);
                                float *o = &C[i * ldc + j];
                                *o = first ? alpha * s + (beta == 0.0f ? 0.0f : beta * *o) : *o + alpha * s;
                            }
                        continue;
                    }
                    pack_a(ta, A, lda, ic, mc, pc, kc, mr, pa);
                    float acc[MAX_TILE];
                    for (int jp = p0; jp < p1; jp++) {
                        int jr = jp * nr;
                        for (int ir = 0; ir < mc; ir += mr) {
                            accf(kc, pa + (size_t)(ir / mr) * kc * mr, pb + (size_t)jp * kc * nr, acc);
                            int rows = mc - ir < mr ? mc - ir : mr, cols = nc - jr < nr ? nc - jr : nr;
                            float *c0 = C + (ic + ir) * ldc + jc + jr;
#if PD_X86
                            if (vec_store && cols == nr) {
                                store_tile_avx2(acc, nr, c0, ldc, rows, alpha, beta, first);
                                continue;
                            }
#endif
                            store_tile(acc, nr, c0, ldc, rows, cols, alpha, beta, first);
                        }
                    }
                }
            }
        }
    }
}

/* the register loop of the active ISA level */
static pd_sgemm_acc_fn builtin_kernel(int *mr, int *nr) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX512) {
        *mr = PD_SGEMM512_MR, *nr = PD_SGEMM512_NR;
        return pd_sgemm_micro_avx512_acc;
    }
    if (pd_isa_active() >= PD_ISA_AVX2) {
        *mr = MR, *nr = NR;
        return pd_sgemm_micro_avx2_acc;
    }
#endif
    *mr = MR, *nr = NR;
    return micro_scalar_acc;
}

int pd_sgemm_threads_for(int64_t M, int64_t N, int64_t K) {
    int nt = pd_threads_get();
    if (nt <= 1 || omp_in_parallel()) return 1;
    /* each thread gets at least PD_SGEMM_FLOPS_PER_THREAD of work (a fork/join costs a few µs idle,
     * up to a scheduler slice on a busy machine: below this, one thread is faster) */
    double flops = 2.0 * (double)M * (double)N * (double)K;
    double by_work = flops / PD_SGEMM_FLOPS_PER_THREAD;
    if (by_work < nt) nt = by_work < 1 ? 1 : (int)by_work;
    return nt;
}

void pd_sgemm_builtin(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    int mr, nr;
    pd_sgemm_acc_fn f = builtin_kernel(&mr, &nr);
    pd_sgemm_blocked(f, mr, nr, pd_sgemm_threads_for(M, N, K), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb,
                     beta, C, ldc);
}

#ifdef PD_HAVE_OPENBLAS
/* OpenBLAS's own pool stays at one thread (see blas_gemm) */
static void blas_single_thread(void) {
    static _Atomic int done = 0;
    if (!done) {
        openblas_set_num_threads(1);
        done = 1;
    }
}

static void blas_slab(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)M,
                (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* One thread pool (DESIGN.md): OpenBLAS is kept single-threaded and our OpenMP pool splits C into
 * slabs — rows of C when M is large enough, else columns — each computed by one cblas_sgemm call.
 * A second, spinning OpenBLAS worker pool next to OpenMP's made 2-thread runs slower than 1. */
static void blas_gemm(int nt, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (nt <= 1) {
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
}
#endif

/* ---- the engine choice ---- */
static _Atomic int forced_engine = -1; /* -1: not read yet; else a pd_sgemm_engine */
static pthread_once_t measure_once = PTHREAD_ONCE_INIT;
static unsigned char class_choice[4][2];   /* [trans_a·2 + trans_b][large] = PD_SGEMM_BLAS / _BUILTIN */
static float class_gflops[4][2][2];        /* [..][..][0 blas, 1 builtin]: GFLOP per CPU second */

static pd_sgemm_engine engine_mode(void) {
    int e = forced_engine;
    if (e >= 0) return (pd_sgemm_engine)e;
    const char *s = getenv("PONDER_SGEMM");
    e = PD_SGEMM_AUTO;
    if (s && !strcmp(s, "blas")) e = PD_SGEMM_BLAS;
    else if (s && !strcmp(s, "builtin")) e = PD_SGEMM_BUILTIN;
    forced_engine = e;
    return (pd_sgemm_engine)e;
}

void pd_sgemm_set_engine(pd_sgemm_engine e) { forced_engine = e; }
pd_sgemm_engine pd_sgemm_get_engine(void) { return engine_mode(); }

static int large_class(int64_t M, int64_t N, int64_t K) { return 2.0 * (double)M * N * K >= PD_SGEMM_LARGE_FLOPS; }

#ifdef PD_HAVE_OPENBLAS
static double thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Both engines on one shape per class, one thread, thread CPU time (a busy machine's other work does
 * not count), best of PD_SGEMM_PROBE_REPS after a warm-up, the engines alternating. The built-in
 * kernel is chosen only when it is at least PD_SGEMM_MARGIN faster: near a tie, OpenBLAS stays,
 * so the choice does not flip between runs. */
static void measure_classes(void) {
    static const int shp[2][3] = {{64, 128, 64}, {192, 256, 256}}; /* attention-sized, linear-sized */
    int mr, nr;
    pd_sgemm_acc_fn f = builtin_kernel(&mr, &nr);
    size_t na = (size_t)192 * 256, nb = (size_t)256 * 256, nc = (size_t)192 * 256;
    float *A = pd_aligned_alloc(64, na * sizeof(float)), *B = pd_aligned_alloc(64, nb * sizeof(float)),
          *C = pd_aligned_alloc(64, nc * sizeof(float));
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 2; l++) class_choice[c][l] = PD_SGEMM_BLAS;
    blas_single_thread();
    if (A && B && C) {
        for (size_t i = 0; i < na; i++) A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < nb; i++) B[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 2; l++) {
                int ta = c >> 1, tb = c & 1, M = shp[l][0], N = shp[l][1], K = shp[l][2];
                int64_t lda = ta ? M : K, ldb = tb ? K : N;
                double best[2] = {1e30, 1e30};
                for (int rep = 0; rep <= PD_SGEMM_PROBE_REPS; rep++)
                    for (int e = 0; e < 2; e++) {
                        double t0 = thread_cpu();
                        if (e == 0) blas_slab(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
                        else pd_sgemm_blocked(f, mr, nr, 1, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
                        double dt = thread_cpu() - t0;
                        if (rep > 0 && dt < best[e]) best[e] = dt;
                    }
                double fl = 2.0 * M * N * K;
                for (int e = 0; e < 2; e++) class_gflops[c][l][e] = (float)(best[e] > 0 ? fl / best[e] / 1e9 : 0);
                if (best[1] * PD_SGEMM_MARGIN < best[0]) class_choice[c][l] = PD_SGEMM_BUILTIN;
            }
    }
    pd_aligned_free(A);
    pd_aligned_free(B);
    pd_aligned_free(C);
}
#endif

pd_sgemm_engine pd_sgemm_engine_for(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K) {
#ifdef PD_HAVE_OPENBLAS
    pd_sgemm_engine e = engine_mode();
    if (e != PD_SGEMM_AUTO) return e;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) return PD_SGEMM_BUILTIN;
    pthread_once(&measure_once, measure_classes);
    return (pd_sgemm_engine)class_choice[(trans_a ? 2 : 0) + (trans_b ? 1 : 0)][large_class(M, N, K)];
#else
    (void)trans_a, (void)trans_b, (void)M, (void)N, (void)K;
    return PD_SGEMM_BUILTIN;
#endif
}

int pd_sgemm_report(char *buf, size_t n) {
    static const char *tn[4] = {"NN", "NT", "TN", "TT"};
    int mr, nr;
    builtin_kernel(&mr, &nr);
    int len = snprintf(buf, n, "sgemm engines: builtin %dx%d %s", mr, nr,
                       mr == PD_SGEMM512_MR ? "avx512" : pd_isa_active() >= PD_ISA_AVX2 ? "avx2" : "scalar");
#ifdef PD_HAVE_OPENBLAS
    pd_sgemm_engine e = engine_mode();
    if (e != PD_SGEMM_AUTO) {
        len += snprintf(buf + (len < (int)n ? len : (int)n), len < (int)n ? n - (size_t)len : 0,
                        ", OpenBLAS; pinned to %s (PONDER_SGEMM or pd_sgemm_set_engine)",
                        e == PD_SGEMM_BLAS ? "OpenBLAS" : "builtin");
        return len;
    }
    pthread_once(&measure_once, measure_classes);
    len += snprintf(buf + (len < (int)n ? len : (int)n), len < (int)n ? n - (size_t)len : 0,
                    ", OpenBLAS; chosen at start-up by GFLOP/CPU-s (blas/builtin; small = 64x128x64, large = "
                    "192x256x256):");
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 2; l++)
            len += snprintf(buf + (len < (int)n ? len : (int)n), len < (int)n ? n - (size_t)len : 0,
                            " %s-%s %.0f/%.0f %s;", tn[c], l ? "large" : "small", class_gflops[c][l][0],
                            class_gflops[c][l][1], class_choice[c][l] == PD_SGEMM_BLAS ? "blas" : "builtin");
#else
    len += snprintf(buf + (len < (int)n ? len : (int)n), len < (int)n ? n - (size_t)len : 0, " (no OpenBLAS)");
#endif
    return len;
}

void pd_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
#ifdef PD_HAVE_OPENBLAS
    blas_single_thread();
    if (M > 0 && N > 0 && K > 0 && M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX && lda <= INT32_MAX &&
        ldb <= INT32_MAX && ldc <= INT32_MAX && alpha != 0.0f &&
        pd_sgemm_engine_for(trans_a, trans_b, M, N, K) == PD_SGEMM_BLAS) {
        blas_gemm(pd_sgemm_threads_for(M, N, K), trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    pd_sgemm_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
