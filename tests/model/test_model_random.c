/* tests/model/test_model_random.c — models of shapes the fixtures do not cover, built in memory with
 * the GGUF writer from seeded random weights, run through pd_model_forward and compared with the
 * double-precision reference (ref_forward.c), which takes its hyper-parameters from the test's own
 * spec rather than from the loader. Covers GQA ratios 1/2/4, head_dim != n_embd/n_head, untied
 * output, Llama-3.1 rope_freqs, linear rope scaling, qwen2 biases, qwen3 qk-norm, phi3 fused tensors
 * (short and long rope factors, attn_factor); plus batching, the KV cache operations, and errors. */
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
#include "ponder/model.h"
#include "ponder/alloc.h"
#include "ponder/rng.h"
#include "ponder/threads.h"
#include "model/ref_forward.c"

typedef struct {
    const char *arch;
    int E, L, H, Hkv, hd, F, V;
    bool untied, bias, qk_norm, fused, rope_freqs, phi_factors;
    float rope_scale;   /* linear factor (0 = none) */
    int n_rot;          /* 0 = head_dim */
    float attn_factor;  /* 0 = none */
    uint64_t seed;
} spec;

typedef struct {
    float freqs[64], longf[64];
    bool has_long;
} spec_extra;

static void add_rand(pd_gguf_writer *w, pd_rng *r, const char *name, int64_t ne0, int64_t ne1, double mean, double sd) {
    int64_t ne[2] = {ne0, ne1};
    size_t n = (size_t)(ne0 * (ne1 > 0 ? ne1 : 1));
    float *d = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) d[i] = (float)(mean + sd * pd_rng_normal(r));
    assert_int_equal(pd_gguf_add_tensor(w, name, PD_TYPE_F32, ne1 > 0 ? 2 : 1, ne, d), PD_OK);
    free(d);
}

/* Writes the model into a buffer and opens it in memory. */
static pd_gguf *build(const spec *s, spec_extra *x) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_non_null(w);
    pd_rng r;
    pd_rng_seed(&r, s->seed);
    char k[128];
    const char *a = s->arch;
    int n_rot = s->n_rot ? s->n_rot : s->hd;
    pd_gguf_set_str(w, "general.architecture", a);
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, a), k)
    pd_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)s->E);
    pd_gguf_set_u32(w, KEY("block_count"), (uint32_t)s->L);
    pd_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->F);
    pd_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)s->H);
    pd_gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->Hkv);
    pd_gguf_set_u32(w, KEY("context_length"), 4096);
    if (s->hd != s->E / s->H) {
        pd_gguf_set_u32(w, KEY("attention.key_length"), (uint32_t)s->hd);
        pd_gguf_set_u32(w, KEY("attention.value_length"), (uint32_t)s->hd);
    }
    pd_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    pd_gguf_set_f32(w, KEY("rope.freq_base"), 10000.0f);
    if (s->n_rot) pd_gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)s->n_rot);
    if (s->rope_scale > 0) {
        pd_gguf_set_str(w, KEY("rope.scaling.type"), "linear");
        pd_gguf_set_f32(w, KEY("rope.scaling.factor"), s->rope_scale);
    }
    if (s->attn_factor > 0) pd_gguf_set_f32(w, KEY("rope.scaling.attn_factor"), s->attn_factor);
    if (s->phi_factors) pd_gguf_set_u32(w, KEY("rope.scaling.original_context_length"), 1024);
