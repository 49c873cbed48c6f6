/* tests/train/test_svd.c — thin SVD, both paths (LAPACK when compiled in, Jacobi always), on
 * matrices with known singular values built as U·diag(s)·Vᵀ from random orthogonal factors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/svd.h"
#include "ponder/rng.h"
#include "ponder/error.h"

/* Q: n×k with orthonormal columns (row-major), from Gram–Schmidt (twice) on Gaussian columns. */
static void rand_orth(pd_rng *r, int64_t n, int64_t k, double *Q) {
    for (int64_t i = 0; i < n * k; i++) Q[i] = pd_rng_normal(r);
    for (int64_t c = 0; c < k; c++) {
        for (int pass = 0; pass < 2; pass++)
            for (int64_t p = 0; p < c; p++) {
                double d = 0;
                for (int64_t i = 0; i < n; i++) d += Q[i * k + p] * Q[i * k + c];
                for (int64_t i = 0; i < n; i++) Q[i * k + c] -= d * Q[i * k + p];
            }
        double nn = 0;
        for (int64_t i = 0; i < n; i++) nn += Q[i * k + c] * Q[i * k + c];
        nn = sqrt(nn);
        for (int64_t i = 0; i < n; i++) Q[i * k + c] /= nn;
    }
}

/* A = P diag(s) Qᵀ with P m×k, Q n×k orthonormal */
static void build(pd_rng *r, int64_t m, int64_t n, const double *s, double *A) {
    int64_t k = m < n ? m : n;
    double *P = malloc(sizeof(double) * m * k), *Q = malloc(sizeof(double) * n * k);
    rand_orth(r, m, k, P);
    rand_orth(r, n, k, Q);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = 0;
            for (int64_t c = 0; c < k; c++) v += P[i * k + c] * s[c] * Q[j * k + c];
            A[i * n + j] = v;
        }
    free(P); free(Q);
}

/* checks: S equals s_true, U and Vt orthonormal, U S Vt == A */
static void check(const double *A, int64_t m, int64_t n, const double *s_true, const double *U, const double *S,
                  const double *Vt, double tol) {
    int64_t k = m < n ? m : n;
    double smax = s_true[0] > 0 ? s_true[0] : 1;
    for (int64_t c = 0; c < k; c++) {
        assert_true(fabs(S[c] - s_true[c]) < tol * smax);
        if (c) assert_true(S[c] <= S[c - 1]);
    }
    for (int64_t a = 0; a < k; a++)
        for (int64_t b = 0; b < k; b++) {
            double du = 0, dv = 0;
            for (int64_t i = 0; i < m; i++) du += U[i * k + a] * U[i * k + b];
            for (int64_t j = 0; j < n; j++) dv += Vt[a * n + j] * Vt[b * n + j];
            assert_true(fabs(du - (a == b)) < tol);
            assert_true(fabs(dv - (a == b)) < tol);
        }
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = 0;
            for (int64_t c = 0; c < k; c++) v += U[i * k + c] * S[c] * Vt[c * n + j];
            assert_true(fabs(v - A[i * n + j]) < tol * smax);
        }
}

static void run_case(int64_t m, int64_t n, const double *s_true, pd_svd_method method, uint64_t seed) {
    int64_t k = m < n ? m : n;
    pd_rng r;
    pd_rng_seed(&r, seed);
    double *A = malloc(sizeof(double) * m * n), *U = malloc(sizeof(double) * m * k);
    double *S = malloc(sizeof(double) * k), *Vt = malloc(sizeof(double) * k * n), *S2 = malloc(sizeof(double) * k);
    build(&r, m, n, s_true, A);
    assert_int_equal(pd_svd_f64(A, m, n, U, S, Vt, method), PD_OK);
    check(A, m, n, s_true, U, S, Vt, 1e-9);
    /* values-only call gives the same values */
    assert_int_equal(pd_svd_f64(A, m, n, NULL, S2, NULL, method), PD_OK);
    for (int64_t c = 0; c < k; c++) assert_true(fabs(S2[c] - S[c]) < 1e-9 * (s_true[0] + 1));
    free(A); free(U); free(S); free(Vt); free(S2);
}

static pd_svd_method methods[2] = {PD_SVD_JACOBI, PD_SVD_LAPACK};
static int n_methods(void) { return pd_svd_have_lapack() ? 2 : 1; }

