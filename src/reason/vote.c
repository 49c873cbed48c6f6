/* reason/vote.c — answer voting (pure tally, ponder/vote.h) and the self-consistency driver: prefill
 * once, fork n samples, collect answers as samples finish, stop early when the vote is decided. */
#include "ponder/vote.h"
#include "ponder/alloc.h"
#include "ponder/reason.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pd_vote_mode_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "majority")) return PD_VOTE_MAJORITY;
    if (!strcmp(s, "logprob")) return PD_VOTE_LOGPROB;
    if (!strcmp(s, "verifier")) return PD_VOTE_VERIFIER;
    return -1;
}
const char *pd_vote_mode_name(pd_vote_mode m) {
    return m == PD_VOTE_LOGPROB ? "logprob" : m == PD_VOTE_VERIFIER ? "verifier" : "majority";
}

double pd_vote_weight(const pd_vote_item *it, pd_vote_mode mode) {
    double w = 1.0;
    if (mode == PD_VOTE_LOGPROB) w = isfinite(it->mean_logprob) ? exp(it->mean_logprob) : 0.0;
    else if (mode == PD_VOTE_VERIFIER) w = isfinite(it->score) ? it->score : 0.0;
    return w < 0 ? 0 : w > 1 ? 1 : w;
}

static bool same(pd_vote_equiv_fn eq, const char *a, const char *b) { return eq ? eq(a, b) : !strcmp(a, b); }

int pd_vote_count(const pd_vote_item *items, int n, pd_vote_mode mode, pd_vote_equiv_fn equiv, pd_vote_tally *out) {
    *out = (pd_vote_tally){.winner = -1};
    int *group = pd_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));   /* group id = index of its first item */
    if (!group) return -1;
    for (int i = 0; i < n; i++) {
        group[i] = -1;
        if (!items[i].answer) continue;
        group[i] = i;
        for (int j = 0; j < i; j++)
            if (group[j] == j && same(equiv, items[j].answer, items[i].answer)) { group[i] = j; break; }
    }
    double best_w = -1, best_lp = -INFINITY, second = 0;
    int best = -1;
    for (int g = 0; g < n; g++) {
        if (group[g] != g) continue;
        out->n_groups++;
        double w = 0, lp = 0;
        int c = 0, clp = 0;
        for (int i = g; i < n; i++) {
            if (group[i] != g) continue;
            w += pd_vote_weight(&items[i], mode);
            c++;
            if (isfinite(items[i].mean_logprob)) { lp += items[i].mean_logprob; clp++; }
        }
        lp = clp ? lp / clp : -INFINITY;
        bool better = best < 0 || w > best_w + 1e-12 || (fabs(w - best_w) <= 1e-12 && lp > best_lp);
        if (better) {
            if (best >= 0) second = best_w;
            best = g; best_w = w; best_lp = lp; out->top_count = c;
        } else if (w > second) {
            second = w;
        }
    }
    free(group);
    out->winner = best;
    out->top = best < 0 ? 0 : best_w;
    out->second = second;
    return best;
}

bool pd_vote_decided(const pd_vote_tally *t, int remaining) {
    return t->winner >= 0 && t->top - t->second > (double)remaining + 1e-9;
}

void pd_vote_result_free(pd_vote_result *r) {
    if (!r) return;
    free(r->answer);
    r->answer = NULL;
}

typedef struct { int seq; bool done; char *answer; int request; bool counted; } sample_t;

/* verifier-model judgements in flight (the hub's asks) */
typedef struct { sample_t *sm; pd_vote_item *items; int n, pending; int32_t yes, no; } judge_t;

static void judged(void *owner, int request, const pd_gen_result *r, float yes_minus_no) {
    (void)r;
    judge_t *j = owner;
    for (int i = 0; i < j->n; i++) {
        if (j->sm[i].counted || j->sm[i].request != request) continue;
        j->items[i].score = 1.0 / (1.0 + exp(-(double)yes_minus_no));
        j->sm[i].counted = true;
        j->pending--;
        return;
    }
}

