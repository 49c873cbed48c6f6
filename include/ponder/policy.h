/* ponder/policy.h — the one extension point for reasoning control (DESIGN.md "pd_policy").
 *
 * Every sequence in a pd_gen carries a chain of policies. The loop calls them at three moments:
 *   on_start   once, when the sequence joins (its prompt is queued, nothing computed yet);
 *              it may inject tokens (they follow the prompt) or stop the sequence.
 *   on_logits  before every sampling step, with the next-token logits (n_vocab floats); it may
 *              bias or mask them in place (mask = -INFINITY). Every policy of the chain runs.
 *   on_token   after every *sampled* token (never after injected ones), with `state.token` and
 *              the segment boundaries that token completed (PD_BOUNDARY_*). It answers with an
 *              action: continue, inject tokens, stop, or hand the following tokens to another
 *              model of the pd_gen. The chain runs in order; the first policy that answers
 *              something other than PD_ACT_CONTINUE decides and the rest are skipped for that token.
 *
 * Injected tokens are appended to the sequence as if sampled (prefilled into the KV cache with the
 * next step, no re-encoding of the prefix), labelled with the phase and counted like sampled ones,
 * and change the phase when they are thinking markers; so injecting "\n</think>\n\n" ends thinking.
 * A policy is per sequence (it may keep per-sequence state in ctx); the pd_gen calls `release`
 * when the sequence is removed. Budgets, early exit, speculative thinking, steering are policies;
 * none of them is a special case inside gen/. */
#ifndef PONDER_POLICY_H
#define PONDER_POLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ponder/tok.h"

/* Phase of each token. Prompt tokens are PD_PHASE_PROMPT; a generated or injected token is
 * THINKING from the thinking opener (included) to the closer (included), ANSWER otherwise (a closer
 * that closes nothing is an answer token). Marker texts are never part of the texts. */
typedef enum { PD_PHASE_PROMPT = 0, PD_PHASE_THINKING = 1, PD_PHASE_ANSWER = 2 } pd_phase;

/* Segment boundaries completed by the token just sampled. */
enum {
    PD_BOUNDARY_PARAGRAPH = 1u << 0,  /* the phase text now ends with "\n\n" and did not before */
    PD_BOUNDARY_THINK_START = 1u << 1,/* the token is the thinking opener */
    PD_BOUNDARY_THINK_END = 1u << 2,  /* the token is the thinking closer */
    PD_BOUNDARY_LINE = 1u << 3,       /* the token's text contains "\n" */
};

/* What a policy sees: a read-only view of one sequence, valid during the call only. */
typedef struct {
    int seq;                      /* the sequence id in its pd_gen */
    pd_phase phase;               /* phase the next token will have */
    const int32_t *tokens;        /* prompt + generated + injected tokens */
    const uint8_t *phases;        /* pd_phase of each token */
    int n_tokens, n_prompt;
    int n_thinking, n_answer;     /* generated + injected tokens per phase (markers count as thinking) */
    int n_generated;              /* sampled + injected tokens after the prompt */
    int32_t token;                /* on_token: the sampled token; -1 otherwise */
    unsigned boundary;            /* on_token: PD_BOUNDARY_* flags */
    int model;                    /* index of the model sampling this sequence (0 = the main one) */
    int n_vocab;
    const pd_tokenizer *tok;      /* NULL if the model has none */
    int32_t think_open, think_close; /* marker token ids, -1 if the vocabulary has none */
    const char *thinking; size_t thinking_len; /* text so far (markers left out) */
    const char *answer; size_t answer_len;
} pd_seq_state;

/* PD_ACT_REPLACE (on_token only): take the sampled token back, then inject `tokens` in its place.
 * Only a thinking marker (opener or closer) can be taken back: it has no text, so nothing of it
 * was streamed; its phase change is undone. (s1 budget forcing: the closer becomes "Wait".) The
 * sampler's penalty history keeps the taken-back token. Any other token ends the sequence with
 * PD_FINISH_ERROR. */
typedef enum { PD_ACT_CONTINUE = 0, PD_ACT_INJECT, PD_ACT_STOP, PD_ACT_HANDOVER, PD_ACT_REPLACE } pd_action_kind;

typedef struct {
    pd_action_kind kind;
    const int32_t *tokens;  /* INJECT, REPLACE: tokens to append (copied by the loop before the call returns to it) */
    int n_tokens;
    int model;              /* HANDOVER: index of the model that samples from now on */
} pd_action;

typedef struct pd_policy {
    const char *name;
    void *ctx;
    void (*on_start)(void *ctx, const pd_seq_state *s, pd_action *act);          /* may be NULL */
    void (*on_logits)(void *ctx, const pd_seq_state *s, float *logits);          /* may be NULL */
    void (*on_token)(void *ctx, const pd_seq_state *s, pd_action *act);          /* may be NULL */
    void (*release)(void *ctx);                                                  /* may be NULL */
} pd_policy;

#endif
