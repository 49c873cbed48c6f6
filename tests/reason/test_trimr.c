/* tests/reason/test_trimr.c — TrimR's rules on scripted thought sequences with a fake verifier
 * (regex-style answer finder + string equality), the segmentation helpers, the repetition detector
 * on a hand-counted loop, and trimr-probe end to end on tiny-qwen3 made to "think" a script (a
 * policy leaves only the script's next token finite) with the hub serving real probes and a fake
 * extractor deciding agreement. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/gen.h"
#include "ponder/reason.h"
#include "ponder/trimr.h"

#define MK "Wait|But|Alternatively|Hmm|However|Let me double-check|Let me verify"

/* fake verifier: the thought's last number, if any */
static bool last_number(const char *s, size_t n, char *out) {
    long end = -1, start = -1;
    for (long i = (long)n - 1; i >= 0; i--) {
        if (isdigit((unsigned char)s[i])) { if (end < 0) end = i; start = i; }
        else if (end >= 0) break;
    }
    if (end < 0) return false;
    snprintf(out, 32, "%.*s", (int)(end - start + 1), s + start);
    return true;
}

/* Stream `text` char by char, close a thought whenever a marker paragraph appears, judge it with
 * the fake verifier, apply the rules; returns the 1-based thought at which an event fired (0: none). */
static int run_script(const char *text, const pd_trimr_rules *r, pd_trimr_event *ev) {
    pd_trimr_state st;
    assert_int_equal(pd_trimr_state_init(&st, r), PD_OK);
    long handled = 0;
    char prev[32] = "", cur[32];
    bool have_prev = false;
    int fired = 0;
    *ev = PD_TRIMR_NONE;
    size_t n = strlen(text);
    for (size_t i = 1; i <= n && !fired; i++) {
        long p = pd_trimr_marker_at(text, i, MK);
        if (p <= handled) continue;
        bool exists = last_number(text + handled, (size_t)(p - handled), cur);
        bool same = exists && have_prev && !strcmp(prev, cur);
        pd_trimr_event e = pd_trimr_thought(&st, r, exists, same, (int)i);
        if (exists) { strcpy(prev, cur); have_prev = true; }
        handled = p;
        if (e != PD_TRIMR_NONE) { *ev = e; fired = st.n_thoughts; }
    }
    pd_trimr_state_free(&st);
    return fired;
}

static void test_overthinking_rule(void **st) {
    (void)st;
    pd_trimr_rules r = pd_trimr_rules_defaults();
    pd_trimr_event e;
    /* 204 three times in a row: fires when the third concluded thought is judged, not before */
    const char *s = "so the answer is 204.\n\nWait, let me recompute: 12*17 = 204.\n\nBut is it right? 204 is correct."
                    "\n\nHmm, one more check of 204.\n\nWait";
    assert_int_equal(run_script(s, &r, &e), 3);
    assert_int_equal(e, PD_TRIMR_OVER);
    /* a thought without an answer between them does not reset the count */
    const char *s2 = "answer 204.\n\nWait, hmm, let me think about the carry.\n\nBut 204.\n\nWait, 204.\n\nBut";
    assert_int_equal(run_script(s2, &r, &e), 4);
    assert_int_equal(e, PD_TRIMR_OVER);
    /* a different answer resets: 204, 204, 205, 205, 205 → fires at the fifth */
    const char *s3 = "204.\n\nWait 204.\n\nWait 205.\n\nWait 205.\n\nWait 205.\n\nWait";
    assert_int_equal(run_script(s3, &r, &e), 5);
    /* M = 1 (k = 2): two in a row suffice */
    r.M = 1;
    assert_int_equal(run_script(s3, &r, &e), 2);
    /* M = 0 (k = 1): the first concluded answer suffices; a thought without one does not */
    r.M = 0;
    assert_int_equal(run_script(s3, &r, &e), 1);
    assert_int_equal(run_script("let me think.\n\nWait, 204.\n\nWait", &r, &e), 2);
    assert_int_equal(e, PD_TRIMR_OVER);
    /* a paragraph that starts with no marker does not end a thought */
    r.M = 2;
    const char *s4 = "204.\n\nSo 204.\n\nThus 204.\n\nWait 204.\n\nWait 204.\n\nWait";
    assert_int_equal(run_script(s4, &r, &e), 3);
}

