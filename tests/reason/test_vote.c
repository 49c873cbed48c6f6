/* tests/reason/test_vote.c — vote tallies on constructed answer sets (ties, missing answers,
 * weights, the adaptive-stop bound), and the fork driver on tiny-qwen3 where a scripted policy
 * makes sample i answer a chosen text and finish after a chosen number of tokens. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/gen.h"
#include "ponder/reason.h"
#include "ponder/vote.h"

static void test_majority_and_ties(void **st) {
    (void)st;
    pd_vote_tally t;
    pd_vote_item a[] = {{"3", -1, 0}, {"5", -0.5, 0}, {NULL, 0, 0}, {"5", -0.7, 0}, {"3", -2, 0}, {"9", 0, 0}};
    /* 3 and 5 tie at 2 votes: the higher mean log-prob group (5: -0.6 vs 3: -1.5) wins */
    assert_int_equal(pd_vote_count(a, 6, PD_VOTE_MAJORITY, NULL, &t), 1);
    assert_int_equal(t.n_groups, 3);
    assert_true(t.top == 2 && t.second == 2 && t.top_count == 2);
    /* equal log-probs: the group seen first */
    pd_vote_item b[] = {{"x", NAN, 0}, {"y", NAN, 0}, {"y", NAN, 0}, {"x", NAN, 0}};
    assert_int_equal(pd_vote_count(b, 4, PD_VOTE_MAJORITY, NULL, &t), 0);
    /* no answers at all */
    pd_vote_item c[] = {{NULL, 0, 0}, {NULL, 0, 0}};
    assert_int_equal(pd_vote_count(c, 2, PD_VOTE_MAJORITY, NULL, &t), -1);
    assert_int_equal(t.n_groups, 0);
}

static bool num_equiv(const char *x, const char *y) { return atof(x) == atof(y); }

static void test_weighted_and_equiv(void **st) {
    (void)st;
    pd_vote_tally t;
    /* majority says 4 (3 votes); log-prob weighting: exp(-3)*3 = 0.149 < exp(-0.1)*2 = 1.81 → 7 */
    pd_vote_item a[] = {{"4", -3, 0.2}, {"7", -0.1, 0.9}, {"4", -3, 0.2}, {"7.0", -0.1, 0.9}, {"4", -3, 0.3}};
    assert_int_equal(pd_vote_count(a, 5, PD_VOTE_MAJORITY, num_equiv, &t), 0);
    assert_int_equal(pd_vote_count(a, 5, PD_VOTE_LOGPROB, num_equiv, &t), 1);
    assert_true(fabs(t.top - 2 * exp(-0.1)) < 1e-12 && fabs(t.second - 3 * exp(-3)) < 1e-12);
    /* verifier: 0.2+0.2+0.3 = 0.7 for 4 vs 1.8 for 7 */
    assert_int_equal(pd_vote_count(a, 5, PD_VOTE_VERIFIER, num_equiv, &t), 1);
    assert_true(fabs(t.top - 1.8) < 1e-12);
    /* without equivalence "7" and "7.0" are different groups of 0.9 each, 4 has 0.7: the tie of the
     * two 0.9 groups (equal log-probs) goes to the earlier group, "7" */
    assert_int_equal(pd_vote_count(a, 5, PD_VOTE_VERIFIER, NULL, &t), 1);
    assert_int_equal(t.n_groups, 3);
    assert_true(fabs(t.top - 0.9) < 1e-12 && fabs(t.second - 0.9) < 1e-12);
    /* best-of-N: one sample per answer, argmax of the score */
    pd_vote_item b[] = {{"a", -1, 0.1}, {"b", -1, 0.95}, {"c", -1, 0.5}};
    assert_int_equal(pd_vote_count(b, 3, PD_VOTE_VERIFIER, NULL, &t), 1);
}

