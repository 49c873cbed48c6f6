/* ponder/kvpolicy.h — KV eviction policies (the kv/ layer, over model/'s paged cache).
 *
 * A policy decides, for each (sequence, layer, kv head), which cached rows stay live; the cache
 * (ponder/model.h: pd_kv_evict) frees the others and attention reads only live rows. Policies:
 *   streaming  StreamingLLM: `sink` first rows + the most recent ones                [P:2309.17453]
 *   h2o        heavy hitters by attention accumulated over all queries + a recent window [P:2306.14048]
 *   tova       drop the rows the current query attends to least (mean over the GQA group) [P:2401.06104]
 *   snapkv     after prefill, the last `obs` prompt queries vote (pooled) for prompt rows [P:2404.14469]
 *   rkv        buffer of `buffer` new rows; when full keep top-B by λ·importance − (1−λ)·redundancy
 *              (importance: attention of the last `aq` queries, redundancy: key cosine) [P:2505.24133]
 *   lazy       LazyEviction: every W steps, W recent rows + best by recurrence (TS, MRI)  [P:2506.15969]
 *   rlkv       head-wise: FULL heads keep everything, the others `sink` + `recent`      [P:2510.08525]
 * (inference.md §3, §4 give the definitions and the defaults used here.)
 *
 * Two levels:
 *   - pure selection (pd_kvp_select): one head's live rows and their statistics in, the kept row
 *     indices out. No cache, no model: what the unit tests check against hand computations.
 *   - the runtime (pd_kvm): attached to a pd_gen's cache, it observes attention only when the policy
 *     needs it, keeps the statistics per live row, and evicts after each sampled token through a
 *     pd_policy placed first in each sequence's chain. */
#ifndef PONDER_KVPOLICY_H
#define PONDER_KVPOLICY_H
#include <stdbool.h>
#include <stdint.h>
#include "ponder/error.h"
#include "ponder/gen.h"

typedef enum {
    PD_KVP_FULL = 0,   /* no eviction (the reference) */
    PD_KVP_STREAMING,
    PD_KVP_H2O,
    PD_KVP_TOVA,
    PD_KVP_SNAPKV,
    PD_KVP_RKV,
    PD_KVP_LAZY,
    PD_KVP_RLKV,
    PD_KVP_COUNT
} pd_kvp_kind;

/* Rows a policy never evicts and does not count against the budget. */
enum { PD_KVP_PROTECT_PROMPT = 1u << 0, PD_KVP_PROTECT_ANSWER = 1u << 1 };

enum { PD_KVP_PATH_MAX = 512 };

typedef struct pd_kvp_spec {
    pd_kvp_kind kind;
    /* budget: live rows per (layer, kv head), protected rows not counted. budget_rows > 0 gives a
     * fixed count; else budget_frac in (0, 1] gives ceil(frac × positions consumed) (0 = no budget) */
    int budget_rows;
    double budget_frac;
    unsigned protect;        /* PD_KVP_PROTECT_* */
    int sink;                /* streaming 4, rlkv 16 */
    int recent;              /* h2o: recent share in percent of the budget (50); rlkv: recent rows (64) */
    int obs;                 /* snapkv observation window (32) */
    int pool;                /* snapkv / rkv max-pool kernel (7 / 7; 1 = none) */
    int buffer;              /* rkv buffer (128) */
    int aq;                  /* rkv: queries whose attention is the importance (8) */
    double lambda;           /* rkv: importance weight (0.1) */
    int window;              /* lazy W (128) */
    double alpha;            /* lazy activation threshold; 0 = 1 / live rows (above uniform) */
    double sparsity;         /* rlkv: fraction of kv heads compressed; < 0 = 1 − budget_frac (or 0.5) */
    char gates[PD_KVP_PATH_MAX]; /* rlkv: TSV of per-(layer, kv head) gate scores (L rows × Hkv columns) */
} pd_kvp_spec;

const char *pd_kvp_name(pd_kvp_kind k);          /* "full", "streaming", ... */
/* Defaults of every parameter (from inference.md) for policy k, no budget. */
void pd_kvp_defaults(pd_kvp_spec *s, pd_kvp_kind k);
/* Parse "NAME[:key=value,...]" (keys: sink, recent, obs, pool, buffer, aq, lambda, window / W, alpha,
 * s / sparsity, gates, protect=none|prompt|answer|prompt+answer). The budget is kept. Errors name
 * the key and the policy. */
