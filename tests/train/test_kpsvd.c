/* tests/train/test_kpsvd.c — Kronecker rearrangement, KPSVD recovery of sums of Kronecker
 * products (exact at rank r, truncation error = tail energy), factor shapes, rank rules on
 * spectra whose answers are worked out by hand. */
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

static void test_rearrange_is_outer_product(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 1);
    const int64_t m1 = 2, n1 = 3, m2 = 4, n2 = 5;
    float A[6], B[20], K[8 * 15];
    for (int i = 0; i < 6; i++) A[i] = (float)pd_rng_normal(&r);
    for (int i = 0; i < 20; i++) B[i] = (float)pd_rng_normal(&r);
    pd_kron_dense(A, m1, n1, B, m2, n2, K);
    /* element rule of A⊗B, written out directly */
    assert_float_equal(K[(1 * 4 + 2) * 15 + 2 * 5 + 3], A[1 * 3 + 2] * B[2 * 5 + 3], 0);
    double R[6 * 20];
    pd_kron_rearrange(K, m1, n1, m2, n2, R);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 20; j++) assert_true(fabs(R[i * 20 + j] - (double)A[i] * B[j]) < 1e-6);
}

/* W = Σ_k c_k A_k⊗B_k with arbitrary (not orthogonal) factors: rank r recovers W exactly. */
static void test_recover_sum_of_kron(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 2);
    const int64_t m1 = 4, n1 = 3, m2 = 5, n2 = 6, M = m1 * m2, N = n1 * n2, K = 12;
    const int rank = 3;
    float *W = calloc(M * N, sizeof(float)), *T = malloc(sizeof(float) * M * N), *Wr = calloc(M * N, sizeof(float));
    for (int k = 0; k < rank; k++) {
        float A[12], B[30];
        for (int i = 0; i < 12; i++) A[i] = (float)pd_rng_normal(&r);
        for (int i = 0; i < 30; i++) B[i] = (float)pd_rng_normal(&r);
        pd_kron_dense(A, m1, n1, B, m2, n2, T);
        for (int64_t i = 0; i < M * N; i++) W[i] += T[i];
    }
    pd_svd_method ms[2] = {PD_SVD_JACOBI, PD_SVD_LAPACK};
    for (int mi = 0; mi < (pd_svd_have_lapack() ? 2 : 1); mi++) {
        double sig[12];
        float Af[3 * 12], Bf[3 * 30];
        assert_int_equal(pd_kpsvd_n_values(m1, n1, m2, n2), K);
        assert_int_equal(pd_kpsvd(W, m1, n1, m2, n2, rank, sig, Af, Bf, ms[mi]), PD_OK);
        double wn = 0;
        for (int64_t i = 0; i < M * N; i++) wn += (double)W[i] * W[i];
        wn = sqrt(wn);
        for (int k = rank; k < K; k++) assert_true(sig[k] < 1e-5 * wn);
        assert_true(sig[rank - 1] > 1e-2 * wn);
        memset(Wr, 0, sizeof(float) * M * N);
        for (int k = 0; k < rank; k++) {
            pd_kron_dense(Af + k * 12, m1, n1, Bf + k * 30, m2, n2, T);
            for (int64_t i = 0; i < M * N; i++) Wr[i] += (float)sig[k] * T[i];
        }
        for (int64_t i = 0; i < M * N; i++) assert_true(fabs(Wr[i] - W[i]) < 1e-5 * wn);
    }
    free(W); free(T); free(Wr);
}

/* Orthonormal factors with known weights: KPSVD returns exactly those weights, and truncating at
 * t terms leaves a Frobenius error of sqrt(Σ_{k>t} σ_k²). */
static void test_known_spectrum_truncation(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 3);
    const int64_t m1 = 3, n1 = 4, m2 = 4, n2 = 4, M = 12, N = 16, P = 12, Q = 16;
    const int rank = 5;
    const double sig_true[5] = {9, 5, 3, 2, 0.5};
    double a[5][12], b[5][16];
    /* Gram–Schmidt random vectors into orthonormal sets vec(A_k), vec(B_k) */
    for (int k = 0; k < rank; k++) {
        for (int i = 0; i < P; i++) a[k][i] = pd_rng_normal(&r);
        for (int i = 0; i < Q; i++) b[k][i] = pd_rng_normal(&r);
        for (int p = 0; p < k; p++) {
            double da = 0, db = 0;
            for (int i = 0; i < P; i++) da += a[k][i] * a[p][i];
            for (int i = 0; i < Q; i++) db += b[k][i] * b[p][i];
            for (int i = 0; i < P; i++) a[k][i] -= da * a[p][i];
            for (int i = 0; i < Q; i++) b[k][i] -= db * b[p][i];
        }
        double na = 0, nb = 0;
        for (int i = 0; i < P; i++) na += a[k][i] * a[k][i];
        for (int i = 0; i < Q; i++) nb += b[k][i] * b[k][i];
        for (int i = 0; i < P; i++) a[k][i] /= sqrt(na);
        for (int i = 0; i < Q; i++) b[k][i] /= sqrt(nb);
    }
    float W[12 * 16] = {0}, T[12 * 16], Af[12], Bf[16];
    for (int k = 0; k < rank; k++) {
        for (int i = 0; i < P; i++) Af[i] = (float)a[k][i];
        for (int i = 0; i < Q; i++) Bf[i] = (float)b[k][i];
        pd_kron_dense(Af, m1, n1, Bf, m2, n2, T);
        for (int i = 0; i < M * N; i++) W[i] += (float)sig_true[k] * T[i];
    }
    double sig[12];
    float A[5 * 12], B[5 * 16];
    assert_int_equal(pd_kpsvd(W, m1, n1, m2, n2, rank, sig, A, B, PD_SVD_AUTO), PD_OK);
    for (int k = 0; k < rank; k++) assert_true(fabs(sig[k] - sig_true[k]) < 1e-5);
    for (int t = 0; t <= rank; t++) {
        double err = 0, want = 0;
        float Wt[12 * 16];
        memcpy(Wt, W, sizeof W);
        for (int k = 0; k < t; k++) {
            pd_kron_dense(A + k * 12, m1, n1, B + k * 16, m2, n2, T);
            for (int i = 0; i < M * N; i++) Wt[i] -= (float)sig[k] * T[i];
        }
        for (int i = 0; i < M * N; i++) err += (double)Wt[i] * Wt[i];
        for (int k = t; k < rank; k++) want += sig_true[k] * sig_true[k];
        assert_true(fabs(sqrt(err) - sqrt(want)) < 1e-5);
    }
    /* each factor has unit Frobenius norm */
    for (int k = 0; k < rank; k++) {
        double na = 0;
        for (int i = 0; i < 12; i++) na += (double)A[k * 12 + i] * A[k * 12 + i];
        assert_true(fabs(na - 1) < 1e-5);
    }
}

