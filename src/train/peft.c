/* train/peft.c — the fine-tuning run behind `ponder finetune`: a frozen base in the training engine,
 * an adapter (LoRA / PiSSA / SoKA) on the chosen matrices, the step loop (W_eff = W0 + Δ_eff,
 * engine forward/backward, gradients pulled back onto the factors, AdamW on the factors only),
 * held-out loss and greedy accuracy, JSONL log, progress, adapter files and resumable checkpoints.
 * See ponder/adapter.h for the scheme. Same data, schedule and evaluation as train/trainer.c. */
#include "train_int.h"
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/data.h"
#include "ponder/gguf.h"
#include "ponder/model.h"
#include "ponder/progress.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pd_finetune_opts_default(pd_finetune_opts *o) {
    memset(o, 0, sizeof *o);
    o->method = PD_ADAPTER_LORA;
    o->targets = (1u << PD_AT_Q) | (1u << PD_AT_V);
    o->rank = 8;
    o->alpha = 0; /* 0: 2·rank */
    pd_soka_opts_default(&o->soka);
    o->svd = PD_SVD_AUTO;
    o->calib_batches = 8;
    pd_run_opts_default(&o->run, 200);
    o->run.opt.weight_decay = 0;
}

typedef struct {
    pd_adapter_layer *L;
    size_t off;                 /* of W in the engine's params */
    float *W0;                  /* base weights (f32) */
    float *mA, *vA, *mB, *vB;   /* AdamW moments */
    int layer, target;
} slot_t;

typedef struct {
    pd_adapter *a;
    slot_t *s;
    int n;
    pd_tmodel *m;
} peft_t;

static void peft_free(peft_t *p) {
    for (int i = 0; i < p->n; i++) {
        free(p->s[i].W0); free(p->s[i].mA); free(p->s[i].vA); free(p->s[i].mB); free(p->s[i].vB);
    }
    free(p->s);
    pd_adapter_free(p->a);
    pd_tmodel_free(p->m);
    memset(p, 0, sizeof *p);
}

/* Find the adapted matrices in the engine's tensor table; copy their base weights. If `a` has no
 * layers yet (fresh run) they are initialised from those weights, or for SoKA with `upd` from
 * −upd (upd: the engine's accumulated weight gradients over the calibration batches). */
