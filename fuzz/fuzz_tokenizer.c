/* fuzz/fuzz_tokenizer.c — arbitrary bytes through the tokenizers: the SentencePiece fixture
 * vocabulary (llama-spm), the byte-level BPE Qwen vocabulary (PCRE2 pre-tokeniser) and the byte
 * vocabulary, with and without special-token parsing (and, mode bits 6-7 set, once more with the
 * word cache forced on); decoding of arbitrary ids, whole and streamed. The first input byte picks
 * the mode. Besides "no crash" it checks what must hold for any input: ids in range,
 * decode(encode(x)) == x (SentencePiece: unless x holds U+2581, which decodes as a space), the
 * stream's bytes equal the whole decode, and the word cache changes no id.
 * fuzz-links: pd_tok */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/log.h"
#include "ponder/tok.h"
#include "fuzz_tok.h"

extern size_t pd_tok_word_cache_min; /* tok/tok_int.h: text length from which words are cached */

static pd_tokenizer *load(const char *path) {
    pd_gguf *g = pd_gguf_open(path);
    if (!g) return NULL;
    pd_tokenizer *t = pd_tokenizer_from_gguf(g);
    pd_gguf_close(g);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pd_tokenizer *toks[3];
    static int init;
    if (!init) {
        init = 1;
        pd_log_set_level(PD_LOG_ERROR);
        if (access(PD_SHARED_DIR "/fixtures/tokenizer", R_OK | X_OK) != 0) {
            /* a clone without ../shared: the replay test is SKIPPED (CTest's SKIP_RETURN_CODE 77) */
            printf("SKIPPED: fuzz_tokenizer needs the shared fixtures, not found at %s/fixtures\n", PD_SHARED_DIR);
            exit(77);
        }
        FILE *fx = fopen(PD_SHARED_DIR "/fixtures/tokenizer/ggml-vocab-llama-spm.gguf", "rb");
        if (!fx) { /* a clone without the shared fixtures: SKIPPED (CTest SKIP_RETURN_CODE 77) */
            printf("SKIPPED: fuzz_tokenizer needs the shared fixtures, not found at %s/fixtures\n", PD_SHARED_DIR);
            exit(77);
        }
        fclose(fx);
        toks[0] = load(PD_SHARED_DIR "/fixtures/tokenizer/ggml-vocab-llama-spm.gguf");
        toks[1] = load(PD_SHARED_DIR "/fixtures/tokenizer/ggml-vocab-qwen2-rebuilt.gguf");
        static const char *const sp[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"};
        toks[2] = pd_tokenizer_new_bytes(sp, 5);
        if (!toks[0] || !toks[1] || !toks[2]) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", pd_last_error());
            __builtin_trap();
        }
    }
    if (size < 1) return 0;
    unsigned mode = data[0];
    data++;
    size--;
    const pd_tokenizer *t = toks[(mode & 3) % 3];
    bool special = mode & 4, bos = mode & 8;
    int32_t nv = pd_tok_n_vocab(t);

    if (mode & 16) { /* ids: 4 bytes each; mostly folded into the vocabulary, sometimes raw */
        size_t n = size / 4;
        int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
        for (size_t i = 0; i < n; i++) {
            uint32_t v;
            memcpy(&v, data + 4 * i, 4);
            ids[i] = (mode & 32) ? (int32_t)v : (int32_t)(v % (uint32_t)(nv + 1));
        }
        size_t dl = 0;
        char *dec = pd_detokenize(t, ids, n, &dl);
        bool all_valid = true;
        size_t pl;
        for (size_t i = 0; i < n; i++) all_valid &= pd_tok_piece(t, ids[i], &pl) != NULL;
        MUST((dec != NULL) == all_valid);
        size_t el;
        char *want = fuzz_check_stream(t, ids, n, &el);
        if (dec && pd_tok_kind_of(t) != PD_TOK_SPM) MUST(dl == el && memcmp(dec, want, el) == 0);
        free(want);
        free(dec);
        free(ids);
        return 0;
    }

    int32_t *ids = NULL;
    size_t n = 0;
    if (pd_tokenize(t, (const char *)data, size, bos, special, &ids, &n) != PD_OK) return 0;
    for (size_t i = 0; i < n; i++) MUST(ids[i] >= 0 && ids[i] < nv);
    size_t off = 0;
    if (bos && pd_tok_bos(t) >= 0) { MUST(n >= 1 && ids[0] == pd_tok_bos(t)); off = 1; }
    size_t dl;
    char *dec = pd_detokenize(t, ids + off, n - off, &dl);
    MUST(dec != NULL);
    bool has_2581 = size >= 3 && memmem(data, size, "\xE2\x96\x81", 3) != NULL;
    if (!(pd_tok_kind_of(t) == PD_TOK_SPM && has_2581)) MUST(dl == size && memcmp(dec, data, size) == 0);
    free(dec);
    if ((mode & 0xc0) == 0xc0) { /* the word cache (normally for texts of 8 KiB and more) changes no id */
        size_t saved = pd_tok_word_cache_min, n2 = 0;
        int32_t *ids2 = NULL;
        pd_tok_word_cache_min = 0;
        pd_status st = pd_tokenize(t, (const char *)data, size, bos, special, &ids2, &n2);
        pd_tok_word_cache_min = saved;
        MUST(st == PD_OK && n2 == n && (!n || !memcmp(ids, ids2, n * sizeof *ids)));
        free(ids2);
    }
    free(ids);
    return 0;
}
