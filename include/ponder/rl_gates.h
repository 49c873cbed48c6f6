/* ponder/rl_gates.h — RLKV head gates learned by RL (inference.md §4, [P:2510.08525]): one gate
 * α_{l,h} ∈ [0,1] per layer and KV head, trained with `ponder rl --rlkv-gates FILE` while every model
 * weight stays frozen. In the learner's model each layer's attention becomes
 *     out = α·Attn_full + (1−α)·Attn_local
 * per KV head (the query heads of one GQA group share their KV head's gate), Attn_local seeing only
 * the first `sink` and the last `recent` keys of its row; the backward gives dα = Σ dout·(A_full −
 * A_local) over that group's outputs, through the frozen network to every layer's gates.
 * Objective: the RL surrogate (GRPO without KL by default) + β'·mean|α|, with the adaptive weight
 *     β' = 1[r̄ > τ] · β · (exp(r̄) − 1),   r̄ = the batch's mean reward
 * (the penalty switches off when rewards collapse). AdamW on the gates, then α clipped to [0,1].
 * The result is a TSV of L rows × H_kv tab-separated gates, as `--kv-policy rlkv:gates=FILE` reads
 * (ponder/kvpolicy.h, pd_kvp_read_gates); inference binarises them (the s-quantile decides which
 * heads keep the full cache).
 * Rollouts: by default from the MIXED model (pd_rl_gates_generate, a KV-cached decoder over the
 * training weights with the learner's mixed attention), so the rewards see the gates — the adaptive
 * penalty is built on that (it switches off when the gated model's rewards collapse), and with an
 * accurate model the original model's rollouts are nearly all correct, leaving GRPO no advantage to
 * work with. mixed_rollouts = false samples the original model through gen/ instead (faster; the
 * gates then only shape the learner's log-probs). */
#ifndef PONDER_RL_GATES_H
#define PONDER_RL_GATES_H
#include "ponder/error.h"
#include "ponder/sampler.h"
#include "ponder/tok.h"
#include "ponder/train.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    bool on;
    int sink, recent;           /* Attn_local's window during training (128, 256) */
    double beta, tau;           /* L1 weight β (1e-3) and reward threshold τ (0.5) of β' */
    double init;                /* every gate's start value (1.0) */
    bool mixed_rollouts;        /* rollouts from the mixed model (pd_rl_gates_generate; default) or, false,
                                   from the original model through gen/ */
} pd_rl_gates_cfg;
void pd_rl_gates_cfg_default(pd_rl_gates_cfg *c);   /* off, the §4 values above */

/* β' = 1[rbar > tau] · beta · (exp(rbar) − 1) */
double pd_rl_gates_beta_eff(double beta, double tau, double rbar);

typedef struct pd_rl_gates pd_rl_gates;
/* Gates for m (L × H_kv, all at c->init) and the mixed attention attached to m's forward/backward:
 * from now on m's learner forward mixes, its backward accumulates into the gates' gradient and skips
 * every weight matrix's gradient (the weights are frozen). NULL after pd_fail. */
pd_rl_gates *pd_rl_gates_new(pd_tmodel *m, const pd_rl_gates_cfg *c);
/* detaches from the model (its forward is the plain one again) and frees */
void pd_rl_gates_free(pd_rl_gates *g);
int pd_rl_gates_count(const pd_rl_gates *g);        /* L·H_kv */
float *pd_rl_gates_alpha(pd_rl_gates *g);           /* [l·H_kv + h] */
float *pd_rl_gates_grad(pd_rl_gates *g);            /* the gradient the backward accumulated */
void pd_rl_gates_zero_grad(pd_rl_gates *g);
/* Clip every gate to [0, 1] (NaN stays NaN: the step's finiteness check reports it). */
void pd_rl_gates_clip(float *alpha, int n);
/* One optimizer step: adds the penalty's gradient β'·sign(α)/n (sign(0) = 0, as |x|'s subgradient
 * torch takes) to the accumulated gradient, clips its norm to o->clip, AdamW (o's betas, eps and
 * weight decay, learning rate lr, bias correction at `step`), then clips α to [0,1]. rbar: the
 * batch's mean reward. Returns the gradient norm before clipping; *beta_eff gets β' and *penalty
 * β'·mean|α| before the update (both may be NULL). A non-finite gradient is an error naming the gate;
 * nothing is updated then. */
pd_status pd_rl_gates_step(pd_rl_gates *g, const pd_optcfg *o, int64_t step, float lr, double rbar, double *gnorm,
                           double *beta_eff, double *penalty);
/* One rollout from the MIXED model (the training model's weights, its attention mixed by the current
 * gates exactly as the learner's forward, KV-cached): prompt, then up to max_new sampled tokens (stop
 * after an end-of-generation token of tok, which is kept; tok NULL: none). out_tok needs n_prompt +
 * max_new entries and receives prompt + response (*n_out tokens in all); out_lp[i] the untempered
 * log-prob of response token i under the mixed model (as gen's sampler records). *truncated: stopped
 * by max_new or the model's capacity (m's T). Thread-safe for one g (no shared scratch). */
pd_status pd_rl_gates_generate(pd_rl_gates *g, const pd_tokenizer *tok, const int32_t *prompt, int n_prompt,
                               int max_new, const pd_sampler_params *sp, int32_t *out_tok, float *out_lp,
                               int *n_out, bool *truncated);
/* Write L rows of H_kv gates ("%.6f" tab-separated, one comment line first when comment != NULL)
 * atomically (ponder/outfile.h). */
pd_status pd_rl_gates_write_tsv(const char *path, const float *alpha, int L, int H_kv, const char *comment);
pd_status pd_rl_gates_write(const pd_rl_gates *g, const char *path, const char *comment);

#endif
