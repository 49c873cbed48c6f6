/* tests/serve/test_jsonmask.c — JSON-object constrained decoding (serve/jsonmask.c).
 * 1. The recogniser against cJSON (an independent parser): whole documents accepted exactly when
 *    cJSON parses them as an object; every prefix of a valid one accepted; closers complete prefixes.
 * 2. The policy on the fixture vocabularies (tiny-qwen3: byte-level BPE, tiny-llama: SentencePiece):
 *    seeded random walks over the allowed tokens, then a walk towards the closer, the sequence shown to
 *    the policy as gen shows it (tokens, and an answer text that holds back a split UTF-8 character:
 *    a mask that followed the text instead of the tokens let invalid bytes and raw TABs in); at every step each
 *    allowed token's text + the closer of the state it leads to parses with cJSON, EOG is allowed
 *    exactly when the object is complete, and the final text is a JSON object. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include "fixtures.h"
#include "ponder/gguf.h"
#include "ponder/jsonmask.h"
#include "ponder/rng.h"
#include "ponder/tok.h"

static bool accepts(const char *s) {
    pd_jsonm m;
    pd_jsonm_init(&m);
    return pd_jsonm_feed(&m, s, strlen(s)) && pd_jsonm_complete(&m);
}

static bool cjson_object(const char *s, size_t n) {
    cJSON *j = cJSON_ParseWithLength(s, n);
    bool ok = j && cJSON_IsObject(j);
    cJSON_Delete(j);
    return ok;
}

static void test_recogniser(void **st) {
    (void)st;
    /* expected per RFC 8259 (and an object at the top); cJSON must parse every valid one (it is more
     * lenient than the RFC, e.g. it reads "01", so it is not the judge of the invalid ones) */
    static const struct { const char *doc; bool valid; } docs[] = {
        {"{}", 1}, {" {\"a\":1} ", 1}, {"{\"a\":[1,2.5,-0.3e+7,true,false,null,{\"b\":\"x\\n\\u00e9\"}]}", 1},
        {"{\"k\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", 1}, {"{\"a\":{},\"b\":[]}", 1}, {"{\"a\":0}", 1}, {"{\"n\":-12E-3}", 1},
        {"[1]", 0}, {"1", 0}, {"\"s\"", 0}, {"{", 0}, {"{\"a\"}", 0}, {"{\"a\":}", 0}, {"{\"a\":1,}", 0}, {"{\"a\":01}", 0},
        {"{\"a\":1.}", 0}, {"{\"a\":.5}", 0}, {"{\"a\":tru}", 0}, {"{\"a\":\"\x01\"}", 0}, {"{\"a\":\"\\x\"}", 0},
        {"{a:1}", 0}, {"{\"a\":1}}", 0}, {"{\"a\":[1,]}", 0}, {"{\"a\":\"\xc0\xaf\"}", 0}, {"{\"a\":\"\xed\xa0\x80\"}", 0},
        {"{\"a\":\"\\ud800\"}", 0}, {"{\"a\":-}", 0}, {"{\"a\":1e}", 0}, {"{\"a\":[}", 0}, {"{} {}", 0},
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        const char *doc = docs[i].doc;
        bool want = docs[i].valid;
        if (accepts(doc) != want) print_error("doc %zu: %s (valid: %d)\n", i, doc, want);
        assert_int_equal(accepts(doc), want);
        if (want) assert_true(cjson_object(doc, strlen(doc)));
        if (!want) continue;
        for (size_t k = 0; k <= strlen(doc); k++) {   /* every prefix is viable and closable */
            pd_jsonm m;
            pd_jsonm_init(&m);
            assert_true(pd_jsonm_feed(&m, doc, k));
            char buf[256], cl[PD_JSONM_DEPTH * 2 + 16];
            size_t n = pd_jsonm_closer(&m, cl, sizeof cl);
            memcpy(buf, doc, k);
            memcpy(buf + k, cl, n);
            if (!cjson_object(buf, k + n)) print_error("prefix %zu of doc %zu + closer: %.*s\n", k, i, (int)(k + n), buf);
            assert_true(cjson_object(buf, k + n));
        }
    }
    pd_jsonm m;   /* depth limit */
    pd_jsonm_init(&m);
    assert_true(pd_jsonm_feed(&m, "{\"a\":", 5));
    for (int d = 1; d < PD_JSONM_DEPTH; d++) assert_true(pd_jsonm_feed(&m, "[", 1));
    assert_false(pd_jsonm_feed(&m, "[", 1));
}

typedef struct { char *text; size_t len, cap; } sbuf;
static void sb_add(sbuf *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) { b->cap = (b->len + n + 1) * 2; b->text = realloc(b->text, b->cap); }
    memcpy(b->text + b->len, p, n);
    b->len += n;
}

