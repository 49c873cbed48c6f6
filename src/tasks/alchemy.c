/* tasks/alchemy.c — DataAlchemy-style atom strings under transformations. An element is a
 * sequence of letters A-Z; transformations are [R1]..[R25] (ROT-n: each letter shifted by n
 * mod 26), [S1]..[S3] (cyclic left shift by n positions, mod the length) and [V] (reverse); a
 * chain applies its tokens left to right. Tasks:
 *   alchemy      4 letters, difficulty = chain length (1-6)
 *   alchemy-len  chain of 2, difficulty = element length (2-8): the length-generalisation probe
 *                (train on some lengths, test on others; the transformation vocabulary is shared)
 * Prompt "A B C D [R13] [S1]"; trace: one line per transformation with the intermediate element;
 * answer "O P Q N". Split: the key is the chain only (not the letters), so the test split holds
 * out whole transformation chains (task generalisation). Verifier: exact match on the letters
 * (spaces/case ignored). */
#include "tasks_int.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define AL_MAXL 8
#define AL_MAXD 6
#define AL_NT (25 + 3 + 1) /* rot 1..25, shift 1..3, reverse */

static void apply(int t, char *e, int len) {
    char o[AL_MAXL];
    if (t < 25) {
        for (int i = 0; i < len; i++) o[i] = (char)('A' + (e[i] - 'A' + t + 1) % 26);
    } else if (t < 25 + 3) {
        int n = t - 25 + 1;
        for (int i = 0; i < len; i++) o[i] = e[(i + n) % len];
    } else {
        for (int i = 0; i < len; i++) o[i] = e[len - 1 - i];
    }
    memcpy(e, o, (size_t)len);
}

static void put_t(pd_buf *b, int t) {
    if (t < 25) pd_buf_printf(b, "[R%d]", t + 1);
    else if (t < 25 + 3) pd_buf_printf(b, "[S%d]", t - 25 + 1);
    else pd_buf_printf(b, "[V]");
}

static void put_e(pd_buf *b, const char *e, int len) {
    for (int i = 0; i < len; i++) pd_buf_printf(b, i ? " %c" : "%c", e[i]);
}

static pd_status al_make(pd_rng *r, int len, int d, pd_task_item *out, pd_buf *key) {
    char e[AL_MAXL];
    int ts[AL_MAXD];
    for (int i = 0; i < len; i++) e[i] = (char)('A' + pd_rng_below(r, 26));
    for (int i = 0; i < d; i++) ts[i] = (int)pd_rng_below(r, AL_NT);
    pd_buf pr = {0}, tr = {0}, an = {0};
    put_e(&pr, e, len);
    for (int i = 0; i < d; i++) {
        pd_buf_printf(&pr, " ");
        put_t(&pr, ts[i]);
        put_t(key, ts[i]);
    }
    for (int i = 0; i < d; i++) {
        put_t(&tr, ts[i]);
        pd_buf_printf(&tr, " ");
        put_e(&tr, e, len);
        apply(ts[i], e, len);
        pd_buf_printf(&tr, " -> ");
        put_e(&tr, e, len);
        pd_buf_printf(&tr, "\n");
    }
    put_e(&an, e, len);
    pd_buf_printf(&tr, "so %s", an.data);
    out->prompt = tk_take(&pr);
    out->reasoning = tk_take(&tr);
    out->answer = tk_take(&an);
    return PD_OK;
}

static pd_status al_gen(pd_rng *r, int d, pd_task_item *out, pd_buf *key) { return al_make(r, 4, d, out, key); }
static pd_status al_gen_len(pd_rng *r, int d, pd_task_item *out, pd_buf *key) { return al_make(r, d, 2, out, key); }

/* The last run of one-letter capital words ("O P Q N"), or a last all-capital word ("OPQN"),
 * spaced out; at most 16 letters. */
static char *al_extract(const char *region) {
    char found[16];
    int n = 0;
    const char *p = region + strlen(region), *run_b = NULL;
    while (p > region) {
        while (p > region && !isalpha((unsigned char)p[-1])) p--;
        const char *we = p;
        while (p > region && isalpha((unsigned char)p[-1])) p--;
        if (we == p) break;
        int len = (int)(we - p), caps = 1;
        for (const char *c = p; c < we; c++) caps &= isupper((unsigned char)*c) != 0;
        if (len == 1 && caps && n < 16) { n++; run_b = p; continue; }
        if (n == 0 && caps && len >= 2 && len <= 16) { run_b = p; n = -len; }
        break;
    }
    if (n == 0) return NULL;
    int k = 0;
    if (n < 0) {
        for (int i = 0; i < -n; i++) found[k++] = run_b[i];
    } else {
        for (const char *c = run_b; k < n; c++)
            if (isupper((unsigned char)*c) && !isalpha((unsigned char)c[1]) && (c == region || !isalpha((unsigned char)c[-1]))) found[k++] = *c;
    }
    pd_buf b = {0};
    put_e(&b, found, k);
    return tk_take(&b);
}

static void al_check(const pd_task_item *it, const char *ans, pd_verdict *v) {
    char a[16], g[16];
    int na = 0, ng = 0;
    for (const char *p = ans; *p; p++) {
        if (isalpha((unsigned char)*p)) { if (na < 15) a[na++] = (char)toupper((unsigned char)*p); }
        else if (!isspace((unsigned char)*p) && *p != ',') { tk_verdict(v, 0.0, "bad characters", ans); return; }
    }
    for (const char *p = it->answer; *p; p++)
        if (isalpha((unsigned char)*p) && ng < 15) g[ng++] = *p;
    int ok = na == ng && !memcmp(a, g, (size_t)na);
    tk_verdict(v, ok ? 1.0 : 0.0, ok ? "correct" : "wrong", ans);
}

const pd_task pd_task_alchemy = {"alchemy", "apply a chain of ROT-n / cyclic shift / reverse to 4 letters",
                                 "chain length (1-6)", 1, AL_MAXD, 2, al_gen, al_extract, al_check};
const pd_task pd_task_alchemy_len = {"alchemy-len", "apply two ROT-n / cyclic shift / reverse steps to a string of letters",
                                     "number of letters (2-8)", 2, AL_MAXL, 4, al_gen_len, al_extract, al_check};
