/* kv/spec.c — the policy registry: names, the defaults of inference.md §3/§4, and the one parser
 * of "NAME[:key=value,...]" and of the budget "N" / "P%" (--kv-policy / --kv-budget in every verb). */
#include "ponder/kvpolicy.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[PD_KVP_COUNT] = {"full", "streaming", "h2o", "tova", "snapkv", "rkv", "lazy", "rlkv"};

const char *pd_kvp_name(pd_kvp_kind k) { return (int)k >= 0 && k < PD_KVP_COUNT ? names[k] : "?"; }

bool pd_kvp_needs_attention(pd_kvp_kind k) {
    return k == PD_KVP_H2O || k == PD_KVP_TOVA || k == PD_KVP_SNAPKV || k == PD_KVP_RKV || k == PD_KVP_LAZY;
}

void pd_kvp_defaults(pd_kvp_spec *s, pd_kvp_kind k) {
    memset(s, 0, sizeof *s);
    s->kind = k;
    s->sink = k == PD_KVP_RLKV ? 16 : 4;
    s->recent = k == PD_KVP_RLKV ? 64 : 50;
    s->obs = 32;
    s->pool = 7;
    s->buffer = 128;
    s->aq = 8;
    s->lambda = 0.1;
    s->window = 128;
    s->alpha = 0;
    s->sparsity = -1;
    /* LazyEviction's comparison protocol keeps the prompt outside the budget (§3 Defaults) */
    s->protect = k == PD_KVP_LAZY ? PD_KVP_PROTECT_PROMPT : 0;
}

const char *pd_kvp_help(void) {
    return "  full                 no eviction (the reference)\n"
           "  streaming[:sink=4]   StreamingLLM: first sink rows + the most recent\n"
           "  h2o[:recent=50]      H2O: accumulated attention + a recent window (percent of the budget)\n"
           "  tova                 TOVA: drop what the current query attends to least\n"
           "  snapkv[:obs=32,pool=7]  SnapKV: the last obs prompt queries vote (prompt only)\n"
           "  rkv[:buffer=128,aq=8,lambda=0.1,pool=7]  R-KV: importance - redundancy when the buffer fills\n"
           "  lazy[:W=128,alpha=0] LazyEviction: every W steps, W recent + recurrence order (alpha 0 = 1/live)\n"
           "  rlkv:gates=FILE[,s=S,sink=16,recent=64]  RLKV: full heads by gate score, sink+recent for the rest\n"
           "  every policy: protect=none|prompt|answer|prompt+answer (lazy: prompt)\n";
}

static pd_status num(const char *pol, const char *key, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi)
        return pd_fail(PD_ERR_ARG, "kv policy %s: %s=%s: expected a number in [%g, %g]", pol, key, v, lo, hi);
    *out = x;
    return PD_OK;
}

static pd_status inum(const char *pol, const char *key, const char *v, int lo, int hi, int *out) {
    double x;
    PD_TRY(num(pol, key, v, lo, hi, &x));
    if (x != floor(x)) return pd_fail(PD_ERR_ARG, "kv policy %s: %s=%s: expected an integer", pol, key, v);
    *out = (int)x;
    return PD_OK;
}

