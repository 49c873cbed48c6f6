/* model/kv.c — the KV cache: per sequence, per layer, per kv head, per position, F32 or F16.
 *
 * Layout (model_impl.h): each sequence owns one K and one V buffer shaped
 * [n_layer][n_head_kv][cap][head_dim], so the rows one attention head reads are contiguous.
 * Buffers are allocated lazily and grow by doubling (at least KV_CHUNK positions, never past
 * n_ctx_max), copying the valid rows into the new layout; a cache declared for tens of thousands of
 * positions therefore costs memory only for what is used. rewind keeps a prefix (no copy), copy
 * (fork) duplicates the valid rows into another sequence, clear frees a sequence's buffers.
 * Eviction policies (kv/ layer) are built on top of this later. */
#include "model_impl.h"
#include "ponder/alloc.h"
#include <stdlib.h>
#include <string.h>

enum { KV_CHUNK = 256 };

pd_kv *pd_kv_new(const pd_model_config *cfg, int n_seq_max, int n_ctx_max, pd_type kv_type) {
    if (!cfg || n_seq_max < 1 || n_ctx_max < 1) {
        pd_fail(PD_ERR_ARG, "pd_kv_new: need a config, n_seq_max >= 1 (got %d) and n_ctx_max >= 1 (got %d)", n_seq_max,
                n_ctx_max);
        return NULL;
    }
    if (kv_type != PD_TYPE_F32 && kv_type != PD_TYPE_F16) {
        pd_fail(PD_ERR_UNSUPPORTED, "pd_kv_new: KV cache type %s is not supported (f32, f16)",
                pd_type_valid(kv_type) ? pd_type_name(kv_type) : "unknown");
        return NULL;
    }
    if (cfg->n_layer < 1 || cfg->n_head_kv < 1 || cfg->head_dim < 1) {
        pd_fail(PD_ERR_ARG, "pd_kv_new: config has no layers / kv heads / head_dim");
        return NULL;
    }
    pd_kv *kv = pd_calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->n_layer = cfg->n_layer;
    kv->n_head_kv = cfg->n_head_kv;
    kv->head_dim = cfg->head_dim;
    kv->type = kv_type;
    kv->elt = kv_type == PD_TYPE_F32 ? 4 : 2;
    kv->n_seq_max = n_seq_max;
    kv->n_ctx_max = n_ctx_max;
    kv->seqs = pd_calloc((size_t)n_seq_max, sizeof *kv->seqs);
    if (!kv->seqs) {
        free(kv);
        return NULL;
    }
    return kv;
}

void pd_kv_free(pd_kv *kv) {
    if (!kv) return;
    for (int s = 0; s < kv->n_seq_max; s++) {
        free(kv->seqs[s].k);
        free(kv->seqs[s].v);
    }
    free(kv->seqs);
    pd_aligned_free(kv->scratch);
    free(kv->iscratch);
    free(kv);
}

static bool seq_ok(const pd_kv *kv, int seq) { return kv && seq >= 0 && seq < kv->n_seq_max; }

int pd_kv_seq_len(const pd_kv *kv, int seq) { return seq_ok(kv, seq) ? kv->seqs[seq].len : 0; }
pd_type pd_kv_type(const pd_kv *kv) { return kv->type; }
int pd_kv_n_seq_max(const pd_kv *kv) { return kv->n_seq_max; }
int pd_kv_n_ctx_max(const pd_kv *kv) { return kv->n_ctx_max; }

size_t pd_kv_bytes(const pd_kv *kv) {
    size_t total = 0;
    for (int s = 0; s < kv->n_seq_max; s++)
        total += 2 * (size_t)kv->n_layer * kv->n_head_kv * (size_t)kv->seqs[s].cap * kv->head_dim * kv->elt;
    return total;
}

/* Copy the first n rows of every (layer, head) block from a buffer laid out with capacity
 * src_cap into one with capacity dst_cap. */
static void copy_rows(const pd_kv *kv, unsigned char *dst, int dst_cap, const unsigned char *src, int src_cap, int n) {
    size_t row = (size_t)kv->head_dim * kv->elt;
    size_t blocks = (size_t)kv->n_layer * kv->n_head_kv;
    for (size_t b = 0; b < blocks; b++) memcpy(dst + b * dst_cap * row, src + b * src_cap * row, (size_t)n * row);
}

