/* ponder/rlp.h — RLP, reinforcement as a pretraining objective (training.md §9), as an algorithm of
 * the RL engine: `ponder rl --algo rlp --data corpus.txt`.
 *
 * A "prompt" is a window of the corpus: ctx tokens x_<t followed by "<think>" (when the vocabulary
 * has it); the engine samples G thoughts c after it (the response, at most max_tokens tokens, ended
 * by "</think>"). Each thought is scored with no gradient:
 *   S_pred = log p_θ(x_t | x_<t, <think> c </think>)   the policy at rollout time (a "</think>" the
 *                                                       thought did not write is appended, not sampled)
 *   S_ema  = log p_φ(x_t | x_<t)                       the EMA teacher, no thought
 *   r      = S_pred − S_ema                            the information gain (nats)
 * The advantage is G/(G−1)·(r − group mean) (RLOO's, = the paper's bias-corrected inclusive mean),
 * the loss the clipped surrogate on the thought tokens only (sequence mean of token means), no
 * next-token loss. After every optimizer step φ ← τ·φ + (1−τ)·θ (φ starts as θ). Log-probs are
 * untempered (the temperature only shapes sampling). The corpus's last 10% is held out (as ponder
 * train's text data); `after` restricts the predicted positions to those right after a given token
 * (e.g. "=" in an arithmetic corpus); by default any position with ctx tokens before it. */
#ifndef PONDER_RLP_H
#define PONDER_RLP_H
#include "ponder/error.h"
#include "ponder/rng.h"
#include "ponder/task.h"
#include "ponder/train.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int ctx;                    /* context tokens before the predicted one, at most (64) */
    double tau;                 /* EMA decay (0.999) */
    const char *after;          /* predict only right after this text (one token); NULL: anywhere */
} pd_rlp_cfg;
void pd_rlp_cfg_default(pd_rlp_cfg *c);

/* φ ← τ·φ + (1−τ)·θ over n floats */
void pd_rlp_ema(float *phi, const float *theta, size_t n, double tau);

typedef struct pd_rlp pd_rlp;
struct pd_model;
/* m: the policy (its tokenizer through `view`, the engine's view of m); corpus: a text file. */
pd_rlp *pd_rlp_new(pd_tmodel *m, struct pd_model *view, const pd_rlp_cfg *c, const char *corpus);
void pd_rlp_free(pd_rlp *p);
/* a training position as a task item (prompt: the context's token ids, answer: x_t's id, both as
 * decimal text; heldout: from the held-out tail) */
pd_status pd_rlp_draw(pd_rlp *p, pd_rng *rng, bool heldout, pd_task_item *it);
/* the prompt tokens of such an item: the context and "<think>" (malloc'd) */
pd_status pd_rlp_prompt(const pd_rlp *p, const pd_task_item *it, int32_t **tok, int *n);
/* Score one rollout: tok[0..n) = prompt + thought. *s_pred, *s_ema as above; *hit_pred / *hit_ema:
 * whether x_t is the argmax of either distribution. The EMA score is computed once per item and
 * cached until the next pd_rlp_begin_step. */
pd_status pd_rlp_score(pd_rlp *p, const pd_task_item *it, const int32_t *tok, int n, double *s_pred, double *s_ema,
                       bool *hit_pred, bool *hit_ema);
void pd_rlp_begin_step(pd_rlp *p);
/* after an optimizer step: the EMA update from m's parameters */
void pd_rlp_after_update(pd_rlp *p);
/* the teacher's parameters (for tests; n_params of m) */
const float *pd_rlp_teacher(const pd_rlp *p);

#endif
