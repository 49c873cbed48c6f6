/* ponder/sampler.h — choosing the next token from logits: greedy, temperature, top-k, top-p,
 * min-p, repetition / presence / frequency penalties, seeded randomness (same seed and same logits
 * → same tokens on every machine), and log-probabilities of the chosen and the top-n tokens.
 *
 * Order of operations (the Hugging Face / vLLM order):
 *   1. penalties over the tokens recorded with pd_sampler_accept (the last `penalty_last_n`):
 *      repetition (llama.cpp/CTRL form: logit > 0 → logit / r, else logit · r), then
 *      logit -= frequency · count + presence · (count > 0)   (OpenAI form);
 *   2. temperature <= 0 → greedy: the largest logit (lowest id on ties), nothing random is drawn;
 *   3. logits / temperature, softmax;
 *   4. top-k (keep the k most probable), top-p (keep the smallest most-probable prefix whose mass
 *      reaches p), min-p (keep p_i >= min_p · p_max), renormalise;
 *   5. draw u ~ U[0,1) from the sampler's pd_rng and walk the kept tokens from most to least probable.
 * Log-probabilities are those of the model's distribution, log_softmax(logits) of the logits as given
 * (after any policy bias, before penalties, temperature and filtering) — what RL ratios and scoring need.
 *
 * A sampler holds buffers of n_vocab entries allocated once: sampling allocates nothing. */
#ifndef PONDER_SAMPLER_H
#define PONDER_SAMPLER_H
#include <stdbool.h>
#include <stdint.h>
#include "ponder/rng.h"

#define PD_MAX_TOP_LOGPROBS 20

typedef struct {
    float temperature;       /* <= 0: greedy */
    int top_k;               /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    int penalty_last_n;      /* window of accepted tokens the penalties look at; -1: all of them */
    uint64_t seed;
    int n_logprobs;          /* top-n log-probabilities to report, 0..PD_MAX_TOP_LOGPROBS */
} pd_sampler_params;

/* temperature 1, no filters, no penalties (window 64), seed 0, no top logprobs. */
pd_sampler_params pd_sampler_defaults(void);

typedef struct { int32_t token; float logprob; } pd_token_logprob;
typedef struct {
    int32_t token;
    float logprob;                              /* of `token` under log_softmax(logits) */
    int n_top;                                  /* = params.n_logprobs */
    pd_token_logprob top[PD_MAX_TOP_LOGPROBS];  /* most probable first */
} pd_sample;

typedef struct pd_sampler pd_sampler;
pd_sampler *pd_sampler_new(const pd_sampler_params *p, int n_vocab);  /* NULL + error on bad params */
void pd_sampler_free(pd_sampler *s);
const pd_sampler_params *pd_sampler_params_of(const pd_sampler *s);
/* Forget the accepted tokens and reseed the generator. */
void pd_sampler_reset(pd_sampler *s, uint64_t seed);
/* Record a token (generated or injected) for the penalties. */
void pd_sampler_accept(pd_sampler *s, int32_t token);
/* Choose a token from n_vocab logits (not modified). out may be NULL. Returns the token id,
 * or -1 + error when every logit is -inf or NaN. */
int32_t pd_sampler_sample(pd_sampler *s, const float *logits, pd_sample *out);
/* The distribution step 5 draws from: the kept token ids, most probable first, and their
 * renormalised probabilities. Returns how many (1 for greedy). ids/probs hold n_vocab entries. */
int pd_sampler_dist(pd_sampler *s, const float *logits, int32_t *ids, float *probs);

/* log_softmax(logits)[token] and the top-n (n <= PD_MAX_TOP_LOGPROBS), without a sampler. */
float pd_logprob_of(const float *logits, int n_vocab, int32_t token);
void pd_top_logprobs(const float *logits, int n_vocab, int n, pd_token_logprob *out);

#endif
