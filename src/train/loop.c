/* train/loop.c — the parts of a training run that `ponder train` (trainer.c) and `ponder finetune`
 * (peft.c) share: the run settings in the checkpoint's config JSON, batch buffers, the accumulated
 * micro-batch forward/backward, the held-out loss, greedy evaluation, and the per-step cadence of
 * step log, evaluation, checkpoint and progress. What differs (how the model is updated, what a
 * checkpoint holds) stays with the caller.
 *
 * Data parallel under mpirun (ponder/dist.h): --batch is the global batch; each of N ranks runs B/N
 * rows per micro-batch. The step equals a one-process run with --batch B/N --accum N·accum: every
 * rank draws all N·accum micro-batches from the one data stream and keeps its own (rank r the r-th
 * block of accum), the gradient is scaled by the global target count, summed over the ranks in rank
 * order, and the loss is the sum of the micro-batch losses in stream order — so step 1's loss is
 * bit-identical and later steps differ only by float rounding in the gradient sum. Rank 0 alone
 * writes the log, evaluates, checkpoints, plots and shows progress. */
#include "train_int.h"
#include "ponder/alloc.h"
#include "ponder/dist.h"
#include "ponder/log.h"
#include "ponder/model.h"
#include "ponder/outfile.h"
#include "ponder/timer.h"
#include <errno.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void pd_run_opts_default(pd_run_opts *r, int64_t steps) {
    memset(r, 0, sizeof *r);
    pd_optcfg_default(&r->opt);
    r->dlo = r->dhi = 3;
    r->B = 8; r->T = 256; r->accum = 1;
    r->steps = steps;
    r->seed = 1;
    r->eval_batches = 4;
    r->max_new = 256;
}

void pd_run_opts_to_json(cJSON *j, const pd_run_opts *r) {
    if (r->task) cJSON_AddStringToObject(j, "task", r->task);
    if (r->data_path) cJSON_AddStringToObject(j, "data", r->data_path);
    cJSON_AddNumberToObject(j, "dlo", r->dlo);
    cJSON_AddNumberToObject(j, "dhi", r->dhi);
    cJSON_AddNumberToObject(j, "batch", r->B);
    cJSON_AddNumberToObject(j, "seq", r->T);
    cJSON_AddNumberToObject(j, "accum", r->accum);
    cJSON_AddNumberToObject(j, "steps", (double)r->steps);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    cJSON_AddStringToObject(j, "seed", seed);
    const pd_optcfg *o = &r->opt;
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "min_lr_frac", o->min_lr_frac);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "beta1", o->beta1);
    cJSON_AddNumberToObject(j, "beta2", o->beta2);
    cJSON_AddNumberToObject(j, "eps", o->eps);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "clip", o->clip);
    if (r->attn_sink || r->attn_recent) {
        cJSON_AddNumberToObject(j, "attn_sink", r->attn_sink);
        cJSON_AddNumberToObject(j, "attn_recent", r->attn_recent);
        if (r->attn_mix) cJSON_AddNumberToObject(j, "attn_mix", r->attn_mix);
    }
    if (r->precision != PD_PREC_F32) cJSON_AddStringToObject(j, "precision", pd_precision_name(r->precision));
}

/* a checkpoint's settings are untrusted: clamp before casting (an out-of-range double → int cast is UB) */
static double fit_num(double v, double m) { return v > m ? m : v < -m ? -m : v; }

/* A number in a JSON log line, or null when it is not finite (JSON has no NaN/Infinity). */
static void log_num(FILE *f, const char *fmt, double v) {
    if (isfinite(v)) fprintf(f, fmt, v);
    else fputs("null", f);
}

