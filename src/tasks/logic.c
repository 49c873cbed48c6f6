/* tasks/logic.c — PITA-style propositional logic: is a formula over p1..p3, top, bot, &, |, ->
 * provable in intuitionistic logic? Decided by the contraction-free G4ip calculus (Dyckhoff's
 * LJT; terminates without loop checks) with a fixed rule order. The reference trace prints one
 * line per rule application, "<sequent> by <rule>": for TRUE the proof found (failed
 * alternatives of non-invertible rules are left out), for FALSE the whole failed search.
 * Difficulty = proof depth d: the trace has 2d-1 or 2d steps (d = 1..12). Answers TRUE/FALSE;
 * half of the items of each difficulty are TRUE. */
#include "tasks_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { F_ATOM, F_TOP, F_BOT, F_AND, F_OR, F_IMP };
#define LG_MAXN 2048
#define LG_MAXG 48
#define LG_BUDGET 1000

typedef struct { int t, a, b; } fnode;
typedef struct {
    fnode n[LG_MAXN];
    int nn;
    pd_buf *tr;
    int keep_fail, steps, calls, overflow;
} lctx;

static int mk(lctx *c, int t, int a, int b) {
    for (int i = 0; i < c->nn; i++)
        if (c->n[i].t == t && c->n[i].a == a && c->n[i].b == b) return i;
    if (c->nn >= LG_MAXN) { c->overflow = 1; return 0; }
    c->n[c->nn] = (fnode){t, a, b};
    return c->nn++;
}

static void put(lctx *c, pd_buf *b, int f, int top) {
    const fnode *x = &c->n[f];
    switch (x->t) {
    case F_ATOM: pd_buf_printf(b, "p%d", x->a + 1); return;
    case F_TOP: pd_buf_printf(b, "top"); return;
    case F_BOT: pd_buf_printf(b, "bot"); return;
    default: break;
    }
    if (!top) pd_buf_printf(b, "(");
    put(c, b, x->a, 0);
    pd_buf_printf(b, x->t == F_AND ? " & " : x->t == F_OR ? " | " : " -> ");
    put(c, b, x->b, 0);
    if (!top) pd_buf_printf(b, ")");
}

static void line(lctx *c, const int *g, int ng, int goal, const char *what) {
    pd_buf *b = c->tr;
    c->steps++;
    if (!b) return; /* counting pass */
    for (int i = 0; i < ng; i++) {
        if (i) pd_buf_printf(b, ", ");
        put(c, b, g[i], 0);
    }
    pd_buf_printf(b, ng ? " |- " : "|- ");
    put(c, b, goal, 0);
    pd_buf_printf(b, " %s\n", what);
}

static int prove(lctx *c, const int *g, int ng, int goal);

static void cut(lctx *c, size_t mark, int steps) {
    if (c->tr) {
        c->tr->len = mark;
        if (c->tr->data) c->tr->data[mark] = 0;
    }
    c->steps = steps;
}

/* Γ with position i replaced by up to two formulas (x, y; -1 = none). */
static int with(const int *g, int ng, int i, int x, int y, int *out) {
    int m = 0;
    for (int k = 0; k < ng; k++)
        if (k != i) out[m++] = g[k];
    if (x >= 0) out[m++] = x;
    if (y >= 0) out[m++] = y;
    return m;
}

