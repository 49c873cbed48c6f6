/* tests/gen/test_gen.c — the generation loop against independent truths:
 *   - greedy decoding of stories260K equals llama2.c run.c's greedy ids (from BOS, from a prompt);
 *   - greedy next tokens of tiny-llama / tiny-qwen3 equal the argmax of llama.cpp's fixture logits
 *     for every prompt length, all prompt lengths batched together in one gen;
 *   - batched sampling of different prompts, joining at different steps, equals each alone;
 *   - same seed → same text; score() equals the log-probs recorded while sampling;
 *   - fork and rewind reproduce the original continuation; hand-over equals the other model alone;
 *   - forced byte tokens never stream half a UTF-8 character; stop strings spanning tokens stop
 *     and are never streamed. All with F32 KV (the fixtures were made with F32 KV). */
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
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/gen.h"

#define FIX PD_SHARED_DIR "/fixtures/"

static pd_model *load(const char *path) {
    pd_model *m = pd_model_load(path);
    if (!m) print_error("%s\n", pd_last_error());
    assert_non_null(m);
    return m;
}

static int read_ids(const char *path, int32_t *ids, int cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    char line[4096];
    /* either one id per line (optionally followed by a tab and text) or space-separated on one line */
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        for (;;) {
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p) break;
            assert_true(n < cap);
            ids[n++] = (int32_t)v;
            if (*e == '\t') break;
            p = e;
        }
    }
    fclose(f);
    return n;
}

static float *read_f32(const char *path, size_t *n) {
    size_t len;
    char *d = pd_read_file(path, &len);
    assert_non_null(d);
    *n = len / 4;
    return (float *)d;
}

static pd_gen *new_gen(const pd_model *m, int n_seq, int n_ctx) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = n_seq;
    gp.n_ctx = n_ctx;
    gp.kv_type = PD_TYPE_F32;
    gp.n_batch = 64;
    pd_gen *g = pd_gen_new(m, &gp);
    if (!g) print_error("%s\n", pd_last_error());
    assert_non_null(g);
    return g;
}

static pd_seq_params greedy(int max_tokens) {
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = max_tokens;
    p.ignore_eog = true;
    return p;
}

static void test_greedy_stories(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "llama2c/stories260K.bin");
    int32_t want_bos[128], want_prompt[64], prompt[32];
    assert_int_equal(read_ids(FIX "llama2c/stories260K.greedy-from-bos.txt", want_bos, 128), 80);
    assert_int_equal(read_ids(FIX "llama2c/stories260K.greedy-from-prompt.txt", want_prompt, 64), 40);
    assert_int_equal(read_ids(FIX "llama2c/stories260K.tokens.txt", prompt, 32), 25);
    /* both at once, in one gen: a 1-token and a 25-token prompt */
    pd_gen *g = new_gen(m, 2, 512);
    pd_seq_params p = greedy(80);
    int a = pd_gen_add(g, prompt, 1, &p);
    p.max_tokens = 40;
    int b = pd_gen_add(g, prompt, 25, &p);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *ra = pd_gen_get_result(g, a), *rb = pd_gen_get_result(g, b);
    assert_int_equal(ra->finish, PD_FINISH_LENGTH);
    assert_int_equal(ra->n_tokens, 81);
    assert_memory_equal(ra->tokens + 1, want_bos, 80 * sizeof(int32_t));
    assert_int_equal(rb->n_tokens, 65);
    assert_memory_equal(rb->tokens + 25, want_prompt, 40 * sizeof(int32_t));
    /* no tokenizer in a .bin: no text, every generated token is an answer token */
    assert_int_equal(ra->n_answer, 80);
    assert_int_equal(ra->answer_len, 0);
    pd_gen_free(g);
    pd_model_free(m);
}

static int argmax_margin(const float *x, int n, float *margin) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    float second = -INFINITY;
    for (int i = 0; i < n; i++) if (i != best && x[i] > second) second = x[i];
    *margin = x[best] - second;
    return best;
}

