/* tests/train/test_rl_shape.c — NSR / PSR / W-REINFORCE, PreRL / DSRL, SLPO and the redundancy
 * penalty (ponder/rl_shape.h), each against an independent truth:
 *  - sign-mode advantages and loss masks on constructed groups, by hand;
 *  - the surrogate with NSR / W-REINFORCE advantages and the NSR mask: dL/dlogp equals f64 central
 *    finite differences, and its TOKEN_MEAN value is hand-computed;
 *  - SLPO rewards on constructed groups (an all-wrong group, one correct, equal lengths unchanged);
 *  - ERD, IRD, f(IRD), the format rule and the reflection-marker count on hand-made strings;
 *  - PreRL's learner row by hand, and on a tiny model: the learner reads [context] + response (the
 *    prompt gone) under prerl / dsrl's warm-up and prompt + response after the switch; the gradient the
 *    learner accumulates for an NSR-PreRL step equals finite differences of the marginal objective
 *    (1/N) Σ_wrong log P(y) computed independently through the inference path, and not those of the
 *    prompt-conditioned one;
 *  - an NSR step on the engine: correct rollouts carry A = 0 and no loss, wrong ones A = −1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ponder/model.h"
#include "ponder/rl.h"
#include "ponder/rl_shape.h"
#include "ponder/sampler.h"
#include "ponder/tok.h"
#include "ponder/train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rl_testutil.h"

/* ---- sign modes ---- */

static void test_sign_advantages(void **st) {
    (void)st;
    const uint8_t ok[5] = {1, 0, 0, 1, 0};
    double a[5];
    uint8_t keep[5];
    for (int i = 0; i < 5; i++) a[i] = 9;
    pd_rl_sign_advantages(PD_RL_SIGN_NSR, 0.1, ok, 5, a, keep);
    const double nsr[5] = {0, -1, -1, 0, -1};
    const uint8_t nsr_k[5] = {0, 1, 1, 0, 1};
    for (int i = 0; i < 5; i++) { assert_true(a[i] == nsr[i]); assert_int_equal(keep[i], nsr_k[i]); }
    pd_rl_sign_advantages(PD_RL_SIGN_PSR, 0.1, ok, 5, a, keep);
    for (int i = 0; i < 5; i++) { assert_true(a[i] == (ok[i] ? 1 : 0)); assert_int_equal(keep[i], ok[i]); }
    pd_rl_sign_advantages(PD_RL_SIGN_WREINFORCE, 0.1, ok, 5, a, keep);
    for (int i = 0; i < 5; i++) { assert_true(a[i] == (ok[i] ? 0.1 : -1)); assert_int_equal(keep[i], 1); }
    pd_rl_sign_advantages(PD_RL_SIGN_BOTH, 0.1, ok, 5, a, keep);
    for (int i = 0; i < 5; i++) { assert_true(a[i] == (ok[i] ? 1 : -1)); assert_int_equal(keep[i], 1); }
    /* an all-wrong group: NSR still pushes every member down (GRPO would give 0) */
    const uint8_t none[3] = {0, 0, 0};
    pd_rl_sign_advantages(PD_RL_SIGN_NSR, 0.1, none, 3, a, keep);
    for (int i = 0; i < 3; i++) assert_true(a[i] == -1 && keep[i]);
    /* none: the group advantage stays */
    a[0] = 0.25;
    pd_rl_sign_advantages(PD_RL_SIGN_NONE, 0.1, ok, 1, a, keep);
    assert_true(a[0] == 0.25 && keep[0] == 1);
    /* names and phases */
    assert_int_equal(pd_rl_algo_from_name("nsr"), PD_RL_NSR);
    assert_int_equal(pd_rl_algo_from_name("w-reinforce"), PD_RL_WREINFORCE);
    assert_int_equal(pd_rl_algo_from_name("dsrl"), PD_RL_DSRL);
    assert_string_equal(pd_rl_algo_name(PD_RL_NSR_PRERL), "nsr-prerl");
    assert_string_equal(pd_rl_algo_name(PD_RL_GRPO), "grpo");
    pd_rl_shape_cfg c;
    pd_rl_shape_cfg_default(&c);
    c.switch_step = 3;
    bool pre;
    for (int s = 0; s < 3; s++) {
        assert_int_equal(pd_rl_shape_phase(PD_RL_DSRL, &c, s, &pre), PD_RL_SIGN_NSR);
        assert_true(pre);
    }
    assert_int_equal(pd_rl_shape_phase(PD_RL_DSRL, &c, 3, &pre), PD_RL_SIGN_NONE);
    assert_false(pre);
    assert_int_equal(pd_rl_shape_phase(PD_RL_PRERL, &c, 100, &pre), PD_RL_SIGN_BOTH);
    assert_true(pre);
    assert_int_equal(pd_rl_shape_phase(PD_RL_NSR, &c, 0, &pre), PD_RL_SIGN_NSR);
    assert_false(pre);
    assert_int_equal(pd_rl_shape_phase(PD_RL_GRPO, &c, 0, &pre), PD_RL_SIGN_NONE);
    pd_rl_cfg rc;
    pd_rl_cfg_for_algo(&rc, PD_RL_NSR);
    assert_int_equal(rc.agg, PD_RL_TOKEN_MEAN);
    pd_rl_cfg_for_algo(&rc, PD_RL_DSRL);
    assert_int_equal(rc.agg, PD_RL_SEQ_MEAN_TOKEN_MEAN);   /* its GRPO phase */
}

