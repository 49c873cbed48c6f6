/* kv/kvm.c — the eviction runtime: one pd_kvm per pd_gen cache, one state per joined sequence.
 *
 * Per (sequence, layer, kv head) it mirrors the cache's live rows (their original positions) with
 * the statistics the policy needs: accumulated attention (h2o), the newest query's attention (tova),
 * observation-window votes (snapkv) or recent-query maxima (rkv), activation step and recurrence
 * interval (lazy). The statistics are fed by the cache's attention observer, which is registered
 * only for policies that read attention (streaming and rlkv cost nothing per step) and only for the
 * sequences that joined. After every sampled token the pd_policy (first in the chain) runs the
 * policy's schedule, asks pd_kvp_select which rows stay, and pd_kv_evict frees the rest — blocks a
 * fork shares are copied, never written, so siblings are untouched.
 * The mirror follows the cache by positions: rows appended by a forward are added with fresh
 * statistics; after a rewind, a fork or a prefix reuse the mirror is rebuilt by merging on positions.
 * A fork inherits its source's statistics: each joined sequence keeps a hash of its tokens, and a
 * sequence that starts with the very tokens of a joined one (pd_gen_fork copies them) starts from a
 * copy of that one's state instead of fresh statistics. */
#include "ponder/kvpolicy.h"
#include "ponder/alloc.h"
#include "ponder/log.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int n, cap;
    int32_t *pos, *ts, *mri;
    float *acc, *cur, *win;
    int32_t cur_q;             /* position of the query cur belongs to */
    bool rkv_open;             /* rkv: the observation window before the next compression is open */
} kv_head;

typedef struct {
    int seq, n_prompt;
    int n_hashed;              /* tokens[0, n_hashed) are in hash */
    uint64_t hash;             /* FNV-1a of those tokens: finds the source of a fork */
    bool snap_done;
    int32_t last_round;        /* lazy: position of the last round */
    kv_head *h;                /* [n_layer * n_head_kv] */
} kv_seqst;

typedef struct { pd_kvm *m; kv_seqst *s; } binder;

struct pd_kvm {
    pd_gen *g;
    pd_kv *kv;
    pd_kvp_spec spec;
    int L, H, D, n_seq;
    uint8_t *mask;             /* observer's sequence mask */
    kv_seqst **seqs;           /* [n_seq] */
    uint8_t *full;             /* rlkv: [L*H] */
    /* scratch for a round */
    int32_t *keep, *pos;
    uint8_t *prot;
    float *keys;
    size_t cap;
    pd_kvm_stats st;
    bool warned;
};

static void head_free(kv_head *h) {
    free(h->pos); free(h->ts); free(h->mri); free(h->acc); free(h->cur); free(h->win);
    memset(h, 0, sizeof *h);
}

static bool head_grow(kv_head *h, int n) {
    if (n <= h->cap) return true;
    int cap = h->cap < 64 ? 64 : h->cap;
    while (cap < n) cap *= 2;
#define GROW(f) do { void *p = pd_realloc(h->f, (size_t)cap * sizeof *h->f); if (!p) return false; h->f = p; } while (0)
    GROW(pos); GROW(ts); GROW(mri); GROW(acc); GROW(cur); GROW(win);
#undef GROW
    h->cap = cap;
    return true;
}

static void fresh(kv_head *h, int i, int32_t pos) {
    h->pos[i] = pos; h->ts[i] = pos; h->mri[i] = 0;
    h->acc[i] = 0; h->cur[i] = 0; h->win[i] = 0;
}

static bool scratch(pd_kvm *m, size_t n) {
    if (n <= m->cap) return true;
    size_t cap = m->cap < 256 ? 256 : m->cap;
    while (cap < n) cap *= 2;
    int32_t *k = pd_realloc(m->keep, cap * sizeof *k), *p = k ? pd_realloc(m->pos, cap * sizeof *p) : NULL;
    if (k) m->keep = k;
    if (p) m->pos = p;
    uint8_t *pr = p ? pd_realloc(m->prot, cap) : NULL;
    if (pr) m->prot = pr;
    float *ky = pr ? pd_realloc(m->keys, cap * (size_t)m->D * sizeof(float)) : NULL;
    if (ky) m->keys = ky;
    if (!ky) return false;
    m->cap = cap;
    return true;
}

