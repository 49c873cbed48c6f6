/* tests/reason/test_steer.c — activation steering (ponder/steer.h): control-vector files round-trip
 * in llama.cpp's layout and bad files are refused with their reason; a zero vector leaves the logits
 * bit-identical; a vector at layer l matches the double-precision reference forward with the vector
 * added to the residual by hand (tests/model/ref_forward.c); current-position steering leaves earlier
 * rows untouched; in a batch only the steered sequence changes; difference of means equals residual
 * means taken by an independent hook; the policy steers exactly the positions its `when` names. */
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
#include <unistd.h>
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/gen.h"
#include "ponder/gguf.h"
#include "ponder/reason.h"
#include "ponder/rng.h"
#include "ponder/steer.h"
#include "model/ref_forward.c"

enum { TEST_RNG_STREAM = 0x73747272u /* "strr": test vectors */ };

static pd_model *m;
static char dir[64];

static int setup(void **st) {
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/pd_test_steer_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    if (!pd_have_fixtures()) return 0;
    m = pd_model_load(PD_FIXTURES "models/tiny-llama.gguf");
    return m ? 0 : -1;
}
static int teardown(void **st) {
    (void)st;
    pd_model_free(m);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void fill_random(float *v, size_t n, uint64_t seed, float amp) {
    pd_rng r;
    pd_rng_seed(&r, pd_rng_derive(seed, TEST_RNG_STREAM));
    for (size_t i = 0; i < n; i++) v[i] = amp * (2.0f * pd_rng_uniformf(&r) - 1.0f);
}

static char *path_of(const char *name) {
    static char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* ---------------------------------------------------------------- files */

static void test_roundtrip(void **st) {
    (void)st;
    pd_cvec *c = pd_cvec_new(24, 5, "qwen3");
    assert_non_null(c);
    fill_random(c->dir, 24 * 5, 3, 2.0f);
    c->has[2] = 0;
    assert_int_equal(pd_cvec_save(c, path_of("rt.gguf")), PD_OK);
    /* the layout llama.cpp reads */
    pd_gguf *g = pd_gguf_open(path_of("rt.gguf"));
    assert_non_null(g);
    const char *s;
    size_t n;
    assert_true(pd_gguf_get_str(g, "general.architecture", &s, &n));
    assert_int_equal(n, 13);
    assert_memory_equal(s, "controlvector", 13);
    assert_true(pd_gguf_get_str(g, "controlvector.model_hint", &s, &n));
    assert_memory_equal(s, "qwen3", 5);
    int64_t kv = pd_gguf_find_key(g, "controlvector.layer_count");
    assert_true(kv >= 0);
    assert_int_equal(pd_gguf_kv_type(g, kv), PD_GGUF_I32);
    int64_t lc;
    assert_true(pd_gguf_get_i64(g, "controlvector.layer_count", &lc));
    assert_int_equal(lc, 3);   /* layers 1, 3, 4 */
    assert_int_equal(pd_gguf_n_tensors(g), 3);
    const char *names[] = {"direction.1", "direction.3", "direction.4"};
    for (int i = 0; i < 3; i++) {
        const pd_gguf_tensor *t = pd_gguf_find_tensor(g, names[i]);
        assert_non_null(t);
        assert_int_equal(t->type, PD_TYPE_F32);
        assert_int_equal(t->n_dims, 1);
        assert_int_equal(t->ne[0], 24);
    }
    assert_null(pd_gguf_find_tensor(g, "direction.2"));
    pd_gguf_close(g);
    /* and back */
    pd_cvec *b = pd_cvec_load(path_of("rt.gguf"));
    assert_non_null(b);
    assert_int_equal(b->n_embd, 24);
    assert_int_equal(b->n_layer, 5);
    assert_string_equal(b->hint, "qwen3");
    const uint8_t want_has[5] = {0, 1, 0, 1, 1};
    assert_memory_equal(b->has, want_has, 5);
    for (int l = 1; l < 5; l++)
        if (want_has[l]) assert_memory_equal(b->dir + l * 24, c->dir + l * 24, 24 * sizeof(float));
    for (int j = 0; j < 24; j++) assert_true(b->dir[2 * 24 + j] == 0.0f);
    pd_cvec_free(b);
    pd_cvec_free(c);
}

/* a GGUF with the given architecture (NULL: none) and one tensor */
static const char *write_bad(const char *file, const char *arch, const char *tname, pd_type type, int nd, int64_t ne0,
                             const char *tname2, int64_t ne2) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (arch) assert_int_equal(pd_gguf_set_str(w, "general.architecture", arch), PD_OK);
    static uint16_t half[64];
    static float f[64];
    int64_t ne[2] = {ne0, 2};
    if (tname) assert_int_equal(pd_gguf_add_tensor(w, tname, type, nd, ne, type == PD_TYPE_F16 ? (void *)half : (void *)f), PD_OK);
    int64_t ne_2[1] = {ne2};
    if (tname2) assert_int_equal(pd_gguf_add_tensor(w, tname2, PD_TYPE_F32, 1, ne_2, f), PD_OK);
    assert_int_equal(pd_gguf_write(w, path_of(file)), PD_OK);
    pd_gguf_writer_free(w);
    return path_of(file);
}

static void expect_refused(const char *path, const char *why) {
    char p[160];
    snprintf(p, sizeof p, "%s", path);
    pd_cvec *c = pd_cvec_load(p);
    if (c) fail_msg("%s was accepted", p);
    if (!strstr(pd_last_error(), why) || !strstr(pd_last_error(), p)) fail_msg("%s: error '%s' lacks '%s' or the path", p, pd_last_error(), why);
}

static void test_bad_files(void **st) {
    (void)st;
    expect_refused(write_bad("arch.gguf", "llama", "direction.1", PD_TYPE_F32, 1, 8, NULL, 0), "not a control vector");
    expect_refused(write_bad("zero.gguf", "controlvector", "direction.0", PD_TYPE_F32, 1, 8, NULL, 0), "layer 0");
    expect_refused(write_bad("name.gguf", "controlvector", "token_embd.weight", PD_TYPE_F32, 1, 8, NULL, 0), "not direction.<layer>");
    expect_refused(write_bad("idx.gguf", "controlvector", "direction.x", PD_TYPE_F32, 1, 8, NULL, 0), "not direction.<layer>");
    expect_refused(write_bad("f16.gguf", "controlvector", "direction.1", PD_TYPE_F16, 1, 8, NULL, 0), "must be F32");
    expect_refused(write_bad("2d.gguf", "controlvector", "direction.1", PD_TYPE_F32, 2, 8, NULL, 0), "2 dimensions");
    expect_refused(write_bad("size.gguf", "controlvector", "direction.1", PD_TYPE_F32, 1, 8, "direction.2", 9), "9 elements");
    expect_refused(write_bad("empty.gguf", "controlvector", NULL, PD_TYPE_F32, 1, 8, NULL, 0), "no direction");
    FILE *f = fopen(path_of("text.gguf"), "w");
    assert_non_null(f);
    fputs("this is not a GGUF file at all\n", f);
    fclose(f);
    assert_null(pd_cvec_load(path_of("text.gguf")));
    assert_true(strlen(pd_last_error()) > 0);
    assert_null(pd_cvec_load(path_of("missing.gguf")));
    /* a file without metadata loads (llama.cpp reads only the tensors) */
    pd_cvec *c = pd_cvec_load(write_bad("bare.gguf", NULL, "direction.2", PD_TYPE_F32, 1, 8, NULL, 0));
    assert_non_null(c);
    assert_int_equal(c->n_layer, 3);
    assert_int_equal(c->n_embd, 8);
    pd_cvec_free(c);
}

static void test_check_against_model(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_cvec *c = pd_cvec_new(m->cfg.n_embd + 1, m->cfg.n_layer, "llama");
    assert_int_not_equal(pd_cvec_check(c, m, "x.gguf"), PD_OK);
    assert_non_null(strstr(pd_last_error(), "n_embd"));
    pd_cvec_free(c);
    c = pd_cvec_new(m->cfg.n_embd, m->cfg.n_layer + 1, "llama");
    assert_int_not_equal(pd_cvec_check(c, m, "x.gguf"), PD_OK);
    assert_non_null(strstr(pd_last_error(), "layers"));
    c->has[m->cfg.n_layer] = 0;
    assert_int_equal(pd_cvec_check(c, m, "x.gguf"), PD_OK);
    pd_cvec_free(c);
    uint8_t mask[4];
    assert_int_equal(pd_steer_parse_layers("1-2|3", 4, mask), PD_OK);
    assert_memory_equal(mask, ((uint8_t[]){0, 1, 1, 1}), 4);
    assert_int_equal(pd_steer_parse_layers("all", 4, mask), PD_OK);
    assert_memory_equal(mask, ((uint8_t[]){0, 1, 1, 1}), 4);
    assert_int_equal(pd_steer_parse_layers("2", 4, mask), PD_OK);
    assert_memory_equal(mask, ((uint8_t[]){0, 0, 1, 0}), 4);
    assert_int_not_equal(pd_steer_parse_layers("0", 4, mask), PD_OK);
    assert_int_not_equal(pd_steer_parse_layers("4", 4, mask), PD_OK);
    assert_int_not_equal(pd_steer_parse_layers("1,2", 4, mask), PD_OK);
    assert_int_not_equal(pd_steer_parse_layers("3-2", 4, mask), PD_OK);
}

/* ---------------------------------------------------------------- the hook */

enum { NP = 9 };
static const int32_t PROMPT[NP] = {1, 450, 4996, 17354, 1701, 432, 17204, 975, 278};

/* logits of every prompt row (NP × V) with the model's hooks as they are */
static float *eval_rows(const int32_t *tok, int n) {
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 64, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * (size_t)n * (size_t)m->cfg.n_vocab);
    assert_int_equal(pd_model_eval(m, kv, 0, tok, n, true, lg), PD_OK);
    pd_kv_free(kv);
    return lg;
}

