/* ponder/budget.h — thinking and answer budgets as a pd_policy (reason/ layer).
 *
 *   think_budget N > 0: after N thinking tokens (generated while in the thinking phase, the opener
 *       included), inject `message` (if any) and "\n</think>\n\n", then continue with the answer;
 *       a new thinking block is never opened afterwards (the opener is masked).
 *   think_budget 0: no thinking. If the prompt leaves the sequence in the thinking phase (a generation
 *       prompt that opens "<think>\n"), "\n</think>\n\n" is injected before the first token; the
 *       opener is masked for the whole sequence. (`--no-think` = the template's no-think prompt + this.)
 *   answer_budget M >= 0: stop after M answer-phase tokens (the "\n\n" after an injected closer counts).
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
