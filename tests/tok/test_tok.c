/* tests/tok/test_tok.c — tokenizers against independent truth: llama.cpp's tokenizer test
 * fixtures (3 vocabularies x 46 strings: exact ids, and decoding back to the same bytes), the
 * token columns of the model fixtures, special-token parsing on the Qwen vocabulary, streaming
 * detokenisation with characters split across tokens, the byte vocabulary's GGUF round trip, and
 * error paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/rng.h"
#include "ponder/tok.h"

#define TOKDIR PD_SHARED_DIR "/fixtures/tokenizer/"
#define MODELDIR PD_SHARED_DIR "/fixtures/models/"

static pd_tokenizer *load_vocab(const char *path, pd_gguf **g_out) {
    pd_gguf *g = pd_gguf_open(path);
    if (!g) fail_msg("open %s: %s", path, pd_last_error());
    pd_tokenizer *t = pd_tokenizer_from_gguf(g);
    if (!t) fail_msg("tokenizer %s: %s", path, pd_last_error());
    if (g_out) *g_out = g;
    else pd_gguf_close(g);
    return t;
}

/* ---- fixture files ---- */
typedef struct { char *data; size_t n_in; const char *in[64]; size_t in_len[64]; } inputs;

static void read_inputs(const char *path, inputs *in) {
    size_t len;
    in->data = pd_read_file(path, &len);
    assert_non_null(in->data);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sl = sizeof sep - 1;
    assert_int_equal(sl, 21);
    in->n_in = 0;
    size_t pos = 0;
    while (pos < len) {
        char *hit = memmem(in->data + pos, len - pos, sep, sl);
        assert_non_null(hit);
        assert_true(in->n_in < 64);
        in->in[in->n_in] = in->data + pos;
        in->in_len[in->n_in] = (size_t)(hit - (in->data + pos));
        in->n_in++;
        pos = (size_t)(hit - in->data) + sl;
    }
}

/* Expected ids for line i of the .out file. */
static size_t read_expected(const char *data, size_t line, int32_t *ids, size_t cap) {
    const char *p = data;
    for (size_t i = 0; i < line; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    size_t n = 0;
    while (*p && *p != '\n') {
        if (*p == ' ') { p++; continue; }
        char *end;
        long v = strtol(p, &end, 10);
        assert_true(end > p);
        assert_true(n < cap);
        ids[n++] = (int32_t)v;
        p = end;
    }
    return n;
}

static void check_fixture(const char *vocab, pd_tok_kind kind) {
    PD_NEED_FIXTURES();
    char path[512];
    snprintf(path, sizeof path, TOKDIR "%s", vocab);
    pd_tokenizer *t = load_vocab(path, NULL);
    assert_int_equal(pd_tok_kind_of(t), kind);
    inputs in;
    snprintf(path, sizeof path, TOKDIR "%s.inp", vocab);
    read_inputs(path, &in);
    assert_int_equal(in.n_in, 46);
    snprintf(path, sizeof path, TOKDIR "%s.out", vocab);
    size_t olen;
    char *out = pd_read_file(path, &olen);
    assert_non_null(out);
    int bad = 0;
    for (size_t i = 0; i < in.n_in; i++) {
        int32_t want[1024];
        size_t nw = read_expected(out, i, want, 1024);
        int32_t *ids;
        size_t n;
        assert_int_equal(pd_tokenize(t, in.in[i], in.in_len[i], false, false, &ids, &n), PD_OK);
        bool same = n == nw && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
        if (!same) {
            bad++;
            fprintf(stderr, "%s: input %zu '%.*s': got", vocab, i, (int)in.in_len[i], in.in[i]);
            for (size_t k = 0; k < n; k++) fprintf(stderr, " %d", ids[k]);
            fprintf(stderr, "\n  want");
            for (size_t k = 0; k < nw; k++) fprintf(stderr, " %d", want[k]);
            fprintf(stderr, "\n");
        }
        /* decode back to the same bytes (SPM: the space the encoder prefixed is dropped again) */
        size_t dl;
        char *dec = pd_detokenize(t, ids, n, &dl);
        assert_non_null(dec);
        if (dl != in.in_len[i] || memcmp(dec, in.in[i], dl) != 0) {
            bad++;
            fprintf(stderr, "%s: input %zu decodes to '%.*s'\n", vocab, i, (int)dl, dec);
        }
        free(dec);
        free(ids);
    }
    assert_int_equal(bad, 0);
    free(out);
    free(in.data);
    pd_tokenizer_free(t);
}

static void test_fixture_spm(void **st) { (void)st; check_fixture("ggml-vocab-llama-spm.gguf", PD_TOK_SPM); }
static void test_fixture_llama_bpe(void **st) { (void)st; check_fixture("ggml-vocab-llama-bpe-rebuilt.gguf", PD_TOK_BPE); }
static void test_fixture_qwen2(void **st) { (void)st; check_fixture("ggml-vocab-qwen2-rebuilt.gguf", PD_TOK_BPE); }

/* ---- the model fixtures' token files ---- */
static void check_model_tokens(const char *model, const char *tokens_file, const char *text, bool special) {
    PD_NEED_FIXTURES();
    char path[512];
    snprintf(path, sizeof path, MODELDIR "%s", model);
    pd_tokenizer *t = load_vocab(path, NULL);
    snprintf(path, sizeof path, MODELDIR "%s", tokens_file);
    size_t len;
    char *data = pd_read_file(path, &len);
    assert_non_null(data);
    int32_t want[256];
    size_t nw = 0;
    for (char *p = data; *p;) {
        assert_true(nw < 256);
        want[nw++] = (int32_t)strtol(p, NULL, 10);
        p = strchr(p, '\n');
        if (!p) break;
        p++;
    }
    int32_t *ids;
    size_t n;
    assert_int_equal(pd_tokenize(t, text, strlen(text), pd_tok_add_bos_default(t), special, &ids, &n), PD_OK);
    if (n != nw || memcmp(ids, want, n * sizeof *ids)) {
        fprintf(stderr, "%s: got", tokens_file);
        for (size_t k = 0; k < n; k++) fprintf(stderr, " %d", ids[k]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, nw);
    assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
    free(data);
    pd_tokenizer_free(t);
}

static const char prompt[] = "Question: what is 12+35? Answer: Let me think step by step.";

/* Every <name>.tokens.txt next to the model fixtures: <name>.gguf's vocabulary, BOS as the
 * vocabulary says; "tiny-qwen3.chat" is the chat prompt of tiny-qwen3 with special parsing. */
static void test_model_tokens(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    DIR *d = opendir(MODELDIR);
    assert_non_null(d);
    struct dirent *de;
    int checked = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 12 || strcmp(de->d_name + l - 11, ".tokens.txt")) continue;
        char name[256], model[300];
        snprintf(name, sizeof name, "%.*s", (int)(l - 11), de->d_name);
        if (!strcmp(name, "tiny-qwen3.chat")) {
            check_model_tokens("tiny-qwen3.gguf", de->d_name,
                               "<|im_start|>user\nQuestion: what is 12+35?<|im_end|>\n<|im_start|>assistant\n<think>\n", true);
        } else {
            snprintf(model, sizeof model, "%s.gguf", name);
            check_model_tokens(model, de->d_name, prompt, false);
        }
        checked++;
    }
    closedir(d);
    assert_int_equal(checked, 10);
}

