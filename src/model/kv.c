/* model/kv.c — the KV cache: paged blocks per (sequence, layer, kv head), shared copy-on-write
 * by forks, F32 / F16 / Q8_0 / Q4_0 for K and V independently, with per-head live sets for eviction.
 *
 * Why this layout (model_impl.h has the structs):
 * - Block tables per (seq, layer, kv HEAD), not per (seq, layer): eviction policies keep different
 *   positions per kv head (head-wise budgets, RLKV's compressed heads), and a head's freed rows
 *   must give whole blocks back. With one table per head every head's live rows are packed from
 *   row 0, so attention reads n_live rows and memory is ceil(n_live / block_rows) blocks per head.
 * - A block holds K, V AND the original positions of its rows: keys are stored after rope and never
 *   re-rotated, so an evicted-around row still knows where it was; forks share the positions with
 *   the rows (a fork copies pointers only).
 * - block_rows = 32 by default (measured with bench/kv_paging.c, figures in the README "KV cache"):
 *   decode at depth 4k / 16k is ~12 % slower with 16-row blocks (per-block overhead) and no faster
 *   with 64 or 128, which waste more rows per head (half a block on average) and copy more per
 *   copy-on-write. The attention kernels walk rows in 16-row
 *   steps, so results do not depend on block_rows at all (bit-identical across sizes).
 * - Live rows stay in position order. Eviction compacts (moves the kept rows down); rows before the
 *   first dropped one are not touched, and a shared block is copied before it is rewritten, so a
 *   fork's eviction never changes its siblings. Rewind drops the tail rows (position >= p).
 * - One pool per cache: blocks are malloc'd one by one, released blocks are kept on a free list up
 *   to keep_blocks (the high-water mark, params.pool_keep_bytes) and freed beyond it, so memory goes
 *   back to the system after a burst (glibc: malloc_trim once 16 MiB have been freed, since small
 *   chunks otherwise stay in its arena). Counts: n_used blocks referenced, n_peak its maximum.
 * All mutation happens on the calling thread (forward's attention only reads), so reference counts
 * are plain ints. */
#include "model_impl.h"
#include "ponder/alloc.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

bool pd_kv_type_ok(pd_type t) {
    return t == PD_TYPE_F32 || t == PD_TYPE_F16 || t == PD_TYPE_Q8_0 || t == PD_TYPE_Q4_0;
}

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

pd_kv *pd_kv_new_ex(const pd_model_config *cfg, int n_seq_max, int n_ctx_max, const pd_kv_params *p) {
    pd_kv_params d = {.type = PD_TYPE_F16};
    if (!p) p = &d;
    if (!cfg || n_seq_max < 1 || n_ctx_max < 1) {
        pd_fail(PD_ERR_ARG, "pd_kv_new: need a config, n_seq_max >= 1 (got %d) and n_ctx_max >= 1 (got %d)", n_seq_max,
                n_ctx_max);
        return NULL;
    }
    const pd_type kt = p->type, vt = p->v_type_set ? p->v_type : p->type;
    for (int w = 0; w < 2; w++) {
        pd_type t = w ? vt : kt;
        if (!pd_kv_type_ok(t)) {
            pd_fail(PD_ERR_UNSUPPORTED, "pd_kv_new: %c cache type %s is not supported (f32, f16, q8_0, q4_0)", "KV"[w],
                    pd_type_valid(t) ? pd_type_name(t) : "unknown");
            return NULL;
        }
    }
    if (cfg->n_layer < 1 || cfg->n_head_kv < 1 || cfg->head_dim < 1) {
        pd_fail(PD_ERR_ARG, "pd_kv_new: config has no layers / kv heads / head_dim");
        return NULL;
    }
    if (cfg->head_dim > PD_ATT_MAX_HEAD_DIM) {
        pd_fail(PD_ERR_UNSUPPORTED, "pd_kv_new: head_dim %d is above the attention kernels' %d", cfg->head_dim,
                PD_ATT_MAX_HEAD_DIM);
        return NULL;
    }
    for (int w = 0; w < 2; w++) {
        pd_type t = w ? vt : kt;
        if (cfg->head_dim % pd_type_block_elems(t)) {
            pd_fail(PD_ERR_UNSUPPORTED, "pd_kv_new: %c cache type %s needs head_dim divisible by %lld; this model has %d",
                    "KV"[w], pd_type_name(t), (long long)pd_type_block_elems(t), cfg->head_dim);
            return NULL;
        }
    }
    int br = p->block_rows ? p->block_rows : PD_KV_BLOCK_ROWS;
    if (br < 16 || br > 1024 || br % 16) {
        pd_fail(PD_ERR_ARG, "pd_kv_new: block_rows %d must be a multiple of 16 in [16, 1024]", br);
        return NULL;
    }
    pd_kv *kv = pd_calloc(1, sizeof *kv);
    if (!kv) return NULL;
    kv->n_layer = cfg->n_layer;
    kv->n_head_kv = cfg->n_head_kv;
    kv->head_dim = cfg->head_dim;
    kv->k_type = kt;
    kv->v_type = vt;
    kv->k_row_bytes = pd_row_bytes(kt, cfg->head_dim);
    kv->v_row_bytes = pd_row_bytes(vt, cfg->head_dim);
    kv->block_rows = br;
    kv->pos_off = up64(sizeof(pd_kv_block_hdr));
    kv->k_off = kv->pos_off + up64((size_t)br * sizeof(int32_t));
    kv->v_off = kv->k_off + up64((size_t)br * kv->k_row_bytes);
    kv->block_bytes = kv->v_off + up64((size_t)br * kv->v_row_bytes);
    size_t keep = p->pool_keep_bytes ? p->pool_keep_bytes : PD_KV_POOL_KEEP;
    kv->keep_blocks = (int64_t)(keep / kv->block_bytes > (size_t)INT64_MAX / 2 ? INT64_MAX / 2 : keep / kv->block_bytes);
    kv->n_seq_max = n_seq_max;
    kv->n_ctx_max = n_ctx_max;
    kv->seqs = pd_calloc((size_t)n_seq_max, sizeof *kv->seqs);
    if (!kv->seqs) {
        free(kv);
        return NULL;
    }
    return kv;
}

