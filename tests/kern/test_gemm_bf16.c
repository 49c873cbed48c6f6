/* tests/kern/test_gemm_bf16.c — the BF16 GEMM (ponder/gemm_bf16.h): F32 -> BF16 rounding against a
 * double-precision nearest-even reference and the special values; the scalar twin against a double
 * GEMM on BF16-exact inputs (exactly where every partial sum is exact, within K·2^-24 otherwise), a
 * hand-computed case where VDPBF16PS's pair order decides the result, DAZ/FTZ; and every path this
 * CPU runs (AVX2 F32 panels; AVX512-BF16 where present) bit for bit against the twin over
 * transposes, odd sizes, block edges, beta 0 / 1 / 0.5, F32 or BF16 operands, 1 and 2 threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/gemm_bf16.h"
#include "ponder/kern.h"
#include "ponder/rng.h"
#include "ponder/threads.h"

static float bits_f(uint32_t x) { float f; memcpy(&f, &x, 4); return f; }
static uint32_t f_bits(float f) { uint32_t x; memcpy(&x, &f, 4); return x; }
static float bf(uint16_t h) { return bits_f((uint32_t)h << 16); }

/* nearest BF16 of a normal finite x by comparing distances in double (ties: the even significand) */
static uint16_t round_ref(float x) {
    uint32_t b = f_bits(x);
    uint16_t lo = (uint16_t)(b >> 16), hi = (uint16_t)(lo + 1); /* |lo| <= |x| < |hi| (same sign) */
    /* the step past the largest finite is 2^128 (unbounded exponent: RNE overflows to inf past the midpoint) */
    double vh = (hi & 0x7fff) == 0x7f80 ? copysign(ldexp(1, 128), x) : bf(hi);
    double dl = fabs((double)x - bf(lo)), dh = fabs(vh - x);
    if (dl < dh) return lo;
    if (dh < dl) return hi;
    return (lo & 1) ? hi : lo;
}

static void test_round(void **state) {
    (void)state;
    /* ties go to even, either way; just off a tie goes to the nearer */
    assert_int_equal(pd_bf16_round(bits_f(0x3f808000u)), 0x3f80);
    assert_int_equal(pd_bf16_round(bits_f(0x3f818000u)), 0x3f82);
    assert_int_equal(pd_bf16_round(bits_f(0xbf818000u)), 0xbf82);
    assert_int_equal(pd_bf16_round(bits_f(0x3f808001u)), 0x3f81);
    assert_int_equal(pd_bf16_round(bits_f(0x3f807fffu)), 0x3f80);
    assert_int_equal(pd_bf16_round(bits_f(0x3fffffffu)), 0x4000); /* carries into the exponent */
    /* inf, overflow to inf, the largest finite that stays finite */
    assert_int_equal(pd_bf16_round(INFINITY), 0x7f80);
    assert_int_equal(pd_bf16_round(-INFINITY), 0xff80);
    assert_int_equal(pd_bf16_round(FLT_MAX), 0x7f80);
    assert_int_equal(pd_bf16_round(bits_f(0x7f7f7fffu)), 0x7f7f);
    /* NaN stays NaN, quiet, top payload bits and sign kept */
    assert_int_equal(pd_bf16_round(bits_f(0x7f800001u)), 0x7fc0);
    assert_int_equal(pd_bf16_round(bits_f(0xff810000u)), 0xffc1);
    assert_int_equal(pd_bf16_round(bits_f(0x7fc00000u)), 0x7fc0);
    /* zeros and subnormals: signed zero (DAZ); the smallest normal stays */
    assert_int_equal(pd_bf16_round(0.0f), 0x0000);
    assert_int_equal(pd_bf16_round(-0.0f), 0x8000);
    assert_int_equal(pd_bf16_round(bits_f(0x00000001u)), 0x0000);
    assert_int_equal(pd_bf16_round(bits_f(0x807fffffu)), 0x8000);
    assert_int_equal(pd_bf16_round(FLT_MIN), 0x0080);
    assert_int_equal(pd_bf16_round(bits_f(0x007fffffu)), 0x0000);
    /* random normal floats (all exponents) against the distance reference, and the array form */
    pd_rng r;
    pd_rng_seed(&r, 16);
    enum { N = 200000 };
    float *x = malloc(N * sizeof *x);
    uint16_t *y = malloc(N * sizeof *y);
    for (int i = 0; i < N; i++) {
        uint32_t b = (uint32_t)pd_rng_u64(&r);
        if ((b & 0x7f800000u) == 0 || (b & 0x7f800000u) == 0x7f800000u) b ^= 0x40000000u; /* normal */
        if (i % 7 == 0) b = (b & 0xffff0000u) | 0x8000u;                                   /* a tie */
        if ((b & 0x7f800000u) == 0x7f800000u || (b & 0x7f800000u) == 0) b = 0x3f800000u;
        x[i] = bits_f(b);
    }
    pd_bf16_round_n(x, y, N);
    for (int i = 0; i < N; i++) {
        uint16_t want = round_ref(x[i]);
        if (y[i] != want || pd_bf16_round(x[i]) != want) {
            fprintf(stderr, "round %08x: got %04x want %04x\n", f_bits(x[i]), y[i], want);
            fail();
        }
    }
    free(x);
    free(y);
}

