/* train/tmodel_tmpl.h — the decoder's training forward and hand-written backward, written once
 * over a scalar type so it can be instantiated twice: f32 for training (train/tmodel.c) and f64 for
 * the finite-difference gradient checks (tests/train/test_grad.c), which then compare the very code
 * that trains against differences taken in double precision.
 *
 * Before including, define:
 *   TR                  the scalar type (float or double)
 *   TN(x)               a name prefix, e.g. #define TN(x) pd_tr_##x
 *   TR_GEMM(ta,tb,M,N,K,A,lda,B,ldb,beta,C,ldc)
 *                       C[M][N] = beta·C + op(A)·op(B), row-major; op(A) = A[M][K] (ta=0) or A
 *                       stored [K][M] (ta=1); op(B) = B[K][N] (tb=0) or B stored [N][K] (tb=1).
 *   TR_EXP(x)           exp in that type (expf / exp)
 * Optionally:
 *   TR_GEMM_MP(bf16, ta,tb,M,N,K,A,Ah,lda,B,Bh,ldb,beta,C,ldc)
 *                       the same product in mixed precision when bf16 != 0 (`--precision bf16`):
 *                       every operand element rounded to BF16, products summed in F32; Ah / Bh: the
 *                       operand's BF16 copy, or NULL (round as it is read). Default: TR_GEMM (bf16
 *                       ignored). Every GEMM of the model goes through it: the linear layers' forward
 *                       and both backward GEMMs, and the attention's five; norms, softmax, SwiGLU,
 *                       RoPE, the loss and the optimizer stay in TR.
 *
 * Shape of the code (after llm.c): every layer is a *_forward / *_backward pair of plain functions
 * over flat arrays; parameters and their gradients are a union of named pointers into one
 * allocation; activations likewise. Backward functions ACCUMULATE (+=) into parameter gradients
 * and into the input gradients they are given, so residual branches just add up.
 * Threading: OpenMP over independent rows/heads with static schedules, and every sum over the
 * batch is taken in a fixed order, so one run's numbers do not depend on thread timing. */
#include "ponder/kern.h"
#include "ponder/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- parameters: named pointers into one array ---- */
typedef struct {
    union {
        struct {
            TR *tok_embd, *attn_norm, *wq, *wk, *wv, *bq, *bk, *bv, *q_norm, *k_norm, *wo, *ffn_norm, *w_gate, *w_up,
                *w_down, *out_norm, *output;
        };
        TR *t[PD_TP_COUNT];
    };
    /* Frozen per-layer matrices kept in their stored type (a base under an adapter; only with
     * TR_FROZEN, the f32 engine): frozen[kind·n_layer + l].data != NULL means that matrix is read
     * from there, dequantised into scratch just before each use (the same numbers as f32 masters
     * holding the dequantised weights), and gets no gradient; its slice of the array is unused.
     * NULL: every weight is in the array. */
    const pd_tensor *frozen;
    float *scratch;
    /* RLKV gate training (rlkv_mix_tmpl.h): mixed attention in every layer (NULL: plain attention);
     * no_wgrad: no weight matrix gets a gradient (all frozen; set on the model's params p) */
    const struct TN(mix) *mix;
    bool no_wgrad;
    /* the plain attention's local window (attention_forward's sink/recent; 0, 0: full causal):
     * `ponder train --attn-window S,R`, set with pd_tmodel_set_window */
    int win_sink, win_recent;
    /* mixed precision (TR_GEMM_MP): bf16 != 0 runs every GEMM with BF16 operands (pd_tmodel_set_precision);
     * wh: the BF16 copy of this array (same layout, refreshed once per optimizer step), or NULL */
    int bf16;
    const uint16_t *wh;
} TN(params);

#ifndef TR_GEMM_MP
#define TR_GEMM_MP(bf16, ta, tb, M, N, K, A, Ah, lda, B, Bh, ldb, beta, C, ldc) \
    TR_GEMM(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)
#endif

static inline void TN(params_point)(TN(params) *p, const pd_tcfg *c, TR *base) {
    size_t sz[PD_TP_COUNT];
    pd_tcfg_param_sizes(c, sz);
    for (int i = 0; i < PD_TP_COUNT; i++) {
        p->t[i] = sz[i] ? base : NULL;
        base += sz[i];
    }
    if (c->tied) p->output = p->tok_embd;
    p->frozen = NULL;
    p->scratch = NULL;
    p->mix = NULL;
    p->no_wgrad = false;
    p->win_sink = p->win_recent = 0;
    p->bf16 = 0;
    p->wh = NULL;
}

/* the BF16 copy of weight W (a matrix in p's array), or NULL: f32 GEMMs, no copy, or W is not in the
 * array (a frozen matrix dequantised into scratch: rounded as the GEMM packs it — the same numbers) */
static inline const uint16_t *TN(half)(const TN(params) *p, const TR *W) {
    if (!p->bf16 || !p->wh || W == (const TR *)(const void *)p->scratch) return NULL;
    return p->wh + (W - p->tok_embd);
}

/* The matrix of `kind` in layer l (w: its place in the array): w itself, or the frozen matrix
 * dequantised into the scratch buffer. */
static inline const TR *TN(weight)(const TN(params) *p, const pd_tcfg *c, int kind, int l, const TR *w) {
#ifdef TR_FROZEN
    const pd_tensor *f = p->frozen ? &p->frozen[kind * c->n_layer + l] : NULL;
    if (f && f->data) {
        size_t rb = pd_row_bytes(f->type, f->ne[0]);
        for (int64_t r = 0; r < f->ne[1]; r++)
            pd_dequantize_row(f->type, (const char *)f->data + (size_t)r * rb, p->scratch + r * f->ne[0], f->ne[0]);
        return p->scratch;
    }
#else
    (void)p; (void)c; (void)kind; (void)l;
#endif
    return w;
}
/* the gradient slice of that matrix, or NULL when it is frozen */
static inline TR *TN(wgrad)(const TN(params) *p, const pd_tcfg *c, int kind, int l, TR *g) {
    if (p->no_wgrad) return NULL;
#ifdef TR_FROZEN
    if (p->frozen && p->frozen[kind * c->n_layer + l].data) return NULL;
#else
    (void)p; (void)c; (void)kind; (void)l;
#endif
    return g;
}