static void test_zero_vector(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    float *plain = eval_rows(PROMPT, NP);
    pd_cvec *z = pd_cvec_new(m->cfg.n_embd, m->cfg.n_layer, "llama");
    pd_steer *s = pd_steer_attach(m);
    assert_non_null(s);
    assert_int_equal(pd_steer_set(s, 0, z, 3.0f, NULL), PD_OK);
    pd_steer_fire(s, 0, true, 0);
    float *steered = eval_rows(PROMPT, NP);
    assert_int_equal(pd_steer_rows(s, 0), NP);
    assert_memory_equal(plain, steered, sizeof(float) * NP * (size_t)m->cfg.n_vocab);
    pd_steer_detach(s);
    assert_null(m->residual_rows_hook);
    pd_cvec_free(z);
    free(plain);
    free(steered);
}

static ref_config ref_of_model(void) {
    const pd_model_config *c = &m->cfg;
    return (ref_config){.n_embd = c->n_embd, .n_layer = c->n_layer, .n_head = c->n_head, .n_head_kv = c->n_head_kv,
                        .head_dim = c->head_dim, .n_ff = c->n_ff, .n_vocab = c->n_vocab, .eps = c->norm_eps,
                        .neox = c->rope.mode == PD_ROPE_NEOX, .n_rot = c->rope.n_rot, .base = c->rope.base,
                        .freq_scale = c->rope.freq_scale, .attn_factor = c->rope.attn_factor, .factors = NULL,
                        .fused_qkv = m->layers[0].wqkv.data != NULL, .fused_gate_up = m->layers[0].w_gate_up.data != NULL,
                        .bias = c->qkv_bias, .qk_norm = c->qk_norm, .tied = c->tied_output};
}

