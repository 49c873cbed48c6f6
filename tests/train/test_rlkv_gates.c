/* tests/train/test_rlkv_gates.c — RLKV gates learned by RL (ponder/rl_gates.h, src/train/rlkv_mix_tmpl.h):
 *  - the mixed attention inside the model template, instantiated over double as test_grad.c does: the
 *    gates' gradient dα against central differences of the whole model's cross-entropy (GQA, qwen3 and
 *    llama, packed documents, a window that hides keys), and the weights' gradients through both
 *    branches against differences too; with no_wgrad the matrices get nothing and dα is unchanged;
 *  - α = 1 gives the plain model's logits to the bit; α = 0 the logits of a windowed model assembled
 *    here from the template's layer functions (attention_forward with the window), to the bit;
 *  - β' = 1[r̄ > τ]·β·(exp(r̄) − 1) on hand-computed cases; one optimizer step worked by hand (the
 *    penalty's gradient, sign(0) = 0, Adam's first step = lr·sign, clipping to [0, 1]);
 *  - the gates TSV read back by the kv policy's reader (src/kv/spec.c) and its comment line;
 *  - `ponder rl` engine steps with gates on a tiny model: weights untouched bit for bit, every gate in
 *    [0, 1] and moved; rollouts from the mixed model (its KV-cached decoder) have the learner's mixed
 *    log-probs (logp_maxdiff < 1e-4, gates 1 and moved); rollouts from the original model at gates 1 too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TN(x) dg_##x
#include "tmodel_f64_testutil.h"
#include "ponder/kvpolicy.h"
#include "ponder/rl.h"
#include "ponder/rl_gates.h"
#include "ponder/rng.h"
#include "ponder/train.h"
#include "rl_testutil.h"

static pd_rng R;
static double *rnd(size_t n, double sd) {
    double *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = sd * pd_rng_normal(&R);
    return x;
}
static double *zeros(size_t n) { return calloc(n, sizeof(double)); }

enum { SINK = 2, RECENT = 3 };   /* with T = 9: rows t >= 5 lose keys to the window */

typedef struct {
    pd_tcfg c;
    int B, T;
    double *pmem, *gmem, *amem, *cs, *alpha, *dalpha;
    dg_params p, g;
    dg_acts a;
    dg_grads_act ga;
    struct dg_mix mix;
    int32_t *tok, *tgt, *seg;
} mctx;

static double m_loss(void *p) {
    mctx *m = p;
    dg_model_forward(&m->c, &m->p, &m->a, m->cs, m->tok, m->seg, m->B, m->T);
    return dg_xent_forward_backward(NULL, m->a.logits, m->tgt, (int64_t)m->B * m->T, m->c.n_vocab, 1, NULL);
}

static void mctx_init(mctx *m, const char *arch) {
    memset(m, 0, sizeof *m);
    pd_tcfg_set_arch(&m->c, arch);
    m->c.n_vocab = 11; m->c.dim = 8; m->c.n_layer = 2; m->c.n_head = 4; m->c.n_head_kv = 2; m->c.head_dim = 4;
    m->c.n_ff = 12; m->c.n_ctx = 12; m->c.tied = true;
    m->B = 2; m->T = 9;
    size_t sz[PD_TP_COUNT], sa[TA_COUNT], sg[TG_COUNT];
    size_t np = pd_tcfg_param_sizes(&m->c, sz);
    m->pmem = rnd(np, 0.5);
    tiny_norms_near_one(&m->c, m->pmem);
    m->gmem = zeros(np);
    m->amem = zeros(dg_acts_sizes(&m->c, m->B, m->T, sa, sg));
    dg_params_point(&m->p, &m->c, m->pmem);
    dg_params_point(&m->g, &m->c, m->gmem);
    dg_acts_point(&m->a, &m->ga, &m->c, m->B, m->T, m->amem);
    m->cs = tiny_rope_table(&m->c);
    static int32_t tok[18] = {1, 4, 7, 7, 2, 10, 0, 3, 5, 3, 9, 8, 6, 1, 1, 2, 4, 0};
    static int32_t tgt[18] = {4, 7, -1, 2, 5, 0, 3, 5, 8, 9, 8, 6, 1, -1, 2, 4, 0, 7};
    static int32_t seg[18] = {0, 0, 0, 0, 0, 0, 0, 0, 0, /* row 1: a second document at 2 */ 0, 0, 2, 2, 2, 2, 2, 2, 2};
    m->tok = tok; m->tgt = tgt; m->seg = seg;
    int n = m->c.n_layer * m->c.n_head_kv;
    m->alpha = zeros((size_t)n);
    m->dalpha = zeros((size_t)n);
    size_t s_att, s_y, s_dy;
    dg_mix_sizes(&m->c, m->B, m->T, &s_att, &s_y, &s_dy);
    m->mix = (struct dg_mix){m->alpha, m->dalpha, SINK, RECENT, zeros(s_att), zeros(s_y), zeros(s_dy)};
}
static void mctx_free(mctx *m) {
    free(m->pmem); free(m->gmem); free(m->amem); free(m->cs); free(m->alpha); free(m->dalpha);
    free(m->mix.att_local); free(m->mix.ydiff); free(m->mix.dy);
}