/* ---- special tokens ---- */
static void test_special_qwen2(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_tokenizer *t = load_vocab(TOKDIR "ggml-vocab-qwen2-rebuilt.gguf", NULL);
    assert_int_equal(pd_tok_find(t, "<think>"), 151667);
    assert_int_equal(pd_tok_find(t, "<|im_start|>"), 151644);
    assert_true(pd_tok_is_special(t, 151667));
    assert_true(pd_tok_is_special(t, 151644));
    assert_false(pd_tok_is_special(t, 872));
    assert_true(pd_tok_is_eog(t, 151645));
    assert_true(pd_tok_is_eog(t, 151643));
    assert_false(pd_tok_is_eog(t, 151644));
    assert_int_equal(pd_tok_eos(t), 151645);
    assert_int_equal(pd_tok_eot(t), 151645);
    assert_false(pd_tok_add_bos_default(t));

    const char *text = "<|im_start|>user\nhi<|im_end|>\n<think>\nok</think><|im_start|";
    int32_t *ids, *part;
    size_t n, np;
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, true, &ids, &n), PD_OK);
    /* Expected: specials where their text is, and between them exactly the ids of the plain
     * fragment tokenised on its own; the truncated "<|im_start|" at the end stays plain text. */
    const char *frags[] = {"user\nhi", "\n", "\nok", "<|im_start|"};
    const int32_t specials[] = {151644, 151645, 151667, 151668};
    size_t k = 0;
    for (int f = 0; f < 4; f++) {
        assert_true(k < n);
        assert_int_equal(ids[k++], specials[f]);
        assert_int_equal(pd_tokenize(t, frags[f], strlen(frags[f]), false, true, &part, &np), PD_OK);
        assert_true(k + np <= n);
        assert_memory_equal(ids + k, part, np * sizeof *part);
        for (size_t j = 0; j < np; j++) assert_true(part[j] < 151643);
        k += np;
        free(part);
    }
    assert_int_equal(k, n);
    size_t dl;
    char *dec = pd_detokenize(t, ids, n, &dl);
    assert_string_equal(dec, text);
    free(dec);
    free(ids);
    /* without parse_special: no control id comes out, the user-defined <think>, </think> (added
     * tokens, as in Hugging Face and llama.cpp) do, and the text still round-trips */
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, false, &ids, &n), PD_OK);
    int n_think = 0;
    for (size_t j = 0; j < n; j++) {
        n_think += ids[j] == 151667 || ids[j] == 151668;
        assert_true(ids[j] < 151643 || ids[j] == 151667 || ids[j] == 151668);
    }
    assert_int_equal(n_think, 2);
    dec = pd_detokenize(t, ids, n, &dl);
    assert_string_equal(dec, text);
    free(dec);
    free(ids);
    pd_tokenizer_free(t);
}

