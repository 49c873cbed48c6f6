/* serve/http.c — the HTTP side of `ponder serve` (ponder/serve.h) on libmicrohttpd, one thread per
 * connection: routing, the API key, request bodies (at most PD_HTTP_MAX_BODY bytes), turning a parsed
 * request into an engine job (template, tokens, sampling defaults, policies checked), and sending the
 * job's bytes — all at once when done, or as SSE while the engine makes them. While a reply waits,
 * the connection's socket is polled so a client that hung up cancels its job. */
#include "ponder/serve.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/json.h"
#include "ponder/timer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

pd_serve_params pd_serve_defaults(void) {
    pd_serve_params p = {.host = "127.0.0.1", .port = 8080, .model_id = "model", .timeout_s = 600,
                         .think_budget = -1, .answer_budget = -1, .max_tokens = -1};
    p.engine = (pd_engine_params){.parallel = 4, .queue = 64, .donors = 2, .kv_type = PD_TYPE_F16};
    p.sp = pd_sampler_defaults();
    p.sp.temperature = 0.6f;   /* as `ponder run`: Qwen3's and DeepSeek-R1's recommendation for thinking */
    p.sp.top_p = 0.95f;
    p.sp.top_k = 20;
    return p;
}

#ifndef PD_HAVE_MHD
bool pd_serve_available(void) { return false; }
pd_serve *pd_serve_start(const pd_model *m, const pd_serve_params *p) {
    (void)m; (void)p;
    pd_fail(PD_ERR_UNSUPPORTED, "this build has no HTTP server (libmicrohttpd was not found at configure time)");
    return NULL;
}
int pd_serve_port(const pd_serve *s) { (void)s; return 0; }
void pd_serve_stop(pd_serve *s, double grace_s) { (void)s; (void)grace_s; }
#else
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

enum { PD_HTTP_MAX_BODY = 8 << 20 };

extern const unsigned char pd_web_index[];
extern const size_t pd_web_index_len;

struct pd_serve {
    pd_serve_params p;
    const pd_model *m;
    pd_engine *e;
    struct MHD_Daemon *d;
    int port;
    pd_chat_family family;
    atomic_long counter;
    atomic_int open;      /* requests begun and not yet completed (their replies still being sent) */
};

typedef struct {
    char *body; size_t len, cap;
    bool too_big;
} conn_ctx;

bool pd_serve_available(void) { return true; }
int pd_serve_port(const pd_serve *s) { return s->port; }

/* ---------------------------------------------------------------- replies */

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *type, const char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_json(pd_serve *s, struct MHD_Connection *c, const char *ep, int status, const char *body) {
    pd_engine_count_reply(s->e, ep, status);
    return reply(c, status, "application/json", body, strlen(body));
}

static enum MHD_Result reply_err(pd_serve *s, struct MHD_Connection *c, const char *ep, const pd_serr *e) {
    char *b = pd_serr_json(e);
    enum MHD_Result r = reply_json(s, c, ep, e->status, b ? b : "{\"error\":{\"message\":\"out of memory\"}}");
    free(b);
    return r;
}

