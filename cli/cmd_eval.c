/* cli/cmd_eval.c — `ponder eval`: run a model over a task set (generated or a JSONL file) under a
 * decoding recipe, write one JSONL record per sample, print the summary table, draw the SVG report. */
#include "cli.h"
#include "gen_cli.h"
#include "outputs.h"
#include "ponder/outfile.h"
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/dist.h"
#include "ponder/eval.h"
#include "ponder/log.h"
#include "ponder/model.h"
#include "ponder/progress.h"
#include "ponder/task.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include "ponder/vote.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VERB "eval"

static void help(FILE *f) {
    fprintf(f, "usage: ponder eval -m MODEL (--task T | --items FILE.jsonl) [flags]\n"
               "  --task T                  built-in task (ponder tasks list)\n"
               "  --items FILE              items from JSONL ({id, prompt, answer}[, task, meta]); 'jsonl' items are\n"
               "                            judged against their answer with --extract\n"
               "  --n N                     distinct items per difficulty (default 20; drawn without replacement,\n"
               "                            fewer with a note when the split has fewer; --items: at most N, default all)\n"
               "  --difficulty D | A-B      difficulty or an inclusive range (default: the task's)\n"
               "  --split train|test|any    (default test)      --task-seed S   item seed (default 0)\n"
               "                            (--difficulty, --split, --task-seed pick generated items: not with --items)\n"
               "  A prompt longer than the context (-c) is a failed record (finish length/context, score 0).\n"
               "  --samples K               samples per item, for pass@K and maj@K (default 1)\n"
               "  --parallel P              sequences decoded at once (default min(8, items x samples))\n"
               "  --extract MODE            auto|gsm8k|boxed|tag|answer-is|last-number (default auto)\n"
               "  --out FILE                records, one compact JSON object per line, in item then sample order\n"
               "                            (id, seed, thinking, answer, score, finish_reason, finish_detail, token_ids, ...)\n"
               "  --report FILE.svg|png     accuracy and tokens per difficulty\n"
               "  (-n/--max-tokens defaults to 1024 here; --seed defaults to 0; sample j of item i uses\n"
               "   seed derive(seed, i*K+j))\n");
    gen_cli_help(f);
}

typedef struct {
    const gen_cli *o;
    const pd_model *m;
    pd_chat_family fam;
    int samples;
    FILE *out;
    size_t done, total;
    int write_error;
    pd_progress prog;
    const pd_task_item *items;   /* the item list: trimr's verifier prompts quote the item's question */
    pd_vote_result *votes;       /* --policy vote: per item, written into its record */
} ectx;

static int str_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int32_t *enc(void *c, const pd_task_item *it, size_t *n) {
    ectx *e = c;
    pd_chat_msg msgs[2];
    int nm = 0;
    if (e->o->system && e->fam != PD_CHAT_NONE) msgs[nm++] = (pd_chat_msg){"system", e->o->system, NULL};
    msgs[nm++] = (pd_chat_msg){"user", it->prompt, NULL};
    int32_t *ids = gen_cli_tokens(VERB, e->m, e->fam, msgs, nm, e->o->no_think, n);
    if (!ids) pd_fail(PD_ERR_ARG, "cannot tokenise the prompt");
    return ids;
}

static bool seqp(void *c, size_t item, int sample, pd_seq_params *p, pd_policy *pol, bool *has) {
    ectx *e = c;
    gen_cli oi = *e->o;   /* the policies' question (trimr's verifier prompts) is this item's prompt */
    if (e->items) oi.prompt = e->items[item].prompt;
    if (!gen_cli_seq_params(VERB, &oi, e->m, p, pol)) { pd_fail(PD_ERR_ARG, "bad sequence parameters"); return false; }
    *has = p->n_policies > 0;
    p->policies = NULL; /* the loop points them at its copy of *pol */
    p->n_policies = 0;
    p->sampling.seed = pd_rng_derive(e->o->sp.seed, (uint64_t)item * (uint64_t)e->samples + (uint64_t)sample);
    return true;
}