/* the surrogate under NSR / W-REINFORCE advantages and masks: value by hand, gradient by f64 FD */
static void test_sign_surrogate(void **st) {
    (void)st;
    enum { NS = 4, NT = 13 };
    int start[NS] = {0, 3, 7, 9}, len[NS] = {3, 4, 2, 4};
    const uint8_t ok[NS] = {1, 0, 1, 0};
    double adv[NS], lp[NT], lo[NT], d[NT];
    uint8_t keep[NS], mask[NT];
    pd_rng g;
    pd_rng_seed(&g, 21);
    for (int k = 0; k < NT; k++) {
        lo[k] = -0.3 - 2 * pd_rng_uniform(&g);
        lp[k] = lo[k] + 0.1 * (2 * pd_rng_uniform(&g) - 1);
    }
    for (int mode = 0; mode < 2; mode++) {
        pd_rl_sign sg = mode ? PD_RL_SIGN_WREINFORCE : PD_RL_SIGN_NSR;
        pd_rl_sign_advantages(sg, 0.1, ok, NS, adv, keep);
        double ntok = 0;
        for (int i = 0; i < NS; i++)
            for (int k = start[i]; k < start[i] + len[i]; k++) { mask[k] = keep[i]; ntok += keep[i]; }
        assert_true(ntok == (mode ? 13 : 8));
        pd_rl_loss_cfg c = {.agg = PD_RL_TOKEN_MEAN, .eps_low = 0.2, .eps_high = 0.2, .l_norm = 16};
        pd_rl_tokens t = {.n_seq = NS, .start = start, .len = len, .adv = adv, .logp = lo, .logp_old = lo, .mask = mask,
                           .norm_seqs = NS, .norm_tokens = ntok};
        /* at ρ = 1 the TOKEN_MEAN loss is −Σ A / N over the kept tokens: NSR 8·1/8 = 1;
         * W-REINFORCE (8·1 − 5·0.1)/13 */
        double want = mode ? (8 - 5 * 0.1) / 13 : 1.0;
        assert_true(fabs(pd_rl_surrogate(&c, &t, NULL, NULL) - want) < 1e-12);
        t.logp = lp;
        pd_rl_surrogate(&c, &t, d, NULL);
        for (int k = 0; k < NT; k++) {
            if (!mask[k]) { assert_true(d[k] == 0); continue; }
            double h = 1e-6, keepv = lp[k];
            lp[k] = keepv + h;
            double up = pd_rl_surrogate(&c, &t, NULL, NULL);
            lp[k] = keepv - h;
            double dn = pd_rl_surrogate(&c, &t, NULL, NULL);
            lp[k] = keepv;
            double fd = (up - dn) / (2 * h);
            if (fabs(fd - d[k]) > 1e-8 + 1e-6 * fabs(fd)) {
                fprintf(stderr, "mode %d token %d: analytic %.10g fd %.10g\n", mode, k, d[k], fd);
                fail();
            }
            /* a wrong token's log-prob is pushed down: dL/dlogp > 0 */
            if (adv[k < 3 ? 0 : k < 7 ? 1 : k < 9 ? 2 : 3] < 0) assert_true(d[k] > 0);
        }
    }
}

