/* reason/s1.c — s1 budget forcing (ponder/s1.h). The extension and forced-end texts are tokenised
 * once when the policy is made; per token it compares counters. Suppression uses the generic
 * PD_ACT_REPLACE (take the sampled closer back, inject "Wait"), so the model really chose to stop
 * before it is told to go on, as in the harness where the closer is a stop token. */
#include "ponder/s1.h"
#include "ponder/alloc.h"
#include "ponder/reason.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    pd_s1_params p;
    int32_t open, close;
    int32_t *ext; int n_ext;
    int32_t *end_nl; int n_end_nl;   /* "\n</think>" + tail */
    int32_t *end; int n_end;         /* "</think>" + tail */
    int waits;                       /* closers taken back so far */
    bool forced;
} s1_t;

pd_s1_params pd_s1_defaults(void) { return (pd_s1_params){.wait = 1, .min = 0, .max = -1, .ext = "Wait", .tail = "\n\n"}; }

static void s1_logits(void *ctx, const pd_seq_state *s, float *logits) {
    s1_t *b = ctx;
    if (b->forced && s->phase == PD_PHASE_ANSWER) logits[b->open] = -INFINITY;
}

static void s1_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    s1_t *b = ctx;
    if (b->forced) return;
    if ((s->boundary & PD_BOUNDARY_THINK_END) && (b->waits < b->p.wait || s->n_thinking - 1 < b->p.min) &&
        (b->p.max < 0 || s->n_thinking - 1 + b->n_ext < b->p.max)) {
        b->waits++;
        a->kind = PD_ACT_REPLACE;
        a->tokens = b->ext;
        a->n_tokens = b->n_ext;
        return;
    }
    if (s->phase == PD_PHASE_THINKING && b->p.max >= 0 && s->n_thinking >= b->p.max) {
        bool nl = s->thinking_len && s->thinking[s->thinking_len - 1] == '\n';
        a->kind = PD_ACT_INJECT;
        a->tokens = nl ? b->end : b->end_nl;
        a->n_tokens = nl ? b->n_end : b->n_end_nl;
        b->forced = true;
    }
}

static void s1_release(void *ctx) {
    s1_t *b = ctx;
    free(b->ext); free(b->end_nl); free(b->end);
    free(b);
}

pd_status pd_s1_policy(const pd_tokenizer *tok, const pd_s1_params *p, pd_policy *out) {
    if (!p || !out) return pd_fail(PD_ERR_ARG, "s1: NULL params or output");
    if (p->wait < 0 || p->min < 0 || p->max < -1)
        return pd_fail(PD_ERR_ARG, "s1: wait %d / min %d must be >= 0, max %d >= -1", p->wait, p->min, p->max);
    if (!p->ext || !p->ext[0]) return pd_fail(PD_ERR_ARG, "s1: the extension text is empty");
    s1_t *b = pd_calloc(1, sizeof *b);
    if (!b) return PD_ERR_NOMEM;
    b->p = *p;
    b->open = b->close = -1;
    if (tok) {
        b->open = pd_tok_find(tok, "<think>");
        b->close = pd_tok_find(tok, "</think>");
    }
    *out = (pd_policy){.name = "s1", .ctx = b, .release = s1_release};
    if (b->open < 0 || b->close < 0) return PD_OK;   /* no thinking: nothing to control */
    const char *tail = p->tail ? p->tail : "";
    size_t tl = strlen(tail);
    char *t = pd_malloc(tl + 16);
    if (!t) { s1_release(b); return PD_ERR_NOMEM; }
    pd_status st = pd_reason_tokens(tok, p->ext, &b->ext, &b->n_ext);
    snprintf(t, tl + 16, "\n</think>%s", tail);
    if (st == PD_OK) st = pd_reason_tokens(tok, t, &b->end_nl, &b->n_end_nl);
    if (st == PD_OK) st = pd_reason_tokens(tok, t + 1, &b->end, &b->n_end);
    free(t);
    if (st != PD_OK) { s1_release(b); return pd_fail_ctx(st, "s1: tokenising its texts"); }
    b->p.ext = b->p.tail = NULL;
    out->on_logits = s1_logits;
    out->on_token = s1_token;
    return PD_OK;
}