static void test_special_spm(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_tokenizer *t = load_vocab(TOKDIR "ggml-vocab-llama-spm.gguf", NULL);
    int32_t *ids, *h, *w;
    size_t n, nh, nw;
    /* "<s>" parsed: BOS id 1; the text after it gets the space prefix again, as at the start:
     * ids = [1] + tok("Hello") + [1] + tok("world") */
    const char *text = "Hello<s>world";
    assert_int_equal(pd_tokenize(t, text, strlen(text), true, true, &ids, &n), PD_OK);
    assert_int_equal(pd_tokenize(t, "Hello", 5, false, false, &h, &nh), PD_OK);
    assert_int_equal(pd_tokenize(t, "world", 5, false, false, &w, &nw), PD_OK);
    assert_int_equal(n, 2 + nh + nw);
    assert_int_equal(ids[0], 1);
    assert_memory_equal(ids + 1, h, nh * sizeof *h);
    assert_int_equal(ids[1 + nh], 1);
    assert_memory_equal(ids + 2 + nh, w, nw * sizeof *w);
    size_t dl;
    char *dec = pd_detokenize(t, ids, n, &dl);
    assert_string_equal(dec, "<s>Hello<s>world");
    free(dec);
    free(ids);
    /* not parsed: "<s>" is plain text (no id 1 anywhere) */
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, false, &ids, &n), PD_OK);
    for (size_t i = 0; i < n; i++) assert_true(ids[i] != 1);
    dec = pd_detokenize(t, ids, n, &dl);
    assert_string_equal(dec, text);
    free(dec);
    free(ids);
    free(h);
    free(w);
    pd_tokenizer_free(t);
}

/* ---- streaming ---- */
static void stream_all(const pd_tokenizer *t, const int32_t *ids, size_t n, char *out, size_t *len, size_t *per) {
    pd_detok_stream s = {0};
    size_t o = 0;
    char buf[4096];
    for (size_t i = 0; i < n; i++) {
        size_t w = pd_detok_push(&s, t, ids[i], buf, sizeof buf);
        if (per) per[i] = w;
        memcpy(out + o, buf, w);
        o += w;
    }
    o += pd_detok_flush(&s, out + o, 16);
    *len = o;
}

static void test_stream_spm_byte_fallback(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_tokenizer *t = load_vocab(TOKDIR "ggml-vocab-llama-spm.gguf", NULL);
    /* U+10348 (gothic hwair) is no token in this vocabulary: byte fallback gives 4 tokens */
    const char *text = "a\xF0\x90\x8D\x88z";
    int32_t *ids;
    size_t n;
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, false, &ids, &n), PD_OK);
    int fb = -1;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == pd_tok_find(t, "<0xF0>")) fb = (int)i;
    assert_true(fb >= 0 && (size_t)fb + 3 < n);
    assert_int_equal(ids[fb + 1], pd_tok_find(t, "<0x90>"));
    assert_int_equal(ids[fb + 2], pd_tok_find(t, "<0x8D>"));
    assert_int_equal(ids[fb + 3], pd_tok_find(t, "<0x88>"));
    char out[256];
    size_t len, per[64];
    assert_true(n < 64);
    stream_all(t, ids, n, out, &len, per);
    /* nothing of the character comes out until its last byte arrives, then all 4 bytes at once */
    assert_int_equal(per[fb], 0);
    assert_int_equal(per[fb + 1], 0);
    assert_int_equal(per[fb + 2], 0);
    assert_int_equal(per[fb + 3], 4);
    /* the stream keeps the piece's leading space (it continues a prompt); decode strips it once */
    assert_int_equal(len, strlen(text) + 1);
    assert_memory_equal(out, " a\xF0\x90\x8D\x88z", len);
    free(ids);
    pd_tokenizer_free(t);
}

