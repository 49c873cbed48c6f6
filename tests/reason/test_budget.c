/* tests/reason/test_budget.c — the budget policy on a model that never stops thinking by itself:
 * tiny-qwen3 (random weights, "<think>"/"</think>" in its vocabulary) sampled at temperature 1,
 * prompted with its real chat template. Budgets of several sizes run batched in one gen; the
 * injected text is checked against an independent tokenisation, the phases token by token. */
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
#include "ponder/budget.h"
#include "ponder/chat.h"
#include "ponder/error.h"
#include "ponder/gen.h"

#define FIX PD_SHARED_DIR "/fixtures/models/"

static pd_model *model;
static int32_t OPEN, CLOSE;

static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0; /* every case skips */
    model = pd_model_load(FIX "tiny-qwen3.gguf");
    if (!model) { fprintf(stderr, "%s\n", pd_last_error()); return -1; }
    OPEN = pd_tok_find(model->tok, "<think>");
    CLOSE = pd_tok_find(model->tok, "</think>");
    return OPEN >= 0 && CLOSE >= 0 ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(model); return 0; }

static int32_t *chat_prompt(bool thinking, size_t *n) {
    pd_chat_msg m[] = {{"user", "Question: what is 12+35?", NULL}};
    char *text = pd_chat_render(PD_CHAT_QWEN3, m, 1, true, thinking);
    assert_non_null(text);
    pd_buf b = {0};
    pd_buf_append(&b, text, strlen(text));
    if (thinking) pd_buf_append(&b, "<think>\n", 8);  /* what Qwen3 writes first; R1's prompt has it */
    int32_t *ids;
    assert_int_equal(pd_tokenize(model->tok, b.data, b.len, false, true, &ids, n), PD_OK);
    free(text);
    pd_buf_free(&b);
    return ids;
}

static pd_gen *new_gen(int n_seq) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = n_seq;
    gp.n_ctx = 256;
    pd_gen *g = pd_gen_new(model, &gp);
    assert_non_null(g);
    return g;
}

static int32_t *tok_text(const char *s, size_t *n) {
    int32_t *ids;
    assert_int_equal(pd_tokenize(model->tok, s, strlen(s), false, true, &ids, n), PD_OK);
    return ids;
}

