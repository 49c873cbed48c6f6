/* train/rl_brpo.c — AnytimeReasoner's budget tree and BRPO's advantages (ponder/rl_brpo.h,
 * training.md §6): budgets and prior weights, where a trace is cut, the tree grown on a generator
 * (traces decoded in one batch; each distinct cut joins on its trace's KV, is prefilled once and
 * forked into its summaries), the thinking-segment and summary advantages with the BRPO / v2only /
 * v1only / none baselines, and the step's statistics. rl.c turns the tree's rows into its batch. */
#include "ponder/rl_brpo.h"
#include "ponder/alloc.h"
#include "ponder/gen.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const prior_names[] = {"uniform", "linear", "base"};
static const char *const bl_names[] = {"brpo", "v2only", "v1only", "none"};

const char *pd_brpo_prior_name(pd_brpo_prior p) { return (unsigned)p < 3 ? prior_names[p] : "?"; }
const char *pd_brpo_baseline_name(pd_brpo_baseline b) { return (unsigned)b < 4 ? bl_names[b] : "?"; }
int pd_brpo_prior_from_name(const char *s) {
    for (int i = 0; s && i < 3; i++) if (!strcmp(s, prior_names[i])) return i;
    return -1;
}
int pd_brpo_baseline_from_name(const char *s) {
    for (int i = 0; s && i < 4; i++) if (!strcmp(s, bl_names[i])) return i;
    return -1;
}

void pd_rl_brpo_defaults(pd_rl_brpo_cfg *c) {
    c->S = 4; c->A = 4; c->summary_tokens = 32;
    c->prior = PD_BRPO_UNIFORM; c->baseline = PD_BRPO_BL_BRPO;
}

pd_status pd_rl_brpo_check(const pd_rl_brpo_cfg *c, int max_tokens) {
    if (c->S < 1 || c->S > PD_BRPO_MAX_S)
        return pd_fail(PD_ERR_ARG, "rl: --brpo-budgets %d: expected 1..%d", c->S, PD_BRPO_MAX_S);
    if (c->S > max_tokens)
        return pd_fail(PD_ERR_ARG, "rl: --brpo-budgets %d exceeds --max-tokens %d (each budget needs a token)", c->S,
                       max_tokens);
    if (c->A < 2) return pd_fail(PD_ERR_ARG, "rl: --brpo-summaries %d: need at least 2 per cut (their mean is the "
                                             "summaries' baseline)", c->A);
    if (c->summary_tokens < 1 || c->summary_tokens > 4096)
        return pd_fail(PD_ERR_ARG, "rl: --brpo-summary-tokens %d: expected 1..4096", c->summary_tokens);
    if ((unsigned)c->prior > PD_BRPO_BASE || (unsigned)c->baseline > PD_BRPO_BL_NONE)
        return pd_fail(PD_ERR_ARG, "rl: unknown BRPO prior or baseline");
    return PD_OK;
}

void pd_brpo_budgets(pd_brpo_prior prior, int S, int L, int *b, double *p) {
    double tot = 0;
    for (int j = 0; j < S; j++) {
        int64_t v = (int64_t)(j + 1) * L / S;
        b[j] = v < 1 ? 1 : (int)v;
        tot += b[j];
    }
    for (int j = 0; j < S; j++)
        p[j] = prior == PD_BRPO_LINEAR ? b[j] / tot : prior == PD_BRPO_BASE ? (j == S - 1) : 1.0 / S;
}

int pd_brpo_cut(int n, bool closed, bool eog, int b, bool *insert) {
    if (closed && n <= b) { *insert = false; return n; }
    int usable = eog && n > 0 ? n - 1 : n;   /* an end-of-turn is not thinking */
    *insert = true;
    return usable < b ? usable : b;
}

int pd_brpo_segment(const int *b, int S, int k) {
    for (int s = 0; s < S; s++) if (k < b[s]) return s;
    return S - 1;
}

