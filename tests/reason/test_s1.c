/* tests/reason/test_s1.c — s1 budget forcing and the policy registry on tiny-qwen3 (random weights,
 * "<think>"/"</think>" in its vocabulary). A scripted policy ahead of s1 in the chain makes the
 * model "try to stop" at fixed sampling steps (it leaves only the closer's logit finite), so the
 * outcome is known by hand: with wait=k the first k attempts become "Wait" and the (k+1)-th closes. */
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
#include "ponder/chat.h"
#include "ponder/error.h"
#include "ponder/gen.h"
#include "ponder/reason.h"
#include "ponder/s1.h"

static pd_model *model;
static int32_t OPEN, CLOSE;

static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    model = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    if (!model) { fprintf(stderr, "%s\n", pd_last_error()); return -1; }
    OPEN = pd_tok_find(model->tok, "<think>");
    CLOSE = pd_tok_find(model->tok, "</think>");
    return OPEN >= 0 && CLOSE >= 0 ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(model); return 0; }

static int32_t *prompt_tokens(size_t *n) {
    pd_chat_msg m[] = {{"user", "Question: what is 12+35?", NULL}};
    char *text = pd_chat_render(PD_CHAT_QWEN3, m, 1, true, true);
    assert_non_null(text);
    pd_buf b = {0};
    pd_buf_append(&b, text, strlen(text));
    pd_buf_append(&b, "<think>\n", 8);
    int32_t *ids;
    assert_int_equal(pd_tokenize(model->tok, b.data, b.len, false, true, &ids, n), PD_OK);
    free(text);
    pd_buf_free(&b);
    return ids;
}

/* Scripted "model wants to stop": every `every`-th sampling step in the thinking phase, only the
 * closer may be sampled. Also records how often it forced. */
typedef struct { int every, steps, forced; bool take_back_text; } script_t;
static void sc_logits(void *ctx, const pd_seq_state *s, float *logits) {
    script_t *c = ctx;
    if (s->phase != PD_PHASE_THINKING) return;
    if (++c->steps % c->every) return;
    for (int i = 0; i < s->n_vocab; i++) logits[i] = i == CLOSE ? 0.0f : -INFINITY;
    c->forced++;
}
static int32_t repl_tok[1];
static void sc_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    script_t *c = ctx;
    if (c->take_back_text && s->n_generated == 3 && s->token != CLOSE && s->token != OPEN) {
        repl_tok[0] = s->token;
        a->kind = PD_ACT_REPLACE;
        a->tokens = repl_tok;
        a->n_tokens = 1;
    }
}

static const pd_gen_result *run_chain(pd_gen *g, pd_policy *pols, int n, int max_tokens, uint64_t seed, int *id) {
    size_t np;
    int32_t *prompt = prompt_tokens(&np);
    pd_policy chain;
    assert_int_equal(pd_reason_chain(pols, n, &chain), PD_OK);
    pd_seq_params p = pd_seq_defaults();
    p.sampling.seed = seed;
    p.sampling.temperature = 1.0f;
    p.max_tokens = max_tokens;
    p.policies = &chain;
    p.n_policies = 1;
    *id = pd_gen_add(g, prompt, (int)np, &p);
    assert_true(*id >= 0);
    free(prompt);
    assert_int_equal(pd_gen_run(g), PD_OK);
    return pd_gen_get_result(g, *id);
}

static int count_seq(const int32_t *t, int from, int to, const int32_t *pat, int np) {
    int c = 0;
    for (int i = from; i + np <= to; i++)
        if (!memcmp(t + i, pat, (size_t)np * sizeof *pat)) c++;
    return c;
}

static pd_gen *new_gen(void) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = 512;
    pd_gen *g = pd_gen_new(model, &gp);
    assert_non_null(g);
    return g;
}

/* wait=k: exactly k "Wait"s, the first k closers taken back, the (k+1)-th kept. */
static void test_exactly_k_waits(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    int32_t *wait_ids;
    int n_wait;
    assert_int_equal(pd_reason_tokens(model->tok, "Wait", &wait_ids, &n_wait), PD_OK);
    for (int k = 0; k <= 3; k++) {
        pd_gen *g = new_gen();
        script_t sc = {.every = 10};
        pd_policy pols[2] = {{.name = "script", .ctx = &sc, .on_logits = sc_logits, .on_token = sc_token}};
        pd_s1_params sp = pd_s1_defaults();
        sp.wait = k;
        assert_int_equal(pd_s1_policy(model->tok, &sp, &pols[1]), PD_OK);
        int id;
        const pd_gen_result *r = run_chain(g, pols, 2, 10 * (k + 1) + n_wait * k + 5, 7 + (uint64_t)k, &id);
        assert_int_equal(sc.forced, k + 1);
        int p0 = r->n_prompt;
        /* the closer appears once, as the (k+1)-th forced sample: 10(k+1) samples, k of them taken
         * back (closers that became "Wait"), + k injections */
        int closers = 0, at = -1;
        for (int i = p0; i < r->n_tokens; i++)
            if (r->tokens[i] == CLOSE) { closers++; at = i; }
        assert_int_equal(closers, 1);
        assert_int_equal(at - p0, 10 * (k + 1) - 1 - k + n_wait * k);
        /* "Wait" right where each taken-back closer would have been: after 10, 20, … samples */
        assert_int_equal(count_seq(r->tokens, p0, at, wait_ids, n_wait), k);
        for (int j = 1; j <= k; j++)
            assert_memory_equal(r->tokens + p0 + 10 * j - 1 - (j - 1) + n_wait * (j - 1), wait_ids, (size_t)n_wait * sizeof(int32_t));
        assert_int_equal(r->n_thinking, at - p0 + 1);   /* counts stay consistent after take-backs */
        assert_int_equal(r->phases[at], PD_PHASE_THINKING);
        assert_int_equal(r->phases[at + 1], PD_PHASE_ANSWER);
        assert_int_equal(r->n_answer, r->n_tokens - at - 1);
        assert_int_equal(r->finish, PD_FINISH_LENGTH);
        pd_gen_free(g);
    }
    free(wait_ids);
}

