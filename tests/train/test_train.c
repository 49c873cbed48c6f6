/* tests/train/test_train.c — the training engine end to end on tiny models:
 *  - a fresh model's loss is close to ln(vocab); one batch is overfit to near-zero loss;
 *  - training-forward logits equal the inference forward's (pd_model_forward) for llama, qwen2
 *    and qwen3, through a saved checkpoint loaded with pd_model_load;
 *  - same seed, one thread → identical loss curves; a run interrupted and resumed from its
 *    checkpoint continues bit for bit; the LR schedule and AdamW match hand-computed values;
 *  - corrupt and truncated checkpoints fail with a message naming the file; a save killed
 *    midway leaves the previous checkpoint loadable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ponder/data.h"
#include "ponder/gguf.h"
#include "ponder/kern.h"
#include "ponder/model.h"
#include "ponder/threads.h"
#include "ponder/train.h"
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static const char *tmp(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static pd_tcfg tiny_cfg(const char *arch, bool tied) {
    pd_tcfg c;
    memset(&c, 0, sizeof c);
    pd_tcfg_set_arch(&c, arch);
    c.n_vocab = PD_TRAIN_VOCAB; c.dim = 32; c.n_layer = 2; c.n_head = 4; c.n_head_kv = 2; c.head_dim = 8;
    c.n_ff = 64; c.n_ctx = 64; c.tied = tied;
    return c;
}

static void test_initial_loss(void **st) {
    (void)st;
    pd_tcfg c = tiny_cfg("qwen3", true);
    pd_tmodel *m = pd_tmodel_new(&c, 4, 32);
    assert_non_null(m);
    pd_rng r;
    pd_rng_seed(&r, 7);
    pd_tmodel_init(m, &r);
    int32_t tok[128], tgt[128];
    for (int i = 0; i < 128; i++) { tok[i] = (int32_t)pd_rng_below(&r, 256); tgt[i] = (int32_t)pd_rng_below(&r, 256); }
    pd_tbatch b = {4, 32, tok, tgt, NULL};
    int64_t n;
    double loss = pd_tmodel_forward(m, &b, &n) / (double)n;
    assert_int_equal(n, 128);
    assert_true(fabs(loss - log((double)PD_TRAIN_VOCAB)) < 0.05);
    pd_tmodel_free(m);
}

static void test_overfit_one_batch(void **st) {
    (void)st;
    pd_tcfg c = tiny_cfg("llama", false);
    pd_tmodel *m = pd_tmodel_new(&c, 2, 16);
    pd_rng r;
    pd_rng_seed(&r, 11);
    pd_tmodel_init(m, &r);
    int32_t tok[32], tgt[32];
    for (int i = 0; i < 32; i++) tok[i] = (int32_t)pd_rng_below(&r, 256);
    for (int i = 0; i < 32; i++) tgt[i] = (i % 16 == 15) ? -1 : tok[i + 1];
    pd_tbatch b = {2, 16, tok, tgt, NULL};
    pd_optcfg o;
    pd_optcfg_default(&o);
    o.lr = 1e-2f; o.total_steps = 150; o.weight_decay = 0;
    double first = 0, loss = 0;
    for (int s = 0; s < 150; s++) {
        int64_t n;
        pd_tmodel_zero_grad(m);
        loss = pd_tmodel_forward(m, &b, &n) / (double)n;
        if (s == 0) first = loss;
        pd_tmodel_backward(m, &b, 1.0f / (float)n);
        pd_tmodel_adamw(m, &o, s, pd_lr_at(&o, s));
    }
    printf("  overfit: loss %.3f -> %.4f\n", first, loss);
    assert_true(first > 5.0);
    assert_true(loss < 0.05);
    pd_tmodel_free(m);
}

/* Gradient accumulation: two micro-batches of one row, each scaled by 1/(all targets), give the
 * gradient of the one batch holding both rows. */