/* --policy vote: the item's vote decides its record (the winning sample; its answer is the vote's).
 * Item i's samples use seeds derive(derive(seed, i), j). */
static int add_vote(void *c, pd_gen *g, size_t item, const int32_t *ids, int n, pd_seq_params *sp) {
    ectx *e = c;
    gen_cli oi = *e->o;
    oi.prompt = e->items[item].prompt;
    oi.sp.seed = pd_rng_derive(e->o->sp.seed, (uint64_t)item);
    pd_policy none;
    memset(&none, 0, sizeof none);
    pd_policy *pol = sp->n_policies ? (pd_policy *)sp->policies : &none;
    pd_vote_result vr;
    int id = gen_cli_generate(VERB, &oi, e->m, g, ids, n, sp, pol, NULL, &vr);
    if (id < 0) { pd_fail(PD_ERR_STATE, "--policy vote failed"); return -1; }
    pd_vote_result_free(&e->votes[item]);
    e->votes[item] = vr;
    return id;
}

/* The record's JSON, with the item's vote when there is one. Owned. */
static char *record_json(const ectx *e, const pd_eval_record *r) {
    char *js = pd_eval_record_to_json(r);
    if (!js || !e->votes) return js;
    const pd_vote_result *v = &e->votes[e->done - 1];   /* one record per item with a vote, in item order */
    cJSON *j = cJSON_Parse(js);
    cJSON *o = j ? cJSON_AddObjectToObject(j, "vote") : NULL;
    free(js);
    if (!o) { cJSON_Delete(j); return NULL; }
    if (v->answer) cJSON_AddStringToObject(o, "answer", v->answer);
    else cJSON_AddNullToObject(o, "answer");
    cJSON_AddNumberToObject(o, "votes", v->votes);
    cJSON_AddNumberToObject(o, "winner_sample", v->winner_sample);
    cJSON_AddNumberToObject(o, "samples", v->n_samples);
    cJSON_AddNumberToObject(o, "finished", v->n_finished);
    cJSON_AddNumberToObject(o, "stopped", v->n_stopped);
    cJSON_AddNumberToObject(o, "thinking_tokens", (double)v->thinking_tokens);
    cJSON_AddNumberToObject(o, "answer_tokens", (double)v->answer_tokens);
    js = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return js;
}

static void on_record(void *c, const pd_eval_record *r) {
    ectx *e = c;
    e->done++;
    if (e->out && !e->write_error) {
        char *js = record_json(e, r);
        if (!js || fprintf(e->out, "%s\n", js) < 0 || fflush(e->out) != 0) e->write_error = 1;
        free(js);
    }
    pd_progress_update(&e->prog, (int64_t)e->done, NULL);
}

typedef struct {
    gen_cli o;
    const char *task, *items_path, *out_path, *report;
    bool has_diff, has_split, has_task_seed;
    long long n, samples, parallel;
    uint64_t task_seed;
    int d0, d1;
    pd_split split;
    pd_extract_mode mode;
} eval_opts;

