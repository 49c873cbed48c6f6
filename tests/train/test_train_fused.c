/* tests/train/test_train_fused.c — the fused f32 elementwise passes the training step uses (kern's
 * pd_exp_sum, pd_swiglu, pd_swiglu_backward through train_int.h's hooks), at the AVX2 level and at
 * the scalar level (pd_isa_force), against double-precision references written here from the
 * definitions: the softmax's exponentials and their sum (every tail length, tiny and NaN arguments),
 * SwiGLU forward and its accumulating backward. Then the f32 model's attention (GEMM blocks of 64
 * rows, fused softmax) against a brute-force double softmax on a shape with several row blocks and
 * documents, full and windowed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "../../src/train/train_int.h"
#include "ponder/rng.h"
#include <math.h>
#include <stdlib.h>

static pd_rng R;

static int n_levels(pd_isa lv[2]) {
    int n = 0;
    lv[n++] = PD_ISA_SCALAR;
    if (pd_isa_best() >= PD_ISA_AVX2) lv[n++] = PD_ISA_AVX2;
    return n;
}

/* relative error with a floor (values near 0 are compared absolutely at 1e-30) */
static double rel(double got, double want) { return fabs(got - want) / fmax(fabs(want), 1e-30); }

static void test_expsum(void **st) {
    (void)st;
    pd_isa lv[2];
    int nl = n_levels(lv);
    for (int li = 0; li < nl; li++) {
        pd_isa_force(lv[li]);
        for (int n = 0; n <= 70; n++) {
            float a[80], keep[80];
            float mx = -INFINITY;
            for (int i = 0; i < n; i++) {
                keep[i] = a[i] = (float)(pd_rng_uniformf(&R) * 30 - 25); /* e^(a − mx) over ~40 octaves */
                if (a[i] > mx) mx = a[i];
            }
            a[n] = 1234.5f; /* past the end: untouched */
            float s = TR_EXPSUM(a, n, mx);
            double want = 0;
            for (int i = 0; i < n; i++) {
                double e = exp((double)(keep[i] - mx)); /* the argument as the f32 code forms it */
                want += e;
                if (rel(a[i], e) > 3e-7)
                    fail_msg("%s n=%d i=%d: exp(%g) = %.9g, want %.9g", pd_isa_name(lv[li]), n, i, (double)(keep[i] - mx), a[i], e);
            }
            assert_true(a[n] == 1234.5f);
            if (rel(s, want) > 1e-6) fail_msg("%s n=%d: sum %.9g, want %.9g", pd_isa_name(lv[li]), n, s, want);
        }
        /* edges (16 lanes, so the vector path sees them): 0 → 1, far below the float range → ~0, NaN → NaN */
        float e[16] = {0.f, -1.f, -1000.f, -87.f, -20.f, NAN, -3.f, -0.5f, 0.f, -1e30f, -60.f, -2.f, -1.f, -0.f, -9.f, -40.f};
        TR_EXPSUM(e, 16, 0.0f);
        assert_true(e[0] == 1.0f && e[13] == 1.0f && rel(e[1], exp(-1.0)) < 3e-7);
        assert_true(e[2] >= 0 && e[2] < 1e-37f && e[9] >= 0 && e[9] < 1e-37f && rel(e[3], exp(-87.0)) < 1e-5);
        /* NaN: libm keeps it, and so does kern's 8-lane exp (it used to clamp it to e^-87) */
        assert_true(isnan(e[5]));
        assert_true(rel(e[10], exp(-60.0)) < 3e-7 && rel(e[15], exp(-40.0)) < 3e-7);
    }
    pd_isa_force(pd_isa_best());
}

