/* kv/tova.c — TOVA [P:2401.06104]: keep the rows the *current* query attends to most (mean over the
 * GQA group's query heads); applied every step, this is TOVA's "drop the lowest-scored row". Ties:
 * the more recent row. No window: the newest row competes like any other. */
#include "kv_int.h"

static int by_cur(const void *ctx, int32_t a, int32_t b) {
    const pd_kvp_rows *r = ctx;
    if (r->cur[a] != r->cur[b]) return r->cur[a] > r->cur[b] ? -1 : 1;
    return b - a;
}

int kvp_select_tova(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep) {
    (void)s;
    if (!r->cur) { pd_fail(PD_ERR_ARG, "kv tova: no current-query attention"); return -1; }
    return kvp_choose(r, budget, NULL, by_cur, r, keep);
}
