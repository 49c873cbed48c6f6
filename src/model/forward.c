/* model/forward.c — the batched inference forward pass.
 *
 * A pd_batch holds tokens of one or more sequences (prefill and decode mixed). Every stage works on
 * the whole batch as an M = n_tokens matrix so the weight matmuls (pd_matmul, multi-threaded over
 * weight rows) read each weight once per step:
 *   x = embed(tokens)
 *   per layer: xn = rmsnorm(x)·attn_norm; q,k,v = W·xn (+bias) [hooks]; qk-norm (qwen3); rope;
 *              K,V → cache: a new row after each kv head's live rows (model/kv.c: paged blocks);
 *              each GQA group attends over its kv head's live rows up to the token itself
 *              (causal: rows ascend by position; the batch's own K/V are stored first);
 *              [observer: attention weights of selected rows handed to a kv/ policy];
 *              x += Wo·att [hook]; xn = rmsnorm(x)·ffn_norm; x += Wdown·(silu(Wgate·xn) ⊙ Wup·xn)
 *              [hooks]; residual hook
 *   logits = Wout·(rmsnorm(x)·output_norm) for the wanted rows only.
 * Scratch lives in the pd_kv and grows with the largest batch seen: no allocation per token. */
#include "model_impl.h"
#include "ponder/alloc.h"
#include "ponder/threads.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static pd_status ensure_scratch(pd_kv *kv, size_t nf, size_t ni) {
    if (nf > kv->scratch_cap) {
        float *p = pd_aligned_alloc(64, nf * sizeof(float));
        if (!p) return pd_fail_ctx(PD_ERR_NOMEM, "forward scratch (%zu floats)", nf);
        pd_aligned_free(kv->scratch);
        kv->scratch = p;
        kv->scratch_cap = nf;
    }
    if (ni > kv->iscratch_cap) {
        int32_t *p = pd_malloc(ni * sizeof(int32_t));
        if (!p) return pd_fail_ctx(PD_ERR_NOMEM, "forward scratch (%zu ints)", ni);
        free(kv->iscratch);
        kv->iscratch = p;
        kv->iscratch_cap = ni;
    }
    return PD_OK;
}

/* y[dim] += b (one token's row) */
static void add_bias_row(float *y, const pd_tensor *b, int64_t dim) {
    if (!b->data) return;
    const float *bb = b->data;
    for (int64_t j = 0; j < dim; j++) y[j] += bb[j];
}

/* The per-token work between the matmuls (norms, rope, K/V stores, residual adds, swiglu) runs
 * over the thread pool when the batch has at least PAR_TOKENS tokens (prefill): each token's row
 * goes through the same code as on one thread, so the results do not depend on the thread count.
 * A decode step (a few tokens) stays on the calling thread: waking the pool would cost more; its
 * matmuls and attention run over a team (ponder/threads.h, pd_team_run below), which keeps the
 * pool's threads waiting between them instead of one OpenMP region each. */
enum { PAR_TOKENS = 8 };

/* y[n][out] = W x (+ hook). */
static pd_status linear(const pd_model *m, int layer, const char *which, const pd_tensor *W, const float *x,
                        int64_t n, float *y) {
    int64_t in = W->ne[0], out = W->ne[1];
    PD_TRY(pd_matmul(W, x, n, in, y, out));
    if (m->linear_hook) m->linear_hook(m->linear_hook_ctx, layer, which, x, n, in, y, out);
    return PD_OK;
}

/* This layer's K and V of token i into its sequence's cache: row n_live + (pos - len) of each
 * kv head (pd_kv_prepare made the blocks private and present), with the position. Tokens write
 * disjoint rows, so tokens may be stored from different threads. */