#undef KEY
    const int nq = s->H * s->hd, nkv = s->Hkv * s->hd;
    add_rand(w, &r, "token_embd.weight", s->E, s->V, 0, 1.0);
    add_rand(w, &r, "output_norm.weight", s->E, 0, 1, 0.1);
    if (s->untied) add_rand(w, &r, "output.weight", s->E, s->V, 0, 1.0 / sqrt(s->E));
    x->has_long = false;
    if (s->rope_freqs || s->phi_factors) {
        for (int i = 0; i < n_rot / 2; i++) {
            x->freqs[i] = 1.0f + 3.0f * pd_rng_uniformf(&r);
            x->longf[i] = 1.0f + 20.0f * pd_rng_uniformf(&r);
        }
        int64_t ne = n_rot / 2;
        if (s->rope_freqs) {
            pd_gguf_add_tensor(w, "rope_freqs.weight", PD_TYPE_F32, 1, &ne, x->freqs);
        } else {
            pd_gguf_add_tensor(w, "rope_factors_short.weight", PD_TYPE_F32, 1, &ne, x->freqs);
            pd_gguf_add_tensor(w, "rope_factors_long.weight", PD_TYPE_F32, 1, &ne, x->longf);
            x->has_long = true;
        }
    }
    char n[96];
    for (int l = 0; l < s->L; l++) {
#define NM(suffix) (snprintf(n, sizeof n, "blk.%d." suffix, l), n)
        add_rand(w, &r, NM("attn_norm.weight"), s->E, 0, 1, 0.1);
        if (s->fused) {
            add_rand(w, &r, NM("attn_qkv.weight"), s->E, nq + 2 * nkv, 0, 1.0 / sqrt(s->E));
        } else {
            add_rand(w, &r, NM("attn_q.weight"), s->E, nq, 0, 1.0 / sqrt(s->E));
            add_rand(w, &r, NM("attn_k.weight"), s->E, nkv, 0, 1.0 / sqrt(s->E));
            add_rand(w, &r, NM("attn_v.weight"), s->E, nkv, 0, 1.0 / sqrt(s->E));
        }
        if (s->bias) {
            add_rand(w, &r, NM("attn_q.bias"), nq, 0, 0, 0.5);
            add_rand(w, &r, NM("attn_k.bias"), nkv, 0, 0, 0.5);
            add_rand(w, &r, NM("attn_v.bias"), nkv, 0, 0, 0.5);
        }
        if (s->qk_norm) {
            add_rand(w, &r, NM("attn_q_norm.weight"), s->hd, 0, 1, 0.3);
            add_rand(w, &r, NM("attn_k_norm.weight"), s->hd, 0, 1, 0.3);
        }
        add_rand(w, &r, NM("attn_output.weight"), nq, s->E, 0, 1.0 / sqrt(nq));
        add_rand(w, &r, NM("ffn_norm.weight"), s->E, 0, 1, 0.1);
        if (s->fused) {
            add_rand(w, &r, NM("ffn_up.weight"), s->E, 2 * s->F, 0, 1.0 / sqrt(s->E));
        } else {
            add_rand(w, &r, NM("ffn_gate.weight"), s->E, s->F, 0, 1.0 / sqrt(s->E));
            add_rand(w, &r, NM("ffn_up.weight"), s->E, s->F, 0, 1.0 / sqrt(s->E));
        }
        add_rand(w, &r, NM("ffn_down.weight"), s->F, s->E, 0, 1.0 / sqrt(s->F));
#undef NM
    }
    void *data = NULL;
    size_t size = 0;
    assert_int_equal(pd_gguf_write_buffer(w, &data, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *g = pd_gguf_open_owned_memory(data, size, s->arch);
    if (!g) fail_msg("open: %s", pd_last_error());
    return g;
}

static ref_config ref_of(const spec *s, const spec_extra *x, bool use_long) {
    ref_config c = {.n_embd = s->E, .n_layer = s->L, .n_head = s->H, .n_head_kv = s->Hkv, .head_dim = s->hd,
                    .n_ff = s->F, .n_vocab = s->V, .eps = 1e-5, .neox = strcmp(s->arch, "llama") != 0,
                    .n_rot = s->n_rot ? s->n_rot : s->hd, .base = 10000.0,
                    .freq_scale = s->rope_scale > 0 ? 1.0 / s->rope_scale : 1.0,
                    .attn_factor = s->attn_factor > 0 ? s->attn_factor : 1.0,
                    .factors = (s->rope_freqs || s->phi_factors) ? (use_long ? x->longf : x->freqs) : NULL,
                    .fused_qkv = s->fused, .fused_gate_up = s->fused, .bias = s->bias, .qk_norm = s->qk_norm,
                    .tied = !s->untied};
    return c;
}

static void make_tokens(int32_t *t, int n, int V, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) t[i] = (int32_t)pd_rng_below(&r, (uint64_t)V);
}

/* worst |a-b| over n*V divided by max |ref| */
static double rel_err(const float *a, const double *ref, size_t n) {
    double worst = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > worst) worst = d;
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    }
    return worst / (mx > 0 ? mx : 1);
}

/* Forward all n tokens in one batch (F32 cache) and compare each position with the reference. */
static void check_spec(const spec *s, int n_ctx_max) {
    spec_extra x;
    pd_gguf *g = build(s, &x);
    enum { N = 13 };
    int32_t tok[N];
    make_tokens(tok, N, s->V, s->seed + 1);
    double *ref = malloc(sizeof(double) * N * s->V);
    bool use_long = x.has_long && n_ctx_max > 1024;
    ref_config rc = ref_of(s, &x, use_long);
    assert_int_equal(ref_forward(g, &rc, tok, N, ref), 0);
    pd_model *m = pd_model_from_gguf(g);
    if (!m) fail_msg("load: %s", pd_last_error());
    assert_int_equal(m->cfg.head_dim, s->hd);
    assert_int_equal(m->cfg.tied_output, !s->untied);
    pd_kv *kv = pd_kv_new(&m->cfg, 1, n_ctx_max, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * N * s->V);
    assert_int_equal(pd_model_eval(m, kv, 0, tok, N, true, lg), PD_OK);
    double e = rel_err(lg, ref, (size_t)N * s->V);
    printf("  %-6s E=%d H=%d/%d hd=%d%s%s%s%s%s%s: worst rel err %.2e\n", s->arch, s->E, s->H, s->Hkv, s->hd,
           s->untied ? " untied" : "", s->bias ? " bias" : "", s->qk_norm ? " qk-norm" : "", s->fused ? " fused" : "",
           s->rope_freqs ? " rope_freqs" : "", use_long ? " long-factors" : "", e);
    /* F32 weights and activations, F32 cache: float rounding over a few layers of width <= 96 gives
     * ~1e-6; 1e-4 of the largest logit still catches any wrong rope pairing/factor/bias/norm. */
    assert_true(e < 1e-4);
    /* F16 cache: K/V rounded to 11 significant bits (rel 2^-11 ≈ 4.9e-4 each) → logits within ~1e-3. */
    pd_kv *kv16 = pd_kv_new(&m->cfg, 1, n_ctx_max, PD_TYPE_F16);
    assert_int_equal(pd_model_eval(m, kv16, 0, tok, N, true, lg), PD_OK);
    double e16 = rel_err(lg, ref, (size_t)N * s->V);
    assert_true(e16 < 3e-3);
    assert_true(e16 > 0); /* the F16 cache really rounds */
    pd_kv_free(kv16);
    free(lg);
    free(ref);
    pd_kv_free(kv);
    pd_model_free(m);
}

