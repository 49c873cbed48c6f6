/* tasks/expr.c — exact evaluation of + - * / expressions over int64 rationals (countdown answers):
 * recursive descent with a nesting limit; every overflow, division by zero or stray character is
 * an error that names the offset. */
#include "ponder/expr.h"
#include <ctype.h>
#include <string.h>

#define EXPR_MAX_DEPTH 64

typedef struct {
    const char *s;
    size_t len, pos;
    int depth;
    pd_expr_result *out;
} parser;

/* num/den from 128-bit parts, reduced; PD_ERR_RANGE if it does not fit. */
static pd_status make_rat(parser *p, __int128 n, __int128 d, pd_rat *r) {
    if (d == 0) return pd_fail(PD_ERR_RANGE, "expression: division by zero at offset %zu", p->pos);
    if (d < 0) { n = -n; d = -d; }
    __int128 a = n < 0 ? -n : n, b = d;
    while (b) { __int128 t = a % b; a = b; b = t; }
    if (a > 1) { n /= a; d /= a; }
    if (n > INT64_MAX || n < -INT64_MAX || d > INT64_MAX)
        return pd_fail(PD_ERR_RANGE, "expression: overflow at offset %zu", p->pos);
    r->num = (int64_t)n;
    r->den = (int64_t)d;
    return PD_OK;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')) p->pos++;
}

static pd_status parse_expr(parser *p, pd_rat *v);

static pd_status parse_factor(parser *p, pd_rat *v) {
    skip_ws(p);
    if (p->pos >= p->len) return pd_fail(PD_ERR_FORMAT, "expression: unexpected end at offset %zu", p->pos);
    char c = p->s[p->pos];
    if (c == '-' || c == '+') {
        p->pos++;
        if (++p->depth > EXPR_MAX_DEPTH) return pd_fail(PD_ERR_RANGE, "expression: nested too deeply at offset %zu", p->pos);
        PD_TRY(parse_factor(p, v));
        p->depth--;
        if (c == '-') v->num = -v->num;
        return PD_OK;
    }
    if (c == '(') {
        p->pos++;
        if (++p->depth > EXPR_MAX_DEPTH) return pd_fail(PD_ERR_RANGE, "expression: nested too deeply at offset %zu", p->pos);
        PD_TRY(parse_expr(p, v));
        p->depth--;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ')')
            return pd_fail(PD_ERR_FORMAT, "expression: missing ')' at offset %zu", p->pos);
        p->pos++;
        return PD_OK;
    }
    if (isdigit((unsigned char)c)) {
        int64_t n = 0;
        while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos])) {
            if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, p->s[p->pos] - '0', &n))
                return pd_fail(PD_ERR_RANGE, "expression: number too large at offset %zu", p->pos);
            p->pos++;
        }
        if (p->out->n_lits >= PD_EXPR_MAX_LITS)
            return pd_fail(PD_ERR_RANGE, "expression: more than %d numbers", PD_EXPR_MAX_LITS);
        p->out->lits[p->out->n_lits++] = n;
        v->num = n;
        v->den = 1;
        return PD_OK;
    }
    return pd_fail(PD_ERR_FORMAT, "expression: unexpected character '%c' (0x%02x) at offset %zu",
                   isprint((unsigned char)c) ? c : '?', (unsigned char)c, p->pos);
}

static pd_status parse_term(parser *p, pd_rat *v) {
    PD_TRY(parse_factor(p, v));
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len) return PD_OK;
        char op = p->s[p->pos];
        if (op != '*' && op != '/') return PD_OK;
        p->pos++;
        pd_rat w;
        PD_TRY(parse_factor(p, &w));
        if (op == '*') PD_TRY(make_rat(p, (__int128)v->num * w.num, (__int128)v->den * w.den, v));
        else {
            if (w.num == 0) return pd_fail(PD_ERR_RANGE, "expression: division by zero at offset %zu", p->pos);
            PD_TRY(make_rat(p, (__int128)v->num * w.den, (__int128)v->den * w.num, v));
        }
    }
}

static pd_status parse_expr(parser *p, pd_rat *v) {
    PD_TRY(parse_term(p, v));
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len) return PD_OK;
        char op = p->s[p->pos];
        if (op != '+' && op != '-') return PD_OK;
        p->pos++;
        pd_rat w;
        PD_TRY(parse_term(p, &w));
        __int128 a = (__int128)v->num * w.den, b = (__int128)w.num * v->den;
        PD_TRY(make_rat(p, op == '+' ? a + b : a - b, (__int128)v->den * w.den, v));
    }
}

pd_status pd_expr_eval(const char *s, size_t len, pd_expr_result *out) {
    memset(out, 0, sizeof *out);
    if (!s) return pd_fail(PD_ERR_ARG, "expression: null input");
    parser p = {s, len, 0, 0, out};
    pd_rat v;
    PD_TRY(parse_expr(&p, &v));
    skip_ws(&p);
    if (p.pos < len) {
        char c = s[p.pos];
        if (c == ')') return pd_fail(PD_ERR_FORMAT, "expression: unmatched ')' at offset %zu", p.pos);
        return pd_fail(PD_ERR_FORMAT, "expression: unexpected character '%c' (0x%02x) at offset %zu",
                       isprint((unsigned char)c) ? c : '?', (unsigned char)c, p.pos);
    }
    out->value = v;
    return PD_OK;
}