static void store_kv_token(pd_kv *kv, int il, const int32_t *seq, const int32_t *pos, int64_t i, const float *k,
                           const float *v) {
    const int64_t hd = kv->head_dim, nkv = kv->n_head_kv * hd;
    for (int hh = 0; hh < kv->n_head_kv; hh++) {
        pd_kv_head *h = pd_kv_head_at(kv, seq[i], il, hh);
        int r = h->n_live + pos[i] - kv->seqs[seq[i]].len;
        const float *kr = k + i * nkv + hh * hd, *vr = v + i * nkv + hh * hd;
        /* the types and head_dim were checked by pd_kv_new: cannot fail */
        if (kv->k_type == PD_TYPE_F32) memcpy(pd_kv_row_k(kv, h, r), kr, (size_t)hd * sizeof(float));
        else (void)pd_quantize_row(kv->k_type, kr, pd_kv_row_k(kv, h, r), hd);
        if (kv->v_type == PD_TYPE_F32) memcpy(pd_kv_row_v(kv, h, r), vr, (size_t)hd * sizeof(float));
        else (void)pd_quantize_row(kv->v_type, vr, pd_kv_row_v(kv, h, r), hd);
        *pd_kv_row_pos(kv, h, r) = pos[i];
    }
}

/* Live rows token i sees in kv head hh: the head's rows up to and including its own. */
static int64_t rows_seen(const pd_kv *kv, int il, int hh, int32_t seq, int32_t pos) {
    return (int64_t)pd_kv_head_at(kv, seq, il, hh)->n_live + pos - kv->seqs[seq].len + 1;
}

/* Observer bookkeeping (only when a policy registered one): which tokens are observed, and where
 * each (observed token, kv head)'s weights [group][rows] go in kv->probs: kv->obs_at[i*Hkv + hh],
 * -1 for tokens not observed. */
static pd_status plan_observed(pd_kv *kv, const int32_t *seq, const int32_t *pos, const int32_t *next, int64_t n,
                               int group) {
    int64_t total = 0;
    const int Hkv = kv->n_head_kv;
    if ((size_t)(n * Hkv) > kv->obs_at_cap) {
        int64_t *p = pd_realloc(kv->obs_at, (size_t)(n * Hkv) * sizeof *p);
        if (!p) return pd_fail_ctx(PD_ERR_NOMEM, "attention observer slots");
        kv->obs_at = p;
        kv->obs_at_cap = (size_t)(n * Hkv);
    }
    int64_t *obs_at = kv->obs_at;
    for (int64_t i = 0; i < n; i++) {
        bool want = pos[i] >= next[seq[i]] - kv->obs_last_n && (!kv->obs_mask || kv->obs_mask[seq[i]]);
        for (int hh = 0; hh < Hkv; hh++) {
            int64_t most = 0; /* rows of the longest layer: every layer reuses the same slots */
            for (int il = 0; want && il < kv->n_layer; il++) {
                int64_t r = rows_seen(kv, il, hh, seq[i], pos[i]);
                if (r > most) most = r;
            }
            obs_at[i * Hkv + hh] = want ? total : -1;
            total += want ? most * group : 0;
        }
    }
    if ((size_t)total > kv->probs_cap) {
        float *p = pd_realloc(kv->probs, (size_t)total * sizeof(float));
        if (!p) return pd_fail_ctx(PD_ERR_NOMEM, "attention observer: %lld weights", (long long)total);
        kv->probs = p;
        kv->probs_cap = (size_t)total;
    }
    return PD_OK;
}

static void report_observed(const pd_kv *kv, int il, const int32_t *seq, const int32_t *pos, int64_t n, int group,
                            const int64_t *obs_at) {
    for (int64_t i = 0; i < n; i++)
        for (int hh = 0; hh < kv->n_head_kv; hh++) {
            if (obs_at[i * kv->n_head_kv + hh] < 0) continue;
            pd_kv_attn a = {.seq = seq[i], .layer = il, .kv_head = hh, .pos = pos[i], .n_q = group,
                            .n_rows = (int)rows_seen(kv, il, hh, seq[i], pos[i]),
                            .probs = kv->probs + obs_at[i * kv->n_head_kv + hh]};
            kv->obs(kv->obs_ctx, &a);
        }
}