void pd_brpo_advantages(pd_brpo_baseline bl, int G, int S, int A, const double *p, const double *score,
                        double *adv_seg, double *adv_sum, double *rt_out, double *base_out) {
    double rbar[PD_BRPO_MAX_S], tail[PD_BRPO_MAX_S + 1], v2[PD_BRPO_MAX_S];
    tail[S] = 0;
    for (int j = S - 1; j >= 0; j--) tail[j] = tail[j + 1] + p[j];   /* Σ_{j'≥j} p_j' */
    for (int s = 0; s < S; s++) v2[s] = 0;
    /* Rt into adv_seg first (then the baselines are subtracted) */
    for (int g = 0; g < G; g++) {
        for (int j = 0; j < S; j++) {
            double m = 0;
            for (int a = 0; a < A; a++) m += score[((size_t)g * S + j) * A + a];
            rbar[j] = m / A;
            /* summaries: score − mean of the A siblings at the same (trace, budget) */
            for (int a = 0; a < A; a++) {
                size_t k = ((size_t)g * S + j) * A + a;
                adv_sum[k] = score[k] - rbar[j];
            }
        }
        double acc = 0;
        for (int s = S - 1; s >= 0; s--) {
            acc += p[s] * rbar[s];
            adv_seg[(size_t)g * S + s] = acc;
        }
        for (int s = 0; s < S; s++) v2[s] += adv_seg[(size_t)g * S + s] / G;
    }
    for (int g = 0; g < G; g++) {
        double num = 0, den = 0;
        for (int s = 0; s < S; s++) {
            double m = 0;
            for (int a = 0; a < A; a++) m += score[((size_t)g * S + s) * A + a];
            double v1 = den > 0 ? num / den * tail[s] : 0;   /* history of budgets k < s */
            double b = bl == PD_BRPO_BL_BRPO     ? (s * v1 + (S - s) * v2[s]) / S
                       : bl == PD_BRPO_BL_V2ONLY ? v2[s]
                       : bl == PD_BRPO_BL_V1ONLY ? v1
                                                 : 0;
            size_t k = (size_t)g * S + s;
            if (rt_out) rt_out[k] = adv_seg[k];
            if (base_out) base_out[k] = b;
            adv_seg[k] -= b;
            num += ldexp(m / A, s);
            den += ldexp(1.0, s);
        }
    }
}

/* ---- the tree ---- */

void pd_brpo_tree_free(pd_brpo_tree *t) {
    for (int i = 0; t->rows && i < t->n_rows; i++) { free(t->rows[i].tok); free(t->rows[i].lp); }
    free(t->rows); free(t->nodes); free(t->node_of);
    memset(t, 0, sizeof *t);
}

int pd_brpo_slots(const pd_rl_brpo_cfg *c, int n, int G) { return n * G + n * G * c->S * c->A + 1; }

/* a row from a finished sequence's result */
static pd_status row_from(const pd_gen_result *res, pd_brpo_row *w) {
    int nr = res->n_tokens - res->n_prompt;
    w->n = res->n_tokens;
    w->n_prompt = res->n_prompt;
    w->tok = pd_malloc(sizeof(int32_t) * (size_t)w->n);
    w->lp = pd_malloc(sizeof(float) * (size_t)(nr > 0 ? nr : 1));
    if (!w->tok || !w->lp) return PD_ERR_NOMEM;
    memcpy(w->tok, res->tokens, sizeof(int32_t) * (size_t)w->n);
    memcpy(w->lp, res->logprobs, sizeof(float) * (size_t)nr);
    w->n_think = res->n_thinking;
    w->n_answer = res->n_answer;
    w->truncated = res->finish == PD_FINISH_LENGTH || res->finish == PD_FINISH_CONTEXT;
    if (res->finish == PD_FINISH_ERROR) return pd_fail(PD_ERR_STATE, "rl brpo: sampling failed: %s", res->error);
    return PD_OK;
}

static pd_seq_params sample_params(const pd_sampler_params *sp, pd_rng *rng, int max_tokens) {
    pd_seq_params p = pd_seq_defaults();
    p.sampling = *sp;
    p.sampling.seed = pd_rng_u64(rng);
    p.max_tokens = max_tokens;
    p.logprobs = true;
    return p;
}

/* the closer the budget policy would inject after text ending in `last` (a token's text) */
static const int32_t *closer_for(const pd_tokenizer *tok, int32_t last, const int32_t *nl, int n_nl,
                                 const int32_t *bare, int n_bare, int *n) {
    size_t len = 0;
    char *txt = last >= 0 ? pd_detokenize(tok, &last, 1, &len) : NULL;
    bool ends_nl = txt && len && txt[len - 1] == '\n';
    free(txt);
    *n = ends_nl ? n_bare : n_nl;
    return ends_nl ? bare : nl;
}