static void test_grad_accumulation(void **st) {
    (void)st;
    pd_tcfg c = tiny_cfg("qwen2", false);
    pd_tmodel *m = pd_tmodel_new(&c, 2, 12);
    pd_rng r;
    pd_rng_seed(&r, 21);
    pd_tmodel_init(m, &r);
    int32_t tok[24], tgt[24];
    for (int i = 0; i < 24; i++) { tok[i] = (int32_t)pd_rng_below(&r, 256); tgt[i] = (i % 3) ? (int32_t)pd_rng_below(&r, 256) : -1; }
    tgt[13] = tgt[14] = tgt[16] = -1; /* uneven target counts per row */
    size_t n = pd_tmodel_n_params(m);
    float *whole = malloc(n * sizeof(float));
    pd_tbatch b = {2, 12, tok, tgt, NULL};
    int64_t nt, n0, n1;
    pd_tmodel_zero_grad(m);
    pd_tmodel_forward(m, &b, &nt);
    pd_tmodel_backward(m, &b, 1.0f / (float)nt);
    memcpy(whole, pd_tmodel_grads(m), n * sizeof(float));
    pd_tbatch b0 = {1, 12, tok, tgt, NULL}, b1 = {1, 12, tok + 12, tgt + 12, NULL};
    pd_tmodel_zero_grad(m);
    pd_tmodel_forward(m, &b0, &n0);
    pd_tmodel_backward(m, &b0, 1.0f / (float)nt);
    pd_tmodel_forward(m, &b1, &n1);
    pd_tmodel_backward(m, &b1, 1.0f / (float)nt);
    assert_int_equal(n0 + n1, nt);
    assert_true(n0 != n1);
    const float *acc = pd_tmodel_grads(m);
    double gmax = 0, emax = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(whole[i]) > gmax) gmax = fabs(whole[i]);
        if (fabs(whole[i] - acc[i]) > emax) emax = fabs(whole[i] - acc[i]);
    }
    assert_true(gmax > 0);
    assert_true(emax < 1e-5 * gmax);
    free(whole);
    pd_tmodel_free(m);
}

/* Hand-computed: one AdamW step from zero moments moves each weight by lr·sign(g) (+ decay). */
static void test_adamw_schedule(void **st) {
    (void)st;
    pd_optcfg o;
    pd_optcfg_default(&o);
    o.lr = 1.0f; o.warmup = 4; o.total_steps = 14; o.min_lr_frac = 0.1f;
    assert_true(fabsf(pd_lr_at(&o, 0) - 0.25f) < 1e-7f);
    assert_true(fabsf(pd_lr_at(&o, 3) - 1.0f) < 1e-7f);
    assert_true(fabsf(pd_lr_at(&o, 9) - 0.55f) < 1e-6f);   /* half way: (1 + 0.1) / 2 */
    assert_true(fabsf(pd_lr_at(&o, 14) - 0.1f) < 1e-6f);
    pd_tcfg c = tiny_cfg("llama", true);
    pd_tmodel *m = pd_tmodel_new(&c, 1, 4);
    size_t n = pd_tmodel_n_params(m);
    float *p = pd_tmodel_params(m), *g = pd_tmodel_grads(m);
    for (size_t i = 0; i < n; i++) { p[i] = 0.5f; g[i] = (i % 2) ? 1e-3f : -2e-3f; }
    o.clip = 0; o.weight_decay = 0.1f;
    double norm = pd_tmodel_adamw(m, &o, 0, 0.01f);
    double want = 0;
    for (size_t i = 0; i < n; i++) want += (i % 2) ? 1e-6 : 4e-6;
    assert_true(fabs(norm - sqrt(want)) < 1e-6 * sqrt(want));
    /* token_embd (offset 0, decayed): 0.5 − 0.01·(±1 + 0.1·0.5); attn_norm (not decayed): 0.5 ∓ 0.01 */
    size_t emb = (size_t)c.n_vocab * c.dim;
    assert_true(fabsf(p[0] - (0.5f - 0.01f * (-1.0f + 0.05f))) < 1e-5f);
    assert_true(fabsf(p[1] - (0.5f - 0.01f * (1.0f + 0.05f))) < 1e-5f);
    assert_true(fabsf(p[emb] - (0.5f + 0.01f)) < 1e-5f);
    pd_tmodel_free(m);
}

