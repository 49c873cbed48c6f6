/* tasks/logicasker.c — LogicAsker-style atomic inference rules posed as yes/no questions in
 * English ("Alice is cooking"), with distractor premises. Difficulty 1: one rule — modus
 * ponens/tollens, hypothetical and disjunctive syllogism, addition, simplification,
 * conjunction, resolution, disjunction elimination, biconditional introduction/elimination,
 * universal modus ponens/tollens, existential generalisation — or a fallacy (affirming the
 * consequent, denying the antecedent, affirming a disjunct, denying a conjunct, illicit
 * commutativity, affirming the consequent of a universal, the existential fallacy).
 * Difficulty d >= 2 (to 6): a chain of d steps (modus ponens, modus tollens, disjunctive
 * syllogism), the last of which may be a fallacy. Question kinds: inference (the conclusion:
 * yes), contradiction (its negation: no), unrelated (an atom the premises never mention: no),
 * fallacy (no). Every label is re-checked by truth tables over all atoms (premises entail the
 * question?), and an item whose check disagrees is redrawn. */
#include "tasks_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { L_ATOM, L_NOT, L_AND, L_OR, L_IMP, L_IFF, L_ALL, L_SOME };
/* Quantified items use two predicates (activities 0 and 1) over three individuals: the named one
 * (atoms 0, 1) and two anonymous ones (atoms 2-5), atom = 2 * individual + predicate. L_ALL(a, b):
 * "everyone who is a is b"; L_SOME(a): "someone is a"; both are evaluated over the three
 * individuals, which is enough for the one-step forms posed here. */
#define LA_INDIV 3
#define LA_MAXF 96
#define LA_MAXP 12
#define LA_MAXD 6

typedef struct { int t, a, b; } lf;
typedef struct { lf f[LA_MAXF]; int nf; int name[12], act[12]; } lctx;

static const char *const names[] = {"Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar"};
static const char *const acts[] = {"cooking", "reading", "swimming", "singing", "running", "painting",
                                   "sleeping", "working", "dancing", "writing", "driving", "fishing"};

static int nf(lctx *c, int t, int a, int b) {
    if (c->nf >= LA_MAXF) return 0; /* cannot happen with the sizes used below */
    c->f[c->nf] = (lf){t, a, b};
    return c->nf++;
}
static int atom(lctx *c, int i) { return nf(c, L_ATOM, i, 0); }
/* complement of a literal (no double negation) */
static int neg(lctx *c, int f) { return c->f[f].t == L_NOT ? c->f[f].a : nf(c, L_NOT, f, 0); }
static int lit(lctx *c, pd_rng *r, int i) { int a = atom(c, i); return pd_rng_below(r, 2) ? neg(c, a) : a; }

static int eval(const lctx *c, int f, unsigned m) {
    const lf *x = &c->f[f];
    switch (x->t) {
    case L_ATOM: return (m >> x->a) & 1;
    case L_NOT: return !eval(c, x->a, m);
    case L_AND: return eval(c, x->a, m) && eval(c, x->b, m);
    case L_OR: return eval(c, x->a, m) || eval(c, x->b, m);
    case L_IMP: return !eval(c, x->a, m) || eval(c, x->b, m);
    case L_IFF: return eval(c, x->a, m) == eval(c, x->b, m);
    case L_ALL:
        for (int i = 0; i < LA_INDIV; i++)
            if (((m >> (2 * i + x->a)) & 1) && !((m >> (2 * i + x->b)) & 1)) return 0;
        return 1;
    default:
        for (int i = 0; i < LA_INDIV; i++)
            if ((m >> (2 * i + x->a)) & 1) return 1;
        return 0;
    }
}

/* premises ⊨ q, by truth table over n_atoms */
static int entails(const lctx *c, const int *pr, int np, int q, int n_atoms) {
    for (unsigned m = 0; m < (1u << n_atoms); m++) {
        int all = 1;
        for (int i = 0; i < np && all; i++) all = eval(c, pr[i], m);
        if (all && !eval(c, q, m)) return 0;
    }
    return 1;
}

