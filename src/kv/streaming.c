/* kv/streaming.c — StreamingLLM [P:2309.17453]: the first `sink` live rows ("attention sinks") and the
 * most recent ones; everything in between is evicted. Needs no attention statistics. */
#include "kv_int.h"
#include "ponder/alloc.h"
#include <stdlib.h>

int kvp_select_streaming(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep) {
    uint8_t *f = pd_calloc((size_t)r->n + 1, 1);
    if (!f) return -1;
    int sink = s->sink < budget ? s->sink : budget;
    kvp_force_first(r, sink, f);
    kvp_force_recent(r, budget - sink, f);
    int k = kvp_choose(r, budget, f, NULL, NULL, keep);
    free(f);
    return k;
}
