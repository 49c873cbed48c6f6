/* src/tok/tok.c — the tokenizer object: loading a vocabulary from GGUF metadata
 * (tokenizer.ggml.*), the byte vocabulary ponder uses for models it trains from scratch, writing a
 * vocabulary back to GGUF, token pieces, whole-sequence and streaming detokenisation.
 * Encoding (pre-tokenisation, merges, special tokens) lives in tok_encode.c.
 *
 * Every token keeps two strings: its text as stored in the vocabulary (GPT-2 byte-to-unicode form
 * for byte-level BPE, "▁"-escaped for SentencePiece) and its piece, the raw bytes it stands for in
 * text. Lookup by text goes through one open-addressing hash table; merges through another keyed
 * by the (left id, right id) pair. */
#include "tok_int.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- GPT-2 byte <-> unicode mapping ----
 * Printable bytes 33..126, 161..172, 174..255 map to themselves; the other 68 bytes (0..32,
 * 127..160, 173) map in order to U+0100..U+0143. */
uint32_t pd_tok_byte_cp(uint8_t b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174) return b;
    if (b <= 32) return 256u + b;
    if (b >= 127 && b <= 160) return 256u + 33u + (uint32_t)(b - 127);
    return 256u + 67u; /* 173 */
}

int pd_tok_cp_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return (int)cp;
    if (cp >= 256 && cp <= 288) return (int)(cp - 256);
    if (cp >= 289 && cp <= 322) return (int)(127 + cp - 289);
    if (cp == 323) return 173;
    return -1;
}

int pd_tok_utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | (cp >> 6)); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode one strictly valid UTF-8 character at s (n bytes available): length, or 0 if invalid. */
static int utf8_get(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* ---- text -> id hash ---- */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ull; }
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

int32_t pd_tok_lookup(const pd_tokenizer *t, const char *s, size_t len) {
    uint64_t h64 = hash_bytes(s, len);
    uint32_t h = (uint32_t)(h64 >> 32), i = (uint32_t)h64 & t->map_mask;
    for (;;) {
        const struct tok_slot *sl = &t->map[i];
        if (sl->id < 0) return -1;
        if (sl->h == h && t->text_len[sl->id] == len && memcmp(t->text + t->text_off[sl->id], s, len) == 0) return sl->id;
        i = (i + 1) & t->map_mask;
    }
}

static pd_status build_map(pd_tokenizer *t) {
    size_t cap = 16;
    while (cap < (size_t)t->n_vocab * 2) cap <<= 1;
    free(t->map);
    t->map = pd_malloc(cap * sizeof *t->map);
    if (!t->map) return PD_ERR_NOMEM;
    for (size_t i = 0; i < cap; i++) t->map[i] = (struct tok_slot){0, -1};
    t->map_mask = (uint32_t)(cap - 1);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->text + t->text_off[id];
        size_t len = t->text_len[id];
        uint64_t h64 = hash_bytes(s, len);
        uint32_t h = (uint32_t)(h64 >> 32), i = (uint32_t)h64 & t->map_mask;
        for (;;) {
            struct tok_slot *sl = &t->map[i];
            if (sl->id < 0) { *sl = (struct tok_slot){h, id}; break; }
            /* A duplicate text: the later id wins, as in llama.cpp. */
            if (sl->h == h && t->text_len[sl->id] == len && memcmp(t->text + t->text_off[sl->id], s, len) == 0) {
                sl->id = id;
                break;
            }
            i = (i + 1) & t->map_mask;
        }
    }
    return PD_OK;
}

/* ---- merges (BPE) ---- */
static uint32_t hash_pair(uint64_t k) {
    k ^= k >> 33; k *= 0xff51afd7ed558ccdull; k ^= k >> 33; k *= 0xc4ceb9fe1a85ec53ull; k ^= k >> 33;
    return (uint32_t)k;
}

static pd_status build_merge_map(pd_tokenizer *t) {
    size_t cap = 16;
    while (cap < (size_t)t->n_merges * 2) cap <<= 1;
    t->mkey = pd_malloc(cap * sizeof *t->mkey);
    t->mrank = pd_malloc(cap * sizeof *t->mrank);
    t->mres = pd_malloc(cap * sizeof *t->mres);
    if (!t->mkey || !t->mrank || !t->mres) return PD_ERR_NOMEM;
    memset(t->mkey, 0xff, cap * sizeof *t->mkey);
    t->mmask = (uint32_t)(cap - 1);
    char *buf = NULL;
    size_t bcap = 0;
    for (int32_t r = 0; r < t->n_merges; r++) {
        int32_t a = t->merge_l[r], b = t->merge_r[r];
        if (a < 0 || b < 0) continue;
        size_t la = t->text_len[a], lb = t->text_len[b];
        if (la + lb > bcap) {
            bcap = (la + lb) * 2 + 16;
            char *nb = pd_realloc(buf, bcap);
            if (!nb) { free(buf); return PD_ERR_NOMEM; }
            buf = nb;
        }
        memcpy(buf, t->text + t->text_off[a], la);
        memcpy(buf + la, t->text + t->text_off[b], lb);
        int32_t res = pd_tok_lookup(t, buf, la + lb);
        if (res < 0) continue; /* merge into a string that is no token: can never be emitted */
        uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
        uint32_t i = hash_pair(key) & t->mmask;
        while (t->mkey[i] != UINT64_MAX && t->mkey[i] != key) i = (i + 1) & t->mmask;
        if (t->mkey[i] == key) continue; /* duplicate pair: the first (lowest) rank stays */
        t->mkey[i] = key;
        t->mrank[i] = r;
        t->mres[i] = res;
    }
    free(buf);
    return PD_OK;
}