static void test_underthinking_rules(void **st) {
    (void)st;
    pd_trimr_rules r = pd_trimr_rules_defaults();
    r.n_thres = 10;
    pd_buf b = {0};
    for (int i = 0; i < 14; i++) {
        char t[64];
        snprintf(t, sizeof t, "%sthe answer is %d.\n\n", i ? "Wait, " : "", i % 2 ? 23 : 17);
        pd_buf_append(&b, t, strlen(t));
    }
    pd_buf_append(&b, "Wait", 4);
    pd_trimr_event e;
    assert_int_equal(run_script(b.data, &r, &e), 10);   /* alternating 17/23: at N_thres exactly */
    assert_int_equal(e, PD_TRIMR_UNDER);
    pd_buf_free(&b);
    /* budget share: 100-token budget, r = 0.5 → fires at 50 tokens, not at 49; never after convergence */
    r = pd_trimr_rules_defaults();
    r.budget = 100;
    pd_trimr_state s;
    assert_int_equal(pd_trimr_state_init(&s, &r), PD_OK);
    assert_int_equal(pd_trimr_tokens(&s, &r, 49), PD_TRIMR_NONE);
    assert_int_equal(pd_trimr_tokens(&s, &r, 50), PD_TRIMR_UNDER);
    assert_int_equal(pd_trimr_thought(&s, &r, true, false, 10), PD_TRIMR_NONE);
    assert_int_equal(pd_trimr_thought(&s, &r, true, true, 11), PD_TRIMR_NONE);
    assert_int_equal(pd_trimr_thought(&s, &r, true, true, 12), PD_TRIMR_OVER);
    assert_int_equal(pd_trimr_tokens(&s, &r, 90), PD_TRIMR_NONE);
    pd_trimr_state_free(&s);
    /* without a budget the share rule is off */
    r.budget = 0;
    assert_int_equal(pd_trimr_state_init(&s, &r), PD_OK);
    assert_int_equal(pd_trimr_tokens(&s, &r, 1 << 20), PD_TRIMR_NONE);
    pd_trimr_state_free(&s);
}

static void test_repetition_rule(void **st) {
    (void)st;
    pd_trimr_rules r = pd_trimr_rules_defaults();
    r.rep_n = 8;
    r.rep_count = 3;
    r.rep_window = 64;
    pd_trimr_state s;
    assert_int_equal(pd_trimr_state_init(&s, &r), PD_OK);
    /* period-5 loop: the 8-gram ending at token t equals the one at t-5 once t-5 >= 8; three equal
     * ones first at t = 18 */
    for (int t = 1; t <= 18; t++) {
        pd_trimr_event e = pd_trimr_push(&s, &r, 100 + (t - 1) % 5);
        assert_int_equal(e, t == 18 ? PD_TRIMR_REPEAT : PD_TRIMR_NONE);
    }
    pd_trimr_state_free(&s);
    /* no repeat in 500 distinct tokens */
    assert_int_equal(pd_trimr_state_init(&s, &r), PD_OK);
    for (int t = 0; t < 500; t++) assert_int_equal(pd_trimr_push(&s, &r, t), PD_TRIMR_NONE);
    pd_trimr_state_free(&s);
    /* a repeat that falls out of the window does not count: period 40 with a 64-token window sees
     * at most two copies (t and t-40) */
    assert_int_equal(pd_trimr_state_init(&s, &r), PD_OK);
    for (int t = 0; t < 400; t++) assert_int_equal(pd_trimr_push(&s, &r, t % 40), PD_TRIMR_NONE);
    pd_trimr_state_free(&s);
}