pd_status pd_kvp_parse(const char *text, pd_kvp_spec *s);
/* Parse "N" (rows) or "P%" (percent of the positions, 0 < P <= 100) into s. */
pd_status pd_kvp_parse_budget(const char *text, pd_kvp_spec *s);
/* One line per policy (name, what it keeps, parameters) for --help. */
const char *pd_kvp_help(void);
/* Does policy k need attention weights (the cache's observer)? key rows (rkv)? */
bool pd_kvp_needs_attention(pd_kvp_kind k);

/* ---- pure selection ---- */

/* One (layer, kv head)'s live rows as a policy sees them. Arrays have n entries, parallel to the
 * live rows (ascending positions); a statistic a policy does not use may be NULL. */
typedef struct {
    int n;
    const int32_t *pos;      /* original position of each row */
    const uint8_t *protect;  /* nonzero: never evicted, not counted (NULL: none) */
    const float *acc;        /* h2o: attention accumulated over all observed queries (summed over the group) */
    const float *cur;        /* tova: attention of the newest query, mean over the GQA group */
    const float *win;        /* snapkv: summed votes of the observation window; rkv: max over the last aq queries */
    const int32_t *ts;       /* lazy: last activation step (position of the activating query) */
    const int32_t *mri;      /* lazy: max recurrence interval (0 = never re-activated) */
    const float *keys;       /* rkv: key rows [n][dim] as attention sees them */
    int dim;
    int32_t now;             /* position of the newest query (lazy's t) */
    bool head_full;          /* rlkv: this head is a FULL head */
} pd_kvp_rows;

/* keep[0..return) = indices of the rows to keep, ascending; `budget` = rows kept besides the
 * protected ones. Returns n (nothing to evict) when the unprotected rows fit the budget, or -1 +
 * error (bad spec, missing statistic, out of memory). keep needs n entries. rlkv ignores the
 * budget (a compressed head keeps sink + recent, a FULL head everything). */
int pd_kvp_select(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep);

/* LazyEviction's state update for one query at position `now`: probs[q * stride + i] for the n_q
 * query heads of the group over rows i < n; a row whose weight exceeds alpha in any head (alpha <= 0:
 * 1/n, above uniform) is activated: mri = max(mri, now − ts), ts = now (idempotent within a step). */
void pd_kvp_lazy_activate(const float *probs, int n_q, int stride, int n, double alpha, int32_t now, int32_t *ts,
                          int32_t *mri);

/* RLKV allocation: given L × Hkv gate scores, mark FULL heads (full[l*Hkv+h] = 1): the s-quantile
 * rule of inference.md §4 with ties broken by the smaller index being compressed first (no noise),
 * i.e. exactly round(s·L·Hkv) heads compressed, lowest gates first. */
void pd_kvp_rlkv_alloc(const float *gates, int n_heads, double s, uint8_t *full);
/* Read a gates TSV (L rows of Hkv tab- or space-separated numbers, clipped to [0, 1]). */
pd_status pd_kvp_read_gates(const char *path, int n_layer, int n_head_kv, float *gates);

/* ---- runtime ---- */

typedef struct pd_kvm pd_kvm;
/* Attach to g's main-model cache. Sequences join the policy through pd_kvm_policy. */
pd_kvm *pd_kvm_new(pd_gen *g, const pd_kvp_spec *s);
void pd_kvm_free(pd_kvm *m);   /* after the gen's sequences using it were removed */
/* The per-sequence pd_policy to put FIRST in a sequence's chain (pd_seq_params.policies). */
pd_policy pd_kvm_policy(pd_kvm *m);
/* Evict seq now by the policy (the pd_policy does this after each sampled token). */
pd_status pd_kvm_evict(pd_kvm *m, int seq, const pd_seq_state *st);
typedef struct {
    int64_t evictions;       /* rows dropped */
    int64_t rounds;          /* eviction rounds that dropped something */
    size_t peak_bytes;       /* the cache's peak bytes (pd_kv_peak_bytes) */
    int64_t forks_copied;    /* sequences that started from a copy of their fork source's statistics */
} pd_kvm_stats;
void pd_kvm_get_stats(const pd_kvm *m, pd_kvm_stats *st);
const pd_kvp_spec *pd_kvm_spec(const pd_kvm *m);

/* Offline head score for RLKV (the "say which" of issue 13: gates here come from this score, not
 * from RL): for every (layer, kv head), the attention mass that the queries of the given token
 * sequence (teacher-forced reference traces) put outside the first `sink` and last `recent` rows,
 * averaged over queries and the GQA group. Heads that look far back score high. scores: L × Hkv. */
pd_status pd_kvp_head_scores(const pd_model *m, const int32_t *const *seqs, const int *lens, int n_seqs, int sink,
                             int recent, float *scores);

#endif