/* Every prefix of the fixture tokens as its own sequence, all in one gen: greedy token 1 = argmax
 * of the fixture logits of the prefix's last position. */
static void check_fixture_argmax(const char *model, const char *name, int n_vocab) {
    PD_NEED_FIXTURES();
    char path[512];
    snprintf(path, sizeof path, FIX "models/%s.gguf", model);
    pd_model *m = load(path);
    int32_t toks[64];
    snprintf(path, sizeof path, FIX "models/%s.tokens.txt", name);
    int n = read_ids(path, toks, 64);
    size_t nf;
    snprintf(path, sizeof path, FIX "models/%s.logits.f32", name);
    float *lg = read_f32(path, &nf);
    int rows = (int)(nf / (size_t)n_vocab), p0 = n - rows;
    pd_gen *g = new_gen(m, rows, 64);
    pd_seq_params p = greedy(1);
    int ids[64];
    for (int r = 0; r < rows; r++) {
        ids[r] = pd_gen_add(g, toks, p0 + r + 1, &p);
        assert_true(ids[r] >= 0);
    }
    assert_int_equal(pd_gen_run(g), PD_OK);
    int checked = 0;
    for (int r = 0; r < rows; r++) {
        float margin;
        int want = argmax_margin(lg + (size_t)r * n_vocab, n_vocab, &margin);
        const pd_gen_result *res = pd_gen_get_result(g, ids[r]);
        assert_int_equal(res->n_tokens, p0 + r + 2);
        if (margin < 2e-3f) continue; /* too close to call against llama.cpp's rounding */
        assert_int_equal(res->tokens[p0 + r + 1], want);
        checked++;
    }
    assert_true(checked >= rows / 2);
    free(lg);
    pd_gen_free(g);
    pd_model_free(m);
}

static void test_greedy_fixture_logits(void **st) {
    (void)st;
    check_fixture_argmax("tiny-llama", "tiny-llama", 32000);
    check_fixture_argmax("tiny-qwen3", "tiny-qwen3", 151936);
    check_fixture_argmax("tiny-qwen3", "tiny-qwen3.chat", 151936);
    check_fixture_argmax("tiny-qwen2", "tiny-qwen2", 151936);
}