static pd_status judge_post(const pd_vote_params *p, judge_t *j, int i) {
    pd_buf b = {0};
    if (pd_buf_printf(&b, "Question: %s\nProposed answer: %s\nIs the proposed answer correct? Answer Yes or No.\nAnswer:",
                      p->question ? p->question : "", j->sm[i].answer))
        return PD_ERR_NOMEM;
    int32_t *ids = NULL;
    int n = 0;
    pd_status st = pd_reason_tokens(p->tok, b.data, &ids, &n);
    pd_buf_free(&b);
    if (st != PD_OK) return st;
    j->sm[i].request = pd_reason_hub_ask(p->hub, j, p->verifier_model, ids, n, j->yes, j->no, judged);
    free(ids);
    if (j->sm[i].request < 0) return pd_fail(PD_ERR_NOMEM, "vote: posting the verifier's judgement of sample %d", i);
    j->pending++;
    return PD_OK;
}

static pd_status yes_no(const pd_tokenizer *tok, int32_t *yes, int32_t *no) {
    int32_t *y = NULL, *n = NULL;
    int ny = 0, nn = 0;
    pd_status st = tok ? pd_reason_tokens(tok, " Yes", &y, &ny) : pd_fail(PD_ERR_ARG, "vote: a verifier model needs the tokenizer");
    if (st == PD_OK) st = pd_reason_tokens(tok, " No", &n, &nn);
    if (st == PD_OK && (ny < 1 || nn < 1)) st = pd_fail(PD_ERR_ARG, "vote: cannot tokenise ' Yes' / ' No'");
    if (st == PD_OK) { *yes = y[0]; *no = n[0]; }
    free(y);
    free(n);
    return st;
}

static double mean_logprob(const pd_gen_result *r) {
    double s = 0;
    int c = 0;
    for (int i = 0; r->logprobs && i < r->n_tokens - r->n_prompt; i++)
        if (isfinite(r->logprobs[i])) { s += r->logprobs[i]; c++; }
    return c ? s / c : NAN;
}

static pd_status check_params(pd_gen *g, const pd_vote_params *p, int slots) {
    if (!g || !p || p->n < 1 || !p->seq_params || !p->extract || (p->mode == PD_VOTE_VERIFIER && !p->score && !p->hub))
        return pd_fail(PD_ERR_ARG, "vote: bad parameters (n %d, seq_params, extract, score for verifier mode)", p ? p->n : 0);
    if (pd_gen_n_free(g) < slots)
        return pd_fail(PD_ERR_STATE, "vote: needs %d free sequence slots, the gen has %d", slots, pd_gen_n_free(g));
    return PD_OK;
}

pd_status pd_vote_run(pd_gen *g, const int32_t *prompt, int n_prompt, const pd_vote_params *p, pd_vote_result *out) {
    memset(out, 0, sizeof *out);
    out->seq = out->winner_sample = -1;
    PD_TRY(check_params(g, p, p ? p->n + 1 : 0));
    /* a bare source: prefilled once, forked n ways, then removed */
    pd_seq_params bare = pd_seq_defaults();
    int src = pd_gen_add(g, prompt, n_prompt, &bare);
    if (src < 0) return pd_fail_ctx(PD_ERR_STATE, "vote: adding the prompt");
    pd_status st = pd_gen_prefill(g, src);
    if (st != PD_OK) { pd_gen_remove(g, src); return st; }
    return pd_vote_fork(g, src, p, out);
}

