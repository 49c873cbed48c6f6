/* dist/dist.c — the processes of one job (ponder/dist.h): MPI when this binary has it and a launcher
 * started us, one rank otherwise. Owns the fixed-order sum (reduce-scatter by MPI_Alltoallv, each
 * rank adding its slice in rank order, then MPI_Allgatherv), the byte gathers, and the accounting
 * of time and bytes spent communicating (for `ponder bench train --mpi`). */
#include "ponder/dist.h"
#include "ponder/alloc.h"
#include "ponder/timer.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef PD_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
static bool g_init = false;
#ifdef PD_HAVE_MPI
static bool g_mpi = false;   /* MPI_Init was called (a launcher started us) */
#endif
static pd_dist_stats g_stats;

int pd_dist_rank(void) { return g_rank; }
int pd_dist_size(void) { return g_size; }
bool pd_dist_on(void) { return g_size > 1; }
void pd_dist_stats_get(pd_dist_stats *s) { *s = g_stats; }
void pd_dist_stats_reset(void) { memset(&g_stats, 0, sizeof g_stats); }

bool pd_dist_built_with_mpi(void) {
#ifdef PD_HAVE_MPI
    return true;
#else
    return false;
#endif
}

int pd_dist_launcher_size(void) {
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        long n = v && *v ? strtol(v, NULL, 10) : 0;
        if (n > 1 && n < INT_MAX) return (int)n;
    }
    return 1;
}

void pd_dist_share(int64_t n, int rank, int size, int64_t *lo, int64_t *hi) {
    *lo = n * rank / size;
    *hi = n * (rank + 1) / size;
}

#ifdef PD_HAVE_MPI
static pd_status mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return pd_fail(PD_ERR_IO, "mpi: %s failed on rank %d of %d: %s (a process of the job died or the network "
                              "failed)", what, g_rank, g_size, msg);
}
#define MPI_TRY(call, what) do { int rc_ = (call); if (rc_ != MPI_SUCCESS) return mpi_fail(rc_, what); } while (0)
#endif

pd_status pd_dist_init(int *argc, char ***argv) {
    if (g_init) return PD_OK;
    int want = pd_dist_launcher_size();
#ifdef PD_HAVE_MPI
    /* launched: initialise (only the main thread calls MPI; OpenMP threads never do) */
    if (want > 1 || getenv("OMPI_COMM_WORLD_RANK") || getenv("PMI_RANK")) {
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return pd_fail(PD_ERR_STATE, "mpi: MPI_Init_thread failed (launched as 1 of %d processes)", want);
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
        MPI_Comm_size(MPI_COMM_WORLD, &g_size);
        g_mpi = true;
    }
#else
    (void)argc; (void)argv;
    if (want > 1)
        return pd_fail(PD_ERR_STATE, "this ponder was built without MPI, but a launcher (mpirun) started it as one of "
                                     "%d processes: each would run the whole job alone. Install libopenmpi-dev and "
                                     "rebuild (CMake finds MPI), or run ponder without mpirun", want);
#endif
    g_init = true;
    return PD_OK;
}

void pd_dist_finalize(void) {
#ifdef PD_HAVE_MPI
    if (g_mpi) {
        MPI_Barrier(MPI_COMM_WORLD);
        MPI_Finalize();
        g_mpi = false;
    }
#endif
    g_rank = 0; g_size = 1; g_init = false;
}

void pd_dist_abort(int code) {
#ifdef PD_HAVE_MPI
    if (g_mpi) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    }
#else
    (void)code;
#endif
}