/* element (r, c) of op(X) */
static double at(const float *X, int64_t ld, int tr, int64_t r, int64_t c) { return tr ? X[c * ld + r] : X[r * ld + c]; }

/* fill with BF16-exact values: small integers × 2^e (exact sums for small K) or random BF16 */
static void fill_bf16(pd_rng *r, float *x, int64_t n, int exact_ints) {
    for (int64_t i = 0; i < n; i++) {
        if (exact_ints) x[i] = (float)((int)pd_rng_below(r, 17) - 8) * 0.25f;
        else x[i] = bf(pd_bf16_round((float)pd_rng_normal(r)));
    }
}

typedef struct { int64_t M, N, K; } shape;

static void test_twin_vs_double(void **state) {
    (void)state;
    pd_rng r;
    pd_rng_seed(&r, 1601);
    const shape sh[] = {{1, 1, 1}, {3, 5, 7}, {7, 17, 2}, {13, 33, 255}, {6, 16, 256}, {5, 9, 257}, {11, 40, 513}};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int ex = 0; ex < 2; ex++)
                    for (int bi = 0; bi < 2; bi++) {
                        int64_t M = sh[s].M, N = sh[s].N, K = sh[s].K;
                        int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
                        float beta = bi ? 1.0f : 0.0f;
                        float *A = malloc(sizeof(float) * (size_t)lda * (ta ? K : M));
                        float *B = malloc(sizeof(float) * (size_t)ldb * (tb ? N : K));
                        float *C = malloc(sizeof(float) * (size_t)ldc * M), *C0 = malloc(sizeof(float) * (size_t)ldc * M);
                        fill_bf16(&r, A, lda * (ta ? K : M), ex);
                        fill_bf16(&r, B, ldb * (tb ? N : K), ex);
                        fill_bf16(&r, C0, ldc * M, ex);
                        memcpy(C, C0, sizeof(float) * (size_t)ldc * M);
                        pd_gemm_bf16_ref(ta, tb, M, N, K, A, NULL, lda, B, NULL, ldb, beta, C, ldc);
                        for (int64_t i = 0; i < M; i++)
                            for (int64_t j = 0; j < N; j++) {
                                double want = beta * C0[i * ldc + j], mag = fabs(want);
                                for (int64_t k = 0; k < K; k++) {
                                    double p = at(A, lda, ta, i, k) * at(B, ldb, tb, k, j);
                                    want += p;
                                    mag += fabs(p);
                                }
                                double got = C[i * ldc + j];
                                /* small integers × 1/16: every partial sum exact in F32 */
                                double tol = ex ? 0 : (double)(K + 2) * mag * ldexp(1, -24);
                                if (fabs(got - want) > tol) {
                                    fprintf(stderr, "twin %lldx%lldx%lld ta%d tb%d (%lld,%lld): %.9g vs %.9g\n",
                                            (long long)M, (long long)N, (long long)K, ta, tb, (long long)i, (long long)j,
                                            got, want);
                                    fail();
                                }
                            }
                        free(A); free(B); free(C); free(C0);
                    }
}

/* VDPBF16PS's order decides: products (k0..k3) = (1, 2^-24, 2^-24, -1) summed as k1, k0, k3, k2
 * gives 2^-24 (1 + 2^-24 is a tie that rounds to 1, then -1 + 1 = 0, then + 2^-24); in index order
 * it gives 0. Blocks: K = 258 puts k 256, 257 in a second block added to C after the first. */
