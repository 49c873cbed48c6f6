/* kv/lazy.c — LazyEviction [P:2506.15969], inference.md §3: lagged and recurrence-aware. Per row the
 * runtime keeps TS (position of the last query that activated it: attention above α from any query
 * head of the group; initially the row's own position) and MRI (largest gap between two
 * activations). Every W steps the W most recent rows stay unconditionally (the lag that lets a
 * recurrence be seen); the rest of the budget goes by the spec's proposed order, with Δ = now − TS
 * and M = max(MRI, 1):
 *   1. rows still inside their recurrence period (Δ ≤ M) first,
 *   2. then larger H1 = 2σ(−Δ / M),
 *   3. then smaller M (recurs more often),
 *   4. then the more recent row. */
#include "kv_int.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdlib.h>

static int by_recurrence(const void *ctx, int32_t a, int32_t b) {
    const pd_kvp_rows *r = ctx;
    double da = (double)r->now - r->ts[a], db = (double)r->now - r->ts[b];
    double ma = r->mri[a] > 1 ? r->mri[a] : 1, mb = r->mri[b] > 1 ? r->mri[b] : 1;
    int ia = da <= ma, ib = db <= mb;
    if (ia != ib) return ia ? -1 : 1;
    double ha = 2.0 / (1.0 + exp(da / ma)), hb = 2.0 / (1.0 + exp(db / mb));
    if (ha != hb) return ha > hb ? -1 : 1;
    if (ma != mb) return ma < mb ? -1 : 1;
    return b - a;
}

int kvp_select_lazy(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep) {
    if (!r->ts || !r->mri) { pd_fail(PD_ERR_ARG, "kv lazy: no activation statistics"); return -1; }
    uint8_t *f = pd_calloc((size_t)r->n + 1, 1);
    if (!f) return -1;
    kvp_force_recent(r, s->window < budget ? s->window : budget, f);
    int k = kvp_choose(r, budget, f, by_recurrence, r, keep);
    free(f);
    return k;
}

void pd_kvp_lazy_activate(const float *probs, int n_q, int stride, int n, double alpha, int32_t now, int32_t *ts,
                          int32_t *mri) {
    float a = alpha > 0 ? (float)alpha : 1.0f / (float)(n > 0 ? n : 1);
    for (int i = 0; i < n; i++) {
        bool on = false;
        for (int q = 0; q < n_q && !on; q++) on = probs[(size_t)q * stride + i] > a;
        if (!on) continue;
        if (now - ts[i] > mri[i]) mri[i] = now - ts[i];
        ts[i] = now;
    }
}
