/* reason/plan.c — plan-first interleaving (ponder/plan.h): a small state machine over the token
 * stream that closes each thinking block at its budget, opens the plan with its header, ends
 * visible blocks at their first blank line (or budget) and re-opens thinking, and logs where and
 * when each block starts. Texts are tokenised once when the policy is made. */
#include "ponder/plan.h"
#include "ponder/alloc.h"
#include "ponder/timer.h"
#include <stdlib.h>
#include <string.h>

typedef enum { ST_THINK, ST_VISIBLE, ST_LAST, ST_OFF } stage_t;

typedef struct {
    pd_plan_params p;
    int32_t *close_plan; int n_close_plan, n_close;   /* "\n</think>" + "\n\n" + header; n_close: the first part */
    int32_t *close_seg; int n_close_seg;              /* "\n</think>" + "\n\n" */
    int32_t *after_plan; int n_after_plan, n_nl;      /* "\n\n" + header (after the model's own closer); n_nl: "\n\n" */
    int32_t *after_seg; int n_after_seg;              /* "\n\n" */
    int32_t *reopen; int n_reopen;                    /* "<think>\n" */
    int32_t *end_reopen; int n_end_reopen, n_end;     /* "\n\n" + "<think>\n"; n_end: the first part */
    stage_t stage;
    int count;          /* sampled tokens of the current block */
    int visible;        /* visible blocks started (1 = the plan) */
    double t0;
    pd_plan_event *log;
    int n_log_max, *n_log;
} plan_t;

pd_plan_params pd_plan_defaults(void) {
    return (pd_plan_params){.think = 256, .plan = 128, .segments = 1, .segment = 256, .header = "Plan:\n"};
}

static void event(plan_t *c, pd_plan_event_kind k, int pos) {
    if (!c->log || !c->n_log || *c->n_log >= c->n_log_max) return;
    c->log[(*c->n_log)++] = (pd_plan_event){k, pos, pd_time_now() - c->t0};
}

static void inject(pd_action *a, const int32_t *t, int n) {
    a->kind = PD_ACT_INJECT;
    a->tokens = t;
    a->n_tokens = n;
}

/* a visible block starts at token `pos`: the plan, a segment, or the last segment */
static void start_visible(plan_t *c, int pos) {
    c->visible++;
    event(c, c->visible == 1 ? PD_PLAN_PLAN : PD_PLAN_SEGMENT, pos);
    c->stage = c->visible > c->p.segments ? ST_LAST : ST_VISIBLE;
    c->count = 0;
}

static void pl_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    plan_t *c = ctx;
    c->t0 = pd_time_now();
    if (s->think_open < 0 || s->think_close < 0 || !c->reopen) { c->stage = ST_OFF; return; }
    if (s->phase == PD_PHASE_THINKING) {
        c->stage = ST_THINK;
        event(c, PD_PLAN_THINK, s->n_tokens);
        return;
    }
    start_visible(c, s->n_tokens);   /* no thinking to start with: the plan comes first, with its header */
    if (c->n_after_plan > c->n_nl) inject(a, c->after_plan + c->n_nl, c->n_after_plan - c->n_nl);
}

static void pl_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    plan_t *c = ctx;
    const int n = s->n_tokens;
    switch (c->stage) {
    case ST_THINK:
        if (s->boundary & PD_BOUNDARY_THINK_END) {   /* the model closed the block itself */
            bool plan = c->visible == 0;
            start_visible(c, n);
            if (plan) inject(a, c->after_plan, c->n_after_plan);
            else inject(a, c->after_seg, c->n_after_seg);
        } else if (c->p.think > 0 && ++c->count >= c->p.think) {
            bool plan = c->visible == 0;
            start_visible(c, n + c->n_close);
            if (plan) inject(a, c->close_plan, c->n_close_plan);
            else inject(a, c->close_seg, c->n_close_seg);
        }
        break;
    case ST_VISIBLE:
        if (s->boundary & PD_BOUNDARY_THINK_START) {   /* the model opened thinking itself */
            event(c, PD_PLAN_END_OF_BLOCK, n - 1);
            event(c, PD_PLAN_THINK, n - 1);
            c->stage = ST_THINK;
            c->count = 0;
        } else if (s->boundary & PD_BOUNDARY_PARAGRAPH) {
            event(c, PD_PLAN_END_OF_BLOCK, n);
            event(c, PD_PLAN_THINK, n);
            c->stage = ST_THINK;
            c->count = 0;
            inject(a, c->reopen, c->n_reopen);
        } else if (++c->count >= (c->visible == 1 ? c->p.plan : c->p.segment)) {
            event(c, PD_PLAN_END_OF_BLOCK, n + c->n_end);
            event(c, PD_PLAN_THINK, n + c->n_end);
            c->stage = ST_THINK;
            c->count = 0;
            inject(a, c->end_reopen, c->n_end_reopen);
        }
        break;
    case ST_LAST:
    case ST_OFF:
        break;
    }
}