/* Without a policy the random model keeps thinking: the premise of the other tests. */
static void test_never_stops_alone(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    size_t n;
    int32_t *prompt = chat_prompt(true, &n);
    pd_gen *g = new_gen(1);
    pd_seq_params p = pd_seq_defaults();
    p.max_tokens = 80;
    p.sampling.seed = 11;
    int id = pd_gen_add(g, prompt, (int)n, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    assert_int_equal(r->finish, PD_FINISH_LENGTH);
    assert_int_equal(r->n_thinking, 80);
    assert_int_equal(r->n_answer, 0);
    pd_gen_free(g);
    free(prompt);
}

/* The injected closing texts, tokenised independently of the policy. */
static int32_t *inj(const char *text, size_t *n) { return tok_text(text, n); }

static bool at(const pd_gen_result *r, int pos, const int32_t *ids, size_t n) {
    return pos + (int)n <= r->n_tokens && !memcmp(r->tokens + pos, ids, n * sizeof *ids);
}

static void test_think_budgets_batched(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    size_t n;
    int32_t *prompt = chat_prompt(true, &n);
    const char *msg = "Time is up.";
    size_t n_end, n_para;
    int32_t *end = inj("\n</think>\n\n", &n_end);
    int32_t *para = inj("\n\nTime is up.\n</think>\n\n", &n_para);
    int para_cost = -1;
    for (size_t k = 0; k < n_para; k++) if (para[k] == CLOSE && para_cost < 0) para_cost = (int)k + 1;
    enum { NS = 4 };
    const int budgets[NS] = {3, 9, 30, 60};
    const int answer_budget = 12;
    pd_gen *g = new_gen(NS);
    int ids[NS];
    for (int i = 0; i < NS; i++) {
        pd_budget_params bp = pd_budget_defaults();
        bp.think_budget = budgets[i];
        bp.answer_budget = answer_budget;
        bp.message = i % 2 ? msg : NULL;
        pd_policy pol;
        assert_int_equal(pd_budget_policy(model->tok, &bp, &pol), PD_OK);
        pd_seq_params p = pd_seq_defaults();
        p.sampling.seed = 1000 + (uint64_t)i;
        p.max_tokens = 200;
        p.policies = &pol;
        p.n_policies = 1;
        ids[i] = pd_gen_add(g, prompt, (int)n, &p);
        assert_true(ids[i] >= 0);
    }
    assert_int_equal(pd_gen_run(g), PD_OK);
    for (int i = 0; i < NS; i++) {
        const pd_gen_result *r = pd_gen_get_result(g, ids[i]);
        int N = budgets[i];
        /* the message fits every odd one (9, 60); it needs para_cost thinking tokens */
        bool with_msg = i % 2 && N >= para_cost + 1;
        const int32_t *in = with_msg ? para : end;
        size_t n_in = with_msg ? n_para : n_end;
        int cost = with_msg ? para_cost : 2;
        /* the prompt opened thinking; the model never closes it: sampled tokens up to N - cost, then
         * the closing text, token for token, so the thinking is exactly N (the text does not end in
         * "\n" for these seeds, checked below) */
        int p0 = r->n_prompt, sampled = N - cost;
        for (int k = 0; k < sampled; k++) {
            assert_int_equal(r->phases[p0 + k], PD_PHASE_THINKING);
            assert_true(r->tokens[p0 + k] != CLOSE && r->tokens[p0 + k] != OPEN);
        }
        assert_true(at(r, p0 + sampled, in, n_in));
        int k_close = p0 + sampled + cost - 1;
        assert_int_equal(r->tokens[k_close], CLOSE);
        assert_int_equal(r->n_thinking, N);
        for (int k = p0; k <= k_close; k++) assert_int_equal(r->phases[k], PD_PHASE_THINKING);
        for (int k = k_close + 1; k < r->n_tokens; k++) {
            assert_int_equal(r->phases[k], PD_PHASE_ANSWER);
            assert_true(r->tokens[k] != OPEN);
        }
        /* the answer budget stops the sequence: length / answer_budget */
        assert_int_equal(r->finish, PD_FINISH_POLICY);
        assert_string_equal(pd_finish_reason(r), "length");
        assert_string_equal(pd_finish_detail(r), "answer_budget");
        assert_int_equal(r->n_answer, answer_budget);
        /* texts: the message is a paragraph of its own, not glued to the last word */
        char *th = pd_detokenize(model->tok, r->tokens + p0, (size_t)sampled, NULL);
        assert_true(th[0] && th[strlen(th) - 1] != '\n');
        pd_buf want = {0};
        pd_buf_append(&want, th, strlen(th));
        if (with_msg) pd_buf_append(&want, "\n\nTime is up.", 13);
        pd_buf_append(&want, "\n", 1);
        assert_string_equal(r->thinking, want.data);
        char *an = pd_detokenize(model->tok, r->tokens + k_close + 1, (size_t)(r->n_tokens - k_close - 1), NULL);
        assert_string_equal(r->answer, an);
        assert_memory_equal(r->answer, "\n\n", 2);
        free(th); free(an);
        pd_buf_free(&want);
    }
    pd_gen_free(g);
    free(prompt); free(end); free(para);
}

/* Pushes "<think>" up at the first generated token: the model opens thinking itself (as Qwen3 does
 * after its generation prompt) unless the budget masks it. */
static void open_first(void *ctx, const pd_seq_state *s, float *logits) {
    (void)ctx;
    if (s->n_generated == 0) logits[OPEN] += 100.0f;
}

/* The contract over many seeds at temperature 1: budgets 0, 1, 2, 5, 16, with and without a
 * message, thinking opened by the prompt or by the model. Checked token by token: thinking tokens
 * (phase labels) = usage, <= N; one opener at most and never after the closer; when the policy
 * closed, the tokens before the closer end with one of the closing texts; the message is preceded
 * by a newline. */
static void test_contract_sweep(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const int budgets[] = {0, 1, 2, 5, 16};
    const char *msg = "Time is up.";
    size_t n_msg;
    int32_t *msg_ids = inj("Time is up.\n</think>", &n_msg);
    enum { SEEDS = 6 };
    int n_runs = 0, n_msg_seen = 0, n_closed = 0;
    for (int opened_by_prompt = 0; opened_by_prompt < 2; opened_by_prompt++) {
        size_t n;
        int32_t *prompt = chat_prompt(opened_by_prompt, &n);
        for (size_t b = 0; b < sizeof budgets / sizeof *budgets; b++)
            for (int with_msg = 0; with_msg < 2; with_msg++) {
                int N = budgets[b];
                if (N == 0 && with_msg) continue;   /* refused by the CLI: nothing to inject */
                if (N == 0 && opened_by_prompt) continue;  /* budget 0 uses the no-think prompt */
                pd_gen *g = new_gen(SEEDS);
                int ids[SEEDS];
                for (int sd = 0; sd < SEEDS; sd++) {
                    pd_budget_params bp = pd_budget_defaults();
                    bp.think_budget = N;
                    bp.message = with_msg ? msg : NULL;
                    pd_policy pol[2] = {{.name = "open-first", .on_logits = open_first}};
                    assert_int_equal(pd_budget_policy(model->tok, &bp, &pol[1]), PD_OK);
                    pd_seq_params p = pd_seq_defaults();
                    p.sampling.seed = 77 + (uint64_t)sd * 1000 + (uint64_t)N;
                    p.sampling.temperature = 1.0f;
                    p.sampling.top_k = 0;
                    p.sampling.top_p = 1.0f;
                    p.max_tokens = 40;
                    p.ignore_eog = true;
                    p.policies = pol;
                    p.n_policies = 2;
                    ids[sd] = pd_gen_add(g, prompt, (int)n, &p);
                    assert_true(ids[sd] >= 0);
                }
                assert_int_equal(pd_gen_run(g), PD_OK);
                for (int sd = 0; sd < SEEDS; sd++) {
                    const pd_gen_result *r = pd_gen_get_result(g, ids[sd]);
                    int n_think = 0, n_open = 0, k_close = -1;
                    for (int k = r->n_prompt; k < r->n_tokens; k++) {
                        n_think += r->phases[k] == PD_PHASE_THINKING;
                        if (r->tokens[k] == OPEN) { n_open++; assert_int_equal(k_close, -1); }
                        if (r->tokens[k] == CLOSE && k_close < 0) k_close = k;
                    }
                    assert_int_equal(n_think, r->n_thinking);
                    assert_true(r->n_thinking <= N);
                    assert_true(n_open <= 1);
                    if (N < 2 && !opened_by_prompt) assert_int_equal(r->n_thinking, 0);  /* no room to open */
                    if (N >= 2) {
                        /* room for opener + closer: the pushed opener comes out and thinking is closed */
                        assert_true(k_close > 0);
                        n_closed++;
                    }
                    if (k_close > 0) {
                        for (int k = k_close + 1; k < r->n_tokens; k++) assert_int_equal(r->phases[k], PD_PHASE_ANSWER);
                        if (with_msg && at(r, k_close + 1 - (int)n_msg, msg_ids, n_msg)) {
                            n_msg_seen++;
                            const char *m = strstr(r->thinking, "Time is up.");
                            assert_non_null(m);
                            assert_true(m == r->thinking || m[-1] == '\n');  /* not glued to a word */
                        }
                        /* the message is there whenever it could fit: 16 >= opener + its cost */
                        if (with_msg && N == 16) assert_non_null(strstr(r->thinking, "Time is up."));
                    }
                    n_runs++;
                }
                pd_gen_free(g);
            }
        free(prompt);
    }
    assert_int_equal(n_runs, SEEDS * 17);   /* 10 + 10 combinations less the 3 skipped */
    assert_true(n_closed > 0 && n_msg_seen >= 2 * SEEDS);
    free(msg_ids);
}

/* A chained policy that pushes "<think>" up: the budget-0 mask must still win. */
static void push_open(void *ctx, const pd_seq_state *s, float *logits) { (void)ctx; (void)s; logits[OPEN] += 100.0f; }

static void test_no_thinking(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_budget_params bp = pd_budget_defaults();
    bp.think_budget = 0;
    size_t n_end;
    int32_t *end = tok_text("</think>\n\n", &n_end);
    for (int variant = 0; variant < 2; variant++) {
        /* 0: the prompt opens thinking → closed at once; 1: the template's no-think prompt */
        size_t n;
        int32_t *prompt = chat_prompt(variant == 0, &n);
        pd_gen *g = new_gen(1);
        pd_policy pol[2] = {{.name = "push-open", .on_logits = push_open}};
        assert_int_equal(pd_budget_policy(model->tok, &bp, &pol[1]), PD_OK);
        pd_seq_params p = pd_seq_defaults();
        p.sampling.seed = 5;
        p.max_tokens = 40;
        p.ignore_eog = true;
        p.policies = pol;
        p.n_policies = 2;
        int id = pd_gen_add(g, prompt, (int)n, &p);
        assert_int_equal(pd_gen_run(g), PD_OK);
        const pd_gen_result *r = pd_gen_get_result(g, id);
        int start = r->n_prompt;
        if (variant == 0) {
            assert_memory_equal(r->tokens + start, end, n_end * sizeof(int32_t));
            start += (int)n_end;
            assert_int_equal(r->n_thinking, 1); /* "</think>" alone: the least a prompt that opened thinking costs */
            assert_string_equal(r->thinking, "");
        } else {
            assert_int_equal(r->n_thinking, 0);
        }
        for (int k = start; k < r->n_tokens; k++) {
            assert_true(r->tokens[k] != OPEN);
            assert_int_equal(r->phases[k], PD_PHASE_ANSWER);
        }
        pd_gen_free(g);
        free(prompt);
    }
    /* without the budget the push makes "<think>" come out: the mask above is what held */
    size_t n;
    int32_t *prompt = chat_prompt(false, &n);
    pd_gen *g = new_gen(1);
    pd_policy push = {.name = "push-open", .on_logits = push_open};
    pd_seq_params p = pd_seq_defaults();
    p.max_tokens = 3;
    p.policies = &push;
    p.n_policies = 1;
    int id = pd_gen_add(g, prompt, (int)n, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    assert_int_equal(pd_gen_get_result(g, id)->tokens[n], OPEN);
    pd_gen_free(g);
    free(prompt);
    free(end);
}

static void test_bad_params(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_budget_params bp = pd_budget_defaults();
    bp.think_budget = -3;
    pd_policy pol;
    assert_int_equal(pd_budget_policy(model->tok, &bp, &pol), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "budget"));
    /* no tokenizer: the thinking budget is a no-op, the policy still exists for the answer budget */
    bp = pd_budget_defaults();
    bp.answer_budget = 3;
    assert_int_equal(pd_budget_policy(NULL, &bp, &pol), PD_OK);
    pol.release(pol.ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_stops_alone),
        cmocka_unit_test(test_think_budgets_batched),
        cmocka_unit_test(test_contract_sweep),
        cmocka_unit_test(test_no_thinking),
        cmocka_unit_test(test_bad_params),
    };
    return pd_run_tests(tests, setup, teardown);
}