static void test_decided(void **st) {
    (void)st;
    pd_vote_tally t = {.winner = 0, .top = 3, .second = 0};
    assert_true(pd_vote_decided(&t, 2));
    assert_false(pd_vote_decided(&t, 3));   /* 3 more votes could tie */
    t.second = 1;
    assert_false(pd_vote_decided(&t, 2));
    assert_true(pd_vote_decided(&t, 1));
    t.winner = -1;
    assert_false(pd_vote_decided(&t, 0));
}

/* ---- the driver on a model ---- */
static pd_model *model;
static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    model = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    return model ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(model); return 0; }

/* sample i: inject "</think>\n\nANSWER <a_i>" at the start, then stop after d_i sampled tokens */
static const char *ANS[] = {"7", "7", "7", "3", "3"};
static const int DELAY[] = {1, 2, 3, 6, 8};
typedef struct { int32_t *ids; int n; int left; } ans_t;
static void a_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)s;
    ans_t *c = ctx;
    a->kind = PD_ACT_INJECT;
    a->tokens = c->ids;
    a->n_tokens = c->n;
}
static void a_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)s;
    ans_t *c = ctx;
    if (--c->left <= 0) a->kind = PD_ACT_STOP;
}
static void a_release(void *ctx) { ans_t *c = ctx; free(c->ids); free(c); }
static bool sp_fn(void *ctx, int i, pd_seq_params *p, pd_policy *pol, bool *has) {
    (void)ctx;
    char text[64];
    snprintf(text, sizeof text, "\n</think>\n\nANSWER %s\n", ANS[i]);
    ans_t *c = pd_calloc(1, sizeof *c);
    if (pd_reason_tokens(model->tok, text, &c->ids, &c->n) != PD_OK) return false;
    c->left = DELAY[i];
    *pol = (pd_policy){.name = "script", .ctx = c, .on_start = a_start, .on_token = a_token, .release = a_release};
    *has = true;
    p->sampling.seed = 100 + (uint64_t)i;
    p->max_tokens = 40;
    return true;
}
static char *ex_fn(void *ctx, const char *t, size_t n) {
    (void)ctx;
    const char *k = memmem(t, n, "ANSWER ", 7);
    return k ? pd_strndup(k + 7, 1) : NULL;
}

static void run_vote(bool adaptive, pd_vote_result *r) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 6;
    gp.n_ctx = 128;
    pd_gen *g = pd_gen_new(model, &gp);
    assert_non_null(g);
    int32_t *prompt;
    int np;
    assert_int_equal(pd_reason_tokens(model->tok, "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n<think>\n", &prompt, &np), PD_OK);
    pd_vote_params vp = {.n = 5, .mode = PD_VOTE_MAJORITY, .adaptive = adaptive, .seq_params = sp_fn, .extract = ex_fn};
    assert_int_equal(pd_vote_run(g, prompt, np, &vp, r), PD_OK);
    assert_true(r->seq >= 0);
    const pd_gen_result *w = pd_gen_get_result(g, r->seq);
    assert_non_null(w);
    assert_non_null(strstr(w->answer, "ANSWER 7"));
    pd_gen_remove(g, r->seq);
    assert_int_equal(pd_gen_n_free(g), 6);   /* every other sample was removed */
    free(prompt);
    pd_gen_free(g);
}

static void test_driver(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_vote_result r;
    run_vote(false, &r);
    assert_string_equal(r.answer, "7");
    assert_int_equal(r.votes, 3);
    assert_int_equal(r.n_finished, 5);
    assert_int_equal(r.n_stopped, 0);
    assert_int_equal(r.winner_sample, 0);
    pd_vote_result_free(&r);
    /* adaptive: after the three 7s (delays 1-3) two samples remain: 3 - 0 > 2, decided */
    run_vote(true, &r);
    assert_string_equal(r.answer, "7");
    assert_int_equal(r.n_finished, 3);
    assert_int_equal(r.n_stopped, 2);
    pd_vote_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_majority_and_ties),
        cmocka_unit_test(test_weighted_and_equiv),
        cmocka_unit_test(test_decided),
        cmocka_unit_test(test_driver),
    };
    return pd_run_tests(tests, setup, teardown);
}
