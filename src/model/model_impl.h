/* model/model_impl.h — internals shared by the model layer's files: the KV cache layout (kv.c) and
 * the forward scratch arena it carries (forward.c). Not a public header. */
#ifndef PONDER_MODEL_IMPL_H
#define PONDER_MODEL_IMPL_H
#include "ponder/model.h"

/* One sequence's cache: K and V each hold [n_layer][n_head_kv][cap][head_dim] elements of the
 * cache type, so one (layer, kv head) is `cap` contiguous rows of head_dim — what pd_attend_head
 * reads with stride head_dim. Positions [0, len) are valid. `cap` grows (re-layout by copying)
 * in chunks as the sequence gets longer, up to the cache's n_ctx_max. */
typedef struct {
    unsigned char *k, *v;
    int len, cap;
} pd_kv_seq;

struct pd_kv {
    int n_layer, n_head_kv, head_dim;
    pd_type type;
    size_t elt;              /* bytes per element: 4 (F32) or 2 (F16) */
    int n_seq_max, n_ctx_max;
    pd_kv_seq *seqs;
    /* Forward scratch, grown to the largest batch seen (never per token). */
    float *scratch;
    size_t scratch_cap;      /* floats */
    int32_t *iscratch;
    size_t iscratch_cap;     /* int32s */
};

/* Make sure `seq` can hold `n` positions (grows its buffers; contents kept). */
pd_status pd_kv_reserve(pd_kv *kv, int seq, int n);
/* Base of (seq, layer, head)'s K or V rows (row p at + p*head_dim*elt). */
static inline unsigned char *pd_kv_k_base(const pd_kv *kv, int seq, int layer, int head) {
    const pd_kv_seq *s = &kv->seqs[seq];
    return s->k + (((size_t)layer * kv->n_head_kv + head) * (size_t)s->cap) * kv->head_dim * kv->elt;
}
static inline unsigned char *pd_kv_v_base(const pd_kv *kv, int seq, int layer, int head) {
    const pd_kv_seq *s = &kv->seqs[seq];
    return s->v + (((size_t)layer * kv->n_head_kv + head) * (size_t)s->cap) * kv->head_dim * kv->elt;
}
#endif