static double rel_err(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs(a[i] - b[i]));
        den = fmax(den, fabs(b[i]));
    }
    return num / (den > 0 ? den : 1);
}

/* the vector at layer l, every prompt position steered: the scalar reference with the vector added
 * to the residual after block l by hand */
static void test_scalar_reference(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const int E = m->cfg.n_embd, V = m->cfg.n_vocab, l = m->cfg.n_layer - 1;
    assert_null(m->rope_freqs.data);
    pd_cvec *c = pd_cvec_new(E, m->cfg.n_layer, "llama");
    fill_random(c->dir, (size_t)E * m->cfg.n_layer, 11, 1.5f);
    const float scale = 0.75f;
    double *add = malloc(sizeof(double) * E);
    for (int j = 0; j < E; j++) add[j] = (double)scale * c->dir[l * E + j];
    ref_config rc = ref_of_model();
    double *ref0 = malloc(sizeof(double) * NP * V), *ref1 = malloc(sizeof(double) * NP * V);
    assert_int_equal(ref_forward(m->gguf, &rc, PROMPT, NP, ref0), 0);
    rc.steer_layer = l;
    rc.steer = add;
    assert_int_equal(ref_forward(m->gguf, &rc, PROMPT, NP, ref1), 0);
    float *plain = eval_rows(PROMPT, NP);
    pd_steer *s = pd_steer_attach(m);
    uint8_t mask[8] = {0};
    mask[l] = 1;
    assert_int_equal(pd_steer_set(s, 0, c, scale, mask), PD_OK);
    pd_steer_fire(s, 0, true, 0);
    float *steered = eval_rows(PROMPT, NP);
    pd_steer_detach(s);
    double e0 = rel_err(plain, ref0, (size_t)NP * V), e1 = rel_err(steered, ref1, (size_t)NP * V);
    double moved = rel_err(steered, ref0, (size_t)NP * V);
    printf("  layer %d: unsteered vs reference %.2e, steered vs steered reference %.2e, steered vs unsteered %.2e\n", l, e0, e1, moved);
    assert_true(e0 < 1e-4);
    assert_true(e1 < 1e-4);
    assert_true(moved > 1e-2);   /* the vector does move the logits */
    free(add); free(ref0); free(ref1); free(plain); free(steered);
    pd_cvec_free(c);
}

