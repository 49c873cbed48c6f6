/* eval/eval.c — the evaluation loop: items × samples through one pd_gen (as many sequences at
 * once as it has slots), each finished sample judged by its task's verifier (or the reference
 * answer for user items) and turned into a record. Records come out in job order (item, then
 * sample) whatever order the sequences finish in; a prompt that does not fit the context is a
 * failed record (length/context, score 0) and the run goes on. */
#include "ponder/eval.h"
#include "ponder/alloc.h"
#include <stdlib.h>
#include <string.h>

typedef struct { int seq; size_t job; uint64_t seed; } active_t;

static const pd_task *task_of(const pd_task_item *it) {
    if (!it->task) return NULL;
    for (size_t i = 0; i < pd_task_count(); i++)
        if (!strcmp(pd_task_at(i)->name, it->task)) return pd_task_at(i);
    return NULL;
}

static pd_status fill_common(pd_eval_record *rec, const pd_task_item *it, int sample, uint64_t seed) {
    rec->id = pd_strdup(it->id ? it->id : "");
    rec->task = pd_strdup(it->task ? it->task : "jsonl");
    rec->sample = sample;
    rec->seed = seed;
    rec->difficulty = it->difficulty;
    rec->prompt = pd_strdup(it->prompt ? it->prompt : "");
    if (!rec->id || !rec->task || !rec->prompt) {
        pd_eval_record_free(rec);
        return pd_fail(PD_ERR_NOMEM, "eval: out of memory building a record");
    }
    return PD_OK;
}

/* A prompt of n_prompt tokens that does not fit the context of n_ctx: failed, nothing generated. */
static pd_status context_record(const pd_task_item *it, int sample, uint64_t seed, pd_eval_record *rec) {
    memset(rec, 0, sizeof *rec);
    rec->thinking = pd_strdup("");
    rec->answer = pd_strdup("");
    rec->reason = "prompt longer than the context";
    rec->finish_reason = "length";
    rec->finish_detail = "context";
    rec->context_overflow = true;
    if (!rec->thinking || !rec->answer) { pd_eval_record_free(rec); return PD_ERR_NOMEM; }
    return fill_common(rec, it, sample, seed);
}

static pd_status make_record(pd_gen *g, int seq, const pd_task_item *it, int sample, uint64_t seed, pd_extract_mode mode,
                             pd_eval_record *rec) {
    const pd_gen_result *res = pd_gen_get_result(g, seq);
    if (!res) return pd_fail(PD_ERR_STATE, "eval: sequence %d has no result", seq);
    memset(rec, 0, sizeof *rec);
    int32_t close = pd_gen_think_close(g);
    int closed = 0;
    for (int i = res->n_prompt; i < res->n_tokens && !closed; i++) closed = close >= 0 && res->tokens[i] == close;
    pd_buf out = {0};
    if (res->n_thinking > 0 || res->thinking_len > 0) {
        pd_buf_append(&out, "<think>", 7);
        pd_buf_append(&out, res->thinking, res->thinking_len);
        if (closed) pd_buf_append(&out, "</think>", 8);
    }
    if (!(res->n_thinking > 0 && !closed)) pd_buf_append(&out, res->answer, res->answer_len);
    if (pd_buf_append(&out, "", 0)) { pd_buf_free(&out); return PD_ERR_NOMEM; }
    pd_verdict v;
    memset(&v, 0, sizeof v);
    pd_status s;
    if (pd_rest_is_bundle(it)) {
        /* REST bundle: one score per question, the record's score is their mean */
        double sc[PD_REST_MAX_K];
        int k = 0;
        s = pd_rest_verify(it, out.data, sc, &k);
        if (s == PD_OK) {
            rec->rest_scores = pd_malloc(sizeof(double) * (size_t)k);
            if (!rec->rest_scores) s = PD_ERR_NOMEM;
        }
        if (s == PD_OK) {
            double sum = 0;
            for (int j = 0; j < k; j++) { rec->rest_scores[j] = sc[j]; sum += sc[j]; }
            rec->rest_k = k;
            v.score = sum / k;
            v.reason = "rest";
        }
    } else {
        const pd_task *t = task_of(it);
        s = t ? pd_task_verify_ex(t, it, out.data, mode, &v) : pd_task_verify_ref(it->answer, out.data, mode, &v);
    }
    pd_buf_free(&out);
    if (s != PD_OK) { free(rec->rest_scores); rec->rest_scores = NULL; return s; }
    rec->thinking = pd_strndup(res->thinking ? res->thinking : "", res->thinking ? res->thinking_len : 0);
    rec->answer = pd_strndup(res->answer ? res->answer : "", res->answer ? res->answer_len : 0);
    rec->extracted = v.extracted;
    v.extracted = NULL;
    rec->score = v.score;
    rec->correct = v.score >= 1.0;
    rec->reason = v.reason;
    rec->n_thinking = res->n_thinking;
    rec->n_answer = res->n_answer;
    rec->wall_s = res->t_prefill + res->t_decode;
    rec->finish_reason = pd_finish_reason(res);
    rec->finish_detail = pd_finish_detail(res);
    rec->n_token_ids = res->n_tokens - res->n_prompt;
    rec->token_ids = pd_malloc((size_t)(rec->n_token_ids > 0 ? rec->n_token_ids : 1) * sizeof(int32_t));
    if (rec->token_ids && rec->n_token_ids > 0)
        memcpy(rec->token_ids, res->tokens + res->n_prompt, (size_t)rec->n_token_ids * sizeof(int32_t));
    if (!rec->thinking || !rec->answer || !rec->token_ids) {
        pd_eval_record_free(rec);
        return pd_fail(PD_ERR_NOMEM, "eval: out of memory building a record");
    }
    return fill_common(rec, it, sample, seed);
}