/* ---- saved activations ---- */
enum {
    TA_RESID, TA_RESMID, TA_LN1, TA_RSTD1, TA_QRAW, TA_QRSTD, TA_Q, TA_KRAW, TA_KRSTD, TA_K, TA_V, TA_ATT, TA_ATTY,
    TA_LN2, TA_RSTD2, TA_GATE, TA_UP, TA_SW, TA_LNF, TA_RSTDF, TA_LOGITS, TA_COUNT
};
typedef union {
    struct {
        TR *resid;      /* [L+1][BT][D]: input of layer l; resid[L] feeds the final norm */
        TR *resmid;     /* [L][BT][D]: after the attention residual */
        TR *ln1, *rstd1;            /* [L][BT][D], [L][BT] */
        TR *qraw, *qrstd, *q;       /* [L][BT][H·hd] before qk-norm/rope, [L][BT][H], after rope */
        TR *kraw, *krstd, *k;       /* same for keys (KV heads) */
        TR *v;                      /* [L][BT][KV·hd] */
        TR *att;                    /* [L][B][H][T][T] softmax probabilities (lower triangle) */
        TR *atty;                   /* [L][BT][H·hd] attention output before wo */
        TR *ln2, *rstd2;
        TR *gate, *up, *sw;         /* [L][BT][F]; sw = silu(gate)·up */
        TR *lnf, *rstdf;            /* [BT][D], [BT] */
        TR *logits;                 /* [BT][V] */
    };
    TR *t[TA_COUNT];
} TN(acts);

/* Backward scratch: gradients w.r.t. activations of one layer at a time. */
enum { TG_DRESID, TG_DLN, TG_DQ, TG_DK, TG_DV, TG_DQR, TG_DKR, TG_DATTY, TG_DGATE, TG_DUP, TG_DSW, TG_DLOGITS, TG_DSCORE, TG_COUNT };
typedef union {
    struct { TR *dresid, *dln, *dq, *dk, *dv, *dqr, *dkr, *datty, *dgate, *dup, *dsw, *dlogits, *dscore; };
    TR *t[TG_COUNT];
} TN(grads_act);

/* Query rows per block of the attention GEMMs (a test may set it smaller to cross block edges). */
#ifndef TR_ATT_BM
#define TR_ATT_BM 64
#endif
/* floats of the backward's score scratch (dscore) for a batch B × T with KV key heads */
static inline size_t TN(attn_scratch)(int B, int T, int KV) {
    size_t bm = T < TR_ATT_BM ? (size_t)T : TR_ATT_BM;
    return (size_t)B * KV * bm * T;
}

static inline size_t TN(acts_sizes)(const pd_tcfg *c, int B, int T, size_t a[TA_COUNT], size_t g[TG_COUNT]) {
    size_t BT = (size_t)B * T, L = c->n_layer, D = c->dim, Hq = (size_t)c->n_head * c->head_dim,
           Hk = (size_t)c->n_head_kv * c->head_dim, F = c->n_ff;
    a[TA_RESID] = (L + 1) * BT * D; a[TA_RESMID] = L * BT * D;
    a[TA_LN1] = L * BT * D; a[TA_RSTD1] = L * BT;
    a[TA_QRAW] = L * BT * Hq; a[TA_QRSTD] = L * BT * c->n_head; a[TA_Q] = L * BT * Hq;
    a[TA_KRAW] = L * BT * Hk; a[TA_KRSTD] = L * BT * c->n_head_kv; a[TA_K] = L * BT * Hk;
    a[TA_V] = L * BT * Hk;
    a[TA_ATT] = L * (size_t)B * c->n_head * T * T;
    a[TA_ATTY] = L * BT * Hq;
    a[TA_LN2] = L * BT * D; a[TA_RSTD2] = L * BT;
    a[TA_GATE] = a[TA_UP] = a[TA_SW] = L * BT * F;
    a[TA_LNF] = BT * D; a[TA_RSTDF] = BT;
    a[TA_LOGITS] = BT * c->n_vocab;
    g[TG_DRESID] = BT * D; g[TG_DLN] = BT * D;
    g[TG_DQ] = BT * Hq; g[TG_DK] = BT * Hk; g[TG_DQR] = c->qk_norm ? BT * Hq : 0; g[TG_DKR] = c->qk_norm ? BT * Hk : 0; g[TG_DV] = BT * Hk; g[TG_DATTY] = BT * Hq;
    g[TG_DGATE] = g[TG_DUP] = g[TG_DSW] = BT * F;
    g[TG_DLOGITS] = BT * c->n_vocab;
    g[TG_DSCORE] = TN(attn_scratch)(B, T, c->n_head_kv); /* a block of score-gradient rows per (b, kv head) task */
    size_t tot = 0;
    for (int i = 0; i < TA_COUNT; i++) tot += a[i];
    for (int i = 0; i < TG_COUNT; i++) tot += g[i];
    return tot;
}

static inline void TN(acts_point)(TN(acts) *a, TN(grads_act) *g, const pd_tcfg *c, int B, int T, TR *base) {
    size_t sa[TA_COUNT], sg[TG_COUNT];
    TN(acts_sizes)(c, B, T, sa, sg);
    for (int i = 0; i < TA_COUNT; i++) { a->t[i] = base; base += sa[i]; }
    for (int i = 0; i < TG_COUNT; i++) { g->t[i] = base; base += sg[i]; }
}

/* ===================================================================================== layers */

/* ---- embedding ---- */
static inline void TN(embed_forward)(TR *out, const int32_t *tokens, const TR *embd, int64_t N, int D) {
    for (int64_t i = 0; i < N; i++) memcpy(out + i * D, embd + (int64_t)tokens[i] * D, sizeof(TR) * D);
}
/* Serial over tokens: a token that occurs twice adds into the same row. */
static inline void TN(embed_backward)(TR *dembd, const TR *dout, const int32_t *tokens, int64_t N, int D) {
    for (int64_t i = 0; i < N; i++) {
        TR *d = dembd + (int64_t)tokens[i] * D;
        const TR *g = dout + i * D;
        for (int j = 0; j < D; j++) d[j] += g[j];
    }
}

