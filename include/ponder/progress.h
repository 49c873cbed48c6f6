/* ponder/progress.h — progress reporting for long jobs: a redrawn bar with rate and ETA on a
 * terminal, plain periodic lines (every `plain_every_s` seconds) otherwise. */
#ifndef PONDER_PROGRESS_H
#define PONDER_PROGRESS_H
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    char label[64];
    int64_t total, done;
    double t0, last_draw;
    double plain_every_s;
    int is_tty;
    char unit[16];
} pd_progress;

void pd_progress_start(pd_progress *p, FILE *out, const char *label, int64_t total, const char *unit);
/* Advance to `done`; `extra` (may be NULL) is shown after the rate, e.g. "loss 1.234". */
void pd_progress_update(pd_progress *p, int64_t done, const char *extra);
void pd_progress_finish(pd_progress *p, const char *extra);

#endif
