/* tests/model/test_model_fixtures.c — the fixture models against llama.cpp's logits
 * (../shared/fixtures/models/README.md): every fixture's tokens in one batch with an F32 cache,
 * compared with <name>.logits.f32 (all rows for tiny-llama*, the last 4 for the others) and with
 * <name>.top5.txt at every position; then the same tokens one at a time (decode path) and in two
 * chunks, which must reproduce the single-batch logits. Prints one table row per model. */
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
#include "ponder/model.h"
#include "ponder/kern.h"
#include "ponder/alloc.h"
#include "ponder/threads.h"

#define FIX PD_SHARED_DIR "/fixtures/models/"

typedef struct {
    const char *name;   /* <name>.tokens.txt / .logits.f32 / .top5.txt */
    const char *gguf;   /* model file */
    /* Tolerance on max |ours - llama.cpp| / max |golden logit| over the compared rows. */
    double tol;
} fixture;

/* Tolerances, per weight type:
 * - F32 (tiny-llama): same math in float; only summation order differs (measured ~1e-7 of the
 *   largest logit) → 1e-4 as the issue asks.
 * - F16 matrices / F16 tied embedding (tiny-llama-f16, qwen2, qwen3, phi3): pd_matmul rounds the
 *   activations to F16 like ggml, so we match to float rounding; a value landing on an F16 rounding
 *   boundary can flip by one F16 ulp (2^-11 relative) of one activation, moving a logit by ~1e-5 of
 *   the max → 1e-4. For tiny-phi3 this is well under the 1e-3 that separates every phi3 feature
 *   (attn_factor, long/short factors, partial rotary, gate/up order: README).
 * - Q8_0 / Q4_0 / Q4_K / Q6_K: activations are rounded to Q8_0 / Q8_K blocks like ggml. The README
 *   measured 4e-7 with the same rounding, but one activation landing on a rounding boundary can flip
 *   one quantisation step and move a row by up to ~2e-3 (pos 14 of the Q6_K file) → 5e-3 absolute,
 *   i.e. 2.5e-3 of max |logit| ≈ 2.1. Using F32 activations would be off by 2-3e-2 and unquantised
 *   weights by 0.24-0.38, so the tolerance still proves the quantised path. */
static const fixture fixtures[] = {
    {"tiny-llama", "tiny-llama.gguf", 1e-4},
    {"tiny-llama-f16", "tiny-llama-f16.gguf", 1e-4},
    {"tiny-llama-q8_0", "tiny-llama-q8_0.gguf", 2.5e-3},
    {"tiny-llama256-q4_k", "tiny-llama256-q4_k.gguf", 2.5e-3},
    {"tiny-llama256-q4_0", "tiny-llama256-q4_0.gguf", 2.5e-3},
    {"tiny-llama256-q6_k", "tiny-llama256-q6_k.gguf", 2.5e-3},
    {"tiny-qwen2", "tiny-qwen2.gguf", 1e-4},
    {"tiny-qwen3", "tiny-qwen3.gguf", 1e-4},
    {"tiny-qwen3.chat", "tiny-qwen3.gguf", 1e-4},
    {"tiny-phi3", "tiny-phi3.gguf", 1e-4},
};

static int read_tokens(const char *name, int32_t *ids, int cap) {
    char path[512];
    snprintf(path, sizeof path, FIX "%s.tokens.txt", name);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < cap) ids[n++] = (int32_t)strtol(line, NULL, 10);
    fclose(f);
    return n;
}

/* Indices of the k largest values, descending (ties: lower index first). */
static void topk(const float *x, int n, int k, int *out) {
    for (int j = 0; j < k; j++) out[j] = -1;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < k; j++) {
            if (out[j] < 0 || x[i] > x[out[j]]) {
                for (int t = k - 1; t > j; t--) out[t] = out[t - 1];
                out[j] = i;
                break;
            }
        }
    }
}

static bool same_set(const int *a, const int *b, int k) {
    for (int i = 0; i < k; i++) {
        bool f = false;
        for (int j = 0; j < k; j++) f |= a[i] == b[j];
        if (!f) return false;
    }
    return true;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
    return w;
}

/* Models are loaded once per file and shared by the tests (tokenizer loading dominates the
 * run time under the sanitizers); freed in the group teardown. */