/* ---- pieces ---- */
static pd_status build_pieces(pd_tokenizer *t) {
    size_t total = t->n_vocab ? t->text_off[t->n_vocab - 1] + t->text_len[t->n_vocab - 1] + 1 : 1;
    t->piece = pd_malloc(total);
    t->piece_off = pd_malloc((size_t)t->n_vocab * sizeof *t->piece_off);
    t->piece_len = pd_malloc((size_t)t->n_vocab * sizeof *t->piece_len);
    if (!t->piece || !t->piece_off || !t->piece_len) return PD_ERR_NOMEM;
    size_t o = 0;
    t->max_piece = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const unsigned char *s = (const unsigned char *)t->text + t->text_off[id];
        size_t n = t->text_len[id];
        int ty = t->type[id];
        char *out = t->piece + o;
        size_t w = 0;
        bool literal = ty == TT_CONTROL || ty == TT_USER || ty == TT_UNKNOWN || ty == TT_UNUSED;
        if (t->kind == PD_TOK_BYTES && id < 256) {
            out[w++] = (char)id;
        } else if (literal) {
            memcpy(out, s, n);
            w = n;
        } else if (t->kind == PD_TOK_SPM) {
            unsigned v;
            if (ty == TT_BYTE && n == 6 && sscanf((const char *)s, "<0x%2X>", &v) == 1 && s[5] == '>') {
                out[w++] = (char)v;
            } else {
                for (size_t i = 0; i < n;) {
                    if (i + 3 <= n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) { out[w++] = ' '; i += 3; }
                    else out[w++] = (char)s[i++];
                }
            }
        } else { /* byte-level BPE: each mapped code point is one byte; anything else is kept */
            for (size_t i = 0; i < n;) {
                uint32_t cp;
                int l = utf8_get(s + i, n - i, &cp);
                int b = l ? pd_tok_cp_byte(cp) : -1;
                if (b >= 0) { out[w++] = (char)b; i += (size_t)l; }
                else if (l) { memcpy(out + w, s + i, (size_t)l); w += (size_t)l; i += (size_t)l; }
                else out[w++] = (char)s[i++];
            }
        }
        t->piece_off[id] = (uint32_t)o;
        t->piece_len[id] = (uint32_t)w;
        if (w > t->max_piece) t->max_piece = w;
        out[w] = '\0';
        o += w + 1;
    }
    return PD_OK;
}

typedef struct { unsigned char first; uint32_t len; int32_t id; } spec_key;

static int spec_cmp(const void *pa, const void *pb) {
    const spec_key *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : (a->id > b->id);
}

/* Tokens that parse_special splits out: control, user-defined and unknown ones with text. */
static bool is_split_type(int ty) { return ty == TT_CONTROL || ty == TT_USER || ty == TT_UNKNOWN; }

static pd_status build_specials(pd_tokenizer *t) {
    int32_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (is_split_type(t->type[id]) && t->text_len[id] > 0) n++;
    spec_key *k = pd_malloc((size_t)(n ? n : 1) * sizeof *k);
    t->spec = pd_malloc((size_t)(n ? n : 1) * sizeof *t->spec);
    if (!k || !t->spec) { free(k); return PD_ERR_NOMEM; }
    n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (is_split_type(t->type[id]) && t->text_len[id] > 0)
            k[n++] = (spec_key){(unsigned char)t->text[t->text_off[id]], t->text_len[id], id};
    qsort(k, (size_t)n, sizeof *k, spec_cmp);
    memset(t->spec_start, 0, sizeof t->spec_start);
    t->n_user_spec = 0;
    for (int32_t i = 0; i < n; i++) {
        t->spec[i] = k[i].id;
        t->spec_start[k[i].first + 1]++;
        t->n_user_spec += t->type[k[i].id] == TT_USER;
    }
    free(k);
    for (int c = 0; c < 256; c++) t->spec_start[c + 1] += t->spec_start[c];
    return PD_OK;
}

