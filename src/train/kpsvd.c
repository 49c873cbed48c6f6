/* train/kpsvd.c — Kronecker-product SVD (Van Loan–Pitsianis rearrangement + SVD), Kronecker
 * helpers and the rank-selection rules (energy threshold, Kneedle elbow) used by SoKA.
 * Conventions (row-major throughout) are documented in ponder/svd.h and spec §1.1–1.3. */
#include "ponder/svd.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pd_kron_rearrange(const float *W, int64_t m1, int64_t n1, int64_t m2, int64_t n2, double *R) {
    const int64_t cols = n1 * n2, rlen = m2 * n2;
    for (int64_t i1 = 0; i1 < m1; i1++)
        for (int64_t j1 = 0; j1 < n1; j1++) {
            double *row = R + (i1 * n1 + j1) * rlen;
            for (int64_t i2 = 0; i2 < m2; i2++) {
                const float *w = W + (i1 * m2 + i2) * cols + j1 * n2;
                for (int64_t j2 = 0; j2 < n2; j2++) row[i2 * n2 + j2] = w[j2];
            }
        }
}

void pd_kron_dense(const float *A, int64_t m1, int64_t n1, const float *B, int64_t m2, int64_t n2, float *out) {
    const int64_t cols = n1 * n2;
    for (int64_t i1 = 0; i1 < m1; i1++)
        for (int64_t i2 = 0; i2 < m2; i2++)
            for (int64_t j1 = 0; j1 < n1; j1++)
                for (int64_t j2 = 0; j2 < n2; j2++)
                    out[(i1 * m2 + i2) * cols + j1 * n2 + j2] = A[i1 * n1 + j1] * B[i2 * n2 + j2];
}

void pd_kron_factor_dim(int64_t d, int64_t *a, int64_t *b) {
    int64_t best = 1;
    for (int64_t x = 1; x * x <= d; x++)
        if (d % x == 0) best = x;
    *a = best;
    *b = d > 0 ? d / best : 0;
}

pd_status pd_kpsvd(const float *W, int64_t m1, int64_t n1, int64_t m2, int64_t n2, int r_max, double *sigma,
                   float *A, float *B, pd_svd_method method) {
    if (!W || m1 <= 0 || n1 <= 0 || m2 <= 0 || n2 <= 0)
        return pd_fail(PD_ERR_ARG, "kpsvd: bad factor shapes %lldx%lld (x) %lldx%lld", (long long)m1, (long long)n1,
                       (long long)m2, (long long)n2);
    const int64_t rows = m1 * n1, cols = m2 * n2, K = rows < cols ? rows : cols;
    if (r_max < 0 || r_max > K)
        return pd_fail(PD_ERR_RANGE, "kpsvd: %d terms requested but the rearranged %lldx%lld matrix has only %lld",
                       r_max, (long long)rows, (long long)cols, (long long)K);
    size_t nR;
    if (!pd_mul_ok((size_t)rows, (size_t)cols, &nR))
        return pd_fail(PD_ERR_RANGE, "kpsvd: rearranged matrix %lldx%lld overflows", (long long)rows, (long long)cols);
    double *R = pd_malloc(nR * sizeof(double));
    double *U = r_max > 0 ? pd_malloc((size_t)(rows * K) * sizeof(double)) : NULL;
    double *Vt = r_max > 0 ? pd_malloc((size_t)(K * cols) * sizeof(double)) : NULL;
    double *S = sigma;
    pd_status st;
    if (!R || (r_max > 0 && (!U || !Vt))) {
        st = pd_fail(PD_ERR_NOMEM, "kpsvd: out of memory for a %lldx%lld rearrangement", (long long)rows,
                     (long long)cols);
        goto out;
    }
    pd_kron_rearrange(W, m1, n1, m2, n2, R);
    st = pd_svd_f64(R, rows, cols, U, S, Vt, method);
    if (st != PD_OK) {
        pd_fail_ctx(st, "kpsvd");
        goto out;
    }
    /* R = Σ σ_k u_k v_kᵀ with u_k = vec(A_k), v_k = vec(B_k): A_k = reshape(U[:,k]), B_k = reshape(Vt[k,:]) */
    for (int k = 0; k < r_max; k++) {
        for (int64_t i = 0; i < rows; i++) A[k * rows + i] = (float)U[i * K + k];
        for (int64_t j = 0; j < cols; j++) B[k * cols + j] = (float)Vt[k * cols + j];
    }
out:
    free(R); free(U); free(Vt);
    return st;
}

int pd_rank_energy(const double *s, int64_t K, double tau) {
    if (K <= 0) return 1;
    double total = 0;
    for (int64_t k = 0; k < K; k++) total += s[k] * s[k];
    if (!(total > 0)) return 1;
    double acc = 0;
    for (int64_t k = 0; k < K; k++) {
        acc += s[k] * s[k];
        /* a relative slack of 1e-12 so that tau = 1 is reached despite rounding */
        if (acc >= tau * total * (1 - 1e-12)) return (int)(k + 1);
    }
    return (int)K;
}

int pd_rank_elbow(const double *s, int64_t K) {
    if (K <= 2 || !(s[0] > 0)) return 1;
    double floor_v = s[0] * 1e-12;
    double l1 = log(s[0]), lK = log(s[K - 1] > floor_v ? s[K - 1] : floor_v);
    if (!(l1 - lK > 1e-12)) return 1; /* flat spectrum: no elbow */
    int best = 1;
    double best_d = -INFINITY;
    for (int64_t k = 0; k < K; k++) {
        double v = s[k] > floor_v ? s[k] : floor_v;
        double x = (double)k / (double)(K - 1);
        double y = (log(v) - lK) / (l1 - lK);
        double d = 1 - x - y;
        if (d > best_d + 1e-12) { best_d = d; best = (int)(k + 1); }
    }
    return best;
}

int pd_rank_select(pd_rank_rule rule, const double *s, int64_t K, double tau, int r_max) {
    int r;
    switch (rule) {
    case PD_RANK_ENERGY: r = pd_rank_energy(s, K, tau); break;
    case PD_RANK_ELBOW: r = pd_rank_elbow(s, K); break;
    default: {
        int a = pd_rank_energy(s, K, tau), b = pd_rank_elbow(s, K);
        r = a < b ? a : b;
    }
    }
    if (r > K) r = (int)K;
    if (r_max > 0 && r > r_max) r = r_max;
    return r < 1 ? 1 : r;
}

const char *pd_rank_rule_name(pd_rank_rule r) {
    return r == PD_RANK_ENERGY ? "energy" : r == PD_RANK_ELBOW ? "elbow" : "both";
}

int pd_rank_rule_from_name(const char *name) {
    if (!name) return -1;
    if (!strcasecmp(name, "energy")) return PD_RANK_ENERGY;
    if (!strcasecmp(name, "elbow")) return PD_RANK_ELBOW;
    if (!strcasecmp(name, "both")) return PD_RANK_BOTH;
    return -1;
}
