/* kv/snapkv.c — SnapKV [P:2404.14469]: once, after the prompt is prefilled, the last `obs` prompt
 * queries vote: each row's votes are its attention summed over those queries (and the GQA group),
 * max-pooled over neighbouring rows (kernel `pool`) so clusters survive together. The observation
 * window's own rows stay; the best-voted others fill the budget. No decode-time eviction (the
 * runtime offers only prompt rows to this function). Ties: the more recent row. */
#include "kv_int.h"
#include "ponder/alloc.h"
#include <stdlib.h>

typedef struct { const float *v; } votes;

static int by_votes(const void *ctx, int32_t a, int32_t b) {
    const votes *c = ctx;
    if (c->v[a] != c->v[b]) return c->v[a] > c->v[b] ? -1 : 1;
    return b - a;
}

int kvp_select_snapkv(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep) {
    if (!r->win) { pd_fail(PD_ERR_ARG, "kv snapkv: no observation-window votes"); return -1; }
    uint8_t *f = pd_calloc((size_t)r->n + 1, 1);
    float *pooled = pd_malloc(((size_t)r->n + 1) * sizeof(float));
    if (!f || !pooled) { free(f); free(pooled); return -1; }
    kvp_maxpool(r->win, r->n, s->pool, pooled);
    kvp_force_recent(r, s->obs < budget ? s->obs : budget, f);
    votes c = {pooled};
    int k = kvp_choose(r, budget, f, by_votes, &c, keep);
    free(f);
    free(pooled);
    return k;
}