static pd_status peft_bind(peft_t *p, const pd_finetune_opts *o, bool fresh, const float *upd) {
    const pd_tcfg *c = pd_tmodel_cfg(p->m);
    int nt = 0;
    pd_ttensor *tt = pd_tcfg_tensors(c, &nt);
    if (!tt) return PD_ERR_NOMEM;
    p->s = pd_calloc((size_t)c->n_layer * PD_AT_COUNT, sizeof(slot_t));
    pd_status st = PD_OK;
    if (!p->s) { st = PD_ERR_NOMEM; goto out; }
    float *params = pd_tmodel_params(p->m);
    for (int l = 0; l < c->n_layer; l++)
        for (int t = 0; t < PD_AT_COUNT; t++) {
            if (!(p->a->targets & (1u << t))) continue;
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, pd_adapter_target_tensor(t));
            const pd_ttensor *te = NULL;
            for (int k = 0; k < nt; k++)
                if (!strcmp(tt[k].name, name)) te = &tt[k];
            if (!te || te->n_dims != 2) {
                st = pd_fail(PD_ERR_FORMAT, "finetune: the base has no matrix '%s'", name);
                goto out;
            }
            int64_t din = te->ne[0], dout = te->ne[1];
            slot_t *s = &p->s[p->n++];
            s->layer = l;
            s->target = t;
            s->off = te->offset;
            s->L = pd_adapter_slot(p->a, l, t);
            s->W0 = pd_malloc(sizeof(float) * te->n);
            if (!s->W0) { st = PD_ERR_NOMEM; goto out; }
            memcpy(s->W0, params + te->offset, sizeof(float) * te->n);
            if (fresh) {
                if (p->a->method == PD_ADAPTER_LORA) {
                    pd_rng r;
                    pd_rng_seed(&r, pd_rng_derive(o->run.seed, PD_STREAM_LORA_INIT + (uint64_t)(l * PD_AT_COUNT + t)));
                    st = pd_adapter_lora_init(s->L, din, dout, o->rank, p->a->alpha, &r);
                } else if (p->a->method == PD_ADAPTER_PISSA) {
                    st = pd_adapter_pissa_init(s->L, s->W0, din, dout, o->rank, o->svd);
                } else if (upd) {
                    float *dw = pd_malloc(sizeof(float) * te->n);
                    if (!dw) { st = PD_ERR_NOMEM; goto out; }
                    for (size_t k = 0; k < te->n; k++) dw[k] = -upd[te->offset + k];
                    st = pd_adapter_soka_init(s->L, dw, din, dout, &o->soka, o->svd);
                    free(dw);
                } else {
                    st = pd_adapter_soka_init(s->L, s->W0, din, dout, &o->soka, o->svd);
                }
                if (st != PD_OK) { pd_fail_ctx(st, "finetune: %s", name); goto out; }
            } else if (!s->L->A || s->L->d_in != din || s->L->d_out != dout) {
                st = pd_fail(PD_ERR_FORMAT, "finetune: the adapter does not fit the base's '%s' (%lldx%lld)", name,
                             (long long)dout, (long long)din);
                goto out;
            }
            int64_t na = pd_adapter_layer_a_size(s->L), nb = pd_adapter_layer_b_size(s->L);
            s->mA = pd_calloc((size_t)na, sizeof(float));
            s->vA = pd_calloc((size_t)na, sizeof(float));
            s->mB = pd_calloc((size_t)nb, sizeof(float));
            s->vB = pd_calloc((size_t)nb, sizeof(float));
            if (!s->mA || !s->vA || !s->mB || !s->vB) { st = PD_ERR_NOMEM; goto out; }
        }
    if (p->n == 0) st = pd_fail(PD_ERR_ARG, "finetune: no matrix selected by the targets");
out:
    free(tt);
    return st;
}

/* W_eff = W0 + Δ_eff for every adapted matrix */
static pd_status peft_apply(peft_t *p) {
    float *params = pd_tmodel_params(p->m);
    for (int i = 0; i < p->n; i++) {
        slot_t *s = &p->s[i];
        int64_t n = s->L->d_in * s->L->d_out;
        float *W = params + s->off;
        pd_adapter_delta_dense(s->L, W);
        for (int64_t k = 0; k < n; k++) W[k] += s->W0[k];
    }
    return PD_OK;
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

/* pull the engine's W_eff gradients back onto the factors, then one AdamW step; returns the norm */
static double peft_step(peft_t *p, const pd_optcfg *o, int64_t step, float lr) {
    const float *grads = pd_tmodel_grads(p->m);
    double ss = 0;
    for (int i = 0; i < p->n; i++) {
        pd_adapter_layer *L = p->s[i].L;
        pd_adapter_zero_grad(L);
        pd_adapter_grad_from_dW(L, grads + p->s[i].off);
        for (int64_t k = 0; k < pd_adapter_layer_a_size(L); k++) ss += (double)L->gA[k] * L->gA[k];
        for (int64_t k = 0; k < pd_adapter_layer_b_size(L); k++) ss += (double)L->gB[k] * L->gB[k];
    }
    double norm = sqrt(ss);
    float gscale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
    double t = (double)step + 1;
    float bc1 = (float)(1.0 - pow(o->beta1, t)), bc2 = (float)(1.0 - pow(o->beta2, t));
    for (int i = 0; i < p->n; i++) {
        slot_t *s = &p->s[i];
        adamw_arr(s->L->A, s->L->gA, s->mA, s->vA, pd_adapter_layer_a_size(s->L), gscale, lr, o->beta1, o->beta2, bc1,
                  bc2, o->eps, o->weight_decay);
        adamw_arr(s->L->B, s->L->gB, s->mB, s->vB, pd_adapter_layer_b_size(s->L), gscale, lr, o->beta1, o->beta2, bc1,
                  bc2, o->eps, o->weight_decay);
    }
    return norm;
}

/* ---- checkpoints ---- */
typedef struct {
    peft_t *p;
    int64_t step;
    const pd_rng *rng;
    const char *config_json;
} ckpt_ctx;

static pd_status ckpt_extra(pd_gguf_writer *w, void *vctx) {
    ckpt_ctx *c = vctx;
    PD_TRY(pd_gguf_set_u64(w, "ponder.finetune.step", (uint64_t)c->step));
    PD_TRY(pd_gguf_set_arr(w, "ponder.finetune.rng", PD_GGUF_U64, c->rng->s, 4));
    PD_TRY(pd_gguf_set_str(w, "ponder.finetune.config", c->config_json));
    for (int i = 0; i < c->p->n; i++) {
        slot_t *s = &c->p->s[i];
        int64_t na = pd_adapter_layer_a_size(s->L), nb = pd_adapter_layer_b_size(s->L);
        const char *tn = pd_adapter_target_tensor(s->target);
        char name[128];
        struct { const char *k; const float *d; int64_t n; } parts[4] = {
            {"m", s->mA, na}, {"v", s->vA, na}, {"m", s->mB, nb}, {"v", s->vB, nb}};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "opt.%s.blk.%d.%s.%s", parts[k].k, s->layer, tn, k < 2 ? "A" : "B");
            int64_t ne[1] = {parts[k].n};
            PD_TRY(pd_gguf_add_tensor(w, name, PD_TYPE_F32, 1, ne, parts[k].d));
        }
    }
    return PD_OK;
}

