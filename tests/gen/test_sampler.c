/* tests/gen/test_sampler.c — the sampler against hand-computed distributions: softmax with
 * temperature, top-k, top-p, min-p, penalties (window included), greedy ties, logprobs, a brute-force
 * full sort for the large-vocabulary top-p path, empirical frequencies, and seed determinism. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/error.h"
#include "ponder/rng.h"
#include "ponder/sampler.h"

static const float L5[5] = {1, 2, 3, 0, -1};

/* softmax of x/t over the given ids only */
static void softmax_sub(const float *x, const int *ids, int n, float t, double *out) {
    double z = 0;
    for (int i = 0; i < n; i++) z += exp(x[ids[i]] / t);
    for (int i = 0; i < n; i++) out[i] = exp(x[ids[i]] / t) / z;
}

static void expect_dist(pd_sampler_params p, const float *logits, int V, const int *want_ids, int n_want, float t) {
    pd_sampler *s = pd_sampler_new(&p, V);
    assert_non_null(s);
    int32_t ids[64];
    float probs[64];
    int n = pd_sampler_dist(s, logits, ids, probs);
    assert_int_equal(n, n_want);
    double want[64];
    softmax_sub(logits, want_ids, n_want, t, want);
    for (int i = 0; i < n; i++) {
        assert_int_equal(ids[i], want_ids[i]);
        assert_true(fabs(probs[i] - want[i]) < 1e-6);
    }
    pd_sampler_free(s);
}

static void test_filters(void **st) {
    (void)st;
    pd_sampler_params p = pd_sampler_defaults();
    /* no filter: all tokens, id order */
    expect_dist(p, L5, 5, (int[]){0, 1, 2, 3, 4}, 5, 1.0f);
    p.temperature = 2.0f;
    expect_dist(p, L5, 5, (int[]){0, 1, 2, 3, 4}, 5, 2.0f);
    /* top-k 2 → {3, 2} in logit terms: ids 2, 1 */
    p = pd_sampler_defaults(); p.top_k = 2;
    expect_dist(p, L5, 5, (int[]){2, 1}, 2, 1.0f);
    /* softmax(L5) = [.0861 .2341 .6364 .0317 .0117]: top-p .7 keeps ids 2,1; .6 keeps 2; .95 keeps 2,1,0 */
    p = pd_sampler_defaults(); p.top_p = 0.7f;
    expect_dist(p, L5, 5, (int[]){2, 1}, 2, 1.0f);
    p.top_p = 0.6f;
    expect_dist(p, L5, 5, (int[]){2}, 1, 1.0f);
    p.top_p = 0.95f;
    expect_dist(p, L5, 5, (int[]){2, 1, 0}, 3, 1.0f);
    /* top-p after top-k: within {2,1} (.731, .269) p .7 keeps only id 2 */
    p.top_k = 2; p.top_p = 0.7f;
    expect_dist(p, L5, 5, (int[]){2}, 1, 1.0f);
    /* min-p .1: threshold .0636 keeps ids 2,1,0; min-p .4 (threshold .2546) keeps only 2 */
    p = pd_sampler_defaults(); p.min_p = 0.1f;
    expect_dist(p, L5, 5, (int[]){0, 1, 2}, 3, 1.0f);
    p.min_p = 0.4f;
    expect_dist(p, L5, 5, (int[]){2}, 1, 1.0f);
    /* temperature applies before the filters: at T=4 softmax(L5/4) = [.175 .225 .289 .136 .106];
     * min-p .5 (threshold .1445) keeps 0,1,2 */
    p.min_p = 0.5f; p.temperature = 4.0f;
    expect_dist(p, L5, 5, (int[]){0, 1, 2}, 3, 4.0f);
}

