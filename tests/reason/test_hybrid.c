/* tests/reason/test_hybrid.c — hybrid base + thinking decoding (ponder/hybrid.h) on tiny-llama.
 * The thinking model is a second load of the same file; to make it disagree with the base it carries
 * its own steer (a random vector at every position of its sequence 0). Truths are computed here
 * independently of the loop: greedy decoding by fresh full-prefix forwards, and at each
 * disagreement the candidates built by hand with the steer API (prefix unsteered, last token fed
 * again with c·v from its position) and the winner picked by the thinking model's log-softmax. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/hybrid.h"
#include "ponder/rng.h"
#include "ponder/steer.h"

enum { TEST_RNG_STREAM = 0x68796272u /* "hybr": test vectors */ };
enum { NP = 6, NGEN = 12 };
static const int32_t PROMPT[NP] = {1, 894, 29901, 825, 338, 29871};

static pd_model *base, *think;
static pd_steer *live[2];   /* hooks attached by the running case (detached by the next one if it failed) */

static void unhook(void) {
    for (int i = 0; i < 2; i++) pd_steer_detach(live[i]), live[i] = NULL;
}
static pd_steer *attach(pd_model *m, int slot) {
    pd_steer *s = pd_steer_attach(m);
    assert_non_null(s);
    return live[slot] = s;
}

static int setup(void **st) {
    (void)st;
    if (!pd_have_fixtures()) return 0;
    base = pd_model_load(PD_FIXTURES "models/tiny-llama.gguf");
    think = pd_model_load(PD_FIXTURES "models/tiny-llama.gguf");
    return base && think ? 0 : -1;
}
static int teardown(void **st) {
    (void)st;
    unhook();
    pd_model_free(base);
    pd_model_free(think);
    return 0;
}

static pd_cvec *random_cvec(uint64_t seed, float amp) {
    pd_cvec *c = pd_cvec_new(base->cfg.n_embd, base->cfg.n_layer, "llama");
    pd_rng r;
    pd_rng_seed(&r, pd_rng_derive(seed, TEST_RNG_STREAM));
    for (int l = 1; l < c->n_layer; l++)
        for (int i = 0; i < c->n_embd; i++) c->dir[(size_t)l * (size_t)c->n_embd + (size_t)i] = amp * (float)pd_rng_normal(&r);
    return c;
}

static int amax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* logits after the whole prefix, fresh cache; if cv: c·v added from position n-1 on (seq 0 of st) */
static void last_logits(const pd_model *m, pd_steer *st, const pd_cvec *cv, float c, const int32_t *t, int n, float *out) {
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 64, PD_TYPE_F32);
    assert_non_null(kv);
    if (cv) {
        if (n > 1) assert_int_equal(pd_model_eval(m, kv, 0, t, n - 1, false, out), PD_OK);
        assert_int_equal(pd_steer_set(st, 0, cv, c, NULL), PD_OK);
        pd_steer_fire(st, 0, true, n - 1);
        assert_int_equal(pd_model_eval(m, kv, 0, t + n - 1, 1, false, out), PD_OK);
        pd_steer_clear(st, 0);
    } else {
        assert_int_equal(pd_model_eval(m, kv, 0, t, n, false, out), PD_OK);
    }
    pd_kv_free(kv);
}

static double logsoftmax(const float *x, int n, int k) {
    double mx = x[amax(x, n)], s = 0;
    for (int i = 0; i < n; i++) s += exp(x[i] - mx);
    return x[k] - mx - log(s);
}

/* The thinking model disagrees with the base: its own steer, on at every position of seq 0. */
static void make_thinker(pd_cvec **tv) {
    pd_steer *ts = attach(think, 1);
    *tv = random_cvec(7, 0.1f);
    assert_int_equal(pd_steer_set(ts, 0, *tv, 1.0f, NULL), PD_OK);
    pd_steer_fire(ts, 0, true, 0);
}

static void base_greedy(int32_t *out) {
    int nv = base->cfg.n_vocab;
    float *lg = malloc(sizeof(float) * (size_t)nv);
    memcpy(out, PROMPT, sizeof PROMPT);
    for (int i = 0; i < NGEN; i++) {
        last_logits(base, NULL, NULL, 0, out, NP + i, lg);
        out[NP + i] = amax(lg, nv);
    }
    free(lg);
}

static void test_agreement_is_greedy(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    unhook();
    pd_steer *s = attach(base, 0);
    pd_cvec *v = random_cvec(1, 0.6f);
    float coefs[] = {0.5f, 1.0f};
    pd_hybrid_params p = {.cv = v, .coefs = coefs, .n_coefs = 2, .max_tokens = NGEN};
    pd_hybrid_result r;
    assert_int_equal(pd_hybrid_run(s, think, PROMPT, NP, &p, &r), PD_OK);   /* same weights: always agree */
    int32_t want[NP + NGEN];
    base_greedy(want);
    assert_int_equal(r.n_tokens, NP + NGEN);
    assert_int_equal(r.n_disagree, 0);
    assert_memory_equal(r.tokens, want, sizeof want);
    assert_int_equal(pd_steer_total_rows(s), 0);
    pd_hybrid_result_free(&r);
    pd_cvec_free(v);
    unhook();
}