/* Training logits vs pd_model_forward of the saved file, for each architecture. */
static void check_logits(const char *arch, bool tied) {
    pd_tcfg c = tiny_cfg(arch, tied);
    pd_tmodel *m = pd_tmodel_new(&c, 1, 20);
    pd_rng r;
    pd_rng_seed(&r, 3);
    pd_tmodel_init(m, &r);
    /* larger weights than the init so logits differ clearly between positions */
    float *p = pd_tmodel_params(m);
    for (size_t i = 0; i < pd_tmodel_n_params(m); i++) p[i] += 0.1f * (float)pd_rng_normal(&r);
    int32_t tok[20];
    for (int i = 0; i < 20; i++) tok[i] = (int32_t)pd_rng_below(&r, PD_TRAIN_VOCAB);
    pd_tbatch b = {1, 20, tok, NULL, NULL};
    pd_tmodel_forward(m, &b, NULL);
    const float *tl = pd_tmodel_logits(m);
    const char *path = tmp("logits.gguf");
    assert_int_equal(pd_tmodel_save(m, path, NULL), PD_OK);
    pd_model *pm = pd_model_load(path);
    if (!pm) printf("load: %s\n", pd_last_error());
    assert_non_null(pm);
    assert_int_equal(pm->cfg.n_vocab, PD_TRAIN_VOCAB);
    assert_true(pm->cfg.tied_output == tied);
    pd_kv *kv = pd_kv_new(&pm->cfg, 1, 32, PD_TYPE_F32);
    float *il = malloc(sizeof(float) * 20 * PD_TRAIN_VOCAB);
    assert_int_equal(pd_model_eval(pm, kv, 0, tok, 20, true, il), PD_OK);
    double maxd = 0, maxv = 0;
    for (int i = 0; i < 20 * PD_TRAIN_VOCAB; i++) {
        if (fabs(tl[i] - il[i]) > maxd) maxd = fabs(tl[i] - il[i]);
        if (fabs(tl[i]) > maxv) maxv = fabs(tl[i]);
    }
    printf("  %s: max |train - inference| = %.3g (max |logit| %.3g)\n", arch, maxd, maxv);
    assert_true(maxv > 0.5);
    assert_true(maxd < 1e-4 * (maxv > 1 ? maxv : 1));
    /* the snapshot path (used by evaluation during training) gives the same logits */
    pd_model *ps = pd_tmodel_snapshot(m);
    assert_non_null(ps);
    pd_kv *kv2 = pd_kv_new(&ps->cfg, 1, 32, PD_TYPE_F32);
    float *sl = malloc(sizeof(float) * 20 * PD_TRAIN_VOCAB);
    assert_int_equal(pd_model_eval(ps, kv2, 0, tok, 20, true, sl), PD_OK);
    assert_memory_equal(sl, il, sizeof(float) * 20 * PD_TRAIN_VOCAB);
    free(il); free(sl);
    pd_kv_free(kv); pd_kv_free(kv2);
    pd_model_free(pm); pd_model_free(ps);
    pd_tmodel_free(m);
}
static void test_logits_llama(void **st) { (void)st; check_logits("llama", true); }
static void test_logits_qwen2(void **st) { (void)st; check_logits("qwen2", false); }
static void test_logits_qwen3(void **st) { (void)st; check_logits("qwen3", true); }

static void small_run(pd_train_opts *o, const char *out, double *curve) {
    pd_train_opts_default(o);
    o->cfg = tiny_cfg("qwen3", true);
    o->run.task = "arith-add";
    o->run.dlo = 1; o->run.dhi = 2;
    o->run.B = 2; o->run.T = 64; o->run.accum = 2;
    o->run.steps = 8;
    o->run.opt.lr = 3e-3f; o->run.opt.warmup = 2;
    o->run.seed = 1234;
    o->run.threads = 1;
    o->run.out = out;
    o->run.eval_batches = 1;
    o->run.loss_curve = curve;
}

