/* cli/run_flags.c — the flags `ponder train`, `ponder finetune` and the RL verb share, read into one
 * pd_run_opts (see run_flags.h). */
#include "run_flags.h"
#include "cli.h"
#include "ponder/outfile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_run_args_free(cli_run_args *a) {
    free(a->out_alloc);
    free(a->plot_alloc);
    free(a->ckpt_alloc);
    a->out_alloc = a->plot_alloc = a->ckpt_alloc = NULL;
}

void cli_run_fixed(cli_run_args *a, const char *flag) {
    if (!a->fixed) a->fixed = flag;
}

/* every output writable, distinct, and none an input (see cli_run_finish) */
static int check_paths(const char *V, cli_run_args *a) {
    pd_run_opts *r = a->o;
    size_t l = strlen(r->out) + 6;
    if (!(a->ckpt_alloc = malloc(l))) return 1;
    snprintf(a->ckpt_alloc, l, "%s.ckpt", r->out);
    /* the checkpoint resumed from is continued (rewritten atomically after the next steps) */
    bool continues = r->resume && pd_out_same_file(a->ckpt_alloc, r->resume);
    cli_path outs[6] = {{"--out", r->out}, {"the checkpoint", continues ? NULL : a->ckpt_alloc}, {"--log", r->log_path},
                        {"--plot", r->plot_path}, a->extra_out[0], a->extra_out[1]};
    cli_path ins[5] = {{"--resume", r->resume}, {"--data", r->data_path}, a->extra_in[0], a->extra_in[1],
                       a->extra_in[2]};
    int rc = cli_check_paths(V, outs, 6, ins, 5);
    if (!rc && continues) { /* and not the same as any other output */
        const cli_path ck = {"the checkpoint", a->ckpt_alloc};
        rc = cli_check_paths(V, &ck, 1, outs, 6);
    }
    return rc;
}

int cli_run_finish(const char *V, cli_run_args *a, bool need_data, bool want_plot) {
    pd_run_opts *r = a->o;
    if (!r->resume && need_data && !r->task && !r->data_path) {
        cli_error(V, "give --task T or --data FILE (or --resume)");
        return 2;
    }
    if (r->task && r->data_path) { cli_error(V, "--task and --data exclude each other"); return 2; }
    if (r->data_path && a->task_only) {
        cli_error(V, "%s: it applies to --task items; a data file has its own (leave it out)", a->task_only);
        return 2;
    }
    if (r->strict && !r->data_path && !r->resume) { cli_error(V, "--strict: it applies to --data FILE.jsonl"); return 2; }
    if (r->resume && a->fixed) {
        cli_error(V, "%s: a resumed run takes it from the checkpoint '%s' (leave it out)", a->fixed, r->resume);
        return 2;
    }
    if (!r->out && !r->resume) { cli_error(V, "--out FILE.gguf is required"); return 2; }
    if (r->task && !cli_difficulty_check(V, "--difficulty", r->task, r->dlo, r->dhi)) return 2;
    if (r->task && r->eval_difficulty > 0 &&
        !cli_difficulty_check(V, "--eval-difficulty", r->task, r->eval_difficulty, r->eval_difficulty))
        return 2;
    if (!r->out) {
        /* default: beside the checkpoint (FILE.gguf for FILE.gguf.ckpt) */
        size_t l = strlen(r->resume);
        if (l <= 5 || strcmp(r->resume + l - 5, ".ckpt")) {
            cli_error(V, "--out is needed when the checkpoint's name does not end in .ckpt");
            return 2;
        }
        if (!(a->out_alloc = malloc(l + 1))) return 1;
        memcpy(a->out_alloc, r->resume, l - 5);
        a->out_alloc[l - 5] = 0;
        r->out = a->out_alloc;
    }
    if (want_plot && !a->plot_none && !r->plot_path) {
        size_t l = strlen(r->out) + 16;
        if (!(a->plot_alloc = malloc(l))) return 1;
        snprintf(a->plot_alloc, l, "%s.loss.svg", r->out);
        r->plot_path = a->plot_alloc;
    }
    if (r->resume && !a->steps_given) r->steps = 0; /* 0: keep the checkpoint's schedule */
    return check_paths(V, a);
}