static const char *const eog_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                        "<|eom_id|>", "<EOT>", "<|end_of_text|>", "<end_of_utterance>", NULL};

static pd_status build_eog(pd_tokenizer *t) {
    t->eog = pd_calloc((size_t)t->n_vocab, 1);
    if (!t->eog) return PD_ERR_NOMEM;
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;
    for (int i = 0; eog_texts[i]; i++) {
        int32_t id = pd_tok_lookup(t, eog_texts[i], strlen(eog_texts[i]));
        if (id >= 0 && t->type[id] == TT_CONTROL) t->eog[id] = 1;
    }
    return PD_OK;
}

/* Everything derived from texts, types and ids. */
static pd_status build_common(pd_tokenizer *t) {
    if (!t->map) PD_TRY(build_map(t));
    PD_TRY(build_pieces(t));
    for (int b = 0; b < 256; b++) {
        char buf[8];
        int n;
        if (t->kind == PD_TOK_SPM) n = snprintf(buf, sizeof buf, "<0x%02X>", b);
        else n = pd_tok_utf8_put(pd_tok_byte_cp((uint8_t)b), buf);
        t->byte_tok[b] = pd_tok_lookup(t, buf, (size_t)n);
    }
    PD_TRY(build_specials(t));
    PD_TRY(build_eog(t));
    t->spm_word_split = t->kind == PD_TOK_SPM;
    for (int32_t id = 0; id < t->n_vocab && t->spm_word_split; id++) {
        const char *s = t->text + t->text_off[id];
        size_t n = t->text_len[id], i = 0;
        while (i + 3 <= n && !memcmp(s + i, "\xE2\x96\x81", 3)) i += 3; /* leading run of "▁" */
        if (i < n && memmem(s + i, n - i, "\xE2\x96\x81", 3)) t->spm_word_split = false;
    }
    return PD_OK;
}

void pd_tokenizer_free(pd_tokenizer *t) {
    if (!t) return;
    pd_tok_free_regex(t);
    free(t->pre_name);
    free(t->text);
    free(t->text_off);
    free(t->text_len);
    free(t->piece);
    free(t->piece_off);
    free(t->piece_len);
    free(t->scores);
    free(t->type);
    free(t->map);
    free(t->merge_l);
    free(t->merge_r);
    free(t->mkey);
    free(t->mrank);
    free(t->mres);
    free(t->spec);
    free(t->eog);
    free(t);
}

static pd_tokenizer *tok_alloc(void) {
    pd_tokenizer *t = pd_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->bos = t->eos = t->eot = t->eom = t->unk = t->pad = -1;
    for (int b = 0; b < 256; b++) t->byte_tok[b] = -1;
    return t;
}

/* ---- loading from GGUF ---- */
#define K_MODEL "tokenizer.ggml.model"
#define K_PRE "tokenizer.ggml.pre"
#define K_TOKENS "tokenizer.ggml.tokens"
#define K_SCORES "tokenizer.ggml.scores"
#define K_TYPES "tokenizer.ggml.token_type"
#define K_MERGES "tokenizer.ggml.merges"

static bool has_key(const pd_gguf *g, const char *k) { return pd_gguf_find_key(g, k) >= 0; }

static const struct { const char *name; int pre; } pre_names[] = {
    {"llama3", PRE_LLAMA3}, {"llama-v3", PRE_LLAMA3}, {"llama-bpe", PRE_LLAMA3}, {"falcon3", PRE_LLAMA3},
    {"falcon-h1", PRE_LLAMA3}, {"pixtral", PRE_LLAMA3}, {"midm-2.0", PRE_LLAMA3}, {"lfm2", PRE_LLAMA3},
    {"qwen2", PRE_QWEN2}, {"deepseek-r1-qwen", PRE_QWEN2}, {"kormo", PRE_QWEN2}, {"megrez", PRE_QWEN2},
    {"default", PRE_GPT2}, {"gpt-2", PRE_GPT2}, {"phi-2", PRE_GPT2}, {"jina-es", PRE_GPT2}, {"jina-de", PRE_GPT2},
    {"gigachat", PRE_GPT2}, {"jina-v2-es", PRE_GPT2}, {"jina-v2-de", PRE_GPT2}, {"a.x-4.0", PRE_GPT2},
    {"mellum", PRE_GPT2}, {"exaone4", PRE_GPT2}, {"roberta-bpe", PRE_GPT2}, {"jina-v1-en", PRE_GPT2},
    {"jina-v2-code", PRE_GPT2},
};

/* Read an optional token-id key into *dst; out-of-range ids are ignored (as llama.cpp does). */
static pd_status read_id(const pd_gguf *g, const pd_tokenizer *t, const char *key, int32_t *dst) {
    if (!has_key(g, key)) return PD_OK;
    uint32_t v;
    if (!pd_gguf_get_u32(g, key, &v)) return PD_ERR_FORMAT;
    if (v < (uint32_t)t->n_vocab) *dst = (int32_t)v;
    else PD_WARN("%s: key '%s' = %u is not a token id (vocabulary of %d); ignored", pd_gguf_path(g), key, v, t->n_vocab);
    return PD_OK;
}