static int prove(lctx *c, const int *g, int ng, int goal) {
    if (++c->calls > LG_BUDGET || ng + 2 > LG_MAXG || c->overflow) { c->overflow = 1; return 0; }
    int h[LG_MAXG];
    /* axioms */
    if (c->n[goal].t == F_TOP) { line(c, g, ng, goal, "by topR"); return 1; }
    for (int i = 0; i < ng; i++) {
        if (g[i] == goal) { line(c, g, ng, goal, "by axiom"); return 1; }
        if (c->n[g[i]].t == F_BOT) { line(c, g, ng, goal, "by botL"); return 1; }
    }
    /* invertible left rules */
    for (int i = 0; i < ng; i++) {
        const fnode *x = &c->n[g[i]];
        if (x->t == F_TOP) { line(c, g, ng, goal, "by topL"); return prove(c, h, with(g, ng, i, -1, -1, h), goal); }
        if (x->t == F_AND) { line(c, g, ng, goal, "by &L"); return prove(c, h, with(g, ng, i, x->a, x->b, h), goal); }
        if (x->t == F_OR) {
            line(c, g, ng, goal, "by |L");
            int a = x->a, b = x->b;
            if (!prove(c, h, with(g, ng, i, a, -1, h), goal)) return 0;
            return prove(c, h, with(g, ng, i, b, -1, h), goal);
        }
        if (x->t == F_IMP) {
            const fnode *l = &c->n[x->a];
            int rhs = x->b;
            if (l->t == F_BOT) { line(c, g, ng, goal, "by bot->L"); return prove(c, h, with(g, ng, i, -1, -1, h), goal); }
            if (l->t == F_TOP) { line(c, g, ng, goal, "by top->L"); return prove(c, h, with(g, ng, i, rhs, -1, h), goal); }
            if (l->t == F_AND) {
                int la = l->a, lb = l->b;
                int f = mk(c, F_IMP, la, mk(c, F_IMP, lb, rhs));
                line(c, g, ng, goal, "by &->L");
                return prove(c, h, with(g, ng, i, f, -1, h), goal);
            }
            if (l->t == F_OR) {
                int la = l->a, lb = l->b;
                int f1 = mk(c, F_IMP, la, rhs), f2 = mk(c, F_IMP, lb, rhs);
                line(c, g, ng, goal, "by |->L");
                return prove(c, h, with(g, ng, i, f1, f2, h), goal);
            }
            if (l->t == F_ATOM) {
                for (int k = 0; k < ng; k++)
                    if (g[k] == x->a) {
                        line(c, g, ng, goal, "by p->L");
                        return prove(c, h, with(g, ng, i, rhs, -1, h), goal);
                    }
            }
        }
    }
    /* invertible right rules */
    const fnode *G = &c->n[goal];
    if (G->t == F_AND) {
        int a = G->a, b = G->b;
        line(c, g, ng, goal, "by &R");
        if (!prove(c, g, ng, a)) return 0;
        return prove(c, g, ng, b);
    }
    if (G->t == F_IMP) {
        int a = G->a, b = G->b;
        line(c, g, ng, goal, "by ->R");
        if (ng) memcpy(h, g, sizeof(int) * (size_t)ng);
        h[ng] = a;
        return prove(c, h, ng + 1, b);
    }
    /* non-invertible: |R (left, right), then (A->B)->C in Γ */
    size_t mark = c->tr ? c->tr->len : 0;
    int steps = c->steps;
    if (G->t == F_OR) {
        int a = G->a, b = G->b;
        line(c, g, ng, goal, "by |R1");
        if (prove(c, g, ng, a)) return 1;
        if (!c->keep_fail) cut(c, mark, steps);
        line(c, g, ng, goal, "by |R2");
        if (prove(c, g, ng, b)) return 1;
        if (!c->keep_fail) cut(c, mark, steps);
    }
    for (int i = 0; i < ng; i++) {
        const fnode *x = &c->n[g[i]];
        if (x->t != F_IMP || c->n[x->a].t != F_IMP) continue;
        int A = c->n[x->a].a, B = c->n[x->a].b, C = x->b;
        int bc = mk(c, F_IMP, B, C);
        line(c, g, ng, goal, "by ->->L");
        if (prove(c, h, with(g, ng, i, bc, -1, h), x->a)) {
            (void)A;
            if (prove(c, h, with(g, ng, i, C, -1, h), goal)) return 1;
        }
        if (!c->keep_fail) cut(c, mark, steps);
    }
    line(c, g, ng, goal, "fails");
    return 0;
}

/* Decide |- f. With tr == NULL only the step count is computed (fast pass); otherwise the trace
 * goes to tr (proof for TRUE, full search for FALSE). Returns 1/0, -1 when over budget. */
static int decide(lctx *c, int f, pd_buf *tr, int *steps) {
    pd_buf tmp = {0};
    c->tr = tr ? &tmp : NULL;
    c->keep_fail = 0;
    c->steps = c->calls = 0;
    int r = prove(c, NULL, 0, f);
    if (c->overflow) { pd_buf_free(&tmp); return -1; }
    if (!r) {
        pd_buf_free(&tmp);
        c->keep_fail = 1;
        c->steps = c->calls = 0;
        prove(c, NULL, 0, f);
        if (c->overflow) { pd_buf_free(&tmp); return -1; }
    }
    if (tr) {
        *tr = tmp;
        if (tr->len && tr->data[tr->len - 1] == '\n') tr->data[--tr->len] = 0;
    }
    c->tr = NULL;
    *steps = c->steps;
    return r;
}

static int rand_formula(lctx *c, pd_rng *r, int k) {
    if (k == 0) {
        uint64_t u = pd_rng_below(r, 20);
        if (u == 0) return mk(c, F_TOP, 0, 0);
        if (u == 1) return mk(c, F_BOT, 0, 0);
        return mk(c, F_ATOM, (int)pd_rng_below(r, 3), 0);
    }
    int t = (int)pd_rng_below(r, 4);
    t = t == 0 ? F_AND : t == 1 ? F_OR : F_IMP;
    int left = (int)pd_rng_below(r, (uint64_t)k);
    int a = rand_formula(c, r, left);
    int b = rand_formula(c, r, k - 1 - left);
    return mk(c, t, a, b);
}

