/* tests/kern/test_ops.c — rmsnorm / softmax / silu / swiglu against hand formulas, rope (NORM,
 * NEOX, partial rotation, factors, freq_scale, attn_factor) against the formula in double,
 * attention (F32/F16/BF16 K/V, every ISA) against a naive two-pass softmax, and sgemm (OpenBLAS
 * path and built-in kernel, all transpose combinations, odd sizes) against a naive triple loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "ponder/threads.h"
#include "kern_test_util.h"

static void test_rmsnorm(void **st) {
    (void)st;
    float x[4] = {1, -2, 3, -4}, w[4] = {1, 0.5f, 2, 1}, o[4];
    pd_rmsnorm(o, x, w, 4, 1e-5f);
    double rms = sqrt((1 + 4 + 9 + 16) / 4.0 + 1e-5);
    for (int i = 0; i < 4; i++) assert_true(fabs(o[i] - x[i] / rms * w[i]) < 1e-6);
    pd_rmsnorm(o, x, NULL, 4, 0.5f); /* eps inside the square root */
    rms = sqrt(30 / 4.0 + 0.5);
    for (int i = 0; i < 4; i++) assert_true(fabs(o[i] - x[i] / rms) < 1e-6);
    pd_rmsnorm(x, x, NULL, 4, 0.5f); /* in place */
    assert_true(close_all(x, o, 4, 0, 0, "rmsnorm in place"));
}

static void test_softmax_silu(void **st) {
    (void)st;
    float x[5] = {1000, 1001, 999, -INFINITY, 1000};
    pd_softmax(x, 5);
    double e[5] = {exp(-1), 1, exp(-2), 0, exp(-1)}, s = 0;
    for (int i = 0; i < 5; i++) s += e[i];
    for (int i = 0; i < 5; i++) assert_true(fabs(x[i] - e[i] / s) < 1e-6);
    float m[3] = {-INFINITY, -INFINITY, -INFINITY};
    pd_softmax(m, 3);
    for (int i = 0; i < 3; i++) assert_true(fabs(m[i] - 1.0f / 3) < 1e-7);
    assert_true(fabs(pd_silu(2.0f) - 2.0 / (1 + exp(-2.0))) < 1e-6);
    assert_true(pd_silu(0.0f) == 0.0f);
    assert_true(fabs(pd_silu(-30.0f)) < 1e-11);
    float g[3] = {1, -1, 3}, u[3] = {2, 3, -1}, o[3];
    pd_swiglu(o, g, u, 3);
    for (int i = 0; i < 3; i++) assert_true(fabs(o[i] - g[i] / (1 + exp(-g[i])) * u[i]) < 1e-6);
}

static void rope_truth(const pd_rope *r, const float *x, double *out, int hd, int64_t pos) {
    for (int i = 0; i < hd; i++) out[i] = x[i];
    for (int i = 0; i < r->n_rot / 2; i++) {
        double th = (double)pos * r->freq_scale * pow(r->base, -2.0 * i / r->n_rot) / (r->factors ? r->factors[i] : 1);
        double c = cos(th) * r->attn_factor, s = sin(th) * r->attn_factor;
        int a = r->mode == PD_ROPE_NEOX ? i : 2 * i, b = r->mode == PD_ROPE_NEOX ? i + r->n_rot / 2 : 2 * i + 1;
        out[a] = x[a] * c - x[b] * s;
        out[b] = x[a] * s + x[b] * c;
    }
}