/* Bring h in line with the cache's live rows of (seq, l, kvh). */
static pd_status sync_head(pd_kvm *m, int seq, int l, int kvh, kv_head *h) {
    int n = pd_kv_n_live(m->kv, seq, l, kvh);
    if (!scratch(m, (size_t)n + 1) || !head_grow(h, n + 1)) return pd_fail(PD_ERR_NOMEM, "kv policy: statistics for %d rows", n);
    if (h->n <= n && h->n > 0) {
        int32_t last;
        PD_TRY(pd_kv_positions(m->kv, seq, l, kvh, h->n - 1, 1, &last));
        if (last == h->pos[h->n - 1]) {  /* only appended rows */
            if (n > h->n) PD_TRY(pd_kv_positions(m->kv, seq, l, kvh, h->n, n - h->n, m->pos));
            for (int i = h->n; i < n; i++) fresh(h, i, m->pos[i - h->n]);
            h->n = n;
            return PD_OK;
        }
    }
    if (h->n == 0) {
        PD_TRY(pd_kv_positions(m->kv, seq, l, kvh, 0, n, m->pos));
        for (int i = 0; i < n; i++) fresh(h, i, m->pos[i]);
        h->n = n;
        return PD_OK;
    }
    /* rewound, forked or reused: merge by position (both ascending) */
    PD_TRY(pd_kv_positions(m->kv, seq, l, kvh, 0, n, m->pos));
    kv_head o = *h;
    kv_head nh = {0};
    if (!head_grow(&nh, n + 1)) return pd_fail(PD_ERR_NOMEM, "kv policy: statistics for %d rows", n);
    for (int i = 0, j = 0; i < n; i++) {
        while (j < o.n && o.pos[j] < m->pos[i]) j++;
        if (j < o.n && o.pos[j] == m->pos[i]) {
            nh.pos[i] = o.pos[j]; nh.ts[i] = o.ts[j]; nh.mri[i] = o.mri[j];
            nh.acc[i] = o.acc[j]; nh.cur[i] = o.cur[j]; nh.win[i] = o.win[j];
        } else {
            fresh(&nh, i, m->pos[i]);
        }
    }
    nh.n = n;
    nh.cur_q = o.cur_q;
    head_free(h);
    *h = nh;
    return PD_OK;
}

static int budget_for(const pd_kvm *m, int seq, int n_unprot_positions) {
    (void)seq;
    if (m->spec.budget_rows > 0) return m->spec.budget_rows;
    if (m->spec.budget_frac > 0) return (int)ceil(m->spec.budget_frac * n_unprot_positions - 1e-9);
    return INT_MAX;
}

/* ---- the observer: statistics from attention weights ---- */

static void observe(void *ctx, const pd_kv_attn *a) {
    pd_kvm *m = ctx;
    if (a->seq < 0 || a->seq >= m->n_seq || !m->seqs[a->seq]) return;
    kv_seqst *ss = m->seqs[a->seq];
    kv_head *h = &ss->h[a->layer * m->H + a->kv_head];
    if (sync_head(m, a->seq, a->layer, a->kv_head, h) != PD_OK) { m->warned = true; return; }
    int n = a->n_rows < h->n ? a->n_rows : h->n;
    const float *p = a->probs;
    switch (m->spec.kind) {
    case PD_KVP_H2O:
        for (int q = 0; q < a->n_q; q++)
            for (int i = 0; i < n; i++) h->acc[i] += p[(size_t)q * a->n_rows + i];
        break;
    case PD_KVP_TOVA:
        if (h->cur_q != a->pos) { memset(h->cur, 0, (size_t)h->n * sizeof *h->cur); h->cur_q = a->pos; }
        for (int q = 0; q < a->n_q; q++)
            for (int i = 0; i < n; i++) h->cur[i] += p[(size_t)q * a->n_rows + i] / (float)a->n_q;
        break;
    case PD_KVP_SNAPKV:
        if (ss->snap_done || a->pos >= ss->n_prompt || a->pos < ss->n_prompt - m->spec.obs) break;
        for (int q = 0; q < a->n_q; q++)
            for (int i = 0; i < n; i++) h->win[i] += p[(size_t)q * a->n_rows + i];
        break;
    case PD_KVP_RKV: {
        /* the last aq queries before the buffer fills: live rows + aq >= budget + buffer */
        /* (protected rows are counted here: the observer does not see phases; this only opens the
         * window earlier for protect=...) */
        int b = budget_for(m, a->seq, a->pos + 1);
        bool open = b != INT_MAX && (long long)h->n + m->spec.aq >= (long long)b + m->spec.buffer;
        if (open && !h->rkv_open) memset(h->win, 0, (size_t)h->n * sizeof *h->win);
        h->rkv_open = open;
        if (!open) break;
        for (int q = 0; q < a->n_q; q++)
            for (int i = 0; i < n; i++) {
                float v = p[(size_t)q * a->n_rows + i];
                if (v > h->win[i]) h->win[i] = v;
            }
        break;
    }
    case PD_KVP_LAZY:
        pd_kvp_lazy_activate(p, a->n_q, a->n_rows, n, m->spec.alpha, a->pos, h->ts, h->mri);
        break;
    default: break;
    }
}