static void test_known_values(void **st) {
    (void)st;
    static const int64_t shapes[][2] = {{12, 7}, {7, 12}, {16, 16}, {1, 5}, {5, 1}, {33, 20}};
    for (int mi = 0; mi < n_methods(); mi++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            int64_t m = shapes[si][0], n = shapes[si][1], k = m < n ? m : n;
            double s[64];
            for (int64_t c = 0; c < k; c++) s[c] = 10.0 * pow(0.7, (double)c) + 0.01; /* distinct, descending */
            run_case(m, n, s, methods[mi], 100 + si);
        }
}

static void test_rank_deficient(void **st) {
    (void)st;
    /* rank 3 in a 10×8 matrix, one repeated singular value, and the all-zero matrix */
    double s[8] = {5, 2, 2, 0, 0, 0, 0, 0};
    double z[6] = {0};
    for (int mi = 0; mi < n_methods(); mi++) {
        run_case(10, 8, s, methods[mi], 7);
        run_case(8, 10, s, methods[mi], 8);
        double A[36] = {0}, U[36], S[6], Vt[36];
        assert_int_equal(pd_svd_f64(A, 6, 6, U, S, Vt, methods[mi]), PD_OK);
        check(A, 6, 6, z, U, S, Vt, 1e-12);
    }
}

/* The two paths agree on the vectors too (distinct values, fixed sign rule). */
static void test_paths_agree(void **st) {
    (void)st;
    if (!pd_svd_have_lapack()) skip();
    pd_rng r;
    pd_rng_seed(&r, 3);
    int64_t m = 20, n = 9;
    double A[180], U1[180], U2[180], S1[9], S2[9], V1[81], V2[81];
    for (int i = 0; i < 180; i++) A[i] = pd_rng_normal(&r);
    assert_int_equal(pd_svd_f64(A, m, n, U1, S1, V1, PD_SVD_JACOBI), PD_OK);
    assert_int_equal(pd_svd_f64(A, m, n, U2, S2, V2, PD_SVD_LAPACK), PD_OK);
    for (int i = 0; i < 9; i++) assert_true(fabs(S1[i] - S2[i]) < 1e-10);
    for (int i = 0; i < 180; i++) assert_true(fabs(U1[i] - U2[i]) < 1e-8);
    for (int i = 0; i < 81; i++) assert_true(fabs(V1[i] - V2[i]) < 1e-8);
    /* the sign rule holds: largest-|.| entry of each right vector positive */
    for (int c = 0; c < 9; c++) {
        int bi = 0;
        for (int j = 1; j < 9; j++)
            if (fabs(V1[c * 9 + j]) > fabs(V1[c * 9 + bi])) bi = j;
        assert_true(V1[c * 9 + bi] > 0);
    }
}

static void test_f32(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 11);
    int64_t m = 24, n = 16;
    double s[16], A[384];
    for (int c = 0; c < 16; c++) s[c] = 16 - c;
    build(&r, m, n, s, A);
    float Af[384], U[384], S[16], Vt[256];
    for (int i = 0; i < 384; i++) Af[i] = (float)A[i];
    for (int mi = 0; mi < n_methods(); mi++) {
        assert_int_equal(pd_svd_f32(Af, m, n, U, S, Vt, methods[mi]), PD_OK);
        for (int c = 0; c < 16; c++) assert_true(fabs(S[c] - s[c]) < 1e-4);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double v = 0;
                for (int c = 0; c < 16; c++) v += (double)U[i * 16 + c] * S[c] * Vt[c * 16 + j];
                assert_true(fabs(v - Af[i * n + j]) < 1e-4);
            }
    }
}

static void test_bad_input(void **st) {
    (void)st;
    double A[4] = {1, 2, NAN, 4}, S[2];
    assert_int_equal(pd_svd_f64(A, 2, 2, NULL, S, NULL, PD_SVD_JACOBI), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "row 1 col 0"));
    assert_int_equal(pd_svd_f64(A, 0, 2, NULL, S, NULL, PD_SVD_JACOBI), PD_ERR_ARG);
    assert_int_equal(pd_svd_f64(A, 2, 2, NULL, NULL, NULL, PD_SVD_JACOBI), PD_ERR_ARG);
    if (!pd_svd_have_lapack()) assert_int_equal(pd_svd_f64(A, 2, 2, NULL, S, NULL, PD_SVD_LAPACK), PD_ERR_UNSUPPORTED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values), cmocka_unit_test(test_rank_deficient), cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_f32),          cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