static void test_stream_bpe_split_char(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_tokenizer *t = load_vocab(TOKDIR "ggml-vocab-qwen2-rebuilt.gguf", NULL);
    /* single-byte tokens in GPT-2 form: bytes C3, A9, F0, E2 map to themselves ("Ã", "©", "ð",
     * "â"); bytes 127..160 map to U+0121..U+0142: 9F -> U+0141, 98 -> U+013A, 81 -> U+0123 */
    int32_t c3 = pd_tok_find(t, "\xC3\x83"), a9 = pd_tok_find(t, "\xC2\xA9"), hi = pd_tok_find(t, "Hello");
    int32_t f0 = pd_tok_find(t, "\xC3\xB0"), x9f = pd_tok_find(t, "\xC5\x81"), x98 = pd_tok_find(t, "\xC4\xBA"),
            x81 = pd_tok_find(t, "\xC4\xA3"), e2 = pd_tok_find(t, "\xC3\xA2"), A = pd_tok_find(t, "A");
    assert_true(c3 >= 0 && a9 >= 0 && hi >= 0 && f0 >= 0 && x9f >= 0 && x98 >= 0 && x81 >= 0 && e2 >= 0 && A >= 0);
    size_t l;
    assert_memory_equal(pd_tok_piece(t, x98, &l), "\x98", 1);
    assert_int_equal(l, 1);
    assert_memory_equal(pd_tok_piece(t, x81, &l), "\x81", 1);

    /* "Hello" "é" split over two tokens, then an emoji (U+1F601) over four */
    int32_t seq[] = {hi, c3, a9, f0, x9f, x98, x81};
    size_t per[8], len;
    char out[64];
    stream_all(t, seq, 7, out, &len, per);
    assert_int_equal(per[0], 5);
    assert_int_equal(per[1], 0);
    assert_int_equal(per[2], 2);
    assert_int_equal(per[3], 0);
    assert_int_equal(per[4], 0);
    assert_int_equal(per[5], 0);
    assert_int_equal(per[6], 4);
    assert_int_equal(len, 11);
    assert_memory_equal(out, "Hello\xC3\xA9\xF0\x9F\x98\x81", 11);

    /* a lead byte followed by a byte that cannot continue it: both come out as they are */
    int32_t bad[] = {c3, A};
    stream_all(t, bad, 2, out, &len, per);
    assert_int_equal(per[0], 0);
    assert_int_equal(per[1], 2);
    assert_memory_equal(out, "\xC3" "A", 2);

    /* an incomplete character at the end is held until flush, which emits it as is */
    pd_detok_stream s = {0};
    assert_int_equal(pd_detok_push(&s, t, e2, out, sizeof out), 0);
    assert_int_equal(s.n_pending, 1);
    assert_int_equal(pd_detok_flush(&s, out, sizeof out), 1);
    assert_int_equal((unsigned char)out[0], 0xE2);
    assert_int_equal(s.n_pending, 0);

    /* random ids: the stream's bytes are exactly the whole-sequence decode, and every push ends
     * on a character boundary unless the decode itself is not valid UTF-8 there */
    pd_rng r;
    pd_rng_seed(&r, 11);
    enum { N = 3000 };
    int32_t *ids = malloc(N * sizeof *ids);
    for (int i = 0; i < N; i++) ids[i] = (int32_t)pd_rng_below(&r, 151643);
    size_t dl;
    char *dec = pd_detokenize(t, ids, N, &dl);
    char *sout = malloc(dl + 16);
    size_t sl;
    stream_all(t, ids, N, sout, &sl, NULL);
    assert_int_equal(sl, dl);
    assert_memory_equal(sout, dec, dl);
    free(sout);
    free(dec);
    free(ids);
    pd_tokenizer_free(t);
}

/* ---- the byte vocabulary ---- */
static const char *const specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};

