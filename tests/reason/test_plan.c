/* tests/reason/test_plan.c — plan-first interleaving on tiny-qwen3 made to sample a script: the
 * generated tokens must be exactly the script with the policy's texts injected where the rules say
 * (thinking cut at `think` tokens + plan header; plan ended at its blank line or at `plan` tokens;
 * thinking re-opened; "\n\n" after the model's own closer; the last segment left alone), the event
 * log must name those positions, and the plan's text must reach the stream before the model samples
 * the first token of the thinking block that follows it. */
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
#include "ponder/plan.h"
#include "ponder/reason.h"

static pd_model *m;
static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    m = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    return m ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(m); return 0; }

typedef struct { int32_t *ids; int n, i; } script_t;
static void sc_logits(void *ctx, const pd_seq_state *s, float *logits) {
    script_t *c = ctx;
    if (c->i >= c->n) return;
    for (int v = 0; v < s->n_vocab; v++) if (v != c->ids[c->i]) logits[v] = -INFINITY;
    c->i++;
}

typedef struct { int32_t *v; int n; } toks;
static toks T(const char *text) {
    toks t = {0};
    assert_int_equal(pd_reason_tokens(m->tok, text, &t.v, &t.n), PD_OK);
    return t;
}
static toks one(int32_t t) {
    toks o = {malloc(sizeof(int32_t)), 1};
    o.v[0] = t;
    return o;
}
static void show(const char *what, toks t) {
    printf("  %s:", what);
    for (int i = 0; i < t.n; i++) {
        size_t n = 0;
        char *buf = pd_detokenize(m->tok, &t.v[i], 1, &n);
        for (size_t k = 0; buf && k < n; k++) if (buf[k] == '\n') buf[k] = '~';
        printf(" [%.*s]", (int)n, buf ? buf : "?");
        free(buf);
    }
    printf("\n");
}
static int count_of(const char *text) {
    toks t = T(text);
    free(t.v);
    return t.n;
}
static void cat(toks *a, toks b) {
    a->v = realloc(a->v, sizeof(int32_t) * (size_t)(a->n + b.n + 1));
    memcpy(a->v + a->n, b.v, sizeof(int32_t) * (size_t)b.n);
    a->n += b.n;
    free(b.v);
}

/* streamed answer text, and how many tokens had been sampled when each piece arrived */
typedef struct { char text[1024]; int at[1024]; size_t len; int sampled; } stream_t;
static void on_stream(void *ctx, int seq, pd_phase ph, const char *t, size_t n) {
    (void)seq;
    stream_t *s = ctx;
    if (ph != PD_PHASE_ANSWER) return;
    for (size_t i = 0; i < n && s->len < sizeof s->text - 1; i++) {
        s->at[s->len] = s->sampled;
        s->text[s->len++] = t[i];
    }
}
static void on_tok(void *ctx, int seq, const pd_sample *x, pd_phase ph) {
    (void)seq; (void)x; (void)ph;
    ((stream_t *)ctx)->sampled++;
}

/* run `prompt` with the script and plan-first params; returns the generated tokens (after the prompt) */
static toks run(const char *prompt, toks script, const pd_plan_params *pp, int max_tokens, pd_plan_event *ev, int *n_ev,
                stream_t *so, char **answer) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = 256;
    gp.kv_type = PD_TYPE_F32;
    pd_gen *g = pd_gen_new(m, &gp);
    assert_non_null(g);
    pd_gen_set_stream(g, on_stream, so);
    pd_gen_set_token_callback(g, on_tok, so);
    script_t sc = {script.v, script.n, 0};
    pd_policy pols[2] = {{.name = "script", .ctx = &sc, .on_logits = sc_logits}};
    assert_int_equal(pd_plan_policy(m->tok, pp, ev, 16, n_ev, &pols[1]), PD_OK);
    pd_policy chain;
    assert_int_equal(pd_reason_chain(pols, 2, &chain), PD_OK);
    toks pr = T(prompt);
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = max_tokens;
    p.ignore_eog = true;
    p.policies = &chain;
    p.n_policies = 1;
    int id = pd_gen_add(g, pr.v, pr.n, &p);
    assert_true(id >= 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    toks out = {malloc(sizeof(int32_t) * (size_t)(r->n_tokens - pr.n + 1)), r->n_tokens - pr.n};
    memcpy(out.v, r->tokens + pr.n, sizeof(int32_t) * (size_t)out.n);
    *answer = pd_strdup(r->answer);
    free(pr.v);
    pd_gen_free(g);
    return out;
}

