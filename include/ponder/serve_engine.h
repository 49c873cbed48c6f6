/* ponder/serve_engine.h — the scheduler of `ponder serve`: ONE thread owns ONE pd_gen and runs
 * every request through it (continuous batching: requests join and leave between steps).
 *
 * A request is a pd_sjob built by the HTTP layer (prompt tokens, sampling, budgets, policies, output
 * options), submitted to a bounded FIFO queue (full → 429, shutting down → 503). The engine admits
 * a job when `parallel` leaves room for its n choices: choice 0 joins (reusing the KV of the finished
 * sequence kept as a "donor" that shares the longest prompt prefix, if any), and for n > 1 it is
 * prefilled once and forked n-1 times. Between steps the engine removes the sequences of jobs that
 * were cancelled (client gone) or ran past their deadline, and finishes jobs whose choices all ended.
 * Finished choice-0 sequences stay in the gen as donors (at most `donors` of them, least recently
 * used evicted first, and always before a job has to wait for a slot).
 *
 * Output: the engine writes the bytes the client gets into the job (SSE events for a stream, the
 * JSON body otherwise, see serve/respond.c); the HTTP thread waits on the job's condition variable
 * and sends them. Jobs are reference-counted between the two threads. */
#ifndef PONDER_SERVE_ENGINE_H
#define PONDER_SERVE_ENGINE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "ponder/chat.h"
#include "ponder/gen.h"
#include "ponder/kvpolicy.h"
#include "ponder/reason.h"
#include "ponder/serve_req.h"

typedef struct pd_engine pd_engine;

typedef struct {
    int parallel;          /* sequences decoded at once (default 4) */
    int queue;             /* jobs waiting before 429 (default 64) */
    int donors;            /* finished sequences kept for prefix reuse (default 2) */
    int n_ctx;             /* 0: the model's (at most 32768) */
    pd_type kv_type;       /* K cache type (and V's unless kv_type_v_set) */
    bool kv_type_v_set;
    pd_type kv_type_v;     /* V cache type */
    int n_batch;           /* tokens per forward (0: gen's default) */
    bool kv_evict;         /* KV eviction for every sequence by kv_policy (--kv-policy / --kv-budget) */
    pd_kvp_spec kv_policy;
} pd_engine_params;

typedef struct {
    int seq;                           /* gen sequence, -1 before admission / after removal */
    bool finished;
    bool lead_r, lead_c;               /* leading whitespace of reasoning / content still dropped */
    char *pend[2]; size_t pend_len[2], pend_cap[2];   /* stream: text not yet sent (0 reasoning, 1 content) */
    size_t sent[2];                    /* stream: bytes sent per slot */
    void *lp_all;                      /* cJSON array: logprob entries of the content tokens */
    void *lp_pend;                     /* stream: entries not yet sent */
    int n_thinking, n_answer;
    char *reasoning, *content;         /* final texts (leading whitespace dropped) */
    const char *finish_reason, *finish_detail;
} pd_schoice;

typedef struct pd_sjob {
    /* filled by the HTTP side before pd_engine_submit, read-only afterwards */
    pd_sreq req;                       /* owns the strings sp.stop points at */
    char id[48], model[128];
    long long created;                 /* unix seconds */
    int32_t *prompt; int n_prompt;
    pd_seq_params sp;                  /* sampling, max_tokens, stops (no policies: built per sequence) */
    int think_budget, answer_budget;   /* effective, -1 none */
    pd_reason_spec *specs[PD_SREQ_MAX_POLICY]; int n_specs;
    double t_submit, deadline;         /* pd_time_now() seconds */
    /* shared with the HTTP thread, under mu */
    pthread_mutex_t mu; pthread_cond_t cv;
    char *out; size_t out_len, out_cap;   /* bytes for the client, appended by the engine */
    int status;                        /* HTTP status of the reply (200 or an error's) */
    bool done;                         /* out is complete */
    atomic_int cancel;                 /* set by the HTTP side: the client went away */
    int refs;
    /* engine only */
    pd_schoice ch[PD_SREQ_MAX_N];
    double t_first;                    /* first token of any choice */
    bool admitted;
    struct pd_sjob *next;
} pd_sjob;

/* A job with refs = 1 (the caller's). */
pd_sjob *pd_sjob_new(void);
void pd_sjob_release(pd_sjob *j);     /* drops one reference; frees at zero */
/* Append to the job's output (under its lock) and wake the waiter; false when out of memory. */
bool pd_sjob_emit(pd_sjob *j, const char *p, size_t n);
/* Finish the job with an error: for a stream, an error event then [DONE]; else the error body. */
void pd_sjob_fail(pd_sjob *j, const pd_serr *e);

pd_engine *pd_engine_new(const pd_model *m, const pd_engine_params *p);   /* starts the thread; NULL + error */
/* Stop taking jobs (503), cancel the queued ones; running ones get until grace_s to finish, then
 * end with an error. Returns at once. */
void pd_engine_shutdown(pd_engine *e, double grace_s);
/* Wait for the thread to end (after shutdown) and free. */
void pd_engine_free(pd_engine *e);
bool pd_engine_idle(pd_engine *e);    /* nothing queued or running */
/* Takes a reference on j when it returns true; false + e (429 queue full, 503 shutting down). */
bool pd_engine_submit(pd_engine *e, pd_sjob *j, pd_serr *err);
int pd_engine_n_ctx(const pd_engine *e);
const pd_model *pd_engine_model(const pd_engine *e);
/* A policy chain for one sequence of the job (kv eviction, budget, --policy specs, json_object) into
 * out[PD_ENGINE_MAX_POLICIES]; count in *n. */
#define PD_ENGINE_MAX_POLICIES (PD_SREQ_MAX_POLICY + 3)
pd_status pd_engine_policies(const pd_engine *e, const pd_sjob *j, pd_policy *out, int *n);

/* Metrics: the HTTP layer counts its replies; pd_engine_metrics writes the Prometheus text. */
void pd_engine_count_reply(pd_engine *e, const char *endpoint, int status);
char *pd_engine_metrics(pd_engine *e);   /* malloc'd */

#endif
