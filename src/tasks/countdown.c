/* tasks/countdown.c — TinyZero's countdown: reach a target with the given numbers, each used at
 * most once (a sub-multiset of at least one number; issue 4), and + - * /. Difficulty = how many
 * numbers (3-6). Generation draws numbers in [1, 99] and combines them in a random tree whose
 * intermediate values are positive integers; the target (1..999) is the value, and instances whose
 * target is one of the given numbers are redrawn (a bare number would be a trivial answer). The
 * reference trace is a depth-first search (children ordered by closeness to the target) printed
 * node by node; it stops at the first value equal to the target, so its solution may use only some
 * of the numbers; instances whose search takes more than 48 lines are redrawn. The verifier
 * evaluates the answer exactly (rationals) and checks that the numbers used are a sub-multiset of
 * the given ones: 1.0 correct, 0.1 well-formed but wrong, 0 no answer (TinyZero's reward). */
#include "tasks_int.h"
#include "ponder/expr.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CD_MAXN 6
#define CD_MAX_LINES 48
#define CD_EXPR 160

typedef struct { int64_t v; int prec; char e[CD_EXPR]; } cval; /* prec: 3 atom, 2 * /, 1 + - */

static int combine(const cval *a, const cval *b, char op, cval *c) {
    int64_t v;
    switch (op) {
    case '+': v = a->v + b->v; break;
    case '-': if (a->v <= b->v) return 0; v = a->v - b->v; break;
    case '*': if (a->v == 1 || b->v == 1) return 0; v = a->v * b->v; break;
    default: if (b->v <= 1 || a->v % b->v) return 0; v = a->v / b->v; break;
    }
    if (v > 1000000) return 0;
    int prec = op == '+' || op == '-' ? 1 : 2;
    int wl = a->prec < prec, wr = op == '-' ? b->prec <= 1 : op == '/' ? b->prec <= 2 : b->prec < prec;
    int n = snprintf(c->e, sizeof c->e, "%s%s%s%c%s%s%s", wl ? "(" : "", a->e, wl ? ")" : "", op, wr ? "(" : "",
                     b->e, wr ? ")" : "");
    if (n < 0 || (size_t)n >= sizeof c->e) return 0;
    c->v = v;
    c->prec = prec;
    return 1;
}

static void print_vals(pd_buf *tr, const cval *v, int n) {
    for (int i = 0; i < n; i++) pd_buf_printf(tr, i ? " %lld" : "%lld", (long long)v[i].v);
}

typedef struct { int i, j; char op; cval c; int64_t dist; } cchild;

/* DFS; returns 1 when found (solution expression in *sol), -1 when the line cap is hit. No value in
 * vals equals the target on entry (the generator redraws such instances, and a child equal to the
 * target ends the search before it is expanded), so every solution combines at least two numbers. */
static int search(const cval *vals, int n, int64_t target, pd_buf *tr, int *lines, cval *sol) {
    static const char ops[4] = {'+', '-', '*', '/'};
    if (*lines > CD_MAX_LINES) return -1;
    cchild ch[CD_MAXN * CD_MAXN * 4];
    int nc = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j) continue;
            for (int o = 0; o < 4; o++) {
                if ((ops[o] == '+' || ops[o] == '*') && j < i) continue; /* commutative: once */
                cchild k = {i, j, ops[o], {0}, 0};
                if (!combine(&vals[i], &vals[j], ops[o], &k.c)) continue;
                k.dist = k.c.v > target ? k.c.v - target : target - k.c.v;
                /* insertion keeps the order stable among equal distances */
                int at = nc;
                while (at > 0 && ch[at - 1].dist > k.dist) { ch[at] = ch[at - 1]; at--; }
                ch[at] = k;
                nc++;
            }
        }
    if (nc > 0 && ch[0].dist == 0) { /* closest first: a hit is child 0; the unused numbers stay unused */
        pd_buf_printf(tr, "%lld%c%lld=%lld, found\n", (long long)vals[ch[0].i].v, ch[0].op, (long long)vals[ch[0].j].v,
                      (long long)target);
        (*lines)++;
        *sol = ch[0].c;
        return 1;
    }
    if (n == 2) { /* every child leaves one value, and none is the target */
        pd_buf_printf(tr, "%lld %lld: no\n", (long long)vals[0].v, (long long)vals[1].v);
        (*lines)++;
        return 0;
    }
    for (int c = 0; c < nc; c++) {
        cval next[CD_MAXN];
        int m = 0;
        next[m++] = ch[c].c;
        for (int t = 0; t < n; t++)
            if (t != ch[c].i && t != ch[c].j) next[m++] = vals[t];
        pd_buf_printf(tr, "%lld%c%lld=%lld, left ", (long long)vals[ch[c].i].v, ch[c].op, (long long)vals[ch[c].j].v,
                      (long long)ch[c].c.v);
        print_vals(tr, next, m);
        pd_buf_printf(tr, "\n");
        (*lines)++;
        int r = search(next, m, target, tr, lines, sol);
        if (r != 0) return r;
    }
    return 0;
}

