/* tests/train/test_rl.c — RL with verifiable rewards (ponder/rl.h), each against an independent truth:
 *  - the surrogate's dL/dlogp equals f64 central finite differences in all three aggregation modes,
 *    with the clip inactive and active, with and without the k3 KL term;
 *  - advantages of GRPO, Dr. GRPO, DAPO and RLOO equal hand-computed groups; equal rewards give
 *    exactly zero; DAPO's overlong punishment at hand-picked lengths;
 *  - on a tiny model: a group with equal rewards leaves the gradient exactly zero (and the weights
 *    unchanged); the first update's ratio is 1; the sampler's log-probs equal the learner's at step
 *    0 and after updates (the rollout view shares the trainer's weights, no copy); dynamic sampling
 *    fills the batch with non-degenerate groups; a learnable reward rises within 30 steps;
 *  - same seed and one thread → identical run; a run stopped after a checkpoint and resumed gives
 *    the identical reward curve and final weights. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ponder/adapted.h"
#include "ponder/model.h"
#include "ponder/rl.h"
#include "ponder/threads.h"
#include "ponder/train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "rl_testutil.h"

static char tmpdir[256];
static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* ---- surrogate gradient by finite differences ---- */

static void fd_case(pd_rl_agg agg, bool clip_active, double beta) {
    enum { NS = 3, NT = 14 };
    int start[NS] = {0, 5, 9}, len[NS] = {5, 4, 5};
    double adv[NS] = {1.3, -0.7, 0.4};
    double lp[NT], lo[NT], lr[NT], d[NT];
    uint8_t mask[NT];
    pd_rng g;
    pd_rng_seed(&g, 11 + (uint64_t)agg * 3 + clip_active);
    for (int k = 0; k < NT; k++) {
        lo[k] = -0.5 - 2 * pd_rng_uniform(&g);
        /* inactive: |log ρ| < 0.1 (inside [0.8, 1.2]); active: |log ρ| in [0.4, 0.6], far from the edges */
        double dev = clip_active ? (0.4 + 0.2 * pd_rng_uniform(&g)) * (pd_rng_uniform(&g) < 0.5 ? -1 : 1)
                                 : 0.1 * (2 * pd_rng_uniform(&g) - 1);
        lp[k] = lo[k] + dev;
        lr[k] = lo[k] + 0.3 * (2 * pd_rng_uniform(&g) - 1);
        mask[k] = k != 3;   /* one injected token */
    }
    pd_rl_loss_cfg c = {agg, 0.2, 0.28, beta, 16.0};
    pd_rl_tokens t = {NS, start, len, adv, lp, lo, beta > 0 ? lr : NULL, mask, NS, NT - 1, NULL};
    pd_rl_lstats s = {0};
    pd_rl_surrogate(&c, &t, d, &s);
    if (clip_active) assert_true(s.clipped > 0);
    else assert_true(s.clipped == 0);
    assert_true(d[3] == 0);
    for (int k = 0; k < NT; k++) {
        double h = 1e-6, keep = lp[k];
        lp[k] = keep + h;
        double up = pd_rl_surrogate(&c, &t, NULL, NULL);
        lp[k] = keep - h;
        double dn = pd_rl_surrogate(&c, &t, NULL, NULL);
        lp[k] = keep;
        double fd = (up - dn) / (2 * h);
        if (fabs(fd - d[k]) > 1e-7 + 1e-6 * fabs(fd)) {
            fprintf(stderr, "agg %s clip %d beta %g token %d: analytic %.10g fd %.10g\n", pd_rl_agg_name(agg), clip_active,
                    beta, k, d[k], fd);
            fail();
        }
    }
}

static void test_surrogate_fd(void **st) {
    (void)st;
    for (int a = 0; a < 3; a++)
        for (int cl = 0; cl < 2; cl++) {
            fd_case((pd_rl_agg)a, cl, 0);
            fd_case((pd_rl_agg)a, cl, 0.05);
        }
}