static const spec base_llama = {.arch = "llama", .E = 64, .L = 2, .H = 4, .Hkv = 2, .hd = 16, .F = 96, .V = 97, .seed = 11};

static void test_llama_gqa1_untied(void **st) {
    (void)st;
    spec s = base_llama;
    s.Hkv = 4;
    s.untied = true;
    check_spec(&s, 64);
}
static void test_llama_gqa2_rope_freqs(void **st) {
    (void)st;
    spec s = base_llama;
    s.rope_freqs = true;
    s.seed = 12;
    check_spec(&s, 64);
}
static void test_llama_gqa4_headdim_linear(void **st) {
    (void)st;
    spec s = base_llama;
    s.H = 8;
    s.Hkv = 2;
    s.hd = 24; /* != 64/8 */
    s.rope_scale = 4.0f;
    s.seed = 13;
    check_spec(&s, 64);
}
static void test_qwen2_bias(void **st) {
    (void)st;
    spec s = base_llama;
    s.arch = "qwen2";
    s.bias = true;
    s.seed = 14;
    check_spec(&s, 64);
}
static void test_qwen3_qknorm(void **st) {
    (void)st;
    spec s = base_llama;
    s.arch = "qwen3";
    s.E = 48;
    s.H = 4;
    s.Hkv = 1;
    s.hd = 32; /* != 48/4 */
    s.qk_norm = true;
    s.untied = true;
    s.seed = 15;
    check_spec(&s, 64);
}
static void test_phi3_fused(void **st) {
    (void)st;
    spec s = base_llama;
    s.arch = "phi3";
    s.fused = true;
    s.n_rot = 12;
    s.phi_factors = true;
    s.attn_factor = 1.190238f;
    s.seed = 16;
    check_spec(&s, 64);   /* context <= original 1024: short factors */
    check_spec(&s, 2048); /* context > 1024: long factors */
}


/* ---- hooks ---- */

/* Copy of g in memory where F32 tensor `name` has D (rows × ne0) added to rows [row0, row0 + rows). */
static pd_gguf *clone_plus(pd_gguf *g, const char *name, int64_t row0, const float *D, int64_t rows) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_copy_kvs(w, g, NULL), PD_OK);
    bool found = false;
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        if (!strcmp(t->name, name)) {
            assert_int_equal(t->type, PD_TYPE_F32);
            size_t ne = (size_t)(t->ne[0] * t->ne[1]);
            float *d = malloc(ne * sizeof(float));
            memcpy(d, t->data, ne * sizeof(float));
            for (int64_t j = 0; j < rows * t->ne[0]; j++) d[row0 * t->ne[0] + j] += D[j];
            assert_int_equal(pd_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, d), PD_OK);
            free(d);
            found = true;
        } else {
            assert_int_equal(pd_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data), PD_OK);
        }
    }
    assert_true(found);
    void *data;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &data, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *c = pd_gguf_open_owned_memory(data, size, "clone");
    assert_non_null(c);
    return c;
}

typedef struct {
    int layer[2];
    const char *which[2];
    const float *D[2];
    int calls, hits;
} hook_ctx;

/* y += D x for the registered (layer, which) pairs: a LoRA-style adapter of rank min(in, out). */
static void lin_hook(void *vctx, int layer, const char *which, const float *x, int64_t n, int64_t in, float *y,
                     int64_t out) {
    hook_ctx *h = vctx;
    h->calls++;
    for (int e = 0; e < 2; e++) {
        if (layer != h->layer[e] || strcmp(which, h->which[e])) continue;
        h->hits++;
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out; o++) {
                double acc = 0;
                for (int64_t j = 0; j < in; j++) acc += (double)h->D[e][o * in + j] * x[i * in + j];
                y[i * out + o] += (float)acc;
            }
    }
}

