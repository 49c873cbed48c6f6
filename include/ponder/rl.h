/* ponder/rl.h — reinforcement learning with verifiable rewards (training.md §0, §3): GRPO, Dr. GRPO,
 * DAPO and RLOO on the training engine (train.h), with rollouts through the generation loop (gen.h).
 *
 * One RL step:
 *   rollout  B prompts from a task (or a JSONL set) × G samples each: every prompt is prefilled once
 *            and forked G ways, and all B·G sequences decode in one batch (temperature / top-p, max
 *            new tokens, an optional thinking budget through the budget policy). The sampler records
 *            the log-prob of each sampled token under the model (π_old).
 *   reward   the task's verifier on each output (no model call), plus an optional format reward
 *            (thinking closed and an answer extractable) and DAPO's overlong soft punishment.
 *   advantage per group: GRPO/DAPO (r − mean)/(std + eps) with the unbiased std (as TRL and verl);
 *            Dr. GRPO r − mean; RLOO r − mean of the other G−1. A group whose rewards are all equal
 *            gets exactly 0. DAPO's dynamic sampling drops such groups and draws more prompts until
 *            the batch holds B groups (at most max_draws rounds).
 *   learn    μ epochs over the rollout batch in K minibatches, one AdamW step per minibatch, on the
 *            clipped surrogate min(ρA, clip(ρ, 1−ε_low, 1+ε_high)A), ρ = π_θ/π_old per token, minus
 *            β·k3 KL to a frozen reference (clamped to 10 as verl), aggregated by one of three modes.
 *   The rollout model is a zero-copy view of the trainer's F32 master weights (pd_rl_view): after an
 *   optimizer step the next rollout reads the new weights with no copy or file round trip.
 *
 * π is the sampling distribution, log_softmax(logits / temperature), in the learner and for the
 * reference (as verl and TRL do; top-p truncation is ignored there, as they do). π_old is by default
 * the learner's own forward before the first update (verl's recompute; with μ = K = 1 the same
 * forward that is differentiated), so the first update's ratio is 1. The sampler records untempered
 * log-probs (gen.h); the learner's untempered log-probs of the same tokens are compared with them
 * every step (logp_maxdiff, the check that rollouts and learner read the same weights). With
 * sampler_old_logp (temperature 1 only) the sampler's log-probs are π_old themselves.
 * Only sampled tokens carry loss: prompt, padding and tokens injected by a policy (a forced
 * "</think>") are masked out.
 * Budget-aware rollouts: --answer-budget gives the answer its own budget after the thinking cut
 * (Elastic Reasoning, rl_elastic.h); algo brpo replaces the groups by budget trees with per-token
 * thinking advantages (AnytimeReasoner, rl_brpo.h). */
#ifndef PONDER_RL_H
#define PONDER_RL_H
#include "ponder/adapted.h"
#include "ponder/error.h"
#include "ponder/rl_brpo.h"
#include "ponder/rl_elastic.h"
#include "ponder/rl_gates.h"
#include "ponder/rl_memory.h"
#include "ponder/rlp.h"
#include "ponder/rl_shape.h"
#include "ponder/rng.h"
#include "ponder/train.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    PD_RL_GRPO = 0, PD_RL_DRGRPO, PD_RL_DAPO, PD_RL_RLOO,
    PD_RL_NSR, PD_RL_PSR, PD_RL_WREINFORCE, PD_RL_PRERL, PD_RL_NSR_PRERL, PD_RL_DSRL,   /* rl_shape.h (rlshape) */
    PD_RL_BRPO,                 /* AnytimeReasoner / BRPO (rl_brpo.h): budget tree, per-segment advantages (rltree) */
    PD_RL_RLP,                  /* RLP (rlp.h): thoughts on a text corpus, information-gain reward (rlmem) */
} pd_rl_algo;
typedef enum { PD_RL_SEQ_MEAN_TOKEN_MEAN = 0, PD_RL_TOKEN_MEAN, PD_RL_SEQ_SUM_CONST } pd_rl_agg;
const char *pd_rl_algo_name(pd_rl_algo a);          /* "grpo", "drgrpo", "dapo", "rloo" */
int pd_rl_algo_from_name(const char *s);            /* -1 if unknown */
const char *pd_rl_agg_name(pd_rl_agg a);            /* "seq-mean-token-mean", "token-mean", "seq-sum-const" */
int pd_rl_agg_from_name(const char *s);             /* -1 if unknown */

