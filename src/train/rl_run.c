/* train/rl_run.c — the run behind `ponder rl` (ponder/rl.h): the policy loaded into the training
 * engine (fresh from a model, or resumed from a checkpoint), the frozen reference when there is a KL
 * term, the step loop with its JSONL log and progress line, greedy held-out accuracy, atomic GGUF
 * checkpoints (weights, AdamW moments, step, the RL rng, the run settings), and the curves plot
 * (reward, held-out accuracy, response length against step). Also `ponder bench rl`.
 *
 * Determinism: prompts, sampling seeds and minibatch order come from one pd_rng saved in every
 * checkpoint; evaluation uses its own fixed stream. With the same thread count a resumed run repeats
 * the uninterrupted one bit for bit. */
#include "train_int.h"
#include "ponder/rl.h"
#include "ponder/adapted.h"
#include "ponder/alloc.h"
#include "ponder/dist.h"
#include "ponder/gen.h"
#include "ponder/extract.h"
#include "ponder/gguf.h"
#include "ponder/model.h"
#include "ponder/plot.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

void pd_rl_opts_default(pd_rl_opts *o, pd_rl_algo algo) {
    memset(o, 0, sizeof *o);
    pd_rl_cfg_for_algo(&o->rl, algo);
    pd_run_opts_default(&o->run, 100);
    o->run.opt = o->rl.opt;
    o->run.eval_n = 0;
    o->run.max_new = 256;
    o->run.B = 16;
    pd_adapted_spec_default(&o->adapter_spec);
}

static char *config_json(const pd_rl_opts *o, int64_t opt_step) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    pd_run_opts_to_json(j, &o->run);
    const pd_rl_cfg *c = &o->rl;
    cJSON_AddStringToObject(j, "kind", "rl");
    if (o->model) cJSON_AddStringToObject(j, "model", o->model);
    if (o->adapter) cJSON_AddStringToObject(j, "adapter", pd_adapter_method_name(o->adapter_spec.method));
    cJSON_AddStringToObject(j, "algo", pd_rl_algo_name(c->algo));
    cJSON_AddStringToObject(j, "agg", pd_rl_agg_name(c->agg));
#define N(k, v) cJSON_AddNumberToObject(j, k, (double)(v))
    N("prompts", c->B); N("group", c->G); N("temperature", c->temperature); N("top_p", c->top_p);
    N("max_tokens", c->max_tokens); N("think_budget", c->think_budget); N("eps_low", c->eps_low);
    N("eps_high", c->eps_high); N("kl", c->beta); N("adv_eps", c->adv_eps); N("ppo_epochs", c->ppo_epochs);
    N("minibatches", c->minibatches); N("dynamic_sampling", c->dynamic_sampling); N("max_draws", c->max_draws);
    N("w_correct", c->w_correct); N("w_format", c->w_format); N("w_partial", c->w_partial);
    N("overlong_buffer", c->overlong_buffer); N("extract", c->extract);
    N("overlong_filter", c->overlong_filter); N("sampler_old_logp", c->sampler_old_logp); N("opt_step", opt_step);
    N("switch_step", c->shape.switch_step); N("psr_weight", c->shape.psr_weight);   /* rl_shape.h */
    N("length_reward", c->shape.length_reward); N("slpo_alpha", c->shape.slpo_alpha);
    N("redundancy", c->shape.redundancy); N("redundancy_mode", c->shape.redundancy_mode);
    N("answer_budget", c->elastic.answer_budget); N("brpo_budgets", c->brpo.S); N("brpo_summaries", c->brpo.A);
    N("brpo_summary_tokens", c->brpo.summary_tokens); N("brpo_prior", c->brpo.prior);   /* rl_elastic/brpo.h */
    N("brpo_baseline", c->brpo.baseline);
    /* the held-out evaluation's settings: a resumed run keeps evaluating unless told otherwise */
    N("eval_every", o->run.eval_every); N("eval_n", o->run.eval_n); N("max_new", o->run.max_new);
    N("mem_mode", c->mem.mode); N("mem_k", c->mem.k); N("mem_window", c->mem.window);   /* rl_memory.h */
    N("mem_explore_after", c->mem.explore_after); N("mem_anneal", c->mem.anneal);
    N("rlp_ctx", c->rlp.ctx); N("rlp_tau", c->rlp.tau);   /* rlp.h (--rlp-after is given again on resume) */
