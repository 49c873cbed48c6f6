/* ponder/plan.h — plan-first interleaving (spec §6, Plantain's runtime side): hidden thinking, then
 * a visible plan, then hidden thinking and visible answer segments in turn, each visible block
 * streamed as it is written (the gen streams answer-phase text as it is decided).
 *
 * The format is the spec's proposed one with our markers: <think>…</think> blocks alternate with
 * visible blocks; the first visible block is the plan and starts with `header` ("Plan:\n"). The
 * policy enforces it on any thinking model:
 *   think:   at `think` thinking tokens of a block (0: no limit) "\n</think>\n\n" is injected; when
 *            the model closes the block itself, "\n\n" follows its closer;
 *   plan:    `header` is injected, then the model writes; the plan ends at its first blank line, or
 *            after `plan` tokens ("\n\n" injected); then "<think>\n" re-opens thinking;
 *   answer:  `segments` visible segments after the plan, each after a thinking block; all but the last
 *            end like the plan (blank line or `segment` tokens) and re-open thinking; the last runs to
 *            the end of generation.
 * A sequence that does not start in the thinking phase starts with the plan. A vocabulary without
 * thinking markers leaves the policy inert. Events (optional) record where each block starts and
 * ends and when, for time-to-first-response (TTFR: from on_start to the plan's first token). */
#ifndef PONDER_PLAN_H
#define PONDER_PLAN_H
#include "ponder/error.h"
#include "ponder/policy.h"
#include "ponder/reason.h"

typedef struct {
    int think;            /* thinking tokens per block before the closer is injected (0: no limit) */
    int plan;             /* most tokens of the plan (after the header) */
    int segments;         /* visible answer segments after the plan (>= 1) */
    int segment;          /* most tokens of every segment but the last */
    const char *header;   /* text that opens the plan */
} pd_plan_params;
pd_plan_params pd_plan_defaults(void);   /* think 256, plan 128, segments 1, segment 256, "Plan:\n" */

typedef enum { PD_PLAN_THINK = 0, PD_PLAN_PLAN, PD_PLAN_SEGMENT, PD_PLAN_END_OF_BLOCK } pd_plan_event_kind;
typedef struct {
    pd_plan_event_kind kind;  /* THINK / PLAN / SEGMENT: a block starts; END_OF_BLOCK: a visible block ends */
    int pos;                  /* token index where the block starts (its first token, injected ones included)
                                 or, for END_OF_BLOCK, one past its last token */
    double t;                 /* seconds since on_start */
} pd_plan_event;

/* A per-sequence instance; log (optional) receives up to n_log_max events, *n_log their count. */
pd_status pd_plan_policy(const pd_tokenizer *tok, const pd_plan_params *p, pd_plan_event *log, int n_log_max, int *n_log,
                         pd_policy *out);
/* The registry's constructor (plan-first:think=,plan=,segments=,segment=,header=). */
pd_status pd_plan_make(const pd_reason_spec *spec, const pd_reason_env *env, pd_policy *out);

#endif