/* Attention of every token of the batch over its cache. Tasks over the thread pool: one per
 * (token, kv head) — the group's query heads then read each K/V row once — split further into
 * query-head slices when there are fewer tasks than threads (single-sequence decode). With several
 * tokens (prefill) a task takes a chunk of up to AT consecutive tokens per kv head, and the tokens
 * of one sequence in it share each dequantised K/V chunk (pd_attend_paged_multi; same results). */
enum { AT = 16 };
#define ATT_PAR_WORK ((int64_t)1 << 18) /* multiply-adds of QK (as many again for PV) */
#define ATT_TEAM_WORK ((int64_t)1 << 13) /* the same inside a decode step's team: a loop costs ~1 us */
typedef struct {
    const pd_kv *kv;
    int il;
    const int32_t *seq, *pos;
    int64_t n, H, group, split, per, tc, n_chunks;
    const float *q;
    float *att, scale;
    const int64_t *obs_at;
} attend_ctx;

static void attend_tasks(void *ctx, int64_t t0, int64_t t1, int tid) {
    const attend_ctx *c = ctx;
    const pd_kv *kv = c->kv;
    const int64_t hd = kv->head_dim, Hkv = kv->n_head_kv, group = c->group, nq = c->H * hd, split = c->split;
    const int64_t per = c->per, n = c->n, n_chunks = c->n_chunks;
    (void)tid;
    for (int64_t t = t0; t < t1; t++) {
        /* head-major (a thread keeps one kv head's K/V rows in its cache from task to task), and
         * within a head the longest chunks (the last tokens) first, so the last tasks are short */
        int64_t hh = t / (n_chunks * split), rem = t % (n_chunks * split);
        int64_t ch = n_chunks - 1 - rem / split, part = rem % split;
        int64_t h0 = hh * group + part * per, nh = group - part * per < per ? group - part * per : per;
        int64_t i0 = ch * c->tc, i1 = i0 + c->tc < n ? i0 + c->tc : n;
        pd_attn_paged a[AT];
        for (int64_t s0 = i0; s0 < i1;) { /* runs of one sequence */
            int64_t s1 = s0 + 1;
            while (s1 < i1 && c->seq[s1] == c->seq[s0]) s1++;
            const pd_kv_head *h = pd_kv_head_at(kv, c->seq[s0], c->il, (int)hh);
            for (int64_t i = s0; i < s1; i++) {
                int64_t rows = rows_seen(kv, c->il, (int)hh, c->seq[i], c->pos[i]);
                a[i - s0] = (pd_attn_paged){.blocks = (const unsigned char *const *)h->blk, .block_rows = kv->block_rows,
                                            .k_off = kv->k_off, .v_off = kv->v_off, .k_type = kv->k_type,
                                            .v_type = kv->v_type, .n_rows = rows, .head_dim = hd, .scale = c->scale,
                                            .n_q = (int)nh, .q = c->q + i * nq + h0 * hd, .q_stride = hd,
                                            .out = c->att + i * nq + h0 * hd, .out_stride = hd};
                if (c->obs_at && c->obs_at[i * Hkv + hh] >= 0) {
                    a[i - s0].probs = kv->probs + c->obs_at[i * Hkv + hh] + part * per * rows;
                    a[i - s0].probs_stride = rows;
                }
            }
            pd_attend_paged_multi(a, (int)(s1 - s0));
            s0 = s1;
        }
    }
}

static void attend(const pd_kv *kv, int il, const int32_t *seq, const int32_t *pos, int64_t n, int64_t H,
                   const float *q, float *att, float scale, const int64_t *obs_at, int nth) {
    const int64_t hd = kv->head_dim, Hkv = kv->n_head_kv, group = H / Hkv;
    int64_t split = n * Hkv >= nth ? 1 : (group < nth ? group : nth);
    const int64_t per = (group + split - 1) / split;
    split = (group + per - 1) / per;
    const int64_t tc = split == 1 && n > 1 ? AT : 1; /* tokens per task */
    const int64_t n_chunks = (n + tc - 1) / tc, n_tasks = n_chunks * Hkv * split;
    /* little work (a decode step at a short depth: tens of microseconds) stays on this thread:
     * waking the pool and joining it would cost about as much (a team's threads are awake) */
    const int64_t enough = pd_team_size() > 1 ? ATT_TEAM_WORK : ATT_PAR_WORK;
    int64_t work = 0;
    for (int64_t i = 0; i < n && work < enough; i++) work += rows_seen(kv, il, 0, seq[i], pos[i]) * H * hd;
    attend_ctx c = {.kv = kv, .il = il, .seq = seq, .pos = pos, .n = n, .H = H, .group = group, .split = split,
                    .per = per, .tc = tc, .n_chunks = n_chunks, .q = q, .att = att, .scale = scale, .obs_at = obs_at};
    pd_par_for(n_tasks, 1, work >= enough ? nth : 1, attend_tasks, &c);
}

