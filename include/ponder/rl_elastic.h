/* ponder/rl_elastic.h — Elastic Reasoning's budget-constrained rollouts for `ponder rl` (training.md
 * §5): each rollout thinks for at most t tokens (the thinking budget; when it is spent the trainer
 * closes the thinking with the budget policy's "\n</think>\n\n"), then writes its solution with a
 * budget of its own, s tokens, counted from the closer on — so a cut rollout still has room to
 * answer, and the reward (the verifier on the solution) trains the model to answer when cut.
 *
 *   ponder rl ... --think-budget t --answer-budget s
 *
 * Without --answer-budget, --think-budget alone keeps its old meaning: the cut is made, but the
 * answer only gets what is left of --max-tokens. With it, each rollout's limit is t + s (max_tokens
 * must hold that much; the CLI raises its default to t + s). The injected closer tokens carry no
 * sampled log-prob and no loss (rl.c masks every injected token); the concatenated response is
 * trained with the chosen algorithm (GRPO in the paper).
 *
 * The budget policy (ponder/budget.h) counts the opener, the thinking and the injected closer in t;
 * the "\n\n" after the closer is the solution's first tokens, as in `ponder run --think-budget t
 * --answer-budget s`, so training and inference cut the same way. */
#ifndef PONDER_RL_ELASTIC_H
#define PONDER_RL_ELASTIC_H
#include "ponder/error.h"
#include "ponder/policy.h"
#include "ponder/tok.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    int answer_budget;   /* s: solution tokens after the thinking (-1: off, plain --think-budget) */
} pd_rl_elastic_cfg;

/* Per-step statistics of the rollouts (logged as elastic_* in the step JSONL). */
typedef struct {
    bool on;                  /* a thinking budget cut the rollouts (else nothing is logged) */
    double cut_frac;          /* share of rollouts whose thinking the budget closed */
    double forced_tokens;     /* mean injected (untrained) tokens per rollout */
    double acc_cut;           /* accuracy among the cut rollouts (NaN: none cut) */
    double acc_uncut;         /* among the others (NaN: none) */
    double answer_len_cut;    /* mean solution tokens of the cut rollouts (NaN: none) */
} pd_rl_elastic_stats;

/* Checks t and s together and the rollout limit: s >= 0 needs t >= 1 and max_tokens >= t + s.
 * Returns PD_ERR_ARG with a message naming the flag otherwise. */
pd_status pd_rl_elastic_check(int think_budget, int answer_budget, int max_tokens);
/* The rollout's limit on new tokens: t + s with Elastic on, max_tokens otherwise. */
int pd_rl_elastic_max_tokens(int think_budget, int answer_budget, int max_tokens);
/* The rollout policy: the budget policy with thinking t and answer s (s = -1: none). */
pd_status pd_rl_elastic_policy(const pd_tokenizer *tok, int think_budget, int answer_budget, pd_policy *out);

/* Accumulates one rollout into the step's statistics: lp = its n_resp sampler log-probs (NaN on
 * injected tokens), n_answer its solution tokens, correct its verdict. Finish with _stats_end. */
typedef struct { double n, cut, forced, cut_ok, uncut_ok, ans_cut; } pd_rl_elastic_acc;
void pd_rl_elastic_add(pd_rl_elastic_acc *a, const float *lp, int n_resp, int n_answer, bool correct);
void pd_rl_elastic_stats_end(const pd_rl_elastic_acc *a, pd_rl_elastic_stats *s);
/* Appends the figures to a step's JSON object (",\"elastic_cut_frac\":…", null for NaN); nothing when off. */
void pd_rl_elastic_log(FILE *f, const pd_rl_elastic_stats *s);

#endif