/* the test's own residual hook: add scale·v after `layer` to rows at positions >= from */
typedef struct { int layer, from; float scale; const float *v; } manual_t;
static void manual_hook(void *ctx, int layer, float *x, int64_t n, int64_t E, const int32_t *seq, const int32_t *pos) {
    (void)seq;
    manual_t *h = ctx;
    if (layer != h->layer) return;
    for (int64_t i = 0; i < n; i++)
        if (pos[i] >= h->from)
            for (int64_t j = 0; j < E; j++) x[i * E + j] += h->scale * h->v[j];
}

/* current-position steering: fired at the last prompt position, rows before it keep their logits
 * bit for bit, that row and the next decoded one equal the hand-written hook's */
static void test_current_position(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const int E = m->cfg.n_embd, V = m->cfg.n_vocab, l = 1;
    pd_cvec *c = pd_cvec_new(E, m->cfg.n_layer, "llama");
    fill_random(c->dir, (size_t)E * m->cfg.n_layer, 12, 1.0f);
    int32_t tok[NP + 1];
    memcpy(tok, PROMPT, sizeof PROMPT);
    tok[NP] = 310;
    float *plain = eval_rows(tok, NP + 1);
    manual_t mh = {.layer = l, .from = NP - 1, .scale = 2.0f, .v = c->dir + l * E};
    m->residual_rows_hook = manual_hook;
    m->residual_rows_hook_ctx = &mh;
    float *manual = eval_rows(tok, NP + 1);
    m->residual_rows_hook = NULL;
    m->residual_rows_hook_ctx = NULL;
    pd_steer *s = pd_steer_attach(m);
    assert_int_equal(pd_steer_set(s, 0, c, 2.0f, NULL), PD_OK);
    pd_steer_fire(s, 0, true, NP - 1);
    /* prompt, then one decoded token, as generation feeds them */
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 64, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * (NP + 1) * (size_t)V);
    assert_int_equal(pd_model_eval(m, kv, 0, tok, NP, true, lg), PD_OK);
    assert_int_equal(pd_model_eval(m, kv, 0, tok + NP, 1, true, lg + (size_t)NP * V), PD_OK);
    assert_int_equal(pd_steer_rows(s, 0), 2);
    pd_steer_detach(s);
    pd_kv_free(kv);
    assert_memory_equal(lg, plain, sizeof(float) * (NP - 1) * (size_t)V);
    assert_memory_equal(lg + (size_t)(NP - 1) * V, manual + (size_t)(NP - 1) * V, sizeof(float) * 2 * (size_t)V);
    assert_memory_not_equal(lg + (size_t)(NP - 1) * V, plain + (size_t)(NP - 1) * V, sizeof(float) * (size_t)V);
    free(lg); free(plain); free(manual);
    pd_cvec_free(c);
}