static float *rand_mat(int64_t n, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    float *d = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = (float)(0.2 * pd_rng_normal(&r));
    return d;
}

static void check_linear_hook(const spec *s, const char *w0, const char *t0, int64_t row0, int64_t rows0, int64_t in0,
                              const char *w1, const char *t1, int64_t row1, int64_t rows1, int64_t in1) {
    spec_extra x;
    pd_gguf *g = build(s, &x);
    float *D0 = rand_mat(rows0 * in0, 77), *D1 = rand_mat(rows1 * in1, 78);
    pd_gguf *g1 = clone_plus(g, t0, row0, D0, rows0);
    pd_gguf *g2 = clone_plus(g1, t1, row1, D1, rows1);
    enum { N = 9 };
    int32_t tok[N];
    make_tokens(tok, N, s->V, 5);
    ref_config rc = ref_of(s, &x, false);
    double *ref = malloc(sizeof(double) * N * s->V), *plain = malloc(sizeof(double) * N * s->V);
    assert_int_equal(ref_forward(g2, &rc, tok, N, ref), 0);
    assert_int_equal(ref_forward(g, &rc, tok, N, plain), 0);
    pd_gguf_close(g1);
    pd_gguf_close(g2);
    pd_model *m = pd_model_from_gguf(g);
    assert_non_null(m);
    hook_ctx h = {.layer = {0, 1}, .which = {w0, w1}, .D = {D0, D1}};
    m->linear_hook = lin_hook;
    m->linear_hook_ctx = &h;
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 16, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * N * s->V);
    assert_int_equal(pd_model_eval(m, kv, 0, tok, N, true, lg), PD_OK);
    assert_int_equal(h.calls, 2 * 7); /* q k v o gate up down per layer */
    assert_int_equal(h.hits, 2);
    double e = rel_err(lg, ref, (size_t)N * s->V), e0 = rel_err(lg, plain, (size_t)N * s->V);
    printf("  linear hook %s: %s/%s vs modified weights %.2e (vs unmodified %.2e)\n", s->arch, w0, w1, e, e0);
    assert_true(e < 1e-4);
    assert_true(e0 > 1e-2); /* the hook really changed the output */
    free(lg);
    free(ref);
    free(plain);
    free(D0);
    free(D1);
    pd_kv_free(kv);
    pd_model_free(m);
}

static void test_linear_hook(void **st) {
    (void)st;
    spec s = base_llama;
    s.seed = 31;
    const int nq = s.H * s.hd;
    check_linear_hook(&s, "q", "blk.0.attn_q.weight", 0, nq, s.E, "down", "blk.1.ffn_down.weight", 0, s.E, s.F);
    s.arch = "phi3";
    s.fused = true;
    s.seed = 32;
    const int nkv = s.Hkv * s.hd;
    /* fused: "v" is rows [nq + nkv, nq + 2 nkv) of attn_qkv, "gate" rows [0, F) of ffn_up */
    check_linear_hook(&s, "v", "blk.0.attn_qkv.weight", nq + nkv, nkv, s.E, "gate", "blk.1.ffn_up.weight", 0, s.F, s.E);
}

typedef struct {
    int layer, calls;
    const float *add;
} resid_ctx;

static void res_hook(void *vctx, int layer, float *hidden, int64_t n, int64_t E) {
    resid_ctx *r = vctx;
    r->calls++;
    if (layer != r->layer) return;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < E; j++) hidden[i * E + j] += r->add[j];
}

static void test_residual_hook(void **st) {
    (void)st;
    spec s = base_llama;
    s.seed = 41;
    spec_extra x;
    pd_gguf *g = build(&s, &x);
    float *add = rand_mat(s.E, 42);
    double addd[64];
    for (int j = 0; j < s.E; j++) addd[j] = add[j] * 5;
    for (int j = 0; j < s.E; j++) add[j] *= 5;
    enum { N = 7 };
    int32_t tok[N];
    make_tokens(tok, N, s.V, 6);
    ref_config rc = ref_of(&s, &x, false);
    rc.steer_layer = 0;
    rc.steer = addd;
    double *ref = malloc(sizeof(double) * N * s.V);
    assert_int_equal(ref_forward(g, &rc, tok, N, ref), 0);
    pd_model *m = pd_model_from_gguf(g);
    assert_non_null(m);
    resid_ctx r = {.layer = 0, .add = add};
    m->residual_hook = res_hook;
    m->residual_hook_ctx = &r;
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 16, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * N * s.V);
    /* in two chunks: the hook sees each batch's rows, steering every position */
    assert_int_equal(pd_model_eval(m, kv, 0, tok, 3, true, lg), PD_OK);
    assert_int_equal(pd_model_eval(m, kv, 0, tok + 3, N - 3, true, lg + 3 * s.V), PD_OK);
    assert_int_equal(r.calls, 2 * s.L);
    double e = rel_err(lg, ref, (size_t)N * s.V);
    printf("  residual hook: steered vs reference %.2e\n", e);
    assert_true(e < 1e-4);
    free(lg);
    free(ref);
    free(add);
    pd_kv_free(kv);
    pd_model_free(m);
}

