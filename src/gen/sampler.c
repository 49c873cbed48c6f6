/* gen/sampler.c — the token sampler (see ponder/sampler.h for the order of operations).
 * Every buffer has n_vocab entries and is allocated in pd_sampler_new; the penalty bookkeeping
 * (counts per token, the window ring, the list of distinct penalised tokens) only when a penalty is
 * on. Top-k / top-p never sort the whole vocabulary: a quickselect finds the k most probable tokens,
 * and top-p without top-k doubles k until the prefix holds the requested mass. */
#include "ponder/sampler.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pd_sampler {
    pd_sampler_params p;
    int n_vocab;
    pd_rng rng;
    float *work;     /* penalised logits, then unnormalised probabilities */
    int32_t *idx;    /* candidate ids */
    /* penalties (NULL when off) */
    int32_t *count;  /* occurrences of each token in the window */
    int32_t *where;  /* position of a token in `distinct`, -1 if absent */
    int32_t *distinct;
    int n_distinct;
    int32_t *ring;   /* the last penalty_last_n accepted tokens */
    int ring_pos, ring_n;
};

pd_sampler_params pd_sampler_defaults(void) {
    return (pd_sampler_params){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                               .repeat_penalty = 1.0f, .presence_penalty = 0.0f, .frequency_penalty = 0.0f,
                               .penalty_last_n = 64, .seed = 0, .n_logprobs = 0};
}