#undef N
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* the RL settings of a checkpoint's config (the run settings through pd_run_opts_from_json) */
static pd_status restore_config(pd_rl_opts *o, const char *js, const char *path, char **keep, char **model_keep,
                                int64_t *opt_step) {
    cJSON *j = cJSON_Parse(js);
    if (!j) return pd_fail(PD_ERR_FORMAT, "%s: key 'ponder.train.config' is not valid JSON", path);
    const cJSON *x = cJSON_GetObjectItem(j, "kind");
    if (!cJSON_IsString(x) || strcmp(x->valuestring, "rl")) {
        cJSON_Delete(j);
        return pd_fail(PD_ERR_FORMAT, "%s: not an RL checkpoint (resume it with the verb that wrote it)", path);
    }
    pd_status st = pd_run_opts_from_json(j, &o->run, keep);
    pd_rl_cfg *c = &o->rl;
    if ((x = cJSON_GetObjectItem(j, "algo")) && cJSON_IsString(x) && pd_rl_algo_from_name(x->valuestring) >= 0)
        c->algo = (pd_rl_algo)pd_rl_algo_from_name(x->valuestring);
    if ((x = cJSON_GetObjectItem(j, "agg")) && cJSON_IsString(x) && pd_rl_agg_from_name(x->valuestring) >= 0)
        c->agg = (pd_rl_agg)pd_rl_agg_from_name(x->valuestring);
    if ((x = cJSON_GetObjectItem(j, "model")) && cJSON_IsString(x) && !(*model_keep = pd_strdup(x->valuestring)))
        st = PD_ERR_NOMEM;
    /* a checkpoint is untrusted: clamp before casting (an out-of-range double → int cast is UB) */
#define N(k, dst, type) if ((x = cJSON_GetObjectItem(j, k)) && cJSON_IsNumber(x)) \
        dst = (type)fmin(fmax(x->valuedouble, -2e9), 2e9)
    N("prompts", c->B, int); N("group", c->G, int); N("temperature", c->temperature, float);
    N("top_p", c->top_p, float); N("max_tokens", c->max_tokens, int); N("think_budget", c->think_budget, int);
    N("eps_low", c->eps_low, double); N("eps_high", c->eps_high, double); N("kl", c->beta, double);
    N("adv_eps", c->adv_eps, double); N("ppo_epochs", c->ppo_epochs, int); N("minibatches", c->minibatches, int);
    N("dynamic_sampling", c->dynamic_sampling, bool); N("max_draws", c->max_draws, int);
    N("w_correct", c->w_correct, double); N("w_format", c->w_format, double); N("w_partial", c->w_partial, double);
    N("extract", c->extract, int);
    if (c->extract < 0 || c->extract > PD_EXTRACT_LAST_NUMBER) c->extract = PD_EXTRACT_AUTO;
    N("overlong_buffer", c->overlong_buffer, int); N("overlong_filter", c->overlong_filter, bool);
    N("sampler_old_logp", c->sampler_old_logp, bool); N("opt_step", *opt_step, int64_t);
    N("mem_mode", c->mem.mode, int); N("mem_k", c->mem.k, int); N("mem_window", c->mem.window, int);
    N("mem_explore_after", c->mem.explore_after, int); N("mem_anneal", c->mem.anneal, double);
    if (c->mem.mode < 0 || c->mem.mode > PD_RL_MEM_RPLUS) c->mem.mode = PD_RL_MEM_OFF;
    N("rlp_ctx", c->rlp.ctx, int); N("rlp_tau", c->rlp.tau, double);
    N("switch_step", c->shape.switch_step, int); N("psr_weight", c->shape.psr_weight, double);   /* rl_shape.h */
    N("length_reward", c->shape.length_reward, int); N("slpo_alpha", c->shape.slpo_alpha, double);
    N("redundancy", c->shape.redundancy, double); N("redundancy_mode", c->shape.redundancy_mode, int);
    if (c->shape.length_reward != PD_RL_LEN_SLPO) c->shape.length_reward = PD_RL_LEN_NONE;
    if (c->shape.redundancy_mode < PD_RL_RED_DUAL || c->shape.redundancy_mode > PD_RL_RED_INTERNAL)
        c->shape.redundancy_mode = PD_RL_RED_DUAL;
    N("answer_budget", c->elastic.answer_budget, int); N("brpo_budgets", c->brpo.S, int);   /* checked in pd_rl_new */
    N("brpo_summaries", c->brpo.A, int); N("brpo_summary_tokens", c->brpo.summary_tokens, int);
    N("brpo_prior", c->brpo.prior, int); N("brpo_baseline", c->brpo.baseline, int);
    if (o->run.eval_n <= 0) {   /* no --eval-n on the resume's command line: the checkpoint's */
        N("eval_every", o->run.eval_every, int); N("eval_n", o->run.eval_n, int); N("max_new", o->run.max_new, int);
        if (o->run.eval_n < 0 || o->run.eval_n > 1000000) o->run.eval_n = 0;
        if (o->run.eval_every < 0) o->run.eval_every = 0;
        if (o->run.max_new < 1) o->run.max_new = 256;
    }
#undef N
    cJSON_Delete(j);
    return st;
}

typedef struct {
    double *x, *reward, *len, *len_wrong;
    double *ex, *ey;
    int n, n_ev, cap, cap_ev;
} curves_t;

static pd_status plot_curves(const char *path, const curves_t *cv, const char *algo) {
    pd_plot_series s0[1] = {{.name = "mean reward", .kind = PD_PLOT_LINE, .color = 0x08519c, .width = 2, .x = cv->x,
                             .y = cv->reward, .n = (size_t)cv->n}};
    pd_plot_series s1[1] = {{.name = "held-out greedy accuracy", .kind = PD_PLOT_LINE, .color = 0xe6550d, .width = 2,
                             .marker = 4, .x = cv->ex, .y = cv->ey, .n = (size_t)cv->n_ev}};
    pd_plot_series s2[2] = {
        {.name = "mean response tokens", .kind = PD_PLOT_LINE, .color = 0x31a354, .width = 2, .x = cv->x, .y = cv->len,
         .n = (size_t)cv->n},
        {.name = "incorrect responses", .kind = PD_PLOT_LINE, .color = 0x756bb1, .width = 1, .x = cv->x,
         .y = cv->len_wrong, .n = (size_t)cv->n}};
    pd_plot_panel pn[3] = {
        {.title = "reward", .xlabel = "step", .ylabel = "reward", .series = s0, .n_series = 1},
        {.title = "held-out accuracy", .xlabel = "step", .ylabel = "accuracy", .ymin = 0, .ymax = 1, .series = s1,
         .n_series = 1},
        {.title = "response length", .xlabel = "step", .ylabel = "tokens", .series = s2, .n_series = 2}};
    char title[96];
    snprintf(title, sizeof title, "ponder rl (%s)", algo);
    pd_plot p = {.title = title, .panels = pn, .n_panels = 3};
    return pd_plot_write(&p, path);
}

