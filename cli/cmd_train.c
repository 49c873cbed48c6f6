/* cli/cmd_train.c — `ponder train`: pretrain or SFT a model from scratch on a task or a corpus
 * (train/trainer.c does the work). Flags may also come from a config file (--config FILE: one
 * "flag value" per line, '#' comments; errors name FILE:LINE), read first so that flags on the command line win. */
#include "cli.h"
#include "run_flags.h"
#include "ponder/error.h"
#include "ponder/outfile.h"
#include "ponder/threads.h"
#include "ponder/train.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *V = "train";

/* pd_train_opts_default and what `ponder train` changes (help() prints these) */
static void defaults(pd_train_opts *o) {
    pd_train_opts_default(o);
    o->run.eval_n = 100;
}

static void help(FILE *f) {
    pd_train_opts d;
    defaults(&d);
    fprintf(f,
            "usage: ponder train (--task T | --data FILE) --out FILE.gguf [flags]\n"
            "       ponder train --resume FILE.gguf.ckpt [--out FILE.gguf] [--steps N]\n"
            "       (task items are rendered with <think> traces; --flag=value works too)\n");
    cli_run_help(f, &d.run,
                 "*.jsonl: ponder task items and SFT examples ({\"messages\": [...]} or\n"
                 "                        {\"prompt\", \"completion\"}, as TRL reads them); other files: plain text",
                 "the trained model (loads in ponder run and llama.cpp); the checkpoint\n"
                 "                        with optimizer state, step and rng goes to FILE.gguf.ckpt");
    fprintf(f,
            "  --report D[,D...]     after training, load the written model with the inference path and\n"
            "                        print a table of greedy accuracy on --eval-n held-out task items per difficulty\n"
            "                        (default: none)\n"
            "  --records FILE.jsonl  per-item records of that report (default: none)\n"
            "  --config FILE         read flags from FILE first: one 'flag value' per line, '#' comments;\n"
            "                        errors name FILE:LINE (default: none)\n"
            "  --dry-run             check the flags (and --config), print the effective settings as JSON\n"
            "                        and exit without training or writing anything\n"
            "model:\n"
            "  -m, --init MODEL      start from MODEL (any llama/qwen2/qwen3 GGUF with F32/F16/BF16/Q8_0\n"
            "                        weights): its weights, tokenizer and chat template; the flags below\n"
            "                        are ignored (default: a new model with ponder's byte vocabulary)\n"
            "  --arch A              llama | qwen2 | qwen3 (default %s)\n"
            "  --dim N               embedding width (default %d)\n"
            "  --layers N            blocks (default %d)\n"
            "  --heads N             attention heads (default %d)\n"
            "  --kv-heads N          key/value heads (default %d)\n"
            "  --head-dim N          (default %d)\n"
            "  --ffn N               feed-forward width (default %d)\n"
            "  --ctx N               context length (default %d)\n"
            "  --untied              separate output matrix (default: tied to the embedding)\n"
            "  --attn-window S,R     train with a local attention window: each position sees the first S\n"
            "                        positions of its item and the R most recent (what a KV cache that keeps\n"
            "                        the prompt and a recent window sees; default 0,0: full causal attention);\n"
            "                        S,R,mixed: each micro-batch draws R, 2R, 4R or full attention, so the\n"
            "                        model works with any cache from that window up to the full one\n",
            d.cfg.arch, d.cfg.dim, d.cfg.n_layer, d.cfg.n_head, d.cfg.n_head_kv, d.cfg.head_dim, d.cfg.n_ff,
            d.cfg.n_ctx);
}

typedef struct {
    pd_train_opts o;
    cli_run_args ra;
    bool head_dim_given, kv_given;
    const char *shape_flag; /* the first model-shape flag given (a model from -m fixes the shape) */
    int report[8], n_report;
    const char *records, *config;
    bool dry_run;
    char *cfg_text;
    char **cfg_argv;
    char **dash;   /* "--flag" copies made for config lines written without dashes */
    int n_dash;
} targs;

