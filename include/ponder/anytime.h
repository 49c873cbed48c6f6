/* ponder/anytime.h — anytime reasoning with several short answers at the cut (inference.md §1a):
 * the thinking runs under the budget `think`; when the budget cuts it (the closer is injected, not
 * sampled), the sequence's own answer is not taken: `votes` short answers are forked at the cut
 * (just after the injected "</think>\n\n"), each sampled with its own seed and its own answer
 * budget `answer`, and voted with vote.c's tally (pd_vote_fork). When the model closes its thinking
 * by itself within the budget, nothing is forked: its own answer (under `answer`) is the result.
 * Registry spelling: `anytime:think=T,answer=S,votes=A` (votes 1: the plain budget policy). */
#ifndef PONDER_ANYTIME_H
#define PONDER_ANYTIME_H
#include <stdbool.h>
#include "ponder/error.h"
#include "ponder/gen.h"
#include "ponder/vote.h"

typedef struct {
    int think, answer, votes;   /* think >= 0, answer >= 1 (-1: none), votes >= 1 */
    pd_vote_mode mode;          /* majority | logprob (verifier needs score) */
    /* sequence parameters: sample -1 is the thinking sequence, 0..votes-1 the short answers
       (seed, limits, a policy instance chained before the budget in *pol when *has) */
    bool (*seq_params)(void *ctx, int sample, pd_seq_params *p, pd_policy *pol, bool *has_pol);
    char *(*extract)(void *ctx, const char *answer, size_t len);
    pd_vote_equiv_fn equiv;
    double (*score)(void *ctx, const pd_gen_result *r, const char *answer);
    pd_status (*step)(void *ctx, pd_gen *g);   /* NULL: pd_gen_step */
    void *ctx;
} pd_anytime_params;

/* Run `prompt`; out->seq is the result's sequence (still in the gen; the caller removes it).
 * *cut tells whether the budget cut the thinking (then out->n_samples == votes forks were voted;
 * else out has n_samples 0 and out->answer NULL). thinking_tokens counts the shared thinking once.
 * Needs votes + 1 free slots. */
pd_status pd_anytime_run(pd_gen *g, const int32_t *prompt, int n_prompt, const pd_anytime_params *p, pd_vote_result *out,
                         bool *cut);

#endif