static void test_order_and_blocks(void **state) {
    (void)state;
    float a[4] = {1, 1, 0x1p-12f, -1}, b[4] = {1, 0x1p-24f, 0x1p-12f, 1}, c = 123;
    pd_gemm_bf16_ref(0, 0, 1, 1, 4, a, NULL, 4, b, NULL, 1, 0, &c, 1);
    assert_true(c == 0x1p-24f);
    c = 5;
    pd_gemm_bf16_ref(0, 0, 1, 1, 4, a, NULL, 4, b, NULL, 1, 1, &c, 1);
    assert_true(c == 5.0f); /* 5 + 2^-24 rounds to 5 */
    /* K = 258: block 1 = 1 (k0) , block 2 = 2^-24 (k256) and k257 = 2^-24: acc = 2^-23, C = 1 + 2^-23 */
    float *A = calloc(258, sizeof(float)), *B = calloc(258, sizeof(float));
    A[0] = 1; B[0] = 1;
    A[256] = 1; B[256] = 0x1p-24f;
    A[257] = 1; B[257] = 0x1p-24f;
    c = 0;
    pd_gemm_bf16_ref(0, 0, 1, 1, 258, A, NULL, 258, B, NULL, 1, 0, &c, 1);
    assert_true(c == 1.0f + 0x1p-23f);
    /* same numbers within one block: 1 + 2^-24 (tie: 1) + 2^-24 (tie: 1) = 1 */
    A[2] = 1; B[2] = 0x1p-24f; A[3] = 1; B[3] = 0x1p-24f; A[256] = A[257] = 0;
    c = 0;
    pd_gemm_bf16_ref(0, 0, 1, 1, 258, A, NULL, 258, B, NULL, 1, 0, &c, 1);
    assert_true(c == 1.0f);
    /* DAZ/FTZ: 2^-100 · 2^-30 = 2^-130 is subnormal in F32: flushed to +0; a -0 stays a zero */
    float x = 0x1p-100f, y = 0x1p-30f;
    c = 7;
    pd_gemm_bf16_ref(0, 0, 1, 1, 1, &x, NULL, 1, &y, NULL, 1, 0, &c, 1);
    assert_true(c == 0.0f);
    /* operands rounded to BF16 first: 1 + 2^-9 becomes 1 (BF16 spacing at 1 is 2^-7) */
    float p = 1.0f + 0x1p-9f, q = 3.0f;
    pd_gemm_bf16_ref(0, 0, 1, 1, 1, &p, NULL, 1, &q, NULL, 1, 0, &c, 1);
    assert_true(c == 3.0f);
    /* K = 0: beta·C (0: C = 0 without reading a NaN) */
    c = NAN;
    pd_gemm_bf16_ref(0, 0, 1, 1, 0, NULL, NULL, 1, NULL, NULL, 1, 0, &c, 1);
    assert_true(c == 0.0f && !signbit(c));
    free(A);
    free(B);
}

/* a path against the twin, bit for bit */
static void check_path(pd_gemm_bf16_path path) {
    pd_rng r;
    pd_rng_seed(&r, 2026 + path);
    const shape sh[] = {{1, 1, 1}, {5, 3, 2}, {6, 16, 256}, {7, 17, 33}, {13, 47, 255}, {97, 35, 257},
                        {50, 600, 70}, {130, 70, 600}, {2, 530, 3}, {101, 101, 101}};
    const float betas[] = {0.0f, 1.0f, 0.5f};
    for (int th = 1; th <= 2; th++) {
        pd_threads_set(th);
        for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    for (int bi = 0; bi < 3; bi++)
                        for (int use_h = 0; use_h < 2; use_h++) {
                            if (th == 2 && (bi == 2 || use_h)) continue;
                            int64_t M = sh[s].M, N = sh[s].N, K = sh[s].K;
                            int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 5, ldc = N + 2;
                            size_t na = (size_t)lda * (ta ? K : M), nb = (size_t)ldb * (tb ? N : K), nc = (size_t)ldc * M;
                            float *A = malloc(na * 4), *B = malloc(nb * 4), *C0 = malloc(nc * 4), *C1 = malloc(nc * 4),
                                  *C2 = malloc(nc * 4);
                            uint16_t *Ah = malloc(na * 2), *Bh = malloc(nb * 2);
                            for (size_t i = 0; i < na; i++) A[i] = (float)pd_rng_normal(&r);
                            for (size_t i = 0; i < nb; i++) B[i] = (float)pd_rng_normal(&r) * 1e-3f;
                            for (size_t i = 0; i < nc; i++) C0[i] = (float)pd_rng_normal(&r);
                            if (s == 1) { /* extremes: tiny products (FTZ), huge ones, a tie */
                                A[0] = 0x1p-100f; B[0] = 0x1p-30f;
                                A[na - 1] = 3e38f; B[nb - 1] = 3e38f;
                                A[1 % na] = 1.0f + 0x1p-9f;
                            }
                            pd_bf16_round_n(A, Ah, (int64_t)na);
                            pd_bf16_round_n(B, Bh, (int64_t)nb);
                            memcpy(C1, C0, nc * 4);
                            memcpy(C2, C0, nc * 4);
                            pd_gemm_bf16_ref(ta, tb, M, N, K, A, NULL, lda, B, NULL, ldb, betas[bi], C1, ldc);
                            assert_int_equal(pd_gemm_bf16_on(path, ta, tb, M, N, K, A, use_h ? Ah : NULL, lda, B,
                                                             use_h ? Bh : NULL, ldb, betas[bi], C2, ldc),
                                             PD_OK);
                            if (memcmp(C1, C2, nc * 4)) {
                                for (size_t i = 0; i < nc; i++)
                                    if (f_bits(C1[i]) != f_bits(C2[i])) {
                                        fprintf(stderr, "%s %lldx%lldx%lld ta%d tb%d beta %g h%d th%d at %zu: %.9g vs twin %.9g\n",
                                                pd_gemm_bf16_path_name(path), (long long)M, (long long)N, (long long)K, ta,
                                                tb, betas[bi], use_h, th, i, C2[i], C1[i]);
                                        break;
                                    }
                                fail();
                            }
                            free(A); free(B); free(C0); free(C1); free(C2); free(Ah); free(Bh);
                        }
    }
    pd_threads_set(0);
    /* every product and sum below FLT_MIN: FTZ gives exact zeros (the twin and the path) */
    enum { TM = 7, TN = 19, TK = 40 };
    float A[TM * TK], B[TK * TN], C1[TM * TN], C2[TM * TN];
    for (int i = 0; i < TM * TK; i++) A[i] = ldexpf(1.0f + (float)pd_rng_below(&r, 8), -72);
    for (int i = 0; i < TK * TN; i++) B[i] = ldexpf(1.0f + (float)pd_rng_below(&r, 8), -62);
    pd_gemm_bf16_ref(0, 0, TM, TN, TK, A, NULL, TK, B, NULL, TN, 0, C1, TN);
    assert_int_equal(pd_gemm_bf16_on(path, 0, 0, TM, TN, TK, A, NULL, TK, B, NULL, TN, 0, C2, TN), PD_OK);
    for (int i = 0; i < TM * TN; i++) {
        assert_true(C1[i] == 0.0f);
        if (f_bits(C2[i]) != 0) {
            fprintf(stderr, "%s: subnormal sums not flushed: C[%d] = %g\n", pd_gemm_bf16_path_name(path), i, C2[i]);
            fail();
        }
    }
}

