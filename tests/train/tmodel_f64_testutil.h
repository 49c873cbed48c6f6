/* tests/train/tmodel_f64_testutil.h — the model template (src/train/tmodel_tmpl.h) instantiated over
 * double with a plain triple-loop GEMM, for the finite-difference tests, and the set-up their tiny
 * models share: norm weights moved near 1 and the RoPE cos/sin table. The includer defines TN (the
 * name prefix, e.g. `#define TN(x) dt_##x`) and may define TR_ATT_BM, then includes this header once. */
#ifndef PONDER_TESTS_TMODEL_F64_TESTUTIL_H
#define PONDER_TESTS_TMODEL_F64_TESTUTIL_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void dgemm_ref(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda, const double *B,
                      int64_t ldb, double beta, double *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            C[i * ldc + j] = (beta == 0 ? 0 : beta * C[i * ldc + j]) + s;
        }
}

#define TR double
#define TR_EXP(x) exp(x)
#define TR_GEMM(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc) dgemm_ref(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)
#include "../../src/train/tmodel_tmpl.h"

/* norm weights near 1 (as trained models have), so a check is not dominated by tiny scales */
static void tiny_norms_near_one(const pd_tcfg *c, double *params) {
    int nt;
    pd_ttensor *tt = pd_tcfg_tensors(c, &nt);
    for (int i = 0; i < nt; i++)
        if (strstr(tt[i].name, "norm"))
            for (size_t j = 0; j < tt[i].n; j++) params[tt[i].offset + j] += 1.0;
    free(tt);
}

/* the RoPE table the template reads: [n_ctx][head_dim/2][cos, sin], calloc'ed */
static double *tiny_rope_table(const pd_tcfg *c) {
    double *cs = calloc((size_t)c->n_ctx * c->head_dim, sizeof *cs);
    for (int pos = 0; pos < c->n_ctx; pos++)
        for (int i = 0; i < c->head_dim / 2; i++) {
            double th = pos * pow(c->rope_base, -2.0 * i / c->head_dim);
            cs[(pos * c->head_dim / 2 + i) * 2] = cos(th);
            cs[(pos * c->head_dim / 2 + i) * 2 + 1] = sin(th);
        }
    return cs;
}
#endif
