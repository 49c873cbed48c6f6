/* cli/args.c — flag parsing helpers shared by the verbs (see cli.h). */
#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void cli_error(const char *verb, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "ponder %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

bool cli_int(const char *verb, const char *flag, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno) { cli_error(verb, "%s: expected an integer, got '%s'", flag, s ? s : ""); return false; }
    if (v < lo || v > hi) { cli_error(verb, "%s: %lld is out of range [%lld, %lld]", flag, v, lo, hi); return false; }
    *out = v;
    return true;
}

bool cli_float(const char *verb, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !isfinite(v)) { cli_error(verb, "%s: expected a number, got '%s'", flag, s ? s : ""); return false; }
    if (v < lo || v > hi) { cli_error(verb, "%s: %g is out of range [%g, %g]", flag, v, lo, hi); return false; }
    *out = v;
    return true;
}

const char *cli_value(const char *verb, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) { cli_error(verb, "%s: missing value", argv[*i]); return NULL; }
    return argv[++*i];
}
