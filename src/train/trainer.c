/* train/trainer.c — the training run behind `ponder train`: data source, model (fresh or resumed),
 * the step loop (accumulated micro-batches → masked mean cross-entropy → backward → AdamW with
 * clipping and the warm-up/cosine schedule), held-out loss and greedy accuracy, JSONL step log,
 * progress bar, atomic GGUF checkpoints, and the loss-curve plot at the end.
 *
 * Determinism: the model init and the data stream come from one pd_rng seeded by --seed, saved in
 * every checkpoint with the step; evaluation draws from its own fixed streams, so evaluating (or
 * not) never changes the training data. With the same thread count a resumed run repeats the
 * uninterrupted one bit for bit. */
#include "train_int.h"
#include "ponder/alloc.h"
#include "ponder/data.h"
#include "ponder/gguf.h"
#include "ponder/json.h"
#include "ponder/model.h"
#include "ponder/progress.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void pd_train_opts_default(pd_train_opts *o) {
    memset(o, 0, sizeof *o);
    pd_tcfg_set_arch(&o->cfg, "qwen3");
    o->cfg.dim = 128; o->cfg.n_layer = 4; o->cfg.n_head = 4; o->cfg.n_head_kv = 2; o->cfg.head_dim = 32;
    o->cfg.n_ff = 384; o->cfg.n_ctx = 256; o->cfg.tied = true;
    pd_run_opts_default(&o->run, 1000);
}

static char *config_json(const pd_run_opts *r) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    pd_run_opts_to_json(j, r);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static void add_str(cJSON *j, const char *key, const char *v) {
    if (v) cJSON_AddStringToObject(j, key, v);
    else cJSON_AddNullToObject(j, key);
}

char *pd_train_opts_json(const pd_train_opts *o) {
    cJSON *j = cJSON_CreateObject();
    if (!j) { pd_fail(PD_ERR_NOMEM, "pd_train_opts_json: out of memory"); return NULL; }
    if (o->init) {
        cJSON_AddStringToObject(j, "init", o->init);
    } else {
        const pd_tcfg *c = &o->cfg;
        cJSON *m = cJSON_AddObjectToObject(j, "model");
        if (m) {
            cJSON_AddStringToObject(m, "arch", c->arch);
            cJSON_AddNumberToObject(m, "dim", c->dim);
            cJSON_AddNumberToObject(m, "layers", c->n_layer);
            cJSON_AddNumberToObject(m, "heads", c->n_head);
            cJSON_AddNumberToObject(m, "kv_heads", c->n_head_kv);
            cJSON_AddNumberToObject(m, "head_dim", c->head_dim);
            cJSON_AddNumberToObject(m, "ffn", c->n_ff);
            cJSON_AddNumberToObject(m, "ctx", c->n_ctx);
            cJSON_AddBoolToObject(m, "tied", c->tied);
        }
    }
    const pd_run_opts *r = &o->run;
    cJSON *run = cJSON_AddObjectToObject(j, "run");
    if (run) {
        pd_run_opts_to_json(run, r); /* what a checkpoint keeps, then the rest */
        cJSON_AddBoolToObject(run, "strict", r->strict);
        cJSON_AddNumberToObject(run, "stop_at", (double)r->stop_at);
        cJSON_AddNumberToObject(run, "threads", r->threads);
        add_str(run, "out", r->out);
        add_str(run, "resume", r->resume);
        add_str(run, "log", r->log_path);
        add_str(run, "plot", r->plot_path);
        cJSON_AddNumberToObject(run, "ckpt_every", r->ckpt_every);
        cJSON_AddNumberToObject(run, "eval_every", r->eval_every);
        cJSON_AddNumberToObject(run, "eval_batches", r->eval_batches);
        cJSON_AddNumberToObject(run, "eval_n", r->eval_n);
        cJSON_AddNumberToObject(run, "eval_difficulty", r->eval_difficulty);
        cJSON_AddNumberToObject(run, "max_new", r->max_new);
    }
    char *s = pd_json_print(j, true);
    cJSON_Delete(j);
    if (!s) pd_fail(PD_ERR_NOMEM, "pd_train_opts_json: out of memory");
    return s;
}