/* ---- RMSNorm over rows of n: y = x · rstd · w, rstd = 1/sqrt(mean(x²) + eps) ----
 * Rows go in blocks of TN(rms_rows)(rows): at most TR_RMS_NB blocks, a count fixed by the row count
 * alone, so the backward's weight gradient (each block's partial sum, then the blocks in order) is the
 * same on any number of threads. The instantiation may supply the per-block passes (TR_RMSNORM_FWD /
 * TR_RMSNORM_BWD, same contracts); the loops here define them. */
#ifndef TR_RMS_NB
#define TR_RMS_NB 64
#endif
static inline int64_t TN(rms_rows)(int64_t rows) { return rows > TR_RMS_NB ? (rows + TR_RMS_NB - 1) / TR_RMS_NB : 1; }
#ifndef TR_RMSNORM_FWD
/* rows of x: x += add first (a residual add; add NULL: none), then y = x·rstd·w */
static inline void TN(rms_fwd_rows)(TR *y, TR *rstd, TR *x, const TR *add, const TR *w, int64_t rows, int n, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        TR *xr = x + r * n, *yr = y + r * n, ss = 0;
        if (add)
            for (int j = 0; j < n; j++) xr[j] += add[r * n + j];
        for (int j = 0; j < n; j++) ss += xr[j] * xr[j];
        TR s = (TR)(1 / sqrt(ss / n + eps));
        rstd[r] = s;
        for (int j = 0; j < n; j++) yr[j] = xr[j] * s * w[j];
    }
}
#define TR_RMSNORM_FWD(y, rstd, x, add, w, rows, n, eps) TN(rms_fwd_rows)(y, rstd, x, add, w, rows, n, eps)
#endif
#ifndef TR_RMSNORM_BWD
/* rows: dx += rstd·(dy·w − x̂·mean(dy·w·x̂)) = s·dy·w − s²·mean(dy·w·x)·s·x, and dwp += Σ_rows dy·x̂
 * (x̂ = x·s) in row order */
static inline void TN(rms_bwd_rows)(TR *dx, TR *dwp, const TR *dy, const TR *x, const TR *w, const TR *rstd, int64_t rows,
                                    int n) {
    for (int64_t r = 0; r < rows; r++) {
        const TR *xr = x + r * n, *gr = dy + r * n;
        TR *dxr = dx + r * n, s = rstd[r], dot = 0;
        for (int j = 0; j < n; j++) dot += gr[j] * w[j] * xr[j];
        TR c = s * s * (dot * s / n);
        for (int j = 0; j < n; j++) {
            dxr[j] += s * (gr[j] * w[j]) - c * xr[j];
            dwp[j] += gr[j] * xr[j] * s;
        }
    }
}
#define TR_RMSNORM_BWD(dx, dwp, dy, x, w, rstd, rows, n) TN(rms_bwd_rows)(dx, dwp, dy, x, w, rstd, rows, n)
#endif
/* x += add (NULL: nothing; the residual add that precedes the norm), then y = norm(x)·w */
static inline void TN(rmsnorm_add_forward)(TR *y, TR *rstd, TR *x, const TR *add, const TR *w, int64_t rows, int n,
                                           float eps) {
    int64_t rb = TN(rms_rows)(rows);
#pragma omp parallel for schedule(static)
    for (int64_t r0 = 0; r0 < rows; r0 += rb)
        TR_RMSNORM_FWD(y + r0 * n, rstd + r0, x + r0 * n, add ? add + r0 * n : NULL, w, rows - r0 < rb ? rows - r0 : rb, n,
                       eps);
}
static inline void TN(rmsnorm_forward)(TR *y, TR *rstd, const TR *x, const TR *w, int64_t rows, int n, float eps) {
    TN(rmsnorm_add_forward)(y, rstd, (TR *)x, NULL, w, rows, n, eps); /* add NULL: x is only read */
}
/* dx += rstd·(dy·w − x̂·mean(dy·w·x̂)), x̂ = x·rstd;  dw += Σ_rows dy·x̂: each block's partial sum (one pass
 * over the rows with dx), then the blocks in order */
