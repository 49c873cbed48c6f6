/* ponder/overthink.h — an "overthinking" trace style for task items (tasks/ layer): the reference
 * solution, then k re-checks that start a new paragraph with a reflection word ("Wait, let me
 * verify…", "But let me check again…") and re-derive the solution; with probability detour_pct a
 * re-check first reaches a wrong answer (the reference answer's last occurrence changed by one in
 * its last digit, or "not <answer>" for non-numbers), notices the mismatch and redoes it right.
 * k is drawn per item uniformly from [k_min, k_max] with the caller's rng (use a named stream so the
 * items themselves do not change). The result looks like a reasoning model's redundant checking,
 * so that early-exit policies (TrimR, probes) have something to trim: the answer is already known
 * after the first derivation.
 * The "counted" form gives the trace a learnable stop (a drawn, unstated k leaves greedy decoding
 * with no reason to ever stop): k is a function of the answer (k_min + the answer's last byte mod
 * (k_max - k_min + 1)), the solution is followed by the line "I will double-check this k times."
 * ("I will not double-check this." for k = 0), and re-check i opens with "... (check i of k)." */
#ifndef PONDER_OVERTHINK_H
#define PONDER_OVERTHINK_H
#include "ponder/rng.h"
#include "ponder/task.h"
#include <stdbool.h>

enum { PD_OVERTHINK_MAX_K = 16 };
/* rng stream for the style's draws: pd_rng_derive(item_seed, PD_RNG_STREAM_OVERTHINK) */
#define PD_RNG_STREAM_OVERTHINK 0x6f76657274686e6bull   /* "overthnk" */

typedef struct {
    int k_min, k_max;      /* re-checks per item (0..PD_OVERTHINK_MAX_K) */
    int detour_pct;        /* chance (0..100) that a re-check is a corrected wrong detour */
    bool counted;          /* k from the answer, stated after the solution, re-checks numbered */
} pd_overthink_params;
pd_overthink_params pd_overthink_defaults(void);   /* k 1..4, detour 20%, not counted */

/* The counted form's k for an answer (k_min when the answer is empty). */
int pd_overthink_counted_k(const char *answer, int k_min, int k_max);

/* Replace item->reasoning by its overthinking version; *k_out (optional) receives the re-checks. */
pd_status pd_overthink(pd_task_item *item, pd_rng *r, const pd_overthink_params *p, int *k_out);

#endif
