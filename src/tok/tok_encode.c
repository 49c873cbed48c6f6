/* src/tok/tok_encode.c — text to token ids.
 *
 * 1. Special tokens: the text of control / user-defined / unknown tokens (parse_special), or of
 *    user-defined ones only (without it), is cut out first, leftmost match first, longest token at
 *    a position; the pieces between are plain text fragments.
 * 2. Each fragment:
 *    - SentencePiece BPE ("llama"): spaces become U+2581 "▁", a "▁" is prefixed when the fragment
 *      starts the text or follows a special token (add_space_prefix), then adjacent symbols (UTF-8
 *      characters; a malformed byte alone) are merged greedily by the highest score of the merged token (ties: leftmost);
 *      symbols that are no token fall back to <0xNN> byte tokens (or unk).
 *    - byte-level BPE ("gpt2"): the family's pre-tokeniser regex (PCRE2, UTF + UCP) cuts words;
 *      each word starts as one symbol per byte and adjacent pairs are merged by lowest merge rank
 *      (ties: leftmost). llama-bpe looks the whole word up first (ignore_merges). Bytes that are
 *      not valid UTF-8 never match the regex: each such run is a word of its own, so any byte
 *      string round-trips (llama.cpp would substitute U+FFFD).
 *    - bytes: one id per byte.
 *    Both merge loops use a binary heap of candidate pairs with lazy invalidation, so a word of n
 *    symbols costs O(n log n), and a hash map for (left, right) -> merge / text -> id. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "tok_int.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include <stdlib.h>
#include <string.h>

/* The pre-tokeniser patterns (as llama.cpp / the HF tokenizer.json files define them). */
static const char PAT_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char PAT_LLAMA3[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char PAT_QWEN2[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

pd_status pd_tok_compile_regex(pd_tokenizer *t) {
    const char *pat = t->pre == PRE_LLAMA3 ? PAT_LLAMA3 : t->pre == PRE_QWEN2 ? PAT_QWEN2 : PAT_GPT2;
    int err;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                                   &err, &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return pd_fail(PD_ERR_UNSUPPORTED, "tokenizer: pre-tokeniser regex does not compile at %zu: %s", (size_t)eoff,
                       (const char *)msg);
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter runs it */
    t->re = re;
    return PD_OK;
}

void pd_tok_free_regex(pd_tokenizer *t) {
    if (t->re) pcre2_code_free((pcre2_code *)t->re);
    t->re = NULL;
}

/* ---- per-call scratch ---- */
typedef struct { uint32_t start, n; int32_t prev, next, id; } sym;
typedef struct { double key; int32_t left, right; uint32_t size; int32_t res; } cand;

typedef struct {
    const pd_tokenizer *t;
    int32_t *out;
    size_t n_out, cap_out;
    sym *syms;
    size_t cap_syms;
    cand *heap;
    size_t n_heap, cap_heap;
    char *buf;
    size_t cap_buf;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    /* Word cache for long inputs: a word's ids depend only on its bytes (a BPE word, or an SPM
     * word when words are merged separately), and natural text repeats its words. */
    struct wc_slot { uint64_t h; uint32_t key, klen, ids, nids; } *wc;
    char *wc_keys;
    int32_t *wc_ids;
    size_t wc_nkeys, wc_nids, wc_used;
} enc;

static pd_status grow(void **p, size_t *cap, size_t need, size_t elem);

enum { WC_SLOTS = 1 << 16, WC_MAX_WORD = 48, WC_MAX_USED = WC_SLOTS / 2 };
size_t pd_tok_word_cache_min = 8192;

static uint64_t wc_hash(const char *w, size_t n) {
    uint64_t h = 1469598103934665603ull ^ n;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)w[i]; h *= 1099511628211ull; }
    return h | 1; /* 0 marks an empty slot */
}

/* Emit the cached ids of word w; false if it is not cached. */
static bool wc_get(enc *e, const char *w, size_t n, uint64_t h, pd_status *st) {
    size_t i = h & (WC_SLOTS - 1);
    for (;;) {
        const struct wc_slot *sl = &e->wc[i];
        if (!sl->h) return false;
        if (sl->h == h && sl->klen == n && !memcmp(e->wc_keys + sl->key, w, n)) {
            *st = grow((void **)&e->out, &e->cap_out, e->n_out + sl->nids, sizeof *e->out);
            if (*st == PD_OK) {
                memcpy(e->out + e->n_out, e->wc_ids + sl->ids, sl->nids * sizeof *e->out);
                e->n_out += sl->nids;
            }
            return true;
        }
        i = (i + 1) & (WC_SLOTS - 1);
    }
}

