/* kv/rkv.c — R-KV [P:2505.24133], made for reasoning traces, whose long decodes repeat themselves:
 * new rows collect in a buffer of `buffer` rows; when it fills, each head keeps the budget by
 *   score_i = λ·importance_i − (1 − λ)·redundancy_i
 * importance = max attention from the last `aq` queries (max over the GQA group), max-pooled over
 * neighbouring rows (kernel `pool`); redundancy = mean cosine similarity of row i's key to the other
 * candidates' keys (a row that repeats others scores low). The last `aq` rows (the observing
 * queries' own) always stay. Ties: the more recent row. */
#include "kv_int.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdlib.h>

typedef struct { const float *score; } sc;

static int by_score(const void *ctx, int32_t a, int32_t b) {
    const sc *c = ctx;
    if (c->score[a] != c->score[b]) return c->score[a] > c->score[b] ? -1 : 1;
    return b - a;
}

int kvp_select_rkv(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep) {
    if (!r->win || !r->keys || r->dim < 1) { pd_fail(PD_ERR_ARG, "kv rkv: needs importance and key rows"); return -1; }
    int n = r->n, d = r->dim;
    uint8_t *f = pd_calloc((size_t)n + 1, 1);
    float *imp = pd_malloc(((size_t)n + 1) * sizeof(float)), *score = pd_malloc(((size_t)n + 1) * sizeof(float));
    float *unit = pd_malloc(((size_t)n * d + 1) * sizeof(float));
    if (!f || !imp || !score || !unit) { free(f); free(imp); free(score); free(unit); return -1; }
    kvp_maxpool(r->win, n, s->pool, imp);
    kvp_force_recent(r, s->aq < budget ? s->aq : budget, f);
    int nc = 0;
    for (int i = 0; i < n; i++) {
        double q = 0;
        for (int j = 0; j < d; j++) q += (double)r->keys[(size_t)i * d + j] * r->keys[(size_t)i * d + j];
        float inv = q > 0 ? (float)(1.0 / sqrt(q)) : 0.f;
        for (int j = 0; j < d; j++) unit[(size_t)i * d + j] = r->keys[(size_t)i * d + j] * inv;
        nc += !(r->protect && r->protect[i]) && !f[i];
    }
    /* redundancy among the candidates (unprotected, not forced): mean cosine to the others */
    for (int i = 0; i < n; i++) {
        if ((r->protect && r->protect[i]) || f[i]) { score[i] = 0; continue; }
        double red = 0;
        for (int k = 0; k < n; k++) {
            if (k == i || (r->protect && r->protect[k]) || f[k]) continue;
            double c = 0;
            for (int j = 0; j < d; j++) c += (double)unit[(size_t)i * d + j] * unit[(size_t)k * d + j];
            red += c;
        }
        red = nc > 1 ? red / (nc - 1) : 0;
        score[i] = (float)(s->lambda * imp[i] - (1 - s->lambda) * red);
    }
    sc c = {score};
    int k = kvp_choose(r, budget, f, by_score, &c, keep);
    free(f); free(imp); free(score); free(unit);
    return k;
}
