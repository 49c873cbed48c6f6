/* eval/eval.c — the evaluation loop: items × samples through one pd_gen (as many sequences at
 * once as it has slots), each finished sample judged by its task's verifier (or the reference
 * answer for user items) and turned into a record. Records come out in job order (item, then
 * sample) whatever order the sequences finish in; a prompt that does not fit the context is a
 * failed record (length/context, score 0) and the run goes on.
 *
 * Under mpirun (ponder/dist.h) each rank runs a contiguous block of the items (its jobs keep their
 * global item index, so their sampling seeds are the one-process run's), the records travel to every
 * rank as bytes (rec_put / rec_get) and are handed out in job order on rank 0: the records and the
 * summary equal the one-process run's (up to timings). */
#include "ponder/eval.h"
#include "ponder/alloc.h"
#include "ponder/dist.h"
#include <limits.h>
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
    int id = p->add ? p->add(p->ctx, g, item, toks, (int)nt, &sp) : pd_gen_add(g, toks, (int)nt, &sp);
    free(toks);
    if (id < 0) {
        if (!p->add && has_pol && pol.release) pol.release(pol.ctx);
        pd_fail_ctx(PD_ERR_STATE, "eval: item '%s'", iid);
        return -1;
    }
    *act = (active_t){id, job, sp.sampling.seed};
    return 1;
}

/* ---- records as bytes (for the gather across ranks) ---- */
static int put(pd_buf *b, const void *p, size_t n) { return pd_buf_append(b, p, n); }
static int put_str(pd_buf *b, const char *x) {
    uint32_t n = x ? (uint32_t)strlen(x) : UINT32_MAX;
    return put(b, &n, sizeof n) || (x && put(b, x, n));
}
static int rec_put(pd_buf *b, const pd_eval_record *r) {
    uint8_t flags = (uint8_t)(r->correct | r->context_overflow << 1);
    int32_t ints[6] = {r->sample, r->difficulty, r->n_thinking, r->n_answer, r->n_token_ids, r->rest_k};
    return put(b, &r->seed, sizeof r->seed) || put(b, &r->score, sizeof r->score) || put(b, &r->wall_s, sizeof r->wall_s) ||
           put(b, &flags, 1) || put(b, ints, sizeof ints) || put_str(b, r->id) || put_str(b, r->task) ||
           put_str(b, r->prompt) || put_str(b, r->thinking) || put_str(b, r->answer) || put_str(b, r->extracted) ||
           put_str(b, r->reason) || put_str(b, r->finish_reason) || put_str(b, r->finish_detail) ||
           put(b, r->token_ids, sizeof(int32_t) * (size_t)(r->n_token_ids > 0 ? r->n_token_ids : 0)) ||
           put(b, r->rest_scores, sizeof(double) * (size_t)(r->rest_k > 0 ? r->rest_k : 0));
}

typedef struct { const char *p, *end; bool bad; } rd_t;
static void get(rd_t *d, void *dst, size_t n) {
    if (d->bad || (size_t)(d->end - d->p) < n) { d->bad = true; memset(dst, 0, n); return; }
    memcpy(dst, d->p, n);
    d->p += n;
}
static char *get_str(rd_t *d, bool *null) {
    uint32_t n;
    get(d, &n, sizeof n);
    *null = n == UINT32_MAX;
    if (d->bad || *null) return NULL;
    if ((size_t)(d->end - d->p) < n) { d->bad = true; return NULL; }
    char *s = pd_strndup(d->p, n);
    d->p += n;
    if (!s) d->bad = true;
    return s;
}
/* The record's static strings (reason, finish reason/detail) are pointers into this binary's
 * constants, which another process holds elsewhere: they come back interned (kept for the process's
 * life; a handful of distinct values). */
static const char *intern(const char *s) {
    static char *tab[128];
    static int n;
    if (!s) return NULL;
    for (int i = 0; i < n; i++) if (!strcmp(tab[i], s)) return tab[i];
    if (n == (int)(sizeof tab / sizeof tab[0])) return "(other)";
    char *c = pd_strdup(s);
    if (!c) return "(out of memory)";
    return tab[n++] = c;
}
static pd_status rec_get(rd_t *d, pd_eval_record *r) {
    memset(r, 0, sizeof *r);
    uint8_t flags;
    int32_t ints[6];
    bool null;
    get(d, &r->seed, sizeof r->seed); get(d, &r->score, sizeof r->score); get(d, &r->wall_s, sizeof r->wall_s);
    get(d, &flags, 1); get(d, ints, sizeof ints);
    r->correct = flags & 1; r->context_overflow = flags >> 1 & 1;
    r->sample = ints[0]; r->difficulty = ints[1]; r->n_thinking = ints[2]; r->n_answer = ints[3];
    r->n_token_ids = ints[4]; r->rest_k = ints[5];
    r->id = get_str(d, &null); r->task = get_str(d, &null); r->prompt = get_str(d, &null);
    r->thinking = get_str(d, &null); r->answer = get_str(d, &null); r->extracted = get_str(d, &null);
    char *t;
    const char **statics[3] = {&r->reason, &r->finish_reason, &r->finish_detail};
    for (int k = 0; k < 3; k++) { t = get_str(d, &null); *statics[k] = intern(t); free(t); }
    if (!d->bad && (r->n_token_ids < 0 || r->rest_k < 0 || r->rest_k > PD_REST_MAX_K)) d->bad = true;
    if (!d->bad) {
        r->token_ids = pd_malloc(sizeof(int32_t) * (size_t)(r->n_token_ids > 0 ? r->n_token_ids : 1));
        if (!r->token_ids) d->bad = true;
        else get(d, r->token_ids, sizeof(int32_t) * (size_t)r->n_token_ids);
    }
    if (!d->bad && r->rest_k > 0) {
        if (!(r->rest_scores = pd_malloc(sizeof(double) * (size_t)r->rest_k))) d->bad = true;
        else get(d, r->rest_scores, sizeof(double) * (size_t)r->rest_k);
    }
    if (d->bad || !r->id || !r->task || !r->prompt || !r->thinking || !r->answer) {
        pd_eval_record_free(r);
        return pd_fail(PD_ERR_FORMAT, "eval: a record from another rank is truncated or malformed");
    }
    return PD_OK;
}

