/* cli/cmd_tasks.c — `ponder tasks list|gen|score`: list the built-in verifiable tasks, generate
 * item sets as JSONL (optionally as REST bundles), and score model outputs written by anything. */
#include "cli.h"
#include "outputs.h"
#include "ponder/outfile.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/log.h"
#include "ponder/task.h"
#include "ponder/overthink.h"
#include "ponder/timer.h"
#include "ponder/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERB "tasks"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder tasks list\n"
            "       ponder tasks gen --task T [--n N] [--seed S] [--difficulty D|A-B] [--split train|test|any]\n"
            "                        [--rest K] [--out FILE]\n"
            "       ponder tasks score [--task T] ITEMS.jsonl OUTPUTS.jsonl\n"
            "                        [--extract auto|gsm8k|boxed|tag|answer-is|last-number] [--out FILE] [--strict]\n"
            "\n"
            "gen flags:\n"
            "  --n N                 items (default 10)\n"
            "  --seed S              item i uses the rng seeded with derive(S, i) (default 0)\n"
            "  --difficulty D|A-B    (default: the task's, see tasks list); A-B: item i has A + i mod (B-A+1)\n"
            "  --split S             train, test or any (default any)\n"
            "  --rest K              bundle K items per prompt (REST; default 0: no bundles)\n"
            "  --overthink K         overthinking traces: the solution, then 0..K re-checks (\"Wait, let me verify...\")\n"
            "                        drawn per item (default 0: plain traces)\n"
            "  --detour P            with --overthink: P%% of re-checks first reach a wrong answer and redo it (default 20)\n"
            "  --overthink-min M     with --overthink: at least M re-checks (default 0)\n"
            "  --overthink-style S   drawn: the count is drawn per item and never stated (default); counted: the\n"
            "                        count is M + the question's last digit (its byte) mod (K-M+1), stated first\n"
            "                        (\"I will solve it, then double-check it 2 times.\"), each re-check numbered (\"(check 1 of 2)\")\n"
            "  --out FILE            (default: standard output)\n"
            "score flags:\n"
            "  --extract MODE        (default auto)    --out FILE (default: none)    --strict (default off)\n"
            "gen writes one JSON object per line {id, task, difficulty, prompt, reasoning, answer[, meta]}.\n"
            "score reads OUTPUTS lines {\"id\": ..., \"output\": \"model text\"}, judges each against the item\n"
            "with the same id, writes per-item JSONL to --out and prints 'accuracy N/M'. --task jsonl judges\n"
            "against the reference answer with the chosen extractor (items need only id, prompt, answer).\n"
            "Malformed lines, ids not in ITEMS and a second output for an id are reported with their line\n"
            "number, skipped and counted (--strict: fatal); item ids must be unique. Accuracy is over items.\n");
}

static int cmd_list(void) {
    for (size_t i = 0; i < pd_task_count(); i++) {
        const pd_task *t = pd_task_at(i);
        printf("%-11s %s\n", t->name, t->summary);
        printf("            difficulty %d-%d (default %d): %s\n", t->dmin, t->dmax, t->ddefault, t->difficulty_help);
        pd_rng r;
        pd_rng_seed(&r, pd_rng_derive(0, 0));
        pd_task_item it;
        if (pd_task_gen(t, &r, t->ddefault, PD_SPLIT_ANY, &it) == PD_OK) {
            char *p = it.prompt;
            for (char *c = p; *c; c++) if (*c == '\n') *c = '/';
            printf("            e.g. %.160s%s\n            answer: %.80s\n", p, strlen(p) > 160 ? "..." : "", it.answer);
            pd_task_item_free(&it);
        }
    }
    printf("%-11s %s\n", "jsonl", "your own {\"id\",\"prompt\",\"answer\"} file, scored by an extractor (tasks score --task jsonl)");
    return 0;
}