/* One walk: `random_steps` uniform picks among allowed tokens, then the allowed token that is the
 * longest prefix of the closer, until only EOG is left. */
static void walk(const pd_tokenizer *tok, uint64_t seed, int random_steps) {
    int nv = pd_tok_n_vocab(tok);
    pd_policy pol;
    assert_int_equal(pd_jsonmask_policy(tok, &pol), PD_OK);
    float *lg = malloc((size_t)nv * sizeof *lg);
    int32_t *allowed = malloc((size_t)nv * sizeof *allowed);
    sbuf b = {0};
    pd_rng rng;
    pd_rng_seed(&rng, seed);
    pd_jsonm m;
    pd_jsonm_init(&m);
    int32_t *toks = malloc(4096 * sizeof *toks);
    uint8_t *phs = malloc(4096);
    int nt = 0;
    toks[nt] = 0;               /* a prompt token first, as in a real sequence */
    phs[nt++] = PD_PHASE_PROMPT;
    sbuf shown = {0};
    pd_detok_stream ds = {0};
    for (int step = 0;; step++) {
        assert_true(step < 4000 && nt < 4096);
        /* as gen shows it: the tokens, and an answer text that holds back a split UTF-8 character */
        pd_seq_state s = {.phase = PD_PHASE_ANSWER, .n_vocab = nv, .tok = tok, .tokens = toks, .phases = phs,
                          .n_tokens = nt, .answer = shown.text, .answer_len = shown.len};
        for (int t = 0; t < nv; t++) lg[t] = 0;
        pol.on_logits(pol.ctx, &s, lg);
        int na = 0;
        bool eog_ok = false;
        for (int t = 0; t < nv; t++) {
            if (isinf(lg[t])) continue;
            if (pd_tok_is_eog(tok, t)) { eog_ok = true; continue; }
            allowed[na++] = t;
        }
        assert_int_equal(eog_ok, pd_jsonm_complete(&m));
        if (eog_ok) { assert_int_equal(na, 0); break; }
        assert_true(na > 0);
        for (int k = 0; k < 8; k++) {   /* spot-check allowed tokens against cJSON */
            int32_t t = allowed[(int)pd_rng_below(&rng, (uint64_t)na)];
            size_t pl;
            const char *p = pd_tok_piece(tok, t, &pl);
            pd_jsonm m2 = m;
            assert_true(pd_jsonm_feed(&m2, p, pl));
            char cl[PD_JSONM_DEPTH * 2 + 16];
            size_t cn = pd_jsonm_closer(&m2, cl, sizeof cl);
            sbuf c = {0};
            sb_add(&c, b.text ? b.text : "", b.len);
            sb_add(&c, p, pl);
            sb_add(&c, cl, cn);
            if (!cjson_object(c.text, c.len)) print_error("not closable: %.*s\n", (int)c.len, c.text);
            assert_true(cjson_object(c.text, c.len));
            free(c.text);
        }
        int32_t pick = -1;
        if (step < random_steps) {
            pick = allowed[(int)pd_rng_below(&rng, (uint64_t)na)];
        } else {
            char cl[PD_JSONM_DEPTH * 2 + 16];
            size_t cn = pd_jsonm_closer(&m, cl, sizeof cl), best = 0;
            for (int i = 0; i < na; i++) {
                size_t pl;
                const char *p = pd_tok_piece(tok, allowed[i], &pl);
                if (pl > best && pl <= cn && !memcmp(p, cl, pl)) { best = pl; pick = allowed[i]; }
            }
            assert_true(pick >= 0);
        }
        size_t pl;
        const char *p = pd_tok_piece(tok, pick, &pl);
        assert_true(pd_jsonm_feed(&m, p, pl));
        sb_add(&b, p, pl);
        toks[nt] = pick;
        phs[nt++] = PD_PHASE_ANSWER;
        char out[64];
        size_t k = pd_detok_push(&ds, tok, pick, out, sizeof out);
        sb_add(&shown, out, k);
    }
    free(shown.text);
    assert_true(cjson_object(b.text, b.len));
    free(b.text);
    free(lg);
    free(allowed);
    free(toks);
    free(phs);
    pol.release(pol.ctx);
}

static void vocab_walks(const char *file) {
    PD_NEED_FIXTURES();
    pd_gguf *g = pd_gguf_open(file);
    assert_non_null(g);
    pd_tokenizer *tok = pd_tokenizer_from_gguf(g);
    assert_non_null(tok);
    for (uint64_t seed = 1; seed <= 6; seed++) walk(tok, seed, (int)(seed * 7));
    pd_tokenizer_free(tok);
    pd_gguf_close(g);
}

