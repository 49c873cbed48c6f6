/* ponder/svd.h — thin singular value decomposition (LAPACK when built with it, a one-sided
 * Jacobi routine always), the Kronecker-product SVD (Van Loan–Pitsianis) used by SoKA, and the
 * rank-selection rules (energy threshold, elbow point) of ../shared/specs/training.md §1.3.
 *
 * Conventions: every matrix is row-major. For A (m×n) and k = min(m, n):
 *   A = U · diag(S) · Vt,  U: m×k (orthonormal columns), S: k values, descending, ≥ 0,
 *   Vt: k×n (orthonormal rows).
 * Singular vectors are made unique up to sign by a fixed rule: the entry of largest magnitude of
 * each right singular vector (row of Vt) is positive. Columns of U that belong to zero singular
 * values are still orthonormal (completed), so U is always a valid thin factor. */
#ifndef PONDER_SVD_H
#define PONDER_SVD_H
#include <stdbool.h>
#include <stdint.h>
#include "ponder/error.h"

typedef enum {
    PD_SVD_AUTO = 0,   /* LAPACK (dgesdd) when compiled in, else Jacobi */
    PD_SVD_LAPACK = 1, /* PD_ERR_UNSUPPORTED when not compiled in */
    PD_SVD_JACOBI = 2, /* built-in one-sided Jacobi (Hestenes), double precision */
} pd_svd_method;

bool pd_svd_have_lapack(void);

/* A: m×n (not modified). U (m×k), S (k), Vt (k×n): U and Vt may be NULL (values only).
 * Work is done in double precision; the f32 variant converts in and out. */
pd_status pd_svd_f64(const double *A, int64_t m, int64_t n, double *U, double *S, double *Vt, pd_svd_method method);
pd_status pd_svd_f32(const float *A, int64_t m, int64_t n, float *U, float *S, float *Vt, pd_svd_method method);

/* ---- Kronecker products (row-major, spec §1.1) ----
 * A (m1×n1) ⊗ B (m2×n2) is (m1·m2)×(n1·n2) with (A⊗B)[i1·m2+i2][j1·n2+j2] = A[i1][j1]·B[i2][j2].
 * For x of length n1·n2 read row-major as X (n1×n2): (A⊗B)·x = vec_rowmajor(A · X · Bᵀ).
 * (In column-major vec notation the same identity reads (A⊗B) vec(X) = vec(B X Aᵀ).) */

/* Rearrangement R(W), (m1·n1)×(m2·n2): R[i1·n1+j1][i2·n2+j2] = W[i1·m2+i2][j1·n2+j2];
 * R(A⊗B) = vec(A) vec(B)ᵀ. W is (m1·m2)×(n1·n2). */
void pd_kron_rearrange(const float *W, int64_t m1, int64_t n1, int64_t m2, int64_t n2, double *R);
/* Dense A⊗B (tests and merging only; the adapters never build it). out is (m1·m2)×(n1·n2). */
void pd_kron_dense(const float *A, int64_t m1, int64_t n1, const float *B, int64_t m2, int64_t n2, float *out);
/* Factor a dimension d = a·b with a ≤ b and a as close to √d as possible (a = the largest divisor
 * of d not above √d). Used for SoKA factor shapes: m1·m2 = d_out, n1·n2 = d_in. */
void pd_kron_factor_dim(int64_t d, int64_t *a, int64_t *b);

/* KPSVD: W ≈ Σ_k sigma[k]·A_k⊗B_k, A_k m1×n1 (unit Frobenius norm), B_k m2×n2 (unit norm).
 * sigma receives the whole spectrum (K = min(m1·n1, m2·n2) values, descending); A (r_max·m1·n1)
 * and B (r_max·m2·n2) receive the first r_max terms (r_max ≤ K). Sign rule: as pd_svd. */
pd_status pd_kpsvd(const float *W, int64_t m1, int64_t n1, int64_t m2, int64_t n2, int r_max, double *sigma,
                   float *A, float *B, pd_svd_method method);
static inline int64_t pd_kpsvd_n_values(int64_t m1, int64_t n1, int64_t m2, int64_t n2) {
    return m1 * n1 < m2 * n2 ? m1 * n1 : m2 * n2;
}

/* ---- rank selection on a descending spectrum s[0..K) (spec §1.3) ----
 * energy: smallest r with Σ_{k≤r} s_k² / Σ_k s_k² ≥ tau (tau in (0,1]); K if the total is 0 → 1.
 * elbow:  Kneedle on log s: x_k = (k−1)/(K−1), y_k = (log s_k − log s_K)/(log s_1 − log s_K),
 *         r = argmax_k (1 − x_k − y_k) (1-based; ties → smallest k). Values are floored at
 *         1e-12·s_1 before the log so exact zeros are allowed; K ≤ 2 or a flat spectrum → 1.
 *         Note the elbow index is the first point after the steep part: for a spectrum with a
 *         sharp drop after r large values it returns r+1 (the knee point itself is kept).
 * both:   clamp(min(r_energy, r_elbow), 1, r_max). */
typedef enum { PD_RANK_ENERGY = 0, PD_RANK_ELBOW = 1, PD_RANK_BOTH = 2 } pd_rank_rule;
int pd_rank_energy(const double *s, int64_t K, double tau);
int pd_rank_elbow(const double *s, int64_t K);
/* The rule's rank clamped to [1, r_max] (r_max ≤ 0: no upper clamp besides K). */
int pd_rank_select(pd_rank_rule rule, const double *s, int64_t K, double tau, int r_max);
const char *pd_rank_rule_name(pd_rank_rule r);
int pd_rank_rule_from_name(const char *name); /* "energy" | "elbow" | "both"; -1 if unknown */

#endif