static void test_bytes_vocab(void **st) {
    (void)st;
    pd_tokenizer *t = pd_tokenizer_new_bytes(specials, 5);
    assert_non_null(t);
    assert_int_equal(pd_tok_kind_of(t), PD_TOK_BYTES);
    assert_int_equal(pd_tok_n_vocab(t), 261);
    assert_int_equal(pd_tok_find(t, "<think>"), 259);
    assert_int_equal(pd_tok_eos(t), 256);
    assert_int_equal(pd_tok_eot(t), 258);
    assert_true(pd_tok_is_eog(t, 256) && pd_tok_is_eog(t, 258));
    assert_false(pd_tok_is_eog(t, 257) || pd_tok_is_eog(t, 10));
    assert_false(pd_tok_add_bos_default(t));
    assert_true(pd_tok_is_special(t, 257));
    assert_false(pd_tok_is_special(t, 60));

    const char *text = "a<think>\xC3\xA9</think>";
    int32_t *ids;
    size_t n;
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, true, &ids, &n), PD_OK);
    const int32_t want[] = {'a', 259, 0xC3, 0xA9, 260};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, false, &ids, &n), PD_OK);
    assert_int_equal(n, strlen(text));
    for (size_t i = 0; i < n; i++) assert_int_equal(ids[i], (unsigned char)text[i]);
    free(ids);

    /* write, read back: same kind, texts, ids and tokenisation */
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_set_str(w, "general.architecture", "llama"), PD_OK);
    assert_int_equal(pd_tokenizer_write_gguf(t, w), PD_OK);
    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "bytes-vocab");
    assert_non_null(g);
    const char *s;
    size_t sl;
    assert_true(pd_gguf_get_str(g, "tokenizer.ggml.model", &s, &sl));
    assert_int_equal(sl, 4);
    assert_memory_equal(s, "gpt2", 4);
    pd_gguf_vtype et;
    uint64_t cnt;
    assert_true(pd_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &cnt)); /* llama.cpp requires the key */
    assert_int_equal(et, PD_GGUF_STRING);
    assert_int_equal(cnt, 0);
    assert_true(pd_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &cnt));
    assert_int_equal(cnt, 261);
    const int32_t *ty = pd_gguf_arr_data(g, "tokenizer.ggml.token_type");
    assert_int_equal(ty[0], 1);   /* bytes are NORMAL: llama.cpp renders BYTE-typed BPE tokens as nothing */
    assert_int_equal(ty[255], 1);
    assert_int_equal(ty[256], 3);
    assert_true(pd_gguf_arr_str(g, "tokenizer.ggml.tokens", 32, &s, &sl)); /* space -> U+0120 'Ġ' */
    assert_int_equal(sl, 2);
    assert_memory_equal(s, "\xC4\xA0", 2);
    pd_tokenizer *t2 = pd_tokenizer_from_gguf(g);
    assert_non_null(t2);
    assert_int_equal(pd_tok_kind_of(t2), PD_TOK_BYTES);
    assert_int_equal(pd_tok_n_vocab(t2), 261);
    assert_int_equal(pd_tok_bos(t2), pd_tok_bos(t));
    assert_int_equal(pd_tok_eos(t2), 256);
    assert_int_equal(pd_tok_eot(t2), 258);
    assert_int_equal(pd_tok_add_bos_default(t2), pd_tok_add_bos_default(t));
    pd_rng r;
    pd_rng_seed(&r, 5);
    for (int rep = 0; rep < 20; rep++) {
        char txt[300];
        size_t tl = pd_rng_below(&r, 200);
        for (size_t i = 0; i < tl; i++) txt[i] = (char)pd_rng_below(&r, 256);
        memcpy(txt + tl, "<|im_end|>", 10);
        tl += 10;
        int32_t *a, *b;
        size_t na, nb;
        assert_int_equal(pd_tokenize(t, txt, tl, false, true, &a, &na), PD_OK);
        assert_int_equal(pd_tokenize(t2, txt, tl, false, true, &b, &nb), PD_OK);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        assert_int_equal(a[na - 1], 258);
        size_t dl;
        char *dec = pd_detokenize(t2, b, nb, &dl);
        assert_int_equal(dl, tl);
        assert_memory_equal(dec, txt, tl);
        free(dec);
        free(a);
        free(b);
    }
    for (int32_t id = 0; id < 261; id++) {
        size_t l1, l2;
        const char *p1 = pd_tok_piece(t, id, &l1), *p2 = pd_tok_piece(t2, id, &l2);
        assert_int_equal(l1, l2);
        assert_memory_equal(p1, p2, l1);
        assert_string_equal(pd_tok_text(t, id), pd_tok_text(t2, id));
    }
    pd_tokenizer_free(t2);
    pd_gguf_close(g);
    pd_tokenizer_free(t);

    /* bad special lists */
    const char *dup[] = {"<a>", "<a>"};
    assert_null(pd_tokenizer_new_bytes(dup, 2));
    assert_non_null(strstr(pd_last_error(), "duplicates"));
    const char *bytedup[] = {"!"};
    assert_null(pd_tokenizer_new_bytes(bytedup, 1));
    const char *empty[] = {""};
    assert_null(pd_tokenizer_new_bytes(empty, 1));
    assert_null(pd_tokenizer_new_bytes(NULL, 3));
}