static int cmd_gen(int argc, char **argv) {
    const char *task = NULL, *out_path = NULL;
    long long n = 10, rest = 0;
    uint64_t seed = 0;
    long long ot_k = 0, ot_detour = 20, ot_min = 0;   /* --overthink K, --detour P, --overthink-min M */
    bool ot_counted = false;                          /* --overthink-style counted */
    int diff = -1, diff_hi = -1;
    pd_split split = PD_SPLIT_ANY;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--task")) { if (!(task = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(out_path = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--n")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_int(VERB, a, v, 1, 100000000, &n)) return 2; }
        else if (!strcmp(a, "--seed")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_seed(VERB, a, v, &seed)) return 2; }
        else if (!strcmp(a, "--difficulty")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_difficulty(VERB, a, v, true, &diff, &diff_hi)) return 2; }
        else if (!strcmp(a, "--overthink")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_int(VERB, a, v, 1, PD_OVERTHINK_MAX_K, &ot_k)) return 2; }
        else if (!strcmp(a, "--detour")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_int(VERB, a, v, 0, 100, &ot_detour)) return 2; }
        else if (!strcmp(a, "--overthink-min")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_int(VERB, a, v, 0, PD_OVERTHINK_MAX_K, &ot_min)) return 2; }
        else if (!strcmp(a, "--overthink-style")) {
            if (!(v = cli_value(VERB, argc, argv, &i))) return 2;
            if (!strcmp(v, "counted")) ot_counted = true;
            else if (!strcmp(v, "drawn")) ot_counted = false;
            else { cli_error(VERB, "--overthink-style: expected drawn or counted, got '%s'", v); return 2; }
        }
        else if (!strcmp(a, "--rest")) { if (!(v = cli_value(VERB, argc, argv, &i)) || !cli_int(VERB, a, v, 1, PD_REST_MAX_K, &rest)) return 2; }
        else if (!strcmp(a, "--split")) {
            if (!(v = cli_value(VERB, argc, argv, &i))) return 2;
            if (!strcmp(v, "train")) split = PD_SPLIT_TRAIN;
            else if (!strcmp(v, "test")) split = PD_SPLIT_TEST;
            else if (!strcmp(v, "any")) split = PD_SPLIT_ANY;
            else { cli_error(VERB, "--split: expected train, test or any, got '%s'", v); return 2; }
        } else { cli_error(VERB, "gen: unknown flag '%s' (see ponder tasks --help)", a); return 2; }
    }
    if (!task) { cli_error(VERB, "gen: --task is required (see ponder tasks list)"); return 2; }
    if (ot_min > ot_k && ot_k > 0) { cli_error(VERB, "--overthink-min %lld is above --overthink %lld", ot_min, ot_k); return 2; }
    const pd_task *t = pd_task_find(task);
    if (!t) { cli_error(VERB, "%s", pd_last_error()); return 2; }
    if (diff < 0) diff = diff_hi = t->ddefault;
    if (!cli_difficulty_check(VERB, "--difficulty", t->name, diff, diff_hi)) return 2;
    /* --out: checked first, written to a temp file and renamed into place only when complete */
    const cli_path op = {"--out", out_path};
    int pr = cli_check_paths(VERB, &op, 1, NULL, 0);
    if (pr) return pr;
    pd_outfile *of = out_path ? pd_out_open(out_path) : NULL;
    if (out_path && !of) { cli_error(VERB, "--out: %s", pd_last_error()); return 1; }
    FILE *f = of ? pd_out_fp(of) : stdout;
    /* plain items stream out one by one; REST bundles need the whole set first */
    size_t n_keep = rest > 0 ? (size_t)n : 1;
    pd_task_item *items = pd_calloc(n_keep, sizeof *items);
    if (!items) { cli_error(VERB, "%s", pd_last_error()); pd_out_abort(of); return 1; }
    int rc = 0;
    long long made = 0;
    double dt = 0;
    for (long long i = 0; i < n; i++) {
        pd_task_item *it = &items[rest > 0 ? i : 0];
        pd_rng r;
        pd_rng_seed(&r, pd_rng_derive(seed, (uint64_t)i));
        double t0 = pd_time_now();
        pd_status st = pd_task_gen(t, &r, diff + (int)(i % (diff_hi - diff + 1)), split, it);
        if (st == PD_OK && ot_k > 0) {   /* own stream: the items are the same with or without the style */
            pd_rng ro;
            pd_rng_seed(&ro, pd_rng_derive(pd_rng_derive(seed, (uint64_t)i), PD_RNG_STREAM_OVERTHINK));
            pd_overthink_params op = {(int)ot_min, (int)ot_k, (int)ot_detour, ot_counted};   /* min 0: some answer at once */
            st = pd_overthink(it, &ro, &op, NULL);
        }
        dt += pd_time_now() - t0;
        if (st != PD_OK) {
            cli_error(VERB, "item %lld: %s", i, pd_last_error());
            rc = 1;
            break;
        }
        made++;
        char id[96];
        snprintf(id, sizeof id, "%s-%llu-%lld", t->name, (unsigned long long)seed, i);
        free(it->id);
        it->id = pd_strdup(id);
        if (rest > 0) continue;
        char *line = pd_task_item_to_json(it);
        pd_task_item_free(it);
        if (!line) { cli_error(VERB, "%s", pd_last_error()); rc = 1; break; }
        fprintf(f, "%s\n", line);
        free(line);
    }
    for (long long i = 0; rest > 0 && i < made && rc == 0; i++) {
        size_t order[PD_REST_MAX_K];
        char *prompt = pd_rest_prompt(items, (size_t)made, (size_t)i, (int)rest, order);
        pd_buf ans = {0}, meta = {0}, id = {0};
        pd_buf_printf(&id, "rest%lld-%s", rest, items[i].id);
        pd_buf_printf(&meta, "{\"k\":%lld,\"items\":[", rest);
        for (int j = 0; j < (int)rest; j++) {
            char *js = pd_task_item_to_json(&items[order[j]]);
            pd_buf_printf(&meta, "%s%s", j ? "," : "", js ? js : "null");
            pd_buf_printf(&ans, "%s%s", j ? "; " : "", items[order[j]].answer);
            free(js);
        }
        pd_buf_printf(&meta, "]}");
        pd_task_item b = items[i];
        b.id = id.data;
        b.task = "rest";
        b.prompt = prompt;
        b.reasoning = (char *)"";
        b.answer = ans.data;
        b.meta = meta.data;
        char *line = pd_task_item_to_json(&b);
        free(prompt);
        pd_buf_free(&ans);
        pd_buf_free(&meta);
        pd_buf_free(&id);
        if (!line) { cli_error(VERB, "%s", pd_last_error()); rc = 1; break; }
        fprintf(f, "%s\n", line);
        free(line);
    }
    if (rest > 0)
        for (long long i = 0; i < made; i++) pd_task_item_free(&items[i]);
    free(items);
    if (of && rc != 0) pd_out_abort(of);
    else if (of && pd_out_commit(of) != PD_OK) { cli_error(VERB, "--out: %s", pd_last_error()); rc = 1; }
    if (!out_path && rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) { cli_error(VERB, "writing the items failed (standard output)"); rc = 1; }
    if (rc == 0)
        fprintf(stderr, "ponder tasks gen: %lld %s items (difficulty %d-%d) in %.3f s, %.0f items/s\n", made, t->name, diff, diff_hi, dt,
                dt > 0 ? (double)made / dt : 0.0);
    return rc;
}