/* everything a run holds */
typedef struct {
    pd_rl_opts o;               /* the settings (a resumed run's come from its checkpoint) */
    char ckpt[1024];
    char *keep, *model_keep;    /* strings restored from a checkpoint */
    pd_tmodel *m, *ref;         /* full-model RL: the policy, the KL reference (or NULL) */
    pd_adapted ad;              /* RL through an adapter (o.adapter): base + adapter */
    pd_rl *r;
    FILE *log;
    pd_task_item *items;
    int n_items;
    curves_t cv;
    pd_rng rng;
    int64_t start, opt_step;
    pd_progress pg;
} run_t;

/* an adapter run's checkpoint: the RL keys and the factors' moments beside the adapter's tensors */
typedef struct {
    const run_t *x;
    int64_t step;
    const char *cj;
} ackpt_ctx;

static pd_status adapter_ckpt_extra(pd_gguf_writer *w, void *vctx) {
    const ackpt_ctx *c = vctx;
    PD_TRY(pd_gguf_set_u64(w, "ponder.rl.step", (uint64_t)c->step));
    PD_TRY(pd_gguf_set_arr(w, "ponder.rl.rng", PD_GGUF_U64, c->x->rng.s, 4));
    PD_TRY(pd_gguf_set_str(w, "ponder.rl.config", c->cj));
    return pd_adapted_save_moments(&c->x->ad, w);
}

/* the checkpoint (and with final the result: the model, or the adapter) after `step` steps */
static pd_status save_all(const run_t *x, int64_t step, bool final) {
    if (pd_dist_rank() > 0) return PD_OK;   /* mpirun: rank 0 writes (dist hook) */
    if (x->o.rl.gates.on) {   /* rl_gates.h: the gates TSV is the output (the weights never change) */
        const pd_rl_cfg *c = &x->o.rl;
        char note[1024];
        snprintf(note, sizeof note, "ponder rl --rlkv-gates: model %s, %s %s, step %lld, sink %d recent %d beta %g tau %g",
                 x->o.model ? x->o.model : "?", x->o.run.task ? "task" : "data",
                 x->o.run.task ? x->o.run.task : x->o.run.data_path ? x->o.run.data_path : "?", (long long)step,
                 c->gates.sink, c->gates.recent, c->gates.beta, c->gates.tau);
        (void)final;
        return pd_rl_gates_write(pd_rl_gates_of(x->r), x->o.run.out, note);
    }
    char *cj = config_json(&x->o, x->opt_step);
    if (!cj) return PD_ERR_NOMEM;
    pd_status st;
    if (x->o.adapter) {
        ackpt_ctx c = {x, step, cj};
        st = pd_adapter_save_ex(x->ad.a, x->ckpt, adapter_ckpt_extra, &c);
        if (st == PD_OK && final) st = pd_adapter_save(x->ad.a, x->o.run.out);
    } else {
        pd_tckpt_info info = {.step = step, .rng = x->rng, .config_json = cj, .with_optimizer = true};
        st = pd_tmodel_save(x->m, x->ckpt, &info);
        if (st == PD_OK && final) {
            info.with_optimizer = false;
            st = pd_tmodel_save(x->m, x->o.run.out, &info);
        }
    }
    free(cj);
    return st;
}

static void json_num(FILE *f, const char *k, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.6g", k, v);
    else fprintf(f, ",\"%s\":null", k);
}

/* The learner's capacity for the model at path: sequences up to max_tokens + 512 prompt tokens (or
 * the model's context), and rows cut down so that a chunk's logits stay near 32M floats (big
 * vocabularies). Read from a 1x1 probe of the file. */
static pd_status fit_capacity(const char *path, pd_rl_opts *o, bool frozen, int *T) {
    pd_tmodel *probe = frozen ? pd_tmodel_load_frozen(path, 1, 1) : pd_tmodel_load(path, 1, 1, NULL, NULL);
    if (!probe) return PD_ERR_FORMAT;
    const pd_tcfg *c = pd_tmodel_cfg(probe);
    int64_t t = (int64_t)o->rl.max_tokens + 512, V = c->n_vocab;
    if (o->rl.algo == PD_RL_BRPO) t += o->rl.brpo.summary_tokens + 8;   /* a summary row: trace + closer + summary */
    if (t > c->n_ctx) t = c->n_ctx;
    int rows = o->run.B > 0 ? o->run.B : 1;
    while (rows > 1 && (int64_t)rows * t * V > (32 << 20)) rows /= 2;
    pd_tmodel_free(probe);
    o->run.B = rows;
    *T = (int)t;
    return PD_OK;
}

/* the settings of a checkpoint's config JSON (a copy of js is parsed) */
static pd_status restore_from(run_t *x, const char *js, size_t len) {
    pd_run_opts *R = &x->o.run;
    char *copy = pd_strndup(js, len);
    if (!copy) return PD_ERR_NOMEM;
    int64_t keep_steps = R->steps;
    R->steps = 0;
    pd_status st = restore_config(&x->o, copy, R->resume, &x->keep, &x->model_keep, &x->opt_step);
    if (keep_steps > 0) R->steps = keep_steps;
    free(copy);
    if (st == PD_OK && x->model_keep) x->o.model = x->model_keep;
    return st;
}