static void test_path_avx2(void **state) {
    (void)state;
    if (pd_gemm_bf16_best() < PD_GEMM_BF16_AVX2) {
        assert_int_equal(pd_gemm_bf16_on(PD_GEMM_BF16_AVX2, 0, 0, 1, 1, 1, NULL, NULL, 1, NULL, NULL, 1, 0, NULL, 1),
                         PD_ERR_UNSUPPORTED);
        skip();
    }
    check_path(PD_GEMM_BF16_AVX2);
}

static void test_path_avx512bf16(void **state) {
    (void)state;
    if (pd_gemm_bf16_best() < PD_GEMM_BF16_AVX512BF16) {
        float c = 1;
        assert_int_equal(pd_gemm_bf16_on(PD_GEMM_BF16_AVX512BF16, 0, 0, 1, 1, 1, &c, NULL, 1, &c, NULL, 1, 0, &c, 1),
                         PD_ERR_UNSUPPORTED);
        assert_true(c == 1.0f); /* nothing written */
        fprintf(stderr, "no avx512_bf16 here: the real vdpbf16ps path is not run (test_gemm_bf16_emu covers its logic)\n");
        return;
    }
    check_path(PD_GEMM_BF16_AVX512BF16);
}

static void test_dispatch(void **state) {
    (void)state;
    /* pd_gemm_bf16 = the best path; the scalar path by name = the twin */
    pd_rng r;
    pd_rng_seed(&r, 5);
    float A[40 * 30], B[30 * 20], C1[40 * 20], C2[40 * 20];
    for (int i = 0; i < 40 * 30; i++) A[i] = (float)pd_rng_normal(&r);
    for (int i = 0; i < 30 * 20; i++) B[i] = (float)pd_rng_normal(&r);
    pd_gemm_bf16_ref(0, 0, 40, 20, 30, A, NULL, 30, B, NULL, 20, 0, C1, 20);
    pd_gemm_bf16(0, 0, 40, 20, 30, A, NULL, 30, B, NULL, 20, 0, C2, 20);
    assert_memory_equal(C1, C2, sizeof C1);
    assert_int_equal(pd_gemm_bf16_on(PD_GEMM_BF16_SCALAR, 0, 0, 40, 20, 30, A, NULL, 30, B, NULL, 20, 0, C2, 20), PD_OK);
    assert_memory_equal(C1, C2, sizeof C1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round),          cmocka_unit_test(test_twin_vs_double),
        cmocka_unit_test(test_order_and_blocks), cmocka_unit_test(test_path_avx2),
        cmocka_unit_test(test_path_avx512bf16), cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
