/* ponder/gen.h — the generation loop: many sequences at once over one model (plus optional helper
 * models for hand-over), one pd_model_forward per model per step with prefill and decode mixed.
 *
 * Life of a sequence (continuous batching: sequences join and leave at any step):
 *   id = pd_gen_add(g, prompt, n, &params);      joins; on_start policies run
 *   while (pd_gen_n_active(g)) pd_gen_step(g);   each step feeds every active sequence's pending
 *                                                tokens (its prompt in chunks, or the last sampled /
 *                                                injected tokens) and samples one token for each
 *                                                sequence whose pending tokens are all fed
 *   r = pd_gen_get_result(g, id);               tokens, phases, thinking and answer text, usage
 *   pd_gen_remove(g, id);                        frees the slot for another sequence
 *
 * Each sequence has its own sampler (seeded: same seed and prompt → same text run after run; alone
 * or batched gives the same text with the scalar kernels, and with the SIMD kernels on F32 weights
 * (their matmul sums each output in one order whatever the batch: kern/mm_f32.c; the RL rollouts'
 * case, tests/train/test_rollout_batch.c); the SIMD matmuls of F16/BF16/quantised weights round a
 * prefill row and a decode row differently, about 1e-6 of a logit, which can flip a sampled token)
 * and its own policy chain (ponder/policy.h). Every token is labelled prompt / thinking / answer
 * by the thinking markers ("<think>", "</think>" tokens of the vocabulary); the phase after the
 * prompt is THINKING if the prompt's last opener is not closed, so a prompt ending in "<think>\n"
 * (DeepSeek-R1's generation prompt, or raw text) starts in the thinking phase.
 * Text is decoded incrementally: the stream callback never receives half a UTF-8 character, and
 * text that may still turn out to begin a stop string is held back until that is decided.
 * Stop strings are matched on the answer text, across token boundaries; the result's answer ends
 * before the stop string. Nothing is allocated per token (buffers are sized at pd_gen_new and
 * texts grow by doubling).
 *
 * Sequence primitives: fork (a new sequence that shares the prefix's KV, copied with
 * pd_kv_seq_copy), prefill (feed a prompt before forking it N ways), add_reusing (join on the KV of a
 * common prefix with another sequence), rewind (truncate tokens and KV), score (log-probs of a given
 * continuation). Log-probabilities are taken after the policies' logit biases (ponder/sampler.h). */
#ifndef PONDER_GEN_H
#define PONDER_GEN_H
#include "ponder/model.h"
#include "ponder/policy.h"
#include "ponder/sampler.h"

typedef struct pd_gen pd_gen;

typedef struct {
    int n_seq_max;     /* sequences at once (default 1) */
    int n_ctx;         /* positions per sequence, prompt included (default: model's training context, at most 32768) */
    pd_type kv_type;   /* K cache type, and V's unless kv_type_v_set: PD_TYPE_F16 (pd_gen_defaults), F32 (= 0, so
                          a zeroed struct means F32), Q8_0 or Q4_0 */
    bool kv_type_v_set;   /* V cache type kv_type_v, independent of K (llama.cpp's -ctk / -ctv) */
    pd_type kv_type_v;
    int n_batch;       /* most tokens per forward step; prompts are fed in chunks (default 512) */
} pd_gen_params;
pd_gen_params pd_gen_defaults(void);   /* F16 KV; zero counts = defaults (1 sequence, model context, batch 512) */

typedef enum {
    PD_FINISH_NONE = 0,   /* still running */
    PD_FINISH_EOG,        /* end-of-generation token (or one of the stop tokens) */
    PD_FINISH_STOP,       /* a stop string */
    PD_FINISH_LENGTH,     /* max_tokens */
    PD_FINISH_CONTEXT,    /* the sequence filled n_ctx */
    PD_FINISH_POLICY,     /* a policy answered PD_ACT_STOP */
    PD_FINISH_ERROR,      /* sampling failed (all logits -inf/NaN); see pd_gen_get_result()->error */
} pd_finish;
const char *pd_finish_name(pd_finish f);  /* "eog", "stop", "length", "context", "policy", "error" */

typedef struct {
    pd_sampler_params sampling;
    int max_tokens;                    /* generated + injected tokens; 0: none at all; < 0 (default -1):
                                          until the context is full */
    const char *const *stop; int n_stop;       /* stop strings (copied) */
    const int32_t *stop_tokens; int n_stop_tokens; /* extra tokens that end generation (copied) */
    bool ignore_eog;                   /* keep going past end-of-generation tokens (benchmarks) */
    bool logprobs;                     /* keep the log-prob of every generated token */
    const pd_policy *policies; int n_policies; /* the chain (copied; released at pd_gen_remove) */
} pd_seq_params;
pd_seq_params pd_seq_defaults(void);   /* sampler defaults, no limits, no stops, no policies */

typedef struct {
    pd_finish finish;
    const char *error;                 /* PD_FINISH_ERROR: the message */
    const char *stop_string;           /* PD_FINISH_STOP: the string that matched */
    const char *stop_policy;           /* PD_FINISH_POLICY: name of the policy that stopped it */
    const int32_t *tokens;             /* prompt + generated (EOG/stop token included) */
    const uint8_t *phases;             /* pd_phase per token */
    const float *logprobs;             /* per generated token (index i - n_prompt), NaN for injected
                                          ones; NULL unless params.logprobs */
    int n_tokens, n_prompt;
    int n_thinking, n_answer;          /* generated + injected tokens per phase */
    const char *thinking; size_t thinking_len;  /* markers and EOG left out; NUL-terminated */
    const char *answer; size_t answer_len;
    double t_prefill;                  /* seconds from joining to the first sampled token */
    double t_decode;                   /* seconds from the first sampled token to the end */
    size_t kv_peak_bytes;              /* peak KV bytes of the generator's cache(s) so far, all sequences */
} pd_gen_result;