/* Remember that word w gave the ids out[from..n_out); a full cache just stops growing. */
static void wc_put(enc *e, const char *w, size_t n, uint64_t h, size_t from) {
    size_t nids = e->n_out - from;
    if (e->wc_used >= WC_MAX_USED) return;
    size_t i = h & (WC_SLOTS - 1);
    while (e->wc[i].h) i = (i + 1) & (WC_SLOTS - 1);
    e->wc[i] = (struct wc_slot){h, (uint32_t)e->wc_nkeys, (uint32_t)n, (uint32_t)e->wc_nids, (uint32_t)nids};
    memcpy(e->wc_keys + e->wc_nkeys, w, n);
    memcpy(e->wc_ids + e->wc_nids, e->out + from, nids * sizeof *e->out);
    e->wc_nkeys += n;
    e->wc_nids += nids;
    e->wc_used++;
}

static void wc_init(enc *e, size_t text_len) {
    if (text_len < pd_tok_word_cache_min) return;
    e->wc = calloc(WC_SLOTS, sizeof *e->wc);
    e->wc_keys = malloc((size_t)WC_MAX_USED * WC_MAX_WORD);
    e->wc_ids = malloc((size_t)WC_MAX_USED * WC_MAX_WORD * sizeof *e->wc_ids);
    if (!e->wc || !e->wc_keys || !e->wc_ids) { /* the cache is an optimisation: go without */
        free(e->wc); free(e->wc_keys); free(e->wc_ids);
        e->wc = NULL; e->wc_keys = NULL; e->wc_ids = NULL;
    }
}

static pd_status grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return PD_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (!pd_mul_ok(nc, elem, &bytes)) return pd_fail(PD_ERR_NOMEM, "tokenizer: input too large");
    void *q = pd_realloc(*p, bytes);
    if (!q) return PD_ERR_NOMEM;
    *p = q;
    *cap = nc;
    return PD_OK;
}

static pd_status emit(enc *e, int32_t id) {
    if (e->n_out == e->cap_out) PD_TRY(grow((void **)&e->out, &e->cap_out, e->n_out + 1, sizeof *e->out));
    e->out[e->n_out++] = id;
    return PD_OK;
}

static bool before(const cand *a, const cand *b) { return a->key < b->key || (a->key == b->key && a->left < b->left); }

static pd_status heap_push(enc *e, cand c) {
    if (e->n_heap == e->cap_heap) PD_TRY(grow((void **)&e->heap, &e->cap_heap, e->n_heap + 1, sizeof *e->heap));
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&c, &e->heap[p])) break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = c;
    return PD_OK;
}

static cand heap_pop(enc *e) {
    cand top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const cand *best = &last;
        if (l < n && before(&e->heap[l], best)) { m = l; best = &e->heap[l]; }
        if (r < n && before(&e->heap[r], best)) m = r;
        if (m == i) break;
        e->heap[i] = e->heap[m];
        i = m;
    }
    if (n) e->heap[i] = last;
    return top;
}

/* Merge the best candidates until none is left; `add` pushes the candidate for a pair. */
typedef pd_status (*add_fn)(enc *e, const char *base, int32_t l, int32_t r);

static pd_status merge_loop(enc *e, const char *base, add_fn add) {
    sym *s = e->syms;
    while (e->n_heap) {
        cand c = heap_pop(e);
        sym *L = &s[c.left], *R = &s[c.right];
        if (L->n == 0 || R->n == 0 || L->next != c.right || L->n + R->n != c.size) continue; /* stale */
        L->n += R->n;
        L->id = c.res;
        L->next = R->next;
        if (R->next >= 0) s[R->next].prev = c.left;
        R->n = 0;
        PD_TRY(add(e, base, L->prev, c.left));
        PD_TRY(add(e, base, c.left, L->next));
    }
    return PD_OK;
}

