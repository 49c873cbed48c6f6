/* ponder/vote.h — self-consistency, weighted voting and verifier best-of-N (inference.md §7) as a
 * driver over the gen primitives: one bare prompt sequence is prefilled once, n samples are forked
 * from it (each with its own sampler seed and policy chain), answers are extracted and voted.
 *
 * Modes (weight of one sample's vote for its answer):
 *   majority  1 (self-consistency);
 *   logprob   exp(mean token log-prob of the sample) — the length-normalised path probability;
 *   verifier  a score in [0, 1] from a verifier callback (the task's checker, or a verifier model).
 * Answers are grouped by `equiv` (NULL: byte equality); a sample without an answer never votes.
 * The group with the largest total weight wins; ties go to the higher mean log-prob of the group,
 * then to the group whose first sample came first. Best-of-N is the verifier mode with one sample
 * per answer group (argmax of the score).
 * Adaptive stop: every weight is <= 1, so once the leading group's total exceeds the runner-up's by
 * more than the number of samples still running, no outcome can change: the rest are removed. */
#ifndef PONDER_VOTE_H
#define PONDER_VOTE_H
#include <stdbool.h>
#include "ponder/error.h"
#include "ponder/gen.h"

typedef enum { PD_VOTE_MAJORITY = 0, PD_VOTE_LOGPROB, PD_VOTE_VERIFIER } pd_vote_mode;
int pd_vote_mode_parse(const char *s);          /* "majority" | "logprob" | "verifier"; -1 if unknown */
const char *pd_vote_mode_name(pd_vote_mode m);

typedef struct {
    const char *answer;      /* NULL: no answer (no vote) */
    double mean_logprob;     /* mean log-prob of the sample's sampled tokens (NAN if unknown) */
    double score;            /* verifier mode: in [0, 1] */
} pd_vote_item;

typedef struct {
    int winner;              /* index of the first item of the winning group; -1 if no item has an answer */
    int n_groups;
    double top, second;      /* total weight of the winning and the runner-up group */
    int top_count;           /* items in the winning group */
} pd_vote_tally;

typedef bool (*pd_vote_equiv_fn)(const char *a, const char *b);
double pd_vote_weight(const pd_vote_item *it, pd_vote_mode mode);
/* Tally n items; out filled; returns out->winner. */
int pd_vote_count(const pd_vote_item *items, int n, pd_vote_mode mode, pd_vote_equiv_fn equiv, pd_vote_tally *out);
/* True when `remaining` more votes (each of weight <= 1) cannot change the winner. */
bool pd_vote_decided(const pd_vote_tally *t, int remaining);

typedef struct {
    int n;                   /* samples (>= 1) */
    pd_vote_mode mode;
    bool adaptive;           /* stop the rest once decided */
    /* sample i's parameters (sampling seed, limits, policy chain in *pol if has); logprobs is forced on */
    bool (*seq_params)(void *ctx, int sample, pd_seq_params *p, pd_policy *pol, bool *has_pol);
    char *(*extract)(void *ctx, const char *answer, size_t len);     /* owned answer or NULL */
    pd_vote_equiv_fn equiv;                                           /* NULL: byte equality */
    double (*score)(void *ctx, const pd_gen_result *r, const char *answer); /* verifier mode */
    pd_status (*step)(void *ctx, pd_gen *g);                          /* NULL: pd_gen_step (or the hub's) */
    void *ctx;
    /* Verifier mode with a verifier model instead of `score` (hub != NULL): each finished sample's
     * extracted answer is judged by one prefill on gen model `verifier_model` (0: the sampling model
     * itself) posted to `hub`: "Question: {question}\nProposed answer: {answer}\nIs the proposed answer
     * correct? Answer Yes or No.\nAnswer:", score = sigmoid(logit(" Yes") - logit(" No")). The judging
     * runs in the same batches as the samples still decoding; a sample votes once its score is back,
     * and the vote waits for every pending judgement. `step` must step this hub (NULL: the driver
     * calls pd_reason_hub_step). The hub needs one free slot while judging. */
    struct pd_reason_hub *hub;
    int verifier_model;
    const pd_tokenizer *tok;
    const char *question;     /* NULL: "" */
} pd_vote_params;

typedef struct pd_vote_result {
    int seq;                 /* the winning sample's sequence (still in the gen; caller removes it), -1 none */
    int winner_sample;
    char *answer;            /* owned, NULL if no sample answered */
    int n_samples, n_finished, n_stopped;   /* forked, finished by themselves, removed early */
    int votes;               /* samples in the winning group */
    double top, second;
    long thinking_tokens, answer_tokens;    /* over every sample, the stopped ones' partial work included */
} pd_vote_result;
void pd_vote_result_free(pd_vote_result *r);

/* Run n samples of `prompt` through g (needs n + 1 free slots, plus any the step callback uses). */
pd_status pd_vote_run(pd_gen *g, const int32_t *prompt, int n_prompt, const pd_vote_params *p, pd_vote_result *out);
/* The same from an existing sequence `src` (its tokens are every sample's prefix; it should be
 * prefilled, not active): n samples are forked from it, then src is removed (also on failure).
 * Needs n free slots. The anytime vote forks its short answers at the cut with it. */
pd_status pd_vote_fork(pd_gen *g, int src, const pd_vote_params *p, pd_vote_result *out);

#endif