static pd_status read_bool(const pd_gguf *g, const char *key, bool *dst, bool *present) {
    if (present) *present = false;
    if (!has_key(g, key)) return PD_OK;
    if (!pd_gguf_get_bool(g, key, dst)) return PD_ERR_FORMAT;
    if (present) *present = true;
    return PD_OK;
}

static pd_status load_texts(pd_tokenizer *t, const pd_gguf *g) {
    const char *path = pd_gguf_path(g);
    pd_gguf_vtype et;
    uint64_t n;
    if (!pd_gguf_get_arr(g, K_TOKENS, &et, &n)) return PD_ERR_FORMAT;
    if (et != PD_GGUF_STRING) return pd_fail(PD_ERR_FORMAT, "%s: key '%s': expected an array of strings", path, K_TOKENS);
    if (n == 0 || n > (1u << 26))
        return pd_fail(PD_ERR_FORMAT, "%s: key '%s': %llu tokens (expected 1..%u)", path, K_TOKENS,
                       (unsigned long long)n, 1u << 26);
    t->n_vocab = (int32_t)n;
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (!pd_gguf_arr_str(g, K_TOKENS, i, &s, &len)) return PD_ERR_FORMAT;
        if (!pd_add_ok(total, len + 1, &total) || total > UINT32_MAX)
            return pd_fail(PD_ERR_FORMAT, "%s: key '%s': token strings exceed 4 GiB", path, K_TOKENS);
    }
    t->text = pd_malloc(total);
    t->text_off = pd_malloc(n * sizeof *t->text_off);
    t->text_len = pd_malloc(n * sizeof *t->text_len);
    t->type = pd_malloc(n * sizeof *t->type);
    if (!t->text || !t->text_off || !t->text_len || !t->type) return PD_ERR_NOMEM;
    size_t o = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (!pd_gguf_arr_str(g, K_TOKENS, i, &s, &len)) return PD_ERR_FORMAT;
        memcpy(t->text + o, s, len);
        t->text[o + len] = '\0';
        t->text_off[i] = (uint32_t)o;
        t->text_len[i] = (uint32_t)len;
        o += len + 1;
        t->type[i] = TT_NORMAL;
    }
    if (has_key(g, K_SCORES)) {
        if (!pd_gguf_get_arr(g, K_SCORES, &et, &n)) return PD_ERR_FORMAT;
        if (et != PD_GGUF_F32 || n != (uint64_t)t->n_vocab)
            return pd_fail(PD_ERR_FORMAT, "%s: key '%s': expected %d f32 values (found %llu of type %d)", path, K_SCORES,
                           t->n_vocab, (unsigned long long)n, (int)et);
        const float *sc = pd_gguf_arr_data(g, K_SCORES);
        if (!sc) return PD_ERR_FORMAT;
        t->scores = pd_malloc(n * sizeof *t->scores);
        if (!t->scores) return PD_ERR_NOMEM;
        memcpy(t->scores, sc, n * sizeof *t->scores);
    }
    if (has_key(g, K_TYPES)) {
        if (!pd_gguf_get_arr(g, K_TYPES, &et, &n)) return PD_ERR_FORMAT;
        if ((et != PD_GGUF_I32 && et != PD_GGUF_U32) || n != (uint64_t)t->n_vocab)
            return pd_fail(PD_ERR_FORMAT, "%s: key '%s': expected %d i32 values (found %llu of type %d)", path, K_TYPES,
                           t->n_vocab, (unsigned long long)n, (int)et);
        const int32_t *ty = pd_gguf_arr_data(g, K_TYPES);
        if (!ty) return PD_ERR_FORMAT;
        memcpy(t->type, ty, n * sizeof *t->type);
    }
    return PD_OK;
}

