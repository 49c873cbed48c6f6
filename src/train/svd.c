/* train/svd.c — thin SVD of a dense row-major matrix: LAPACK's dgesdd when built with LAPACKE,
 * and a one-sided Jacobi (Hestenes) routine in double precision that is always compiled and
 * tested. Both end with the same sign normalisation so their outputs are comparable. */
#include "ponder/svd.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef PD_HAVE_LAPACKE
#include <lapacke.h>
#endif

bool pd_svd_have_lapack(void) {
#ifdef PD_HAVE_LAPACKE
    return true;
#else
    return false;
#endif
}

/* Make each (u_k, v_k) pair unique up to sign: largest-|.| entry of v_k positive. */
static void sign_normalise(double *U, double *Vt, int64_t m, int64_t n, int64_t k) {
    if (!Vt) return;
    for (int64_t r = 0; r < k; r++) {
        double *v = Vt + r * n, best = 0;
        int64_t bi = 0;
        for (int64_t j = 0; j < n; j++)
            if (fabs(v[j]) > best + 1e-12 * best) { best = fabs(v[j]); bi = j; }
        if (v[bi] >= 0) continue;
        for (int64_t j = 0; j < n; j++) v[j] = -v[j];
        if (U)
            for (int64_t i = 0; i < m; i++) U[i * k + r] = -U[i * k + r];
    }
}

/* One-sided Jacobi on a tall matrix (m >= n) stored column-major in G (n columns of m).
 * Produces S (n, descending), U (m×n row-major, may be NULL), Vt (n×n row-major, may be NULL). */
static pd_status jacobi_tall(double *G, int64_t m, int64_t n, double *U, double *S, double *Vt) {
    double *V = pd_calloc((size_t)(n * n), sizeof(double));
    double *norm = pd_malloc((size_t)n * sizeof(double));
    int64_t *ord = pd_malloc((size_t)n * sizeof(int64_t));
    if (!V || !norm || !ord) {
        free(V); free(norm); free(ord);
        return pd_fail(PD_ERR_NOMEM, "svd: out of memory for a %lldx%lld Jacobi SVD", (long long)m, (long long)n);
    }
    for (int64_t j = 0; j < n; j++) V[j * n + j] = 1.0;
    const double eps = 1e-15;
    for (int sweep = 0; sweep < 80; sweep++) {
        int rotated = 0;
        for (int64_t p = 0; p < n - 1; p++) {
            for (int64_t q = p + 1; q < n; q++) {
                double *gp = G + p * m, *gq = G + q * m;
                double a = 0, b = 0, c = 0;
                for (int64_t i = 0; i < m; i++) { a += gp[i] * gp[i]; b += gq[i] * gq[i]; c += gp[i] * gq[i]; }
                if (a == 0 || b == 0 || fabs(c) <= eps * sqrt(a * b)) continue;
                rotated = 1;
                double zeta = (b - a) / (2 * c);
                double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double cs = 1 / sqrt(1 + t * t), sn = cs * t;
                for (int64_t i = 0; i < m; i++) {
                    double x = gp[i], y = gq[i];
                    gp[i] = cs * x - sn * y;
                    gq[i] = sn * x + cs * y;
                }
                double *vp = V + p * n, *vq = V + q * n;
                for (int64_t i = 0; i < n; i++) {
                    double x = vp[i], y = vq[i];
                    vp[i] = cs * x - sn * y;
                    vq[i] = sn * x + cs * y;
                }
            }
        }
        if (!rotated) break;
    }
    for (int64_t j = 0; j < n; j++) {
        double s = 0;
        for (int64_t i = 0; i < m; i++) s += G[j * m + i] * G[j * m + i];
        norm[j] = sqrt(s);
        ord[j] = j;
    }
    /* insertion sort by descending norm (n is small enough; stable) */
    for (int64_t i = 1; i < n; i++) {
        int64_t o = ord[i], j = i;
        while (j > 0 && norm[ord[j - 1]] < norm[o]) { ord[j] = ord[j - 1]; j--; }
        ord[j] = o;
    }
    double smax = n > 0 ? norm[ord[0]] : 0;
    for (int64_t r = 0; r < n; r++) S[r] = norm[ord[r]];
    if (Vt)
        for (int64_t r = 0; r < n; r++) memcpy(Vt + r * n, V + ord[r] * n, (size_t)n * sizeof(double));
    if (U) {
        /* columns with a negligible singular value are completed to an orthonormal set */
        double tiny = smax * 1e-13 * (double)(m > n ? m : n);
        int64_t next_e = 0;
        for (int64_t r = 0; r < n; r++) {
            double *g = G + ord[r] * m, s = norm[ord[r]];
            if (s > tiny && s > 0) {
                for (int64_t i = 0; i < m; i++) U[i * n + r] = g[i] / s;
                continue;
            }
            /* Gram–Schmidt a standard basis vector against the columns already set */
            for (;;) {
                if (next_e >= m) { /* cannot happen for m >= n: kept as a guard */
                    free(V); free(norm); free(ord);
                    return pd_fail(PD_ERR_STATE, "svd: could not complete U (%lldx%lld)", (long long)m, (long long)n);
                }
                for (int64_t i = 0; i < m; i++) g[i] = (i == next_e) ? 1.0 : 0.0;
                next_e++;
                for (int pass = 0; pass < 2; pass++)
                    for (int64_t c2 = 0; c2 < r; c2++) {
                        double d = 0;
                        for (int64_t i = 0; i < m; i++) d += U[i * n + c2] * g[i];
                        for (int64_t i = 0; i < m; i++) g[i] -= d * U[i * n + c2];
                    }
                double nn = 0;
                for (int64_t i = 0; i < m; i++) nn += g[i] * g[i];
                nn = sqrt(nn);
                if (nn > 0.5) {
                    for (int64_t i = 0; i < m; i++) U[i * n + r] = g[i] / nn;
                    break;
                }
            }
        }
    }
    free(V); free(norm); free(ord);
    return PD_OK;
}