static void test_segmentation_helpers(void **st) {
    (void)st;
    const char *t = "first.\n\nWait";
    assert_int_equal(pd_trimr_marker_at(t, strlen(t), MK), 8);
    assert_int_equal(pd_trimr_marker_at(t, strlen(t) - 1, MK), -1);   /* "Wai" */
    assert_int_equal(pd_trimr_marker_at("a\n\nSo", 5, MK), -1);
    assert_int_equal(pd_trimr_marker_at("no blank line Wait", 18, MK), -1);
    assert_int_equal(pd_trimr_marker_at("x\n\n\nLet me verify that", 22, MK), 4);
    char *s = pd_trimr_last_sentences("One. Two is 3. Three is 4.\n", 27, 2);
    assert_string_equal(s, "Two is 3. Three is 4.");
    free(s);
    s = pd_trimr_last_sentences("line a\nline b\nline c", 20, 1);
    assert_string_equal(s, "line c");
    free(s);
    s = pd_trimr_last_sentences("only", 4, 3);
    assert_string_equal(s, "only");
    free(s);
}

/* ---- trimr-probe on a model that thinks a script ---- */
static pd_model *model;
static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    model = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    return model ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(model); return 0; }

typedef struct { int32_t *ids; int n, i; } script_t;
static void sc_logits(void *ctx, const pd_seq_state *s, float *logits) {
    script_t *c = ctx;
    if (s->phase != PD_PHASE_THINKING || c->i >= c->n) return;
    for (int v = 0; v < s->n_vocab; v++) if (v != c->ids[c->i]) logits[v] = -INFINITY;
    c->i++;
}
static int n_extract;
static bool agree;
static char *fake_extract(void *ctx, const char *a, size_t n) {
    (void)ctx; (void)a; (void)n;
    char buf[16];
    snprintf(buf, sizeof buf, "%d", agree ? 47 : n_extract);
    n_extract++;
    return pd_strdup(buf);
}

static const pd_gen_result *run_probe(bool agree_, pd_gen **gp, pd_reason_hub **hp, int *id) {
    agree = agree_;
    n_extract = 0;
    const char *script = "We add 12 and 35 to get 47.\n\nWait, check the ones: 2+5=7, so 47.\n\nWait, tens: 1+3=4, so 47."
                         "\n\nWait, once more, 47.\n\nWait, and again 47.\n\nWait, and again 47.\n\nWait, fine.\n\n";
    script_t sc = {0};
    assert_int_equal(pd_reason_tokens(model->tok, script, &sc.ids, &sc.n), PD_OK);
    pd_gen_params gp0 = pd_gen_defaults();
    gp0.n_seq_max = 8;
    gp0.n_ctx = 512;
    pd_gen *g = pd_gen_new(model, &gp0);
    assert_non_null(g);
    pd_reason_hub *h = pd_reason_hub_new();
    pd_reason_spec *spec;
    assert_int_equal(pd_reason_parse("trimr-probe:k=3,answer=4", &spec), PD_OK);
    pd_reason_env env = {.tok = model->tok, .extract = fake_extract, .hub = h};
    pd_policy pols[2] = {{.name = "script", .ctx = &sc, .on_logits = sc_logits}};
    assert_int_equal(pd_reason_make(spec, &env, &pols[1]), PD_OK);
    pd_reason_spec_free(spec);
    pd_policy chain;
    assert_int_equal(pd_reason_chain(pols, 2, &chain), PD_OK);
    int32_t *prompt;
    int np;
    assert_int_equal(pd_reason_tokens(model->tok, "<|im_start|>user\nWhat is 12+35?<|im_end|>\n<|im_start|>assistant\n<think>\n", &prompt, &np), PD_OK);
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = sc.n + 20;
    p.policies = &chain;
    p.n_policies = 1;
    *id = pd_gen_add(g, prompt, np, &p);
    assert_true(*id >= 0);
    while (pd_gen_n_active(g)) assert_int_equal(pd_reason_hub_step(h, g), PD_OK);
    free(prompt);
    free(sc.ids);
    *gp = g;
    *hp = h;
    return pd_gen_get_result(g, *id);
}

static int count(const char *hay, const char *needle) {
    int c = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) c++;
    return c;
}