static void test_determinism_and_resume(void **st) {
    (void)st;
    double a[8] = {0}, b[8] = {0}, c[8] = {0};
    pd_train_opts o;
    pd_train_result res;
    small_run(&o, tmp("a.gguf"), a);
    assert_int_equal(pd_train_run(&o, &res), PD_OK);
    assert_int_equal(res.steps_done, 8);
    small_run(&o, tmp("b.gguf"), b);
    assert_int_equal(pd_train_run(&o, &res), PD_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_true(a[7] < a[0]);
    /* interrupted after step 3, then resumed: the continuation equals the uninterrupted run */
    small_run(&o, tmp("c.gguf"), c);
    o.run.stop_at = 3;
    assert_int_equal(pd_train_run(&o, &res), PD_OK);
    assert_int_equal(res.steps_done, 3);
    pd_train_opts_default(&o);
    o.run.resume = tmp("c.gguf.ckpt");
    o.run.out = tmp("c.gguf");
    o.run.steps = 0;
    o.run.threads = 1;
    o.run.eval_batches = 1;
    o.run.loss_curve = c;
    assert_int_equal(pd_train_run(&o, &res), PD_OK);
    assert_int_equal(res.steps_done, 8);
    assert_memory_equal(a, c, sizeof a);
    /* and the final weights are identical too */
    bool oa, oc, of;
    pd_tmodel *ma = pd_tmodel_load(tmp("a.gguf.ckpt"), 1, 8, NULL, &oa), *mc = pd_tmodel_load(tmp("c.gguf.ckpt"), 1, 8, NULL, &oc);
    pd_tmodel *mf = pd_tmodel_load(tmp("c.gguf"), 1, 8, NULL, &of);
    assert_non_null(ma);
    assert_non_null(mc);
    assert_non_null(mf);
    assert_true(oa && oc && !of); /* checkpoints carry the moments, the final model does not */
    assert_memory_equal(pd_tmodel_params(ma), pd_tmodel_params(mc), pd_tmodel_n_params(ma) * sizeof(float));
    assert_memory_equal(pd_tmodel_params(mf), pd_tmodel_params(mc), pd_tmodel_n_params(ma) * sizeof(float));
    assert_memory_equal(pd_tmodel_adam_v(ma), pd_tmodel_adam_v(mc), pd_tmodel_n_params(ma) * sizeof(float));
    pd_tmodel_free(ma);
    pd_tmodel_free(mc);
    pd_tmodel_free(mf);
}

static void test_packing(void **st) {
    (void)st;
    pd_tokenizer *tok = pd_tokenizer_new_bytes(pd_train_specials, PD_TRAIN_N_SPECIALS);
    const pd_tchat chat = {tok, PD_CHAT_QWEN3, false};
    pd_data *d = pd_data_task(&chat, "arith-add", 1, 1);
    assert_non_null(d);
    pd_rng r;
    pd_rng_seed(&r, 5);
    int32_t tk[2 * 300], tg[2 * 300], sg[2 * 300];
    int64_t n = pd_data_batch(d, &r, 2, 300, false, tk, tg, sg);
    assert_true(n > 0);
    int32_t im_start = pd_tok_find(tok, "<|im_start|>"), im_end = pd_tok_find(tok, "<|im_end|>");
    int docs = 0;
    for (int i = 0; i < 600; i++) {
        int t = i % 300;
        if (sg[i] == t && tk[i] == im_start) docs++;
        /* every document starts with <|im_start|>; targets never cross a document end */
        if (sg[i] == t && tg[i] >= 0) assert_int_equal(tk[i], im_start);
        if (tk[i] == im_end && t + 1 < 300) assert_int_equal(tg[i], -1);
    }
    assert_true(docs >= 3); /* 1-digit items are ~70 tokens: several per 300-token row */
    /* the loss covers the completion: "<think>" is a target, the prompt's "user" is not */
    int32_t think = pd_tok_find(tok, "<think>");
    int think_targets = 0;
    for (int i = 0; i < 600; i++) think_targets += tg[i] == think;
    assert_int_equal(think_targets, docs);
    pd_data_free(d);
    pd_tokenizer_free(tok);
}

/* Text corpus: windows with every next token a target; held-out windows come from the last 10%.
 * JSONL: items rendered like task items; the held-out split is the last 10% of the lines. */
static void test_data_files(void **st) {
    (void)st;
    pd_tokenizer *tok = pd_tokenizer_new_bytes(pd_train_specials, PD_TRAIN_N_SPECIALS);
    const pd_tchat chat = {tok, PD_CHAT_QWEN3, false};
    const char *tp = tmp("corpus.txt");
    FILE *f = fopen(tp, "w");
    for (int i = 0; i < 90; i++) fputc('a' + i % 26, f); /* train part: letters */
    for (int i = 0; i < 10; i++) fputc('0' + i, f);      /* held-out part: digits */
    fclose(f);
    pd_data *d = pd_data_file(&chat, tp, false);
    assert_non_null(d);
    assert_int_equal(pd_data_kind_of(d), PD_DATA_TEXT);
    pd_rng r;
    pd_rng_seed(&r, 2);
    int32_t tk[3 * 16], tg[3 * 16], sg[3 * 16];
    assert_int_equal(pd_data_batch(d, &r, 3, 16, false, tk, tg, sg), 3 * 15);
    for (int i = 0; i < 48; i++) {
        assert_true(tk[i] >= 'a' && tk[i] <= 'z');
        if (i % 16 < 15) assert_int_equal(tg[i], tk[i + 1]);
        else assert_int_equal(tg[i], -1);
    }
    assert_int_equal(pd_data_batch(d, &r, 1, 16, true, tk, tg, sg), 9); /* only 10 held-out tokens */
    for (int i = 0; i < 10; i++) assert_true(tk[i] >= '0' && tk[i] <= '9');
    pd_data_free(d);

    const char *jp = tmp("set.jsonl");
    f = fopen(jp, "w");
    for (int i = 0; i < 10; i++)
        fprintf(f, "{\"id\":\"q%d\",\"prompt\":\"Q%d\",\"reasoning\":\"r\",\"answer\":\"%c\"}\n", i, i, 'A' + i);
    fclose(f);
    d = pd_data_file(&chat, jp, false);
    assert_non_null(d);
    assert_int_equal(pd_data_kind_of(d), PD_DATA_JSONL);
    for (int k = 0; k < 5; k++) {
        pd_tex ex;
        assert_int_equal(pd_data_next(d, &r, 64, true, &ex), PD_OK);
        char *txt = pd_detokenize(tok, ex.tok, (size_t)ex.n, NULL);
        assert_non_null(strstr(txt, "user\nQ9<|im_end|>")); /* the held-out item is the last line */
        assert_non_null(strstr(txt, "<think>\nr\n</think>\n\nJ<|im_end|>"));
        free(txt);
        pd_tex_free(&ex);
    }
    pd_task_item items[4];
    assert_int_equal(pd_data_eval_items(d, 1, 0, 4, items), 1);
    assert_string_equal(items[0].answer, "J");
    pd_task_item_free(&items[0]);
    pd_data_free(d);
    /* a missing file is an error naming it */
    assert_null(pd_data_file(&chat, tmp("missing.txt"), false));
    assert_non_null(strstr(pd_last_error(), "missing.txt"));
    /* bytes that are not UTF-8 text are refused, naming the file and where (a model file given as --data
     * used to train as a byte corpus without a warning) */
    static const struct { const char *bytes; size_t n; const char *want; } bad[] = {
#define BYTES(s) s, sizeof s - 1
        {BYTES("GGUF\3\0\0\0 and then weights of a model file"), "is a GGUF model file"},
        {BYTES("a text with a NUL\0 byte in it, long enough to train"), "byte 17 is NUL"},
        {BYTES("caf\xC3\xA9 then an \xFF that no UTF-8 text has, long enough"), "invalid UTF-8 at byte 14 (0xff)"},
#undef BYTES
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *bp = tmp("bad.txt");
        f = fopen(bp, "wb");
        assert_int_equal(fwrite(bad[k].bytes, 1, bad[k].n, f), bad[k].n);
        fclose(f);
        assert_null(pd_data_file(&chat, bp, false));
        assert_non_null(strstr(pd_last_error(), "bad.txt"));
        if (!strstr(pd_last_error(), bad[k].want)) fail_msg("case %zu: %s", k, pd_last_error());
    }
    pd_tokenizer_free(tok);
}

static void test_plot(void **st) {
    (void)st;
    double loss[50], ex[2] = {25, 50}, ey[2] = {0.5, 0.01};
    for (int i = 0; i < 50; i++) loss[i] = 5.0 * pow(0.85, i); /* 5 → 0.002: a log axis */
    const char *p = tmp("plot.svg");
    assert_int_equal(pd_train_plot_svg(p, loss, 0, 50, ex, ey, 2), PD_OK);
    FILE *f = fopen(p, "r");
    char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_memory_equal(buf, "<svg", 4);
    assert_non_null(strstr(buf, "(log scale)"));
    int pts = 0, circles = 0;
    const char *q = strstr(buf, "<polyline");
    assert_non_null(q);
    for (const char *e = strstr(q, "\"/>"), *c = strstr(q, "points=\""); c && c < e; c++) pts += *c == ',';
    for (const char *c = buf; (c = strstr(c, "<circle")); c++) circles++;
    assert_int_equal(pts, 50);
    assert_int_equal(circles, 2);
    assert_int_not_equal(pd_train_plot_svg(tmp("no/such/dir/plot.svg"), loss, 0, 50, NULL, NULL, 0), PD_OK);
    /* the same curve as PNG (ponder/plot.h): the signature and the 720x420 IHDR size */
    const char *pp = tmp("plot.png");
    assert_int_equal(pd_train_plot_svg(pp, loss, 0, 50, ex, ey, 2), PD_OK);
    f = fopen(pp, "rb");
    assert_non_null(f);
    unsigned char h[24];
    assert_int_equal(fread(h, 1, 24, f), 24);
    fclose(f);
    assert_memory_equal(h, "\x89PNG\r\n\x1a\n", 8);
    assert_int_equal((h[16] << 24) | (h[17] << 16) | (h[18] << 8) | h[19], 720);
    assert_int_equal((h[20] << 24) | (h[21] << 16) | (h[22] << 8) | h[23], 420);
    assert_int_equal(pd_train_plot_svg(tmp("plot.gif"), loss, 0, 50, ex, ey, 2), PD_ERR_UNSUPPORTED);
}

static void test_corrupt_checkpoint(void **st) {
    (void)st;
    pd_tcfg c = tiny_cfg("qwen2", false);
    pd_tmodel *m = pd_tmodel_new(&c, 1, 8);
    pd_rng r;
    pd_rng_seed(&r, 9);
    pd_tmodel_init(m, &r);
    pd_tckpt_info info = {.step = 5, .rng = r, .config_json = "{}", .with_optimizer = true};
    const char *path = tmp("good.gguf");
    assert_int_equal(pd_tmodel_save(m, path, &info), PD_OK);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    /* truncated to half */
    const char *tp = tmp("trunc.gguf");
    f = fopen(tp, "wb");
    fwrite(buf, 1, (size_t)n / 2, f);
    fclose(f);
    assert_null(pd_tmodel_load(tp, 1, 8, NULL, NULL));
    printf("  truncated: %s\n", pd_last_error());
    assert_non_null(strstr(pd_last_error(), "trunc.gguf"));
    /* garbage header */
    const char *cp = tmp("corrupt.gguf");
    memcpy(buf, "GGUX", 4);
    f = fopen(cp, "wb");
    fwrite(buf, 1, (size_t)n, f);
    fclose(f);
    assert_null(pd_tmodel_load(cp, 1, 8, NULL, NULL));
    printf("  corrupt: %s\n", pd_last_error());
    assert_non_null(strstr(pd_last_error(), "corrupt.gguf"));
    free(buf);
    /* a good one round-trips step, rng, moments */
    pd_tckpt_info back;
    bool has_opt;
    pd_tmodel *m2 = pd_tmodel_load(path, 1, 8, &back, &has_opt);
    assert_non_null(m2);
    assert_true(has_opt);
    assert_int_equal(back.step, 5);
    assert_memory_equal(back.rng.s, r.s, sizeof r.s);
    assert_string_equal(back.config_json, "{}");
    free((char *)back.config_json);
    assert_memory_equal(pd_tmodel_params(m2), pd_tmodel_params(m), pd_tmodel_n_params(m) * sizeof(float));
    pd_tmodel_free(m2);
    pd_tmodel_free(m);
}

/* A checkpoint whose AdamW moments are not F32 (as `ponder quantize` of a checkpoint used to make) is
 * refused on resume with a message naming the tensor, instead of being resumed from. */
static void test_resume_refuses_non_f32_moments(void **st) {
    (void)st;
    double c[8] = {0};
    pd_train_opts o;
    pd_train_result res;
    small_run(&o, tmp("q.gguf"), c);
    o.run.stop_at = 2;
    assert_int_equal(pd_train_run(&o, &res), PD_OK);
    /* the same checkpoint with every opt.* tensor stored as F16 */
    pd_gguf *g = pd_gguf_open(tmp("q.gguf.ckpt"));
    assert_non_null(g);
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_copy_kvs(w, g, NULL), PD_OK);
    int n_opt = 0;
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        if (strncmp(t->name, "opt.", 4)) {
            assert_int_equal(pd_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data), PD_OK);
            continue;
        }
        int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        uint8_t *h = malloc(pd_row_bytes(PD_TYPE_F16, t->ne[0]) * (size_t)rows);
        for (int64_t r = 0; r < rows; r++)
            assert_int_equal(pd_quantize_row(PD_TYPE_F16, (const float *)t->data + r * t->ne[0],
                                             h + (size_t)r * pd_row_bytes(PD_TYPE_F16, t->ne[0]), t->ne[0]), PD_OK);
        assert_int_equal(pd_gguf_add_tensor(w, t->name, PD_TYPE_F16, t->n_dims, t->ne, h), PD_OK);
        free(h);
        n_opt++;
    }
    assert_true(n_opt > 0);
    assert_int_equal(pd_gguf_write(w, tmp("q16.gguf.ckpt")), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf_close(g);
    pd_train_opts_default(&o);
    o.run.resume = tmp("q16.gguf.ckpt");
    o.run.out = tmp("q16.gguf");
    o.run.steps = 0;
    o.run.threads = 1;
    assert_int_equal(pd_train_run(&o, &res), PD_ERR_FORMAT);
    printf("  %s\n", pd_last_error());
    assert_non_null(strstr(pd_last_error(), "not F32"));
    assert_non_null(strstr(pd_last_error(), "opt."));
    struct stat sb;
    assert_int_not_equal(stat(tmp("q16.gguf"), &sb), 0); /* nothing written */
}