/* the aggregation weights themselves on a hand-made case (ρ = 1, A = 1: s = 1 per token) */
/* digit-level partial credit, hand-computed */
static void test_partial_credit(void **st) {
    (void)st;
    assert_true(fabs(pd_rl_partial_credit("112", "122") - 2.0 / 3) < 1e-15);
    assert_true(fabs(pd_rl_partial_credit(" 89\n", "79") - 0.5) < 1e-15);
    assert_true(pd_rl_partial_credit("122", "122") == 1.0);
    assert_true(fabs(pd_rl_partial_credit("22", "122") - 2.0 / 3) < 1e-15);   /* a digit missing on the left */
    assert_true(pd_rl_partial_credit("1220", "122") == 0.25);   /* shifted: only the middle 2 lines up */
    assert_true(pd_rl_partial_credit("", "5") == 0.0);
    assert_true(pd_rl_partial_credit(NULL, "5") == 0.0);
}

static void test_aggregation_values(void **st) {
    (void)st;
    int start[2] = {0, 2}, len[2] = {2, 4};
    double adv[2] = {1, 1}, z[6] = {0};
    pd_rl_tokens t = {2, start, len, adv, z, z, NULL, NULL, 2, 6, NULL};
    pd_rl_loss_cfg c = {PD_RL_SEQ_MEAN_TOKEN_MEAN, 0.2, 0.2, 0, 10};
    assert_true(fabs(pd_rl_surrogate(&c, &t, NULL, NULL) + 1.0) < 1e-12);     /* mean of per-seq means */
    c.agg = PD_RL_TOKEN_MEAN;
    assert_true(fabs(pd_rl_surrogate(&c, &t, NULL, NULL) + 1.0) < 1e-12);     /* 6 / 6 */
    c.agg = PD_RL_SEQ_SUM_CONST;
    assert_true(fabs(pd_rl_surrogate(&c, &t, NULL, NULL) + 0.3) < 1e-12);     /* (2 + 4) / 10 / 2 */
    adv[1] = 3;
    c.agg = PD_RL_SEQ_MEAN_TOKEN_MEAN;
    assert_true(fabs(pd_rl_surrogate(&c, &t, NULL, NULL) + 2.0) < 1e-12);     /* (1 + 3) / 2 */
    c.agg = PD_RL_TOKEN_MEAN;
    assert_true(fabs(pd_rl_surrogate(&c, &t, NULL, NULL) + 14.0 / 6) < 1e-12);
}

/* ---- advantages ---- */