/* ---- rounds ---- */

static bool protected_phase(const pd_kvm *m, uint8_t ph) {
    return ((m->spec.protect & PD_KVP_PROTECT_PROMPT) && ph == PD_PHASE_PROMPT) ||
           ((m->spec.protect & PD_KVP_PROTECT_ANSWER) && ph == PD_PHASE_ANSWER);
}

pd_status pd_kvm_evict(pd_kvm *m, int seq, const pd_seq_state *st) {
    if (!m || seq < 0 || seq >= m->n_seq || !m->seqs[seq]) return pd_fail(PD_ERR_ARG, "kv policy: sequence %d not joined", seq);
    kv_seqst *ss = m->seqs[seq];
    const pd_kvp_spec *s = &m->spec;
    if (s->kind == PD_KVP_FULL) return PD_OK;
    int len = pd_kv_seq_len(m->kv, seq);
    if (len <= 0) return PD_OK;
    /* positions a policy may evict (for fraction budgets) */
    int n_prot_pos = 0;
    for (int p = 0; p < len && st && p < st->n_tokens; p++) n_prot_pos += protected_phase(m, st->phases[p]);
    bool snap = s->kind == PD_KVP_SNAPKV;
    if (snap && ss->snap_done) return PD_OK;
    if (s->kind == PD_KVP_LAZY) {
        if (ss->last_round > len) ss->last_round = len; /* rewound */
        if (len - ss->last_round < s->window) return PD_OK;
        ss->last_round = len;
    }
    int budget = snap ? budget_for(m, seq, ss->n_prompt) : budget_for(m, seq, len - n_prot_pos);
    if (budget == INT_MAX && s->kind != PD_KVP_RLKV) { ss->snap_done = true; return PD_OK; }
    int64_t dropped = 0;
    for (int l = 0; l < m->L; l++)
        for (int kvh = 0; kvh < m->H; kvh++) {
            kv_head *h = &ss->h[l * m->H + kvh];
            PD_TRY(sync_head(m, seq, l, kvh, h));
            int n = h->n, unprot = 0;
            for (int i = 0; i < n; i++) {
                int32_t p = h->pos[i];
                uint8_t ph = st && p < st->n_tokens ? st->phases[p] : PD_PHASE_THINKING;
                m->prot[i] = protected_phase(m, ph) || (snap && p >= ss->n_prompt);
                unprot += !m->prot[i];
            }
            if (s->kind == PD_KVP_RKV && unprot < budget + s->buffer) continue;
            pd_kvp_rows r = {.n = n, .pos = h->pos, .protect = m->prot, .acc = h->acc, .cur = h->cur, .win = h->win,
                             .ts = h->ts, .mri = h->mri, .now = len - 1, .dim = m->D,
                             .head_full = m->full && m->full[l * m->H + kvh]};
            if (s->kind == PD_KVP_RKV) {
                PD_TRY(pd_kv_read(m->kv, seq, l, kvh, 0, n, m->keys, NULL));
                r.keys = m->keys;
            }
            int k = pd_kvp_select(s, &r, budget, m->keep);
            if (k < 0) return PD_ERR_ARG;
            if (s->kind == PD_KVP_RKV) h->rkv_open = false;
            if (k == n) continue;
            PD_TRY(pd_kv_evict(m->kv, seq, l, kvh, m->keep, k));
            for (int j = 0; j < k; j++) {
                int i = m->keep[j];
                h->pos[j] = h->pos[i]; h->ts[j] = h->ts[i]; h->mri[j] = h->mri[i];
                h->acc[j] = h->acc[i]; h->cur[j] = h->cur[i]; h->win[j] = h->win[i];
            }
            h->n = k;
            dropped += n - k;
        }
    if (snap) ss->snap_done = true;
    if (dropped) { m->st.evictions += dropped; m->st.rounds++; }
    return PD_OK;
}