static pd_status load_merges(pd_tokenizer *t, const pd_gguf *g) {
    const char *path = pd_gguf_path(g);
    pd_gguf_vtype et;
    uint64_t n;
    if (!has_key(g, K_MERGES))
        return pd_fail(PD_ERR_FORMAT, "%s: key '%s' is missing (a gpt2 vocabulary needs it, even empty)", path, K_MERGES);
    if (!pd_gguf_get_arr(g, K_MERGES, &et, &n)) return PD_ERR_FORMAT;
    if (et != PD_GGUF_STRING) return pd_fail(PD_ERR_FORMAT, "%s: key '%s': expected an array of strings", path, K_MERGES);
    if (n > (1u << 26)) return pd_fail(PD_ERR_FORMAT, "%s: key '%s': %llu merges is too many", path, K_MERGES, (unsigned long long)n);
    t->n_merges = (int32_t)n;
    t->merge_l = pd_malloc((size_t)(n ? n : 1) * sizeof *t->merge_l);
    t->merge_r = pd_malloc((size_t)(n ? n : 1) * sizeof *t->merge_r);
    if (!t->merge_l || !t->merge_r) return PD_ERR_NOMEM;
    int32_t bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (!pd_gguf_arr_str(g, K_MERGES, i, &s, &len)) return PD_ERR_FORMAT;
        /* "left right": split at the first space after the first byte */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        int32_t a = -1, b = -1;
        if (sp) {
            a = pd_tok_lookup(t, s, (size_t)(sp - s));
            b = pd_tok_lookup(t, sp + 1, len - (size_t)(sp - s) - 1);
        }
        if (a < 0 || b < 0) bad++;
        t->merge_l[i] = a;
        t->merge_r[i] = b;
    }
    if (bad) PD_WARN("%s: %d of %d merges name strings that are not tokens; ignored", path, bad, t->n_merges);
    return build_merge_map(t);
}

/* The byte vocabulary's shape: gpt2, no merges, tokens 0..255 are the single bytes in order. */
static bool is_bytes_vocab(const pd_tokenizer *t) {
    if (t->n_merges != 0 || t->n_vocab < 256) return false;
    for (int b = 0; b < 256; b++) {
        char buf[4];
        int n = pd_tok_utf8_put(pd_tok_byte_cp((uint8_t)b), buf);
        if (t->text_len[b] != (uint32_t)n || memcmp(t->text + t->text_off[b], buf, (size_t)n) != 0) return false;
        if (t->type[b] != TT_NORMAL && t->type[b] != TT_BYTE) return false;
    }
    return true;
}

static const char *const eot_texts[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", NULL};

pd_tokenizer *pd_tokenizer_from_gguf(const pd_gguf *g) {
    if (!g) { pd_fail(PD_ERR_ARG, "pd_tokenizer_from_gguf: NULL file"); return NULL; }
    const char *path = pd_gguf_path(g);
    const char *model;
    size_t mlen;
    if (!pd_gguf_get_str(g, K_MODEL, &model, &mlen)) return NULL;
    pd_tokenizer *t = tok_alloc();
    if (!t) return NULL;
    if (mlen == 5 && !memcmp(model, "llama", 5)) t->kind = PD_TOK_SPM;
    else if (mlen == 4 && !memcmp(model, "gpt2", 4)) t->kind = PD_TOK_BPE;
    else {
        pd_fail(PD_ERR_UNSUPPORTED, "%s: key '%s' = '%.*s': unsupported tokenizer (ponder reads 'llama' and 'gpt2')",
                path, K_MODEL, (int)(mlen > 64 ? 64 : mlen), model);
        goto fail;
    }
    t->pre = PRE_GPT2;
    if (has_key(g, K_PRE)) {
        const char *pre;
        size_t plen;
        if (!pd_gguf_get_str(g, K_PRE, &pre, &plen)) goto fail;
        t->pre_name = pd_strndup(pre, plen);
        if (!t->pre_name) goto fail;
        bool known = false;
        for (size_t i = 0; i < sizeof pre_names / sizeof pre_names[0]; i++)
            if (!strcmp(t->pre_name, pre_names[i].name)) { t->pre = pre_names[i].pre; known = true; }
        if (!known && t->kind == PD_TOK_BPE)
            PD_WARN("%s: key '%s' = '%s' is not a pre-tokeniser ponder knows; using the GPT-2 one", path, K_PRE, t->pre_name);
    } else {
        t->pre_name = pd_strdup("default");
        if (!t->pre_name) goto fail;
    }
    if (load_texts(t, g) != PD_OK) goto fail;
    if (build_map(t) != PD_OK) goto fail;
    if (t->kind == PD_TOK_BPE) {
        if (load_merges(t, g) != PD_OK) goto fail;
        if (is_bytes_vocab(t)) t->kind = PD_TOK_BYTES;
    }

    /* defaults, then the keys */
    if (t->kind == PD_TOK_SPM) {
        t->bos = 1 < t->n_vocab ? 1 : -1;
        t->eos = 2 < t->n_vocab ? 2 : -1;
        t->unk = 0;
        t->add_bos = true;
        t->add_space_prefix = true;
    } else {
        t->add_bos = t->pre == PRE_LLAMA3;
        t->ignore_merges = t->pre == PRE_LLAMA3;
    }
    if (read_id(g, t, "tokenizer.ggml.bos_token_id", &t->bos) || read_id(g, t, "tokenizer.ggml.eos_token_id", &t->eos) ||
        read_id(g, t, "tokenizer.ggml.eot_token_id", &t->eot) || read_id(g, t, "tokenizer.ggml.eom_token_id", &t->eom) ||
        read_id(g, t, "tokenizer.ggml.unknown_token_id", &t->unk) ||
        read_id(g, t, "tokenizer.ggml.padding_token_id", &t->pad) ||
        read_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos, NULL) ||
        read_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos, NULL) ||
        read_bool(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, &t->has_space_prefix_key))
        goto fail;
    if (build_common(t) != PD_OK) goto fail;
    if (t->eot < 0)
        for (int i = 0; eot_texts[i] && t->eot < 0; i++) {
            int32_t id = pd_tok_lookup(t, eot_texts[i], strlen(eot_texts[i]));
            if (id >= 0 && t->type[id] == TT_CONTROL) t->eot = id;
        }
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->kind == PD_TOK_BPE && pd_tok_compile_regex(t) != PD_OK) goto fail;
    return t;