pd_kv *pd_kv_new(const pd_model_config *cfg, int n_seq_max, int n_ctx_max, pd_type kv_type) {
    pd_kv_params p = {.type = kv_type};
    return pd_kv_new_ex(cfg, n_seq_max, n_ctx_max, &p);
}

/* ---------------------------------------------------------------- pool */

static unsigned char *block_get(pd_kv *kv) {
    unsigned char *b;
    if (kv->n_free > 0) {
        b = kv->free_blk[--kv->n_free];
    } else {
        b = pd_aligned_alloc(64, kv->block_bytes);
        if (!b) return NULL;
    }
    ((pd_kv_block_hdr *)b)->ref = 1;
    if (++kv->n_used > kv->n_peak) kv->n_peak = kv->n_used;
    return b;
}

static void block_put(pd_kv *kv, unsigned char *b) {
    if (--((pd_kv_block_hdr *)b)->ref > 0) return;
    kv->n_used--;
    if (kv->n_free < kv->keep_blocks) {
        if (kv->n_free == kv->cap_free) { /* if the list cannot grow, the block goes back to the system */
            int64_t cap = kv->cap_free ? kv->cap_free * 2 : 64;
            unsigned char **nf = realloc(kv->free_blk, (size_t)cap * sizeof *nf);
            if (!nf) {
                pd_aligned_free(b);
                return;
            }
            kv->free_blk = nf;
            kv->cap_free = cap;
        }
        kv->free_blk[kv->n_free++] = b;
        return;
    }
    pd_aligned_free(b);
    kv->freed_bytes += kv->block_bytes;
}

/* Blocks are small heap chunks, which glibc keeps in its arena after free(); once enough have been
 * freed beyond the pool's high-water mark, ask it to hand the free pages back to the system. */