static inline void TN(rmsnorm_backward)(TR *dx, TR *dw, const TR *dy, const TR *x, const TR *w, const TR *rstd, int64_t rows,
                                 int n) {
    if (rows <= 0) return;
    int64_t rb = TN(rms_rows)(rows), nb = (rows + rb - 1) / rb;
    TR *part = (TR *)calloc((size_t)(nb * n), sizeof(TR));
    if (!part) { /* no memory for the partial sums: one block, straight into dw, on this thread */
        TR_RMSNORM_BWD(dx, dw, dy, x, w, rstd, rows, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t r0 = b * rb;
        TR_RMSNORM_BWD(dx + r0 * n, part + b * n, dy + r0 * n, x + r0 * n, w, rstd + r0, rows - r0 < rb ? rows - r0 : rb, n);
    }
    for (int64_t b = 0; b < nb; b++)
        for (int j = 0; j < n; j++) dw[j] += part[b * n + j];
    free(part);
}

/* ---- linear: y[M][out] = x[M][in] · W[out][in]ᵀ (+ b) ---- */
static inline void TN(linear_forward_p)(const TN(params) *p, TR *y, const TR *x, const TR *W, const TR *b, int64_t M,
                                       int in, int out) {
    int bf16 = p ? p->bf16 : 0;
    TR_GEMM_MP(bf16, 0, 1, M, out, in, x, NULL, in, W, p ? TN(half)(p, W) : NULL, in, 0, y, out);
    (void)bf16;
    if (b) {
#pragma omp parallel for schedule(static)
        for (int64_t m = 0; m < M; m++)
            for (int o = 0; o < out; o++) y[m * out + o] += b[o];
    }
}
/* dx = dx_beta·dx + dy·W (dx_beta 1: accumulate; 0: dx is overwritten, never read), dW += dyᵀ·x,
 * db += Σ_rows dy. dx may be NULL (embedding-side inputs need none).
 * p (may be NULL: f32): the model's parameters, for the precision and W's BF16 copy. */
static inline void TN(linear_backward_bp)(const TN(params) *p, TR dx_beta, TR *dx, TR *dW, TR *db, const TR *dy,
                                          const TR *x, const TR *W, int64_t M, int in, int out) {
    int bf16 = p ? p->bf16 : 0;
    (void)bf16;
    if (dx) TR_GEMM_MP(bf16, 0, 0, M, in, out, dy, NULL, out, W, p ? TN(half)(p, W) : NULL, in, dx_beta, dx, in);
    if (dW) TR_GEMM_MP(bf16, 1, 0, out, in, M, dy, NULL, out, x, NULL, in, 1, dW, in); /* NULL: a frozen matrix */
    if (db) {
#pragma omp parallel for schedule(static)
        for (int o = 0; o < out; o++) {
            TR acc = 0;
            for (int64_t m = 0; m < M; m++) acc += dy[m * out + o];
            db[o] += acc;
        }
    }
}
/* dx += dy·W, dW += dyᵀ·x, db += Σ_rows dy (linear_backward_bp accumulating) */
static inline void TN(linear_backward_p)(const TN(params) *p, TR *dx, TR *dW, TR *db, const TR *dy, const TR *x,
                                         const TR *W, int64_t M, int in, int out) {
    TN(linear_backward_bp)(p, 1, dx, dW, db, dy, x, W, M, in, out);
}
static inline void TN(linear_forward)(TR *y, const TR *x, const TR *W, const TR *b, int64_t M, int in, int out) {
    TN(linear_forward_p)(NULL, y, x, W, b, M, in, out);
}
static inline void TN(linear_backward)(TR *dx, TR *dW, TR *db, const TR *dy, const TR *x, const TR *W, int64_t M, int in,
                                       int out) {
    TN(linear_backward_p)(NULL, dx, dW, db, dy, x, W, M, in, out);
}

/* ---- RoPE on every head of every token. pos(i) = (i mod T) − seg[i]. cs: [n_ctx][hd/2][2] cos,sin ----
 * NORM rotates pairs (2i, 2i+1), NEOX pairs (i, i + hd/2). inverse=1 rotates by −θ (the backward). */
static inline void TN(rope_apply)(TR *x, const int32_t *seg, const TR *cs, int64_t N, int T, int n_heads, int hd, bool neox,
                           int inverse) {
    int half = hd / 2;
    TR sg = inverse ? -1 : 1; /* sin(−θ) = −sin θ */
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N; i++) {
        int t = (int)(i % T), pos = t - (seg ? seg[i] : 0);
        const TR *c = cs + (size_t)pos * half * 2;
        for (int h = 0; h < n_heads; h++) {
            TR *v = x + (i * n_heads + h) * hd;
            if (neox) { /* pairs (p, p + half): two contiguous halves, a vector loop */
                TR *va = v, *vb = v + half;
#pragma omp simd
                for (int p = 0; p < half; p++) {
                    TR co = c[2 * p], si = sg * c[2 * p + 1], a = va[p], bb = vb[p];
                    va[p] = a * co - bb * si;
                    vb[p] = a * si + bb * co;
                }
            } else {
                for (int p = 0; p < half; p++) {
                    TR co = c[2 * p], si = sg * c[2 * p + 1], a = v[2 * p], bb = v[2 * p + 1];
                    v[2 * p] = a * co - bb * si;
                    v[2 * p + 1] = a * si + bb * co;
                }
            }
        }
    }
}

/* a[j] = exp(a[j] − mx) for j < n (a[j] <= mx), returning Σ a[j]: the instantiation may supply a
 * fused version (TR_EXPSUM); this loop is the definition */
#ifndef TR_EXPSUM
static inline TR TN(expsum)(TR *a, int64_t n, TR mx) {
    TR s = 0;
    for (int64_t j = 0; j < n; j++) {
        a[j] = TR_EXP(a[j] - mx);
        s += a[j];
    }
    return s;
}
#define TR_EXPSUM(a, n, mx) TN(expsum)(a, n, mx)
#endif

/* ---- causal attention within documents, GQA, with an optional local window ----
 * q: [B][T][H][hd], k, v: [B][T][KV][hd]. att: [B][H][T][T] probabilities; out: [B][T][H][hd].
 * Token t of row b (its document starts at s0 = seg(t)) attends to the keys s in [s0, t] that are
 *   - all of them when sink = recent = 0 (full causal attention), otherwise
 *   - the first `sink` positions of its document (s < s0 + sink) and the `recent` most recent ones
 *     (t − recent < s), i.e. [s0, e1) ∪ [b2, t] from attn_span below (never empty: recent ≥ 1 shows t
 *     itself, sink ≥ 1 the document's first token).
 * Row t of att holds the probabilities on [s0, t] (0 on the keys the window hides). */
static inline void TN(attn_span)(int s0, int t, int sink, int recent, int *e1, int *b2) {
    if (sink <= 0 && recent <= 0) { *e1 = *b2 = t + 1; return; }
    int e = s0 + (sink > 0 ? sink : 0);
    if (e > t + 1) e = t + 1;
    int b = t - (recent > 0 ? recent : 0) + 1;
    *e1 = e;
    *b2 = b > e ? b : e;
}

/* Attention as GEMMs (per (row, head), in blocks of TR_ATT_BM query rows): S = Q·Kᵀ on the columns
 * the block's rows can see, row softmax of scale·S under the mask, O = P·V; backward dP = dO·Vᵀ,
 * dS = P⊙(dP − rowsum(P⊙dP))·scale, dQ += dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO. The columns of a block:
 * the hull of its rows' sink spans and the hull of their recent spans (one interval when they meet);
 * inside them P is exactly 0 where the mask hides a key, so the GEMMs need no mask. */