/* out = silu(g) * u over n elements, in pieces whose starts are multiples of 8 (the 8-lane code
 * sees the same lanes as one call over all n; the scalar tail is the same last elements). */
static void swiglu_flat(float *out, const float *g, const float *u, int64_t n, int nth, int par) {
    enum { PIECE = 4096 };
    const int64_t np = (n + PIECE - 1) / PIECE;
    if (!par || np <= 1) { /* no OpenMP region (see add_rows) */
        for (int64_t a = 0; a < n; a += PIECE) pd_swiglu(out + a, g + a, u + a, n - a < PIECE ? n - a : PIECE);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t p = 0; p < np; p++) {
        int64_t a = p * PIECE, len = n - a < PIECE ? n - a : PIECE;
        pd_swiglu(out + a, g + a, u + a, len);
    }
}

/* What pd_matmul_pre does to a range of token rows before the projection reads them. */
typedef struct {
    float *x, *xn, *h;
    const float *norm, *g, *u; /* rmsnorm weight; swiglu inputs (row stride ld) */
    int64_t E, F, ld;
    float eps;
    int add; /* x += xn first (the previous projection's output) */
} pre_ctx;

/* rows m0..m1-1: [x += xn;] xn = rmsnorm(x) */
static void pre_add_norm(void *ctx, int64_t m0, int64_t m1) {
    const pre_ctx *p = ctx;
    for (int64_t i = m0; i < m1; i++) {
        float *xi = p->x + i * p->E, *xni = p->xn + i * p->E;
        if (p->add)
            for (int64_t j = 0; j < p->E; j++) xi[j] += xni[j];
        pd_rmsnorm(xni, xi, p->norm, p->E, p->eps);
    }
}

/* rows m0..m1-1: h = silu(g) * u */
static void pre_swiglu(void *ctx, int64_t m0, int64_t m1) {
    const pre_ctx *p = ctx;
    for (int64_t i = m0; i < m1; i++) pd_swiglu(p->h + i * p->F, p->g + i * p->ld, p->u + i * p->ld, p->F);
}

static void split_qkv_row(const float *tmp, float *q, float *k, float *v, int64_t i, int64_t nq, int64_t nkv) {
    const float *r = tmp + i * (nq + 2 * nkv);
    memcpy(q + i * nq, r, (size_t)nq * sizeof(float));
    memcpy(k + i * nkv, r + nq, (size_t)nkv * sizeof(float));
    memcpy(v + i * nkv, r + nq + nkv, (size_t)nkv * sizeof(float));
}

static void split_qkv(const float *tmp, float *q, float *k, float *v, int64_t n, int64_t nq, int64_t nkv, int nth,
                      int par) {
    if (!par) { /* no OpenMP region (see add_rows) */
        for (int64_t i = 0; i < n; i++) split_qkv_row(tmp, q, k, v, i, nq, nkv);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t i = 0; i < n; i++) split_qkv_row(tmp, q, k, v, i, nq, nkv);
}

/* g, u [n][F] from the fused rows [n][2F] */
static void split_rows(float *g, float *u, const float *tmp, int64_t n, int64_t F, int nth, int par) {
#pragma omp parallel for schedule(static) num_threads(nth) if (par)
    for (int64_t i = 0; i < n; i++) {
        memcpy(g + i * F, tmp + i * 2 * F, (size_t)F * sizeof(float));
        memcpy(u + i * F, tmp + i * 2 * F + F, (size_t)F * sizeof(float));
    }
}

