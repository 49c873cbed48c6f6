/* train/peft.c — the fine-tuning run behind `ponder finetune`: a frozen base in the training engine,
 * an adapter (LoRA / PiSSA / SoKA) on the chosen matrices, the step loop (W_eff = W0 + Δ_eff,
 * engine forward/backward, gradients pulled back onto the factors, AdamW on the factors only),
 * held-out loss and greedy accuracy, JSONL log, progress, adapter files and resumable checkpoints.
 * See ponder/adapter.h for the scheme. Same data, schedule and evaluation as train/trainer.c. */
#include "train_int.h"
#include "ponder/adapted.h"
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

/* ---- checkpoints ---- */
typedef struct {
    pd_adapted *p;
    int64_t step;
    const pd_rng *rng;
    const char *config_json;
} ckpt_ctx;

static pd_status ckpt_extra(pd_gguf_writer *w, void *vctx) {
    ckpt_ctx *c = vctx;
    PD_TRY(pd_gguf_set_u64(w, "ponder.finetune.step", (uint64_t)c->step));
    PD_TRY(pd_gguf_set_arr(w, "ponder.finetune.rng", PD_GGUF_U64, c->rng->s, 4));
    PD_TRY(pd_gguf_set_str(w, "ponder.finetune.config", c->config_json));
    return pd_adapted_save_moments(c->p, w);
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

static pd_status save_all(pd_adapted *p, const pd_finetune_opts *o, int64_t step, const pd_rng *rng, const char *cj,
                          const char *ckpt_path) {
    PD_TRY(pd_adapter_save(p->a, o->run.out));
    ckpt_ctx c = {p, step, rng, cj};
    return pd_adapter_save_ex(p->a, ckpt_path, ckpt_extra, &c);
}

typedef struct {
    pd_adapted *p;
    const pd_finetune_opts *o;
    const pd_rng *rng;
    const char *cj, *ckpt_path;
} save_ctx;

static pd_status save_hook(void *vctx, int64_t steps_done, bool final) {
    (void)final;
    save_ctx *c = vctx;
    return save_all(c->p, c->o, steps_done, c->rng, c->cj, c->ckpt_path);
}

static void apply_hook(void *vctx) { pd_adapted_apply(((save_ctx *)vctx)->p); }

/* the checkpoint's settings, adapter, rng and step (its moments are restored after pd_adapted_bind) */
static pd_status resume_from(pd_finetune_opts *o, pd_gguf **rgp, char **keep, pd_adapted *p, pd_rng *rng,
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

/* the adapter settings of the options */
static pd_adapted_spec spec_of(const pd_finetune_opts *o) {
    pd_adapted_spec sp = {o->method, o->targets, o->rank, o->alpha, o->soka, o->svd, o->run.seed};
    return sp;
}

/* SoKA update initialisation: ΔŴ = −Σ_b ∇_W L(batch_b) accumulated into the engine's gradients, from
 * batches of their own stream (so the training data is unchanged) */
static pd_status calib_grads(pd_adapted *p, const pd_finetune_opts *o, pd_data *d) {
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
static pd_status train_steps(pd_adapted *p, const pd_finetune_opts *o, pd_data *d, pd_rng *rng, int64_t start,
                             const char *cj, const char *ckpt_path, pd_finetune_result *res) {
    const pd_run_opts *r = &o->run;
    pd_run run = PD_RUN_OF(*r, p->m, d, false);
    /* under mpirun no engine gradient is summed: pd_adapted_step sums the factor gradients (dist hook) */
    static const size_t no_ranges[1][2];
    run.grad_ranges = no_ranges;
    run.n_grad_ranges = 0;
    pd_status st = pd_run_open(&run, r->steps, start, r->log_path, r->eval_n, r->eval_difficulty, r->dhi);
    if (st != PD_OK || (st = pd_run_check_targets(&run, rng)) != PD_OK) goto done;
    pd_adapted_apply(p);
    res->initial_heldout_loss = pd_run_heldout_loss(&run);
    if (run.log && start == 0)
        fprintf(run.log, "{\"step\":0,\"eval\":true,\"heldout_loss\":%.6f}\n", res->initial_heldout_loss);
    save_ctx sc = {p, o, rng, cj, ckpt_path};
    const pd_run_hooks hooks = {&sc, apply_hook, save_hook};
    pd_run_begin(&run, "finetune", r->steps);
    for (int64_t step = start; step < r->steps; step++) {
        double t0 = pd_time_now(), loss;
        pd_adapted_apply(p); /* touches only the weights: drawing the batches first would give the same */
        if ((st = pd_run_micro(&run, rng, step, &loss)) != PD_OK) goto done;
        float lr = pd_lr_at(&r->opt, step);
        double gnorm = pd_adapted_step(p, &r->opt, step, lr);
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
    pd_adapted p = {0};
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
    if ((st = pd_adapted_load(&p, o.base, r->B, r->T)) != PD_OK) { pd_fail_ctx(st, "finetune"); goto done; }
    const pd_adapted_spec sp = spec_of(&o);
    if ((st = pd_adapted_prepare(&p, &sp, fresh)) != PD_OK) goto done;
    if (r->task && r->data_path) { st = pd_fail(PD_ERR_ARG, "finetune: give a task or a data file, not both"); goto done; }
    if (r->task) d = pd_data_task(pd_tmodel_chat(p.m), r->task, r->dlo, r->dhi);
    else if (r->data_path) d = pd_data_file(pd_tmodel_chat(p.m), r->data_path, r->strict);
    if ((r->task || r->data_path) && !d) { st = PD_ERR_ARG; goto done; }
    const bool upd = fresh && o.method == PD_ADAPTER_SOKA && o.soka_init_update;
    if (upd && (st = calib_grads(&p, &o, d)) != PD_OK) goto done;
    if ((st = pd_adapted_bind(&p, &sp, fresh, upd ? pd_tmodel_grads(p.m) : NULL)) != PD_OK) goto done;
    if (rg && (st = pd_adapted_restore_moments(&p, rg, r->resume)) != PD_OK) goto done;
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
    pd_adapted_free(&p);
    return st;
}