/* Shared small model for the batching and cache tests. */
static pd_model *small_model(spec_extra *x) {
    spec s = base_llama;
    s.seed = 21;
    return pd_model_from_gguf(build(&s, x));
}

static void test_batch_two_sequences(void **st) {
    (void)st;
    spec_extra x;
    pd_model *m = small_model(&x);
    assert_non_null(m);
    const int V = m->cfg.n_vocab;
    int32_t a[9], b[7];
    make_tokens(a, 9, V, 100);
    make_tokens(b, 7, V, 200);
    float *alone_a = malloc(sizeof(float) * 9 * V), *alone_b = malloc(sizeof(float) * 7 * V);
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 32, PD_TYPE_F32);
    assert_int_equal(pd_model_eval(m, kv, 0, a, 9, true, alone_a), PD_OK);
    pd_kv_seq_clear(kv, 0);
    assert_int_equal(pd_model_eval(m, kv, 0, b, 7, true, alone_b), PD_OK);
    pd_kv_free(kv);

    /* together: a's first 4 tokens alone, then one batch with a's 5 remaining (decode-ish) interleaved
     * with all of b (prefill), positions given explicitly for b and implicit for a */
    kv = pd_kv_new(&m->cfg, 3, 32, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * 16 * V);
    pd_batch b1 = {.n = 4, .token = a, .seq = (int32_t[]){2, 2, 2, 2}};
    assert_int_equal(pd_model_forward(m, kv, &b1, lg), PD_OK);
    int32_t tk[12], sq[12], ps[12];
    int8_t want[12];
    int ia = 4, ib = 0, n = 0;
    while (ia < 9 || ib < 7) {
        if (ia < 9 && (n % 2 == 0 || ib >= 7)) { tk[n] = a[ia]; sq[n] = 2; ps[n] = ia; want[n] = (ia % 2) == 0; ia++; }
        else { tk[n] = b[ib]; sq[n] = 0; ps[n] = ib; want[n] = 1; ib++; }
        n++;
    }
    pd_batch b2 = {.n = n, .token = tk, .seq = sq, .pos = ps, .want_logits = want};
    assert_int_equal(pd_model_forward(m, kv, &b2, lg), PD_OK);
    int row = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        if (!want[i]) continue;
        const float *ref = sq[i] == 2 ? alone_a + (size_t)ps[i] * V : alone_b + (size_t)ps[i] * V;
        for (int j = 0; j < V; j++) worst = fmax(worst, fabs(lg[(size_t)row * V + j] - ref[j]));
        row++;
    }
    assert_int_equal(pd_kv_seq_len(kv, 2), 9);
    assert_int_equal(pd_kv_seq_len(kv, 0), 7);
    assert_int_equal(pd_kv_seq_len(kv, 1), 0);
    /* same arithmetic per token (matmul rows are independent, attention per sequence) */
    assert_true(worst < 1e-5);
    free(lg);
    free(alone_a);
    free(alone_b);
    pd_kv_free(kv);
    pd_model_free(m);
}

