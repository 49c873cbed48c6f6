/* tests/train/test_rollout_batch.c — batched rollouts on an F32 model (the RL view of a random qwen3
 * byte model, as `ponder bench rl` uses) give each sequence the same tokens and the same log-probs,
 * to the bit, as decoding it alone, at the CPU's best kernel level: the F32 matmul tiles sum every
 * output in one order whatever the batch (kern/mm_f32.c), and the other per-token ops are per row.
 * Before the lane-order tiles the 1-token tile summed in another order than the 3-token tile, and
 * the log-probs differed in the last bits (this test failed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/gen.h"
#include "ponder/kern.h"
#include "ponder/model.h"
#include "ponder/rl.h"
#include "ponder/rng.h"
#include "ponder/threads.h"
#include "ponder/train.h"

enum { NG = 24, NSEQ = 7 };

static pd_gen *gen_for(const pd_model *pm, int n_seq) {
    pd_gen_params gp = {.n_seq_max = n_seq + 1, .n_ctx = 128, .kv_type = PD_TYPE_F32, .n_batch = 64};
    pd_gen *g = pd_gen_new(pm, &gp);
    assert_non_null(g);
    return g;
}

static pd_seq_params seq_params(uint64_t seed) {
    pd_seq_params p = pd_seq_defaults();
    p.sampling.seed = seed;
    p.sampling.temperature = 1.0f;
    p.max_tokens = NG;
    p.ignore_eog = true;
    p.logprobs = true;
    return p;
}

/* n_seq samples of one prompt (prefill once, fork), seeds 11.., tokens and log-probs out */
static void rollout(const pd_model *pm, const int32_t *prompt, int n, int first, int n_seq, int32_t tok[][NG],
                    float lp[][NG]) {
    pd_gen *g = gen_for(pm, n_seq);
    pd_seq_params p0 = pd_seq_defaults();
    int parent = pd_gen_add(g, prompt, n, &p0);
    assert_true(parent >= 0);
    assert_int_equal(pd_gen_prefill(g, parent), PD_OK);
    int ids[NSEQ];
    for (int k = 0; k < n_seq; k++) {
        pd_seq_params p = seq_params(11 + (uint64_t)(first + k));
        ids[k] = pd_gen_fork(g, parent, &p);
        assert_true(ids[k] >= 0);
    }
    pd_gen_remove(g, parent);
    assert_int_equal(pd_gen_run(g), PD_OK);
    for (int k = 0; k < n_seq; k++) {
        const pd_gen_result *r = pd_gen_get_result(g, ids[k]);
        assert_int_equal(r->n_tokens - r->n_prompt, NG);
        assert_non_null(r->logprobs);
        memcpy(tok[k], r->tokens + r->n_prompt, sizeof(int32_t) * NG);
        memcpy(lp[k], r->logprobs, sizeof(float) * NG);
    }
    pd_gen_free(g);
}

static void test_rollouts_batch_invariant(void **state) {
    (void)state;
    pd_tcfg c;
    memset(&c, 0, sizeof c);
    assert_int_equal(pd_tcfg_set_arch(&c, "qwen3"), PD_OK);
    c.n_vocab = PD_TRAIN_VOCAB; c.dim = 64; c.n_layer = 2; c.n_head = 4; c.n_head_kv = 2; c.head_dim = 16;
    c.n_ff = 136; c.n_ctx = 128; c.tied = true; /* n_ff and the vocabulary not multiples of 16 */
    pd_tmodel *m = pd_tmodel_new(&c, 4, c.n_ctx);
    assert_non_null(m);
    pd_rng r;
    pd_rng_seed(&r, 3);
    pd_tmodel_init(m, &r);
    pd_model *pm = pd_rl_view(m);
    assert_non_null(pm);
    const int32_t prompt[] = {72, 101, 108, 108, 111, 32, 49, 50, 43, 51, 52, 61, 63};
    const int n = (int)(sizeof prompt / sizeof *prompt);
    pd_threads_set(1);
    for (int th = 1; th <= 2; th++) {
        pd_threads_set(th);
        static int32_t tb[NSEQ][NG], ta[1][NG];
        static float lb[NSEQ][NG], la[1][NG];
        rollout(pm, prompt, n, 0, NSEQ, tb, lb);
        int differ = 0;
        for (int k = 0; k < NSEQ; k++) {
            rollout(pm, prompt, n, k, 1, ta, la);
            assert_memory_equal(ta[0], tb[k], sizeof(int32_t) * NG);
            for (int i = 0; i < NG; i++)
                if (memcmp(&la[0][i], &lb[k][i], sizeof(float)) != 0) {
                    fprintf(stderr, "%s, %d threads: sequence %d token %d: log-prob alone %.9g, batched %.9g\n",
                            pd_isa_name(pd_isa_active()), th, k, i, la[0][i], lb[k][i]);
                    fail();
                }
            if (k > 0 && memcmp(tb[k], tb[0], sizeof(int32_t) * NG) != 0) differ = 1;
        }
        assert_true(differ); /* the seeds gave different samples: the batch really held 7 sequences */
    }
    pd_threads_set(1);
    pd_model_free(pm);
    pd_tmodel_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rollouts_batch_invariant)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