static bool penalties_on(const pd_sampler_params *p) {
    return p->penalty_last_n != 0 && (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

pd_sampler *pd_sampler_new(const pd_sampler_params *p, int n_vocab) {
    if (!p) { pd_fail(PD_ERR_ARG, "sampler: params are NULL"); return NULL; }
    if (n_vocab <= 0) { pd_fail(PD_ERR_ARG, "sampler: n_vocab %d must be positive", n_vocab); return NULL; }
    if (!(p->temperature == p->temperature) || !(p->top_p == p->top_p) || !(p->min_p >= 0.0f && p->min_p <= 1.0f) ||
        !(p->top_p > 0.0f)) {
        pd_fail(PD_ERR_ARG, "sampler: temperature %g, top_p %g (must be > 0), min_p %g (must be in [0,1])",
                (double)p->temperature, (double)p->top_p, (double)p->min_p);
        return NULL;
    }
    if (!(p->repeat_penalty > 0.0f)) { pd_fail(PD_ERR_ARG, "sampler: repeat_penalty %g must be > 0", (double)p->repeat_penalty); return NULL; }
    if (p->penalty_last_n < -1) { pd_fail(PD_ERR_ARG, "sampler: penalty_last_n %d must be >= -1", p->penalty_last_n); return NULL; }
    if (p->n_logprobs < 0 || p->n_logprobs > PD_MAX_TOP_LOGPROBS) {
        pd_fail(PD_ERR_ARG, "sampler: n_logprobs %d out of range 0..%d", p->n_logprobs, PD_MAX_TOP_LOGPROBS);
        return NULL;
    }
    pd_sampler *s = pd_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->work = pd_malloc((size_t)n_vocab * sizeof(float));
    s->idx = pd_malloc((size_t)n_vocab * sizeof(int32_t));
    bool ok = s->work && s->idx;
    if (ok && penalties_on(p)) {
        s->count = pd_calloc((size_t)n_vocab, sizeof(int32_t));
        s->where = pd_malloc((size_t)n_vocab * sizeof(int32_t));
        s->distinct = pd_malloc((size_t)n_vocab * sizeof(int32_t));
        if (p->penalty_last_n > 0) s->ring = pd_malloc((size_t)p->penalty_last_n * sizeof(int32_t));
        ok = s->count && s->where && s->distinct && (p->penalty_last_n < 0 || s->ring);
        if (ok) for (int i = 0; i < n_vocab; i++) s->where[i] = -1;
    }
    if (!ok) { pd_sampler_free(s); return NULL; }
    pd_rng_seed(&s->rng, p->seed);
    return s;
}

void pd_sampler_free(pd_sampler *s) {
    if (!s) return;
    free(s->work); free(s->idx); free(s->count); free(s->where); free(s->distinct); free(s->ring);
    free(s);
}

const pd_sampler_params *pd_sampler_params_of(const pd_sampler *s) { return &s->p; }

void pd_sampler_reset(pd_sampler *s, uint64_t seed) {
    pd_rng_seed(&s->rng, seed);
    if (s->count) {
        for (int i = 0; i < s->n_distinct; i++) { s->count[s->distinct[i]] = 0; s->where[s->distinct[i]] = -1; }
        s->n_distinct = 0;
        s->ring_pos = s->ring_n = 0;
    }
}

static void count_add(pd_sampler *s, int32_t t, int d) {
    if (s->count[t] == 0 && d > 0) { s->where[t] = s->n_distinct; s->distinct[s->n_distinct++] = t; }
    s->count[t] += d;
    if (s->count[t] == 0) {
        int w = s->where[t];
        int32_t last = s->distinct[--s->n_distinct];
        s->distinct[w] = last;
        s->where[last] = w;
        s->where[t] = -1;
    }
}

void pd_sampler_accept(pd_sampler *s, int32_t t) {
    if (!s->count || t < 0 || t >= s->n_vocab) return;
    int w = s->p.penalty_last_n;
    if (w > 0) {
        if (s->ring_n == w) count_add(s, s->ring[s->ring_pos], -1);
        else s->ring_n++;
        s->ring[s->ring_pos] = t;
        s->ring_pos = (s->ring_pos + 1) % w;
    }
    count_add(s, t, +1);
}

static void apply_penalties(pd_sampler *s, float *x) {
    if (!s->count) return;
    for (int i = 0; i < s->n_distinct; i++) {
        int32_t t = s->distinct[i];
        float c = (float)s->count[t];
        float v = x[t];
        if (s->p.repeat_penalty != 1.0f) v = v > 0 ? v / s->p.repeat_penalty : v * s->p.repeat_penalty;
        v -= s->p.frequency_penalty * c + s->p.presence_penalty;
        x[t] = v;
    }
}

/* Order: larger probability first, lower id first on ties (deterministic). */
static inline bool before(const float *p, int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); }

/* Rearrange idx[0..n) so that its first k entries are the k best (in any order). */
static void select_top(const float *p, int32_t *idx, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        /* median of three as pivot */
        int32_t a = idx[lo], b = idx[mid], c = idx[hi], piv;
        if (before(p, a, b)) piv = before(p, b, c) ? b : (before(p, a, c) ? c : a);
        else piv = before(p, a, c) ? a : (before(p, b, c) ? c : b);
        int i = lo, j = hi;
        while (i <= j) {
            while (before(p, idx[i], piv)) i++;
            while (before(p, piv, idx[j])) j--;
            if (i <= j) { int32_t t = idx[i]; idx[i] = idx[j]; idx[j] = t; i++; j--; }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

static int cmp_desc(const void *x, const void *y, void *ctx) {
    const float *p = ctx;
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return before(p, a, b) ? -1 : (before(p, b, a) ? 1 : 0);
}
static void sort_prefix(const float *p, int32_t *idx, int k) {
    if (k <= 32) { /* insertion sort for short prefixes */
        for (int i = 1; i < k; i++) {
            int32_t v = idx[i];
            int j = i;
            while (j > 0 && before(p, v, idx[j - 1])) { idx[j] = idx[j - 1]; j--; }
            idx[j] = v;
        }
        return;
    }
    qsort_r(idx, (size_t)k, sizeof *idx, cmp_desc, (void *)p);
}

/* Indices of the k largest finite values of x (lower id first on ties), unordered; returns how many. */
static int top_k_heap(const float *x, int n, int k, int32_t *h) {
    int m = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!(x[i] == x[i]) || x[i] == -INFINITY) continue;
        if (m < k) {
            /* sift up: the root is the entry every other one comes before */
            int j = m++;
            while (j > 0 && before(x, h[(j - 1) / 2], i)) { h[j] = h[(j - 1) / 2]; j = (j - 1) / 2; }
            h[j] = i;
        } else if (before(x, i, h[0])) {
            int j = 0;
            for (;;) {
                int c = 2 * j + 1;
                if (c >= m) break;
                if (c + 1 < m && before(x, h[c], h[c + 1])) c++;
                if (!before(x, i, h[c])) break;
                h[j] = h[c];
                j = c;
            }
            h[j] = i;
        }
    }
    return m;
}

static int filter_rest(pd_sampler *s, float *w, int n, bool sorted, double *mass, int32_t best);
static int filter_sorted(pd_sampler *s, float *w, int n, double *mass, int32_t best) {
    return filter_rest(s, w, n, true, mass, best);
}

/* Fill s->work with unnormalised probabilities and s->idx[0..n) with the kept tokens (most
 * probable first when any filter is on, id order otherwise). Returns n, -1 on error; *mass = sum. */
static int build_dist(pd_sampler *s, const float *logits, double *mass) {
    int V = s->n_vocab;
    float *w = s->work;
    memcpy(w, logits, (size_t)V * sizeof(float));
    apply_penalties(s, w);
    float mx = -INFINITY;
    int32_t best = -1;
    for (int i = 0; i < V; i++)
        if (w[i] > mx) { mx = w[i]; best = i; }
    if (best < 0 || mx == INFINITY) {
        pd_fail(PD_ERR_RANGE, "sampler: no finite logit among %d (all -inf or NaN)", V);
        return -1;
    }
    if (s->p.temperature <= 0.0f) {
        s->idx[0] = best;
        w[best] = 1.0f;
        *mass = 1.0;
        return 1;
    }
    float inv_t = 1.0f / s->p.temperature;
    int n = 0;
    int k = s->p.top_k;
    if (k > 0 && k <= V / 8) {
        /* small top-k: keep the k largest logits in a heap (one cheap comparison per token in the
         * common case), exponentiate only those; exp is monotonic so the order is the same */
        n = top_k_heap(w, V, k, s->idx);
        for (int i = 0; i < n; i++) {
            int32_t t = s->idx[i];
            w[t] = expf((w[t] - mx) * inv_t);
        }
        sort_prefix(w, s->idx, n);
        return filter_sorted(s, w, n, mass, best);
    }
    for (int i = 0; i < V; i++) {
        float e = (w[i] == w[i]) ? expf((w[i] - mx) * inv_t) : 0.0f;
        w[i] = e;
        if (e > 0.0f) s->idx[n++] = i;
    }
    bool sorted = false;
    if (k > 0 && k < n) {
        select_top(w, s->idx, n, k);
        n = k;
        sort_prefix(w, s->idx, n);
        sorted = true;
    }
    return filter_rest(s, w, n, sorted, mass, best);
}

/* top-p and min-p over the n candidates in s->idx (sorted most probable first when `sorted`). */
static int filter_rest(pd_sampler *s, float *w, int n, bool sorted, double *mass, int32_t best) {
    if (s->p.top_p < 1.0f) {
        double z = 0;
        for (int i = 0; i < n; i++) z += w[s->idx[i]];
        double target = (double)s->p.top_p * z;
        if (!sorted) {
            /* grow a sorted prefix until it holds the target mass */
            int kk = n < 64 ? n : 64;
            for (;;) {
                select_top(w, s->idx, n, kk);
                sort_prefix(w, s->idx, kk);
                double c = 0;
                for (int i = 0; i < kk; i++) c += w[s->idx[i]];
                if (c >= target || kk == n) break;
                kk = kk * 4 < n ? kk * 4 : n;
            }
            sorted = true;
        }
        double c = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            c += w[s->idx[i]];
            if (c >= target) { keep = i + 1; break; }
        }
        n = keep;
    }
    if (s->p.min_p > 0.0f) {
        /* p_i >= min_p * p_max; the max has weight exp(0) = 1 (unless a penalty moved it, handled by mx). */
        float thr = s->p.min_p;
        int m = 0;
        for (int i = 0; i < n; i++)
            if (w[s->idx[i]] >= thr) s->idx[m++] = s->idx[i];
        n = m;
        if (n == 0) { s->idx[0] = best; n = 1; }
    }
    double z = 0;
    for (int i = 0; i < n; i++) z += w[s->idx[i]];
    *mass = z;
    return n;
}