/* One token's q, k, v after the projection: (the fused rows split,) bias, per-head qk-norm and rope,
 * then K/V into the cache. */
typedef struct {
    pd_kv *kv;
    const pd_layer *L;
    const pd_rope *rope;
    const int32_t *seq, *pos;
    const float *tmp;
    float *q, *k, *v;
    int64_t H, Hkv, hd;
    float eps;
    int il, split;
} qkv_rows_ctx;

static void qkv_token(const qkv_rows_ctx *c, int64_t i) {
    const pd_layer *L = c->L;
    const int64_t hd = c->hd, nq = c->H * hd, nkv = c->Hkv * hd;
    if (c->split) split_qkv_row(c->tmp, c->q, c->k, c->v, i, nq, nkv);
    add_bias_row(c->q + i * nq, &L->bq, nq);
    add_bias_row(c->k + i * nkv, &L->bk, nkv);
    add_bias_row(c->v + i * nkv, &L->bv, nkv);
    for (int64_t hh = 0; hh < c->H; hh++) {
        float *qh = c->q + i * nq + hh * hd;
        if (L->q_norm.data) pd_rmsnorm(qh, qh, L->q_norm.data, hd, c->eps);
        pd_rope_apply(c->rope, qh, c->pos[i]);
    }
    for (int64_t hh = 0; hh < c->Hkv; hh++) {
        float *kh = c->k + i * nkv + hh * hd;
        if (L->k_norm.data) pd_rmsnorm(kh, kh, L->k_norm.data, hd, c->eps);
        pd_rope_apply(c->rope, kh, c->pos[i]);
    }
    store_kv_token(c->kv, c->il, c->seq, c->pos, i, c->k, c->v);
}

/* x += y over n elements */
static void add_rows(float *x, const float *y, int64_t n, int nth, int par) {
    if (!par) { /* no OpenMP region: even a 1-thread one ends in a barrier (a futex call) */
        for (int64_t j = 0; j < n; j++) x[j] += y[j];
        return;
    }
#pragma omp parallel for schedule(static) num_threads(nth)
    for (int64_t j = 0; j < n; j++) x[j] += y[j];
}