static struct { char key[512]; pd_model *m; } cache[16];

/* repack: a second copy whose matmul weights went through pd_model_repack (as the inference
 * commands load them), cached under its own key */
static pd_model *get_model_as(const char *file, bool repack) {
    PD_NEED_FIXTURES();
    char path[512], key[480];
    snprintf(path, sizeof path, FIX "%s", file);
    snprintf(key, sizeof key, "%s%s", repack ? "r8:" : "", file);
    size_t i = 0;
    for (; i < sizeof cache / sizeof cache[0] && cache[i].m; i++)
        if (!strcmp(cache[i].key, key)) return cache[i].m;
    assert_true(i < sizeof cache / sizeof cache[0]);
    pd_model *m = pd_model_load(path);
    if (!m) fail_msg("%s: %s", file, pd_last_error());
    if (repack && pd_model_repack(m) != PD_OK) fail_msg("%s: repack: %s", file, pd_last_error());
    snprintf(cache[i].key, sizeof cache[i].key, "%s", key);
    cache[i].m = m;
    return m;
}

static pd_model *get_model(const char *file) { return get_model_as(file, false); }

static int free_models(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof cache / sizeof cache[0]; i++) pd_model_free(cache[i].m);
    return 0;
}

static void run_fixture(const fixture *fx, bool repack) {
    PD_NEED_FIXTURES();
    char path[512];
    pd_model *m = get_model_as(fx->gguf, repack);
    const int V = m->cfg.n_vocab;
    int32_t ids[64];
    int n = read_tokens(fx->name, ids, 64);
    assert_true(n > 4);

    snprintf(path, sizeof path, FIX "%s.logits.f32", fx->name);
    size_t bytes = 0;
    float *gold = (float *)pd_read_file(path, &bytes);
    if (!gold) fail_msg("%s", pd_last_error());
    assert_int_equal(bytes % ((size_t)V * 4), 0);
    int rows = (int)(bytes / ((size_t)V * 4)), p0 = n - rows;
    assert_true(p0 >= 0);

    /* one batch, F32 cache, n_ctx 512 as llama.cpp ran it */
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 512, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * (size_t)n * V);
    assert_int_equal(pd_model_eval(m, kv, 0, ids, n, true, lg), PD_OK);

    double worst = 0, maxg = 0;
    int agree = 0, allowed = 0;
    for (int r = 0; r < rows; r++) {
        const float *g = gold + (size_t)r * V, *o = lg + (size_t)(p0 + r) * V;
        for (int j = 0; j < V; j++) {
            worst = fmax(worst, fabs((double)o[j] - g[j]));
            maxg = fmax(maxg, fabs(g[j]));
        }
    }
    double abs_tol = fx->tol * maxg;
    for (int r = 0; r < rows; r++) {
        const float *g = gold + (size_t)r * V, *o = lg + (size_t)(p0 + r) * V;
        int tg[6], to[5];
        topk(g, V, 6, tg);
        topk(o, V, 5, to);
        if (same_set(tg, to, 5)) agree++;
        /* a different set is only acceptable if the golden 5th/6th are closer than the error allows */
        else if (g[tg[4]] - g[tg[5]] < 2 * abs_tol) allowed++;
    }

    /* top5.txt: every position, listed logits at the listed ids (printed with %.6f) */
    snprintf(path, sizeof path, FIX "%s.top5.txt", fx->name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    int t5_rows = 0, t5_agree = 0, t5_allowed = 0;
    double t5_worst = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *p = line;
        int pos = (int)strtol(p, &p, 10);
        int tokid = (int)strtol(p, &p, 10);
        assert_true(pos >= 0 && pos < n);
        assert_int_equal(tokid, ids[pos]);
        int gid[5], to[5];
        double gl[5];
        for (int k = 0; k < 5; k++) {
            gid[k] = (int)strtol(p, &p, 10);
            assert_int_equal(*p, ':');
            gl[k] = strtod(p + 1, &p);
            assert_true(gid[k] >= 0 && gid[k] < V);
            t5_worst = fmax(t5_worst, fabs(lg[(size_t)pos * V + gid[k]] - gl[k]));
        }
        topk(lg + (size_t)pos * V, V, 5, to);
        if (same_set(gid, to, 5)) t5_agree++;
        /* our 5th must then be within the tolerance of the golden 5th (a near tie) */
        else if (fabs(lg[(size_t)pos * V + to[4]] - gl[4]) < 2 * abs_tol) t5_allowed++;
        t5_rows++;
    }
    fclose(f);
    assert_int_equal(t5_rows, n);

    /* decode path: one token at a time; and two chunks. Logits only for the golden's rows (the
     * 151936-wide output matmul dominates the run time under the sanitizers). */
    pd_kv_seq_clear(kv, 0);
    float *one = malloc(sizeof(float) * (size_t)n * V);
    int8_t want[64];
    for (int i = 0; i < n; i++) want[i] = i >= p0;
    for (int i = 0; i < n; i++) {
        pd_batch b = {.n = 1, .token = ids + i, .want_logits = want + i};
        assert_int_equal(pd_model_forward(m, kv, &b, one + (size_t)(i < p0 ? 0 : i - p0) * V), PD_OK);
    }
    double dec = max_abs_diff(one, lg + (size_t)p0 * V, (size_t)rows * V);
    pd_kv_seq_clear(kv, 0);
    int h = n / 2 + 1, got = 0;
    for (int part = 0; part < 2; part++) {
        int at = part ? h : 0, cnt = part ? n - h : h;
        pd_batch b = {.n = cnt, .token = ids + at, .want_logits = want + at};
        assert_int_equal(pd_model_forward(m, kv, &b, one + (size_t)got * V), PD_OK);
        for (int i = at; i < at + cnt; i++) got += want[i];
    }
    assert_int_equal(got, rows);
    double chk = max_abs_diff(one, lg + (size_t)p0 * V, (size_t)rows * V);

    printf("  %-20s rows %2d  worst |d| %.2e  max|logit| %.3f  rel %.2e  top5 %2d/%-2d (+%d near-tie)  "
           "top5.txt %2d/%-2d |d| %.1e  decode %.1e chunks %.1e\n",
           fx->name, rows, worst, maxg, worst / maxg, agree, rows, allowed, t5_agree, t5_rows, t5_worst, dec, chk);
    assert_true(worst / maxg <= fx->tol);
    assert_int_equal(agree + allowed, rows);
    assert_true(t5_worst <= abs_tol + 1e-6);
    assert_int_equal(t5_agree + t5_allowed, t5_rows);
    /* The decode and chunked paths do the same per-token math (rows of a matmul are independent,
     * attention reads the same cached K/V), but the matmul may block a 1-row product differently
     * (float reassociation, ~1e-7), and a value that then lands on the other side of an F16 / Q8
     * activation rounding boundary moves a row by up to the type's tolerance above (measured:
     * 1.1e-5 on tiny-qwen3.chat, 0 to 2.4e-7 elsewhere). */
    assert_true(dec <= fx->tol * maxg);
    assert_true(chk <= fx->tol * maxg);

    free(one);
    free(lg);
    free(gold);
    pd_kv_free(kv);
}

