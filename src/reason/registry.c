/* reason/registry.c — the method registry behind `--policy NAME[:key=value,…]` and `ponder
 * policies`: parameter tables with defaults and ranges, spec parsing and validation, the policy
 * chain, and small helpers the methods share. Each method's behaviour lives in its own file
 * (s1.c, vote.c, trimr.c, …); this file only maps names and keys onto their constructors. */
#include "ponder/reason.h"
#include "ponder/alloc.h"
#include "ponder/budget.h"
#include "ponder/plan.h"
#include "ponder/s1.h"
#include "ponder/spec.h"
#include "ponder/steer.h"
#include "ponder/trimr.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pd_reason_spec {
    const pd_reason_method *m;
    char *val[PD_REASON_MAX_KEYS];   /* one per m->params[i], decoded */
};

/* ---------------------------------------------------------------- constructors */

static pd_status make_s1(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out) {
    pd_s1_params p = pd_s1_defaults();
    p.wait = pd_reason_int(s, "wait");
    p.min = pd_reason_int(s, "min");
    p.max = pd_reason_int(s, "max");
    p.ext = pd_reason_str(s, "ext");
    p.tail = pd_reason_str(s, "tail");
    return pd_s1_policy(env->tok, &p, out);
}

/* Elastic Reasoning's separate budgets are the budget policy without a message. */
static pd_status make_anytime(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out) {
    if (pd_reason_int(s, "votes") > 1) return pd_fail(PD_ERR_ARG, "anytime: votes > 1 is a driver (pd_anytime_run), not a policy");
    pd_budget_params p = pd_budget_defaults();
    p.think_budget = pd_reason_int(s, "think");
    p.answer_budget = pd_reason_int(s, "answer");
    pd_status st = pd_budget_policy(env->tok, &p, out);
    if (st == PD_OK) out->name = "anytime";
    return st;
}

static const pd_reason_param S1_P[] = {
    {"wait", PD_RP_INT, "1", 0, 1e6, "times the closer is taken back and the extension injected", NULL},
    {"min", PD_RP_INT, "0", 0, 1 << 24, "also take the closer back while fewer thinking tokens than this", NULL},
    {"max", PD_RP_INT, "-1", -1, 1 << 24, "most thinking tokens, then force the end (-1: none)", NULL},
    {"ext", PD_RP_STR, "Wait", 0, 0, "extension text injected in place of the closer", NULL},
    {"tail", PD_RP_STR, "\\n\\n", 0, 0, "text after a forced </think> (harness: \\nFinal Answer:)", NULL},
};
static const pd_reason_param ANY_P[] = {
    {"think", PD_RP_INT, "1024", 0, 1 << 24, "thinking budget t_think; then </think> is injected", NULL},
    {"answer", PD_RP_INT, "1024", -1, 1 << 24, "answer budget t_sol (-1: none)", NULL},
    {"votes", PD_RP_INT, "1", 1, 256, "when the budget cuts the thinking: short answers forked at the cut and voted (1: none)", NULL},
};

static const pd_reason_param VOTE_P[] = {
    {"n", PD_RP_INT, "8", 1, 256, "samples of the prompt (forks of one prefill)", NULL},
    {"mode", PD_RP_STR, "majority", 0, 0, "majority | logprob (weight exp(mean log-prob)) | verifier (a verifier model's yes/no score)",
     "majority|logprob|verifier"},
    {"adaptive", PD_RP_INT, "1", 0, 1, "stop the remaining samples once the vote is decided", NULL},
    {"verifier", PD_RP_STR, "", 0, 0, "mode=verifier: the verifier model, a GGUF of the same vocabulary, or self", NULL},
};

