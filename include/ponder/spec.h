/* ponder/spec.h — speculative thinking (inference.md §5) as a pd_policy over two models of one
 * vocabulary: the small model (the gen's model 0) thinks; at reflective points the large model
 * (model `large`, added with pd_gen_add_model) writes the next span, then hands back.
 *
 * Runtime variant (the reference drafts 20 tokens with the small model and rewrites them with the
 * large one from the same prefix; a pd_policy cannot rewind, so here): after each "\n\n" in the
 * thinking the small model's first `probe` tokens (or up to the next newline) are read with the
 * keyword sentiment below; if it is not 0 the large model writes the next `target` tokens, after
 * the small model's opening words. A negative one counts; at a "\n\n" where the count has reached
 * `neg_limit`, "Let me check whether there are some wrong steps:" is written (forced through the
 * large model's logits) and the large model writes `recap` more tokens; then the count resets,
 * recap += 25 (<= 200), neg_limit += 5 (<= 30). A large span that contains a verify word is extended by `recap` tokens.
 * Keywords (lower-cased substring counts): positive yeah, yes, final answer, confident; negative
 * wait, alternatively, hold on, another, and the verify words verify, think again, recap, check.
 * Sentiment = +1 if #pos > #neg, -1 if #neg > #pos, -1 on a tie with hits, 0 without hits. */
#ifndef PONDER_SPEC_H
#define PONDER_SPEC_H
#include <stdbool.h>
#include <stddef.h>
#include "ponder/error.h"
#include "ponder/policy.h"

int pd_spec_sentiment(const char *text, size_t len);
bool pd_spec_has_verify(const char *text, size_t len);

typedef struct {
    int large;                 /* model index of the large model (>= 1) */
    int probe;                 /* small-model tokens read after "\n\n" (default 4) */
    int target;                /* large tokens at a reflective point (default 20) */
    int recap, neg_limit;      /* 125, 15 */
} pd_spec_params;
pd_spec_params pd_spec_defaults(void);

/* Schedule after a recap: recap += 25 (<= 200), neg_limit += 5 (<= 30). */
void pd_spec_after_recap(int *recap, int *neg_limit);

/* The policy; *log (optional, owned by the caller, sized by n_log_max) receives the hand-over
 * points: token position where the large model took over and where it handed back. */
typedef struct { int pos; int model; } pd_spec_event;
pd_status pd_spec_policy(const pd_tokenizer *tok, const pd_spec_params *p, pd_spec_event *log, int n_log_max, int *n_log,
                         pd_policy *out);

#endif