static int eval_flag(eval_opts *x, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--n")) return (v = cli_value(VERB, argc, argv, i)) && cli_int(VERB, a, v, 1, 10000000, &x->n) ? 1 : -1;
    int r = gen_cli_flag(VERB, &x->o, argc, argv, i);
    if (r) return r;
    if (!strcmp(a, "--task")) return (x->task = cli_value(VERB, argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "--items")) return (x->items_path = cli_value(VERB, argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "--out")) return (x->out_path = cli_value(VERB, argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "--report")) return (x->report = cli_value(VERB, argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "--difficulty")) {
        x->has_diff = true;
        return (v = cli_value(VERB, argc, argv, i)) && cli_difficulty(VERB, a, v, true, &x->d0, &x->d1) ? 1 : -1;
    }
    if (!strcmp(a, "--samples")) return (v = cli_value(VERB, argc, argv, i)) && cli_int(VERB, a, v, 1, 1024, &x->samples) ? 1 : -1;
    if (!strcmp(a, "--parallel")) return (v = cli_value(VERB, argc, argv, i)) && cli_int(VERB, a, v, 1, 1024, &x->parallel) ? 1 : -1;
    if (!strcmp(a, "--task-seed")) {
        x->has_task_seed = true;
        return (v = cli_value(VERB, argc, argv, i)) && cli_seed(VERB, a, v, &x->task_seed) ? 1 : -1;
    }
    if (!strcmp(a, "--extract")) {
        if (!(v = cli_value(VERB, argc, argv, i))) return -1;
        int m = pd_extract_mode_parse(v);
        if (m < 0) { cli_error(VERB, "--extract: unknown extractor '%s'", v); return -1; }
        x->mode = (pd_extract_mode)m;
        return 1;
    }
    if (!strcmp(a, "--split")) {
        if (!(v = cli_value(VERB, argc, argv, i))) return -1;
        x->has_split = true;
        if (!strcmp(v, "train")) x->split = PD_SPLIT_TRAIN;
        else if (!strcmp(v, "test")) x->split = PD_SPLIT_TEST;
        else if (!strcmp(v, "any")) x->split = PD_SPLIT_ANY;
        else { cli_error(VERB, "--split: expected train, test or any, got '%s'", v); return -1; }
        return 1;
    }
    return 0;
}

/* Flags, then the checks that need them all. Returns 0 to go on, -1 after --help, 2 on a usage error. */
static int parse(eval_opts *x, int argc, char **argv) {
    memset(x, 0, sizeof *x);
    gen_cli_defaults(&x->o);
    x->n = -1;
    x->samples = 1;
    x->split = PD_SPLIT_TEST;
    x->mode = PD_EXTRACT_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return -1; }
        int r = eval_flag(x, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
    }
    if (!x->o.model) { cli_error(VERB, "-m MODEL is required"); return 2; }
    if (!x->task == !x->items_path) { cli_error(VERB, "give exactly one of --task T or --items FILE"); return 2; }
    if (x->items_path) {  /* these choose generated items: with a file they would be ignored */
        const char *f = x->has_diff ? "--difficulty" : x->has_split ? "--split" : x->has_task_seed ? "--task-seed" : NULL;
        if (f) { cli_error(VERB, "%s has no effect with --items (it picks generated items; use --task)", f); return 2; }
    }
    if (x->report) {
        const char *dot = strrchr(x->report, '.');
        if (!dot || (strcasecmp(dot, ".svg") && strcasecmp(dot, ".png"))) {
            cli_error(VERB, "--report %s: expected a .svg or .png file", x->report);
            return 2;
        }
    }
    if (x->o.template_name && pd_chat_family_from_name(x->o.template_name) < 0) {
        cli_error(VERB, "--template: unknown family '%s'", x->o.template_name);
        return 2;
    }
    if (!gen_cli_check(VERB, &x->o)) return 2;
    if (!x->o.n_predict_set) x->o.n_predict = 1024;
    if (!x->o.seed_set) x->o.sp.seed = 0;
    return 0;
}