/* column intervals [iv[n][0], iv[n][1]) of query rows [r0, r1); returns n (1 or 2) */
static inline int TN(attn_cols)(const int32_t *segr, int r0, int r1, int sink, int recent, int iv[2][2]) {
    int lo1 = r1, hi1 = 0, lo2 = r1, hi2 = 0;
    for (int t = r0; t < r1; t++) {
        int s0 = segr ? segr[t] : 0, e1, b2;
        TN(attn_span)(s0, t, sink, recent, &e1, &b2);
        if (e1 > s0) { if (s0 < lo1) lo1 = s0; if (e1 > hi1) hi1 = e1; }
        if (b2 <= t) { if (b2 < lo2) lo2 = b2; if (t + 1 > hi2) hi2 = t + 1; }
    }
    int n = 0;
    if (hi1 > lo1 && hi2 > lo2 && lo2 <= hi1) { /* they meet: one interval */
        iv[0][0] = lo1 < lo2 ? lo1 : lo2;
        iv[0][1] = hi1 > hi2 ? hi1 : hi2;
        return 1;
    }
    if (hi1 > lo1) { iv[n][0] = lo1; iv[n][1] = hi1; n++; }
    if (hi2 > lo2) { iv[n][0] = lo2; iv[n][1] = hi2; n++; }
    return n;
}

/* Parallel over (row, head). bf16: the GEMMs in mixed precision (TR_GEMM_MP; 0: TR_GEMM). */
static inline void TN(attention_forward_p)(int bf16, TR *out, TR *att, const TR *q, const TR *k, const TR *v,
                                           const int32_t *seg, int B, int T, int H, int KV, int hd, int sink, int recent) {
    (void)bf16;
    int Hq = H * hd, Hk = KV * hd, grp = H / KV;
    TR scale = (TR)(1.0 / sqrt((double)hd));
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int kh = h / grp;
            const int32_t *segr = seg ? seg + (int64_t)b * T : NULL;
            const TR *Q = q + (int64_t)b * T * Hq + h * hd, *K = k + (int64_t)b * T * Hk + kh * hd,
                     *V = v + (int64_t)b * T * Hk + kh * hd;
            TR *A = att + ((int64_t)b * H + h) * T * T, *O = out + (int64_t)b * T * Hq + h * hd;
            for (int r0 = 0; r0 < T; r0 += TR_ATT_BM) {
                int r1 = r0 + TR_ATT_BM < T ? r0 + TR_ATT_BM : T, m = r1 - r0, iv[2][2];
                int n = TN(attn_cols)(segr, r0, r1, sink, recent, iv);
                for (int c = 0; c < n; c++)
                    TR_GEMM_MP(bf16, 0, 1, m, iv[c][1] - iv[c][0], hd, Q + (int64_t)r0 * Hq, NULL, Hq,
                               K + (int64_t)iv[c][0] * Hk, NULL, Hk, 0, A + (int64_t)r0 * T + iv[c][0], T);
                for (int t = r0; t < r1; t++) { /* row softmax of scale·S on the visible keys */
                    int s0 = segr ? segr[t] : 0, e1, b2;
                    TN(attn_span)(s0, t, sink, recent, &e1, &b2);
                    TR *a = A + (int64_t)t * T, mx = -INFINITY, sum = 0;
                    int vis[2][2] = {{s0, e1}, {b2, t + 1}}; /* [s0, e1) ∪ [b2, t] */
                    for (int z = 0; z < 2; z++) {
#pragma omp simd reduction(max : mx)
                        for (int j = vis[z][0]; j < vis[z][1]; j++) {
                            a[j] *= scale;
                            mx = a[j] > mx ? a[j] : mx;
                        }
                    }
                    for (int z = 0; z < 2; z++)
                        if (vis[z][1] > vis[z][0]) sum += TR_EXPSUM(a + vis[z][0], vis[z][1] - vis[z][0], mx);
                    TR inv = 1 / sum;
                    for (int z = 0; z < 2; z++) {
#pragma omp simd
                        for (int j = vis[z][0]; j < vis[z][1]; j++) a[j] *= inv;
                    }
                    /* 0 on the hidden keys the GEMMs read (before the document, after t) and in the gap */
                    for (int c = 0; c < n; c++) {
                        for (int j = iv[c][0]; j < s0 && j < iv[c][1]; j++) a[j] = 0;
                        for (int j = t + 1 > iv[c][0] ? t + 1 : iv[c][0]; j < iv[c][1]; j++) a[j] = 0;
                    }
                    for (int j = e1; j < b2; j++) a[j] = 0;
                }
                for (int c = 0; c < n; c++)
                    TR_GEMM_MP(bf16, 0, 0, m, hd, iv[c][1] - iv[c][0], A + (int64_t)r0 * T + iv[c][0], NULL, T,
                               V + (int64_t)iv[c][0] * Hk, NULL, Hk, c ? 1 : 0, O + (int64_t)r0 * Hq, Hq);
            }
        }
}
static inline void TN(attention_forward)(TR *out, TR *att, const TR *q, const TR *k, const TR *v, const int32_t *seg, int B,
                                         int T, int H, int KV, int hd, int sink, int recent) {
    TN(attention_forward_p)(0, out, att, q, k, v, seg, B, T, H, KV, hd, sink, recent);
}
/* Parallel over (row, kv head): the query heads sharing a kv head run in one task, so dk/dv of that
 * kv head have one writer. dq, dk, dv are accumulated (+=). dscore: TN(attn_scratch)(B, T, KV) floats
 * (TN(acts_sizes) sizes g->dscore so). sink, recent: the window the forward ran with. */
