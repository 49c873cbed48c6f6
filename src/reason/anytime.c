/* reason/anytime.c — anytime reasoning with several short answers at the cut (ponder/anytime.h):
 * one thinking sequence under the budget policy, a watcher that stops it right after a cut (the
 * first token sampled after an injected closer), then votes short answers forked at the cut through
 * vote.c (pd_vote_fork: the same forking, tally and adaptive stop as `vote`). */
#include "ponder/anytime.h"
#include "ponder/alloc.h"
#include "ponder/budget.h"
#include "ponder/reason.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t close;
    bool was_thinking, self_closed, cut;
    int cut_at;   /* tokens of the sequence through the injected closer text */
} watch_t;

static void w_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    watch_t *w = ctx;
    if (w->cut || w->self_closed) return;
    if (s->token == w->close) { w->self_closed = true; return; }   /* the model closed its thinking itself */
    if (s->phase == PD_PHASE_ANSWER && w->was_thinking) {
        /* thinking ended without a sampled closer: the budget injected it; drop this token */
        w->cut = true;
        w->cut_at = s->n_tokens - 1;
        a->kind = PD_ACT_STOP;
        return;
    }
    w->was_thinking = s->phase == PD_PHASE_THINKING;
}
static void w_release(void *ctx) { free(ctx); }

typedef struct { const pd_anytime_params *p; const pd_tokenizer *tok; } actx;

/* The caller's parameters for `sample`, with the budget policy chained after its policy (and the
 * watcher after both when w is given). */
static bool seq_with_budget(const actx *c, int sample, watch_t *w, pd_seq_params *sp, pd_policy *pol) {
    pd_policy list[3];
    int n = 0;
    bool has = false;
    if (!c->p->seq_params(c->p->ctx, sample, sp, &list[0], &has)) { if (w) w_release(w); return false; }
    if (has) n++;
    pd_budget_params bp = pd_budget_defaults();
    bp.think_budget = c->p->think;
    bp.answer_budget = c->p->answer;
    if (pd_budget_policy(c->tok, &bp, &list[n]) != PD_OK) {
        if (has && list[0].release) list[0].release(list[0].ctx);
        if (w) w_release(w);
        return false;
    }
    n++;
    if (w) list[n++] = (pd_policy){.name = "anytime-cut", .ctx = w, .on_token = w_token, .release = w_release};
    if (pd_reason_chain(list, n, pol) != PD_OK) return false;
    sp->policies = NULL;
    sp->n_policies = 0;
    return true;
}

static bool sample_params(void *ctx, int i, pd_seq_params *sp, pd_policy *pol, bool *has) {
    *has = seq_with_budget(ctx, i, NULL, sp, pol);
    return *has;
}
static char *fwd_extract(void *ctx, const char *a, size_t n) {
    const actx *c = ctx;
    return c->p->extract(c->p->ctx, a, n);
}
static double fwd_score(void *ctx, const pd_gen_result *r, const char *a) {
    const actx *c = ctx;
    return c->p->score(c->p->ctx, r, a);
}
static pd_status fwd_step(void *ctx, pd_gen *g) {
    const actx *c = ctx;
    return c->p->step ? c->p->step(c->p->ctx, g) : pd_gen_step(g);
}

pd_status pd_anytime_run(pd_gen *g, const int32_t *prompt, int n_prompt, const pd_anytime_params *p, pd_vote_result *out,
                         bool *cut) {
    memset(out, 0, sizeof *out);
    out->seq = out->winner_sample = -1;
    *cut = false;
    if (!g || !p || p->votes < 1 || p->think < 0 || !p->seq_params || !p->extract)
        return pd_fail(PD_ERR_ARG, "anytime: bad parameters (votes %d, think %d)", p ? p->votes : 0, p ? p->think : 0);
    if (pd_gen_n_free(g) < p->votes + 1)
        return pd_fail(PD_ERR_STATE, "anytime: needs %d free sequence slots, the gen has %d", p->votes + 1, pd_gen_n_free(g));
    const pd_model *m = pd_gen_model(g, 0);
    actx c = {p, m ? m->tok : NULL};
    watch_t *w = pd_calloc(1, sizeof *w);   /* released with the thinking sequence's chain */
    if (!w) return PD_ERR_NOMEM;
    w->close = c.tok ? pd_tok_find(c.tok, "</think>") : -1;
    pd_seq_params sp = pd_seq_defaults();
    pd_policy pol;
    if (!seq_with_budget(&c, -1, w, &sp, &pol)) return pd_fail_ctx(PD_ERR_ARG, "anytime: thinking sequence parameters");
    sp.policies = &pol;
    sp.n_policies = 1;
    int seq = pd_gen_add(g, prompt, n_prompt, &sp);
    if (seq < 0) {
        if (pol.release) pol.release(pol.ctx);
        return pd_fail_ctx(PD_ERR_STATE, "anytime: adding the prompt");
    }
    pd_status st = PD_OK;
    while (st == PD_OK && !pd_gen_done(g, seq)) st = fwd_step(&c, g);
    const pd_gen_result *r = pd_gen_get_result(g, seq);
    if (st == PD_OK && r->finish == PD_FINISH_ERROR) st = pd_fail(PD_ERR_STATE, "anytime: %s", r->error);
    if (st != PD_OK) { pd_gen_remove(g, seq); return st; }
    long thinking = r->n_thinking;
    if (!w->cut) {   /* closed by the model itself (or never thinking): its own answer stands */
        out->seq = seq;
        out->thinking_tokens = thinking;
        out->answer_tokens = r->n_answer;
        return PD_OK;
    }
    *cut = true;
    /* back to the cut, then the short answers are forked from there (pd_vote_fork removes seq) */
    st = pd_gen_rewind(g, seq, w->cut_at);
    if (st == PD_OK) st = pd_gen_prefill(g, seq);
    if (st != PD_OK) { pd_gen_remove(g, seq); return st; }
    pd_vote_params vp = {.n = p->votes, .mode = p->mode, .adaptive = false, .seq_params = sample_params,
                         .extract = fwd_extract, .equiv = p->equiv, .score = p->score ? fwd_score : NULL,
                         .step = fwd_step, .ctx = &c};
    st = pd_vote_fork(g, seq, &vp, out);
    out->thinking_tokens = thinking;   /* shared by every fork: counted once */
    return st;
}