/* resume an adapter run: base from the config, adapter and moments from the checkpoint */
static pd_status resume_adapter(run_t *x, const pd_gguf *g) {
    const char *path = x->o.run.resume, *js;
    size_t jl;
    int64_t step;
    pd_gguf_vtype et;
    uint64_t nr;
    if (!pd_gguf_get_str(g, "ponder.rl.config", &js, &jl) || !pd_gguf_get_i64(g, "ponder.rl.step", &step) ||
        !pd_gguf_get_arr(g, "ponder.rl.rng", &et, &nr) || et != PD_GGUF_U64 || nr != 4)
        return pd_fail(PD_ERR_FORMAT, "%s: not an RL adapter checkpoint (ponder.rl.* keys missing)", path);
    PD_TRY(restore_from(x, js, jl));
    memcpy(x->rng.s, pd_gguf_arr_data(g, "ponder.rl.rng"), sizeof x->rng.s);
    x->start = step;
    if (!x->o.model) return pd_fail(PD_ERR_FORMAT, "%s: the checkpoint does not name its base model", path);
    int T;
    if (fit_capacity(x->o.model, &x->o, true, &T) != PD_OK) return pd_fail_ctx(PD_ERR_FORMAT, "rl: base model");
    PD_TRY(pd_adapted_load(&x->ad, x->o.model, x->o.run.B, T));
    if (!(x->ad.a = pd_adapter_load(path))) return PD_ERR_FORMAT;
    x->o.adapter_spec.method = x->ad.a->method;
    PD_TRY(pd_adapted_prepare(&x->ad, &x->o.adapter_spec, false));
    PD_TRY(pd_adapted_bind(&x->ad, &x->o.adapter_spec, false, NULL));
    return pd_adapted_restore_moments(&x->ad, g, path);
}

/* resume a full-model run from its checkpoint (weights, moments, step, rng, settings) */
static pd_status resume_full(run_t *x) {
    const char *path = x->o.run.resume;
    pd_tckpt_info info;
    bool has_opt;
    pd_tmodel *probe = pd_tmodel_load(path, 1, 1, &info, &has_opt);
    if (!probe) return pd_fail_ctx(PD_ERR_FORMAT, "resume");
    pd_tmodel_free(probe);
    if (!info.config_json || !has_opt) {
        free((char *)info.config_json);
        return pd_fail(PD_ERR_FORMAT, "%s: not a training checkpoint (no %s)", path,
                       has_opt ? "ponder.train.config" : "optimizer state");
    }
    pd_status st = restore_from(x, info.config_json, strlen(info.config_json));
    free((char *)info.config_json);
    if (st != PD_OK) return st;
    int T;
    if (fit_capacity(path, &x->o, false, &T) != PD_OK) return PD_ERR_FORMAT;
    if (!(x->m = pd_tmodel_load(path, x->o.run.B, T, &info, &has_opt))) return PD_ERR_FORMAT;
    free((char *)info.config_json);
    x->rng = info.rng;
    x->start = info.step;
    return PD_OK;
}

/* a fresh run: the policy (the full model, or the base with a fresh adapter) and the rng */
static pd_status load_fresh(run_t *x) {
    pd_rl_opts *o = &x->o;
    if (!o->model) return pd_fail(PD_ERR_ARG, "rl: no model");
    pd_rng_seed(&x->rng, o->run.seed);
    int T;
    if (fit_capacity(o->model, o, o->adapter, &T) != PD_OK) return pd_fail_ctx(PD_ERR_FORMAT, "rl: -m");
    if (o->adapter) {
        o->adapter_spec.seed = o->run.seed;
        PD_TRY(pd_adapted_load(&x->ad, o->model, o->run.B, T));
        PD_TRY(pd_adapted_prepare(&x->ad, &o->adapter_spec, true));
        return pd_adapted_bind(&x->ad, &o->adapter_spec, true, NULL);
    }
    if (!(x->m = pd_tmodel_load(o->model, o->run.B, T, NULL, NULL))) return pd_fail_ctx(PD_ERR_FORMAT, "rl: -m");
    /* a training checkpoint given as the start brings its AdamW moments: RL starts its own */
    memset(pd_tmodel_adam_m(x->m), 0, pd_tmodel_n_params(x->m) * sizeof(float));
    memset(pd_tmodel_adam_v(x->m), 0, pd_tmodel_n_params(x->m) * sizeof(float));
    return PD_OK;
}

/* the policy and rng, fresh or from --resume (an adapter checkpoint is told by its ponder.rl.* keys) */
static pd_status run_load(run_t *x) {
    const char *resume = x->o.run.resume;
    if (!resume) return load_fresh(x);
    pd_gguf *g = pd_gguf_open(resume);
    if (!g) return pd_fail_ctx(PD_ERR_FORMAT, "resume");
    pd_status st;
    x->o.adapter = pd_gguf_find_key(g, "ponder.rl.config") >= 0;
    if (x->o.adapter) st = resume_adapter(x, g);
    else st = resume_full(x);
    pd_gguf_close(g);
    return st;
}