fail:
    pd_tokenizer_free(t);
    return NULL;
}

/* ---- the byte vocabulary ---- */
static int32_t find_first(const pd_tokenizer *t, const char *const *names) {
    for (int i = 0; names[i]; i++) {
        int32_t id = pd_tok_lookup(t, names[i], strlen(names[i]));
        if (id >= 256) return id;
    }
    return -1;
}

pd_tokenizer *pd_tokenizer_new_bytes(const char *const *specials, int n_specials) {
    if (n_specials < 0 || (n_specials > 0 && !specials) || n_specials > (1 << 20)) {
        pd_fail(PD_ERR_ARG, "pd_tokenizer_new_bytes: bad special list (%d entries)", n_specials);
        return NULL;
    }
    pd_tokenizer *t = tok_alloc();
    if (!t) return NULL;
    t->kind = PD_TOK_BYTES;
    t->pre = PRE_GPT2;
    t->pre_name = pd_strdup("default");
    t->n_vocab = 256 + n_specials;
    size_t total = 256 * 3;
    for (int i = 0; i < n_specials; i++) {
        if (!specials[i] || !specials[i][0]) {
            pd_fail(PD_ERR_ARG, "pd_tokenizer_new_bytes: special token %d is empty", i);
            goto fail;
        }
        total += strlen(specials[i]) + 1;
    }
    t->text = pd_malloc(total);
    t->text_off = pd_malloc((size_t)t->n_vocab * sizeof *t->text_off);
    t->text_len = pd_malloc((size_t)t->n_vocab * sizeof *t->text_len);
    t->type = pd_malloc((size_t)t->n_vocab * sizeof *t->type);
    t->merge_l = pd_malloc(sizeof *t->merge_l);
    t->merge_r = pd_malloc(sizeof *t->merge_r);
    if (!t->pre_name || !t->text || !t->text_off || !t->text_len || !t->type || !t->merge_l || !t->merge_r) goto fail;
    size_t o = 0;
    for (int b = 0; b < 256; b++) {
        int n = pd_tok_utf8_put(pd_tok_byte_cp((uint8_t)b), t->text + o);
        t->text[o + (size_t)n] = '\0';
        t->text_off[b] = (uint32_t)o;
        t->text_len[b] = (uint32_t)n;
        t->type[b] = TT_NORMAL;
        o += (size_t)n + 1;
    }
    for (int i = 0; i < n_specials; i++) {
        size_t n = strlen(specials[i]);
        memcpy(t->text + o, specials[i], n + 1);
        t->text_off[256 + i] = (uint32_t)o;
        t->text_len[256 + i] = (uint32_t)n;
        t->type[256 + i] = TT_CONTROL;
        o += n + 1;
    }
    if (build_common(t) != PD_OK) goto fail;
    for (int32_t id = 256; id < t->n_vocab; id++)
        if (pd_tok_lookup(t, t->text + t->text_off[id], t->text_len[id]) != id) {
            pd_fail(PD_ERR_ARG, "pd_tokenizer_new_bytes: special token %d '%s' duplicates token %d", id - 256,
                    t->text + t->text_off[id], pd_tok_lookup(t, t->text + t->text_off[id], t->text_len[id]));
            goto fail;
        }
    for (int32_t id = 0; id < 256; id++) /* a special with a byte's text would hide the byte */
        if (pd_tok_lookup(t, t->text + t->text_off[id], t->text_len[id]) != id) {
            pd_fail(PD_ERR_ARG, "pd_tokenizer_new_bytes: a special token duplicates byte token %d", id);
            goto fail;
        }
    static const char *const bos_names[] = {"<|begin_of_text|>", "<s>", "<|bos|>", "<|startoftext|>", NULL};
    static const char *const eos_names[] = {"<|endoftext|>", "<|end_of_text|>", "</s>", "<|eos|>", NULL};
    static const char *const eot_names[] = {"<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", NULL};
    t->bos = find_first(t, bos_names);
    t->eos = find_first(t, eos_names);
    t->eot = find_first(t, eot_names);
    if (t->eos < 0) t->eos = t->eot;
    t->add_bos = t->bos >= 0;
    if (t->bos < 0) t->bos = t->eos; /* as Qwen: BOS id = <|endoftext|>, never added */
    t->pad = t->eos;
    for (int32_t id = 0; id < t->n_vocab; id++) t->eog[id] = 0;
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    for (int i = 0; eog_texts[i]; i++) {
        int32_t id = find_first(t, (const char *const[]){eog_texts[i], NULL});
        if (id >= 0) t->eog[id] = 1;
    }
    return t;
fail:
    pd_tokenizer_free(t);
    return NULL;
}

