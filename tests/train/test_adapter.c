/* tests/train/test_adapter.c — LoRA / PiSSA / SoKA on one linear layer: finite-difference
 * gradients (parameters and input, through a frozen f32 or Q8_0 base), step-0 equivalence,
 * explicit residual, merge == adapted output, the weight-gradient route, initialisation facts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/adapter.h"
#include "ponder/kern.h"
#include "ponder/rng.h"

enum { DIN = 32, DOUT = 12, NTOK = 3 };

typedef struct {
    pd_tensor W;
    float wf[DOUT * DIN]; /* f32 view of the (possibly quantised) weight */
    void *wdata;
} base_t;

static void make_base(base_t *b, pd_type type, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    float w[DOUT * DIN];
    for (int i = 0; i < DOUT * DIN; i++) w[i] = (float)pd_rng_normal(&r) * 0.5f;
    size_t rb = pd_row_bytes(type, DIN);
    b->wdata = malloc(rb * DOUT);
    for (int o = 0; o < DOUT; o++) assert_int_equal(pd_quantize_row(type, w + o * DIN, (char *)b->wdata + o * rb, DIN), PD_OK);
    int64_t ne[2] = {DIN, DOUT};
    pd_tensor_init(&b->W, type, 2, ne, b->wdata);
    assert_int_equal(pd_linear_to_f32(&b->W, b->wf), PD_OK);
}

/* loss = Σ c·Y + ½ Σ Y² over Y = W x + Δ(x); dY = c + Y */
static double loss(const base_t *b, const pd_adapter_layer *L, const float *X, const float *c, float *dY) {
    float Y[NTOK * DOUT];
    assert_int_equal(pd_linear_forward(&b->W, X, NTOK, Y), PD_OK);
    pd_adapter_forward(L, X, NTOK, Y, 1.0f);
    double s = 0;
    for (int i = 0; i < NTOK * DOUT; i++) {
        s += (double)c[i] * Y[i] + 0.5 * (double)Y[i] * Y[i];
        if (dY) dY[i] = c[i] + Y[i];
    }
    return s;
}

static void perturb(pd_adapter_layer *L, pd_rng *r, float amp) {
    for (int64_t i = 0; i < pd_adapter_layer_a_size(L); i++) L->A[i] += amp * (float)pd_rng_normal(r);
    for (int64_t i = 0; i < pd_adapter_layer_b_size(L); i++) L->B[i] += amp * (float)pd_rng_normal(r);
}

/* The loss is quadratic in every single coordinate (Y is linear in each factor entry and in x), so
 * central differences have no truncation error at any step: a large step keeps the float rounding
 * of Y small relative to the step. Losses are summed in double. */
#define FD_EPS 0.125f
static void fd_check_param(const base_t *b, pd_adapter_layer *L, float *p, const float *g, int64_t n, const float *X,
                           const float *c) {
    const float eps = FD_EPS;
    for (int64_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + eps;
        double lp = loss(b, L, X, c, NULL);
        p[i] = keep - eps;
        double lm = loss(b, L, X, c, NULL);
        p[i] = keep;
        double fd = (lp - lm) / (2.0 * (double)eps);
        double tol = 5e-4 * (1 + fabs(fd));
        if (fabs(fd - g[i]) > tol) fail_msg("param %lld: analytic %g vs finite difference %g", (long long)i, g[i], fd);
    }
}