static void test_advantages(void **st) {
    (void)st;
    double r[12] = {1, 0, 0, 1, /* mixed */ 1, 1, 1, 1, /* equal */ 0.1, 0.1, 0.1, 0.1 /* equal, inexact sums */};
    double a[12];
    uint8_t zv[3];
    /* GRPO/DAPO: mean .5, unbiased std sqrt(1/3) */
    double s3 = sqrt(1.0 / 3.0);
    for (int alg = 0; alg < 4; alg++) {
        int nz = pd_rl_advantages((pd_rl_algo)alg, r, 3, 4, 1e-6, a, zv);
        assert_int_equal(nz, 2);
        assert_int_equal(zv[0], 0); assert_int_equal(zv[1], 1); assert_int_equal(zv[2], 1);
        for (int i = 4; i < 12; i++) assert_true(a[i] == 0.0);   /* exactly */
        double hi, lo;
        if (alg == PD_RL_GRPO || alg == PD_RL_DAPO) { hi = 0.5 / (s3 + 1e-6); lo = -hi; }
        else if (alg == PD_RL_DRGRPO) { hi = 0.5; lo = -0.5; }
        else { hi = 1 - 1.0 / 3; lo = 0 - 2.0 / 3; }   /* RLOO: r_i − mean of the other three */
        assert_true(fabs(a[0] - hi) < 1e-12 && fabs(a[3] - hi) < 1e-12);
        assert_true(fabs(a[1] - lo) < 1e-12 && fabs(a[2] - lo) < 1e-12);
    }
    /* equal rewards whose float mean is inexact (3 × 0.1) still give exactly zero */
    double r3[3] = {0.1, 0.1, 0.1}, a3[3];
    for (int alg = 0; alg < 4; alg++) {
        assert_int_equal(pd_rl_advantages((pd_rl_algo)alg, r3, 1, 3, 1e-6, a3, NULL), 1);
        for (int i = 0; i < 3; i++) assert_true(a3[i] == 0.0);
    }
    /* a 3-member group with distinct rewards, RLOO by hand: 3 − (1+2)/2 = 1.5, 1 − 2.5 = −1.5, 2 − 2 = 0 */
    double r2[3] = {3, 1, 2}, a2[3];
    pd_rl_advantages(PD_RL_RLOO, r2, 1, 3, 0, a2, NULL);
    assert_true(fabs(a2[0] - 1.5) < 1e-12 && fabs(a2[1] + 1.5) < 1e-12 && fabs(a2[2]) < 1e-12);
    /* overlong: l_max 100, l_cache 20 */
    assert_true(pd_rl_overlong_penalty(80, 100, 20) == 0);
    assert_true(fabs(pd_rl_overlong_penalty(90, 100, 20) + 0.5) < 1e-12);
    assert_true(fabs(pd_rl_overlong_penalty(100, 100, 20) + 1.0) < 1e-12);
    assert_true(pd_rl_overlong_penalty(101, 100, 20) == -1);
    assert_true(pd_rl_overlong_penalty(500, 100, 0) == 0);
    assert_int_equal(pd_rl_algo_from_name("dapo"), PD_RL_DAPO);
    assert_int_equal(pd_rl_agg_from_name("seq-sum-const"), PD_RL_SEQ_SUM_CONST);
    assert_int_equal(pd_rl_algo_from_name("ppo"), -1);
}

/* ---- the engine on a tiny random model ---- */

/* 0.1 summed three times is not 3 × 0.1: a computed group mean is not exactly 0.1 */
static double const_reward(void *ctx, const pd_task_item *it, const char *text, int n) {
    (void)ctx; (void)it; (void)text; (void)n;
    return 0.1;
}
/* share of digit characters in the response: dense, learnable by a random model */
static double digit_reward(void *ctx, const pd_task_item *it, const char *text, int n) {
    (void)ctx; (void)it; (void)n;
    int d = 0, t = 0;
    for (const char *p = text; *p; p++, t++) d += *p >= '0' && *p <= '9';
    return t ? (double)d / t : 0;
}
/* half the prompts (by a hash of the prompt) give a constant reward, the rest the response's parity */
static double half_degenerate(void *ctx, const pd_task_item *it, const char *text, int n) {
    (void)ctx; (void)text;
    uint64_t h = pd_fnv1a64(it->prompt, strlen(it->prompt), PD_FNV_OFFSET);
    return (h & 1) ? 0.5 : (double)(n % 2);
}

static pd_rl_cfg small_cfg(pd_rl_algo a) {
    pd_rl_cfg c;
    pd_rl_cfg_for_algo(&c, a);
    c.B = 4; c.G = 4; c.max_tokens = 12; c.micro_rows = 8;
    c.opt.lr = 1e-3f;
    if (a == PD_RL_DAPO) c.overlong_buffer = 0;
    return c;
}

static const pd_rl_source src_add = {"arith-add", 1, 1, NULL};

