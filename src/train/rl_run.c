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
#include "ponder/alloc.h"
#include "ponder/gen.h"
#include "ponder/model.h"
#include "ponder/plot.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void pd_rl_opts_default(pd_rl_opts *o, pd_rl_algo algo) {
    memset(o, 0, sizeof *o);
    pd_rl_cfg_for_algo(&o->rl, algo);
    pd_run_opts_default(&o->run, 100);
    o->run.opt = o->rl.opt;
    o->run.eval_n = 0;
    o->run.max_new = 256;
    o->run.B = 16;
}

static char *config_json(const pd_rl_opts *o, int64_t opt_step) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    pd_run_opts_to_json(j, &o->run);
    const pd_rl_cfg *c = &o->rl;
    cJSON_AddStringToObject(j, "kind", "rl");
    if (o->model) cJSON_AddStringToObject(j, "model", o->model);
    cJSON_AddStringToObject(j, "algo", pd_rl_algo_name(c->algo));
    cJSON_AddStringToObject(j, "agg", pd_rl_agg_name(c->agg));
#define N(k, v) cJSON_AddNumberToObject(j, k, (double)(v))
    N("prompts", c->B); N("group", c->G); N("temperature", c->temperature); N("top_p", c->top_p);
    N("max_tokens", c->max_tokens); N("think_budget", c->think_budget); N("eps_low", c->eps_low);
    N("eps_high", c->eps_high); N("kl", c->beta); N("adv_eps", c->adv_eps); N("ppo_epochs", c->ppo_epochs);
    N("minibatches", c->minibatches); N("dynamic_sampling", c->dynamic_sampling); N("max_draws", c->max_draws);
    N("w_correct", c->w_correct); N("w_format", c->w_format); N("overlong_buffer", c->overlong_buffer);
    N("overlong_filter", c->overlong_filter); N("sampler_old_logp", c->sampler_old_logp); N("opt_step", opt_step);
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
#define N(k, dst, type) if ((x = cJSON_GetObjectItem(j, k)) && cJSON_IsNumber(x)) dst = (type)x->valuedouble
    N("prompts", c->B, int); N("group", c->G, int); N("temperature", c->temperature, float);
    N("top_p", c->top_p, float); N("max_tokens", c->max_tokens, int); N("think_budget", c->think_budget, int);
    N("eps_low", c->eps_low, double); N("eps_high", c->eps_high, double); N("kl", c->beta, double);
    N("adv_eps", c->adv_eps, double); N("ppo_epochs", c->ppo_epochs, int); N("minibatches", c->minibatches, int);
    N("dynamic_sampling", c->dynamic_sampling, bool); N("max_draws", c->max_draws, int);
    N("w_correct", c->w_correct, double); N("w_format", c->w_format, double);
    N("overlong_buffer", c->overlong_buffer, int); N("overlong_filter", c->overlong_filter, bool);
    N("sampler_old_logp", c->sampler_old_logp, bool); N("opt_step", *opt_step, int64_t);
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

static pd_status save_all(pd_tmodel *m, const pd_rl_opts *o, const char *ckpt, int64_t step, const pd_rng *rng,
                          int64_t opt_step, bool final) {
    char *cj = config_json(o, opt_step);
    if (!cj) return PD_ERR_NOMEM;
    pd_tckpt_info info = {.step = step, .rng = *rng, .config_json = cj, .with_optimizer = true};
    pd_status st = pd_tmodel_save(m, ckpt, &info);
    if (st == PD_OK && final) {
        info.with_optimizer = false;
        st = pd_tmodel_save(m, o->run.out, &info);
    }
    free(cj);
    return st;
}

static pd_status evaluate(pd_rl *r, const pd_task_item *items, int n, int max_new, pd_geval *ge) {
    return pd_train_greedy_eval(pd_rl_model(r), items, n, max_new, NULL, ge);
}

static void json_num(FILE *f, const char *k, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.6g", k, v);
    else fprintf(f, ",\"%s\":null", k);
}

/* The policy with a learner capacity that fits: sequences up to max_tokens + 512 prompt tokens (or
 * the model's context), and rows cut down so that a chunk's logits stay near 32M floats (big
 * vocabularies). The model is read twice (a 1x1 probe for its shape). */