pd_status pd_run_opts_from_json(const cJSON *j, pd_run_opts *r, char **keep) {
    const cJSON *x;
#define NUM(key, dst, type) if ((x = cJSON_GetObjectItem(j, key)) && cJSON_IsNumber(x)) \
        dst = (type)fit_num(x->valuedouble, sizeof(type) == 8 ? 4e18 : 2147483647.0)
    NUM("dlo", r->dlo, int); NUM("dhi", r->dhi, int);
    NUM("batch", r->B, int); NUM("seq", r->T, int); NUM("accum", r->accum, int);
    NUM("lr", r->opt.lr, float); NUM("min_lr_frac", r->opt.min_lr_frac, float); NUM("warmup", r->opt.warmup, int);
    NUM("beta1", r->opt.beta1, float); NUM("beta2", r->opt.beta2, float); NUM("eps", r->opt.eps, float);
    NUM("weight_decay", r->opt.weight_decay, float); NUM("clip", r->opt.clip, float);
    NUM("attn_sink", r->attn_sink, int); NUM("attn_recent", r->attn_recent, int);
    NUM("attn_mix", r->attn_mix, int);
    if (r->steps <= 0) NUM("steps", r->steps, int64_t);
#undef NUM
    if ((x = cJSON_GetObjectItem(j, "precision")) && (!cJSON_IsString(x) || pd_precision_parse(x->valuestring, &r->precision) != PD_OK))
        return pd_fail(PD_ERR_FORMAT, "checkpoint: run.precision is not \"f32\" or \"bf16\"");
    if ((x = cJSON_GetObjectItem(j, "seed")) && cJSON_IsString(x)) r->seed = strtoull(x->valuestring, NULL, 10);
    if ((x = cJSON_GetObjectItem(j, "task")) && cJSON_IsString(x)) {
        if (!(*keep = pd_strdup(x->valuestring))) return PD_ERR_NOMEM;
        r->task = *keep;
        r->data_path = NULL;
    } else if ((x = cJSON_GetObjectItem(j, "data")) && cJSON_IsString(x)) {
        if (!(*keep = pd_strdup(x->valuestring))) return PD_ERR_NOMEM;
        r->data_path = *keep;
        r->task = NULL;
    }
    return PD_OK;
}

pd_status pd_run_bufs_alloc(pd_run_bufs *b, size_t n) {
    b->tok = pd_malloc(n * sizeof(int32_t));
    b->tgt = pd_malloc(n * sizeof(int32_t));
    b->seg = pd_malloc(n * sizeof(int32_t));
    return b->tok && b->tgt && b->seg ? PD_OK : PD_ERR_NOMEM;
}

void pd_run_bufs_free(pd_run_bufs *b) {
    free(b->tok); free(b->tgt); free(b->seg);
    memset(b, 0, sizeof *b);
}

/* On resume from step `start`: drop the log's lines of steps after `start` (an interrupted run logged
 * steps its last checkpoint does not hold; the resumed run logs them again), atomically. A missing
 * log is fine (it is started); lines without a leading "step" key are kept. */