/* --items FILE: at most --n items; ids must be unique (records and pass@k group by id). */
static int load_items(const eval_opts *x, pd_task_set *set) {
    size_t bad = 0;
    if (pd_jsonl_load(x->items_path, 0, set, &bad) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    if (bad) cli_error(VERB, "%s: %zu malformed line(s) skipped", x->items_path, bad);
    if (x->n > 0 && (size_t)x->n < set->n) {
        for (size_t i = (size_t)x->n; i < set->n; i++) pd_task_item_free(&set->items[i]);
        set->n = (size_t)x->n;
    }
    const char **ids = pd_malloc((set->n ? set->n : 1) * sizeof *ids);
    if (!ids) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    for (size_t i = 0; i < set->n; i++) ids[i] = set->items[i].id ? set->items[i].id : "";
    qsort(ids, set->n, sizeof *ids, str_cmp);
    for (size_t i = 1; i < set->n; i++)
        if (!strcmp(ids[i], ids[i - 1])) {
            cli_error(VERB, "%s: id '%s' appears more than once (ids must be unique)", x->items_path, ids[i]);
            free(ids);
            return 2;
        }
    free(ids);
    return 0;
}

/* Hash set of prompt texts (open addressing, FNV-1a), to draw generated items without replacement. */
typedef struct { const char **k; size_t cap; } pset;
static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}
/* true if added, false if already there */
static bool pset_add(pset *p, const char *s) {
    size_t i = (size_t)fnv(s) & (p->cap - 1);
    while (p->k[i]) {
        if (!strcmp(p->k[i], s)) return false;
        i = (i + 1) & (p->cap - 1);
    }
    p->k[i] = s;
    return true;
}

/* A draw that brings nothing new this many times in a row means the split has no more items. */
enum { EXHAUSTED_AFTER = 2000 };

/* --task T: --n distinct items per difficulty (fewer, with a note, when the split has fewer). */
static int gen_items(const eval_opts *x, const pd_task *t, pd_task_set *set) {
    size_t n = (size_t)x->n, total = n * (size_t)(x->d1 - x->d0 + 1);
    set->items = pd_calloc(total, sizeof *set->items);
    pset ps = {NULL, 16};
    while (ps.cap < 2 * n) ps.cap *= 2;
    ps.k = pd_calloc(ps.cap, sizeof *ps.k);
    if (!set->items || !ps.k) { cli_error(VERB, "%s", pd_last_error()); free(ps.k); return 1; }
    int rc = 0;
    uint64_t draw = 0;
    for (int d = x->d0; d <= x->d1 && rc == 0; d++) {
        memset(ps.k, 0, ps.cap * sizeof *ps.k);
        size_t got = 0, dry = 0;
        while (got < n && dry < EXHAUSTED_AFTER) {
            pd_rng r;
            pd_rng_seed(&r, pd_rng_derive(x->task_seed, draw++));
            pd_task_item *it = &set->items[set->n];
            if (pd_task_gen(t, &r, d, x->split, it) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); rc = 1; break; }
            if (!pset_add(&ps, it->prompt)) { pd_task_item_free(it); dry++; continue; }
            dry = 0;
            char id[96];
            snprintf(id, sizeof id, "%s-d%d-%zu", t->name, d, got);
            free(it->id);
            it->id = pd_strdup(id);
            set->n++;
            got++;
        }
        if (rc == 0 && got < n)
            fprintf(stderr, "ponder eval: %s difficulty %d (%s split) has only %zu distinct items (none new in %d more "
                            "draws); evaluating those %zu, not %zu\n",
                    t->name, d, x->split == PD_SPLIT_TEST ? "test" : x->split == PD_SPLIT_TRAIN ? "train" : "any", got,
                    EXHAUSTED_AFTER, got, n);
    }
    free(ps.k);
    return rc;
}

static int make_items(eval_opts *x, pd_task_set *set) {
    if (x->items_path) return load_items(x, set);
    const pd_task *t = pd_task_find(x->task);
    if (!t) { cli_error(VERB, "%s", pd_last_error()); return 2; }
    if (!x->has_diff) x->d0 = x->d1 = t->ddefault;
    if (!cli_difficulty_check(VERB, "--difficulty", t->name, x->d0, x->d1)) return 2;
    if (x->n < 0) x->n = 20;
    return gen_items(x, t, set);
}

