/* train/rl_gates.c — RLKV gates (ponder/rl_gates.h): the L × H_kv gates with their gradient and AdamW
 * moments, the mixed attention's buffers attached to a training model (the forward/backward is
 * rlkv_mix_tmpl.h inside the model template), the adaptive L1 weight β', the optimizer step with
 * clipping to [0, 1], and the gates TSV that `--kv-policy rlkv:gates=FILE` reads. */
#include "train_int.h"
#include "ponder/rl_gates.h"
#include "ponder/alloc.h"
#include "ponder/outfile.h"
#include "ponder/sampler.h"
#include "ponder/tok.h"
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
    c->mixed_rollouts = true;
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

/* ---- rollouts from the mixed model ----
 * A KV-cached decoder over the training model's own weights (f32 params, no frozen matrices: gates
 * train on a full model) with the learner's mixed attention, so that the rewards see the gates (as
 * the adaptive penalty assumes: it switches off when the gated model's rewards collapse). Each layer
 * as the template's model_forward does it for one position: RMSNorm, q/k/v (+ biases), per-head
 * q/k norms, RoPE from the model's table, then for each query head the full attention over [0, pos]
 * and the windowed one over attn_span's keys, mixed with its KV group's gate; wo, residual, SwiGLU
 * FFN, residual; final norm and output. One sequence per call, every loop serial (callers run
 * sequences in parallel). */

/* y[out] = W[out][in]·x (+ b) */
static void matvec(float *y, const float *W, const float *b, const float *x, int in, int out) {
    for (int o = 0; o < out; o++) {
        const float *w = W + (size_t)o * in;
        float s = 0;
        for (int i = 0; i < in; i++) s += w[i] * x[i];
        y[o] = s + (b ? b[o] : 0);
    }
}

static void rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int j = 0; j < n; j++) ss += (double)x[j] * x[j];
    float s = (float)(1.0 / sqrt(ss / n + eps));
    for (int j = 0; j < n; j++) y[j] = x[j] * s * w[j];
}

/* RoPE of n_heads vectors at position pos (the template's pairing: NEOX (i, i + hd/2), NORM (2i, 2i+1)) */
static void rope_at(float *x, const float *cs, int pos, int n_heads, int hd, bool neox) {
    int half = hd / 2;
    const float *c = cs + (size_t)pos * half * 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + h * hd;
        for (int p = 0; p < half; p++) {
            int ia = neox ? p : 2 * p, ib = neox ? p + half : 2 * p + 1;
            float a = v[ia], bb = v[ib];
            v[ia] = a * c[2 * p] - bb * c[2 * p + 1];
            v[ib] = a * c[2 * p + 1] + bb * c[2 * p];
        }
    }
}

/* softmax(q·k_s·scale) over the keys s in [0, e1) ∪ [b2, t], the weighted sum of v_s into o */
static void attend(float *o, float *sc, const float *q, const float *kc, const float *vc, int t, int e1, int b2, int Hk,
                   int kh, int hd, float scale) {
    float mx = -INFINITY;
    for (int s = 0; s <= t; s = s + 1 == e1 ? b2 : s + 1) {
        const float *k = kc + (size_t)s * Hk + kh * hd;
        float d = 0;
        for (int j = 0; j < hd; j++) d += q[j] * k[j];
        sc[s] = d * scale;
        if (sc[s] > mx) mx = sc[s];
    }
    float sum = 0;
    for (int s = 0; s <= t; s = s + 1 == e1 ? b2 : s + 1) { sc[s] = expf(sc[s] - mx); sum += sc[s]; }
    for (int j = 0; j < hd; j++) o[j] = 0;
    for (int s = 0; s <= t; s = s + 1 == e1 ? b2 : s + 1) {
        const float *v = vc + (size_t)s * Hk + kh * hd;
        float p = sc[s] / sum;
        for (int j = 0; j < hd; j++) o[j] += p * v[j];
    }
}