static void test_zero_gradient_equal_rewards(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(3, 8);
    size_t n = pd_tmodel_n_params(m);
    float *before = malloc(n * sizeof(float));
    memcpy(before, pd_tmodel_params(m), n * sizeof(float));
    pd_rl_cfg c = small_cfg(PD_RL_GRPO);
    c.G = 3;
    pd_rl *r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, const_reward, NULL);
    pd_rng g;
    pd_rng_seed(&g, 5);
    int64_t os = 0;
    pd_rl_stats s;
    assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
    assert_true(s.zero_var_frac == 1.0);
    const float *gr = pd_tmodel_grads(m);
    for (size_t i = 0; i < n; i++) if (gr[i] != 0.0f) { fprintf(stderr, "grad[%zu] = %g\n", i, gr[i]); fail(); }
    assert_memory_equal(before, pd_tmodel_params(m), n * sizeof(float));
    pd_rl_free(r);
    pd_tmodel_free(m);
    free(before);
}

static void test_ratio_and_logprobs(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(4, 8);
    pd_rl_cfg c = small_cfg(PD_RL_DRGRPO);
    c.opt.lr = 3e-3f;
    pd_rl *r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, digit_reward, NULL);
    /* the view reads the trainer's memory: no copy */
    const pd_model *pm = pd_rl_model(r);
    assert_ptr_equal(pm->tok_embd.data, pd_tmodel_params(m));
    pd_rng g;
    pd_rng_seed(&g, 6);
    int64_t os = 0;
    double worst = 0;
    for (int step = 0; step < 4; step++) {
        pd_rl_stats s;
        assert_int_equal(pd_rl_step(r, &g, &os, true, &s), PD_OK);
        assert_true(isfinite(s.logp_maxdiff));
        if (s.logp_maxdiff > worst) worst = s.logp_maxdiff;
        assert_true(s.logp_maxdiff <= 1e-4);          /* sampler vs learner, before this step's update */
        assert_true(s.ratio_dev_max < 1e-5);          /* μ = K = 1: the only update is the first */
        assert_true(s.rollout_tokens > 0);
    }
    fprintf(stderr, "worst |sampler - learner| log-prob over 4 steps: %.3g\n", worst);
    assert_int_equal(os, 4);
    pd_rl_free(r);
    /* temperature 0.7: the learner's π is the tempered distribution (ratio 1 at the first update); its
     * untempered log-probs still equal what the sampler recorded */
    c.temperature = 0.7f;
    r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, digit_reward, NULL);
    for (int step = 0; step < 2; step++) {
        pd_rl_stats s;
        assert_int_equal(pd_rl_step(r, &g, &os, true, &s), PD_OK);
        assert_true(s.logp_maxdiff <= 1e-4);
        assert_true(s.ratio_dev_max < 1e-5);
    }
    pd_rl_free(r);
    c.temperature = 1.0f;
    os = 4;
    /* π_old from the sampler itself: the first update's ratio is then the sampler/learner agreement */
    c.sampler_old_logp = true;
    c.ppo_epochs = 2; c.minibatches = 2;
    r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, digit_reward, NULL);
    pd_rl_stats s;
    assert_int_equal(pd_rl_step(r, &g, &os, true, &s), PD_OK);
    assert_true(s.logp_maxdiff <= 1e-4);
    assert_int_equal(os, 8);
    pd_rl_free(r);
    pd_tmodel_free(m);
}

static void test_dynamic_sampling(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(8, 8);
    pd_rl_cfg c = small_cfg(PD_RL_DAPO);
    c.max_draws = 8;
    pd_rl *r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, half_degenerate, NULL);
    pd_rng g;
    pd_rng_seed(&g, 9);
    int64_t os = 0;
    int drew_more = 0;
    for (int step = 0; step < 3; step++) {
        pd_rl_stats s;
        assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
        assert_int_equal(s.groups_kept, c.B);
        assert_true(s.zero_var_frac == 0);
        drew_more += s.groups_drawn > c.B;
        pd_rl_batch_view v;
        pd_rl_last_batch(r, &v);
        assert_int_equal(v.n, c.B * c.G);
        for (int gi = 0; gi < c.B; gi++) {
            bool varied = false;
            for (int k = 1; k < c.G; k++) varied = varied || v.reward[gi * c.G + k] != v.reward[gi * c.G];
            assert_true(varied);
        }
    }
    assert_true(drew_more > 0);   /* some step needed more than one round of prompts */
    pd_rl_free(r);
    pd_tmodel_free(m);
}

