/* tests/train/test_rl_brpo.c — Elastic Reasoning's budget-constrained rollouts and AnytimeReasoner /
 * BRPO (ponder/rl_elastic.h, ponder/rl_brpo.h), each against an independent truth:
 *  - budgets and prior weights for each prior, hand-computed; cut positions on hand cases and on
 *    traces drawn from a fixed rng (kept tokens within budget and trace, the closer inserted exactly
 *    when the trace did not close itself within the budget);
 *  - BRPO's returns, baselines (brpo, v2only, v1only, none) and the decoupled summary advantages on
 *    two tiny trees computed by hand (S = 2 and S = 3 with the 2^k history weights);
 *  - the surrogate with per-token advantages: dL/dlogp equals f64 central finite differences in all
 *    three aggregation modes, and equals the per-sequence form when the advantages are constant;
 *  - Elastic on a tiny model whose prompts open thinking: thinking never exceeds t, the answer never
 *    exceeds s, every injected token (and only those) has a NaN sampler log-prob (no loss) and decodes
 *    to the budget policy's closer; the statistics count the cuts;
 *  - BRPO on the same model: the tree's rows (trace, kept prefix, inserted closer, summary), tokens fed
 *    to the model equal the count with no re-prefill (prompt once, the closer and decode tokens only),
 *    the per-token thinking advantages equal a plain recomputation from the summaries' rewards, and a
 *    few steps train without NaN. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ponder/model.h"
#include "ponder/rl.h"
#include "ponder/train.h"
#include "rl_testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-12)

/* ---- budgets, priors, cuts ---- */

static void test_budgets_and_priors(void **st) {
    (void)st;
    int b[4];
    double p[4];
    pd_brpo_budgets(PD_BRPO_UNIFORM, 4, 100, b, p);
    assert_int_equal(b[0], 25); assert_int_equal(b[1], 50); assert_int_equal(b[2], 75); assert_int_equal(b[3], 100);
    for (int j = 0; j < 4; j++) NEAR(p[j], 0.25);
    pd_brpo_budgets(PD_BRPO_LINEAR, 4, 100, b, p);   /* ∝ b: 25/250, 50/250, ... */
    NEAR(p[0], 0.1); NEAR(p[1], 0.2); NEAR(p[2], 0.3); NEAR(p[3], 0.4);
    pd_brpo_budgets(PD_BRPO_BASE, 4, 100, b, p);
    NEAR(p[0], 0); NEAR(p[1], 0); NEAR(p[2], 0); NEAR(p[3], 1);
    pd_brpo_budgets(PD_BRPO_UNIFORM, 4, 10, b, p);   /* floor((j+1)·10/4) */
    assert_int_equal(b[0], 2); assert_int_equal(b[1], 5); assert_int_equal(b[2], 7); assert_int_equal(b[3], 10);
    pd_brpo_budgets(PD_BRPO_LINEAR, 3, 2, b, p);     /* 0 would be no thinking at all: at least 1 */
    assert_int_equal(b[0], 1); assert_int_equal(b[1], 1); assert_int_equal(b[2], 2);
    NEAR(p[0], 0.25); NEAR(p[2], 0.5);
    /* segments: [0,25) → 0, [25,50) → 1, ... */
    int bb[4] = {25, 50, 75, 100};
    assert_int_equal(pd_brpo_segment(bb, 4, 0), 0); assert_int_equal(pd_brpo_segment(bb, 4, 24), 0);
    assert_int_equal(pd_brpo_segment(bb, 4, 25), 1); assert_int_equal(pd_brpo_segment(bb, 4, 99), 3);
    assert_int_equal(pd_brpo_segment(bb, 4, 150), 3);
    assert_int_equal(pd_brpo_prior_from_name("linear"), PD_BRPO_LINEAR);
    assert_int_equal(pd_brpo_baseline_from_name("v2only"), PD_BRPO_BL_V2ONLY);
    assert_int_equal(pd_brpo_prior_from_name("gauss"), -1);
    assert_int_equal(pd_rl_algo_from_name("brpo"), PD_RL_BRPO);
    assert_string_equal(pd_rl_algo_name(PD_RL_BRPO), "brpo");
}

