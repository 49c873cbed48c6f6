/* ponder/reason.h — the registry of reasoning-control methods behind `--policy NAME[:key=value,…]`
 * (run, chat, eval) and `ponder policies`, plus the policy chain and the "hub" that gives policies
 * the multi-sequence primitives (fork, extra sequences on a verifier model) between gen steps.
 *
 * A spec is parsed once against the registry (unknown names/keys and bad values are errors that
 * name the policy and the key); every sequence then gets fresh instances (pd_reason_make). Values
 * are text: "\n" and "\t" escapes are decoded, a value cannot contain ',' (it separates keys).
 *
 * Two kinds of method:
 *   per-sequence policies (s1, anytime, trimr-probe, trimr): a pd_policy per sequence. The ones
 *     that need probes or a verifier post requests to a pd_reason_hub; the hub serves them between
 *     gen steps (pd_reason_hub_step replaces pd_gen_step) as ordinary batched sequences, so
 *     nothing waits for them: the answer reaches the policy at a later token and it acts then;
 *   drivers (vote): several sequences per prompt; see ponder/vote.h. */
#ifndef PONDER_REASON_H
#define PONDER_REASON_H
#include <stdbool.h>
#include <stdio.h>
#include "ponder/error.h"
#include "ponder/gen.h"
#include "ponder/policy.h"

enum { PD_REASON_MAX_KEYS = 16 };

typedef enum { PD_RP_INT, PD_RP_FLOAT, PD_RP_STR } pd_reason_ptype;
typedef struct {
    const char *key;
    pd_reason_ptype type;
    const char *def;      /* default, as text */
    double lo, hi;        /* numeric range */
    const char *help;
    const char *choices;  /* PD_RP_STR: "a|b|c" allowed values; NULL: any text */
} pd_reason_param;

typedef enum { PD_REASON_POLICY = 0, PD_REASON_DRIVER = 1 } pd_reason_kind;

typedef struct pd_reason_spec pd_reason_spec;
typedef struct pd_reason_hub pd_reason_hub;

/* What instances are made with. extract reads the final answer from an answer text (after
 * thinking); owned string or NULL. Needed by trimr-probe and vote (the CLI passes the task's
 * extractor; reason/ does not depend on tasks/). */
typedef struct {
    const pd_tokenizer *tok;
    char *(*extract)(void *ctx, const char *answer, size_t len);
    void *extract_ctx;
    bool (*equiv)(const char *a, const char *b);   /* answer equivalence; NULL: byte equality */
    pd_reason_hub *hub;   /* needed by trimr-probe and trimr; NULL: those fail to make */
    const char *question; /* the user question (trimr's verifier prompts); may be NULL */
    int model2;           /* the gen's index of a second model: trimr's verifier (0: the main model
                             itself), spec-think's large model */
    int think_budget;     /* trimr: the token budget its R_thres share refers to (<= 0: unknown, rule off) */
    struct pd_steer *steer; /* steer: the main model's steering hook (ponder/steer.h); NULL: steer fails to make */
} pd_reason_env;

typedef struct {
    const char *name, *summary;
    pd_reason_kind kind;
    const pd_reason_param *params;
    int n_params;
    pd_status (*make)(const pd_reason_spec *spec, const pd_reason_env *env, pd_policy *out); /* POLICY only */
} pd_reason_method;

size_t pd_reason_count(void);
const pd_reason_method *pd_reason_at(size_t i);
const pd_reason_method *pd_reason_find(const char *name);   /* NULL if unknown (no error set) */

/* Parse "name[:k=v,k=v]"; every key of the method gets a value (given or default). */
pd_status pd_reason_parse(const char *text, pd_reason_spec **out);
void pd_reason_spec_free(pd_reason_spec *s);
const pd_reason_method *pd_reason_spec_method(const pd_reason_spec *s);
/* Does this spec run several sequences per prompt (vote; anytime with votes > 1, ponder/anytime.h)? */
bool pd_reason_spec_is_driver(const pd_reason_spec *s);
/* Typed values of a parsed spec (the key must be one of the method's; wrong key → 0 / ""). */
int pd_reason_int(const pd_reason_spec *s, const char *key);
double pd_reason_float(const pd_reason_spec *s, const char *key);
const char *pd_reason_str(const pd_reason_spec *s, const char *key);
/* Canonical text "name:k=v,…" with every key (owned). */
char *pd_reason_spec_text(const pd_reason_spec *s);
/* A fresh per-sequence instance of a POLICY method. */
pd_status pd_reason_make(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out);

/* One policy that runs `n` policies in order (on_start / on_token: the first non-CONTINUE answer
 * decides; on_logits: all). Takes ownership of the inner policies (released with the chain, also
 * when this call fails). */
pd_status pd_reason_chain(const pd_policy *pols, int n, pd_policy *out);

/* Print the registry (names, kinds, parameters, defaults) — `ponder policies`. */
void pd_reason_print(FILE *f);

/* ---- the hub (reason/hub.c): work a policy asks for that needs other sequences ----
 * Requests are posted from inside policy callbacks and launched at the next pd_reason_hub_step,
 * before its pd_gen_step, when the gen has a free slot (otherwise they wait); they then decode in
 * the same batches as everything else. When one finishes its callback runs (still between steps,
 * never inside the gen) and its sequence is removed. A policy cancels its requests in release, so
 * free the gen (or remove the sequences) before the hub. */
typedef void (*pd_hub_done_fn)(void *owner, int request, const pd_gen_result *r, float yes_minus_no);
pd_reason_hub *pd_reason_hub_new(void);
void pd_reason_hub_free(pd_reason_hub *h);
/* Probe: fork `seq` keeping its first `keep` tokens (<= 0: all), inject `inject` (e.g. the end of
 * thinking), then decode greedily up to `answer_budget` tokens; done() gets the fork's result. */
int pd_reason_hub_probe(pd_reason_hub *h, void *owner, int seq, int keep, const int32_t *inject, int n_inject,
                        int answer_budget, pd_hub_done_fn done);
/* Ask: prefill `prompt` on model `model` (no decoding); done() gets logit(yes) - logit(no) of the
 * next token. */
int pd_reason_hub_ask(pd_reason_hub *h, void *owner, int model, const int32_t *prompt, int n, int32_t yes, int32_t no,
                      pd_hub_done_fn done);
void pd_reason_hub_cancel(pd_reason_hub *h, void *owner);
/* Observer of every ask as it is posted (the verifier prompt's tokens; tracing and tests). */
typedef void (*pd_hub_ask_fn)(void *ctx, int model, const int32_t *prompt, int n);
void pd_reason_hub_observe(pd_reason_hub *h, pd_hub_ask_fn fn, void *ctx);
/* Launch what waits (free slots permitting), one pd_gen_step, deliver what finished. */
pd_status pd_reason_hub_step(pd_reason_hub *h, pd_gen *g);
/* Sequences the hub is waiting for or running. */
int pd_reason_hub_pending(const pd_reason_hub *h);
/* Tokens the hub's work cost: probe tokens generated (injected included), verifier prompt tokens. */
void pd_reason_hub_cost(const pd_reason_hub *h, long *probe_tokens, long *verifier_tokens, long *requests);

/* ---- helpers shared by the methods (reason/registry.c) ---- */
/* Tokenise text without BOS, special tokens parsed. */
pd_status pd_reason_tokens(const pd_tokenizer *tok, const char *text, int32_t **ids, int *n);
/* Answer of a text through env->extract (NULL without one). Owned or NULL. */
char *pd_reason_extract(const pd_reason_env *env, const char *answer, size_t len);

#endif