static inline void TN(attention_backward_p)(int bf16, TR *dq, TR *dk, TR *dv, TR *dscore, const TR *dout,
                                            const TR *att, const TR *q, const TR *k, const TR *v, const int32_t *seg,
                                            int B, int T, int H, int KV, int hd, int sink, int recent) {
    (void)bf16;
    int Hq = H * hd, Hk = KV * hd, grp = H / KV, bm = T < TR_ATT_BM ? T : TR_ATT_BM;
    TR scale = (TR)(1.0 / sqrt((double)hd));
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int kh = 0; kh < KV; kh++) {
            TR *D = dscore + ((int64_t)b * KV + kh) * bm * T; /* rows r0..r1 of dS, at column offsets as in att */
            const int32_t *segr = seg ? seg + (int64_t)b * T : NULL;
            const TR *K = k + (int64_t)b * T * Hk + kh * hd, *V = v + (int64_t)b * T * Hk + kh * hd;
            TR *dK = dk + (int64_t)b * T * Hk + kh * hd, *dV = dv + (int64_t)b * T * Hk + kh * hd;
            for (int h = kh * grp; h < (kh + 1) * grp; h++) {
                const TR *A = att + ((int64_t)b * H + h) * T * T, *Q = q + (int64_t)b * T * Hq + h * hd,
                         *dO = dout + (int64_t)b * T * Hq + h * hd;
                TR *dQ = dq + (int64_t)b * T * Hq + h * hd;
                for (int r0 = 0; r0 < T; r0 += bm) {
                    int r1 = r0 + bm < T ? r0 + bm : T, m = r1 - r0, iv[2][2];
                    int n = TN(attn_cols)(segr, r0, r1, sink, recent, iv);
                    const TR *Ab = A + (int64_t)r0 * T;
                    for (int c = 0; c < n; c++) /* dP = dO·Vᵀ */
                        TR_GEMM_MP(bf16, 0, 1, m, iv[c][1] - iv[c][0], hd, dO + (int64_t)r0 * Hq, NULL, Hq,
                                   V + (int64_t)iv[c][0] * Hk, NULL, Hk, 0, D + iv[c][0], T);
                    for (int t = 0; t < m; t++) { /* dS = P⊙(dP − Σ P·dP)·scale (0 where P is) */
                        const TR *a = Ab + (int64_t)t * T;
                        TR *d = D + (int64_t)t * T, pdp = 0;
                        for (int c = 0; c < n; c++) {
#pragma omp simd reduction(+ : pdp)
                            for (int j = iv[c][0]; j < iv[c][1]; j++) pdp += a[j] * d[j];
                        }
                        for (int c = 0; c < n; c++) {
#pragma omp simd
                            for (int j = iv[c][0]; j < iv[c][1]; j++) d[j] = a[j] * (d[j] - pdp) * scale;
                        }
                    }
                    for (int c = 0; c < n; c++) {
                        int c0 = iv[c][0], nc = iv[c][1] - c0;
                        TR_GEMM_MP(bf16, 0, 0, m, hd, nc, D + c0, NULL, T, K + (int64_t)c0 * Hk, NULL, Hk, 1,
                                   dQ + (int64_t)r0 * Hq, Hq);
                        TR_GEMM_MP(bf16, 1, 0, nc, hd, m, D + c0, NULL, T, Q + (int64_t)r0 * Hq, NULL, Hq, 1,
                                   dK + (int64_t)c0 * Hk, Hk);
                        TR_GEMM_MP(bf16, 1, 0, nc, hd, m, Ab + c0, NULL, T, dO + (int64_t)r0 * Hq, NULL, Hq, 1,
                                   dV + (int64_t)c0 * Hk, Hk);
                    }
                }
            }
        }
}

static inline void TN(attention_backward)(TR *dq, TR *dk, TR *dv, TR *dscore, const TR *dout, const TR *att, const TR *q,
                                          const TR *k, const TR *v, const int32_t *seg, int B, int T, int H, int KV,
                                          int hd, int sink, int recent) {
    TN(attention_backward_p)(0, dq, dk, dv, dscore, dout, att, q, k, v, seg, B, T, H, KV, hd, sink, recent);
}

/* ---- SwiGLU: sw = silu(gate)·up ----
 * The instantiation may supply fused versions over a span (TR_SWIGLU_FWD / TR_SWIGLU_BWD, same
 * contract: the backward accumulates); these loops are the definition. */
#define TR_SW_CHUNK 8192
static inline void TN(swiglu_forward)(TR *sw, const TR *gate, const TR *up, int64_t n) {
#ifdef TR_SWIGLU_FWD
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < n; c += TR_SW_CHUNK) TR_SWIGLU_FWD(sw + c, gate + c, up + c, n - c < TR_SW_CHUNK ? n - c : TR_SW_CHUNK);
#else
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        TR g = gate[i];
        sw[i] = g / (1 + TR_EXP(-g)) * up[i];
    }
#endif
}
static inline void TN(swiglu_backward)(TR *dgate, TR *dup, const TR *dsw, const TR *gate, const TR *up, int64_t n) {
#ifdef TR_SWIGLU_BWD
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < n; c += TR_SW_CHUNK)
        TR_SWIGLU_BWD(dgate + c, dup + c, dsw + c, gate + c, up + c, n - c < TR_SW_CHUNK ? n - c : TR_SW_CHUNK);
#else
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        TR g = gate[i], sg = 1 / (1 + TR_EXP(-g)), si = g * sg;
        dup[i] += dsw[i] * si;
        dgate[i] += dsw[i] * up[i] * sg * (1 + g * (1 - sg));
    }
#endif
}
#undef TR_SW_CHUNK

/* ---- cross-entropy: returns Σ −log softmax(logits)[target] over targets ≥ 0; fills dlogits with
 * scale·(softmax − onehot) on those rows, 0 elsewhere (when dlogits != NULL). ---- */
static inline double TN(xent_forward_backward)(TR *dlogits, const TR *logits, const int32_t *targets, int64_t N, int V,
                                        TR scale, int64_t *n_targets) {
    double total = 0;
    int64_t cnt = 0;
#pragma omp parallel for schedule(static) reduction(+ : total, cnt)
    for (int64_t i = 0; i < N; i++) {
        const TR *l = logits + i * V;
        TR *d = dlogits ? dlogits + i * V : NULL;
        int32_t tg = targets[i];
        if (tg < 0) {
            if (d) for (int j = 0; j < V; j++) d[j] = 0;
            continue;
        }
        TR mx = l[0];
        for (int j = 1; j < V; j++) if (l[j] > mx) mx = l[j];
        double sum = 0;
        for (int j = 0; j < V; j++) sum += exp((double)(l[j] - mx));
        total += log(sum) + mx - l[tg];
        cnt++;
        if (d) {
            TR inv = (TR)(1.0 / sum);
            for (int j = 0; j < V; j++) d[j] = scale * TR_EXP(l[j] - mx) * inv;
            d[tg] -= scale;
        }
    }
    if (n_targets) *n_targets = cnt;
    return total;
}

#include "rlkv_mix_tmpl.h" /* RLKV's mixed attention over the functions above */

/* =============================================================================== the model */

