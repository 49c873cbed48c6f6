/* cli/run_flags.c — the flags `ponder train` and `ponder finetune` share (see run_flags.h). */
#include "run_flags.h"
#include "cli.h"
#include <stdio.h>
#include <string.h>

int cli_run_flag(const char *V, int argc, char **argv, int *ip, const cli_run_flags *r) {
    const char *f = argv[*ip], *v;
    long long iv;
    double dv;
    int i = *ip, rc = 0;
#define IVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_int(V, f, v, lo, hi, &iv))
#define FVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_float(V, f, v, lo, hi, &dv))
#define STR(dst) { if (!(*(dst) = cli_value(V, argc, argv, &i))) rc = 2; }
    if (!strcmp(f, "--task")) STR(r->task)
    else if (!strcmp(f, "--data")) STR(r->data_path)
    else if (!strcmp(f, "--difficulty")) {
        int lo, hi;
        char tail;
        if (!(v = cli_value(V, argc, argv, &i))) rc = 2;
        else if (sscanf(v, "%d-%d%c", &lo, &hi, &tail) == 2) { *r->dlo = lo; *r->dhi = hi; }
        else if (sscanf(v, "%d%c", &lo, &tail) == 1) { *r->dlo = *r->dhi = lo; }
        else { cli_error(V, "--difficulty: expected N or LO-HI, got '%s'", v); rc = 2; }
    }
    else if (!strcmp(f, "--batch")) { if (IVAL(1, 1 << 16)) rc = 2; else *r->B = (int)iv; }
    else if (!strcmp(f, "--seq")) { if (IVAL(2, 1 << 20)) rc = 2; else *r->T = (int)iv; }
    else if (!strcmp(f, "--accum")) { if (IVAL(1, 1 << 16)) rc = 2; else *r->accum = (int)iv; }
    else if (!strcmp(f, "--steps")) {
        if (IVAL(r->steps_min, 1LL << 40)) rc = 2;
        else { *r->steps = iv; *r->steps_given = true; }
    }
    else if (!strcmp(f, "--lr")) { if (FVAL(0, 10)) rc = 2; else r->opt->lr = (float)dv; }
    else if (!strcmp(f, "--min-lr-frac")) { if (FVAL(0, 1)) rc = 2; else r->opt->min_lr_frac = (float)dv; }
    else if (!strcmp(f, "--warmup")) { if (IVAL(0, 1 << 30)) rc = 2; else r->opt->warmup = (int)iv; }
    else if (!strcmp(f, "--wd")) { if (FVAL(0, 10)) rc = 2; else r->opt->weight_decay = (float)dv; }
    else if (!strcmp(f, "--clip")) { if (FVAL(0, 1e6)) rc = 2; else r->opt->clip = (float)dv; }
    else if (!strcmp(f, "--seed")) { if (IVAL(0, 1LL << 62)) rc = 2; else *r->seed = (uint64_t)iv; }
    else if (!strcmp(f, "--threads")) { if (IVAL(0, 1024)) rc = 2; else *r->threads = (int)iv; }
    else if (!strcmp(f, "--out")) STR(r->out)
    else if (!strcmp(f, "--resume")) STR(r->resume)
    else if (!strcmp(f, "--log")) STR(r->log_path)
    else if (!strcmp(f, "--plot")) {
        if (!(v = cli_value(V, argc, argv, &i))) rc = 2;
        else if (!strcmp(v, "none")) *r->plot_none = true;
        else *r->plot_path = v;
    }
    else if (!strcmp(f, "--ckpt-every")) { if (IVAL(0, 1 << 30)) rc = 2; else *r->ckpt_every = (int)iv; }
    else if (!strcmp(f, "--eval-every")) { if (IVAL(0, 1 << 30)) rc = 2; else *r->eval_every = (int)iv; }
    else if (!strcmp(f, "--eval-n")) { if (IVAL(0, 100000)) rc = 2; else *r->eval_n = (int)iv; }
    else if (!strcmp(f, "--eval-difficulty")) { if (IVAL(0, 1000)) rc = 2; else *r->eval_difficulty = (int)iv; }
    else if (!strcmp(f, "--max-new")) { if (IVAL(1, 1 << 20)) rc = 2; else *r->max_new = (int)iv; }
    else if (!strcmp(f, "--quiet")) *r->quiet = true;
    else rc = 1;
#undef IVAL
#undef FVAL
#undef STR
    *ip = i;
    return rc;
}