static void grad_check(pd_adapter_layer *L, const base_t *b, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    perturb(L, &r, 0.3f); /* move away from init so every factor has a non-zero gradient */
    float X[NTOK * DIN], c[NTOK * DOUT], dY[NTOK * DOUT], dX[NTOK * DIN] = {0};
    for (int i = 0; i < NTOK * DIN; i++) X[i] = (float)pd_rng_normal(&r);
    for (int i = 0; i < NTOK * DOUT; i++) c[i] = (float)pd_rng_normal(&r);
    loss(b, L, X, c, dY);
    pd_adapter_zero_grad(L);
    pd_adapter_backward(L, X, NTOK, dY, dX);
    assert_int_equal(pd_linear_backward_x(&b->W, dY, NTOK, dX), PD_OK);
    fd_check_param(b, L, L->A, L->gA, pd_adapter_layer_a_size(L), X, c);
    fd_check_param(b, L, L->B, L->gB, pd_adapter_layer_b_size(L), X, c);
    /* input gradient */
    const float eps = FD_EPS;
    for (int i = 0; i < NTOK * DIN; i++) {
        float keep = X[i];
        X[i] = keep + eps;
        double lp = loss(b, L, X, c, NULL);
        X[i] = keep - eps;
        double lm = loss(b, L, X, c, NULL);
        X[i] = keep;
        double fd = (lp - lm) / (2.0 * (double)eps);
        if (fabs(fd - dX[i]) > 5e-4 * (1 + fabs(fd))) fail_msg("x[%d]: analytic %g vs finite difference %g", i, dX[i], fd);
    }
    /* the weight-gradient route gives the same parameter gradients: G = Σ_t dy_t x_tᵀ */
    float G[DOUT * DIN];
    for (int o = 0; o < DOUT; o++)
        for (int i = 0; i < DIN; i++) {
            double v = 0;
            for (int t = 0; t < NTOK; t++) v += (double)dY[t * DOUT + o] * X[t * DIN + i];
            G[o * DIN + i] = (float)v;
        }
    int64_t na = pd_adapter_layer_a_size(L), nb = pd_adapter_layer_b_size(L);
    float *ga = malloc(sizeof(float) * na), *gb = malloc(sizeof(float) * nb);
    memcpy(ga, L->gA, sizeof(float) * na);
    memcpy(gb, L->gB, sizeof(float) * nb);
    pd_adapter_zero_grad(L);
    pd_adapter_grad_from_dW(L, G);
    for (int64_t i = 0; i < na; i++) assert_true(fabs(L->gA[i] - ga[i]) < 1e-4 * (1 + fabs(ga[i])));
    for (int64_t i = 0; i < nb; i++) assert_true(fabs(L->gB[i] - gb[i]) < 1e-4 * (1 + fabs(gb[i])));
    free(ga); free(gb);
}

/* Y_adapted == W x + delta_dense(x) (merge) */
static void merge_check(const pd_adapter_layer *L, const base_t *b, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    float X[NTOK * DIN], Y[NTOK * DOUT], D[DOUT * DIN], M[DOUT * DIN];
    for (int i = 0; i < NTOK * DIN; i++) X[i] = (float)pd_rng_normal(&r);
    assert_int_equal(pd_linear_forward(&b->W, X, NTOK, Y), PD_OK);
    pd_adapter_forward(L, X, NTOK, Y, 1.0f);
    pd_adapter_delta_dense(L, D);
    for (int i = 0; i < DOUT * DIN; i++) M[i] = b->wf[i] + D[i];
    for (int t = 0; t < NTOK; t++)
        for (int o = 0; o < DOUT; o++) {
            double v = 0;
            for (int i = 0; i < DIN; i++) v += (double)M[o * DIN + i] * X[t * DIN + i];
            assert_true(fabs(v - Y[t * DOUT + o]) < 1e-4 * (1 + fabs(v)));
        }
}

static void step0_check(const pd_adapter_layer *L, const base_t *b) {
    pd_rng r;
    pd_rng_seed(&r, 99);
    float X[NTOK * DIN], Y0[NTOK * DOUT], Y1[NTOK * DOUT];
    for (int i = 0; i < NTOK * DIN; i++) X[i] = (float)pd_rng_normal(&r);
    assert_int_equal(pd_linear_forward(&b->W, X, NTOK, Y0), PD_OK);
    memcpy(Y1, Y0, sizeof Y0);
    pd_adapter_forward(L, X, NTOK, Y1, 1.0f);
    assert_memory_equal(Y0, Y1, sizeof Y0); /* Δ(A,B) − Δ(A0,B0) is exactly 0 at step 0 */
    /* explicit residual: W_res + Δ(A, B) == W */
    float Wr[DOUT * DIN], D[DOUT * DIN];
    memcpy(Wr, b->wf, sizeof Wr);
    pd_adapter_residual(L, Wr);
    pd_adapter_layer tmp = *L;
    tmp.A0 = NULL; /* Δ(A, B) alone */
    pd_adapter_delta_dense(&tmp, D);
    double wn = 0, dn = 0;
    for (int i = 0; i < DOUT * DIN; i++) {
        assert_true(fabs(Wr[i] + D[i] - b->wf[i]) < 1e-5);
        wn += (double)b->wf[i] * b->wf[i];
        dn += (double)D[i] * D[i];
    }
    assert_true(dn > 0.05 * wn); /* the adapter holds a real part of W, not nothing */
}