/* ---- SLPO ---- */

static void test_slpo(void **st) {
    (void)st;
    /* group 0: correct at lengths 10, 20, 30 and one wrong; group 1: all wrong; group 2: one correct;
     * group 3: two correct of equal length */
    double r[16] = {1, 1, 1, 0, 0, 0, 0.3, 0, 1, 0, 0, 0, 1, 1, 0, 0};
    const uint8_t ok[16] = {1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0};
    const int len[16] = {10, 20, 30, 5, 7, 9, 11, 13, 40, 3, 50, 60, 8, 8, 2, 90};
    double before[16], b[16];
    memcpy(before, r, sizeof r);
    assert_int_equal(pd_rl_slpo(r, ok, len, 4, 4, 0.5, b), 2);
    assert_true(fabs(r[0] - 1.5) < 1e-15 && fabs(r[1] - 1.25) < 1e-15 && r[2] == 1.0);
    assert_true(b[0] == 0.5 && b[1] == 0.25 && b[2] == 0 && b[3] == 0);
    assert_true(r[3] == 0);   /* the wrong one keeps its reward */
    for (int i = 4; i < 16; i++) { assert_true(r[i] == before[i]); assert_true(b[i] == 0); }
    /* GRPO advantages of the all-wrong group (with one partial 0.3) are those without SLPO */
    double a1[4], a2[4];
    pd_rl_advantages(PD_RL_GRPO, before + 4, 1, 4, 1e-6, a1, NULL);
    pd_rl_advantages(PD_RL_GRPO, r + 4, 1, 4, 1e-6, a2, NULL);
    assert_memory_equal(a1, a2, sizeof a1);
    /* the shorter correct response gets the larger advantage */
    double a0[4];
    pd_rl_advantages(PD_RL_GRPO, r, 1, 4, 1e-6, a0, NULL);
    assert_true(a0[0] > a0[1] && a0[1] > a0[2] && a0[2] > a0[3]);
}

/* ---- redundancy ---- */

