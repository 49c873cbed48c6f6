/* tasks/arith.c — multi-digit addition, subtraction and multiplication with a digit-by-digit
 * reference trace (carries, borrows, partial products). Difficulty = digits of each operand
 * (1..20); numbers are digit strings, so no size limit applies. Subtraction is posed with the
 * larger operand first (answers are never negative). Tasks: arith (op drawn uniformly),
 * arith-add, arith-sub, arith-mul. Prompt: "What is 347+589?"; answer: "936". */
#include "tasks_int.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define AR_MAXD 20
#define AR_MAXR (2 * AR_MAXD + 2)

/* Digits little-endian: d[0] is the units digit. */
typedef struct { int n; int d[AR_MAXR]; } num;

static void num_rand(pd_rng *r, int digits, num *x) {
    x->n = digits;
    for (int i = 0; i < digits; i++) x->d[i] = (int)pd_rng_below(r, 10);
    if (digits > 1) x->d[digits - 1] = 1 + (int)pd_rng_below(r, 9);
}

static void num_trim(num *x) { while (x->n > 1 && x->d[x->n - 1] == 0) x->n--; }

static int num_cmp(const num *a, const num *b) {
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i]) return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

static void num_print(pd_buf *b, const num *x) {
    for (int i = x->n - 1; i >= 0; i--) pd_buf_printf(b, "%d", x->d[i]);
}

/* c = a + b; trace lines "7+9=16, write 6 carry 1" when tr != NULL. */
static void num_add(const num *a, const num *b, num *c, pd_buf *tr) {
    int n = a->n > b->n ? a->n : b->n, carry = 0;
    for (int i = 0; i < n; i++) {
        int x = i < a->n ? a->d[i] : 0, y = i < b->n ? b->d[i] : 0, s = x + y + carry;
        if (tr) {
            pd_buf_printf(tr, "%d+%d", x, y);
            if (carry) pd_buf_printf(tr, "+%d", carry);
            pd_buf_printf(tr, "=%d, write %d", s, s % 10);
            if (s >= 10) pd_buf_printf(tr, " carry 1");
            pd_buf_printf(tr, "\n");
        }
        c->d[i] = s % 10;
        carry = s / 10;
    }
    c->n = n;
    if (carry) {
        c->d[c->n++] = carry;
        if (tr) pd_buf_printf(tr, "write carry %d\n", carry);
    }
}

/* c = a - b with a >= b; trace "4-8-1<0, 14-8-1=5, write 5 borrow 1". */
static void num_sub(const num *a, const num *b, num *c, pd_buf *tr) {
    int borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int x = a->d[i], y = i < b->n ? b->d[i] : 0, t = x - y - borrow;
        if (tr) {
            if (t < 0) pd_buf_printf(tr, "1");
            pd_buf_printf(tr, "%d-%d", x, y);
            if (borrow) pd_buf_printf(tr, "-%d", borrow);
            pd_buf_printf(tr, "=%d, write %d", t < 0 ? t + 10 : t, t < 0 ? t + 10 : t);
            if (t < 0) pd_buf_printf(tr, " borrow 1");
            pd_buf_printf(tr, "\n");
        }
        c->d[i] = t < 0 ? t + 10 : t;
        borrow = t < 0;
    }
    c->n = a->n;
    num_trim(c);
}

/* p = a * digit * 10^shift; trace "7*9=63, write 3 carry 6". */
static void num_mul_digit(const num *a, int dg, int shift, num *p, pd_buf *tr) {
    int carry = 0;
    p->n = 0;
    for (int s = 0; s < shift; s++) p->d[p->n++] = 0;
    for (int i = 0; i < a->n; i++) {
        int v = a->d[i] * dg + carry;
        if (tr) {
            pd_buf_printf(tr, "%d*%d", a->d[i], dg);
            if (carry) pd_buf_printf(tr, "+%d", carry);
            pd_buf_printf(tr, "=%d, write %d", v, v % 10);
            if (v >= 10) pd_buf_printf(tr, " carry %d", v / 10);
            pd_buf_printf(tr, "\n");
        }
        p->d[p->n++] = v % 10;
        carry = v / 10;
    }
    if (carry) {
        p->d[p->n++] = carry;
        if (tr) pd_buf_printf(tr, "write carry %d\n", carry);
    }
    num_trim(p);
}