/* traces: n·G sequences, prompt prefilled once per prompt and forked; ids[n·G] */
static pd_status grow_traces(pd_gen *g, int32_t close, int n, const int32_t *const *prompts, const int *n_prompt,
                             int G, int L, const pd_sampler_params *sp, pd_rng *rng, int *ids) {
    pd_status st = PD_OK;
    for (int i = 0; i < n * G; i++) ids[i] = -1;
    for (int i = 0; i < n && st == PD_OK; i++) {
        pd_seq_params p0 = pd_seq_defaults();
        p0.max_tokens = L;
        int parent = pd_gen_add(g, prompts[i], n_prompt[i], &p0);
        if (parent < 0) return pd_fail_ctx(PD_ERR_STATE, "rl brpo: adding a prompt");
        st = pd_gen_prefill(g, parent);
        for (int k = 0; k < G && st == PD_OK; k++) {
            pd_seq_params p = sample_params(sp, rng, L);
            p.stop_tokens = &close;   /* a trace is thinking only: it ends at its own closer */
            p.n_stop_tokens = close >= 0;
            if ((ids[i * G + k] = pd_gen_fork(g, parent, &p)) < 0) st = pd_fail_ctx(PD_ERR_STATE, "rl brpo: fork");
        }
        pd_gen_remove(g, parent);
    }
    if (st == PD_OK) st = pd_gen_run(g);
    return st;
}

/* the cut nodes of every trace (rows 0..n·G−1 hold the traces), deduplicated per trace; a cut whose
 * prompt (prompt + kept thinking + closer, n_closer tokens at most) would leave no room for one summary
 * token in the n_ctx positions keeps less thinking (a trace that ran into the context) */
static pd_status plan_nodes(const pd_tokenizer *tok, int32_t close, int n_ctx, int n_closer, pd_brpo_tree *t) {
    int nt = t->n_prompts * t->G, S = t->S;
    t->nodes = pd_calloc((size_t)nt * S, sizeof *t->nodes);
    t->node_of = pd_malloc(sizeof(int) * (size_t)nt * S);
    if (!t->nodes || !t->node_of) return PD_ERR_NOMEM;
    for (int r = 0; r < nt; r++) {
        const pd_brpo_row *w = &t->rows[r];
        int m = w->n - w->n_prompt;
        int32_t last = m > 0 ? w->tok[w->n - 1] : -1;
        bool closed = m > 0 && last == close, eog = m > 0 && !closed && pd_tok_is_eog(tok, last);
        for (int j = 0; j < S; j++) {
            bool ins;
            int keep = pd_brpo_cut(m, closed, eog, t->budget[j], &ins), room = n_ctx - 1 - w->n_prompt - n_closer;
            if (room < 0) return pd_fail(PD_ERR_RANGE, "rl brpo: a prompt of %d tokens leaves no room for a cut in %d "
                                                       "positions", w->n_prompt, n_ctx);
            if (keep > room) { keep = room; ins = true; }
            pd_brpo_node *prev = j ? &t->nodes[t->node_of[r * S + j - 1]] : NULL;
            if (prev && prev->keep == keep && (prev->n_insert > 0) == ins) {
                t->node_of[r * S + j] = t->node_of[r * S + j - 1];
                continue;
            }
            pd_brpo_node *nd = &t->nodes[t->n_nodes];
            nd->prompt = w->prompt; nd->trace = w->trace; nd->keep = keep; nd->n_trace = m;
            nd->n_insert = ins ? 1 : 0;   /* the count is set when the closer is chosen */
            t->node_of[r * S + j] = t->n_nodes++;
        }
    }
    return PD_OK;
}