static void test_redundancy(void **st) {
    (void)st;
    /* ERD: the first "78" (not inside "178") ends the first solution */
    const char *t = "7+1=8, so 178 is not it; 57+21=78\nWait, 78 again";
    size_t fcs;
    double erd = pd_rl_erd(t, strlen(t), "78", &fcs);
    size_t end = strstr(t, "=78") - t + 3;
    assert_int_equal(fcs, end);
    assert_true(fabs(erd - (double)(strlen(t) - end) / strlen(t)) < 1e-15);
    assert_true(pd_rl_erd(t, strlen(t), "99", &fcs) == 0 && fcs == strlen(t));
    assert_true(pd_rl_erd("x=5", 3, "5", NULL) == 0);   /* the answer at the very end: nothing after */
    /* IRD: identical repeated sentences → 1; distinct ones lower; one sentence → 0 */
    const char *rep = "The sum is five. The sum is five. The sum is five. The sum is five.";
    assert_true(fabs(pd_rl_ird(rep, strlen(rep)) - 1) < 1e-12);
    const char *mix = "Add the units first. Carry over when needed. Quick brown foxes jump high. Zebra vexing query.";
    double im = pd_rl_ird(mix, strlen(mix));
    assert_true(im >= 0 && im < 0.5);
    assert_true(pd_rl_ird("just one sentence", 17) == 0);
    /* f: f(0) = 1, f(1) = 0, decreasing, midpoint at 1 − c = 0.7 */
    assert_true(fabs(pd_rl_ird_score(0) - 1) < 1e-12 && fabs(pd_rl_ird_score(1)) < 1e-12);
    assert_true(pd_rl_ird_score(0.5) > pd_rl_ird_score(0.8));
    double g07 = 0.5, g0 = 1 / (1 + exp(-20 * 0.7)), g1 = 1 / (1 + exp(-20 * -0.3));
    assert_true(fabs(pd_rl_ird_score(0.7) - (g07 - g1) / (g0 - g1)) < 1e-12);
    /* a whole response: thinking "<think>\nA. B=5\nWait, check: B=5.\n</think>" */
    const char *resp = "<think>\nAdd them. 2+3=5\nWait, check: 2+3=5.\n</think>\n\n5";
    double e, i;
    double q = pd_rl_redundancy(PD_RL_RED_DUAL, resp, "5", &e, &i);
    const char *th = resp + 7, *cl = strstr(resp, "</think>");
    size_t L = cl - th, f_end = strstr(th, "=5") - th + 2;
    assert_true(fabs(e - (double)(L - f_end) / L) < 1e-15);
    assert_true(fabs(i - pd_rl_ird(th, f_end)) < 1e-15);
    assert_true(fabs(q - 0.5 * (pd_rl_ird_score(i) + 1 - e)) < 1e-15);
    assert_true(fabs(pd_rl_redundancy(PD_RL_RED_EXTERNAL, resp, "5", NULL, NULL) - (1 - e)) < 1e-15);
    assert_true(fabs(pd_rl_redundancy(PD_RL_RED_INTERNAL, resp, "5", NULL, NULL) - pd_rl_ird_score(i)) < 1e-15);
    /* format: two </think> or none → 0 */
    assert_true(pd_rl_redundancy(PD_RL_RED_DUAL, "a</think>b</think>5", "5", NULL, NULL) == 0);
    assert_true(pd_rl_redundancy(PD_RL_RED_DUAL, "so 5", "5", NULL, NULL) == 0);
    /* the shaped reward: W scales the correct reward toward q; a wrong response is untouched */
    pd_rl_shape_cfg c;
    pd_rl_shape_cfg_default(&c);
    c.redundancy = 0.6;
    pd_rl_shape_seq sq;
    double rw = pd_rl_shape_reward(&c, resp, "5", true, 1.0, 1.0, &sq);
    assert_true(fabs(rw - (0.4 + 0.6 * q)) < 1e-15);
    assert_true(sq.erd == e && sq.ird == i);
    assert_int_equal(sq.markers, 2);   /* "Wait", "check" */
    rw = pd_rl_shape_reward(&c, resp, "5", false, 1.0, 0.25, &sq);
    assert_true(rw == 0.25 && isnan(sq.erd));
    /* markers: whole words, case-insensitive */
    assert_int_equal(pd_rl_reflect_markers("Hmm, wait. Let me verify... Alternatively, waiting is fine; checked"), 4);
    assert_int_equal(pd_rl_reflect_markers("no markers here: 12+3=15"), 0);
    /* "recompute", "check" (in double-check), "same result", "again" */
    assert_int_equal(pd_rl_reflect_markers("let me recompute; double-check it. Same result again"), 4);
}

/* ---- PreRL's row ---- */