/* Push the byte tokens of bytes that form no token; unk (or nothing) when there is none. */
static pd_status emit_bytes(enc *e, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int32_t id = e->t->byte_tok[p[i]];
        if (id < 0) id = e->t->unk;
        if (id >= 0) PD_TRY(emit(e, id));
    }
    return PD_OK;
}

/* ---- SentencePiece ---- */
static pd_status spm_add(enc *e, const char *base, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return PD_OK;
    const sym *L = &e->syms[l], *R = &e->syms[r];
    uint32_t size = L->n + R->n;
    int32_t id = pd_tok_lookup(e->t, base + L->start, size);
    if (id < 0) return PD_OK;
    float sc = e->t->scores ? e->t->scores[id] : 0.0f;
    return heap_push(e, (cand){-(double)sc, l, r, size, id});
}

static bool is_space_sym(const char *b, const sym *s) { return s->n == 3 && !memcmp(b + s->start, "\xE2\x96\x81", 3); }

static pd_status spm_encode(enc *e, const char *text, size_t len, bool prefix) {
    const pd_tokenizer *t = e->t;
    size_t cap;
    if (!pd_mul_ok(len + 1, 3, &cap)) return pd_fail(PD_ERR_RANGE, "tokenizer: input too large");
    PD_TRY(grow((void **)&e->buf, &e->cap_buf, cap, 1));
    char *b = e->buf;
    size_t n = 0;
    if (prefix) { memcpy(b, "\xE2\x96\x81", 3); n = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(b + n, "\xE2\x96\x81", 3); n += 3; }
        else b[n++] = text[i];
    }
    if (n == 0) return PD_OK;
    PD_TRY(grow((void **)&e->syms, &e->cap_syms, n, sizeof *e->syms));
    /* symbols: UTF-8 characters by their lead byte. A lead byte that is not followed by enough
     * continuation bytes is a symbol of its own (llama.cpp would glue the next bytes to it, and
     * a following "▁" would then decode as bytes E2 96 81 instead of a space). */
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    int32_t ns = 0;
    for (size_t i = 0; i < n;) {
        size_t l = lens[(unsigned char)b[i] >> 4];
        if (l > n - i) l = 1;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)b[i + k] & 0xC0) != 0x80) { l = 1; break; }
        e->syms[ns] = (sym){(uint32_t)i, (uint32_t)l, ns - 1, ns + 1, -1};
        ns++;
        i += l;
    }
    /* When no token has "▁" after another character (t->spm_word_split), no merge can cross
     * the start of a "▁" run, so each such word is merged on its own: the same result as one
     * pass over the whole text, with a small heap that stays in cache. */
    for (int32_t s0 = 0; s0 < ns;) {
        int32_t s1 = s0 + 1;
        if (t->spm_word_split)
            while (s1 < ns && !(is_space_sym(b, &e->syms[s1]) && !is_space_sym(b, &e->syms[s1 - 1]))) s1++;
        else
            s1 = ns;
        const char *wb = b + e->syms[s0].start;
        size_t wn = e->syms[s1 - 1].start + e->syms[s1 - 1].n - e->syms[s0].start, from = e->n_out;
        uint64_t h = 0;
        bool cache = e->wc && t->spm_word_split && wn <= WC_MAX_WORD;
        if (cache) {
            pd_status st = PD_OK;
            h = wc_hash(wb, wn);
            if (wc_get(e, wb, wn, h, &st)) {
                PD_TRY(st);
                s0 = s1;
                continue;
            }
        }
        e->syms[s0].prev = -1;
        e->syms[s1 - 1].next = -1;
        e->n_heap = 0;
        for (int32_t i = s0; i + 1 < s1; i++) PD_TRY(spm_add(e, b, i, i + 1));
        PD_TRY(merge_loop(e, b, spm_add));
        for (int32_t i = s0; i >= 0; i = e->syms[i].next) {
            const sym *s = &e->syms[i];
            int32_t id = s->id >= 0 ? s->id : pd_tok_lookup(t, b + s->start, s->n);
            if (id >= 0) PD_TRY(emit(e, id));
            else PD_TRY(emit_bytes(e, (const unsigned char *)b + s->start, s->n));
        }
        if (cache) wc_put(e, wb, wn, h, from);
        s0 = s1;
    }
    return PD_OK;
}

