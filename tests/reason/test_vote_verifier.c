/* tests/reason/test_vote_verifier.c — vote:mode=verifier with a verifier model through the hub.
 * The samples come from tiny-qwen3 made to answer a chosen text and finish after a chosen number of
 * tokens; the verifier is tiny-qwen2 (same vocabulary, gen model 1), a stand-in whose judgements are
 * arbitrary but fixed. Truth: each answer's score recomputed directly — one pd_model_eval of the
 * documented prompt on the verifier, sigmoid(logit(" Yes") - logit(" No")). Answers are chosen from
 * those scores so that the verifier's weighting must overturn the majority's tie-break, and the
 * better-judged answer finishes LAST: a vote that did not wait for the pending judgement would pick
 * the other one. */
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

static pd_model *model, *judge;
static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    model = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    judge = pd_model_load(PD_FIXTURES "models/tiny-qwen2.gguf");
    return model && judge ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(model); pd_model_free(judge); return 0; }

static const char *QUESTION = "What is 3+4?";

/* the verifier's score of one answer, computed without the hub or the gen */
static double direct_score(const char *answer) {
    char text[256];
    snprintf(text, sizeof text, "Question: %s\nProposed answer: %s\nIs the proposed answer correct? Answer Yes or No.\nAnswer:",
             QUESTION, answer);
    int32_t *ids, *y, *n;
    int ni, ny, nn;
    assert_int_equal(pd_reason_tokens(judge->tok, text, &ids, &ni), PD_OK);
    assert_int_equal(pd_reason_tokens(judge->tok, " Yes", &y, &ny), PD_OK);
    assert_int_equal(pd_reason_tokens(judge->tok, " No", &n, &nn), PD_OK);
    pd_kv *kv = pd_kv_new(&judge->cfg, 1, 256, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * (size_t)judge->cfg.n_vocab);
    assert_int_equal(pd_model_eval(judge, kv, 0, ids, ni, false, lg), PD_OK);
    double d = (double)lg[y[0]] - lg[n[0]];
    free(lg); free(ids); free(y); free(n);
    pd_kv_free(kv);
    return 1.0 / (1.0 + exp(-d));
}

static const char *ANS[3];
static const int DELAY[3] = {1, 3, 8};   /* sample 2 finishes last */

typedef struct { int32_t *ids; int n, left; } ans_t;
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
    if (ANS[i]) snprintf(text, sizeof text, "\n</think>\n\nANSWER %s\n", ANS[i]);
    else snprintf(text, sizeof text, "\n</think>\n\nno idea\n");
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
    if (!k) return NULL;
    size_t e = 7;
    while (k + e < t + n && k[e] != '\n') e++;
    return pd_strndup(k + 7, e - 7);
}

typedef struct { int asks; char first[256]; } seen_t;
static void observe(void *ctx, int m, const int32_t *prompt, int n) {
    seen_t *s = ctx;
    assert_int_equal(m, 1);
    if (!s->asks++) {
        size_t len = 0;
        char *t = pd_detokenize(judge->tok, prompt, (size_t)n, &len);
        snprintf(s->first, sizeof s->first, "%.*s", (int)len, t);
        free(t);
    }
}

static void run(bool adaptive, pd_vote_result *r, seen_t *seen, pd_vote_mode mode) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 5;
    gp.n_ctx = 128;
    gp.kv_type = PD_TYPE_F32;
    pd_gen *g = pd_gen_new(model, &gp);
    assert_non_null(g);
    assert_int_equal(pd_gen_add_model(g, judge), 1);
    pd_reason_hub *hub = pd_reason_hub_new();
    pd_reason_hub_observe(hub, observe, seen);
    int32_t *prompt;
    int np;
    assert_int_equal(pd_reason_tokens(model->tok, "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n<think>\n", &prompt, &np), PD_OK);
    pd_vote_params vp = {.n = 3, .mode = mode, .adaptive = adaptive, .seq_params = sp_fn, .extract = ex_fn,
                         .hub = mode == PD_VOTE_VERIFIER ? hub : NULL, .verifier_model = 1, .tok = model->tok, .question = QUESTION};
    assert_int_equal(pd_vote_run(g, prompt, np, &vp, r), PD_OK);
    assert_true(r->seq >= 0);
    pd_gen_remove(g, r->seq);
    free(prompt);
    pd_gen_free(g);
    assert_int_equal(pd_reason_hub_pending(hub), 0);
    pd_reason_hub_free(hub);
}

static void test_verifier_model(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    /* the best- and worst-judged of a few candidates */
    static const char *cand[] = {"7", "12", "6", "seven", "8", "34", "0", "1"};
    int hi = 0, lo = 0;
    double sc[8];
    for (int i = 0; i < 8; i++) {
        sc[i] = direct_score(cand[i]);
        if (sc[i] > sc[hi]) hi = i;
        if (sc[i] < sc[lo]) lo = i;
    }
    printf("  verifier scores: best '%s' %.4f, worst '%s' %.4f\n", cand[hi], sc[hi], cand[lo], sc[lo]);
    assert_true(sc[hi] > sc[lo]);
    bool two_lo = sc[hi] > 2 * sc[lo] + 1e-3;   /* can the best beat two worst votes? else: one vote each */
    ANS[0] = cand[lo];
    ANS[1] = two_lo ? cand[lo] : NULL;   /* NULL: this sample answers nothing */
    ANS[2] = cand[hi];
    /* majority: the worst-judged answer wins (two votes, or the 1-1 tie goes to the earlier sample) */
    pd_vote_result r;
    seen_t seen = {0};
    run(false, &r, &seen, PD_VOTE_MAJORITY);
    assert_string_equal(r.answer, cand[lo]);
    assert_int_equal(seen.asks, 0);
    pd_vote_result_free(&r);
    /* verifier: every answer judged once, the vote waited for the last judgement */
    seen = (seen_t){0};
    run(false, &r, &seen, PD_VOTE_VERIFIER);
    assert_int_equal(seen.asks, two_lo ? 3 : 2);
    char want[256];
    snprintf(want, sizeof want, "Question: %s\nProposed answer: %s\nIs the proposed answer correct? Answer Yes or No.\nAnswer:",
             QUESTION, cand[lo]);
    assert_string_equal(seen.first, want);
    assert_int_equal(r.n_finished, 3);
    double total_lo = two_lo ? 2 * sc[lo] : sc[lo];
    printf("  verifier vote: '%s' %.4f vs %.4f (direct: %.4f vs %.4f)\n", r.answer, r.top, r.second, sc[hi], total_lo);
    assert_string_equal(r.answer, cand[hi]);
    assert_true(fabs(r.top - sc[hi]) < 1e-4);
    assert_true(fabs(r.second - total_lo) < 1e-4);
    pd_vote_result_free(&r);
    /* adaptive: no early decision is possible here (weights <= 1), the same outcome */
    seen = (seen_t){0};
    run(true, &r, &seen, PD_VOTE_VERIFIER);
    assert_string_equal(r.answer, cand[hi]);
    assert_int_equal(r.n_stopped, 0);
    pd_vote_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_verifier_model)};
    return pd_run_tests(tests, setup, teardown);
}