/* The transformer over a validated batch whose cache rows are prepared (scratch set up). */
static pd_status forward_layers(const pd_model *m, pd_kv *kv, const pd_batch *b, const int32_t *seq,
                                const int32_t *pos, const int32_t *next, float *logits) {
    const pd_model_config *c = &m->cfg;
    const int64_t n = b->n, E = c->n_embd, hd = c->head_dim, H = c->n_head, Hkv = c->n_head_kv;
    const int64_t nq = H * hd, nkv = Hkv * hd, F = c->n_ff, V = c->n_vocab;
    const int64_t tmpw = nq + 2 * nkv > 2 * F ? nq + 2 * nkv : 2 * F;
    float *x = kv->scratch, *xn = x + n * E, *q = xn + n * E, *k = q + n * nq, *v = k + n * nkv, *att = v + n * nkv;
    float *g = att + n * nq, *u = g + n * F, *h = u + n * F, *tmp = h + n * F;
    (void)tmpw;
    int64_t *obs_at = NULL;
    if (kv->obs) {
        PD_TRY(plan_observed(kv, seq, pos, next, n, (int)(H / Hkv)));
        obs_at = kv->obs_at;
    }

    /* rope: short/long factors chosen by the per-sequence context (as llama.cpp does) */
    pd_rope rope = c->rope;
    rope.factors = m->rope_freqs.data;
    if (m->rope_long.data && c->rope_orig_ctx > 0 && kv->n_ctx_max > c->rope_orig_ctx) rope.factors = m->rope_long.data;
    const float scale = 1.0f / sqrtf((float)hd);
    const int nth = pd_threads_get();

    /* embeddings */
    for (int64_t i = 0; i < n; i++)
        PD_TRY(pd_tensor_row_f32(&m->tok_embd, b->token[i], x + i * E)); /* any layout (pd_model_repack) */

    const int par = nth > 1 && n >= PAR_TOKENS; /* per-token work over the pool (see PAR_TOKENS) */
    /* the rows' work before a matmul runs inside its parallel region (pd_matmul_pre) */
    pre_ctx pc = {.x = x, .xn = xn, .E = E, .eps = c->norm_eps, .F = F};
    int pending = 0; /* the last down projection (in xn) is not yet added to x */
    for (int il = 0; il < c->n_layer; il++) {
        const pd_layer *L = &m->layers[il];
        pc.add = pending, pc.norm = L->attn_norm.data;
        if (L->wqkv.data) {
            PD_TRY(pd_matmul_pre(&L->wqkv, xn, n, E, tmp, nq + 2 * nkv, pre_add_norm, &pc));
            if (m->linear_hook) {
                split_qkv(tmp, q, k, v, n, nq, nkv, nth, par);
                m->linear_hook(m->linear_hook_ctx, il, "q", xn, n, E, q, nq);
                m->linear_hook(m->linear_hook_ctx, il, "k", xn, n, E, k, nkv);
                m->linear_hook(m->linear_hook_ctx, il, "v", xn, n, E, v, nkv);
            }
        } else {
            PD_TRY(pd_matmul_pre(&L->wq, xn, n, E, q, nq, pre_add_norm, &pc));
            if (m->linear_hook) m->linear_hook(m->linear_hook_ctx, il, "q", xn, n, E, q, nq);
            PD_TRY(linear(m, il, "k", &L->wk, xn, n, k));
            PD_TRY(linear(m, il, "v", &L->wv, xn, n, v));
        }
        const int split = L->wqkv.data && !m->linear_hook; /* q, k, v still in tmp's fused rows */

        /* per token: (the fused rows split,) bias, per-head qk-norm and rope, then K/V into the cache */
        const qkv_rows_ctx qc = {.kv = kv, .L = L, .rope = &rope, .seq = seq, .pos = pos, .tmp = tmp, .q = q, .k = k,
                                 .v = v, .H = H, .Hkv = Hkv, .hd = hd, .eps = c->norm_eps, .il = il, .split = split};
        if (par) {
#pragma omp parallel for schedule(dynamic, 4) num_threads(nth)
            for (int64_t i = 0; i < n; i++) qkv_token(&qc, i);
        } else {
            for (int64_t i = 0; i < n; i++) qkv_token(&qc, i);
        }

        attend(kv, il, seq, pos, n, H, q, att, scale, obs_at, nth);
        if (obs_at) report_observed(kv, il, seq, pos, n, (int)(H / Hkv), obs_at);

        PD_TRY(linear(m, il, "o", &L->wo, att, n, xn));

        /* feed-forward; its input rows: x += xn (the attention output), xn = rmsnorm(x) */
        pc.add = 1, pc.norm = L->ffn_norm.data;
        if (L->w_gate_up.data) {
            PD_TRY(pd_matmul_pre(&L->w_gate_up, xn, n, E, tmp, 2 * F, pre_add_norm, &pc));
            pc.g = tmp, pc.u = tmp + F, pc.ld = 2 * F;
            if (m->linear_hook) {
#pragma omp parallel for schedule(static) num_threads(nth) if (par)
                for (int64_t i = 0; i < n; i++) {
                    memcpy(g + i * F, tmp + i * 2 * F, (size_t)F * sizeof(float));
                    memcpy(u + i * F, tmp + i * 2 * F + F, (size_t)F * sizeof(float));
                }
                m->linear_hook(m->linear_hook_ctx, il, "gate", xn, n, E, g, F);
                m->linear_hook(m->linear_hook_ctx, il, "up", xn, n, E, u, F);
                pc.g = g, pc.u = u, pc.ld = F;
            }
        } else {
            PD_TRY(pd_matmul_pre(&L->w_gate, xn, n, E, g, F, pre_add_norm, &pc));
            if (m->linear_hook) m->linear_hook(m->linear_hook_ctx, il, "gate", xn, n, E, g, F);
            PD_TRY(linear(m, il, "up", &L->w_up, xn, n, u));
            pc.g = g, pc.u = u, pc.ld = F;
        }
        pc.h = h;
        if (F % 8 == 0) { /* swiglu per row inside the down projection: rows start at multiples of 8 */
            PD_TRY(pd_matmul_pre(&L->w_down, h, n, F, xn, E, pre_swiglu, &pc));
        } else { /* pieces that keep one call's 8-lane grouping over the whole n*F */
            if (pc.ld != F) split_rows(g, u, tmp, n, F, nth, par);
            swiglu_flat(h, g, u, n * F, nth, par);
            PD_TRY(pd_matmul(&L->w_down, h, n, F, xn, E));
        }
        if (m->linear_hook) m->linear_hook(m->linear_hook_ctx, il, "down", h, n, F, xn, E);

        /* residual add: in the next matmul's rows (pre_add_norm) unless a hook must see x first */
        pending = 1;
        if (m->residual_hook || m->residual_rows_hook || il + 1 == c->n_layer) {
            add_rows(x, xn, n * E, nth, par);
            pending = 0;
        }
        if (m->residual_hook) m->residual_hook(m->residual_hook_ctx, il, x, n, E);
        if (m->residual_rows_hook) m->residual_rows_hook(m->residual_rows_hook_ctx, il, x, n, E, seq, pos);
    }

    if (!logits) return PD_OK;
    int64_t n_out = 0;
    for (int64_t i = 0; i < n; i++)
        if (!b->want_logits || b->want_logits[i])
            pd_rmsnorm(xn + n_out++ * E, x + i * E, m->output_norm.data, E, c->norm_eps);
    return n_out ? pd_matmul(&m->output, xn, n_out, E, logits, V) : PD_OK;
}