/* the engine, the reference, held-out items, the step log and the curves */
static pd_status run_open(run_t *x) {
    pd_rl_opts *o = &x->o;
    pd_run_opts *R = &o->run;
    if (R->steps <= 0) return pd_fail(PD_ERR_ARG, "rl: steps must be positive");
    if (x->start >= R->steps)
        return pd_fail(PD_ERR_ARG, "%s is at step %lld of %lld: nothing to do (nothing written); give --steps N with "
                                   "N > %lld", R->resume, (long long)x->start, (long long)R->steps, (long long)x->start);
    PD_TRY(pd_run_precision(o->adapter ? x->ad.m : x->m, R->precision)); /* --precision (train_int.h) */
    o->rl.opt = R->opt;
    o->rl.micro_rows = R->B;
    o->rl.opt.total_steps = (int)(R->steps * o->rl.ppo_epochs * o->rl.minibatches);
    pd_rl_source src = {R->task, R->dlo, R->dhi, R->data_path};
    if (o->adapter) {
        if (!(x->r = pd_rl_new_adapted(&x->ad, &o->rl, &src))) return PD_ERR_ARG;
    } else {
        if (o->rl.beta > 0) {
            if (!o->model) return pd_fail(PD_ERR_ARG, "rl: a KL term needs the reference model's path");
            if (!(x->ref = pd_tmodel_load(o->model, 1, 1, NULL, NULL))) return pd_fail_ctx(PD_ERR_FORMAT, "rl: reference");
        }
        if (!(x->r = pd_rl_new(x->m, x->ref, &o->rl, &src))) return PD_ERR_ARG;
    }
    if (o->reward_fn) pd_rl_set_reward(x->r, o->reward_fn, o->reward_ctx);
    if (R->eval_n > 0) {
        if (!(x->items = pd_calloc((size_t)R->eval_n, sizeof *x->items))) return PD_ERR_NOMEM;
        x->n_items = pd_rl_eval_items(x->r, pd_rng_derive(R->seed, PD_STREAM_EVAL_ITEMS), R->eval_n, x->items);
    }
    if (R->log_path) {
        if (x->start > 0) PD_TRY(pd_run_log_keep_upto(R->log_path, x->start));
        if (!(x->log = fopen(R->log_path, x->start > 0 ? "a" : "w")))
            return pd_fail(PD_ERR_IO, "%s: cannot open the step log for writing", R->log_path);
    }
    curves_t *cv = &x->cv;
    cv->cap = (int)(R->steps - x->start) + 1;
    cv->cap_ev = cv->cap + 1;
    cv->x = pd_calloc((size_t)cv->cap, sizeof(double)); cv->reward = pd_calloc((size_t)cv->cap, sizeof(double));
    cv->len = pd_calloc((size_t)cv->cap, sizeof(double)); cv->len_wrong = pd_calloc((size_t)cv->cap, sizeof(double));
    cv->ex = pd_calloc((size_t)cv->cap_ev, sizeof(double)); cv->ey = pd_calloc((size_t)cv->cap_ev, sizeof(double));
    if (!cv->x || !cv->reward || !cv->len || !cv->len_wrong || !cv->ex || !cv->ey) return PD_ERR_NOMEM;
    return PD_OK;
}

static void log_step(FILE *log, int64_t step, const pd_rl_stats *s, double tr, double tl, bool gates) {
    fprintf(log, "{\"step\":%lld", (long long)step);
    json_num(log, "reward_mean", s->reward_mean); json_num(log, "reward_std", s->reward_std);
    json_num(log, "accuracy", s->accuracy); json_num(log, "dropped_frac", s->dropped_frac);
    json_num(log, "zero_var_frac", s->zero_var_frac); json_num(log, "groups_drawn", s->groups_drawn);
    json_num(log, "groups_kept", s->groups_kept); json_num(log, "len_mean", s->len_mean);
    json_num(log, "len_think", s->len_think); json_num(log, "len_answer", s->len_answer);
    json_num(log, "len_correct", s->len_correct); json_num(log, "len_incorrect", s->len_incorrect);
    json_num(log, "entropy", s->entropy); json_num(log, "kl", s->kl); json_num(log, "clip_frac", s->clip_frac);
    json_num(log, "ratio_dev_max", s->ratio_dev_max); json_num(log, "logp_maxdiff", s->logp_maxdiff);
    json_num(log, "loss", s->loss); json_num(log, "grad_norm", s->grad_norm); json_num(log, "lr", s->lr);
    json_num(log, "rollout_tok_s", tr); json_num(log, "learner_tok_s", tl);
    json_num(log, "t_rollout", s->t_rollout); json_num(log, "t_reward", s->t_reward);
    json_num(log, "t_learn", s->t_learn);
    pd_rl_shape_log(log, &s->shape);
    if (s->mem_succ_keys + s->mem_fail_keys > 0) {   /* Memory-R / R+ on (rl_memory.h) */
        json_num(log, "mem_exploit", s->mem_exploit); json_num(log, "mem_explore", s->mem_explore);
        json_num(log, "mem_succ_keys", s->mem_succ_keys); json_num(log, "mem_fail_keys", s->mem_fail_keys);
    }
    if (s->rlp_s_pred != 0 || s->rlp_s_ema != 0) {   /* RLP (rlp.h) */
        json_num(log, "rlp_reward", s->rlp_reward); json_num(log, "rlp_s_pred", s->rlp_s_pred);
        json_num(log, "rlp_s_ema", s->rlp_s_ema); json_num(log, "rlp_acc_pred", s->rlp_acc_pred);
        json_num(log, "rlp_acc_ema", s->rlp_acc_ema);
    }
    pd_rl_elastic_log(log, &s->elastic); pd_rl_brpo_log(log, &s->brpo);   /* rl_elastic.h, rl_brpo.h */
    if (gates) {   /* rl_gates.h */
        json_num(log, "gates_mean", s->gates_mean); json_num(log, "gates_low", s->gates_low);
        json_num(log, "gates_beta_eff", s->gates_beta_eff); json_num(log, "gates_penalty", s->gates_penalty);
    }
    fprintf(log, "}\n");
}

