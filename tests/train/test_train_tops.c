/* tests/train/test_train_tops.c — the f32 training step's RMSNorm and AdamW passes (train/tops.c,
 * through train_int.h's hooks and the template's blocked drivers) at the scalar level and the AVX2
 * level (pd_isa_force), against double-precision references written here from the definitions:
 * RMSNorm forward with and without the fused residual add, the row kernel's backward (dx and the
 * accumulated weight gradient) for every tail length, the template's blocked backward (the weight
 * gradient the same bits on 1 and 2 threads), and AdamW (the AVX2 pass the scalar loop's bits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "../../src/train/train_int.h"
#include "ponder/rng.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static pd_rng R;

static int n_levels(pd_isa lv[2]) {
    int n = 0;
    lv[n++] = PD_ISA_SCALAR;
    if (pd_isa_best() >= PD_ISA_AVX2) lv[n++] = PD_ISA_AVX2;
    return n;
}
static float unif(float lo, float hi) { return lo + (hi - lo) * (float)pd_rng_uniformf(&R); }
static void fill(float *a, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) a[i] = unif(lo, hi);
}

#define MAXN 700
#define ROWS 3

/* forward: rows of n (1..70, 64, 320, 640), x += add fused or not; y, rstd and the summed x vs double */
static void test_rmsnorm_forward(void **st) {
    (void)st;
    pd_isa lv[2];
    int nl = n_levels(lv);
    static float x[ROWS * MAXN + 1], x0[ROWS * MAXN], add[ROWS * MAXN], w[MAXN], y[ROWS * MAXN + 1], rs[ROWS + 1];
    int ns[80], nn = 0;
    for (int n = 1; n <= 70; n++) ns[nn++] = n;
    ns[nn++] = 320; ns[nn++] = 640; ns[nn++] = 700;
    for (int li = 0; li < nl; li++) {
        pd_isa_force(lv[li]);
        for (int k = 0; k < nn; k++)
            for (int with_add = 0; with_add < 2; with_add++) {
                int n = ns[k];
                fill(x0, (size_t)ROWS * n, -3, 3);
                fill(add, (size_t)ROWS * n, -1, 1);
                fill(w, (size_t)n, 0.5f, 1.5f);
                memcpy(x, x0, sizeof(float) * ROWS * n);
                x[ROWS * n] = y[ROWS * n] = 777.f;
                rs[ROWS] = 777.f;
                float eps = 1e-6f;
                TR_RMSNORM_FWD(y, rs, x, with_add ? add : NULL, w, ROWS, n, eps);
                assert_true(x[ROWS * n] == 777.f && y[ROWS * n] == 777.f && rs[ROWS] == 777.f);
                for (int r = 0; r < ROWS; r++) {
                    double ss = 0;
                    for (int j = 0; j < n; j++) {
                        float want_x = with_add ? x0[r * n + j] + add[r * n + j] : x0[r * n + j]; /* one f32 add */
                        if (x[r * n + j] != want_x) fail_msg("%s n=%d add=%d: x[%d][%d] %.9g want %.9g", pd_isa_name(lv[li]), n, with_add, r, j, x[r * n + j], want_x);
                        ss += (double)want_x * want_x;
                    }
                    double s = 1 / sqrt(ss / n + eps);
                    if (fabs(rs[r] - s) > 2e-6 * s) fail_msg("%s n=%d: rstd %.9g want %.9g", pd_isa_name(lv[li]), n, rs[r], s);
                    for (int j = 0; j < n; j++) {
                        double want = (double)x[r * n + j] * s * w[j];
                        if (fabs(y[r * n + j] - want) > 3e-6 * (fabs(want) + 1e-3))
                            fail_msg("%s n=%d add=%d: y[%d][%d] %.9g want %.9g", pd_isa_name(lv[li]), n, with_add, r, j, y[r * n + j], want);
                    }
                }
            }
    }
    pd_isa_force(pd_isa_best());
}

/* double reference of the backward of rows: dx += s·(dy·w − x̂·mean(dy·w·x̂)), dw += Σ dy·x̂ */
static void ref_bwd(double *dx, double *dw, const float *dy, const float *x, const float *w, const float *rs, int rows, int n) {
    for (int r = 0; r < rows; r++) {
        double s = rs[r], dot = 0;
        for (int j = 0; j < n; j++) dot += (double)dy[r * n + j] * w[j] * x[r * n + j] * s;
        double m = dot / n;
        for (int j = 0; j < n; j++) {
            dx[r * n + j] += s * ((double)dy[r * n + j] * w[j] - (double)x[r * n + j] * s * m);
            dw[j] += (double)dy[r * n + j] * x[r * n + j] * s;
        }
    }
}