static void test_probe_end_to_end(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_gen *g;
    pd_reason_hub *h;
    int id;
    int32_t close = pd_tok_find(model->tok, "</think>");
    /* every probe answers 47: the rule fires once the third thought is judged (at the third
     * "Wait" paragraph, plus the probes' latency of a few tokens) and "\n</think>\n\n" is injected */
    const pd_gen_result *r = run_probe(true, &g, &h, &id);
    int waits = count(r->thinking, "Wait");
    assert_true(waits >= 3 && waits < 6);          /* before the script's sixth thought */
    int closers = 0;
    for (int i = r->n_prompt; i < r->n_tokens; i++) closers += r->tokens[i] == close;
    assert_int_equal(closers, 1);
    assert_true(r->n_answer > 0);
    assert_true(n_extract >= 3);
    long probe_tok, ver_tok, reqs;
    pd_reason_hub_cost(h, &probe_tok, &ver_tok, &reqs);
    assert_int_equal(reqs, waits);                 /* one probe per judged thought */
    assert_true(probe_tok > 0 && ver_tok == 0);
    pd_gen_remove(g, id);
    assert_int_equal(pd_gen_n_free(g), 8);          /* the probes were removed */
    pd_reason_hub_free(h);
    pd_gen_free(g);
    /* probes never agree: the whole script is thought, thinking never closed by the policy */
    r = run_probe(false, &g, &h, &id);
    assert_int_equal(count(r->thinking, "Wait"), 6);
    closers = 0;
    for (int i = r->n_prompt; i < r->n_tokens; i++) closers += r->tokens[i] == close;
    assert_int_equal(closers, 0);
    pd_gen_free(g);   /* the policies cancel their requests on release: the gen goes before the hub */
    pd_reason_hub_free(h);
}

/* trimr (verifier = the model itself) quotes the question it is given in every verifier prompt:
 * the observer sees each ask's tokens; p1 for the first thought reads, by the spec's wording,
 * "Question: <q>\nReasoning excerpt: <last 2 sentences>\nDoes the excerpt state ...". The eval CLI
 * passes each item's prompt as the question (cli/cmd_eval.c seqp); before, it passed none. */
typedef struct { char *text[64]; int n; } asks_t;
static void on_observe(void *ctx, int m, const int32_t *ids, int n) {
    asks_t *a = ctx;
    assert_int_equal(m, 0);
    if (a->n < 64) a->text[a->n++] = pd_detokenize(model->tok, ids, (size_t)n, NULL);
}
static void test_verifier_prompt_has_question(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const char *script = "We add 12 and 35 to get 47.\n\nWait, check the ones: 2+5=7, so 47.\n\nWait, fine.\n\n";
    script_t sc = {0};
    assert_int_equal(pd_reason_tokens(model->tok, script, &sc.ids, &sc.n), PD_OK);
    pd_gen_params gp0 = pd_gen_defaults();
    gp0.n_seq_max = 4;
    gp0.n_ctx = 512;
    pd_gen *g = pd_gen_new(model, &gp0);
    assert_non_null(g);
    pd_reason_hub *h = pd_reason_hub_new();
    asks_t asks = {0};
    pd_reason_hub_observe(h, on_observe, &asks);
    pd_reason_spec *spec;
    assert_int_equal(pd_reason_parse("trimr:verifier=self", &spec), PD_OK);
    pd_reason_env env = {.tok = model->tok, .hub = h, .question = "What is 12+35?", .model2 = 0};
    pd_policy pols[2] = {{.name = "script", .ctx = &sc, .on_logits = sc_logits}};
    assert_int_equal(pd_reason_make(spec, &env, &pols[1]), PD_OK);
    pd_reason_spec_free(spec);
    pd_policy chain;
    assert_int_equal(pd_reason_chain(pols, 2, &chain), PD_OK);
    int32_t *prompt;
    int np;
    assert_int_equal(pd_reason_tokens(model->tok, "<|im_start|>user\nWhat is 12+35?<|im_end|>\n<|im_start|>assistant\n<think>\n", &prompt, &np), PD_OK);
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = sc.n + 4;
    p.policies = &chain;
    p.n_policies = 1;
    assert_true(pd_gen_add(g, prompt, np, &p) >= 0);
    while (pd_gen_n_active(g) || pd_reason_hub_pending(h)) assert_int_equal(pd_reason_hub_step(h, g), PD_OK);
    /* two thoughts closed by "\n\nWait": at least their two p1 asks */
    assert_true(asks.n >= 2);
    const char *want = "Question: What is 12+35?\nReasoning excerpt: We add 12 and 35 to get 47.";
    assert_non_null(asks.text[0]);
    assert_int_equal(strncmp(asks.text[0], want, strlen(want)), 0);
    for (int i = 0; i < asks.n; i++) {
        assert_non_null(asks.text[i]);
        assert_int_equal(strncmp(asks.text[i], "Question: What is 12+35?\n", 25), 0);
        free(asks.text[i]);
    }
    free(prompt);
    free(sc.ids);
    pd_gen_free(g);
    pd_reason_hub_free(h);
}

