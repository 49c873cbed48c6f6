/* ponder/rl_shape.h — what the RL loop reinforces and how its rewards are shaped (training.md §4,
 * §7a, §7b), as options of the one loop in rl.c:
 *
 *  sign modes (which rollouts carry loss, with which advantage; replaces the group advantage):
 *    nsr          negative-sample reinforcement: every wrong rollout A = −1, correct rollouts carry no
 *                 loss (arXiv 2506.01347: reward −1 on wrong samples only).
 *    psr          positive-sample reinforcement (the comparison): correct A = +1, wrong carry no loss.
 *    w-reinforce  both, positives down-weighted: correct A = λ, wrong A = −1 (λ = --psr-weight,
 *                 default 0.1; the NSR paper's W-REINFORCE [M], not in training.md: proposed default).
 *  "correct" is the verifier's judgement (score ≥ 1), not the shaped reward.
 *
 *  PreRL (§4.1): the learner's forward reads [BOS] + response (the prompt removed), so the update is on
 *    the marginal log P(y); rollouts are still sampled conditioned on the prompt. Every response token
 *    carries loss (predicted from BOS and the response before it); when the tokenizer has no BOS the
 *    context token is the end-of-text token, else the prompt's first token [P].
 *    prerl = both signs (±1) in that space, nsr-prerl = NSR in it. No KL in the PreRL space (the
 *    reference's log-probs are conditioned on the prompt), and the learner's log-probs are not the
 *    sampler's, so logp_maxdiff is not measured there.
 *  dsrl: nsr-prerl for steps 1..S (--switch-step S), then standard GRPO on prompt + response.
 *  The sign modes default to TOKEN_MEAN aggregation and one on-policy update (ratio 1), §4.1's [P].
 *
 *  SLPO (§7a, proposed formula): in each group, correct responses get a bonus
 *    α·(L_max − L_i)/(L_max − L_min) over the correct set's lengths (0 when fewer than two correct or all
 *    of equal length); wrong responses and all-wrong groups are left as they are.
 *  Redundancy penalty (§7b, "Reconsidering Overthinking"): a correct response's verifier reward w is
 *    scaled by (1 − W) + W·q with q = 0.5·(f(IRD) + (1 − ERD)) (dual), 1 − ERD (external) or f(IRD)
 *    (internal); a correct response whose text does not hold exactly one "</think>" gets q = 0.
 *    ERD = bytes of the thinking after the first correct solution / bytes of the thinking (ponder's
 *    task models are byte-level: bytes are tokens). IRD: the first-solution part split into sentences,
 *    windows of w = max(1, ⌊0.1n⌋) sentences at stride max(1, ⌊0.05n⌋), each embedded as a hashed
 *    character-trigram count vector (normalised; proposed in place of MiniLM: no model call), the mean
 *    cosine of consecutive windows clipped to [0, 1] (0 with fewer than two windows).
 *    f(x) = (g(x) − g(1))/(g(0) − g(1)), g(x) = 1/(1 + exp(−20(1 − x − 0.3))).
 *  Reflection markers: case-insensitive count of hesitation / verification keywords ("wait", "hmm",
 *    "let me check", "alternatively", "verify", …; the SBT list of §7c, proposed) in a response. */
#ifndef PONDER_RL_SHAPE_H
#define PONDER_RL_SHAPE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { PD_RL_SIGN_NONE = 0, PD_RL_SIGN_NSR, PD_RL_SIGN_PSR, PD_RL_SIGN_WREINFORCE, PD_RL_SIGN_BOTH } pd_rl_sign;
typedef enum { PD_RL_LEN_NONE = 0, PD_RL_LEN_SLPO } pd_rl_len_reward;
typedef enum { PD_RL_RED_DUAL = 0, PD_RL_RED_EXTERNAL, PD_RL_RED_INTERNAL } pd_rl_red_mode;

/* the settings (pd_rl_cfg.shape) */
typedef struct {
    int switch_step;            /* dsrl: NSR-PreRL for the first S steps (default 15) */
    double psr_weight;          /* W-REINFORCE λ (default 0.1) */
    int length_reward;          /* pd_rl_len_reward */
    double slpo_alpha;          /* SLPO α (default 0.5) */
    double redundancy;          /* W: weight of the redundancy penalty (0: off) */
    int redundancy_mode;        /* pd_rl_red_mode */
} pd_rl_shape_cfg;
void pd_rl_shape_cfg_default(pd_rl_shape_cfg *c);

