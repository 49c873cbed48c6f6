/* train/rl_memory.c — Memory-R / Memory-R+ (ponder/rl_memory.h, training.md §8): the episodic kNN
 * memories (FIFO keys and values, exact-duplicate keys merged), the sliding-window min-max
 * normaliser, the exploitation and exploration rewards with their annealing and explore phase, and
 * the frozen-model embedding (mean last-layer hidden state, unit length). No randomness. The hook
 * in the RL engine (rl.c) embeds each rollout and adds the weighted rewards to the verifier's. */
#include "ponder/rl_memory.h"
#include "ponder/alloc.h"
#include "ponder/model.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

void pd_rl_mem_cfg_default(pd_rl_mem_cfg *c) {
    memset(c, 0, sizeof *c);
    c->mode = PD_RL_MEM_OFF;
    c->k = 1; c->window = 100; c->explore_after = 500; c->anneal = 1.0;
    c->w_exploit = 1; c->w_explore = 1;
    c->cap_keys = 10000; c->cap_values = 100;
}

static const char *const mode_names[] = {"off", "r", "rplus"};
const char *pd_rl_mem_mode_name(int mode) { return mode >= 0 && mode < 3 ? mode_names[mode] : "?"; }
int pd_rl_mem_mode_from_name(const char *s) {
    for (int i = 0; i < 3; i++) if (!strcmp(s, mode_names[i])) return i;
    if (!strcmp(s, "memory-r") || !strcmp(s, "exploit")) return PD_RL_MEM_R;
    if (!strcmp(s, "memory-r+") || !strcmp(s, "r+")) return PD_RL_MEM_RPLUS;
    return -1;
}

/* ---- one memory: a ring of key slots, each with a ring of values ---- */

typedef struct {
    float *key;
    float *vals;                /* cap_values × dim, grown on demand */
    int n_vals, head, cap_alloc;
    int64_t age;                /* insertion order (ties in nearest: older first) */
} kslot;

struct pd_kmem {
    int dim, cap_keys, cap_values;
    kslot *s;
    int n, next;                /* live slots; the slot the next new key takes (the oldest when full) */
    int64_t clock;
};

pd_kmem *pd_kmem_new(int dim, int cap_keys, int cap_values) {
    if (dim < 1 || cap_keys < 1 || cap_values < 1) {
        pd_fail(PD_ERR_ARG, "rl memory: dim %d, %d keys, %d values per key: each must be >= 1", dim, cap_keys,
                cap_values);
        return NULL;
    }
    pd_kmem *m = pd_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->dim = dim; m->cap_keys = cap_keys; m->cap_values = cap_values;
    /* slots are allocated as keys arrive: a 10,000-key capacity costs nothing until used */
    return m;
}

void pd_kmem_free(pd_kmem *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) { free(m->s[i].key); free(m->s[i].vals); }
    free(m->s);
    free(m);
}

int pd_kmem_n_keys(const pd_kmem *m) { return m->n; }
int pd_kmem_n_values(const pd_kmem *m, int slot) { return m->s[slot].n_vals; }
const float *pd_kmem_key(const pd_kmem *m, int slot) { return m->s[slot].key; }
const float *pd_kmem_value(const pd_kmem *m, int slot, int i) {
    const kslot *k = &m->s[slot];
    int oldest = k->n_vals < m->cap_values ? 0 : k->head;
    return k->vals + (size_t)((oldest + i) % m->cap_values) * m->dim;
}

static double l2sq(const float *a, const float *b, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) { double x = (double)a[i] - b[i]; s += x * x; }
    return s;
}

static pd_status slot_push(pd_kmem *m, kslot *k, const float *value) {
    if (k->n_vals < m->cap_values && k->n_vals == k->cap_alloc) {
        int nc = k->cap_alloc ? k->cap_alloc * 2 : 4;
        if (nc > m->cap_values) nc = m->cap_values;
        float *v = pd_realloc(k->vals, sizeof(float) * (size_t)nc * m->dim);
        if (!v) return PD_ERR_NOMEM;
        k->vals = v; k->cap_alloc = nc;
    }
    /* values fill 0..cap-1 in order, then overwrite the oldest (head) */
    int at = k->n_vals < m->cap_values ? k->n_vals : k->head;
    memcpy(k->vals + (size_t)at * m->dim, value, sizeof(float) * (size_t)m->dim);
    if (k->n_vals < m->cap_values) k->n_vals++;
    else k->head = (k->head + 1) % m->cap_values;
    return PD_OK;
}

