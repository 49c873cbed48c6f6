/* fuzz/fuzz_vocab.c — vocabularies from untrusted GGUF metadata: the input describes a tokenizer's
 * tokenizer.ggml.* keys, which are written into a GGUF image in memory, read back and turned into a
 * tokenizer (pd_tokenizer_from_gguf: token texts, scores, types, merges, special ids, flags, the
 * pre-tokeniser name), which then tokenises the rest of the input. Raw-GGUF mutation (fuzz_gguf)
 * rarely gets past the container's structure; this target spends its time in the vocabulary code.
 *
 * Input: 6 header bytes, then three sections split by "\0\0":
 *   h[0] bit 0: model "gpt2" (else "llama"), bit 1: scores, bit 2: token types, bit 3: merges key
 *        (a gpt2 vocabulary needs it), bit 4/5: add_bos key/value, bit 6/7: add_space_prefix key/value;
 *   h[1] pre-tokeniser name (index; past the list: no key); h[2..5] bos, eos, eot, unk ids (0xff: none);
 *   tokens, '\0'-separated, first byte = attributes (low 3 bits: type, high 5: score), rest = text;
 *   merges ("left right"), '\0'-separated;  text to tokenise.
 * Properties: ids in range, streamed decode == the pieces concatenated, and the tokenizer written
 * back (pd_tokenizer_write_gguf) and read again gives the same ids for the same text.
 * fuzz-links: pd_tok */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/log.h"
#include "ponder/tok.h"
#include "fuzz_tok.h"

#define MAX_TOK 512

static const char *const pre_names[] = {"default", "llama3", "qwen2", "deepseek-r1-qwen", "gpt-2", "llama-bpe",
                                        "no-such-pre"};

/* next '\0'-separated item of [*p, end) ending before sec_end; false when the section is done */
static bool next_item(const uint8_t **p, const uint8_t *end, const uint8_t **s, size_t *n) {
    if (*p >= end) return false;
    const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
    *s = *p;
    *n = (size_t)((z ? z : end) - *p);
    *p = z ? z + 1 : end;
    return true;
}

static const uint8_t *section_end(const uint8_t *p, const uint8_t *end) {
    for (const uint8_t *q = p; q + 1 < end; q++)
        if (!q[0] && !q[1]) return q;
    return end;
}

static pd_tokenizer *reread(pd_gguf_writer *w) {
    void *buf;
    size_t size;
    if (pd_gguf_write_buffer(w, &buf, &size) != PD_OK) return NULL;
    pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "fuzz-vocab.gguf");
    if (!g) return NULL;
    pd_tokenizer *t = pd_tokenizer_from_gguf(g);
    pd_gguf_close(g);
    return t;
}