/* The policy name of ponder/budget.h: when it stops a sequence, the answer budget was spent. */
#define PD_POLICY_ANSWER_BUDGET "budget"
/* OpenAI's finish_reason: "stop" (end-of-generation token, stop string, a policy's stop) or "length"
 * (max_tokens, the answer budget, the context); NULL while running or after an error. */
const char *pd_finish_reason(const pd_gen_result *r);
/* ponder's detail: "eog", "stop_string", "max_tokens", "answer_budget", "context", "policy", "error"
 * ("none" while running). */
const char *pd_finish_detail(const pd_gen_result *r);

/* text: complete UTF-8 of one phase (thinking or answer), in order; never half a character. */
typedef void (*pd_stream_fn)(void *ctx, int seq, pd_phase phase, const char *text, size_t len);
/* After every sampled token (sample holds the logprobs when the sampler asks for them). */
typedef void (*pd_token_fn)(void *ctx, int seq, const pd_sample *sample, pd_phase phase);

pd_gen *pd_gen_new(const pd_model *m, const pd_gen_params *p);   /* NULL + error */
void pd_gen_free(pd_gen *g);
/* A second (third, …) model that sequences can be handed over to (same vocabulary). Returns its
 * index (>= 1) or -1 + error. It gets its own KV cache; a sequence handed over catches up by
 * prefilling the tokens that model has not seen yet. */
int pd_gen_add_model(pd_gen *g, const pd_model *m);
void pd_gen_set_stream(pd_gen *g, pd_stream_fn fn, void *ctx);
void pd_gen_set_token_callback(pd_gen *g, pd_token_fn fn, void *ctx);
const pd_model *pd_gen_model(const pd_gen *g, int index);
/* The KV cache of model `index` (kv/ eviction policies, probes); NULL if there is no such model. */
pd_kv *pd_gen_kv(pd_gen *g, int index);
int32_t pd_gen_think_open(const pd_gen *g);   /* marker ids, -1 if the vocabulary has none */
int32_t pd_gen_think_close(const pd_gen *g);

/* Join with a prompt (n >= 1 tokens). Returns the sequence id, or -1 + error (no free slot,
 * prompt longer than n_ctx, bad params). */
int pd_gen_add(pd_gen *g, const int32_t *prompt, int n, const pd_seq_params *p);
/* Join like pd_gen_add, reusing the KV of the longest common token prefix with sequence `donor`
 * (a finished or running sequence, e.g. the previous turn of a chat or a shared system prompt);
 * only the rest of the prompt is prefilled. The donor is unchanged. */
int pd_gen_add_reusing(pd_gen *g, int donor, const int32_t *prompt, int n, const pd_seq_params *p);
/* One step: one forward per model with pending tokens, then sampling and policies.
 * PD_OK also when nothing was active. An error from the forward is returned (sequences unchanged). */
pd_status pd_gen_step(pd_gen *g);
/* Step until no sequence is active. */
pd_status pd_gen_run(pd_gen *g);
int pd_gen_n_active(const pd_gen *g);   /* joined and not finished */
int pd_gen_n_free(const pd_gen *g);     /* free slots */
int pd_gen_n_ctx(const pd_gen *g);      /* positions per sequence: prompts must be shorter */
/* Tokens fed to model `index`'s forward since pd_gen_new (prompts, injected and sampled tokens; a
 * prefix reused through fork / add_reusing is not fed again): what a test counts to see no re-prefill. */
int64_t pd_gen_tokens_fed(const pd_gen *g, int index);
size_t pd_gen_kv_bytes(const pd_gen *g); /* KV cache bytes in use, all models (pd_kv_bytes; serve's /metrics) */
bool pd_gen_done(const pd_gen *g, int seq);
const pd_gen_result *pd_gen_get_result(pd_gen *g, int seq);  /* NULL if seq is not in use */
void pd_gen_remove(pd_gen *g, int seq);

/* Fork: a new sequence with seq's tokens, phases, texts and KV (shared prefix, copied), and its own
 * sampler and policies from p. The source may be running or finished; the fork is active.
 * Returns the new id or -1 + error. */
int pd_gen_fork(pd_gen *g, int seq, const pd_seq_params *p);
/* Prefill: feed all but the last of seq's pending tokens to its model now (no sampling), so that
 * forks made afterwards share that KV instead of each prefilling the prompt. The usual pattern for
 * N samples of one prompt (self-consistency, RL groups):
 *   id = pd_gen_add(g, prompt, n, &p0); pd_gen_prefill(g, id);
 *   for (i = 0; i < N; i++) fork[i] = pd_gen_fork(g, id, &p_i);   pd_gen_remove(g, id); */
pd_status pd_gen_prefill(pd_gen *g, int seq);
/* Rewind: keep the first n_tokens tokens (n_prompt <= n_tokens <= current); the sequence becomes
 * active again and its texts, counts and phase are recomputed. */
pd_status pd_gen_rewind(pd_gen *g, int seq, int n_tokens);
/* Score: logprobs[i] = log p(cont[i] | prefix, cont[0..i)) under model `model_index`, for a
 * prefix of n_prefix >= 1 tokens. Uses a free slot for the time of the call. */
pd_status pd_gen_score(pd_gen *g, int model_index, const int32_t *prefix, int n_prefix, const int32_t *cont,
                       int n_cont, float *logprobs);

#endif