static void test_cuts(void **st) {
    (void)st;
    bool ins;
    /* closed at 30 tokens: kept whole for a budget of 30 or more, cut (closer inserted) below */
    assert_int_equal(pd_brpo_cut(30, true, false, 30, &ins), 30); assert_false(ins);
    assert_int_equal(pd_brpo_cut(30, true, false, 50, &ins), 30); assert_false(ins);
    assert_int_equal(pd_brpo_cut(30, true, false, 25, &ins), 25); assert_true(ins);
    /* never closed, 40 tokens (limit): cut at the budget, or at the end */
    assert_int_equal(pd_brpo_cut(40, false, false, 25, &ins), 25); assert_true(ins);
    assert_int_equal(pd_brpo_cut(40, false, false, 50, &ins), 40); assert_true(ins);
    /* ended its turn while thinking: the end token is not kept */
    assert_int_equal(pd_brpo_cut(12, false, true, 50, &ins), 11); assert_true(ins);
    assert_int_equal(pd_brpo_cut(1, false, true, 5, &ins), 0); assert_true(ins);
    /* traces from a fixed rng, every prior (the prior weighs the budgets; the cuts follow the budgets) */
    for (int pr = 0; pr < 3; pr++) {
        pd_rng g;
        pd_rng_seed(&g, 77);
        int b[4];
        double p[4];
        pd_brpo_budgets((pd_brpo_prior)pr, 4, 64, b, p);
        double tot = 0;
        for (int j = 0; j < 4; j++) tot += p[j];
        NEAR(tot, 1);
        for (int it = 0; it < 200; it++) {
            int n = 1 + (int)pd_rng_below(&g, 64);
            bool closed = pd_rng_uniform(&g) < 0.5, eog = !closed && pd_rng_uniform(&g) < 0.3;
            int prev = -1;
            for (int j = 0; j < 4; j++) {
                int k = pd_brpo_cut(n, closed, eog, b[j], &ins);
                assert_true(k >= 0 && k <= b[j] && k <= n);
                assert_true(ins == !(closed && n <= b[j]));
                if (!ins) assert_int_equal(k, n);
                else assert_int_equal(k, (eog ? n - 1 : n) < b[j] ? (eog ? n - 1 : n) : b[j]);
                assert_true(k >= prev);   /* larger budgets keep at least as much */
                prev = k;
            }
        }
    }
}

/* ---- advantages on hand-computed trees ---- */

static void test_advantages_s2(void **st) {
    (void)st;
    /* G 2, S 2, A 2, uniform prior (0.5, 0.5). score[(g·S + j)·A + a] */
    double score[8] = {1, 0, /* g0 j0: mean .5 */ 1, 1, /* g0 j1: 1 */ 0, 0, /* g1 j0: 0 */ 1, 0 /* g1 j1: .5 */};
    double p[2] = {0.5, 0.5}, seg[4], sum[8], rt[4], base[4];
    /* Rt: g0 (0.75, 0.5), g1 (0.25, 0.25); V2 (0.5, 0.375); V1: g0 s1 = 0.5·0.5 = 0.25, g1 s1 = 0 */
    pd_brpo_advantages(PD_BRPO_BL_BRPO, 2, 2, 2, p, score, seg, sum, rt, base);
    NEAR(rt[0], 0.75); NEAR(rt[1], 0.5); NEAR(rt[2], 0.25); NEAR(rt[3], 0.25);
    NEAR(base[0], 0.5); NEAR(base[1], 0.3125); NEAR(base[2], 0.5); NEAR(base[3], 0.1875);
    NEAR(seg[0], 0.25); NEAR(seg[1], 0.1875); NEAR(seg[2], -0.25); NEAR(seg[3], 0.0625);
    double want_sum[8] = {0.5, -0.5, 0, 0, 0, 0, 0.5, -0.5};
    for (int k = 0; k < 8; k++) NEAR(sum[k], want_sum[k]);
    pd_brpo_advantages(PD_BRPO_BL_V2ONLY, 2, 2, 2, p, score, seg, sum, NULL, NULL);
    NEAR(seg[0], 0.25); NEAR(seg[1], 0.125); NEAR(seg[2], -0.25); NEAR(seg[3], -0.125);
    pd_brpo_advantages(PD_BRPO_BL_V1ONLY, 2, 2, 2, p, score, seg, sum, NULL, NULL);
    NEAR(seg[0], 0.75); NEAR(seg[1], 0.25); NEAR(seg[2], 0.25); NEAR(seg[3], 0.25);
    pd_brpo_advantages(PD_BRPO_BL_NONE, 2, 2, 2, p, score, seg, sum, NULL, NULL);
    NEAR(seg[0], 0.75); NEAR(seg[1], 0.5); NEAR(seg[2], 0.25); NEAR(seg[3], 0.25);
    for (int k = 0; k < 8; k++) NEAR(sum[k], want_sum[k]);   /* summaries: the same under every baseline */
}