static pd_status cd_gen(pd_rng *r, int d, pd_task_item *out, pd_buf *key) {
    static const char ops[4] = {'+', '-', '*', '/'};
    for (int attempt = 0; attempt < 100000; attempt++) {
        int64_t nums[CD_MAXN];
        cval pool[CD_MAXN] = {{0, 0, {0}}};
        for (int i = 0; i < d; i++) {
            nums[i] = 1 + (int64_t)pd_rng_below(r, 99);
            pool[i].v = nums[i];
            pool[i].prec = 3;
            snprintf(pool[i].e, sizeof pool[i].e, "%lld", (long long)nums[i]);
        }
        int n = d, ok = 1;
        while (n > 1 && ok) {
            int i = (int)pd_rng_below(r, (uint64_t)n), j = (int)pd_rng_below(r, (uint64_t)n - 1);
            if (j >= i) j++;
            cval c;
            if (!combine(&pool[i], &pool[j], ops[pd_rng_below(r, 4)], &c)) { ok = 0; break; }
            int lo = i < j ? i : j, hi = i < j ? j : i;
            pool[lo] = c;
            pool[hi] = pool[n - 1];
            n--;
        }
        if (!ok || pool[0].v < 1 || pool[0].v > 999) continue;
        int64_t target = pool[0].v;
        int bare = 0;
        for (int i = 0; i < d; i++) bare |= nums[i] == target;
        if (bare) continue;
        cval start[CD_MAXN], sol;
        for (int i = 0; i < d; i++) {
            start[i].v = nums[i];
            start[i].prec = 3;
            snprintf(start[i].e, sizeof start[i].e, "%lld", (long long)nums[i]);
        }
        pd_buf tr = {0};
        int lines = 0;
        pd_buf_printf(&tr, "numbers ");
        print_vals(&tr, start, d);
        pd_buf_printf(&tr, ", target %lld\n", (long long)target);
        if (search(start, d, target, &tr, &lines, &sol) != 1) { pd_buf_free(&tr); continue; }
        pd_buf_printf(&tr, "so %s=%lld", sol.e, (long long)target);
        /* key: sorted numbers and target */
        int64_t srt[CD_MAXN];
        memcpy(srt, nums, sizeof(int64_t) * (size_t)d);
        for (int a = 1; a < d; a++)
            for (int b = a; b > 0 && srt[b - 1] > srt[b]; b--) { int64_t t = srt[b]; srt[b] = srt[b - 1]; srt[b - 1] = t; }
        pd_buf pr = {0}, meta = {0};
        for (int a = 0; a < d; a++) pd_buf_printf(key, "%lld,", (long long)srt[a]);
        pd_buf_printf(key, "=%lld", (long long)target);
        pd_buf_printf(&pr, "Using the numbers [");
        pd_buf_printf(&meta, "{\"numbers\":[");
        for (int a = 0; a < d; a++) {
            pd_buf_printf(&pr, a ? ", %lld" : "%lld", (long long)nums[a]);
            pd_buf_printf(&meta, a ? ",%lld" : "%lld", (long long)nums[a]);
        }
        pd_buf_printf(&pr, "], create an equation that equals %lld. Use + - * / and each number at most once.",
                      (long long)target);
        pd_buf_printf(&meta, "],\"target\":%lld}", (long long)target);
        out->prompt = tk_take(&pr);
        out->reasoning = tk_take(&tr);
        out->answer = pd_strdup(sol.e);
        out->meta = tk_take(&meta);
        return PD_OK;
    }
    return pd_fail(PD_ERR_RANGE, "countdown: could not draw an instance with %d numbers", d);
}