static void test_factor_dim(void **st) {
    (void)st;
    int64_t a, b;
    pd_kron_factor_dim(4096, &a, &b);
    assert_int_equal(a, 64); assert_int_equal(b, 64);
    pd_kron_factor_dim(896, &a, &b); /* 896 = 2^7·7, √896 ≈ 29.9: largest divisor ≤ 29 is 28 */
    assert_int_equal(a, 28); assert_int_equal(b, 32);
    pd_kron_factor_dim(11008, &a, &b); /* 2^8·43, √ ≈ 104.9: divisors 64, 86, 128 → 86 */
    assert_int_equal(a, 86); assert_int_equal(b, 128);
    pd_kron_factor_dim(13, &a, &b);
    assert_int_equal(a, 1); assert_int_equal(b, 13);
}

static void test_rank_rules(void **st) {
    (void)st;
    /* energy: squares 16, 9, 0 → E(1) = 0.64, E(2) = 1 */
    double s1[4] = {4, 3, 0, 0};
    assert_int_equal(pd_rank_energy(s1, 4, 0.60), 1);
    assert_int_equal(pd_rank_energy(s1, 4, 0.64), 1);
    assert_int_equal(pd_rank_energy(s1, 4, 0.65), 2);
    assert_int_equal(pd_rank_energy(s1, 4, 1.0), 2);
    /* squares 25, 16, 9, 4, 1 (total 55): E = .4545, .7455, .9091, .9818, 1 */
    double s2[5] = {5, 4, 3, 2, 1};
    assert_int_equal(pd_rank_energy(s2, 5, 0.90), 3);
    assert_int_equal(pd_rank_energy(s2, 5, 0.95), 4);
    /* elbow on s = 100, 10, 1, 0.5, 0.25: log s = 4.605, 2.303, 0, −0.693, −1.386, span 5.991;
     * y = 1, .6157, .2314, .1157, 0; x = 0, .25, .5, .75, 1; 1−x−y = 0, .134, .269, .134, 0 → 3 */
    double s3[5] = {100, 10, 1, 0.5, 0.25};
    assert_int_equal(pd_rank_elbow(s3, 5), 3);
    /* sharp drop after 3 values, exact zeros in the tail: the knee is the 4th point */
    double s4[8] = {10, 9, 8, 0, 0, 0, 0, 0};
    assert_int_equal(pd_rank_elbow(s4, 8), 4);
    assert_int_equal(pd_rank_energy(s4, 8, 0.9), 3);
    assert_int_equal(pd_rank_select(PD_RANK_BOTH, s4, 8, 0.9, 8), 3);
    assert_int_equal(pd_rank_select(PD_RANK_ELBOW, s4, 8, 0.9, 2), 2); /* clamped to r_max */
    assert_int_equal(pd_rank_select(PD_RANK_ENERGY, s3, 5, 0.999, 0), 2); /* 10000+100 of 10101.3 */
    /* flat and tiny spectra */
    double s5[4] = {2, 2, 2, 2};
    assert_int_equal(pd_rank_elbow(s5, 4), 1);
    assert_int_equal(pd_rank_energy(s5, 4, 0.9), 4);
    double s6[4] = {0, 0, 0, 0};
    assert_int_equal(pd_rank_select(PD_RANK_BOTH, s6, 4, 0.9, 8), 1);
    assert_int_equal(pd_rank_rule_from_name("elbow"), PD_RANK_ELBOW);
    assert_int_equal(pd_rank_rule_from_name("nope"), -1);
}

static void test_errors(void **st) {
    (void)st;
    float W[16] = {0}, A[16], B[16];
    double s[4];
    assert_int_equal(pd_kpsvd(W, 2, 2, 2, 2, 5, s, A, B, PD_SVD_AUTO), PD_ERR_RANGE);
    assert_non_null(strstr(pd_last_error(), "only 4"));
    assert_int_equal(pd_kpsvd(W, 0, 2, 2, 2, 1, s, A, B, PD_SVD_AUTO), PD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rearrange_is_outer_product), cmocka_unit_test(test_recover_sum_of_kron),
        cmocka_unit_test(test_known_spectrum_truncation),  cmocka_unit_test(test_factor_dim),
        cmocka_unit_test(test_rank_rules),                 cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
