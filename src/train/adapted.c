/* train/adapted.c — a frozen base in the training engine with an adapter on some of its matrices
 * (ponder/adapted.h): binding the adapter's slots to the engine's tensors, W_eff = W0 + Δ_eff, the
 * gradient pulled back onto the factors and AdamW on the factors only, and the factors' moments in
 * checkpoints. Shared by `ponder finetune` (peft.c) and `ponder rl --adapter` (rl.c, rl_run.c). */
#include "train_int.h"
#include "ponder/adapted.h"
#include "ponder/alloc.h"
#include "ponder/dist.h"
#include "ponder/gguf.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pd_adapted_spec_default(pd_adapted_spec *s) {
    memset(s, 0, sizeof *s);
    s->method = PD_ADAPTER_LORA;
    s->targets = (1u << PD_AT_Q) | (1u << PD_AT_V);
    s->rank = 8;
    s->alpha = 16;
    pd_soka_opts_default(&s->soka);
    s->svd = PD_SVD_AUTO;
    s->seed = 1;
}

void pd_adapted_free(pd_adapted *p) {
    for (int i = 0; i < p->n; i++) {
        free(p->s[i].W0); free(p->s[i].mA); free(p->s[i].vA); free(p->s[i].mB); free(p->s[i].vB);
    }
    free(p->s);
    pd_adapter_free(p->a);
    pd_tmodel_free(p->m);
    memset(p, 0, sizeof *p);
}

pd_status pd_adapted_load(pd_adapted *p, const char *base, int B, int T) {
    p->m = pd_tmodel_load_frozen(base, B, T);
    return p->m ? PD_OK : pd_fail_ctx(PD_ERR_FORMAT, "base model");
}

pd_status pd_adapted_prepare(pd_adapted *p, const pd_adapted_spec *sp, bool fresh) {
    const pd_tcfg *c = pd_tmodel_cfg(p->m);
    if (fresh) {
        p->a = pd_adapter_new(sp->method, c->n_layer);
        if (!p->a) return PD_ERR_NOMEM;
        p->a->targets = sp->targets;
        p->a->rank = sp->method == PD_ADAPTER_SOKA ? sp->soka.terms : sp->rank;
        p->a->alpha = sp->method == PD_ADAPTER_LORA ? (sp->alpha > 0 ? sp->alpha : 2.0f * (float)sp->rank)
                                                    : (float)p->a->rank;
        p->a->soka = sp->soka;
    } else if (!p->a) {
        return pd_fail(PD_ERR_ARG, "adapter: no adapter to resume");
    } else if (p->a->n_layer != c->n_layer) {
        return pd_fail(PD_ERR_FORMAT, "adapter: it has %d layers, the base %d", p->a->n_layer, c->n_layer);
    }
    snprintf(p->a->arch, sizeof p->a->arch, "%s", c->arch);
    /* the adapted matrices get f32 copies (W_eff and its gradient); the rest of the base stays
     * frozen in its stored type */
    for (int l = 0; l < c->n_layer; l++)
        for (int t = 0; t < PD_AT_COUNT; t++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, pd_adapter_target_tensor(t));
            if (p->a->targets & (1u << t)) PD_TRY(pd_tmodel_thaw(p->m, name));
        }
    return PD_OK;
}

/* a fresh slot's factors from its base weights W0 (or SoKA's −upd) */
static pd_status init_slot(pd_adapted_slot *s, const pd_adapted_spec *sp, pd_adapter_method method, float alpha,
                           const pd_ttensor *te, const float *upd) {
    int64_t din = te->ne[0], dout = te->ne[1];
    if (method == PD_ADAPTER_LORA) {
        pd_rng r;
        pd_rng_seed(&r, pd_rng_derive(sp->seed, PD_STREAM_LORA_INIT + (uint64_t)(s->layer * PD_AT_COUNT + s->target)));
        return pd_adapter_lora_init(s->L, din, dout, sp->rank, alpha, &r);
    }
    if (method == PD_ADAPTER_PISSA) return pd_adapter_pissa_init(s->L, s->W0, din, dout, sp->rank, sp->svd);
    if (!upd) return pd_adapter_soka_init(s->L, s->W0, din, dout, &sp->soka, sp->svd);
    float *dw = pd_malloc(sizeof(float) * te->n);
    if (!dw) return PD_ERR_NOMEM;
    for (size_t k = 0; k < te->n; k++) dw[k] = -upd[te->offset + k];
    pd_status st = pd_adapter_soka_init(s->L, dw, din, dout, &sp->soka, sp->svd);
    free(dw);
    return st;
}

