/* tests/train/test_train_bf16.c — `--precision bf16` on a tiny model (pd_tmodel_set_precision):
 *  - its loss and gradient against the f64 template whose GEMMs round both operands to BF16 and sum
 *    in double (TR_GEMM_MP below: what mixed precision means, written from the definition); the f32
 *    model's own precision leaves a small residue (F32 sums, rare BF16 rounding flips of activations
 *    that differ in the last F32 bit), far below BF16's 2^-8 — a GEMM that skips the rounding of an
 *    operand, or reads the wrong weights, misses by about 2^-8;
 *  - against the f32 model: the relative gradient error is BF16's (between 2^-12 and 2^-5 here), so
 *    a bf16 run that silently computes in f32 fails too;
 *  - the BF16 weight copy follows writes through pd_tmodel_params and the optimizer step;
 *  - f32 stays bit-identical after a bf16 excursion (set_precision back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/gemm_bf16.h"
#include "ponder/rng.h"
#include "ponder/train.h"

static double bfr(double x) { /* x as F32, rounded to BF16 (vcvtneps2bf16) */
    uint16_t h = pd_bf16_round((float)x);
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}
static void dgemm_mp(int bf16, int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                     const double *B, int64_t ldb, double beta, double *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += bf16 ? bfr(a) * bfr(b) : a * b;
            }
            C[i * ldc + j] = (beta == 0 ? 0 : beta * C[i * ldc + j]) + s;
        }
}

#define TR double
#define TN(x) bt_##x
#define TR_EXP(x) exp(x)
/* calls of each hook: with bf16 on, every GEMM of the model must go through TR_GEMM_MP (a plain
 * TR_GEMM left in the template would skip the rounding in both the model and this reference) */
static _Atomic long n_plain, n_mixed; /* atomic: the template's attention calls GEMMs from its OpenMP loop */
static void counted(_Atomic long *n) { atomic_fetch_add(n, 1); }
#define TR_GEMM(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc) \
    (counted(&n_plain), dgemm_mp(0, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))
#define TR_GEMM_MP(bf16, ta, tb, M, N, K, A, Ah, lda, B, Bh, ldb, beta, C, ldc) \
    ((bf16) ? (counted(&n_mixed), dgemm_mp(1, ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)) \
            : TR_GEMM(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc))
#include "../../src/train/tmodel_tmpl.h"

enum { B_ = 2, T_ = 12 };
static int32_t tok[B_ * T_], tgt[B_ * T_], seg[B_ * T_];

static void cfg_of(pd_tcfg *c, const char *arch, bool tied) {
    memset(c, 0, sizeof *c);
    pd_tcfg_set_arch(c, arch);
    c->n_vocab = 37; c->dim = 32; c->n_layer = 2; c->n_head = 4; c->n_head_kv = 2; c->head_dim = 8;
    c->n_ff = 48; c->n_ctx = 16; c->tied = tied;
}

static void batch_init(void) {
    pd_rng r;
    pd_rng_seed(&r, 7);
    for (int i = 0; i < B_ * T_; i++) {
        tok[i] = (int32_t)pd_rng_below(&r, 37);
        tgt[i] = i % 5 == 4 ? -1 : (int32_t)pd_rng_below(&r, 37);
        int t = i % T_;
        seg[i] = i < T_ && t >= 7 ? 7 : 0; /* row 0 packs two documents */
    }
}