static void test_kv_ops(void **st) {
    (void)st;
    spec_extra x;
    pd_model *m = small_model(&x);
    assert_non_null(m);
    const int V = m->cfg.n_vocab;
    enum { N = 700 };
    int32_t t[N], alt[3];
    make_tokens(t, N, V, 300);
    make_tokens(alt, 3, V, 301);
    /* growth across chunk boundaries: prefill 600 (eval splits it 512 + 88; the cache grows
     * 256 → 1024), then decode 100 one at a time */
    pd_kv *kv = pd_kv_new(&m->cfg, 2, 100000, PD_TYPE_F32);
    assert_true(pd_kv_bytes(kv) == 0);
    float *lg = malloc(sizeof(float) * N * V), *one = malloc(sizeof(float) * V);
    assert_int_equal(pd_model_eval(m, kv, 0, t, 600, true, lg), PD_OK);
    for (int i = 600; i < N; i++) assert_int_equal(pd_model_eval(m, kv, 0, t + i, 1, false, lg + (size_t)i * V), PD_OK);
    assert_int_equal(pd_kv_seq_len(kv, 0), N);
    /* memory follows use, not n_ctx_max: 2 layers × 2 heads × 16 × 4 bytes × (K+V) per position */
    size_t per_pos = 2 * 2 * 16 * 4 * 2;
    assert_true(pd_kv_bytes(kv) >= per_pos * N && pd_kv_bytes(kv) <= per_pos * 1024);
    double *ref = malloc(sizeof(double) * N * V);
    spec s = base_llama;
    s.seed = 21;
    ref_config rc = ref_of(&s, &x, false);
    assert_int_equal(ref_forward(m->gguf, &rc, t, N, ref), 0);
    assert_true(rel_err(lg, ref, (size_t)N * V) < 1e-4);

    /* fork at 150: seq 1 = copy of seq 0 rewound; feeding alt continues it */
    assert_int_equal(pd_kv_seq_copy(kv, 0, 1), PD_OK);
    assert_int_equal(pd_kv_seq_len(kv, 1), N);
    assert_int_equal(pd_kv_seq_rewind(kv, 1, 150), PD_OK);
    assert_int_equal(pd_model_eval(m, kv, 1, alt, 3, false, one), PD_OK);
    int32_t path[153];
    memcpy(path, t, sizeof(int32_t) * 150);
    memcpy(path + 150, alt, sizeof alt);
    double *ref2 = malloc(sizeof(double) * 153 * V);
    assert_int_equal(ref_forward(m->gguf, &rc, path, 153, ref2), 0);
    assert_true(rel_err(one, ref2 + (size_t)152 * V, (size_t)V) < 1e-4);
    /* seq 0 untouched by the fork: rewind by one and re-feed the last token */
    assert_int_equal(pd_kv_seq_rewind(kv, 0, N - 1), PD_OK);
    assert_int_equal(pd_model_eval(m, kv, 0, t + N - 1, 1, false, one), PD_OK);
    assert_true(rel_err(one, ref + (size_t)(N - 1) * V, (size_t)V) < 1e-4);
    /* bad rewinds / copies */
    assert_int_equal(pd_kv_seq_rewind(kv, 0, N + 1), PD_ERR_RANGE);
    assert_int_equal(pd_kv_seq_rewind(kv, 5, 0), PD_ERR_RANGE);
    assert_int_equal(pd_kv_seq_copy(kv, 0, 2), PD_ERR_RANGE);
    /* clear frees the sequence; it starts again at 0 */
    pd_kv_seq_clear(kv, 1);
    assert_int_equal(pd_kv_seq_len(kv, 1), 0);
    assert_int_equal(pd_model_eval(m, kv, 1, t, 1, false, one), PD_OK);
    assert_true(rel_err(one, ref, (size_t)V) < 1e-4);
    free(ref2);
    free(ref);
    free(lg);
    free(one);
    pd_kv_free(kv);
    pd_model_free(m);
}

/* The cache holds, for position 0, K = Wk·rmsnorm(emb[t0]) (rope at position 0 is the identity)
 * and V = Wv·rmsnorm(emb[t0]): computed here by hand from the file's tensors. */
static void test_kv_read(void **st) {
    (void)st;
    spec_extra x;
    pd_model *m = small_model(&x);
    assert_non_null(m);
    const int E = m->cfg.n_embd, hd = m->cfg.head_dim, Hkv = m->cfg.n_head_kv;
    int32_t t[3] = {5, 17, 42};
    const pd_type types[2] = {PD_TYPE_F32, PD_TYPE_F16};
    for (int ty = 0; ty < 2; ty++) {
        pd_kv *kv = pd_kv_new(&m->cfg, 2, 8, types[ty]);
        assert_int_equal(pd_model_eval(m, kv, 1, t, 3, false, NULL), PD_OK);
        const float *emb = pd_gguf_find_tensor(m->gguf, "token_embd.weight")->data;
        const float *nw = pd_gguf_find_tensor(m->gguf, "blk.0.attn_norm.weight")->data;
        const float *wk = pd_gguf_find_tensor(m->gguf, "blk.0.attn_k.weight")->data;
        const float *wv = pd_gguf_find_tensor(m->gguf, "blk.0.attn_v.weight")->data;
        double xn[64], ss = 0;
        for (int j = 0; j < E; j++) ss += (double)emb[5 * E + j] * emb[5 * E + j];
        for (int j = 0; j < E; j++) xn[j] = emb[5 * E + j] / sqrt(ss / E + 1e-5) * nw[j];
        double worst = 0;
        for (int h = 0; h < Hkv; h++) {
            float k[64], v[64];
            int32_t p0 = -1;
            assert_int_equal(pd_kv_n_live(kv, 1, 0, h), 3);
            assert_int_equal(pd_kv_read(kv, 1, 0, h, 0, 1, k, v), PD_OK);
            assert_int_equal(pd_kv_positions(kv, 1, 0, h, 0, 1, &p0), PD_OK);
            assert_int_equal(p0, 0);
            for (int d = 0; d < hd; d++) {
                double ek = 0, ev = 0;
                for (int j = 0; j < E; j++) {
                    ek += (double)wk[(h * hd + d) * E + j] * xn[j];
                    ev += (double)wv[(h * hd + d) * E + j] * xn[j];
                }
                float gk = k[d], gv = v[d];
                worst = fmax(worst, fmax(fabs(gk - ek), fabs(gv - ev)) / fmax(1.0, fabs(ek)));
            }
        }
        assert_true(worst < (ty ? 1e-3 : 1e-5)); /* F16: 2^-11 relative rounding */
        float k[64];
        assert_int_equal(pd_kv_n_live(kv, 0, 0, 0), 0);
        assert_int_equal(pd_kv_read(kv, 0, 0, 0, 0, 1, k, NULL), PD_ERR_RANGE); /* nothing cached */
        assert_int_equal(pd_kv_read(kv, 1, 2, 0, 0, 1, k, NULL), PD_ERR_RANGE); /* 2 layers */
        assert_int_equal(pd_kv_read(kv, 1, 0, 0, 2, 2, k, NULL), PD_ERR_RANGE); /* rows 2..3 of 3 */
        assert_int_equal(pd_kv_type(kv), types[ty]);
        pd_kv_free(kv);
    }
    pd_model_free(m);
}

