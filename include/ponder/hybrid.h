/* ponder/hybrid.h — hybrid base + thinking decoding (spec inference.md §8 Step 3, "Base Models Know
 * How to Reason, Thinking Models Learn When"): a base model writes every token; a thinking model of
 * the same vocabulary, reading the same text, decides where the base needs steering.
 *
 * Per new token (greedy, temperature 0 as the reference):
 *   b = argmax base logits, th = argmax thinking logits (both after the same text);
 *   b == th: emit b (no steering);
 *   else: for each coefficient c, cand_c = argmax of the base logits with c·v added to the residual
 *         at the current position only (the row of the last token; the KV of earlier positions is
 *         kept: "current-position steering"), and emit the candidate with the highest log-prob under
 *         the thinking model's logits (the first such c on ties).
 * The candidates are computed on a scratch copy of the base sequence (pd_kv_seq_copy, then the last
 * row rewound and fed again with the steer on), so the base's own KV is never steered: the next
 * token sees the unsteered row, as the reference's window -1 does.
 * Left out: the Top-K SAE that picks a behaviour category per token; one control vector (its
 * directions at the chosen layers) plays the role of v_k + v_bias. */
#ifndef PONDER_HYBRID_H
#define PONDER_HYBRID_H
#include <stdbool.h>
#include <stdint.h>
#include "ponder/error.h"
#include "ponder/model.h"
#include "ponder/steer.h"

enum { PD_HYBRID_MAX_COEFS = 64 };

typedef struct {
    const pd_cvec *cv;          /* the steering vector (checked against the base model) */
    const uint8_t *layers;      /* cv->n_layer bytes, NULL = every layer with a direction */
    const float *coefs; int n_coefs; /* 1 .. PD_HYBRID_MAX_COEFS */
    int max_tokens;             /* new tokens at most (>= 0) */
    bool stop_at_eog;           /* stop after a token the base tokenizer calls end-of-generation */
} pd_hybrid_params;

typedef struct {
    int32_t *tokens;            /* prompt + generated (owned; pd_hybrid_result_free) */
    int n_tokens, n_prompt;
    int n_generated;            /* new tokens */
    int n_disagree;             /* tokens where b != th: steering was applied (the candidates were computed) */
    int n_changed;              /* of those, tokens where the emitted token is not b */
} pd_hybrid_result;
void pd_hybrid_result_free(pd_hybrid_result *r);

/* "0.5:0.6:1" (values separated by ':') → coefs; errors name the text. */
pd_status pd_hybrid_parse_coefs(const char *text, float *coefs, int max, int *n);

/* One decision: given the base's and the thinking model's logits after the same text and the
 * candidates' logits (n_coefs rows of n_vocab, base with c·v at the current position), the token to
 * emit; *steered = 1 when b != th. Exposed for the tests' manual replay. */
int32_t pd_hybrid_pick(const float *base_logits, const float *think_logits, const float *cand_logits, int n_coefs,
                       int n_vocab, int *steered);

/* Run: base must be st's model (pd_steer_attach), think a model of the same vocabulary. Uses
 * sequences 0 and 1 of its own KV caches and st's entry for sequence 1 (cleared at the end). */
pd_status pd_hybrid_run(pd_steer *st, const pd_model *think, const int32_t *prompt, int n_prompt,
                        const pd_hybrid_params *p, pd_hybrid_result *r);

#endif
