/* serve/jsonmask.c — JSON-object constrained decoding (ponder/jsonmask.h): a byte-at-a-time JSON
 * recogniser whose whole state is a small copyable struct, so the policy can try every token of the
 * vocabulary from the current state (copy, feed the token's bytes, keep it if the prefix is still
 * viable). Strings are checked as UTF-8 and \u escapes of UTF-16 surrogates are refused (a lone one is
 * rejected by strict parsers such as cJSON; characters outside the BMP can be written as UTF-8). */
#include "ponder/jsonmask.h"
#include "ponder/alloc.h"
#include "ponder/tok.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    S_START, S_VALUE, S_ARR0, S_OBJ0, S_KEY, S_COLON, S_AFTER, S_DONE,
    S_STR, S_ESC, S_HEX, S_LIT,
    S_NMINUS, S_NZERO, S_NINT, S_NDOT, S_NFRAC, S_NEXP, S_NEXPS, S_NEXPD,
};

static const char *const LITS[3] = {"true", "false", "null"};

void pd_jsonm_init(pd_jsonm *m) { memset(m, 0, sizeof *m); m->st = S_START; }

bool pd_jsonm_complete(const pd_jsonm *m) { return m->st == S_DONE; }

static bool ws(unsigned c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool digit(unsigned c) { return c >= '0' && c <= '9'; }
static bool hexd(unsigned c) { return digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static void value_end(pd_jsonm *m) { m->st = m->depth == 0 ? S_DONE : S_AFTER; }

static bool push(pd_jsonm *m, uint8_t c) {
    if (m->depth == PD_JSONM_DEPTH) return false;
    m->stack[m->depth++] = c;
    m->st = c == '{' ? S_OBJ0 : S_ARR0;
    return true;
}

static bool pop(pd_jsonm *m, uint8_t open) {
    if (m->depth == 0 || m->stack[m->depth - 1] != open) return false;
    m->depth--;
    value_end(m);
    return true;
}

static bool begin_value(pd_jsonm *m, unsigned c) {
    switch (c) {
    case '{': case '[': return push(m, (uint8_t)c);
    case '"': m->st = S_STR; m->in_key = 0; return true;
    case '-': m->st = S_NMINUS; return true;
    case '0': m->st = S_NZERO; return true;
    case 't': case 'f': case 'n':
        m->st = S_LIT;
        m->lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
        m->lit_pos = 1;
        return true;
    default:
        if (c >= '1' && c <= '9') { m->st = S_NINT; return true; }
        return false;
    }
}

/* A byte inside a string (state S_STR). */
static bool str_byte(pd_jsonm *m, unsigned c) {
    if (m->u8_need) {
        if (c < m->u8_lo || c > m->u8_hi) return false;
        m->u8_need--;
        m->u8_lo = 0x80;
        m->u8_hi = 0xBF;
        return true;
    }
    if (c == '"') { if (m->in_key) m->st = S_COLON; else value_end(m); return true; }
    if (c == '\\') { m->st = S_ESC; return true; }
    if (c < 0x20) return false;
    if (c < 0x80) return true;
    m->u8_lo = 0x80;
    m->u8_hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) m->u8_need = 1;
    else if (c >= 0xE0 && c <= 0xEF) { m->u8_need = 2; if (c == 0xE0) m->u8_lo = 0xA0; if (c == 0xED) m->u8_hi = 0x9F; }
    else if (c >= 0xF0 && c <= 0xF4) { m->u8_need = 3; if (c == 0xF0) m->u8_lo = 0x90; if (c == 0xF4) m->u8_hi = 0x8F; }
    else return false;
    return true;
}

/* A number state: digits and the next part, or the end of the number (then c is read again). */
static bool num_byte(pd_jsonm *m, unsigned c, bool *again) {
    bool exp = c == 'e' || c == 'E';
    switch (m->st) {
    case S_NMINUS: if (c == '0') m->st = S_NZERO; else if (digit(c)) m->st = S_NINT; else return false; return true;
    case S_NDOT: if (!digit(c)) return false; m->st = S_NFRAC; return true;
    case S_NEXP: if (c == '+' || c == '-') m->st = S_NEXPS; else if (digit(c)) m->st = S_NEXPD; else return false; return true;
    case S_NEXPS: if (!digit(c)) return false; m->st = S_NEXPD; return true;
    case S_NZERO: if (c == '.') { m->st = S_NDOT; return true; } if (exp) { m->st = S_NEXP; return true; } break;
    case S_NINT: if (digit(c)) return true; if (c == '.') { m->st = S_NDOT; return true; } if (exp) { m->st = S_NEXP; return true; } break;
    case S_NFRAC: if (digit(c)) return true; if (exp) { m->st = S_NEXP; return true; } break;
    case S_NEXPD: if (digit(c)) return true; break;
    default: return false;
    }
    value_end(m);   /* a complete number ended: c belongs to what follows */
    *again = true;
    return true;
}

static bool step(pd_jsonm *m, unsigned c) {
    bool again = false;
    switch (m->st) {
    case S_START: return ws(c) || (c == '{' && push(m, '{'));
    case S_VALUE: return ws(c) || begin_value(m, c);
    case S_ARR0: return ws(c) || (c == ']' ? pop(m, '[') : begin_value(m, c));
    case S_OBJ0: case S_KEY:
        if (ws(c)) return true;
        if (c == '}' && m->st == S_OBJ0) return pop(m, '{');
        if (c != '"') return false;
        m->st = S_STR;
        m->in_key = 1;
        return true;
    case S_COLON: if (ws(c)) return true; if (c != ':') return false; m->st = S_VALUE; return true;
    case S_AFTER:
        if (ws(c)) return true;
        if (c == ',') { m->st = m->stack[m->depth - 1] == '{' ? S_KEY : S_VALUE; return true; }
        if (c == '}') return pop(m, '{');
        if (c == ']') return pop(m, '[');
        return false;
    case S_DONE: return ws(c);
    case S_STR: return str_byte(m, c);
    case S_ESC:
        if (c == 'u') { m->st = S_HEX; m->hex = 4; m->hex_d = 0; return true; }
        if (!strchr("\"\\/bfnrt", (int)c) || !c) return false;
        m->st = S_STR;
        return true;
    case S_HEX:
        if (!hexd(c)) return false;
        if (m->hex == 4) m->hex_d = c == 'd' || c == 'D';
        else if (m->hex == 3 && m->hex_d && !(c >= '0' && c <= '7')) return false;   /* D800..DFFF */
        if (--m->hex == 0) m->st = S_STR;
        return true;
    case S_LIT:
        if ((unsigned char)LITS[m->lit][m->lit_pos] != c) return false;
        if (!LITS[m->lit][++m->lit_pos]) value_end(m);
        return true;
    default:
        if (!num_byte(m, c, &again)) return false;
        return again ? step(m, c) : true;
    }
}

bool pd_jsonm_feed(pd_jsonm *m, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!step(m, (unsigned char)p[i])) return false;
    return true;
}

