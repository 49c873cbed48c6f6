/* reason/spec.c — speculative thinking (ponder/spec.h): keyword sentiment, the recap schedule and
 * the hand-over policy. The policy only answers PD_ACT_HANDOVER (and forces the recap prompt
 * through the large model's logits); the gen catches the large model up by prefilling what it has
 * not seen, so each model keeps its own KV cache. */
#include "ponder/spec.h"
#include "ponder/alloc.h"
#include "ponder/reason.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int count_kw(const char *low, const char *const *kw, int n) {
    int c = 0;
    for (int i = 0; i < n; i++)
        for (const char *p = low; (p = strstr(p, kw[i])); p++) c++;
    return c;
}
static const char *const POS[] = {"yeah", "yes", "final answer", "confident"};
static const char *const NEG[] = {"wait", "alternatively", "hold on", "another", "verify", "think again", "recap", "check"};
static const char *const VER[] = {"verify", "think again", "recap", "check"};

static char *lower(const char *t, size_t n) {
    char *s = pd_malloc(n + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) s[i] = (char)tolower((unsigned char)t[i]);
    s[n] = 0;
    return s;
}

int pd_spec_sentiment(const char *text, size_t len) {
    char *s = lower(text, len);
    if (!s) return 0;
    int p = count_kw(s, POS, 4), n = count_kw(s, NEG, 8);
    free(s);
    if (p > n) return 1;
    if (n > p) return -1;
    return p > 0 ? -1 : 0;
}

bool pd_spec_has_verify(const char *text, size_t len) {
    char *s = lower(text, len);
    bool v = s && count_kw(s, VER, 4) > 0;
    free(s);
    return v;
}

pd_spec_params pd_spec_defaults(void) { return (pd_spec_params){.large = 1, .probe = 4, .target = 20, .recap = 125, .neg_limit = 15}; }

void pd_spec_after_recap(int *recap, int *neg_limit) {
    *recap = *recap + 25 > 200 ? 200 : *recap + 25;
    *neg_limit = *neg_limit + 5 > 30 ? 30 : *neg_limit + 5;
}

typedef struct {
    pd_spec_params p;
    int recap, neg_limit, neg;
    bool watching;
    size_t par_start;            /* thinking offset where the watched paragraph starts */
    int watched;                 /* tokens read since */
    int left;                    /* large: tokens still to write; 0 = small model active */
    size_t large_from;           /* thinking offset where the large span started */
    bool extended;
    int32_t *check; int n_check, forced;   /* recap prompt forced through the large model */
    pd_spec_event *log; int n_log_max, *n_log;
} spec_t;

static void note(spec_t *c, int pos, int model) {
    if (c->log && c->n_log && *c->n_log < c->n_log_max) c->log[(*c->n_log)++] = (pd_spec_event){pos, model};
}

static void sp_logits(void *ctx, const pd_seq_state *s, float *logits) {
    spec_t *c = ctx;
    if (c->forced >= c->n_check || s->model != c->p.large) return;
    for (int v = 0; v < s->n_vocab; v++)
        if (v != c->check[c->forced]) logits[v] = -INFINITY;
    c->forced++;
}

static void hand(spec_t *c, const pd_seq_state *s, pd_action *a, int model, int tokens) {
    a->kind = PD_ACT_HANDOVER;
    a->model = model;
    c->left = tokens;
    c->large_from = s->thinking_len;
    c->extended = false;
    note(c, s->n_tokens, model);
}

static void sp_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    spec_t *c = ctx;
    if (c->left > 0) {   /* the large model is writing */
        if (--c->left > 0 && s->phase == PD_PHASE_THINKING) return;
        if (s->phase == PD_PHASE_THINKING && !c->extended &&
            pd_spec_has_verify(s->thinking + c->large_from, s->thinking_len - c->large_from)) {
            c->left = c->recap;
            c->extended = true;
            return;
        }
        c->left = 0;
        c->watching = false;
        a->kind = PD_ACT_HANDOVER;
        a->model = 0;
        note(c, s->n_tokens, 0);
        return;
    }
    if (s->phase != PD_PHASE_THINKING) return;
    if (s->boundary & PD_BOUNDARY_PARAGRAPH) {
        if (c->neg >= c->neg_limit) {   /* too many doubts: the large model checks and recaps */
            c->neg = 0;
            c->forced = 0;   /* the check prompt goes first, then the recap */
            hand(c, s, a, c->p.large, c->n_check + c->recap);
            pd_spec_after_recap(&c->recap, &c->neg_limit);
            return;
        }
        c->watching = true;
        c->par_start = s->thinking_len;
        c->watched = 0;
        return;
    }
    if (!c->watching) return;
    c->watched++;
    const char *t = s->thinking + c->par_start;
    size_t n = s->thinking_len - c->par_start;
    if (c->watched < c->p.probe && !memchr(t, '\n', n)) return;
    c->watching = false;
    int sent = pd_spec_sentiment(t, n);
    if (sent == 0) return;
    if (sent < 0) c->neg++;
    hand(c, s, a, c->p.large, c->p.target);
}

static void sp_release(void *ctx) {
    spec_t *c = ctx;
    free(c->check);
    free(c);
}

pd_status pd_spec_policy(const pd_tokenizer *tok, const pd_spec_params *p, pd_spec_event *log, int n_log_max, int *n_log,
                         pd_policy *out) {
    if (!tok || !p || !out) return pd_fail(PD_ERR_ARG, "spec-think: NULL tokenizer, params or output");
    if (p->large < 1 || p->probe < 1 || p->target < 1 || p->recap < 1 || p->neg_limit < 1)
        return pd_fail(PD_ERR_ARG, "spec-think: large model %d must be >= 1; probe %d, target %d, recap %d, neg_limit %d >= 1",
                       p->large, p->probe, p->target, p->recap, p->neg_limit);
    spec_t *c = pd_calloc(1, sizeof *c);
    if (!c) return PD_ERR_NOMEM;
    c->p = *p;
    c->recap = p->recap;
    c->neg_limit = p->neg_limit;
    c->log = log;
    c->n_log_max = n_log_max;
    c->n_log = n_log;
    if (n_log) *n_log = 0;
    pd_status st = pd_reason_tokens(tok, "Let me check whether there are some wrong steps:", &c->check, &c->n_check);
    if (st != PD_OK) { free(c); return st; }
    c->forced = c->n_check;   /* nothing to force until a recap */
    *out = (pd_policy){.name = "spec-think", .ctx = c, .on_logits = sp_logits, .on_token = sp_token, .release = sp_release};
    return PD_OK;
}
