/* ponder/budget.h — thinking and answer budgets as a pd_policy (reason/ layer).
 *
 *   think_budget N >= 0: the sequence's thinking tokens (pd_gen_result.n_thinking: the opener, what is
 *       sampled in between, an injected message and the closer) never exceed N. The policy closes
 *       early enough that `message` (if any, as a paragraph of its own) and "\n</think>\n\n" fit;
 *       when the message cannot fit at all only the closer is injected ("</think>" alone when even
 *       the newline does not fit). A new thinking block is opened only while opener + closer fit, and
 *       never after the policy closed one (the opener is masked).
 *   think_budget 0: no thinking: the opener is masked for the whole sequence. Callers render the
 *       family's no-think prompt (Qwen3: the empty "<think>\n\n</think>\n\n" block) so nothing is
 *       open; if the prompt itself leaves thinking open, "</think>\n\n" is injected at once (1 token).
 *   answer_budget M >= 0: stop after M answer-phase tokens (the "\n\n" after an injected closer counts);
 *       the sequence ends PD_FINISH_POLICY with stop_policy PD_POLICY_ANSWER_BUDGET (ponder/gen.h).
 *   -1: no limit.
 * Models whose vocabulary has no "<think>"/"</think>" tokens never think: the thinking budget
 * is then a no-op and only the answer budget acts. */
#ifndef PONDER_BUDGET_H
#define PONDER_BUDGET_H
#include "ponder/policy.h"
#include "ponder/error.h"

typedef struct {
    int think_budget;       /* -1 unlimited, 0 no thinking, N */
    int answer_budget;      /* -1 unlimited, M */
    const char *message;    /* injected before the closer when the thinking budget runs out; NULL: none */
} pd_budget_params;

pd_budget_params pd_budget_defaults(void);   /* -1, -1, NULL */
/* A new policy instance (one per sequence: it keeps per-sequence state). The pd_gen releases it. */
pd_status pd_budget_policy(const pd_tokenizer *tok, const pd_budget_params *p, pd_policy *out);

#endif