static void test_penalties(void **st) {
    (void)st;
    pd_sampler_params p = pd_sampler_defaults();
    p.temperature = 0.0f;
    p.repeat_penalty = 2.0f; p.presence_penalty = 0.5f; p.frequency_penalty = 0.25f;
    pd_sampler *s = pd_sampler_new(&p, 5);
    /* greedy picks id 2 before any penalty */
    assert_int_equal(pd_sampler_sample(s, L5, NULL), 2);
    pd_sampler_accept(s, 2); pd_sampler_accept(s, 2); pd_sampler_accept(s, 1); pd_sampler_accept(s, 4);
    /* by hand: id2: 3/2 - .25*2 - .5 = .5; id1: 2/2 - .25 - .5 = .25; id4: -1*2 - .25 - .5 = -2.75; id0 stays 1 */
    assert_int_equal(pd_sampler_sample(s, L5, NULL), 0);
    float x[5] = {0.4f, 0.2f, 0.9f, 0.0f, 0.0f};  /* id2: .9/2 - 1 = -.55; id1: .1 - .75 = -.65 → 0 wins */
    assert_int_equal(pd_sampler_sample(s, x, NULL), 0);
    float y[5] = {0.0f, 0.0f, 3.1f, 0.3f, 0.0f};  /* id2: 1.55 - 1 = .55 > .3 */
    assert_int_equal(pd_sampler_sample(s, y, NULL), 2);
    pd_sampler_free(s);

    /* window 2: after accepting 2, 2, 1 only [2, 1] count: id2: 3/2 - .25 - .5 = .75 > id0 = 1? no: 1 wins */
    p.penalty_last_n = 2;
    s = pd_sampler_new(&p, 5);
    pd_sampler_accept(s, 2); pd_sampler_accept(s, 2); pd_sampler_accept(s, 1);
    float z[5] = {0.7f, 0.0f, 3.0f, 0.0f, 0.0f};  /* id2 → .75 beats .7 (with count 2 it would be .5) */
    assert_int_equal(pd_sampler_sample(s, z, NULL), 2);
    pd_sampler_accept(s, 0); pd_sampler_accept(s, 0); /* window [0, 0]: id2 back to 3 */
    assert_int_equal(pd_sampler_sample(s, L5, NULL), 2);
    pd_sampler_reset(s, 0);
    assert_int_equal(pd_sampler_sample(s, z, NULL), 2);
    pd_sampler_free(s);
}

static void test_greedy_and_logprobs(void **st) {
    (void)st;
    pd_sampler_params p = pd_sampler_defaults();
    p.temperature = 0.0f;
    p.n_logprobs = 3;
    float t[6] = {0.5f, 2.0f, -INFINITY, 2.0f, NAN, 1.0f};
    pd_sampler *s = pd_sampler_new(&p, 6);
    pd_sample out;
    assert_int_equal(pd_sampler_sample(s, t, &out), 1); /* tie → lowest id */
    /* NaN is skipped by greedy but poisons a log-sum; use finite logits for the logprob check */
    pd_sampler_free(s);
    float u[5] = {0.5f, 2.0f, -INFINITY, 2.0f, 1.0f};
    s = pd_sampler_new(&p, 5);
    assert_int_equal(pd_sampler_sample(s, u, &out), 1);
    double zz = exp(0.5) + 2 * exp(2.0) + exp(1.0);
    assert_true(fabs(out.logprob - (2.0 - log(zz))) < 1e-5);
    assert_int_equal(out.n_top, 3);
    assert_int_equal(out.top[0].token, 1);
    assert_int_equal(out.top[1].token, 3);
    assert_int_equal(out.top[2].token, 4);
    assert_true(fabs(out.top[2].logprob - (1.0 - log(zz))) < 1e-5);
    assert_true(fabs(pd_logprob_of(u, 5, 0) - (0.5 - log(zz))) < 1e-5);
    assert_true(isinf(pd_logprob_of(u, 5, 2)));
    /* all -inf → error */
    float ninf[3] = {-INFINITY, -INFINITY, -INFINITY};
    pd_sampler_free(s);
    s = pd_sampler_new(&p, 3);
    assert_int_equal(pd_sampler_sample(s, ninf, NULL), -1);
    assert_non_null(strstr(pd_last_error(), "finite"));
    pd_sampler_free(s);
}

