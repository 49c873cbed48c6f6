/* tests/reason/test_anytime.c — anytime with several short answers at the cut, on tiny-qwen3:
 *   cut: the thinking sequence may not sample the closer or end (its logits are masked), so the
 *     budget think=12 cuts it; 5 short answers are forked at the cut, sample j injecting
 *     "\boxed{a_j}" with a = 4 9 4 4 9 → the vote is 4 (3 votes, sample 0 wins); the winner's
 *     tokens are: thinking of at most 12 tokens, the injected closer text, then at once its own
 *     answer (the token the thinking sequence sampled after the cut was dropped);
 *   self-closed: the thinking sequence samples the closer after 3 tokens → nothing is forked, its
 *     own answer stands. */
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
#include "ponder/anytime.h"
#include "ponder/reason.h"

static pd_model *model;
static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    model = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    return model ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(model); return 0; }

static const char *ANS[] = {"4", "9", "4", "4", "9"};
static bool self_close;
static int n_params[6];   /* calls per sample (-1 → index 0) */

/* the thinking sequence: never the closer nor an end token while thinking (cut case), or only the
 * closer after 3 thinking tokens (self-closed case) */
static void t_logits(void *ctx, const pd_seq_state *s, float *logits) {
    (void)ctx;
    if (s->phase != PD_PHASE_THINKING) return;
    int32_t close = pd_tok_find(model->tok, "</think>");
    if (self_close && s->n_thinking >= 3) {
        for (int v = 0; v < s->n_vocab; v++) if (v != close) logits[v] = -INFINITY;
        return;
    }
    logits[close] = -INFINITY;
    for (int v = 0; v < s->n_vocab; v++) if (pd_tok_is_eog(model->tok, v)) logits[v] = -INFINITY;
}
typedef struct { int32_t *ids; int n; } inj_t;
static void a_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)s;
    inj_t *c = ctx;
    a->kind = PD_ACT_INJECT;
    a->tokens = c->ids;
    a->n_tokens = c->n;
}
static void a_token(void *ctx, const pd_seq_state *s, pd_action *a) { (void)ctx; (void)s; a->kind = PD_ACT_STOP; }
static void a_release(void *ctx) { inj_t *c = ctx; free(c->ids); free(c); }

static bool sp_fn(void *ctx, int j, pd_seq_params *p, pd_policy *pol, bool *has) {
    (void)ctx;
    n_params[j + 1]++;
    p->max_tokens = 60;
    p->sampling.temperature = 0;
    if (j < 0) {
        *pol = (pd_policy){.name = "think", .on_logits = t_logits};
        *has = true;
        return true;
    }
    char text[32];
    snprintf(text, sizeof text, "So \\boxed{%s}\n", ANS[j]);
    inj_t *c = pd_calloc(1, sizeof *c);
    if (!c || pd_reason_tokens(model->tok, text, &c->ids, &c->n) != PD_OK) { free(c); return false; }
    *pol = (pd_policy){.name = "answer", .ctx = c, .on_start = a_start, .on_token = a_token, .release = a_release};
    *has = true;
    p->sampling.seed = 7 + (uint64_t)j;
    return true;
}
static char *ex_fn(void *ctx, const char *t, size_t n) {
    (void)ctx;
    const char *b = memmem(t, n, "\\boxed{", 7);
    const char *e = b ? memchr(b + 7, '}', n - (size_t)(b + 7 - t)) : NULL;
    return e ? pd_strndup(b + 7, (size_t)(e - b - 7)) : NULL;
}

static pd_gen *run(pd_vote_result *r, bool *cut) {
    memset(n_params, 0, sizeof n_params);
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 6;
    gp.n_ctx = 256;
    pd_gen *g = pd_gen_new(model, &gp);
    assert_non_null(g);
    int32_t *prompt;
    int np;
    assert_int_equal(pd_reason_tokens(model->tok, "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n<think>\n", &prompt, &np), PD_OK);
    pd_anytime_params ap = {.think = 12, .answer = 16, .votes = 5, .mode = PD_VOTE_MAJORITY, .seq_params = sp_fn, .extract = ex_fn};
    assert_int_equal(pd_anytime_run(g, prompt, np, &ap, r, cut), PD_OK);
    free(prompt);
    assert_true(r->seq >= 0);
    return g;
}

static void test_votes_at_cut(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    self_close = false;
    pd_vote_result r;
    bool cut;
    pd_gen *g = run(&r, &cut);
    assert_true(cut);
    assert_int_equal(r.n_samples, 5);              /* five forks at the cut */
    for (int j = 0; j <= 5; j++) assert_int_equal(n_params[j], 1);
    assert_int_equal(r.n_finished, 5);
    assert_non_null(r.answer);
    assert_string_equal(r.answer, "4");
    assert_int_equal(r.votes, 3);
    assert_int_equal(r.winner_sample, 0);
    const pd_gen_result *w = pd_gen_get_result(g, r.seq);
    assert_true(w->n_thinking <= 12 && w->n_thinking >= 8);
    assert_int_equal(r.thinking_tokens, w->n_thinking);   /* counted once, not 5 times */
    /* after the closer: "\n\n" (or its tokens), then straight away the fork's answer */
    int32_t close = pd_tok_find(model->tok, "</think>");
    int at = -1;
    for (int i = w->n_prompt; i < w->n_tokens && at < 0; i++) if (w->tokens[i] == close) at = i;
    assert_true(at > 0);
    int32_t *nl, *ans;
    int n_nl, n_ans;
    assert_int_equal(pd_reason_tokens(model->tok, "\n\n", &nl, &n_nl), PD_OK);
    assert_int_equal(pd_reason_tokens(model->tok, "So \\boxed{4}\n", &ans, &n_ans), PD_OK);
    assert_true(at + 1 + n_nl + n_ans <= w->n_tokens);
    assert_memory_equal(w->tokens + at + 1, nl, (size_t)n_nl * sizeof(int32_t));
    assert_memory_equal(w->tokens + at + 1 + n_nl, ans, (size_t)n_ans * sizeof(int32_t));
    assert_non_null(strstr(w->answer, "\\boxed{4}"));
    free(nl);
    free(ans);
    pd_gen_remove(g, r.seq);
    assert_int_equal(pd_gen_n_free(g), 6);   /* the thinking sequence and the other forks are gone */
    pd_vote_result_free(&r);
    pd_gen_free(g);
}

static void test_self_closed_no_forks(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    self_close = true;
    pd_vote_result r;
    bool cut;
    pd_gen *g = run(&r, &cut);
    assert_false(cut);
    assert_int_equal(r.n_samples, 0);
    assert_int_equal(n_params[0], 1);
    for (int j = 1; j <= 5; j++) assert_int_equal(n_params[j], 0);
    const pd_gen_result *w = pd_gen_get_result(g, r.seq);
    assert_int_equal(w->n_thinking, r.thinking_tokens);
    assert_true(w->n_answer > 0 && w->n_answer <= 16);
    pd_gen_remove(g, r.seq);
    pd_vote_result_free(&r);
    pd_gen_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_votes_at_cut),
        cmocka_unit_test(test_self_closed_no_forks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