static void test_fixture(void **st) { run_fixture((const fixture *)*st, false); }

/* The Q8_0 / Q4_0 / Q4_K fixtures with their weights repacked into 8-row groups (pd_model_repack):
 * every check above, and the logits of every position equal the GGUF layout's to the bit. */
static void test_fixture_repacked(void **st) {
    const fixture *fx = *st;
    run_fixture(fx, true);
    pd_model *a = get_model(fx->gguf), *b = get_model_as(fx->gguf, true);
    if (pd_isa_best() >= PD_ISA_AVX2) { /* the kernels that read the layout are there: it was used */
        int packed = 0;
        for (int il = 0; il < b->cfg.n_layer; il++) packed += b->layers[il].wq.layout == PD_LAYOUT_R8;
        assert_int_equal(packed, b->cfg.n_layer);
    }
    /* a tied embedding is repacked too (get_rows reads any layout); an untied one is not */
    pd_type ot = b->output.type;
    if (ot == PD_TYPE_Q4_0 || ot == PD_TYPE_Q8_0 || ot == PD_TYPE_Q4_K || ot == PD_TYPE_F16 || ot == PD_TYPE_F32)
        assert_int_equal(b->output.layout, b->layers[0].wq.layout);
    if (!b->cfg.tied_output) assert_int_equal(b->tok_embd.layout, PD_LAYOUT_ROWS);
    assert_true(b->output.data == (b->cfg.tied_output ? b->tok_embd.data : b->output.data));
    int32_t ids[64];
    int n = read_tokens(fx->name, ids, 64);
    const int V = a->cfg.n_vocab;
    float *la = malloc(sizeof(float) * (size_t)n * V), *lb = malloc(sizeof(float) * (size_t)n * V);
    for (int k = 0; k < 2; k++) {
        pd_model *m = k ? b : a;
        pd_kv *kv = pd_kv_new(&m->cfg, 1, 512, PD_TYPE_F32);
        assert_int_equal(pd_model_eval(m, kv, 0, ids, n, true, k ? lb : la), PD_OK);
        pd_kv_free(kv);
    }
    if (a->layers[0].wq.type != PD_TYPE_Q4_K) {
        assert_memory_equal(la, lb, sizeof(float) * (size_t)n * V);
    } else {
        /* Q4_K in the GGUF layout sends a lone token (here the last of n = 4k+1) to the one-row kernel,
         * whose float order differs from the 8-row tile's; repacked, every token takes the 8-row tile */
        double d = 0, mx = 0;
        for (size_t i = 0; i < (size_t)n * V; i++) {
            d = fmax(d, fabs((double)la[i] - lb[i]));
            mx = fmax(mx, fabs((double)la[i]));
        }
        assert_true(d <= 1e-5 * mx);
    }
    free(la);
    free(lb);
}