static void test_advantages_s3(void **st) {
    (void)st;
    /* G 2, S 3, A 1, linear prior over budgets (1, 2, 3): p = (1/6, 2/6, 3/6). r̄: g0 (1, 0, 1), g1 (0, 1, 1).
     * Rt g0 = (2/3, 1/2, 1/2), g1 = (5/6, 5/6, 1/2); V2 = (3/4, 2/3, 1/2);
     * V1 g0: s1 = 1·(5/6), s2 = (1·1 + 2·0)/3·(1/2) = 1/6;  g1: s1 = 0, s2 = (0 + 2·1)/3·(1/2) = 1/3;
     * b = (s·V1 + (3−s)·V2)/3: g0 (3/4, 13/18, 5/18), g1 (3/4, 4/9, 7/18). */
    double score[6] = {1, 0, 1, 0, 1, 1}, p[3], seg[6], sum[6], base[6];
    int b[3];
    pd_brpo_budgets(PD_BRPO_LINEAR, 3, 3, b, p);
    NEAR(p[0], 1.0 / 6); NEAR(p[1], 2.0 / 6); NEAR(p[2], 3.0 / 6);
    pd_brpo_advantages(PD_BRPO_BL_BRPO, 2, 3, 1, p, score, seg, sum, NULL, base);
    NEAR(base[0], 0.75); NEAR(base[1], 13.0 / 18); NEAR(base[2], 5.0 / 18);
    NEAR(base[3], 0.75); NEAR(base[4], 4.0 / 9); NEAR(base[5], 7.0 / 18);
    NEAR(seg[0], -1.0 / 12); NEAR(seg[1], -2.0 / 9); NEAR(seg[2], 2.0 / 9);
    NEAR(seg[3], 1.0 / 12); NEAR(seg[4], 7.0 / 18); NEAR(seg[5], 1.0 / 9);
    for (int k = 0; k < 6; k++) NEAR(sum[k], 0);   /* one summary: its own mean */
    pd_brpo_advantages(PD_BRPO_BL_V1ONLY, 2, 3, 1, p, score, seg, sum, NULL, base);
    NEAR(base[1], 5.0 / 6); NEAR(base[2], 1.0 / 6); NEAR(base[4], 0); NEAR(base[5], 1.0 / 3);
}

/* ---- the surrogate with per-token advantages: finite differences ---- */

static void test_surrogate_token_adv_fd(void **st) {
    (void)st;
    enum { NS = 3, NT = 14 };
    int start[NS] = {0, 5, 9}, len[NS] = {5, 4, 5};
    double adv[NS] = {0.3, -0.7, 0.4}, at[NT], lp[NT], lo[NT], d[NT], d2[NT];
    uint8_t mask[NT];
    pd_rng g;
    pd_rng_seed(&g, 31);
    for (int k = 0; k < NT; k++) {
        lo[k] = -0.5 - 2 * pd_rng_uniform(&g);
        lp[k] = lo[k] + 0.5 * (2 * pd_rng_uniform(&g) - 1);   /* some ratios outside the clip range */
        at[k] = 2 * pd_rng_uniform(&g) - 1;
        mask[k] = k != 7;
    }
    for (int agg = 0; agg < 3; agg++) {
        pd_rl_loss_cfg c = {(pd_rl_agg)agg, 0.2, 0.28, 0, 16.0};
        pd_rl_tokens t = {NS, start, len, adv, lp, lo, NULL, mask, NS, NT - 1, at};
        pd_rl_surrogate(&c, &t, d, NULL);
        assert_true(d[7] == 0);
        for (int k = 0; k < NT; k++) {
            double h = 1e-6, keep = lp[k];
            lp[k] = keep + h;
            double up = pd_rl_surrogate(&c, &t, NULL, NULL);
            lp[k] = keep - h;
            double dn = pd_rl_surrogate(&c, &t, NULL, NULL);
            lp[k] = keep;
            double fd = (up - dn) / (2 * h);
            if (fabs(fd - d[k]) > 1e-7 + 1e-6 * fabs(fd)) {
                fprintf(stderr, "agg %d token %d: analytic %.10g fd %.10g\n", agg, k, d[k], fd);
                fail();
            }
        }
        /* per-token advantages equal to the sequence's: the per-sequence loss and gradient */
        double ac[NT];
        for (int i = 0; i < NS; i++) for (int k = start[i]; k < start[i] + len[i]; k++) ac[k] = adv[i];
        t.adv_tok = ac;
        double l1 = pd_rl_surrogate(&c, &t, d, NULL);
        t.adv_tok = NULL;
        double l2 = pd_rl_surrogate(&c, &t, d2, NULL);
        assert_true(l1 == l2);
        assert_memory_equal(d, d2, sizeof d);
    }
}

