/* tests/train/test_grad.c — finite-difference checks of every backward, in double precision.
 * The model template (src/train/tmodel_tmpl.h) is instantiated here over double with a plain
 * triple-loop GEMM, so the code under test is the same code that trains; each layer's analytic
 * gradient of L = Σ w·out (w random) is compared with central differences, then the whole model's
 * masked cross-entropy for each architecture (llama tied, qwen2 biases untied, qwen3 qk-norm, GQA,
 * packed documents). Last, the f32 instantiation (pd_tmodel, pd_sgemm) is compared with the double
 * one on the same weights: loss and every gradient. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#define TN(x) dt_##x
#define TR_ATT_BM 4 /* blocks of 4 query rows: the tests cross block edges (f32 uses 64) */
#include "tmodel_f64_testutil.h"
#include "ponder/rng.h"
#include "ponder/train.h"

static pd_rng R;
static double *rnd(size_t n, double sd) {
    double *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = sd * pd_rng_normal(&R);
    return x;
}
static double *zeros(size_t n) { return calloc(n, sizeof(double)); }
static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Compare analytic[i] with the central difference of lossf in x[i], for every i. */
typedef double (*loss_fn)(void *ctx);
static double max_err(double *x, size_t n, const double *analytic, loss_fn f, void *ctx) {
    const double h = 1e-5;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + h; double lp = f(ctx);
        x[i] = x0 - h; double lm = f(ctx);
        x[i] = x0;
        double fd = (lp - lm) / (2 * h);
        double den = fabs(fd) + fabs(analytic[i]);
        double e = fabs(fd - analytic[i]) / (den > 1e-2 ? den : 1e-2);
        if (e > worst) worst = e;
    }
    return worst;
}
#define TOL 1e-5

/* ---------------------------------------------------------------- layers */
typedef struct {
    int rows, n, in, out, N, B, T, H, KV, hd, V;
    double *x, *w, *b, *k, *v, *y, *y2, *r, *att, *gw;
    int32_t *seg, *tok, *tgt;
    int which;
    int sink, recent; /* attention window (0, 0: full causal) */
} lctx;

static double l_rmsnorm(void *p) {
    lctx *c = p;
    dt_rmsnorm_forward(c->y, c->r, c->x, c->w, c->rows, c->n, 1e-5f);
    return dot(c->y, c->gw, (size_t)c->rows * c->n);
}
static void test_rmsnorm(void **st) {
    (void)st;
    lctx c = {.rows = 3, .n = 7};
    size_t N = 21;
    c.x = rnd(N, 1); c.w = rnd(7, 1); c.gw = rnd(N, 1); c.y = zeros(N); c.r = zeros(3);
    double *dx = zeros(N), *dw = zeros(7);
    l_rmsnorm(&c);
    dt_rmsnorm_backward(dx, dw, c.gw, c.x, c.w, c.r, 3, 7);
    assert_true(max_err(c.x, N, dx, l_rmsnorm, &c) < TOL);
    assert_true(max_err(c.w, 7, dw, l_rmsnorm, &c) < TOL);
    free(c.x); free(c.w); free(c.gw); free(c.y); free(c.r); free(dx); free(dw);
}

static double l_linear(void *p) {
    lctx *c = p;
    dt_linear_forward(c->y, c->x, c->w, c->b, c->rows, c->in, c->out);
    return dot(c->y, c->gw, (size_t)c->rows * c->out);
}
static void test_linear(void **st) {
    (void)st;
    lctx c = {.rows = 4, .in = 5, .out = 3};
    c.x = rnd(20, 1); c.w = rnd(15, 1); c.b = rnd(3, 1); c.gw = rnd(12, 1); c.y = zeros(12);
    double *dx = zeros(20), *dw = zeros(15), *db = zeros(3);
    dt_linear_backward(dx, dw, db, c.gw, c.x, c.w, 4, 5, 3);
    assert_true(max_err(c.x, 20, dx, l_linear, &c) < TOL);
    assert_true(max_err(c.w, 15, dw, l_linear, &c) < TOL);
    assert_true(max_err(c.b, 3, db, l_linear, &c) < TOL);
    /* hand-computed case: x = [1 2], W = [[3 4]], b = [5] → y = 16 */
    double x1[2] = {1, 2}, w1[2] = {3, 4}, b1[1] = {5}, y1[1];
    dt_linear_forward(y1, x1, w1, b1, 1, 2, 1);
    assert_true(y1[0] == 16.0);
    free(c.x); free(c.w); free(c.b); free(c.gw); free(c.y); free(dx); free(dw); free(db);
}