static void render(const lctx *c, pd_buf *b, int f) {
    const lf *x = &c->f[f];
    switch (x->t) {
    case L_ATOM: pd_buf_printf(b, "%s is %s", names[c->name[x->a]], acts[c->act[x->a]]); return;
    case L_NOT:
        if (c->f[x->a].t == L_SOME) {
            pd_buf_printf(b, "nobody is %s", acts[c->act[c->f[x->a].a]]);
        } else if (c->f[x->a].t == L_ATOM) {
            pd_buf_printf(b, "%s is not %s", names[c->name[c->f[x->a].a]], acts[c->act[c->f[x->a].a]]);
        } else {
            pd_buf_printf(b, "it is not the case that ");
            render(c, b, x->a);
        }
        return;
    case L_AND: pd_buf_printf(b, "both "); render(c, b, x->a); pd_buf_printf(b, " and "); render(c, b, x->b); return;
    case L_OR: pd_buf_printf(b, "either "); render(c, b, x->a); pd_buf_printf(b, " or "); render(c, b, x->b); return;
    case L_IMP: pd_buf_printf(b, "if "); render(c, b, x->a); pd_buf_printf(b, ", then "); render(c, b, x->b); return;
    case L_IFF: render(c, b, x->a); pd_buf_printf(b, " if and only if "); render(c, b, x->b); return;
    case L_ALL: pd_buf_printf(b, "everyone who is %s is %s", acts[c->act[x->a]], acts[c->act[x->b]]); return;
    default: pd_buf_printf(b, "someone is %s", acts[c->act[x->a]]); return;
    }
}

static void sentence(const lctx *c, pd_buf *b, int f) {
    size_t at = b->len;
    render(c, b, f);
    if (b->data[at] >= 'a' && b->data[at] <= 'z') b->data[at] = (char)(b->data[at] - 'a' + 'A');
    pd_buf_printf(b, ".");
}

typedef struct { const char *name; int valid; } rule;
static const rule rules[] = {
    {"modus ponens", 1}, {"modus tollens", 1}, {"hypothetical syllogism", 1}, {"disjunctive syllogism", 1},
    {"addition", 1}, {"simplification", 1}, {"conjunction", 1}, {"resolution", 1},
    {"disjunction elimination", 1}, {"biconditional elimination", 1}, {"biconditional introduction", 1},
    {"affirming the consequent", 0}, {"denying the antecedent", 0}, {"affirming a disjunct", 0},
    {"denying a conjunct", 0}, {"illicit commutativity", 0},
    {"universal modus ponens", 1}, {"universal modus tollens", 1}, {"existential generalisation", 1},
    {"affirming the consequent (universal)", 0}, {"existential fallacy", 0},
};
#define N_RULES ((int)(sizeof rules / sizeof rules[0]))

/* One rule over literals p, q, r (atoms 0, 1, 2), or for the quantified rules over predicates
 * 0, 1 of the named individual (atoms 0, 1) and the anonymous ones: premises and the conclusion
 * (or, for a fallacy, the tempting non-conclusion). Returns the number of atoms used. */