pd_status pd_dist_barrier(void) {
#ifdef PD_HAVE_MPI
    if (g_size > 1) MPI_TRY(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
    return PD_OK;
}

#ifdef PD_HAVE_MPI
/* One bucket [0, n) of buf: rank r sums slice r over the ranks in rank order, then every rank gets
 * every slice back. esz: element size; add(acc, x, k) adds k elements x into acc. */
static pd_status sum_bucket(void *buf, size_t n, size_t esz, MPI_Datatype type, void (*op)(void *, const void *, size_t),
                            void *scratch) {
    int N = g_size, me = g_rank;
    int cnt[N], dsp[N], rc_cnt[N], rc_dsp[N];
    for (int r = 0; r < N; r++) {
        int64_t lo, hi;
        pd_dist_share((int64_t)n, r, N, &lo, &hi);
        cnt[r] = (int)(hi - lo);
        dsp[r] = (int)lo;
    }
    for (int r = 0; r < N; r++) { rc_cnt[r] = cnt[me]; rc_dsp[r] = r * cnt[me]; }
    MPI_TRY(MPI_Alltoallv(buf, cnt, dsp, type, scratch, rc_cnt, rc_dsp, type, MPI_COMM_WORLD), "MPI_Alltoallv");
    /* slice me: rank 0's part, + rank 1's, + ... in that order */
    char *acc = scratch;
    for (int r = 1; r < N; r++) op(acc, acc + (size_t)r * cnt[me] * esz, (size_t)cnt[me]);
    memcpy((char *)buf + (size_t)dsp[me] * esz, acc, (size_t)cnt[me] * esz);
    MPI_TRY(MPI_Allgatherv(MPI_IN_PLACE, 0, type, buf, cnt, dsp, type, MPI_COMM_WORLD), "MPI_Allgatherv");
    g_stats.bytes_sent += 2.0 * (double)(n - (size_t)cnt[me]) * (double)esz;
    return PD_OK;
}

static pd_status sum_all(void *buf, size_t n, size_t esz, MPI_Datatype type, void (*op)(void *, const void *, size_t)) {
    if (g_size <= 1 || n == 0) return PD_OK;
    size_t bucket = n < PD_DIST_BUCKET ? n : PD_DIST_BUCKET;
    void *scratch = pd_malloc(esz * (bucket / (size_t)g_size + 1) * (size_t)g_size);
    if (!scratch) return PD_ERR_NOMEM;
    double t0 = pd_time_now();
    pd_status st = PD_OK;
    for (size_t off = 0; off < n && st == PD_OK; off += bucket) {
        size_t k = n - off < bucket ? n - off : bucket;
        st = sum_bucket((char *)buf + off * esz, k, esz, type, op, scratch);
    }
    g_stats.seconds += pd_time_now() - t0;
    g_stats.calls++;
    free(scratch);
    return st;
}

static void add_f32(void *a, const void *x, size_t k) {
    float *d = a;
    const float *s = x;
    for (size_t i = 0; i < k; i++) d[i] += s[i];
}
static void add_f64(void *a, const void *x, size_t k) {
    double *d = a;
    const double *s = x;
    for (size_t i = 0; i < k; i++) d[i] += s[i];
}
static void max_f64(void *a, const void *x, size_t k) {
    double *d = a;
    const double *s = x;
    for (size_t i = 0; i < k; i++) if (s[i] > d[i] || d[i] != d[i]) d[i] = s[i];
}
#endif

pd_status pd_dist_sum_f32(float *buf, size_t n) {
#ifdef PD_HAVE_MPI
    return sum_all(buf, n, sizeof(float), MPI_FLOAT, add_f32);
#else
    (void)buf; (void)n;
    return PD_OK;
#endif
}

pd_status pd_dist_sum_f64(double *buf, size_t n) {
#ifdef PD_HAVE_MPI
    return sum_all(buf, n, sizeof(double), MPI_DOUBLE, add_f64);
#else
    (void)buf; (void)n;
    return PD_OK;
#endif
}

pd_status pd_dist_max_f64(double *buf, size_t n) {
#ifdef PD_HAVE_MPI
    return sum_all(buf, n, sizeof(double), MPI_DOUBLE, max_f64);
#else
    (void)buf; (void)n;
    return PD_OK;
#endif
}

pd_status pd_dist_bcast(void *buf, size_t bytes, int root) {
    if (root < 0 || root >= g_size) return pd_fail(PD_ERR_ARG, "dist: broadcast root %d of %d ranks", root, g_size);
#ifdef PD_HAVE_MPI
    if (g_size <= 1) return PD_OK;
    double t0 = pd_time_now();
    for (size_t off = 0; off < bytes;) {   /* MPI counts are int */
        size_t k = bytes - off < (size_t)INT_MAX ? bytes - off : (size_t)INT_MAX;
        MPI_TRY(MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
        off += k;
    }
    if (g_rank == root) g_stats.bytes_sent += (double)bytes * (g_size - 1);
    g_stats.seconds += pd_time_now() - t0;
    g_stats.calls++;
#else
    (void)buf; (void)bytes;
#endif
    return PD_OK;
}

pd_status pd_dist_gather(const void *buf, size_t n, bool all, int root, void **out, size_t *out_n, size_t *counts) {
    *out = NULL;
    *out_n = 0;
    if (root < 0 || root >= g_size) return pd_fail(PD_ERR_ARG, "dist: gather root %d of %d ranks", root, g_size);
    if (g_size <= 1) {
        *out = pd_malloc(n ? n : 1);
        if (!*out) return PD_ERR_NOMEM;
        if (n) memcpy(*out, buf, n);
        *out_n = n;
        if (counts) counts[0] = n;
        return PD_OK;
    }
#ifdef PD_HAVE_MPI
    int N = g_size;
    double t0 = pd_time_now();
    long long mine = (long long)n, each[N];
    if (all) MPI_TRY(MPI_Allgather(&mine, 1, MPI_LONG_LONG, each, 1, MPI_LONG_LONG, MPI_COMM_WORLD), "MPI_Allgather");
    else MPI_TRY(MPI_Gather(&mine, 1, MPI_LONG_LONG, each, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Gather");
    int cnt[N], dsp[N];
    long long total = 0;
    bool receiver = all || g_rank == root;
    if (receiver) {
        for (int r = 0; r < N; r++) {
            if (each[r] > INT_MAX || total + each[r] > INT_MAX)
                return pd_fail(PD_ERR_RANGE, "dist: gathering %lld bytes from rank %d: more than 2 GiB in one gather",
                               each[r], r);
            cnt[r] = (int)each[r];
            dsp[r] = (int)total;
            total += each[r];
            if (counts) counts[r] = (size_t)each[r];
        }
    }
    if (n > INT_MAX) return pd_fail(PD_ERR_RANGE, "dist: %zu bytes in one gather (more than 2 GiB)", n);
    char *dst = NULL;
    if (receiver && !(dst = pd_malloc(total ? (size_t)total : 1))) return PD_ERR_NOMEM;
    int rc = all ? MPI_Allgatherv(buf, (int)n, MPI_BYTE, dst, cnt, dsp, MPI_BYTE, MPI_COMM_WORLD)
                 : MPI_Gatherv(buf, (int)n, MPI_BYTE, dst, cnt, dsp, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) { free(dst); return mpi_fail(rc, all ? "MPI_Allgatherv" : "MPI_Gatherv"); }
    g_stats.bytes_sent += (double)n * (all ? N - 1 : g_rank == root ? 0 : 1);
    g_stats.seconds += pd_time_now() - t0;
    g_stats.calls++;
    *out = dst;
    *out_n = receiver ? (size_t)total : 0;
    return PD_OK;
#else
    return pd_fail(PD_ERR_STATE, "dist: no MPI");
#endif
}

bool pd_dist_verify(void) {
    const char *v = getenv("PD_DIST_VERIFY");
    return g_size > 1 && v && !strcmp(v, "1");
}

pd_status pd_dist_same(const void *buf, size_t n, const char *what) {
    if (g_size <= 1) return PD_OK;
    uint64_t h = 1469598103934665603ull;   /* FNV-1a over the bytes */
    const unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    void *all = NULL;
    size_t all_n = 0;
    PD_TRY(pd_dist_gather(&h, sizeof h, true, 0, &all, &all_n, NULL));
    pd_status st = PD_OK;
    for (int r = 1; r < g_size && st == PD_OK; r++)
        if (memcmp((char *)all + (size_t)r * sizeof h, all, sizeof h))
            st = pd_fail(PD_ERR_STATE, "dist: the %s of rank %d differ from rank 0's", what, r);
    free(all);
    return st;
}