int cli_run_flag(const char *V, int argc, char **argv, int *ip, cli_run_args *a) {
    pd_run_opts *r = a->o;
    const char *f = argv[*ip], *v;
    long long iv;
    double dv;
    int i = *ip, rc = 0;
#define IVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_int(V, f, v, lo, hi, &iv))
#define FVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_float(V, f, v, lo, hi, &dv))
#define STR(dst) { if (!(*(dst) = cli_value(V, argc, argv, &i))) rc = 2; }
    if (!strcmp(f, "--task")) STR(&r->task)
    else if (!strcmp(f, "--data")) STR(&r->data_path)
    else if (!strcmp(f, "--strict")) r->strict = true;
    else if (!strcmp(f, "--difficulty")) {
        if (!(v = cli_value(V, argc, argv, &i)) || !cli_difficulty(V, f, v, true, &r->dlo, &r->dhi)) rc = 2;
    }
    else if (!strcmp(f, "--batch")) { if (IVAL(1, 1 << 16)) rc = 2; else r->B = (int)iv; }
    else if (!strcmp(f, "--seq")) { if (IVAL(2, 1 << 20)) rc = 2; else r->T = (int)iv; }
    else if (!strcmp(f, "--accum")) { if (IVAL(1, 1 << 16)) rc = 2; else r->accum = (int)iv; }
    else if (!strcmp(f, "--steps")) {
        if (IVAL(a->steps_min, 1LL << 40)) rc = 2;
        else { r->steps = iv; a->steps_given = true; }
    }
    else if (!strcmp(f, "--lr")) { if (FVAL(0, 10)) rc = 2; else r->opt.lr = (float)dv; }
    else if (!strcmp(f, "--min-lr-frac")) { if (FVAL(0, 1)) rc = 2; else r->opt.min_lr_frac = (float)dv; }
    else if (!strcmp(f, "--warmup")) { if (IVAL(0, 1 << 30)) rc = 2; else r->opt.warmup = (int)iv; }
    else if (!strcmp(f, "--wd")) { if (FVAL(0, 10)) rc = 2; else r->opt.weight_decay = (float)dv; }
    else if (!strcmp(f, "--clip")) { if (FVAL(0, 1e6)) rc = 2; else r->opt.clip = (float)dv; }
    else if (!strcmp(f, "--seed")) { if (!(v = cli_value(V, argc, argv, &i)) || !cli_seed(V, f, v, &r->seed)) rc = 2; }
    else if (!strcmp(f, "-t") || !strcmp(f, "--threads")) { if (!(v = cli_value(V, argc, argv, &i)) || !cli_threads(V, f, v, &r->threads)) rc = 2; }
    else if (!strcmp(f, "--out")) STR(&r->out)
    else if (!strcmp(f, "--resume")) STR(&r->resume)
    else if (!strcmp(f, "--log")) STR(&r->log_path)
    else if (!strcmp(f, "--plot")) {
        if (!(v = cli_value(V, argc, argv, &i))) rc = 2;
        else if (!strcmp(v, "none")) a->plot_none = true;
        else r->plot_path = v;
    }
    else if (!strcmp(f, "--ckpt-every")) { if (IVAL(0, 1 << 30)) rc = 2; else r->ckpt_every = (int)iv; }
    else if (!strcmp(f, "--eval-every")) { if (IVAL(0, 1 << 30)) rc = 2; else r->eval_every = (int)iv; }
    else if (!strcmp(f, "--eval-n")) { if (IVAL(0, 100000)) rc = 2; else r->eval_n = (int)iv; }
    else if (!strcmp(f, "--eval-difficulty")) {
        int hi;
        if (!(v = cli_value(V, argc, argv, &i)) || !cli_difficulty(V, f, v, false, &r->eval_difficulty, &hi)) rc = 2;
    }
    else if (!strcmp(f, "--max-new")) { if (IVAL(1, 1 << 20)) rc = 2; else r->max_new = (int)iv; }
    else if (!strcmp(f, "--quiet")) a->quiet = true;
    else if (!strcmp(f, "--precision")) {
        if (!(v = cli_value(V, argc, argv, &i))) rc = 2;
        else if (pd_precision_parse(v, &r->precision) != PD_OK) {
            cli_error(V, "--precision: expected f32 or bf16, got '%s'", v);
            rc = 2;
        }
    }
    else rc = 1;
    static const char *const fixed[] = {"--task", "--data", "--strict", "--difficulty", "--batch", "--seq", "--accum",
                                        "--lr", "--min-lr-frac", "--warmup", "--wd", "--clip", "--seed",
                                        "--precision"};
    for (size_t k = 0; rc == 0 && k < sizeof fixed / sizeof fixed[0]; k++)
        if (!strcmp(f, fixed[k])) cli_run_fixed(a, f);
    if (rc == 0 && !a->task_only && (!strcmp(f, "--difficulty") || !strcmp(f, "--eval-difficulty"))) a->task_only = f;
#undef IVAL
#undef FVAL
#undef STR
    *ip = i;
    return rc;
}