static void test_disagreement_replay(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    unhook();
    int nv = base->cfg.n_vocab;
    pd_cvec *tv;
    make_thinker(&tv);
    pd_steer *s = attach(base, 0);
    pd_cvec *v = random_cvec(7, 0.1f);   /* the thinker's own vector: large c moves the base towards it */
    float coefs[] = {0.25f, 0.5f, 1.0f, 2.0f};
    pd_hybrid_params p = {.cv = v, .coefs = coefs, .n_coefs = 4, .max_tokens = NGEN};
    pd_hybrid_result r;
    assert_int_equal(pd_hybrid_run(s, think, PROMPT, NP, &p, &r), PD_OK);
    assert_int_equal(r.n_tokens, NP + NGEN);
    float *lb = malloc(sizeof(float) * (size_t)nv), *lt = malloc(sizeof(float) * (size_t)nv),
          *lc = malloc(sizeof(float) * (size_t)nv);
    int dis = 0, changed = 0, split = 0;
    for (int i = 0; i < NGEN; i++) {
        int n = NP + i;
        last_logits(base, NULL, NULL, 0, r.tokens, n, lb);
        pd_kv *kv = pd_kv_new(&think->cfg, 1, 64, PD_TYPE_F32);   /* the thinker (steered everywhere) */
        assert_int_equal(pd_model_eval(think, kv, 0, r.tokens, n, false, lt), PD_OK);
        pd_kv_free(kv);
        int b = amax(lb, nv), th = amax(lt, nv), want = b;
        if (b != th) {
            dis++;
            double best = -INFINITY;
            int first = -1;
            for (int c = 0; c < 4; c++) {
                last_logits(base, s, v, coefs[c], r.tokens, n, lc);
                int cand = amax(lc, nv);
                if (c == 0) first = cand;
                split |= cand != first;
                double lp = logsoftmax(lt, nv, cand);
                if (lp > best) best = lp, want = cand;
            }
            changed += want != b;
        }
        assert_int_equal(r.tokens[n], want);
    }
    assert_int_equal(r.n_disagree, dis);
    assert_int_equal(r.n_changed, changed);
    assert_true(dis > 0);        /* the case is exercised */
    assert_true(changed > 0);    /* and steering moved at least one token */
    assert_true(split);          /* the candidates differed: the pick by thinking log-prob decided */
    free(lb), free(lt), free(lc);
    pd_hybrid_result_free(&r);
    pd_cvec_free(v);
    unhook();
    pd_cvec_free(tv);
}

static void test_zero_vector_keeps_base(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    unhook();
    pd_cvec *tv;
    make_thinker(&tv);
    pd_steer *s = attach(base, 0);
    pd_cvec *z = pd_cvec_new(base->cfg.n_embd, base->cfg.n_layer, "llama");
    float coefs[] = {0.5f, 1.0f, 8.0f};
    pd_hybrid_params p = {.cv = z, .coefs = coefs, .n_coefs = 3, .max_tokens = NGEN};
    pd_hybrid_result r;
    assert_int_equal(pd_hybrid_run(s, think, PROMPT, NP, &p, &r), PD_OK);
    int32_t want[NP + NGEN];
    base_greedy(want);
    assert_true(r.n_disagree > 0);
    assert_int_equal(r.n_changed, 0);
    assert_memory_equal(r.tokens, want, sizeof want);
    pd_hybrid_result_free(&r);
    pd_cvec_free(z);
    unhook();
    pd_cvec_free(tv);
}

static void test_args(void **st) {
    (void)st;
    float c[4];
    int n;
    assert_int_equal(pd_hybrid_parse_coefs("0.5:1:2", c, 4, &n), PD_OK);
    assert_int_equal(n, 3);
    assert_true(c[0] == 0.5f && c[1] == 1.0f && c[2] == 2.0f);
    assert_int_not_equal(pd_hybrid_parse_coefs("0.5:x", c, 4, &n), PD_OK);
    assert_int_not_equal(pd_hybrid_parse_coefs("", c, 4, &n), PD_OK);
    assert_int_not_equal(pd_hybrid_parse_coefs("1:2:3:4:5", c, 4, &n), PD_OK);
    assert_int_not_equal(pd_hybrid_parse_coefs("1::2", c, 4, &n), PD_OK);
    PD_NEED_FIXTURES();
    unhook();
    pd_steer *s = attach(base, 0);
    pd_cvec *bad = pd_cvec_new(32, 2, "llama");   /* wrong n_embd */
    pd_hybrid_params p = {.cv = bad, .coefs = c, .n_coefs = 1, .max_tokens = 2};
    pd_hybrid_result r;
    assert_int_not_equal(pd_hybrid_run(s, think, PROMPT, NP, &p, &r), PD_OK);
    assert_null(r.tokens);
    p.n_coefs = 0;
    assert_int_not_equal(pd_hybrid_run(s, think, PROMPT, NP, &p, &r), PD_OK);
    pd_cvec_free(bad);
    unhook();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agreement_is_greedy), cmocka_unit_test(test_disagreement_replay),
        cmocka_unit_test(test_zero_vector_keeps_base), cmocka_unit_test(test_args),
    };
    return pd_run_tests(tests, setup, teardown);
}