static pd_tmodel *load_policy(const char *path, pd_rl_opts *o, pd_tckpt_info *info, bool *has_opt) {
    pd_tmodel *probe = pd_tmodel_load(path, 1, 1, NULL, NULL);
    if (!probe) return NULL;
    const pd_tcfg *c = pd_tmodel_cfg(probe);
    int64_t T = (int64_t)o->rl.max_tokens + 512, V = c->n_vocab;
    if (T > c->n_ctx) T = c->n_ctx;
    int rows = o->run.B > 0 ? o->run.B : 1;
    while (rows > 1 && (int64_t)rows * T * V > (32 << 20)) rows /= 2;
    pd_tmodel_free(probe);
    o->run.B = rows;
    return pd_tmodel_load(path, rows, (int)T, info, has_opt);
}

pd_status pd_rl_run(const pd_rl_opts *oin, pd_rl_result *res) {
    pd_rl_opts o = *oin;
    pd_run_opts *R = &o.run;
    memset(res, 0, sizeof *res);
    res->first_acc = res->final_acc = NAN;
    char ckpt[1024];
    if (!R->out) return pd_fail(PD_ERR_ARG, "rl: no output path");
    if (snprintf(ckpt, sizeof ckpt, "%s.ckpt", R->out) >= (int)sizeof ckpt) return pd_fail(PD_ERR_ARG, "rl: output path is too long");
    if (o.model && !strcmp(o.model, R->out))
        return pd_fail(PD_ERR_ARG, "rl: --out %s is the starting model; write the result elsewhere", R->out);
    PD_TRY(pd_run_check_outputs(R, ckpt));
    pd_threads_set(R->threads);
    char *keep = NULL, *model_keep = NULL;
    pd_tmodel *m = NULL, *ref = NULL;
    pd_rl *r = NULL;
    FILE *log = NULL;
    pd_task_item *items = NULL;
    int n_items = 0;
    curves_t cv = {0};
    pd_status st = PD_OK;
    pd_rng rng;
    int64_t start = 0, opt_step = 0;
    if (R->resume) {
        pd_tckpt_info info;
        bool has_opt;
        pd_tmodel *probe = pd_tmodel_load(R->resume, 1, 1, &info, &has_opt);
        if (!probe) return pd_fail_ctx(PD_ERR_FORMAT, "resume");
        pd_tmodel_free(probe);
        if (!info.config_json || !has_opt) {
            free((char *)info.config_json);
            return pd_fail(PD_ERR_FORMAT, "%s: not a training checkpoint (no %s)", R->resume,
                           has_opt ? "ponder.train.config" : "optimizer state");
        }
        int64_t keep_steps = R->steps;
        R->steps = 0;
        st = restore_config(&o, info.config_json, R->resume, &keep, &model_keep, &opt_step);
        if (keep_steps > 0) R->steps = keep_steps;
        free((char *)info.config_json);
        if (st != PD_OK) goto done;
        if (model_keep) o.model = model_keep;
        m = load_policy(R->resume, &o, &info, &has_opt);
        if (!m) { st = PD_ERR_FORMAT; goto done; }
        free((char *)info.config_json);
        rng = info.rng;
        start = info.step;
    } else {
        if (!o.model) { st = pd_fail(PD_ERR_ARG, "rl: no model"); goto done; }
        m = load_policy(o.model, &o, NULL, NULL);
        if (!m) { st = pd_fail_ctx(PD_ERR_FORMAT, "rl: -m"); goto done; }
        /* a training checkpoint given as the start brings its AdamW moments: RL starts its own */
        memset(pd_tmodel_adam_m(m), 0, pd_tmodel_n_params(m) * sizeof(float));
        memset(pd_tmodel_adam_v(m), 0, pd_tmodel_n_params(m) * sizeof(float));
        pd_rng_seed(&rng, R->seed);
    }
    if (R->steps <= 0) { st = pd_fail(PD_ERR_ARG, "rl: steps must be positive"); goto done; }
    if (start >= R->steps) {
        st = pd_fail(PD_ERR_ARG, "%s is at step %lld of %lld: nothing to do (nothing written); give --steps N with "
                                 "N > %lld", R->resume, (long long)start, (long long)R->steps, (long long)start);
        goto done;
    }
    o.rl.opt = R->opt;
    o.rl.micro_rows = R->B;
    o.rl.opt.total_steps = (int)(R->steps * o.rl.ppo_epochs * o.rl.minibatches);
    if (o.rl.beta > 0) {
        if (!o.model) { st = pd_fail(PD_ERR_ARG, "rl: a KL term needs the reference model's path"); goto done; }
        if (!(ref = pd_tmodel_load(o.model, 1, 1, NULL, NULL))) { st = pd_fail_ctx(PD_ERR_FORMAT, "rl: reference"); goto done; }
    }
    pd_rl_source src = {R->task, R->dlo, R->dhi, R->data_path};
    if (!(r = pd_rl_new(m, ref, &o.rl, &src))) { st = PD_ERR_ARG; goto done; }
    if (o.reward_fn) pd_rl_set_reward(r, o.reward_fn, o.reward_ctx);
    if (R->eval_n > 0) {
        if (!(items = pd_calloc((size_t)R->eval_n, sizeof *items))) { st = PD_ERR_NOMEM; goto done; }
        n_items = pd_rl_eval_items(r, pd_rng_derive(R->seed, 0xACC), R->eval_n, items);
    }
    if (R->log_path && !(log = fopen(R->log_path, start > 0 ? "a" : "w"))) {
        st = pd_fail(PD_ERR_IO, "%s: cannot open the step log for writing", R->log_path);
        goto done;
    }
    cv.cap = (int)(R->steps - start) + 1;
    cv.cap_ev = cv.cap + 1;
    cv.x = pd_calloc((size_t)cv.cap, sizeof(double)); cv.reward = pd_calloc((size_t)cv.cap, sizeof(double));
    cv.len = pd_calloc((size_t)cv.cap, sizeof(double)); cv.len_wrong = pd_calloc((size_t)cv.cap, sizeof(double));
    cv.ex = pd_calloc((size_t)cv.cap_ev, sizeof(double)); cv.ey = pd_calloc((size_t)cv.cap_ev, sizeof(double));
    if (!cv.x || !cv.reward || !cv.len || !cv.len_wrong || !cv.ex || !cv.ey) { st = PD_ERR_NOMEM; goto done; }
    pd_progress pg;
    if (R->progress) pd_progress_start(&pg, R->progress, "rl", R->steps - start, "step");
    double t_run = pd_time_now();
    if (n_items > 0 && start == 0) {
        pd_geval ge;
        if ((st = evaluate(r, items, n_items, R->max_new, &ge)) != PD_OK) goto done;
        res->first_acc = ge.accuracy;
        cv.ex[cv.n_ev] = 0; cv.ey[cv.n_ev++] = ge.accuracy;
        if (log) fprintf(log, "{\"step\":0,\"eval\":true,\"accuracy\":%.4f,\"mean_tokens\":%.1f}\n", ge.accuracy,
                         ge.mean_gen_tokens);
        if (R->progress && !pg.is_tty)
            fprintf(R->progress, "eval step 0: accuracy %.1f%% (%d/%d)\n", 100 * ge.accuracy, ge.correct, ge.n);
    }
    for (int64_t step = start; step < R->steps; step++) {
        pd_rl_stats s;
        if ((st = pd_rl_step(r, &rng, &opt_step, false, &s)) != PD_OK) goto done;
        res->last = s;
        if (o.reward_curve) o.reward_curve[step] = s.reward_mean;
        int ci = (int)(step - start);
        cv.x[ci] = (double)step + 1; cv.reward[ci] = s.reward_mean; cv.len[ci] = s.len_mean;
        cv.len_wrong[ci] = s.len_incorrect;
        cv.n = ci + 1;
        double tr = s.t_rollout > 0 ? s.rollout_tokens / s.t_rollout : 0, tl = s.t_learn > 0 ? s.learner_tokens / s.t_learn : 0;
        if (log) {
            fprintf(log, "{\"step\":%lld", (long long)step + 1);
            json_num(log, "reward_mean", s.reward_mean); json_num(log, "reward_std", s.reward_std);
            json_num(log, "accuracy", s.accuracy); json_num(log, "dropped_frac", s.dropped_frac);
            json_num(log, "zero_var_frac", s.zero_var_frac); json_num(log, "groups_drawn", s.groups_drawn);
            json_num(log, "groups_kept", s.groups_kept); json_num(log, "len_mean", s.len_mean);
            json_num(log, "len_think", s.len_think); json_num(log, "len_answer", s.len_answer);
            json_num(log, "len_correct", s.len_correct); json_num(log, "len_incorrect", s.len_incorrect);
            json_num(log, "entropy", s.entropy); json_num(log, "kl", s.kl); json_num(log, "clip_frac", s.clip_frac);
            json_num(log, "ratio_dev_max", s.ratio_dev_max); json_num(log, "logp_maxdiff", s.logp_maxdiff);
            json_num(log, "loss", s.loss); json_num(log, "grad_norm", s.grad_norm); json_num(log, "lr", s.lr);
            json_num(log, "rollout_tok_s", tr); json_num(log, "learner_tok_s", tl);
            json_num(log, "t_rollout", s.t_rollout); json_num(log, "t_reward", s.t_reward);
            json_num(log, "t_learn", s.t_learn);
            fprintf(log, "}\n");
        }
        bool last = step + 1 == R->steps, stop = R->stop_at > 0 && step + 1 >= R->stop_at;
        if (n_items > 0 && ((R->eval_every > 0 && (step + 1) % R->eval_every == 0) || last)) {
            pd_geval ge;
            if ((st = evaluate(r, items, n_items, R->max_new, &ge)) != PD_OK) goto done;
            res->final_acc = ge.accuracy;
            if (cv.n_ev < cv.cap_ev) { cv.ex[cv.n_ev] = (double)step + 1; cv.ey[cv.n_ev++] = ge.accuracy; }
            if (log) fprintf(log, "{\"step\":%lld,\"eval\":true,\"accuracy\":%.4f,\"mean_tokens\":%.1f}\n",
                             (long long)step + 1, ge.accuracy, ge.mean_gen_tokens);
            if (R->progress)
                fprintf(R->progress, "%seval step %lld: accuracy %.1f%% (%d/%d)\n", pg.is_tty ? "\r\033[K" : "",
                        (long long)step + 1, 100 * ge.accuracy, ge.correct, ge.n);
        }
        if (log && fflush(log)) { st = pd_fail(PD_ERR_IO, "%s: write failed", R->log_path); goto done; }
        if ((R->ckpt_every > 0 && (step + 1) % R->ckpt_every == 0) || last || stop)
            if ((st = save_all(m, &o, ckpt, step + 1, &rng, opt_step, last)) != PD_OK) goto done;
        if (R->progress) {
            char extra[160];
            snprintf(extra, sizeof extra, "reward %.3f  acc %.0f%%  len %.0f  kept %d/%d  %.0f rollout tok/s", s.reward_mean,
                     100 * s.accuracy, s.len_mean, s.groups_kept, s.groups_drawn, tr);
            pd_progress_update(&pg, step + 1 - start, extra);
        }
        res->steps_done = step + 1;
        if (stop) break;
    }
    res->seconds = pd_time_now() - t_run;
    if (R->progress) pd_progress_finish(&pg, NULL);
    if (R->plot_path && cv.n > 0) st = plot_curves(R->plot_path, &cv, pd_rl_algo_name(o.rl.algo));
done:
    if (log && fclose(log) && st == PD_OK) st = pd_fail(PD_ERR_IO, "%s: write failed", R->log_path);
    for (int i = 0; i < n_items; i++) pd_task_item_free(&items[i]);
    free(items);
    free(cv.x); free(cv.reward); free(cv.len); free(cv.len_wrong); free(cv.ex); free(cv.ey);
    pd_rl_free(r);
    pd_tmodel_free(m);
    pd_tmodel_free(ref);
    free(keep);
    free(model_keep);
    return st;
}

