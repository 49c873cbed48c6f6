/* reason/budget.c — thinking / answer budgets as a policy (see ponder/budget.h). Everything the
 * policy injects is tokenised once, when it is made; per token it only compares counters and looks
 * at how the thinking text ends.
 *
 * The thinking budget N is a hard cap on the sequence's thinking tokens, the opener, an injected
 * message and the closer included. The closing texts, in order of preference:
 *   message: SEP + message + "\n</think>\n\n"  (SEP = "\n\n", "\n" or "" so that the message starts
 *            a paragraph of its own, as the families' templates separate reasoning paragraphs)
 *   newline: "\n</think>\n\n"  /  bare: "</think>\n\n"  (bare when the text already ends in "\n")
 * Each has a thinking cost (its tokens up to the closer; the "\n\n" after it is answer). While
 * thinking with t tokens spent, the best text that still fits (t + cost <= N) is the plan; when one
 * more sampled token would make the plan not fit, it is injected now. An opener is allowed only while
 * opener + bare closer still fit. */
#include "ponder/budget.h"
#include "ponder/alloc.h"
#include "ponder/gen.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { SEP_PARA, SEP_LINE, SEP_NONE, N_SEP };   /* what goes before the message */
enum { CL_NEWLINE, CL_BARE, N_CL };             /* closer with or without a newline before it */

typedef struct { int32_t *ids; int n, cost; } inj_t;   /* cost: thinking tokens (through the closer) */

typedef struct {
    pd_budget_params p;
    int32_t open, close;
    bool has_msg;
    inj_t msg[N_SEP];        /* message variants by separator */
    int msg_cost;            /* the largest of their costs: plans are made with it */
    inj_t cl[N_CL];
    bool closed_by_us;
} budget_t;

pd_budget_params pd_budget_defaults(void) { return (pd_budget_params){-1, -1, NULL}; }

static bool ends_with_nl(const pd_seq_state *s) { return s->thinking_len > 0 && s->thinking[s->thinking_len - 1] == '\n'; }

/* The closing text to inject now with t thinking tokens spent, or NULL if none fits (only when the
 * thinking started in the prompt and N is 0). */
static const inj_t *pick(const budget_t *b, const pd_seq_state *s, int t) {
    int N = b->p.think_budget;
    if (b->has_msg && t + b->msg_cost <= N) {
        size_t l = s->thinking_len;
        int sep = l == 0 ? SEP_LINE
                  : s->thinking[l - 1] != '\n' ? SEP_PARA
                  : (l >= 2 && s->thinking[l - 2] == '\n') ? SEP_NONE : SEP_LINE;
        return &b->msg[sep];
    }
    const inj_t *c = &b->cl[ends_with_nl(s) ? CL_BARE : CL_NEWLINE];
    if (t + c->cost <= N) return c;
    return t + b->cl[CL_BARE].cost <= N ? &b->cl[CL_BARE] : NULL;
}

/* Cost of the best plan available with t thinking tokens spent (the text is not known ahead, so
 * the plain closer is costed with its newline). */
static int plan_cost(const budget_t *b, int t) {
    int N = b->p.think_budget;
    if (b->has_msg && t + b->msg_cost <= N) return b->msg_cost;
    if (t + b->cl[CL_NEWLINE].cost <= N) return b->cl[CL_NEWLINE].cost;
    return b->cl[CL_BARE].cost;
}

/* In the thinking phase with the thinking budget on: close now if one more token breaks the plan. */
static void maybe_close(budget_t *b, const pd_seq_state *s, pd_action *a) {
    int t = s->n_thinking;
    if (t + 1 + plan_cost(b, t) <= b->p.think_budget) return;
    const inj_t *c = pick(b, s, t);
    if (!c) c = &b->cl[CL_BARE];   /* N = 0 with thinking opened by the prompt: the closer is the least */
    a->kind = PD_ACT_INJECT;
    a->tokens = c->ids;
    a->n_tokens = c->n;
    b->closed_by_us = true;
}

static void b_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    budget_t *b = ctx;
    if (b->open >= 0 && b->p.think_budget >= 0 && s->phase == PD_PHASE_THINKING) maybe_close(b, s, a);
}