/* greedy held-out accuracy after `step` steps: curve point, log line, progress line */
static pd_status run_eval(run_t *x, int64_t step, double *acc) {
    pd_geval ge;
    PD_TRY(pd_train_greedy_eval(pd_rl_model(x->r), x->items, x->n_items, x->o.run.max_new, NULL, &ge));
    *acc = ge.accuracy;
    curves_t *cv = &x->cv;
    if (cv->n_ev < cv->cap_ev) { cv->ex[cv->n_ev] = (double)step; cv->ey[cv->n_ev++] = ge.accuracy; }
    if (x->log) fprintf(x->log, "{\"step\":%lld,\"eval\":true,\"accuracy\":%.4f,\"mean_tokens\":%.1f}\n",
                        (long long)step, ge.accuracy, ge.mean_gen_tokens);
    FILE *pf = x->o.run.progress;
    if (pf && (step > 0 || !x->pg.is_tty))
        fprintf(pf, "%seval step %lld: accuracy %.1f%% (%d/%d)\n", step > 0 && x->pg.is_tty ? "\r\033[K" : "",
                (long long)step, 100 * ge.accuracy, ge.correct, ge.n);
    return PD_OK;
}

/* the steps from x->start to the end (or stop_at) */
static pd_status run_steps(run_t *x, pd_rl_result *res) {
    const pd_run_opts *R = &x->o.run;
    for (int64_t step = x->start; step < R->steps; step++) {
        pd_rl_stats s;
        pd_rl_set_step(x->r, step);   /* DSRL's phase (rl_shape.h) */
        PD_TRY(pd_rl_step(x->r, &x->rng, &x->opt_step, false, &s));
        res->last = s;
        if (x->o.reward_curve) x->o.reward_curve[step] = s.reward_mean;
        curves_t *cv = &x->cv;
        int ci = (int)(step - x->start);
        cv->x[ci] = (double)step + 1; cv->reward[ci] = s.reward_mean; cv->len[ci] = s.len_mean;
        cv->len_wrong[ci] = s.len_incorrect;
        cv->n = ci + 1;
        double tr = s.t_rollout > 0 ? s.rollout_tokens / s.t_rollout : 0;
        double tl = s.t_learn > 0 ? s.learner_tokens / s.t_learn : 0;
        if (x->log) log_step(x->log, step + 1, &s, tr, tl, x->o.rl.gates.on);
        bool last = step + 1 == R->steps, stop = R->stop_at > 0 && step + 1 >= R->stop_at;
        if (x->n_items > 0 && ((R->eval_every > 0 && (step + 1) % R->eval_every == 0) || last))
            PD_TRY(run_eval(x, step + 1, &res->final_acc));
        if (x->log && fflush(x->log)) return pd_fail(PD_ERR_IO, "%s: write failed", R->log_path);
        if ((R->ckpt_every > 0 && (step + 1) % R->ckpt_every == 0) || last || stop)
            PD_TRY(save_all(x, step + 1, last));
        if (R->progress) {
            char extra[160];
            if (x->o.rl.gates.on)   /* rl_gates.h */
                snprintf(extra, sizeof extra, "reward %.3f  acc %.0f%%  len %.0f  gates mean %.3f, %.0f%% < 0.5",
                         s.reward_mean, 100 * s.accuracy, s.len_mean, s.gates_mean, 100 * s.gates_low);
            else
                snprintf(extra, sizeof extra, "reward %.3f  acc %.0f%%  len %.0f  kept %d/%d  %.0f rollout tok/s",
                         s.reward_mean, 100 * s.accuracy, s.len_mean, s.groups_kept, s.groups_drawn, tr);
            pd_progress_update(&x->pg, step + 1 - x->start, extra);
        }
        res->steps_done = step + 1;
        if (stop) break;
    }
    return PD_OK;
}

static void run_close(run_t *x) {
    for (int i = 0; i < x->n_items; i++) pd_task_item_free(&x->items[i]);
    free(x->items);
    curves_t *cv = &x->cv;
    free(cv->x); free(cv->reward); free(cv->len); free(cv->len_wrong); free(cv->ex); free(cv->ey);
    pd_rl_free(x->r);
    pd_tmodel_free(x->m);
    pd_tmodel_free(x->ref);
    pd_adapted_free(&x->ad);
    free(x->keep);
    free(x->model_keep);
}

pd_status pd_rl_run(const pd_rl_opts *oin, pd_rl_result *res) {
    run_t *x = pd_calloc(1, sizeof *x);
    if (!x) return PD_ERR_NOMEM;
    x->o = *oin;
    pd_run_opts *R = &x->o.run;
    memset(res, 0, sizeof *res);
    res->first_acc = res->final_acc = NAN;
    pd_status st = PD_OK;
    if (!R->out) st = pd_fail(PD_ERR_ARG, "rl: no output path");
    else if (snprintf(x->ckpt, sizeof x->ckpt, "%s.ckpt", R->out) >= (int)sizeof x->ckpt)
        st = pd_fail(PD_ERR_ARG, "rl: output path is too long");
    else if (x->o.model && !strcmp(x->o.model, R->out))
        st = pd_fail(PD_ERR_ARG, "rl: --out %s is the starting model; write the result elsewhere", R->out);
    else if (x->o.rl.gates.on && (R->resume || x->o.adapter))
        st = pd_fail(PD_ERR_ARG, "rl: RLKV gates start from a model (-m): no --resume or --adapter");
    if (st == PD_OK) st = pd_run_check_outputs(R, x->ckpt);
    if (pd_dist_rank() > 0) {   /* mpirun: rank 0 logs, evaluates, plots and shows progress (dist hook) */
        R->log_path = R->plot_path = NULL;
        R->progress = NULL;
        R->eval_n = 0;
    }
    if (st == PD_OK) {
        pd_threads_set(R->threads);
        st = run_load(x);
    }
    if (st == PD_OK) st = run_open(x);
    res->algo = x->o.rl.algo;
    if (st == PD_OK) {
        if (R->progress) pd_progress_start(&x->pg, R->progress, "rl", R->steps - x->start, "step");
        double t_run = pd_time_now();
        if (x->n_items > 0 && x->start == 0) st = run_eval(x, 0, &res->first_acc);
        if (st == PD_OK) st = run_steps(x, res);
        res->seconds = pd_time_now() - t_run;
        if (st == PD_OK && R->progress) pd_progress_finish(&x->pg, NULL);
        if (st == PD_OK && R->plot_path && x->cv.n > 0)
            st = plot_curves(R->plot_path, &x->cv, pd_rl_algo_name(x->o.rl.algo));
    }
    if (x->log && fclose(x->log) && st == PD_OK) st = pd_fail(PD_ERR_IO, "%s: write failed", R->log_path);
    x->log = NULL;
    run_close(x);
    free(x);
    return st;
}

