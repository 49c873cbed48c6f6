/* src/tok/tok_int.h — the tokenizer object shared by tok.c (loading, pieces, decoding, writing)
 * and tok_encode.c (pre-tokenisation, BPE / SentencePiece merging, special-token splitting).
 * Private to the tok layer. */
#ifndef PONDER_TOK_INT_H
#define PONDER_TOK_INT_H
#include "ponder/tok.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GGUF token types (tokenizer.ggml.token_type). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* Pre-tokeniser families (tokenizer.ggml.pre) for byte-level BPE. */
enum { PRE_GPT2 = 0, PRE_LLAMA3 = 1, PRE_QWEN2 = 2 };

struct pd_tokenizer {
    pd_tok_kind kind;
    int pre;                      /* PRE_* (BPE only) */
    char *pre_name;               /* as read / written (tokenizer.ggml.pre) */
    int32_t n_vocab;

    char *text;                   /* token strings as stored, each NUL-terminated */
    uint32_t *text_off, *text_len;
    char *piece;                  /* raw bytes each token stands for in text */
    uint32_t *piece_off, *piece_len;
    size_t max_piece;
    float *scores;                /* n_vocab, or NULL (all 0) */
    int32_t *type;                /* n_vocab, TT_* */

    struct tok_slot { uint32_t h; int32_t id; } *map; /* token text -> id: open addressing, id -1 = empty */
    uint32_t map_mask;

    /* BPE merges: (left id, right id) -> rank, result id. merge_l/merge_r keep rank order. */
    int32_t n_merges;
    int32_t *merge_l, *merge_r;
    uint64_t *mkey;               /* open addressing; UINT64_MAX = empty */
    int32_t *mrank, *mres;
    uint32_t mmask;

    int32_t byte_tok[256];        /* id of the token for a single byte (BPE char / SPM <0xNN> / bytes), -1 */
    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    bool has_space_prefix_key;
    bool spm_word_split;          /* SPM: no token has "▁" after another character */

    /* Tokens split out of text when parse_special (control, user-defined, unknown; non-empty),
     * grouped by first byte, longest first within a group. */
    int32_t *spec;
    int32_t spec_start[257];
    int32_t n_user_spec;          /* how many of them are user-defined: matched without parse_special too */

    uint8_t *eog;                 /* n_vocab flags */
    void *re;                     /* pcre2_code_8 * (BPE) */
};

/* Texts of at least this many bytes use a per-call word cache (tests raise it to compare). */
extern size_t pd_tok_word_cache_min;

/* Byte-level (GPT-2) mapping: byte -> code point, and code point -> byte (-1 if none). */
uint32_t pd_tok_byte_cp(uint8_t b);
int pd_tok_cp_byte(uint32_t cp);
/* Append the UTF-8 encoding of cp to out; returns bytes written (1..4). */
int pd_tok_utf8_put(uint32_t cp, char *out);

int32_t pd_tok_lookup(const pd_tokenizer *t, const char *s, size_t len);  /* -1 if absent */
/* Compile the pre-tokeniser regex for t->pre (BPE). */
pd_status pd_tok_compile_regex(pd_tokenizer *t);
void pd_tok_free_regex(pd_tokenizer *t);

#endif
