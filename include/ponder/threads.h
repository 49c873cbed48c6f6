/* ponder/threads.h — the one thread pool (OpenMP). pd_threads_set(n) sizes it for every kernel;
 * the default is the number of physical cores. No kernel spawns threads of its own.
 *
 * Decode makes many short parallel loops (a matmul of one token takes tens of microseconds); one
 * OpenMP region each means the other threads leave and rejoin the pool between them, and with the
 * short spin the binary asks libgomp for (cli/main.c) they fall asleep there, so every loop pays a
 * wake-up. A team keeps them: pd_team_run(nt, body, ctx) runs body on the calling thread inside
 * one OpenMP region while the other threads wait for the loops body hands out with pd_par_for
 * (spinning for a short time, PD_TEAM_SPIN_US, then sleeping until the next loop). The caller
 * takes part in every loop and takes items as they come (no item is assigned in advance), so a
 * helper that the OS delays leaves its share to the others instead of holding them up. */
#ifndef PONDER_THREADS_H
#define PONDER_THREADS_H
#include <stdint.h>
#include "ponder/error.h"

void pd_threads_set(int n);   /* n <= 0: default */
int pd_threads_get(void);
int pd_physical_cores(void);

/* items [i0, i1) of a loop, on thread tid (0 = the caller; tid < the loop's thread count) */
typedef void (*pd_par_fn)(void *ctx, int64_t i0, int64_t i1, int tid);

/* Runs body(ctx) on the calling thread with a team of nt threads (nt <= 1, teams switched off, or
 * already inside a parallel region: body alone, pd_par_for then runs its loops as it would
 * outside). Returns body's status. */
pd_status pd_team_run(int nt, pd_status (*body)(void *), void *ctx);

/* for i in [0, n): fn(ctx, i0, i1, tid) over pieces of `chunk` items handed out as threads ask:
 * over the team this thread leads, or else over an OpenMP region of nt threads; with nt <= 1 or
 * a single piece, one call fn(ctx, 0, n, 0) here. Returns when every item is done. */
void pd_par_for(int64_t n, int64_t chunk, int nt, pd_par_fn fn, void *ctx);

/* As pd_par_for, but inside a team the pieces are dealt out in advance as nt contiguous ranges, one
 * per thread, which each thread takes front to back; a thread whose range is done takes the back half
 * of what is left of another's, front to back (so a thread the OS delays leaves its rest to the others). Decode's
 * matmuls: each thread reads one contiguous stretch of the weights instead of blocks in turn, so its
 * memory stream (and the hardware prefetcher) does not start over at every block. Outside a team,
 * pd_par_for. */
void pd_par_ranges(int64_t n, int64_t chunk, int nt, pd_par_fn fn, void *ctx);

/* The thread count of the team the calling thread leads (0: none). */
int pd_team_size(void);

/* Teams on (default) or off (pd_team_run then runs body alone and every loop opens its own OpenMP
 * region, as before teams existed): for tests and A/B measurements. */
void pd_team_enable(int on);
#endif
