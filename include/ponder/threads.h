/* ponder/threads.h — the one thread pool (OpenMP). pd_threads_set(n) sizes it for every kernel;
 * the default is the number of physical cores. No kernel spawns threads of its own. */
#ifndef PONDER_THREADS_H
#define PONDER_THREADS_H
void pd_threads_set(int n);   /* n <= 0: default */
int pd_threads_get(void);
int pd_physical_cores(void);
#endif
