/* tasks/addlookup.c — arith-add-lookup: long addition whose trace must read every operand digit back
 * from the prompt (a long-trace task for the KV-eviction experiment, issue 13). Difficulty N = digits
 * of each operand (2-26). The prompt labels each digit with a letter, the units digit 'A' / 'a':
 *   What is C4B0A7+c9b1a5?                      (407 + 915)
 * Trace: one fixed-width line per digit, units first:
 *   {L}{x}{l}{y}+{c}={c'}{d}|{acc}
 * L/l the labels of digit i ('A'+i, 'a'+i), x/y the operand digits (found in the prompt by label),
 * c the carry in (the previous line's c'), c'd = x + y + c, and acc the N-cell result tape with
 * digits 0..i written from the right and '.' elsewhere. The last line is "=" and the sum.
 *   A7a5+0=12|..2
 *   B0b1+1=02|.22
 *   C4c9+0=13|322
 *   =1322
 * Each step is one-digit addition, but its inputs sit in the prompt, hundreds of positions back at
 * N = 12-16, and stay needed until the last line: a KV policy that evicts a not-yet-used prompt digit
 * breaks the sum. The state is the previous line (carry, tape), so nothing else far back is needed.
 *
 * arith-add-lookup-m, the Markov variant: the same prompt and lines, but the labels start at a random
 * letter per item and wrap (digit i is 'A'+(s+i) mod 26, s uniform in 0..25), e.g. s = 24:
 *   What is A4Z0Y7+a9z1y5?   trace  Y7y5+0=12|..2 / Z0z1+1=02|.22 / A4a9+0=13|322 / =1322
 * so the line index alone no longer gives the label: the next label is the successor of the previous
 * line's, and a model need not count earlier lines (on arith-add-lookup it did, and a cache holding
 * the prompt and a recent window lost it). The prompt plus the previous line determine every line. */
#include "tasks_int.h"
#include <ctype.h>
#include <string.h>

#define AL_MAXD 26

/* s: the label offset (0 for arith-add-lookup); digit i is labelled 'A'+(s+i) mod 26 / lowercase. */
static pd_status al_gen_off(pd_rng *r, int n, int markov, pd_task_item *out, pd_buf *key) {
    int x[AL_MAXD], y[AL_MAXD], d[AL_MAXD];
    for (int i = 0; i < n; i++) {
        x[i] = (int)pd_rng_below(r, 10);
        y[i] = (int)pd_rng_below(r, 10);
    }
    x[n - 1] = 1 + (int)pd_rng_below(r, 9); /* no leading zeros */
    y[n - 1] = 1 + (int)pd_rng_below(r, 9);
    for (int i = n - 1; i >= 0; i--) pd_buf_printf(key, "%d", x[i]);
    pd_buf_printf(key, "+");
    for (int i = n - 1; i >= 0; i--) pd_buf_printf(key, "%d", y[i]);
    int s = 0;
    if (markov) { /* drawn after the digits, so the operands match arith-add-lookup's for a seed */
        s = (int)pd_rng_below(r, 26);
        pd_buf_printf(key, "@%d", s);
    }
#define AL_LAB(base, i) ((char)((base) + ((s) + (i)) % 26))
    pd_buf pr = {0}, tr = {0}, an = {0};
    pd_buf_printf(&pr, "What is ");
    for (int i = n - 1; i >= 0; i--) pd_buf_printf(&pr, "%c%d", AL_LAB('A', i), x[i]);
    pd_buf_printf(&pr, "+");
    for (int i = n - 1; i >= 0; i--) pd_buf_printf(&pr, "%c%d", AL_LAB('a', i), y[i]);
    pd_buf_printf(&pr, "?");
    int c = 0;
    for (int i = 0; i < n; i++) {
        int v = x[i] + y[i] + c;
        d[i] = v % 10;
        pd_buf_printf(&tr, "%c%d%c%d+%d=%d%d|", AL_LAB('A', i), x[i], AL_LAB('a', i), y[i], c, v / 10, v % 10);
        for (int k = n - 1; k >= 0; k--) pd_buf_printf(&tr, "%c", k <= i ? '0' + d[k] : '.');
        pd_buf_printf(&tr, "\n");
        c = v / 10;
    }
    if (c) pd_buf_printf(&an, "1");
    for (int k = n - 1; k >= 0; k--) pd_buf_printf(&an, "%d", d[k]);
    pd_buf_printf(&tr, "=%s", an.data);
    out->prompt = tk_take(&pr);
    out->reasoning = tk_take(&tr);
    out->answer = tk_take(&an);
#undef AL_LAB
    return PD_OK;
}

static pd_status al_gen(pd_rng *r, int n, pd_task_item *out, pd_buf *key) {
    return al_gen_off(r, n, 0, out, key);
}

static pd_status al_gen_m(pd_rng *r, int n, pd_task_item *out, pd_buf *key) {
    return al_gen_off(r, n, 1, out, key);
}

static char *al_extract(const char *region) {
    return pd_extract_span(PD_EXTRACT_LAST_NUMBER, region, strlen(region));
}

/* Exact comparison of digit strings (numbers longer than a double holds): leading '+', spaces,
 * commas and leading zeros are dropped; anything else than digits makes it wrong. */
static void al_check(const pd_task_item *it, const char *ans, pd_verdict *v) {
    const char *p = ans, *w = it->answer;
    while (*p == ' ' || *p == '+') p++;
    while (*p == '0' && isdigit((unsigned char)p[1])) p++;
    int ok = *p != 0;
    for (; *p && ok; p++) {
        if (*p == ',' || *p == ' ') continue;
        if (*p != *w) ok = 0; else w++;
    }
    ok = ok && *w == 0;
    tk_verdict(v, ok ? 1.0 : 0.0, ok ? "correct" : "wrong", ans);
}

const pd_task pd_task_arith_add_lookup = {
    "arith-add-lookup", "long addition; each trace line reads its two operand digits back from the prompt by label",
    "digits per operand (2-26)", 2, AL_MAXD, 12, al_gen, al_extract, al_check};

const pd_task pd_task_arith_add_lookup_m = {
    "arith-add-lookup-m",
    "arith-add-lookup with labels starting at a random letter per item (wrapping Z->A): each line needs only the prompt and the previous line",
    "digits per operand (2-26)", 2, AL_MAXD, 12, al_gen_m, al_extract, al_check};