static double l_swiglu(void *p) {
    lctx *c = p;
    dt_swiglu_forward(c->y, c->x, c->w, c->n);
    return dot(c->y, c->gw, (size_t)c->n);
}
static void test_swiglu(void **st) {
    (void)st;
    lctx c = {.n = 9};
    c.x = rnd(9, 2); c.w = rnd(9, 1); c.gw = rnd(9, 1); c.y = zeros(9);
    double *dg = zeros(9), *du = zeros(9);
    dt_swiglu_backward(dg, du, c.gw, c.x, c.w, 9);
    assert_true(max_err(c.x, 9, dg, l_swiglu, &c) < TOL);
    assert_true(max_err(c.w, 9, du, l_swiglu, &c) < TOL);
    free(c.x); free(c.w); free(c.gw); free(c.y); free(dg); free(du);
}

static double l_rope(void *p) {
    lctx *c = p;
    memcpy(c->y, c->x, sizeof(double) * c->N * c->H * c->hd);
    dt_rope_apply(c->y, c->seg, c->v, c->N, c->T, c->H, c->hd, c->which, 0);
    return dot(c->y, c->gw, (size_t)c->N * c->H * c->hd);
}
static void test_rope(void **st) {
    (void)st;
    for (int neox = 0; neox <= 1; neox++) {
        lctx c = {.N = 6, .T = 3, .H = 2, .hd = 4, .which = neox};
        size_t n = 48;
        int32_t seg[6] = {0, 0, 2, 0, 1, 1};
        c.seg = seg;
        c.x = rnd(n, 1); c.gw = rnd(n, 1); c.y = zeros(n);
        c.v = zeros(3 * 2 * 2);
        for (int pos = 0; pos < 3; pos++)
            for (int i = 0; i < 2; i++) {
                double th = pos * pow(10000.0, -2.0 * i / 4);
                c.v[(pos * 2 + i) * 2] = cos(th);
                c.v[(pos * 2 + i) * 2 + 1] = sin(th);
            }
        double *dx = malloc(n * sizeof(double));
        memcpy(dx, c.gw, n * sizeof(double));
        dt_rope_apply(dx, seg, c.v, 6, 3, 2, 4, neox, 1);
        assert_true(max_err(c.x, n, dx, l_rope, &c) < TOL);
        /* hand check: token 1 (pos 1), head 0, first pair rotated by angle 1 */
        l_rope(&c);
        int ia = 4 * 2 + 0, ib = 4 * 2 + (neox ? 2 : 1);
        assert_true(fabs(c.y[ia] - (c.x[ia] * cos(1.0) - c.x[ib] * sin(1.0))) < 1e-12);
        /* token 2 starts its own document: position 0, unrotated */
        for (int j = 0; j < 8; j++) assert_true(c.y[2 * 8 + j] == c.x[2 * 8 + j]);
        free(c.x); free(c.gw); free(c.y); free(c.v); free(dx);
    }
}

static double l_attn(void *p) {
    lctx *c = p;
    dt_attention_forward(c->y, c->att, c->x, c->k, c->v, c->seg, c->B, c->T, c->H, c->KV, c->hd, c->sink, c->recent);
    return dot(c->y, c->gw, (size_t)c->B * c->T * c->H * c->hd);
}
static void test_attention(void **st) {
    (void)st;
    lctx c = {.B = 2, .T = 4, .H = 4, .KV = 2, .hd = 3};
    int32_t seg[8] = {0, 0, 0, 0, 0, 1, 1, 3};
    c.seg = seg;
    size_t nq = 2 * 4 * 4 * 3, nk = 2 * 4 * 2 * 3;
    c.x = rnd(nq, 1); c.k = rnd(nk, 1); c.v = rnd(nk, 1); c.gw = rnd(nq, 1); c.y = zeros(nq);
    c.att = zeros(2 * 4 * 4 * 4);
    double *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk), *ds = zeros(dt_attn_scratch(2, 4, 2));
    l_attn(&c);
    dt_attention_backward(dq, dk, dv, ds, c.gw, c.att, c.x, c.k, c.v, seg, 2, 4, 4, 2, 3, 0, 0);
    assert_true(max_err(c.x, nq, dq, l_attn, &c) < TOL);
    assert_true(max_err(c.k, nk, dk, l_attn, &c) < TOL);
    assert_true(max_err(c.v, nk, dv, l_attn, &c) < TOL);
    /* a document's first token attends only to itself: output = its own value row */
    for (int h = 0; h < 4; h++)
        for (int j = 0; j < 3; j++) assert_true(fabs(c.y[(4 + 1) * 12 + h * 3 + j] - c.v[(4 + 1) * 6 + (h / 2) * 3 + j]) < 1e-12);
    free(c.x); free(c.k); free(c.v); free(c.gw); free(c.y); free(c.att); free(dq); free(dk); free(dv); free(ds);
}