static pd_status restore_moments(peft_t *p, const pd_gguf *g, const char *path) {
    for (int i = 0; i < p->n; i++) {
        slot_t *s = &p->s[i];
        int64_t na = pd_adapter_layer_a_size(s->L), nb = pd_adapter_layer_b_size(s->L);
        const char *tn = pd_adapter_target_tensor(s->target);
        struct { const char *k; float *d; int64_t n; const char *f; } parts[4] = {
            {"m", s->mA, na, "A"}, {"v", s->vA, na, "A"}, {"m", s->mB, nb, "B"}, {"v", s->vB, nb, "B"}};
        for (int k = 0; k < 4; k++) {
            char name[128];
            snprintf(name, sizeof name, "opt.%s.blk.%d.%s.%s", parts[k].k, s->layer, tn, parts[k].f);
            const pd_gguf_tensor *t = pd_gguf_find_tensor(g, name);
            if (t && t->type != PD_TYPE_F32)
                return pd_fail(PD_ERR_FORMAT, "%s: optimizer state '%s' is %s, not F32 (a quantised checkpoint?): it "
                                              "cannot be resumed from", path, name, pd_type_name(t->type));
            if (!t || t->ne[0] != parts[k].n)
                return pd_fail(PD_ERR_FORMAT, "%s: optimizer tensor '%s' is missing or has the wrong size", path, name);
            memcpy(parts[k].d, t->data, sizeof(float) * (size_t)parts[k].n);
        }
    }
    return PD_OK;
}

static char *config_json(const pd_finetune_opts *o) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "base", o->base);
    pd_run_opts_to_json(j, &o->run);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static pd_status restore_config(pd_finetune_opts *o, const char *js, const char *path, char **keep,
                                int64_t *schedule) {
    cJSON *j = cJSON_Parse(js);
    if (!j) return pd_fail(PD_ERR_FORMAT, "%s: key 'ponder.finetune.config' is not valid JSON", path);
    pd_run_opts *r = &o->run;
    pd_status st = pd_run_opts_from_json(j, r, &keep[0]);
    *schedule = pd_run_json_steps(j);
    const cJSON *x;
    if (st == PD_OK && !o->base && (x = cJSON_GetObjectItem(j, "base")) && cJSON_IsString(x) &&
        !(o->base = keep[1] = pd_strdup(x->valuestring)))
        st = PD_ERR_NOMEM;
    cJSON_Delete(j);
    if (st != PD_OK) return st;
    if (r->B <= 0 || r->T <= 1 || r->accum <= 0 || r->dlo > r->dhi || !o->base)
        return pd_fail(PD_ERR_FORMAT, "%s: key 'ponder.finetune.config' holds invalid settings", path);
    return PD_OK;
}