/* the row kernel: dx and dw accumulate onto what they hold, every tail length */
static void test_rmsnorm_backward_rows(void **st) {
    (void)st;
    pd_isa lv[2];
    int nl = n_levels(lv);
    static float x[ROWS * MAXN], dy[ROWS * MAXN], w[MAXN], dx[ROWS * MAXN + 1], dw[MAXN + 1], rs[ROWS];
    static double rdx[ROWS * MAXN], rdw[MAXN];
    for (int li = 0; li < nl; li++) {
        pd_isa_force(lv[li]);
        for (int n = 1; n <= MAXN; n += n < 70 ? 1 : 157) {
            fill(x, (size_t)ROWS * n, -3, 3);
            fill(dy, (size_t)ROWS * n, -1, 1);
            fill(w, (size_t)n, 0.5f, 1.5f);
            fill(dx, (size_t)ROWS * n, -0.5f, 0.5f);
            fill(dw, (size_t)n, -0.5f, 0.5f);
            dx[ROWS * n] = dw[n] = 777.f;
            for (int r = 0; r < ROWS; r++) rs[r] = unif(0.3f, 2.f);
            for (int i = 0; i < ROWS * n; i++) rdx[i] = dx[i];
            for (int j = 0; j < n; j++) rdw[j] = dw[j];
            ref_bwd(rdx, rdw, dy, x, w, rs, ROWS, n);
            TR_RMSNORM_BWD(dx, dw, dy, x, w, rs, ROWS, n);
            assert_true(dx[ROWS * n] == 777.f && dw[n] == 777.f);
            for (int i = 0; i < ROWS * n; i++)
                if (fabs(dx[i] - rdx[i]) > 2e-5 * (1 + fabs(rdx[i])))
                    fail_msg("%s n=%d: dx[%d] %.9g want %.9g", pd_isa_name(lv[li]), n, i, dx[i], rdx[i]);
            for (int j = 0; j < n; j++)
                if (fabs(dw[j] - rdw[j]) > 2e-5 * (1 + fabs(rdw[j])))
                    fail_msg("%s n=%d: dw[%d] %.9g want %.9g", pd_isa_name(lv[li]), n, j, dw[j], rdw[j]);
        }
    }
    pd_isa_force(pd_isa_best());
}

/* the template's blocked backward (200 rows: 64 blocks of 4, the last short) and forward with the add,
 * at 1 and 2 threads: the double truth, and the same bits on both thread counts */
static void test_rmsnorm_blocked(void **st) {
    (void)st;
    enum { RW = 253, N = 37, PAD = 8 }; /* PAD rows past the end: never read (poison) or written (checked) */
    static float x[RW * N], xa[(RW + PAD) * N], add[(RW + PAD) * N], dy[(RW + PAD) * N], w[N], y[(RW + PAD) * N],
        rs[RW + PAD], dx[2][(RW + PAD) * N], dw[2][N], y1[RW * N];
    static double rdx[RW * N], rdw[N];
    pd_isa lv[2];
    int nl = n_levels(lv);
    for (int li = 0; li < nl; li++) {
        pd_isa_force(lv[li]);
        fill(x, RW * N, -2, 2);
        fill(add, RW * N, -1, 1);
        fill(dy, RW * N, -1, 1);
        fill(w, N, 0.5f, 1.5f);
        for (int i = RW * N; i < (RW + PAD) * N; i++) xa[i] = add[i] = dy[i] = y[i] = 1e3f;
        for (int th = 0; th < 2; th++) {
            omp_set_num_threads(th + 1);
            memcpy(xa, x, sizeof x);
            for (int r = RW; r < RW + PAD; r++) rs[r] = 5.f;
            for (int i = RW * N; i < (RW + PAD) * N; i++) dx[th][i] = 7.f;
            pd_tr_rmsnorm_add_forward(y, rs, xa, add, w, RW, N, 1e-5f);
            for (int i = RW * N; i < (RW + PAD) * N; i++) assert_true(xa[i] == 1e3f && y[i] == 1e3f);
            for (int r = RW; r < RW + PAD; r++) assert_true(rs[r] == 5.f);
            if (th == 0) memcpy(y1, y, sizeof y1);
            else assert_memory_equal(y, y1, sizeof y1);
            for (int i = 0; i < RW * N; i++) {
                assert_true(xa[i] == x[i] + add[i]);
                dx[th][i] = 0.25f;
                rdx[i] = 0.25;
            }
            for (int j = 0; j < N; j++) { dw[th][j] = 0.5f; rdw[j] = 0.5; }
            pd_tr_rmsnorm_backward(dx[th], dw[th], dy, xa, w, rs, RW, N);
            for (int i = RW * N; i < (RW + PAD) * N; i++) assert_true(dx[th][i] == 7.f);
            ref_bwd(rdx, rdw, dy, xa, w, rs, RW, N);
            for (int i = 0; i < RW * N; i++)
                if (fabs(dx[th][i] - rdx[i]) > 2e-5 * (1 + fabs(rdx[i])))
                    fail_msg("%s %d threads: dx[%d] %.9g want %.9g", pd_isa_name(lv[li]), th + 1, i, dx[th][i], rdx[i]);
            for (int j = 0; j < N; j++)
                if (fabs(dw[th][j] - rdw[j]) > 1e-5 * (1 + fabs(rdw[j])))
                    fail_msg("%s %d threads: dw[%d] %.9g want %.9g", pd_isa_name(lv[li]), th + 1, j, dw[th][j], rdw[j]);
        }
        assert_memory_equal(dw[0], dw[1], sizeof dw[0]); /* fixed blocks: the thread count does not matter */
        assert_memory_equal(dx[0], dx[1], sizeof(float) * RW * N);
    }
    omp_set_num_threads(omp_get_num_procs());
    pd_isa_force(pd_isa_best());
}

