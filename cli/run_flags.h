/* cli/run_flags.h — the data, optimisation and output flags that `ponder train` (cmd_train.c),
 * `ponder finetune` (cmd_finetune.c) and the RL verb share: one parser reading them into the one
 * pd_run_opts (ponder/train.h) that each verb's option struct embeds as `.run`. */
#ifndef PONDER_CLI_RUN_FLAGS_H
#define PONDER_CLI_RUN_FLAGS_H
#include "outputs.h"
#include "ponder/train.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    pd_run_opts *o;             /* where the values go */
    long long steps_min;        /* smallest --steps accepted */
    bool steps_given, plot_none, quiet;
    const char *fixed;          /* the first flag given that a checkpoint fixes (an error with --resume) */
    const char *task_only;      /* --difficulty or --eval-difficulty if given (an error with --data) */
    cli_path extra_in[3];       /* the verb's other inputs (-m BASE, --config, ...) and outputs (--records, ...) */
    cli_path extra_out[2];      /*   checked by cli_run_finish with the shared ones; NULL paths skipped */
    char *out_alloc, *plot_alloc, *ckpt_alloc;   /* derived names (cli_run_args_free) */
} cli_run_args;

/* Record that `flag` was given and is one a checkpoint fixes (the model's or adapter's shape, ...). */
void cli_run_fixed(cli_run_args *a, const char *flag);

/* If argv[*i] is one of the shared flags, read it (and its value, advancing *i): 0, or 2 after
 * printing a usage error. 1: not one of them (nothing read). */
int cli_run_flag(const char *verb, int argc, char **argv, int *i, cli_run_args *a);
/* After parsing, the checks and derived names the verbs share: without --resume, --out is required
 * and (need_data) --task or --data; --task and --data exclude each other; difficulties inside the
 * task's range (--difficulty / --eval-difficulty are errors with --data, --strict without it);
 * with --resume no flag the checkpoint fixes (a->fixed: data, batch, optimiser, seed,
 * the verb's model/adapter flags); on --resume, --out defaults to the checkpoint's name less ".ckpt"
 * and --steps left out keeps the checkpoint's end (steps 0); want_plot: --plot defaults to
 * <out>.loss.svg. Then every output (--out, <out>.ckpt, --log, --plot, extra_out) is checked before
 * any work: writable, distinct, and not an input (--resume, --data, extra_in) — except that
 * <out>.ckpt may be the checkpoint resumed from, which the run continues.
 * 0, or 2 after printing a usage error, 1 after printing a runtime error (an unwritable output). */
int cli_run_finish(const char *verb, cli_run_args *a, bool need_data, bool want_plot);
void cli_run_args_free(cli_run_args *a);
/* --help text of the shared flags, each with its default taken from `d` (the verb's defaults after
 * its own adjustments): the "data:" section, then "optimisation:", then the output/evaluation flags
 * (a verb prints --out itself, before calling this with `out_help` for --out's line). */
void cli_run_help(FILE *f, const pd_run_opts *d, const char *data_help, const char *out_help);

#endif
