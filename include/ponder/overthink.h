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
 * with no reason to ever stop): k is a function of the question (k_min + its last digit's byte, or
 * its last byte when it has no digit, mod (k_max - k_min + 1)), stated as the first line of the
 * thinking ("I will solve it, then double-check it k times." / "I will solve it without
 * double-checking." for k = 0), and re-check i opens with "... (check i of k)." Stating it before the
 * solution keeps "solution, then </think>" in the training data (the k = 0 items), which is where
 * an early exit closes the thinking. */
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
    bool counted;          /* k from the question, stated before the solution, re-checks numbered */
} pd_overthink_params;
pd_overthink_params pd_overthink_defaults(void);   /* k 1..4, detour 20%, not counted */

/* The counted form's k for a question (k_min when it is empty). */
int pd_overthink_counted_k(const char *prompt, int k_min, int k_max);

/* Replace item->reasoning by its overthinking version; *k_out (optional) receives the re-checks. */
pd_status pd_overthink(pd_task_item *item, pd_rng *r, const pd_overthink_params *p, int *k_out);

#endif