static pd_status save_all(peft_t *p, const pd_finetune_opts *o, int64_t step, const pd_rng *rng, const char *cj,
                          const char *ckpt_path) {
    PD_TRY(pd_adapter_save(p->a, o->run.out));
    ckpt_ctx c = {p, step, rng, cj};
    return pd_adapter_save_ex(p->a, ckpt_path, ckpt_extra, &c);
}

typedef struct {
    peft_t *p;
    const pd_finetune_opts *o;
    const pd_rng *rng;
    const char *cj, *ckpt_path;
} save_ctx;

static pd_status save_hook(void *vctx, int64_t steps_done, bool final) {
    (void)final;
    save_ctx *c = vctx;
    return save_all(c->p, c->o, steps_done, c->rng, c->cj, c->ckpt_path);
}

static void apply_hook(void *vctx) { peft_apply(((save_ctx *)vctx)->p); }

/* the checkpoint's settings, adapter, rng and step (its moments are restored after peft_bind) */
static pd_status resume_from(pd_finetune_opts *o, pd_gguf **rgp, char **keep, peft_t *p, pd_rng *rng,
                             int64_t *start, int64_t *schedule) {
    const char *path = o->run.resume;
    pd_gguf *rg = *rgp = pd_gguf_open(path);
    if (!rg) return pd_fail_ctx(PD_ERR_FORMAT, "resume");
    const char *js;
    size_t jl;
    uint64_t step;
    pd_gguf_vtype et;
    uint64_t nr;
    if (!pd_gguf_get_str(rg, "ponder.finetune.config", &js, &jl) ||
        !pd_gguf_get_i64(rg, "ponder.finetune.step", (int64_t *)&step) ||
        !pd_gguf_get_arr(rg, "ponder.finetune.rng", &et, &nr) || et != PD_GGUF_U64 || nr != 4)
        return pd_fail(PD_ERR_FORMAT, "%s: not a fine-tuning checkpoint (ponder.finetune.* keys missing)", path);
    char *jscopy = pd_strndup(js, jl);
    if (!jscopy) return PD_ERR_NOMEM;
    pd_status st = restore_config(o, jscopy, path, keep, schedule);
    free(jscopy);
    if (st != PD_OK) return st;
    if (*schedule <= 0) *schedule = o->run.steps; /* a fresh adapter's checkpoint (--steps 0) has none yet */
    memcpy(rng->s, pd_gguf_arr_data(rg, "ponder.finetune.rng"), sizeof rng->s);
    *start = (int64_t)step;
    p->a = pd_adapter_load(path);
    if (!p->a) return PD_ERR_FORMAT;
    o->method = p->a->method;
    return pd_run_resume_steps(&o->run, *start, *schedule);
}

/* a fresh adapter for the base in p->m, or a check that the resumed one fits it */
static pd_status adapter_for_base(peft_t *p, const pd_finetune_opts *o, bool fresh) {
    const pd_tcfg *c = pd_tmodel_cfg(p->m);
    if (fresh) {
        p->a = pd_adapter_new(o->method, c->n_layer);
        if (!p->a) return PD_ERR_NOMEM;
        p->a->targets = o->targets;
        p->a->rank = o->method == PD_ADAPTER_SOKA ? o->soka.terms : o->rank;
        p->a->alpha = o->method == PD_ADAPTER_LORA ? o->alpha : (float)p->a->rank;
        p->a->soka = o->soka;
    } else if (p->a->n_layer != c->n_layer) {
        return pd_fail(PD_ERR_FORMAT, "finetune: %s has %d layers, the base %d", o->run.resume, p->a->n_layer,
                       c->n_layer);
    }
    snprintf(p->a->arch, sizeof p->a->arch, "%s", c->arch);
    return PD_OK;
}