static void test_prerl_row(void **st) {
    (void)st;
    const int32_t tok[7] = {1, 40, 41, 42, 50, 51, 2};   /* prompt of 4, response 50 51 <end> */
    int32_t out[8];
    int np;
    int n = pd_rl_prerl_row(1, tok, 7, 4, out, &np);
    assert_int_equal(n, 4);
    assert_int_equal(np, 1);
    const int32_t want[4] = {1, 50, 51, 2};
    assert_memory_equal(out, want, sizeof want);
    n = pd_rl_prerl_row(-1, tok, 7, 4, out, &np);
    assert_int_equal(n, 3);
    assert_int_equal(np, 0);
    assert_memory_equal(out, want + 1, 3 * sizeof(int32_t));
}

/* ---- on a tiny model ---- */

/* correct iff the response has an even number of tokens: a mix of right and wrong in most groups */
static double parity_reward(void *ctx, const pd_task_item *it, const char *text, int n) {
    (void)ctx; (void)it; (void)text;
    return n % 2 == 0 ? 1.0 : 0.0;
}

static const pd_rl_source src_add = {"arith-add", 1, 1, NULL};

static pd_rl_cfg small_cfg(pd_rl_algo a) {
    pd_rl_cfg c;
    pd_rl_cfg_for_algo(&c, a);
    c.B = 2; c.G = 4; c.max_tokens = 10; c.micro_rows = 8;
    c.opt.lr = 1e-3f;
    return c;
}

/* the context token PreRL puts before the response (rl_shape.h) */
static int32_t prerl_ctx(const pd_model *pm, const int32_t *prompt) {
    int32_t b = pd_tok_bos(pm->tok);
    if (b < 0) b = pd_tok_eos(pm->tok);
    return b >= 0 ? b : prompt[0];
}

static void check_rows(pd_rl *r, bool prerl) {
    pd_rl_batch_view v;
    pd_rl_last_batch(r, &v);
    assert_true(v.n > 0);
    for (int i = 0; i < v.n; i++) {
        const int32_t *row;
        int np, n = pd_rl_learner_row(r, i, &row, &np);
        int nr = v.n_tokens[i] - v.n_prompt[i];
        if (prerl) {
            assert_int_equal(np, 1);
            assert_int_equal(n, nr + 1);
            assert_int_equal(row[0], prerl_ctx(pd_rl_model(r), v.tokens[i]));
            assert_memory_equal(row + 1, v.tokens[i] + v.n_prompt[i], sizeof(int32_t) * (size_t)nr);
        } else {
            assert_int_equal(np, v.n_prompt[i]);
            assert_int_equal(n, v.n_tokens[i]);
            assert_memory_equal(row, v.tokens[i], sizeof(int32_t) * (size_t)n);
        }
    }
}

/* DSRL: the warm-up's learner rows hold no prompt; after the switch they hold prompt + response */
static void test_dsrl_rows(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(31, 8);
    pd_rl_cfg c = small_cfg(PD_RL_DSRL);
    c.shape.switch_step = 2;
    pd_rl *r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, parity_reward, NULL);
    pd_rng g;
    pd_rng_seed(&g, 32);
    int64_t os = 0;
    for (int step = 0; step < 3; step++) {
        pd_rl_stats s;
        assert_int_equal(pd_rl_step(r, &g, &os, true, &s), PD_OK);
        bool warm = step < 2;
        assert_int_equal(s.shape.phase, warm ? 1 : 2);
        assert_true(s.shape.prerl == warm);
        check_rows(r, warm);
        assert_true(warm ? isnan(s.logp_maxdiff) : s.logp_maxdiff <= 1e-4);
        pd_rl_batch_view v;
        pd_rl_last_batch(r, &v);
        int wrong = 0;
        for (int i = 0; i < v.n; i++) {
            bool ok = v.resp_len[i] % 2 == 0;
            wrong += !ok;
            if (warm) assert_true(v.adv[i] == (ok ? 0 : -1));   /* NSR in the warm-up */
        }
        if (warm) assert_true(fabs(s.shape.neg_frac - (double)wrong / v.n) < 1e-12);
    }
    pd_rl_free(r);
    /* --sampler-old-logp cannot serve a PreRL learner */
    c.sampler_old_logp = true;
    assert_null(pd_rl_new(m, NULL, &c, &src_add));
    pd_tmodel_free(m);
}

