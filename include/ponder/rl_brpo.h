/* ponder/rl_brpo.h — AnytimeReasoner's budget tree and BRPO advantages for `ponder rl --algo brpo`
 * (training.md §6).
 *
 * Rollout tree, per prompt: G thinking traces of at most L = --max-tokens new tokens (a trace ends at
 * its own "</think>", its end-of-turn, or L). Budgets b_j = (j+1)·L/S, j = 0..S−1, weighted by a prior
 * p_j: uniform 1/S, linear ∝ b_j, base (all on b_{S−1}: ordinary RL). For each trace and budget: a
 * trace that closed its thinking within b_j keeps it whole (nothing inserted); otherwise it is cut
 * after b_j tokens (before an end-of-turn) and the trainer inserts the budget policy's closer
 * ("\n</think>\n\n", or "</think>\n\n" after a newline: the text `ponder run --think-budget` injects,
 * so training cuts as inference does). At each distinct cut A summaries of at most summary_tokens
 * tokens are sampled. Budgets with the same cut (a trace that closed early) share one cut node and its
 * summaries. The cut node joins the generator on the trace's KV (pd_gen_add_reusing: the prompt and
 * the kept thinking are not fed again; only the inserted closer is), then is prefilled once and forked
 * A ways (pd_gen_prefill + pd_gen_fork: the summaries share its KV, copy-on-write).
 *
 * Scores: a summary scores the reward of its answer (the verifier, plus partial credit if set) when
 * exactly one "</think>" occurs in trace-prefix + closer + summary, else 0.
 * Advantages (§6.2, S segments; segment s = thinking tokens [b_{s−1}, b_s), b_{−1} = 0):
 *   r̄_{g,j} = mean score of the A summaries of trace g at budget j
 *   Rt_{g,s} = Σ_{j≥s} p_j r̄_{g,j}                              (the segment's return)
 *   V2_s = mean_g Rt_{g,s}                                      (group baseline)
 *   V1_{g,s} = (Σ_{k<s} 2^k r̄_{g,k} / Σ_{k<s} 2^k)·Σ_{j≥s} p_j,  V1_{g,0} = 0   (own history)
 *   brpo: b = (s·V1 + (S−s)·V2)/S;  v2only: b = V2;  v1only: b = V1;  none: b = 0
 *   thinking token in segment s of trace g: A = Rt_{g,s} − b_{g,s} (no std division)
 *   summary: A = score − mean of its A siblings (every budget trained, whatever the prior).
 * Inserted closer tokens are never trained (they sit in the summary rows' prompt part). */
#ifndef PONDER_RL_BRPO_H
#define PONDER_RL_BRPO_H
#include "ponder/error.h"
#include "ponder/rng.h"
#include "ponder/sampler.h"
#include "ponder/tok.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define PD_BRPO_MAX_S 32

typedef enum { PD_BRPO_UNIFORM = 0, PD_BRPO_LINEAR, PD_BRPO_BASE } pd_brpo_prior;
typedef enum { PD_BRPO_BL_BRPO = 0, PD_BRPO_BL_V2ONLY, PD_BRPO_BL_V1ONLY, PD_BRPO_BL_NONE } pd_brpo_baseline;
const char *pd_brpo_prior_name(pd_brpo_prior p);        /* "uniform", "linear", "base" */
int pd_brpo_prior_from_name(const char *s);             /* -1 if unknown */
const char *pd_brpo_baseline_name(pd_brpo_baseline b);  /* "brpo", "v2only", "v1only", "none" */
int pd_brpo_baseline_from_name(const char *s);          /* -1 if unknown */

typedef struct {
    int S;                   /* budgets (n_budget_support; default 4) */
    int A;                   /* summaries per cut (default 4) */
    int summary_tokens;      /* new tokens per summary (default 32) */
    pd_brpo_prior prior;     /* default uniform */
    pd_brpo_baseline baseline;   /* default brpo */
} pd_rl_brpo_cfg;
void pd_rl_brpo_defaults(pd_rl_brpo_cfg *c);
pd_status pd_rl_brpo_check(const pd_rl_brpo_cfg *c, int max_tokens);   /* PD_ERR_ARG naming the flag */

/* Budgets b[0..S) = (j+1)·L/S (integer division, at least 1) and the prior's weights p[0..S). */
void pd_brpo_budgets(pd_brpo_prior prior, int S, int L, int *b, double *p);
/* Where trace g is cut for budget b: n generated tokens, closed = its last token is the thinking
 * closer, eog = its last token ends the turn. Returns the trace tokens kept; *insert = true when the
 * closer must be inserted after them (false: the trace closed itself within b and is kept whole). */
int pd_brpo_cut(int n, bool closed, bool eog, int b, bool *insert);
/* The segment of generated token k (0-based) for budgets b[0..S): the s with b[s−1] <= k < b[s]
 * (S−1 beyond the last budget). */