typedef struct { const char *id; size_t idx; } id_ent;
static int id_cmp(const void *a, const void *b) { return strcmp(((const id_ent *)a)->id, ((const id_ent *)b)->id); }

typedef struct {
    const char *task, *out_path, *files[2];
    int strict;
    pd_extract_mode mode;
    const pd_task *forced;
    int ref_only;
    pd_task_set set;
    id_ent *ix;              /* items sorted by id */
    int *seen;               /* per item: outputs scored */
    FILE *of;
    size_t lineno, n_out_bad, n_scored, n_unknown, n_dup;
    double correct, score_sum;
    double pos_sum[PD_REST_MAX_K];
    size_t pos_n[PD_REST_MAX_K];
    int max_k;
} score_ctx;

/* 0 go on, -1 after --help, 2 usage error */
static int score_args(score_ctx *c, int argc, char **argv) {
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return -1; }
        else if (!strcmp(a, "--task")) { if (!(c->task = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out")) { if (!(c->out_path = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--strict")) c->strict = 1;
        else if (!strcmp(a, "--extract")) {
            if (!(v = cli_value(VERB, argc, argv, &i))) return 2;
            int m = pd_extract_mode_parse(v);
            if (m < 0) { cli_error(VERB, "--extract: unknown extractor '%s' (auto, gsm8k, boxed, tag, answer-is, last-number)", v); return 2; }
            c->mode = (pd_extract_mode)m;
        } else if (a[0] == '-' && a[1]) { cli_error(VERB, "score: unknown flag '%s'", a); return 2; }
        else if (nfiles < 2) c->files[nfiles++] = a;
        else { cli_error(VERB, "score: too many files ('%s')", a); return 2; }
    }
    if (nfiles != 2) { cli_error(VERB, "score: need ITEMS.jsonl and OUTPUTS.jsonl"); return 2; }
    c->ref_only = c->task && !strcmp(c->task, "jsonl");
    if (c->task && !c->ref_only && !(c->forced = pd_task_find(c->task))) { cli_error(VERB, "%s", pd_last_error()); return 2; }
    return 0;
}

