/* serve/engine.c — the scheduler of `ponder serve` (ponder/serve_engine.h): one thread, one pd_gen,
 * a FIFO of jobs, donors for prefix reuse, and the metrics. The engine mutex guards the queue, the
 * flags and the metrics; the gen, the running list and the sequence maps belong to the engine thread
 * alone (the gen callbacks run on it, inside pd_gen_step). Each job has its own lock for its output. */
#include "ponder/serve_engine.h"
#include "ponder/alloc.h"
#include "ponder/budget.h"
#include "ponder/jsonmask.h"
#include "ponder/serve_resp.h"
#include "ponder/timer.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_BUCKETS = 13, MAX_REPLY_KEYS = 64 };
static const double BUCKETS[N_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

typedef struct { double sum; long count; long b[N_BUCKETS]; } histo;
typedef struct { char endpoint[24]; int status; long n; } reply_key;

struct pd_engine {
    const pd_model *m;
    pd_engine_params p;
    pd_gen *g;
    pd_kvm *kvm;                  /* KV eviction runtime (kv_evict), first policy of every sequence */
    int n_seq;                    /* gen slots: parallel + donors */
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pd_sjob *qhead, *qtail;       /* waiting jobs (mu) */
    int qlen;
    bool stopping;                /* (mu) */
    double grace_end;             /* (mu) */
    /* engine thread only */
    pd_sjob **run; int n_run;
    pd_sjob **seq_job; int *seq_choice;
    int *donor; double *donor_used; int n_donor;
    int active;                   /* sequences of running jobs not finished */
    /* metrics (mu) */
    reply_key replies[MAX_REPLY_KEYS]; int n_replies;
    long prompt_tokens, completion_tokens, reasoning_tokens, reused_tokens, requests_done, requests_failed;
    int g_running, g_active;
    size_t g_kv;
    pd_kvm_stats g_kvm;
    histo ttft, latency;
};

/* ---------------------------------------------------------------- jobs */

pd_sjob *pd_sjob_new(void) {
    pd_sjob *j = pd_calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->status = 200;
    for (int c = 0; c < PD_SREQ_MAX_N; c++) j->ch[c].seq = -1;
    return j;
}

void pd_sjob_release(pd_sjob *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    pd_sreq_free(&j->req);
    free(j->prompt);
    for (int i = 0; i < j->n_specs; i++) pd_reason_spec_free(j->specs[i]);
    for (int c = 0; c < PD_SREQ_MAX_N; c++) {
        pd_schoice *ch = &j->ch[c];
        free(ch->pend[0]);
        free(ch->pend[1]);
        cJSON_Delete(ch->lp_all);
        cJSON_Delete(ch->lp_pend);
        free(ch->reasoning);
        free(ch->content);
    }
    free(j->out);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static bool grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    char *b = pd_realloc(*buf, c);
    if (!b) return false;
    *buf = b;
    *cap = c;
    return true;
}

bool pd_sjob_emit(pd_sjob *j, const char *p, size_t n) {
    pthread_mutex_lock(&j->mu);
    bool ok = grow(&j->out, &j->out_cap, j->out_len + n + 1);
    if (ok) {
        memcpy(j->out + j->out_len, p, n);
        j->out_len += n;
        j->out[j->out_len] = 0;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return ok;
}

static void job_done(pd_sjob *j, int status) {
    pthread_mutex_lock(&j->mu);
    j->done = true;
    if (status) j->status = status;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void pd_sjob_fail(pd_sjob *j, const pd_serr *e) {
    char *body = pd_serr_json(e);
    const char *b = body ? body : "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
    if (j->req.stream) {
        pd_sjob_emit(j, "data: ", 6);
        pd_sjob_emit(j, b, strlen(b));
        pd_sjob_emit(j, "\n\ndata: [DONE]\n\n", 16);
    } else {
        pthread_mutex_lock(&j->mu);
        j->out_len = 0;
        pthread_mutex_unlock(&j->mu);
        pd_sjob_emit(j, b, strlen(b));
    }
    free(body);
    job_done(j, e->status);
}

/* ---------------------------------------------------------------- metrics */

static void histo_add(histo *h, double v) {
    h->sum += v;
    h->count++;
    for (int i = 0; i < N_BUCKETS; i++)
        if (v <= BUCKETS[i]) h->b[i]++;
}

void pd_engine_count_reply(pd_engine *e, const char *endpoint, int status) {
    pthread_mutex_lock(&e->mu);
    int i = 0;
    while (i < e->n_replies && (e->replies[i].status != status || strcmp(e->replies[i].endpoint, endpoint))) i++;
    if (i == e->n_replies && i < MAX_REPLY_KEYS) {
        snprintf(e->replies[i].endpoint, sizeof e->replies[i].endpoint, "%s", endpoint);
        e->replies[i].status = status;
        e->n_replies++;
    }
    if (i < MAX_REPLY_KEYS) e->replies[i].n++;
    pthread_mutex_unlock(&e->mu);
}

static void put(char **s, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char **s, size_t *len, size_t *cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || !grow(s, cap, *len + (size_t)k + 1)) return;
    va_start(ap, fmt);
    vsnprintf(*s + *len, (size_t)k + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)k;
}

static void put_histo(char **s, size_t *len, size_t *cap, const char *name, const char *help, const histo *h) {
    put(s, len, cap, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < N_BUCKETS; i++) put(s, len, cap, "%s_bucket{le=\"%g\"} %ld\n", name, BUCKETS[i], h->b[i]);
    put(s, len, cap, "%s_bucket{le=\"+Inf\"} %ld\n%s_sum %.6f\n%s_count %ld\n", name, h->count, name, h->sum, name, h->count);
}

char *pd_engine_metrics(pd_engine *e) {
    char *s = NULL;
    size_t len = 0, cap = 0;
    pthread_mutex_lock(&e->mu);
    put(&s, &len, &cap, "# HELP ponder_http_requests_total HTTP replies by endpoint and status.\n"
                        "# TYPE ponder_http_requests_total counter\n");
    for (int i = 0; i < e->n_replies; i++)
        put(&s, &len, &cap, "ponder_http_requests_total{endpoint=\"%s\",status=\"%d\"} %ld\n", e->replies[i].endpoint,
            e->replies[i].status, e->replies[i].n);
#define COUNTER(name, help, v) put(&s, &len, &cap, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %ld\n", (long)(v))
#define GAUGE(name, help, fmt, v) put(&s, &len, &cap, "# HELP " name " " help "\n# TYPE " name " gauge\n" name " " fmt "\n", v)
    COUNTER("ponder_generations_total", "Generation requests completed.", e->requests_done);
    COUNTER("ponder_generations_failed_total", "Generation requests ended by an error, a timeout or a disconnect.", e->requests_failed);
    COUNTER("ponder_prompt_tokens_total", "Prompt tokens of completed requests.", e->prompt_tokens);
    COUNTER("ponder_completion_tokens_total", "Generated tokens (thinking included) of completed requests.", e->completion_tokens);
    COUNTER("ponder_reasoning_tokens_total", "Thinking tokens of completed requests.", e->reasoning_tokens);
    COUNTER("ponder_prefix_reused_tokens_total", "Prompt tokens whose KV was reused from an earlier request.", e->reused_tokens);
    GAUGE("ponder_queue_length", "Requests waiting for a slot.", "%d", e->qlen);
    GAUGE("ponder_requests_running", "Requests being decoded.", "%d", e->g_running);
    GAUGE("ponder_batch_size", "Sequences decoded in the last step.", "%d", e->g_active);
    GAUGE("ponder_parallel", "Sequences decoded at once at most (--parallel).", "%d", e->p.parallel);
    GAUGE("ponder_kv_bytes", "KV cache bytes in use (running sequences and prefix donors).", "%zu", e->g_kv);
    if (e->kvm) {
        COUNTER("ponder_kv_evicted_rows_total", "KV rows (per layer and kv head) freed by --kv-policy.", e->g_kvm.evictions);
        COUNTER("ponder_kv_eviction_rounds_total", "Eviction rounds that freed rows.", e->g_kvm.rounds);
    }
#undef COUNTER
#undef GAUGE
    put_histo(&s, &len, &cap, "ponder_time_to_first_token_seconds", "Time from arrival to the first generated token.", &e->ttft);
    put_histo(&s, &len, &cap, "ponder_request_duration_seconds", "Time from arrival to the last token.", &e->latency);
    pthread_mutex_unlock(&e->mu);
    return s;
}

/* ---------------------------------------------------------------- gen callbacks (engine thread) */

static bool pend_add(pd_schoice *c, int slot, const char *t, size_t n) {
    if (!grow(&c->pend[slot], &c->pend_cap[slot], c->pend_len[slot] + n + 1)) return false;
    memcpy(c->pend[slot] + c->pend_len[slot], t, n);
    c->pend_len[slot] += n;
    return true;
}

/* Send what a stream choice has pending: reasoning, then content with its logprob entries
 * (entries whose text has not come yet wait, unless `final`). */
static void flush_choice(pd_sjob *j, int ci, bool final) {
    pd_schoice *c = &j->ch[ci];
    if (c->pend_len[0]) {
        pd_resp_stream_text(j, ci, 0, c->pend[0], c->pend_len[0], NULL);
        c->sent[0] += c->pend_len[0];
        c->pend_len[0] = 0;
    }
    bool lp = c->lp_pend && cJSON_GetArraySize(c->lp_pend) > 0;
    if (c->pend_len[1] || (final && lp)) {
        pd_resp_stream_text(j, ci, 1, c->pend[1] ? c->pend[1] : "", c->pend_len[1], lp ? c->lp_pend : NULL);
        if (lp) c->lp_pend = NULL;
        c->sent[1] += c->pend_len[1];
        c->pend_len[1] = 0;
    }
}

static void on_stream(void *ctx, int seq, pd_phase ph, const char *t, size_t n) {
    pd_engine *e = ctx;
    pd_sjob *j = e->seq_job[seq];
    if (!j || !j->req.stream) return;
    pd_schoice *c = &j->ch[e->seq_choice[seq]];
    int slot = ph == PD_PHASE_THINKING ? 0 : 1;
    bool *lead = slot ? &c->lead_c : &c->lead_r;
    while (*lead && n && (*t == ' ' || *t == '\n' || *t == '\t' || *t == '\r')) { t++; n--; }
    if (!n) return;
    *lead = false;
    pend_add(c, slot, t, n);
}

static void on_token(void *ctx, int seq, const pd_sample *s, pd_phase ph) {
    pd_engine *e = ctx;
    pd_sjob *j = e->seq_job[seq];
    if (!j) return;
    int ci = e->seq_choice[seq];
    if (!j->t_first) j->t_first = pd_time_now();
    if (j->req.logprobs && ph == PD_PHASE_ANSWER && !pd_tok_is_eog(e->m->tok, s->token)) {
        pd_schoice *c = &j->ch[ci];
        if (!c->lp_all) c->lp_all = cJSON_CreateArray();
        cJSON *x = pd_resp_logprob(e->m->tok, s);
        if (x && c->lp_all) cJSON_AddItemToArray(c->lp_all, x);
        if (j->req.stream && x) {
            if (!c->lp_pend) c->lp_pend = cJSON_CreateArray();
            if (c->lp_pend) cJSON_AddItemToArray(c->lp_pend, cJSON_Duplicate(x, 1));
        }
    }
    if (j->req.stream) flush_choice(j, ci, false);
}

/* ---------------------------------------------------------------- policies */

pd_status pd_engine_policies(const pd_engine *e, const pd_sjob *j, pd_policy *out, int *n) {
    *n = 0;
    pd_status st = PD_OK;
    if (e->kvm) {  /* eviction first: a chain skips the rest after an answer other than continue */
        out[0] = pd_kvm_policy(e->kvm);
        if (!out[0].ctx) return pd_fail(PD_ERR_NOMEM, "serve: kv policy");
        *n = 1;
    }
    if (j->think_budget >= 0 || j->answer_budget >= 0) {
        pd_budget_params bp = pd_budget_defaults();
        bp.think_budget = j->think_budget;
        bp.answer_budget = j->answer_budget;
        bp.message = j->req.budget_message;
        st = pd_budget_policy(e->m->tok, &bp, &out[*n]);
        if (st == PD_OK) (*n)++;
    }
    pd_reason_env env = {.tok = e->m->tok, .think_budget = j->think_budget};
    for (int i = 0; st == PD_OK && i < j->n_specs; i++) {
        st = pd_reason_make(j->specs[i], &env, &out[*n]);
        if (st == PD_OK) (*n)++;
    }
    if (st == PD_OK && j->req.json_object) {
        st = pd_jsonmask_policy(e->m->tok, &out[*n]);
        if (st == PD_OK) (*n)++;
    }
    if (st != PD_OK) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s", pd_last_error());
        for (int i = 0; i < *n; i++)
            if (out[i].release) out[i].release(out[i].ctx);
        *n = 0;
        return pd_fail(st, "%s", msg);
    }
    return PD_OK;
}

/* ---------------------------------------------------------------- donors */

static void donor_drop(pd_engine *e, int k) {
    pd_gen_remove(e->g, e->donor[k]);
    e->donor[k] = e->donor[e->n_donor - 1];
    e->donor_used[k] = e->donor_used[e->n_donor - 1];
    e->n_donor--;
}

/* the donor sharing the longest prefix with the prompt (-1: none shares 8 tokens or more) */
static int donor_best(pd_engine *e, const int32_t *prompt, int n, int *common) {
    int best = -1;
    *common = 0;
    for (int k = 0; k < e->n_donor; k++) {
        const pd_gen_result *r = pd_gen_get_result(e->g, e->donor[k]);
        int c = 0, lim = r->n_tokens < n ? r->n_tokens : n;
        while (c < lim && r->tokens[c] == prompt[c]) c++;
        if (c > *common) { *common = c; best = k; }
    }
    return *common >= 8 ? best : -1;
}

/* Make `need` slots free, evicting the least recently used donors other than `keep` first. */
static bool make_room(pd_engine *e, int need, int *keep) {
    while (pd_gen_n_free(e->g) < need && e->n_donor > 0) {
        int old = -1;
        for (int k = 0; k < e->n_donor; k++)
            if (k != *keep && (old < 0 || e->donor_used[k] < e->donor_used[old])) old = k;
        if (old < 0) { old = *keep; *keep = -1; }
        int moved = e->n_donor - 1;
        donor_drop(e, old);
        if (*keep == moved) *keep = old;   /* the last donor took the dropped one's place */
    }
    return pd_gen_n_free(e->g) >= need;
}

static void keep_donor(pd_engine *e, int seq) {
    if (e->p.donors <= 0) { pd_gen_remove(e->g, seq); return; }
    if (e->n_donor == e->p.donors) {
        int old = 0;
        for (int k = 1; k < e->n_donor; k++)
            if (e->donor_used[k] < e->donor_used[old]) old = k;
        donor_drop(e, old);
    }
    e->donor[e->n_donor] = seq;
    e->donor_used[e->n_donor++] = pd_time_now();
}

/* ---------------------------------------------------------------- admission, completion */

static void unmap_job(pd_engine *e, pd_sjob *j, bool as_donor) {
    for (int c = 0; c < j->req.n; c++) {
        int s = j->ch[c].seq;
        if (s < 0) continue;
        e->seq_job[s] = NULL;
        if (!pd_gen_done(e->g, s)) e->active--;
        if (as_donor && c == 0) keep_donor(e, s);
        else pd_gen_remove(e->g, s);
        j->ch[c].seq = -1;
    }
}

static void drop_running(pd_engine *e, pd_sjob *j) {
    for (int i = 0; i < e->n_run; i++)
        if (e->run[i] == j) { e->run[i] = e->run[--e->n_run]; break; }
}

/* End a running (or just popped) job with an error and forget it. */
static void abort_job(pd_engine *e, pd_sjob *j, int status, const char *code, const char *msg) {
    unmap_job(e, j, false);
    drop_running(e, j);
    pthread_mutex_lock(&e->mu);   /* counted before the client sees the error */
    e->requests_failed++;
    e->g_running = e->n_run;
    pthread_mutex_unlock(&e->mu);
    pd_serr err;
    pd_serr_set(&err, status, NULL, code, "%s", msg);
    pd_sjob_fail(j, &err);
    pd_sjob_release(j);
}

static pd_seq_params choice_params(const pd_sjob *j, int c, pd_policy *pols, int n_pols) {
    pd_seq_params p = j->sp;
    if (c > 0) p.sampling.seed = pd_rng_derive(j->sp.sampling.seed, (uint64_t)c);
    p.policies = pols;
    p.n_policies = n_pols;
    return p;
}

/* Put a job's sequences into the gen. false after aborting it. */
static bool admit(pd_engine *e, pd_sjob *j) {
    int common = 0, best = donor_best(e, j->prompt, j->n_prompt, &common);
    if (!make_room(e, j->req.n, &best)) { abort_job(e, j, 503, NULL, "no free sequence slot"); return false; }
    for (int c = 0; c < j->req.n; c++) {
        pd_policy pols[PD_ENGINE_MAX_POLICIES];
        int np;
        if (pd_engine_policies(e, j, pols, &np) != PD_OK) { abort_job(e, j, 400, "invalid_policy", pd_last_error()); return false; }
        pd_seq_params sp = choice_params(j, c, pols, np);
        int id;
        if (c == 0 && best >= 0) {
            id = pd_gen_add_reusing(e->g, e->donor[best], j->prompt, j->n_prompt, &sp);
            e->donor_used[best] = pd_time_now();
        } else if (c == 0) {
            id = pd_gen_add(e->g, j->prompt, j->n_prompt, &sp);
        } else {
            id = pd_gen_fork(e->g, j->ch[0].seq, &sp);
        }
        if (id < 0) {
            for (int i = 0; i < np; i++)
                if (pols[i].release) pols[i].release(pols[i].ctx);
            abort_job(e, j, 500, NULL, pd_last_error());
            return false;
        }
        j->ch[c].seq = id;
        j->ch[c].lead_r = j->ch[c].lead_c = true;
        e->seq_job[id] = j;
        e->seq_choice[id] = c;
        if (!pd_gen_done(e->g, id)) e->active++;
        if (c == 0 && j->req.n > 1 && pd_gen_prefill(e->g, id) != PD_OK) {
            abort_job(e, j, 500, NULL, pd_last_error());
            return false;
        }
        if (j->req.stream) pd_resp_stream_role(j, c);
    }
    if (best >= 0) {
        pthread_mutex_lock(&e->mu);
        e->reused_tokens += common < j->n_prompt - 1 ? common : j->n_prompt - 1;
        pthread_mutex_unlock(&e->mu);
    }
    e->run[e->n_run++] = j;
    return true;
}

static char *strip_dup(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) { s++; n--; }
    return pd_strndup(s, n);
}