/* forward + backward of the cross-entropy into m->gmem and m->dalpha (zeroed first) */
static void m_grad(mctx *m) {
    memset(m->gmem, 0, pd_tcfg_param_sizes(&m->c, (size_t[PD_TP_COUNT]){0}) * sizeof(double));
    memset(m->dalpha, 0, sizeof(double) * (size_t)m->c.n_layer * m->c.n_head_kv);
    m_loss(m);
    dg_xent_forward_backward(m->ga.dlogits, m->a.logits, m->tgt, (int64_t)m->B * m->T, m->c.n_vocab, 1, NULL);
    dg_model_backward(&m->c, &m->p, &m->g, &m->a, &m->ga, m->cs, m->tok, m->seg, m->B, m->T);
}

/* the worst relative error of analytic[i] against the central difference of the loss in x[i], for every
 * stride-th i < n */
static double fd_worst(mctx *m, double *x, size_t n, size_t stride, const double *analytic) {
    const double h = 1e-5;
    double worst = 0;
    for (size_t i = 0; i < n; i += stride) {
        double x0 = x[i];
        x[i] = x0 + h; double lp = m_loss(m);
        x[i] = x0 - h; double lm = m_loss(m);
        x[i] = x0;
        double fd = (lp - lm) / (2 * h), den = fabs(fd) + fabs(analytic[i]);
        double e = fabs(fd - analytic[i]) / (den > 1e-2 ? den : 1e-2);
        if (e > worst) worst = e;
    }
    return worst;
}

/* dα against central differences of the model's loss in each gate; the weights' gradients through both
 * branches against differences in every parameter */
static void check_mixed_grad(const char *arch) {
    mctx m;
    mctx_init(&m, arch);
    int n = m.c.n_layer * m.c.n_head_kv;
    for (int i = 0; i < n; i++) m.alpha[i] = 0.2 + 0.6 * pd_rng_uniform(&R);
    m.p.mix = &m.mix;
    m_grad(&m);
    for (int i = 0; i < n; i++) assert_true(fabs(m.dalpha[i]) > 1e-6);   /* every layer's gates get a gradient */
    double worst = fd_worst(&m, m.alpha, (size_t)n, 1, m.dalpha);
    /* every third parameter: all kinds, both layers */
    double werr = fd_worst(&m, m.pmem, pd_tcfg_param_sizes(&m.c, (size_t[PD_TP_COUNT]){0}), 3, m.gmem);
    printf("  %s: dalpha max rel err %.3g over %d gates, weights %.3g\n", arch, worst, n, werr);
    assert_true(worst < 1e-5);
    assert_true(werr < 1e-5);
    /* no_wgrad: the matrices get nothing, the gates the same gradient */
    double *keep = malloc(sizeof(double) * (size_t)n);
    memcpy(keep, m.dalpha, sizeof(double) * (size_t)n);
    m.p.no_wgrad = true;
    m_grad(&m);
    for (int i = 0; i < n; i++) assert_true(m.dalpha[i] == keep[i]);
    int nt;
    pd_ttensor *tt = pd_tcfg_tensors(&m.c, &nt);
    for (int t = 0; t < nt; t++)
        if (tt[t].kind == PD_TP_WQ || tt[t].kind == PD_TP_WK || tt[t].kind == PD_TP_WV || tt[t].kind == PD_TP_WO ||
            tt[t].kind == PD_TP_GATE || tt[t].kind == PD_TP_UP || tt[t].kind == PD_TP_DOWN)
            for (size_t j = 0; j < tt[t].n; j++) assert_true(m.gmem[tt[t].offset + j] == 0);
    free(tt);
    free(keep);
    mctx_free(&m);
}
static void test_grad_qwen3(void **st) { (void)st; check_mixed_grad("qwen3"); }
static void test_grad_llama(void **st) { (void)st; check_mixed_grad("llama"); }