/* Sampling at temperature 0.9, each sequence with its own seed. */
static void run_alone(const pd_model *m, const int32_t *prompt, int n, uint64_t seed, int32_t *out, int n_gen) {
    pd_gen *g = new_gen(m, 1, 256);
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0.9f;
    p.sampling.top_k = 40;
    p.sampling.seed = seed;
    p.max_tokens = n_gen;
    p.ignore_eog = true;
    int id = pd_gen_add(g, prompt, n, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    assert_int_equal(r->n_tokens, n + n_gen);
    memcpy(out, r->tokens + n, (size_t)n_gen * sizeof(int32_t));
    pd_gen_free(g);
}

static void test_batched_equals_alone(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-llama.gguf");
    int32_t prompt[32];
    assert_int_equal(read_ids(FIX "models/tiny-llama.tokens.txt", prompt, 32), 21);
    enum { NS = 4, NG = 30 };
    const int lens[NS] = {21, 1, 9, 12};
    const int offs[NS] = {0, 0, 3, 7};
    int32_t alone[NS][NG];
    for (int i = 0; i < NS; i++) run_alone(m, prompt + offs[i], lens[i], 100 + i, alone[i], NG);
    /* together: two join at once, the others after 3 and 5 steps; slot 0 is freed and reused */
    pd_gen *g = new_gen(m, 3, 256);
    int ids[NS];
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0.9f;
    p.sampling.top_k = 40;
    p.max_tokens = NG;
    p.ignore_eog = true;
    int joined = 0, collected = 0, step = 0;
    bool got[NS] = {false};
    while (collected < NS) {
        while (joined < NS && pd_gen_n_free(g) > 0 && (joined < 2 || step >= 3 + 2 * (joined - 2))) {
            p.sampling.seed = 100 + (uint64_t)joined;
            ids[joined] = pd_gen_add(g, prompt + offs[joined], lens[joined], &p);
            assert_true(ids[joined] >= 0);
            joined++;
        }
        assert_int_equal(pd_gen_step(g), PD_OK);
        step++;
        for (int i = 0; i < joined; i++) {
            if (got[i] || !pd_gen_done(g, ids[i])) continue;
            const pd_gen_result *r = pd_gen_get_result(g, ids[i]);
            assert_int_equal(r->n_tokens, lens[i] + NG);
            assert_memory_equal(r->tokens + lens[i], alone[i], NG * sizeof(int32_t));
            pd_gen_remove(g, ids[i]);
            got[i] = true;
            collected++;
        }
        assert_true(step < 1000);
    }
    /* different seeds gave different continuations (the test would be vacuous otherwise) */
    assert_memory_not_equal(alone[2], alone[3], NG * sizeof(int32_t));
    pd_gen_free(g);
    pd_model_free(m);
}

/* N samples of one prompt: prefill once, fork N times (shared KV), each fork equals its run alone. */
static void test_prefill_fork_group(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-llama.gguf");
    int32_t prompt[32];
    assert_int_equal(read_ids(FIX "models/tiny-llama.tokens.txt", prompt, 32), 21);
    enum { NS = 3, NG = 12 };
    int32_t alone[NS][NG];
    for (int i = 0; i < NS; i++) run_alone(m, prompt, 21, 500 + i, alone[i], NG);
    pd_gen *g = new_gen(m, NS + 1, 256);
    pd_seq_params p = pd_seq_defaults();
    int id = pd_gen_add(g, prompt, 21, &p);
    assert_int_equal(pd_gen_prefill(g, id), PD_OK);
    int f[NS];
    for (int i = 0; i < NS; i++) {
        p.sampling.temperature = 0.9f;
        p.sampling.top_k = 40;
        p.sampling.seed = 500 + (uint64_t)i;
        p.max_tokens = NG;
        p.ignore_eog = true;
        f[i] = pd_gen_fork(g, id, &p);
        assert_true(f[i] >= 0);
    }
    pd_gen_remove(g, id);
    assert_int_equal(pd_gen_run(g), PD_OK);
    for (int i = 0; i < NS; i++) {
        const pd_gen_result *r = pd_gen_get_result(g, f[i]);
        assert_int_equal(r->n_tokens, 21 + NG);
        assert_memory_equal(r->tokens + 21, alone[i], sizeof alone[i]);
    }
    pd_gen_free(g);
    pd_model_free(m);
}

/* Reusing a donor's KV for the common prefix gives the same tokens as a full prefill. */
static void test_add_reusing(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-llama.gguf");
    int32_t prompt[32];
    assert_int_equal(read_ids(FIX "models/tiny-llama.tokens.txt", prompt, 32), 21);
    pd_gen *g = new_gen(m, 2, 128);
    pd_seq_params p = greedy(6);
    int a = pd_gen_add(g, prompt, 12, &p);          /* the "previous turn" */
    assert_int_equal(pd_gen_run(g), PD_OK);
    int32_t longer[40];
    memcpy(longer, pd_gen_get_result(g, a)->tokens, 18 * sizeof(int32_t));
    memcpy(longer + 18, prompt + 12, 9 * sizeof(int32_t)); /* + a "new user turn" */
    p = greedy(10);
    int b = pd_gen_add_reusing(g, a, longer, 27, &p);
    assert_true(b >= 0 && b != a);
    assert_int_equal(pd_gen_run(g), PD_OK);
    int32_t reused[37];
    memcpy(reused, pd_gen_get_result(g, b)->tokens, sizeof reused);
    assert_int_equal(pd_gen_get_result(g, a)->n_tokens, 18);   /* the donor is unchanged */
    pd_gen_remove(g, b);
    int c = pd_gen_add(g, longer, 27, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    assert_memory_equal(pd_gen_get_result(g, c)->tokens, reused, sizeof reused);
    assert_int_equal(pd_gen_add_reusing(g, 7, longer, 27, &p), -1);
    pd_gen_free(g);
    pd_model_free(m);
}

static void test_seed_text_score(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-qwen3.gguf");
    assert_non_null(m->tok);
    int32_t prompt[8] = {14582, 25, 1128, 374};  /* "Question: what is" */
    char *texts[3];
    pd_gen *g = new_gen(m, 3, 128);
    pd_seq_params p = pd_seq_defaults();
    p.max_tokens = 12;
    p.ignore_eog = true;
    p.logprobs = true;
    int ids[3];
    for (int i = 0; i < 3; i++) {
        p.sampling.seed = i < 2 ? 7 : 8;
        ids[i] = pd_gen_add(g, prompt, 4, &p);
    }
    assert_int_equal(pd_gen_run(g), PD_OK);
    for (int i = 0; i < 3; i++) {
        const pd_gen_result *r = pd_gen_get_result(g, ids[i]);
        assert_int_equal(r->n_tokens, 16);
        assert_true(r->answer_len > 0);
        texts[i] = pd_strdup(r->answer);
    }
    assert_string_equal(texts[0], texts[1]);
    assert_string_not_equal(texts[0], texts[2]);
    /* the answer text equals a whole-sequence decode of the generated tokens */
    const pd_gen_result *r = pd_gen_get_result(g, ids[0]);
    char *dec = pd_detokenize(m->tok, r->tokens + 4, 12, NULL);
    assert_string_equal(dec, r->answer);
    free(dec);
    /* score: log-probs of the sampled continuation equal those recorded while sampling */
    int32_t cont[12];
    float lp[12];
    memcpy(cont, r->tokens + 4, sizeof cont);
    float recorded[12];
    memcpy(recorded, r->logprobs, sizeof recorded);
    for (int i = 0; i < 3; i++) pd_gen_remove(g, ids[i]);
    assert_int_equal(pd_gen_score(g, 0, prompt, 4, cont, 12, lp), PD_OK);
    for (int i = 0; i < 12; i++) assert_true(fabsf(lp[i] - recorded[i]) < 1e-4f);
    for (int i = 0; i < 3; i++) free(texts[i]);
    pd_gen_free(g);
    pd_model_free(m);
}

static void handover_after_3(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)ctx;
    if (s->n_generated == 3) { a->kind = PD_ACT_HANDOVER; a->model = 1; }
}

static void test_fork_rewind_handover(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-llama.gguf");
    pd_model *m16 = load(FIX "models/tiny-llama-f16.gguf");
    int32_t prompt[32];
    int n = read_ids(FIX "models/tiny-llama.tokens.txt", prompt, 32);
    assert_int_equal(n, 21);
    pd_gen *g = new_gen(m, 3, 128);
    pd_seq_params p = greedy(20);
    int a = pd_gen_add(g, prompt, 8, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *ra = pd_gen_get_result(g, a);
    int32_t full[28];
    memcpy(full, ra->tokens, sizeof full);
    /* rewind to 8 + 5 tokens and continue: the same greedy continuation */
    assert_int_equal(pd_gen_rewind(g, a, 13), PD_OK);
    assert_false(pd_gen_done(g, a));
    assert_int_equal(pd_gen_get_result(g, a)->n_answer, 5);
    assert_int_equal(pd_gen_run(g), PD_OK);
    ra = pd_gen_get_result(g, a);
    assert_int_equal(ra->n_tokens, 28);
    assert_memory_equal(ra->tokens, full, sizeof full);
    /* rewind to 10, fork with max 18: the fork continues exactly as the original did */
    assert_int_equal(pd_gen_rewind(g, a, 10), PD_OK);
    pd_seq_params pf = greedy(18);
    int f = pd_gen_fork(g, a, &pf);
    assert_true(f >= 0);
    pd_gen_remove(g, a);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *rf = pd_gen_get_result(g, f);
    assert_int_equal(rf->n_tokens, 26);
    assert_memory_equal(rf->tokens, full, 26 * sizeof(int32_t));
    pd_gen_remove(g, f);
    assert_int_equal(pd_gen_rewind(g, f, 3), PD_ERR_ARG);
    pd_gen_free(g);

    /* hand-over: after 3 sampled tokens the f16 model takes over; the rest must equal the f16
     * model's own greedy continuation of prompt + those 3 tokens */
    g = new_gen(m, 1, 128);
    assert_int_equal(pd_gen_add_model(g, m16), 1);
    pd_policy pol = {0};
    pol.name = "handover-after-3";
    pol.on_token = handover_after_3;
    p = greedy(12);
    p.policies = &pol;
    p.n_policies = 1;
    a = pd_gen_add(g, prompt, 8, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    ra = pd_gen_get_result(g, a);
    int32_t mixed[20];
    memcpy(mixed, ra->tokens, sizeof mixed);
    pd_gen_free(g);
    g = new_gen(m16, 1, 128);
    p = greedy(9);
    a = pd_gen_add(g, mixed, 11, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    assert_memory_equal(pd_gen_get_result(g, a)->tokens, mixed, sizeof mixed);
    pd_gen_free(g);
    pd_model_free(m);
    pd_model_free(m16);
}

/* ---- forced tokens: a policy that masks every logit but the next wanted token ---- */
typedef struct { const int32_t *t; int n, i; } forced_t;
static void forced_logits(void *ctx, const pd_seq_state *s, float *logits) {
    forced_t *f = ctx;
    int want = f->i < f->n ? f->t[f->i] : 0;
    for (int v = 0; v < s->n_vocab; v++) if (v != want) logits[v] = -INFINITY;
    f->i++;
}

typedef struct { pd_buf text; int chunks; bool bad_utf8; } sink_t;
static bool utf8_complete(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        for (size_t j = 1; j < k; j++) if ((p[i + j] & 0xC0) != 0x80) return false;
        i += k;
    }
    return true;
}
static void sink(void *ctx, int seq, pd_phase ph, const char *t, size_t n) {
    (void)seq; (void)ph;
    sink_t *s = ctx;
    if (!utf8_complete((const unsigned char *)t, n)) s->bad_utf8 = true;
    pd_buf_append(&s->text, t, n);
    s->chunks++;
}

/* The token whose raw piece is exactly one byte b (byte-level BPE has one for every byte). */
static int32_t byte_token(const pd_tokenizer *tok, unsigned char b) {
    for (int32_t id = 0; id < pd_tok_n_vocab(tok); id++) {
        size_t len;
        const char *p = pd_tok_piece(tok, id, &len);
        if (len == 1 && (unsigned char)p[0] == b && !pd_tok_is_special(tok, id)) return id;
    }
    return -1;
}

static const pd_gen_result *run_forced(pd_gen *g, const int32_t *t, int n, forced_t *f, sink_t *sk,
                                       const char *const *stop, int n_stop) {
    *f = (forced_t){t, n, 0};
    memset(sk, 0, sizeof *sk);
    pd_gen_set_stream(g, sink, sk);
    pd_policy pol = {.name = "forced", .ctx = f, .on_logits = forced_logits};
    pd_seq_params p = pd_seq_defaults();
    p.max_tokens = n;
    p.ignore_eog = true;
    p.policies = &pol;
    p.n_policies = 1;
    p.stop = stop;
    p.n_stop = n_stop;
    int32_t prompt[1] = {14582};
    int id = pd_gen_add(g, prompt, 1, &p);
    assert_int_equal(id, 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    return pd_gen_get_result(g, id);
}

static void test_utf8_and_stop_strings(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-qwen3.gguf");
    pd_gen *g = new_gen(m, 1, 128);
    const char *text = "a\xe6\x97\xa5\xe6\x9c\xac\xc3\xa9!\xf0\x9f\x98\x80z";  /* a日本é!😀z */
    int32_t t[32];
    int n = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        t[n] = byte_token(m->tok, *c);
        assert_true(t[n] >= 0);
        n++;
    }
    forced_t f;
    sink_t sk;
    const pd_gen_result *r = run_forced(g, t, n, &f, &sk, NULL, 0);
    assert_int_equal(r->n_tokens, 1 + n);
    assert_false(sk.bad_utf8);
    assert_true(sk.chunks >= 5);
    assert_string_equal(sk.text.data, text);
    assert_string_equal(r->answer, text);
    pd_buf_free(&sk.text);
    pd_gen_remove(g, 0);

    /* stop string across token boundaries: "Hello world! STOP here" as its BPE tokens, stop "d! ST" */
    int32_t *ids;
    size_t nid;
    const char *s = "Hello world! STOP here";
    assert_int_equal(pd_tokenize(m->tok, s, strlen(s), false, false, &ids, &nid), PD_OK);
    assert_true(nid >= 5);
    const char *stops[] = {"zzz", "d! ST"};
    r = run_forced(g, ids, (int)nid, &f, &sk, stops, 2);
    assert_int_equal(r->finish, PD_FINISH_STOP);
    assert_string_equal(r->stop_string, "d! ST");
    assert_string_equal(r->answer, "Hello worl");
    assert_string_equal(sk.text.data, "Hello worl");
    assert_true(r->n_tokens < 1 + (int)nid);  /* stopped before the end */
    pd_buf_free(&sk.text);
    pd_gen_remove(g, 0);
    /* a stop string that only partly matches is held back, then released */
    const char *stops2[] = {"! STX"};
    r = run_forced(g, ids, (int)nid, &f, &sk, stops2, 1);
    assert_int_equal(r->finish, PD_FINISH_LENGTH);
    assert_string_equal(r->answer, s);
    assert_string_equal(sk.text.data, s);
    pd_buf_free(&sk.text);
    pd_gen_remove(g, 0);
    free(ids);
    pd_gen_free(g);
    pd_model_free(m);
}

/* Boundary flags and the per-token callback: forced "Hi\n\n\nok\nthen" as byte tokens. */
typedef struct { forced_t f; unsigned flags[32]; int n_flags; int n_cb; float cb_lp[32]; } bnd_t;
static void bnd_logits(void *ctx, const pd_seq_state *s, float *logits) { forced_logits(&((bnd_t *)ctx)->f, s, logits); }
static void bnd_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)a;
    bnd_t *b = ctx;
    b->flags[b->n_flags++] = s->boundary;
}
static void bnd_cb(void *ctx, int seq, const pd_sample *smp, pd_phase ph) {
    (void)seq;
    bnd_t *b = ctx;
    assert_int_equal(ph, PD_PHASE_ANSWER);
    assert_int_equal(smp->n_top, 2);
    assert_int_equal(smp->top[0].token, smp->token);  /* the forced token has all the mass */
    b->cb_lp[b->n_cb++] = smp->logprob;
}
static void test_boundaries_callbacks(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-qwen3.gguf");
    pd_gen *g = new_gen(m, 1, 64);
    const char *text = "Hi\n\n\nok\nthen";
    int32_t t[16];
    int n = 0;
    for (const char *c = text; *c; c++) t[n++] = byte_token(m->tok, (unsigned char)*c);
    bnd_t b = {.f = {t, n, 0}};
    pd_gen_set_token_callback(g, bnd_cb, &b);
    pd_policy pol = {.name = "bnd", .ctx = &b, .on_logits = bnd_logits, .on_token = bnd_token};
    pd_seq_params p = pd_seq_defaults();
    p.max_tokens = n;
    p.ignore_eog = true;
    p.sampling.n_logprobs = 2;
    p.logprobs = true;
    p.policies = &pol;
    p.n_policies = 1;
    int32_t prompt[1] = {14582};
    int id = pd_gen_add(g, prompt, 1, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    assert_string_equal(r->answer, text);
    assert_int_equal(b.n_flags, n);
    assert_int_equal(b.n_cb, n);
    /* tokens: H i \n \n \n o k \n t h e n (a third newline does not start another paragraph) */
    const unsigned want[] = {0, 0, PD_BOUNDARY_LINE, PD_BOUNDARY_LINE | PD_BOUNDARY_PARAGRAPH, PD_BOUNDARY_LINE, 0, 0,
                             PD_BOUNDARY_LINE, 0, 0, 0, 0};
    for (int i = 0; i < n; i++) assert_int_equal(b.flags[i], want[i]);
    /* log-probs are taken after the policies' biases (sampler.h): the forced token has all the
     * mass, and the result records what the callback saw */
    for (int i = 0; i < n; i++) {
        assert_true(fabsf(r->logprobs[i]) < 1e-6f);
        assert_true(fabsf(r->logprobs[i] - b.cb_lp[i]) < 1e-6f);
    }
    pd_gen_free(g);
    pd_model_free(m);
}

/* Policy actions at the edges: stop at once, an invalid injection, extra stop tokens. */
static void stop_at_start(void *ctx, const pd_seq_state *s, pd_action *a) { (void)ctx; (void)s; a->kind = PD_ACT_STOP; }
static void inject_bad(void *ctx, const pd_seq_state *s, pd_action *a) {
    static const int32_t bad[1] = {-5};
    (void)ctx; (void)s;
    a->kind = PD_ACT_INJECT; a->tokens = bad; a->n_tokens = 1;
}
static void test_policy_edges(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-qwen3.gguf");
    pd_gen *g = new_gen(m, 1, 64);
    int32_t prompt[1] = {14582};
    pd_policy pol = {.name = "stop", .on_start = stop_at_start};
    pd_seq_params p = greedy(8);
    p.policies = &pol;
    p.n_policies = 1;
    int id = pd_gen_add(g, prompt, 1, &p);
    assert_true(pd_gen_done(g, id));
    assert_int_equal(pd_gen_n_active(g), 0);
    assert_int_equal(pd_gen_get_result(g, id)->finish, PD_FINISH_POLICY);
    assert_int_equal(pd_gen_get_result(g, id)->n_tokens, 1);
    pd_gen_remove(g, id);
    pol = (pd_policy){.name = "bad", .on_token = inject_bad};
    id = pd_gen_add(g, prompt, 1, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    assert_int_equal(r->finish, PD_FINISH_ERROR);
    assert_non_null(strstr(r->error, "-5"));
    assert_int_equal(r->n_tokens, 2);
    pd_gen_remove(g, id);
    /* stop tokens: "abcdef" forced, 'd' is a stop token: finish eog with "abc" as the answer */
    int32_t t[6];
    for (int i = 0; i < 6; i++) t[i] = byte_token(m->tok, (unsigned char)('a' + i));
    forced_t f = {t, 6, 0};
    pol = (pd_policy){.name = "forced", .ctx = &f, .on_logits = forced_logits};
    p = pd_seq_defaults();
    p.max_tokens = 6;
    p.policies = &pol;
    p.n_policies = 1;
    p.stop_tokens = &t[3];
    p.n_stop_tokens = 1;
    id = pd_gen_add(g, prompt, 1, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    r = pd_gen_get_result(g, id);
    assert_int_equal(r->finish, PD_FINISH_EOG);
    assert_int_equal(r->n_tokens, 5);
    assert_int_equal(r->tokens[4], t[3]);
    assert_string_equal(r->answer, "abc");
    assert_string_equal(pd_finish_name(r->finish), "eog");
    pd_gen_free(g);
    pd_model_free(m);
}

/* Phases: a prompt ending in "<think>\n" starts in thinking; injected "</think>" switches to answer. */
static void inject_close_at_4(void *ctx, const pd_seq_state *s, pd_action *a) {
    const int32_t *close = ctx;
    if (s->phase == PD_PHASE_THINKING && s->n_thinking == 4) { a->kind = PD_ACT_INJECT; a->tokens = close; a->n_tokens = 1; }
}
static void test_phases(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-qwen3.gguf");
    pd_gen *g = new_gen(m, 1, 128);
    int32_t prompt[32];
    int n = read_ids(FIX "models/tiny-qwen3.chat.tokens.txt", prompt, 32);
    assert_int_equal(n, 21);
    int32_t close = pd_gen_think_close(g);
    assert_int_equal(pd_gen_think_open(g), 151667);
    assert_int_equal(close, 151668);
    pd_policy pol = {.name = "close", .ctx = &close, .on_token = inject_close_at_4};
    /* sampled at temperature 1 (greedy on a tied random model repeats its input, "</think>" included) */
    pd_seq_params p = pd_seq_defaults();
    p.max_tokens = 10;
    p.ignore_eog = true;
    p.sampling.seed = 3;
    p.policies = &pol;
    p.n_policies = 1;
    int id = pd_gen_add(g, prompt, n, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    const pd_gen_result *r = pd_gen_get_result(g, id);
    assert_int_equal(r->n_tokens, n + 10);
    for (int i = 0; i < n; i++) assert_int_equal(r->phases[i], PD_PHASE_PROMPT);
    for (int i = n; i < n + 5; i++) assert_int_equal(r->phases[i], PD_PHASE_THINKING);
    assert_int_equal(r->tokens[n + 4], close);
    for (int i = n + 5; i < n + 10; i++) assert_int_equal(r->phases[i], PD_PHASE_ANSWER);
    assert_int_equal(r->n_thinking, 5);
    assert_int_equal(r->n_answer, 5);
    char *th = pd_detokenize(m->tok, r->tokens + n, 4, NULL), *an = pd_detokenize(m->tok, r->tokens + n + 5, 5, NULL);
    assert_string_equal(r->thinking, th);
    assert_string_equal(r->answer, an);
    free(th); free(an);
    pd_gen_free(g);
    pd_model_free(m);
}

static void test_errors(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = load(FIX "models/tiny-llama.gguf");
    pd_gen *g = new_gen(m, 1, 16);
    int32_t prompt[20] = {1, 2, 3};
    pd_seq_params p = greedy(100);
    assert_int_equal(pd_gen_add(g, prompt, 0, &p), -1);
    assert_int_equal(pd_gen_add(g, prompt, 16, &p), -1);
    assert_non_null(strstr(pd_last_error(), "context"));
    prompt[1] = 99999;
    assert_int_equal(pd_gen_add(g, prompt, 3, &p), -1);
    assert_non_null(strstr(pd_last_error(), "vocabulary"));
    prompt[1] = 2;
    p.sampling.top_p = -1;
    assert_int_equal(pd_gen_add(g, prompt, 3, &p), -1);
    p = greedy(100);
    int id = pd_gen_add(g, prompt, 3, &p);
    assert_int_equal(id, 0);
    assert_int_equal(pd_gen_add(g, prompt, 3, &p), -1);   /* no free slot */
    assert_int_equal(pd_gen_run(g), PD_OK);
    assert_int_equal(pd_gen_get_result(g, id)->finish, PD_FINISH_CONTEXT);
    assert_int_equal(pd_gen_get_result(g, id)->n_tokens, 16);
    assert_int_equal(pd_gen_rewind(g, id, 2), PD_ERR_RANGE);
    assert_null(pd_gen_get_result(g, 5));
    float lp[4];
    assert_int_equal(pd_gen_score(g, 0, prompt, 3, prompt, 1, lp), PD_ERR_STATE); /* slot busy */
    pd_gen_free(g);
    pd_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_stories),
        cmocka_unit_test(test_greedy_fixture_logits),
        cmocka_unit_test(test_batched_equals_alone),
        cmocka_unit_test(test_prefill_fork_group),
        cmocka_unit_test(test_add_reusing),
        cmocka_unit_test(test_seed_text_score),
        cmocka_unit_test(test_fork_rewind_handover),
        cmocka_unit_test(test_utf8_and_stop_strings),
        cmocka_unit_test(test_boundaries_callbacks),
        cmocka_unit_test(test_policy_edges),
        cmocka_unit_test(test_phases),
        cmocka_unit_test(test_errors),
    };
    return pd_run_tests(tests, NULL, NULL);
}
