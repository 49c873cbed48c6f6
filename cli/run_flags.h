/* cli/run_flags.h — the data, optimisation and output flags that `ponder train` (cmd_train.c),
 * `ponder finetune` (cmd_finetune.c) and the RL verb share: one parser reading them into the one
 * pd_run_opts (ponder/train.h) that each verb's option struct embeds as `.run`. */
#ifndef PONDER_CLI_RUN_FLAGS_H
#define PONDER_CLI_RUN_FLAGS_H
#include "ponder/train.h"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    pd_run_opts *o;             /* where the values go */
    long long steps_min;        /* smallest --steps accepted */
    bool steps_given, plot_none, quiet;
    char *out_alloc, *plot_alloc;   /* derived names (cli_run_args_free) */
} cli_run_args;

/* If argv[*i] is one of the shared flags, read it (and its value, advancing *i): 0, or 2 after
 * printing a usage error. 1: not one of them (nothing read). */
int cli_run_flag(const char *verb, int argc, char **argv, int *i, cli_run_args *a);
/* After parsing, the checks and derived names the verbs share: without --resume, --out is required
 * and (need_data) --task or --data; --task and --data exclude each other; difficulties inside the
 * task's range; on --resume, --out defaults to the checkpoint's name less ".ckpt" and --steps left
 * out keeps the checkpoint's schedule (steps 0); want_plot: --plot defaults to <out>.loss.svg.
 * 0, or 2 after printing a usage error (1: out of memory). */
int cli_run_finish(const char *verb, cli_run_args *a, bool need_data, bool want_plot);
void cli_run_args_free(cli_run_args *a);
/* --help text of the shared flags, each with its default taken from `d` (the verb's defaults after
 * its own adjustments): the "data:" section, then "optimisation:", then the output/evaluation flags
 * (a verb prints --out itself, before calling this with `out_help` for --out's line). */
void cli_run_help(FILE *f, const pd_run_opts *d, const char *data_help, const char *out_help);

#endif
