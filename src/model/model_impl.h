/* model/model_impl.h — internals shared by the model layer's files: the paged KV cache layout
 * (kv.c) and the forward scratch arena it carries (forward.c). Not a public header. */
#ifndef PONDER_MODEL_IMPL_H
#define PONDER_MODEL_IMPL_H
#include "ponder/attn.h"
#include "ponder/model.h"

/* A block is one allocation of kv->block_bytes: a 64-byte header (reference count), then
 * positions int32[block_rows], K rows [block_rows][k_row_bytes], V rows [block_rows][v_row_bytes]
 * (offsets kv->pos_off / k_off / v_off, each 64-byte aligned; K and V may have different types). Blocks are handed around as
 * unsigned char * and shared by forks; a block with ref > 1 is never written. */
typedef struct {
    int32_t ref;
} pd_kv_block_hdr;

#define PD_KV_TRIM_BYTES ((size_t)16 << 20)

/* One (seq, layer, kv head): live rows 0..n_live-1, row r in blk[r / block_rows] at slot
 * r % block_rows. n_blk == ceil(n_live / block_rows) between operations (forward may hold
 * blocks prepared for rows it is appending). */
typedef struct {
    unsigned char **blk;
    int n_blk, cap_blk;
    int n_live;
} pd_kv_head;

typedef struct {
    int len;                 /* positions consumed (next position) */
    pd_kv_head *heads;       /* [n_layer * n_head_kv]; NULL while the sequence is empty */
} pd_kv_seq;

struct pd_kv {
    int n_layer, n_head_kv, head_dim;
    pd_type k_type, v_type;  /* K and V storage types (independent: -ctk / -ctv) */
    size_t k_row_bytes, v_row_bytes; /* one K / V row of head_dim elements of k_type / v_type */
    int block_rows;
    size_t block_bytes, pos_off, k_off, v_off;
    int n_seq_max, n_ctx_max;
    pd_kv_seq *seqs;
    /* pool: released blocks kept for reuse (up to keep_blocks), the rest freed */
    unsigned char **free_blk;
    int64_t n_free, cap_free, keep_blocks;
    int64_t n_used, n_peak, n_cow;
    size_t freed_bytes;      /* freed to the system since the last trim (kv.c give_back) */
    /* attention observer (pd_kv_set_observer) */
    pd_kv_observer obs;
    void *obs_ctx;
    int obs_last_n;
    const uint8_t *obs_mask;
    float *probs;            /* observer scratch, grown as needed */
    size_t probs_cap;        /* floats */
    int64_t *obs_at;         /* per (batch token, kv head): offset of its weights in probs, -1 = not observed */
    size_t obs_at_cap;
    /* Forward scratch, grown to the largest batch seen (never per token). */
    float *scratch;
    size_t scratch_cap;      /* floats */
    int32_t *iscratch;
    size_t iscratch_cap;     /* int32s */
};

/* The head table of (seq, layer, head); the sequence must have heads (pd_kv_prepare made them). */
static inline pd_kv_head *pd_kv_head_at(const pd_kv *kv, int seq, int layer, int head) {
    return &kv->seqs[seq].heads[(size_t)layer * kv->n_head_kv + head];
}
/* Make room for n_new rows after the live rows of every head of seq: the block holding row n_live
 * becomes private (copy-on-write) and new blocks come from the pool. On failure nothing changes. */
pd_status pd_kv_prepare(pd_kv *kv, int seq, int n_new);
/* Undo pd_kv_prepare (the forward pass failed): blocks past the live rows go back. */
void pd_kv_unprepare(pd_kv *kv, int seq);
/* After the forward pass wrote rows n_live .. n_live+n_new-1 of every head: they become live and
 * the sequence continues at new_len. */
void pd_kv_commit(pd_kv *kv, int seq, int n_new, int new_len);
/* Row r (need not be live yet) of a head: K, V, position. */
static inline unsigned char *pd_kv_row_k(const pd_kv *kv, const pd_kv_head *h, int r) {
    return h->blk[r / kv->block_rows] + kv->k_off + (size_t)(r % kv->block_rows) * kv->k_row_bytes;
}
static inline unsigned char *pd_kv_row_v(const pd_kv *kv, const pd_kv_head *h, int r) {
    return h->blk[r / kv->block_rows] + kv->v_off + (size_t)(r % kv->block_rows) * kv->v_row_bytes;
}
static inline int32_t *pd_kv_row_pos(const pd_kv *kv, const pd_kv_head *h, int r) {
    return (int32_t *)(h->blk[r / kv->block_rows] + kv->pos_off) + r % kv->block_rows;
}
#endif
