/* tests/train/test_rl_memory.c — Memory-R / Memory-R+ (ponder/rl_memory.h) against hand-computed cases:
 *  - the min-max normaliser: the min = max fallback (0.5), values leaving a full window;
 *  - one memory: FIFO values per key, FIFO keys, exact-duplicate keys merged, nearest keys (ties:
 *    the older key first);
 *  - the rewards of two batches on 2-d embeddings, every distance, cosine and normalised value
 *    worked out by hand in the comments (exploit, explore, the annealing a_t, the explore phase);
 *  - the embedding: unit length, zero for no tokens, the same text gives the same vector, and one
 *    engine step with Memory-R+ adds exactly the memory's rewards to the verifier's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ponder/model.h"
#include "ponder/rl.h"
#include "ponder/rl_memory.h"
#include "ponder/threads.h"
#include "ponder/train.h"
#include "rl_testutil.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_normaliser(void **st) {
    (void)st;
    pd_minmax w;
    assert_int_equal(pd_minmax_init(&w, 3), PD_OK);
    bool flat;
    assert_true(pd_minmax_push(&w, 2, &flat) == 2 && flat);    /* one value: min = max → the value itself */
    assert_true(pd_minmax_push(&w, 2, &flat) == 2 && flat);    /* all equal: the same */
    assert_true(pd_minmax_push(&w, 4, &flat) == 1.0 && !flat); /* {2,2,4} */
    assert_true(pd_minmax_push(&w, 3, &flat) == 0.5);          /* {2,4,3}: (3−2)/2 */
    assert_true(pd_minmax_push(&w, 6, &flat) == 1.0);          /* {4,3,6}: the first 2 left */
    assert_true(fabs(pd_minmax_push(&w, 4, &flat) - 1.0 / 3) < 1e-15);   /* {3,6,4}: the 2 left too; (4−3)/3 */
    pd_minmax_free(&w);
}

static void test_kmem(void **st) {
    (void)st;
    pd_kmem *m = pd_kmem_new(2, 2, 2);
    assert_non_null(m);
    float A[2] = {1, 0}, B[2] = {0, 1}, C[2] = {1, 1}, v1[2] = {1, 1}, v2[2] = {2, 2}, v3[2] = {3, 3};
    assert_int_equal(pd_kmem_add(m, A, v1), PD_OK);
    assert_int_equal(pd_kmem_add(m, A, v2), PD_OK);   /* the same key: merged */
    assert_int_equal(pd_kmem_add(m, A, v3), PD_OK);   /* 2 values per key: v1 leaves */
    assert_int_equal(pd_kmem_n_keys(m), 1);
    assert_int_equal(pd_kmem_n_values(m, 0), 2);
    assert_true(pd_kmem_value(m, 0, 0)[0] == 2 && pd_kmem_value(m, 0, 1)[0] == 3);
    assert_int_equal(pd_kmem_add(m, B, v1), PD_OK);
    int idx[2];
    float q[2] = {0.9f, 0.2f};   /* nearer A (0.01+0.04) than B (0.81+0.64) */
    assert_int_equal(pd_kmem_nearest(m, q, 2, idx), 2);
    assert_true(pd_kmem_key(m, idx[0])[0] == 1 && pd_kmem_key(m, idx[1])[1] == 1);
    float mid[2] = {0.5f, 0.5f};   /* equidistant: the older key (A) first */
    assert_int_equal(pd_kmem_nearest(m, mid, 1, idx), 1);
    assert_true(pd_kmem_key(m, idx[0])[0] == 1 && pd_kmem_key(m, idx[0])[1] == 0);
    assert_int_equal(pd_kmem_add(m, C, v2), PD_OK);   /* 2 keys: A (the oldest) leaves */
    assert_int_equal(pd_kmem_n_keys(m), 2);
    assert_int_equal(pd_kmem_nearest(m, A, 1, idx), 1);
    assert_true(pd_kmem_key(m, idx[0])[0] == 1 && pd_kmem_key(m, idx[0])[1] == 1);   /* C, not A */
    assert_int_equal(pd_kmem_n_values(m, idx[0]), 1);   /* C's slot starts empty */
    pd_kmem_free(m);
}