pd_status pd_rl_gates_generate(pd_rl_gates *g, const pd_tokenizer *tok, const int32_t *prompt, int n_prompt,
                               int max_new, const pd_sampler_params *sp, int32_t *out_tok, float *out_lp, int *n_out,
                               bool *truncated) {
    const pd_tmodel *m = g->m;
    const pd_tcfg *c = &m->cfg;
    const pd_tr_params *p = &m->p;
    int D = c->dim, H = c->n_head, KV = c->n_head_kv, hd = c->head_dim, F = c->n_ff, V = c->n_vocab, L = c->n_layer;
    int Hq = H * hd, Hk = KV * hd, grp = H / KV, n_ctx = m->T;
    float scale = (float)(1.0 / sqrt((double)hd));
    *n_out = 0;
    *truncated = false;
    if (n_prompt < 1 || n_prompt >= n_ctx)
        return pd_fail(PD_ERR_RANGE, "rlkv gates: a prompt of %d tokens does not fit %d positions", n_prompt, n_ctx);
    size_t kvn = (size_t)L * n_ctx * Hk;
    float *kc = pd_malloc(sizeof(float) * kvn), *vc = pd_malloc(sizeof(float) * kvn);
    float *buf = pd_malloc(sizeof(float) * ((size_t)4 * D + 3 * Hq + 2 * Hk + 3 * (size_t)F + V + n_ctx + 2 * hd));
    pd_sampler *smp = pd_sampler_new(sp, V);
    if (!kc || !vc || !buf || !smp) {
        free(kc); free(vc); free(buf); pd_sampler_free(smp);
        return smp ? PD_ERR_NOMEM : PD_ERR_ARG;
    }
    float *x = buf, *ln = x + D, *mid = ln + D, *tmp = mid + D, *q = tmp + D, *att = q + Hq, *o = att + Hq,
          *k = o + Hq, *v = k + Hk, *ga = v + Hk, *up = ga + F, *sw = up + F, *logits = sw + F, *sc = logits + V,
          *of = sc + n_ctx, *ol = of + hd;
    memcpy(out_tok, prompt, sizeof(int32_t) * (size_t)n_prompt);
    int n = n_prompt;
    pd_status st = PD_OK;
    for (int pos = 0; st == PD_OK; pos++) {
        memcpy(x, p->tok_embd + (size_t)out_tok[pos] * D, sizeof(float) * (size_t)D);
        for (int l = 0; l < L; l++) {
            float *kl = kc + (size_t)l * n_ctx * Hk, *vl = vc + (size_t)l * n_ctx * Hk;
            rmsnorm(ln, x, p->attn_norm + (size_t)l * D, D, c->norm_eps);
            matvec(q, p->wq + (size_t)l * Hq * D, p->bq ? p->bq + (size_t)l * Hq : NULL, ln, D, Hq);
            matvec(k, p->wk + (size_t)l * Hk * D, p->bk ? p->bk + (size_t)l * Hk : NULL, ln, D, Hk);
            matvec(vl + (size_t)pos * Hk, p->wv + (size_t)l * Hk * D, p->bv ? p->bv + (size_t)l * Hk : NULL, ln, D, Hk);
            if (c->qk_norm) {
                for (int h = 0; h < H; h++) rmsnorm(q + h * hd, q + h * hd, p->q_norm + (size_t)l * hd, hd, c->norm_eps);
                for (int h = 0; h < KV; h++) rmsnorm(k + h * hd, k + h * hd, p->k_norm + (size_t)l * hd, hd, c->norm_eps);
            }
            rope_at(q, m->cs, pos, H, hd, c->rope_neox);
            rope_at(k, m->cs, pos, KV, hd, c->rope_neox);
            memcpy(kl + (size_t)pos * Hk, k, sizeof(float) * (size_t)Hk);
            int e1, b2;
            pd_tr_attn_span(0, pos, g->c.sink, g->c.recent, &e1, &b2);
            for (int h = 0; h < H; h++) {
                float a = g->alpha[l * KV + h / grp];
                attend(of, sc, q + h * hd, kl, vl, pos, pos + 1, pos + 1, Hk, h / grp, hd, scale);
                attend(ol, sc, q + h * hd, kl, vl, pos, e1, b2, Hk, h / grp, hd, scale);
                for (int j = 0; j < hd; j++) att[h * hd + j] = a * of[j] + (1 - a) * ol[j];
            }
            matvec(tmp, p->wo + (size_t)l * D * Hq, NULL, att, Hq, D);
            for (int j = 0; j < D; j++) mid[j] = x[j] + tmp[j];
            rmsnorm(ln, mid, p->ffn_norm + (size_t)l * D, D, c->norm_eps);
            matvec(ga, p->w_gate + (size_t)l * F * D, NULL, ln, D, F);
            matvec(up, p->w_up + (size_t)l * F * D, NULL, ln, D, F);
            for (int j = 0; j < F; j++) sw[j] = ga[j] / (1 + expf(-ga[j])) * up[j];
            matvec(tmp, p->w_down + (size_t)l * D * F, NULL, sw, F, D);
            for (int j = 0; j < D; j++) x[j] = mid[j] + tmp[j];
        }
        if (pos + 1 < n) continue;   /* still reading the prompt */
        if (n - n_prompt >= max_new || n >= n_ctx) { *truncated = true; break; }
        rmsnorm(ln, x, p->out_norm, D, c->norm_eps);
        matvec(logits, p->output, NULL, ln, D, V);
        pd_sample s;
        int32_t t = pd_sampler_sample(smp, logits, &s);
        if (t < 0) { st = pd_fail(PD_ERR_STATE, "rlkv gates: sampling failed"); break; }
        pd_sampler_accept(smp, t);
        out_lp[n - n_prompt] = s.logprob;
        out_tok[n++] = t;
        if (tok && pd_tok_is_eog(tok, t)) break;
    }
    *n_out = n;
    free(kc); free(vc); free(buf);
    pd_sampler_free(smp);
    return st;
}
