/* base/log.c — leveled stderr logging; level from PONDER_LOG or pd_log_set_level. */
#include "ponder/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pd_level = -1;

static void init_level(void) {
    if (pd_level >= 0) return;
    pd_level = PD_LOG_WARN;
    const char *e = getenv("PONDER_LOG");
    if (!e) return;
    if (!strcmp(e, "debug")) pd_level = PD_LOG_DEBUG;
    else if (!strcmp(e, "info")) pd_level = PD_LOG_INFO;
    else if (!strcmp(e, "warn")) pd_level = PD_LOG_WARN;
    else if (!strcmp(e, "error")) pd_level = PD_LOG_ERROR;
    else if (!strcmp(e, "quiet")) pd_level = PD_LOG_QUIET;
}

void pd_log_set_level(pd_log_level l) { pd_level = (int)l; }
pd_log_level pd_log_get_level(void) { init_level(); return (pd_log_level)pd_level; }

void pd_log(pd_log_level l, const char *fmt, ...) {
    init_level();
    if ((int)l < pd_level) return;
    static const char *names[] = {"debug", "info", "warn", "error", ""};
    fprintf(stderr, "ponder %s: ", names[l]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