/* ---- byte-level BPE ---- */
static bool merge_of(const pd_tokenizer *t, int32_t a, int32_t b, int32_t *rank, int32_t *res) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint64_t h = key;
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ull; h ^= h >> 33;
    uint32_t i = (uint32_t)h & t->mmask;
    for (;;) {
        uint64_t k = t->mkey[i];
        if (k == UINT64_MAX) return false;
        if (k == key) { *rank = t->mrank[i]; *res = t->mres[i]; return true; }
        i = (i + 1) & t->mmask;
    }
}

static pd_status bpe_add(enc *e, const char *base, int32_t l, int32_t r) {
    (void)base;
    if (l < 0 || r < 0) return PD_OK;
    const sym *L = &e->syms[l], *R = &e->syms[r];
    int32_t rank, res;
    if (L->id < 0 || R->id < 0 || !merge_of(e->t, L->id, R->id, &rank, &res)) return PD_OK;
    return heap_push(e, (cand){(double)rank, l, r, L->n + R->n, res});
}

static pd_status bpe_word(enc *e, const unsigned char *w, size_t n) {
    const pd_tokenizer *t = e->t;
    if (n == 0) return PD_OK;
    if (n == 1) return emit_bytes(e, w, 1);
    if (t->ignore_merges) { /* the whole word is a token: take it without merging */
        PD_TRY(grow((void **)&e->buf, &e->cap_buf, 2 * n, 1));
        size_t m = 0;
        for (size_t i = 0; i < n; i++) m += (size_t)pd_tok_utf8_put(pd_tok_byte_cp(w[i]), e->buf + m);
        int32_t id = pd_tok_lookup(t, e->buf, m);
        if (id >= 0) return emit(e, id);
    }
    uint64_t h = 0;
    size_t from = e->n_out;
    bool cache = e->wc && n <= WC_MAX_WORD;
    if (cache) {
        pd_status st = PD_OK;
        h = wc_hash((const char *)w, n);
        if (wc_get(e, (const char *)w, n, h, &st)) return st;
    }
    PD_TRY(grow((void **)&e->syms, &e->cap_syms, n, sizeof *e->syms));
    for (size_t i = 0; i < n; i++)
        e->syms[i] = (sym){(uint32_t)i, 1, (int32_t)i - 1, (int32_t)i + 1, t->byte_tok[w[i]]};
    e->syms[n - 1].next = -1;
    e->n_heap = 0;
    for (size_t i = 0; i + 1 < n; i++) PD_TRY(bpe_add(e, NULL, (int32_t)i, (int32_t)i + 1));
    PD_TRY(merge_loop(e, NULL, bpe_add));
    for (int32_t i = 0; i >= 0; i = e->syms[i].next) {
        int32_t id = e->syms[i].id;
        if (id < 0) id = t->unk;
        if (id >= 0) PD_TRY(emit(e, id));
    }
    if (cache) wc_put(e, (const char *)w, n, h, from);
    return PD_OK;
}