static void test_reward_rises(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(12, 16);
    pd_rl_cfg c = small_cfg(PD_RL_GRPO);
    c.B = 4; c.G = 8; c.opt.lr = 1e-2f;
    pd_rl *r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, digit_reward, NULL);
    pd_rng g;
    pd_rng_seed(&g, 13);
    int64_t os = 0;
    double first = 0, last = 0;
    const int N = 40;
    for (int step = 0; step < N; step++) {
        pd_rl_stats s;
        assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
        if (step < 5) first += s.reward_mean / 5;
        if (step >= N - 5) last += s.reward_mean / 5;
    }
    fprintf(stderr, "digit share: first 5 steps %.3f, last 5 steps %.3f\n", first, last);
    assert_true(last > first + 0.15);
    pd_rl_free(r);
    pd_tmodel_free(m);
}

/* The learner end to end: the weight gradient of one GRPO update (μ = K = 1, temperature 0.8, no
 * clipping at θ0, SEQ_MEAN_TOKEN_MEAN) equals central differences of
 *   F(θ) = −(1/N) Σ_i A_i/|o_i| Σ_t log π_θ,T(o_t)      (dF/dθ = dL/dθ at θ0, where ρ = 1)
 * evaluated by the training forward on the rollout's own tokens, for the parameters with the largest
 * gradients (F: rlt_surrogate_of_params, rl_testutil.h). This checks dL/dlogp → dL/dlogits (with the
 * temperature) → backward. */
static void test_learner_gradient_fd(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(17, 8);
    size_t n = pd_tmodel_n_params(m);
    float *theta0 = malloc(n * sizeof(float)), *grad = malloc(n * sizeof(float));
    memcpy(theta0, pd_tmodel_params(m), n * sizeof(float));
    pd_rl_cfg c = small_cfg(PD_RL_GRPO);
    c.temperature = 0.8f;
    c.opt.clip = 0;   /* the gradient itself, unclipped (AdamW clips only its own copy anyway) */
    pd_rl *r = pd_rl_new(m, NULL, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, digit_reward, NULL);
    pd_rng g;
    pd_rng_seed(&g, 23);
    int64_t os = 0;
    pd_rl_stats s;
    assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_OK);
    assert_true(s.groups_kept == c.B && s.zero_var_frac < 1);
    memcpy(grad, pd_tmodel_grads(m), n * sizeof(float));
    memcpy(pd_tmodel_params(m), theta0, n * sizeof(float));   /* back to θ0 */
    pd_rl_batch_view v;
    pd_rl_last_batch(r, &v);
    /* the 12 largest gradients */
    int top[12] = {0};
    for (int k = 0; k < 12; k++) {
        int best = -1;
        for (size_t i = 0; i < n; i++) {
            bool used = false;
            for (int q = 0; q < k; q++) used = used || top[q] == (int)i;
            if (!used && (best < 0 || fabsf(grad[i]) > fabsf(grad[best]))) best = (int)i;
        }
        top[k] = best;
    }
    float *p = pd_tmodel_params(m);
    for (int k = 0; k < 12; k++) {
        int i = top[k];
        float keep = p[i], h = 1e-2f * fmaxf(1.0f, fabsf(keep));
        p[i] = keep + h;
        double up = rlt_surrogate_of_params(m, &v, 1.0 / c.temperature);
        p[i] = keep - h;
        double dn = rlt_surrogate_of_params(m, &v, 1.0 / c.temperature);
        p[i] = keep;
        double fd = (up - dn) / (2.0 * (double)h);
        if (fabs(fd - grad[i]) > 0.03 * fabs(fd) + 1e-5) {
            fprintf(stderr, "param %d: learner %.6g, finite differences %.6g\n", i, grad[i], fd);
            fail();
        }
    }
    pd_rl_free(r);
    pd_tmodel_free(m);
    free(theta0); free(grad);
}