/* Decode (one token per forward) gives the same bits on 1 thread, on 2 threads over a team (one
 * OpenMP region per step, ponder/threads.h) and on 2 threads with one region per loop (teams off),
 * token by token: F32, F16, Q8_0 / Q4_0 / Q4_K repacked, qwen3 (qk-norm, tied F16 output), phi3
 * (fused QKV and gate/up); one case after a long prompt, where decode's attention has enough work
 * to go over the threads too (forward.c ATT_PAR_WORK). */
static void test_decode_threads(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    static const struct {
        const char *gguf;
        bool repack;
        int prompt;
    } cases[] = {{"tiny-llama.gguf", false, 0},          {"tiny-llama-f16.gguf", false, 0},
                 {"tiny-llama-q8_0.gguf", true, 3},      {"tiny-llama256-q4_0.gguf", true, 1100},
                 {"tiny-llama256-q4_k.gguf", true, 5},   {"tiny-llama256-q4_0.gguf", false, 0},
                 {"tiny-qwen3.gguf", false, 0},          {"tiny-phi3.gguf", false, 0},
                 {"tiny-llama-f16.gguf", true, 0},       {"tiny-qwen3.gguf", true, 0}};
    enum { D = 12, B = 5 }; /* D single tokens, then one batch of B (a decode step of several rows) */
    const int saved = pd_threads_get();
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        pd_model *m = get_model_as(cases[ci].gguf, cases[ci].repack);
        const int V = m->cfg.n_vocab, P = cases[ci].prompt;
        int32_t *tok = malloc(sizeof(int32_t) * (size_t)(P + D + B));
        for (int i = 0; i < P + D + B; i++) tok[i] = (int32_t)((1 + (int64_t)i * 7919) % V);
        float *lg[3];
        for (int cfg = 0; cfg < 3; cfg++) { /* 1 thread; 2 with a team; 2 without */
            pd_threads_set(cfg ? 2 : 1);
            pd_team_enable(cfg != 2);
            pd_kv *kv = pd_kv_new(&m->cfg, 1, P + D + B + 8, PD_TYPE_F16);
            assert_non_null(kv);
            lg[cfg] = malloc(sizeof(float) * (size_t)(D + B) * V);
            if (P) assert_int_equal(pd_model_eval(m, kv, 0, tok, P, false, NULL), PD_OK);
            for (int i = 0; i < D; i++) {
                pd_batch b = {.n = 1, .token = tok + P + i};
                assert_int_equal(pd_model_forward(m, kv, &b, lg[cfg] + (size_t)i * V), PD_OK);
            }
            pd_batch b = {.n = B, .token = tok + P + D};
            assert_int_equal(pd_model_forward(m, kv, &b, lg[cfg] + (size_t)D * V), PD_OK);
            pd_kv_free(kv);
        }
        pd_team_enable(1);
        pd_threads_set(saved);
        for (int i = 0; i < D + B; i++)
            for (int cfg = 1; cfg < 3; cfg++)
                if (memcmp(lg[0] + (size_t)i * V, lg[cfg] + (size_t)i * V, sizeof(float) * (size_t)V))
                    fail_msg("%s%s: decode row %d: logits on 2 threads (%s) differ from 1 thread", cases[ci].gguf,
                             cases[ci].repack ? " repacked" : "", i, cfg == 1 ? "team" : "a region per loop");
        for (int cfg = 0; cfg < 3; cfg++) free(lg[cfg]);
        free(tok);
    }
}