#define MARKERS "Wait|But|Alternatively|Hmm|However|Let me double-check|Let me verify"
static const pd_reason_param TRIMR_PROBE_P[] = {
    {"k", PD_RP_INT, "3", 1, 1000, "stop when this many concluded answers in a row agree (M = k - 1; 1: the first answer)", NULL},
    {"answer", PD_RP_INT, "24", 1, 4096, "probe answer budget (greedy tokens after the forced </think>)", NULL},
    {"markers", PD_RP_STR, MARKERS, 0, 0, "reflection words that start a new thought after a blank line ('|'-separated)", NULL},
    {"n_thres", PD_RP_INT, "40", 1, 1 << 20, "underthinking: thoughts without convergence", NULL},
    {"r_thres", PD_RP_FLOAT, "0.5", 0, 1, "underthinking: share of the budget used without convergence", NULL},
    {"budget", PD_RP_INT, "0", 0, 1 << 24, "token budget r_thres refers to (0: --think-budget, else rule off)", NULL},
    {"rep_n", PD_RP_INT, "64", 4, 4096, "repetition: n-gram length hashed (3 hits within 4096 tokens)", NULL},
    {"guide", PD_RP_STR, "close", 0, 0, "close: inject </think> on any rule; spec: mild/forced guide prompts", "close|spec"},
};
static const pd_reason_param TRIMR_P[] = {
    {"k", PD_RP_INT, "3", 1, 1000, "stop when this many concluded answers in a row are judged the same (M = k - 1; 1: the first)", NULL},
    {"n_sent", PD_RP_INT, "2", 1, 100, "intermediate answer: the thought's last n sentences", NULL},
    {"markers", PD_RP_STR, MARKERS, 0, 0, "reflection words that start a new thought after a blank line ('|'-separated)", NULL},
    {"n_thres", PD_RP_INT, "40", 1, 1 << 20, "underthinking: thoughts without convergence", NULL},
    {"r_thres", PD_RP_FLOAT, "0.5", 0, 1, "underthinking: share of the budget used without convergence", NULL},
    {"budget", PD_RP_INT, "0", 0, 1 << 24, "token budget r_thres refers to (0: --think-budget, else rule off)", NULL},
    {"rep_n", PD_RP_INT, "64", 4, 4096, "repetition: n-gram length hashed (3 hits within 4096 tokens)", NULL},
    {"guide", PD_RP_STR, "spec", 0, 0, "spec: mild guide (overthinking) / forced guide; close: inject </think>", "close|spec"},
    {"verifier", PD_RP_STR, "self", 0, 0, "verifier model: a GGUF file of the same vocabulary, or self (the model itself)", NULL},
};

static const pd_reason_param SPEC_P[] = {
    {"large", PD_RP_STR, "", 0, 0, "the large model: a GGUF file of the same vocabulary (required)", NULL},
    {"probe", PD_RP_INT, "4", 1, 1024, "small-model tokens after a blank line whose sentiment decides", NULL},
    {"target", PD_RP_INT, "20", 1, 1 << 20, "tokens the large model writes at a reflective point", NULL},
    {"recap", PD_RP_INT, "125", 1, 1 << 20, "tokens of a large-model check/recap (+25 per use, <= 200)", NULL},
    {"neg_limit", PD_RP_INT, "15", 1, 1 << 20, "negative points before a check/recap (+5 per use, <= 30)", NULL},
};

static pd_status make_spec(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out) {
    if (env->model2 < 1) return pd_fail(PD_ERR_ARG, "needs a large model: large=FILE");
    pd_spec_params p = pd_spec_defaults();
    p.large = env->model2;
    p.probe = pd_reason_int(s, "probe");
    p.target = pd_reason_int(s, "target");
    p.recap = pd_reason_int(s, "recap");
    p.neg_limit = pd_reason_int(s, "neg_limit");
    return pd_spec_policy(env->tok, &p, NULL, 0, NULL, out);
}

static const pd_reason_param STEER_P[] = {
    {"file", PD_RP_STR, "", 0, 0, "control-vector GGUF (`ponder steer`, or llama.cpp's) (required)", NULL},
    {"scale", PD_RP_FLOAT, "1", -1e6, 1e6, "multiplier of the directions", NULL},
    {"layers", PD_RP_STR, "all", 0, 0, "layers steered: all, L, A-B, or items joined by '|' (1 .. n_layer-1)", NULL},
    {"when", PD_RP_STR, "always", 0, 0, "positions steered: every generated one, thinking or answer only, or reflect: "
     "span tokens after each blank line in the thinking", "always|thinking|answer|reflect"},
    {"span", PD_RP_INT, "16", 1, 1 << 20, "when=reflect: tokens steered after each blank line", NULL},
    {"prompt", PD_RP_INT, "0", 0, 1, "1: steer every prompt position too (as llama.cpp's --control-vector); 0: only its last", NULL},
};

static const pd_reason_param HYBRID_P[] = {
    {"thinking", PD_RP_STR, "", 0, 0, "the thinking model: a GGUF of the same vocabulary (required)", NULL},
    {"file", PD_RP_STR, "", 0, 0, "control-vector GGUF for the base (the main model) (required)", NULL},
    {"coefs", PD_RP_STR, "0.5:0.6:0.7:0.8:0.9:1", 0, 0, "coefficients tried at a disagreement, joined by ':'", NULL},
    {"layers", PD_RP_STR, "all", 0, 0, "layers steered: all, L, A-B, or items joined by '|' (1 .. n_layer-1)", NULL},
};

