/* kern/sgemm.c — f32 GEMM for training. Two engines: OpenBLAS's cblas_sgemm when the build found
 * it, and our own blocked kernel, pd_sgemm_builtin (BLIS-style: B packed in NR-wide panels, A in
 * MR-high panels, a register micro-kernel: 12 × 32 AVX-512 (sgemm_avx512.c) where the CPU has it,
 * 6 × 16 AVX2+FMA, or a scalar twin). pd_sgemm chooses between them by a fixed rule on the ISA
 * level (see "the engine choice"; PONDER_SGEMM=blas|builtin pins one), and sizes its threads by the
 * work (pd_sgemm_threads_for). */
#include "kern_impl.h"
#include "sgemm_impl.h"
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
static void pack_a(int ta, const float *A, int64_t lda, int64_t i0, int mc, int64_t k0, int kc, int mr, int t512,
                   float *p) {
    for (int ip = 0; ip < mc; ip += mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
#if PD_X86
        if (t512 && !ta && rows == mr) { /* op(A)'s row is contiguous: register transposes */
            pd_sgemm_pack_t_avx512(A + (i0 + ip) * lda + k0, lda, mr, kc, p, mr);
            p += (size_t)kc * mr;
            continue;
        }
#else
        (void)t512;
#endif
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
                         int t512, float *q) {
    int cols = nc - jp < nr ? nc - jp : nr;
#if PD_X86
    if (t512 && tb && cols == nr && nr % 16 == 0) { /* op(B)'s column is contiguous: register transposes */
        for (int h = 0; h < nr; h += 16) pd_sgemm_pack_t_avx512(B + (j0 + jp + h) * ldb + k0, ldb, 16, kc, q + h, nr);
        return;
    }
#else
    (void)t512;
#endif
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

/* cache blocking: kc of K per packed block (at most), mc rows of A per packed block, nc columns of B
 * per packed block. The AVX-512 tile (12 × 32) on Zen 5 (48 KiB L1d, 1 MiB L2 per core): K in blocks
 * of up to 768 (every training product but the FFN's dX and the weight gradients in one block: C is
 * read and written once), nc 1024 (op(A)'s block, packed with transposes for the forward, is packed
 * half as often as at 512). One thread, GFLOP/CPU-s on 50M forward 4096 × 1728 × 640 at load 6
 * (measured peak 208): kc/nc 256/512 138, 512/512 150, 512/1024 165-169, 768/1024 186, 1024/1024 186;
 * mc 48 and 96 the same. The AVX2 and scalar tiles (6 × 16) keep session 7's 256/96/512. The
 * micro-panel of B (kc × 32 floats, 96 KiB at kc 768) streams from L2 with the A block (mc × kc,
 * 288 KiB); C's tile lines are prefetched by the register loop. */
typedef struct { int kc, mc, nc; } blocking;
#define KC_MAX 768
#define MC_MAX 96
#define NC_MAX 1024
_Static_assert(MC_MAX % PD_SGEMM512_MR == 0 && MC_MAX % MR == 0 && MC % MR == 0 && MC % PD_SGEMM512_MR == 0, "MC");
_Static_assert(NC_MAX % PD_SGEMM512_NR == 0 && NC % NR == 0, "NC");

static blocking blocking_for(int mr) {
    if (mr == PD_SGEMM512_MR) return (blocking){KC_MAX, MC_MAX, NC_MAX};
    return (blocking){KC, MC, NC};
}

/* one (row block, column group) item of a (jc, pc) block: pack the A block, run the tiles */
typedef struct {
    pd_sgemm_acc_fn accf;
    pd_sgemm_c_fn cf;
    int mr, nr, ta, vec_store, t512;
    const float *A;
    int64_t lda, ldc;
    float *C, alpha, beta;
} blk_ctx;

static void run_tile(const blk_ctx *x, int kc, const float *pa, const float *pb, float *c0, int rows, int cols,
                     int first) {
    if (x->cf) {
        x->cf(kc, pa, pb, c0, x->ldc, rows, cols, x->alpha, x->beta, first);
        return;
    }
    float acc[MAX_TILE];
    x->accf(kc, pa, pb, acc);
#if PD_X86
    if (x->vec_store && cols == x->nr) {
        store_tile_avx2(acc, x->nr, c0, x->ldc, rows, x->alpha, x->beta, first);
        return;
    }
#endif
    store_tile(acc, x->nr, c0, x->ldc, rows, cols, x->alpha, x->beta, first);
}

static void run_item(const blk_ctx *x, float *pa, const float *pb, int64_t ic, int mc, int64_t pc, int kc, int64_t jc,
                     int nc, int p0, int p1) {
    int mr = x->mr, nr = x->nr, first = pc == 0;
    pack_a(x->ta, x->A, x->lda, ic, mc, pc, kc, mr, x->t512, pa);
    for (int jp = p0; jp < p1; jp++)
        for (int ir = 0; ir < mc; ir += mr) {
            int jr = jp * nr;
            int rows = mc - ir < mr ? mc - ir : mr, cols = nc - jr < nr ? nc - jr : nr;
            run_tile(x, kc, pa + (size_t)(ir / mr) * kc * mr, pb + (size_t)jp * kc * nr,
                     x->C + (ic + ir) * x->ldc + jc + jr, rows, cols, first);
        }
}

/* an item by plain loops, for one k block (a thread whose packing buffer could not be allocated) */
static void run_item_plain(const blk_ctx *x, int tb, const float *B, int64_t ldb, int64_t ic, int mc, int64_t pc,
                           int kc, int64_t j0, int64_t j1) {
    int first = pc == 0;
    for (int64_t i = ic; i < ic + mc; i++)
        for (int64_t j = j0; j < j1; j++) {
            float s = 0;
            for (int k = 0; k < kc; k++) s += a_at(x->ta, x->A, x->lda, i, pc + k) * b_at(tb, B, ldb, pc + k, j);
            float *o = &x->C[i * x->ldc + j];
            *o = first ? x->alpha * s + (x->beta == 0.0f ? 0.0f : x->beta * *o) : *o + x->alpha * s;
        }
}

/* K split into equal blocks of at most bk.kc (fewer passes over C than fixed blocks and a short tail) */
static int k_block(int64_t K, int kc_max) {
    int64_t n = (K + kc_max - 1) / kc_max;
    return (int)((K + n - 1) / n);
}

static void blocked_impl(pd_sgemm_acc_fn accf, pd_sgemm_c_fn cf, int mr, int nr, int nt, int ta, int tb, int64_t M,
                         int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                         float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { /* C = beta * C */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    if (nt < 1 || omp_in_parallel()) nt = 1;
    blocking bk = blocking_for(mr);
    float *pb = tl_buf(&tl_pb, (size_t)KC_MAX * NC_MAX);
    if (!pb) { /* out of memory: plain loops (slow but correct) */
        gemm_plain(ta, tb, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    blk_ctx x = {accf, cf, mr, nr, ta, 0, 0, A, lda, ldc, C, alpha, beta};
#if PD_X86
    x.vec_store = accf && accf != micro_scalar_acc && pd_isa_active() >= PD_ISA_AVX2 && nr % 8 == 0;
    x.t512 = cf == pd_sgemm_micro_avx512_c; /* the AVX-512 packing goes with the AVX-512 register loop */
#endif
    int kcb = k_block(K, bk.kc);
    int64_t n_ic = (M + bk.mc - 1) / bk.mc;
    /* One parallel region per call: per (jc, pc) block the threads pack B's panels together, then
     * take (row block, column group) items dynamically (a thread the OS delays leaves its items to
     * the other). Few row blocks (skinny M): the columns are split into groups so that every thread
     * has work; each item packs its own A block. */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *pa = tl_buf(&tl_pa, (size_t)KC_MAX * MC_MAX);
        for (int64_t jc = 0; jc < N; jc += bk.nc) {
            int nc = (int)(N - jc < bk.nc ? N - jc : bk.nc);
            int n_panels = (nc + nr - 1) / nr;
            int64_t groups = 1;
            if (nt > 1 && n_ic < 2 * nt) groups = (2 * nt + n_ic - 1) / n_ic;
            if (groups > n_panels) groups = n_panels;
            int per_group = (int)((n_panels + groups - 1) / groups);
            for (int64_t pc = 0; pc < K; pc += kcb) {
                int kc = (int)(K - pc < kcb ? K - pc : kcb);
#pragma omp for schedule(static)
                for (int jp = 0; jp < n_panels; jp++)
                    pack_b_panel(tb, B, ldb, pc, kc, jc, nc, nr, jp * nr, x.t512, pb + (size_t)jp * kc * nr);
#pragma omp for schedule(dynamic, 1)
                for (int64_t it = 0; it < n_ic * groups; it++) {
                    int64_t ic = (it / groups) * bk.mc;
                    int g = (int)(it % groups);
                    int mc = (int)(M - ic < bk.mc ? M - ic : bk.mc);
                    int p0 = g * per_group, p1 = p0 + per_group < n_panels ? p0 + per_group : n_panels;
                    if (p0 >= p1) continue;
                    if (pa) run_item(&x, pa, pb, ic, mc, pc, kc, jc, nc, p0, p1);
                    else {
                        int64_t j1 = jc + (int64_t)p1 * nr;
                        run_item_plain(&x, tb, B, ldb, ic, mc, pc, kc, jc + (int64_t)p0 * nr, j1 < jc + nc ? j1 : jc + nc);
                    }
                }
            }
        }
    }
}

void pd_sgemm_blocked(pd_sgemm_acc_fn accf, int mr, int nr, int nt, int ta, int tb, int64_t M, int64_t N, int64_t K,
                      float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                      int64_t ldc) {
    blocked_impl(accf, NULL, mr, nr, nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void pd_sgemm_blocked_c(pd_sgemm_c_fn cf, int mr, int nr, int nt, int ta, int tb, int64_t M, int64_t N, int64_t K,
                        float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                        int64_t ldc) {
    blocked_impl(NULL, cf, mr, nr, nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
    int nt = pd_sgemm_threads_for(M, N, K);
#if PD_X86
    if (f == pd_sgemm_micro_avx512_acc) {
        pd_sgemm_blocked_c(pd_sgemm_micro_avx512_c, mr, nr, nt, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb,
                           beta, C, ldc);
        return;
    }
#endif
    pd_sgemm_blocked(f, mr, nr, nt, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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

/* ---- the engine choice ----
 * A fixed rule by ISA level, not a timing (a start-up probe could choose differently under load, and
 * the two engines give different bits): where the AVX-512 tile runs (pd_isa_active() == AVX512) the
 * built-in engine takes every shape class; below it OpenBLAS does, when the build has it.
 * Measured (one thread, GFLOP/CPU-s): Zen 5 (2026-12-07, OPENBLAS_CORETYPE=Haswell, load 6-8),
 * built-in 12 × 32 vs OpenBLAS on the training step's shapes 155-188 vs 82-95, attention 64 × 256 × 64
 * 97 vs 83; Zen 3 AVX2 (session 7) OpenBLAS's ZEN kernel beat the 6 × 16 AVX2 tile on every shape. */
static _Atomic int forced_engine = -1; /* -1: not read yet; else a pd_sgemm_engine */

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

/* the rule above (the shape does not enter it) */
static pd_sgemm_engine auto_engine(void) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX512) return PD_SGEMM_BUILTIN;
#endif
    return PD_SGEMM_BLAS;
}

pd_sgemm_engine pd_sgemm_engine_for(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K) {
    (void)trans_a, (void)trans_b;
#ifdef PD_HAVE_OPENBLAS
    pd_sgemm_engine e = engine_mode();
    if (e != PD_SGEMM_AUTO) return e;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) return PD_SGEMM_BUILTIN;
    return auto_engine();
#else
    (void)M, (void)N, (void)K;
    return PD_SGEMM_BUILTIN;
#endif
}

int pd_sgemm_report(char *buf, size_t n) {
    int mr, nr;
    builtin_kernel(&mr, &nr);
    int len = snprintf(buf, n, "sgemm engines: builtin %dx%d %s", mr, nr,
                       mr == PD_SGEMM512_MR ? "avx512" : pd_isa_active() >= PD_ISA_AVX2 ? "avx2" : "scalar");
#ifdef PD_HAVE_OPENBLAS
    pd_sgemm_engine e = engine_mode();
    const char *tail = e == PD_SGEMM_BLAS      ? ", OpenBLAS; pinned to OpenBLAS (PONDER_SGEMM or pd_sgemm_set_engine)"
                       : e == PD_SGEMM_BUILTIN ? ", OpenBLAS; pinned to builtin (PONDER_SGEMM or pd_sgemm_set_engine)"
                       : auto_engine() == PD_SGEMM_BUILTIN
                           ? ", OpenBLAS; builtin for every shape (rule: the AVX-512 tile runs here)"
                           : ", OpenBLAS; OpenBLAS for every shape (rule: no AVX-512 tile at this ISA level)";
    len += snprintf(buf + (len < (int)n ? len : (int)n), len < (int)n ? n - (size_t)len : 0, "%s", tail);
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
