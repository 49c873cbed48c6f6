/* tests/train/rl_testutil.h — helpers shared by the RL engine's tests (include after cmocka.h):
 * a tiny random qwen3 byte model, and the first update's surrogate as a function of the parameters
 * (ratio 1: F = −Σ_i A_i/(n·L_i) Σ_t log π_T(token)), evaluated with the training forward on the last
 * batch's own tokens, for finite-difference checks of the learner's gradient. */
#ifndef PONDER_TESTS_RL_TESTUTIL_H
#define PONDER_TESTS_RL_TESTUTIL_H
#include "ponder/rl.h"
#include "ponder/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* n_ctx positions (96 in most tests; the thinking-budget trees need 128) */
static inline pd_tmodel *rlt_tiny_model_ctx(uint64_t seed, int rows, int n_ctx) {
    pd_tcfg c;
    memset(&c, 0, sizeof c);
    pd_tcfg_set_arch(&c, "qwen3");
    c.n_vocab = PD_TRAIN_VOCAB; c.dim = 32; c.n_layer = 2; c.n_head = 4; c.n_head_kv = 2; c.head_dim = 8;
    c.n_ff = 64; c.n_ctx = n_ctx; c.tied = true;
    pd_tmodel *m = pd_tmodel_new(&c, rows, c.n_ctx);
    assert_non_null(m);
    pd_rng g;
    pd_rng_seed(&g, seed);
    pd_tmodel_init(m, &g);
    return m;
}

static inline pd_tmodel *rlt_tiny_model(uint64_t seed, int rows) { return rlt_tiny_model_ctx(seed, rows, 96); }

static inline double rlt_surrogate_of_params(pd_tmodel *m, const pd_rl_batch_view *v, double invT) {
    int T = 0;
    for (int i = 0; i < v->n; i++) if (v->n_tokens[i] > T) T = v->n_tokens[i];
    int V = pd_tmodel_cfg(m)->n_vocab;
    int32_t *tk = calloc((size_t)T, sizeof(int32_t));
    double F = 0;
    for (int i = 0; i < v->n; i++) {
        for (int t = 0; t < T; t++) tk[t] = t < v->n_tokens[i] ? v->tokens[i][t] : 0;
        pd_tbatch b = {1, T, tk, NULL, NULL};
        pd_tmodel_forward(m, &b, NULL);
        const float *lg = pd_tmodel_logits(m);
        int np = v->n_prompt[i], L = v->n_tokens[i] - np;
        double sum = 0;
        for (int k = 0; k < L; k++) {
            const float *x = lg + (size_t)(np - 1 + k) * V;
            double mx = -1e300, z = 0;
            for (int j = 0; j < V; j++) if (x[j] * invT > mx) mx = x[j] * invT;
            for (int j = 0; j < V; j++) z += exp(x[j] * invT - mx);
            sum += x[v->tokens[i][np + k]] * invT - mx - log(z);
        }
        if (L > 0) F -= v->adv[i] / L * sum / v->n;
    }
    free(tk);
    return F;
}

#endif