static void print_summary(const eval_opts *x, const pd_eval_summary *s, const pd_eval_record *recs, size_t nrec,
                          double elapsed) {
    int k = (int)x->samples;
    printf("model       %s\n", x->o.model);
    printf("task        %s   items %zu   samples %d   records %zu\n", x->task ? x->task : x->items_path, s->n_items, k,
           s->n_records);
    printf("accuracy    %.4f\n", s->accuracy);
    printf("pass@%-6d %.4f\n", k, s->pass_at_k);
    printf("maj@%-7d %.4f\n", k, s->maj_at_k);
    printf("thinking    %.1f tokens (mean)\n", s->mean_thinking);
    printf("answer      %.1f tokens (mean)\n", s->mean_answer);
    printf("speed       %.1f tokens/s (%.2f s)\n", s->tokens_per_s, elapsed);
    if (s->n_context)
        printf("context     %zu record(s) failed: the prompt did not fit the context (score 0; raise -c)\n", s->n_context);
    /* REST bundles: accuracy per question position and over all questions */
    double pos_sum[PD_REST_MAX_K] = {0};
    size_t pos_n[PD_REST_MAX_K] = {0}, n_q = 0;
    double q_sum = 0;
    int max_k = 0;
    for (size_t i = 0; i < nrec; i++)
        for (int j = 0; j < recs[i].rest_k; j++) {
            pos_sum[j] += recs[i].rest_scores[j];
            pos_n[j]++;
            q_sum += recs[i].rest_scores[j];
            n_q++;
            if (j + 1 > max_k) max_k = j + 1;
        }
    if (max_k > 0) {
        printf("rest        %.4f over %zu questions; per position:", q_sum / (double)n_q, n_q);
        for (int j = 0; j < max_k; j++) printf(" Q%d %.4f", j + 1, pos_n[j] ? pos_sum[j] / (double)pos_n[j] : 0.0);
        printf("\n");
    }
}

