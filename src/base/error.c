/* base/error.c — owns the thread-local last-error message (see ponder/error.h). */
#include "ponder/error.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char pd_err_msg[1024];

pd_status pd_fail(pd_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pd_err_msg, sizeof pd_err_msg, fmt, ap);
    va_end(ap);
    return code;
}

/* "prefix: rest", truncated to the buffer. */
static void pd_buf_msg_join(const char *prefix, const char *rest) {
    size_t n = 0, cap = sizeof pd_err_msg - 1;
    for (const char *p = prefix; *p && n < cap; p++) pd_err_msg[n++] = *p;
    for (const char *p = ": "; *p && n < cap; p++) pd_err_msg[n++] = *p;
    for (const char *p = rest; *p && n < cap; p++) pd_err_msg[n++] = *p;
    pd_err_msg[n] = 0;
}

pd_status pd_fail_ctx(pd_status code, const char *fmt, ...) {
    char prefix[512], old[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, pd_err_msg, sizeof old);
    pd_buf_msg_join(prefix, old[0] ? old : pd_status_name(code));
    return code;
}

const char *pd_last_error(void) { return pd_err_msg[0] ? pd_err_msg : "no error"; }
void pd_clear_error(void) { pd_err_msg[0] = 0; }

const char *pd_status_name(pd_status s) {
    switch (s) {
    case PD_OK: return "ok";
    case PD_ERR_IO: return "I/O error";
    case PD_ERR_FORMAT: return "malformed data";
    case PD_ERR_UNSUPPORTED: return "unsupported";
    case PD_ERR_ARG: return "bad argument";
    case PD_ERR_NOMEM: return "out of memory";
    case PD_ERR_RANGE: return "out of range";
    case PD_ERR_STATE: return "invalid state";
    }
    return "unknown error";
}
