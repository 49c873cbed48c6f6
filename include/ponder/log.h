/* ponder/log.h — leveled logging to stderr. PONDER_LOG=debug|info|warn|error sets the level. */
#ifndef PONDER_LOG_H
#define PONDER_LOG_H
typedef enum { PD_LOG_DEBUG, PD_LOG_INFO, PD_LOG_WARN, PD_LOG_ERROR, PD_LOG_QUIET } pd_log_level;
void pd_log_set_level(pd_log_level l);
pd_log_level pd_log_get_level(void);
void pd_log(pd_log_level l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define PD_DEBUG(...) pd_log(PD_LOG_DEBUG, __VA_ARGS__)
#define PD_INFO(...) pd_log(PD_LOG_INFO, __VA_ARGS__)
#define PD_WARN(...) pd_log(PD_LOG_WARN, __VA_ARGS__)
#endif
