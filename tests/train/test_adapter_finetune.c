/* tests/train/test_adapter_finetune.c — adapters on a whole model: a tiny base saved by the training
 * engine; `finetune --steps 0` adapters leave the inference logits unchanged (step-0 equivalence
 * through the model's linear hook); after a few steps the hook-applied adapter and the merged file
 * give the same logits; a resumed run reproduces the uninterrupted one bit for bit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ponder/adapter.h"
#include "ponder/model.h"
#include "ponder/train.h"

static char base_path[128], dir[96];

static const char *path(const char *name) {
    static char buf[4][192];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int setup(void **st) {
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/ponder_test_peft_%d", (int)getpid());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return -1;
    snprintf(base_path, sizeof base_path, "%s/base.gguf", dir);
    pd_tcfg c;
    memset(&c, 0, sizeof c);
    if (pd_tcfg_set_arch(&c, "qwen3") != PD_OK) return -1;
    c.n_vocab = PD_TRAIN_VOCAB; c.dim = 32; c.n_layer = 2; c.n_head = 2; c.n_head_kv = 1; c.head_dim = 16;
    c.n_ff = 48; c.n_ctx = 64; c.tied = true;
    pd_tmodel *m = pd_tmodel_new(&c, 1, 8);
    if (!m) return -1;
    pd_rng r;
    pd_rng_seed(&r, 3);
    pd_tmodel_init(m, &r);
    /* larger weights than the default init so the adapters have real structure to act on */
    float *p = pd_tmodel_params(m);
    for (size_t i = 0; i < pd_tmodel_n_params(m); i++) p[i] *= 5;
    pd_tckpt_info info = {.step = 0, .rng = r, .config_json = NULL, .with_optimizer = false};
    pd_status s = pd_tmodel_save(m, base_path, &info);
    pd_tmodel_free(m);
    return s == PD_OK ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

enum { NT = 6 };
static const int32_t toks[NT] = {72, 101, 108, 108, 111, 33};

/* logits of all NT tokens through the inference path, optionally with an adapter hook */
static float *logits_of(const char *model_path, pd_adapter *a) {
    pd_model *m = pd_model_load(model_path);
    if (!m) fail_msg("%s", pd_last_error());
    if (a) { m->linear_hook = pd_adapter_linear_hook; m->linear_hook_ctx = a; }
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 64, PD_TYPE_F32);
    assert_non_null(kv);
    float *lg = malloc(sizeof(float) * NT * m->cfg.n_vocab);
    assert_int_equal(pd_model_eval(m, kv, 0, toks, NT, true, lg), PD_OK);
    pd_kv_free(kv);
    pd_model_free(m);
    return lg;
}

static bool g_update_init;

static void finetune_stop(pd_adapter_method meth, int64_t steps, int64_t stop_after, const char *out, const char *resume) {
    pd_finetune_opts o;
    pd_finetune_opts_default(&o);
    o.base = resume ? NULL : base_path;
    o.method = meth;
    o.targets = (1u << PD_AT_COUNT) - 1;
    o.rank = 2;
    o.soka.r_max = 3;
    o.run.task = "arith-add";
    o.run.dlo = o.run.dhi = 1;
    o.run.B = 2; o.run.T = 32;
    o.run.steps = steps;
    o.run.stop_at = stop_after;
    o.soka_init_update = g_update_init;
    o.calib_batches = 2;
    o.run.opt.lr = 1e-2f;
    o.run.eval_n = 0;
    o.run.eval_batches = 1;
    o.run.out = out;
    o.run.resume = resume;
    o.run.threads = 1;
    pd_finetune_result res;
    if (pd_finetune_run(&o, &res) != PD_OK) fail_msg("finetune: %s", pd_last_error());
    if (steps > 0) assert_int_equal(res.steps_done, stop_after > 0 ? stop_after : steps);
}
static void finetune(pd_adapter_method meth, int64_t steps, const char *out, const char *resume) {
    finetune_stop(meth, steps, 0, out, resume);
}

static double max_rel(const float *a, const float *b, size_t n) {
    double scale = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i]) > scale) scale = fabs(a[i]);
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
    }
    return d / (scale > 0 ? scale : 1);
}

static void test_step0_equivalence(void **st) {
    (void)st;
    float *base = logits_of(base_path, NULL);
    size_t n = (size_t)NT * PD_TRAIN_VOCAB;
    for (int meth = 0; meth < 3; meth++) {
        const char *out = path("fresh.gguf");
        finetune((pd_adapter_method)meth, 0, out, NULL);
        pd_adapter *a = pd_adapter_load(out);
        assert_non_null(a);
        assert_int_equal(pd_adapter_n_slots(a), 2 * PD_AT_COUNT);
        if (meth != PD_ADAPTER_LORA) {
            /* the adapter holds a real principal part of W ... */
            const pd_adapter_layer *L = pd_adapter_slot(a, 0, PD_AT_Q);
            double an = 0;
            for (int64_t i = 0; i < pd_adapter_layer_a_size(L); i++) an += (double)L->A[i] * L->A[i];
            assert_true(an > 1e-3);
        }
        /* ... and yet the adapted model equals the base at step 0 */
        float *ad = logits_of(base_path, a);
        assert_true(max_rel(base, ad, n) < 1e-6);
        free(ad);
        /* merging the fresh adapter gives the base back */
        const char *mp = path("merged0.gguf");
        assert_int_equal(pd_adapter_merge_file(base_path, a, mp, false), PD_OK);
        float *mg = logits_of(mp, NULL);
        assert_true(max_rel(base, mg, n) < 1e-6);
        free(mg);
        pd_adapter_free(a);
    }
    free(base);
}

