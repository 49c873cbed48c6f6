/* tests/tok/test_added_tokens.c — added tokens on the Qwen vocabularies: user-defined ones
 * (GGUF token_type 4: <think>, </think>, <tool_call>) are cut out of plain text without
 * parse_special, as Hugging Face tokenizers and llama.cpp do; control ones (<|im_start|>,
 * <|endoftext|>) only with parse_special. Truth: the ids of the markers (pd_tok_find) spliced
 * between the plain tokenisations of the text around them, which contain no added token. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <stdlib.h>
#include <string.h>
#include "ponder/gguf.h"
#include "ponder/tok.h"

static pd_tokenizer *load(const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "%s%s", PD_FIXTURES, rel);
    pd_gguf *g = pd_gguf_open(path);
    assert_non_null(g);
    pd_tokenizer *t = pd_tokenizer_from_gguf(g);
    pd_gguf_close(g);
    assert_non_null(t);
    return t;
}

typedef struct { int32_t *v; size_t n, cap; } ids_t;
static void push(ids_t *a, int32_t x) {
    if (a->n == a->cap) { a->cap = a->cap ? 2 * a->cap : 64; a->v = realloc(a->v, a->cap * sizeof *a->v); assert_non_null(a->v); }
    a->v[a->n++] = x;
}
/* plain text without any added token: its ids are the same either way */
static void push_plain(ids_t *a, const pd_tokenizer *t, const char *s) {
    int32_t *ids; size_t n;
    assert_int_equal(pd_tokenize(t, s, strlen(s), false, false, &ids, &n), PD_OK);
    for (size_t i = 0; i < n; i++) push(a, ids[i]);
    free(ids);
}
static void expect(const pd_tokenizer *t, const char *text, bool special, const ids_t *want) {
    int32_t *ids; size_t n;
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, special, &ids, &n), PD_OK);
    assert_int_equal(n, want->n);
    assert_memory_equal(ids, want->v, n * sizeof *ids);
    free(ids);
}

static void check_vocab(const char *rel) {
    PD_NEED_FIXTURES();
    pd_tokenizer *t = load(rel);
    int32_t open = pd_tok_find(t, "<think>"), close = pd_tok_find(t, "</think>"), tool = pd_tok_find(t, "<tool_call>");
    int32_t ims = pd_tok_find(t, "<|im_start|>"), ime = pd_tok_find(t, "<|im_end|>"), eot = pd_tok_find(t, "<|endoftext|>");
    assert_true(open >= 0 && close >= 0 && tool >= 0 && ims >= 0 && ime >= 0 && eot >= 0);
    assert_true(pd_tok_is_special(t, open) && pd_tok_is_special(t, ims));
    const char *text = "<think>hi</think> <tool_call>{\"a\":1}<|im_start|>x<|im_end|><|endoftext|>";
    /* without --special: user-defined tokens cut out, control text stays text */
    ids_t w = {0};
    push(&w, open); push_plain(&w, t, "hi"); push(&w, close); push_plain(&w, t, " "); push(&w, tool);
    push_plain(&w, t, "{\"a\":1}<|im_start|>x<|im_end|><|endoftext|>");
    expect(t, text, false, &w);
    /* the control text really is plain: more than one token each */
    for (size_t i = 0; i < w.n; i++) assert_true(w.v[i] != ims && w.v[i] != ime && w.v[i] != eot);
    /* with --special: both kinds */
    w.n = 0;
    push(&w, open); push_plain(&w, t, "hi"); push(&w, close); push_plain(&w, t, " "); push(&w, tool);
    push_plain(&w, t, "{\"a\":1}"); push(&w, ims); push_plain(&w, t, "x"); push(&w, ime); push(&w, eot);
    expect(t, text, true, &w);
    /* a marker inside a word, and adjacent markers */
    w.n = 0;
    push_plain(&w, t, "a"); push(&w, open); push(&w, close); push_plain(&w, t, "b <thin");
    expect(t, "a<think></think>b <thin", false, &w);
    /* round trip */
    int32_t *ids; size_t n, len;
    assert_int_equal(pd_tokenize(t, text, strlen(text), false, false, &ids, &n), PD_OK);
    char *back = pd_detokenize(t, ids, n, &len);
    assert_string_equal(back, text);
    free(back); free(ids); free(w.v);
    pd_tokenizer_free(t);
}

static void test_qwen2_vocab(void **st) { (void)st; check_vocab("tokenizer/ggml-vocab-qwen2-rebuilt.gguf"); }
static void test_qwen3_model(void **st) { (void)st; check_vocab("models/tiny-qwen3.gguf"); }

/* The byte vocabulary ponder trains with marks its specials CONTROL: plain text stays bytes. */
static void test_bytes_vocab_control(void **st) {
    (void)st;
    const char *sp[] = {"<think>", "</think>", "<|im_end|>"};
    pd_tokenizer *t = pd_tokenizer_new_bytes(sp, 3);
    assert_non_null(t);
    int32_t *ids; size_t n;
    assert_int_equal(pd_tokenize(t, "<think>", 7, false, false, &ids, &n), PD_OK);
    assert_int_equal(n, 7);
    free(ids);
    assert_int_equal(pd_tokenize(t, "<think>", 7, false, true, &ids, &n), PD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 256);
    free(ids);
    pd_tokenizer_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen2_vocab),
        cmocka_unit_test(test_qwen3_model),
        cmocka_unit_test(test_bytes_vocab_control),
    };
    return pd_run_tests(tests, NULL, NULL);
}