/* SoKA update initialisation: ΔŴ = −Σ_b ∇_W L(batch_b) accumulated into the engine's gradients, from
 * batches of their own stream (so the training data is unchanged) */
static pd_status calib_grads(peft_t *p, const pd_finetune_opts *o, pd_data *d) {
    const pd_run_opts *r = &o->run;
    if (!d) return pd_fail(PD_ERR_ARG, "finetune: SoKA update initialisation needs --task or --data");
    if (o->calib_batches <= 0) return pd_fail(PD_ERR_ARG, "finetune: calibration batches must be positive");
    pd_run_bufs cb = {0};
    pd_status st = pd_run_bufs_alloc(&cb, (size_t)r->B * r->T);
    pd_rng cr;
    pd_rng_seed(&cr, pd_rng_derive(r->seed, PD_STREAM_SOKA_CALIB));
    pd_tmodel_zero_grad(p->m);
    for (int b = 0; b < o->calib_batches && st == PD_OK; b++) {
        int64_t nt = pd_data_batch(d, &cr, r->B, r->T, false, cb.tok, cb.tgt, cb.seg);
        if (nt < 0) { st = PD_ERR_ARG; break; }
        if (nt == 0) continue;
        pd_tbatch tb = {r->B, r->T, cb.tok, cb.tgt, cb.seg};
        int64_t n;
        pd_tmodel_forward(p->m, &tb, &n);
        pd_tmodel_backward(p->m, &tb, 1.0f / (float)nt);
    }
    pd_run_bufs_free(&cb);
    return st;
}

/* the step loop from `start` to the schedule's end (or run.stop_at) */
static pd_status train_steps(peft_t *p, const pd_finetune_opts *o, pd_data *d, pd_rng *rng, int64_t start,
                             const char *cj, const char *ckpt_path, pd_finetune_result *res) {
    const pd_run_opts *r = &o->run;
    pd_run run = PD_RUN_OF(*r, p->m, d, false);
    pd_status st = pd_run_open(&run, r->steps, start, r->log_path, r->eval_n, r->eval_difficulty, r->dhi);
    if (st != PD_OK || (st = pd_run_check_targets(&run, rng)) != PD_OK) goto done;
    peft_apply(p);
    res->initial_heldout_loss = pd_run_heldout_loss(&run);
    if (run.log && start == 0)
        fprintf(run.log, "{\"step\":0,\"eval\":true,\"heldout_loss\":%.6f}\n", res->initial_heldout_loss);
    save_ctx sc = {p, o, rng, cj, ckpt_path};
    const pd_run_hooks hooks = {&sc, apply_hook, save_hook};
    pd_run_begin(&run, "finetune", r->steps);
    for (int64_t step = start; step < r->steps; step++) {
        double t0 = pd_time_now(), loss;
        peft_apply(p); /* touches only the weights: drawing the batches first would give the same */
        if ((st = pd_run_micro(&run, rng, step, &loss)) != PD_OK) goto done;
        float lr = pd_lr_at(&r->opt, step);
        double gnorm = peft_step(p, &r->opt, step, lr);
        bool stop = r->stop_at > 0 && step + 1 >= r->stop_at && step + 1 < r->steps;
        bool last = step + 1 == r->steps || stop;
        if ((st = pd_run_after_step(&run, step, loss, lr, gnorm, t0, last, last, &hooks)) != PD_OK) goto done;
        if (stop) break;
    }
    st = pd_run_finish(&run, r->plot_path);
done:
    PD_RUN_RESULT(res, run);
    pd_run_close(&run);
    return st;
}