pd_status pd_run_log_keep_upto(const char *path, int64_t start) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return PD_OK;
    size_t n;
    char *text = pd_read_file(path, &n);
    if (!text) return pd_fail_ctx(PD_ERR_IO, "step log");
    pd_outfile *o = pd_out_open(path);
    if (!o) { free(text); return PD_ERR_IO; }
    bool bad = false;
    for (char *p = text; p < text + n && !bad;) {
        char *nl = memchr(p, '\n', (size_t)(text + n - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(text + n - p);
        long long step;
        bool later = sscanf(p, "{\"step\":%lld", &step) == 1 && step > start;
        if (!later && fwrite(p, 1, len, pd_out_fp(o)) != len) bad = true;
        p += len;
    }
    free(text);
    if (bad) { pd_out_abort(o); return pd_fail(PD_ERR_IO, "%s: rewriting the step log failed", path); }
    return pd_out_commit(o);
}

pd_status pd_run_precision(pd_tmodel *m, pd_precision p) {
    PD_TRY(pd_tmodel_set_precision(m, p));
    static atomic_int said = 0;
    if (p == PD_PREC_BF16 && pd_gemm_bf16_best() != PD_GEMM_BF16_AVX512BF16 && !atomic_exchange(&said, 1) &&
        pd_dist_rank() == 0)
        fprintf(stderr, "note: --precision bf16 on a CPU without AVX512-BF16: the same BF16 numerics through %s "
                        "GEMMs, with no BF16 speed-up (slower than f32 here: the operands are rounded and widened)\n",
                pd_gemm_bf16_path_name(pd_gemm_bf16_best()));
    return PD_OK;
}

pd_status pd_run_open(pd_run *r, int64_t steps, int64_t start, const char *log_path, int eval_n, int eval_difficulty,
                      int dhi) {
    r->start = start;
    PD_TRY(pd_run_precision(r->m, r->precision));
    r->rank = pd_dist_rank();
    r->ranks = pd_dist_size();
    if (r->ranks > 1) {
        if (r->B % r->ranks)
            return pd_fail(PD_ERR_ARG, "--batch %d is the global batch of %d processes: it must be a multiple of %d",
                           r->B, r->ranks, r->ranks);
        r->B /= r->ranks;
        if (r->rank > 0) { log_path = NULL; r->progress = NULL; } /* rank 0 writes */
        PD_TRY(pd_run_bufs_alloc(&r->skip, (size_t)r->B * r->T));
    }
    r->mb_loss = pd_calloc((size_t)r->accum * r->ranks, sizeof(double));
    if (!r->mb_loss) return PD_ERR_NOMEM;
    pd_status st = pd_run_bufs_alloc(&r->bb, (size_t)r->accum * r->B * r->T);
    r->curve = pd_calloc((size_t)steps, sizeof(double));
    r->max_ev = (int)(steps / (r->eval_every > 0 ? r->eval_every : steps)) + 2;
    r->ex = pd_calloc((size_t)r->max_ev, sizeof(double));
    r->ey = pd_calloc((size_t)r->max_ev, sizeof(double));
    if (st != PD_OK || !r->curve || !r->ex || !r->ey) return PD_ERR_NOMEM;
    if (eval_n > 0 && pd_data_kind_of(r->d) != PD_DATA_TEXT) {
        r->items = pd_calloc((size_t)eval_n, sizeof *r->items);
        if (!r->items) return PD_ERR_NOMEM;
        r->n_items = pd_data_eval_items(r->d, pd_rng_derive(r->seed, PD_STREAM_EVAL_ITEMS), eval_difficulty > 0 ? eval_difficulty : dhi,
                                        eval_n, r->items);
        if (r->n_items < 0) { r->n_items = 0; return PD_ERR_ARG; }
    }
    if (log_path) {
        /* a journal, flushed and checked after every step (an append on resume: not a temp file) */
        r->log_path = log_path;
        if (start > 0) PD_TRY(pd_run_log_keep_upto(log_path, start));
        r->log = fopen(log_path, start > 0 ? "a" : "w");
        if (!r->log) return pd_fail(PD_ERR_IO, "%s: cannot open the step log for writing", log_path);
    }
    return PD_OK;
}

void pd_run_begin(pd_run *r, const char *label, int64_t steps) {
    if (r->progress) pd_progress_start(&r->pg, r->progress, label, steps - r->start, "step");
    r->t_run = pd_time_now();
    r->tokens_run = 0;
}

double pd_run_heldout_loss(pd_run *r) {
    pd_rng g;
    pd_rng_seed(&g, pd_rng_derive(r->seed, PD_STREAM_HELDOUT));
    double sum = 0;
    int64_t cnt = 0;
    for (int i = 0; i < r->eval_batches; i++) {
        if (pd_data_batch(r->d, &g, r->B, r->T, true, r->bb.tok, r->bb.tgt, r->bb.seg) < 0) return NAN;
        pd_tbatch b = {r->B, r->T, r->bb.tok, r->bb.tgt, r->bb.seg};
        int64_t n;
        sum += pd_tmodel_forward(r->m, &b, &n);
        cnt += n;
    }
    return cnt ? sum / cnt : NAN;
}

/* first tensor of the model with a non-finite value in a (params or grads), or NULL */
static const char *first_bad_tensor(const pd_tmodel *m, const float *a) {
    for (int t = 0; t < m->n_tensors; t++) {
        if (pd_tmodel_is_frozen(m, t)) continue;   /* in its stored type: no f32 values, no gradient */
        const float *x = a + m->tensors[t].offset;
        for (size_t i = 0; i < m->tensors[t].n; i++)
            if (!isfinite(x[i])) return m->tensors[t].name;
    }
    return NULL;
}

/* Test hook (tests/cli/test_safety.sh, test_rl.sh): PD_TEST_NAN_AT_STEP=N puts a NaN into the first
 * weight of the first layer norm before step N (1-based), as a diverged update would. */
void pd_run_test_poison(pd_tmodel *m, int64_t step) {
    const char *e = getenv("PD_TEST_NAN_AT_STEP");
    if (!e || strtoll(e, NULL, 10) != step + 1) return;
    for (int t = 0; t < m->n_tensors; t++)
        if (strstr(m->tensors[t].name, "attn_norm")) { m->params[m->tensors[t].offset] = NAN; return; }
}

/* after forward/backward of step: a non-finite loss or gradient stops the run naming the step and the
 * first tensor that went bad (weights first: they feed everything else) */
pd_status pd_tmodel_check_finite(const pd_tmodel *m, int64_t step, double loss) {
    const char *bad_w = first_bad_tensor(m, m->params);
    const char *bad_g = bad_w ? NULL : first_bad_tensor(m, m->grads);
    if (isfinite(loss) && !bad_w && !bad_g) return PD_OK;
    char what[160];
    if (bad_w) snprintf(what, sizeof what, "the weights of '%s' are not finite", bad_w);
    else if (bad_g) snprintf(what, sizeof what, "the gradient of '%s' is not finite", bad_g);
    else snprintf(what, sizeof what, "the weights and gradients are finite (the logits overflowed)");
    return pd_fail(PD_ERR_RANGE, "step %lld: the loss is %s: %s; stopped (no file written for this step; a lower "
                                 "--lr or --clip may help)",
                   (long long)step + 1, isnan(loss) ? "nan" : isfinite(loss) ? "finite" : "infinite", what);
}

/* data parallel: the gradient summed over the ranks (in rank order), and the micro-batch losses
 * gathered so every rank adds them in stream order */
pd_status pd_tmodel_sum_grads(pd_tmodel *m) {
    /* consecutive trainable tensors in one call (buckets inside) */
    for (int t = 0; t < m->n_tensors;) {
        if (pd_tmodel_is_frozen(m, t)) { t++; continue; }
        int u = t;
        while (u + 1 < m->n_tensors && !pd_tmodel_is_frozen(m, u + 1) &&
               m->tensors[u + 1].offset == m->tensors[u].offset + m->tensors[u].n)
            u++;
        size_t a = m->tensors[t].offset, b = m->tensors[u].offset + m->tensors[u].n;
        PD_TRY(pd_dist_sum_f32(m->grads + a, b - a));
        t = u + 1;
    }
    return PD_OK;
}

static pd_status reduce_step(pd_run *r) {
    pd_tmodel *m = r->m;
    if (r->grad_ranges) {
        for (int i = 0; i < r->n_grad_ranges; i++)
            PD_TRY(pd_dist_sum_f32(m->grads + r->grad_ranges[i][0], r->grad_ranges[i][1]));
    } else {
        PD_TRY(pd_tmodel_sum_grads(m));
    }
    /* each rank filled its own block of mb_loss, the rest are zero: the sum is a gather */
    return pd_dist_sum_f64(r->mb_loss, (size_t)r->accum * r->ranks);
}

pd_status pd_run_micro(pd_run *r, pd_rng *rng, int64_t step, double *loss) {
    /* draw every micro-batch first (all ranks' under data parallelism, in stream order): the loss is
     * the mean over all their targets */
    int64_t total = 0;
    int nmb = r->accum * r->ranks, first = r->rank * r->accum;
    for (int j = 0; j < nmb; j++) {
        bool mine = j >= first && j < first + r->accum;
        size_t off = mine ? (size_t)(j - first) * r->B * r->T : 0;
        const pd_run_bufs *d = mine ? &r->bb : &r->skip;
        int64_t nt = pd_data_batch(r->d, rng, r->B, r->T, false, d->tok + off, d->tgt + off, d->seg + off);
        if (nt < 0) return PD_ERR_ARG;
        total += nt;
        r->mb_loss[j] = 0;
    }
    pd_run_test_poison(r->m, step);
    pd_tmodel_zero_grad(r->m);
    for (int k = 0; k < r->accum && total > 0; k++) {
        size_t off = (size_t)k * r->B * r->T;
        pd_tbatch b = {r->B, r->T, r->bb.tok + off, r->bb.tgt + off, r->bb.seg + off};
        int64_t n;
        uint64_t mb = (uint64_t)step * (uint64_t)nmb + (uint64_t)(first + k); /* --attn-window S,R,mixed */
        pd_tmodel_window_draw(r->m, pd_rng_derive(r->seed ^ PD_STREAM_WINDOW, mb));
        r->mb_loss[first + k] = pd_tmodel_forward(r->m, &b, &n);
        pd_tmodel_backward(r->m, &b, 1.0f / (float)total);
    }
    pd_tmodel_window_base(r->m);
    if (r->ranks > 1) PD_TRY(reduce_step(r));
    double loss_sum = 0;
    for (int j = 0; j < nmb; j++) loss_sum += r->mb_loss[j];
    *loss = total ? loss_sum / total : 0;
    return pd_tmodel_check_finite(r->m, step, *loss);
}

pd_status pd_run_check_targets(pd_run *r, const pd_rng *rng) {
    enum { PROBE = 8 }; /* micro-batches looked at, from a copy of the stream: the data is unchanged */
    pd_rng g = *rng;
    for (int k = 0; k < PROBE; k++) {
        int64_t nt = pd_data_batch(r->d, &g, r->B, r->T, false, r->bb.tok, r->bb.tgt, r->bb.seg);
        if (nt < 0) return PD_ERR_ARG;
        if (nt > 0) return PD_OK;
    }
    return pd_fail(PD_ERR_ARG, "no tokens to learn from: %d micro-batches of %d x %d tokens hold no target token "
                               "(each row is filled by prompt tokens; a longer --seq gives the completions room)",
                   PROBE, r->B, r->T);
}

pd_status pd_run_check_outputs(const pd_run_opts *o, const char *ckpt_path) {
    PD_TRY(pd_out_check(o->out, "output"));
    if (ckpt_path) PD_TRY(pd_out_check(ckpt_path, "checkpoint"));
    if (o->log_path) PD_TRY(pd_out_check(o->log_path, "log"));
    if (o->plot_path) PD_TRY(pd_out_check(o->plot_path, "plot"));
    return PD_OK;
}

pd_status pd_run_resume_steps(pd_run_opts *r, int64_t start, int64_t schedule) {
    if (r->steps <= 0) r->steps = schedule;
    if (start >= r->steps)
        return pd_fail(PD_ERR_ARG, "%s is at step %lld of its %lld-step schedule: nothing to do (nothing written); "
                                   "--steps N with N > %lld continues at the schedule's final learning rate",
                       r->resume, (long long)start, (long long)schedule, (long long)start);
    if (r->steps != schedule)
        pd_log(PD_LOG_WARN, "resume: the learning-rate schedule stays the checkpoint's (%lld steps); %s",
               (long long)schedule, r->steps < schedule ? "the run stops early at the step asked for"
                                                        : "the steps past it run at its final learning rate");
    return PD_OK;
}

int64_t pd_run_json_steps(const cJSON *j) {
    const cJSON *x = cJSON_GetObjectItem(j, "steps");
    return x && cJSON_IsNumber(x) ? (int64_t)fit_num(x->valuedouble, 4e18) : 0;
}

static pd_status run_eval(pd_run *r, int64_t step, const pd_run_hooks *h) {
    if (h->before_eval) h->before_eval(h->ctx);
    double hl = pd_run_heldout_loss(r);
    r->heldout_loss = hl;
    pd_geval ge = {0};
    if (r->n_items > 0) {
        pd_model *pm = pd_tmodel_snapshot(r->m);
        if (!pm) return pd_fail_ctx(PD_ERR_STATE, "evaluation snapshot");
        pd_status st = pd_train_greedy_eval(pm, r->items, r->n_items, r->max_new, NULL, &ge);
        pd_model_free(pm);
        if (st != PD_OK) return st;
    }
    r->eval = ge;
    if (r->n_ev < r->max_ev) { r->ex[r->n_ev] = (double)step + 1; r->ey[r->n_ev] = hl; r->n_ev++; }
    if (r->log) {
        fprintf(r->log, "{\"step\":%lld,\"eval\":true,\"heldout_loss\":", (long long)step + 1);
        log_num(r->log, "%.6f", hl);  /* null when not finite (no held-out tokens): JSON has no NaN */
        if (r->n_items) fprintf(r->log, ",\"accuracy\":%.4f,\"mean_think_tokens\":%.1f", ge.accuracy, ge.mean_think_tokens);
        fprintf(r->log, "}\n");
    }
    if (r->progress && (r->eval_lines_on_tty || !r->pg.is_tty)) {
        /* on a terminal, clear the bar's line first; the bar redraws below */
        fprintf(r->progress, "%seval step %lld: held-out loss %.4f", r->pg.is_tty ? "\r\033[K" : "",
                (long long)step + 1, hl);
        if (r->n_items) fprintf(r->progress, ", accuracy %.1f%% (%d/%d)", 100 * ge.accuracy, ge.correct, ge.n);
        fprintf(r->progress, "\n");
    }
    return PD_OK;
}

pd_status pd_run_after_step(pd_run *r, int64_t step, double loss, float lr, double gnorm, double t0, bool eval_final,
                            bool ckpt_final, const pd_run_hooks *h) {
    if (pd_dist_verify()) PD_TRY(pd_dist_same(r->m->params, r->m->n_params * sizeof(float), "weights"));
    r->curve[step] = loss;
    if (r->loss_curve) r->loss_curve[step] = loss;
    size_t bt = (size_t)r->accum * r->B * r->T * (r->ranks > 0 ? r->ranks : 1); /* the global batch */
    double dt = pd_time_now() - t0, tps = dt > 0 ? (double)bt / dt : 0;
    r->tokens_run += (double)bt;
    if (r->log) {
        fprintf(r->log, "{\"step\":%lld,\"loss\":", (long long)step + 1);
        log_num(r->log, "%.6f", loss);
        fprintf(r->log, ",\"lr\":%.6g,\"grad_norm\":", lr);
        log_num(r->log, "%.6g", gnorm);
        fprintf(r->log, ",\"tokens_per_s\":%.1f}\n", tps);
    }
    pd_status st;
    if (((r->eval_every > 0 && (step + 1) % r->eval_every == 0) || eval_final) && r->rank == 0)
        if ((st = run_eval(r, step, h)) != PD_OK) return st;
    if (r->log && (fflush(r->log) != 0 || ferror(r->log)))
        return pd_fail(PD_ERR_IO, "%s: writing the step log failed: %s", r->log_path, strerror(errno ? errno : EIO));
    if (((r->ckpt_every > 0 && (step + 1) % r->ckpt_every == 0) || ckpt_final) && r->rank == 0)
        if ((st = h->save(h->ctx, step + 1, eval_final)) != PD_OK) return st;
    if (r->progress) {
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f  %.0f tok/s", loss, tps);
        pd_progress_update(&r->pg, step + 1 - r->start, extra);
    }
    r->steps_done = step + 1;
    r->final_loss = loss;
    return PD_OK;
}

pd_status pd_run_finish(pd_run *r, const char *plot_path) {
    if (r->log) {
        errno = 0;
        int bad = fclose(r->log) != 0;
        r->log = NULL;
        if (bad) return pd_fail(PD_ERR_IO, "%s: writing the step log failed: %s", r->log_path, strerror(errno ? errno : EIO));
    }
    r->seconds = pd_time_now() - r->t_run;
    r->tokens_per_s = r->seconds > 0 ? r->tokens_run / r->seconds : 0;
    if (r->progress) {
        char extra[96];
        snprintf(extra, sizeof extra, "loss %.4f  %.0f tok/s", r->final_loss, r->tokens_per_s);
        pd_progress_finish(&r->pg, extra);
    }
    if (plot_path && r->steps_done > r->start && r->rank == 0)
        return pd_train_plot_svg(plot_path, r->curve + r->start, r->start, r->steps_done - r->start, r->ex, r->ey,
                                 r->n_ev);
    return PD_OK;
}

void pd_run_close(pd_run *r) {
    if (r->log) fclose(r->log);
    for (int i = 0; i < r->n_items; i++) pd_task_item_free(&r->items[i]);
    free(r->items);
    pd_run_bufs_free(&r->bb);
    pd_run_bufs_free(&r->skip);
    free(r->mb_loss);
    r->mb_loss = NULL;
    free(r->curve); free(r->ex); free(r->ey);
    r->log = NULL; r->items = NULL; r->n_items = 0; r->curve = r->ex = r->ey = NULL;
}
