/* tests/train/test_rlp.c — RLP (ponder/rlp.h), each against an independent truth:
 *  - the EMA update by hand; RLP's advantages G/(G−1)·(r − mean) on a hand-computed group whose
 *    rewards are information gains over a known teacher score;
 *  - the reward of a hand-made thought equals S_pred − S_ema recomputed with the TRAINING forward
 *    (pd_tmodel_forward, not the inference path the scorer uses): the policy on context + <think> +
 *    thought + </think>, the teacher on the context alone; after an update the teacher is τφ + (1−τ)θ
 *    and its score is the training forward of a model holding those parameters;
 *  - one engine step with --algo rlp: finite figures, and the learner's gradient equals central
 *    finite differences of the surrogate (ratio 1 at the first update: −Σ A_i/(n·L_i) Σ_t log π)
 *    over the thought tokens only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ponder/model.h"
#include "ponder/rl.h"
#include "ponder/rlp.h"
#include "ponder/threads.h"
#include "ponder/train.h"
#include "rl_testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char corpus[256];

static void test_ema_and_advantages(void **st) {
    (void)st;
    float phi[3] = {1, 2, -1}, theta[3] = {3, -2, -1};
    pd_rlp_ema(phi, theta, 3, 0.9);
    assert_float_equal(phi[0], 1.2f, 1e-6);   /* 0.9·1 + 0.1·3 */
    assert_float_equal(phi[1], 1.6f, 1e-6);   /* 0.9·2 + 0.1·(−2) */
    assert_float_equal(phi[2], -1.0f, 1e-6);
    /* teacher score −2 for the item; four thoughts score −1, −2.5, −2, −0.5 → r = 1, −0.5, 0, 1.5,
     * mean 0.5, A = 4/3·(r − 0.5) */
    double s_pred[4] = {-1, -2.5, -2, -0.5}, r[4], a[4];
    for (int i = 0; i < 4; i++) r[i] = s_pred[i] - (-2.0);
    pd_rl_advantages(PD_RL_RLP, r, 1, 4, 1e-6, a, NULL);
    const double want[4] = {2.0 / 3, -4.0 / 3, -2.0 / 3, 4.0 / 3};
    for (int i = 0; i < 4; i++) assert_float_equal(a[i], want[i], 1e-12);
    assert_string_equal(pd_rl_algo_name(PD_RL_RLP), "rlp");
    assert_int_equal(pd_rl_algo_from_name("rlp"), PD_RL_RLP);
}

/* log p(next | tok[0..n)) by the training forward */
static double train_score(pd_tmodel *m, const int32_t *tok, int n, int32_t next) {
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) tg[i] = i == n - 1 ? next : -1;
    pd_tbatch b = {1, n, tok, tg, NULL};
    int64_t nt = 0;
    double nll = pd_tmodel_forward(m, &b, &nt);
    free(tg);
    assert_int_equal(nt, 1);
    return -nll;
}

static void test_reward_and_teacher(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(11, 8);
    pd_model *view = pd_rl_view(m);
    assert_non_null(view);
    pd_rlp_cfg c;
    pd_rlp_cfg_default(&c);
    c.ctx = 12; c.tau = 0.8; c.after = "=";
    pd_rlp *p = pd_rlp_new(m, view, &c, corpus);
    assert_non_null(p);
    pd_rng g;
    pd_rng_seed(&g, 3);
    pd_task_item it;
    assert_int_equal(pd_rlp_draw(p, &g, false, &it), PD_OK);
    int32_t *pr = NULL;
    int pn = 0;
    assert_int_equal(pd_rlp_prompt(p, &it, &pr, &pn), PD_OK);
    int32_t think = pd_tok_find(view->tok, "<think>"), close = pd_tok_find(view->tok, "</think>");
    assert_int_equal(pn, 13);
    assert_int_equal(pr[pn - 1], think);
    assert_int_equal(pr[pn - 2], '=');   /* byte vocabulary: the id of "=" is its byte */
    int32_t next = (int32_t)atoi(it.answer);
    /* a thought "7+" without a close: the scorer appends </think> */
    int32_t seq[32];
    memcpy(seq, pr, sizeof(int32_t) * (size_t)pn);
    seq[pn] = '7'; seq[pn + 1] = '+';
    double sp, se;
    bool hp, he;
    assert_int_equal(pd_rlp_score(p, &it, seq, pn + 2, &sp, &se, &hp, &he), PD_OK);
    seq[pn + 2] = close;
    double want_pred = train_score(m, seq, pn + 3, next), want_ema = train_score(m, pr, pn - 1, next);
    assert_float_equal(sp, want_pred, 2e-4);
    assert_float_equal(se, want_ema, 2e-4);
    /* the same thought closed by the model: scored as is (no second close) */
    double sp2, se2;
    assert_int_equal(pd_rlp_score(p, &it, seq, pn + 3, &sp2, &se2, &hp, &he), PD_OK);
    assert_float_equal(sp2, want_pred, 2e-4);
    /* an update of θ: the teacher becomes 0.8·θ0 + 0.2·θ1 and scores with those weights */
    size_t np = pd_tmodel_n_params(m);
    float *th0 = malloc(np * sizeof(float));
    memcpy(th0, pd_tmodel_params(m), np * sizeof(float));
    float *w = pd_tmodel_params(m);
    for (size_t i = 0; i < np; i++) w[i] += 0.005f * (float)((int)(i % 7) - 3);
    pd_rlp_after_update(p);
    const float *phi = pd_rlp_teacher(p);
    for (size_t i = 0; i < np; i += 97) assert_float_equal(phi[i], 0.8f * th0[i] + 0.2f * w[i], 1e-6);
    pd_rlp_begin_step(p);   /* forget the cached teacher score */
    assert_int_equal(pd_rlp_score(p, &it, seq, pn + 3, &sp2, &se2, &hp, &he), PD_OK);
    pd_tmodel *t = rlt_tiny_model(11, 8);
    memcpy(pd_tmodel_params(t), phi, np * sizeof(float));
    assert_float_equal(se2, train_score(t, pr, pn - 1, next), 2e-4);
    assert_true(fabs(se2 - se) > 1e-6);   /* the teacher did move */
    assert_float_equal(sp2, train_score(m, seq, pn + 3, next), 2e-4);   /* the policy reads θ1 in place */
    pd_tmodel_free(t);
    free(th0);
    free(pr);
    pd_task_item_free(&it);
    pd_rlp_free(p);
    pd_model_free(view);
    pd_tmodel_free(m);
}