static const pd_reason_param PLAN_P[] = {
    {"think", PD_RP_INT, "256", 0, 1 << 24, "thinking tokens per hidden block, then </think> is injected (0: no limit)", NULL},
    {"plan", PD_RP_INT, "128", 1, 1 << 24, "most tokens of the plan; it ends at its first blank line", NULL},
    {"segments", PD_RP_INT, "1", 1, 1 << 16, "visible answer segments after the plan, each after a hidden thinking block", NULL},
    {"segment", PD_RP_INT, "256", 1, 1 << 24, "most tokens of every segment but the last (each ends at a blank line)", NULL},
    {"header", PD_RP_STR, "Plan:\\n", 0, 0, "text that opens the plan", NULL},
};

static const pd_reason_method METHODS[] = {
    {"s1", "s1 budget forcing: 'Wait' instead of the first k closers, forced end at max", PD_REASON_POLICY, S1_P,
     (int)(sizeof S1_P / sizeof S1_P[0]), make_s1},
    {"anytime", "Elastic Reasoning: separate thinking and answer budgets (close thinking, answer gets its own)",
     PD_REASON_POLICY, ANY_P, (int)(sizeof ANY_P / sizeof ANY_P[0]), make_anytime},
    {"trimr-probe", "TrimR without a verifier model: probe each thought (fork, close thinking, extract); stop when k agree",
     PD_REASON_POLICY, TRIMR_PROBE_P, (int)(sizeof TRIMR_PROBE_P / sizeof TRIMR_PROBE_P[0]), pd_trimr_probe_make},
    {"trimr", "TrimR: a verifier model's yes/no logits judge each thought; over/under-thinking and repetition rules",
     PD_REASON_POLICY, TRIMR_P, (int)(sizeof TRIMR_P / sizeof TRIMR_P[0]), pd_trimr_make},
    {"spec-think", "speculative thinking: the small model thinks, a large model writes the reflective spans",
     PD_REASON_POLICY, SPEC_P, (int)(sizeof SPEC_P / sizeof SPEC_P[0]), make_spec},
    {"steer", "activation steering: a control vector added to the residual stream at the positions where it fires",
     PD_REASON_POLICY, STEER_P, (int)(sizeof STEER_P / sizeof STEER_P[0]), pd_steer_make},
    {"plan-first", "plan-first interleaving: hidden thinking, a visible plan, then thinking and visible segments in turn",
     PD_REASON_POLICY, PLAN_P, (int)(sizeof PLAN_P / sizeof PLAN_P[0]), pd_plan_make},
    {"vote", "self-consistency / weighted vote / best-of-N: n samples by prefill+fork, answers voted, adaptive stop",
     PD_REASON_DRIVER, VOTE_P, (int)(sizeof VOTE_P / sizeof VOTE_P[0]), NULL},
    {"hybrid", "hybrid decoding (greedy): the base writes; where a thinking model's argmax differs, the base steered "
     "by c*v at the current position, the candidate the thinking model likes best", PD_REASON_DRIVER, HYBRID_P,
     (int)(sizeof HYBRID_P / sizeof HYBRID_P[0]), NULL},
};

bool pd_reason_spec_is_driver(const pd_reason_spec *s) {
    return s->m->kind == PD_REASON_DRIVER || (!strcmp(s->m->name, "anytime") && pd_reason_int(s, "votes") > 1);
}

size_t pd_reason_count(void) { return sizeof METHODS / sizeof METHODS[0]; }
const pd_reason_method *pd_reason_at(size_t i) { return i < pd_reason_count() ? &METHODS[i] : NULL; }
const pd_reason_method *pd_reason_find(const char *name) {
    for (size_t i = 0; name && i < pd_reason_count(); i++)
        if (!strcmp(METHODS[i].name, name)) return &METHODS[i];
    return NULL;
}

/* ---------------------------------------------------------------- specs */

static char *unescape(const char *s, size_t n) {
    char *o = pd_malloc(n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 'n' || s[i + 1] == 't' || s[i + 1] == '\\')) {
            o[k++] = s[i + 1] == 'n' ? '\n' : s[i + 1] == 't' ? '\t' : '\\';
            i++;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = 0;
    return o;
}

static int param_index(const pd_reason_method *m, const char *key, size_t n) {
    for (int i = 0; i < m->n_params; i++)
        if (strlen(m->params[i].key) == n && !strncmp(m->params[i].key, key, n)) return i;
    return -1;
}

