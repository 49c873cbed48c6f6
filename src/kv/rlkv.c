/* kv/rlkv.c — RLKV head-wise allocation [P:2510.08525], inference.md §4: a FULL head keeps every row;
 * a compressed head keeps its first `sink` rows and its last `recent` rows (a ring buffer by original
 * positions) whatever the budget — the budget chooses how many heads are compressed (sparsity),
 * see pd_kvp_rlkv_alloc. Gate scores come from pd_kvp_head_scores (an offline attention score on
 * reference traces), not from RL. */
#include "kv_int.h"
#include "ponder/alloc.h"
#include <stdlib.h>

int kvp_select_rlkv(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep) {
    (void)budget;
    if (r->head_full || kvp_unprotected_count(r) <= s->sink + s->recent) {
        for (int i = 0; i < r->n; i++) keep[i] = i;
        return r->n;
    }
    uint8_t *f = pd_calloc((size_t)r->n + 1, 1);
    if (!f) return -1;
    kvp_force_first(r, s->sink, f);
    kvp_force_recent(r, s->recent, f);
    int k = kvp_choose(r, s->sink + s->recent, f, NULL, NULL, keep);
    free(f);
    return k;
}
