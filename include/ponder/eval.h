/* ponder/eval.h — the evaluation harness: run a model over task items with a decoding recipe
 * (samples per item, sampling, budgets as policies), score every sample with the task verifier,
 * and summarise: accuracy, pass@k (unbiased estimator), maj@k, mean thinking/answer tokens,
 * tokens/s; records are JSONL; a per-difficulty SVG chart. */
#ifndef PONDER_EVAL_H
#define PONDER_EVAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ponder/error.h"
#include "ponder/extract.h"
#include "ponder/gen.h"
#include "ponder/task.h"

typedef struct {
    char *id;
    int sample;            /* 0 .. samples-1 */
    uint64_t seed;         /* the sampler seed of this sample (ponder run --seed reproduces it) */
    int difficulty;
    char *task;            /* owned copy */
    char *prompt;
    char *thinking;
    char *answer;
    char *extracted;       /* NULL when no answer was found */
    double score;
    bool correct;          /* score >= 1 */
    const char *reason;    /* static */
    int n_thinking, n_answer;
    double wall_s;         /* prefill + decode seconds of this sequence */
    const char *finish_reason;  /* static: pd_finish_reason ("stop", "length"; NULL after an error) */
    const char *finish_detail;  /* static: pd_finish_detail (eog, max_tokens, context, ...) */
    bool context_overflow; /* the prompt did not fit the context: nothing generated, score 0 */
    int32_t *token_ids;    /* owned: generated + injected ids (exact, where texts hold U+FFFD) */
    int n_token_ids;
    int rest_k;            /* REST bundles: questions in the prompt (0 otherwise) */
    double *rest_scores;   /* owned, rest_k scores in question order; score is their mean and
                              correct means all of them are right */
} pd_eval_record;

void pd_eval_record_free(pd_eval_record *r);
char *pd_eval_record_to_json(const pd_eval_record *r);   /* owned, one line without "\n" */

/* Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), computed as a product;
 * n samples of which c are correct, 1 <= k <= n. Returns NAN for invalid arguments. */
double pd_pass_at_k(int n, int c, int k);
/* Majority vote over k extracted answers (NULL = no answer, never a vote). Answers are grouped
 * by pd_answer_equiv; the largest group wins, ties go to the group seen first. Returns the index
 * of the winning group's first answer, or -1 when every answer is NULL. */
int pd_majority(const char *const *answers, int k);

typedef struct {
    size_t n_items, n_records;
    int k;                        /* samples per item */
    double accuracy;              /* mean correctness over all records */
    double pass_at_k, maj_at_k;   /* means over items */
    double mean_thinking, mean_answer;
    double tokens_per_s;          /* generated tokens / elapsed (0 if elapsed <= 0) */
    size_t n_context;             /* records whose prompt did not fit the context (failed, score 0) */
} pd_eval_summary;
/* Records grouped by id (any order); elapsed: wall seconds of the whole run. */
pd_status pd_eval_summarize(const pd_eval_record *r, size_t n, double elapsed, pd_eval_summary *out);

/* Chart, SVG or PNG by the extension of path (ponder/plot.h): accuracy per difficulty (line,
 * left) and mean thinking / answer tokens per difficulty (bars, right). */
pd_status pd_eval_svg(const pd_eval_record *r, size_t n, const char *title, const char *path);

/* The run. encode turns an item prompt into prompt tokens (chat template etc.; owned array);
 * seq_params fills one sequence's parameters (sampling, limits, a fresh policy instance) for
 * sample `sample` of item `item`. */
typedef struct pd_eval_params {
    int samples;          /* k >= 1 */
    pd_extract_mode extract;
    int32_t *(*encode)(void *ctx, const pd_task_item *item, size_t *n_tokens);
    bool (*seq_params)(void *ctx, size_t item, int sample, pd_seq_params *p, pd_policy *policy, bool *has_policy);
    void *ctx;
    void (*on_record)(void *ctx, const pd_eval_record *r);   /* optional: after each finished sample */
    pd_status (*step)(void *ctx, pd_gen *g);   /* optional: one step instead of pd_gen_step (the reasoning hub's) */
    int max_active;       /* optional: at most this many samples at once (0: every free slot; the rest stay
                             free for the step callback's own sequences) */
    /* optional: instead of pd_gen_add, a driver (the vote) that may run several sequences and
       returns the one whose result is the record (finished or not; -1 with an error set); it owns
       the policy instance in p->policies. Drivers that step the gen themselves want max_active 1. */
    int (*add)(void *ctx, pd_gen *g, size_t item, const int32_t *prompt, int n_prompt, pd_seq_params *p);
} pd_eval_params;
/* Runs items × samples through g, as many at once as g has slots. *out receives n × samples
 * records in job order (item, then sample), and on_record sees them in that order too, whatever
 * order they finish in. A prompt that does not fit g's context gives a failed record (finish
 * length / context, score 0, nothing generated) and the run goes on. */
pd_status pd_eval_run(pd_gen *g, const pd_task_item *items, size_t n, const pd_eval_params *p,
                      pd_eval_record **out, size_t *n_out);

#endif