pd_status pd_finetune_run(const pd_finetune_opts *oin, pd_finetune_result *res) {
    pd_finetune_opts o = *oin;
    pd_run_opts *r = &o.run;
    memset(res, 0, sizeof *res);
    if (!r->out) return pd_fail(PD_ERR_ARG, "finetune: no output path");
    pd_threads_set(r->threads);
    peft_t p = {0};
    pd_data *d = NULL;
    char *cj = NULL, *ckpt_path = NULL, *keep[2] = {NULL, NULL};
    pd_gguf *rg = NULL;
    pd_status st = PD_OK;
    pd_rng rng;
    int64_t start = 0;
    const bool fresh = !r->resume;

    int64_t schedule = r->steps; /* the LR schedule's length; on resume the checkpoint's */
    size_t cl = strlen(r->out) + 8;
    if (!(ckpt_path = pd_malloc(cl))) { st = PD_ERR_NOMEM; goto done; }
    snprintf(ckpt_path, cl, "%s.ckpt", r->out);
    if ((st = pd_run_check_outputs(r, ckpt_path)) != PD_OK) goto done;
    if (!fresh && (st = resume_from(&o, &rg, keep, &p, &rng, &start, &schedule)) != PD_OK) goto done;
    if (fresh) pd_rng_seed(&rng, r->seed);
    if (!o.base) { st = pd_fail(PD_ERR_ARG, "finetune: no base model (-m)"); goto done; }
    if (r->steps < 0 || r->B <= 0 || r->T <= 1 || r->accum <= 0) {
        st = pd_fail(PD_ERR_ARG, "finetune: bad steps or batch shape");
        goto done;
    }
    if (o.alpha <= 0) o.alpha = 2.0f * (float)o.rank;
    r->opt.total_steps = (int)(schedule > 0 ? schedule : 1);
    /* the base stays frozen in the engine (any stored type, dequantised exactly); its own vocabulary
     * and chat template render the training data */
    p.m = pd_tmodel_load_frozen(o.base, r->B, r->T);
    if (!p.m) { st = pd_fail_ctx(PD_ERR_FORMAT, "finetune: base model"); goto done; }
    if ((st = adapter_for_base(&p, &o, fresh)) != PD_OK) goto done;
    /* the adapted matrices get f32 copies (W_eff and its gradient); the rest of the base stays frozen
     * in its stored type */
    for (int l = 0; l < pd_tmodel_cfg(p.m)->n_layer && st == PD_OK; l++)
        for (int t = 0; t < PD_AT_COUNT && st == PD_OK; t++) {
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, pd_adapter_target_tensor(t));
            if (p.a->targets & (1u << t)) st = pd_tmodel_thaw(p.m, name);
        }
    if (st != PD_OK) goto done;
    if (r->task && r->data_path) { st = pd_fail(PD_ERR_ARG, "finetune: give a task or a data file, not both"); goto done; }
    if (r->task) d = pd_data_task(pd_tmodel_chat(p.m), r->task, r->dlo, r->dhi);
    else if (r->data_path) d = pd_data_file(pd_tmodel_chat(p.m), r->data_path, r->strict);
    if ((r->task || r->data_path) && !d) { st = PD_ERR_ARG; goto done; }
    const bool upd = fresh && o.method == PD_ADAPTER_SOKA && o.soka_init_update;
    if (upd && (st = calib_grads(&p, &o, d)) != PD_OK) goto done;
    if ((st = peft_bind(&p, &o, fresh, upd ? pd_tmodel_grads(p.m) : NULL)) != PD_OK) goto done;
    if (rg && (st = restore_moments(&p, rg, r->resume)) != PD_OK) goto done;
    res->n_params = pd_adapter_n_params(p.a);
    pd_finetune_opts saved = o;
    saved.run.steps = schedule; /* a checkpoint keeps the schedule it was started with */
    if (!(cj = config_json(&saved))) { st = PD_ERR_NOMEM; goto done; }
    if (r->steps == 0) st = save_all(&p, &o, 0, &rng, cj, ckpt_path); /* the freshly initialised adapter */
    else if (!d) st = pd_fail(PD_ERR_ARG, "finetune: give a task or a data file");
    else st = train_steps(&p, &o, d, &rng, start, cj, ckpt_path, res);
done:
    free(cj); free(ckpt_path); free(keep[0]); free(keep[1]);
    pd_data_free(d);
    pd_gguf_close(rg);
    peft_free(&p);
    return st;
}
