/* eval/eval.c — the evaluation loop: items × samples through one pd_gen (as many sequences at
 * once as it has slots), each finished sample judged by its task's verifier (or the reference
 * answer for user items) and turned into a record. */
#include "ponder/eval.h"
#include "ponder/alloc.h"
#include <stdlib.h>
#include <string.h>

typedef struct { int seq; size_t job; } active_t;

static const pd_task *task_of(const pd_task_item *it) {
    if (!it->task) return NULL;
    for (size_t i = 0; i < pd_task_count(); i++)
        if (!strcmp(pd_task_at(i)->name, it->task)) return pd_task_at(i);
    return NULL;
}

static pd_status make_record(pd_gen *g, int seq, const pd_task_item *it, int sample, pd_extract_mode mode,
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
    rec->id = pd_strdup(it->id ? it->id : "");
    rec->task = pd_strdup(it->task ? it->task : "jsonl");
    rec->sample = sample;
    rec->difficulty = it->difficulty;
    rec->prompt = pd_strdup(it->prompt ? it->prompt : "");
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
    rec->finish = pd_finish_name(res->finish);
    if (!rec->id || !rec->task || !rec->prompt || !rec->thinking || !rec->answer) {
        pd_eval_record_free(rec);
        return pd_fail(PD_ERR_NOMEM, "eval: out of memory building a record");
    }
    return PD_OK;
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
    int slots = pd_gen_n_free(g);
    if (p->max_active > 0 && p->max_active < slots) slots = p->max_active;
    active_t *act = pd_calloc(slots > 0 ? (size_t)slots : 1, sizeof *act);
    if (!recs || !act) { free(recs); free(act); return PD_ERR_NOMEM; }
    size_t next = 0, done = 0;
    int n_act = 0;
    pd_status st = PD_OK;
    while (st == PD_OK && done < total) {
        while (next < total && n_act < slots && pd_gen_n_free(g) > 0) {
            size_t item = next / (size_t)p->samples;
            int sample = (int)(next % (size_t)p->samples);
            size_t nt = 0;
            int32_t *toks = p->encode(p->ctx, &items[item], &nt);
            if (!toks) { st = pd_fail_ctx(PD_ERR_ARG, "eval: item '%s'", items[item].id ? items[item].id : "?"); break; }
            pd_seq_params sp = pd_seq_defaults();
            pd_policy pol;
            memset(&pol, 0, sizeof pol);
            bool has_pol = false;
            if (!p->seq_params(p->ctx, item, sample, &sp, &pol, &has_pol)) {
                free(toks);
                st = pd_fail_ctx(PD_ERR_ARG, "eval: sequence parameters for item '%s'", items[item].id ? items[item].id : "?");
                break;
            }
            if (has_pol) { sp.policies = &pol; sp.n_policies = 1; }
            int id = pd_gen_add(g, toks, (int)nt, &sp);
            free(toks);
            if (id < 0) {
                if (has_pol && pol.release) pol.release(pol.ctx);
                st = pd_fail_ctx(PD_ERR_STATE, "eval: item '%s'", items[item].id ? items[item].id : "?");
                break;
            }
            act[n_act++] = (active_t){id, next};
            next++;
        }
        if (st != PD_OK || n_act == 0) break;
        st = p->step ? p->step(p->ctx, g) : pd_gen_step(g);
        if (st != PD_OK) break;
        for (int a = 0; a < n_act;) {
            if (!pd_gen_done(g, act[a].seq)) { a++; continue; }
            size_t job = act[a].job;
            pd_eval_record *rec = &recs[done];
            st = make_record(g, act[a].seq, &items[job / (size_t)p->samples], (int)(job % (size_t)p->samples), p->extract, rec);
            pd_gen_remove(g, act[a].seq);
            act[a] = act[--n_act];
            if (st != PD_OK) break;
            done++;
            if (p->on_record) p->on_record(p->ctx, rec);
        }
    }
    for (int a = 0; a < n_act; a++) pd_gen_remove(g, act[a].seq);
    free(act);
    if (st != PD_OK) {
        for (size_t i = 0; i < done; i++) pd_eval_record_free(&recs[i]);
        free(recs);
        return st;
    }
    *out = recs;
    *n_out = done;
    return PD_OK;
}