static pd_status bpe_encode(enc *e, const char *text, size_t len) {
    const pcre2_code *re = e->t->re;
    if (!re) return pd_fail(PD_ERR_STATE, "tokenizer: no pre-tokeniser compiled");
    if (!e->md) {
        e->md = pcre2_match_data_create_from_pattern(re, NULL);
        if (!e->md) return pd_fail(PD_ERR_NOMEM, "tokenizer: out of memory (regex match data)");
    }
    const unsigned char *u = (const unsigned char *)text;
    size_t off = 0;
    while (off < len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, off, 0, e->md, e->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !e->jstack) { /* long runs: retry with a larger JIT stack */
            e->jstack = pcre2_jit_stack_create(64 * 1024, 256 * 1024 * 1024, NULL);
            e->mctx = pcre2_match_context_create(NULL);
            if (!e->jstack || !e->mctx) return pd_fail(PD_ERR_NOMEM, "tokenizer: out of memory (regex stack)");
            pcre2_jit_stack_assign(e->mctx, NULL, e->jstack);
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH) { PD_TRY(bpe_word(e, u + off, len - off)); break; }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return pd_fail(PD_ERR_RANGE, "tokenizer: pre-tokeniser failed at byte %zu: %s", off, (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
        size_t s = ov[0], end = ov[1];
        if (s < off || s > len || end > len) return pd_fail(PD_ERR_STATE, "tokenizer: regex match out of range");
        if (s > off) PD_TRY(bpe_word(e, u + off, s - off)); /* bytes no pattern matches (invalid UTF-8) */
        if (end <= s) { /* an empty match: cannot happen with these patterns; step one byte */
            if (s >= len) break;
            end = s + 1;
        }
        PD_TRY(bpe_word(e, u + s, end - s));
        off = end;
    }
    return PD_OK;
}

static pd_status encode_fragment(enc *e, const char *text, size_t len, bool after_special) {
    const pd_tokenizer *t = e->t;
    switch (t->kind) {
    case PD_TOK_SPM: return spm_encode(e, text, len, t->add_space_prefix && after_special);
    case PD_TOK_BPE: return bpe_encode(e, text, len);
    case PD_TOK_BYTES:
        PD_TRY(grow((void **)&e->out, &e->cap_out, e->n_out + len, sizeof *e->out));
        for (size_t i = 0; i < len; i++) e->out[e->n_out++] = t->byte_tok[(unsigned char)text[i]];
        return PD_OK;
    }
    return pd_fail(PD_ERR_STATE, "tokenizer: unknown kind %d", (int)t->kind);
}

/* The special token whose text starts at text[pos] (longest), or -1. user_only: only user-defined
 * (added) tokens, which are matched in plain text too. */
static int32_t special_at(const pd_tokenizer *t, const char *text, size_t len, size_t pos, bool user_only) {
    unsigned c = (unsigned char)text[pos];
    for (int32_t k = t->spec_start[c]; k < t->spec_start[c + 1]; k++) {
        int32_t id = t->spec[k];
        if (user_only && t->type[id] != TT_USER) continue;
        size_t l = t->text_len[id];
        if (l <= len - pos && memcmp(text + pos, t->text + t->text_off[id], l) == 0) return id;
    }
    return -1;
}

pd_status pd_tokenize(const pd_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                      int32_t **ids, size_t *n_ids) {
    if (!ids || !n_ids) return pd_fail(PD_ERR_ARG, "pd_tokenize: NULL output");
    *ids = NULL;
    *n_ids = 0;
    if (!t || (len && !text)) return pd_fail(PD_ERR_ARG, "pd_tokenize: NULL argument");
    if (len > (size_t)INT32_MAX / 4) return pd_fail(PD_ERR_RANGE, "pd_tokenize: text of %zu bytes is too long", len);
    enc e = {.t = t};
    if (t->kind != PD_TOK_BYTES) wc_init(&e, len);
    pd_status st = grow((void **)&e.out, &e.cap_out, 16 + len / 4, sizeof *e.out);
    if (!st && add_bos && t->bos >= 0) st = emit(&e, t->bos);
    bool after_special = true;
    bool any_special = parse_special ? t->spec_start[256] > 0 : t->n_user_spec > 0;
    size_t pos = 0;
    while (!st && pos < len) {
        size_t q = len;
        int32_t sid = -1;
        if (any_special)
            for (size_t i = pos; i < len; i++) {
                unsigned c = (unsigned char)text[i];
                if (t->spec_start[c] != t->spec_start[c + 1] && (sid = special_at(t, text, len, i, !parse_special)) >= 0) { q = i; break; }
            }
        if (q > pos) {
            st = encode_fragment(&e, text + pos, q - pos, after_special);
            after_special = false;
        }
        if (st || sid < 0) break;
        st = emit(&e, sid);
        after_special = true;
        pos = q + t->text_len[sid];
    }
    free(e.syms);
    free(e.heap);
    free(e.buf);
    if (e.md) pcre2_match_data_free(e.md);
    if (e.mctx) pcre2_match_context_free(e.mctx);
    if (e.jstack) pcre2_jit_stack_free(e.jstack);
    free(e.wc);
    free(e.wc_keys);
    free(e.wc_ids);
    if (st) {
        free(e.out);
        return st;
    }
    *ids = e.out;
    *n_ids = e.n_out;
    return PD_OK;
}