static void check_encode(const pd_tokenizer *t, const uint8_t *text, size_t len, bool special, int32_t **ids_out,
                         size_t *n_out) {
    *ids_out = NULL;
    *n_out = 0;
    int32_t *ids = NULL;
    size_t n = 0;
    if (pd_tokenize(t, (const char *)text, len, true, special, &ids, &n) != PD_OK) return;
    int32_t nv = pd_tok_n_vocab(t);
    for (size_t i = 0; i < n; i++) MUST(ids[i] >= 0 && ids[i] < nv);
    size_t dl = 0;
    char *dec = pd_detokenize(t, ids, n, &dl);
    MUST(dec != NULL);
    size_t el, pl;
    for (size_t i = 0; i < n; i++) MUST(pd_tok_piece(t, ids[i], &pl) != NULL);
    free(fuzz_check_stream(t, ids, n, &el));
    free(dec);
    *ids_out = ids;
    *n_out = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_log_set_level(PD_LOG_QUIET);
    if (size < 6) return 0;
    const uint8_t h0 = data[0], pre = data[1];
    const uint8_t *ids_b = data + 2;
    const uint8_t *p = data + 6, *end = data + size;
    const uint8_t *tok_end = section_end(p, end);

    const char *texts[MAX_TOK];
    float scores[MAX_TOK];
    int32_t types[MAX_TOK];
    char *owned[MAX_TOK];
    int n_tok = 0;
    const uint8_t *s;
    size_t n;
    while (n_tok < MAX_TOK && next_item(&p, tok_end, &s, &n)) {
        uint8_t attr = n ? s[0] : 0;
        static const int32_t type_of[8] = {1, 2, 3, 4, 5, 6, 1, 0};
        owned[n_tok] = malloc(n ? n : 1);
        MUST(owned[n_tok] != NULL);
        if (n > 1) memcpy(owned[n_tok], s + 1, n - 1);
        owned[n_tok][n ? n - 1 : 0] = 0;
        texts[n_tok] = owned[n_tok];
        types[n_tok] = type_of[attr & 7];
        scores[n_tok] = -(float)(attr >> 3);
        n_tok++;
    }
    p = tok_end < end ? tok_end + 2 : end;
    const uint8_t *merge_end = section_end(p, end);
    const char *merges[MAX_TOK];
    char *mowned[MAX_TOK];
    int n_merge = 0;
    while (n_merge < MAX_TOK && next_item(&p, merge_end, &s, &n)) {
        mowned[n_merge] = malloc(n + 1);
        MUST(mowned[n_merge] != NULL);
        memcpy(mowned[n_merge], s, n);
        mowned[n_merge][n] = 0;
        merges[n_merge] = mowned[n_merge];
        n_merge++;
    }
    const uint8_t *text = merge_end < end ? merge_end + 2 : end;
    size_t text_len = (size_t)(end - text);

    pd_gguf_writer *w = pd_gguf_writer_new();
    MUST(w != NULL);
    bool ok = pd_gguf_set_str(w, "tokenizer.ggml.model", (h0 & 1) ? "gpt2" : "llama") == PD_OK;
    if (pre < sizeof pre_names / sizeof pre_names[0])
        ok &= pd_gguf_set_str(w, "tokenizer.ggml.pre", pre_names[pre]) == PD_OK;
    /* token texts may hold any bytes but NUL: set them through a string array of exact lengths */
    ok &= pd_gguf_set_arr_str(w, "tokenizer.ggml.tokens", texts, (uint64_t)n_tok) == PD_OK;
    if (h0 & 2) ok &= pd_gguf_set_arr(w, "tokenizer.ggml.scores", PD_GGUF_F32, scores, (uint64_t)n_tok) == PD_OK;
    if (h0 & 4) ok &= pd_gguf_set_arr(w, "tokenizer.ggml.token_type", PD_GGUF_I32, types, (uint64_t)n_tok) == PD_OK;
    if (h0 & 8) ok &= pd_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)n_merge) == PD_OK;
    static const char *const id_keys[4] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                           "tokenizer.ggml.eot_token_id", "tokenizer.ggml.unknown_token_id"};
    for (int k = 0; k < 4; k++)
        if (ids_b[k] != 0xff) ok &= pd_gguf_set_u32(w, id_keys[k], ids_b[k]) == PD_OK;
    if (h0 & 16) ok &= pd_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", (h0 & 32) != 0) == PD_OK;
    if (h0 & 64) ok &= pd_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", (h0 & 128) != 0) == PD_OK;

    pd_tokenizer *t = ok ? reread(w) : NULL;
    pd_gguf_writer_free(w);
    if (t) {
        /* write the tokenizer back and read it again: same vocabulary, same ids */
        pd_gguf_writer *w2 = pd_gguf_writer_new();
        MUST(w2 != NULL);
        pd_tokenizer *t2 = pd_tokenizer_write_gguf(t, w2) == PD_OK ? reread(w2) : NULL;
        pd_gguf_writer_free(w2);
        MUST(t2 != NULL);
        MUST(pd_tok_n_vocab(t2) == pd_tok_n_vocab(t) && pd_tok_bos(t2) == pd_tok_bos(t) &&
             pd_tok_eos(t2) == pd_tok_eos(t) && pd_tok_eot(t2) == pd_tok_eot(t));
        for (int special = 0; special < 2; special++) {
            int32_t *a = NULL, *b = NULL;
            size_t na = 0, nb = 0;
            check_encode(t, text, text_len, special, &a, &na);
            check_encode(t2, text, text_len, special, &b, &nb);
            MUST((a == NULL) == (b == NULL) && na == nb && (!na || !memcmp(a, b, na * sizeof *a)));
            free(a);
            free(b);
        }
        pd_tokenizer_free(t2);
        pd_tokenizer_free(t);
    }
    for (int i = 0; i < n_tok; i++) free(owned[i]);
    for (int i = 0; i < n_merge; i++) free(mowned[i]);
    return 0;
}