pd_status pd_adapted_bind(pd_adapted *p, const pd_adapted_spec *sp, bool fresh, const float *upd) {
    const pd_tcfg *c = pd_tmodel_cfg(p->m);
    int nt = 0;
    pd_ttensor *tt = pd_tcfg_tensors(c, &nt);
    if (!tt) return PD_ERR_NOMEM;
    p->s = pd_calloc((size_t)c->n_layer * PD_AT_COUNT, sizeof(pd_adapted_slot));
    pd_status st = PD_OK;
    if (!p->s) { st = PD_ERR_NOMEM; goto out; }
    const float *params = pd_tmodel_params(p->m);
    for (int l = 0; l < c->n_layer; l++)
        for (int t = 0; t < PD_AT_COUNT; t++) {
            if (!(p->a->targets & (1u << t))) continue;
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, pd_adapter_target_tensor(t));
            const pd_ttensor *te = NULL;
            for (int k = 0; k < nt; k++)
                if (!strcmp(tt[k].name, name)) te = &tt[k];
            if (!te || te->n_dims != 2) {
                st = pd_fail(PD_ERR_FORMAT, "adapter: the base has no matrix '%s'", name);
                goto out;
            }
            pd_adapted_slot *s = &p->s[p->n++];
            s->layer = l;
            s->target = t;
            s->off = te->offset;
            s->L = pd_adapter_slot(p->a, l, t);
            s->W0 = pd_malloc(sizeof(float) * te->n);
            if (!s->W0) { st = PD_ERR_NOMEM; goto out; }
            memcpy(s->W0, params + te->offset, sizeof(float) * te->n);
            if (fresh) {
                if ((st = init_slot(s, sp, p->a->method, p->a->alpha, te, upd)) != PD_OK) {
                    pd_fail_ctx(st, "adapter: %s", name);
                    goto out;
                }
            } else if (!s->L->A || s->L->d_in != te->ne[0] || s->L->d_out != te->ne[1]) {
                st = pd_fail(PD_ERR_FORMAT, "adapter: it does not fit the base's '%s' (%lldx%lld)", name,
                             (long long)te->ne[1], (long long)te->ne[0]);
                goto out;
            }
            int64_t na = pd_adapter_layer_a_size(s->L), nb = pd_adapter_layer_b_size(s->L);
            s->mA = pd_calloc((size_t)na, sizeof(float));
            s->vA = pd_calloc((size_t)na, sizeof(float));
            s->mB = pd_calloc((size_t)nb, sizeof(float));
            s->vB = pd_calloc((size_t)nb, sizeof(float));
            if (!s->mA || !s->vA || !s->mB || !s->vB) { st = PD_ERR_NOMEM; goto out; }
        }
    if (p->n == 0) st = pd_fail(PD_ERR_ARG, "adapter: no matrix selected by the targets");
out:
    free(tt);
    return st;
}

void pd_adapted_apply(pd_adapted *p) {
    float *params = pd_tmodel_params(p->m);
    for (int i = 0; i < p->n; i++) {
        pd_adapted_slot *s = &p->s[i];
        int64_t n = s->L->d_in * s->L->d_out;
        float *W = params + s->off;
        pd_adapter_delta_dense(s->L, W);
        for (int64_t k = 0; k < n; k++) W[k] += s->W0[k];
    }
}

static void adamw_arr(float *p, const float *g, float *m, float *v, int64_t n, float gscale, float lr, float b1,
                      float b2, float bc1, float bc2, float eps, float wd) {
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * gscale;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= lr * ((m[i] / bc1) / (sqrtf(v[i] / bc2) + eps) + wd * p[i]);
    }
}