/* two sequences in one batch, only sequence 1 steered */
static void test_batch_per_sequence(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const int E = m->cfg.n_embd, V = m->cfg.n_vocab;
    pd_cvec *c = pd_cvec_new(E, m->cfg.n_layer, "llama");
    fill_random(c->dir, (size_t)E * m->cfg.n_layer, 13, 1.0f);
    float *plain = eval_rows(PROMPT, NP);
    pd_steer *s = pd_steer_attach(m);
    assert_int_equal(pd_steer_set(s, 0, c, 1.5f, NULL), PD_OK);
    pd_steer_fire(s, 0, true, 0);
    float *alone = eval_rows(PROMPT, NP);   /* steered, alone in seq 0 */
    pd_steer_clear(s, 0);
    assert_int_equal(pd_steer_set(s, 1, c, 1.5f, NULL), PD_OK);
    pd_steer_fire(s, 1, true, 0);
    int32_t tok[2 * NP], seq[2 * NP];
    for (int i = 0; i < NP; i++) {
        tok[2 * i] = tok[2 * i + 1] = PROMPT[i];
        seq[2 * i] = 0;
        seq[2 * i + 1] = 1;
    }
    pd_kv *kv = pd_kv_new(&m->cfg, 2, 64, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * 2 * NP * (size_t)V);
    pd_batch b = {.n = 2 * NP, .token = tok, .seq = seq};
    assert_int_equal(pd_model_forward(m, kv, &b, lg), PD_OK);
    assert_int_equal(pd_steer_rows(s, 1), NP);
    assert_int_equal(pd_steer_rows(s, 0), 0);
    pd_steer_detach(s);
    double e0 = 0, e1 = 0, den = 0;
    for (int i = 0; i < NP; i++)
        for (int v = 0; v < V; v++) {
            e0 = fmax(e0, fabs(lg[(size_t)(2 * i) * V + v] - plain[(size_t)i * V + v]));
            e1 = fmax(e1, fabs(lg[(size_t)(2 * i + 1) * V + v] - alone[(size_t)i * V + v]));
            den = fmax(den, fabs(plain[(size_t)i * V + v]));
        }
    printf("  batch: unsteered row vs alone %.2e, steered row vs alone %.2e (of %.2e)\n", e0, e1, den);
    assert_true(e0 <= 1e-5 * den);
    assert_true(e1 <= 1e-5 * den);
    assert_memory_not_equal(plain, alone, sizeof(float) * (size_t)V * NP);
    pd_kv_free(kv);
    free(lg); free(plain); free(alone);
    pd_cvec_free(c);
}

/* ---------------------------------------------------------------- difference of means */

typedef struct { double *sum; long rows; int E; } cap_t;
static void cap_hook(void *ctx, int layer, float *x, int64_t n, int64_t E) {
    cap_t *c = ctx;
    if (layer == 0) c->rows += n;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < E; j++) c->sum[(size_t)layer * E + j] += x[i * E + j];
}