/* ---- writing ---- */
pd_status pd_tokenizer_write_gguf(const pd_tokenizer *t, pd_gguf_writer *w) {
    if (!t || !w) return pd_fail(PD_ERR_ARG, "pd_tokenizer_write_gguf: NULL argument");
    const char **v = pd_malloc((size_t)t->n_vocab * sizeof *v);
    if (!v) return PD_ERR_NOMEM;
    for (int32_t i = 0; i < t->n_vocab; i++) v[i] = t->text + t->text_off[i];
    pd_status st = pd_gguf_set_str(w, K_MODEL, t->kind == PD_TOK_SPM ? "llama" : "gpt2");
    if (!st) st = pd_gguf_set_str(w, K_PRE, t->pre_name ? t->pre_name : "default");
    if (!st) st = pd_gguf_set_arr_str(w, K_TOKENS, v, (uint64_t)t->n_vocab);
    free(v);
    if (!st && t->scores) st = pd_gguf_set_arr(w, K_SCORES, PD_GGUF_F32, t->scores, (uint64_t)t->n_vocab);
    if (!st) st = pd_gguf_set_arr(w, K_TYPES, PD_GGUF_I32, t->type, (uint64_t)t->n_vocab);
    if (!st && t->kind != PD_TOK_SPM) {
        /* merges in rank order; pairs that were unusable when read are dropped */
        int32_t n = 0;
        size_t total = 0;
        for (int32_t r = 0; r < t->n_merges; r++)
            if (t->merge_l[r] >= 0 && t->merge_r[r] >= 0) {
                n++;
                total += t->text_len[t->merge_l[r]] + t->text_len[t->merge_r[r]] + 2;
            }
        char **m = pd_malloc((size_t)(n ? n : 1) * sizeof *m);
        char *buf = pd_malloc(total ? total : 1);
        if (!m || !buf) { free(m); free(buf); return PD_ERR_NOMEM; }
        size_t o = 0;
        n = 0;
        for (int32_t r = 0; r < t->n_merges; r++) {
            int32_t a = t->merge_l[r], b = t->merge_r[r];
            if (a < 0 || b < 0) continue;
            m[n++] = buf + o;
            memcpy(buf + o, t->text + t->text_off[a], t->text_len[a]);
            o += t->text_len[a];
            buf[o++] = ' ';
            memcpy(buf + o, t->text + t->text_off[b], t->text_len[b]);
            o += t->text_len[b];
            buf[o++] = '\0';
        }
        st = pd_gguf_set_arr_str(w, K_MERGES, (const char *const *)m, (uint64_t)n);
        free(m);
        free(buf);
    }
    const struct { const char *key; int32_t id; } ids[] = {
        {"tokenizer.ggml.bos_token_id", t->bos}, {"tokenizer.ggml.eos_token_id", t->eos},
        {"tokenizer.ggml.eot_token_id", t->eot}, {"tokenizer.ggml.eom_token_id", t->eom},
        {"tokenizer.ggml.unknown_token_id", t->unk}, {"tokenizer.ggml.padding_token_id", t->pad},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0] && !st; i++)
        if (ids[i].id >= 0) st = pd_gguf_set_u32(w, ids[i].key, (uint32_t)ids[i].id);
    if (!st) st = pd_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", t->add_bos);
    if (!st) st = pd_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", t->add_eos);
    if (!st && t->kind == PD_TOK_SPM && (t->has_space_prefix_key || !t->add_space_prefix))
        st = pd_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix", t->add_space_prefix);
    return st;
}

/* ---- accessors ---- */
pd_tok_kind pd_tok_kind_of(const pd_tokenizer *t) { return t->kind; }
int32_t pd_tok_n_vocab(const pd_tokenizer *t) { return t->n_vocab; }
int32_t pd_tok_bos(const pd_tokenizer *t) { return t->bos; }
int32_t pd_tok_eos(const pd_tokenizer *t) { return t->eos; }
int32_t pd_tok_eot(const pd_tokenizer *t) { return t->eot; }
bool pd_tok_add_bos_default(const pd_tokenizer *t) { return t->add_bos && t->bos >= 0; }
size_t pd_tok_max_piece(const pd_tokenizer *t) { return t->max_piece; }