/* ---- the engine on a tiny random model whose prompts open thinking ---- */

/* a JSONL set whose prompts leave "<think>" open: generation starts in the thinking phase */
static const char *thinking_set(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/think.jsonl", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 12; i++)
        fprintf(f, "{\"id\":\"t%d\",\"prompt\":\"Add %d and %d. <think>\",\"answer\":\"%d\"}\n", i, i, i + 1, 2 * i + 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* share of digits in the answer: dense, so groups have a spread */
static double digit_reward(void *ctx, const pd_task_item *it, const char *text, int n) {
    (void)ctx; (void)it; (void)n;
    int d = 0, t = 0;
    for (const char *p = text; *p; p++, t++) d += *p >= '0' && *p <= '9';
    return t ? (double)d / t : 0;
}

static char *detok(const pd_model *pm, const int32_t *t, int n) {
    size_t len;
    char *s = pd_detokenize(pm->tok, t, (size_t)n, &len);
    assert_non_null(s);
    return s;
}

static void test_elastic_rollouts(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model_ctx(21, 16, 128);
    pd_rl_cfg c;
    pd_rl_cfg_for_algo(&c, PD_RL_GRPO);
    c.B = 3; c.G = 4; c.micro_rows = 8; c.opt.lr = 1e-3f;
    c.think_budget = 10; c.elastic.answer_budget = 5; c.max_tokens = 15;
    pd_rl_source src = {NULL, 0, 0, thinking_set()};
    pd_rl *r = pd_rl_new(m, NULL, &c, &src);
    assert_non_null(r);
    pd_rl_set_reward(r, digit_reward, NULL);
    const pd_model *pm = pd_rl_model(r);
    int32_t close = pd_tok_find(pm->tok, "</think>");
    assert_true(close >= 0);
    pd_rng g;
    pd_rng_seed(&g, 4);
    int64_t os = 0;
    int cut_seen = 0, full_answer = 0;
    for (int step = 0; step < 2; step++) {
        pd_rl_stats s;
        assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
        assert_true(isfinite(s.loss) && isfinite(s.grad_norm));
        assert_true(s.elastic.on);
        pd_rl_batch_view v;
        pd_rl_last_batch(r, &v);
        int cuts = 0, forced = 0;
        for (int i = 0; i < v.n; i++) {
            const float *lp;
            const double *at;
            pd_rl_last_seq(r, i, &lp, &at);
            assert_null(at);
            const int32_t *tk = v.tokens[i] + v.n_prompt[i];
            int nr = v.n_tokens[i] - v.n_prompt[i], ci = -1, nan0 = -1, nan1 = -1;
            for (int k = 0; k < nr; k++) {
                if (tk[k] == close && ci < 0) ci = k;
                if (!isfinite(lp[k])) { if (nan0 < 0) nan0 = k; nan1 = k; }
            }
            assert_true(nr <= c.think_budget + c.elastic.answer_budget);
            if (nan0 >= 0) {   /* cut: the injected run is contiguous, holds the closer, decodes to the closer text */
                cuts++;
                forced += nan1 - nan0 + 1;
                for (int k = nan0; k <= nan1; k++) assert_false(isfinite(lp[k]));
                char *txt = detok(pm, tk + nan0, nan1 - nan0 + 1);
                assert_true(!strcmp(txt, "\n</think>\n\n") || !strcmp(txt, "</think>\n\n"));
                free(txt);
                assert_true(ci >= nan0 && ci <= nan1);
                /* thinking: the prompt's opener is not counted; sampled + injected through the closer <= t */
                assert_true(ci + 1 <= c.think_budget);
                int answer = nr - (ci + 1);   /* the "\n\n" after the closer is answer */
                assert_true(answer <= c.elastic.answer_budget);
                full_answer += answer == c.elastic.answer_budget;
            } else if (ci >= 0) {   /* closed by the model: sampled, trained */
                assert_true(isfinite(lp[ci]));
                assert_true(nr - (ci + 1) <= c.elastic.answer_budget);
            }
        }
        cut_seen += cuts;
        NEAR(s.elastic.cut_frac, (double)cuts / v.n);
        NEAR(s.elastic.forced_tokens, (double)forced / v.n);
    }
    assert_true(cut_seen > 0);
    assert_true(full_answer > 0);   /* a cut rollout had its whole answer budget after the closer */
    pd_rl_free(r);
    pd_tmodel_free(m);
}

/* the per-token advantages of the trace rows, recomputed plainly from the summaries' rewards */
static void check_tree_advantages(const pd_brpo_tree *t, const pd_rl_batch_view *v, const pd_rl *r, pd_brpo_baseline bl) {
    int G = t->G, S = t->S, A = t->A, nt = t->n_prompts * G;
    for (int pq = 0; pq < t->n_prompts; pq++) {
        double rbar[16][PD_BRPO_MAX_S], rt[16][PD_BRPO_MAX_S], v2[PD_BRPO_MAX_S] = {0};
        assert_true(G <= 16);
        for (int g = 0; g < G; g++)
            for (int j = 0; j < S; j++) {
                int nd = t->node_of[(pq * G + g) * S + j];
                double x = 0;
                for (int a = 0; a < A; a++) x += v->reward[nt + nd * A + a];
                rbar[g][j] = x / A;
            }
        for (int g = 0; g < G; g++)
            for (int s = 0; s < S; s++) {
                rt[g][s] = 0;
                for (int j = s; j < S; j++) rt[g][s] += t->prior[j] * rbar[g][j];
                v2[s] += rt[g][s] / G;
            }
        for (int g = 0; g < G; g++) {
            int row = pq * G + g;
            const float *lp;
            const double *at;
            pd_rl_last_seq(r, row, &lp, &at);
            assert_non_null(at);
            for (int k = 0; k < v->n_tokens[row] - v->n_prompt[row]; k++) {
                int s = 0;
                while (s < S - 1 && k >= t->budget[s]) s++;
                double tail = 0, num = 0, den = 0;
                for (int j = s; j < S; j++) tail += t->prior[j];
                for (int q = 0; q < s; q++) { num += pow(2, q) * rbar[g][q]; den += pow(2, q); }
                double v1 = s ? num / den * tail : 0;
                double b = bl == PD_BRPO_BL_BRPO ? (s * v1 + (S - s) * v2[s]) / S : bl == PD_BRPO_BL_V2ONLY ? v2[s] : 0;
                assert_true(fabs(at[k] - (rt[g][s] - b)) < 1e-12);
            }
        }
    }
}

static void test_brpo_tree(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model_ctx(22, 16, 128);
    pd_rl_cfg c;
    pd_rl_cfg_for_algo(&c, PD_RL_BRPO);
    assert_int_equal(c.agg, PD_RL_TOKEN_MEAN);
    c.B = 2; c.G = 3; c.micro_rows = 8; c.opt.lr = 1e-3f;
    c.max_tokens = 16;
    c.brpo.S = 4; c.brpo.A = 2; c.brpo.summary_tokens = 5;
    pd_rl_source src = {NULL, 0, 0, thinking_set()};
    for (int bl = 0; bl < 2; bl++) {
        c.brpo.baseline = bl ? PD_BRPO_BL_V2ONLY : PD_BRPO_BL_BRPO;
        pd_rl *r = pd_rl_new(m, NULL, &c, &src);
        assert_non_null(r);
        pd_rl_set_reward(r, digit_reward, NULL);
        const pd_model *pm = pd_rl_model(r);
        int32_t close = pd_tok_find(pm->tok, "</think>");
        pd_rng g;
        pd_rng_seed(&g, 8 + (uint64_t)bl);
        int64_t os = 0;
        for (int step = 0; step < 3; step++) {
            pd_rl_stats s;
            assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
            assert_true(isfinite(s.loss) && isfinite(s.grad_norm) && isfinite(s.brpo.anytime));
            const pd_brpo_tree *t = pd_rl_last_tree(r);
            assert_non_null(t);
            pd_rl_batch_view v;
            pd_rl_last_batch(r, &v);
            int G = c.G, S = c.brpo.S, A = c.brpo.A, nt = c.B * G;
            assert_int_equal(v.n, nt + t->n_nodes * A);
            assert_int_equal(t->budget[0], 4); assert_int_equal(t->budget[3], 16);
            /* tokens fed with no re-prefill: each prompt once (its last token by every trace), decode
             * tokens, and for each cut only what its trace's KV does not already hold */
            int64_t want = 0, reprefill = 0;
            for (int i = 0; i < c.B; i++) want += v.n_prompt[i * G] - 1;
            for (int i = 0; i < nt; i++) want += v.n_tokens[i] - v.n_prompt[i];
            for (int nd = 0; nd < t->n_nodes; nd++) {
                const pd_brpo_node *q = &t->nodes[nd];
                int tr = q->prompt * G + q->trace, row = nt + nd * A;
                int n_node = v.n_prompt[row];   /* prompt + kept thinking + closer */
                assert_int_equal(n_node, v.n_prompt[tr] + q->keep + q->n_insert);
                assert_memory_equal(v.tokens[row], v.tokens[tr], sizeof(int32_t) * (size_t)(v.n_prompt[tr] + q->keep));
                if (q->n_insert) {
                    char *txt = detok(pm, v.tokens[row] + n_node - q->n_insert, q->n_insert);
                    assert_true(!strcmp(txt, "\n</think>\n\n") || !strcmp(txt, "</think>\n\n"));
                    free(txt);
                } else {   /* kept whole: the trace closed itself */
                    assert_int_equal(v.tokens[tr][v.n_tokens[tr] - 1], close);
                }
                /* common prefix with the trace's KV (all but its last sampled token) */
                int lim = v.n_tokens[tr] - 1 < n_node - 1 ? v.n_tokens[tr] - 1 : n_node - 1, cp = 0;
                while (cp < lim && v.tokens[row][cp] == v.tokens[tr][cp]) cp++;
                want += n_node - cp - 1;
                reprefill += cp;
                for (int a = 0; a < A; a++) {
                    assert_int_equal(v.n_prompt[nt + nd * A + a], n_node);
                    want += v.n_tokens[nt + nd * A + a] - n_node;
                    /* summary rows: every response token sampled (trained); the closer is prompt */
                    const float *lp;
                    const double *at;
                    pd_rl_last_seq(r, nt + nd * A + a, &lp, &at);
                    assert_null(at);
                    for (int k = 0; k < v.n_tokens[nt + nd * A + a] - n_node; k++) assert_true(isfinite(lp[k]));
                }
            }
            if (t->fed != want) {
                int64_t a = 0, b = 0, cc = 0;
                for (int i = 0; i < c.B; i++) a += v.n_prompt[i * G] - 1;
                for (int i = 0; i < nt; i++) b += v.n_tokens[i] - v.n_prompt[i];
                for (int i = nt; i < v.n; i++) cc += v.n_tokens[i] - v.n_prompt[i];
                fprintf(stderr, "fed %lld want %lld: prompts %lld traces %lld summaries %lld nodes %d\n", (long long)t->fed,
                        (long long)want, (long long)a, (long long)b, (long long)cc, t->n_nodes);
            }
            assert_int_equal(t->fed, want);
            assert_true(reprefill > 0);
            assert_true(s.brpo.prefix_tokens >= (double)reprefill);
            /* budgets sharing a cut share its node; distinct cuts have distinct nodes */
            for (int i = 0; i < nt; i++)
                for (int j = 1; j < S; j++) {
                    const pd_brpo_node *a0 = &t->nodes[t->node_of[i * S + j - 1]], *a1 = &t->nodes[t->node_of[i * S + j]];
                    assert_true(a1->keep >= a0->keep);
                    if (t->node_of[i * S + j] != t->node_of[i * S + j - 1]) assert_true(a1->keep != a0->keep || a1->n_insert != a0->n_insert);
                }
            check_tree_advantages(t, &v, r, c.brpo.baseline);
        }
        pd_rl_free(r);
    }
    pd_tmodel_free(m);
}

static int setup(void **st) {
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pd_test_rl_brpo_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}
static int teardown(void **st) {
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budgets_and_priors),
        cmocka_unit_test(test_cuts),
        cmocka_unit_test(test_advantages_s2),
        cmocka_unit_test(test_advantages_s3),
        cmocka_unit_test(test_surrogate_token_adv_fd),
        cmocka_unit_test(test_elastic_rollouts),
        cmocka_unit_test(test_brpo_tree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