pd_status pd_kmem_add(pd_kmem *m, const float *key, const float *value) {
    for (int i = 0; i < m->n; i++)
        if (l2sq(m->s[i].key, key, m->dim) == 0) return slot_push(m, &m->s[i], value);
    kslot *k;
    if (m->n < m->cap_keys) {
        kslot *ns = pd_realloc(m->s, sizeof *ns * (size_t)(m->n + 1));
        if (!ns) return PD_ERR_NOMEM;
        m->s = ns;
        k = &m->s[m->n];
        memset(k, 0, sizeof *k);
        if (!(k->key = pd_malloc(sizeof(float) * (size_t)m->dim))) return PD_ERR_NOMEM;
        m->n++;
    } else {   /* full: the oldest key and its values go */
        k = &m->s[m->next];
        m->next = (m->next + 1) % m->cap_keys;
        k->n_vals = 0; k->head = 0;
    }
    memcpy(k->key, key, sizeof(float) * (size_t)m->dim);
    k->age = m->clock++;
    return slot_push(m, k, value);
}

int pd_kmem_nearest(const pd_kmem *m, const float *q, int k, int *idx) {
    int got = 0;
    double *best = pd_malloc(sizeof(double) * (size_t)(k > 0 ? k : 1));
    if (!best) return 0;
    for (int i = 0; i < m->n; i++) {
        double d = l2sq(m->s[i].key, q, m->dim);
        /* insertion sort into the k best; an equal distance keeps the older key in front */
        int at = got;
        while (at > 0 && (d < best[at - 1] || (d == best[at - 1] && m->s[i].age < m->s[idx[at - 1]].age))) at--;
        if (at >= k) continue;
        int last = got < k ? got : k - 1;
        for (int j = last; j > at; j--) { best[j] = best[j - 1]; idx[j] = idx[j - 1]; }
        best[at] = d; idx[at] = i;
        if (got < k) got++;
    }
    free(best);
    return got;
}

/* ---- normaliser ---- */

pd_status pd_minmax_init(pd_minmax *w, int cap) {
    memset(w, 0, sizeof *w);
    if (cap < 1) return pd_fail(PD_ERR_ARG, "rl memory: the normaliser window must be >= 1, got %d", cap);
    if (!(w->v = pd_malloc(sizeof(double) * (size_t)cap))) return PD_ERR_NOMEM;
    w->cap = cap;
    return PD_OK;
}

void pd_minmax_free(pd_minmax *w) { free(w->v); memset(w, 0, sizeof *w); }

double pd_minmax_push(pd_minmax *w, double x, bool *flat) {
    w->v[w->head] = x;
    w->head = (w->head + 1) % w->cap;
    if (w->n < w->cap) w->n++;
    double lo = x, hi = x;
    for (int i = 0; i < w->n; i++) { if (w->v[i] < lo) lo = w->v[i]; if (w->v[i] > hi) hi = w->v[i]; }
    *flat = !(hi > lo);
    return hi > lo ? (x - lo) / (hi - lo) : x;
}

/* ---- the two memories ---- */

struct pd_rl_mem {
    pd_rl_mem_cfg c;
    int dim;
    pd_kmem *succ, *fail;
    pd_minmax w_exploit, w_explore;
    double a_t;
    double *cen;
    int *idx;
};

pd_rl_mem *pd_rl_mem_new(const pd_rl_mem_cfg *c, int dim) {
    if (c->k < 1) { pd_fail(PD_ERR_ARG, "rl memory: k must be >= 1, got %d", c->k); return NULL; }
    if (!(c->anneal > 0)) { pd_fail(PD_ERR_ARG, "rl memory: the annealing rate must be positive"); return NULL; }
    pd_rl_mem *m = pd_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->c = *c;
    m->dim = dim;
    m->a_t = 1.0;
    m->succ = pd_kmem_new(dim, c->cap_keys, c->cap_values);
    m->fail = m->succ ? pd_kmem_new(dim, c->cap_keys, c->cap_values) : NULL;
    m->cen = pd_malloc(sizeof(double) * (size_t)(dim > 0 ? dim : 1));
    m->idx = pd_malloc(sizeof(int) * (size_t)c->k);
    if (!m->fail || !m->cen || !m->idx || pd_minmax_init(&m->w_exploit, c->window) != PD_OK ||
        pd_minmax_init(&m->w_explore, c->window) != PD_OK) {
        pd_rl_mem_free(m);
        return NULL;
    }
    return m;
}

void pd_rl_mem_free(pd_rl_mem *m) {
    if (!m) return;
    pd_kmem_free(m->succ); pd_kmem_free(m->fail);
    pd_minmax_free(&m->w_exploit); pd_minmax_free(&m->w_explore);
    free(m->cen); free(m->idx);
    free(m);
}

int pd_rl_mem_keys(const pd_rl_mem *m, bool success) { return pd_kmem_n_keys(success ? m->succ : m->fail); }
double pd_rl_mem_anneal_now(const pd_rl_mem *m) { return m->a_t; }