/* The windowed model, assembled from the template's layers (the model's own forward with every
 * attention restricted to the window): logits into out */
static void windowed_logits(mctx *m, double *out) {
    const pd_tcfg *c = &m->c;
    int B = m->B, T = m->T, D = c->dim, H = c->n_head, KV = c->n_head_kv, hd = c->head_dim, F = c->n_ff;
    int64_t BT = (int64_t)B * T;
    int Hq = H * hd, Hk = KV * hd;
    double *x = zeros((size_t)BT * D), *ln = zeros((size_t)BT * D), *rs = zeros((size_t)BT), *q = zeros((size_t)BT * Hq),
           *k = zeros((size_t)BT * Hk), *v = zeros((size_t)BT * Hk), *qn = zeros((size_t)BT * Hq),
           *kn = zeros((size_t)BT * Hk), *qr = zeros((size_t)BT * H), *kr = zeros((size_t)BT * KV),
           *att = zeros((size_t)B * H * T * T), *y = zeros((size_t)BT * Hq), *mid = zeros((size_t)BT * D),
           *ga = zeros((size_t)BT * F), *up = zeros((size_t)BT * F), *sw = zeros((size_t)BT * F);
    const dg_params *p = &m->p;
    dg_embed_forward(x, m->tok, p->tok_embd, BT, D);
    for (int l = 0; l < c->n_layer; l++) {
        dg_rmsnorm_forward(ln, rs, x, p->attn_norm + l * D, BT, D, c->norm_eps);
        dg_linear_forward(q, ln, p->wq + (int64_t)l * Hq * D, NULL, BT, D, Hq);
        dg_linear_forward(k, ln, p->wk + (int64_t)l * Hk * D, NULL, BT, D, Hk);
        dg_linear_forward(v, ln, p->wv + (int64_t)l * Hk * D, NULL, BT, D, Hk);
        if (c->qk_norm) {
            dg_rmsnorm_forward(qn, qr, q, p->q_norm + l * hd, BT * H, hd, c->norm_eps);
            dg_rmsnorm_forward(kn, kr, k, p->k_norm + l * hd, BT * KV, hd, c->norm_eps);
        } else {
            memcpy(qn, q, sizeof(double) * (size_t)BT * Hq);
            memcpy(kn, k, sizeof(double) * (size_t)BT * Hk);
        }
        dg_rope_apply(qn, m->seg, m->cs, BT, T, H, hd, c->rope_neox, 0);
        dg_rope_apply(kn, m->seg, m->cs, BT, T, KV, hd, c->rope_neox, 0);
        dg_attention_forward(y, att, qn, kn, v, m->seg, B, T, H, KV, hd, SINK, RECENT);
        dg_linear_forward(mid, y, p->wo + (int64_t)l * D * Hq, NULL, BT, Hq, D);
        for (int64_t i = 0; i < BT * D; i++) mid[i] += x[i];
        dg_rmsnorm_forward(ln, rs, mid, p->ffn_norm + l * D, BT, D, c->norm_eps);
        dg_linear_forward(ga, ln, p->w_gate + (int64_t)l * F * D, NULL, BT, D, F);
        dg_linear_forward(up, ln, p->w_up + (int64_t)l * F * D, NULL, BT, D, F);
        dg_swiglu_forward(sw, ga, up, BT * F);
        dg_linear_forward(x, sw, p->w_down + (int64_t)l * D * F, NULL, BT, F, D);
        for (int64_t i = 0; i < BT * D; i++) x[i] += mid[i];
    }
    dg_rmsnorm_forward(ln, rs, x, p->out_norm, BT, D, c->norm_eps);
    dg_linear_forward(out, ln, p->output, NULL, BT, D, c->n_vocab);
    free(x); free(ln); free(rs); free(q); free(k); free(v); free(qn); free(kn); free(qr); free(kr); free(att); free(y);
    free(mid); free(ga); free(up); free(sw);
}