static pd_status svd_jacobi(const double *A, int64_t m, int64_t n, double *U, double *S, double *Vt) {
    int64_t k = m < n ? m : n;
    if (m >= n) {
        double *G = pd_malloc((size_t)(m * n) * sizeof(double));
        if (!G) return pd_fail(PD_ERR_NOMEM, "svd: out of memory for a %lldx%lld matrix", (long long)m, (long long)n);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) G[j * m + i] = A[i * n + j];
        pd_status st = jacobi_tall(G, m, n, U, S, Vt);
        free(G);
        return st;
    }
    /* wide: SVD of Aᵀ (n×m) = U' S V'ᵀ, so A = V' S U'ᵀ: U = V' (m×k), Vt = U'ᵀ (k×n) */
    /* we need U' when the caller wants Vt, and V' when the caller wants U */
    double *G = pd_malloc((size_t)(m * n) * sizeof(double));
    double *Up = Vt ? pd_malloc((size_t)(n * k) * sizeof(double)) : NULL;
    double *Vp = U ? pd_malloc((size_t)(k * k) * sizeof(double)) : NULL;
    if (!G || (Vt && !Up) || (U && !Vp)) {
        free(G); free(Up); free(Vp);
        return pd_fail(PD_ERR_NOMEM, "svd: out of memory for a %lldx%lld matrix", (long long)m, (long long)n);
    }
    /* Aᵀ column-major = A row-major: column i of Aᵀ is row i of A */
    memcpy(G, A, (size_t)(m * n) * sizeof(double));
    pd_status st = jacobi_tall(G, n, m, Up, S, Vp);
    if (st == PD_OK) {
        if (U) /* U[i][r] = V'[i][r] = (V'ᵀ)[r][i] = Vp[r*k + i] */
            for (int64_t i = 0; i < m; i++)
                for (int64_t r = 0; r < k; r++) U[i * k + r] = Vp[r * k + i];
        if (Vt) /* Vt[r][j] = U'[j][r] */
            for (int64_t r = 0; r < k; r++)
                for (int64_t j = 0; j < n; j++) Vt[r * n + j] = Up[j * k + r];
    }
    free(G); free(Up); free(Vp);
    return st;
}

