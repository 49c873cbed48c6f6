/* reason/hub.c — serves policies' requests for extra sequences (probes: fork + close thinking +
 * short greedy answer; asks: one prefill on a verifier model read as logit(yes) - logit(no)).
 * Policies cannot touch the pd_gen from inside its step, so they post here; the hub launches the
 * requests between steps, lets them decode in the normal batches (nothing waits for a verifier)
 * and calls back when they finish. Growth by doubling; requests are few (one per thought). */
#include "ponder/reason.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { REQ_PROBE = 0, REQ_ASK = 1 };
enum { ST_WAIT = 0, ST_RUN = 1, ST_FREE = 2 };

typedef struct {
    int kind, state, id;
    void *owner;
    pd_hub_done_fn done;
    int seq, keep, budget, model;
    int32_t *toks; int n;
    int32_t yes, no;
    float diff;
    int gseq;             /* the launched sequence */
    int keep_at;          /* probe: tokens of the fork before its injection */
    void *pol_ctx;        /* the request's policy context (freed by the gen via release) */
} req_t;

struct pd_reason_hub {
    req_t *r;
    int n, cap, next_id;
    long probe_tokens, verifier_tokens, requests;
    pd_hub_ask_fn on_ask;   /* observer of verifier prompts (pd_reason_hub_observe) */
    void *on_ask_ctx;
};

pd_reason_hub *pd_reason_hub_new(void) { return pd_calloc(1, sizeof(pd_reason_hub)); }

void pd_reason_hub_free(pd_reason_hub *h) {
    if (!h) return;
    for (int i = 0; i < h->n; i++) free(h->r[i].toks);
    free(h->r);
    free(h);
}

static req_t *add_req(pd_reason_hub *h) {
    for (int i = 0; i < h->n; i++)
        if (h->r[i].state == ST_FREE) return &h->r[i];
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        req_t *r = realloc(h->r, (size_t)cap * sizeof *r);
        if (!r) return NULL;
        h->r = r;
        h->cap = cap;
    }
    return &h->r[h->n++];
}

static int post(pd_reason_hub *h, req_t proto, const int32_t *toks, int n) {
    if (!h) return -1;
    req_t *q = add_req(h);
    if (!q) return -1;
    proto.toks = NULL;
    if (n > 0) {
        if (!(proto.toks = pd_malloc((size_t)n * sizeof(int32_t)))) return -1;
        memcpy(proto.toks, toks, (size_t)n * sizeof(int32_t));
    }
    proto.n = n;
    proto.state = ST_WAIT;
    proto.id = h->next_id++;
    proto.gseq = -1;
    *q = proto;
    h->requests++;
    return proto.id;
}

int pd_reason_hub_probe(pd_reason_hub *h, void *owner, int seq, int keep, const int32_t *inject, int n_inject,
                        int answer_budget, pd_hub_done_fn done) {
    return post(h, (req_t){.kind = REQ_PROBE, .owner = owner, .done = done, .seq = seq, .keep = keep, .budget = answer_budget},
                inject, n_inject);
}

int pd_reason_hub_ask(pd_reason_hub *h, void *owner, int model, const int32_t *prompt, int n, int32_t yes, int32_t no,
                      pd_hub_done_fn done) {
    if (n < 1) return -1;
    if (h->on_ask) h->on_ask(h->on_ask_ctx, model, prompt, n);
    return post(h, (req_t){.kind = REQ_ASK, .owner = owner, .done = done, .model = model, .yes = yes, .no = no}, prompt, n);
}

void pd_reason_hub_observe(pd_reason_hub *h, pd_hub_ask_fn fn, void *ctx) {
    h->on_ask = fn;
    h->on_ask_ctx = ctx;
}

void pd_reason_hub_cancel(pd_reason_hub *h, void *owner) {
    for (int i = 0; h && i < h->n; i++)
        if (h->r[i].state != ST_FREE && h->r[i].owner == owner) h->r[i].owner = NULL;   /* finished silently */
}

int pd_reason_hub_pending(const pd_reason_hub *h) {
    int c = 0;
    for (int i = 0; h && i < h->n; i++) c += h->r[i].state != ST_FREE;
    return c;
}

void pd_reason_hub_cost(const pd_reason_hub *h, long *probe, long *verifier, long *requests) {
    if (probe) *probe = h ? h->probe_tokens : 0;
    if (verifier) *verifier = h ? h->verifier_tokens : 0;
    if (requests) *requests = h ? h->requests : 0;
}

/* ---- the requests' own policies ---- */

typedef struct { req_t *q; pd_reason_hub *h; int idx; int32_t *inj; int n_inj; int budget, model; int32_t yes, no; float *diff; } rp_t;