/* ---- advantages (rl_adv.c) ----
 * rewards/adv: n_groups·G values, group g at [g·G, g·G+G). eps is added to the std (GRPO, DAPO).
 * zero_var (may be NULL) gets 1 for each group whose rewards are all equal. Returns their count. */
int pd_rl_advantages(pd_rl_algo algo, const double *rewards, int n_groups, int G, double eps, double *adv,
                     uint8_t *zero_var);

/* ---- the surrogate loss on per-token log-probs (rl_adv.c) ----
 * Sequence i's response tokens are [start[i], start[i]+len[i]) of the flat arrays; mask[k] = 0 drops
 * token k (injected, filtered). logp_ref may be NULL (no KL). norm_seqs and norm_tokens are the
 * minibatch's sequence count and masked-token count: the loss of a minibatch processed in chunks is
 * the sum of the chunks' losses computed with the minibatch's normalisers. */
typedef struct {
    pd_rl_agg agg;
    double eps_low, eps_high;    /* clip range [1−eps_low, 1+eps_high] */
    double beta;                 /* k3 KL weight (0: none) */
    double l_norm;               /* SEQ_SUM_CONST divisor (the generation length limit) */
} pd_rl_loss_cfg;
typedef struct {
    int n_seq;
    const int *start, *len;
    const double *adv;           /* per sequence */
    const double *logp, *logp_old, *logp_ref;
    const uint8_t *mask;         /* NULL: every token counts */
    double norm_seqs, norm_tokens;
    const double *adv_tok;       /* per token (flat, BRPO's thinking segments); NULL: adv per sequence */
} pd_rl_tokens;
typedef struct {
    double clipped;              /* tokens whose clipped branch was taken and has zero gradient */
    double tokens;               /* masked tokens seen */
    double kl_sum;               /* Σ k3 over those tokens */
    double ratio_dev_max;        /* max |ρ − 1| */
} pd_rl_lstats;
/* Returns the loss; dlogp (may be NULL) receives dLoss/dlogp per token (0 where masked). stats may
 * be NULL; when given, it is accumulated into (zero it first). */
double pd_rl_surrogate(const pd_rl_loss_cfg *c, const pd_rl_tokens *t, double *dlogp, pd_rl_lstats *stats);

/* Partial credit of an answer (rl --partial-reward): the share of positions, aligned from the right
 * (units digit with units digit), where `got` and `want` hold the same character, over the longer
 * length, surrounding whitespace ignored: "112" for "122" is 2/3, "89" for "79" 1/2; 0 when either is
 * empty or NULL. */
double pd_rl_partial_credit(const char *got, const char *want);

/* DAPO overlong soft punishment of a response of L tokens: 0 up to l_max − l_cache, then falling
 * linearly to −1 at l_max, −1 beyond. l_cache <= 0: none. */
double pd_rl_overlong_penalty(int L, int l_max, int l_cache);

/* ---- the weight view ----
 * The inference path's model over the trainer's own parameters: every weight tensor of the returned
 * pd_model points into pd_tmodel_params(m) (F32, the same layout), so it sees every update at once;
 * a frozen matrix (pd_tmodel_load_frozen) stays in its stored type. Config and tokenizer come from
 * the file m was loaded from, opened again (mapped; its weights are never read, so no copy), or for a
 * model made in memory from pd_tmodel_snapshot (whose in-memory weights then go unused).
 * Free with pd_model_free before freeing m. */
struct pd_model;
struct pd_model *pd_rl_view(pd_tmodel *m);
/* The same view with the trainer-owned tensors reading `params` (m's layout) instead of m's own:
 * RLP's EMA teacher. */
struct pd_model *pd_rl_view_of(pd_tmodel *m, const float *params);

