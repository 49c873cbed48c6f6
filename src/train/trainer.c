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
    pd_optcfg_default(&o->opt);
    o->dlo = o->dhi = 3;
    o->B = 8; o->T = 256; o->accum = 1;
    o->steps = 1000;
    o->seed = 1;
    o->eval_batches = 4;
    o->max_new = 256;
}

static char *config_json(pd_train_opts *o) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    pd_run_fields_to_json(j, PD_RUN_FIELDS(o));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* Restore the run settings saved in a checkpoint (strings are copied into `keep`, freed by caller). */
static pd_status restore_config(pd_train_opts *o, const char *js, const char *path, char **keep_task,
                                char **keep_data) {
    cJSON *j = cJSON_Parse(js);
    if (!j) return pd_fail(PD_ERR_FORMAT, "%s: key 'ponder.train.config' is not valid JSON", path);
    pd_run_fields_from_json(j, PD_RUN_FIELDS(o));
    const cJSON *x;
    if ((x = cJSON_GetObjectItem(j, "task")) && cJSON_IsString(x)) {
        *keep_task = pd_strdup(x->valuestring);
        o->task = *keep_task;
        o->data_path = NULL;
    } else if ((x = cJSON_GetObjectItem(j, "data")) && cJSON_IsString(x)) {
        *keep_data = pd_strdup(x->valuestring);
        o->data_path = *keep_data;
        o->task = NULL;
    }
    cJSON_Delete(j);
    if (o->B <= 0 || o->T <= 0 || o->accum <= 0 || o->dlo > o->dhi)
        return pd_fail(PD_ERR_FORMAT, "%s: key 'ponder.train.config' holds invalid batch settings", path);
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

pd_status pd_train_run(const pd_train_opts *oin, pd_train_result *res) {
    pd_train_opts o = *oin;
    char ckpt_path[1024];
    memset(res, 0, sizeof *res);
    if (!o.out) return pd_fail(PD_ERR_ARG, "train: no output path");
    if (snprintf(ckpt_path, sizeof ckpt_path, "%s.ckpt", o.out) >= (int)sizeof ckpt_path)
        return pd_fail(PD_ERR_ARG, "train: output path is too long");
    pd_threads_set(o.threads);
    char *keep_task = NULL, *keep_data = NULL;
    pd_tmodel *m = NULL;
    pd_data *d = NULL;
    pd_tokenizer *tok = NULL;
    pd_run run = {0};
    char *cj = NULL;
    pd_status st = PD_OK;
    pd_rng rng;
    int64_t start = 0;

    if (o.resume) {
        pd_tckpt_info info;
        bool has_opt;
        /* batch capacity is known only after reading the saved config: load once to read it */
        pd_tmodel *probe = pd_tmodel_load(o.resume, 1, 1, &info, &has_opt);
        if (!probe) { st = pd_fail_ctx(PD_ERR_FORMAT, "resume"); goto done; }
        pd_tmodel_free(probe);
        if (!info.config_json || !has_opt) {
            free((char *)info.config_json);
            st = pd_fail(PD_ERR_FORMAT, "%s: not a training checkpoint (no %s)", o.resume,
                         has_opt ? "ponder.train.config" : "optimizer state");
            goto done;
        }
        st = restore_config(&o, info.config_json, o.resume, &keep_task, &keep_data);
        free((char *)info.config_json);
        if (st != PD_OK) goto done;
        m = pd_tmodel_load(o.resume, o.B, o.T, &info, &has_opt);
        if (!m) { st = PD_ERR_FORMAT; goto done; }
        free((char *)info.config_json);
        o.cfg = m->cfg;
        rng = info.rng;
        start = info.step;
    }
    if (o.steps <= 0) { st = pd_fail(PD_ERR_ARG, "train: steps must be positive"); goto done; }
    if (o.B <= 0 || o.T <= 1 || o.accum <= 0) { st = pd_fail(PD_ERR_ARG, "train: bad batch shape"); goto done; }
    o.opt.total_steps = (int)o.steps;
    tok = pd_tokenizer_new_bytes(pd_train_specials, PD_TRAIN_N_SPECIALS);
    if (!tok) { st = PD_ERR_NOMEM; goto done; }
    if (o.task) d = pd_data_task(tok, o.task, o.dlo, o.dhi);
    else if (o.data_path) d = pd_data_file(tok, o.data_path);
    else { st = pd_fail(PD_ERR_ARG, "train: give a task or a data file"); goto done; }
    if (!d) { st = PD_ERR_ARG; goto done; }
    if (!m) {
        o.cfg.n_vocab = pd_tok_n_vocab(tok);
        if (o.cfg.n_ctx < o.T) o.cfg.n_ctx = o.T;
        m = pd_tmodel_new(&o.cfg, o.B, o.T);
        if (!m) { st = PD_ERR_ARG; goto done; }
        pd_rng_seed(&rng, o.seed);
        pd_tmodel_init(m, &rng);
    }
    res->n_params = m->n_params;
    run = PD_RUN_OF(o, m, d, true);
    if ((st = pd_run_open(&run, o.steps, start, o.log_path, o.eval_n, o.eval_difficulty, o.dhi)) != PD_OK) goto done;
    if (!(cj = config_json(&o))) { st = PD_ERR_NOMEM; goto done; }
    save_ctx sc = {m, &rng, cj, ckpt_path, o.out};
    const pd_run_hooks hooks = {&sc, NULL, save_ckpt};

    pd_run_begin(&run, "train", o.steps);
    for (int64_t step = start; step < o.steps; step++) {
        double t0 = pd_time_now(), loss;
        if ((st = pd_run_micro(&run, &rng, &loss)) != PD_OK) goto done;
        float lr = pd_lr_at(&o.opt, step);
        double gnorm = pd_tmodel_adamw(m, &o.opt, step, lr);
        bool last = step + 1 == o.steps, stop = o.stop_at > 0 && step + 1 >= o.stop_at;
        if ((st = pd_run_after_step(&run, step, loss, lr, gnorm, t0, last, last || stop, &hooks)) != PD_OK) goto done;
        if (stop) break;
    }
    st = pd_run_finish(&run, o.plot_path);

done:
    PD_RUN_RESULT(res, run);
    pd_run_close(&run);
    free(cj);
    free(keep_task); free(keep_data);
    pd_data_free(d);
    pd_tokenizer_free(tok);
    pd_tmodel_free(m);
    return st;
}

/* cli/cmd_bench.c reaches `ponder bench train|gemm` through weak symbols, and a weak reference does
 * not pull an archive member into the link: this strong one (trainer.o is always linked by
 * `ponder train`) brings bench_train.o along. */
int (*const pd_train_bench_entry[2])(int, char **) = {pd_bench_train, pd_bench_gemm};