static void probe_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)s;
    rp_t *c = ctx;
    if (c->n_inj) { a->kind = PD_ACT_INJECT; a->tokens = c->inj; a->n_tokens = c->n_inj; }
}
static void probe_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    rp_t *c = ctx;
    /* the answer budget; a probe that opens thinking again has nothing more to tell */
    if (--c->budget <= 0 || s->phase == PD_PHASE_THINKING) a->kind = PD_ACT_STOP;
}
static void ask_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)s;
    rp_t *c = ctx;
    if (c->model != 0) { a->kind = PD_ACT_HANDOVER; a->model = c->model; }
}
static void ask_logits(void *ctx, const pd_seq_state *s, float *logits) {
    (void)s;
    rp_t *c = ctx;
    *c->diff = logits[c->yes] - logits[c->no];
}
static void ask_token(void *ctx, const pd_seq_state *s, pd_action *a) { (void)ctx; (void)s; a->kind = PD_ACT_STOP; }
static void rp_release(void *ctx) { free(ctx); }

static pd_status launch(pd_reason_hub *h, pd_gen *g, req_t *q) {
    rp_t *c = pd_calloc(1, sizeof *c);
    if (!c) return PD_ERR_NOMEM;
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    pd_policy pol = {.name = "hub", .ctx = c, .release = rp_release};
    if (q->kind == REQ_PROBE) {
        c->inj = q->toks;
        c->n_inj = q->n;
        c->budget = q->budget > 0 ? q->budget : 1;
        pol.on_start = probe_start;
        pol.on_token = probe_token;
        p.policies = &pol;
        p.n_policies = 1;
        /* fork without policies and rewind it to the probe point, then fork that with the probe
         * policy (a fork's on_start injects after what it copies, so the rewind comes first) */
        pd_seq_params bare = pd_seq_defaults();
        bare.sampling.temperature = 0;
        int id = pd_gen_fork(g, q->seq, &bare);
        if (id < 0) { free(c); return pd_fail_ctx(PD_ERR_STATE, "hub: probe fork"); }
        const pd_gen_result *r = pd_gen_get_result(g, id);
        int keep = q->keep > 0 && q->keep < r->n_tokens ? q->keep : r->n_tokens;
        q->keep_at = keep;
        int id2 = pd_gen_rewind(g, id, keep) == PD_OK ? pd_gen_fork(g, id, &p) : -1;
        pd_gen_remove(g, id);
        if (id2 < 0) { free(c); return pd_fail_ctx(PD_ERR_STATE, "hub: probe start"); }
        q->gseq = id2;
        h->probe_tokens += q->n;
    } else {
        c->model = q->model;
        c->yes = q->yes;
        c->no = q->no;
        c->diff = &q->diff;
        q->diff = NAN;
        pol.on_start = ask_start;
        pol.on_logits = ask_logits;
        pol.on_token = ask_token;
        p.policies = &pol;
        p.n_policies = 1;
        p.max_tokens = 1;
        int id = pd_gen_add(g, q->toks, q->n, &p);
        if (id < 0) { free(c); return pd_fail_ctx(PD_ERR_STATE, "hub: verifier request"); }
        q->gseq = id;
        h->verifier_tokens += q->n;
    }
    q->pol_ctx = c;
    q->state = ST_RUN;
    return PD_OK;
}

pd_status pd_reason_hub_step(pd_reason_hub *h, pd_gen *g) {
    for (int i = 0; i < h->n && pd_gen_n_free(g) > 0; i++) {
        req_t *q = &h->r[i];
        if (q->state != ST_WAIT) continue;
        if (!q->owner || (q->kind == REQ_PROBE && !pd_gen_get_result(g, q->seq))) { /* cancelled / source gone */
            free(q->toks); q->toks = NULL; q->state = ST_FREE;
            continue;
        }
        if (q->kind == REQ_PROBE && pd_gen_n_free(g) < 2) continue;   /* a probe briefly needs two slots */
        PD_TRY(launch(h, g, q));
    }
    PD_TRY(pd_gen_step(g));
    for (int i = 0; i < h->n; i++) {
        req_t *q = &h->r[i];
        if (q->state != ST_RUN || !pd_gen_done(g, q->gseq)) continue;
        const pd_gen_result *r = pd_gen_get_result(g, q->gseq);
        if (q->kind == REQ_PROBE) h->probe_tokens += r->n_tokens - q->keep_at - q->n;   /* what the probe generated */
        if (q->owner && q->done) q->done(q->owner, q->id, r, q->diff);
        pd_gen_remove(g, q->gseq);
        free(q->toks);
        q->toks = NULL;
        q->state = ST_FREE;
    }
    return PD_OK;
}