/* forward_layers as a pd_team_run body */
typedef struct {
    const pd_model *m;
    pd_kv *kv;
    const pd_batch *b;
    const int32_t *seq, *pos, *next;
    float *logits;
} layers_args;

static pd_status layers_body(void *p) {
    const layers_args *a = p;
    return forward_layers(a->m, a->kv, a->b, a->seq, a->pos, a->next, a->logits);
}

pd_status pd_model_forward(const pd_model *m, pd_kv *kv, const pd_batch *b, float *logits) {
    if (!m || !kv || !b) return pd_fail(PD_ERR_ARG, "forward: NULL model, cache or batch");
    const pd_model_config *c = &m->cfg;
    const int64_t n = b->n;
    if (n < 0) return pd_fail(PD_ERR_ARG, "forward: batch size %lld is negative", (long long)n);
    if (n == 0) return PD_OK;
    if (!b->token) return pd_fail(PD_ERR_ARG, "forward: batch has no tokens");
    if (kv->n_layer != c->n_layer || kv->n_head_kv != c->n_head_kv || kv->head_dim != c->head_dim)
        return pd_fail(PD_ERR_ARG, "forward: KV cache was made for another model shape");
    const int64_t E = c->n_embd, hd = c->head_dim, H = c->n_head, Hkv = c->n_head_kv;
    const int64_t nq = H * hd, nkv = Hkv * hd, F = c->n_ff, V = c->n_vocab;

    /* scratch: x, xn [n][E]; q [n][nq]; k, v [n][nkv]; att [n][nq]; g, u, h [n][F]; tmp [n][max(nq+2nkv, 2F)] */
    int64_t tmpw = nq + 2 * nkv > 2 * F ? nq + 2 * nkv : 2 * F;
    size_t per = (size_t)(2 * E + 2 * nq + 2 * nkv + 3 * F + tmpw);
    size_t nf;
    if (!pd_mul_ok(per, (size_t)n, &nf)) return pd_fail(PD_ERR_NOMEM, "forward: batch of %lld tokens too large", (long long)n);
    PD_TRY(ensure_scratch(kv, nf, (size_t)n * 2 + (size_t)kv->n_seq_max));
    int32_t *seq = kv->iscratch, *pos = seq + n, *next = pos + n;

    /* validate the batch and work out each token's position */
    for (int s = 0; s < kv->n_seq_max; s++) next[s] = kv->seqs[s].len;
    for (int64_t i = 0; i < n; i++) {
        int32_t t = b->token[i], s = b->seq ? b->seq[i] : 0;
        if (t < 0 || t >= V)
            return pd_fail(PD_ERR_RANGE, "forward: token %lld: id %d is outside the vocabulary [0, %lld)", (long long)i,
                           t, (long long)V);
        if (s < 0 || s >= kv->n_seq_max)
            return pd_fail(PD_ERR_RANGE, "forward: token %lld: sequence %d outside [0, %d)", (long long)i, s,
                           kv->n_seq_max);
        if (b->pos && b->pos[i] != next[s])
            return pd_fail(PD_ERR_ARG, "forward: token %lld: position %d, but sequence %d continues at %d", (long long)i,
                           b->pos[i], s, next[s]);
        if (next[s] >= kv->n_ctx_max)
            return pd_fail(PD_ERR_RANGE, "forward: sequence %d would exceed the cache's %d positions", s, kv->n_ctx_max);
        seq[i] = s;
        pos[i] = next[s]++;
    }

    /* cache rows for the batch (blocks made private / taken from the pool), the layers, then the
     * rows become live — or, on any failure, the prepared blocks go back */
    pd_status st = PD_OK;
    int s_ok = 0;
    for (; s_ok < kv->n_seq_max && st == PD_OK; s_ok++)
        if (next[s_ok] > kv->seqs[s_ok].len) st = pd_kv_prepare(kv, s_ok, next[s_ok] - kv->seqs[s_ok].len);
    if (st == PD_OK) { /* a decode step keeps the pool's threads at hand for its many short loops */
        layers_args a = {.m = m, .kv = kv, .b = b, .seq = seq, .pos = pos, .next = next, .logits = logits};
        st = pd_team_run(n < PAR_TOKENS ? pd_threads_get() : 1, layers_body, &a);
    }
    for (int s = 0; s < s_ok; s++) {
        if (next[s] == kv->seqs[s].len) continue;
        if (st == PD_OK) pd_kv_commit(kv, s, next[s] - kv->seqs[s].len, next[s]);
        else pd_kv_unprepare(kv, s);
    }
    return st;
}