/* SoKA initialised from the estimated update: still the base at step 0, factors unlike the
 * weight-initialised ones. */
static void test_soka_update_init(void **st) {
    (void)st;
    size_t n = (size_t)NT * PD_TRAIN_VOCAB;
    float *base = logits_of(base_path, NULL);
    const char *pw = path("soka_w.gguf"), *pu = path("soka_u.gguf");
    g_update_init = false;
    finetune(PD_ADAPTER_SOKA, 0, pw, NULL);
    g_update_init = true;
    finetune(PD_ADAPTER_SOKA, 0, pu, NULL);
    g_update_init = false;
    pd_adapter *aw = pd_adapter_load(pw), *au = pd_adapter_load(pu);
    assert_non_null(aw); assert_non_null(au);
    const pd_adapter_layer *lw = pd_adapter_slot(aw, 1, PD_AT_UP), *lu = pd_adapter_slot(au, 1, PD_AT_UP);
    assert_true(lu->rank >= 1 && lu->rank <= 3);
    double diff = 0, nu = 0;
    int64_t na = pd_adapter_layer_a_size(lu) < pd_adapter_layer_a_size(lw) ? pd_adapter_layer_a_size(lu)
                                                                           : pd_adapter_layer_a_size(lw);
    for (int64_t i = 0; i < na; i++) {
        diff += fabs(fabs(lu->A[i]) - fabs(lw->A[i]));
        nu += fabs(lu->A[i]);
    }
    assert_true(nu > 0 && diff > 1e-3 * nu);
    float *ad = logits_of(base_path, au);
    assert_true(max_rel(base, ad, n) < 1e-6);
    free(ad);
    pd_adapter_free(aw);
    pd_adapter_free(au);
    free(base);
}

static void test_trained_merge_matches_hook(void **st) {
    (void)st;
    size_t n = (size_t)NT * PD_TRAIN_VOCAB;
    float *base = logits_of(base_path, NULL);
    for (int meth = 0; meth < 3; meth++) {
        const char *out = path("trained.gguf");
        finetune((pd_adapter_method)meth, 3, out, NULL);
        pd_adapter *a = pd_adapter_load(out);
        assert_non_null(a);
        float *hook = logits_of(base_path, a);
        /* training moved the model */
        assert_true(max_rel(base, hook, n) > 1e-4);
        const char *mp = path("merged.gguf");
        assert_int_equal(pd_adapter_merge_file(base_path, a, mp, false), PD_OK);
        float *mg = logits_of(mp, NULL);
        double d = max_rel(hook, mg, n);
        if (d > 1e-4) fail_msg("%s: merged vs hook logits differ by %g (relative)", pd_adapter_method_name(a->method), d);
        free(hook);
        free(mg);
        pd_adapter_free(a);
    }
    free(base);
}

static void test_resume_bit_exact(void **st) {
    (void)st;
    const char *full = path("full.gguf"), *half = path("half.gguf");
    finetune(PD_ADAPTER_SOKA, 4, full, NULL);
    finetune_stop(PD_ADAPTER_SOKA, 4, 2, half, NULL); /* interrupted after step 2 of 4 */
    char ck[200];
    snprintf(ck, sizeof ck, "%s.ckpt", half);
    pd_adapter *h = pd_adapter_load(half), *f = pd_adapter_load(full);
    assert_non_null(h); assert_non_null(f);
    const pd_adapter_layer *x = pd_adapter_slot(h, 0, PD_AT_Q), *y = pd_adapter_slot(f, 0, PD_AT_Q);
    assert_memory_not_equal(x->A, y->A, sizeof(float) * pd_adapter_layer_a_size(x)); /* 2 steps ≠ 4 steps */
    pd_adapter_free(h);
    pd_adapter_free(f);
    finetune(PD_ADAPTER_SOKA, 4, half, ck);
    pd_adapter *a = pd_adapter_load(full), *b = pd_adapter_load(half);
    assert_non_null(a); assert_non_null(b);
    for (int i = 0; i < a->n_layer * PD_AT_COUNT; i++) {
        const pd_adapter_layer *x = &a->layers[i], *y = &b->layers[i];
        if (!x->A) continue;
        assert_int_equal(x->rank, y->rank);
        assert_memory_equal(x->A, y->A, sizeof(float) * pd_adapter_layer_a_size(x));
        assert_memory_equal(x->B, y->B, sizeof(float) * pd_adapter_layer_b_size(x));
    }
    pd_adapter_free(a);
    pd_adapter_free(b);
    /* a checkpoint is required for resume; a plain adapter is refused with a message */
    pd_finetune_opts o;
    pd_finetune_opts_default(&o);
    o.run.resume = full;
    o.run.out = path("x.gguf");
    pd_finetune_result res;
    assert_int_not_equal(pd_finetune_run(&o, &res), PD_OK);
    assert_non_null(strstr(pd_last_error(), "not a fine-tuning checkpoint"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step0_equivalence),
        cmocka_unit_test(test_soka_update_init),
        cmocka_unit_test(test_trained_merge_matches_hook),
        cmocka_unit_test(test_resume_bit_exact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