/* Last line of the region, without a leading "Answer:"-style label and a trailing "= N". */
static char *cd_extract(const char *region) {
    char *l = tk_last_line(region);
    if (!l) return NULL;
    char *colon = strrchr(l, ':');
    char *s = colon ? colon + 1 : l;
    char *eq = strchr(s, '=');
    if (eq) *eq = 0;
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '.')) s[--n] = 0;
    char *r = n ? pd_strdup(s) : NULL;
    free(l);
    return r;
}

static int read_meta(const pd_task_item *it, int64_t *nums, int *n, int64_t *target) {
    cJSON *m = it->meta ? cJSON_Parse(it->meta) : NULL;
    if (!m) return 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(m, "numbers"), *t = cJSON_GetObjectItemCaseSensitive(m, "target");
    int ok = cJSON_IsArray(a) && cJSON_IsNumber(t) && cJSON_GetArraySize(a) <= CD_MAXN;
    *n = 0;
    if (ok) {
        const cJSON *e;
        /* meta comes from a JSONL file: a number beyond ±1e15 is refused, not cast (that would be UB) */
        cJSON_ArrayForEach(e, a) {
            if (!cJSON_IsNumber(e) || !(fabs(e->valuedouble) <= 1e15)) { ok = 0; break; }
            nums[(*n)++] = (int64_t)e->valuedouble;
        }
        if (!(fabs(t->valuedouble) <= 1e15)) ok = 0;
        else *target = (int64_t)t->valuedouble;
    }
    cJSON_Delete(m);
    return ok;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Issue 4 (which overrides training.md section 14's "exactly once"): each given number may be used
 * at most once, so an answer is right when its numbers form a sub-multiset of the given ones (at
 * least one number) and its exact value is the target. Using a number more often than given, or a
 * number not given, is "wrong numbers" (0.1). */
static void cd_check(const pd_task_item *it, const char *ans, pd_verdict *v) {
    int64_t nums[CD_MAXN], target;
    int n;
    if (!read_meta(it, nums, &n, &target)) { tk_verdict(v, 0.0, "item has no countdown meta", ans); return; }
    /* TinyZero: an optional trailing "= N" is allowed; everything else must be digits/operators. */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", ans);
    char *eq = strchr(buf, '=');
    if (eq) *eq = 0;
    for (const char *p = buf; *p; p++)
        if (!isdigit((unsigned char)*p) && !strchr("+-*/() ", *p)) { tk_verdict(v, 0.1, "bad characters", ans); return; }
    pd_expr_result er;
    if (pd_expr_eval(buf, strlen(buf), &er) != PD_OK) { tk_verdict(v, 0.1, "unparsable expression", ans); return; }
    if (er.n_lits < 1 || er.n_lits > n) { tk_verdict(v, 0.1, "wrong numbers", ans); return; }
    /* sub-multiset: both sorted, every used number matched by a distinct given one (merge walk) */
    int64_t a[PD_EXPR_MAX_LITS], b[CD_MAXN];
    int na = er.n_lits;
    memcpy(a, er.lits, sizeof(int64_t) * (size_t)na);
    memcpy(b, nums, sizeof(int64_t) * (size_t)n);
    qsort(a, (size_t)na, sizeof *a, cmp64);
    qsort(b, (size_t)n, sizeof *b, cmp64);
    int ia = 0;
    for (int ib = 0; ib < n && ia < na; ib++)
        if (b[ib] == a[ia]) ia++;
        else if (b[ib] > a[ia]) break; /* a[ia] is not among the remaining given numbers */
    if (ia < na) { tk_verdict(v, 0.1, "wrong numbers", ans); return; }
    if (er.value.den != 1 || er.value.num != target) { tk_verdict(v, 0.1, "wrong value", ans); return; }
    tk_verdict(v, 1.0, "correct", ans);
}

const pd_task pd_task_countdown = {"countdown", "reach the target with + - * / using each given number at most once",
                                   "how many numbers (3-6)", 3, CD_MAXN, 3, cd_gen, cd_extract, cd_check};