/* ---- the RL engine ---- */
typedef struct {
    pd_rl_algo algo;
    pd_rl_agg agg;               /* set by pd_rl_cfg_for_algo; may be overridden */
    int B, G;                    /* prompts per step, samples per prompt */
    float temperature, top_p;
    int max_tokens;              /* new tokens per response */
    int think_budget;            /* -1: none (budget policy otherwise) */
    double eps_low, eps_high, beta, adv_eps;
    int ppo_epochs, minibatches; /* μ and K: μ·K optimizer steps per RL step */
    bool dynamic_sampling;       /* DAPO: drop all-equal groups, draw more prompts */
    int max_draws;               /* rounds of B prompts dynamic sampling may draw per step */
    double w_correct, w_format;  /* reward = w_correct·verifier + w_format·format_ok + overlong */
    double w_partial;            /* + w_partial·pd_rl_partial_credit(extracted, answer) when not correct */
    int extract;                 /* pd_extract_mode of the verifier (0 = AUTO: the task's own / JSONL's chain) */
    int overlong_buffer;         /* DAPO L_cache (0: no length shaping) */
    bool overlong_filter;        /* mask truncated responses out of the loss */
    int micro_rows;              /* rows per forward/backward chunk of the learner */
    bool sampler_old_logp;       /* π_old = the sampler's log-probs (default: the learner's forward
                                    before the first update; see pd_rl_step) */
    pd_optcfg opt;
    pd_rl_mem_cfg mem;           /* Memory-R / Memory-R+ intrinsic rewards (rl_memory.h; off by default) */
    pd_rlp_cfg rlp;              /* RLP settings (rlp.h; algo PD_RL_RLP) */
    pd_rl_elastic_cfg elastic;   /* Elastic: the answer budget after --think-budget (rl_elastic.h) */
    pd_rl_brpo_cfg brpo;         /* AnytimeReasoner / BRPO tree (rl_brpo.h; algo PD_RL_BRPO) */
    pd_rl_shape_cfg shape;       /* NSR/PreRL/DSRL, SLPO, redundancy penalty (rl_shape.h) */
    pd_rl_gates_cfg gates;       /* RLKV gates (rl_gates.h): learn only the gates, weights frozen (off) */
} pd_rl_cfg;
/* Defaults for an algorithm (training.md §3.4, engine column): G 8, B 8, temperature 1, top-p 1,
 * max_tokens 256, ε 0.2 (DAPO 0.2/0.28), β 0, μ 1, K 1, lr 1e-6 constant (no warm-up, no decay),
 * grad clip 1, weight decay 0; aggregation SEQ_MEAN_TOKEN_MEAN (GRPO, RLOO), SEQ_SUM_CONST
 * (Dr. GRPO), TOKEN_MEAN (DAPO, which also turns on dynamic sampling and the overlong buffer =
 * max_tokens/4). */
void pd_rl_cfg_for_algo(pd_rl_cfg *c, pd_rl_algo algo);

/* Where prompts come from: a task (difficulty range) or a JSONL set (the last 10% held out). */
typedef struct {
    const char *task;
    int dlo, dhi;
    const char *jsonl;
} pd_rl_source;

typedef struct {
    double reward_mean, reward_std, accuracy;     /* over the kept groups */
    double dropped_frac, zero_var_frac;           /* of the groups drawn / kept */
    int groups_drawn, groups_kept;
    double len_mean, len_think, len_answer, len_correct, len_incorrect;
    double entropy, kl, clip_frac, ratio_dev_max, grad_norm, lr, loss;
    double rollout_tokens, learner_tokens;        /* tokens generated / trained on */
    double t_rollout, t_reward, t_learn;          /* seconds */
    double rollout_cpu, learn_cpu;                /* process CPU seconds */
    double logp_maxdiff;                          /* when checked: max |sampler − learner| log-prob */
    double mem_exploit, mem_explore, mem_succ_keys, mem_fail_keys;   /* Memory-R+: mean rewards, memory sizes */
    double rlp_reward, rlp_s_pred, rlp_s_ema, rlp_acc_pred, rlp_acc_ema;   /* RLP: means over the batch */
    pd_rl_elastic_stats elastic; pd_rl_brpo_stats brpo;                  /* rl_elastic.h, rl_brpo.h */
    pd_rl_shape_stats shape;                      /* rl_shape.h: phase, signs, SLPO, ERD/IRD, markers */
    double gates_mean, gates_low, gates_beta_eff, gates_penalty;   /* rl_gates.h: after the step's updates:
                                                     mean gate, share below 0.5; β' and β'·mean|α| of the last */
} pd_rl_stats;

typedef struct pd_rl pd_rl;
/* m: the policy (owned by the caller, must outlive the engine); ref: a frozen copy of the initial
 * policy for the KL term (may be NULL when beta = 0; owned by the caller). */
pd_rl *pd_rl_new(pd_tmodel *m, pd_tmodel *ref, const pd_rl_cfg *c, const pd_rl_source *src);
/* RL through an adapter (ponder/adapted.h; bound, owned by the caller, must outlive the engine): only
 * the adapter's factors are trained (c->opt's AdamW on them), the engine's adapted matrices hold
 * W_eff = W0 + Δ_eff, rebuilt after every update, and the rollout view reads them (a merged view:
 * rollouts see the adapted model, no copy). The KL reference is the base with the adapter off: a
 * second view of the same weights with the adapted matrices at W0 (no second model). */