static const char *PROMPT = "<|im_start|>user\nWhat is 12+35?<|im_end|>\n<|im_start|>assistant\n<think>\n";

/* think cut at |A|, the plan ends at its blank line, the model closes its second block itself */
static void test_plan_then_segment(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    toks A = T("First I add the ones and then the tens"), B = T("Step 1: add ones. Step 2: add tens.\n\n"),
         C = T("Ones 7, tens 4"), D = T("The answer is 47.");
    int32_t close = pd_tok_find(m->tok, "</think>");
    assert_true(close >= 0);
    toks script = {0};
    int nA = A.n, nB = B.n, nC = C.n + 1;
    toks a2 = T("First I add the ones and then the tens"), b2 = T("Step 1: add ones. Step 2: add tens.\n\n");
    cat(&script, a2);
    cat(&script, b2);
    cat(&script, T("Ones 7, tens 4"));
    cat(&script, one(close));
    cat(&script, T("The answer is 47."));
    /* expected: A + "\n</think>" + "\n\nPlan:\n" + B + "<think>\n" + C + </think> + "\n\n" + D */
    toks close_nl = T("\n</think>"), inj1 = T("\n\nPlan:\n"), reopen = T("<think>\n"), nl2 = T("\n\n");
    int n_close = close_nl.n, n_inj1 = inj1.n, n_reopen = reopen.n;
    toks want = {0};
    cat(&want, A);
    cat(&want, close_nl);
    cat(&want, inj1);
    cat(&want, B);
    cat(&want, reopen);
    cat(&want, C);
    cat(&want, one(close));
    cat(&want, nl2);
    cat(&want, D);
    pd_plan_params pp = pd_plan_defaults();
    pp.think = nA;
    pd_plan_event ev[16];
    int n_ev = 0;
    stream_t so = {0};
    char *answer;
    toks got = run(PROMPT, script, &pp, want.n, ev, &n_ev, &so, &answer);
    if (got.n != want.n || memcmp(got.v, want.v, sizeof(int32_t) * (size_t)want.n)) { show("got", got); show("want", want); }
    assert_int_equal(got.n, want.n);
    assert_memory_equal(got.v, want.v, sizeof(int32_t) * (size_t)want.n);
    toks pr = T(PROMPT);
    int np = pr.n;
    free(pr.v);
    /* events: thinking from the prompt, the plan after "\n</think>", its end and the next thinking
     * after B, the segment right after the model's own closer */
    assert_int_equal(n_ev, 5);
    assert_int_equal(ev[0].kind, PD_PLAN_THINK);
    assert_int_equal(ev[0].pos, np);
    assert_int_equal(ev[1].kind, PD_PLAN_PLAN);
    assert_int_equal(ev[1].pos, np + nA + n_close);
    assert_int_equal(ev[2].kind, PD_PLAN_END_OF_BLOCK);
    assert_int_equal(ev[2].pos, np + nA + n_close + n_inj1 + nB);
    assert_int_equal(ev[3].kind, PD_PLAN_THINK);
    assert_int_equal(ev[3].pos, ev[2].pos);
    assert_int_equal(ev[4].kind, PD_PLAN_SEGMENT);
    assert_int_equal(ev[4].pos, ev[2].pos + n_reopen + nC);
    assert_true(ev[1].t >= ev[0].t && ev[4].t >= ev[1].t);
    /* visible text: plan then segment; the thinking stays out of it */
    assert_non_null(strstr(answer, "Plan:\nStep 1: add ones. Step 2: add tens.\n\n"));
    assert_non_null(strstr(answer, "The answer is 47."));
    assert_null(strstr(answer, "Ones 7"));
    assert_null(strstr(answer, "First I add"));
    /* the plan was streamed before the model sampled anything of the next thinking block */
    const char *pl = strstr(so.text, "Step 2: add tens.");
    assert_non_null(pl);
    size_t last = (size_t)(pl - so.text) + strlen("Step 2: add tens.") - 1;
    assert_true(so.at[last] <= nA + nB);
    free(answer); free(got.v); free(want.v); free(script.v);
}