pd_status pd_brpo_grow(pd_gen *g, const pd_tokenizer *tok, int32_t close, int n, const int32_t *const *prompts,
                       const int *n_prompt, const pd_rl_brpo_cfg *c, int G, int L, const pd_sampler_params *sp,
                       pd_rng *rng, pd_brpo_tree *t) {
    memset(t, 0, sizeof *t);
    if (n < 1 || G < 1 || L < 1 || c->S < 1 || c->S > PD_BRPO_MAX_S || c->A < 1)
        return pd_fail(PD_ERR_ARG, "rl brpo: bad tree shape (%d prompts, G %d, L %d, S %d, A %d)", n, G, L, c->S, c->A);
    if (close < 0) return pd_fail(PD_ERR_ARG, "rl brpo: the vocabulary has no \"</think>\" token");
    if (pd_gen_n_free(g) < pd_brpo_slots(c, n, G))
        return pd_fail(PD_ERR_STATE, "rl brpo: the generator has %d free slots, the tree needs %d", pd_gen_n_free(g),
                       pd_brpo_slots(c, n, G));
    t->n_prompts = n; t->G = G; t->S = c->S; t->A = c->A;
    pd_brpo_budgets(c->prior, c->S, L, t->budget, t->prior);
    int64_t fed0 = pd_gen_tokens_fed(g, 0);
    int nt = n * G;
    int *ids = pd_malloc(sizeof(int) * (size_t)(nt + (size_t)nt * c->S * c->A));
    int32_t *nl = NULL, *bare = NULL, *buf = NULL;
    size_t n_nl = 0, n_bare = 0;
    t->rows = pd_calloc((size_t)nt + (size_t)nt * c->S * c->A, sizeof *t->rows);
    pd_status st = ids && t->rows ? PD_OK : PD_ERR_NOMEM;
    if (st == PD_OK) st = pd_tokenize(tok, "\n</think>\n\n", 12, false, true, &nl, &n_nl);
    if (st == PD_OK) st = pd_tokenize(tok, "</think>\n\n", 11, false, true, &bare, &n_bare);
    if (st == PD_OK) st = grow_traces(g, close, n, prompts, n_prompt, G, L, sp, rng, ids);
    for (int i = 0; i < nt && st == PD_OK; i++) {
        pd_brpo_row *w = &t->rows[t->n_rows++];
        w->prompt = i / G; w->trace = i % G; w->node = -1;
        st = row_from(pd_gen_get_result(g, ids[i]), w);
    }
    if (st == PD_OK) st = plan_nodes(tok, close, pd_gen_n_ctx(g), (int)(n_nl > n_bare ? n_nl : n_bare), t);
    /* each node: the prompt, the kept trace and the closer join on the trace's KV; prefill; fork A */
    int n_sum = 0, cap = 0;
    for (int k = 0; k < t->n_nodes; k++) {
        int c1 = n_prompt[t->nodes[k].prompt] + t->nodes[k].keep + 8;
        if (c1 > cap) cap = c1;
    }
    if (st == PD_OK && !(buf = pd_malloc(sizeof(int32_t) * (size_t)(cap > 0 ? cap : 1)))) st = PD_ERR_NOMEM;
    for (int k = 0; k < t->n_nodes && st == PD_OK; k++) {
        pd_brpo_node *nd = &t->nodes[k];
        const pd_brpo_row *tr = &t->rows[nd->prompt * G + nd->trace];
        int nb = tr->n_prompt + nd->keep, ni = 0;
        memcpy(buf, tr->tok, sizeof(int32_t) * (size_t)nb);
        if (nd->n_insert) {
            const int32_t *ins = closer_for(tok, nd->keep > 0 ? tr->tok[nb - 1] : -1, nl, (int)n_nl, bare, (int)n_bare, &ni);
            if (nb + ni > cap) { st = pd_fail(PD_ERR_STATE, "rl brpo: closer longer than planned"); break; }
            memcpy(buf + nb, ins, sizeof(int32_t) * (size_t)ni);
            nd->n_insert = ni;
        }
        pd_seq_params pn = pd_seq_defaults();
        pn.max_tokens = c->summary_tokens;
        int node = pd_gen_add_reusing(g, ids[nd->prompt * G + nd->trace], buf, nb + ni, &pn);
        if (node < 0) { st = pd_fail_ctx(PD_ERR_STATE, "rl brpo: adding a cut"); break; }
        st = pd_gen_prefill(g, node);
        for (int a = 0; a < c->A && st == PD_OK; a++) {
            pd_seq_params p = sample_params(sp, rng, c->summary_tokens);
            int id = pd_gen_fork(g, node, &p);
            if (id < 0) st = pd_fail_ctx(PD_ERR_STATE, "rl brpo: fork");
            else ids[nt + n_sum++] = id;
        }
        pd_gen_remove(g, node);
    }
    for (int i = 0; i < nt; i++) if (ids && ids[i] >= 0) pd_gen_remove(g, ids[i]);
    if (st == PD_OK) st = pd_gen_run(g);
    for (int s = 0; s < n_sum && st == PD_OK; s++) {
        pd_brpo_row *w = &t->rows[t->n_rows++];
        const pd_brpo_node *nd = &t->nodes[s / c->A];
        w->prompt = nd->prompt; w->trace = nd->trace; w->node = s / c->A;
        st = row_from(pd_gen_get_result(g, ids[nt + s]), w);
    }
    for (int s = 0; ids && s < n_sum; s++) pd_gen_remove(g, ids[nt + s]);
    t->fed = pd_gen_tokens_fed(g, 0) - fed0;
    free(ids); free(nl); free(bare); free(buf);
    if (st != PD_OK) pd_brpo_tree_free(t);
    return st;
}

