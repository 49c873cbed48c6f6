/* tests/kern/test_sgemm.c — pd_sgemm's engines against a double-precision triple loop: OpenBLAS and
 * the built-in kernel pinned by pd_sgemm_set_engine, the automatic choice, the built-in kernel at
 * the scalar and AVX2 levels, and the 12 × 32 AVX-512 register loop (sgemm_avx512.c compiled here
 * with the scalar stand-ins of avx512_emu.h, so it runs on any CPU) through the same blocked driver;
 * every transpose, odd and block-crossing sizes, skinny products (the column split), beta 0 (C not
 * read: NaN in C stays out), beta 1 and others, padded leading dimensions, 1 and 2 threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avx512_emu.h"

#define PD_AVX512_EMULATE 1
#define pd_sgemm_micro_avx512_acc pd_sgemm_micro_avx512_acc_emulated
#define pd_sgemm_micro_avx512_c pd_sgemm_micro_avx512_c_emulated
#include "../../src/kern/sgemm_avx512.c"
#undef pd_sgemm_micro_avx512_acc
#undef pd_sgemm_micro_avx512_c
#include "ponder/threads.h"
#include "kern_test_util.h"

typedef enum { RUN_SGEMM, RUN_BUILTIN, RUN_EMU512, RUN_EMU512_C } runner;

static void run(runner how, int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (how == RUN_SGEMM) pd_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (how == RUN_BUILTIN) pd_sgemm_builtin(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (how == RUN_EMU512_C)
        pd_sgemm_blocked_c(pd_sgemm_micro_avx512_c_emulated, PD_SGEMM512_MR, PD_SGEMM512_NR, nt, ta, tb, M, N, K,
                           alpha, A, lda, B, ldb, beta, C, ldc);
    else
        pd_sgemm_blocked(pd_sgemm_micro_avx512_acc_emulated, PD_SGEMM512_MR, PD_SGEMM512_NR, nt, ta, tb, M, N, K,
                         alpha, A, lda, B, ldb, beta, C, ldc);
}

/* C = alpha·op(A)·op(B) + beta·C vs the double loop; error bound from Σ|a·b| (f32 accumulation) */
static void check(runner how, const char *name, int nt, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                  float beta) {
    pd_rng rng;
    pd_rng_seed(&rng, (uint64_t)(M * 7919 + N * 31 + K * 3 + ta * 2 + tb));
    int64_t lda = (ta ? M : K) + 5, ldb = (tb ? K : N) + 3, ldc = N + 7;
    int64_t ra = ta ? K : M, rb = tb ? N : K;
    float *A = malloc((size_t)(ra * lda + 1) * 4), *B = malloc((size_t)(rb * ldb + 1) * 4);
    float *C = malloc((size_t)(M * ldc + 1) * 4);
    double *R = malloc((size_t)(M * N + 1) * 8), *E = malloc((size_t)(M * N + 1) * 8);
    assert_non_null(A), assert_non_null(B), assert_non_null(C), assert_non_null(R), assert_non_null(E);
    fill_normal(&rng, A, ra * lda, 1.0);
    fill_normal(&rng, B, rb * ldb, 1.0);
    fill_normal(&rng, C, M * ldc, 1.0);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0, e = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
                s += p;
                e += fabs(p);
            }
            double c = beta == 0 ? 0 : (double)beta * C[i * ldc + j];
            R[i * N + j] = alpha * s + c;
            E[i * N + j] = 4e-7 * (fabs(alpha) * e * (1 + 0.05 * sqrt((double)K)) + fabs(c)) + 1e-30;
        }
    if (beta == 0)
        for (int64_t i = 0; i < M * ldc; i++) C[i] = NAN; /* beta 0 overwrites without reading */
    else
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = N; j < ldc; j++) C[i * ldc + j] = 1234.5f; /* padding: must stay */
    run(how, nt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double got = C[i * ldc + j], d = fabs(got - R[i * N + j]);
            if (!(d <= E[i * N + j])) {
                fprintf(stderr, "%s nt=%d ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g: C[%lld][%lld] = %.9g, "
                        "want %.9g (bound %.3g)\n", name, nt, ta, tb, (long long)M, (long long)N, (long long)K,
                        alpha, beta, (long long)i, (long long)j, got, R[i * N + j], E[i * N + j]);
                fail();
            }
        }
        for (int64_t j = N; j < ldc && i + 1 < M; j++)
            if (beta == 0 ? !isnan(C[i * ldc + j]) : C[i * ldc + j] != 1234.5f) {
                fprintf(stderr, "%s: padding C[%lld][%lld] written\n", name, (long long)i, (long long)j);
                fail();
            }
    }
    free(A), free(B), free(C), free(R), free(E);
}