/* ---- `ponder bench rl` ---- */

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* user-space instructions retired by this process (perf_event_open; fd -1 where not permitted):
 * a per-token cost that a loaded machine does not distort the way it does time */
typedef struct { int fd; } bench_counter;
static void bench_counter_open(bench_counter *c) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_HARDWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_HW_INSTRUCTIONS;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    a.inherit = 1;   /* the OpenMP workers too */
    c->fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}
static uint64_t bench_counter_read(const bench_counter *c) {
    uint64_t v = 0;
    if (c->fd < 0 || read(c->fd, &v, sizeof v) != (ssize_t)sizeof v) return 0;
    return v;
}
static void bench_counter_close(bench_counter *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

/* n_prompts prompts × g samples, each exactly max_tokens new tokens (end tokens ignored) */
static pd_status bench_rollout(const pd_model *pm, const pd_tchat *chat, int n_prompts, int g, int max_tokens,
                               double *wall, double *cpu, double *tokens) {
    pd_gen_params gp = {.n_seq_max = n_prompts * g + 1, .n_ctx = pm->cfg.n_ctx_train, .kv_type = PD_TYPE_F32,
                        .n_batch = 512};
    pd_gen *gen = pd_gen_new(pm, &gp);
    if (!gen) return PD_ERR_STATE;
    int32_t *pr = NULL;
    int pn = 0;
    pd_status st = pd_tex_prompt(chat, "What is 12+34?", &pr, &pn);
    double w0 = pd_time_now(), c0 = cpu_s();
    for (int i = 0; i < n_prompts && st == PD_OK; i++) {
        pd_seq_params p0 = pd_seq_defaults();
        int parent = pd_gen_add(gen, pr, pn, &p0);
        if (parent < 0 || (st = pd_gen_prefill(gen, parent)) != PD_OK) { st = PD_ERR_STATE; break; }
        for (int k = 0; k < g; k++) {
            pd_seq_params p = pd_seq_defaults();
            p.sampling.seed = (uint64_t)(i * g + k + 1);
            p.max_tokens = max_tokens;
            p.ignore_eog = true;
            p.logprobs = true;
            if (pd_gen_fork(gen, parent, &p) < 0) { st = PD_ERR_STATE; break; }
        }
        pd_gen_remove(gen, parent);
    }
    if (st == PD_OK) st = pd_gen_run(gen);
    *wall = pd_time_now() - w0;
    *cpu = cpu_s() - c0;
    *tokens = (double)n_prompts * g * max_tokens;
    free(pr);
    pd_gen_free(gen);
    return st;
}

pd_status pd_bench_rl_run(FILE *out, const char *model_path, int threads, int max_tokens) {
    pd_threads_set(threads);
    pd_tmodel *m = NULL;
    if (model_path) {
        if (!(m = pd_tmodel_load(model_path, 16, 1 << 20, NULL, NULL))) return pd_fail_ctx(PD_ERR_FORMAT, "bench rl");
    } else {
        pd_tcfg c;
        memset(&c, 0, sizeof c);
        pd_tcfg_set_arch(&c, "qwen3");
        c.n_vocab = PD_TRAIN_VOCAB; c.dim = 128; c.n_layer = 4; c.n_head = 4; c.n_head_kv = 2; c.head_dim = 32;
        c.n_ff = 384; c.n_ctx = 256; c.tied = true;
        if (!(m = pd_tmodel_new(&c, 16, c.n_ctx))) return PD_ERR_NOMEM;
        pd_rng g;
        pd_rng_seed(&g, PD_STREAM_BENCH_INIT);
        pd_tmodel_init(m, &g);
    }
    pd_model *pm = pd_rl_view(m);
    pd_status st = pm ? PD_OK : PD_ERR_STATE;
    fprintf(out, "model: %s, %zu parameters, %d threads, %d new tokens per sequence\n\n",
            model_path ? model_path : "random qwen3 byte model (dim 128, 4 layers)", pd_tmodel_n_params(m),
            pd_threads_get(), max_tokens);
    fprintf(out, "| rollout | sequences | runs | tokens | wall s | tokens/s | CPU s | tokens per CPU s | vs 1 seq (CPU) "
                 "| user instructions per token | vs 1 seq (instructions) |\n");
    fprintf(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    static const int shapes[3][2] = {{1, 1}, {1, 8}, {8, 8}};
    double base_cpu = 0, base_ins = 0;
    bench_counter ctr;
    bench_counter_open(&ctr);
    for (int k = 0; k < 3 && st == PD_OK; k++) {
        /* short shapes are repeated until they used 0.5 CPU s (at least once, at most 64 runs) so
         * the per-token figures are not one clock tick */
        double w = 0, c = 0, n = 0, ins = 0;
        int runs = 0;
        while (st == PD_OK && runs < 64 && (runs == 0 || c < 0.5)) {
            double w1 = 0, c1 = 0, n1 = 0;
            uint64_t i0 = bench_counter_read(&ctr);
            st = bench_rollout(pm, pd_tmodel_chat(m), shapes[k][0], shapes[k][1], max_tokens, &w1, &c1, &n1);
            ins += (double)(bench_counter_read(&ctr) - i0);
            w += w1; c += c1; n += n1;
            runs++;
        }
        if (st != PD_OK) break;
        double cps = c > 0 ? n / c : 0, ipt = ctr.fd >= 0 && n > 0 ? ins / n : NAN;
        if (k == 0) { base_cpu = cps; base_ins = ipt; }
        fprintf(out, "| %d prompt x %d | %d | %d | %.0f | %.2f | %.0f | %.2f | %.0f | %.1fx | ", shapes[k][0], shapes[k][1],
                shapes[k][0] * shapes[k][1], runs, n, w, w > 0 ? n / w : 0, c, cps, base_cpu > 0 ? cps / base_cpu : 0);
        if (isnan(ipt)) fprintf(out, "- | - |\n");
        else fprintf(out, "%.0f | %.1fx |\n", ipt, base_ins / ipt);
    }
    bench_counter_close(&ctr);
    if (st == PD_OK) {
        /* one RL step of 8 prompts × 8 samples with a reward that needs no task answer */
        pd_rl_cfg rc;
        pd_rl_cfg_for_algo(&rc, PD_RL_GRPO);
        rc.max_tokens = max_tokens;
        rc.micro_rows = 16;
        pd_rl_source src = {"arith-add", 1, 1, NULL};
        pd_rl *r = pd_rl_new(m, NULL, &rc, &src);
        if (!r) st = PD_ERR_STATE;
        pd_rng g;
        pd_rng_seed(&g, PD_STREAM_BENCH_ROLLOUT);
        int64_t os = 0;
        pd_rl_stats s;
        if (st == PD_OK) st = pd_rl_step(r, &g, &os, false, &s);
        if (st == PD_OK) {
            double tot = s.t_rollout + s.t_reward + s.t_learn;
            fprintf(out, "\none GRPO step, 8 prompts x 8 samples (arith-add 1): %.0f generated tokens, %.0f learner tokens\n",
                    s.rollout_tokens, s.learner_tokens);
            fprintf(out, "| part | wall s | share | CPU s | tokens/s |\n|---|---:|---:|---:|---:|\n");
            fprintf(out, "| rollout (prefill + decode) | %.3f | %.0f%% | %.3f | %.0f |\n", s.t_rollout,
                    tot > 0 ? 100 * s.t_rollout / tot : 0, s.rollout_cpu, s.t_rollout > 0 ? s.rollout_tokens / s.t_rollout : 0);
            fprintf(out, "| rewards (verifiers) | %.4f | %.1f%% | - | - |\n", s.t_reward, tot > 0 ? 100 * s.t_reward / tot : 0);
            fprintf(out, "| learner (forward + backward + AdamW) | %.3f | %.0f%% | %.3f | %.0f |\n", s.t_learn,
                    tot > 0 ? 100 * s.t_learn / tot : 0, s.learn_cpu, s.t_learn > 0 ? s.learner_tokens / s.t_learn : 0);
        }
        pd_rl_free(r);
    }
    pd_model_free(pm);
    pd_tmodel_free(m);
    return st;
}

static int bench_int(const char *f, const char *v, long lo, long hi, int *out) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi) {
        fprintf(stderr, "ponder bench rl: %s: expected an integer in [%ld, %ld]\n", f, lo, hi);
        return 0;
    }
    *out = (int)x;
    return 1;
}