/* Restore the run settings saved in a checkpoint (task/data copied into *keep, freed by the caller). */
static pd_status restore_config(pd_run_opts *r, const char *js, const char *path, char **keep, int64_t *schedule) {
    cJSON *j = cJSON_Parse(js);
    if (!j) return pd_fail(PD_ERR_FORMAT, "%s: key 'ponder.train.config' is not valid JSON", path);
    pd_status st = pd_run_opts_from_json(j, r, keep);
    *schedule = pd_run_json_steps(j);
    cJSON_Delete(j);
    if (st != PD_OK) return st;
    if (r->B <= 0 || r->T <= 0 || r->accum <= 0 || r->dlo > r->dhi || *schedule <= 0)
        return pd_fail(PD_ERR_FORMAT, "%s: key 'ponder.train.config' holds invalid batch or schedule settings", path);
    return PD_OK;
}

typedef struct {
    pd_tmodel *m;
    const pd_rng *rng;
    const char *cj, *ckpt_path, *out;
} save_ctx;

/* the checkpoint with optimizer state; after the last step also the model itself */
static pd_status save_ckpt(void *vctx, int64_t steps_done, bool final) {
    save_ctx *c = vctx;
    pd_tckpt_info info = {.step = steps_done, .rng = *c->rng, .config_json = c->cj, .with_optimizer = true};
    PD_TRY(pd_tmodel_save(c->m, c->ckpt_path, &info));
    if (!final) return PD_OK;
    info.with_optimizer = false; /* the model itself: loads in ponder and llama.cpp */
    return pd_tmodel_save(c->m, c->out, &info);
}

/* The AdamW moments of a checkpoint are F32 as written: anything else (a quantised checkpoint) would be
 * resumed from as if it were the real state. */
static pd_status check_optimizer_f32(const char *path) {
    pd_gguf *g = pd_gguf_open(path);
    if (!g) return pd_fail_ctx(PD_ERR_FORMAT, "resume");
    pd_status st = PD_OK;
    for (int64_t i = 0; i < pd_gguf_n_tensors(g) && st == PD_OK; i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        if (!strncmp(t->name, "opt.", 4) && t->type != PD_TYPE_F32)
            st = pd_fail(PD_ERR_FORMAT, "%s: optimizer state '%s' is %s, not F32 (a quantised checkpoint?): it cannot "
                                        "be resumed from", path, t->name, pd_type_name(t->type));
    }
    pd_gguf_close(g);
    return st;
}

/* the checkpoint's settings, weights, moments, rng and step (the batch capacity is known only after
 * reading the saved config: the file is loaded once to read it); *schedule: its schedule's length */
static pd_status resume_from(pd_train_opts *o, char **keep, pd_tmodel **mp, pd_rng *rng, int64_t *start,
                             int64_t *schedule) {
    pd_run_opts *r = &o->run;
    PD_TRY(check_optimizer_f32(r->resume));
    pd_tckpt_info info;
    bool has_opt;
    pd_tmodel *probe = pd_tmodel_load(r->resume, 1, 1, &info, &has_opt);
    if (!probe) return pd_fail_ctx(PD_ERR_FORMAT, "resume");
    pd_tmodel_free(probe);
    if (!info.config_json || !has_opt) {
        free((char *)info.config_json);
        return pd_fail(PD_ERR_FORMAT, "%s: not a training checkpoint (no %s)", r->resume,
                       has_opt ? "ponder.train.config" : "optimizer state");
    }
    pd_status st = restore_config(r, info.config_json, r->resume, keep, schedule);
    free((char *)info.config_json);
    if (st != PD_OK) return st;
    *mp = pd_tmodel_load(r->resume, r->B, r->T, &info, &has_opt);
    if (!*mp) return PD_ERR_FORMAT;
    free((char *)info.config_json);
    o->cfg = (*mp)->cfg;
    *rng = info.rng;
    *start = info.step;
    return pd_run_resume_steps(r, *start, *schedule);
}

