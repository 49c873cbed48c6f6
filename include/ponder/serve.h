/* ponder/serve.h — `ponder serve`: an OpenAI-compatible HTTP server (libmicrohttpd, one thread per
 * connection) over one pd_engine (ponder/serve_engine.h).
 *
 * Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET /metrics
 * (Prometheus text), GET / (the chat page web/index.html, embedded at build time). With an API key the
 * /v1/ endpoints want "Authorization: Bearer KEY" (401 otherwise); /, /health and /metrics stay open.
 * Errors have OpenAI's shape {"error": {message, type, param, code}} (ponder/serve_req.h).
 * A streamed reply sends its headers at once and its SSE events as the engine makes them; a client
 * that goes away cancels its request (its sequences leave the batch at the next step). */
#ifndef PONDER_SERVE_H
#define PONDER_SERVE_H
#include <stdbool.h>
#include "ponder/chat.h"
#include "ponder/model.h"
#include "ponder/sampler.h"
#include "ponder/serve_engine.h"

typedef struct pd_serve pd_serve;

typedef struct {
    const char *host;              /* default "127.0.0.1" */
    int port;                      /* 0: any free port (pd_serve_port says which) */
    const char *api_key;           /* NULL: no key */
    const char *model_id;          /* the id /v1/models lists and requests must name */
    pd_engine_params engine;
    double timeout_s;              /* per request, queueing included (default 600) */
    pd_sampler_params sp;          /* sampling when the request does not say */
    int think_budget, answer_budget;   /* server defaults, -1 none */
    int max_tokens;                /* default max_tokens, -1 none */
    const char *budget_message;
    const char *const *policies; int n_policies;   /* default --policy specs (a request's "policy" replaces them) */
    pd_chat_family family;
    bool have_family;              /* family set (else: from the model's template) */
} pd_serve_params;

pd_serve_params pd_serve_defaults(void);
/* true when this build has the HTTP server (libmicrohttpd was found). */
bool pd_serve_available(void);
/* Start listening (the engine thread too). NULL + error (port in use, bad host, no model vocabulary). */
pd_serve *pd_serve_start(const pd_model *m, const pd_serve_params *p);
int pd_serve_port(const pd_serve *s);
/* Stop: no new requests (503), in-flight ones get grace_s to finish (then end with an error event),
 * connections close, everything is freed. */
void pd_serve_stop(pd_serve *s, double grace_s);

#endif
