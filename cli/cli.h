/* cli/cli.h — the verb table and small helpers every `ponder <verb>` uses to read flags.
 * Each verb lives in cli/cmd_<verb>.c as `int pd_cmd_<verb>(int argc, char **argv)`, where
 * argv[0] is the verb; it returns the process exit code (CLI_OK, CLI_RUNTIME, CLI_USAGE).
 * The flags several verbs share have ONE parser each here, with one range: --threads, --seed,
 * --difficulty, -n/--max-tokens. `--flag=value` is split into `--flag value` by main.c before any
 * verb sees argv, so the verbs only handle the two-word form. */
#ifndef PONDER_CLI_H
#define PONDER_CLI_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "ponder/tensor.h"

/* The one exit-code rule: 0 ok, 1 something failed while doing the work (file, model, write),
 * 2 the command line is wrong (unknown flag, bad or missing value, conflicting flags). */
enum { CLI_OK = 0, CLI_RUNTIME = 1, CLI_USAGE = 2 };

/* Parse helpers: on failure they print "ponder <verb>: <flag>: <why>" to stderr and return false. */
bool cli_int(const char *verb, const char *flag, const char *s, long long lo, long long hi, long long *out);
bool cli_float(const char *verb, const char *flag, const char *s, double lo, double hi, double *out);
/* For a flag taking a value: returns argv[++*i] or prints "missing value" and returns NULL. */
const char *cli_value(const char *verb, int argc, char **argv, int *i);
/* Print "ponder <verb>: <message>" to stderr (the one-line error form); while a context is set
 * (e.g. "run.cfg:3" when reading a config file) it reads "ponder <verb>: <context>: <message>". */
void cli_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_error_context(const char *where);  /* NULL clears it; the string is copied */

/* ---- the shared flags: one parser and one range each ---- */
enum { CLI_THREADS_MAX = 1024, CLI_MAX_TOKENS_MAX = 1 << 24, CLI_DIFFICULTY_MAX = 1000 };
/* -t/--threads N: 1..CLI_THREADS_MAX (leaving the flag out = the physical cores). */
bool cli_threads(const char *verb, const char *flag, const char *s, int *out);
/* --seed N: any unsigned 64-bit integer, decimal digits only; negatives, signs, blanks and values
 * above 18446744073709551615 are errors (never wrapped or rounded). */
bool cli_seed(const char *verb, const char *flag, const char *s, uint64_t *out);
/* -n/--max-tokens N: -1 = unlimited (until end of generation or the context is full), 0 = no new
 * tokens, else at most N (up to CLI_MAX_TOKENS_MAX), as in llama.cpp. */
bool cli_max_tokens(const char *verb, const char *flag, const char *s, int *out);
/* --difficulty D or A-B (A <= B), both in 0..CLI_DIFFICULTY_MAX; allow_range false accepts D only.
 * The task's own range is checked by cli_difficulty_check once the task is known. */
bool cli_difficulty(const char *verb, const char *flag, const char *s, bool allow_range, int *lo, int *hi);
/* [lo, hi] inside the range of task `task` (a name; NULL or an unknown/non-builtin name → not
 * checked here, true). Error: "--difficulty: 9 is out of range [1, 5] for arith (what it means)". */
bool cli_difficulty_check(const char *verb, const char *flag, const char *task, int lo, int hi);

/* KV cache types, llama.cpp's names: -ctk / --cache-type-k TYPE sets K's, -ctv / --cache-type-v V's,
 * --kv-type / --kv both; f16, f32, q8_0 or q4_0 in any pair (a later flag overrides an earlier one). */
bool cli_is_kv_type_flag(const char *a);
bool cli_kv_type(const char *verb, const char *flag, const char *s, pd_type *k, pd_type *v);
/* "q8_0" when K and V agree, else "q8_0/f16" (K/V): the name printed in tables and --json "type" */
const char *cli_kv_type_name(pd_type k, pd_type v, char *buf, size_t cap);

/* --kv-policy NAME[:k=v,...] and --kv-budget N|P% (KV eviction, ponder/kvpolicy.h): the one parser
 * of each for run, chat, eval and bench. The budget and the policy may come in either order. */
struct pd_kvp_spec;
bool cli_kv_policy(const char *verb, const char *flag, const char *s, struct pd_kvp_spec *spec);
bool cli_kv_budget(const char *verb, const char *flag, const char *s, struct pd_kvp_spec *spec);
/* After both flags: a policy other than full and rlkv needs a budget; a budget needs a policy. */
bool cli_kv_check(const char *verb, bool policy_set, bool budget_set, const struct pd_kvp_spec *spec);

/* ---- prompts ---- */
/* The text of a prompt given as -p TEXT, -p - (stdin) or -f FILE (exactly one of p/file may be
 * set; both NULL → NULL without an error). Owned result; NULL after printing the error (*usage is
 * set when it is a usage error: both given). */
char *cli_prompt_text(const char *verb, const char *p, const char *file, bool *usage);
/* Whole file (or stdin for "-") as a NUL-terminated string; NULL after printing an error naming it. */
char *cli_read_text(const char *verb, const char *flag, const char *path);

/* ---- build description (ponder --version, bench) ---- */
/* "ponder 0.1.0" and the build: CPU features, kernel level, BLAS, OpenMP — one line each to f. */
void cli_print_version(FILE *f);
const char *cli_blas_name(void);   /* "OpenBLAS" or "built-in" */

#endif