static void test_forward_errors(void **st) {
    (void)st;
    spec_extra x;
    pd_model *m = small_model(&x);
    assert_non_null(m);
    pd_kv *kv = pd_kv_new(&m->cfg, 2, 4, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * 8 * m->cfg.n_vocab);
    int32_t bad[2] = {3, 97};
    assert_int_equal(pd_model_eval(m, kv, 0, bad, 2, true, lg), PD_ERR_RANGE);
    assert_non_null(strstr(pd_last_error(), "97"));
    assert_int_equal(pd_kv_seq_len(kv, 0), 0); /* nothing stored on failure */
    int32_t ok[5] = {1, 2, 3, 4, 5};
    assert_int_equal(pd_model_eval(m, kv, 0, ok, 5, true, lg), PD_ERR_RANGE); /* > n_ctx_max 4 */
    assert_int_equal(pd_model_eval(m, kv, 2, ok, 1, true, lg), PD_ERR_RANGE); /* no sequence 2 */
    pd_batch b = {.n = 1, .token = ok, .pos = (int32_t[]){3}};
    assert_int_equal(pd_model_forward(m, kv, &b, lg), PD_ERR_ARG); /* sequence 0 continues at 0 */
    assert_non_null(strstr(pd_last_error(), "position 3"));
    assert_null(pd_kv_new(&m->cfg, 1, 16, PD_TYPE_Q8_0));
    free(lg);
    pd_kv_free(kv);
    pd_model_free(m);
}

/* Loader errors: unsupported arch, wrong shape, missing key, unsupported tensor type. */
static pd_model *load_modified_kv(const char *arch, const char *skip_key, const char *bad_tensor, pd_type bad_type,
                                  const char *set_key, uint32_t set_val) {
    spec s = base_llama;
    s.E = 32;
    s.L = 1;
    s.F = 32;
    s.hd = 8;
    spec_extra x;
    pd_gguf *g = build(&s, &x);
    pd_gguf_writer *w = pd_gguf_writer_new();
    const char *skip[] = {"general.architecture", skip_key ? skip_key : "-none-", NULL};
    assert_int_equal(pd_gguf_copy_kvs(w, g, skip), PD_OK);
    pd_gguf_set_str(w, "general.architecture", arch);
    if (set_key) pd_gguf_set_u32(w, set_key, set_val);
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        if (bad_tensor && !strcmp(t->name, bad_tensor)) {
            int64_t ne[2] = {t->ne[0], t->ne[1] + (bad_type == PD_TYPE_F32 ? 1 : 0)};
            size_t nb = pd_row_bytes(bad_type, ne[0]) * (size_t)ne[1];
            void *d = calloc(1, nb);
            assert_int_equal(pd_gguf_add_tensor(w, t->name, bad_type, 2, ne, d), PD_OK);
            free(d);
        } else {
            assert_int_equal(pd_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data), PD_OK);
        }
    }
    pd_gguf_close(g);
    char path[] = "/tmp/pd_test_model_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(pd_gguf_write(w, path), PD_OK);
    pd_gguf_writer_free(w);
    pd_model *m = pd_model_load(path);
    unlink(path);
    return m;
}

static pd_model *load_modified(const char *arch, const char *skip_key, const char *bad_tensor, pd_type bad_type) {
    return load_modified_kv(arch, skip_key, bad_tensor, bad_type, NULL, 0);
}