static void test_qwen3_vocab(void **st) { (void)st; vocab_walks(PD_FIXTURES "models/tiny-qwen3.gguf"); }
static void test_llama_vocab(void **st) { (void)st; vocab_walks(PD_FIXTURES "models/tiny-llama.gguf"); }

/* Regression: the answer text holds back a split UTF-8 character (gen's incremental decoding) while the
 * tokens already contain its first byte; every token the mask allows must continue THAT character. */
static void test_split_utf8(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_gguf *g = pd_gguf_open(PD_FIXTURES "models/tiny-qwen3.gguf");
    pd_tokenizer *tok = pd_tokenizer_from_gguf(g);
    int nv = pd_tok_n_vocab(tok);
    int32_t *ids = NULL;
    size_t n = 0;
    assert_int_equal(pd_tokenize(tok, "{\"a\":\"", 6, false, false, &ids, &n), PD_OK);
    int32_t split = -1;
    for (int t = 0; t < nv && split < 0; t++) {
        size_t len;
        const char *p = pd_tok_piece(tok, t, &len);
        if (p && len == 1 && (unsigned char)p[0] >= 0xE1 && (unsigned char)p[0] <= 0xEC) split = t;
    }
    assert_true(split >= 0);
    int32_t toks[16];
    uint8_t phs[16];
    int nt = 0;
    toks[nt] = 0; phs[nt++] = PD_PHASE_PROMPT;
    sbuf shown = {0};
    pd_detok_stream ds = {0};
    pd_jsonm truth;
    pd_jsonm_init(&truth);
    for (size_t i = 0; i <= n; i++) {
        int32_t t = i < n ? ids[i] : split;
        toks[nt] = t; phs[nt++] = PD_PHASE_ANSWER;
        char out[64];
        size_t k = pd_detok_push(&ds, tok, t, out, sizeof out), pl;
        sb_add(&shown, out, k);
        const char *p = pd_tok_piece(tok, t, &pl);
        assert_true(pd_jsonm_feed(&truth, p, pl));
    }
    assert_int_equal(shown.len, 6);   /* the lead byte is held back */
    pd_policy pol;
    assert_int_equal(pd_jsonmask_policy(tok, &pol), PD_OK);
    float *lg = calloc((size_t)nv, sizeof *lg);
    pd_seq_state s = {.phase = PD_PHASE_ANSWER, .n_vocab = nv, .tok = tok, .tokens = toks, .phases = phs, .n_tokens = nt,
                      .answer = shown.text, .answer_len = shown.len};
    pol.on_logits(pol.ctx, &s, lg);
    int allowed = 0;
    for (int t = 0; t < nv; t++) {
        if (isinf(lg[t])) continue;
        size_t pl;
        const char *p = pd_tok_piece(tok, t, &pl);
        pd_jsonm m2 = truth;
        bool ok = pd_jsonm_feed(&m2, p, pl);
        if (!ok) print_error("token %d (%.*s) allowed after a lead byte\n", t, (int)pl, p);
        assert_true(ok);
        allowed++;
    }
    assert_true(allowed > 0);
    free(lg);
    free(ids);
    free(shown.text);
    pol.release(pol.ctx);
    pd_tokenizer_free(tok);
    pd_gguf_close(g);
}

/* thinking phase: nothing but EOG is masked */
static void test_thinking_phase(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_gguf *g = pd_gguf_open(PD_FIXTURES "models/tiny-qwen3.gguf");
    pd_tokenizer *tok = pd_tokenizer_from_gguf(g);
    int nv = pd_tok_n_vocab(tok), masked = 0, eog = 0;
    pd_policy pol;
    assert_int_equal(pd_jsonmask_policy(tok, &pol), PD_OK);
    float *lg = calloc((size_t)nv, sizeof *lg);
    pd_seq_state s = {.phase = PD_PHASE_THINKING, .n_vocab = nv, .tok = tok};
    pol.on_logits(pol.ctx, &s, lg);
    for (int t = 0; t < nv; t++) { masked += isinf(lg[t]) != 0; eog += pd_tok_is_eog(tok, t); }
    assert_true(eog > 0);
    assert_int_equal(masked, eog);
    free(lg);
    pol.release(pol.ctx);
    pd_tokenizer_free(tok);
    pd_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recogniser), cmocka_unit_test(test_qwen3_vocab), cmocka_unit_test(test_llama_vocab),
        cmocka_unit_test(test_thinking_phase), cmocka_unit_test(test_split_utf8),
    };
    return pd_run_tests(tests, NULL, NULL);
}
