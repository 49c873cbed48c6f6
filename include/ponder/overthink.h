/* ponder/overthink.h — an "overthinking" trace style for task items (tasks/ layer): the reference
 * solution, then k re-checks that start a new paragraph with a reflection word ("Wait, let me
 * verify…", "But let me check again…") and re-derive the solution; with probability detour_pct a
 * re-check first reaches a wrong answer (the reference answer's last occurrence changed by one in
 * its last digit, or "not <answer>" for non-numbers), notices the mismatch and redoes it right.
 * k is drawn per item uniformly from [k_min, k_max] with the caller's rng (use a named stream so the
 * items themselves do not change). The result looks like a reasoning model's redundant checking,
 * so that early-exit policies (TrimR, probes) have something to trim: the answer is already known
 * after the first derivation. */
#ifndef PONDER_OVERTHINK_H
#define PONDER_OVERTHINK_H
#include "ponder/rng.h"
#include "ponder/task.h"

enum { PD_OVERTHINK_MAX_K = 16 };
/* rng stream for the style's draws: pd_rng_derive(item_seed, PD_RNG_STREAM_OVERTHINK) */
#define PD_RNG_STREAM_OVERTHINK 0x6f76657274686e6bull   /* "overthnk" */

typedef struct {
    int k_min, k_max;      /* re-checks per item (0..PD_OVERTHINK_MAX_K) */
    int detour_pct;        /* chance (0..100) that a re-check is a corrected wrong detour */
} pd_overthink_params;
pd_overthink_params pd_overthink_defaults(void);   /* k 1..4, detour 20% */

/* Replace item->reasoning by its overthinking version; *k_out (optional) receives the re-checks. */
pd_status pd_overthink(pd_task_item *item, pd_rng *r, const pd_overthink_params *p, int *k_out);

#endif