/* a prompt longer than the sequences the learner can hold: a clear error, nothing leaked (ASan) */
static void test_prompt_too_long(void **st) {
    (void)st;
    pd_tmodel *m = rlt_tiny_model(5, 8);   /* context 96 tokens */
    pd_rl_cfg c = small_cfg(PD_RL_GRPO);
    pd_rl_source src = {"countdown", 6, 6, NULL};
    pd_rl *r = pd_rl_new(m, NULL, &c, &src);
    assert_non_null(r);
    pd_rng g;
    pd_rng_seed(&g, 1);
    int64_t os = 0;
    pd_rl_stats s;
    assert_int_equal(pd_rl_step(r, &g, &os, false, &s), PD_ERR_RANGE);
    assert_non_null(strstr(pd_last_error(), "prompt of item"));
    assert_int_equal(os, 0);
    pd_rl_free(r);
    pd_tmodel_free(m);
}

/* ---- the run: determinism and resume ---- */

static void write_model(const char *path, uint64_t seed) {
    pd_tmodel *m = rlt_tiny_model(seed, 1);
    pd_tckpt_info info = {0};
    assert_int_equal(pd_tmodel_save(m, path, &info), PD_OK);
    pd_tmodel_free(m);
}

static void run_once(const char *model, const char *out, const char *resume, int64_t stop_at, double *curve,
                     pd_rl_result *res) {
    pd_rl_opts o;
    pd_rl_opts_default(&o, PD_RL_GRPO);
    o.model = model;
    o.run.task = "arith-add"; o.run.dlo = o.run.dhi = 1;
    o.run.steps = 6; o.run.seed = 21; o.run.threads = 1; o.run.ckpt_every = 3; o.run.stop_at = stop_at;
    o.run.out = out; o.run.resume = resume; o.run.B = 8;
    o.run.opt.lr = 3e-3f;
    o.rl.B = 3; o.rl.G = 4; o.rl.max_tokens = 10;
    o.rl.beta = 0.05;   /* the reference comes back from the config's model path on resume */
    o.reward_fn = digit_reward;
    o.reward_curve = curve;
    assert_int_equal(pd_rl_run(&o, res), PD_OK);
}

static void *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    void *b = malloc(*n);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void test_determinism_and_resume(void **st) {
    (void)st;
    const char *model = tmp("base.gguf");
    write_model(model, 31);
    double a[6] = {0}, b[6] = {0}, c[6] = {0};
    pd_rl_result ra, rb, rc;
    char oa[512], ob[512], oc[512], ckpt[600];
    snprintf(oa, sizeof oa, "%s", tmp("a.gguf"));
    snprintf(ob, sizeof ob, "%s", tmp("b.gguf"));
    snprintf(oc, sizeof oc, "%s", tmp("c.gguf"));
    run_once(model, oa, NULL, 0, a, &ra);
    run_once(model, ob, NULL, 0, b, &rb);
    assert_memory_equal(a, b, sizeof a);
    /* stopped after step 3 (its checkpoint written), then resumed from it */
    run_once(model, oc, NULL, 3, c, &rc);
    assert_int_equal(rc.steps_done, 3);
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", oc);
    run_once(model, oc, ckpt, 0, c, &rc);
    assert_int_equal(rc.steps_done, 6);
    for (int i = 0; i < 6; i++) if (a[i] != c[i]) { fprintf(stderr, "step %d: %.17g vs %.17g\n", i + 1, a[i], c[i]); fail(); }
    bool moved = false;
    for (int i = 1; i < 6; i++) moved = moved || a[i] != a[0];
    assert_true(moved);
    size_t na, nc;
    void *fa = slurp(oa, &na), *fc = slurp(oc, &nc);
    assert_int_equal(na, nc);
    assert_memory_equal(fa, fc, na);
    free(fa); free(fc);
    /* the final model loads in the inference path */
    pd_model *pm = pd_model_load(oa);
    assert_non_null(pm);
    pd_model_free(pm);
}