/* the f64 reference's loss and gradient on the f32 model's weights; bf16: GEMMs on BF16 operands */
static double ref_grad(const pd_tcfg *c, const float *w, const float *cs32, int bf16, double *grad) {
    size_t sz[PD_TP_COUNT], sa[TA_COUNT], sg[TG_COUNT];
    size_t np = pd_tcfg_param_sizes(c, sz);
    double *pm = malloc(np * sizeof(double)), *am = calloc(bt_acts_sizes(c, B_, T_, sa, sg), sizeof(double));
    double *cs = malloc((size_t)c->n_ctx * c->head_dim * sizeof(double));
    for (size_t i = 0; i < np; i++) pm[i] = w[i];
    for (int i = 0; i < c->n_ctx * c->head_dim; i++) cs[i] = cs32[i];
    memset(grad, 0, np * sizeof(double));
    bt_params p, g;
    bt_acts a;
    bt_grads_act ga;
    bt_params_point(&p, c, pm);
    bt_params_point(&g, c, grad);
    p.bf16 = bf16;
    bt_acts_point(&a, &ga, c, B_, T_, am);
    n_plain = n_mixed = 0;
    bt_model_forward(c, &p, &a, cs, tok, seg, B_, T_);
    double loss = bt_xent_forward_backward(ga.dlogits, a.logits, tgt, B_ * T_, c->n_vocab, 1, NULL);
    bt_model_backward(c, &p, &g, &a, &ga, cs, tok, seg, B_, T_);
    /* f32: no mixed GEMM; bf16: nothing but mixed GEMMs — per layer 7 linear forwards and 2·7 backward
     * GEMMs, the attention's 2 forward and 4 backward per (row, head) (one row block, one interval), and the head */
    long want = (long)c->n_layer * (7 + 14 + 6 * B_ * c->n_head) + 1 + 2;
    if (bf16) {
        assert_int_equal(n_plain, 0);
        assert_int_equal(n_mixed, want);
    } else {
        assert_int_equal(n_mixed, 0);
        assert_int_equal(n_plain, want);
    }
    free(pm); free(am); free(cs);
    return loss;
}

/* the RoPE table the f32 model uses (kern's pd_rope_cache), so both sides rotate by the same numbers */
static void rope_table(const pd_tcfg *c, float *cs) {
    pd_rope r = {PD_ROPE_NORM, c->head_dim, c->rope_base, 1.0f, 1.0f, NULL};
    for (int pos = 0; pos < c->n_ctx; pos++) pd_rope_cache(&r, pos, cs + (size_t)pos * c->head_dim);
}

static double rel_err(const float *g, const double *ref, size_t n) {
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        e += (g[i] - ref[i]) * (g[i] - ref[i]);
        s += ref[i] * ref[i];
    }
    return sqrt(e / s);
}

static double model_grad(pd_tmodel *m, float *out) {
    pd_tbatch b = {.B = B_, .T = T_, .tokens = tok, .targets = tgt, .seg = seg};
    int64_t cnt;
    pd_tmodel_zero_grad(m);
    double l = pd_tmodel_forward(m, &b, &cnt);
    pd_tmodel_backward(m, &b, 1.0f);
    memcpy(out, pd_tmodel_grads(m), pd_tmodel_n_params(m) * sizeof(float));
    return l;
}