/* Hand finished records to on_record in job order. */
static void flush_ready(const pd_eval_params *p, pd_eval_record *recs, const bool *ready, size_t total, size_t *emitted) {
    while (*emitted < total && ready[*emitted]) {
        if (p->on_record) p->on_record(p->ctx, &recs[*emitted]);
        (*emitted)++;
    }
}

/* Start job `job` in a free slot: 1 started, 0 finished at once (a context record), -1 error. */
static int start_job(pd_gen *g, const pd_task_item *items, const pd_eval_params *p, size_t job, pd_eval_record *rec,
                     active_t *act) {
    size_t item = job / (size_t)p->samples;
    int sample = (int)(job % (size_t)p->samples);
    const char *iid = items[item].id ? items[item].id : "?";
    size_t nt = 0;
    int32_t *toks = p->encode(p->ctx, &items[item], &nt);
    if (!toks) { pd_fail_ctx(PD_ERR_ARG, "eval: item '%s'", iid); return -1; }
    pd_seq_params sp = pd_seq_defaults();
    pd_policy pol;
    memset(&pol, 0, sizeof pol);
    bool has_pol = false;
    if (!p->seq_params(p->ctx, item, sample, &sp, &pol, &has_pol)) {
        free(toks);
        pd_fail_ctx(PD_ERR_ARG, "eval: sequence parameters for item '%s'", iid);
        return -1;
    }
    if (nt >= (size_t)pd_gen_n_ctx(g)) {
        free(toks);
        if (has_pol && pol.release) pol.release(pol.ctx);
        return context_record(&items[item], sample, sp.sampling.seed, rec) == PD_OK ? 0 : -1;
    }
    if (has_pol) { sp.policies = &pol; sp.n_policies = 1; }
    int id = pd_gen_add(g, toks, (int)nt, &sp);
    free(toks);
    if (id < 0) {
        if (has_pol && pol.release) pol.release(pol.ctx);
        pd_fail_ctx(PD_ERR_STATE, "eval: item '%s'", iid);
        return -1;
    }
    *act = (active_t){id, job, sp.sampling.seed};
    return 1;
}

pd_status pd_eval_run(pd_gen *g, const pd_task_item *items, size_t n, const pd_eval_params *p,
                      pd_eval_record **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (!g || !p || p->samples < 1 || !p->encode || !p->seq_params || (n && !items))
        return pd_fail(PD_ERR_ARG, "eval: bad arguments (samples %d)", p ? p->samples : 0);
    size_t total;
    if (!pd_mul_ok(n, (size_t)p->samples, &total)) return pd_fail(PD_ERR_RANGE, "eval: too many samples");
    pd_eval_record *recs = pd_calloc(total ? total : 1, sizeof *recs);
    bool *ready = pd_calloc(total ? total : 1, sizeof *ready);
    int slots = pd_gen_n_free(g);
    if (p->max_active > 0 && p->max_active < slots) slots = p->max_active;
    active_t *act = pd_calloc(slots > 0 ? (size_t)slots : 1, sizeof *act);
    if (!recs || !ready || !act) { free(recs); free(ready); free(act); return PD_ERR_NOMEM; }
    size_t next = 0, done = 0, emitted = 0;
    int n_act = 0;
    pd_status st = PD_OK;
    while (st == PD_OK && done < total) {
        while (next < total && n_act < slots && pd_gen_n_free(g) > 0) {
            int r = start_job(g, items, p, next, &recs[next], &act[n_act]);
            if (r < 0) { st = PD_ERR_STATE; break; }
            if (r == 0) { ready[next] = true; done++; }
            else n_act++;
            next++;
        }
        flush_ready(p, recs, ready, total, &emitted);
        if (st != PD_OK || n_act == 0) break;
        st = p->step ? p->step(p->ctx, g) : pd_gen_step(g);
        if (st != PD_OK) break;
        for (int a = 0; a < n_act;) {
            if (!pd_gen_done(g, act[a].seq)) { a++; continue; }
            size_t job = act[a].job;
            st = make_record(g, act[a].seq, &items[job / (size_t)p->samples], (int)(job % (size_t)p->samples), act[a].seed,
                             p->extract, &recs[job]);
            pd_gen_remove(g, act[a].seq);
            act[a] = act[--n_act];
            if (st != PD_OK) break;
            ready[job] = true;
            done++;
        }
        flush_ready(p, recs, ready, total, &emitted);
    }
    for (int a = 0; a < n_act; a++) pd_gen_remove(g, act[a].seq);
    free(act);
    if (st != PD_OK) {
        for (size_t i = 0; i < total; i++)
            if (ready[i]) pd_eval_record_free(&recs[i]);
        free(recs);
        free(ready);
        return st;
    }
    free(ready);
    *out = recs;
    *n_out = done;
    return PD_OK;
}