/* Load the items and index them by id; an id given twice is an error (it could not be told apart). */
static int score_index(score_ctx *c) {
    size_t bad = 0;
    if (pd_jsonl_load(c->files[0], c->strict, &c->set, &bad) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    if (bad) cli_error(VERB, "%s: %zu malformed line(s) skipped", c->files[0], bad);
    size_t n = c->set.n ? c->set.n : 1;
    c->ix = pd_calloc(n, sizeof *c->ix);
    c->seen = pd_calloc(n, sizeof *c->seen);
    if (!c->ix || !c->seen) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    for (size_t i = 0; i < c->set.n; i++) c->ix[i] = (id_ent){c->set.items[i].id ? c->set.items[i].id : "", i};
    qsort(c->ix, c->set.n, sizeof *c->ix, id_cmp);
    for (size_t i = 1; i < c->set.n; i++)
        if (!strcmp(c->ix[i].id, c->ix[i - 1].id)) {
            cli_error(VERB, "%s: item id '%s' appears more than once (ids must be unique)", c->files[0], c->ix[i].id);
            return 1;
        }
    return 0;
}

/* Judge one output against its item and write its record. Returns 0, or 1 on a fatal error. */
static int score_item(score_ctx *c, const pd_task_item *it, const char *output) {
    pd_verdict v = {0};
    double sc = 0;
    int rc = 0;
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", it->id);
    if (!c->ref_only && pd_rest_is_bundle(it)) {
        double scores[PD_REST_MAX_K];
        int k = 0;
        if (pd_rest_verify(it, output, scores, &k) != PD_OK) {
            cli_error(VERB, "%s: %s", c->files[0], pd_last_error());
            cJSON_Delete(rec);
            return 1;
        }
        cJSON *arr = cJSON_AddArrayToObject(rec, "scores");
        for (int j = 0; j < k; j++) {
            sc += scores[j] / k;
            c->pos_sum[j] += scores[j];
            c->pos_n[j]++;
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(scores[j]));
        }
        if (k > c->max_k) c->max_k = k;
        v.reason = "rest";
    } else {
        const pd_task *t = c->forced;
        if (!t && !c->ref_only && it->task && strcmp(it->task, "jsonl")) t = pd_task_find(it->task);
        pd_status s = t ? pd_task_verify_ex(t, it, output, c->mode, &v) : pd_task_verify_ref(it->answer, output, c->mode, &v);
        if (s != PD_OK) { cli_error(VERB, "item '%s': %s", it->id, pd_last_error()); rc = 1; }
        sc = v.score;
        if (v.extracted) cJSON_AddStringToObject(rec, "extracted", v.extracted);
        else cJSON_AddNullToObject(rec, "extracted");
    }
    cJSON_AddNumberToObject(rec, "score", sc);
    cJSON_AddBoolToObject(rec, "correct", sc >= 1.0);
    cJSON_AddStringToObject(rec, "reason", v.reason ? v.reason : "");
    if (c->of) {
        char *js = pd_json_print(rec, false);
        if (!js || fprintf(c->of, "%s\n", js) < 0) { cli_error(VERB, "%s: write failed", c->out_path); rc = 1; }
        free(js);
    }
    cJSON_Delete(rec);
    pd_verdict_free(&v);
    c->n_scored++;
    c->score_sum += sc;
    c->correct += sc >= 1.0;
    return rc;
}

/* One line of OUTPUTS: 0 go on, 1 stop with an error. Bad lines, unknown ids and second outputs for
 * an id are skipped and counted (fatal with --strict). */
static int score_line(score_ctx *c, char *line) {
    cJSON *o = cJSON_Parse(line);
    const cJSON *jid = o ? cJSON_GetObjectItemCaseSensitive(o, "id") : NULL;
    const cJSON *jout = o ? cJSON_GetObjectItemCaseSensitive(o, "output") : NULL;
    if (o && !jout) jout = cJSON_GetObjectItemCaseSensitive(o, "completion");
    if (o && !jout) jout = cJSON_GetObjectItemCaseSensitive(o, "response");
    char idbuf[64];
    const char *id = NULL;
    if (cJSON_IsString(jid)) id = jid->valuestring;
    else if (cJSON_IsNumber(jid)) { snprintf(idbuf, sizeof idbuf, "%.17g", jid->valuedouble); id = idbuf; }
    int rc = 0;
    id_ent key = {id, 0}, *hit = NULL;
    if (!o || !id || !cJSON_IsString(jout)) {
        cli_error(VERB, "%s: line %zu: %s", c->files[1], c->lineno,
                  !o ? "invalid JSON" : !id ? "missing key 'id'" : "missing string key 'output'");
        c->n_out_bad++;
        rc = c->strict;
    } else if (!(hit = bsearch(&key, c->ix, c->set.n, sizeof *c->ix, id_cmp))) {
        cli_error(VERB, "%s: line %zu: id '%s' is not in %s%s", c->files[1], c->lineno, id, c->files[0], c->strict ? "" : " (skipped)");
        c->n_unknown++;
        rc = c->strict;
    } else if (c->seen[hit->idx]++) {
        cli_error(VERB, "%s: line %zu: id '%s' has an output already%s", c->files[1], c->lineno, id,
                  c->strict ? "" : " (skipped: one output per item is scored)");
        c->n_dup++;
        rc = c->strict;
    } else {
        rc = score_item(c, &c->set.items[hit->idx], jout->valuestring);
    }
    cJSON_Delete(o);
    return rc;
}