/* Jobs [j0, j1) (job = item·samples + sample over the whole item list) into recs[0 .. j1−j0). */
static pd_status run_jobs(pd_gen *g, const pd_task_item *items, size_t j0, size_t j1, const pd_eval_params *p,
                          pd_eval_record *recs, size_t *n_done) {
    size_t total = j1 - j0;
    *n_done = 0;
    bool *ready = pd_calloc(total ? total : 1, sizeof *ready);
    int slots = pd_gen_n_free(g);
    if (p->max_active > 0 && p->max_active < slots) slots = p->max_active;
    active_t *act = pd_calloc(slots > 0 ? (size_t)slots : 1, sizeof *act);
    if (!ready || !act) { free(ready); free(act); return PD_ERR_NOMEM; }
    size_t next = 0, done = 0, emitted = 0;
    int n_act = 0;
    pd_status st = PD_OK;
    while (st == PD_OK && done < total) {
        while (next < total && n_act < slots && pd_gen_n_free(g) > 0) {
            int r = start_job(g, items, p, j0 + next, &recs[next], &act[n_act]);
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
                             p->extract, &recs[job - j0]);
            pd_gen_remove(g, act[a].seq);
            act[a] = act[--n_act];
            if (st != PD_OK) break;
            ready[job - j0] = true;
            done++;
        }
        flush_ready(p, recs, ready, total, &emitted);
    }
    for (int a = 0; a < n_act; a++) pd_gen_remove(g, act[a].seq);
    free(act);
    if (st != PD_OK)
        for (size_t i = 0; i < total; i++)
            if (ready[i]) pd_eval_record_free(&recs[i]);
    free(ready);
    *n_done = done;
    return st;
}

/* Under mpirun: this rank's block of jobs, then every rank's records gathered (in rank order = job
 * order) onto every rank; on_record sees them on rank 0 only (the rank that writes). */
static pd_status run_dist(pd_gen *g, const pd_task_item *items, size_t n, const pd_eval_params *p, pd_eval_record **out,
                          size_t *n_out) {
    int64_t lo, hi;
    pd_dist_share((int64_t)n, pd_dist_rank(), pd_dist_size(), &lo, &hi);
    size_t S = (size_t)p->samples, mine = (size_t)(hi - lo) * S, total = n * S, done = 0;
    pd_eval_params lp = *p;
    lp.on_record = NULL;
    pd_eval_record *recs = pd_calloc(mine ? mine : 1, sizeof *recs);
    if (!recs) return PD_ERR_NOMEM;
    pd_status st = run_jobs(g, items, (size_t)lo * S, (size_t)hi * S, &lp, recs, &done);
    /* a failed rank sends nothing: its failure ends the job (cli/main.c), the others wait in the gather */
    pd_buf b = {0};
    for (size_t i = 0; i < done && st == PD_OK; i++)
        if (rec_put(&b, &recs[i])) st = PD_ERR_NOMEM;
    for (size_t i = 0; i < done; i++) pd_eval_record_free(&recs[i]);
    free(recs);
    void *all = NULL;
    size_t all_n = 0;
    if (st == PD_OK) st = pd_dist_gather(b.data ? b.data : "", b.len, true, 0, &all, &all_n, NULL);
    pd_buf_free(&b);
    if (st != PD_OK) return st;
    pd_eval_record *full = pd_calloc(total ? total : 1, sizeof *full);
    if (!full) { free(all); return PD_ERR_NOMEM; }
    rd_t d = {all, (const char *)all + all_n, false};
    size_t got = 0;
    while (st == PD_OK && got < total && d.p < d.end) st = rec_get(&d, &full[got]) == PD_OK ? (got++, PD_OK) : PD_ERR_FORMAT;
    free(all);
    if (st == PD_OK && got != total)
        st = pd_fail(PD_ERR_STATE, "eval: %zu records came back from %d ranks, %zu expected", got, pd_dist_size(), total);
    if (st != PD_OK) {
        for (size_t i = 0; i < got; i++) pd_eval_record_free(&full[i]);
        free(full);
        return st;
    }
    if (p->on_record && pd_dist_rank() == 0)
        for (size_t i = 0; i < total; i++) p->on_record(p->ctx, &full[i]);
    *out = full;
    *n_out = total;
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
    if (pd_dist_on()) return run_dist(g, items, n, p, out, n_out);
    pd_eval_record *recs = pd_calloc(total ? total : 1, sizeof *recs);
    if (!recs) return PD_ERR_NOMEM;
    size_t done = 0;
    pd_status st = run_jobs(g, items, 0, total, p, recs, &done);
    if (st != PD_OK) { free(recs); return st; }
    *out = recs;
    *n_out = done;
    return PD_OK;
}