/* a[0..n) = 0 on the team's threads (the backward's accumulators: a serial memset was a serial pass) */
static inline void TN(zero)(TR *a, int64_t n) {
    const int64_t chunk = 1 << 15;
#pragma omp parallel for schedule(static) if (n > chunk)
    for (int64_t c0 = 0; c0 < n; c0 += chunk) memset(a + c0, 0, sizeof(TR) * (size_t)(n - c0 < chunk ? n - c0 : chunk));
}

/* Forward of one micro-batch, all activations saved in a. cs: RoPE table for this model. */
static inline void TN(model_forward)(const pd_tcfg *c, const TN(params) *p, TN(acts) *a, const TR *cs, const int32_t *tokens,
                              const int32_t *seg, int B, int T) {
    int64_t BT = (int64_t)B * T;
    int D = c->dim, H = c->n_head, KV = c->n_head_kv, hd = c->head_dim, F = c->n_ff, Hq = H * hd, Hk = KV * hd;
    TN(embed_forward)(a->resid, tokens, p->tok_embd, BT, D);
    for (int l = 0; l < c->n_layer; l++) {
        TR *x = a->resid + l * BT * D, *xo = a->resid + (l + 1) * BT * D, *mid = a->resmid + l * BT * D;
        TR *ln1 = a->ln1 + l * BT * D, *rs1 = a->rstd1 + l * BT, *ln2 = a->ln2 + l * BT * D, *rs2 = a->rstd2 + l * BT;
        TR *qraw = a->qraw + l * BT * Hq, *q = a->q + l * BT * Hq, *kraw = a->kraw + l * BT * Hk, *k = a->k + l * BT * Hk;
        TR *v = a->v + l * BT * Hk, *att = a->att + (int64_t)l * B * H * T * T, *atty = a->atty + l * BT * Hq;
        TR *gate = a->gate + l * BT * F, *up = a->up + l * BT * F, *sw = a->sw + l * BT * F;
        /* x = the previous layer's output: its residual add (xo += mid) is fused into this norm */
        TN(rmsnorm_add_forward)(ln1, rs1, x, l ? a->resmid + (l - 1) * BT * D : NULL, p->attn_norm + (int64_t)l * D, BT, D,
                                c->norm_eps);
        TN(linear_forward_p)(p, qraw, ln1, TN(weight)(p, c, PD_TP_WQ, l, p->wq + (int64_t)l * Hq * D),
                           p->bq ? p->bq + (int64_t)l * Hq : NULL, BT, D, Hq);
        TN(linear_forward_p)(p, kraw, ln1, TN(weight)(p, c, PD_TP_WK, l, p->wk + (int64_t)l * Hk * D),
                           p->bk ? p->bk + (int64_t)l * Hk : NULL, BT, D, Hk);
        TN(linear_forward_p)(p, v, ln1, TN(weight)(p, c, PD_TP_WV, l, p->wv + (int64_t)l * Hk * D),
                           p->bv ? p->bv + (int64_t)l * Hk : NULL, BT, D, Hk);
        if (c->qk_norm) {
            TN(rmsnorm_forward)(q, a->qrstd + l * BT * H, qraw, p->q_norm + (int64_t)l * hd, BT * H, hd, c->norm_eps);
            TN(rmsnorm_forward)(k, a->krstd + l * BT * KV, kraw, p->k_norm + (int64_t)l * hd, BT * KV, hd, c->norm_eps);
        } else {
            memcpy(q, qraw, sizeof(TR) * BT * Hq);
            memcpy(k, kraw, sizeof(TR) * BT * Hk);
        }
        TN(rope_apply)(q, seg, cs, BT, T, H, hd, c->rope_neox, 0);
        TN(rope_apply)(k, seg, cs, BT, T, KV, hd, c->rope_neox, 0);
        if (p->mix) TN(mix_forward)(p->mix, l, atty, att, q, k, v, seg, B, T, H, KV, hd);
        else TN(attention_forward_p)(p->bf16, atty, att, q, k, v, seg, B, T, H, KV, hd, p->win_sink, p->win_recent);
        TN(linear_forward_p)(p, mid, atty, TN(weight)(p, c, PD_TP_WO, l, p->wo + (int64_t)l * D * Hq), NULL, BT, Hq, D);
        TN(rmsnorm_add_forward)(ln2, rs2, mid, x, p->ffn_norm + (int64_t)l * D, BT, D, c->norm_eps); /* mid += x */
        TN(linear_forward_p)(p, gate, ln2, TN(weight)(p, c, PD_TP_GATE, l, p->w_gate + (int64_t)l * F * D), NULL, BT, D, F);
        TN(linear_forward_p)(p, up, ln2, TN(weight)(p, c, PD_TP_UP, l, p->w_up + (int64_t)l * F * D), NULL, BT, D, F);
        TN(swiglu_forward)(sw, gate, up, BT * F);
        /* xo = down(...) here; + mid in the next norm (the next layer's first, or the final one) */
        TN(linear_forward_p)(p, xo, sw, TN(weight)(p, c, PD_TP_DOWN, l, p->w_down + (int64_t)l * D * F), NULL, BT, F, D);
    }
    TN(rmsnorm_add_forward)(a->lnf, a->rstdf, a->resid + (int64_t)c->n_layer * BT * D,
                            a->resmid + (int64_t)(c->n_layer - 1) * BT * D, p->out_norm, BT, D, c->norm_eps);
    TN(linear_forward_p)(p, a->logits, a->lnf, p->output, NULL, BT, D, c->n_vocab);
}