static void check_arch(const char *arch, bool tied) {
    pd_tcfg c;
    cfg_of(&c, arch, tied);
    pd_tmodel *m = pd_tmodel_new(&c, B_, T_);
    assert_non_null(m);
    pd_rng r;
    pd_rng_seed(&r, 1234);
    pd_tmodel_init(m, &r);
    size_t np = pd_tmodel_n_params(m);
    float *w = pd_tmodel_params(m);
    for (size_t i = 0; i < np; i++) w[i] += 0.05f * (float)pd_rng_normal(&r); /* norms away from exactly 1 */
    float *cs = malloc((size_t)c.n_ctx * c.head_dim * sizeof(float)), *g32 = malloc(np * 4), *g16 = malloc(np * 4);
    double *ref = malloc(np * sizeof(double)), *ref16 = malloc(np * sizeof(double));
    rope_table(&c, cs);

    assert_int_equal(pd_tmodel_precision(m), PD_PREC_F32);
    double l32 = model_grad(m, g32);
    double lr32 = ref_grad(&c, w, cs, 0, ref);
    double e32 = rel_err(g32, ref, np);

    assert_int_equal(pd_tmodel_set_precision(m, PD_PREC_BF16), PD_OK);
    assert_int_equal(pd_tmodel_precision(m), PD_PREC_BF16);
    double l16 = model_grad(m, g16);
    double lr16 = ref_grad(&c, w, cs, 1, ref16);
    double e16 = rel_err(g16, ref16, np), e16_vs_f32 = rel_err(g16, ref, np);
    printf("  %s%s: %zu params; f32 vs f64 %.2e, bf16 vs f64-bf16 %.2e, bf16 vs f64 %.2e (2^%.1f); loss f32 %.6f "
           "bf16 %.6f (ref %.6f %.6f)\n", arch, tied ? " tied" : "", np, e32, e16, e16_vs_f32, log2(e16_vs_f32), l32,
           l16, lr32, lr16);
    assert_true(e32 < 1e-5);
    assert_true(fabs(l32 - lr32) < 1e-5 * fabs(lr32));
    assert_true(e16 < 1e-3); /* the bf16 model = the definition, to F32 precision (and rare rounding flips) */
    assert_true(fabs(l16 - lr16) < 1e-5 * fabs(lr16));
    assert_true(e16_vs_f32 > 0x1p-12 && e16_vs_f32 < 0x1p-5); /* and BF16's error against f32 */
    assert_true(fabs(l16 - l32) > 0);

    /* the BF16 copy follows the weights: a write through pd_tmodel_params, then an optimizer step */
    float *w2 = pd_tmodel_params(m);
    for (size_t i = 0; i < np; i++) w2[i] *= 1.25f;
    model_grad(m, g16);
    ref_grad(&c, w2, cs, 1, ref16);
    assert_true(rel_err(g16, ref16, np) < 1e-3);
    pd_optcfg o;
    pd_optcfg_default(&o);
    o.lr = 0.05f;
    pd_tmodel_adamw(m, &o, 0, o.lr);
    pd_tbatch b = {.B = B_, .T = T_, .tokens = tok, .targets = tgt, .seg = seg};
    int64_t cnt;
    double lf = pd_tmodel_forward(m, &b, &cnt); /* forward right after the step, before any zero_grad */
    double *tmp = malloc(np * sizeof(double));
    double lref = ref_grad(&c, pd_tmodel_params(m), cs, 1, tmp);
    assert_true(fabs(lf - lref) < 1e-5 * fabs(lref));
    free(tmp);

    /* back to f32: the same bits as before the bf16 excursion (on the updated weights: a fresh model) */
    assert_int_equal(pd_tmodel_set_precision(m, PD_PREC_F32), PD_OK);
    pd_tmodel *m2 = pd_tmodel_new(&c, B_, T_);
    memcpy(pd_tmodel_params(m2), pd_tmodel_params(m), np * sizeof(float));
    float *ga = malloc(np * 4), *gb = malloc(np * 4);
    double la = model_grad(m, ga), lb = model_grad(m2, gb);
    assert_true(la == lb);
    assert_memory_equal(ga, gb, np * sizeof(float));
    free(ga); free(gb);
    pd_tmodel_free(m2);
    free(cs); free(g32); free(g16); free(ref); free(ref16);
    pd_tmodel_free(m);
}

static void test_llama(void **st) { (void)st; check_arch("llama", true); }
static void test_qwen2(void **st) { (void)st; check_arch("qwen2", false); }
static void test_qwen3(void **st) { (void)st; check_arch("qwen3", true); }

static void test_parse(void **st) {
    (void)st;
    pd_precision p = PD_PREC_BF16;
    assert_int_equal(pd_precision_parse("f32", &p), PD_OK);
    assert_int_equal(p, PD_PREC_F32);
    assert_int_equal(pd_precision_parse("bf16", &p), PD_OK);
    assert_int_equal(p, PD_PREC_BF16);
    assert_int_equal(pd_precision_parse("fp16", &p), PD_ERR_ARG);
    assert_int_equal(pd_precision_parse("", &p), PD_ERR_ARG);
    assert_string_equal(pd_precision_name(PD_PREC_BF16), "bf16");
    assert_string_equal(pd_precision_name(PD_PREC_F32), "f32");
}

int main(void) {
    batch_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_parse), cmocka_unit_test(test_llama), cmocka_unit_test(test_qwen2),
                                       cmocka_unit_test(test_qwen3)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