/* Brute-force reference of the windowed attention: every key j of the row tested against the mask
 * written from its definition (causal, same document, first `sink` of the document or one of the
 * `recent` latest), softmax over the visible scores in double; a row that sees nothing gives 0. */
static void ref_attention(double *out, double *att, const double *q, const double *k, const double *v, const int32_t *seg,
                          int B, int T, int H, int KV, int hd, int sink, int recent) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                int s0 = seg[b * T + t], kh = h / (H / KV);
                double sc[64], mx = -INFINITY, sum = 0;
                bool vis[64];
                for (int j = 0; j < T; j++) {
                    bool in_doc = j >= s0 && j <= t;
                    bool in_win = (sink == 0 && recent == 0) || j - s0 < sink || t - j < recent;
                    vis[j] = in_doc && in_win;
                    if (!vis[j]) continue;
                    double d = 0;
                    for (int e = 0; e < hd; e++) d += q[((b * T + t) * H + h) * hd + e] * k[((b * T + j) * KV + kh) * hd + e];
                    sc[j] = d / sqrt((double)hd);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j < T; j++)
                    if (vis[j]) sum += exp(sc[j] - mx);
                double *o = out + ((b * T + t) * H + h) * hd;
                for (int e = 0; e < hd; e++) o[e] = 0;
                for (int j = 0; j < T; j++) {
                    double p = vis[j] ? exp(sc[j] - mx) / sum : 0;
                    att[((b * H + h) * T + t) * T + j] = p;
                    for (int e = 0; e < hd; e++) o[e] += p * v[((b * T + j) * KV + kh) * hd + e];
                }
            }
}

/* The window option: outputs and probabilities against the brute-force mask, gradients against
 * finite differences, for windows from "only sinks" to "wider than the row" (= full causal). */
static void test_attention_window(void **st) {
    (void)st;
    enum { B = 2, T = 9, H = 4, KV = 2, hd = 3 };
    int32_t seg[B * T] = {0, 0, 0, 0, 0, 0, 0, 0, 0, /* row 1: documents at 0, 2, 6 */ 0, 0, 2, 2, 2, 2, 6, 6, 6};
    int wins[][2] = {{0, 0}, {1, 1}, {2, 3}, {0, 2}, {0, 1}, {3, 0}, {1, 0}, {2, 1}, {20, 20}, {T, 0}};
    size_t nq = B * T * H * hd, nk = B * T * KV * hd, na = (size_t)B * H * T * T;
    lctx c = {.B = B, .T = T, .H = H, .KV = KV, .hd = hd, .seg = seg};
    c.x = rnd(nq, 1); c.k = rnd(nk, 1); c.v = rnd(nk, 1); c.gw = rnd(nq, 1); c.y = zeros(nq); c.att = zeros(na);
    double *yref = zeros(nq), *aref = zeros(na), *yfull = zeros(nq);
    double *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk), *ds = zeros(dt_attn_scratch(B, T, KV));
    c.sink = c.recent = 0;
    l_attn(&c);
    memcpy(yfull, c.y, nq * sizeof(double));
    for (size_t w = 0; w < sizeof wins / sizeof wins[0]; w++) {
        c.sink = wins[w][0]; c.recent = wins[w][1];
        l_attn(&c);
        ref_attention(yref, aref, c.x, c.k, c.v, seg, B, T, H, KV, hd, c.sink, c.recent);
        for (size_t i = 0; i < nq; i++) assert_true(fabs(c.y[i] - yref[i]) < 1e-12);
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int t = 0; t < T; t++)
                    for (int j = seg[b * T + t]; j <= t; j++) {
                        size_t ia = (((size_t)b * H + h) * T + t) * T + j;
                        assert_true(fabs(c.att[ia] - aref[ia]) < 1e-12);
                    }
        /* a window covering every row is the full causal attention, to the bit */
        if (c.sink >= T || c.recent >= T)
            for (size_t i = 0; i < nq; i++) assert_true(c.y[i] == yfull[i]);
        memset(dq, 0, nq * sizeof(double)); memset(dk, 0, nk * sizeof(double)); memset(dv, 0, nk * sizeof(double));
        dt_attention_backward(dq, dk, dv, ds, c.gw, c.att, c.x, c.k, c.v, seg, B, T, H, KV, hd, c.sink, c.recent);
        double e = max_err(c.x, nq, dq, l_attn, &c);
        e = fmax(e, max_err(c.k, nk, dk, l_attn, &c));
        e = fmax(e, max_err(c.v, nk, dv, l_attn, &c));
        if (e >= TOL) printf("  window sink %d recent %d: max rel err %.3g\n", c.sink, c.recent, e);
        assert_true(e < TOL);
    }
    /* sink 1, recent 0: every query sees only its document's first token, so its output is that
     * token's value row */
    c.sink = 1; c.recent = 0;
    l_attn(&c);
    for (int i = 0; i < B * T; i++) {
        int first = (i / T) * T + seg[i];
        for (int h = 0; h < H; h++)
            for (int j = 0; j < hd; j++)
                assert_true(fabs(c.y[(i * H + h) * hd + j] - c.v[(first * KV + h / 2) * hd + j]) < 1e-12);
    }
    free(c.x); free(c.k); free(c.v); free(c.gw); free(c.y); free(c.att); free(yref); free(aref); free(yfull);
    free(dq); free(dk); free(dv); free(ds);
}