/* Large vocabulary: the quickselect + growing-prefix top-p against a brute-force full sort. */
static const float *g_x;
static int cmp_full(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (g_x[i] != g_x[j]) return g_x[i] > g_x[j] ? -1 : 1;
    return i - j;
}
static void test_large_vocab(void **st) {
    (void)st;
    enum { V = 20000 };
    static float x[V];
    static int order[V];
    static int32_t ids[V];
    static float probs[V];
    pd_rng r;
    pd_rng_seed(&r, 5);
    for (int i = 0; i < V; i++) { x[i] = (float)(pd_rng_normal(&r) * 3.0); order[i] = i; }
    x[77] = x[78]; /* a tie */
    g_x = x;
    qsort(order, V, sizeof(int), cmp_full);
    double z = 0;
    for (int i = 0; i < V; i++) z += exp((double)x[i] - x[order[0]]);
    const float tops[] = {0.5f, 0.9f, 0.99f, 0.999f};
    for (int t = 0; t < 4; t++) {
        pd_sampler_params p = pd_sampler_defaults();
        p.top_p = tops[t];
        pd_sampler *s = pd_sampler_new(&p, V);
        int n = pd_sampler_dist(s, x, ids, probs);
        /* the kept prefix is the shortest whose mass reaches top_p (up to float accumulation) */
        double c_prev = 0, c = 0;
        for (int i = 0; i < n; i++) { c_prev = c; c += exp((double)x[order[i]] - x[order[0]]) / z; }
        assert_true(c >= tops[t] - 1e-5);
        assert_true(c_prev < tops[t] + 1e-5);
        int want = n;
        /* same order; tokens whose probabilities round to the same float may swap */
        for (int i = 0; i < n && i < want; i++) assert_true(fabsf(x[ids[i]] - x[order[i]]) < 1e-5f);
        pd_sampler_free(s);
        /* top-k 50 */
        p = pd_sampler_defaults();
        p.top_k = 50;
        s = pd_sampler_new(&p, V);
        n = pd_sampler_dist(s, x, ids, probs);
        assert_int_equal(n, 50);
        for (int i = 0; i < 50; i++) assert_true(fabsf(x[ids[i]] - x[order[i]]) < 1e-5f);
        pd_sampler_free(s);
    }
}

static void test_frequencies_and_seed(void **st) {
    (void)st;
    pd_sampler_params p = pd_sampler_defaults();
    p.top_k = 3;
    p.seed = 1234;
    pd_sampler *s = pd_sampler_new(&p, 5);
    int cnt[5] = {0};
    enum { N = 100000 };
    for (int i = 0; i < N; i++) cnt[pd_sampler_sample(s, L5, NULL)]++;
    double want[3];
    softmax_sub(L5, (int[]){2, 1, 0}, 3, 1.0f, want);
    assert_true(fabs(cnt[2] / (double)N - want[0]) < 0.01);
    assert_true(fabs(cnt[1] / (double)N - want[1]) < 0.01);
    assert_true(fabs(cnt[0] / (double)N - want[2]) < 0.01);
    assert_int_equal(cnt[3] + cnt[4], 0);
    /* same seed → same stream; another seed → another stream */
    int32_t a[64], b[64], c[64];
    pd_sampler_reset(s, 99);
    for (int i = 0; i < 64; i++) a[i] = pd_sampler_sample(s, L5, NULL);
    pd_sampler_reset(s, 99);
    for (int i = 0; i < 64; i++) b[i] = pd_sampler_sample(s, L5, NULL);
    pd_sampler_reset(s, 100);
    for (int i = 0; i < 64; i++) c[i] = pd_sampler_sample(s, L5, NULL);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    pd_sampler_free(s);
}

static void test_bad_params(void **st) {
    (void)st;
    pd_sampler_params p = pd_sampler_defaults();
    assert_null(pd_sampler_new(&p, 0));
    p.top_p = 0.0f;
    assert_null(pd_sampler_new(&p, 5));
    assert_non_null(strstr(pd_last_error(), "top_p"));
    p = pd_sampler_defaults(); p.min_p = 2.0f;
    assert_null(pd_sampler_new(&p, 5));
    p = pd_sampler_defaults(); p.n_logprobs = 21;
    assert_null(pd_sampler_new(&p, 5));
    p = pd_sampler_defaults(); p.repeat_penalty = 0.0f;
    assert_null(pd_sampler_new(&p, 5));
    p = pd_sampler_defaults(); p.penalty_last_n = -2;
    assert_null(pd_sampler_new(&p, 5));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_greedy_and_logprobs),
        cmocka_unit_test(test_large_vocab),
        cmocka_unit_test(test_frequencies_and_seed),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