static void test_rope(void **st) {
    (void)st;
    pd_rng rng;
    pd_rng_seed(&rng, 3);
    const float factors[6] = {1.0f, 1.15f, 1.35f, 1.6f, 2.0f, 2.6f};
    pd_rope cases[] = {
        {PD_ROPE_NORM, 16, 10000, 1, 1, NULL},
        {PD_ROPE_NEOX, 16, 1e6f, 1, 1, NULL},
        {PD_ROPE_NEOX, 12, 10000, 1, 1.190238f, factors}, /* tiny-phi3 */
        {PD_ROPE_NORM, 12, 500000, 0.25f, 1, factors},
        {PD_ROPE_NEOX, 128, 1e6f, 1, 1, NULL},
    };
    int hds[] = {16, 16, 16, 16, 128};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int hd = hds[c];
        int64_t poss[] = {0, 1, 7, 100, 3000};
        for (int p = 0; p < 5; p++) {
            float x[128] = {0}, y[128], z[128], cs[128];
            double t[128];
            fill_normal(&rng, x, hd, 1.0);
            memcpy(y, x, sizeof x);
            memcpy(z, x, sizeof x);
            pd_rope_apply(&cases[c], y, poss[p]);
            rope_truth(&cases[c], x, t, hd, poss[p]);
            /* float angle accumulation: error grows with pos (about pos * 1e-7 rad) */
            double tol = 2e-6 + 3e-7 * (double)poss[p];
            for (int i = 0; i < hd; i++) {
                if (fabs(y[i] - t[i]) > tol) {
                    fprintf(stderr, "rope case %zu pos %lld dim %d: %.8g vs %.8g\n", c, (long long)poss[p], i, y[i],
                            t[i]);
                    fail();
                }
                if (i >= cases[c].n_rot) assert_true(y[i] == x[i]); /* beyond n_rot untouched */
            }
            pd_rope_cache(&cases[c], poss[p], cs);
            pd_rope_apply_cached(&cases[c], cs, z);
            assert_memory_equal(y, z, hd * sizeof(float));
        }
    }
    /* heads wider than the per-thread angle memo take the direct path */
    {
        enum { HD = 1040 };
        static float x[HD], y[HD];
        static double t[HD];
        pd_rope wide = {PD_ROPE_NEOX, HD - 16, 1e6f, 0.5f, 1.1f, NULL};
        fill_normal(&rng, x, HD, 1.0);
        memcpy(y, x, sizeof x);
        pd_rope_apply(&wide, y, 37);
        rope_truth(&wide, x, t, HD, 37);
        for (int i = 0; i < HD; i++) assert_true(fabs(y[i] - t[i]) < 3e-5);
    }
    /* hand case: NORM, pos 1, n_rot 2, base irrelevant for pair 0: angle 1 rad */
    pd_rope r = {PD_ROPE_NORM, 2, 10000, 1, 1, NULL};
    float v[4] = {1, 0, 5, 6};
    pd_rope_apply(&r, v, 1);
    assert_true(fabs(v[0] - cos(1.0)) < 1e-7 && fabs(v[1] - sin(1.0)) < 1e-7 && v[2] == 5 && v[3] == 6);
}

