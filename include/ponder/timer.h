/* ponder/timer.h — monotonic wall-clock time in seconds. */
#ifndef PONDER_TIMER_H
#define PONDER_TIMER_H
double pd_time_now(void);
#endif