static void test_gate_ends(void **st) {
    (void)st;
    const char *arch[2] = {"qwen3", "llama"};
    for (int ai = 0; ai < 2; ai++) {
        mctx m;
        mctx_init(&m, arch[ai]);
        size_t nl = (size_t)m.B * m.T * m.c.n_vocab;
        int n = m.c.n_layer * m.c.n_head_kv;
        double *plain = zeros(nl), *win = zeros(nl);
        m_loss(&m);   /* no gates */
        memcpy(plain, m.a.logits, nl * sizeof(double));
        windowed_logits(&m, win);
        m.p.mix = &m.mix;
        for (int i = 0; i < n; i++) m.alpha[i] = 1;
        m_loss(&m);
        for (size_t i = 0; i < nl; i++) assert_true(m.a.logits[i] == plain[i]);
        for (int i = 0; i < n; i++) m.alpha[i] = 0;
        m_loss(&m);
        size_t differ = 0;
        for (size_t i = 0; i < nl; i++) {
            assert_true(m.a.logits[i] == win[i]);
            differ += win[i] != plain[i];
        }
        assert_true(differ > nl / 4);   /* the window does hide keys here */
        /* one layer's gates at 0, the other's at 1: neither end model */
        m.alpha[0] = m.alpha[1] = 1;
        m_loss(&m);
        size_t d_plain = 0, d_win = 0;
        for (size_t i = 0; i < nl; i++) { d_plain += m.a.logits[i] != plain[i]; d_win += m.a.logits[i] != win[i]; }
        assert_true(d_plain > 0 && d_win > 0);
        free(plain); free(win);
        mctx_free(&m);
    }
}

/* The layer: query heads take their KV head's gate (GQA groups h / (H / KV)); gate 0 = the windowed
 * attention, 1 = the full one, per head, to the bit; ydiff = full − local */
static void test_mix_layer_groups(void **st) {
    (void)st;
    enum { B = 1, T = 9, H = 6, KV = 3, hd = 2 };
    size_t nq = B * T * H * hd, nk = B * T * KV * hd, na = (size_t)B * H * T * T;
    double *q = rnd(nq, 1), *k = rnd(nk, 1), *v = rnd(nk, 1), *full = zeros(nq), *loc = zeros(nq), *out = zeros(nq);
    double *att = zeros(na), *al = zeros(na), *yd = zeros(nq), *dy = zeros(nq);
    double alpha[KV] = {0, 1, 0.25}, dal[KV] = {0};
    struct dg_mix mx = {alpha, dal, SINK, RECENT, al, yd, dy};
    dg_attention_forward(full, att, q, k, v, NULL, B, T, H, KV, hd, 0, 0);
    dg_attention_forward(loc, att, q, k, v, NULL, B, T, H, KV, hd, SINK, RECENT);
    dg_mix_forward(&mx, 0, out, att, q, k, v, NULL, B, T, H, KV, hd);
    size_t differ = 0;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int j = 0; j < hd; j++) {
                size_t i = ((size_t)t * H + h) * hd + j;
                int g = h / (H / KV);
                double want = g == 0 ? loc[i] : g == 1 ? full[i] : 0.25 * full[i] + 0.75 * loc[i];
                assert_true(g == 2 ? fabs(out[i] - want) < 1e-15 : out[i] == want);
                assert_true(yd[i] == full[i] - loc[i]);
                differ += full[i] != loc[i];
            }
    assert_true(differ > 0);
    free(q); free(k); free(v); free(full); free(loc); free(out); free(att); free(al); free(yd); free(dy);
}

static void test_beta_eff(void **st) {
    (void)st;
    /* β = 1e-3, τ = 0.5 */
    assert_true(pd_rl_gates_beta_eff(1e-3, 0.5, 0.5) == 0);     /* r̄ = τ: not above, off */
    assert_true(pd_rl_gates_beta_eff(1e-3, 0.5, 0.2) == 0);
    assert_true(pd_rl_gates_beta_eff(1e-3, 0.5, 0.0) == 0);
    /* e^0.6 − 1 = 0.8221188003905089; e − 1 = 1.718281828459045; e^0.75 − 1 = 1.1170000166126748 */
    assert_true(fabs(pd_rl_gates_beta_eff(1e-3, 0.5, 0.6) - 8.221188003905089e-4) < 1e-15);
    assert_true(fabs(pd_rl_gates_beta_eff(1e-3, 0.5, 1.0) - 1.718281828459045e-3) < 1e-15);
    assert_true(fabs(pd_rl_gates_beta_eff(2.5e-3, 0.5, 0.75) - 2.792500041531687e-3) < 1e-15);
    /* τ below 0 lets a zero reward through: exp(0) − 1 = 0 */
    assert_true(pd_rl_gates_beta_eff(1e-3, -1, 0.0) == 0);
    assert_true(pd_rl_gates_beta_eff(0, 0.5, 1.0) == 0);
}