static double l_xent(void *p) {
    lctx *c = p;
    return dt_xent_forward_backward(NULL, c->x, c->tgt, c->N, c->V, 1, NULL);
}
static void test_xent(void **st) {
    (void)st;
    lctx c = {.N = 4, .V = 6};
    int32_t tgt[4] = {2, -1, 5, 0};
    c.tgt = tgt;
    c.x = rnd(24, 2);
    double *d = zeros(24);
    int64_t cnt;
    dt_xent_forward_backward(d, c.x, tgt, 4, 6, 1, &cnt);
    assert_int_equal(cnt, 3);
    assert_true(max_err(c.x, 24, d, l_xent, &c) < TOL);
    /* uniform logits: loss = ln V per target */
    double z[6] = {0};
    int32_t t1[1] = {3};
    assert_true(fabs(dt_xent_forward_backward(NULL, z, t1, 1, 6, 1, NULL) - log(6.0)) < 1e-12);
    free(c.x); free(d);
}

static void test_embed(void **st) {
    (void)st;
    double E[3 * 2] = {1, 2, 3, 4, 5, 6}, out[3 * 2], g[3 * 2] = {1, 1, 2, 2, 3, 3}, dE[6] = {0};
    int32_t tok[3] = {2, 0, 2};
    dt_embed_forward(out, tok, E, 3, 2);
    assert_true(out[0] == 5 && out[1] == 6 && out[2] == 1 && out[5] == 6);
    dt_embed_backward(dE, g, tok, 3, 2);
    assert_true(dE[0] == 2 && dE[1] == 2 && dE[2] == 0 && dE[4] == 4 && dE[5] == 4);
}

/* ---------------------------------------------------------------- whole model */
typedef struct {
    pd_tcfg c;
    int B, T;
    double *pmem, *gmem, *amem, *cs;
    dt_params p, g;
    dt_acts a;
    dt_grads_act ga;
    int32_t *tok, *tgt, *seg;
} mctx;

static double m_loss(void *p) {
    mctx *m = p;
    dt_model_forward(&m->c, &m->p, &m->a, m->cs, m->tok, m->seg, m->B, m->T);
    return dt_xent_forward_backward(NULL, m->a.logits, m->tgt, (int64_t)m->B * m->T, m->c.n_vocab, 1, NULL);
}