static pd_status lg_gen(pd_rng *r, int d, pd_task_item *out, pd_buf *key) {
    lctx *c = pd_malloc(sizeof *c);
    if (!c) return PD_ERR_NOMEM;
    int want_true = (int)pd_rng_below(r, 2);
    for (int attempt = 0; attempt < 200000; attempt++) {
        c->nn = 0;
        c->overflow = 0;
        int k = 1 + d / 2 + (int)pd_rng_below(r, (uint64_t)(d < 3 ? 3 : d + 1));
        int f = rand_formula(c, r, k);
        pd_buf tr = {0};
        int steps = 0;
        int res = decide(c, f, NULL, &steps);
        if (res < 0 || res != want_true || (steps + 1) / 2 != d) continue;
        int steps2 = 0;
        if (decide(c, f, &tr, &steps2) != res || steps2 != steps) { pd_buf_free(&tr); continue; }
        pd_buf fs = {0}, pr = {0};
        put(c, &fs, f, 1);
        pd_buf_printf(key, "%s", fs.data);
        pd_buf_printf(&pr, "Is this formula provable in intuitionistic propositional logic? %s", fs.data);
        pd_buf_printf(&tr, "\nso %s", res ? "TRUE" : "FALSE");
        pd_buf meta = {0};
        pd_buf_printf(&meta, "{\"steps\":%d}", steps);
        out->prompt = tk_take(&pr);
        out->reasoning = tk_take(&tr);
        out->answer = pd_strdup(res ? "TRUE" : "FALSE");
        out->meta = tk_take(&meta);
        pd_buf_free(&fs);
        free(c);
        return PD_OK;
    }
    free(c);
    return pd_fail(PD_ERR_RANGE, "logic: no formula with proof depth %d found", d);
}

static char *lg_extract(const char *region) {
    static const char *const w[] = {"true", "false", "yes", "no", "provable", "unprovable"};
    int k = tk_last_word(region, w, 6);
    if (k < 0) return NULL;
    return pd_strdup(k == 0 || k == 2 || k == 4 ? "TRUE" : "FALSE");
}

static void lg_check(const pd_task_item *it, const char *ans, pd_verdict *v) {
    char *n = lg_extract(ans);
    int ok = n && !strcasecmp(n, it->answer);
    tk_verdict(v, ok ? 1.0 : 0.0, n ? (ok ? "correct" : "wrong") : "not TRUE/FALSE", ans);
    free(n);
}

/* Formula text as printed by put(): atoms p1..p9, top, bot, binary connectives in parentheses
 * (the outermost may be bare). */
static int parse_f(lctx *c, const char **s, int top);
static int parse_atom(lctx *c, const char **s) {
    while (**s == ' ') (*s)++;
    if (**s == '(') {
        (*s)++;
        int f = parse_f(c, s, 0);
        while (**s == ' ') (*s)++;
        if (f < 0 || **s != ')') return -1;
        (*s)++;
        return f;
    }
    if (!strncmp(*s, "top", 3)) { *s += 3; return mk(c, F_TOP, 0, 0); }
    if (!strncmp(*s, "bot", 3)) { *s += 3; return mk(c, F_BOT, 0, 0); }
    if (**s == 'p' && (*s)[1] >= '1' && (*s)[1] <= '9') { int a = (*s)[1] - '1'; *s += 2; return mk(c, F_ATOM, a, 0); }
    return -1;
}
static int parse_f(lctx *c, const char **s, int top) {
    int a = parse_atom(c, s);
    if (a < 0) return -1;
    while (**s == ' ') (*s)++;
    int t = -1;
    if (**s == '&') { t = F_AND; *s += 1; }
    else if (**s == '|') { t = F_OR; *s += 1; }
    else if (!strncmp(*s, "->", 2)) { t = F_IMP; *s += 2; }
    if (t < 0) return a;
    int b = parse_atom(c, s);
    (void)top;
    return b < 0 ? -1 : mk(c, t, a, b);
}

int tk_logic_decide(const char *formula) {
    lctx *c = pd_calloc(1, sizeof *c);
    if (!c) return -1;
    const char *s = formula;
    int f = parse_f(c, &s, 1);
    while (*s == ' ') s++;
    int r = -1;
    if (f >= 0 && !*s && !c->overflow) {
        int steps;
        r = decide(c, f, NULL, &steps);
    }
    free(c);
    return r;
}

const pd_task pd_task_logic = {"logic", "is a propositional formula provable (intuitionistic, G4ip proof trace)?",
                               "proof depth: the trace has 2d-1 or 2d steps (1-12)", 1, 12, 3, lg_gen, lg_extract,
                               lg_check};
