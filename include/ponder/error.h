/* ponder/error.h — status codes and the thread-local "last error" message.
 * Every public function returns pd_status (or NULL) and leaves a one-line message that says
 * what was wrong and where (file, key, offset). Nothing in the library exits on bad input. */
#ifndef PONDER_ERROR_H
#define PONDER_ERROR_H

typedef enum {
    PD_OK = 0,
    PD_ERR_IO,        /* open/read/write/mmap failed */
    PD_ERR_FORMAT,    /* malformed file or data */
    PD_ERR_UNSUPPORTED,
    PD_ERR_ARG,       /* bad argument or flag */
    PD_ERR_NOMEM,
    PD_ERR_RANGE,     /* index, size or position out of range */
    PD_ERR_STATE,     /* call not valid in the object's current state */
} pd_status;

/* Set the message (printf-style) and return `code`, so callers can write `return pd_fail(...)`. */
pd_status pd_fail(pd_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the current message with context: "ctx: old message". Returns code. */
pd_status pd_fail_ctx(pd_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *pd_last_error(void);
void pd_clear_error(void);
const char *pd_status_name(pd_status s);

#define PD_TRY(expr) do { pd_status pd_try_s_ = (expr); if (pd_try_s_ != PD_OK) return pd_try_s_; } while (0)

#endif