/* (1/N) Σ over the wrong responses' tokens of log p(y_t | context, y_<t) through the inference path
 * (the view reads the trainer's weights); context = PreRL's one token, or the prompt */
static double marginal_objective(pd_rl *r, const pd_rl_batch_view *v, bool with_prompt) {
    const pd_model *pm = pd_rl_model(r);
    int V = pm->cfg.n_vocab;
    pd_kv *kv = pd_kv_new(&pm->cfg, 1, 128, PD_TYPE_F32);
    assert_non_null(kv);
    double sum = 0, ntok = 0;
    for (int i = 0; i < v->n; i++) {
        if (v->resp_len[i] % 2 == 0) continue;   /* correct: no loss under NSR */
        int nr = v->n_tokens[i] - v->n_prompt[i], np = with_prompt ? v->n_prompt[i] : 1;
        int32_t row[128];
        if (with_prompt) memcpy(row, v->tokens[i], sizeof(int32_t) * (size_t)v->n_tokens[i]);
        else {
            row[0] = prerl_ctx(pm, v->tokens[i]);
            memcpy(row + 1, v->tokens[i] + v->n_prompt[i], sizeof(int32_t) * (size_t)nr);
        }
        int n = np + nr;
        float *lg = malloc(sizeof(float) * (size_t)n * V);
        assert_non_null(lg);
        pd_kv_seq_clear(kv, 0);
        pd_batch b = {.n = n - 1, .token = row};
        assert_int_equal(pd_model_forward(pm, kv, &b, lg), PD_OK);
        for (int k = 0; k < nr; k++) sum += pd_logprob_of(lg + (size_t)(np - 1 + k) * V, V, row[np + k]);
        ntok += nr;
        free(lg);
    }
    pd_kv_free(kv);
    return ntok ? sum / ntok : 0;
}

/* NSR-PreRL: the learner's gradient is that of L = (1/N) Σ_wrong log P(y) (A = −1, TOKEN_MEAN, ρ = 1:
 * dL/dθ = (1/N) Σ ∂log p) on [context] + response; finite differences of that function, computed
 * independently through the inference path, agree, and those of the prompt-conditioned one do not */
static void test_prerl_gradient(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(41, 8);
    pd_rl_cfg c = small_cfg(PD_RL_NSR_PRERL);
    c.opt.lr = 0; c.opt.clip = 0;   /* the step leaves the weights as they were; the gradients stay */
    pd_rl *r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, parity_reward, NULL);
    pd_rng g;
    pd_rng_seed(&g, 42);
    int64_t os = 0;
    pd_rl_stats s;
    pd_rl_batch_view v;
    int wrong = 0;
    for (int tries = 0; tries < 8 && !wrong; tries++) {
        assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
        pd_rl_last_batch(r, &v);
        for (int i = 0; i < v.n; i++) wrong += v.resp_len[i] % 2;
    }
    assert_true(wrong > 0);
    check_rows(r, true);
    float *w = pd_tmodel_params(m);
    const float *gr = pd_tmodel_grads(m);
    size_t np = pd_tmodel_n_params(m);
    /* the 8 largest gradients */
    size_t pick[8] = {0};
    for (int k = 0; k < 8; k++) {
        size_t best = 0;
        double bv = -1;
        for (size_t j = 0; j < np; j++) {
            bool used = false;
            for (int q = 0; q < k; q++) used = used || pick[q] == j;
            if (!used && fabs(gr[j]) > bv) { bv = fabs(gr[j]); best = j; }
        }
        pick[k] = best;
    }
    int bad_cond = 0;
    for (int k = 0; k < 8; k++) {
        size_t j = pick[k];
        float keep = w[j], h = 1e-2f;
        w[j] = keep + h;
        double up = marginal_objective(r, &v, false), upc = marginal_objective(r, &v, true);
        w[j] = keep - h;
        double dn = marginal_objective(r, &v, false), dnc = marginal_objective(r, &v, true);
        w[j] = keep;
        double fd = (up - dn) / (2.0 * h), fdc = (upc - dnc) / (2.0 * h);
        fprintf(stderr, "param %zu: learner %.6g  fd marginal %.6g  fd conditional %.6g\n", j, gr[j], fd, fdc);
        assert_true(fabs(fd - gr[j]) <= 0.02 * fabs(gr[j]) + 1e-4);
        bad_cond += fabs(fdc - gr[j]) > 0.1 * fabs(gr[j]) + 1e-4;
    }
    assert_true(bad_cond > 0);   /* the prompt-conditioned gradient is another one */
    pd_rl_free(r);
    pd_tmodel_free(m);
}