/* AdamW: the AVX2 pass gives the plain loop's bits; the plain loop vs the update in double */
static void test_adamw(void **st) {
    (void)st;
    enum { NMAX = 1037 };
    static float p0[NMAX + 1], g[NMAX], m0[NMAX], v0[NMAX], p[2][NMAX + 1], m[2][NMAX + 1], v[2][NMAX + 1];
    pd_isa lv[2];
    int nl = n_levels(lv);
    for (int n = 0; n <= NMAX; n += n < 40 ? 1 : 997) {
        for (int wdi = 0; wdi < 2; wdi++) {
            fill(p0, n, -1, 1);
            fill(g, n, -2, 2);
            fill(m0, n, -0.1f, 0.1f);
            for (int i = 0; i < n; i++) v0[i] = unif(0, 0.01f);
            if (n > 3) { g[1] = 0; v0[1] = 0; m0[1] = 0; } /* √0 + eps */
            pd_trk_adamw_args a = {0.7f, 0.9f, 0.95f, 1 - 0.9f * 0.9f, 1 - 0.95f * 0.95f, 1e-3f, wdi ? 0.1f : 0.f, 1e-8f};
            for (int li = 0; li < nl; li++) {
                pd_isa_force(lv[li]);
                memcpy(p[li], p0, sizeof(float) * n); memcpy(m[li], m0, sizeof(float) * n); memcpy(v[li], v0, sizeof(float) * n);
                p[li][n] = m[li][n] = v[li][n] = 777.f;
                pd_trk_adamw(p[li], g, m[li], v[li], n, &a);
                assert_true(p[li][n] == 777.f && m[li][n] == 777.f && v[li][n] == 777.f);
            }
            for (int i = 0; i < n; i++) { /* level 0, the scalar loop, against double */
                double b1 = a.b1, b2 = a.b2, gi = (double)g[i] * a.gscale, mi = b1 * m0[i] + (1 - b1) * gi,
                       vi = b2 * v0[i] + (1 - b2) * gi * gi;
                /* the moments to a few roundings of their terms; the step from the moments it stored */
                double tm = 3e-7 * (fabs(b1 * m0[i]) + fabs((1 - b1) * gi)) + 1e-15, tv = 3e-7 * vi + 1e-15;
                double u = (double)m[0][i] / a.bc1 / (sqrt((double)v[0][i] / a.bc2) + 1e-8) + a.wd * (double)p0[i];
                double want = p0[i] - 1e-3 * u;
                if (fabs(m[0][i] - mi) > tm || fabs(v[0][i] - vi) > tv ||
                    fabs(p[0][i] - want) > 1.2e-7 * fabs(want) + 1e-3 * 1e-6 * fabs(u) + 1e-12)
                    fail_msg("n=%d i=%d: p %.9g m %.9g v %.9g, want %.9g %.9g %.9g", n, i, p[0][i], m[0][i], v[0][i], want, mi, vi);
            }
            if (nl > 1) {
                assert_memory_equal(p[0], p[1], sizeof(float) * n);
                assert_memory_equal(m[0], m[1], sizeof(float) * n);
                assert_memory_equal(v[0], v[1], sizeof(float) * n);
            }
        }
    }
    pd_isa_force(pd_isa_best());
}

int main(void) {
    pd_rng_seed(&R, 0x7095u);
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_rmsnorm_forward),
        cmocka_unit_test(test_rmsnorm_backward_rows),
        cmocka_unit_test(test_rmsnorm_blocked),
        cmocka_unit_test(test_adamw),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