/* max=T: the thinking never exceeds T tokens; "\n</think>\n\n" forced; opener never reopened. */
static void test_max_forces_end(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_reason_spec *spec;
    assert_int_equal(pd_reason_parse("s1:wait=2,max=37", &spec), PD_OK);
    pd_reason_env env = {.tok = model->tok};
    pd_gen *g = new_gen();
    script_t sc = {.every = 15};
    pd_policy pols[2] = {{.name = "script", .ctx = &sc, .on_logits = sc_logits}};
    assert_int_equal(pd_reason_make(spec, &env, &pols[1]), PD_OK);
    int id;
    const pd_gen_result *r = run_chain(g, pols, 2, 120, 99, &id);
    int p0 = r->n_prompt;
    int32_t *nl_end, *end;
    int n_nl_end, n_end;
    assert_int_equal(pd_reason_tokens(model->tok, "\n</think>\n\n", &nl_end, &n_nl_end), PD_OK);
    assert_int_equal(pd_reason_tokens(model->tok, "</think>\n\n", &end, &n_end), PD_OK);
    /* 37 thinking tokens, then "\n</think>\n\n" (or "</think>\n\n" after a newline) */
    size_t tl;
    char *before = pd_detokenize(model->tok, r->tokens + p0, 37, &tl);
    assert_non_null(before);
    bool nl = tl && before[tl - 1] == '\n';
    free(before);
    const int32_t *want = nl ? end : nl_end;
    int n_want = nl ? n_end : n_nl_end;
    assert_memory_equal(r->tokens + p0 + 37, want, (size_t)n_want * sizeof(int32_t));
    assert_int_equal(r->phases[p0 + 36], PD_PHASE_THINKING);
    int c = 0;
    for (int i = p0; i < r->n_tokens; i++) c += r->tokens[i] == CLOSE;
    assert_int_equal(c, 1);
    for (int i = p0; i < r->n_tokens; i++) assert_int_not_equal(r->tokens[i], OPEN);
    assert_true(r->n_answer > 3);
    /* two Waits were taken before the cut (attempts at 15 and 30 sampled steps) */
    int32_t *wait_ids;
    int n_wait;
    assert_int_equal(pd_reason_tokens(model->tok, "Wait", &wait_ids, &n_wait), PD_OK);
    assert_int_equal(count_seq(r->tokens, p0, r->n_tokens, wait_ids, n_wait), 2);
    free(wait_ids); free(nl_end); free(end);
    pd_gen_free(g);
    pd_reason_spec_free(spec);
}

/* The gen refuses to take back a token that has text. */
static void test_replace_only_markers(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_gen *g = new_gen();
    script_t sc = {.every = 1000, .take_back_text = true};
    pd_policy pol = {.name = "script", .ctx = &sc, .on_logits = sc_logits, .on_token = sc_token};
    int id;
    const pd_gen_result *r = run_chain(g, &pol, 1, 50, 3, &id);
    assert_int_equal(r->finish, PD_FINISH_ERROR);
    assert_non_null(strstr(r->error, "take back"));
    pd_gen_free(g);
}

/* Registry: parsing, defaults, errors naming policy and key, canonical text. */
static void test_registry(void **st) {
    (void)st;
    pd_reason_spec *s;
    assert_int_equal(pd_reason_parse("s1", &s), PD_OK);
    assert_int_equal(pd_reason_int(s, "wait"), 1);
    assert_int_equal(pd_reason_int(s, "max"), -1);
    assert_string_equal(pd_reason_str(s, "tail"), "\n\n");
    char *t = pd_reason_spec_text(s);
    assert_string_equal(t, "s1:wait=1,min=0,max=-1,ext=Wait,tail=\\n\\n");
    free(t);
    pd_reason_spec_free(s);
    assert_int_equal(pd_reason_parse("s1:ext=Hmm\\n,wait=4", &s), PD_OK);
    assert_string_equal(pd_reason_str(s, "ext"), "Hmm\n");
    assert_int_equal(pd_reason_int(s, "wait"), 4);
    pd_reason_spec_free(s);
    assert_int_equal(pd_reason_parse("nope", &s), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "unknown name 'nope'"));
    assert_int_equal(pd_reason_parse("s1:foo=1", &s), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "unknown key 'foo'"));
    assert_int_equal(pd_reason_parse("s1:wait=x", &s), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "wait=x is not an integer"));
    assert_int_equal(pd_reason_parse("s1:wait=-2", &s), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "outside"));
    assert_int_equal(pd_reason_parse("s1:wait", &s), PD_ERR_ARG);
    assert_int_equal(pd_reason_parse("s1:wait=1,wait=2", &s), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "twice"));
    assert_int_equal(pd_reason_parse("anytime:think=64", &s), PD_OK);
    assert_int_equal(pd_reason_int(s, "answer"), 1024);
    pd_reason_spec_free(s);
    for (size_t i = 0; i < pd_reason_count(); i++) {
        const pd_reason_method *m = pd_reason_at(i);
        assert_ptr_equal(pd_reason_find(m->name), m);
        assert_int_equal(pd_reason_parse(m->name, &s), PD_OK);   /* every default parses */
        pd_reason_spec_free(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_k_waits),
        cmocka_unit_test(test_max_forces_end),
        cmocka_unit_test(test_replace_only_markers),
        cmocka_unit_test(test_registry),
    };
    return pd_run_tests(tests, setup, teardown);
}