static void score_summary(const score_ctx *c, size_t missing) {
    if (c->max_k > 0) {
        printf("per-position accuracy:");
        for (int j = 0; j < c->max_k; j++) printf(" Q%d %.4f", j + 1, c->pos_n[j] ? c->pos_sum[j] / (double)c->pos_n[j] : 0.0);
        printf("\n");
        double tot = 0;
        size_t cnt = 0;
        for (int j = 0; j < c->max_k; j++) { tot += c->pos_sum[j]; cnt += c->pos_n[j]; }
        printf("rest accuracy %.4f over %zu questions\n", cnt ? tot / (double)cnt : 0.0, cnt);
    }
    /* over items: every item has at most one scored output, so this is never above 100% */
    size_t n = c->set.n;
    printf("accuracy %.0f/%zu (%.2f%%), mean score %.4f, scored %zu, missing outputs %zu, bad output lines %zu, "
           "unknown ids %zu, duplicates %zu\n",
           c->correct, n, n ? 100.0 * c->correct / (double)n : 0.0, c->n_scored ? c->score_sum / (double)c->n_scored : 0.0,
           c->n_scored, missing, c->n_out_bad, c->n_unknown, c->n_dup);
}

static int cmd_score(int argc, char **argv) {
    score_ctx c;
    memset(&c, 0, sizeof c);
    c.mode = PD_EXTRACT_AUTO;
    int rc = score_args(&c, argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    size_t olen = 0;
    char *otext = NULL;
    rc = score_index(&c);
    if (rc == 0 && !(otext = pd_read_file(c.files[1], &olen))) { cli_error(VERB, "%s", pd_last_error()); rc = 1; }
    const cli_path op = {"--out", c.out_path}, ins[2] = {{"ITEMS", c.files[0]}, {"OUTPUTS", c.files[1]}};
    if (rc == 0) rc = cli_check_paths(VERB, &op, 1, ins, 2);
    pd_outfile *of = NULL; /* --out: temp file, renamed into place only when complete */
    if (rc == 0 && c.out_path && !(of = pd_out_open(c.out_path))) { cli_error(VERB, "--out: %s", pd_last_error()); rc = 1; }
    c.of = pd_out_fp(of);
    for (char *p = otext; rc == 0 && p < otext + olen;) {
        char *nl = memchr(p, '\n', (size_t)(otext + olen - p));
        if (nl) *nl = 0;
        c.lineno++;
        char *line = p;
        p = nl ? nl + 1 : otext + olen;
        if (line[strspn(line, " \t\r")]) rc = score_line(&c, line);
    }
    size_t missing = 0;
    for (size_t i = 0; i < c.set.n && c.seen; i++) missing += !c.seen[i];
    if (of && rc != 0) pd_out_abort(of);
    else if (of && pd_out_commit(of) != PD_OK) { cli_error(VERB, "--out: %s", pd_last_error()); rc = 1; }
    if (rc == 0) {
        score_summary(&c, missing);
        if (fflush(stdout) != 0 || ferror(stdout)) { cli_error(VERB, "writing the summary failed (standard output)"); rc = 1; }
    }
    free(c.ix);
    free(c.seen);
    free(otext);
    pd_task_set_free(&c.set);
    return rc;
}

int pd_cmd_tasks(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "list")) return cmd_list();
    if (!strcmp(argv[1], "gen")) return cmd_gen(argc - 1, argv + 1);
    if (!strcmp(argv[1], "score")) return cmd_score(argc - 1, argv + 1);
    cli_error(VERB, "unknown subcommand '%s' (list, gen, score)", argv[1]);
    return 2;
}