/* ---- the per-sequence pd_policy ---- */

static void seqst_free(pd_kvm *m, kv_seqst *ss) {
    if (!ss) return;
    for (int i = 0; i < m->L * m->H; i++) head_free(&ss->h[i]);
    free(ss->h);
    free(ss);
}

static uint64_t tok_hash(uint64_t h, const int32_t *t, int n) {
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)t[i];
        for (int k = 0; k < 4; k++) { h ^= (v >> (8 * k)) & 0xffu; h *= 0x100000001b3ull; }
    }
    return h;
}

static void hash_follow(kv_seqst *ss, const pd_seq_state *st) {
    if (st->n_tokens < ss->n_hashed) { ss->hash = 0xcbf29ce484222325ull; ss->n_hashed = 0; } /* rewound */
    ss->hash = tok_hash(ss->hash, st->tokens + ss->n_hashed, st->n_tokens - ss->n_hashed);
    ss->n_hashed = st->n_tokens;
}

/* A deep copy of src's state for sequence seq (NULL when out of memory). */
static kv_seqst *seqst_copy(pd_kvm *m, const kv_seqst *src, int seq) {
    kv_seqst *ss = pd_calloc(1, sizeof *ss);
    if (!ss || !(ss->h = pd_calloc((size_t)m->L * m->H, sizeof *ss->h))) { free(ss); return NULL; }
    *ss = (kv_seqst){.seq = seq, .n_prompt = src->n_prompt, .n_hashed = src->n_hashed, .hash = src->hash,
                     .snap_done = src->snap_done, .last_round = src->last_round, .h = ss->h};
    for (int i = 0; i < m->L * m->H; i++) {
        const kv_head *o = &src->h[i];
        kv_head *h = &ss->h[i];
        if (!head_grow(h, o->n + 1)) { seqst_free(m, ss); return NULL; }
        size_t n = (size_t)o->n;
        h->cur_q = o->cur_q;
        h->rkv_open = o->rkv_open;
        if (!n) continue;   /* a source that has not seen this head yet (no arrays) */
        memcpy(h->pos, o->pos, n * sizeof *h->pos); memcpy(h->ts, o->ts, n * sizeof *h->ts);
        memcpy(h->mri, o->mri, n * sizeof *h->mri); memcpy(h->acc, o->acc, n * sizeof *h->acc);
        memcpy(h->cur, o->cur, n * sizeof *h->cur); memcpy(h->win, o->win, n * sizeof *h->win);
        h->n = o->n;
    }
    return ss;
}

static void on_start(void *ctx, const pd_seq_state *st, pd_action *act) {
    (void)act;
    binder *b = ctx;
    pd_kvm *m = b->m;
    if (st->seq < 0 || st->seq >= m->n_seq) return;
    if (m->seqs[st->seq]) { seqst_free(m, m->seqs[st->seq]); m->seqs[st->seq] = NULL; }
    uint64_t hash = tok_hash(0xcbf29ce484222325ull, st->tokens, st->n_tokens);
    kv_seqst *ss = NULL, *src = NULL;
    /* the source of a fork: a joined sequence with these very tokens (a fresh sequence whose prompt
     * equals a joined one's unstarted prompt may match too: it has no rows yet, so the merge by
     * position drops the copied rows and only the round counters carry over, which agree) */
    for (int i = 0; i < m->n_seq && !src; i++)
        if (m->seqs[i] && m->seqs[i]->n_hashed == st->n_tokens && m->seqs[i]->hash == hash) src = m->seqs[i];
    if (src) {
        ss = seqst_copy(m, src, st->seq);
        if (ss) m->st.forks_copied++;
    } else {
        ss = pd_calloc(1, sizeof *ss);
        if (ss && !(ss->h = pd_calloc((size_t)m->L * m->H, sizeof *ss->h))) { free(ss); ss = NULL; }
        if (ss) {
            for (int i = 0; i < m->L * m->H; i++) ss->h[i].cur_q = -1;
            ss->seq = st->seq;
            ss->n_prompt = st->n_prompt;
            ss->last_round = st->n_prompt;
            ss->n_hashed = st->n_tokens;
            ss->hash = hash;
        }
    }
    if (!ss) { pd_log(PD_LOG_WARN, "kv policy: out of memory: sequence %d keeps its full cache", st->seq); return; }
    m->seqs[st->seq] = ss;
    m->mask[st->seq] = 1;
    b->s = ss;
}

