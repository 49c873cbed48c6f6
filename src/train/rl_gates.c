/* train/rl_gates.c — RLKV gates (ponder/rl_gates.h): the L × H_kv gates with their gradient and AdamW
 * moments, the mixed attention's buffers attached to a training model (the forward/backward is
 * rlkv_mix_tmpl.h inside the model template), the adaptive L1 weight β', the optimizer step with
 * clipping to [0, 1], and the gates TSV that `--kv-policy rlkv:gates=FILE` reads. */
#include "train_int.h"
#include "ponder/rl_gates.h"
#include "ponder/alloc.h"
#include "ponder/outfile.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pd_rl_gates {
    pd_tmodel *m;
    int L, KV, n;
    pd_rl_gates_cfg c;
    float *alpha, *grad, *mom1, *mom2;
    struct pd_tr_mix mix;
};

void pd_rl_gates_cfg_default(pd_rl_gates_cfg *c) {
    memset(c, 0, sizeof *c);
    c->sink = 128;     /* inference.md §4: training window S = 128, R = 256 */
    c->recent = 256;
    c->beta = 1e-3;    /* R1-Llama-8B / R1-Qwen-7B */
    c->tau = 0.5;
    c->init = 1.0;     /* proposed default (DuoAttention's) */
}

double pd_rl_gates_beta_eff(double beta, double tau, double rbar) {
    return rbar > tau ? beta * (exp(rbar) - 1) : 0.0;
}

pd_rl_gates *pd_rl_gates_new(pd_tmodel *m, const pd_rl_gates_cfg *c) {
    if (c->sink < 0 || c->recent < 0 || c->sink + c->recent < 1) {
        pd_fail(PD_ERR_ARG, "rlkv gates: the training window needs sink >= 0, recent >= 0 and sink + recent >= 1 "
                            "(got %d, %d)", c->sink, c->recent);
        return NULL;
    }
    if (!(c->beta >= 0) || !isfinite(c->beta) || !isfinite(c->tau) || !(c->init >= 0 && c->init <= 1)) {
        pd_fail(PD_ERR_ARG, "rlkv gates: need beta >= 0, a finite tau and an initial gate in [0, 1]");
        return NULL;
    }
    if (m->p.mix) { pd_fail(PD_ERR_STATE, "rlkv gates: the model already has gates attached"); return NULL; }
    pd_rl_gates *g = pd_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->m = m;
    g->c = *c;
    g->L = m->cfg.n_layer;
    g->KV = m->cfg.n_head_kv;
    g->n = g->L * g->KV;
    size_t sa, sy, sd;
    pd_tr_mix_sizes(&m->cfg, m->B, m->T, &sa, &sy, &sd);
    g->alpha = pd_malloc(sizeof(float) * (size_t)g->n);
    g->grad = pd_calloc((size_t)g->n, sizeof(float));
    g->mom1 = pd_calloc((size_t)g->n, sizeof(float));
    g->mom2 = pd_calloc((size_t)g->n, sizeof(float));
    g->mix.att_local = pd_calloc(sa, sizeof(float));
    g->mix.ydiff = pd_calloc(sy, sizeof(float));
    g->mix.dy = pd_calloc(sd, sizeof(float));
    if (!g->alpha || !g->grad || !g->mom1 || !g->mom2 || !g->mix.att_local || !g->mix.ydiff || !g->mix.dy) {
        pd_fail(PD_ERR_NOMEM, "rlkv gates: out of memory for the mixed attention of a %d x %d batch (%zu floats)",
                m->B, m->T, sa + sy + sd);
        pd_rl_gates_free(g);
        return NULL;
    }
    for (int i = 0; i < g->n; i++) g->alpha[i] = (float)c->init;
    g->mix.alpha = g->alpha;
    g->mix.dalpha = g->grad;
    g->mix.sink = c->sink;
    g->mix.recent = c->recent;
    m->p.mix = &g->mix;
    m->p.no_wgrad = true;
    return g;
}

void pd_rl_gates_free(pd_rl_gates *g) {
    if (!g) return;
    if (g->m && g->m->p.mix == &g->mix) {
        g->m->p.mix = NULL;
        g->m->p.no_wgrad = false;
    }
    free(g->alpha); free(g->grad); free(g->mom1); free(g->mom2);
    free(g->mix.att_local); free(g->mix.ydiff); free(g->mix.dy);
    free(g);
}

int pd_rl_gates_count(const pd_rl_gates *g) { return g->n; }
float *pd_rl_gates_alpha(pd_rl_gates *g) { return g->alpha; }
float *pd_rl_gates_grad(pd_rl_gates *g) { return g->grad; }
void pd_rl_gates_zero_grad(pd_rl_gates *g) { memset(g->grad, 0, sizeof(float) * (size_t)g->n); }

void pd_rl_gates_clip(float *alpha, int n) {
    for (int i = 0; i < n; i++) {
        if (alpha[i] < 0) alpha[i] = 0;
        else if (alpha[i] > 1) alpha[i] = 1;
    }
}

pd_status pd_rl_gates_step(pd_rl_gates *g, const pd_optcfg *o, int64_t step, float lr, double rbar, double *gnorm,
                           double *beta_eff, double *penalty) {
    int n = g->n;
    double be = pd_rl_gates_beta_eff(g->c.beta, g->c.tau, rbar), l1 = 0;
    for (int i = 0; i < n; i++) l1 += fabs((double)g->alpha[i]);
    if (beta_eff) *beta_eff = be;
    if (penalty) *penalty = be * l1 / n;
    double norm2 = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(g->grad[i]))
            return pd_fail(PD_ERR_STATE, "rlkv gates: step %lld: the gradient of gate (layer %d, kv head %d) is not "
                                         "finite (%g)", (long long)step + 1, i / g->KV, i % g->KV, (double)g->grad[i]);
        double sg = g->alpha[i] > 0 ? 1 : g->alpha[i] < 0 ? -1 : 0;
        g->grad[i] += (float)(be * sg / n);
        norm2 += (double)g->grad[i] * g->grad[i];
    }
    double norm = sqrt(norm2);
    if (gnorm) *gnorm = norm;
    float gscale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    double t = (double)step + 1;
    float bc1 = (float)(1.0 - pow(o->beta1, t)), bc2 = (float)(1.0 - pow(o->beta2, t));
    for (int i = 0; i < n; i++) {
        float gi = g->grad[i] * gscale;
        g->mom1[i] = o->beta1 * g->mom1[i] + (1 - o->beta1) * gi;
        g->mom2[i] = o->beta2 * g->mom2[i] + (1 - o->beta2) * gi * gi;
        float mh = g->mom1[i] / bc1, vh = g->mom2[i] / bc2;
        g->alpha[i] -= lr * (mh / (sqrtf(vh) + o->eps) + o->weight_decay * g->alpha[i]);
    }
    pd_rl_gates_clip(g->alpha, n);
    return PD_OK;
}

pd_status pd_rl_gates_write_tsv(const char *path, const float *alpha, int L, int H_kv, const char *comment) {
    pd_outfile *of = pd_out_open(path);
    if (!of) return PD_ERR_IO;
    FILE *f = pd_out_fp(of);
    if (comment) fprintf(f, "# %s\n", comment);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H_kv; h++) fprintf(f, "%.6f%c", (double)alpha[l * H_kv + h], h == H_kv - 1 ? '\n' : '\t');
    return pd_out_commit(of);
}

pd_status pd_rl_gates_write(const pd_rl_gates *g, const char *path, const char *comment) {
    return pd_rl_gates_write_tsv(path, g->alpha, g->L, g->KV, comment);
}