/* A choice whose sequence finished: its texts, counts and reasons; streams get the final event. */
static void finish_choice(pd_engine *e, pd_sjob *j, int ci) {
    pd_schoice *c = &j->ch[ci];
    const pd_gen_result *r = pd_gen_get_result(e->g, c->seq);
    c->finished = true;
    e->active--;
    c->n_thinking = r->n_thinking;
    c->n_answer = r->n_answer;
    c->finish_reason = pd_finish_reason(r);
    c->finish_detail = pd_finish_detail(r);
    c->reasoning = strip_dup(r->thinking, r->thinking_len);
    c->content = strip_dup(r->answer, r->answer_len);
    if (j->req.stream) {
        flush_choice(j, ci, true);
        pd_resp_stream_finish(j, ci);
    }
}

static void complete_job(pd_engine *e, pd_sjob *j) {
    unmap_job(e, j, true);
    drop_running(e, j);
    long comp = 0, think = 0;
    for (int c = 0; c < j->req.n; c++) { comp += j->ch[c].n_thinking + j->ch[c].n_answer; think += j->ch[c].n_thinking; }
    double now = pd_time_now();
    pthread_mutex_lock(&e->mu);   /* counted before the client can see the end of its reply */
    e->requests_done++;
    e->prompt_tokens += j->n_prompt;
    e->completion_tokens += comp;
    e->reasoning_tokens += think;
    if (j->t_first) histo_add(&e->ttft, j->t_first - j->t_submit);
    histo_add(&e->latency, now - j->t_submit);
    e->g_running = e->n_run;
    pthread_mutex_unlock(&e->mu);
    if (j->req.stream) {
        pd_resp_stream_end(j);
        job_done(j, 200);
    } else {
        char *body = pd_resp_body(j);
        if (body) {
            pd_sjob_emit(j, body, strlen(body));
            job_done(j, 200);
        } else {
            pd_serr err;
            pd_serr_set(&err, 500, NULL, NULL, "out of memory writing the reply");
            pd_sjob_fail(j, &err);
        }
        free(body);
    }
    pd_sjob_release(j);
}