static void mctx_init(mctx *m, const char *arch, bool tied) {
    memset(m, 0, sizeof *m);
    pd_tcfg_set_arch(&m->c, arch);
    m->c.n_vocab = 11; m->c.dim = 8; m->c.n_layer = 2; m->c.n_head = 4; m->c.n_head_kv = 2; m->c.head_dim = 4;
    m->c.n_ff = 12; m->c.n_ctx = 8; m->c.tied = tied;
    m->B = 2; m->T = 5;
    size_t sz[PD_TP_COUNT], sa[TA_COUNT], sg[TG_COUNT];
    size_t np = pd_tcfg_param_sizes(&m->c, sz);
    m->pmem = rnd(np, 0.5);
    tiny_norms_near_one(&m->c, m->pmem);
    m->gmem = zeros(np);
    m->amem = zeros(dt_acts_sizes(&m->c, m->B, m->T, sa, sg));
    dt_params_point(&m->p, &m->c, m->pmem);
    dt_params_point(&m->g, &m->c, m->gmem);
    dt_acts_point(&m->a, &m->ga, &m->c, m->B, m->T, m->amem);
    m->cs = tiny_rope_table(&m->c);
    static int32_t tok[10] = {1, 4, 7, 7, 2, 10, 0, 3, 3, 9};
    static int32_t tgt[10] = {4, 7, -1, 2, 5, 0, 3, -1, 9, 1};
    static int32_t seg[10] = {0, 0, 0, 3, 3, 0, 0, 0, 0, 0}; /* row 0 packs two documents */
    m->tok = tok; m->tgt = tgt; m->seg = seg;
}
static void mctx_free(mctx *m) { free(m->pmem); free(m->gmem); free(m->amem); free(m->cs); }

static void check_model(const char *arch, bool tied) {
    mctx m;
    mctx_init(&m, arch, tied);
    m_loss(&m);
    dt_xent_forward_backward(m.ga.dlogits, m.a.logits, m.tgt, m.B * m.T, m.c.n_vocab, 1, NULL);
    dt_model_backward(&m.c, &m.p, &m.g, &m.a, &m.ga, m.cs, m.tok, m.seg, m.B, m.T);
    size_t sz[PD_TP_COUNT];
    size_t np = pd_tcfg_param_sizes(&m.c, sz);
    double e = max_err(m.pmem, np, m.gmem, m_loss, &m);
    printf("  %s%s: %zu params, max rel err %.3g\n", arch, tied ? " tied" : "", np, e);
    assert_true(e < TOL);
    mctx_free(&m);
}
static void test_model_llama(void **st) { (void)st; check_model("llama", true); }
static void test_model_qwen2(void **st) { (void)st; check_model("qwen2", false); }
static void test_model_qwen3(void **st) { (void)st; check_model("qwen3", true); }

/* The f32 model (what trains) against the f64 template on the same weights. */
static void test_f32_matches_f64(void **st) {
    (void)st;
    const char *archs[3] = {"llama", "qwen2", "qwen3"};
    for (int ai = 0; ai < 3; ai++) {
        mctx m;
        mctx_init(&m, archs[ai], ai != 1);
        pd_tmodel *fm = pd_tmodel_new(&m.c, m.B, m.T);
        assert_non_null(fm);
        size_t np = pd_tmodel_n_params(fm);
        float *fp = pd_tmodel_params(fm);
        for (size_t i = 0; i < np; i++) fp[i] = (float)m.pmem[i];
        pd_tbatch b = {.B = m.B, .T = m.T, .tokens = m.tok, .targets = m.tgt, .seg = m.seg};
        int64_t cnt;
        double lf = pd_tmodel_forward(fm, &b, &cnt);
        pd_tmodel_zero_grad(fm);
        pd_tmodel_backward(fm, &b, 1.0f);
        double ld = m_loss(&m);
        dt_xent_forward_backward(m.ga.dlogits, m.a.logits, m.tgt, m.B * m.T, m.c.n_vocab, 1, NULL);
        dt_model_backward(&m.c, &m.p, &m.g, &m.a, &m.ga, m.cs, m.tok, m.seg, m.B, m.T);
        assert_int_equal(cnt, 8);
        assert_true(fabs(lf - ld) < 1e-4 * fabs(ld));
        const float *gf = pd_tmodel_grads(fm);
        double gmax = 0, emax = 0;
        for (size_t i = 0; i < np; i++) {
            if (fabs(m.gmem[i]) > gmax) gmax = fabs(m.gmem[i]);
            if (fabs(m.gmem[i] - gf[i]) > emax) emax = fabs(m.gmem[i] - gf[i]);
        }
        assert_true(emax < 1e-4 * gmax);
        pd_tmodel_free(fm);
        mctx_free(&m);
    }
}

int main(void) {
    pd_rng_seed(&R, 42);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),     cmocka_unit_test(test_linear),      cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_rope),        cmocka_unit_test(test_attention),   cmocka_unit_test(test_attention_window), cmocka_unit_test(test_xent),
        cmocka_unit_test(test_embed),       cmocka_unit_test(test_model_llama), cmocka_unit_test(test_model_qwen2),
        cmocka_unit_test(test_model_qwen3), cmocka_unit_test(test_f32_matches_f64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