static void test_load_errors(void **st) {
    (void)st;
    assert_null(load_modified("gpt2", NULL, NULL, 0));
    assert_non_null(strstr(pd_last_error(), "gpt2"));
    assert_null(load_modified("llama", "llama.block_count", NULL, 0));
    assert_non_null(strstr(pd_last_error(), "llama.block_count"));
    assert_null(load_modified("llama", NULL, "blk.0.attn_k.weight", PD_TYPE_F32));
    printf("  shape error: %s\n", pd_last_error());
    assert_non_null(strstr(pd_last_error(), "blk.0.attn_k.weight"));
    assert_non_null(strstr(pd_last_error(), "[32, 16]"));
    assert_non_null(strstr(pd_last_error(), "[32, 17]"));
    assert_null(load_modified("llama", NULL, "blk.0.ffn_norm.weight", PD_TYPE_F16)); /* norms must be f32 */
    assert_non_null(strstr(pd_last_error(), "blk.0.ffn_norm.weight"));
    assert_non_null(strstr(pd_last_error(), "f16"));
    /* metadata out of range or inconsistent: the error names the key */
    assert_null(load_modified_kv("llama", NULL, NULL, 0, "llama.attention.head_count_kv", 3)); /* 4 % 3 */
    assert_non_null(strstr(pd_last_error(), "head_count_kv"));
    assert_null(load_modified_kv("llama", NULL, NULL, 0, "llama.rope.dimension_count", 64)); /* > head_dim 8 */
    assert_non_null(strstr(pd_last_error(), "llama.rope.dimension_count"));
    assert_null(load_modified_kv("llama", NULL, NULL, 0, "llama.attention.head_count", 0));
    assert_non_null(strstr(pd_last_error(), "llama.attention.head_count"));
    /* a key that changes the expected shapes: the first tensor that disagrees is named */
    assert_null(load_modified_kv("llama", NULL, NULL, 0, "llama.feed_forward_length", 40));
    assert_non_null(strstr(pd_last_error(), "ffn_gate.weight"));
    pd_model *m = load_modified("llama", NULL, NULL, 0);
    assert_non_null(m);
    pd_model_free(m);
    assert_null(pd_model_load("/nonexistent/model.gguf"));
    assert_non_null(strstr(pd_last_error(), "/nonexistent/model.gguf"));
}

/* The per-token work of a prefill batch (norms, rope, K/V stores, residual adds, swiglu) runs over
 * the thread pool from PAR_TOKENS tokens on (forward.c): the logits of every token must be the same
 * bits on 1 and 2 threads, for separate and fused projections, F a multiple of 8 (swiglu from the
 * fused rows) and not (the flat swiglu pieces), with and without a residual hook (the next layer's
 * rmsnorm fused into the residual add, or not), F32 and F16 caches. */
static void count_hook(void *ctx, int layer, float *x, int64_t n, int64_t E) {
    (void)layer, (void)x, (void)n, (void)E;
    (*(int *)ctx)++;
}

static void test_threads_same_bits(void **st) {
    (void)st;
    spec specs[3] = {base_llama, base_llama, base_llama};
    specs[1].arch = "qwen3", specs[1].qk_norm = true, specs[1].bias = true, specs[1].seed = 31;
    specs[2].arch = "phi3", specs[2].fused = true, specs[2].F = 100, specs[2].seed = 41;
    enum { N = 100 }; /* enough attention work (forward.c ATT_PAR_WORK) for the parallel attention too */
    const int saved = pd_threads_get();
    for (int si = 0; si < 3; si++)
        for (int variant = 0; variant < 4; variant++) {
            spec_extra x;
            pd_model *m = pd_model_from_gguf(build(&specs[si], &x));
            if (!m) fail_msg("load: %s", pd_last_error());
            int hooked = 0;
            if (variant & 1) m->residual_hook = count_hook, m->residual_hook_ctx = &hooked;
            pd_type kt = variant & 2 ? PD_TYPE_F16 : PD_TYPE_F32;
            const int V = m->cfg.n_vocab;
            int32_t tok[N];
            make_tokens(tok, N, V, 500 + (uint64_t)si);
            float *lg[2];
            for (int th = 1; th <= 2; th++) {
                pd_threads_set(th);
                pd_kv *kv = pd_kv_new(&m->cfg, 1, 128, kt);
                lg[th - 1] = malloc(sizeof(float) * N * V);
                assert_int_equal(pd_model_eval(m, kv, 0, tok, N, true, lg[th - 1]), PD_OK);
                pd_kv_free(kv);
            }
            pd_threads_set(saved);
            if (variant & 1) assert_int_equal(hooked, 2 * m->cfg.n_layer);
            if (memcmp(lg[0], lg[1], sizeof(float) * N * V) != 0)
                fail_msg("%s variant %d: logits on 2 threads differ from 1 thread", specs[si].arch, variant);
            free(lg[0]);
            free(lg[1]);
            pd_model_free(m);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_gqa1_untied),  cmocka_unit_test(test_llama_gqa2_rope_freqs),
        cmocka_unit_test(test_llama_gqa4_headdim_linear), cmocka_unit_test(test_qwen2_bias),
        cmocka_unit_test(test_qwen3_qknorm),       cmocka_unit_test(test_phi3_fused),
        cmocka_unit_test(test_batch_two_sequences), cmocka_unit_test(test_kv_ops),
        cmocka_unit_test(test_forward_errors),     cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_linear_hook),        cmocka_unit_test(test_residual_hook),
        cmocka_unit_test(test_kv_read),            cmocka_unit_test(test_threads_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