static void test_clip(void **st) {
    (void)st;
    float a[6] = {-0.5f, 0.f, 0.25f, 1.f, 1.5f, -0.f};
    pd_rl_gates_clip(a, 6);
    assert_true(a[0] == 0 && a[1] == 0 && a[2] == 0.25f && a[3] == 1 && a[4] == 1 && a[5] == 0);
}

/* One step worked by hand on a tiny model (2 layers × 2 KV heads = 4 gates), no RL gradient (zeroed):
 * α = {0.5, 0, 1, 0.25}, r̄ = 1, β = 1, τ = 0.5: β' = e − 1; the penalty's gradient β'·sign(α)/4 =
 * {0.4296, 0, 0.4296, 0.4296} (sign(0) = 0), norm √3·0.4296 = 0.7440 (under clip 1); Adam's first step
 * moves each gate by −lr·sign(g) (m̂ = g, v̂ = g²), so with lr 0.3: {0.2, 0, 0.7, −0.05 → 0}. */
static void test_step_by_hand(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(5, 1);
    pd_rl_gates_cfg c;
    pd_rl_gates_cfg_default(&c);
    c.beta = 1; c.tau = 0.5;
    pd_rl_gates *g = pd_rl_gates_new(m, &c);
    assert_non_null(g);
    assert_int_equal(pd_rl_gates_count(g), 4);
    float *a = pd_rl_gates_alpha(g);
    for (int i = 0; i < 4; i++) assert_true(a[i] == 1.0f);   /* init 1 */
    a[0] = 0.5f; a[1] = 0; a[2] = 1; a[3] = 0.25f;
    pd_rl_gates_zero_grad(g);
    pd_optcfg o;
    pd_optcfg_default(&o);
    o.weight_decay = 0;
    double gn, be, pen;
    assert_int_equal(pd_rl_gates_step(g, &o, 0, 0.3f, 1.0, &gn, &be, &pen), PD_OK);
    double e1 = exp(1.0) - 1;
    assert_true(fabs(be - e1) < 1e-12);
    assert_true(fabs(pen - e1 * 1.75 / 4) < 1e-12);
    assert_true(fabs(gn - sqrt(3.0) * e1 / 4) < 1e-6);
    assert_true(fabs(a[0] - 0.2f) < 1e-6 && a[1] == 0 && fabs(a[2] - 0.7f) < 1e-6 && a[3] == 0);
    /* a non-finite gradient is an error naming the gate; nothing moves */
    pd_rl_gates_zero_grad(g);
    pd_rl_gates_grad(g)[3] = NAN;
    float before[4];
    memcpy(before, a, sizeof before);
    assert_int_equal(pd_rl_gates_step(g, &o, 1, 0.3f, 1.0, NULL, NULL, NULL), PD_ERR_STATE);
    assert_non_null(strstr(pd_last_error(), "layer 1, kv head 1"));
    assert_memory_equal(before, a, sizeof before);
    /* bad settings */
    pd_rl_gates_free(g);
    c.sink = 0; c.recent = 0;
    assert_null(pd_rl_gates_new(m, &c));
    pd_tmodel_free(m);
}

