/* tests/reason/test_spec.c — speculative thinking: the keyword sentiment (table), the recap
 * schedule, and the hand-over on two fixture models of one vocabulary (tiny-qwen3 small, tiny-qwen2
 * large): the small model is made to think a script; after "\n\nWait, ..." the large model must
 * take over for exactly `target` tokens, each equal to the large model's own greedy choice for the
 * text so far (a manual replay, one fresh sequence per token), then hand back. */
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
#include "ponder/spec.h"

static void test_sentiment(void **st) {
    (void)st;
    static const struct { const char *t; int s; } tab[] = {
        {"", 0}, {"so 4 plus 3", 0}, {"Wait, no", -1}, {"YES that is it", 1}, {"yes, but wait", -1},   /* tie: -1 */
        {"yeah yes wait", 1}, {"Alternatively, hold on", -1}, {"Let me CHECK", -1}, {"final answer: 7, confident", 1},
        {"another yes yes", 1}, {"think again, recap", -1},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        assert_int_equal(pd_spec_sentiment(tab[i].t, strlen(tab[i].t)), tab[i].s);
    assert_true(pd_spec_has_verify("Let me Verify", 13));
    assert_false(pd_spec_has_verify("wait", 4));
}

static void test_schedule(void **st) {
    (void)st;
    int recap = 125, lim = 15;
    const int want_r[] = {150, 175, 200, 200}, want_l[] = {20, 25, 30, 30};
    for (int i = 0; i < 4; i++) {
        pd_spec_after_recap(&recap, &lim);
        assert_int_equal(recap, want_r[i]);
        assert_int_equal(lim, want_l[i]);
    }
}

static pd_model *small, *large;
static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    small = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    large = pd_model_load(PD_FIXTURES "models/tiny-qwen2.gguf");
    return small && large ? 0 : -1;
}
static int teardown(void **st) { (void)st; pd_model_free(small); pd_model_free(large); return 0; }

/* the small model thinks the script (only while it samples) */
typedef struct { int32_t *ids; int n, i; } script_t;
static void sc_logits(void *ctx, const pd_seq_state *s, float *logits) {
    script_t *c = ctx;
    if (s->model != 0 || c->i >= c->n) return;
    for (int v = 0; v < s->n_vocab; v++) if (v != c->ids[c->i]) logits[v] = -INFINITY;
    c->i++;
}

static int32_t greedy_next(const pd_model *m, const int32_t *prefix, int n) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = 256;
    gp.kv_type = PD_TYPE_F32;
    pd_gen *g = pd_gen_new(m, &gp);
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = 1;
    int id = pd_gen_add(g, prefix, n, &p);
    assert_true(id >= 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    int32_t t = r->tokens[r->n_tokens - 1];
    pd_gen_free(g);
    return t;
}

static void test_handover_replay(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const char *script = "First, 12 plus 35 is 47.\n\nWait, let me redo the tens digit carefully now.";
    script_t sc = {0};
    assert_int_equal(pd_reason_tokens(small->tok, script, &sc.ids, &sc.n), PD_OK);
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = 256;
    gp.kv_type = PD_TYPE_F32;
    pd_gen *g = pd_gen_new(small, &gp);
    assert_non_null(g);
    assert_int_equal(pd_gen_add_model(g, large), 1);
    pd_spec_params sp = pd_spec_defaults();
    sp.probe = 3;
    sp.target = 6;
    pd_spec_event ev[8];
    int n_ev = 0;
    pd_policy pols[2] = {{.name = "script", .ctx = &sc, .on_logits = sc_logits}};
    assert_int_equal(pd_spec_policy(small->tok, &sp, ev, 8, &n_ev, &pols[1]), PD_OK);
    pd_policy chain;
    assert_int_equal(pd_reason_chain(pols, 2, &chain), PD_OK);
    int32_t *prompt;
    int np;
    assert_int_equal(pd_reason_tokens(small->tok, "<|im_start|>user\nWhat is 12+35?<|im_end|>\n<|im_start|>assistant\n<think>\n",
                                      &prompt, &np), PD_OK);
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = sc.n + sp.target + 4;
    p.policies = &chain;
    p.n_policies = 1;
    int id = pd_gen_add(g, prompt, np, &p);
    assert_true(id >= 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    /* where the paragraph "Wait, ..." starts, in tokens: after "...47.\n\n" */
    int32_t *head;
    int nh;
    assert_int_equal(pd_reason_tokens(small->tok, "First, 12 plus 35 is 47.\n\n", &head, &nh), PD_OK);
    assert_memory_equal(sc.ids, head, (size_t)nh * sizeof(int32_t));   /* the script tokenises the same way */
    /* one hand-over to the large model after the small model's first `probe` tokens of the
     * paragraph, one back after `target` tokens */
    assert_int_equal(n_ev, 2);
    assert_int_equal(ev[0].model, 1);
    assert_int_equal(ev[0].pos, np + nh + sp.probe);
    assert_int_equal(ev[1].model, 0);
    assert_int_equal(ev[1].pos, ev[0].pos + sp.target);
    /* the small model's tokens are the script's; the large span is the large model's greedy text */
    assert_memory_equal(r->tokens + np, sc.ids, (size_t)(nh + sp.probe) * sizeof(int32_t));
    for (int i = ev[0].pos; i < ev[1].pos; i++) assert_int_equal(r->tokens[i], greedy_next(large, r->tokens, i));
    /* afterwards the small model resumes the script where it paused */
    assert_int_equal(r->tokens[ev[1].pos], sc.ids[nh + sp.probe]);
    free(head);
    free(prompt);
    free(sc.ids);
    pd_gen_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sentiment),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_handover_replay),
    };
    return pd_run_tests(tests, setup, teardown);
}