void cli_run_help(FILE *f, const pd_run_opts *d, const char *data_help, const char *out_help) {
    char diff[32];
    if (d->dlo == d->dhi) snprintf(diff, sizeof diff, "%d", d->dlo);
    else snprintf(diff, sizeof diff, "%d-%d", d->dlo, d->dhi);
    fprintf(f,
            "data:\n"
            "  --task T              task to train on (ponder tasks list; default none: give --task or --data)\n"
            "  --difficulty D|LO-HI  task difficulty, or a range drawn uniformly (default %s)\n"
            "  --data FILE           %s\n"
            "  --strict              a malformed JSONL line is fatal (default: reported and skipped)\n"
            "optimisation:\n"
            "  --batch B             micro-batch rows (default %d)\n"
            "  --seq T               tokens per row (default %d)\n"
            "  --accum N             micro-batches per step (default %d)\n"
            "  --steps N             optimiser steps (default %lld)\n"
            "  --lr X                peak learning rate (default %g)\n"
            "  --min-lr-frac X       cosine decay down to this fraction of --lr (default %g)\n"
            "  --warmup N            linear warm-up steps (default %d)\n"
            "  --wd X                AdamW weight decay (default %g)\n"
            "  --clip X              gradient-norm clip (default %g; 0 = off)\n"
            "  --seed N              0..18446744073709551615 (default %llu)\n"
            "  -t, --threads N       1..1024 (default: physical cores)\n"
            "  --precision P         f32 (default) or bf16: every matmul with BF16 operands and F32 accumulation,\n"
            "                        F32 master weights, gradients and AdamW state (vdpbf16ps with AVX512-BF16;\n"
            "                        same numbers, slower, without it)\n"
            "output:\n"
            "  --out FILE.gguf       %s\n"
            "  --ckpt-every N        also write the checkpoint every N steps, atomically (default %d: only at the end)\n"
            "  --resume FILE.ckpt    continue a run bit for bit (default none); data, batch, optimiser, seed and\n"
            "                        model come from the checkpoint (giving one is an error); --steps N only moves\n"
            "                        the end: the learning-rate schedule stays the checkpoint's\n"
            "  --log FILE.jsonl      one object per step and per evaluation (default: none)\n"
            "  --plot FILE.svg|png   loss curve (default: <out>.loss.svg; 'none' for none)\n"
            "  --eval-every N        held-out loss and greedy accuracy every N steps (default %d: at the end)\n"
            "  --eval-n N            held-out items for greedy accuracy (default %d; 0: none)\n"
            "  --eval-difficulty D   difficulty of those items (default: the highest trained)\n"
            "  --max-new N           generation limit for evaluation (default %d)\n"
            "  --quiet               no progress output (default: a progress bar on stderr)\n",
            diff, data_help, d->B, d->T, d->accum, (long long)d->steps, d->opt.lr, d->opt.min_lr_frac, d->opt.warmup,
            d->opt.weight_decay, d->opt.clip, (unsigned long long)d->seed, out_help, d->ckpt_every, d->eval_every,
            d->eval_n, d->max_new);
}