static void on_token(void *ctx, const pd_seq_state *st, pd_action *act) {
    (void)act;
    binder *b = ctx;
    if (!b->s || b->m->seqs[st->seq] != b->s) return;
    hash_follow(b->s, st);
    if (pd_kvm_evict(b->m, st->seq, st) != PD_OK && !b->m->warned) {
        b->m->warned = true;
        pd_log(PD_LOG_WARN, "kv policy %s: eviction failed (%s); the cache keeps those rows", pd_kvp_name(b->m->spec.kind),
               pd_last_error());
    }
}

static void release(void *ctx) {
    binder *b = ctx;
    if (b->s && b->s->seq >= 0 && b->m->seqs[b->s->seq] == b->s) {
        b->m->mask[b->s->seq] = 0;
        b->m->seqs[b->s->seq] = NULL;
        seqst_free(b->m, b->s);
    }
    free(b);
}

pd_policy pd_kvm_policy(pd_kvm *m) {
    pd_policy p = {0};
    binder *b = m ? pd_calloc(1, sizeof *b) : NULL;
    if (!b) return p;
    b->m = m;
    p.name = "kv";
    p.ctx = b;
    p.on_start = on_start;
    p.on_token = on_token;
    p.release = release;
    return p;
}

pd_kvm *pd_kvm_new(pd_gen *g, const pd_kvp_spec *s) {
    if (!g || !s) { pd_fail(PD_ERR_ARG, "kv policy: NULL gen or spec"); return NULL; }
    pd_kv *kv = pd_gen_kv(g, 0);
    const pd_model *mod = pd_gen_model(g, 0);
    if (!kv || !mod) { pd_fail(PD_ERR_STATE, "kv policy: the gen has no cache"); return NULL; }
    pd_kvm *m = pd_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->g = g;
    m->kv = kv;
    m->spec = *s;
    m->L = mod->cfg.n_layer;
    m->H = mod->cfg.n_head_kv;
    m->D = mod->cfg.head_dim;
    m->n_seq = pd_kv_n_seq_max(kv);
    m->mask = pd_calloc((size_t)m->n_seq, 1);
    m->seqs = pd_calloc((size_t)m->n_seq, sizeof *m->seqs);
    if (!m->mask || !m->seqs) { pd_kvm_free(m); return NULL; }
    if (s->kind == PD_KVP_RLKV) {
        float *gates = pd_malloc((size_t)m->L * m->H * sizeof(float));
        m->full = pd_malloc((size_t)m->L * m->H);
        if (!gates || !m->full) { free(gates); pd_kvm_free(m); return NULL; }
        if (pd_kvp_read_gates(s->gates, m->L, m->H, gates) != PD_OK) { free(gates); pd_kvm_free(m); return NULL; }
        double sp = s->sparsity >= 0 ? s->sparsity : s->budget_frac > 0 ? 1.0 - s->budget_frac : 0.5;
        pd_kvp_rlkv_alloc(gates, m->L * m->H, sp, m->full);
        free(gates);
    }
    if (pd_kvp_needs_attention(s->kind)) pd_kv_set_observer(kv, observe, m, INT_MAX, m->mask);
    return m;
}

void pd_kvm_free(pd_kvm *m) {
    if (!m) return;
    for (int i = 0; m->seqs && i < m->n_seq; i++) seqst_free(m, m->seqs[i]);
    free(m->seqs); free(m->mask); free(m->full);
    free(m->keep); free(m->pos); free(m->prot); free(m->keys);
    free(m);
}

void pd_kvm_get_stats(const pd_kvm *m, pd_kvm_stats *st) {
    *st = m->st;
    st->peak_bytes = pd_kv_peak_bytes(m->kv);
}

const pd_kvp_spec *pd_kvm_spec(const pd_kvm *m) { return &m->spec; }