/* the TSV read back through the kv policy's reader, to its 6 decimals */
static void test_tsv_roundtrip(void **st) {
    (void)st;
    char path[] = "/tmp/pd_rlkv_gates_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    float a[3 * 2] = {0.123456f, 1.0f, 0.0f, 0.5f, 0.999999f, 3e-7f}, back[6];
    assert_int_equal(pd_rl_gates_write_tsv(path, a, 3, 2, "a comment line"), PD_OK);
    assert_int_equal(pd_kvp_read_gates(path, 3, 2, back), PD_OK);
    for (int i = 0; i < 6; i++) assert_true(fabs(back[i] - a[i]) <= 5e-7);
    FILE *f = fopen(path, "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "# a comment line\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "0.123456\t1.000000\n");
    fclose(f);
    /* the shape is checked by the reader: 3 rows are not 4 layers */
    assert_int_equal(pd_kvp_read_gates(path, 4, 2, back), PD_ERR_FORMAT);
    /* an unwritable path fails and leaves nothing */
    assert_int_equal(pd_rl_gates_write_tsv("/nonexistent-dir/g.tsv", a, 3, 2, NULL), PD_ERR_IO);
    unlink(path);
}

static double always_half(void *ctx, const pd_task_item *it, const char *text, int n_tokens) {
    (void)ctx; (void)it; (void)n_tokens;
    return text[0] % 2 ? 1.0 : 0.0;   /* a reward that varies inside a group */
}

/* one engine step with gates: weights untouched, gates moved and in [0, 1]; freed: plain forward again */
static void test_engine_step(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(9, 8);
    size_t np = pd_tmodel_n_params(m);
    float *w0 = malloc(np * sizeof(float));
    memcpy(w0, pd_tmodel_params(m), np * sizeof(float));
    pd_rl_cfg c;
    pd_rl_cfg_for_algo(&c, PD_RL_GRPO);
    c.B = 2; c.G = 4; c.max_tokens = 40; c.opt.lr = 0.05f;
    c.gates.on = true; c.gates.sink = 2; c.gates.recent = 4; c.gates.beta = 1e-3; c.gates.tau = 0.5;
    pd_rl_source src = {"arith-add", 1, 1, NULL};
    pd_rl *r = pd_rl_new(m, NULL, &c, &src);
    assert_non_null(r);
    pd_rl_set_reward(r, always_half, NULL);
    pd_rng g;
    pd_rng_seed(&g, 3);
    int64_t step = 0;
    pd_rl_stats s;
    assert_int_equal(pd_rl_step(r, &g, &step, true, &s), PD_OK);
    assert_int_equal(step, 1);
    assert_memory_equal(w0, pd_tmodel_params(m), np * sizeof(float));   /* frozen */
    const float *a = pd_rl_gates_alpha(pd_rl_gates_of(r));
    int moved = 0;
    for (int i = 0; i < pd_rl_gates_count(pd_rl_gates_of(r)); i++) {
        assert_true(a[i] >= 0 && a[i] <= 1);
        moved += a[i] != 1.0f;
    }
    assert_true(moved > 0);
    assert_true(s.gates_mean < 1 && s.gates_mean >= 0);
    /* rollouts from the mixed model: its KV-cached decoder and the learner's mixed forward agree on
     * every sampled token's log-prob, also at step 2 with the gates moved */
    assert_true(s.logp_maxdiff < 1e-4);
    assert_int_equal(pd_rl_step(r, &g, &step, true, &s), PD_OK);
    assert_true(s.logp_maxdiff < 1e-4);
    pd_rl_free(r);
    /* the original model's rollouts (through gen/): at step 1 (gates 1) the mixed forward is the plain one */
    c.gates.mixed_rollouts = false;
    assert_non_null(r = pd_rl_new(m, NULL, &c, &src));
    pd_rl_set_reward(r, always_half, NULL);
    assert_int_equal(pd_rl_step(r, &g, &step, true, &s), PD_OK);
    assert_true(s.logp_maxdiff < 1e-3);
    assert_memory_equal(w0, pd_tmodel_params(m), np * sizeof(float));
    pd_rl_free(r);
    pd_tbatch b = {1, 6, (int32_t[]){1, 2, 3, 4, 5, 6}, NULL, NULL};
    pd_tmodel_forward(m, &b, NULL);   /* detached: plain attention, no mix buffers touched */
    pd_tmodel_free(m);
    free(w0);
}

int main(void) {
    pd_rng_seed(&R, 1234);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_qwen3), cmocka_unit_test(test_grad_llama),  cmocka_unit_test(test_gate_ends),
        cmocka_unit_test(test_mix_layer_groups), cmocka_unit_test(test_beta_eff),   cmocka_unit_test(test_clip),        cmocka_unit_test(test_step_by_hand),
        cmocka_unit_test(test_tsv_roundtrip), cmocka_unit_test(test_engine_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