/* true when the peer closed its side (or the socket failed) */
static bool peer_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd pf = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&pf, 1, 0) <= 0) return false;
    if (pf.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) return true;
    char b;
    return recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void wait_a_bit(pd_sjob *j) {   /* under j->mu */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

typedef struct { pd_sjob *j; struct MHD_Connection *c; size_t sent; } stream_ctx;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_ctx *sc = cls;
    pd_sjob *j = sc->j;
    pthread_mutex_lock(&j->mu);
    while (sc->sent == j->out_len && !j->done) {
        wait_a_bit(j);
        if (sc->sent == j->out_len && !j->done && peer_gone(sc->c)) {
            atomic_store(&j->cancel, 1);
            pthread_mutex_unlock(&j->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    if (sc->sent == j->out_len) {
        pthread_mutex_unlock(&j->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = j->out_len - sc->sent < max ? j->out_len - sc->sent : max;
    memcpy(buf, j->out + sc->sent, n);
    sc->sent += n;
    pthread_mutex_unlock(&j->mu);
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream_ctx *sc = cls;
    pthread_mutex_lock(&sc->j->mu);
    bool done = sc->j->done && sc->sent == sc->j->out_len;
    pthread_mutex_unlock(&sc->j->mu);
    if (!done) atomic_store(&sc->j->cancel, 1);
    pd_sjob_release(sc->j);
    free(sc);
}

/* Send the job: SSE as it comes, or the whole body once done. Takes the caller's reference. */
static enum MHD_Result send_job(pd_serve *s, struct MHD_Connection *c, const char *ep, pd_sjob *j) {
    if (j->req.stream) {
        stream_ctx *sc = pd_calloc(1, sizeof *sc);
        struct MHD_Response *r = sc ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, sc, stream_free) : NULL;
        if (!r) { atomic_store(&j->cancel, 1); pd_sjob_release(j); free(sc); return MHD_NO; }
        sc->j = j;
        sc->c = c;
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
        pd_engine_count_reply(s->e, ep, 200);
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        wait_a_bit(j);
        if (!j->done && peer_gone(c)) atomic_store(&j->cancel, 1);
    }
    pthread_mutex_unlock(&j->mu);
    enum MHD_Result ret = reply_json(s, c, ep, j->status, j->out ? j->out : "{}");
    pd_sjob_release(j);
    return ret;
}

/* ---------------------------------------------------------------- requests → jobs */

static bool job_prompt(pd_serve *s, pd_sjob *j, pd_serr *e) {
    const pd_sreq *r = &j->req;
    char *text = NULL;
    if (r->kind == PD_SREQ_COMPLETION) {
        text = pd_strdup(r->prompt);
    } else {
        pd_chat_msg *msgs = pd_calloc((size_t)r->n_msgs, sizeof *msgs);
        if (!msgs) return pd_serr_set(e, 500, NULL, NULL, "out of memory");
        int n = r->continue_final ? r->n_msgs - 1 : r->n_msgs;
        for (int i = 0; i < n; i++) msgs[i] = (pd_chat_msg){r->msgs[i].role, r->msgs[i].content, NULL};
        text = pd_chat_render(s->family, msgs, n, true, j->think_budget != 0);
        free(msgs);
        if (!text) return pd_serr_set(e, 400, "messages", "invalid_value", "%s", pd_last_error());
        const pd_chat_format *f = pd_chat_format_of(s->family);
        const char *tail = r->continue_final ? r->msgs[r->n_msgs - 1].content : NULL;
        char open[32];
        if (!tail && j->think_budget > 0 && f && f->think_open && !f->prompt_opens_thinking &&
            pd_tok_find(s->m->tok, f->think_open) >= 0) {
            snprintf(open, sizeof open, "%s\n", f->think_open);   /* a thinking budget opens the thinking */
            tail = open;
        }
        if (tail) {   /* the reply so far: the client's (continue_final_message) or the opener */
            char *t2 = pd_malloc(strlen(text) + strlen(tail) + 1);
            if (t2) { strcpy(t2, text); strcat(t2, tail); }
            free(text);
            text = t2;
        }
    }
    if (!text) return pd_serr_set(e, 500, NULL, NULL, "out of memory");
    size_t n = 0;
    bool bos = pd_tok_add_bos_default(s->m->tok);
    pd_status st = pd_tokenize(s->m->tok, text, strlen(text), bos, true, &j->prompt, &n);
    free(text);
    if (st != PD_OK) return pd_serr_set(e, 400, r->kind == PD_SREQ_CHAT ? "messages" : "prompt", NULL, "%s", pd_last_error());
    j->n_prompt = (int)n;
    if (n == 0) return pd_serr_set(e, 400, "prompt", "invalid_value", "the prompt is empty");
    int ctx = pd_engine_n_ctx(s->e);
    if ((int)n >= ctx)
        return pd_serr_set(e, 400, r->kind == PD_SREQ_CHAT ? "messages" : "prompt", "context_length_exceeded",
                           "This model's maximum context length is %d tokens; the prompt has %zu tokens "
                           "(it must leave room for at least one generated token)", ctx, n);
    return true;
}

static void job_sampling(pd_serve *s, pd_sjob *j) {
    const pd_sreq *r = &j->req;
    pd_seq_params *p = &j->sp;
    *p = pd_seq_defaults();
    p->sampling = s->p.sp;
    if (r->has_temperature) p->sampling.temperature = (float)r->temperature;
    if (r->has_top_p) p->sampling.top_p = (float)r->top_p;
    if (r->has_top_k) p->sampling.top_k = r->top_k < 0 ? 0 : r->top_k;
    if (r->has_min_p) p->sampling.min_p = (float)r->min_p;
    p->sampling.presence_penalty = (float)r->presence_penalty;
    p->sampling.frequency_penalty = (float)r->frequency_penalty;
    if (r->presence_penalty != 0 || r->frequency_penalty != 0)
        p->sampling.penalty_last_n = -1;   /* OpenAI's: over every generated token so far, not a window */
    p->sampling.seed = r->has_seed ? r->seed : (uint64_t)(pd_time_now() * 1e6) ^ ((uint64_t)atomic_fetch_add(&s->counter, 1) << 40);
    p->sampling.n_logprobs = r->logprobs ? r->top_logprobs : 0;
    p->logprobs = r->logprobs;
    p->max_tokens = r->max_tokens >= 0 ? r->max_tokens : s->p.max_tokens;
    p->stop = (const char *const *)r->stop;
    p->n_stop = r->n_stop;
}

/* budgets and policies: the request's, else the server's defaults; each checked by making them once */
static bool job_policies(pd_serve *s, pd_sjob *j, pd_serr *e) {
    const pd_sreq *r = &j->req;
    j->think_budget = r->thinking_budget != PD_SREQ_UNSET ? r->thinking_budget : s->p.think_budget;
    j->answer_budget = r->answer_budget != PD_SREQ_UNSET ? r->answer_budget : s->p.answer_budget;
    if (!r->budget_message && s->p.budget_message && !(j->req.budget_message = pd_strdup(s->p.budget_message)))
        return pd_serr_set(e, 500, NULL, NULL, "out of memory");
    const char *const *specs = r->n_policy ? (const char *const *)r->policy : s->p.policies;
    int n = r->n_policy ? r->n_policy : s->p.n_policies;
    for (int i = 0; i < n; i++) {
        if (pd_reason_parse(specs[i], &j->specs[i]) != PD_OK)
            return pd_serr_set(e, 400, "policy", "invalid_policy", "policy '%.100s': %s", specs[i], pd_last_error());
        j->n_specs = i + 1;
        if (pd_reason_spec_method(j->specs[i])->kind != PD_REASON_POLICY)
            return pd_serr_set(e, 400, "policy", "invalid_policy", "policy '%.100s' drives several sequences; "
                               "the server takes per-sequence policies (use n for several samples)", specs[i]);
    }
    pd_policy pols[PD_ENGINE_MAX_POLICIES];
    int np;
    if (pd_engine_policies(s->e, j, pols, &np) != PD_OK)
        return pd_serr_set(e, 400, "policy", "invalid_policy", "%s", pd_last_error());
    for (int i = 0; i < np; i++)
        if (pols[i].release) pols[i].release(pols[i].ctx);
    return true;
}

static enum MHD_Result generate(pd_serve *s, struct MHD_Connection *c, const char *ep, pd_sreq_kind kind, conn_ctx *cc) {
    pd_serr e;
    pd_sjob *j = pd_sjob_new();
    if (!j) { pd_serr_set(&e, 500, NULL, NULL, "out of memory"); return reply_err(s, c, ep, &e); }
    bool ok = pd_sreq_parse(cc->body, cc->len, kind, &j->req, &e);
    if (ok && j->req.model && j->req.model[0] && strcmp(j->req.model, s->p.model_id))
        ok = pd_serr_set(&e, 404, "model", "model_not_found", "The model '%.200s' does not exist; this server serves '%s'",
                         j->req.model, s->p.model_id);
    if (ok) {
        j->created = (long long)time(NULL);
        snprintf(j->id, sizeof j->id, "%s-%lx%06lx", kind == PD_SREQ_CHAT ? "chatcmpl" : "cmpl", (unsigned long)j->created,
                 (unsigned long)atomic_fetch_add(&s->counter, 1));
        snprintf(j->model, sizeof j->model, "%s", s->p.model_id);
        j->t_submit = pd_time_now();
        j->deadline = j->t_submit + s->p.timeout_s;
        ok = job_policies(s, j, &e) && job_prompt(s, j, &e);
    }
    if (ok) {
        job_sampling(s, j);
        ok = pd_engine_submit(s->e, j, &e);
    }
    if (!ok) { pd_sjob_release(j); return reply_err(s, c, ep, &e); }
    return send_job(s, c, ep, j);
}

/* ---------------------------------------------------------------- routing */

static enum MHD_Result models(pd_serve *s, struct MHD_Connection *c) {
    cJSON *o = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(o, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddItemToArray(d, m);
    cJSON_AddStringToObject(m, "id", s->p.model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "ponder");
    cJSON_AddNumberToObject(m, "context_length", pd_engine_n_ctx(s->e));
    char *b = pd_json_print(o, false);
    cJSON_Delete(o);
    enum MHD_Result r = reply_json(s, c, "models", b ? 200 : 500, b ? b : "{}");
    free(b);
    return r;
}

static bool authorised(pd_serve *s, struct MHD_Connection *c) {
    if (!s->p.api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return false;
    const char *k = h + 7, *want = s->p.api_key;
    size_t n = strlen(want), m = strlen(k);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(i < m ? k[i] : 0);
    return diff == 0;
}

static enum MHD_Result route(pd_serve *s, struct MHD_Connection *c, const char *url, const char *method, conn_ctx *cc) {
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    pd_serr e;
    if (!strcmp(method, "OPTIONS")) return reply(c, 204, "text/plain", "", 0);
    if (!strcmp(url, "/health")) {
        if (!get) goto bad_method;
        return reply_json(s, c, "health", 200, "{\"status\":\"ok\"}");
    }
    if (!strcmp(url, "/metrics")) {
        if (!get) goto bad_method;
        char *t = pd_engine_metrics(s->e);
        pd_engine_count_reply(s->e, "metrics", 200);
        enum MHD_Result r = reply(c, 200, "text/plain; version=0.0.4", t ? t : "", t ? strlen(t) : 0);
        free(t);
        return r;
    }
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) {
        if (!get) goto bad_method;
        pd_engine_count_reply(s->e, "index", 200);
        return reply(c, 200, "text/html; charset=utf-8", (const char *)pd_web_index, pd_web_index_len);
    }
    bool chat = !strcmp(url, "/v1/chat/completions"), comp = !strcmp(url, "/v1/completions"), mods = !strcmp(url, "/v1/models");
    if (!chat && !comp && !mods) {
        pd_serr_set(&e, 404, NULL, "not_found", "no such endpoint: %.200s %.200s", method, url);
        return reply_err(s, c, "other", &e);
    }
    const char *ep = chat ? "chat" : comp ? "completions" : "models";
    if (!authorised(s, c)) {
        pd_serr_set(&e, 401, NULL, "invalid_api_key", "missing or wrong API key (send 'Authorization: Bearer KEY')");
        return reply_err(s, c, ep, &e);
    }
    if (mods) { if (!get) goto bad_method; return models(s, c); }
    if (!post) goto bad_method;
    if (cc->too_big) {
        pd_serr_set(&e, 413, NULL, "request_too_large", "the request body is over %d bytes", PD_HTTP_MAX_BODY);
        return reply_err(s, c, ep, &e);
    }
    return generate(s, c, ep, chat ? PD_SREQ_CHAT : PD_SREQ_COMPLETION, cc);
bad_method:
    pd_serr_set(&e, 405, NULL, "method_not_allowed", "%.16s is not allowed on %.200s", method, url);
    return reply_err(s, c, "other", &e);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    conn_ctx *cc = *con_cls;
    if (!cc) {
        if (!(cc = pd_calloc(1, sizeof *cc))) return MHD_NO;
        *con_cls = cc;
        atomic_fetch_add(&((pd_serve *)cls)->open, 1);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cc->too_big && cc->len + *upload_size > PD_HTTP_MAX_BODY) cc->too_big = true;
        if (!cc->too_big) {
            if (cc->len + *upload_size + 1 > cc->cap) {
                size_t cap = (cc->len + *upload_size + 1) * 2;
                char *b = pd_realloc(cc->body, cap);
                if (!b) return MHD_NO;
                cc->body = b;
                cc->cap = cap;
            }
            memcpy(cc->body + cc->len, upload, *upload_size);
            cc->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(cls, c, url, method, cc);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c; (void)toe;
    conn_ctx *cc = *con_cls;
    if (cc) {
        free(cc->body);
        free(cc);
        atomic_fetch_sub(&((pd_serve *)cls)->open, 1);
    }
    *con_cls = NULL;
}

/* ---------------------------------------------------------------- life */

static pd_chat_family model_family(const pd_model *m) {
    const char *t;
    size_t len;
    if (!m->gguf || pd_gguf_find_key(m->gguf, "tokenizer.chat_template") < 0 ||
        !pd_gguf_get_str(m->gguf, "tokenizer.chat_template", &t, &len))
        return PD_CHAT_NONE;
    char *z = pd_strndup(t, len);
    pd_chat_family f = z ? pd_chat_detect(z) : PD_CHAT_NONE;
    free(z);
    return f;
}

pd_serve *pd_serve_start(const pd_model *m, const pd_serve_params *p) {
    if (!m->tok) { pd_fail(PD_ERR_ARG, "the model has no vocabulary"); return NULL; }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    if (inet_pton(AF_INET, p->host, &addr.sin_addr) != 1) {
        pd_fail(PD_ERR_ARG, "--host %s is not an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)", p->host);
        return NULL;
    }
    pd_serve *s = pd_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->m = m;
    s->family = p->have_family ? p->family : model_family(m);
    if (!(s->e = pd_engine_new(m, &p->engine))) { free(s); return NULL; }
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
                            handler, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, completed,
                            s, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1, MHD_OPTION_END);
    if (!s->d) {
        pd_fail(PD_ERR_IO, "cannot listen on %s:%d (in use, or not allowed)", p->host, p->port);
        pd_engine_free(s->e);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : p->port;
    return s;
}

void pd_serve_stop(pd_serve *s, double grace_s) {
    if (!s) return;
    MHD_quiesce_daemon(s->d);                 /* no new connections */
    pd_engine_shutdown(s->e, grace_s);        /* queued: 503; running: until the grace ends */
    /* Wait for the engine to finish or abort every job, then for the connection threads to send
     * what those jobs wrote (a stream's error event and [DONE]): MHD_stop_daemon closes the
     * sockets at once, and a reply still in a connection's buffer would be cut. */
    double end = pd_time_now() + grace_s + 5;
    while ((!pd_engine_idle(s->e) || atomic_load(&s->open) > 0) && pd_time_now() < end) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(s->d);                    /* joins the connection threads */
    pd_engine_free(s->e);
    free(s);
}
#endif
