/* kv/h2o.c — H2O [P:2306.14048]: a recent window (`recent` percent of the budget, 50 by default) plus
 * the "heavy hitters": the rows with the most attention accumulated over every query observed so far
 * (prefill included, summed over the GQA group's query heads). Ties: the more recent row. */
#include "kv_int.h"
#include "ponder/alloc.h"
#include <stdlib.h>

static int by_acc(const void *ctx, int32_t a, int32_t b) {
    const pd_kvp_rows *r = ctx;
    if (r->acc[a] != r->acc[b]) return r->acc[a] > r->acc[b] ? -1 : 1;
    return b - a; /* later row first */
}

int kvp_select_h2o(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep) {
    if (!r->acc) { pd_fail(PD_ERR_ARG, "kv h2o: no accumulated attention"); return -1; }
    uint8_t *f = pd_calloc((size_t)r->n + 1, 1);
    if (!f) return -1;
    kvp_force_recent(r, (int)((long long)budget * s->recent / 100), f);
    int k = kvp_choose(r, budget, f, by_acc, r, keep);
    free(f);
    return k;
}