size_t pd_jsonm_closer(const pd_jsonm *m, char *out, size_t cap) {
    char buf[PD_JSONM_DEPTH * 2 + 16];
    size_t k = 0;
    switch (m->st) {
    case S_START: buf[k++] = '{'; buf[k++] = '}'; break;
    case S_VALUE: case S_NMINUS: case S_NDOT: case S_NEXP: case S_NEXPS: buf[k++] = '0'; break;
    case S_KEY: memcpy(buf + k, "\"\":0", 4); k += 4; break;
    case S_COLON: memcpy(buf + k, ":0", 2); k += 2; break;
    case S_LIT: for (const char *l = LITS[m->lit] + m->lit_pos; *l; l++) buf[k++] = *l; break;
    case S_STR: case S_ESC: case S_HEX:
        if (m->st == S_ESC) buf[k++] = 'n';
        for (int i = 0; m->st == S_HEX && i < m->hex; i++) buf[k++] = '0';
        for (int i = 0; m->st == S_STR && i < m->u8_need; i++) buf[k++] = (char)(i == 0 ? m->u8_lo : 0x80);
        buf[k++] = '"';
        if (m->in_key) { buf[k++] = ':'; buf[k++] = '0'; }
        break;
    default: break;
    }
    if (m->st != S_DONE && m->st != S_START)
        for (int i = m->depth - 1; i >= 0; i--) buf[k++] = m->stack[i] == '{' ? '}' : ']';
    if (k > cap) k = cap;
    memcpy(out, buf, k);
    return k;
}

/* ---- the policy ---- */

/* The recogniser follows the answer-phase TOKENS (their exact bytes), not the answer text: the text
 * holds back a split UTF-8 character until it completes, so it can lag the tokens the mask allowed. */
typedef struct {
    const pd_tokenizer *tok;
    pd_jsonm m;
    int fed;           /* tokens of the sequence looked at */
    bool broken;       /* the answer left the grammar (an injected text): stop constraining */
} jm_ctx;

static void jm_follow(jm_ctx *c, const pd_seq_state *s) {
    if (s->n_tokens < c->fed) { pd_jsonm_init(&c->m); c->fed = 0; c->broken = false; }   /* rewound */
    for (int i = c->fed; i < s->n_tokens && !c->broken; i++) {
        if (s->phases[i] != PD_PHASE_ANSWER || pd_tok_is_special(c->tok, s->tokens[i])) continue;
        size_t len = 0;
        const char *p = pd_tok_piece(c->tok, s->tokens[i], &len);
        if (p && len && !pd_jsonm_feed(&c->m, p, len)) c->broken = true;
    }
    c->fed = s->n_tokens;
}

static void jm_logits(void *ctx, const pd_seq_state *s, float *logits) {
    jm_ctx *c = ctx;
    int nv = pd_tok_n_vocab(c->tok);
    if (s->phase != PD_PHASE_ANSWER) {   /* thinking: it may not end the reply */
        for (int t = 0; t < s->n_vocab && t < nv; t++)
            if (pd_tok_is_eog(c->tok, t)) logits[t] = -INFINITY;
        return;
    }
    jm_follow(c, s);
    if (c->broken) return;
    bool done = pd_jsonm_complete(&c->m);
    for (int t = 0; t < s->n_vocab; t++) {
        if (t >= nv) { logits[t] = -INFINITY; continue; }
        if (pd_tok_is_eog(c->tok, t)) { if (!done) logits[t] = -INFINITY; continue; }
        size_t len;
        const char *piece;
        if (done || pd_tok_is_special(c->tok, t) || !(piece = pd_tok_piece(c->tok, t, &len)) || !len) {
            logits[t] = -INFINITY;
            continue;
        }
        pd_jsonm trial = c->m;
        if (!pd_jsonm_feed(&trial, piece, len)) logits[t] = -INFINITY;
    }
}

pd_status pd_jsonmask_policy(const pd_tokenizer *tok, pd_policy *out) {
    if (!tok) return pd_fail(PD_ERR_ARG, "json_object: the model has no tokenizer");
    jm_ctx *c = pd_calloc(1, sizeof *c);
    if (!c) return PD_ERR_NOMEM;
    c->tok = tok;
    pd_jsonm_init(&c->m);
    *out = (pd_policy){.name = "json_object", .ctx = c, .on_logits = jm_logits, .release = free};
    return PD_OK;
}