/* Load the model, run every item x sample, write records, print the summary and the report. */
static int run_eval(const eval_opts *x, const pd_task_set *set) {
    const gen_cli *o = &x->o;
    /* outputs checked before any work: writable, distinct, never an input (cli/outputs.c) */
    const cli_path outs[2] = {{"--out", x->out_path}, {"--report", x->report}};
    const cli_path ins[3] = {{"-m", o->model}, {"--items", x->items_path}, {"--adapter", o->adapter}};
    int pr = cli_check_paths(VERB, outs, 2, ins, 3);
    if (pr) return pr;
    if (o->threads) pd_threads_set(o->threads);
    pd_adapter *adapter = NULL;
    pd_model *m = gen_cli_load(VERB, o, &adapter);
    if (!m) return 1;
    int rc = 1;
    pd_gen *g = NULL;
    FILE *out = NULL;
    pd_outfile *of = NULL;      /* --out: written to a temp file, renamed into place only on success */
    pd_eval_record *recs = NULL;
    size_t nrec = 0;
    pd_vote_result *votes = NULL;   /* --policy vote: per item */
    if (!m->tok) { cli_error(VERB, "%s: the model has no vocabulary, so text cannot be generated", o->model); goto done; }
    size_t jobs = set->n * (size_t)x->samples;
    long long parallel = x->parallel > 0 ? x->parallel : jobs < 8 ? (long long)jobs : 8;
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = (int)parallel + gen_cli_policy_extra_slots(o, (int)parallel);
    const bool vote = gen_cli_policy_has_driver(o);
    if (vote && x->samples != 1) { cli_error(VERB, "--policy vote makes its own samples per item: leave --samples at 1"); rc = 2; goto done; }
    if (vote && pd_dist_on()) { cli_error(VERB, "--policy vote is not supported under mpirun"); rc = 2; goto done; }
    if (vote && gen_cli_policy_slots(o) > gp.n_seq_max) gp.n_seq_max = gen_cli_policy_slots(o);   /* n samples + the prompt */
    gp.n_ctx = o->n_ctx;
    gp.kv_type = o->kv_type;
    gp.kv_type_v_set = true;
    gp.kv_type_v = o->kv_type_v;
    if (!(g = pd_gen_new(m, &gp))) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    if (!gen_cli_kv_attach(VERB, o, g)) goto done;
    /* under mpirun rank 0 writes --out and --report and shows progress (eval.c gathers the records) */
    const bool writer = pd_dist_rank() == 0;
    if (writer && x->out_path && !(of = pd_out_open(x->out_path))) { cli_error(VERB, "--out: %s", pd_last_error()); goto done; }
    out = pd_out_fp(of);
    ectx e = {o, m, gen_cli_family(VERB, o, m), (int)x->samples, out, 0, jobs, 0, {0}, set->items, NULL};
    pd_progress_start(&e.prog, writer ? stderr : NULL, "ponder eval", (int64_t)jobs, "samples");
    pd_eval_params ep = {(int)x->samples, x->mode, enc, seqp, &e, on_record, NULL, 0, NULL};
    if (!gen_cli_policy_eval(VERB, o, &ep, x->task, (int)parallel, g)) goto done;
    if (vote) {
        if (!(votes = e.votes = pd_calloc(set->n ? set->n : 1, sizeof *votes))) { cli_error(VERB, "out of memory"); goto done; }
        ep.add = add_vote;
    }
    double t0 = pd_time_now();
    pd_status st = pd_eval_run(g, set->items, set->n, &ep, &recs, &nrec);
    pd_progress_finish(&e.prog, NULL);
    if (st != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    double elapsed = pd_time_now() - t0;
    if (e.write_error) { cli_error(VERB, "%s: write failed", x->out_path); goto done; }
    pd_eval_summary s;
    if (pd_eval_summarize(recs, nrec, elapsed, &s) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    print_summary(x, &s, recs, nrec, elapsed);
    if (votes) {
        double th = 0;
        for (size_t i = 0; i < set->n; i++) th += (double)votes[i].thinking_tokens;
        printf("vote        %.1f thinking tokens per item over all samples (mean; the records' winners: %.1f)\n",
               set->n ? th / (double)set->n : 0.0, s.mean_thinking);
    }
    pd_kvm_stats ks;
    if (gen_cli_kv_stats(&ks))
        printf("kv_policy %s: %lld rows evicted in %lld rounds, peak_kv_bytes %zu\n", pd_kvp_name(o->kvp.kind),
               (long long)ks.evictions, (long long)ks.rounds, ks.peak_bytes);
    if (x->report && writer) {
        char title[256];
        snprintf(title, sizeof title, "ponder eval: %s on %s (%d samples)", o->model, x->task ? x->task : x->items_path,
                 (int)x->samples);
        if (pd_eval_svg(recs, nrec, title, x->report) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    }
    rc = 0;
done:
    if (of && rc == 0 && pd_out_commit(of) != PD_OK) { cli_error(VERB, "--out: %s", pd_last_error()); rc = 1; }
    else if (of && rc != 0) pd_out_abort(of);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) { cli_error(VERB, "writing the summary failed (standard output)"); rc = 1; }
    for (size_t i = 0; i < nrec; i++) pd_eval_record_free(&recs[i]);
    free(recs);
    for (size_t i = 0; votes && i < set->n; i++) pd_vote_result_free(&votes[i]);
    free(votes);
    pd_gen_free(g);
    pd_model_free(m);
    pd_adapter_free(adapter);
    return rc;
}

int pd_cmd_eval(int argc, char **argv) {
    eval_opts x;
    int r = parse(&x, argc, argv);
    if (r) return r < 0 ? 0 : r;
    pd_task_set set = {0};
    r = make_items(&x, &set);
    if (r == 0 && set.n == 0) { cli_error(VERB, "no items to evaluate"); r = 1; }
    if (r == 0) r = run_eval(&x, &set);
    pd_task_set_free(&set);
    return r;
}