static pd_status gen_op(pd_rng *r, int d, char op, pd_task_item *out, pd_buf *key) {
    num a, b, c;
    num_rand(r, d, &a);
    num_rand(r, d, &b);
    if (op == '-' && num_cmp(&a, &b) < 0) { num t = a; a = b; b = t; }
    pd_buf pr = {0}, tr = {0}, an = {0};
    num_print(key, &a);
    pd_buf_printf(key, "%c", op);
    num_print(key, &b);
    pd_buf_printf(&pr, "What is %s?", key->data);
    if (op == '+') {
        pd_buf_printf(&tr, "digits right to left:\n");
        num_add(&a, &b, &c, &tr);
    } else if (op == '-') {
        pd_buf_printf(&tr, "digits right to left:\n");
        num_sub(&a, &b, &c, &tr);
    } else {
        num acc = {1, {0}};
        int first = 1;
        for (int j = 0; j < b.n; j++) {
            num p;
            num_print(&tr, &a);
            pd_buf_printf(&tr, "*%d", b.d[j]);
            if (j) pd_buf_printf(&tr, " shift %d", j);
            pd_buf_printf(&tr, ":\n");
            num_mul_digit(&a, b.d[j], j, &p, &tr);
            pd_buf_printf(&tr, "= ");
            num_print(&tr, &p);
            pd_buf_printf(&tr, "\n");
            if (first) { acc = p; first = 0; continue; }
            num s;
            num_add(&acc, &p, &s, NULL);
            num_trim(&s);
            pd_buf_printf(&tr, "sum ");
            num_print(&tr, &acc);
            pd_buf_printf(&tr, "+");
            num_print(&tr, &p);
            pd_buf_printf(&tr, "=");
            num_print(&tr, &s);
            pd_buf_printf(&tr, "\n");
            acc = s;
        }
        c = acc;
    }
    num_trim(&c);
    num_print(&an, &c);
    pd_buf_printf(&tr, "so %s=%s", key->data, an.data);
    out->prompt = tk_take(&pr);
    out->reasoning = tk_take(&tr);
    out->answer = tk_take(&an);
    return PD_OK;
}

/* Compact "tape" trace for long multiplication (arith-mul-tape): a fixed-width line per step, each
 * line the whole state, so every character is a copy of the previous line at a fixed offset or one
 * local digit operation — a small model learns the rule, and traces grow long (about 26 positions
 * per step, (MT_N + 1) steps per multiplier digit). State: the multiplier B (its current digit
 * written as a letter 'k'+d), the carry, the multiplicand with a leading 0 (current digit 'a'+d),
 * the accumulator S of MT_N + m + 1 digits with a '|' left of its final digits (current cell
 * 'A'+d). A step adds a·b + carry into the current cell and moves both cursors left; after the
 * leading 0 the block ends: the separator passes one more cell, the cursors return to the right.
 * Example 482913*57, first lines:
 *   5r 0 048291d 00000000A|
 *   5r 2 04829b3 0000000A1|
 * last line "=" and the product. Difficulty = digits of the multiplier; the multiplicand has MT_N. */
#define MT_N 6

/* One state line; cursors jb (B), ia (A, a->n = the leading 0), is (S), -1 = none; cells below fin are
 * final and printed right of the '|'. */
static void mt_line(pd_buf *tr, const num *b, int jb, int carry, const num *a, int ia, const num *s, int is,
                    int fin) {
    for (int k = b->n - 1; k >= 0; k--) pd_buf_printf(tr, "%c", k == jb ? 'k' + b->d[k] : '0' + b->d[k]);
    pd_buf_printf(tr, " %d ", carry);
    for (int k = a->n; k >= 0; k--) { /* a with its leading 0 at index a->n */
        int dg = k < a->n ? a->d[k] : 0;
        pd_buf_printf(tr, "%c", k == ia ? 'a' + dg : '0' + dg);
    }
    pd_buf_printf(tr, " ");
    for (int k = s->n - 1; k >= 0; k--) {
        pd_buf_printf(tr, "%c", k == is ? 'A' + s->d[k] : '0' + s->d[k]);
        if (k == fin) pd_buf_printf(tr, "|");
    }
    pd_buf_printf(tr, "\n");
}