static int one_rule(lctx *c, pd_rng *r, int k, int *pr, int *np, int *concl) {
    int n = 0;
    if (k >= 16) {
        c->name[1] = c->name[0]; /* atoms 0 and 1 are both about the named individual */
        int pa = atom(c, 0), qa = atom(c, 1), all = nf(c, L_ALL, 0, 1);
        switch (k) {
        case 16: pr[n++] = all; pr[n++] = pa; *concl = qa; break;
        case 17: pr[n++] = all; pr[n++] = neg(c, qa); *concl = neg(c, pa); break;
        case 18: pr[n++] = pa; *concl = nf(c, L_SOME, 0, 0); break;
        case 19: pr[n++] = all; pr[n++] = qa; *concl = pa; break;
        default: pr[n++] = all; *concl = nf(c, L_SOME, 1, 0); break;
        }
        *np = n;
        return 2 * LA_INDIV;
    }
    int p = lit(c, r, 0), q = lit(c, r, 1), s = lit(c, r, 2);
    switch (k) {
    case 0: pr[n++] = nf(c, L_IMP, p, q); pr[n++] = p; *concl = q; break;
    case 1: pr[n++] = nf(c, L_IMP, p, q); pr[n++] = neg(c, q); *concl = neg(c, p); break;
    case 2: pr[n++] = nf(c, L_IMP, p, q); pr[n++] = nf(c, L_IMP, q, s); *concl = nf(c, L_IMP, p, s); break;
    case 3: pr[n++] = nf(c, L_OR, p, q); pr[n++] = neg(c, p); *concl = q; break;
    case 4: pr[n++] = p; *concl = nf(c, L_OR, p, q); break;
    case 5: pr[n++] = nf(c, L_AND, p, q); *concl = p; break;
    case 6: pr[n++] = p; pr[n++] = q; *concl = nf(c, L_AND, p, q); break;
    case 7: pr[n++] = nf(c, L_OR, p, q); pr[n++] = nf(c, L_OR, neg(c, p), s); *concl = nf(c, L_OR, q, s); break;
    case 8: pr[n++] = nf(c, L_OR, p, q); pr[n++] = nf(c, L_IMP, p, s); pr[n++] = nf(c, L_IMP, q, s); *concl = s; break;
    case 9: pr[n++] = nf(c, L_IFF, p, q); pr[n++] = p; *concl = q; break;
    case 10: pr[n++] = nf(c, L_IMP, p, q); pr[n++] = nf(c, L_IMP, q, p); *concl = nf(c, L_IFF, p, q); break;
    case 11: pr[n++] = nf(c, L_IMP, p, q); pr[n++] = q; *concl = p; break;
    case 12: pr[n++] = nf(c, L_IMP, p, q); pr[n++] = neg(c, p); *concl = neg(c, q); break;
    case 13: pr[n++] = nf(c, L_OR, p, q); pr[n++] = p; *concl = neg(c, q); break;
    case 14: pr[n++] = nf(c, L_NOT, nf(c, L_AND, p, q), 0); pr[n++] = neg(c, p); *concl = q; break;
    default: pr[n++] = nf(c, L_IMP, p, q); *concl = nf(c, L_IMP, q, p); break;
    }
    *np = n;
    return 3;
}

