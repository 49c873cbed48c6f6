/* cli/cli.h — the verb table and small helpers every `ponder <verb>` uses to read flags.
 * Each verb lives in cli/cmd_<verb>.c as `int pd_cmd_<verb>(int argc, char **argv)`, where
 * argv[0] is the verb; it returns the process exit code (0 ok, 1 runtime error, 2 usage error). */
#ifndef PONDER_CLI_H
#define PONDER_CLI_H
#include <stdbool.h>
#include <stdint.h>

/* Parse helpers: on failure they print "ponder <verb>: <flag>: <why>" to stderr and return false. */
bool cli_int(const char *verb, const char *flag, const char *s, long long lo, long long hi, long long *out);
bool cli_float(const char *verb, const char *flag, const char *s, double lo, double hi, double *out);
/* For a flag taking a value: returns argv[++*i] or prints "missing value" and returns NULL. */
const char *cli_value(const char *verb, int argc, char **argv, int *i);
/* Print "ponder <verb>: <message>" to stderr (the one-line error form). */
void cli_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
