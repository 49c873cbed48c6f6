/* cli/cmd_eval.c — `ponder eval`: run a model over a task set (generated or a JSONL file) under a
 * decoding recipe, write one JSONL record per sample, print the summary table, draw the SVG report. */
#include "cli.h"
#include "gen_cli.h"
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/eval.h"
#include "ponder/log.h"
#include "ponder/model.h"
#include "ponder/task.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
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
               "  --n N                     items per difficulty (default 20; with --items: at most N, default all)\n"
               "  --difficulty D | A-B      difficulty or an inclusive range (default: the task's)\n"
               "  --split train|test|any    (default test)      --task-seed S   item seed (default 0)\n"
               "  --samples K               samples per item, for pass@K and maj@K (default 1)\n"
               "  --parallel P              sequences decoded at once (default min(8, items x samples))\n"
               "  --extract MODE            auto|gsm8k|boxed|tag|answer-is|last-number (default auto)\n"
               "  --out FILE                records, one JSON object per sample\n"
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
} ectx;

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
    if (!gen_cli_seq_params(VERB, e->o, e->m, p, pol)) { pd_fail(PD_ERR_ARG, "bad sequence parameters"); return false; }
    *has = p->n_policies > 0;
    p->policies = NULL; /* the loop points them at its copy of *pol */
    p->n_policies = 0;
    p->sampling.seed = pd_rng_derive(e->o->sp.seed, (uint64_t)item * (uint64_t)e->samples + (uint64_t)sample);
    return true;
}

static void on_record(void *c, const pd_eval_record *r) {
    ectx *e = c;
    e->done++;
    if (e->out) {
        char *js = pd_eval_record_to_json(r);
        if (!js || fprintf(e->out, "%s\n", js) < 0) e->write_error = 1;
        free(js);
        fflush(e->out);
    }
    if (e->total >= 10 && e->done % (e->total / 10) == 0)
        fprintf(stderr, "ponder eval: %zu/%zu samples\n", e->done, e->total);
}