static pd_status la_gen(pd_rng *r, int d, pd_task_item *out, pd_buf *key) {
    lctx *c = pd_calloc(1, sizeof *c);
    if (!c) return PD_ERR_NOMEM;
    for (int attempt = 0; attempt < 1000; attempt++) {
        c->nf = 0;
        int perm_n[12], perm_a[12];
        for (int i = 0; i < 12; i++) perm_n[i] = perm_a[i] = i;
        tk_shuffle(r, perm_n, 12);
        tk_shuffle(r, perm_a, 12);
        memcpy(c->name, perm_n, sizeof perm_n);
        memcpy(c->act, perm_a, sizeof perm_a);
        int pr[LA_MAXP], np = 0, concl = 0, n_atoms, rk = 0;
        pd_buf tr = {0};
        int fallacy = 0;
        const char *kind;
        if (d == 1) {
            rk = (int)pd_rng_below(r, N_RULES);
            n_atoms = one_rule(c, r, rk, pr, &np, &concl);
            fallacy = !rules[rk].valid;
            if (!fallacy) {
                pd_buf_printf(&tr, "by %s: ", rules[rk].name);
                sentence(c, &tr, concl);
                pd_buf_printf(&tr, "\n");
            }
        } else {
            /* chain: fact f, each step derives the next literal */
            int f = lit(c, r, 0);
            pr[np++] = f;
            fallacy = pd_rng_below(r, 4) == 0;
            for (int k = 1; k <= d; k++) {
                int g = lit(c, r, k);
                int last = k == d;
                if (last && fallacy) {
                    if (pd_rng_below(r, 2)) { pr[np++] = nf(c, L_IMP, g, f); concl = g; rk = 11; }
                    else { pr[np++] = nf(c, L_IMP, neg(c, f), g); concl = neg(c, g); rk = 12; }
                    break;
                }
                int step = (int)pd_rng_below(r, 3);
                if (step == 0) { pr[np++] = nf(c, L_IMP, f, g); rk = 0; }
                else if (step == 1) { pr[np++] = nf(c, L_IMP, neg(c, g), neg(c, f)); rk = 1; }
                else { pr[np++] = nf(c, L_OR, neg(c, f), g); rk = 3; }
                pd_buf_printf(&tr, "by %s: ", rules[rk].name);
                sentence(c, &tr, g);
                pd_buf_printf(&tr, "\n");
                f = g;
                concl = g;
            }
            n_atoms = d + 1;
        }
        /* question kind */
        int q = concl, answer;
        if (fallacy) {
            kind = "fallacy";
            answer = 0;
            pd_buf_printf(&tr, "concluding that would be a fallacy (%s)", rules[rk].name);
        } else {
            int kk = (int)pd_rng_below(r, 4);
            if (kk <= 1) { kind = "inference"; answer = 1; pd_buf_printf(&tr, "this is the question"); }
            else if (kk == 2) {
                kind = "contradiction";
                answer = 0;
                q = c->f[concl].t == L_ATOM || c->f[concl].t == L_NOT ? neg(c, concl) : nf(c, L_NOT, concl, 0);
                pd_buf_printf(&tr, "the question says the opposite");
            } else {
                kind = "unrelated";
                answer = 0;
                q = lit(c, r, n_atoms);
                pd_buf_printf(&tr, "the premises say nothing about whether ");
                render(c, &tr, atom(c, n_atoms));
                n_atoms++;
            }
        }
        /* distractors: implications between two fresh atoms */
        int n_dis = 1 + (int)pd_rng_below(r, 2);
        for (int i = 0; i < n_dis && np < LA_MAXP && n_atoms + 2 <= 12; i++) {
            pr[np++] = nf(c, L_IMP, lit(c, r, n_atoms), lit(c, r, n_atoms + 1));
            n_atoms += 2;
        }
        if (entails(c, pr, np, q, n_atoms) != answer) { pd_buf_free(&tr); continue; }
        pd_buf_printf(&tr, ", so %s", answer ? "yes" : "no");
        int ord[LA_MAXP];
        for (int i = 0; i < np; i++) ord[i] = i;
        tk_shuffle(r, ord, np);
        pd_buf pro = {0}, meta = {0};
        pd_buf_printf(&pro, "Premises:");
        for (int i = 0; i < np; i++) { pd_buf_printf(&pro, " "); sentence(c, &pro, pr[ord[i]]); }
        pd_buf_printf(&pro, " Can we infer the following? ");
        sentence(c, &pro, q);
        pd_buf_printf(key, "%s", pro.data);
        pd_buf_printf(&meta, "{\"kind\":\"%s\",\"rule\":\"%s\"}", kind, rules[rk].name);
        out->prompt = tk_take(&pro);
        out->reasoning = tk_take(&tr);
        out->answer = pd_strdup(answer ? "yes" : "no");
        out->meta = tk_take(&meta);
        free(c);
        return PD_OK;
    }
    free(c);
    return pd_fail(PD_ERR_RANGE, "logicasker: could not draw a consistent item at difficulty %d", d);
}


const pd_task pd_task_logicasker = {"logicasker", "atomic inference rules and fallacies posed as yes/no questions",
                                    "1: one rule or fallacy; 2-6: a chain of that many steps", 1, LA_MAXD, 1,
                                    la_gen, tk_extract_yesno, tk_check_yesno};