/* After a step: finished choices, then whole jobs. */
static void collect(pd_engine *e) {
    for (int i = e->n_run - 1; i >= 0; i--) {
        pd_sjob *j = e->run[i];
        bool all = true;
        for (int c = 0; c < j->req.n; c++) {
            if (!j->ch[c].finished && pd_gen_done(e->g, j->ch[c].seq)) finish_choice(e, j, c);
            else if (j->req.stream && !j->ch[c].finished) flush_choice(j, c, false);
            all = all && j->ch[c].finished;
        }
        if (all) complete_job(e, j);
    }
}

/* ---------------------------------------------------------------- the loop */

/* Under e->mu: queued jobs that were cancelled, timed out, or (shutting down) must go; the
 * admissible head of the queue moves to *take. */
static int dequeue(pd_engine *e, pd_sjob **take, pd_sjob **gone, int *n_gone, double now) {
    int n = 0, seqs = e->active;
    pd_sjob **pp = &e->qhead, *prev = NULL;
    *n_gone = 0;
    while (*pp) {
        pd_sjob *j = *pp;
        bool drop = e->stopping || atomic_load(&j->cancel) || now > j->deadline;
        bool fits = !drop && n < e->p.parallel && seqs + j->req.n <= e->p.parallel && !prev;
        if (drop || fits) {
            *pp = j->next;
            if (e->qtail == j) e->qtail = prev;
            e->qlen--;
            if (drop) gone[(*n_gone)++] = j;
            else { take[n++] = j; seqs += j->req.n; }
            continue;
        }
        prev = j;   /* FIFO: once one waits, the ones behind it wait too */
        pp = &j->next;
    }
    return n;
}