/* mean over texts of (mean over tokens of the residual after each block), by the plain hook */
static void means_by_hand(const char *const *t, int n, double *out) {
    const int E = m->cfg.n_embd, L = m->cfg.n_layer;
    memset(out, 0, sizeof(double) * (size_t)E * L);
    for (int k = 0; k < n; k++) {
        cap_t c = {.sum = calloc((size_t)E * L, sizeof(double)), .E = E};
        m->residual_hook = cap_hook;
        m->residual_hook_ctx = &c;
        int32_t *ids;
        int ni;
        assert_int_equal(pd_reason_tokens(m->tok, t[k], &ids, &ni), PD_OK);
        pd_kv *kv = pd_kv_new(&m->cfg, 1, 64, PD_TYPE_F32);
        assert_int_equal(pd_model_eval(m, kv, 0, ids, ni, false, NULL), PD_OK);
        m->residual_hook = NULL;
        assert_int_equal(c.rows, ni);
        for (int j = 0; j < E * L; j++) out[j] += c.sum[j] / ni / n;
        pd_kv_free(kv);
        free(ids);
        free(c.sum);
    }
}

static void test_mean_diff(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const int E = m->cfg.n_embd, L = m->cfg.n_layer;
    const char *pos[] = {"The answer is certainly right.", "Yes"}, *neg[] = {"Wait, let me check that again once more."};
    pd_cvec *c;
    assert_int_equal(pd_cvec_mean_diff(m, pos, 2, neg, 1, &c), PD_OK);
    assert_int_equal(c->n_layer, L);
    assert_string_equal(c->hint, "llama");
    double *mp = malloc(sizeof(double) * E * L), *mn = malloc(sizeof(double) * E * L);
    means_by_hand(pos, 2, mp);
    means_by_hand(neg, 1, mn);
    double err = 0, big = 0;
    for (int j = E; j < E * L; j++) {
        err = fmax(err, fabs(c->dir[j] - (mp[j] - mn[j])));
        big = fmax(big, fabs(mp[j] - mn[j]));
    }
    printf("  mean difference: max error %.2e of %.2e\n", err, big);
    assert_true(big > 1e-3);
    assert_true(err <= 1e-5 * big);
    assert_false(c->has[0]);
    pd_cvec_free(c);
    /* the same set on both sides: exactly zero */
    assert_int_equal(pd_cvec_mean_diff(m, pos, 2, pos, 2, &c), PD_OK);
    for (int j = 0; j < E * L; j++) assert_true(c->dir[j] == 0.0f);
    pd_cvec_free(c);
    assert_int_not_equal(pd_cvec_mean_diff(m, pos, 0, neg, 1, &c), PD_OK);
    const char *empty[] = {""};
    assert_int_not_equal(pd_cvec_mean_diff(m, empty, 1, neg, 1, &c), PD_OK);
    assert_non_null(strstr(pd_last_error(), "positive text 1"));
    free(mp); free(mn);
}

/* ---------------------------------------------------------------- the policy */

typedef struct { float *first; int V; } grab_t;
static void grab_logits(void *ctx, const pd_seq_state *s, float *lg) {
    grab_t *g = ctx;
    if (s->n_generated == 0 && !g->first) {
        g->first = malloc(sizeof(float) * (size_t)g->V);
        memcpy(g->first, lg, sizeof(float) * (size_t)g->V);
    }
}

/* one greedy run of PROMPT with `spec` (NULL: no policy), max 10 tokens; rows steered; first logits */
static long run_policy(pd_steer *s, const char *spec, int32_t *out_tokens, float **first) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = 64;
    gp.kv_type = PD_TYPE_F32;
    pd_gen *g = pd_gen_new(m, &gp);
    assert_non_null(g);
    grab_t gr = {.V = m->cfg.n_vocab};
    pd_policy pols[2];
    int n = 0;
    if (spec) {
        pd_reason_spec *rs;
        assert_int_equal(pd_reason_parse(spec, &rs), PD_OK);
        pd_reason_env env = {.tok = m->tok, .steer = s};
        assert_int_equal(pd_reason_make(rs, &env, &pols[n++]), PD_OK);
        pd_reason_spec_free(rs);
    }
    pols[n++] = (pd_policy){.name = "grab", .ctx = &gr, .on_logits = grab_logits};
    pd_policy chain;
    assert_int_equal(pd_reason_chain(pols, n, &chain), PD_OK);
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = 10;
    p.ignore_eog = true;
    p.policies = &chain;
    p.n_policies = 1;
    int id = pd_gen_add(g, PROMPT, NP, &p);
    assert_true(id >= 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    assert_int_equal(r->n_tokens, NP + 10);
    memcpy(out_tokens, r->tokens + NP, 10 * sizeof(int32_t));
    long rows = s ? pd_steer_rows(s, id) : 0;
    pd_gen_free(g);
    if (s) assert_int_equal(pd_steer_rows(s, id), 0);   /* released with the sequence */
    *first = gr.first;
    return rows;
}

