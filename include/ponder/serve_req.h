/* ponder/serve_req.h — the OpenAI-compatible request of `ponder serve` as a pure function of the
 * request body: JSON bytes → a pd_sreq (every field the server honours, checked and defaulted), or
 * an error that already has its HTTP status and OpenAI's error shape
 *   {"error": {"message": ..., "type": "invalid_request_error", "param": FIELD|null, "code": ...}}.
 * Nothing here needs a model: the model-dependent checks (model id, prompt length, policy names
 * against the vocabulary) are the engine's. Fuzzed by fuzz/fuzz_request.c.
 *
 * Fields (chat = /v1/chat/completions, completion = /v1/completions):
 *   model (string), messages (chat: system|developer|user|assistant; content a string or an array of
 *   {"type":"text","text":...} parts; an assistant's reasoning_content is accepted and dropped, as the
 *   chat templates drop earlier thinking), prompt (completion: a string or an array of one string),
 *   max_tokens | max_completion_tokens (0..2^24; null/absent: until the end or the context),
 *   temperature [0,2], top_p (0,1], top_k (<= 0 off), min_p [0,1], seed (integer; negatives wrap to
 *   uint64 two's complement), stop (string or array of at most PD_SREQ_MAX_STOP non-empty strings),
 *   n 1..PD_SREQ_MAX_N, logprobs (chat: bool; completion: integer 0..20 = top_logprobs),
 *   top_logprobs 0..20 (chat; needs logprobs true), presence_penalty / frequency_penalty [-2,2],
 *   stream, stream_options.include_usage, response_format {"type": "text"|"json_object"},
 *   reasoning_effort "low"|"medium"|"high" → thinking budget PD_SREQ_EFFORT_LOW / _MEDIUM / unlimited,
 *   thinking_budget (-1..2^24; aliases thinking_token_budget (vLLM) and chat_template_kwargs.thinking_budget),
 *   chat_template_kwargs.enable_thinking (false: the family's no-think prompt, thinking budget 0),
 *   continue_final_message (vLLM's: the last message, an assistant one, is continued, e.g. "<think>\n"),
 *   ponder's extensions: policy (a spec string "s1:min=64" or an array of them, as --policy),
 *   answer_budget (-1..2^24), budget_message (string).
 * Unknown fields are ignored (clients send "user", "metadata", ...). A field of the wrong type is a
 * 400 naming it ("'temperature' must be a number"). */
#ifndef PONDER_SERVE_REQ_H
#define PONDER_SERVE_REQ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    PD_SREQ_MAX_STOP = 16,
    PD_SREQ_MAX_N = 16,
    PD_SREQ_MAX_POLICY = 8,
    PD_SREQ_MAX_MSGS = 4096,
    PD_SREQ_EFFORT_LOW = 256,      /* reasoning_effort "low": thinking budget in tokens */
    PD_SREQ_EFFORT_MEDIUM = 1024,  /* "medium"; "high" = no budget */
    PD_SREQ_UNSET = -2,            /* an integer field the request did not give */
};

typedef enum { PD_SREQ_CHAT = 0, PD_SREQ_COMPLETION = 1 } pd_sreq_kind;

typedef struct { char *role; char *content; } pd_sreq_msg;

typedef struct {
    pd_sreq_kind kind;
    char *model;                       /* NULL: not given */
    pd_sreq_msg *msgs; int n_msgs;     /* chat (roles normalised: developer → system) */
    char *prompt;                      /* completion */
    int max_tokens;                    /* -1: no limit */
    bool has_temperature, has_top_p, has_top_k, has_min_p, has_seed;
    double temperature, top_p, min_p;  /* valid only when has_* */
    int top_k;
    uint64_t seed;
    char *stop[PD_SREQ_MAX_STOP]; int n_stop;
    int n;
    bool logprobs; int top_logprobs;
    double presence_penalty, frequency_penalty;
    bool stream, include_usage;
    bool json_object;
    bool continue_final;               /* continue_final_message (vLLM): the last (assistant) message is the
                                          start of the reply, rendered without its end of turn */
    int thinking_budget;               /* PD_SREQ_UNSET, -1 unlimited, 0 none, N */
    int answer_budget;                 /* PD_SREQ_UNSET, -1, M */
    char *budget_message;
    char *policy[PD_SREQ_MAX_POLICY]; int n_policy;
} pd_sreq;

typedef struct {
    int status;                        /* HTTP status: 400, 404, 413, 429, ... */
    char message[512];
    char param[64];                    /* "" → null */
    const char *type;                  /* "invalid_request_error", "authentication_error", ... */
    const char *code;                  /* NULL → null; "model_not_found", "context_length_exceeded", ... */
} pd_serr;

/* Fill e (type invalid_request_error unless status says otherwise). Returns false (for `return`). */
bool pd_serr_set(pd_serr *e, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* OpenAI's error body for e, compact, always valid JSON (malloc'd; NULL only when out of memory). */
char *pd_serr_json(const pd_serr *e);

/* Parse len bytes (need not be NUL-terminated). true + *out filled (free with pd_sreq_free), or
 * false + *err (out is then empty and needs no free). */
bool pd_sreq_parse(const char *body, size_t len, pd_sreq_kind kind, pd_sreq *out, pd_serr *err);
void pd_sreq_free(pd_sreq *r);
/* The request as canonical JSON (every honoured field, effective values): parsing it again gives a
 * request that serialises to the same text. malloc'd, NULL when out of memory. */
char *pd_sreq_to_json(const pd_sreq *r);

#endif