double pd_adapted_step(pd_adapted *p, const pd_optcfg *o, int64_t step, float lr) {
    const float *grads = pd_tmodel_grads(p->m);
    double ss = 0;
    for (int i = 0; i < p->n; i++) {
        pd_adapter_zero_grad(p->s[i].L);
        pd_adapter_grad_from_dW(p->s[i].L, grads + p->s[i].off);
    }
    /* mpirun (dist hook): each rank pulled back its share of dW; the pull-back is linear, so summing the
     * factor gradients over the ranks gives the whole batch's — far fewer bytes than summing dW. A failed
     * sum (a rank died: the job is ending) gives a NaN norm, which stops the run. */
    for (int i = 0; i < p->n && pd_dist_on(); i++) {
        pd_adapter_layer *L = p->s[i].L;
        if (pd_dist_sum_f32(L->gA, (size_t)pd_adapter_layer_a_size(L)) != PD_OK ||
            pd_dist_sum_f32(L->gB, (size_t)pd_adapter_layer_b_size(L)) != PD_OK)
            return NAN;
    }
    for (int i = 0; i < p->n; i++) {
        pd_adapter_layer *L = p->s[i].L;
        for (int64_t k = 0; k < pd_adapter_layer_a_size(L); k++) ss += (double)L->gA[k] * L->gA[k];
        for (int64_t k = 0; k < pd_adapter_layer_b_size(L); k++) ss += (double)L->gB[k] * L->gB[k];
    }
    double norm = sqrt(ss);
    float gscale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    double t = (double)step + 1;
    float bc1 = (float)(1.0 - pow(o->beta1, t)), bc2 = (float)(1.0 - pow(o->beta2, t));
    for (int i = 0; i < p->n; i++) {
        pd_adapted_slot *s = &p->s[i];
        adamw_arr(s->L->A, s->L->gA, s->mA, s->vA, pd_adapter_layer_a_size(s->L), gscale, lr, o->beta1, o->beta2, bc1,
                  bc2, o->eps, o->weight_decay);
        adamw_arr(s->L->B, s->L->gB, s->mB, s->vB, pd_adapter_layer_b_size(s->L), gscale, lr, o->beta1, o->beta2, bc1,
                  bc2, o->eps, o->weight_decay);
    }
    return norm;
}

const float *pd_adapted_base(const pd_adapted *p, const char *name) {
    for (int i = 0; i < p->n; i++) {
        char n[96];
        snprintf(n, sizeof n, "blk.%d.%s.weight", p->s[i].layer, pd_adapter_target_tensor(p->s[i].target));
        if (!strcmp(n, name)) return p->s[i].W0;
    }
    return NULL;
}

/* the four moment arrays of slot s with their tensor names */
typedef struct { const char *name; float *d; int64_t n; } moment_t;
static void moments_of(const pd_adapted_slot *s, moment_t out[4], char names[4][128]) {
    int64_t na = pd_adapter_layer_a_size(s->L), nb = pd_adapter_layer_b_size(s->L);
    const char *tn = pd_adapter_target_tensor(s->target);
    float *d[4] = {s->mA, s->vA, s->mB, s->vB};
    for (int k = 0; k < 4; k++) {
        snprintf(names[k], 128, "opt.%s.blk.%d.%s.%s", k % 2 ? "v" : "m", s->layer, tn, k < 2 ? "A" : "B");
        out[k] = (moment_t){names[k], d[k], k < 2 ? na : nb};
    }
}

pd_status pd_adapted_save_moments(const pd_adapted *p, pd_gguf_writer *w) {
    for (int i = 0; i < p->n; i++) {
        moment_t mo[4];
        char names[4][128];
        moments_of(&p->s[i], mo, names);
        for (int k = 0; k < 4; k++) {
            int64_t ne[1] = {mo[k].n};
            PD_TRY(pd_gguf_add_tensor(w, mo[k].name, PD_TYPE_F32, 1, ne, mo[k].d));
        }
    }
    return PD_OK;
}

pd_status pd_adapted_restore_moments(pd_adapted *p, const pd_gguf *g, const char *path) {
    for (int i = 0; i < p->n; i++) {
        moment_t mo[4];
        char names[4][128];
        moments_of(&p->s[i], mo, names);
        for (int k = 0; k < 4; k++) {
            const pd_gguf_tensor *t = pd_gguf_find_tensor(g, mo[k].name);
            if (t && t->type != PD_TYPE_F32)
                return pd_fail(PD_ERR_FORMAT, "%s: optimizer state '%s' is %s, not F32 (a quantised checkpoint?): it "
                                              "cannot be resumed from", path, mo[k].name, pd_type_name(t->type));
            if (!t || t->ne[0] != mo[k].n)
                return pd_fail(PD_ERR_FORMAT, "%s: optimizer tensor '%s' is missing or has the wrong size", path,
                               mo[k].name);
            memcpy(mo[k].d, t->data, sizeof(float) * (size_t)mo[k].n);
        }
    }
    return PD_OK;
}