bool pd_tok_is_special(const pd_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_vocab && (t->type[id] == TT_CONTROL || t->type[id] == TT_USER);
}

bool pd_tok_is_eog(const pd_tokenizer *t, int32_t id) { return id >= 0 && id < t->n_vocab && t->eog[id]; }

int32_t pd_tok_find(const pd_tokenizer *t, const char *text) {
    if (!t || !text) return -1;
    return pd_tok_lookup(t, text, strlen(text));
}

const char *pd_tok_text(const pd_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return NULL;
    return t->text + t->text_off[id];
}

const char *pd_tok_piece(const pd_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_vocab) {
        if (len) *len = 0;
        pd_fail(PD_ERR_RANGE, "token id %d out of range (vocabulary of %d)", (int)id, t ? (int)t->n_vocab : 0);
        return NULL;
    }
    if (len) *len = t->piece_len[id];
    return t->piece + t->piece_off[id];
}

/* ---- decoding ---- */
/* Token types after which the SentencePiece encoder prefixes the next text with a space. */
static bool splits_text(const pd_tokenizer *t, int32_t id) { return is_split_type(t->type[id]); }

char *pd_detokenize(const pd_tokenizer *t, const int32_t *ids, size_t n, size_t *len_out) {
    if (len_out) *len_out = 0;
    if (!t || (n && !ids)) { pd_fail(PD_ERR_ARG, "pd_detokenize: NULL argument"); return NULL; }
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            pd_fail(PD_ERR_RANGE, "pd_detokenize: token %zu: id %d out of range (vocabulary of %d)", i, (int)ids[i],
                    (int)t->n_vocab);
            return NULL;
        }
        total += t->piece_len[ids[i]];
    }
    char *out = pd_malloc(total);
    if (!out) return NULL;
    size_t o = 0;
    bool strip = t->kind == PD_TOK_SPM && t->add_space_prefix;
    bool at_start = true;
    for (size_t i = 0; i < n; i++) {
        const char *p = t->piece + t->piece_off[ids[i]];
        size_t l = t->piece_len[ids[i]];
        if (splits_text(t, ids[i])) {
            at_start = true;
        } else {
            if (strip && at_start && l > 0 && p[0] == ' ') { p++; l--; }
            at_start = false;
        }
        memcpy(out + o, p, l);
        o += l;
    }
    out[o] = '\0';
    if (len_out) *len_out = o;
    return out;
}

/* Length of the incomplete UTF-8 sequence that ends the byte string b[0..n) and could still be
 * completed by more bytes (0 if there is none). */
static size_t incomplete_tail(const unsigned char *b, size_t n) {
    size_t lim = n < 3 ? n : 3;
    for (size_t k = 1; k <= lim; k++) {
        unsigned c = b[n - k];
        if ((c & 0xC0) == 0x80) continue; /* continuation: keep looking for the lead byte */
        size_t need = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        if (need > k) {
            /* the second byte of E0/ED/F0/F4 sequences has a narrower range */
            if (k >= 2) {
                unsigned d = b[n - k + 1];
                if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) || (c == 0xF4 && d > 0x8F))
                    return 0;
            }
            return k;
        }
        return 0;
    }
    return 0;
}

size_t pd_detok_push(pd_detok_stream *s, const pd_tokenizer *t, int32_t id, char *out, size_t cap) {
    size_t plen;
    const char *p = pd_tok_piece(t, id, &plen);
    if (!p || !s) return 0;
    if (s->n_pending < 0 || s->n_pending > 3) s->n_pending = 0;
    size_t np = (size_t)s->n_pending, n = np + plen;
    /* The held tail lies within the last 3 bytes of pending ‖ piece. */
    unsigned char tail[8];
    size_t tl = n < 3 ? n : 3;
    for (size_t i = 0; i < tl; i++) {
        size_t j = n - tl + i;
        tail[i] = j < np ? s->pending[j] : (unsigned char)p[j - np];
    }
    size_t hold = incomplete_tail(tail, tl);
    size_t emit = n - hold, w = 0;
    for (size_t j = 0; j < emit && w < cap; j++) out[w++] = (char)(j < np ? s->pending[j] : (unsigned char)p[j - np]);
    unsigned char keep[8];
    for (size_t i = 0; i < hold; i++) {
        size_t j = emit + i;
        keep[i] = j < np ? s->pending[j] : (unsigned char)p[j - np];
    }
    memcpy(s->pending, keep, hold);
    s->n_pending = (int)hold;
    return w;
}

size_t pd_detok_flush(pd_detok_stream *s, char *out, size_t cap) {
    if (!s) return 0;
    size_t w = 0;
    for (int i = 0; i < s->n_pending && i < 8 && w < cap; i++) out[w++] = (char)s->pending[i];
    s->n_pending = 0;
    return w;
}