int pd_brpo_segment(const int *b, int S, int k);

/* The advantages of one prompt's tree. score[(g·S + j)·A + a]: summary a of trace g at budget j.
 * adv_seg[g·S + s]: thinking advantage of segment s; adv_sum[(g·S + j)·A + a]: summary advantage.
 * rt, base (may be NULL): Rt_{g,s} and the baseline b_{g,s}, [g·S + s]. */
void pd_brpo_advantages(pd_brpo_baseline bl, int G, int S, int A, const double *p, const double *score,
                        double *adv_seg, double *adv_sum, double *rt, double *base);

/* ---- the tree on a generator ---- */
struct pd_gen;
typedef struct {
    int32_t *tok;            /* prompt + trace, or prompt + kept trace + closer + summary */
    float *lp;               /* n − n_prompt sampler log-probs of the generated tokens */
    int n, n_prompt;         /* a summary row's n_prompt ends after the inserted closer */
    int n_think, n_answer;   /* pd_gen_result's counts of the generated part */
    bool truncated;          /* ended by its token limit */
    int prompt, trace;       /* the prompt of the round and the trace within it (0..G−1) */
    int node;                /* -1: a trace row; else its cut node */
} pd_brpo_row;
typedef struct {
    int prompt, trace;       /* whose trace */
    int keep;                /* trace tokens kept */
    int n_insert;            /* tokens inserted by the trainer (0: the trace closed itself) */
    int n_trace;             /* the trace's generated tokens */
} pd_brpo_node;
typedef struct {
    int n_prompts, G, S, A;
    int budget[PD_BRPO_MAX_S];
    double prior[PD_BRPO_MAX_S];
    int *node_of;            /* [(prompt·G + g)·S + j]: the cut node of trace g at budget j */
    pd_brpo_node *nodes;
    int n_nodes;
    pd_brpo_row *rows;       /* n_prompts·G trace rows (prompt-major), then A summary rows per node */
    int n_rows;
    int64_t fed;             /* tokens fed to the model while growing (pd_gen_tokens_fed) */
} pd_brpo_tree;
void pd_brpo_tree_free(pd_brpo_tree *t);
/* Grows the trees of n prompts on g (needs n·G + n·G·S·A + 1 free slots at most; fewer when cuts
 * coincide). sp: the sampling settings (seeds drawn from rng: traces first, then the summaries, in
 * node order); L: the trace limit. close: the "</think>" token. */
pd_status pd_brpo_grow(struct pd_gen *g, const pd_tokenizer *tok, int32_t close, int n, const int32_t *const *prompts,
                       const int *n_prompt, const pd_rl_brpo_cfg *c, int G, int L, const pd_sampler_params *sp,
                       pd_rng *rng, pd_brpo_tree *t);
/* Slots pd_brpo_grow may need for n prompts. */
int pd_brpo_slots(const pd_rl_brpo_cfg *c, int n, int G);

/* The tree's advantages from its summary rows' scores (row_score[n_rows]; trace rows' entries are
 * ignored): row_adv[n_rows] (summary rows; 0 for trace rows), seg_adv[(prompt·G + g)·S + s], and the
 * trace rows' reward row_score[trace] = Rt_{g,0} (the prior-weighted anytime score). */
typedef struct {
    double acc[PD_BRPO_MAX_S];   /* mean score at each budget (over traces and summaries) */
    double anytime;              /* Σ_j p_j acc_j */
    double adv2_think;           /* mean squared thinking advantage over thinking tokens */
    double closed_frac;          /* traces that closed their thinking themselves */
    double trace_len;            /* mean generated tokens per trace */
    double nodes, summaries;     /* cut nodes and summary rows per step */
    double fed_tokens;           /* tokens fed to the model for the trees (prompts once, closers, decode) */
    double prefix_tokens;        /* tokens a re-prefill of every cut would have fed beyond that */
    int S;
} pd_rl_brpo_stats;
pd_status pd_brpo_tree_advantages(const pd_brpo_tree *t, pd_brpo_baseline bl, double *row_score, double *row_adv,
                                  double *seg_adv);
/* The per-token advantages of a trace row (n_resp generated tokens) from seg_adv. */
void pd_brpo_token_adv(const pd_brpo_tree *t, int row, const double *seg_adv, double *adv_tok);
/* Statistics of a grown and scored tree (row_score as after pd_brpo_tree_advantages). */
void pd_brpo_stats(const pd_brpo_tree *t, const double *row_score, const double *seg_adv, pd_rl_brpo_stats *s);
/* Appends the figures to a step's JSON object (",\"brpo_acc\":[…]", …); nothing when s->S is 0. */
void pd_rl_brpo_log(FILE *f, const pd_rl_brpo_stats *s);

#endif