pd_status pd_kvp_parse(const char *text, pd_kvp_spec *s) {
    if (!text || !s) return pd_fail(PD_ERR_ARG, "kv policy: NULL");
    char buf[1024];
    if (strlen(text) >= sizeof buf) return pd_fail(PD_ERR_ARG, "kv policy: spec longer than %zu bytes", sizeof buf - 1);
    strcpy(buf, text);
    char *colon = strchr(buf, ':');
    if (colon) *colon = 0;
    int kind = -1;
    for (int k = 0; k < PD_KVP_COUNT; k++)
        if (!strcmp(buf, names[k])) kind = k;
    if (kind < 0)
        return pd_fail(PD_ERR_ARG, "kv policy '%s': unknown (full, streaming, h2o, tova, snapkv, rkv, lazy, rlkv)", buf);
    int budget_rows = s->budget_rows;
    double budget_frac = s->budget_frac;
    pd_kvp_defaults(s, (pd_kvp_kind)kind);
    s->budget_rows = budget_rows;
    s->budget_frac = budget_frac;
    const char *pol = names[kind];
    char *p = colon ? colon + 1 : NULL;
    while (p && *p) {
        char *next = strchr(p, ',');
        if (next) *next++ = 0;
        char *eq = strchr(p, '=');
        if (!eq || eq == p) return pd_fail(PD_ERR_ARG, "kv policy %s: '%s' is not key=value", pol, p);
        *eq = 0;
        const char *k = p, *v = eq + 1;
        pd_status st = PD_OK;
        bool known = true;
        if (!strcmp(k, "protect")) {
            if (!strcmp(v, "none")) s->protect = 0;
            else if (!strcmp(v, "prompt")) s->protect = PD_KVP_PROTECT_PROMPT;
            else if (!strcmp(v, "answer")) s->protect = PD_KVP_PROTECT_ANSWER;
            else if (!strcmp(v, "prompt+answer")) s->protect = PD_KVP_PROTECT_PROMPT | PD_KVP_PROTECT_ANSWER;
            else st = pd_fail(PD_ERR_ARG, "kv policy %s: protect=%s: none, prompt, answer or prompt+answer", pol, v);
        } else if (kind == PD_KVP_STREAMING && !strcmp(k, "sink")) st = inum(pol, k, v, 0, 1 << 20, &s->sink);
        else if (kind == PD_KVP_RLKV && !strcmp(k, "sink")) st = inum(pol, k, v, 0, 1 << 20, &s->sink);
        else if (kind == PD_KVP_RLKV && !strcmp(k, "recent")) st = inum(pol, k, v, 1, 1 << 20, &s->recent);
        else if (kind == PD_KVP_H2O && !strcmp(k, "recent")) st = inum(pol, k, v, 0, 100, &s->recent);
        else if (kind == PD_KVP_SNAPKV && !strcmp(k, "obs")) st = inum(pol, k, v, 1, 1 << 20, &s->obs);
        else if ((kind == PD_KVP_SNAPKV || kind == PD_KVP_RKV) && !strcmp(k, "pool")) {
            st = inum(pol, k, v, 1, 1023, &s->pool);
            if (!st && s->pool % 2 == 0) st = pd_fail(PD_ERR_ARG, "kv policy %s: pool=%s: the kernel must be odd", pol, v);
        } else if (kind == PD_KVP_RKV && !strcmp(k, "buffer")) st = inum(pol, k, v, 1, 1 << 20, &s->buffer);
        else if (kind == PD_KVP_RKV && !strcmp(k, "aq")) st = inum(pol, k, v, 1, 1 << 20, &s->aq);
        else if (kind == PD_KVP_RKV && !strcmp(k, "lambda")) st = num(pol, k, v, 0, 1, &s->lambda);
        else if (kind == PD_KVP_LAZY && (!strcmp(k, "W") || !strcmp(k, "window"))) st = inum(pol, k, v, 1, 1 << 20, &s->window);
        else if (kind == PD_KVP_LAZY && !strcmp(k, "alpha")) st = num(pol, k, v, 0, 1, &s->alpha);
        else if (kind == PD_KVP_RLKV && (!strcmp(k, "s") || !strcmp(k, "sparsity"))) st = num(pol, k, v, 0, 1, &s->sparsity);
        else if (kind == PD_KVP_RLKV && !strcmp(k, "gates")) {
            if (!*v || strlen(v) >= sizeof s->gates) st = pd_fail(PD_ERR_ARG, "kv policy rlkv: gates= needs a file name");
            else strcpy(s->gates, v);
        } else known = false;
        if (!known) return pd_fail(PD_ERR_ARG, "kv policy %s: unknown key '%s'", pol, k);
        if (st) return st;
        p = next;
    }
    if (kind == PD_KVP_RLKV && !s->gates[0])
        return pd_fail(PD_ERR_ARG, "kv policy rlkv: needs gates=FILE (per-head scores; `ponder kvheads` writes one)");
    return PD_OK;
}

pd_status pd_kvp_parse_budget(const char *text, pd_kvp_spec *s) {
    if (!text || !*text) return pd_fail(PD_ERR_ARG, "kv budget: empty (N rows or P%%)");
    size_t n = strlen(text);
    char *end;
    errno = 0;
    if (text[n - 1] == '%') {
        double p = strtod(text, &end);
        if (end != text + n - 1 || errno || !isfinite(p) || p <= 0 || p > 100)
            return pd_fail(PD_ERR_ARG, "kv budget '%s': a percentage must be in (0, 100]", text);
        s->budget_frac = p / 100.0;
        s->budget_rows = 0;
        return PD_OK;
    }
    long long v = strtoll(text, &end, 10);
    if (*end || errno || v < 1 || v > (1 << 24))
        return pd_fail(PD_ERR_ARG, "kv budget '%s': expected rows in [1, %d] or a percentage like 50%%", text, 1 << 24);
    s->budget_rows = (int)v;
    s->budget_frac = 0;
    return PD_OK;
}

pd_status pd_kvp_read_gates(const char *path, int n_layer, int n_head_kv, float *gates) {
    FILE *f = fopen(path, "r");
    if (!f) return pd_fail(PD_ERR_IO, "kv gates %s: cannot open: %s", path, strerror(errno));
    char line[8192];
    int l = 0;
    pd_status st = PD_OK;
    while (st == PD_OK && fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\n' || *p == 0 || *p == '#') continue;
        if (l >= n_layer) { st = pd_fail(PD_ERR_FORMAT, "kv gates %s: more than %d rows (one per layer)", path, n_layer); break; }
        for (int h = 0; h < n_head_kv; h++) {
            char *end;
            double x = strtod(p, &end);
            if (end == p || !isfinite(x)) {
                st = pd_fail(PD_ERR_FORMAT, "kv gates %s: row %d: expected %d numbers (one per kv head)", path, l + 1, n_head_kv);
                break;
            }
            gates[l * n_head_kv + h] = x < 0 ? 0.f : x > 1 ? 1.f : (float)x;
            p = end;
        }
        while (st == PD_OK && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
        if (st == PD_OK && *p) st = pd_fail(PD_ERR_FORMAT, "kv gates %s: row %d: more than %d columns", path, l + 1, n_head_kv);
        l++;
    }
    fclose(f);
    if (st == PD_OK && l != n_layer) st = pd_fail(PD_ERR_FORMAT, "kv gates %s: %d rows, the model has %d layers", path, l, n_layer);
    return st;
}