static void test_policy(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const int E = m->cfg.n_embd, V = m->cfg.n_vocab;
    pd_cvec *z = pd_cvec_new(E, m->cfg.n_layer, "llama"), *c = pd_cvec_new(E, m->cfg.n_layer, "llama");
    fill_random(c->dir, (size_t)E * m->cfg.n_layer, 14, 4.0f);
    assert_int_equal(pd_cvec_save(z, path_of("zero.cv.gguf")), PD_OK);
    assert_int_equal(pd_cvec_save(c, path_of("rand.cv.gguf")), PD_OK);
    int32_t t0[10], t1[10];
    float *f0, *f1;
    run_policy(NULL, NULL, t0, &f0);
    pd_steer *s = pd_steer_attach(m);
    char spec[256];
    /* a zero vector through the policy: the same logits, bit for bit, and the same text */
    snprintf(spec, sizeof spec, "steer:file=%s,scale=5", path_of("zero.cv.gguf"));
    assert_int_equal(run_policy(s, spec, t1, &f1), 10);   /* last prompt row + 9 fed tokens */
    assert_memory_equal(f0, f1, sizeof(float) * (size_t)V);
    assert_memory_equal(t0, t1, sizeof t0);
    free(f1);
    /* a real vector: the first logits move; this model has no thinking phase */
    snprintf(spec, sizeof spec, "steer:file=%s,scale=3", path_of("rand.cv.gguf"));
    assert_int_equal(run_policy(s, spec, t1, &f1), 10);
    assert_memory_not_equal(f0, f1, sizeof(float) * (size_t)V);
    free(f1);
    snprintf(spec, sizeof spec, "steer:file=%s,scale=3,when=answer", path_of("rand.cv.gguf"));
    assert_int_equal(run_policy(s, spec, t1, &f1), 10);
    free(f1);
    snprintf(spec, sizeof spec, "steer:file=%s,scale=3,when=thinking", path_of("rand.cv.gguf"));
    assert_int_equal(run_policy(s, spec, t1, &f1), 0);
    assert_memory_equal(f0, f1, sizeof(float) * (size_t)V);
    assert_memory_equal(t0, t1, sizeof t0);
    free(f1);
    snprintf(spec, sizeof spec, "steer:file=%s,scale=3,prompt=1", path_of("rand.cv.gguf"));
    assert_int_equal(run_policy(s, spec, t1, &f1), NP + 9);
    free(f1);
    /* errors name the policy's problem */
    pd_reason_spec *rs;
    pd_policy pol;
    pd_reason_env env = {.tok = m->tok, .steer = s};
    assert_int_equal(pd_reason_parse("steer", &rs), PD_OK);
    assert_int_not_equal(pd_reason_make(rs, &env, &pol), PD_OK);
    assert_non_null(strstr(pd_last_error(), "file="));
    pd_reason_spec_free(rs);
    snprintf(spec, sizeof spec, "steer:file=%s,layers=2", path_of("rand.cv.gguf"));
    assert_int_equal(pd_reason_parse(spec, &rs), PD_OK);
    assert_int_not_equal(pd_reason_make(rs, &env, &pol), PD_OK);
    assert_non_null(strstr(pd_last_error(), "layers=2"));
    pd_reason_spec_free(rs);
    assert_int_not_equal(pd_reason_parse("steer:when=sometimes", &rs), PD_OK);
    env.steer = NULL;
    assert_int_equal(pd_reason_parse(spec, &rs), PD_OK);
    assert_int_not_equal(pd_reason_make(rs, &env, &pol), PD_OK);
    pd_reason_spec_free(rs);
    pd_steer_detach(s);
    free(f0);
    pd_cvec_free(z);
    pd_cvec_free(c);
}