static void check_running(pd_engine *e, double now, bool grace_over) {
    for (int i = e->n_run - 1; i >= 0; i--) {
        pd_sjob *j = e->run[i];
        if (atomic_load(&j->cancel)) abort_job(e, j, 499, "client_closed", "the client closed the connection");
        else if (now > j->deadline) abort_job(e, j, 504, "timeout", "the request ran past the server's --timeout");
        else if (grace_over) abort_job(e, j, 503, "shutdown", "the server is shutting down");
    }
}

static void *engine_main(void *arg) {
    pd_engine *e = arg;
    pd_sjob **take = pd_calloc((size_t)e->p.queue + 1, sizeof *take), **gone = pd_calloc((size_t)e->p.queue + 1, sizeof *gone);
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->qhead && e->n_run == 0 && !e->stopping) pthread_cond_wait(&e->cv, &e->mu);
        if (e->stopping && !e->qhead && e->n_run == 0) { pthread_mutex_unlock(&e->mu); break; }
        double now = pd_time_now();
        bool grace_over = e->stopping && now > e->grace_end;
        int n_gone, n_take = take && gone ? dequeue(e, take, gone, &n_gone, now) : 0;
        if (!take || !gone) n_gone = 0;
        pthread_mutex_unlock(&e->mu);
        for (int i = 0; i < n_gone; i++) {
            pd_sjob *j = gone[i];
            int st = e->stopping ? 503 : atomic_load(&j->cancel) ? 499 : 504;
            e->run[e->n_run++] = j;   /* abort_job drops it from the running list again */
            abort_job(e, j, st, st == 504 ? "timeout" : NULL,
                      st == 503 ? "the server is shutting down" : st == 504 ? "the request waited past the server's --timeout"
                                                                          : "the client closed the connection");
        }
        for (int i = 0; i < n_take; i++) admit(e, take[i]);
        check_running(e, now, grace_over);
        if (e->active > 0) {
            int batch = e->active;
            if (pd_gen_step(e->g) != PD_OK) {
                char msg[300];
                snprintf(msg, sizeof msg, "generation failed: %s", pd_last_error());
                while (e->n_run) abort_job(e, e->run[0], 500, NULL, msg);
            }
            pthread_mutex_lock(&e->mu);
            e->g_active = batch;
            pthread_mutex_unlock(&e->mu);
        }
        collect(e);
        size_t kv = pd_gen_kv_bytes(e->g);
        pd_kvm_stats ks = {0};
        if (e->kvm) pd_kvm_get_stats(e->kvm, &ks);
        pthread_mutex_lock(&e->mu);
        e->g_running = e->n_run;
        e->g_kv = kv;
        e->g_kvm = ks;
        if (!e->active) e->g_active = 0;
        pthread_mutex_unlock(&e->mu);
    }
    free(take);
    free(gone);
    return NULL;
}