/* Long inputs go through in chunks of EVAL_CHUNK tokens: the batch arrays live on the stack (no
 * allocation per call, so decoding one token at a time never allocates) and the forward scratch
 * stays bounded however long the prompt is. */
enum { EVAL_CHUNK = 512 };

pd_status pd_model_eval(const pd_model *m, pd_kv *kv, int seq, const int32_t *tokens, int n, bool all, float *logits) {
    if (n < 1) return pd_fail(PD_ERR_ARG, "eval: need at least one token (got %d)", n);
    if (!m || !kv || seq < 0 || seq >= kv->n_seq_max)
        return pd_fail(PD_ERR_RANGE, "eval: sequence %d outside the cache", seq);
    if (kv->seqs[seq].len + (int64_t)n > kv->n_ctx_max)
        return pd_fail(PD_ERR_RANGE, "eval: sequence %d has %d positions, %d more exceed the cache's %d", seq,
                       kv->seqs[seq].len, n, kv->n_ctx_max);
    int32_t seqs[EVAL_CHUNK];
    int8_t want[EVAL_CHUNK];
    for (int i = 0; i < EVAL_CHUNK; i++) seqs[i] = seq;
    for (int at = 0; at < n; at += EVAL_CHUNK) {
        int c = n - at < EVAL_CHUNK ? n - at : EVAL_CHUNK;
        for (int i = 0; i < c; i++) want[i] = all || at + i == n - 1;
        pd_batch b = {.n = c, .token = tokens + at, .seq = seqs, .pos = NULL, .want_logits = want};
        float *out = logits ? (all ? logits + (size_t)at * m->cfg.n_vocab : logits) : NULL;
        PD_TRY(pd_model_forward(m, kv, &b, out));
    }
    return PD_OK;
}