static pd_status check_value(const pd_reason_method *m, const pd_reason_param *p, const char *v) {
    if (p->type == PD_RP_STR) {
        size_t n = strlen(v);
        for (const char *c = p->choices; c && *c;) {
            const char *e = strchr(c, '|');
            size_t k = e ? (size_t)(e - c) : strlen(c);
            if (k == n && !strncmp(c, v, n)) return PD_OK;
            c = e ? e + 1 : NULL;
        }
        return p->choices ? pd_fail(PD_ERR_ARG, "policy %s: %s=%s is not one of %s", m->name, p->key, v, p->choices) : PD_OK;
    }
    char *e;
    errno = 0;
    double x = p->type == PD_RP_INT ? (double)strtoll(v, &e, 10) : strtod(v, &e);
    if (!*v || *e || errno || !isfinite(x))
        return pd_fail(PD_ERR_ARG, "policy %s: %s=%s is not %s", m->name, p->key, v, p->type == PD_RP_INT ? "an integer" : "a number");
    if (p->type == PD_RP_INT && (x < -2147483647.0 || x > 2147483647.0))
        return pd_fail(PD_ERR_ARG, "policy %s: %s=%s is out of range", m->name, p->key, v);
    if (x < p->lo || x > p->hi)
        return pd_fail(PD_ERR_ARG, "policy %s: %s=%s is outside [%g, %g]", m->name, p->key, v, p->lo, p->hi);
    return PD_OK;
}

void pd_reason_spec_free(pd_reason_spec *s) {
    if (!s) return;
    for (int i = 0; i < PD_REASON_MAX_KEYS; i++) free(s->val[i]);
    free(s);
}

pd_status pd_reason_parse(const char *text, pd_reason_spec **out) {
    *out = NULL;
    if (!text || !*text) return pd_fail(PD_ERR_ARG, "policy: empty name (see `ponder policies`)");
    const char *colon = strchr(text, ':');
    size_t nl = colon ? (size_t)(colon - text) : strlen(text);
    const pd_reason_method *m = NULL;
    for (size_t i = 0; i < pd_reason_count(); i++)
        if (strlen(METHODS[i].name) == nl && !strncmp(METHODS[i].name, text, nl)) m = &METHODS[i];
    if (!m) return pd_fail(PD_ERR_ARG, "policy: unknown name '%.*s' (see `ponder policies`)", (int)nl, text);
    pd_reason_spec *s = pd_calloc(1, sizeof *s);
    if (!s) return PD_ERR_NOMEM;
    s->m = m;
    pd_status st = PD_OK;
    const char *p = colon ? colon + 1 : NULL;
    while (p && st == PD_OK) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq) { st = pd_fail(PD_ERR_ARG, "policy %s: '%.*s' is not key=value", m->name, (int)n, p); break; }
        int k = param_index(m, p, (size_t)(eq - p));
        if (k < 0) { st = pd_fail(PD_ERR_ARG, "policy %s: unknown key '%.*s' (see `ponder policies`)", m->name, (int)(eq - p), p); break; }
        if (s->val[k]) { st = pd_fail(PD_ERR_ARG, "policy %s: key '%s' given twice", m->name, m->params[k].key); break; }
        if (!(s->val[k] = unescape(eq + 1, n - (size_t)(eq + 1 - p)))) { st = PD_ERR_NOMEM; break; }
        st = check_value(m, &m->params[k], s->val[k]);
        p = end ? end + 1 : NULL;
    }
    for (int k = 0; st == PD_OK && k < m->n_params; k++)
        if (!s->val[k] && !(s->val[k] = unescape(m->params[k].def, strlen(m->params[k].def)))) st = PD_ERR_NOMEM;
    if (st != PD_OK) { pd_reason_spec_free(s); return st; }
    *out = s;
    return PD_OK;
}

const pd_reason_method *pd_reason_spec_method(const pd_reason_spec *s) { return s->m; }

const char *pd_reason_str(const pd_reason_spec *s, const char *key) {
    int k = param_index(s->m, key, strlen(key));
    return k >= 0 && s->val[k] ? s->val[k] : "";
}
int pd_reason_int(const pd_reason_spec *s, const char *key) { return (int)strtoll(pd_reason_str(s, key), NULL, 10); }
double pd_reason_float(const pd_reason_spec *s, const char *key) { return strtod(pd_reason_str(s, key), NULL); }

