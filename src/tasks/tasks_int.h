/* src/tasks/tasks_int.h — helpers shared by the task modules (not public). */
#ifndef PONDER_TASKS_INT_H
#define PONDER_TASKS_INT_H
#include "ponder/alloc.h"
#include "ponder/task.h"
#include <stdbool.h>

extern const pd_task pd_task_arith, pd_task_arith_add, pd_task_arith_sub, pd_task_arith_mul;
extern const pd_task pd_task_arith_mul_tape, pd_task_arith_add_lookup, pd_task_arith_add_lookup_m;
extern const pd_task pd_task_countdown, pd_task_logic, pd_task_syllogism, pd_task_graph;
extern const pd_task pd_task_sudoku, pd_task_alchemy, pd_task_alchemy_len, pd_task_logicasker;

/* Take ownership of a pd_buf as a NUL-terminated string ("" if empty); NULL on OOM. */
char *tk_take(pd_buf *b);
/* Set the verdict: score, reason (static) and an owned copy of `answer` (may be NULL). */
void tk_verdict(pd_verdict *v, double score, const char *reason, const char *answer);
/* Last token among `words` (case-insensitive, whole word) in s; returns its index or -1. */
int tk_last_word(const char *s, const char *const *words, int n_words);
/* Default extractor: last yes/no word → "yes"/"no". */
char *tk_extract_yesno(const char *region);
/* Judge a yes/no answer against item->answer ("yes"/"no"). */
void tk_check_yesno(const pd_task_item *it, const char *ans, pd_verdict *v);
/* Trim spaces; owned copy of the last non-empty line of s (NULL if none). */
char *tk_last_line(const char *s);
/* Fisher–Yates shuffle of ints with pd_rng. */
void tk_shuffle(pd_rng *r, int *a, int n);
/* Decide intuitionistic provability of a formula in the logic task's text form: 1, 0, -1 bad/too big. */
int tk_logic_decide(const char *formula);
#endif