static void naive_attn(double *out, const float *q, const float *K, const float *V, int64_t n, int64_t hd, int64_t ks,
                       int64_t vs, float scale) {
    double *s = malloc(n * sizeof(double)), mx = -INFINITY, sum = 0;
    for (int64_t j = 0; j < n; j++) {
        double d = 0;
        for (int64_t i = 0; i < hd; i++) d += (double)q[i] * K[j * ks + i];
        s[j] = d * scale;
        if (s[j] > mx) mx = s[j];
    }
    for (int64_t j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
    for (int64_t i = 0; i < hd; i++) {
        double a = 0;
        for (int64_t j = 0; j < n; j++) a += s[j] * V[j * vs + i];
        out[i] = a / sum;
    }
    free(s);
}

static void test_attention(void **st) {
    (void)st;
    pd_rng rng;
    pd_rng_seed(&rng, 11);
    const pd_type kts[] = {PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_BF16};
    const int64_t ns[] = {1, 5, 64, 65, 300};
    const int64_t hds[] = {16, 64, 100, 128};
    for (int isa = 0; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        for (int kt = 0; kt < 3; kt++)
            for (int ni = 0; ni < 5; ni++)
                for (int hi = 0; hi < 4; hi++) {
                    int64_t n = ns[ni], hd = hds[hi], ks = hd + 8, vs = 2 * hd; /* strided rows */
                    float *q = malloc(hd * 4), *K = malloc(n * ks * 4), *V = malloc(n * vs * 4), *o = malloc(hd * 4);
                    uint16_t *K16 = malloc(n * ks * 2), *V16 = malloc(n * vs * 2);
                    double *t = malloc(hd * sizeof(double));
                    fill_normal(&rng, q, hd, 1.0);
                    fill_normal(&rng, K, n * ks, 1.0);
                    fill_normal(&rng, V, n * vs, 1.0);
                    const void *Kp = K, *Vp = V;
                    if (kts[kt] != PD_TYPE_F32) { /* store rounded, and make the truth see the same values */
                        assert_int_equal(pd_quantize_row(kts[kt], K, K16, n * ks), PD_OK);
                        assert_int_equal(pd_quantize_row(kts[kt], V, V16, n * vs), PD_OK);
                        assert_int_equal(pd_dequantize_row(kts[kt], K16, K, n * ks), PD_OK);
                        assert_int_equal(pd_dequantize_row(kts[kt], V16, V, n * vs), PD_OK);
                        Kp = K16;
                        Vp = V16;
                    }
                    float scale = 1.0f / sqrtf((float)hd) * 2.0f; /* peaky scores */
                    pd_attend_head(o, q, Kp, Vp, kts[kt], ks, vs, n, hd, scale);
                    naive_attn(t, q, K, V, n, hd, ks, vs, scale);
                    for (int64_t i = 0; i < hd; i++)
                        if (fabs(o[i] - t[i]) > 2e-5 * (1 + fabs(t[i]))) {
                            fprintf(stderr, "attn %s %s n=%lld hd=%lld dim %lld: %.8g vs %.8g\n", pd_isa_name(isa),
                                    pd_type_name(kts[kt]), (long long)n, (long long)hd, (long long)i, o[i], t[i]);
                            fail();
                        }
                    free(q), free(K), free(V), free(o), free(K16), free(V16), free(t);
                }
    }
    /* huge score gaps (exp underflow in the vector exp) and a single dominant key */
    for (int isa = 0; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        enum { NK = 100, HD = 64 };
        static float q[HD], K[NK * HD], V[NK * HD], o[HD];
        double t[HD];
        fill_normal(&rng, q, HD, 1.0);
        fill_normal(&rng, K, NK * HD, 1.0);
        fill_normal(&rng, V, NK * HD, 1.0);
        pd_attend_head(o, q, K, V, PD_TYPE_F32, HD, HD, NK, HD, 100.0f);
        naive_attn(t, q, K, V, NK, HD, HD, HD, 100.0f);
        for (int i = 0; i < HD; i++) assert_true(fabs(o[i] - t[i]) < 1e-5 * (1 + fabs(t[i])));
    }
    /* grouped heads sharing one K/V head (GQA), strided q and out, more heads than one group of 64 */
    for (int isa = 0; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        const int nqs[] = {1, 3, 70};
        for (int qi = 0; qi < 3; qi++) {
            int nq = nqs[qi];
            int64_t n = 77, hd = 40, qs = hd + 3, os = hd + 5;
            float *q = malloc(nq * qs * 4), *o = malloc(nq * os * 4), *K = malloc(n * hd * 4), *V = malloc(n * hd * 4);
            uint16_t *K16 = malloc(n * hd * 2), *V16 = malloc(n * hd * 2);
            double *t = malloc(hd * sizeof(double));
            fill_normal(&rng, q, nq * qs, 1.0);
            fill_normal(&rng, K, n * hd, 1.0);
            fill_normal(&rng, V, n * hd, 1.0);
            assert_int_equal(pd_quantize_row(PD_TYPE_F16, K, K16, n * hd), PD_OK);
            assert_int_equal(pd_quantize_row(PD_TYPE_F16, V, V16, n * hd), PD_OK);
            assert_int_equal(pd_dequantize_row(PD_TYPE_F16, K16, K, n * hd), PD_OK);
            assert_int_equal(pd_dequantize_row(PD_TYPE_F16, V16, V, n * hd), PD_OK);
            for (int64_t i = 0; i < nq * os; i++) o[i] = NAN;
            pd_attend_heads(o, os, q, qs, nq, K16, V16, PD_TYPE_F16, hd, hd, n, hd, 0.3f);
            for (int h = 0; h < nq; h++) {
                naive_attn(t, q + h * qs, K, V, n, hd, hd, hd, 0.3f);
                for (int64_t i = 0; i < hd; i++) assert_true(fabs(o[h * os + i] - t[i]) < 2e-5 * (1 + fabs(t[i])));
                for (int64_t i = hd; i < os && h < nq - 1; i++) assert_true(isnan(o[h * os + i])); /* gaps untouched */
            }
            free(q), free(o), free(K), free(V), free(K16), free(V16), free(t);
        }
    }
    pd_isa_force(pd_isa_best());
    float q[4] = {1, 2, 3, 4}, o[4] = {9, 9, 9, 9};
    pd_attend_head(o, q, q, q, PD_TYPE_F32, 4, 4, 0, 4, 1.0f); /* no keys: zeros */
    for (int i = 0; i < 4; i++) assert_true(o[i] == 0);
}

typedef void (*gemm_fn)(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t,
                        float, float *, int64_t);

static void check_gemm(gemm_fn f, const char *name, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                       float beta) {
    pd_rng rng;
    pd_rng_seed(&rng, (uint64_t)(M * 1000 + N * 10 + K + ta * 7 + tb * 3));
    int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
    float *A = malloc((ta ? K : M) * lda * 4), *B = malloc((tb ? N : K) * ldb * 4), *C = malloc(M * ldc * 4);
    float *R = malloc(M * N * 4);
    fill_normal(&rng, A, (ta ? K : M) * lda, 1.0);
    fill_normal(&rng, B, (tb ? N : K) * ldb, 1.0);
    fill_normal(&rng, C, M * ldc, 1.0);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            R[i * N + j] = (float)(alpha * s + (beta == 0 ? 0 : beta * (double)C[i * ldc + j]));
        }
    if (beta == 0)
        for (int64_t i = 0; i < M * ldc; i++) C[i] = NAN; /* beta = 0 must overwrite, even NaN */
    float pad = C[N];
    f(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    for (int64_t i = 0; i < M; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s ta=%d tb=%d M=%lld N=%lld K=%lld row %lld", name, ta, tb, (long long)M,
                 (long long)N, (long long)K, (long long)i);
        if (!close_all(C + i * ldc, R + i * N, N, 1e-4 * sqrt((double)K + 1), 1e-5, what)) fail();
    }
    if (M > 0) assert_true(memcmp(&C[N], &pad, 4) == 0 || (isnan(C[N]) && isnan(pad))); /* ldc padding untouched */
    free(A), free(B), free(C), free(R);
}