char *pd_reason_spec_text(const pd_reason_spec *s) {
    pd_buf b = {0};
    bool ok = !pd_buf_append(&b, s->m->name, strlen(s->m->name));
    for (int k = 0; ok && k < s->m->n_params; k++) {
        ok = !pd_buf_append(&b, k ? "," : ":", 1) && !pd_buf_append(&b, s->m->params[k].key, strlen(s->m->params[k].key)) &&
             !pd_buf_append(&b, "=", 1);
        for (const char *c = s->val[k]; ok && *c; c++)
            ok = *c == '\n'   ? !pd_buf_append(&b, "\\n", 2)
                 : *c == '\t' ? !pd_buf_append(&b, "\\t", 2)
                 : *c == '\\' ? !pd_buf_append(&b, "\\\\", 2) /* the parser decodes \\ too: text parses back */
                              : !pd_buf_append(&b, c, 1);
    }
    if (!ok) { pd_buf_free(&b); return NULL; }
    return b.data;
}

pd_status pd_reason_make(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out) {
    if (!s || !env || !out) return pd_fail(PD_ERR_ARG, "policy: NULL spec, env or output");
    if (s->m->kind != PD_REASON_POLICY || !s->m->make)
        return pd_fail(PD_ERR_ARG, "policy %s: runs several sequences per prompt; it is a driver, not a per-sequence policy", s->m->name);
    pd_status st = s->m->make(s, env, out);
    return st == PD_OK ? PD_OK : pd_fail_ctx(st, "policy %s", s->m->name);
}

void pd_reason_print(FILE *f) {
    for (size_t i = 0; i < pd_reason_count(); i++) {
        const pd_reason_method *m = &METHODS[i];
        fprintf(f, "%s%s\n  %s\n", m->name, m->kind == PD_REASON_DRIVER ? "  (driver: several sequences per prompt)" : "", m->summary);
        for (int k = 0; k < m->n_params; k++)
            fprintf(f, "    %-10s %-6s default %-12s %s\n", m->params[k].key,
                    m->params[k].type == PD_RP_INT ? "int" : m->params[k].type == PD_RP_FLOAT ? "float" : "text",
                    m->params[k].def[0] ? m->params[k].def : "\"\"", m->params[k].help);
    }
}

/* ---------------------------------------------------------------- chain */

typedef struct { pd_policy *p; int n; } chain_t;

static void ch_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    chain_t *c = ctx;
    for (int i = 0; i < c->n && a->kind == PD_ACT_CONTINUE; i++)
        if (c->p[i].on_start) c->p[i].on_start(c->p[i].ctx, s, a);
}
static void ch_logits(void *ctx, const pd_seq_state *s, float *logits) {
    chain_t *c = ctx;
    for (int i = 0; i < c->n; i++)
        if (c->p[i].on_logits) c->p[i].on_logits(c->p[i].ctx, s, logits);
}
static void ch_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    chain_t *c = ctx;
    for (int i = 0; i < c->n && a->kind == PD_ACT_CONTINUE; i++)
        if (c->p[i].on_token) c->p[i].on_token(c->p[i].ctx, s, a);
}
static void ch_release(void *ctx) {
    chain_t *c = ctx;
    for (int i = 0; i < c->n; i++)
        if (c->p[i].release) c->p[i].release(c->p[i].ctx);
    free(c->p);
    free(c);
}

pd_status pd_reason_chain(const pd_policy *pols, int n, pd_policy *out) {
    chain_t *c = pd_calloc(1, sizeof *c);
    pd_policy *p = n > 0 ? pd_malloc((size_t)n * sizeof *p) : NULL;
    if (!c || (n > 0 && !p) || n < 0) {
        for (int i = 0; i < n; i++)
            if (pols[i].release) pols[i].release(pols[i].ctx);
        free(c); free(p);
        return n < 0 ? pd_fail(PD_ERR_ARG, "policy chain: %d policies", n) : PD_ERR_NOMEM;
    }
    if (n) memcpy(p, pols, (size_t)n * sizeof *p);
    c->p = p;
    c->n = n;
    *out = (pd_policy){.name = "chain", .ctx = c, .on_start = ch_start, .on_logits = ch_logits, .on_token = ch_token,
                       .release = ch_release};
    return PD_OK;
}

/* ---------------------------------------------------------------- helpers */

pd_status pd_reason_tokens(const pd_tokenizer *tok, const char *text, int32_t **ids, int *n) {
    size_t k = 0;
    *ids = NULL;
    *n = 0;
    PD_TRY(pd_tokenize(tok, text, strlen(text), false, true, ids, &k));
    *n = (int)k;
    return PD_OK;
}

char *pd_reason_extract(const pd_reason_env *env, const char *answer, size_t len) {
    if (!env || !env->extract) return NULL;
    return env->extract(env->extract_ctx, answer, len);
}