/* ---- RL through an adapter ---- */

/* LoRA on every matrix of a tiny base: a few GRPO steps move the adapter only — every tensor that is
 * not adapted keeps its bytes, each adapted matrix equals base + Δ(A, B) computed here from the
 * factors, the base copy (pd_adapted_base) is the file's values; the sampler reads the adapted
 * weights (its log-probs equal the learner's); the KL reference is the base (k3 KL ~0 while the
 * adapter is still zero, clearly > 0 after updates). */
static void test_adapter_rl(void **st) {
    (void)st;
    const char *base = tmp("adapter-base.gguf");
    write_model(base, 41);
    pd_adapted ad = {0};
    assert_int_equal(pd_adapted_load(&ad, base, 8, 96), PD_OK);
    pd_adapted_spec sp;
    pd_adapted_spec_default(&sp);
    assert_int_equal(pd_adapter_parse_targets("all", &sp.targets), PD_OK);
    sp.rank = 4; sp.alpha = 8; sp.seed = 3;
    assert_int_equal(pd_adapted_prepare(&ad, &sp, true), PD_OK);
    assert_int_equal(pd_adapted_bind(&ad, &sp, true, NULL), PD_OK);
    assert_int_equal(ad.n, 2 * PD_AT_COUNT);
    size_t n = pd_tmodel_n_params(ad.m);
    float *before = malloc(n * sizeof(float));
    memcpy(before, pd_tmodel_params(ad.m), n * sizeof(float));
    pd_rl_cfg c = small_cfg(PD_RL_GRPO);
    c.opt.lr = 1e-2f;
    c.beta = 0.05;
    pd_rl *r = pd_rl_new_adapted(&ad, &c, &src_add);
    assert_non_null(r);
    pd_rl_set_reward(r, digit_reward, NULL);
    pd_rng g;
    pd_rng_seed(&g, 8);
    int64_t os = 0;
    double worst = 0, kl_first = -1, kl_last = 0;
    for (int step = 0; step < 5; step++) {
        pd_rl_stats s;
        assert_int_equal(pd_rl_step(r, &g, &os, true, &s), PD_OK);
        assert_true(isfinite(s.logp_maxdiff) && s.logp_maxdiff <= 1e-4);
        assert_true(s.ratio_dev_max < 1e-5);
        if (s.logp_maxdiff > worst) worst = s.logp_maxdiff;
        if (kl_first < 0) kl_first = s.kl;
        kl_last = s.kl;
    }
    fprintf(stderr, "LoRA RL: worst |sampler - learner| log-prob %.3g; KL to the base at step 1 %.3g, step 5 %.3g\n",
            worst, kl_first, kl_last);
    assert_true(kl_first < 1e-9);
    assert_true(kl_last > 1e-6);
    /* the engine's tensors: adapted ones = base + Δ, the rest bit-identical */
    int nt = 0;
    pd_ttensor *tt = pd_tcfg_tensors(pd_tmodel_cfg(ad.m), &nt);
    assert_non_null(tt);
    const float *p = pd_tmodel_params(ad.m);
    int adapted = 0;
    bool moved = false;
    for (int i = 0; i < nt; i++) {
        const float *w0 = pd_adapted_base(&ad, tt[i].name);
        const float *b0 = before + tt[i].offset, *pi = p + tt[i].offset;
        if (!w0) { assert_memory_equal(b0, pi, tt[i].n * sizeof(float)); continue; }
        adapted++;
        assert_memory_equal(w0, b0, tt[i].n * sizeof(float));   /* the base copy is the file's values */
        const pd_adapter_layer *L = NULL;
        for (int k = 0; k < ad.n; k++) if (pd_adapted_base(&ad, tt[i].name) == ad.s[k].W0) L = ad.s[k].L;
        assert_non_null(L);
        float *d = malloc(tt[i].n * sizeof(float));
        pd_adapter_delta_dense(L, d);
        for (size_t k = 0; k < tt[i].n; k++) {
            assert_true(pi[k] == d[k] + w0[k]);
            moved = moved || d[k] != 0;
        }
        free(d);
    }
    assert_int_equal(adapted, 2 * PD_AT_COUNT);
    assert_true(moved);
    free(tt);
    pd_rl_free(r);
    pd_adapted_free(&ad);
    free(before);
}