pd_status pd_brpo_tree_advantages(const pd_brpo_tree *t, pd_brpo_baseline bl, double *row_score, double *row_adv,
                                  double *seg_adv) {
    int G = t->G, S = t->S, A = t->A, nt = t->n_prompts * G;
    double *score = pd_malloc(sizeof(double) * (size_t)G * S * A), *adv = pd_malloc(sizeof(double) * (size_t)G * S * A);
    double *rt = pd_malloc(sizeof(double) * (size_t)G * S);
    if (!score || !adv || !rt) { free(score); free(adv); free(rt); return PD_ERR_NOMEM; }
    for (int i = 0; i < t->n_rows; i++) row_adv[i] = 0;
    for (int p = 0; p < t->n_prompts; p++) {
        for (int g = 0; g < G; g++)
            for (int j = 0; j < S; j++)
                for (int a = 0; a < A; a++)
                    score[((size_t)g * S + j) * A + a] = row_score[nt + t->node_of[(p * G + g) * S + j] * A + a];
        pd_brpo_advantages(bl, G, S, A, t->prior, score, seg_adv + (size_t)p * G * S, adv, rt, NULL);
        /* a node shared by several budgets has the same summary advantage at each: written once */
        for (int g = 0; g < G; g++) {
            for (int j = 0; j < S; j++)
                for (int a = 0; a < A; a++)
                    row_adv[nt + t->node_of[(p * G + g) * S + j] * A + a] = adv[((size_t)g * S + j) * A + a];
            row_score[p * G + g] = rt[(size_t)g * S];
        }
    }
    free(score); free(adv); free(rt);
    return PD_OK;
}

void pd_brpo_token_adv(const pd_brpo_tree *t, int row, const double *seg_adv, double *adv_tok) {
    const pd_brpo_row *w = &t->rows[row];
    const double *sa = seg_adv + ((size_t)w->prompt * t->G + w->trace) * t->S;
    for (int k = 0; k < w->n - w->n_prompt; k++) adv_tok[k] = sa[pd_brpo_segment(t->budget, t->S, k)];
}

void pd_brpo_stats(const pd_brpo_tree *t, const double *row_score, const double *seg_adv, pd_rl_brpo_stats *s) {
    int G = t->G, S = t->S, A = t->A, nt = t->n_prompts * G;
    memset(s, 0, sizeof *s);
    s->S = S;
    double a2 = 0, na2 = 0;
    for (int r = 0; r < nt; r++) {
        const pd_brpo_row *w = &t->rows[r];
        int m = w->n - w->n_prompt;
        s->trace_len += m;
        for (int j = 0; j < S; j++) {
            double x = 0;
            for (int a = 0; a < A; a++) x += row_score[nt + t->node_of[r * S + j] * A + a];
            s->acc[j] += x / A / nt;
        }
        const double *sa = seg_adv + ((size_t)w->prompt * G + w->trace) * S;
        for (int k = 0; k < m; k++) {
            double v = sa[pd_brpo_segment(t->budget, S, k)];
            a2 += v * v;
            na2 += 1;
        }
    }
    /* what re-prefilling every cut would have fed again: its prompt and kept thinking */
    for (int k = 0; k < t->n_nodes; k++)
        s->prefix_tokens += t->rows[t->nodes[k].prompt * G + t->nodes[k].trace].n_prompt + t->nodes[k].keep;
    for (int r = 0; r < nt; r++) {
        const pd_brpo_node *last = &t->nodes[t->node_of[r * S + S - 1]];
        s->closed_frac += last->n_insert == 0;
    }
    s->closed_frac /= nt;
    s->trace_len /= nt;
    for (int j = 0; j < S; j++) s->anytime += t->prior[j] * s->acc[j];
    s->adv2_think = na2 > 0 ? a2 / na2 : 0;
    s->nodes = t->n_nodes;
    s->summaries = t->n_rows - nt;
    s->fed_tokens = (double)t->fed;
}

static void num(FILE *f, const char *k, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.6g", k, v);
    else fprintf(f, ",\"%s\":null", k);
}

void pd_rl_brpo_log(FILE *f, const pd_rl_brpo_stats *s) {
    if (s->S < 1) return;
    fprintf(f, ",\"brpo_acc\":[");
    for (int j = 0; j < s->S; j++) fprintf(f, j ? ",%.6g" : "%.6g", isfinite(s->acc[j]) ? s->acc[j] : 0.0);
    fprintf(f, "]");
    num(f, "brpo_anytime", s->anytime); num(f, "brpo_adv2_think", s->adv2_think);
    num(f, "brpo_closed_frac", s->closed_frac); num(f, "brpo_trace_len", s->trace_len);
    num(f, "brpo_nodes", s->nodes); num(f, "brpo_summaries", s->summaries);
    num(f, "brpo_fed_tokens", s->fed_tokens); num(f, "brpo_prefix_tokens", s->prefix_tokens);
}