static pd_status gen_mul_tape(pd_rng *r, int m, pd_task_item *out, pd_buf *key) {
    num a, b, s = {0, {0}};
    num_rand(r, MT_N, &a);
    num_rand(r, m, &b);
    num_print(key, &a);
    pd_buf_printf(key, "*");
    num_print(key, &b);
    pd_buf pr = {0}, tr = {0}, an = {0};
    pd_buf_printf(&pr, "What is %s?", key->data);
    s.n = MT_N + m + 1;
    for (int j = 0; j < b.n; j++) {
        int carry = 0;
        for (int i = 0; i <= a.n; i++) {
            mt_line(&tr, &b, j, carry, &a, i, &s, i + j, j);
            int v = (i < a.n ? a.d[i] : 0) * b.d[j] + s.d[i + j] + carry;
            s.d[i + j] = v % 10;
            carry = v / 10;
        }
        /* the block's last line: cursors past the leading 0 (nothing marked in A and S) */
        mt_line(&tr, &b, j, carry, &a, -1, &s, -1, j);
    }
    num c = s;
    num_trim(&c);
    num_print(&an, &c);
    pd_buf_printf(&tr, "=%s", an.data);
    out->prompt = tk_take(&pr);
    out->reasoning = tk_take(&tr);
    out->answer = tk_take(&an);
    return PD_OK;
}

static pd_status gen_any(pd_rng *r, int d, pd_task_item *o, pd_buf *k) {
    static const char ops[3] = {'+', '-', '*'};
    return gen_op(r, d, ops[pd_rng_below(r, 3)], o, k);
}
static pd_status gen_add(pd_rng *r, int d, pd_task_item *o, pd_buf *k) { return gen_op(r, d, '+', o, k); }
static pd_status gen_sub(pd_rng *r, int d, pd_task_item *o, pd_buf *k) { return gen_op(r, d, '-', o, k); }
static pd_status gen_mul(pd_rng *r, int d, pd_task_item *o, pd_buf *k) { return gen_op(r, d, '*', o, k); }

static char *extract_num(const char *region) {
    return pd_extract_span(PD_EXTRACT_LAST_NUMBER, region, strlen(region));
}

/* Exact integer comparison on digit strings (any length): drop spaces, commas, '+', leading
 * zeros and a ".0…" fraction; fall back to rational equivalence for short forms like "936.". */
static void check_num(const pd_task_item *it, const char *ans, pd_verdict *v) {
    char buf[128];
    size_t n = 0;
    const char *p = ans;
    int ok = 1;
    while (*p == ' ' || *p == '+') p++;
    while (*p == '0' && isdigit((unsigned char)p[1])) p++;
    for (; *p && ok; p++) {
        if (*p == ',' || *p == ' ') continue;
        if (*p == '.') {
            const char *q = p + 1;
            while (*q == '0') q++;
            if (*q) ok = 0;
            break;
        }
        if (n + 1 >= sizeof buf) { ok = 0; break; }
        buf[n++] = *p;
    }
    buf[n] = 0;
    int correct = (ok && !strcmp(buf, it->answer)) || pd_answer_equiv(ans, it->answer);
    tk_verdict(v, correct ? 1.0 : 0.0, correct ? "correct" : "wrong", ans);
}

#define ARITH_HELP "digits per operand (1-20)"
const pd_task pd_task_arith = {"arith", "multi-digit +, -, * with digit-by-digit traces (op drawn uniformly)",
                               ARITH_HELP, 1, AR_MAXD, 3, gen_any, extract_num, check_num};
const pd_task pd_task_arith_add = {"arith-add", "multi-digit addition with carries", ARITH_HELP, 1, AR_MAXD, 3,
                                   gen_add, extract_num, check_num};
const pd_task pd_task_arith_sub = {"arith-sub", "multi-digit subtraction with borrows (larger operand first)",
                                   ARITH_HELP, 1, AR_MAXD, 3, gen_sub, extract_num, check_num};
const pd_task pd_task_arith_mul_tape = {"arith-mul-tape",
                                        "6-digit multiplicand × D-digit multiplier, compact fixed-width tape trace",
                                        "digits of the multiplier (1-14)", 1, 14, 2, gen_mul_tape, extract_num,
                                        check_num};
const pd_task pd_task_arith_mul = {"arith-mul", "multi-digit multiplication by partial products", ARITH_HELP, 1,
                                   AR_MAXD, 3, gen_mul, extract_num, check_num};