pd_status pd_kv_reserve(pd_kv *kv, int seq, int n) {
    if (!seq_ok(kv, seq)) return pd_fail(PD_ERR_RANGE, "kv: sequence %d out of range [0, %d)", seq, kv ? kv->n_seq_max : 0);
    if (n > kv->n_ctx_max)
        return pd_fail(PD_ERR_RANGE, "kv: sequence %d needs %d positions, the cache holds at most %d", seq, n,
                       kv->n_ctx_max);
    pd_kv_seq *s = &kv->seqs[seq];
    if (n <= s->cap) return PD_OK;
    int cap = s->cap < KV_CHUNK ? KV_CHUNK : s->cap;
    while (cap < n) cap = cap > kv->n_ctx_max / 2 ? kv->n_ctx_max : cap * 2;
    if (cap > kv->n_ctx_max) cap = kv->n_ctx_max;
    size_t bytes;
    if (!pd_mul_ok((size_t)kv->n_layer * kv->n_head_kv, (size_t)cap * kv->head_dim * kv->elt, &bytes))
        return pd_fail(PD_ERR_NOMEM, "kv: sequence %d: %d positions overflow the address space", seq, cap);
    unsigned char *k = pd_malloc(bytes), *v = pd_malloc(bytes);
    if (!k || !v) {
        free(k);
        free(v);
        return pd_fail_ctx(PD_ERR_NOMEM, "kv: sequence %d: growing to %d positions", seq, cap);
    }
    if (s->len > 0) {
        copy_rows(kv, k, cap, s->k, s->cap, s->len);
        copy_rows(kv, v, cap, s->v, s->cap, s->len);
    }
    free(s->k);
    free(s->v);
    s->k = k;
    s->v = v;
    s->cap = cap;
    return PD_OK;
}

pd_status pd_kv_seq_rewind(pd_kv *kv, int seq, int pos) {
    if (!seq_ok(kv, seq)) return pd_fail(PD_ERR_RANGE, "kv rewind: sequence %d out of range", seq);
    if (pos < 0 || pos > kv->seqs[seq].len)
        return pd_fail(PD_ERR_RANGE, "kv rewind: position %d outside [0, %d] for sequence %d", pos, kv->seqs[seq].len,
                       seq);
    kv->seqs[seq].len = pos;
    return PD_OK;
}

pd_status pd_kv_seq_copy(pd_kv *kv, int src, int dst) {
    if (!seq_ok(kv, src) || !seq_ok(kv, dst))
        return pd_fail(PD_ERR_RANGE, "kv copy: sequences %d -> %d out of range [0, %d)", src, dst, kv ? kv->n_seq_max : 0);
    if (src == dst) return PD_OK;
    const pd_kv_seq *s = &kv->seqs[src];
    kv->seqs[dst].len = 0;
    PD_TRY(pd_kv_reserve(kv, dst, s->len));
    pd_kv_seq *d = &kv->seqs[dst];
    if (s->len > 0) {
        copy_rows(kv, d->k, d->cap, s->k, s->cap, s->len);
        copy_rows(kv, d->v, d->cap, s->v, s->cap, s->len);
    }
    d->len = s->len;
    return PD_OK;
}

pd_status pd_kv_view(const pd_kv *kv, int seq, int layer, int head, const void **k, const void **v, int *len) {
    if (!seq_ok(kv, seq) || layer < 0 || layer >= kv->n_layer || head < 0 || head >= kv->n_head_kv)
        return pd_fail(PD_ERR_RANGE, "kv view: sequence %d, layer %d, kv head %d out of range", seq, layer, head);
    const pd_kv_seq *s = &kv->seqs[seq];
    *k = s->k ? pd_kv_k_base(kv, seq, layer, head) : NULL;
    *v = s->v ? pd_kv_v_base(kv, seq, layer, head) : NULL;
    *len = s->len;
    return PD_OK;
}

void pd_kv_seq_clear(pd_kv *kv, int seq) {
    if (!seq_ok(kv, seq)) return;
    pd_kv_seq *s = &kv->seqs[seq];
    free(s->k);
    free(s->v);
    s->k = s->v = NULL;
    s->len = s->cap = 0;
}