static void test_engine_step_fd(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(17, 8);
    size_t n = pd_tmodel_n_params(m);
    float *theta0 = malloc(n * sizeof(float)), *grad = malloc(n * sizeof(float));
    memcpy(theta0, pd_tmodel_params(m), n * sizeof(float));
    pd_rl_cfg c;
    pd_rl_cfg_for_algo(&c, PD_RL_RLP);
    assert_float_equal(c.temperature, 0.7, 1e-6);
    c.B = 3; c.G = 4; c.max_tokens = 8; c.micro_rows = 8;
    c.rlp.ctx = 12;
    c.opt.lr = 1e-3f; c.opt.clip = 0;
    pd_rl_source src = {NULL, 0, 0, corpus};
    pd_rl *r = pd_rl_new(m, NULL, &c, &src);
    assert_non_null(r);
    pd_rng g;
    pd_rng_seed(&g, 23);
    int64_t os = 0;
    pd_rl_stats s;
    assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
    assert_true(isfinite(s.rlp_reward) && isfinite(s.rlp_s_pred) && isfinite(s.rlp_s_ema) && isfinite(s.loss));
    assert_true(s.rlp_s_pred < 0 && s.rlp_s_ema < 0);
    assert_true(fabs(s.rlp_reward - (s.rlp_s_pred - s.rlp_s_ema)) < 1e-9);
    assert_true(fabs(s.reward_mean - s.rlp_reward) < 1e-9);
    memcpy(grad, pd_tmodel_grads(m), n * sizeof(float));
    memcpy(pd_tmodel_params(m), theta0, n * sizeof(float));
    pd_rl_batch_view v;
    pd_rl_last_batch(r, &v);
    /* each group's advantages: G/(G−1)·(r − mean) of its rewards */
    for (int gi = 0; gi < v.n / v.G; gi++) {
        double mean = 0;
        for (int k = 0; k < v.G; k++) mean += v.reward[gi * v.G + k] / v.G;
        for (int k = 0; k < v.G; k++)
            assert_true(fabs(v.adv[gi * v.G + k] - 4.0 / 3 * (v.reward[gi * v.G + k] - mean)) < 1e-9);
    }
    int top[10] = {0};
    for (int k = 0; k < 10; k++) {
        int best = -1;
        for (size_t i = 0; i < n; i++) {
            bool used = false;
            for (int q = 0; q < k; q++) used = used || top[q] == (int)i;
            if (!used && (best < 0 || fabsf(grad[i]) > fabsf(grad[best]))) best = (int)i;
        }
        top[k] = best;
    }
    assert_true(fabsf(grad[top[0]]) > 0);
    float *p = pd_tmodel_params(m);
    for (int k = 0; k < 10; k++) {
        int i = top[k];
        float keep = p[i], h = 1e-2f * fmaxf(1.0f, fabsf(keep));
        p[i] = keep + h;
        double up = rlt_surrogate_of_params(m, &v, 1.0 / c.temperature);
        p[i] = keep - h;
        double dn = rlt_surrogate_of_params(m, &v, 1.0 / c.temperature);
        p[i] = keep;
        double fd = (up - dn) / (2.0 * (double)h);
        if (fabs(fd - grad[i]) > 0.03 * fabs(fd) + 1e-5) {
            fprintf(stderr, "param %d: learner %.6g, finite differences %.6g\n", i, grad[i], fd);
            fail();
        }
    }
    pd_rl_free(r);
    pd_tmodel_free(m);
    free(theta0); free(grad);
}

int main(void) {
    snprintf(corpus, sizeof corpus, "/tmp/ponder_test_rlp_%d.txt", (int)getpid());
    FILE *f = fopen(corpus, "w");
    if (!f) return 1;
    pd_rng g;
    pd_rng_seed(&g, 1);
    for (int i = 0; i < 400; i++) {
        int a = (int)pd_rng_below(&g, 50), b = (int)pd_rng_below(&g, 50);
        fprintf(f, "%d+%d=%d\n", a, b, a + b);
    }
    if (fclose(f)) return 1;
    pd_threads_set(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ema_and_advantages),
        cmocka_unit_test(test_reward_and_teacher),
        cmocka_unit_test(test_engine_step_fd),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(corpus);
    return rc;
}
