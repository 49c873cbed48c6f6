/* ponder/dist.h — the processes of one job (MPI ranks): who am I, how many are we, and the few
 * collectives data-parallel training, RL and evaluation need. Built on Open MPI when CMake finds it
 * (PD_HAVE_MPI), otherwise a one-rank implementation with the same API.
 *
 * MPI is initialised only when the process was started by a launcher (mpirun/mpiexec/srun set
 * OMPI_COMM_WORLD_SIZE or PMI_SIZE), so a plain `ponder ...` never touches MPI. A binary built
 * without MPI that finds itself launched as one of N > 1 processes refuses to run (pd_dist_init
 * fails with a message saying so) rather than having N processes each do the whole job.
 *
 * Sums are in a FIXED order — rank 0's value, plus rank 1's, plus rank 2's, ... — whatever the
 * network or the algorithm: each rank sums one slice of the buffer (received from every rank), then
 * the slices are gathered back (reduce-scatter + all-gather, 2·(N−1)/N of the buffer sent per rank).
 * A job therefore repeats bit for bit, and its result does not depend on the MPI library's choice
 * of reduction tree. */
#ifndef PONDER_DIST_H
#define PONDER_DIST_H
#include "ponder/error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Initialise: MPI when launched by a launcher, else one rank. PD_ERR_STATE when this binary has no
 * MPI but was launched as one of several processes (the message says so). Safe to call twice. */
pd_status pd_dist_init(int *argc, char ***argv);
/* End MPI (after a successful run on every rank): a barrier, then MPI_Finalize. No-op without MPI. */
void pd_dist_finalize(void);
/* End the whole job now with `code` (one rank failed: the others would wait for it forever). Prints
 * nothing itself; returns only when there is no MPI job (then the caller just exits). */
void pd_dist_abort(int code);

int pd_dist_rank(void);            /* 0 .. size-1 (0 without MPI) */
int pd_dist_size(void);            /* 1 without MPI or without a launcher */
bool pd_dist_on(void);             /* size > 1 */
bool pd_dist_built_with_mpi(void); /* this binary links MPI */
/* the number of processes a launcher started (from its environment), 1 when none */
int pd_dist_launcher_size(void);

/* In-place sums over all ranks, in rank order (above), in buckets of PD_DIST_BUCKET elements so the
 * scratch memory stays small. Every rank must call with the same n. */
#define PD_DIST_BUCKET ((size_t)1 << 20)
pd_status pd_dist_sum_f32(float *buf, size_t n);
pd_status pd_dist_sum_f64(double *buf, size_t n);
pd_status pd_dist_max_f64(double *buf, size_t n);   /* element-wise maximum */
/* root's `bytes` bytes at buf to every rank */
pd_status pd_dist_bcast(void *buf, size_t bytes, int root);
/* Variable-size records: every rank gives n bytes; on every rank (all = true) or on root only
 * (all = false; other ranks get *out = NULL) *out receives the concatenation in rank order (malloc'd;
 * free it) and counts[size] (may be NULL) each rank's byte count. */
pd_status pd_dist_gather(const void *buf, size_t n, bool all, int root, void **out, size_t *out_n, size_t *counts);
pd_status pd_dist_barrier(void);
/* Check that buf (n bytes) is the same on every rank (a 64-bit hash of it compared with rank 0's):
 * PD_ERR_STATE naming `what` and the first rank that differs. The weights after each optimizer step
 * are checked this way when PD_DIST_VERIFY=1 is in the environment (tests). */
pd_status pd_dist_same(const void *buf, size_t n, const char *what);
bool pd_dist_verify(void);   /* size > 1 and PD_DIST_VERIFY=1 */

/* Communication accounting since the last reset: seconds inside collectives and bytes this rank sent. */
typedef struct { double seconds; double bytes_sent; int64_t calls; } pd_dist_stats;
void pd_dist_stats_get(pd_dist_stats *s);
void pd_dist_stats_reset(void);

/* The share [lo, hi) of n items that rank `rank` of `size` takes: contiguous blocks in rank order,
 * sizes differing by at most one (so concatenating the ranks' results keeps the item order). */
void pd_dist_share(int64_t n, int rank, int size, int64_t *lo, int64_t *hi);

#endif