/* NSR on the engine: correct rollouts carry A = 0 and no loss; an all-correct batch updates nothing */
static double all_correct(void *ctx, const pd_task_item *it, const char *text, int n) {
    (void)ctx; (void)it; (void)text; (void)n;
    return 1.0;
}

static void test_nsr_engine(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(51, 8);
    pd_rl_cfg c = small_cfg(PD_RL_NSR);
    pd_rl *r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, parity_reward, NULL);
    pd_rng g;
    pd_rng_seed(&g, 52);
    int64_t os = 0;
    pd_rl_stats s;
    assert_int_equal(pd_rl_step(r, &g, &os, true, &s), PD_OK);
    assert_true(s.logp_maxdiff <= 1e-4);   /* NSR keeps the prompt: the learner reads what was sampled */
    assert_int_equal(s.shape.phase, 1);
    assert_false(s.shape.prerl);
    check_rows(r, false);
    pd_rl_batch_view v;
    pd_rl_last_batch(r, &v);
    for (int i = 0; i < v.n; i++) assert_true(v.adv[i] == (v.resp_len[i] % 2 == 0 ? 0 : -1));
    assert_true(s.shape.pos_frac == 0);
    pd_rl_free(r);
    /* every rollout correct: NSR has no loss token, so no optimizer step and the weights stay */
    size_t n = pd_tmodel_n_params(m);
    float *before = malloc(n * sizeof(float));
    memcpy(before, pd_tmodel_params(m), n * sizeof(float));
    r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, all_correct, NULL);
    int64_t os0 = os;
    assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
    assert_true(os == os0);
    assert_memory_equal(before, pd_tmodel_params(m), n * sizeof(float));
    pd_rl_free(r);
    /* SLPO on the engine: the logged bonus is the mean over correct responses, in [0, α] */
    c = small_cfg(PD_RL_GRPO);
    c.shape.length_reward = PD_RL_LEN_SLPO;
    r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, parity_reward, NULL);
    assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
    assert_true(isnan(s.shape.slpo_bonus) || (s.shape.slpo_bonus >= 0 && s.shape.slpo_bonus <= 0.5));
    pd_rl_last_batch(r, &v);
    for (int i = 0; i < v.n; i++) {
        bool ok = v.resp_len[i] % 2 == 0;
        if (!ok) assert_true(v.reward[i] == 0);
        else assert_true(v.reward[i] >= 1 && v.reward[i] <= 1.5);
    }
    pd_rl_free(r);
    free(before);
    pd_tmodel_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_advantages), cmocka_unit_test(test_sign_surrogate),
        cmocka_unit_test(test_slpo),            cmocka_unit_test(test_redundancy),
        cmocka_unit_test(test_prerl_row),       cmocka_unit_test(test_dsrl_rows),
        cmocka_unit_test(test_prerl_gradient),  cmocka_unit_test(test_nsr_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