/* A child saves a new checkpoint over an existing one and is killed inside the writer, after the temp
 * file is complete and before the rename (the PD_TEST_KILL_IN_SAVE hook in pd_gguf_write): the child
 * must die by SIGKILL there, the temp file must exist, and the path must still hold the old checkpoint,
 * loadable, step and weights unchanged. Then a normal save replaces it. */
static void test_kill_during_save(void **st) {
    (void)st;
    pd_tcfg c = tiny_cfg("llama", true);
    pd_tmodel *m = pd_tmodel_new(&c, 1, 8);
    pd_rng r;
    pd_rng_seed(&r, 1);
    pd_tmodel_init(m, &r);
    const char *path = tmp("kill.gguf");
    pd_tckpt_info info = {.step = 1, .rng = r, .config_json = "{}", .with_optimizer = true};
    assert_int_equal(pd_tmodel_save(m, path, &info), PD_OK);
    float first = pd_tmodel_params(m)[0];
    char tmpf[600];
    snprintf(tmpf, sizeof tmpf, "%s.tmp", path);
    unlink(tmpf);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("PD_TEST_KILL_IN_SAVE", "1", 1);
        pd_tmodel_params(m)[0] = first + 1;
        info.step = 2;
        pd_tmodel_save(m, path, &info);
        _exit(3); /* reached only if the hook did not fire */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    struct stat sb;
    assert_int_equal(stat(tmpf, &sb), 0);
    pd_tckpt_info back;
    bool has_opt;
    pd_tmodel *m2 = pd_tmodel_load(path, 1, 8, &back, &has_opt);
    assert_non_null(m2);
    assert_true(has_opt);
    assert_int_equal(back.step, 1);
    assert_true(pd_tmodel_params(m2)[0] == first);
    free((char *)back.config_json);
    pd_tmodel_free(m2);
    /* the leftover temp file does not stop the next save, which lands */
    pd_tmodel_params(m)[0] = first + 1;
    info.step = 2;
    assert_int_equal(pd_tmodel_save(m, path, &info), PD_OK);
    m2 = pd_tmodel_load(path, 1, 8, &back, &has_opt);
    assert_non_null(m2);
    assert_int_equal(back.step, 2);
    assert_true(pd_tmodel_params(m2)[0] == first + 1);
    assert_int_not_equal(stat(tmpf, &sb), 0);
    free((char *)back.config_json);
    pd_tmodel_free(m2);
    pd_tmodel_free(m);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ponder_test_train_%d", (int)getpid());
    mkdir(tmpdir, 0700);
    pd_threads_set(1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_loss),   cmocka_unit_test(test_overfit_one_batch),
        cmocka_unit_test(test_adamw_schedule), cmocka_unit_test(test_grad_accumulation),
        cmocka_unit_test(test_logits_llama),
        cmocka_unit_test(test_logits_qwen2),   cmocka_unit_test(test_logits_qwen3),
        cmocka_unit_test(test_packing),        cmocka_unit_test(test_data_files), cmocka_unit_test(test_plot),
        cmocka_unit_test(test_determinism_and_resume),
        cmocka_unit_test(test_corrupt_checkpoint), cmocka_unit_test(test_kill_during_save),
        cmocka_unit_test(test_resume_refuses_non_f32_moments),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
