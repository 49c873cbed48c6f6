/* kv/select.c — the selection every eviction policy reduces to: protected rows stay and do not
 * count, "forced" rows (sinks, recent windows, observation windows) stay and count, and the rest of
 * the budget goes to the best rows by the policy's comparator (a stable merge sort, so ties keep
 * the comparator's own tie-break). Also the dispatcher pd_kvp_select and RLKV's head allocation. */
#include "kv_int.h"
#include "ponder/alloc.h"
#include <stdlib.h>
#include <string.h>

int kvp_unprotected_count(const pd_kvp_rows *r) {
    int c = 0;
    for (int i = 0; i < r->n; i++) c += !(r->protect && r->protect[i]);
    return c;
}

void kvp_force_recent(const pd_kvp_rows *r, int k, uint8_t *forced) {
    for (int i = r->n - 1; i >= 0 && k > 0; i--)
        if (!(r->protect && r->protect[i])) { forced[i] = 1; k--; }
}

void kvp_force_first(const pd_kvp_rows *r, int k, uint8_t *forced) {
    for (int i = 0; i < r->n && k > 0; i++)
        if (!(r->protect && r->protect[i])) { forced[i] = 1; k--; }
}

void kvp_maxpool(const float *in, int n, int k, float *out) {
    int h = k > 1 ? k / 2 : 0;
    for (int i = 0; i < n; i++) {
        int a = i - h < 0 ? 0 : i - h, b = i + h >= n ? n - 1 : i + h;
        float m = in[a];
        for (int j = a + 1; j <= b; j++) if (in[j] > m) m = in[j];
        out[i] = m;
    }
}

/* stable merge sort of idx[0..n) by cmp */
static void msort(int32_t *idx, int32_t *tmp, int n, kvp_cmp cmp, const void *ctx) {
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = cmp(ctx, idx[j], idx[i]) < 0 ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

int kvp_choose(const pd_kvp_rows *r, int budget, const uint8_t *forced, kvp_cmp cmp, const void *ctx, int32_t *keep) {
    int n = r->n;
    if (budget < 0) budget = 0;
    uint8_t *take = pd_calloc((size_t)n + 1, 1);
    int32_t *cand = pd_malloc(((size_t)n + 1) * sizeof *cand), *tmp = pd_malloc(((size_t)n + 1) * sizeof *tmp);
    if (!take || !cand || !tmp) { free(take); free(cand); free(tmp); return -1; }
    int used = 0, nc = 0;
    for (int i = 0; i < n; i++) {
        if (r->protect && r->protect[i]) take[i] = 1;
        else if (forced && forced[i]) { take[i] = 1; used++; }
        else cand[nc++] = i;
    }
    if (used < budget && nc > 0) {
        if (cmp) msort(cand, tmp, nc, cmp, ctx);
        for (int j = 0; j < nc && used < budget; j++) { take[cand[j]] = 1; used++; }
    }
    int k = 0;
    for (int i = 0; i < n; i++) if (take[i]) keep[k++] = i;
    free(take); free(cand); free(tmp);
    return k;
}

int pd_kvp_select(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep) {
    if (!s || !r || !keep || r->n < 0 || (r->n && !r->pos)) {
        pd_fail(PD_ERR_ARG, "kv select: NULL spec, rows or output");
        return -1;
    }
    if (s->kind != PD_KVP_RLKV && kvp_unprotected_count(r) <= budget) {
        for (int i = 0; i < r->n; i++) keep[i] = i;
        return r->n;
    }
    int k;
    switch (s->kind) {
    case PD_KVP_FULL: for (int i = 0; i < r->n; i++) keep[i] = i; return r->n;
    case PD_KVP_STREAMING: k = kvp_select_streaming(s, r, budget, keep); break;
    case PD_KVP_H2O: k = kvp_select_h2o(s, r, budget, keep); break;
    case PD_KVP_TOVA: k = kvp_select_tova(s, r, budget, keep); break;
    case PD_KVP_SNAPKV: k = kvp_select_snapkv(s, r, budget, keep); break;
    case PD_KVP_RKV: k = kvp_select_rkv(s, r, budget, keep); break;
    case PD_KVP_LAZY: k = kvp_select_lazy(s, r, budget, keep); break;
    case PD_KVP_RLKV: k = kvp_select_rlkv(s, r, budget, keep); break;
    default: pd_fail(PD_ERR_ARG, "kv select: unknown policy %d", (int)s->kind); return -1;
    }
    return k;
}

void pd_kvp_rlkv_alloc(const float *gates, int n_heads, double s, uint8_t *full) {
    if (s < 0) s = 0;
    if (s > 1) s = 1;
    int n_comp = (int)(s * n_heads + 0.5);
    for (int i = 0; i < n_heads; i++) full[i] = 1;
    /* compress the n_comp lowest gates; equal gates: the lower index first */
    for (int c = 0; c < n_comp; c++) {
        int best = -1;
        for (int i = 0; i < n_heads; i++)
            if (full[i] && (best < 0 || gates[i] < gates[best])) best = i;
        full[best] = 0;
    }
}
