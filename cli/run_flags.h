/* cli/run_flags.h — the data, optimisation and output flags that `ponder train` (cmd_train.c) and
 * `ponder finetune` (cmd_finetune.c) share, read into either option struct (same field names). */
#ifndef PONDER_CLI_RUN_FLAGS_H
#define PONDER_CLI_RUN_FLAGS_H
#include "ponder/train.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char **task, **data_path, **out, **resume, **log_path, **plot_path;
    int *dlo, *dhi, *B, *T, *accum, *threads, *ckpt_every, *eval_every, *eval_n, *eval_difficulty, *max_new;
    int64_t *steps;
    uint64_t *seed;
    pd_optcfg *opt;
    long long steps_min;        /* smallest --steps accepted */
    bool *steps_given, *plot_none, *quiet;
} cli_run_flags;

/* the view of options `o` (pd_train_opts or pd_finetune_opts) */
#define CLI_RUN_FLAGS(o, steps_lo, steps_given_, plot_none_, quiet_)                                          \
    ((cli_run_flags){&(o)->task, &(o)->data_path, &(o)->out, &(o)->resume, &(o)->log_path, &(o)->plot_path,   \
                     &(o)->dlo, &(o)->dhi, &(o)->B, &(o)->T, &(o)->accum, &(o)->threads, &(o)->ckpt_every,    \
                     &(o)->eval_every, &(o)->eval_n, &(o)->eval_difficulty, &(o)->max_new, &(o)->steps,       \
                     &(o)->seed, &(o)->opt, (steps_lo), (steps_given_), (plot_none_), (quiet_)})

/* If argv[*i] is one of the shared flags, read it (and its value, advancing *i): 0, or 2 after
 * printing a usage error. 1: not one of them (nothing read). */
int cli_run_flag(const char *verb, int argc, char **argv, int *i, const cli_run_flags *rf);

#endif