static void test_lora(void **st) {
    (void)st;
    pd_type types[2] = {PD_TYPE_F32, PD_TYPE_Q8_0};
    for (int ti = 0; ti < 2; ti++) {
        base_t b;
        make_base(&b, types[ti], 1 + ti);
        pd_adapter_layer L;
        pd_rng r;
        pd_rng_seed(&r, 5);
        assert_int_equal(pd_adapter_lora_init(&L, DIN, DOUT, 4, 8.0f, &r), PD_OK);
        assert_float_equal(L.scale, 2.0f, 0);
        assert_int_equal(pd_adapter_layer_n_params(&L), 4 * (DIN + DOUT));
        /* B = 0: no change at step 0; A inside the Kaiming bound 1/√d_in, variance ≈ bound²/3 */
        for (int i = 0; i < 4 * DOUT; i++) assert_true(L.B[i] == 0);
        double bound = 1 / sqrt((double)DIN), var = 0;
        for (int i = 0; i < 4 * DIN; i++) {
            assert_true(fabs(L.A[i]) <= bound);
            var += (double)L.A[i] * L.A[i];
        }
        var /= 4 * DIN;
        assert_true(var > 0.5 * bound * bound / 3 && var < 1.5 * bound * bound / 3);
        assert_null(L.A0);
        float X[DIN * NTOK], Y[DOUT * NTOK] = {0};
        for (int i = 0; i < DIN * NTOK; i++) X[i] = 1;
        pd_adapter_forward(&L, X, NTOK, Y, 1.0f);
        for (int i = 0; i < DOUT * NTOK; i++) assert_true(Y[i] == 0);
        grad_check(&L, &b, 10 + ti);
        merge_check(&L, &b, 20 + ti);
        pd_adapter_layer_free(&L);
        free(b.wdata);
    }
}

static void test_pissa(void **st) {
    (void)st;
    pd_type types[2] = {PD_TYPE_F32, PD_TYPE_Q8_0};
    for (int ti = 0; ti < 2; ti++) {
        base_t b;
        make_base(&b, types[ti], 3 + ti);
        pd_adapter_layer L;
        assert_int_equal(pd_adapter_pissa_init(&L, b.wf, DIN, DOUT, 3, PD_SVD_AUTO), PD_OK);
        assert_float_equal(L.scale, 1.0f, 0);
        /* factors hold the principal part: BᵀB = AAᵀ = diag(σ_1..σ_r), σ from an independent SVD */
        float S[DOUT];
        assert_int_equal(pd_svd_f32(b.wf, DOUT, DIN, NULL, S, NULL, PD_SVD_JACOBI), PD_OK);
        for (int p = 0; p < 3; p++)
            for (int q = 0; q < 3; q++) {
                double bb = 0, aa = 0;
                for (int o = 0; o < DOUT; o++) bb += (double)L.B[o * 3 + p] * L.B[o * 3 + q];
                for (int i = 0; i < DIN; i++) aa += (double)L.A[p * DIN + i] * L.A[q * DIN + i];
                double want = p == q ? S[p] : 0;
                assert_true(fabs(bb - want) < 1e-4 * S[0]);
                assert_true(fabs(aa - want) < 1e-4 * S[0]);
            }
        step0_check(&L, &b);
        grad_check(&L, &b, 30 + ti);
        merge_check(&L, &b, 40 + ti);
        pd_adapter_layer_free(&L);
        free(b.wdata);
    }
    float W[4] = {1, 0, 0, 1};
    pd_adapter_layer L;
    assert_int_equal(pd_adapter_pissa_init(&L, W, 2, 2, 3, PD_SVD_AUTO), PD_ERR_ARG);
}