/* ---------------------------------------------------------------- life */

pd_engine *pd_engine_new(const pd_model *m, const pd_engine_params *pp) {
    pd_engine *e = pd_calloc(1, sizeof *e);
    if (!e) return NULL;
    e->m = m;
    e->p = *pp;
    if (e->p.parallel <= 0) e->p.parallel = 4;
    if (e->p.queue <= 0) e->p.queue = 64;
    if (e->p.donors < 0) e->p.donors = 0;
    e->n_seq = e->p.parallel + e->p.donors;
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = e->n_seq;
    gp.n_ctx = e->p.n_ctx;
    gp.kv_type = e->p.kv_type;
    gp.kv_type_v_set = e->p.kv_type_v_set;
    gp.kv_type_v = e->p.kv_type_v;
    gp.n_batch = e->p.n_batch;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->run = pd_calloc((size_t)e->p.parallel + 1, sizeof *e->run);
    e->seq_job = pd_calloc((size_t)e->n_seq, sizeof *e->seq_job);
    e->seq_choice = pd_calloc((size_t)e->n_seq, sizeof *e->seq_choice);
    e->donor = pd_calloc((size_t)e->p.donors + 1, sizeof *e->donor);
    e->donor_used = pd_calloc((size_t)e->p.donors + 1, sizeof *e->donor_used);
    if (!e->run || !e->seq_job || !e->seq_choice || !e->donor || !e->donor_used || !(e->g = pd_gen_new(m, &gp))) {
        pd_engine_free(e);
        return NULL;
    }
    if (e->p.kv_evict && !(e->kvm = pd_kvm_new(e->g, &e->p.kv_policy))) {
        pd_engine_free(e);
        return NULL;
    }
    pd_gen_set_stream(e->g, on_stream, e);
    pd_gen_set_token_callback(e->g, on_token, e);
    if (pthread_create(&e->th, NULL, engine_main, e) != 0) {
        pd_fail(PD_ERR_STATE, "serve: cannot start the engine thread");
        pd_engine_free(e);
        return NULL;
    }
    e->th_started = true;
    return e;
}

