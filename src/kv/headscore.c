/* kv/headscore.c — the offline head score behind RLKV's gates in ponder (inference.md §4 learns the
 * gates with RL through a mixed full/local attention; we do not have that training yet, so a head's
 * gate is how much attention it actually sends outside a sink + recent window on teacher-forced
 * reference traces: a head that never looks far back loses nothing when compressed to sink+recent). */
#include "ponder/kvpolicy.h"
#include "ponder/alloc.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int H, sink, recent;
    double *mass;     /* [L*H] */
    int64_t *count;   /* [L*H] queries that had rows outside the window */
} hs_ctx;

static void hs_observe(void *ctx, const pd_kv_attn *a) {
    hs_ctx *c = ctx;
    int n = a->n_rows;
    if (n <= c->sink + c->recent) return;
    double far = 0;
    for (int q = 0; q < a->n_q; q++)
        for (int i = c->sink; i < n - c->recent; i++) far += a->probs[(size_t)q * n + i];
    c->mass[a->layer * c->H + a->kv_head] += far / a->n_q;
    c->count[a->layer * c->H + a->kv_head]++;
}

pd_status pd_kvp_head_scores(const pd_model *m, const int32_t *const *seqs, const int *lens, int n_seqs, int sink,
                             int recent, float *scores) {
    if (!m || !seqs || !lens || n_seqs < 1 || !scores || sink < 0 || recent < 1)
        return pd_fail(PD_ERR_ARG, "kv head scores: need a model, at least one sequence and sink >= 0, recent >= 1");
    int L = m->cfg.n_layer, H = m->cfg.n_head_kv, longest = 1;
    for (int i = 0; i < n_seqs; i++) {
        if (lens[i] < 1 || !seqs[i]) return pd_fail(PD_ERR_ARG, "kv head scores: sequence %d is empty", i);
        if (lens[i] > longest) longest = lens[i];
    }
    hs_ctx c = {.H = H, .sink = sink, .recent = recent};
    c.mass = pd_calloc((size_t)L * H, sizeof *c.mass);
    c.count = pd_calloc((size_t)L * H, sizeof *c.count);
    pd_kv *kv = c.mass && c.count ? pd_kv_new(&m->cfg, 1, longest, PD_TYPE_F32) : NULL;
    pd_status st = kv ? PD_OK : PD_ERR_NOMEM;
    if (kv) pd_kv_set_observer(kv, hs_observe, &c, INT_MAX, NULL);
    for (int i = 0; st == PD_OK && i < n_seqs; i++) {
        pd_kv_seq_clear(kv, 0);
        st = pd_model_eval(m, kv, 0, seqs[i], lens[i], false, NULL);
    }
    if (st == PD_OK) {
        int64_t any = 0;
        for (int i = 0; i < L * H; i++) {
            scores[i] = c.count[i] ? (float)(c.mass[i] / (double)c.count[i]) : 0.f;
            any += c.count[i];
        }
        if (!any) st = pd_fail(PD_ERR_ARG, "kv head scores: no sequence is longer than sink + recent = %d", sink + recent);
    }
    pd_kv_free(kv);
    free(c.mass);
    free(c.count);
    return st;
}