pd_status pd_vote_fork(pd_gen *g, int src, const pd_vote_params *p, pd_vote_result *out) {
    memset(out, 0, sizeof *out);
    out->seq = out->winner_sample = -1;
    pd_status st = check_params(g, p, p ? p->n : 0);
    if (st != PD_OK) { if (g) pd_gen_remove(g, src); return st; }
    sample_t *sm = pd_calloc((size_t)p->n, sizeof *sm);
    pd_vote_item *items = pd_calloc((size_t)p->n, sizeof *items);
    if (!sm || !items) { free(sm); free(items); pd_gen_remove(g, src); return PD_ERR_NOMEM; }
    for (int i = 0; i < p->n; i++) sm[i].seq = sm[i].request = -1;
    for (int i = 0; st == PD_OK && i < p->n; i++) {
        pd_seq_params sp = pd_seq_defaults();
        pd_policy pol;
        bool has = false;
        if (!p->seq_params(p->ctx, i, &sp, &pol, &has)) { st = pd_fail_ctx(PD_ERR_ARG, "vote: sample %d parameters", i); break; }
        sp.logprobs = true;
        if (has) { sp.policies = &pol; sp.n_policies = 1; }
        sm[i].seq = pd_gen_fork(g, src, &sp);
        if (sm[i].seq < 0) {
            if (has && pol.release) pol.release(pol.ctx);
            st = pd_fail_ctx(PD_ERR_STATE, "vote: forking sample %d", i);
        }
        out->n_samples++;
    }
    pd_gen_remove(g, src);
    int n_done = 0, stopped = 0, n_counted = 0;
    pd_vote_tally t = {.winner = -1};
    bool model_judge = p->mode == PD_VOTE_VERIFIER && p->hub;
    judge_t jg = {.sm = sm, .items = items, .n = p->n};
    pd_vote_item *view = pd_calloc((size_t)p->n, sizeof *view);   /* the samples that vote so far */
    if (!view) st = PD_ERR_NOMEM;
    if (st == PD_OK && model_judge) st = yes_no(p->tok, &jg.yes, &jg.no);
    while (st == PD_OK && (n_done + stopped < p->n || jg.pending > 0)) {
        st = p->step ? p->step(p->ctx, g) : model_judge ? pd_reason_hub_step(p->hub, g) : pd_gen_step(g);
        if (st != PD_OK) break;
        for (int i = 0; i < p->n; i++) {
            if (sm[i].done || sm[i].seq < 0 || !pd_gen_done(g, sm[i].seq)) continue;
            const pd_gen_result *r = pd_gen_get_result(g, sm[i].seq);
            sm[i].done = true;
            n_done++;
            if (r->finish == PD_FINISH_ERROR) { st = pd_fail(PD_ERR_STATE, "vote: sample %d: %s", i, r->error); break; }
            sm[i].answer = p->extract(p->ctx, r->answer, r->answer_len);
            items[i].answer = sm[i].answer;
            items[i].mean_logprob = mean_logprob(r);
            items[i].score = p->mode == PD_VOTE_VERIFIER && !model_judge ? p->score(p->ctx, r, sm[i].answer) : NAN;
            if (model_judge && sm[i].answer) st = judge_post(p, &jg, i);   /* votes when judged */
            else sm[i].counted = true;
            if (st != PD_OK) break;
        }
        if (st != PD_OK) break;
        int c = 0;
        for (int i = 0; i < p->n; i++) {
            c += sm[i].counted;
            view[i] = sm[i].counted ? items[i] : (pd_vote_item){NULL, NAN, NAN};
        }
        if (c == n_counted) continue;
        n_counted = c;
        /* only finished (and judged) samples vote */
        if (pd_vote_count(view, p->n, p->mode, p->equiv, &t) < -1) { st = PD_ERR_NOMEM; break; }
        if (p->adaptive && pd_vote_decided(&t, p->n - n_counted - stopped)) {
            if (model_judge) {   /* judgements still out cannot change the winner either */
                pd_reason_hub_cancel(p->hub, &jg);
                jg.pending = 0;
            }
            for (int i = 0; i < p->n; i++) {
                if (sm[i].done || sm[i].seq < 0) continue;
                const pd_gen_result *r = pd_gen_get_result(g, sm[i].seq);
                out->thinking_tokens += r->n_thinking;
                out->answer_tokens += r->n_answer;
                pd_gen_remove(g, sm[i].seq);
                sm[i].seq = -1;
                stopped++;
            }
        }
    }
    if (model_judge) pd_reason_hub_cancel(p->hub, &jg);
    if (st == PD_OK) {
        for (int i = 0; i < p->n; i++) view[i] = sm[i].counted ? items[i] : (pd_vote_item){NULL, NAN, NAN};
        pd_vote_count(view, p->n, p->mode, p->equiv, &t);
        out->winner_sample = t.winner;
        out->votes = t.top_count;
        out->top = t.top;
        out->second = t.second;
        out->n_finished = n_done;
        out->n_stopped = stopped;
        if (t.winner >= 0) out->answer = pd_strdup(sm[t.winner].answer);
        /* no answer anywhere: keep the first finished sample so the caller still has a reply */
        int keep = t.winner;
        for (int i = 0; keep < 0 && i < p->n; i++)
            if (sm[i].done) keep = i;
        for (int i = 0; i < p->n; i++) {
            if (sm[i].seq < 0) continue;
            const pd_gen_result *r = pd_gen_get_result(g, sm[i].seq);
            out->thinking_tokens += r->n_thinking;
            out->answer_tokens += r->n_answer;
            if (i == keep) out->seq = sm[i].seq;
            else pd_gen_remove(g, sm[i].seq);
        }
    } else {
        for (int i = 0; i < p->n; i++)
            if (sm[i].seq >= 0) pd_gen_remove(g, sm[i].seq);
    }
    for (int i = 0; i < p->n; i++) free(sm[i].answer);
    free(sm);
    free(items);
    free(view);
    return st;
}