static void test_swiglu(void **st) {
    (void)st;
    pd_isa lv[2];
    int nl = n_levels(lv);
    enum { N = 203 };
    float g[N], u[N], d[N], sw[N], dg[N], du[N];
    for (int i = 0; i < N; i++) {
        g[i] = (float)(pd_rng_normal(&R) * 4);
        u[i] = (float)pd_rng_normal(&R);
        d[i] = (float)pd_rng_normal(&R);
    }
    g[0] = -100.f; g[1] = 100.f; g[2] = 0.f;
    for (int li = 0; li < nl; li++) {
        pd_isa_force(lv[li]);
        for (int n = 0; n <= N; n += (n < 20 ? 1 : 61)) {
            for (int i = 0; i < N; i++) { sw[i] = -7.f; dg[i] = 0.5f; du[i] = -0.25f; }
            TR_SWIGLU_FWD(sw, g, u, n);
            TR_SWIGLU_BWD(dg, du, d, g, u, n);
            for (int i = 0; i < N; i++) {
                if (i >= n) { /* outside the span: untouched */
                    assert_true(sw[i] == -7.f && dg[i] == 0.5f && du[i] == -0.25f);
                    continue;
                }
                double G = g[i], s = 1 / (1 + exp(-G)), want = G * s * u[i];
                double wdu = -0.25 + d[i] * G * s, wdg = 0.5 + d[i] * u[i] * s * (1 + G * (1 - s));
                /* absolute floor at 1e-6 of the operands' scale (products of O(1) values) */
                if (fabs(sw[i] - want) > 1e-6 * (fabs(want) + 1e-3 * fabs(u[i])) + 1e-30)
                    fail_msg("%s swiglu i=%d g=%g: %.9g want %.9g", pd_isa_name(lv[li]), i, G, sw[i], want);
                if (fabs(du[i] - wdu) > 2e-6 * (fabs(wdu) + 1)) fail_msg("%s dup i=%d: %.9g want %.9g", pd_isa_name(lv[li]), i, du[i], wdu);
                if (fabs(dg[i] - wdg) > 2e-6 * (fabs(wdg) + 1)) fail_msg("%s dgate i=%d: %.9g want %.9g", pd_isa_name(lv[li]), i, dg[i], wdg);
            }
        }
    }
    pd_isa_force(pd_isa_best());
}

/* The f32 attention (64-row GEMM blocks, fused softmax) vs a double softmax from the mask's definition */
static void test_attention_f32(void **st) {
    (void)st;
    enum { B = 2, T = 150, H = 2, KV = 1, hd = 16 };
    size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * KV * hd, na = (size_t)B * H * T * T;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *o = malloc(nq * 4), *att = malloc(na * 4);
    int32_t seg[B * T];
    for (int t = 0; t < T; t++) { seg[t] = 0; seg[T + t] = t < 40 ? 0 : t < 100 ? 40 : 100; }
    for (size_t i = 0; i < nq; i++) q[i] = (float)pd_rng_normal(&R);
    for (size_t i = 0; i < nk; i++) { k[i] = (float)pd_rng_normal(&R); v[i] = (float)pd_rng_normal(&R); }
    int wins[3][2] = {{0, 0}, {4, 30}, {0, 70}};
    pd_isa lv[2];
    int nl = n_levels(lv);
    for (int li = 0; li < nl; li++) {
        pd_isa_force(lv[li]);
        for (int w = 0; w < 3; w++) {
            int S = wins[w][0], Rr = wins[w][1];
            pd_tr_attention_forward(o, att, q, k, v, seg, B, T, H, KV, hd, S, Rr);
            double worst = 0;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    for (int h = 0; h < H; h++) {
                        int s0 = seg[b * T + t];
                        double sc[T], mx = -INFINITY, sum = 0;
                        for (int j = s0; j <= t; j++) {
                            bool vis = (S == 0 && Rr == 0) || j - s0 < S || t - j < Rr;
                            sc[j] = -INFINITY;
                            if (!vis) continue;
                            double dd = 0;
                            for (int e = 0; e < hd; e++)
                                dd += (double)q[((size_t)(b * T + t) * H + h) * hd + e] * k[(size_t)(b * T + j) * hd + e];
                            sc[j] = dd / sqrt((double)hd);
                            if (sc[j] > mx) mx = sc[j];
                        }
                        for (int j = s0; j <= t; j++) sum += exp(sc[j] - mx);
                        for (int j = s0; j <= t; j++) {
                            double p = exp(sc[j] - mx) / sum, got = att[(((size_t)b * H + h) * T + t) * T + j];
                            if (p == 0) assert_true(got == 0.0f);
                            worst = fmax(worst, fabs(got - p));
                        }
                        for (int e = 0; e < hd; e++) {
                            double want = 0;
                            for (int j = s0; j <= t; j++) want += exp(sc[j] - mx) / sum * v[(size_t)(b * T + j) * hd + e];
                            worst = fmax(worst, fabs(o[((size_t)(b * T + t) * H + h) * hd + e] - want));
                        }
                    }
            if (worst > 2e-5) fail_msg("%s window (%d, %d): max abs error %g", pd_isa_name(lv[li]), S, Rr, worst);
        }
    }
    pd_isa_force(pd_isa_best());
    free(q); free(k); free(v); free(o); free(att);
}

int main(void) {
    pd_rng_seed(&R, 7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expsum),
        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_attention_f32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