int pd_sampler_dist(pd_sampler *s, const float *logits, int32_t *ids, float *probs) {
    double z;
    int n = build_dist(s, logits, &z);
    for (int i = 0; i < n; i++) {
        ids[i] = s->idx[i];
        probs[i] = (float)(s->work[s->idx[i]] / z);
    }
    return n;
}

float pd_logprob_of(const float *logits, int n_vocab, int32_t token) {
    float mx = -INFINITY;
    for (int i = 0; i < n_vocab; i++) if (logits[i] > mx) mx = logits[i];
    double z = 0;
    for (int i = 0; i < n_vocab; i++) z += exp((double)logits[i] - mx);
    if (token < 0 || token >= n_vocab) return -INFINITY;
    return (float)((double)logits[token] - mx - log(z));
}

void pd_top_logprobs(const float *logits, int n_vocab, int n, pd_token_logprob *out) {
    if (n > PD_MAX_TOP_LOGPROBS) n = PD_MAX_TOP_LOGPROBS;
    if (n > n_vocab) n = n_vocab;
    if (n <= 0) return;
    float mx = -INFINITY;
    double z = 0;
    int have = 0;
    for (int i = 0; i < n_vocab; i++) {
        float v = logits[i];
        if (v > mx) mx = v;
        /* insertion into the small sorted list (descending, lower id first on ties) */
        if (have < n || v > out[have - 1].logprob) {
            int j = have < n ? have++ : n - 1;
            while (j > 0 && v > out[j - 1].logprob) { out[j] = out[j - 1]; j--; }
            out[j].token = i;
            out[j].logprob = v;
        }
    }
    for (int i = 0; i < n_vocab; i++) z += exp((double)logits[i] - mx);
    double lz = mx + log(z);
    for (int j = 0; j < have; j++) out[j].logprob = (float)((double)out[j].logprob - lz);
}

int32_t pd_sampler_sample(pd_sampler *s, const float *logits, pd_sample *out) {
    double z;
    int n = build_dist(s, logits, &z);
    if (n < 0) return -1;
    int32_t tok = s->idx[0];
    if (s->p.temperature > 0.0f && n > 1) {
        double u = pd_rng_uniform(&s->rng) * z, c = 0;
        tok = s->idx[n - 1];
        for (int i = 0; i < n; i++) {
            c += s->work[s->idx[i]];
            if (u < c) { tok = s->idx[i]; break; }
        }
    }
    if (out) {
        out->token = tok;
        out->logprob = pd_logprob_of(logits, s->n_vocab, tok);
        out->n_top = s->p.n_logprobs;
        pd_top_logprobs(logits, s->n_vocab, s->p.n_logprobs, out->top);
    }
    return tok;
}