int pd_cmd_eval(int argc, char **argv) {
    gen_cli o;
    gen_cli_defaults(&o);
    const char *task = NULL, *items_path = NULL, *out_path = NULL, *report = NULL, *dv = NULL;
    long long n = -1, samples = 1, parallel = 0;
    uint64_t task_seed = 0;
    int d0 = -1, d1 = -1;
    pd_split split = PD_SPLIT_TEST;
    pd_extract_mode mode = PD_EXTRACT_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return 0; }
        if (!strcmp(a, "--n")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_int(VERB, a, v, 1, 10000000, &n)) return 2; continue; }
        int r = gen_cli_flag(VERB, &o, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(a, "--task")) { if (!(task = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--items")) { if (!(items_path = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(out_path = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--report")) { if (!(report = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--difficulty")) { if (!(dv = cli_value(VERB, argc, argv, &i)) || !cli_difficulty(VERB, a, dv, true, &d0, &d1)) return 2; }
        else if (!strcmp(a, "--samples")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_int(VERB, a, v, 1, 1024, &samples)) return 2; }
        else if (!strcmp(a, "--parallel")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_int(VERB, a, v, 1, 1024, &parallel)) return 2; }
        else if (!strcmp(a, "--task-seed")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_seed(VERB, a, v, &task_seed)) return 2; }
        else if (!strcmp(a, "--extract")) {
            if (!(v = cli_value(VERB, argc, argv, &i))) return 2;
            int m = pd_extract_mode_parse(v);
            if (m < 0) { cli_error(VERB, "--extract: unknown extractor '%s'", v); return 2; }
            mode = (pd_extract_mode)m;
        } else if (!strcmp(a, "--split")) {
            if (!(v = cli_value(VERB, argc, argv, &i))) return 2;
            if (!strcmp(v, "train")) split = PD_SPLIT_TRAIN;
            else if (!strcmp(v, "test")) split = PD_SPLIT_TEST;
            else if (!strcmp(v, "any")) split = PD_SPLIT_ANY;
            else { cli_error(VERB, "--split: expected train, test or any, got '%s'", v); return 2; }
        } else { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
    }
    if (!o.model) { cli_error(VERB, "-m MODEL is required"); return 2; }
    if (!task == !items_path) { cli_error(VERB, "give exactly one of --task T or --items FILE"); return 2; }
    if (report) {
        const char *dot = strrchr(report, '.');
        if (!dot || (strcasecmp(dot, ".svg") && strcasecmp(dot, ".png"))) {
            cli_error(VERB, "--report %s: expected a .svg or .png file", report);
            return 2;
        }
    }
    if (o.template_name && pd_chat_family_from_name(o.template_name) < 0) {
        cli_error(VERB, "--template: unknown family '%s'", o.template_name);
        return 2;
    }
    if (o.n_predict < 0) o.n_predict = 1024;
    if (!o.seed_set) o.sp.seed = 0;

    /* items */
    pd_task_set set = {0};
    if (items_path) {
        size_t bad = 0;
        if (pd_jsonl_load(items_path, 0, &set, &bad) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); return 1; }
        if (bad) cli_error(VERB, "%s: %zu malformed line(s) skipped", items_path, bad);
        if (n > 0 && (size_t)n < set.n) {
            for (size_t i = (size_t)n; i < set.n; i++) pd_task_item_free(&set.items[i]);
            set.n = (size_t)n;
        }
    } else {
        const pd_task *t = pd_task_find(task);
        if (!t) { cli_error(VERB, "%s", pd_last_error()); return 2; }
        if (!dv) d0 = d1 = t->ddefault;
        if (!cli_difficulty_check(VERB, "--difficulty", t->name, d0, d1)) return 2;
        if (n < 0) n = 20;
        size_t total = (size_t)n * (size_t)(d1 - d0 + 1);
        set.items = pd_calloc(total, sizeof *set.items);
        if (!set.items) { cli_error(VERB, "%s", pd_last_error()); return 1; }
        for (int d = d0; d <= d1; d++)
            for (long long i = 0; i < n; i++) {
                pd_rng r;
                uint64_t idx = (uint64_t)(d - d0) * (uint64_t)n + (uint64_t)i;
                pd_rng_seed(&r, pd_rng_derive(task_seed, idx));
                if (pd_task_gen(t, &r, (int)d, split, &set.items[set.n]) != PD_OK) {
                    cli_error(VERB, "%s", pd_last_error());
                    pd_task_set_free(&set);
                    return 1;
                }
                char id[96];
                snprintf(id, sizeof id, "%s-d%d-%lld", t->name, d, i);
                free(set.items[set.n].id);
                set.items[set.n].id = pd_strdup(id);
                set.n++;
            }
    }
    if (set.n == 0) { cli_error(VERB, "no items to evaluate"); pd_task_set_free(&set); return 1; }

    if (o.threads) pd_threads_set(o.threads);
    pd_adapter *adapter = NULL;
    pd_model *m = gen_cli_load(VERB, &o, &adapter);
    if (!m) { pd_task_set_free(&set); return 1; }
    int rc = 1;
    pd_gen *g = NULL;
    FILE *out = NULL;
    pd_eval_record *recs = NULL;
    size_t nrec = 0;
    if (!m->tok) { cli_error(VERB, "%s: the model has no vocabulary, so text cannot be generated", o.model); goto done; }
    size_t jobs = set.n * (size_t)samples;
    if (parallel <= 0) parallel = jobs < 8 ? (long long)jobs : 8;
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = (int)parallel + gen_cli_policy_extra_slots(&o, (int)parallel);
    gp.n_ctx = o.n_ctx;
    gp.kv_type = o.kv_type;
    if (!(g = pd_gen_new(m, &gp))) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    if (out_path && !(out = fopen(out_path, "w"))) { cli_error(VERB, "%s: cannot open for writing", out_path); goto done; }
    ectx e = {&o, m, gen_cli_family(VERB, &o, m), (int)samples, out, 0, jobs, 0};
    pd_eval_params ep = {(int)samples, mode, enc, seqp, &e, on_record, NULL, 0};
    if (!gen_cli_policy_eval(VERB, &o, &ep, task, (int)parallel, g)) goto done;
    double t0 = pd_time_now();
    if (pd_eval_run(g, set.items, set.n, &ep, &recs, &nrec) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    double elapsed = pd_time_now() - t0;
    if (e.write_error) { cli_error(VERB, "%s: write failed", out_path); goto done; }
    pd_eval_summary s;
    if (pd_eval_summarize(recs, nrec, elapsed, &s) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    printf("model       %s\n", o.model);
    printf("task        %s   items %zu   samples %d   records %zu\n", task ? task : items_path, s.n_items, (int)samples, s.n_records);
    printf("accuracy    %.4f\n", s.accuracy);
    printf("pass@%-6d %.4f\n", (int)samples, s.pass_at_k);
    printf("maj@%-7d %.4f\n", (int)samples, s.maj_at_k);
    printf("thinking    %.1f tokens (mean)\n", s.mean_thinking);
    printf("answer      %.1f tokens (mean)\n", s.mean_answer);
    printf("speed       %.1f tokens/s (%.2f s)\n", s.tokens_per_s, elapsed);
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
    if (report) {
        char title[256];
        snprintf(title, sizeof title, "ponder eval: %s on %s (%d samples)", o.model, task ? task : items_path, (int)samples);
        if (pd_eval_svg(recs, nrec, title, report) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    }
    rc = 0;
done:
    if (out && fclose(out) != 0 && rc == 0) { cli_error(VERB, "%s: write failed", out_path); rc = 1; }
    for (size_t i = 0; i < nrec; i++) pd_eval_record_free(&recs[i]);
    free(recs);
    pd_gen_free(g);
    pd_model_free(m);
    pd_adapter_free(adapter);
    pd_task_set_free(&set);
    return rc;
}
