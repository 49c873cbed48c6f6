/* tests/eval/test_eval_vote.c — a driver in the eval loop (pd_eval_params.add): each item's
 * record is the vote's winner, not sample 0. On tiny-qwen3, a scripted policy makes sample j of
 * item i answer "\boxed{a_ij}" at once and stop; hand-made sets:
 *   item 0 (reference 7): 7 7 3 → vote 7, correct;
 *   item 1 (reference 3): 3 5 5 → vote 5, wrong, although sample 0 alone (3) would be right;
 *   item 2 (reference 4): 9 4 4 → vote 4, correct, won by sample 1.
 * So accuracy 2/3 with the vote (sample 0 alone: 2/3 too, but on items 0 and 1: the record's answer
 * tells them apart). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/eval.h"
#include "ponder/extract.h"
#include "ponder/model.h"
#include "ponder/reason.h"
#include "ponder/vote.h"

static pd_model *model;
static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    model = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    return model ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(model); return 0; }

static const char *ANS[3][3] = {{"7", "7", "3"}, {"3", "5", "5"}, {"9", "4", "4"}};

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

typedef struct { size_t item; int adds; pd_vote_result votes[3]; } drv_t;

static bool vote_sp(void *ctx, int j, pd_seq_params *p, pd_policy *pol, bool *has) {
    drv_t *d = ctx;
    char text[64];
    snprintf(text, sizeof text, "\n</think>\n\nSo \\boxed{%s}\n", ANS[d->item][j]);
    inj_t *c = pd_calloc(1, sizeof *c);
    if (!c || pd_reason_tokens(model->tok, text, &c->ids, &c->n) != PD_OK) { free(c); return false; }
    *pol = (pd_policy){.name = "script", .ctx = c, .on_start = a_start, .on_token = a_token, .release = a_release};
    *has = true;
    p->max_tokens = 30;
    return true;
}
static char *vote_ex(void *ctx, const char *t, size_t n) { (void)ctx; return pd_extract_span(PD_EXTRACT_BOXED, t, n); }

static int32_t *enc(void *ctx, const pd_task_item *it, size_t *n) {
    (void)ctx;
    char buf[256];
    snprintf(buf, sizeof buf, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n<think>\n", it->prompt);
    int32_t *ids;
    int k;
    if (pd_reason_tokens(model->tok, buf, &ids, &k) != PD_OK) return NULL;
    *n = (size_t)k;
    return ids;
}
static bool seqp(void *ctx, size_t item, int sample, pd_seq_params *p, pd_policy *pol, bool *has) {
    (void)ctx; (void)item; (void)sample; (void)p; (void)pol;
    *has = false;
    return true;
}
static int add(void *ctx, pd_gen *g, size_t item, const int32_t *prompt, int n, pd_seq_params *sp) {
    drv_t *d = ctx;
    assert_int_equal(sp->n_policies, 0);
    d->item = item;
    d->adds++;
    assert_int_equal(pd_gen_n_active(g), 0);   /* max_active 1: the vote has the gen to itself */
    pd_vote_params vp = {.n = 3, .mode = PD_VOTE_MAJORITY, .seq_params = vote_sp, .extract = vote_ex, .ctx = d};
    if (pd_vote_run(g, prompt, n, &vp, &d->votes[item]) != PD_OK) return -1;
    return d->votes[item].seq;
}

static void test_eval_records_are_votes(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_task_item items[3] = {{.id = "a", .prompt = "A?", .answer = "7"},
                             {.id = "b", .prompt = "B?", .answer = "3"},
                             {.id = "c", .prompt = "C?", .answer = "4"}};
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 4;
    gp.n_ctx = 128;
    pd_gen *g = pd_gen_new(model, &gp);
    assert_non_null(g);
    drv_t d;
    memset(&d, 0, sizeof d);
    pd_eval_params ep = {.samples = 1, .extract = PD_EXTRACT_BOXED, .encode = enc, .seq_params = seqp, .ctx = &d,
                         .max_active = 1, .add = add};
    pd_eval_record *recs = NULL;
    size_t n = 0;
    assert_int_equal(pd_eval_run(g, items, 3, &ep, &recs, &n), PD_OK);
    assert_int_equal(n, 3);
    assert_int_equal(d.adds, 3);
    static const char *want[3] = {"7", "5", "4"};
    static const bool ok[3] = {true, false, true};
    static const int winner[3] = {0, 1, 1};
    for (int i = 0; i < 3; i++) {
        assert_non_null(recs[i].extracted);
        assert_string_equal(recs[i].extracted, want[i]);
        assert_string_equal(d.votes[i].answer, want[i]);
        assert_int_equal(d.votes[i].winner_sample, winner[i]);
        assert_int_equal(d.votes[i].votes, 2);
        assert_int_equal(recs[i].correct, ok[i]);
        pd_vote_result_free(&d.votes[i]);
        pd_eval_record_free(&recs[i]);
    }
    free(recs);
    assert_int_equal(pd_gen_n_free(g), 4);   /* winners removed by the loop, the rest by the vote */
    pd_gen_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_eval_records_are_votes)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