pd_status pd_train_run(const pd_train_opts *oin, pd_train_result *res) {
    pd_train_opts o = *oin;
    pd_run_opts *r = &o.run;
    char ckpt_path[1024];
    memset(res, 0, sizeof *res);
    if (!r->out) return pd_fail(PD_ERR_ARG, "train: no output path");
    if (snprintf(ckpt_path, sizeof ckpt_path, "%s.ckpt", r->out) >= (int)sizeof ckpt_path)
        return pd_fail(PD_ERR_ARG, "train: output path is too long");
    pd_threads_set(r->threads);
    char *keep = NULL;
    pd_tmodel *m = NULL;
    pd_data *d = NULL;
    pd_run run = {0};
    char *cj = NULL;
    pd_status st = PD_OK;
    pd_rng rng;
    int64_t start = 0;

    int64_t schedule = r->steps; /* the LR schedule's length; on resume the checkpoint's */
    if ((st = pd_run_check_outputs(r, ckpt_path)) != PD_OK) goto done;
    if (r->resume && (st = resume_from(&o, &keep, &m, &rng, &start, &schedule)) != PD_OK) goto done;
    if (r->steps <= 0) { st = pd_fail(PD_ERR_ARG, "train: steps must be positive"); goto done; }
    if (r->B <= 0 || r->T <= 1 || r->accum <= 0) { st = pd_fail(PD_ERR_ARG, "train: bad batch shape"); goto done; }
    r->opt.total_steps = (int)schedule;
    if (!m && o.init) { /* an existing model: its weights, vocabulary and chat template */
        m = pd_tmodel_load(o.init, r->B, r->T, NULL, NULL);
        if (!m) { st = pd_fail_ctx(PD_ERR_FORMAT, "train: --init"); goto done; }
        if (r->T > m->cfg.n_ctx) {
            st = pd_fail(PD_ERR_ARG, "train: --seq %d exceeds the context of %s (%d)", r->T, o.init, m->cfg.n_ctx);
            goto done;
        }
        o.cfg = m->cfg;
        pd_rng_seed(&rng, r->seed);
    }
    if (!m) {
        o.cfg.n_vocab = PD_TRAIN_VOCAB;
        if (o.cfg.n_ctx < r->T) o.cfg.n_ctx = r->T;
        m = pd_tmodel_new(&o.cfg, r->B, r->T);
        if (!m) { st = PD_ERR_ARG; goto done; }
        pd_rng_seed(&rng, r->seed);
        pd_tmodel_init(m, &rng);
    }
    if ((st = pd_tmodel_set_window(m, r->attn_sink, r->attn_recent)) != PD_OK) goto done;
    pd_tmodel_set_window_mix(m, r->attn_mix != 0);
    if (r->task) d = pd_data_task(pd_tmodel_chat(m), r->task, r->dlo, r->dhi);
    else if (r->data_path) d = pd_data_file(pd_tmodel_chat(m), r->data_path, r->strict);
    else { st = pd_fail(PD_ERR_ARG, "train: give a task or a data file"); goto done; }
    if (!d) { st = PD_ERR_ARG; goto done; }
    res->n_params = m->n_params;
    snprintf(res->task, sizeof res->task, "%s", r->task ? r->task : "");
    res->seed = r->seed;
    run = PD_RUN_OF(*r, m, d, true);
    if ((st = pd_run_open(&run, r->steps, start, r->log_path, r->eval_n, r->eval_difficulty, r->dhi)) != PD_OK) goto done;
    if ((st = pd_run_check_targets(&run, &rng)) != PD_OK) goto done;
    pd_run_opts saved = *r;
    saved.steps = schedule; /* a checkpoint keeps the schedule it was started with */
    if (!(cj = config_json(&saved))) { st = PD_ERR_NOMEM; goto done; }
    save_ctx sc = {m, &rng, cj, ckpt_path, r->out};
    const pd_run_hooks hooks = {&sc, NULL, save_ckpt};

    pd_run_begin(&run, "train", r->steps);
    for (int64_t step = start; step < r->steps; step++) {
        double t0 = pd_time_now(), loss;
        if ((st = pd_run_micro(&run, &rng, step, &loss)) != PD_OK) goto done;
        float lr = pd_lr_at(&r->opt, step);
        double gnorm = pd_tmodel_adamw(m, &r->opt, step, lr);
        bool last = step + 1 == r->steps, stop = r->stop_at > 0 && step + 1 >= r->stop_at;
        if ((st = pd_run_after_step(&run, step, loss, lr, gnorm, t0, last, last || stop, &hooks)) != PD_OK) goto done;
        if (stop) break;
    }
    st = pd_run_finish(&run, r->plot_path);

done:
    PD_RUN_RESULT(res, run);
    pd_run_close(&run);
    free(cj);
    free(keep);
    pd_data_free(d);
    pd_tmodel_free(m);
    return st;
}