/* when=reflect on tiny-qwen3 made to think a script with two blank lines: `span` rows are steered
 * from each one (the blank line's own row, whose output is the next paragraph's first token, then
 * span - 1 more); nothing in the answer */
typedef struct { int32_t *ids; int n, i; } script_t;
static void sc_logits(void *ctx, const pd_seq_state *s, float *logits) {
    script_t *c = ctx;
    if (c->i >= c->n) return;
    for (int v = 0; v < s->n_vocab; v++) if (v != c->ids[c->i]) logits[v] = -INFINITY;
    c->i++;
}

static void test_policy_reflect(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *q = pd_model_load(PD_FIXTURES "models/tiny-qwen3.gguf");
    assert_non_null(q);
    pd_cvec *c = pd_cvec_new(q->cfg.n_embd, q->cfg.n_layer, "qwen3");
    fill_random(c->dir, (size_t)q->cfg.n_embd * q->cfg.n_layer, 15, 1.0f);
    assert_int_equal(pd_cvec_save(c, path_of("q.cv.gguf")), PD_OK);
    pd_steer *s = pd_steer_attach(q);
    script_t sc = {0};
    assert_int_equal(pd_reason_tokens(q->tok, "We add 3 and 4 to get 7.\n\nWait, 3 plus 4 is 7 again.\n\nHmm, yes 7.\n</think>\n\nThe answer is 7 and so on",
                                      &sc.ids, &sc.n), PD_OK);
    for (int span = 1; span <= 3; span++) {
        sc.i = 0;
        pd_gen_params gp = pd_gen_defaults();
        gp.n_ctx = 128;
        gp.kv_type = PD_TYPE_F32;
        pd_gen *g = pd_gen_new(q, &gp);
        char spec[256];
        snprintf(spec, sizeof spec, "steer:file=%s,when=reflect,span=%d", path_of("q.cv.gguf"), span);
        pd_reason_spec *rs;
        assert_int_equal(pd_reason_parse(spec, &rs), PD_OK);
        pd_reason_env env = {.tok = q->tok, .steer = s};
        pd_policy pols[2] = {{.name = "script", .ctx = &sc, .on_logits = sc_logits}};
        assert_int_equal(pd_reason_make(rs, &env, &pols[1]), PD_OK);
        pd_reason_spec_free(rs);
        pd_policy chain;
        assert_int_equal(pd_reason_chain(pols, 2, &chain), PD_OK);
        int32_t *prompt;
        int np;
        assert_int_equal(pd_reason_tokens(q->tok, "<|im_start|>user\nWhat is 3+4?<|im_end|>\n<|im_start|>assistant\n<think>\n", &prompt, &np), PD_OK);
        pd_seq_params p = pd_seq_defaults();
        p.sampling.temperature = 0;
        p.max_tokens = sc.n;
        p.ignore_eog = true;
        p.policies = &chain;
        p.n_policies = 1;
        int id = pd_gen_add(g, prompt, np, &p);
        assert_int_equal(pd_gen_run(g), PD_OK);
        /* two blank lines in the thinking, the one after </think> is in the answer */
        assert_int_equal(pd_steer_rows(s, id), 2 * span);
        free(prompt);
        pd_gen_free(g);
    }
    free(sc.ids);
    pd_steer_detach(s);
    pd_cvec_free(c);
    pd_model_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),          cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_check_against_model), cmocka_unit_test(test_zero_vector),
        cmocka_unit_test(test_scalar_reference),   cmocka_unit_test(test_current_position),
        cmocka_unit_test(test_batch_per_sequence), cmocka_unit_test(test_mean_diff),
        cmocka_unit_test(test_policy),             cmocka_unit_test(test_policy_reflect),
    };
    return pd_run_tests(tests, setup, teardown);
}
