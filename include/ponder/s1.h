/* ponder/s1.h — s1 budget forcing as a pd_policy (inference.md §1b, the authors' harness).
 *
 *   wait k:  the first k times the model closes its thinking, the closer is taken back
 *            (PD_ACT_REPLACE) and `ext` ("Wait") is injected instead; the (k+1)-th closer stays.
 *   min N:   the closer is also taken back while fewer than N thinking tokens were written
 *            (each such take-back injects `ext` too); 0 = off.
 *   max T:   at most T thinking tokens (opener, injected "Wait"s included — the README rule, never
 *            over budget); then "\n" (unless the thinking ends with one) + "</think>" + `tail` is
 *            injected and a new thinking block is never opened (opener masked). -1 = no maximum.
 *   tail:    text after the forced closer; default "\n\n" (the closer's usual follow-up in R1/Qwen3
 *            templates); the s1 harness used "\nFinal Answer:".
 * Vocabularies without thinking markers: the policy does nothing. */
#ifndef PONDER_S1_H
#define PONDER_S1_H
#include "ponder/error.h"
#include "ponder/policy.h"

typedef struct {
    int wait, min, max;
    const char *ext, *tail;
} pd_s1_params;

pd_s1_params pd_s1_defaults(void);   /* wait 1, min 0, max -1, ext "Wait", tail "\n\n" */
pd_status pd_s1_policy(const pd_tokenizer *tok, const pd_s1_params *p, pd_policy *out);

#endif