/* ---- `ponder bench rl` ---- */

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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
        pd_rng_seed(&g, 1);
        pd_tmodel_init(m, &g);
    }
    pd_model *pm = pd_rl_view(m);
    pd_status st = pm ? PD_OK : PD_ERR_STATE;
    fprintf(out, "model: %s, %zu parameters, %d threads, %d new tokens per sequence\n\n",
            model_path ? model_path : "random qwen3 byte model (dim 128, 4 layers)", pd_tmodel_n_params(m),
            pd_threads_get(), max_tokens);
    fprintf(out, "| rollout | sequences | tokens | wall s | tokens/s | CPU s | tokens per CPU s | vs 1 seq |\n");
    fprintf(out, "|---|---:|---:|---:|---:|---:|---:|---:|\n");
    static const int shapes[3][2] = {{1, 1}, {1, 8}, {8, 8}};
    double base = 0;
    for (int k = 0; k < 3 && st == PD_OK; k++) {
        double w, c, n;
        st = bench_rollout(pm, pd_tmodel_chat(m), shapes[k][0], shapes[k][1], max_tokens, &w, &c, &n);
        if (st != PD_OK) break;
        double tps = w > 0 ? n / w : 0;
        if (k == 0) base = tps;
        fprintf(out, "| %d prompt x %d | %d | %.0f | %.2f | %.0f | %.2f | %.0f | %.1fx |\n", shapes[k][0], shapes[k][1],
                shapes[k][0] * shapes[k][1], n, w, tps, c, c > 0 ? n / c : 0, base > 0 ? tps / base : 0);
    }
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
        pd_rng_seed(&g, 7);
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