static void targs_free(targs *a) {
    for (int i = 0; i < a->n_dash; i++) free(a->dash[i]);
    free(a->dash);
    free(a->cfg_text);
    free(a->cfg_argv);
    cli_run_args_free(&a->ra);
}

static int parse(targs *a, int argc, char **argv, bool from_file);

/* flags that take no value: a word after one on a config line is the next flag */
static bool is_switch(const char *flag) {
    static const char *const sw[] = {"--untied", "--quiet", "--strict", "--dry-run"};
    for (size_t k = 0; k < sizeof sw / sizeof sw[0]; k++)
        if (!strcmp(flag, sw[k])) return true;
    return false;
}

static int read_config(targs *a, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { cli_error(V, "--config: cannot open '%s'", path); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0 || n > (1 << 20)) { fclose(f); cli_error(V, "--config: '%s' is not a small text file", path); return 1; }
    a->cfg_text = malloc((size_t)n + 1);
    a->cfg_argv = malloc(sizeof(char *) * (2 * (size_t)n + 4));  /* a verb slot per line + the words */
    a->dash = malloc(sizeof(char *) * ((size_t)n + 2));
    if (!a->cfg_text || !a->cfg_argv || !a->dash || fread(a->cfg_text, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        cli_error(V, "--config: cannot read '%s'", path);
        return 1;
    }
    fclose(f);
    a->cfg_text[n] = 0;
    /* line by line, so that a bad flag or value is reported as FILE:LINE and no value is taken
     * from the next line */
    int ac = 0, line_no = 0;
    for (char *line = a->cfg_text; line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        line_no++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        int start = ac;
        a->cfg_argv[ac++] = (char *)V;
        char *sp;
        for (char *w = strtok_r(line, " \t\r=", &sp); w; w = strtok_r(NULL, " \t\r=", &sp)) a->cfg_argv[ac++] = w;
        /* allow flags written without "--" in the file */
        for (int i = start + 1; i < ac; i++) {
            if (a->cfg_argv[i][0] == '-') continue;
            bool is_value = i > start + 1 && a->cfg_argv[i - 1][0] == '-' && !is_switch(a->cfg_argv[i - 1]);
            if (!is_value) {
                size_t l = strlen(a->cfg_argv[i]);
                char *d = malloc(l + 3);
                if (!d) return 1;
                snprintf(d, l + 3, "--%s", a->cfg_argv[i]);
                a->cfg_argv[i] = a->dash[a->n_dash++] = d;
            }
        }
        if (ac - start > 1) {
            char where[300];
            snprintf(where, sizeof where, "%s:%d", path, line_no);
            cli_error_context(where);
            int r = parse(a, ac - start, a->cfg_argv + start, true);
            cli_error_context(NULL);
            if (r) return r;
        }
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

static int parse(targs *a, int argc, char **argv, bool from_file) {
    pd_train_opts *o = &a->o;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        long long iv;
#define IVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_int(V, f, v, lo, hi, &iv))
        int sr = cli_run_flag(V, argc, argv, &i, &a->ra);
        if (sr != 1) { if (sr) return sr; continue; }
        static const char *const model_flags[] = {"--arch", "--dim", "--layers", "--heads", "--kv-heads", "--head-dim",
                                                  "--ffn", "--ctx", "--untied", "--init", "-m"};
        for (size_t k = 0; k < sizeof model_flags / sizeof model_flags[0]; k++)
            if (!strcmp(f, model_flags[k])) {
                cli_run_fixed(&a->ra, f); /* a checkpoint fixes the model */
                if (k + 2 < sizeof model_flags / sizeof model_flags[0] && !a->shape_flag) a->shape_flag = f;
            }
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) { help(stdout); return -1; }
        else if (!strcmp(f, "--arch")) {
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            if (pd_tcfg_set_arch(&o->cfg, v) != PD_OK) { cli_error(V, "--arch: %s", pd_last_error()); return 2; }
        }
        else if (!strcmp(f, "--dim")) { if (IVAL(2, 65536)) return 2; o->cfg.dim = (int)iv; }
        else if (!strcmp(f, "--layers")) { if (IVAL(1, 1024)) return 2; o->cfg.n_layer = (int)iv; }
        else if (!strcmp(f, "--heads")) { if (IVAL(1, 1024)) return 2; o->cfg.n_head = (int)iv; }
        else if (!strcmp(f, "--kv-heads")) { if (IVAL(1, 1024)) return 2; o->cfg.n_head_kv = (int)iv; a->kv_given = true; }
        else if (!strcmp(f, "--head-dim")) { if (IVAL(2, 1024)) return 2; o->cfg.head_dim = (int)iv; a->head_dim_given = true; }
        else if (!strcmp(f, "--ffn")) { if (IVAL(1, 1 << 20)) return 2; o->cfg.n_ff = (int)iv; }
        else if (!strcmp(f, "--ctx")) { if (IVAL(2, 1 << 20)) return 2; o->cfg.n_ctx = (int)iv; }
        else if (!strcmp(f, "--untied")) o->cfg.tied = false;
        else if (!strcmp(f, "--init") || !strcmp(f, "-m")) { if (!(o->init = cli_value(V, argc, argv, &i))) return 2; }
        else if (!strcmp(f, "--attn-window")) {
            cli_run_fixed(&a->ra, f); /* a checkpoint fixes the window */
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            char *end, *end2 = NULL;
            long s = strtol(v, &end, 10), r = *end == ',' ? strtol(end + 1, &end2, 10) : -1;
            int mix = end2 && !strcmp(end2, ",mixed");
            if (*end != ',' || end2 == end + 1 || (*end2 && !mix) || s < 0 || r < 0 || s > (1 << 20) ||
                r > (1 << 18) || (s == 0) != (r == 0) || (mix && r == 0)) {
                cli_error(V, "--attn-window: expected S,R or S,R,mixed (sink and recent positions, both > 0, or 0,0), "
                             "got '%s'", v);
                return 2;
            }
            o->run.attn_sink = (int)s;
            o->run.attn_recent = (int)r;
            o->run.attn_mix = mix;
        }
        else if (!strcmp(f, "--report")) {
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            a->n_report = 0;
            for (const char *p = v; *p && a->n_report < 8;) {
                char *end;
                long d = strtol(p, &end, 10);
                if (end == p || d < 1 || d > 1000) { cli_error(V, "--report: expected difficulties like 3,4, got '%s'", v); return 2; }
                a->report[a->n_report++] = (int)d;
                p = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') { cli_error(V, "--report: expected difficulties like 3,4, got '%s'", v); return 2; }
            }
        }
        else if (!strcmp(f, "--records")) { if (!(a->records = cli_value(V, argc, argv, &i))) return 2; }
        else if (!strcmp(f, "--dry-run")) a->dry_run = true;
        else if (!strcmp(f, "--config")) {
            /* read before the command line (see pd_cmd_train) */
            if (from_file) { cli_error(V, "--config inside a config file is not allowed"); return 2; }
            if (!cli_value(V, argc, argv, &i)) return 2;
        }
        else { cli_error(V, "unknown flag '%s' (ponder train --help)", f); return 2; }
#undef IVAL
    }
    return 0;
}

/* --report needs task items (not --data); --records is the report's */
static int check_report(const targs *a) {
    if (a->n_report && a->o.run.data_path) {
        cli_error(V, "--report: it reports greedy accuracy on task items per difficulty; it does not apply to --data");
        return 2;
    }
    if (a->records && !a->n_report) { cli_error(V, "--records: it holds the records of --report; give --report too"); return 2; }
    return 0;
}

/* the --report table (and --records) on the written model, the task and seed the run used */
static int report(const targs *a, const pd_train_result *res) {
    const pd_run_opts *ro = &a->o.run;
    if (!res->task[0]) { cli_error(V, "--report: the checkpoint was trained on a data file, not a task"); return 2; }
    pd_outfile *rec = NULL;
    if (a->records && !(rec = pd_out_open(a->records))) { cli_error(V, "--records: %s", pd_last_error()); return 1; }
    fflush(stdout);
    pd_status st = pd_train_report(ro->out, res->task, a->report, a->n_report, ro->eval_n > 0 ? ro->eval_n : 100,
                                   res->seed, ro->max_new, stdout, pd_out_fp(rec));
    if (st != PD_OK) {
        pd_out_abort(rec);
        cli_error(V, "%s", pd_last_error());
        return 1;
    }
    if (rec && pd_out_commit(rec) != PD_OK) { cli_error(V, "--records: %s", pd_last_error()); return 1; }
    if (a->records) printf("wrote %s\n", a->records);
    return 0;
}

/* --dry-run: the settings the run would use, nothing trained or written */
static int dry_run(const pd_train_opts *o) {
    char *s = pd_train_opts_json(o);
    if (!s) { cli_error(V, "%s", pd_last_error()); return 1; }
    int ok = puts(s) >= 0;
    free(s);
    return ok ? 0 : 1;
}

int pd_cmd_train(int argc, char **argv) {
    targs a;
    memset(&a, 0, sizeof a);
    defaults(&a.o);
    a.ra = (cli_run_args){.o = &a.o.run, .steps_min = 1};
    /* a config file is read first wherever --config appears, so command-line flags override it */
    int r = 0;
    for (int i = 1; i + 1 < argc && !r; i++)
        if (!strcmp(argv[i], "--config")) r = read_config(&a, a.config = argv[i + 1]);
    if (!r) r = parse(&a, argc, argv, false);
    if (r) { targs_free(&a); return r < 0 ? 0 : r; }
    pd_train_opts *o = &a.o;
    pd_run_opts *ro = &o->run;
    if ((r = check_report(&a))) { targs_free(&a); return r; }
    if (o->init && a.shape_flag) { /* the model's own config would silently win */
        cli_error(V, "%s: the model given with -m/--init fixes the architecture (leave it out)", a.shape_flag);
        targs_free(&a);
        return 2;
    }
    a.ra.extra_in[0] = (cli_path){"--init", o->init};
    a.ra.extra_in[1] = (cli_path){"--config", a.config};
    a.ra.extra_out[0] = (cli_path){"--records", a.records};
    if ((r = cli_run_finish(V, &a.ra, true, true))) { targs_free(&a); return r; }
    if (!a.head_dim_given) o->cfg.head_dim = o->cfg.dim / o->cfg.n_head;
    if (!a.kv_given && o->cfg.n_head % o->cfg.n_head_kv) o->cfg.n_head_kv = o->cfg.n_head;
    ro->progress = a.ra.quiet ? NULL : stderr;
    if (a.dry_run) { r = dry_run(&a.o); targs_free(&a); return r; }
    pd_train_result res;
    pd_status st = pd_train_run(o, &res);
    if (st != PD_OK) {
        cli_error(V, "%s", pd_last_error());
        targs_free(&a);
        return 1;
    }
    /* every file named below exists: pd_train_run returned only after writing them */
    printf("trained %zu parameters for %lld steps in %.1f s (%.0f tokens/s)\n", res.n_params,
           (long long)res.steps_done, res.seconds, res.tokens_per_s);
    printf("final loss %.4f, held-out loss %.4f", res.final_loss, res.heldout_loss);
    if (res.eval.n) printf(", greedy accuracy %.1f%% (%d/%d), mean thinking tokens %.1f", 100 * res.eval.accuracy,
                           res.eval.correct, res.eval.n, res.eval.mean_think_tokens);
    printf("\nwrote %s (checkpoint %s.ckpt)", ro->out, ro->out);
    if (ro->plot_path) printf(" and %s", ro->plot_path);
    printf("\n");
    if (a.n_report && (r = report(&a, &res))) { targs_free(&a); return r; }
    targs_free(&a);
    return 0;
}