static void test_sgemm(void **st) {
    (void)st;
    const int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {13, 33, 17}, {6, 16, 256}, {100, 40, 70}};
    pd_threads_set(2);
    for (int isa = 0; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++) {
                    int64_t M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
                    check_gemm(pd_sgemm_builtin, "builtin", ta, tb, M, N, K, 1.0f, 0.0f);
                    check_gemm(pd_sgemm_builtin, "builtin", ta, tb, M, N, K, 0.5f, 1.5f);
                    if (isa == 0) {
                        check_gemm(pd_sgemm, "pd_sgemm", ta, tb, M, N, K, 1.0f, 0.0f);
                        check_gemm(pd_sgemm, "pd_sgemm", ta, tb, M, N, K, -2.0f, 1.0f);
                    }
                }
    }
    /* more than one block in every direction (MC 96, KC 256, NC 512) */
    for (int isa = 0; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        check_gemm(pd_sgemm_builtin, "builtin", 0, 0, 101, 530, 260, 1.0f, 0.0f);
        check_gemm(pd_sgemm_builtin, "builtin", 1, 1, 101, 530, 260, 0.5f, 2.0f);
    }
    pd_isa_force(pd_isa_best());
    check_gemm(pd_sgemm_builtin, "builtin K=0", 0, 0, 4, 5, 0, 1.0f, 0.5f);
    /* pd_sgemm splits large products over the thread pool: by rows of C (M large) and by columns (M small). */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_gemm(pd_sgemm, "pd_sgemm row slabs", ta, tb, 101, 530, 260, 0.5f, 1.5f);
            check_gemm(pd_sgemm, "pd_sgemm column slabs", ta, tb, 7, 611, 300, 1.0f, 0.0f);
        }
    pd_threads_set(0);
}

/* NaN in, NaN out: the 8-lane exp (simd_avx2_util.h) used to clamp NaN to -87 (maxps returns its
 * second operand for NaN), turning a NaN score into the weight e^-87 ~ 0 and hiding it. Softmax
 * exponentials (pd_exp_sum: lanes and tail), attention over a key with a NaN (the AVX2 single-head
 * kernel) and pd_silu_poly (the scalar twin) must give NaN at every level. */
static void test_exp_nan(void **st) {
    (void)st;
    for (int isa = 0; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        for (int at = 0; at < 19; at += 6) { /* lanes 0/6/12 of the vector part, 18 in the tail */
            float x[19];
            for (int i = 0; i < 19; i++) x[i] = -0.1f * (float)i;
            x[at] = NAN;
            float s = pd_exp_sum(x, 19, 0.0f);
            if (!isnan(s) || !isnan(x[at]))
                fail_msg("%s pd_exp_sum with NaN at %d: sum %g, x %g", pd_isa_name((pd_isa)isa), at, s, x[at]);
            assert_true(fabsf(x[1] - expf(-0.1f)) < 1e-6f); /* the others still right */
        }
        enum { NK = 20, HD = 16 };
        float q[HD], K[NK * HD], V[NK * HD], o[HD];
        for (int i = 0; i < HD; i++) q[i] = 0.1f * (float)(i % 5);
        for (int i = 0; i < NK * HD; i++) K[i] = V[i] = 0.01f * (float)(i % 7);
        K[13 * HD + 2] = NAN; /* key 13's score is NaN */
        pd_attend_head(o, q, K, V, PD_TYPE_F32, HD, HD, NK, HD, 0.25f);
        for (int i = 0; i < HD; i++)
            if (!isnan(o[i])) fail_msg("%s attention over a NaN key: out[%d] = %g", pd_isa_name((pd_isa)isa), i, o[i]);
        float y = 3.0f;
        pd_swiglu(&y, (float[]){NAN}, (float[]){1.0f}, 1);
        assert_true(isnan(y));
    }
    pd_isa_force(pd_isa_best());
    assert_true(isnan(pd_silu_poly(NAN)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm), cmocka_unit_test(test_softmax_silu), cmocka_unit_test(test_rope),
        cmocka_unit_test(test_attention), cmocka_unit_test(test_sgemm), cmocka_unit_test(test_exp_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