/* Backward from g->dlogits (already filled, e.g. by xent_forward_backward), accumulating into gp. */
static inline void TN(model_backward)(const pd_tcfg *c, const TN(params) *p, TN(params) *gp, const TN(acts) *a,
                               TN(grads_act) *g, const TR *cs, const int32_t *tokens, const int32_t *seg, int B, int T) {
    int64_t BT = (int64_t)B * T;
    int D = c->dim, H = c->n_head, KV = c->n_head_kv, hd = c->head_dim, F = c->n_ff, Hq = H * hd, Hk = KV * hd;
    TR *dres = g->dresid;
    TN(zero)(dres, BT * D);
    /* head + final norm; with a tied head the embedding gets this gradient too */
    TN(linear_backward_bp)(p, 0, g->dln, gp->output, NULL, g->dlogits, a->lnf, p->output, BT, D, c->n_vocab);
    TN(rmsnorm_backward)(dres, gp->out_norm, g->dln, a->resid + (int64_t)c->n_layer * BT * D, p->out_norm, a->rstdf, BT,
                         D);
    for (int l = c->n_layer - 1; l >= 0; l--) {
        const TR *x = a->resid + l * BT * D, *mid = a->resmid + l * BT * D;
        const TR *ln1 = a->ln1 + l * BT * D, *rs1 = a->rstd1 + l * BT, *ln2 = a->ln2 + l * BT * D, *rs2 = a->rstd2 + l * BT;
        const TR *qraw = a->qraw + l * BT * Hq, *q = a->q + l * BT * Hq, *kraw = a->kraw + l * BT * Hk, *k = a->k + l * BT * Hk;
        const TR *v = a->v + l * BT * Hk, *att = a->att + (int64_t)l * B * H * T * T, *atty = a->atty + l * BT * Hq;
        const TR *gate = a->gate + l * BT * F, *up = a->up + l * BT * F, *sw = a->sw + l * BT * F;
        /* FFN branch: xo = mid + down(swiglu(gate(ln2), up(ln2))); dres holds d xo and becomes d mid */
        TN(linear_backward_bp)(p, 0, g->dsw, TN(wgrad)(p, c, PD_TP_DOWN, l, gp->w_down + (int64_t)l * D * F), NULL, dres, sw,
                            TN(weight)(p, c, PD_TP_DOWN, l, p->w_down + (int64_t)l * D * F), BT, F, D);
        TN(zero)(g->dgate, BT * F);
        TN(zero)(g->dup, BT * F);
        TN(swiglu_backward)(g->dgate, g->dup, g->dsw, gate, up, BT * F);
        TN(linear_backward_bp)(p, 0, g->dln, TN(wgrad)(p, c, PD_TP_GATE, l, gp->w_gate + (int64_t)l * F * D), NULL, g->dgate, ln2,
                            TN(weight)(p, c, PD_TP_GATE, l, p->w_gate + (int64_t)l * F * D), BT, D, F);
        TN(linear_backward_p)(p, g->dln, TN(wgrad)(p, c, PD_TP_UP, l, gp->w_up + (int64_t)l * F * D), NULL, g->dup, ln2,
                            TN(weight)(p, c, PD_TP_UP, l, p->w_up + (int64_t)l * F * D), BT, D, F);
        TN(rmsnorm_backward)(dres, gp->ffn_norm + (int64_t)l * D, g->dln, mid, p->ffn_norm + (int64_t)l * D, rs2, BT, D);
        /* attention branch: mid = x + wo(attn(rope(norm(q)), rope(norm(k)), v)) */
        TN(linear_backward_bp)(p, 0, g->datty, TN(wgrad)(p, c, PD_TP_WO, l, gp->wo + (int64_t)l * D * Hq), NULL, dres, atty,
                            TN(weight)(p, c, PD_TP_WO, l, p->wo + (int64_t)l * D * Hq), BT, Hq, D);
        TN(zero)(g->dq, BT * Hq);
        TN(zero)(g->dk, BT * Hk);
        TN(zero)(g->dv, BT * Hk);
        if (p->mix) TN(mix_backward)(p->mix, l, g->dq, g->dk, g->dv, g->dscore, g->datty, att, q, k, v, seg, B, T, H, KV, hd);
        else TN(attention_backward_p)(p->bf16, g->dq, g->dk, g->dv, g->dscore, g->datty, att, q, k, v, seg, B, T, H, KV, hd, p->win_sink,
                                    p->win_recent);
        TN(rope_apply)(g->dq, seg, cs, BT, T, H, hd, c->rope_neox, 1);
        TN(rope_apply)(g->dk, seg, cs, BT, T, KV, hd, c->rope_neox, 1);
        /* the gradients of q/k before the norms (dqr/dkr with qk-norm) */
        const TR *dqin = g->dq, *dkin = g->dk;
        if (c->qk_norm) {
            /* dq/dk hold d(normed q/k); push them through the per-head norms */
            TN(zero)(g->dqr, BT * Hq);
            TN(zero)(g->dkr, BT * Hk);
            TN(rmsnorm_backward)(g->dqr, gp->q_norm + (int64_t)l * hd, g->dq, qraw, p->q_norm + (int64_t)l * hd,
                                 a->qrstd + l * BT * H, BT * H, hd);
            TN(rmsnorm_backward)(g->dkr, gp->k_norm + (int64_t)l * hd, g->dk, kraw, p->k_norm + (int64_t)l * hd,
                                 a->krstd + l * BT * KV, BT * KV, hd);
            dqin = g->dqr;
            dkin = g->dkr;
        }
        TN(linear_backward_bp)(p, 0, g->dln, TN(wgrad)(p, c, PD_TP_WQ, l, gp->wq + (int64_t)l * Hq * D),
                            gp->bq ? gp->bq + (int64_t)l * Hq : NULL, dqin, ln1,
                            TN(weight)(p, c, PD_TP_WQ, l, p->wq + (int64_t)l * Hq * D), BT, D, Hq);
        TN(linear_backward_p)(p, g->dln, TN(wgrad)(p, c, PD_TP_WK, l, gp->wk + (int64_t)l * Hk * D),
                            gp->bk ? gp->bk + (int64_t)l * Hk : NULL, dkin, ln1,
                            TN(weight)(p, c, PD_TP_WK, l, p->wk + (int64_t)l * Hk * D), BT, D, Hk);
        TN(linear_backward_p)(p, g->dln, TN(wgrad)(p, c, PD_TP_WV, l, gp->wv + (int64_t)l * Hk * D),
                            gp->bv ? gp->bv + (int64_t)l * Hk : NULL, g->dv, ln1,
                            TN(weight)(p, c, PD_TP_WV, l, p->wv + (int64_t)l * Hk * D), BT, D, Hk);
        TN(rmsnorm_backward)(dres, gp->attn_norm + (int64_t)l * D, g->dln, x, p->attn_norm + (int64_t)l * D, rs1, BT, D);
    }
    TN(embed_backward)(gp->tok_embd, dres, tokens, BT, D);
}