static void run_adapter(const char *model, const char *out, const char *resume, int64_t stop_at, double *curve,
                        pd_rl_result *res) {
    pd_rl_opts o;
    pd_rl_opts_default(&o, PD_RL_DRGRPO);
    o.model = model;
    o.adapter = true;
    o.adapter_spec.method = PD_ADAPTER_PISSA;
    o.adapter_spec.rank = 2;
    o.run.task = "arith-add"; o.run.dlo = o.run.dhi = 1;
    o.run.steps = 4; o.run.seed = 5; o.run.threads = 1; o.run.ckpt_every = 2; o.run.stop_at = stop_at;
    o.run.out = out; o.run.resume = resume; o.run.B = 8;
    o.run.opt.lr = 1e-2f;
    o.rl.B = 3; o.rl.G = 3; o.rl.max_tokens = 8;
    o.rl.beta = 0.02;
    o.reward_fn = digit_reward;
    o.reward_curve = curve;
    assert_int_equal(pd_rl_run(&o, res), PD_OK);
}

/* PiSSA through the run: stopped after step 2 and resumed gives the uninterrupted curve and the same
 * adapter file; the adapter loads and fits the base */
static void test_adapter_run_resume(void **st) {
    (void)st;
    const char *model = tmp("pissa-base.gguf");
    write_model(model, 43);
    double a[4] = {0}, c[4] = {0};
    pd_rl_result ra, rc;
    char oa[512], oc[512], ckpt[600];
    snprintf(oa, sizeof oa, "%s", tmp("pa.gguf"));
    snprintf(oc, sizeof oc, "%s", tmp("pc.gguf"));
    run_adapter(model, oa, NULL, 0, a, &ra);
    run_adapter(model, oc, NULL, 2, c, &rc);
    assert_int_equal(rc.steps_done, 2);
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", oc);
    run_adapter(model, oc, ckpt, 0, c, &rc);
    assert_int_equal(rc.steps_done, 4);
    assert_memory_equal(a, c, sizeof a);
    size_t na, nc;
    void *fa = slurp(oa, &na), *fc = slurp(oc, &nc);
    assert_int_equal(na, nc);
    assert_memory_equal(fa, fc, na);
    free(fa); free(fc);
    pd_model *pm = pd_model_load(model);
    assert_non_null(pm);
    pd_adapter *adp = NULL;
    assert_int_equal(pd_model_attach_adapter(pm, oa, 1.0f, &adp), PD_OK);
    assert_int_equal(adp->method, PD_ADAPTER_PISSA);
    pd_model_free(pm);
    pd_adapter_free(adp);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ponder_test_rl_%d", (int)getpid());
    mkdir(tmpdir, 0700);
    pd_threads_set(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_surrogate_fd),          cmocka_unit_test(test_aggregation_values),
        cmocka_unit_test(test_advantages),            cmocka_unit_test(test_zero_gradient_equal_rewards),
        cmocka_unit_test(test_ratio_and_logprobs),    cmocka_unit_test(test_dynamic_sampling),
        cmocka_unit_test(test_reward_rises),          cmocka_unit_test(test_learner_gradient_fd),
        cmocka_unit_test(test_prompt_too_long),       cmocka_unit_test(test_determinism_and_resume),
        cmocka_unit_test(test_adapter_rl),            cmocka_unit_test(test_adapter_run_resume),
        cmocka_unit_test(test_partial_credit),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) rc = rc ? rc : 1;
    return rc;
}