/* per-response quantities (rl.c keeps one per rollout) */
typedef struct {
    double erd, ird;            /* NaN when not measured (no penalty, or a wrong response) */
    double slpo_bonus;          /* SLPO bonus added to the reward */
    int markers;                /* reflection markers in the response */
    bool no_loss;               /* the sign mode drops this rollout from the loss */
} pd_rl_shape_seq;

/* per-step statistics (pd_rl_stats.shape), logged in the step JSONL */
typedef struct {
    int phase;                  /* 0: no sign mode; 1: the sign mode / NSR-PreRL warm-up; 2: dsrl's GRPO */
    bool prerl;                 /* the learner's forward dropped the prompt this step */
    double neg_frac, pos_frac;  /* share of rollouts with A < 0 / A > 0 */
    double slpo_bonus;          /* mean SLPO bonus over the correct responses (NaN: none) */
    double erd, ird;            /* mean over the measured responses (NaN: none) */
    double markers;             /* mean reflection markers per response */
} pd_rl_shape_stats;

/* ---- the algorithms (values of pd_rl_algo, at the end of the enum in rl.h) ---- */
const char *pd_rl_shape_algo_name(int algo);        /* NULL if not one of these */
int pd_rl_shape_algo_from_name(const char *s);      /* -1 if unknown */
/* The sign mode and PreRL flag of `algo` at RL step `step` (0-based); dsrl switches at switch_step. */
pd_rl_sign pd_rl_shape_phase(int algo, const pd_rl_shape_cfg *c, int64_t step, bool *prerl);

bool pd_rl_shape_uses_prerl(int algo);             /* prerl, nsr-prerl, dsrl */
struct pd_rl;
/* The RL step (0-based) the next pd_rl_step is (DSRL's phase; the run sets it, a resumed run too; by
 * default the engine counts its own steps from 0). */
void pd_rl_set_step(struct pd_rl *r, int64_t step);
/* For tests: the learner's row of sequence i of the last batch (rl.c): *tok, and *n_prompt = tokens
 * before the first response token. Returns its length. */
int pd_rl_learner_row(const struct pd_rl *r, int i, const int32_t **tok, int *n_prompt);

/* ---- the quantities (pure functions, tested on hand-made cases) ---- */
/* adv[i] for sign mode `sign` from correct[i]; loss[i] = 0 for a rollout that carries no loss. */
void pd_rl_sign_advantages(pd_rl_sign sign, double lambda, const uint8_t *correct, int n, double *adv, uint8_t *loss);
/* SLPO over n_groups groups of G: adds the bonus to reward[i] of each correct response; bonus (may be
 * NULL) receives it (0 elsewhere). Returns the number of responses that got a non-zero bonus. */
int pd_rl_slpo(double *reward, const uint8_t *correct, const int *len, int n_groups, int G, double alpha,
               double *bonus);
/* The learner's row for a response under PreRL: [bos] + tok[n_prompt..n) (bos < 0: the response alone)
 * into out (room for n − n_prompt + 1); *n_prompt_out = tokens before the first response token (1 or 0).
 * Returns the row's length. */
int pd_rl_prerl_row(int32_t bos, const int32_t *tok, int n, int n_prompt, int32_t *out, int *n_prompt_out);
/* ERD of a thinking text and the answer: the first occurrence of `answer` (not inside a longer run of
 * letters or digits) ends the first correct solution; ERD = bytes after it / bytes of the thinking (0 if
 * the answer is not found or the thinking is empty). *fcs_len (may be NULL) = bytes of the first
 * solution (the whole thinking when not found). */
double pd_rl_erd(const char *think, size_t len, const char *answer, size_t *fcs_len);
/* IRD of a text (see above) and the internal score f(IRD) */
double pd_rl_ird(const char *text, size_t len);
double pd_rl_ird_score(double ird);
/* The redundancy quality q ∈ [0, 1] of a response text (mode as above), with its ERD and IRD (may be
 * NULL). The thinking is the text before "</think>" (after a leading "<think>"); q = 0 unless the text
 * holds exactly one "</think>". */
double pd_rl_redundancy(int mode, const char *text, const char *answer, double *erd, double *ird);
int pd_rl_reflect_markers(const char *text);

/* The shaped reward of one response given its base reward (rl.c's verifier path): the redundancy
 * penalty on a correct one, and its per-response quantities into q (markers always). */
double pd_rl_shape_reward(const pd_rl_shape_cfg *c, const char *text, const char *answer, bool correct,
                          double w_correct, double reward, pd_rl_shape_seq *q);
/* The step's JSONL keys (",\"shape_phase\":…" …) */
void pd_rl_shape_log(FILE *f, const pd_rl_shape_stats *s);

#endif