static void test_soka(void **st) {
    (void)st;
    pd_type types[2] = {PD_TYPE_F32, PD_TYPE_Q8_0};
    for (int ti = 0; ti < 2; ti++) {
        base_t b;
        make_base(&b, types[ti], 5 + ti);
        pd_soka_opts o;
        pd_soka_opts_default(&o);
        o.terms = 3;
        pd_adapter_layer L;
        assert_int_equal(pd_adapter_soka_init(&L, b.wf, DIN, DOUT, &o, PD_SVD_AUTO), PD_OK);
        /* default shapes: 12 = 3·4, 32 = 4·8 */
        assert_int_equal(L.m1, 3); assert_int_equal(L.m2, 4);
        assert_int_equal(L.n1, 4); assert_int_equal(L.n2, 8);
        assert_int_equal(pd_adapter_layer_n_params(&L), 3 * (3 * 4 + 4 * 8));
        step0_check(&L, &b);
        grad_check(&L, &b, 50 + ti);
        merge_check(&L, &b, 60 + ti);
        pd_adapter_layer_free(&L);
        free(b.wdata);
    }
}

/* Adaptive SoKA rank: W = two Kronecker terms + small noise → the energy rule picks 2. */
static void test_soka_adaptive_rank(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 77);
    float W[DOUT * DIN], T[DOUT * DIN], A[12], B[32];
    for (int i = 0; i < DOUT * DIN; i++) W[i] = 1e-3f * (float)pd_rng_normal(&r);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 12; i++) A[i] = (float)pd_rng_normal(&r);
        for (int i = 0; i < 32; i++) B[i] = (float)pd_rng_normal(&r);
        pd_kron_dense(A, 3, 4, B, 4, 8, T);
        for (int i = 0; i < DOUT * DIN; i++) W[i] += T[i];
    }
    pd_soka_opts o;
    pd_soka_opts_default(&o);
    o.rule = PD_RANK_ENERGY;
    o.tau = 0.999;
    pd_adapter_layer L;
    assert_int_equal(pd_adapter_soka_init(&L, W, DIN, DOUT, &o, PD_SVD_JACOBI), PD_OK);
    assert_int_equal(L.rank, 2);
    assert_int_equal(L.n_spectrum, 12);
    assert_true(L.spectrum[2] < 1e-2 * L.spectrum[1]);
    pd_adapter_layer_free(&L);
    /* r_max clamps the rule */
    o.tau = 1.0;
    o.r_max = 1;
    assert_int_equal(pd_adapter_soka_init(&L, W, DIN, DOUT, &o, PD_SVD_JACOBI), PD_OK);
    assert_int_equal(L.rank, 1);
    pd_adapter_layer_free(&L);
    /* bad factor shape and too many terms are refused with a message */
    o.m1 = 5;
    assert_int_equal(pd_adapter_soka_init(&L, W, DIN, DOUT, &o, PD_SVD_AUTO), PD_ERR_ARG);
    o.m1 = 0;
    o.terms = 13;
    assert_int_equal(pd_adapter_soka_init(&L, W, DIN, DOUT, &o, PD_SVD_AUTO), PD_ERR_ARG);
}

static void test_targets(void **st) {
    (void)st;
    unsigned m;
    assert_int_equal(pd_adapter_parse_targets("q,v", &m), PD_OK);
    assert_int_equal(m, (1u << PD_AT_Q) | (1u << PD_AT_V));
    assert_int_equal(pd_adapter_parse_targets("all", &m), PD_OK);
    assert_int_equal(m, 0x7f);
    assert_int_equal(pd_adapter_parse_targets("gate_proj,ffn_down", &m), PD_OK);
    assert_int_equal(m, (1u << PD_AT_GATE) | (1u << PD_AT_DOWN));
    char buf[64];
    pd_adapter_targets_str(m, buf, sizeof buf);
    assert_string_equal(buf, "gate,down");
    assert_int_equal(pd_adapter_parse_targets("q,,v", &m), PD_ERR_ARG);
    assert_int_equal(pd_adapter_parse_targets("q,zz", &m), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "'zz'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lora),   cmocka_unit_test(test_pissa),   cmocka_unit_test(test_soka),
        cmocka_unit_test(test_soka_adaptive_rank), cmocka_unit_test(test_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