/* A loaded vocabulary written back and read again tokenises the fixture strings the same way. */
static void test_rewrite_vocab(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const char *vocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-qwen2-rebuilt.gguf"};
    inputs in;
    read_inputs(TOKDIR "ggml-vocab-llama-spm.gguf.inp", &in);
    for (int v = 0; v < 2; v++) {
        char path[512];
        snprintf(path, sizeof path, TOKDIR "%s", vocabs[v]);
        pd_tokenizer *t = load_vocab(path, NULL);
        pd_gguf_writer *w = pd_gguf_writer_new();
        assert_int_equal(pd_tokenizer_write_gguf(t, w), PD_OK);
        void *buf;
        size_t size;
        assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
        pd_gguf_writer_free(w);
        pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "rewritten");
        assert_non_null(g);
        pd_tokenizer *t2 = pd_tokenizer_from_gguf(g);
        assert_non_null(t2);
        assert_int_equal(pd_tok_kind_of(t2), pd_tok_kind_of(t));
        assert_int_equal(pd_tok_bos(t2), pd_tok_bos(t));
        assert_int_equal(pd_tok_eos(t2), pd_tok_eos(t));
        for (size_t i = 0; i < in.n_in; i++) {
            int32_t *a, *b;
            size_t na, nb;
            assert_int_equal(pd_tokenize(t, in.in[i], in.in_len[i], true, true, &a, &na), PD_OK);
            assert_int_equal(pd_tokenize(t2, in.in[i], in.in_len[i], true, true, &b, &nb), PD_OK);
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, na * sizeof *a);
            free(a);
            free(b);
        }
        pd_tokenizer_free(t2);
        pd_gguf_close(g);
        pd_tokenizer_free(t);
    }
    free(in.data);
}

/* ---- long and odd inputs ---- */
static void test_long_inputs(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const char *vocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe-rebuilt.gguf", "ggml-vocab-qwen2-rebuilt.gguf"};
    size_t n = 100000;
    char *text = malloc(n);
    pd_rng r;
    pd_rng_seed(&r, 3);
    for (int v = 0; v < 3; v++) {
        char path[512];
        snprintf(path, sizeof path, TOKDIR "%s", vocabs[v]);
        pd_tokenizer *t = load_vocab(path, NULL);
        for (int kind = 0; kind < 4; kind++) {
            /* one long run of spaces, of one letter, of digits, and random bytes (SPM: no
             * 0xE2 so that no "▁" appears in the input, which decodes as a space) */
            for (size_t i = 0; i < n; i++) {
                unsigned c = kind == 0 ? ' ' : kind == 1 ? 'a' : kind == 2 ? '0' + (unsigned)(i % 10)
                                                                           : (unsigned)pd_rng_below(&r, 256);
                if (v == 0 && c == 0xE2) c = 'e';
                text[i] = (char)c;
            }
            int32_t *ids;
            size_t ni, dl;
            assert_int_equal(pd_tokenize(t, text, n, false, false, &ids, &ni), PD_OK);
            assert_true(ni > 0 && ni <= n + 1);
            char *dec = pd_detokenize(t, ids, ni, &dl);
            if (dl != n) fprintf(stderr, "%s, input kind %d: decoded %zu bytes of %zu\n", vocabs[v], kind, dl, n);
            assert_int_equal(dl, n);
            assert_memory_equal(dec, text, n);
            free(dec);
            free(ids);
        }
        pd_tokenizer_free(t);
    }
    free(text);
}

/* The word cache that long texts use gives the same ids as merging every word. */
extern size_t pd_tok_word_cache_min;

static void test_word_cache(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const char *vocabs[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe-rebuilt.gguf", "ggml-vocab-qwen2-rebuilt.gguf"};
    inputs in;
    read_inputs(TOKDIR "ggml-vocab-llama-spm.gguf.inp", &in);
    pd_buf b = {0};
    for (int rep = 0; rep < 30; rep++)
        for (size_t i = 0; i < in.n_in; i++) {
            assert_int_equal(pd_buf_append(&b, in.in[(i * 7 + (size_t)rep) % in.n_in], in.in_len[(i * 7 + (size_t)rep) % in.n_in]), 0);
            assert_int_equal(pd_buf_append(&b, rep % 2 ? " " : "\n", 1), 0);
        }
    assert_true(b.len > pd_tok_word_cache_min);
    for (int v = 0; v < 3; v++) {
        char path[512];
        snprintf(path, sizeof path, TOKDIR "%s", vocabs[v]);
        pd_tokenizer *t = load_vocab(path, NULL);
        int32_t *a, *c;
        size_t na, nc;
        assert_int_equal(pd_tokenize(t, b.data, b.len, false, false, &a, &na), PD_OK);
        size_t saved = pd_tok_word_cache_min;
        pd_tok_word_cache_min = SIZE_MAX;
        assert_int_equal(pd_tokenize(t, b.data, b.len, false, false, &c, &nc), PD_OK);
        pd_tok_word_cache_min = saved;
        assert_int_equal(na, nc);
        assert_memory_equal(a, c, na * sizeof *a);
        free(a);
        free(c);
        pd_tokenizer_free(t);
    }
    pd_buf_free(&b);
    free(in.data);
}

/* ---- pre-tokenisers on hand-made vocabularies (expected ids worked out by hand) ---- */
static pd_tokenizer *tiny_bpe(const char *pre, const char *const *toks, int nt, const char *const *merges, int nm) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    if (pre) pd_gguf_set_str(w, "tokenizer.ggml.pre", pre);
    pd_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)nt);
    pd_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)nm);
    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "tiny");
    assert_non_null(g);
    pd_tokenizer *t = pd_tokenizer_from_gguf(g);
    pd_gguf_close(g);
    assert_non_null(t);
    return t;
}