void pd_engine_shutdown(pd_engine *e, double grace_s) {
    pthread_mutex_lock(&e->mu);
    if (!e->stopping) {
        e->stopping = true;
        e->grace_end = pd_time_now() + grace_s;
    }
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

void pd_engine_free(pd_engine *e) {
    if (!e) return;
    if (e->th_started) {
        pd_engine_shutdown(e, 0);
        pthread_join(e->th, NULL);
    }
    pd_gen_free(e->g);
    pd_kvm_free(e->kvm);  /* after the gen: its sequences released their policies */
    free(e->run);
    free(e->seq_job);
    free(e->seq_choice);
    free(e->donor);
    free(e->donor_used);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

bool pd_engine_idle(pd_engine *e) {
    pthread_mutex_lock(&e->mu);
    bool idle = !e->qhead && e->g_running == 0;
    pthread_mutex_unlock(&e->mu);
    return idle;
}

bool pd_engine_submit(pd_engine *e, pd_sjob *j, pd_serr *err) {
    if (j->req.n > e->p.parallel)
        return pd_serr_set(err, 400, "n", "invalid_value", "'n' is %d; this server decodes at most %d sequences at once (--parallel)",
                           j->req.n, e->p.parallel);
    pthread_mutex_lock(&e->mu);
    bool ok = false;
    if (e->stopping) pd_serr_set(err, 503, NULL, "shutdown", "the server is shutting down");
    else if (e->qlen >= e->p.queue)
        pd_serr_set(err, 429, NULL, "queue_full", "too many requests: %d are waiting (--queue %d); retry later", e->qlen, e->p.queue);
    else {
        pthread_mutex_lock(&j->mu);
        j->refs++;
        pthread_mutex_unlock(&j->mu);
        j->next = NULL;
        if (e->qtail) e->qtail->next = j;
        else e->qhead = j;
        e->qtail = j;
        e->qlen++;
        ok = true;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return ok;
}

int pd_engine_n_ctx(const pd_engine *e) { return pd_gen_n_ctx(e->g); }
const pd_model *pd_engine_model(const pd_engine *e) { return e->m; }