static void test_rewards_by_hand(void **st) {
    (void)st;
    pd_rl_mem_cfg c;
    pd_rl_mem_cfg_default(&c);
    c.mode = PD_RL_MEM_RPLUS; c.k = 1; c.explore_after = 1; c.anneal = 0.5;
    pd_rl_mem *m = pd_rl_mem_new(&c, 2);
    assert_non_null(m);
    /* batch 1, one question q = (1,0): e0 = (1,0) right, e1 = (0,1) right, e2 = (0.6,0.8) wrong.
     * After insertion: success[q] = {e0, e1} (centroid (0.5,0.5)), failure[q] = {e2}.
     * exploit raw: |e0−c| = |e1−c| = √0.5, |e2−c| = √0.1; the window is flat for the first two (the
     *   raw value: 1 − √0.5 = 0.29289), then (√0.1 − √0.1)/(√0.5 − √0.1) = 0 → exploit = 0.29289 twice, 1.
     * explore raw: 1 − cos(e, e2) = 0.4 (e0), 0.2 (e1), 0 (e2, its own value): flat → 0 (a_t stays 1);
     *   {0.4, 0.2} → 0 → 1·0, a_t 0.5; {0.4, 0.2, 0} → 0 → 0.5·0, a_t 0.25 → explore = 0, 0, 0. */
    float q[6] = {1, 0, 1, 0, 1, 0}, e[6] = {1, 0, 0, 1, 0.6f, 0.8f};
    uint8_t ok[3] = {1, 1, 0};
    double ex[3], xp[3];
    assert_int_equal(pd_rl_mem_batch(m, 3, q, e, ok, ex, xp), PD_OK);
    const double ex1[3] = {1 - sqrt(0.5), 1 - sqrt(0.5), 1}, xp1[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        assert_true(fabs(ex[i] - ex1[i]) < 1e-6);
        assert_true(fabs(xp[i] - xp1[i]) < 1e-6);
    }
    assert_true(pd_rl_mem_anneal_now(m) == 0.25);
    assert_int_equal(pd_rl_mem_keys(m, true), 1);
    assert_int_equal(pd_rl_mem_keys(m, false), 1);
    /* batch 2, question q2 = (0,1), e = (0,1) right. success gets key q2 = {(0,1)}: the nearest
     * success key is q2 itself, centroid (0,1), raw 0; window {√.5, √.5, √.1, 0} → 0 → exploit 1.
     * The nearest failure key is q (the only one): 1 − cos((0,1), (0.6,0.8)) = 0.2; window
     * {0.4, 0.2, 0, 0.2} → 0.2/0.4 = 0.5; a_t = 0.25 → explore 0.125, then a_t 0.125. */
    float q2[2] = {0, 1}, e2[2] = {0, 1};
    uint8_t ok2[1] = {1};
    assert_int_equal(pd_rl_mem_batch(m, 1, q2, e2, ok2, ex, xp), PD_OK);
    assert_true(fabs(ex[0] - 1.0) < 1e-6);
    assert_true(fabs(xp[0] - 0.125) < 1e-6);
    assert_true(pd_rl_mem_anneal_now(m) == 0.125);
    assert_int_equal(pd_rl_mem_keys(m, true), 2);
    pd_rl_mem_free(m);

    /* the explore phase: with 2 failure keys required, batch 1 pays no exploration; Memory-R never */
    c.explore_after = 2;
    m = pd_rl_mem_new(&c, 2);
    assert_int_equal(pd_rl_mem_batch(m, 3, q, e, ok, ex, xp), PD_OK);
    for (int i = 0; i < 3; i++) { assert_true(xp[i] == 0); assert_true(fabs(ex[i] - ex1[i]) < 1e-6); }
    pd_rl_mem_free(m);
    c.mode = PD_RL_MEM_R; c.explore_after = 0;
    m = pd_rl_mem_new(&c, 2);
    assert_int_equal(pd_rl_mem_batch(m, 3, q, e, ok, ex, xp), PD_OK);
    for (int i = 0; i < 3; i++) assert_true(xp[i] == 0);
    pd_rl_mem_free(m);
    /* nothing retrieved (no success yet): exploit 0 */
    c.mode = PD_RL_MEM_RPLUS;
    m = pd_rl_mem_new(&c, 2);
    uint8_t none[3] = {0, 0, 0};
    assert_int_equal(pd_rl_mem_batch(m, 3, q, e, none, ex, xp), PD_OK);
    for (int i = 0; i < 3; i++) assert_true(ex[i] == 0);
    pd_rl_mem_free(m);
}