static void b_logits(void *ctx, const pd_seq_state *s, float *logits) {
    budget_t *b = ctx;
    if (b->open < 0 || s->phase != PD_PHASE_ANSWER) return;
    /* a new thinking block needs room for its opener and a closer */
    bool no_room = b->p.think_budget >= 0 && s->n_thinking + 1 + b->cl[CL_BARE].cost > b->p.think_budget;
    if (no_room || b->closed_by_us) logits[b->open] = -INFINITY;
}

static void b_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    budget_t *b = ctx;
    if (b->open >= 0 && b->p.think_budget >= 0 && s->phase == PD_PHASE_THINKING) {
        maybe_close(b, s, a);
        if (a->kind != PD_ACT_CONTINUE) return;
    }
    if (b->p.answer_budget >= 0 && s->phase == PD_PHASE_ANSWER && s->n_answer >= b->p.answer_budget) a->kind = PD_ACT_STOP;
}

static void b_release(void *ctx) {
    budget_t *b = ctx;
    for (int i = 0; i < N_SEP; i++) free(b->msg[i].ids);
    for (int i = 0; i < N_CL; i++) free(b->cl[i].ids);
    free(b);
}

static pd_status make_inj(const pd_tokenizer *tok, int32_t close, const char *a, const char *c, inj_t *out) {
    size_t la = strlen(a), lc = strlen(c);
    char *text = pd_malloc(la + lc + 1);
    if (!text) return PD_ERR_NOMEM;
    memcpy(text, a, la);
    memcpy(text + la, c, lc + 1);
    size_t n = 0;
    pd_status st = pd_tokenize(tok, text, la + lc, false, true, &out->ids, &n);
    free(text);
    if (st != PD_OK) return st;
    out->n = (int)n;
    out->cost = -1;
    for (int i = 0; i < out->n && out->cost < 0; i++)
        if (out->ids[i] == close) out->cost = i + 1;
    if (out->cost < 0) return pd_fail(PD_ERR_STATE, "budget: '%s%s' does not tokenise to the closer token", a, c);
    return PD_OK;
}

pd_status pd_budget_policy(const pd_tokenizer *tok, const pd_budget_params *p, pd_policy *out) {
    if (!p || !out) return pd_fail(PD_ERR_ARG, "budget: NULL params or output");
    if (p->think_budget < -1 || p->answer_budget < -1)
        return pd_fail(PD_ERR_ARG, "budget: think budget %d / answer budget %d must be >= -1", p->think_budget, p->answer_budget);
    budget_t *b = pd_calloc(1, sizeof *b);
    if (!b) return PD_ERR_NOMEM;
    b->p = *p;
    b->p.message = NULL;
    b->open = b->close = -1;
    if (tok) {
        b->open = pd_tok_find(tok, "<think>");
        b->close = pd_tok_find(tok, "</think>");
        if (b->open < 0 || b->close < 0) b->open = b->close = -1;
    }
    if (b->open >= 0) {
        static const char *const seps[N_SEP] = {"\n\n", "\n", ""};
        pd_status st = make_inj(tok, b->close, "\n", "</think>\n\n", &b->cl[CL_NEWLINE]);
        if (st == PD_OK) st = make_inj(tok, b->close, "", "</think>\n\n", &b->cl[CL_BARE]);
        b->has_msg = p->message && p->message[0];
        for (int i = 0; b->has_msg && st == PD_OK && i < N_SEP; i++) {
            pd_buf t = {0};
            if (pd_buf_printf(&t, "%s%s\n", seps[i], p->message)) st = PD_ERR_NOMEM;
            else st = make_inj(tok, b->close, t.data, "</think>\n\n", &b->msg[i]);
            pd_buf_free(&t);
            if (st == PD_OK && b->msg[i].cost > b->msg_cost) b->msg_cost = b->msg[i].cost;
        }
        if (st != PD_OK) { b_release(b); return pd_fail_ctx(st, "budget: tokenising the end-of-thinking text"); }
    }
    *out = (pd_policy){.name = PD_POLICY_ANSWER_BUDGET, .ctx = b, .on_start = b_start, .on_logits = b_logits,
                       .on_token = b_token, .release = b_release};
    return PD_OK;
}
