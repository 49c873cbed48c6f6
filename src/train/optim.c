/* train/optim.c — AdamW (decoupled weight decay, none on norms and biases), clipping by global
 * gradient norm, and the learning-rate schedule (linear warm-up, then cosine decay to a floor).
 * Parameters, grads and both moments share one layout, so the update is one loop per tensor. */
#include "train_int.h"
#include <math.h>

void pd_optcfg_default(pd_optcfg *o) {
    o->lr = 1e-3f;
    o->min_lr_frac = 0.1f;
    o->warmup = 0;
    o->total_steps = 1000;
    o->beta1 = 0.9f;
    o->beta2 = 0.95f;
    o->eps = 1e-8f;
    o->weight_decay = 0.1f;
    o->clip = 1.0f;
}

float pd_lr_at(const pd_optcfg *o, int64_t step) {
    if (o->warmup > 0 && step < o->warmup) return o->lr * (float)(step + 1) / (float)o->warmup;
    int64_t span = o->total_steps - o->warmup;
    if (span <= 0) return o->lr;
    double frac = (double)(step - o->warmup) / (double)span;
    if (frac > 1) frac = 1;
    if (frac < 0) frac = 0;
    double lo = (double)o->lr * o->min_lr_frac;
    return (float)(lo + 0.5 * (o->lr - lo) * (1.0 + cos(M_PI * frac)));
}

/* Fixed-size chunks summed in order: the result does not depend on the thread count. */
double pd_tmodel_grad_norm(pd_tmodel *m) {
    const size_t chunk = 1 << 14;
    size_t n = m->n_params, nc = (n + chunk - 1) / chunk;
    double total = 0;
    double part[64];
    for (size_t c0 = 0; c0 < nc; c0 += 64) {
        size_t cn = nc - c0 < 64 ? nc - c0 : 64;
#pragma omp parallel for schedule(static)
        for (size_t ci = 0; ci < cn; ci++) {
            size_t a = (c0 + ci) * chunk, b = a + chunk < n ? a + chunk : n;
            double s = 0;
            for (size_t i = a; i < b; i++) s += (double)m->grads[i] * m->grads[i];
            part[ci] = s;
        }
        for (size_t ci = 0; ci < cn; ci++) total += part[ci];
    }
    return sqrt(total);
}

double pd_tmodel_adamw(pd_tmodel *m, const pd_optcfg *o, int64_t step, float lr) {
    if (!m->m) return NAN; /* a frozen base (pd_tmodel_load_frozen) has no moments */
    pd_tmodel_touch(m); /* the weights change: --precision bf16 remakes their BF16 copy */
    double norm = pd_tmodel_grad_norm(m);
    float gscale = 1.0f;
    if (o->clip > 0 && norm > o->clip) gscale = (float)(o->clip / norm);
    double t = (double)step + 1;
    float bc1 = (float)(1.0 - pow(o->beta1, t)), bc2 = (float)(1.0 - pow(o->beta2, t));
    float b1 = o->beta1, b2 = o->beta2, eps = o->eps;
    for (int k = 0; k < m->n_tensors; k++) {
        const pd_ttensor *te = &m->tensors[k];
        float *p = m->params + te->offset, *g = m->grads + te->offset, *mm = m->m + te->offset, *vv = m->v + te->offset;
        float wd = te->decay ? o->weight_decay : 0.0f;
        int64_t n = (int64_t)te->n;
        /* per element: g·gscale into the moments, then p -= lr·(m̂/(√v̂ + eps) + wd·p) (tops.c, AVX2) */
        const pd_trk_adamw_args aa = {gscale, b1, b2, bc1, bc2, lr, wd, eps};
        const int64_t chunk = 1 << 14;
#pragma omp parallel for schedule(static) if (n > chunk)
        for (int64_t c0 = 0; c0 < n; c0 += chunk)
            pd_trk_adamw(p + c0, g + c0, mm + c0, vv + c0, n - c0 < chunk ? n - c0 : chunk, &aa);
    }
    return norm;
}