static void expect_ids(const pd_tokenizer *t, const char *text, const int32_t *want, size_t nw) {
    int32_t *ids;
    size_t n;
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, false, &ids, &n), PD_OK);
    if (n != nw || memcmp(ids, want, n * sizeof *ids)) {
        fprintf(stderr, "'%s': got", text);
        for (size_t k = 0; k < n; k++) fprintf(stderr, " %d", ids[k]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(n, nw);
    assert_memory_equal(ids, want, n * sizeof *ids);
    free(ids);
}

static void test_pre_tokenizers(void **st) {
    (void)st;
    /* digits: GPT-2 keeps a run of digits in one word, Llama 3 cuts it in threes, Qwen2 in ones.
     * "1212" with the single merge (1,2): gpt2 12|12, llama3 "121"+"2" -> 12|1 2, qwen2 1|2|1|2 */
    const char *dt[] = {"1", "2", "12"};
    const char *dm[] = {"1 2"};
    const struct { const char *pre; int32_t want[4]; size_t n; } cases[] = {
        {"default", {2, 2}, 2}, {NULL, {2, 2}, 2}, {"gpt-2", {2, 2}, 2}, {"some-new-pre", {2, 2}, 2},
        {"llama-bpe", {2, 0, 1}, 3}, {"llama3", {2, 0, 1}, 3},
        {"qwen2", {0, 1, 0, 1}, 4}, {"deepseek-r1-qwen", {0, 1, 0, 1}, 4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pd_tokenizer *t = tiny_bpe(cases[c].pre, dt, 3, dm, 1);
        assert_int_equal(pd_tok_kind_of(t), PD_TOK_BPE);
        expect_ids(t, "1212", cases[c].want, cases[c].n);
        pd_tokenizer_free(t);
    }
    /* contractions: Llama 3 / Qwen2 match 'S case-insensitively, GPT-2 only 's */
    const char *ct[] = {"'", "S", "'S"};
    const char *cm[] = {"' S"};
    pd_tokenizer *t = tiny_bpe("llama-bpe", ct, 3, cm, 1);
    expect_ids(t, "'S", (const int32_t[]){2}, 1);
    pd_tokenizer_free(t);
    t = tiny_bpe("default", ct, 3, cm, 1);
    expect_ids(t, "'S", (const int32_t[]){0, 1}, 2);
    pd_tokenizer_free(t);
    /* ignore_merges (Llama 3): a word that is a token is taken whole, even where the merges do
     * not lead to it; Qwen2 merges: "abc" -> a|bc */
    const char *it[] = {"a", "b", "c", "bc", "abc"};
    const char *im[] = {"b c"};
    t = tiny_bpe("llama-bpe", it, 5, im, 1);
    expect_ids(t, "abc", (const int32_t[]){4}, 1);
    pd_tokenizer_free(t);
    t = tiny_bpe("qwen2", it, 5, im, 1);
    expect_ids(t, "abc", (const int32_t[]){0, 3}, 2);
    pd_tokenizer_free(t);
    /* a space joins the following letters in every family (" ab" -> "Ġ" "a" "b" -> merges) */
    const char *st2[] = {"\xC4\xA0", "a", "b", "\xC4\xA0" "a", "\xC4\xA0" "ab"};
    const char *sm[] = {"\xC4\xA0 a", "\xC4\xA0" "a b"};
    t = tiny_bpe("qwen2", st2, 5, sm, 2);
    expect_ids(t, "a ab", (const int32_t[]){1, 4}, 2);
    size_t l;
    assert_memory_equal(pd_tok_piece(t, 4, &l), " ab", 3);
    pd_tokenizer_free(t);
}

/* A tokenizer is shared by threads: concurrent tokenisation gives the serial ids. */
static void test_threads(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_tokenizer *t = load_vocab(TOKDIR "ggml-vocab-qwen2-rebuilt.gguf", NULL);
    inputs in;
    read_inputs(TOKDIR "ggml-vocab-qwen2-rebuilt.gguf.inp", &in);
    size_t ns[64];
    int32_t *serial[64];
    for (size_t i = 0; i < in.n_in; i++)
        assert_int_equal(pd_tokenize(t, in.in[i], in.in_len[i], false, true, &serial[i], &ns[i]), PD_OK);
    int bad = 0;
#pragma omp parallel for num_threads(4) reduction(+ : bad)
    for (int k = 0; k < 400; k++) {
        size_t i = (size_t)k % in.n_in, n;
        int32_t *ids;
        if (pd_tokenize(t, in.in[i], in.in_len[i], false, true, &ids, &n) != PD_OK) { bad++; continue; }
        if (n != ns[i] || (n && memcmp(ids, serial[i], n * sizeof *ids))) bad++;
        free(ids);
    }
    assert_int_equal(bad, 0);
    for (size_t i = 0; i < in.n_in; i++) free(serial[i]);
    free(in.data);
    pd_tokenizer_free(t);
}

/* ---- errors ---- */
static pd_gguf *gguf_from_writer(pd_gguf_writer *w) {
    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "mem");
    assert_non_null(g);
    return g;
}

static void test_errors(void **st) {
    (void)st;
    pd_gguf_writer *w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "general.architecture", "llama");
    pd_gguf *g = gguf_from_writer(w);
    assert_null(pd_tokenizer_from_gguf(g));
    assert_non_null(strstr(pd_last_error(), "tokenizer.ggml.model"));
    pd_gguf_close(g);

    w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "tokenizer.ggml.model", "bert");
    g = gguf_from_writer(w);
    assert_null(pd_tokenizer_from_gguf(g));
    assert_non_null(strstr(pd_last_error(), "bert"));
    pd_gguf_close(g);

    w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    const char *toks[] = {"a", "b", "ab"};
    pd_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    g = gguf_from_writer(w);
    assert_null(pd_tokenizer_from_gguf(g));
    assert_non_null(strstr(pd_last_error(), "tokenizer.ggml.merges"));
    pd_gguf_close(g);

    w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    pd_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    float sc[2] = {0, 1};
    pd_gguf_set_arr(w, "tokenizer.ggml.scores", PD_GGUF_F32, sc, 2);
    g = gguf_from_writer(w);
    assert_null(pd_tokenizer_from_gguf(g));
    assert_non_null(strstr(pd_last_error(), "tokenizer.ggml.scores"));
    pd_gguf_close(g);

    w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    pd_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 0);
    g = gguf_from_writer(w);
    assert_null(pd_tokenizer_from_gguf(g));
    assert_non_null(strstr(pd_last_error(), "tokenizer.ggml.tokens"));
    pd_gguf_close(g);

    /* a tiny hand-made gpt2 vocabulary: merges applied by rank, not by order of appearance */
    w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    pd_gguf_set_str(w, "tokenizer.ggml.pre", "qwen2");
    const char *v2[] = {"a", "b", "c", "bc", "ab", "abc"};
    pd_gguf_set_arr_str(w, "tokenizer.ggml.tokens", v2, 6);
    const char *m2[] = {"b c", "a b", "a bc"};
    pd_gguf_set_arr_str(w, "tokenizer.ggml.merges", m2, 3);
    g = gguf_from_writer(w);
    pd_tokenizer *t = pd_tokenizer_from_gguf(g);
    assert_non_null(t);
    int32_t *ids;
    size_t n;
    /* "abc": (b,c) rank 0 first -> a|bc, then (a,bc) rank 2 -> abc */
    assert_int_equal(pd_tokenize(t, "abc", 3, false, false, &ids, &n), PD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 5);
    free(ids);
    /* "ab": (a,b) rank 1 -> ab; "abab" is one word: ab|ab */
    assert_int_equal(pd_tokenize(t, "abab", 4, false, false, &ids, &n), PD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[1], 4);
    free(ids);
    /* "x" is no token and there is no unk: dropped, never a crash */
    assert_int_equal(pd_tokenize(t, "xa", 2, false, false, &ids, &n), PD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 0);
    free(ids);
    int32_t badids[] = {0, 6};
    assert_null(pd_detokenize(t, badids, 2, NULL));
    assert_non_null(strstr(pd_last_error(), "out of range"));
    size_t l;
    assert_null(pd_tok_piece(t, -1, &l));
    assert_int_equal(l, 0);
    pd_detok_stream s = {0};
    char out[8];
    assert_int_equal(pd_detok_push(&s, t, 99, out, sizeof out), 0);
    pd_tokenizer_free(t);
    pd_gguf_close(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_spm),
        cmocka_unit_test(test_fixture_llama_bpe),
        cmocka_unit_test(test_fixture_qwen2),
        cmocka_unit_test(test_model_tokens),
        cmocka_unit_test(test_special_qwen2),
        cmocka_unit_test(test_special_spm),
        cmocka_unit_test(test_stream_spm_byte_fallback),
        cmocka_unit_test(test_stream_bpe_split_char),
        cmocka_unit_test(test_bytes_vocab),
        cmocka_unit_test(test_rewrite_vocab),
        cmocka_unit_test(test_long_inputs),
        cmocka_unit_test(test_word_cache),
        cmocka_unit_test(test_pre_tokenizers),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_errors),
    };
    return pd_run_tests(tests, NULL, NULL);
}