/* odd sizes, exact tiles of both kernels, K across the 256 block, N across the 512 block, M across
 * the 96-row block, skinny (attention-like: few row blocks, columns split among threads) */
static const int64_t sizes[][3] = {{1, 1, 1},    {7, 5, 3},      {13, 33, 17},  {6, 16, 256},  {12, 32, 257},
                                   {25, 65, 300}, {97, 47, 64},  {64, 200, 64}, {64, 64, 130}, {40, 530, 260},
                                   {3, 611, 40},  {200, 9, 513}};
static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {-0.5f, 1.5f}};

static void sweep(runner how, const char *name, int nt) {
    pd_threads_set(nt);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t v = 0; v < sizeof ab / sizeof ab[0]; v++) {
                    if (v == 1 && sizes[s][0] * sizes[s][1] * sizes[s][2] > 1000000) continue; /* time */
                    check(how, name, nt, ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], ab[v][0], ab[v][1]);
                }
    pd_threads_set(0);
}

static void test_emulated_avx512_kernel(void **st) {
    (void)st;
    sweep(RUN_EMU512, "avx512 (emulated)", 1);
    sweep(RUN_EMU512, "avx512 (emulated)", 2);
    sweep(RUN_EMU512_C, "avx512 C-writing (emulated)", 1);
    sweep(RUN_EMU512_C, "avx512 C-writing (emulated)", 2);
}

static void test_builtin_levels(void **st) {
    (void)st;
    for (int isa = PD_ISA_SCALAR; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        char name[48];
        snprintf(name, sizeof name, "builtin isa %d", isa);
        sweep(RUN_BUILTIN, name, 1);
        sweep(RUN_BUILTIN, name, 2);
    }
    pd_isa_force(pd_isa_best());
}

static void test_engines(void **st) {
    (void)st;
    static const pd_sgemm_engine es[] = {PD_SGEMM_BLAS, PD_SGEMM_BUILTIN, PD_SGEMM_AUTO};
    for (size_t e = 0; e < 3; e++) {
        pd_sgemm_set_engine(es[e]);
        if (es[e] != PD_SGEMM_AUTO) {
#ifdef PD_HAVE_OPENBLAS
            assert_int_equal(pd_sgemm_engine_for(0, 1, 512, 512, 512), es[e]);
#else
            assert_int_equal(pd_sgemm_engine_for(0, 1, 512, 512, 512), PD_SGEMM_BUILTIN);
#endif
        } else {
            pd_sgemm_engine c = pd_sgemm_engine_for(1, 0, 4, 4, 4);
            assert_true(c == PD_SGEMM_BLAS || c == PD_SGEMM_BUILTIN);
        }
        char name[32];
        snprintf(name, sizeof name, "pd_sgemm engine %d", (int)es[e]);
        sweep(RUN_SGEMM, name, 1);
        sweep(RUN_SGEMM, name, 2);
        char rep[1024];
        assert_true(pd_sgemm_report(rep, sizeof rep) > 0);
        assert_non_null(strstr(rep, "sgemm engines: builtin"));
    }
    pd_sgemm_set_engine(PD_SGEMM_AUTO);
}