/* A hub ask is one prefill read as logit(yes) - logit(no): equal to the difference of the two
 * log-probs pd_gen_score gives for the same prompt (same normaliser), here on a second model slot
 * holding the same file, while another sequence decodes in the same batches. */
static float ask_diff;
static int ask_calls;
static void on_ask(void *owner, int req, const pd_gen_result *r, float d) {
    (void)owner; (void)req; (void)r;
    ask_diff = d;
    ask_calls++;
}

static void test_hub_ask(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m2 = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    assert_non_null(m2);
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 3;
    gp.n_ctx = 256;
    gp.kv_type = PD_TYPE_F32;
    pd_gen *g = pd_gen_new(model, &gp);
    assert_int_equal(pd_gen_add_model(g, m2), 1);
    int32_t *q, *yes, *no, *other;
    int nq, ny, nn, no_;
    assert_int_equal(pd_reason_tokens(model->tok, "Question: 2+2?\nAnswer A: 4\nAnswer B: four\nSame? Answer Yes or No.\nAnswer:", &q, &nq), PD_OK);
    assert_int_equal(pd_reason_tokens(model->tok, " Yes", &yes, &ny), PD_OK);
    assert_int_equal(pd_reason_tokens(model->tok, " No", &no, &nn), PD_OK);
    assert_int_equal(pd_reason_tokens(model->tok, "Once upon a time", &other, &no_), PD_OK);
    pd_seq_params p = pd_seq_defaults();
    p.max_tokens = 12;
    int busy = pd_gen_add(g, other, no_, &p);   /* decodes alongside the ask */
    assert_true(busy >= 0);
    pd_reason_hub *h = pd_reason_hub_new();
    int owner;
    ask_calls = 0;
    assert_true(pd_reason_hub_ask(h, &owner, 1, q, nq, yes[0], no[0], on_ask) >= 0);
    assert_int_equal(pd_reason_hub_pending(h), 1);
    while (pd_gen_n_active(g) || pd_reason_hub_pending(h)) assert_int_equal(pd_reason_hub_step(h, g), PD_OK);
    assert_int_equal(ask_calls, 1);
    assert_int_equal(pd_gen_get_result(g, busy)->n_tokens - no_, 12);
    float ly, ln;
    assert_int_equal(pd_gen_score(g, 1, q, nq, yes, 1, &ly), PD_OK);
    assert_int_equal(pd_gen_score(g, 1, q, nq, no, 1, &ln), PD_OK);
    assert_true(fabsf(ask_diff - (ly - ln)) < 1e-3f);
    long pt, vt, rq;
    pd_reason_hub_cost(h, &pt, &vt, &rq);
    assert_true(pt == 0 && vt == nq && rq == 1);
    pd_gen_free(g);
    pd_reason_hub_free(h);
    pd_model_free(m2);
    free(q); free(yes); free(no); free(other);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overthinking_rule),
        cmocka_unit_test(test_underthinking_rules),
        cmocka_unit_test(test_repetition_rule),
        cmocka_unit_test(test_segmentation_helpers),
        cmocka_unit_test(test_probe_end_to_end),
        cmocka_unit_test(test_hub_ask),
        cmocka_unit_test(test_verifier_prompt_has_question),
    };
    return pd_run_tests(tests, setup, teardown);
}