/* Loader facts the goldens depend on, read back from the config. */
static void test_configs(void **st) {
    (void)st;
    pd_model *m = get_model("tiny-phi3.gguf");
    assert_int_equal(m->cfg.arch, PD_ARCH_PHI3);
    assert_int_equal(m->cfg.rope.mode, PD_ROPE_NEOX);
    assert_int_equal(m->cfg.rope.n_rot, 12);
    assert_int_equal(m->cfg.rope_orig_ctx, 4096);
    assert_float_equal(m->cfg.rope.attn_factor, 1.190238f, 1e-6);
    assert_true(m->cfg.tied_output);
    assert_non_null(m->rope_freqs.data);
    assert_non_null(m->rope_long.data);
    assert_float_equal(((const float *)m->rope_long.data)[5], 32.0f, 0);
    assert_int_equal(m->cfg.n_vocab, 128256);
    m = get_model("tiny-qwen3.gguf");
    assert_true(m->cfg.qk_norm && !m->cfg.qkv_bias);
    assert_int_equal(m->cfg.head_dim, 16);
    assert_float_equal(m->cfg.rope.base, 1e6f, 0);
    /* parameter count = every tensor in the file (tied output counted once; no non-weight tensors) */
    const char *files[] = {"tiny-llama.gguf", "tiny-qwen2.gguf"};
    for (int i = 0; i < 2; i++) {
        m = get_model(files[i]);
        int64_t total = 0;
        for (int64_t t = 0; t < pd_gguf_n_tensors(m->gguf); t++) {
            const pd_gguf_tensor *gt = pd_gguf_tensor_at(m->gguf, t);
            total += gt->ne[0] * gt->ne[1] * gt->ne[2] * gt->ne[3];
        }
        assert_int_equal(pd_model_n_params(m), total);
    }
    m = get_model("tiny-llama-q8_0.gguf");
    assert_int_equal(m->cfg.rope.mode, PD_ROPE_NORM);
    assert_int_equal(m->layers[0].wq.type, PD_TYPE_Q8_0);
    assert_int_equal(m->layers[0].w_down.type, PD_TYPE_F32);
}

int main(void) {
    struct CMUnitTest tests[sizeof fixtures / sizeof fixtures[0] + 8];
    size_t nt = 0;
    tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_configs);
    tests[nt++] = (struct CMUnitTest)cmocka_unit_test(test_decode_threads);
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        struct CMUnitTest t = cmocka_unit_test_prestate(test_fixture, (void *)&fixtures[i]);
        t.name = fixtures[i].name;
        tests[nt++] = t;
    }
    static const char *const rnames[] = {"tiny-llama-q8_0 repacked", "tiny-llama256-q4_k repacked",
                                         "tiny-llama256-q4_0 repacked", "tiny-llama repacked",
                                         "tiny-llama-f16 repacked", "tiny-qwen3 repacked"};
    static const int rfix[] = {2, 3, 4, 0, 1, 7}; /* F32, F16 and qwen3's tied F16 output: 8-row groups too */
    for (int k = 0; k < 6; k++) {
        struct CMUnitTest t = cmocka_unit_test_prestate(test_fixture_repacked, (void *)&fixtures[rfix[k]]);
        t.name = rnames[k];
        tests[nt++] = t;
    }
    return pd_run_tests(tests, NULL, free_models);
}