int pd_bench_rl(int argc, char **argv) {
    const char *model = NULL;
    int threads = 0, max_tokens = 64;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            printf("usage: ponder bench rl [-m MODEL] [--threads N] [-n TOKENS]\n"
                   "  rollout tokens/s through gen/ at 1, 8 (1 prompt x 8) and 64 (8 x 8) sequences, each\n"
                   "  exactly TOKENS new tokens (default 64), wall and CPU time; then one GRPO step of 8 x 8 on\n"
                   "  arith-add with its time split (rollout, rewards, learner) and the learner's tokens/s.\n"
                   "  Without -m: a random qwen3 byte model (dim 128, 4 layers).\n");
            return 0;
        }
        int ok = 1;
        if (!strcmp(f, "-m") || !strcmp(f, "--model")) {
            if (!v) { fprintf(stderr, "ponder bench rl: %s: missing value\n", f); return 2; }
            model = v;
        } else if (!strcmp(f, "--threads") || !strcmp(f, "-t")) ok = bench_int(f, v, 0, 1024, &threads);
        else if (!strcmp(f, "-n") || !strcmp(f, "--max-tokens")) ok = bench_int(f, v, 1, 4096, &max_tokens);
        else { fprintf(stderr, "ponder bench rl: unknown flag '%s'\n", f); return 2; }
        if (!ok) return 2;
        i++;
    }
    pd_status st = pd_bench_rl_run(stdout, model, threads, max_tokens);
    if (st != PD_OK) {
        fprintf(stderr, "ponder bench rl: %s\n", pd_last_error());
        return 1;
    }
    return 0;
}