/* the engine rule (sgemm.c "the engine choice"): built-in where the AVX-512 tile runs, else OpenBLAS */
static void test_engine_rule(void **st) {
    (void)st;
    pd_sgemm_set_engine(PD_SGEMM_AUTO);
    pd_isa_force(PD_ISA_AVX2);
#ifdef PD_HAVE_OPENBLAS
    assert_int_equal(pd_sgemm_engine_for(0, 1, 4096, 1728, 640), PD_SGEMM_BLAS);
#else
    assert_int_equal(pd_sgemm_engine_for(0, 1, 4096, 1728, 640), PD_SGEMM_BUILTIN);
#endif
    if (pd_isa_best() >= PD_ISA_AVX512) {
        pd_isa_force(PD_ISA_AVX512);
        for (int t = 0; t < 4; t++) {
            assert_int_equal(pd_sgemm_engine_for(t >> 1, t & 1, 4096, 1728, 640), PD_SGEMM_BUILTIN);
            assert_int_equal(pd_sgemm_engine_for(t >> 1, t & 1, 64, 256, 64), PD_SGEMM_BUILTIN);
        }
    } else {
        fprintf(stderr, "test_engine_rule: no AVX-512 on this CPU, the AVX-512 half skipped\n");
    }
    pd_isa_force(pd_isa_best());
}

/* the built-in engine gives the same bits at 1 and 2 threads and on every run (every transpose, K over
 * two blocks, edge tiles; at the best ISA level: the AVX-512 tile and packing where the CPU has them) */
static void test_builtin_bits(void **st) {
    (void)st;
    const int64_t M = 203, N = 1100, K = 1500;
    pd_rng rng;
    pd_rng_seed(&rng, 77);
    float *A = malloc((size_t)(M * K) * 4), *B = malloc((size_t)(K * N) * 4), *C[3];
    assert_non_null(A), assert_non_null(B);
    fill_normal(&rng, A, M * K, 1.0);
    fill_normal(&rng, B, K * N, 1.0);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            for (int r = 0; r < 3; r++) {
                C[r] = malloc((size_t)(M * N) * 4);
                assert_non_null(C[r]);
                pd_threads_set(r == 1 ? 2 : 1);
                pd_sgemm_builtin(ta, tb, M, N, K, 0.75f, A, ta ? M : K, B, tb ? K : N, 0.0f, C[r], N);
            }
            assert_memory_equal(C[0], C[1], (size_t)(M * N) * 4);
            assert_memory_equal(C[0], C[2], (size_t)(M * N) * 4);
            for (int r = 0; r < 3; r++) free(C[r]);
        }
    pd_threads_set(0);
    free(A), free(B);
}

/* K = 0 and alpha = 0 scale C by beta (0: overwrite) */
static void test_degenerate(void **st) {
    (void)st;
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 1, 1, 1, 1, 1};
    for (int how = RUN_SGEMM; how <= RUN_EMU512_C; how++) {
        float C[4] = {1, 2, NAN, 4};
        run((runner)how, 1, 0, 0, 2, 2, 0, 1.0f, A, 3, B, 2, 0.0f, C, 2);
        for (int i = 0; i < 4; i++) assert_true(C[i] == 0.0f);
        float D[4] = {1, 2, 3, 4};
        run((runner)how, 1, 0, 0, 2, 2, 3, 0.0f, A, 3, B, 2, 2.0f, D, 2);
        for (int i = 0; i < 4; i++) assert_true(D[i] == 2.0f * (float)(i + 1));
    }
}

/* threads by work: a tiny product on one thread, a large one on all; inside a parallel region one */
static void test_threads_for(void **st) {
    (void)st;
    pd_threads_set(2);
    assert_int_equal(pd_sgemm_threads_for(8, 8, 8), 1);
    assert_int_equal(pd_sgemm_threads_for(4096, 384, 128), 2);
    int inner = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp master
        inner = pd_sgemm_threads_for(4096, 384, 128);
    }
    assert_int_equal(inner, 1);
    pd_threads_set(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emulated_avx512_kernel), cmocka_unit_test(test_builtin_levels),
        cmocka_unit_test(test_engines), cmocka_unit_test(test_engine_rule),
        cmocka_unit_test(test_builtin_bits), cmocka_unit_test(test_degenerate), cmocka_unit_test(test_threads_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