static void pl_release(void *ctx) {
    plan_t *c = ctx;
    free(c->close_plan); free(c->close_seg); free(c->after_plan); free(c->after_seg); free(c->reopen); free(c->end_reopen);
    free(c);
}

/* tokens of a + b (n_a: how many come from a) */
static pd_status two(const pd_tokenizer *tok, const char *a, const char *b, int32_t **ids, int *n, int *n_a) {
    int32_t *x = NULL, *y = NULL;
    int nx = 0, ny = 0;
    pd_status st = pd_reason_tokens(tok, a, &x, &nx);
    if (st == PD_OK && *b) st = pd_reason_tokens(tok, b, &y, &ny);
    int32_t *o = st == PD_OK ? pd_malloc((size_t)(nx + ny + 1) * sizeof *o) : NULL;
    if (st == PD_OK && !o) st = PD_ERR_NOMEM;
    if (st == PD_OK) {
        if (nx) memcpy(o, x, (size_t)nx * sizeof *o);
        if (ny) memcpy(o + nx, y, (size_t)ny * sizeof *o);
        *ids = o;
        *n = nx + ny;
        if (n_a) *n_a = nx;
    }
    free(x);
    free(y);
    return st;
}

pd_status pd_plan_policy(const pd_tokenizer *tok, const pd_plan_params *p, pd_plan_event *log, int n_log_max, int *n_log,
                         pd_policy *out) {
    if (!p || !out) return pd_fail(PD_ERR_ARG, "plan-first: NULL params or output");
    if (p->think < 0 || p->plan < 1 || p->segments < 1 || p->segment < 1)
        return pd_fail(PD_ERR_ARG, "plan-first: think %d >= 0, plan %d, segments %d, segment %d >= 1", p->think, p->plan,
                       p->segments, p->segment);
    plan_t *c = pd_calloc(1, sizeof *c);
    if (!c) return PD_ERR_NOMEM;
    c->p = *p;
    c->log = log;
    c->n_log_max = n_log_max;
    c->n_log = n_log;
    if (n_log) *n_log = 0;
    *out = (pd_policy){.name = "plan-first", .ctx = c, .on_start = pl_start, .on_token = pl_token, .release = pl_release};
    if (!tok || pd_tok_find(tok, "<think>") < 0 || pd_tok_find(tok, "</think>") < 0) {
        c->stage = ST_OFF;   /* no thinking markers: nothing to interleave */
        return PD_OK;
    }
    const char *h = p->header ? p->header : "";
    size_t hl = strlen(h);
    char *nh = pd_malloc(hl + 3);
    if (!nh) { pl_release(c); return PD_ERR_NOMEM; }
    memcpy(nh, "\n\n", 2);
    memcpy(nh + 2, h, hl + 1);
    int dummy;
    pd_status st = two(tok, "\n</think>", nh, &c->close_plan, &c->n_close_plan, &c->n_close);
    if (st == PD_OK) st = two(tok, "\n</think>", "\n\n", &c->close_seg, &c->n_close_seg, &dummy);
    if (st == PD_OK) st = two(tok, "\n\n", h, &c->after_plan, &c->n_after_plan, &c->n_nl);
    if (st == PD_OK) st = two(tok, "\n\n", "", &c->after_seg, &c->n_after_seg, &dummy);
    if (st == PD_OK) st = two(tok, "<think>\n", "", &c->reopen, &c->n_reopen, &dummy);
    if (st == PD_OK) st = two(tok, "\n\n", "<think>\n", &c->end_reopen, &c->n_end_reopen, &c->n_end);
    free(nh);
    c->p.header = NULL;
    if (st != PD_OK) { pl_release(c); return pd_fail_ctx(st, "plan-first: tokenising its texts"); }
    return PD_OK;
}

pd_status pd_plan_make(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out) {
    pd_plan_params p = pd_plan_defaults();
    p.think = pd_reason_int(s, "think");
    p.plan = pd_reason_int(s, "plan");
    p.segments = pd_reason_int(s, "segments");
    p.segment = pd_reason_int(s, "segment");
    p.header = pd_reason_str(s, "header");
    return pd_plan_policy(env->tok, &p, NULL, 0, NULL, out);
}