/* reward of the test's verifier stand-in: 1 when the response holds a digit (learnable, varied) */
static double digit_reward(void *ctx, const pd_task_item *it, const char *text, int n) {
    (void)ctx; (void)it; (void)n;
    for (const char *p = text; *p; p++) if (*p >= '0' && *p <= '9') return 1.0;
    return 0.0;
}

static void test_embed_and_engine(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(7, 8);
    pd_model *pm = pd_tmodel_snapshot(m);
    assert_non_null(pm);
    pd_kv *kv = pd_kv_new(&pm->cfg, 1, 96, PD_TYPE_F32);
    int32_t t1[5] = {'1', '2', '+', '3', '='}, t2[2] = {'a', 'b'};
    float a[32], b[32], z[32];
    assert_int_equal(pd_rl_mem_embed(pm, kv, t1, 5, a), PD_OK);
    assert_int_equal(pd_rl_mem_embed(pm, kv, t1, 5, b), PD_OK);
    assert_int_equal(pd_rl_mem_embed(pm, kv, t2, 0, z), PD_OK);
    double na = 0, d = 0;
    for (int i = 0; i < 32; i++) { na += (double)a[i] * a[i]; d += fabs(a[i] - b[i]); assert_true(z[i] == 0); }
    assert_true(fabs(na - 1) < 1e-5 && d == 0);
    assert_int_equal(pd_rl_mem_embed(pm, kv, t2, 2, b), PD_OK);
    d = 0;
    for (int i = 0; i < 32; i++) d += fabs(a[i] - b[i]);
    assert_true(d > 1e-3);
    pd_kv_free(kv);
    pd_model_free(pm);

    /* one engine step with Memory-R+ (exploration from the first failure): reward = verifier + exploit
     * + explore, exactly; the figures are logged in the stats */
    pd_rl_cfg c;
    pd_rl_cfg_for_algo(&c, PD_RL_GRPO);
    c.B = 3; c.G = 4; c.max_tokens = 10; c.micro_rows = 8; c.opt.lr = 1e-3f;
    c.mem.mode = PD_RL_MEM_RPLUS; c.mem.explore_after = 0;
    pd_rl_source src = {"arith-add", 1, 1, NULL};
    pd_rl *r = pd_rl_new(m, NULL, &c, &src);
    assert_non_null(r);
    pd_rl_set_reward(r, digit_reward, NULL);
    pd_rng g;
    pd_rng_seed(&g, 9);
    int64_t os = 0;
    pd_rl_stats s;
    for (int step = 0; step < 2; step++) {
        assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
        assert_true(isfinite(s.loss) && isfinite(s.mem_exploit) && isfinite(s.mem_explore));
        assert_true(s.mem_succ_keys + s.mem_fail_keys >= 1);
        /* mean total reward = mean verifier (= accuracy with this 0/1 reward) + mean exploit + explore */
        assert_true(fabs(s.reward_mean - (s.accuracy + s.mem_exploit + s.mem_explore)) < 1e-9);
        assert_true(s.mem_exploit >= -1 && s.mem_exploit <= 1 && s.mem_explore >= 0 && s.mem_explore <= 1);   /* unit vectors: distance <= 2 */
    }
    pd_rl_free(r);
    pd_tmodel_free(m);
}

int main(void) {
    pd_threads_set(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normaliser),
        cmocka_unit_test(test_kmem),
        cmocka_unit_test(test_rewards_by_hand),
        cmocka_unit_test(test_embed_and_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