static void give_back(pd_kv *kv) {
    if (kv->freed_bytes < PD_KV_TRIM_BYTES) return;
    kv->freed_bytes = 0;
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

/* Block bi of head h becomes private to it (copied if shared). */
static pd_status block_private(pd_kv *kv, pd_kv_head *h, int bi) {
    unsigned char *b = h->blk[bi];
    if (((pd_kv_block_hdr *)b)->ref == 1) return PD_OK;
    unsigned char *c = block_get(kv);
    if (!c) return pd_fail_ctx(PD_ERR_NOMEM, "kv: copy-on-write of a %zu-byte block", kv->block_bytes);
    memcpy(c + kv->pos_off, b + kv->pos_off, kv->block_bytes - kv->pos_off);
    block_put(kv, b);
    h->blk[bi] = c;
    kv->n_cow++;
    return PD_OK;
}

/* Release the blocks past what the live rows need. */
static void head_trim(pd_kv *kv, pd_kv_head *h) {
    int need = (h->n_live + kv->block_rows - 1) / kv->block_rows;
    while (h->n_blk > need) block_put(kv, h->blk[--h->n_blk]);
}

static void head_free(pd_kv *kv, pd_kv_head *h) {
    h->n_live = 0;
    head_trim(kv, h);
    free(h->blk);
    h->blk = NULL;
    h->cap_blk = 0;
}

/* ---------------------------------------------------------------- sequences */

static bool seq_ok(const pd_kv *kv, int seq) { return kv && seq >= 0 && seq < kv->n_seq_max; }
static size_t n_heads(const pd_kv *kv) { return (size_t)kv->n_layer * kv->n_head_kv; }

void pd_kv_seq_clear(pd_kv *kv, int seq) {
    if (!seq_ok(kv, seq)) return;
    pd_kv_seq *s = &kv->seqs[seq];
    if (s->heads)
        for (size_t i = 0; i < n_heads(kv); i++) head_free(kv, &s->heads[i]);
    free(s->heads);
    s->heads = NULL;
    s->len = 0;
    give_back(kv);
}

void pd_kv_free(pd_kv *kv) {
    if (!kv) return;
    for (int s = 0; s < kv->n_seq_max; s++) pd_kv_seq_clear(kv, s);
    for (int64_t i = 0; i < kv->n_free; i++) pd_aligned_free(kv->free_blk[i]);
    free(kv->free_blk);
    free(kv->seqs);
    free(kv->probs);
    free(kv->obs_at);
    pd_aligned_free(kv->scratch);
    free(kv->iscratch);
    free(kv);
}

int pd_kv_seq_len(const pd_kv *kv, int seq) { return seq_ok(kv, seq) ? kv->seqs[seq].len : 0; }
pd_type pd_kv_type(const pd_kv *kv) { return kv->k_type; }
pd_type pd_kv_v_type(const pd_kv *kv) { return kv->v_type; }
int pd_kv_n_seq_max(const pd_kv *kv) { return kv->n_seq_max; }
int pd_kv_n_ctx_max(const pd_kv *kv) { return kv->n_ctx_max; }

static pd_status ensure_heads(pd_kv *kv, int seq) {
    pd_kv_seq *s = &kv->seqs[seq];
    if (s->heads) return PD_OK;
    s->heads = pd_calloc(n_heads(kv), sizeof *s->heads);
    return s->heads ? PD_OK : pd_fail_ctx(PD_ERR_NOMEM, "kv: sequence %d tables", seq);
}

static pd_status head_reserve_table(pd_kv_head *h, int n_blk) {
    if (n_blk <= h->cap_blk) return PD_OK;
    int cap = h->cap_blk ? h->cap_blk : 4;
    while (cap < n_blk) cap *= 2;
    unsigned char **nb = pd_realloc(h->blk, (size_t)cap * sizeof *nb);
    if (!nb) return PD_ERR_NOMEM;
    h->blk = nb;
    h->cap_blk = cap;
    return PD_OK;
}

pd_status pd_kv_prepare(pd_kv *kv, int seq, int n_new) {
    PD_TRY(ensure_heads(kv, seq));
    pd_kv_seq *s = &kv->seqs[seq];
    const int br = kv->block_rows;
    for (size_t i = 0; i < n_heads(kv); i++) {
        pd_kv_head *h = &s->heads[i];
        int need = (h->n_live + n_new + br - 1) / br;
        pd_status st = head_reserve_table(h, need);
        if (st == PD_OK && h->n_live % br && n_new > 0) st = block_private(kv, h, h->n_live / br);
        while (st == PD_OK && h->n_blk < need) {
            unsigned char *b = block_get(kv);
            if (!b) st = PD_ERR_NOMEM;
            else h->blk[h->n_blk++] = b;
        }
        if (st != PD_OK) {
            for (size_t j = 0; j <= i; j++) head_trim(kv, &s->heads[j]);
            return pd_fail_ctx(PD_ERR_NOMEM, "kv: sequence %d: room for %d more rows", seq, n_new);
        }
    }
    return PD_OK;
}

void pd_kv_unprepare(pd_kv *kv, int seq) {
    pd_kv_seq *s = &kv->seqs[seq];
    if (s->heads)
        for (size_t i = 0; i < n_heads(kv); i++) head_trim(kv, &s->heads[i]);
}

void pd_kv_commit(pd_kv *kv, int seq, int n_new, int new_len) {
    pd_kv_seq *s = &kv->seqs[seq];
    if (s->heads)
        for (size_t i = 0; i < n_heads(kv); i++) s->heads[i].n_live += n_new;
    s->len = new_len;
}

pd_status pd_kv_seq_rewind(pd_kv *kv, int seq, int pos) {
    if (!seq_ok(kv, seq)) return pd_fail(PD_ERR_RANGE, "kv rewind: sequence %d out of range", seq);
    pd_kv_seq *s = &kv->seqs[seq];
    if (pos < 0 || pos > s->len)
        return pd_fail(PD_ERR_RANGE, "kv rewind: position %d outside [0, %d] for sequence %d", pos, s->len, seq);
    if (s->heads)
        for (size_t i = 0; i < n_heads(kv); i++) {
            pd_kv_head *h = &s->heads[i];
            int lo = 0, hi = h->n_live; /* first live row with position >= pos (rows ascend) */
            while (lo < hi) {
                int mid = lo + (hi - lo) / 2;
                if (*pd_kv_row_pos(kv, h, mid) < pos) lo = mid + 1;
                else hi = mid;
            }
            h->n_live = lo;
            head_trim(kv, h);
        }
    s->len = pos;
    give_back(kv);
    return PD_OK;
}

pd_status pd_kv_seq_copy(pd_kv *kv, int src, int dst) {
    if (!seq_ok(kv, src) || !seq_ok(kv, dst))
        return pd_fail(PD_ERR_RANGE, "kv copy: sequences %d -> %d out of range [0, %d)", src, dst, kv ? kv->n_seq_max : 0);
    if (src == dst) return PD_OK;
    pd_kv_seq_clear(kv, dst);
    const pd_kv_seq *s = &kv->seqs[src];
    if (!s->heads) {
        kv->seqs[dst].len = s->len;
        return PD_OK;
    }
    PD_TRY(ensure_heads(kv, dst));
    pd_kv_seq *d = &kv->seqs[dst];
    for (size_t i = 0; i < n_heads(kv); i++) {
        const pd_kv_head *hs = &s->heads[i];
        pd_kv_head *hd = &d->heads[i];
        if (head_reserve_table(hd, hs->n_blk) != PD_OK) {
            pd_kv_seq_clear(kv, dst);
            return pd_fail_ctx(PD_ERR_NOMEM, "kv copy: sequence %d tables", dst);
        }
        for (int b = 0; b < hs->n_blk; b++) {
            ((pd_kv_block_hdr *)hs->blk[b])->ref++;
            hd->blk[b] = hs->blk[b];
        }
        hd->n_blk = hs->n_blk;
        hd->n_live = hs->n_live;
    }
    d->len = s->len;
    return PD_OK;
}

/* ---------------------------------------------------------------- live rows */

static const pd_kv_head *head_get(const pd_kv *kv, int seq, int layer, int head) {
    if (!seq_ok(kv, seq) || layer < 0 || layer >= kv->n_layer || head < 0 || head >= kv->n_head_kv) return NULL;
    static const pd_kv_head empty;
    return kv->seqs[seq].heads ? pd_kv_head_at(kv, seq, layer, head) : &empty;
}

int pd_kv_n_live(const pd_kv *kv, int seq, int layer, int head) {
    const pd_kv_head *h = head_get(kv, seq, layer, head);
    return h ? h->n_live : 0;
}

static pd_status rows_ok(const pd_kv *kv, const pd_kv_head *h, const char *what, int seq, int layer, int head, int row0,
                         int n) {
    if (!h)
        return pd_fail(PD_ERR_RANGE, "kv %s: sequence %d, layer %d, kv head %d out of range", what, seq, layer, head);
    if (row0 < 0 || n < 0 || row0 > h->n_live - n)
        return pd_fail(PD_ERR_RANGE, "kv %s: rows [%d, %d) outside the %d live rows of sequence %d, layer %d, kv head %d",
                       what, row0, row0 + n, h->n_live, seq, layer, head);
    (void)kv;
    return PD_OK;
}

pd_status pd_kv_positions(const pd_kv *kv, int seq, int layer, int head, int row0, int n, int32_t *pos) {
    const pd_kv_head *h = head_get(kv, seq, layer, head);
    PD_TRY(rows_ok(kv, h, "positions", seq, layer, head, row0, n));
    for (int i = 0; i < n; i++) pos[i] = *pd_kv_row_pos(kv, h, row0 + i);
    return PD_OK;
}

pd_status pd_kv_read(const pd_kv *kv, int seq, int layer, int head, int row0, int n, float *k, float *v) {
    const pd_kv_head *h = head_get(kv, seq, layer, head);
    PD_TRY(rows_ok(kv, h, "read", seq, layer, head, row0, n));
    for (int i = 0; i < n; i++) {
        if (k) PD_TRY(pd_dequantize_row(kv->k_type, pd_kv_row_k(kv, h, row0 + i), k + (size_t)i * kv->head_dim, kv->head_dim));
        if (v) PD_TRY(pd_dequantize_row(kv->v_type, pd_kv_row_v(kv, h, row0 + i), v + (size_t)i * kv->head_dim, kv->head_dim));
    }
    return PD_OK;
}

pd_status pd_kv_evict(pd_kv *kv, int seq, int layer, int head, const int32_t *keep, int n_keep) {
    const pd_kv_head *hc = head_get(kv, seq, layer, head);
    if (!hc) return pd_fail(PD_ERR_RANGE, "kv evict: sequence %d, layer %d, kv head %d out of range", seq, layer, head);
    if (n_keep < 0 || n_keep > hc->n_live || (n_keep && !keep))
        return pd_fail(PD_ERR_ARG, "kv evict: %d rows to keep of %d live (sequence %d, layer %d, kv head %d)", n_keep,
                       hc->n_live, seq, layer, head);
    for (int i = 0; i < n_keep; i++)
        if (keep[i] < 0 || keep[i] >= hc->n_live || (i && keep[i] <= keep[i - 1]))
            return pd_fail(PD_ERR_ARG, "kv evict: keep[%d] = %d: indices must increase strictly within [0, %d)", i,
                           keep[i], hc->n_live);
    if (n_keep == hc->n_live) return PD_OK;
    pd_kv_head *h = pd_kv_head_at(kv, seq, layer, head);
    /* rows before the first dropped one stay where they are */
    int i0 = 0;
    while (i0 < n_keep && keep[i0] == i0) i0++;
    /* every block to be rewritten becomes private first, so a failure leaves the rows unchanged */
    for (int bi = i0 / kv->block_rows; bi * kv->block_rows < n_keep; bi++) PD_TRY(block_private(kv, h, bi));
    for (int i = i0; i < n_keep; i++) {
        int r = keep[i];
        memcpy(pd_kv_row_k(kv, h, i), pd_kv_row_k(kv, h, r), kv->k_row_bytes);
        memcpy(pd_kv_row_v(kv, h, i), pd_kv_row_v(kv, h, r), kv->v_row_bytes);
        *pd_kv_row_pos(kv, h, i) = *pd_kv_row_pos(kv, h, r);
    }
    h->n_live = n_keep;
    head_trim(kv, h);
    give_back(kv);
    return PD_OK;
}

pd_status pd_kv_evict_mask(pd_kv *kv, int seq, int layer, int head, const uint8_t *keep_mask) {
    const pd_kv_head *hc = head_get(kv, seq, layer, head);
    if (!hc) return pd_fail(PD_ERR_RANGE, "kv evict: sequence %d, layer %d, kv head %d out of range", seq, layer, head);
    if (hc->n_live == 0) return PD_OK;
    if (!keep_mask) return pd_fail(PD_ERR_ARG, "kv evict: NULL mask");
    int32_t *keep = pd_malloc((size_t)hc->n_live * sizeof *keep);
    if (!keep) return PD_ERR_NOMEM;
    int n = 0;
    for (int i = 0; i < hc->n_live; i++)
        if (keep_mask[i]) keep[n++] = i;
    pd_status st = pd_kv_evict(kv, seq, layer, head, keep, n);
    free(keep);
    return st;
}

/* ---------------------------------------------------------------- observer, accounting */

void pd_kv_set_observer(pd_kv *kv, pd_kv_observer fn, void *ctx, int last_n, const uint8_t *seq_mask) {
    if (!kv) return;
    kv->obs = fn;
    kv->obs_ctx = ctx;
    kv->obs_last_n = last_n < 1 ? 1 : last_n;
    kv->obs_mask = seq_mask;
}

void pd_kv_get_stats(const pd_kv *kv, pd_kv_stats *st) {
    memset(st, 0, sizeof *st);
    if (!kv) return;
    st->block_rows = kv->block_rows;
    st->block_bytes = kv->block_bytes;
    st->blocks_used = kv->n_used;
    st->blocks_free = kv->n_free;
    st->blocks_peak = kv->n_peak;
    st->cow_copies = kv->n_cow;
    st->bytes_used = (size_t)kv->n_used * kv->block_bytes;
    st->bytes_peak = (size_t)kv->n_peak * kv->block_bytes;
    st->bytes_held = (size_t)(kv->n_used + kv->n_free) * kv->block_bytes;
}

void pd_kv_reset_peak(pd_kv *kv) {
    if (kv) kv->n_peak = kv->n_used;
}
size_t pd_kv_bytes(const pd_kv *kv) { return kv ? (size_t)kv->n_used * kv->block_bytes : 0; }
size_t pd_kv_peak_bytes(const pd_kv *kv) { return kv ? (size_t)kv->n_peak * kv->block_bytes : 0; }
