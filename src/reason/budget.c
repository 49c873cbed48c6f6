/* reason/budget.c — thinking / answer budgets as a policy (see ponder/budget.h). Everything the
 * policy injects is tokenised once, when it is made; per token it only compares counters. */
#include "ponder/budget.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pd_budget_params p;
    int32_t open, close;
    int32_t *end_msg; size_t n_end_msg;   /* message + "\n</think>\n\n" */
    int32_t *end; size_t n_end;           /* "\n</think>\n\n" */
    bool closed_by_us;
} budget_t;

pd_budget_params pd_budget_defaults(void) { return (pd_budget_params){-1, -1, NULL}; }

static void b_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    budget_t *b = ctx;
    if (b->p.think_budget == 0 && b->open >= 0 && s->phase == PD_PHASE_THINKING) {
        a->kind = PD_ACT_INJECT;
        a->tokens = b->end;
        a->n_tokens = (int)b->n_end;
        b->closed_by_us = true;
    }
}

static void b_logits(void *ctx, const pd_seq_state *s, float *logits) {
    budget_t *b = ctx;
    if (b->open < 0) return;
    if (s->phase == PD_PHASE_ANSWER && (b->p.think_budget == 0 || b->closed_by_us)) logits[b->open] = -INFINITY;
}

static void b_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    budget_t *b = ctx;
    if (b->open >= 0 && b->p.think_budget >= 0 && s->phase == PD_PHASE_THINKING && s->n_thinking >= b->p.think_budget) {
        a->kind = PD_ACT_INJECT;
        a->tokens = b->end_msg;
        a->n_tokens = (int)b->n_end_msg;
        b->closed_by_us = true;
        return;
    }
    if (b->p.answer_budget >= 0 && s->phase == PD_PHASE_ANSWER && s->n_answer >= b->p.answer_budget) a->kind = PD_ACT_STOP;
}

static void b_release(void *ctx) {
    budget_t *b = ctx;
    free(b->end_msg);
    free(b->end);
    free(b);
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
        static const char tail[] = "\n</think>\n\n";
        const char *msg = p->message ? p->message : "";
        size_t ml = strlen(msg);
        char *text = pd_malloc(ml + sizeof tail);
        if (!text) { free(b); return PD_ERR_NOMEM; }
        memcpy(text, msg, ml);
        memcpy(text + ml, tail, sizeof tail);
        pd_status st = pd_tokenize(tok, text, strlen(text), false, true, &b->end_msg, &b->n_end_msg);
        if (st == PD_OK) st = pd_tokenize(tok, tail, sizeof tail - 1, false, true, &b->end, &b->n_end);
        free(text);
        if (st != PD_OK) { b_release(b); return pd_fail_ctx(st, "budget: tokenising the end-of-thinking text"); }
    }
    *out = (pd_policy){.name = "budget", .ctx = b, .on_start = b_start, .on_logits = b_logits, .on_token = b_token,
                       .release = b_release};
    return PD_OK;
}