/* the plan budget cuts it ("\n\n<think>\n"); a sequence that starts outside thinking gets the plan first */
static void test_budget_and_no_thinking(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    int32_t close = pd_tok_find(m->tok, "</think>");
    toks B = T("Step 1: add the ones, then the tens, then check"), C = T("Ones 7");
    int nC = C.n;
    toks script = {0};
    B.n = 4;   /* the model writes 4 plan tokens, then thinks */
    cat(&script, B);
    cat(&script, C);
    cat(&script, one(close));
    cat(&script, T("47"));
    pd_plan_params pp = pd_plan_defaults();
    pp.plan = 4;
    toks B4 = T("Step 1: add the ones, then the tens, then check");
    B4.n = 4;
    toks want = {0};
    cat(&want, T("Plan:\n"));
    cat(&want, B4);
    toks endr = T("\n\n<think>\n"), nl2 = T("\n\n");
    int n_endr = endr.n, n_nl = count_of("\n\n");
    cat(&want, endr);
    cat(&want, T("Ones 7"));
    cat(&want, one(close));
    cat(&want, nl2);
    cat(&want, T("47"));
    pd_plan_event ev[16];
    int n_ev = 0;
    stream_t so = {0};
    char *answer;
    const char *prompt = "<|im_start|>user\nWhat is 12+35?<|im_end|>\n<|im_start|>assistant\n";
    toks got = run(prompt, script, &pp, want.n, ev, &n_ev, &so, &answer);
    if (got.n != want.n || memcmp(got.v, want.v, sizeof(int32_t) * (size_t)want.n)) { show("got", got); show("want", want); }
    assert_int_equal(got.n, want.n);
    assert_memory_equal(got.v, want.v, sizeof(int32_t) * (size_t)want.n);
    toks pr = T(prompt);
    int np = pr.n, nh = count_of("Plan:\n");
    free(pr.v);
    assert_int_equal(n_ev, 4);
    assert_int_equal(ev[0].kind, PD_PLAN_PLAN);
    assert_int_equal(ev[0].pos, np);
    assert_int_equal(ev[1].kind, PD_PLAN_END_OF_BLOCK);
    assert_int_equal(ev[1].pos, np + nh + 4 + n_nl);   /* after the injected "\n\n" */
    assert_int_equal(ev[2].kind, PD_PLAN_THINK);
    assert_int_equal(ev[3].kind, PD_PLAN_SEGMENT);
    assert_int_equal(ev[3].pos, np + nh + 4 + n_endr + nC + 1);
    assert_non_null(strstr(answer, "47"));
    free(answer); free(got.v); free(want.v); free(script.v);
}

static void test_registry(void **st) {
    (void)st;
    pd_reason_spec *s;
    assert_int_equal(pd_reason_parse("plan-first:think=32,segments=3,header=Outline:\\n", &s), PD_OK);
    assert_int_equal(pd_reason_int(s, "think"), 32);
    assert_int_equal(pd_reason_int(s, "segments"), 3);
    assert_string_equal(pd_reason_str(s, "header"), "Outline:\n");
    assert_int_equal(pd_reason_int(s, "plan"), 128);
    pd_reason_spec_free(s);
    assert_int_not_equal(pd_reason_parse("plan-first:segments=0", &s), PD_OK);
    pd_plan_params p = pd_plan_defaults();
    p.plan = 0;
    pd_policy pol;
    assert_int_not_equal(pd_plan_policy(NULL, &p, NULL, 0, NULL, &pol), PD_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_then_segment),
        cmocka_unit_test(test_budget_and_no_thinking),
        cmocka_unit_test(test_registry),
    };
    return pd_run_tests(tests, setup, teardown);
}