pd_rl *pd_rl_new_adapted(pd_adapted *ad, const pd_rl_cfg *c, const pd_rl_source *src);
void pd_rl_free(pd_rl *r);
/* One step (rollout, rewards, advantages, μ·K updates). rng: prompts, sampling seeds, minibatch
 * order; opt_step: the optimizer step counter (advanced by μ·K). check_logp: also compute the
 * learner's log-probs of the rollout before any update and report the worst difference. */
pd_status pd_rl_step(pd_rl *r, pd_rng *rng, int64_t *opt_step, bool check_logp, pd_rl_stats *s);
struct pd_model *pd_rl_model(pd_rl *r);   /* the view the rollouts use */
pd_rl_gates *pd_rl_gates_of(pd_rl *r);    /* the RLKV gates being learned (NULL unless cfg.gates.on) */
/* Held-out items of the source (test split) for greedy accuracy: up to n items; returns the count. */
int pd_rl_eval_items(pd_rl *r, uint64_t seed, int n, pd_task_item *items);

/* For tests: the last rollout batch (after pd_rl_step): n sequences, group g = [g·G, g·G+G). */
typedef struct {
    int n, G;
    const double *reward, *adv;
    const int *resp_len;
    const int32_t *const *tokens;   /* tokens[i]: prompt + response of sequence i */
    const int *n_tokens, *n_prompt;
} pd_rl_batch_view;
void pd_rl_last_batch(const pd_rl *r, pd_rl_batch_view *v);
/* Test hook: the reward function (default: the verifier path above) replaced by fn(ctx, item,
 * output text, n_tokens). */
typedef double (*pd_rl_reward_fn)(void *ctx, const pd_task_item *it, const char *text, int n_tokens);
void pd_rl_set_reward(pd_rl *r, pd_rl_reward_fn fn, void *ctx);
/* For tests: sequence i of the last batch: its sampler log-probs per response token (NaN: injected by
 * the trainer, no loss) and its per-token advantages (NULL: the sequence's own, v.adv[i]); and the last
 * BRPO tree (NULL unless algo brpo; its rows' token arrays have moved into the batch: row k of the
 * tree is sequence k). */
void pd_rl_last_seq(const pd_rl *r, int i, const float **lp_old, const double **adv_tok);
const pd_brpo_tree *pd_rl_last_tree(const pd_rl *r);

/* ---- the run (`ponder rl`) ----
 * The shared run settings (pd_run_opts: task or data (a JSONL set), difficulty, steps, seed, threads,
 * out, resume, log, plot, checkpoint/eval cadence, eval_n, max_new, optimiser, progress, stop_at)
 * plus the RL settings. run.B is the learner's rows per forward/backward chunk; run.T is unused (the
 * learner's capacity is the model's context). The optimiser is run.opt (rl.opt is ignored). */
typedef struct {
    pd_run_opts run;
    pd_rl_cfg rl;
    const char *model;          /* starting model (GGUF); on resume the checkpoint holds the policy */
    bool adapter;               /* train an adapter on `model` (frozen base; any stored type) instead of
                                 * the full model: run.out is then the adapter file (`ponder run
                                 * --adapter`), run.out.ckpt the adapter + its AdamW moments + settings */
    pd_adapted_spec adapter_spec;   /* method, targets, rank, alpha, SoKA settings (seed: run.seed) */
    double *reward_curve;       /* optional: mean reward per step (indexed by step) */
    pd_rl_reward_fn reward_fn;  /* tests: replaces the verifier reward (NULL: verifiers) */
    void *reward_ctx;
} pd_rl_opts;
/* pd_rl_cfg_for_algo(algo) and the run defaults with RL's optimiser (lr 1e-6 constant, clip 1, no
 * weight decay), 100 steps, eval_n 0, max_new 256; adapter off (spec: LoRA q,v r 8). */
void pd_rl_opts_default(pd_rl_opts *o, pd_rl_algo algo);
typedef struct {
    int64_t steps_done;
    double first_acc, final_acc;        /* greedy held-out accuracy before the first and after the last step */
    double seconds;
    pd_rl_algo algo;                    /* the algorithm that ran (a resumed run's: its checkpoint's) */
    pd_rl_stats last;
} pd_rl_result;
pd_status pd_rl_run(const pd_rl_opts *o, pd_rl_result *res);

/* `ponder bench rl`: rollout tokens/s at B·G = 1, 8, 64 sequences and the learner's tokens/s on
 * model_path (NULL: a random 1M-parameter byte model), with the time split of one step. */
pd_status pd_bench_rl_run(FILE *out, const char *model_path, int threads, int max_tokens);
int pd_bench_rl(int argc, char **argv);

#endif