pd_status pd_svd_f64(const double *A, int64_t m, int64_t n, double *U, double *S, double *Vt, pd_svd_method method) {
    if (!A || !S || m <= 0 || n <= 0)
        return pd_fail(PD_ERR_ARG, "svd: bad arguments (matrix %lldx%lld, A=%p, S=%p)", (long long)m, (long long)n,
                       (const void *)A, (void *)S);
    for (int64_t i = 0; i < m * n; i++)
        if (!isfinite(A[i]))
            return pd_fail(PD_ERR_ARG, "svd: non-finite entry at row %lld col %lld", (long long)(i / n),
                           (long long)(i % n));
    int64_t k = m < n ? m : n;
    if (method == PD_SVD_AUTO) method = pd_svd_have_lapack() ? PD_SVD_LAPACK : PD_SVD_JACOBI;
    pd_status st;
    if (method == PD_SVD_LAPACK) {
#ifdef PD_HAVE_LAPACKE
        if (m > INT32_MAX || n > INT32_MAX)
            return pd_fail(PD_ERR_RANGE, "svd: %lldx%lld is too large for LAPACK", (long long)m, (long long)n);
        double *a = pd_malloc((size_t)(m * n) * sizeof(double));
        if (!a) return pd_fail(PD_ERR_NOMEM, "svd: out of memory for a %lldx%lld matrix", (long long)m, (long long)n);
        memcpy(a, A, (size_t)(m * n) * sizeof(double));
        bool vec = U || Vt;
        double *u = U, *vt = Vt, *tu = NULL, *tvt = NULL;
        if (vec && !U) u = tu = pd_malloc((size_t)(m * k) * sizeof(double));
        if (vec && !Vt) vt = tvt = pd_malloc((size_t)(k * n) * sizeof(double));
        if ((vec && !u) || (vec && !vt)) {
            free(a); free(tu); free(tvt);
            return pd_fail(PD_ERR_NOMEM, "svd: out of memory for a %lldx%lld matrix", (long long)m, (long long)n);
        }
        lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, vec ? 'S' : 'N', (lapack_int)m, (lapack_int)n, a,
                                         (lapack_int)n, S, vec ? u : NULL, (lapack_int)k, vec ? vt : NULL, (lapack_int)n);
        free(a);
        if (info == 0) sign_normalise(u, vt, m, n, k);
        free(tu); free(tvt);
        if (info != 0)
            return pd_fail(PD_ERR_STATE, "svd: LAPACK dgesdd failed on a %lldx%lld matrix (info %d)", (long long)m,
                           (long long)n, (int)info);
        return PD_OK;
#else
        return pd_fail(PD_ERR_UNSUPPORTED, "svd: this build has no LAPACK (use the Jacobi method)");
#endif
    }
    if (method != PD_SVD_JACOBI) return pd_fail(PD_ERR_ARG, "svd: unknown method %d", (int)method);
    st = svd_jacobi(A, m, n, U, S, Vt);
    if (st == PD_OK) sign_normalise(U, Vt, m, n, k);
    return st;
}

pd_status pd_svd_f32(const float *A, int64_t m, int64_t n, float *U, float *S, float *Vt, pd_svd_method method) {
    if (!A || !S || m <= 0 || n <= 0)
        return pd_fail(PD_ERR_ARG, "svd: bad arguments (matrix %lldx%lld)", (long long)m, (long long)n);
    int64_t k = m < n ? m : n;
    size_t mn;
    if (!pd_mul_ok((size_t)m, (size_t)n, &mn))
        return pd_fail(PD_ERR_RANGE, "svd: %lldx%lld overflows", (long long)m, (long long)n);
    double *a = pd_malloc(mn * sizeof(double)), *s = pd_malloc((size_t)k * sizeof(double));
    double *u = U ? pd_malloc((size_t)(m * k) * sizeof(double)) : NULL;
    double *vt = Vt ? pd_malloc((size_t)(k * n) * sizeof(double)) : NULL;
    pd_status st = PD_ERR_NOMEM;
    if (!a || !s || (U && !u) || (Vt && !vt)) {
        st = pd_fail(PD_ERR_NOMEM, "svd: out of memory for a %lldx%lld matrix", (long long)m, (long long)n);
        goto out;
    }
    for (size_t i = 0; i < mn; i++) a[i] = A[i];
    st = pd_svd_f64(a, m, n, u, s, vt, method);
    if (st != PD_OK) goto out;
    for (int64_t i = 0; i < k; i++) S[i] = (float)s[i];
    if (U)
        for (int64_t i = 0; i < m * k; i++) U[i] = (float)u[i];
    if (Vt)
        for (int64_t i = 0; i < k * n; i++) Vt[i] = (float)vt[i];
out:
    free(a); free(s); free(u); free(vt);
    return st;
}
