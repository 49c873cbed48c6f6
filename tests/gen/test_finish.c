/* tests/gen/test_finish.c — how a sequence ends and how that is reported: max_tokens 0 means no
 * token at all (not "unlimited"; -1 is), injected tokens count against max_tokens, and every way of
 * ending maps to OpenAI's finish_reason (stop / length) with ponder's finish_detail. The greedy
 * tokens of tiny-llama (a fixture) say what an unconstrained run would produce. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/gen.h"
#include "ponder/model.h"
#include "ponder/tok.h"

static pd_model *M;
static int32_t PROMPT[5];

static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    M = pd_model_load(PD_FIXTURES "models/tiny-llama.gguf");
    if (!M) return -1;
    int32_t *ids;
    size_t n;
    if (pd_tokenize(M->tok, "Once upon a time", 16, true, false, &ids, &n) != PD_OK || n < 5) return -1;
    memcpy(PROMPT, ids, sizeof PROMPT);
    free(ids);
    return 0;
}
static int teardown(void **st) { (void)st; pd_model_free(M); return 0; }

static pd_gen *gen1(int n_ctx) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = n_ctx;
    pd_gen *g = pd_gen_new(M, &gp);
    assert_non_null(g);
    return g;
}

/* Run one sequence to the end; the result stays valid until the gen is freed. */
static const pd_gen_result *run1(pd_gen *g, const pd_seq_params *p, int n_prompt) {
    int id = pd_gen_add(g, PROMPT, n_prompt, p);
    assert_true(id >= 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    return pd_gen_get_result(g, id);
}

static pd_seq_params greedy(int max_tokens) {
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = max_tokens;
    p.ignore_eog = true;
    return p;
}

static const int32_t INJ[] = {403, 407, 261, 378, 403};  /* any ids in the vocabulary */
static void inject_at_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)ctx; (void)s;
    a->kind = PD_ACT_INJECT;
    a->tokens = INJ;
    a->n_tokens = 5;
}
static void stop_after_two(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)ctx;
    if (s->n_generated >= 2) a->kind = PD_ACT_STOP;
}

static void test_max_tokens(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    assert_int_equal(pd_seq_defaults().max_tokens, -1);
    pd_gen *g = gen1(64);
    /* 0: nothing, not even what a policy would inject at the start */
    pd_seq_params p = greedy(0);
    pd_policy inj = {.name = "inject", .on_start = inject_at_start};
    p.policies = &inj;
    p.n_policies = 1;
    const pd_gen_result *r = run1(g, &p, 5);
    assert_int_equal(r->n_tokens, 5);
    assert_int_equal(r->n_thinking + r->n_answer, 0);
    assert_int_equal(r->finish, PD_FINISH_LENGTH);
    assert_string_equal(pd_finish_reason(r), "length");
    assert_string_equal(pd_finish_detail(r), "max_tokens");
    pd_gen_free(g);
    /* injected tokens count: 3 of the 5 fit */
    g = gen1(64);
    p = greedy(3);
    p.policies = &inj;
    p.n_policies = 1;
    r = run1(g, &p, 5);
    assert_int_equal(r->n_tokens - r->n_prompt, 3);
    assert_memory_equal(r->tokens + 5, INJ, 3 * sizeof(int32_t));
    assert_string_equal(pd_finish_detail(r), "max_tokens");
    pd_gen_free(g);
    /* -1: until the context is full (length / context) */
    g = gen1(24);
    p = greedy(-1);
    r = run1(g, &p, 5);
    assert_int_equal(r->n_tokens, 24);
    assert_int_equal(r->finish, PD_FINISH_CONTEXT);
    assert_string_equal(pd_finish_reason(r), "length");
    assert_string_equal(pd_finish_detail(r), "context");
    pd_gen_free(g);
}

static void test_reasons(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    /* the greedy continuation, to build an EOG token and a stop string that will occur */
    pd_gen *g = gen1(64);
    pd_seq_params p = greedy(24);
    const pd_gen_result *r = run1(g, &p, 5);
    int32_t third = r->tokens[5 + 2];
    int first = 5;  /* where greedy decoding first produces that token */
    while (r->tokens[first] != third) first++;
    char *text = strdup(r->answer);
    pd_gen_free(g);
    assert_true(strlen(text) > 6);
    /* a stop token: finish_reason stop, detail eog */
    g = gen1(64);
    p = greedy(24);
    p.stop_tokens = &third;
    p.n_stop_tokens = 1;
    p.ignore_eog = false;
    r = run1(g, &p, 5);
    assert_int_equal(r->finish, PD_FINISH_EOG);
    assert_int_equal(r->n_tokens, first + 1);
    assert_string_equal(pd_finish_reason(r), "stop");
    assert_string_equal(pd_finish_detail(r), "eog");
    pd_gen_free(g);
    /* a stop string: stop / stop_string */
    g = gen1(64);
    p = greedy(24);
    char stop[8];
    memcpy(stop, text + 3, 3);
    stop[3] = 0;
    const char *stops[] = {stop};
    p.stop = stops;
    p.n_stop = 1;
    r = run1(g, &p, 5);
    assert_string_equal(pd_finish_reason(r), "stop");
    assert_string_equal(pd_finish_detail(r), "stop_string");
    assert_string_equal(r->stop_string, stop);
    pd_gen_free(g);
    /* a policy's stop: stop / policy, with its name */
    g = gen1(64);
    p = greedy(24);
    pd_policy sp = {.name = "stopper", .on_token = stop_after_two};
    p.policies = &sp;
    p.n_policies = 1;
    r = run1(g, &p, 5);
    assert_int_equal(r->finish, PD_FINISH_POLICY);
    assert_string_equal(r->stop_policy, "stopper");
    assert_string_equal(pd_finish_reason(r), "stop");
    assert_string_equal(pd_finish_detail(r), "policy");
    pd_gen_free(g);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_tokens),
        cmocka_unit_test(test_reasons),
    };
    return pd_run_tests(tests, setup, teardown);
}