/* raw novelty for exploitation: L2 distance to the centroid of the k nearest keys' values; -1: none */
static double novelty_mean(pd_rl_mem *m, const float *q, const float *e) {
    int nk = pd_kmem_nearest(m->succ, q, m->c.k, m->idx), cnt = 0, D = m->dim;
    memset(m->cen, 0, sizeof(double) * (size_t)D);
    for (int a = 0; a < nk; a++)
        for (int i = 0; i < pd_kmem_n_values(m->succ, m->idx[a]); i++, cnt++) {
            const float *v = pd_kmem_value(m->succ, m->idx[a], i);
            for (int d = 0; d < D; d++) m->cen[d] += v[d];
        }
    if (!cnt) return -1;
    double s = 0;
    for (int d = 0; d < D; d++) { double x = e[d] - m->cen[d] / cnt; s += x * x; }
    return sqrt(s);
}

static double cosine(const float *a, const float *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < d; i++) { ab += (double)a[i] * b[i]; aa += (double)a[i] * a[i]; bb += (double)b[i] * b[i]; }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0;
}

/* raw novelty for exploration: 1 − the largest cosine to the k nearest keys' failure values; -1: none */
static double novelty_max(pd_rl_mem *m, const float *q, const float *e) {
    int nk = pd_kmem_nearest(m->fail, q, m->c.k, m->idx), cnt = 0;
    double best = -2;
    for (int a = 0; a < nk; a++)
        for (int i = 0; i < pd_kmem_n_values(m->fail, m->idx[a]); i++, cnt++) {
            double c = cosine(e, pd_kmem_value(m->fail, m->idx[a], i), m->dim);
            if (c > best) best = c;
        }
    return cnt ? 1 - best : -1;
}

pd_status pd_rl_mem_batch(pd_rl_mem *m, int n, const float *q, const float *e, const uint8_t *correct, double *exploit,
                          double *explore) {
    size_t D = (size_t)m->dim;
    for (int i = 0; i < n; i++) PD_TRY(pd_kmem_add(correct[i] ? m->succ : m->fail, q + i * D, e + i * D));
    bool explore_on = m->c.mode == PD_RL_MEM_RPLUS && pd_kmem_n_keys(m->fail) >= m->c.explore_after;
    for (int i = 0; i < n; i++) {
        exploit[i] = explore[i] = 0;
        bool flat;
        double nm = novelty_mean(m, q + i * D, e + i * D);
        /* nothing retrieved: novelty 1 (reward 0); a flat window: the raw novelty */
        exploit[i] = nm < 0 ? 0 : 1 - pd_minmax_push(&m->w_exploit, nm, &flat);
        if (!explore_on) continue;
        double nx = novelty_max(m, q + i * D, e + i * D);
        if (nx < 0) continue;                          /* nothing retrieved: 0 */
        double v = pd_minmax_push(&m->w_explore, nx, &flat);
        if (flat) continue;                            /* a flat window: 0, and a_t stays */
        explore[i] = m->a_t * v;
        m->a_t *= m->c.anneal;                         /* per scored rollout */
    }
    return PD_OK;
}

/* ---- the embedding ---- */

typedef struct {
    int layer;
    double *sum;
} embed_ctx;

static void embed_hook(void *vctx, int layer, float *hidden, int64_t n_tokens, int64_t n_embd) {
    embed_ctx *c = vctx;
    if (layer != c->layer) return;
    for (int64_t t = 0; t < n_tokens; t++)
        for (int64_t d = 0; d < n_embd; d++) c->sum[d] += hidden[t * n_embd + d];
}

pd_status pd_rl_mem_embed(pd_model *pm, pd_kv *kv, const int32_t *tok, int n, float *out) {
    int E = pm->cfg.n_embd;
    memset(out, 0, sizeof(float) * (size_t)E);
    if (n <= 0) return PD_OK;
    embed_ctx c = {pm->cfg.n_layer - 1, pd_calloc((size_t)E, sizeof(double))};
    if (!c.sum) return PD_ERR_NOMEM;
    pd_residual_hook h0 = pm->residual_hook;
    void *c0 = pm->residual_hook_ctx;
    pm->residual_hook = embed_hook;
    pm->residual_hook_ctx = &c;
    pd_kv_seq_clear(kv, 0);
    pd_batch b = {.n = n, .token = tok};
    pd_status st = pd_model_forward(pm, kv, &b, NULL);   /* no logits: the layers only */
    pm->residual_hook = h0;
    pm->residual_hook_ctx = c0;
    pd_kv_seq_clear(kv, 0);
    if (st == PD_OK) {
        double nn = 0;
        for (int d = 0; d < E; d++) nn += c.sum[d] * c.sum[d];
        nn = sqrt(nn);
        for (int d = 0; d < E; d++) out[d] = nn > 0 ? (float)(c.sum[d] / nn) : 0.0f;
    }
    free(c.sum);
    return st;
}
