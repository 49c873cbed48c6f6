/* base/threads.c — sizing of the OpenMP pool that all kernels share. */
#include "ponder/threads.h"
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int pd_nthreads = 0;

int pd_physical_cores(void) {
    /* Count distinct (physical id, core id) pairs; fall back to online CPUs. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    int n_logical = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (!f) return n_logical > 0 ? n_logical : 1;
    char line[256];
    int phys = -1, seen[1024][2], n_seen = 0;
    while (fgets(line, sizeof line, f)) {
        int v;
        if (sscanf(line, "physical id : %d", &v) == 1) phys = v;
        else if (sscanf(line, "core id : %d", &v) == 1) {
            int dup = 0;
            for (int i = 0; i < n_seen; i++) if (seen[i][0] == phys && seen[i][1] == v) { dup = 1; break; }
            if (!dup && n_seen < 1024) { seen[n_seen][0] = phys; seen[n_seen][1] = v; n_seen++; }
        }
    }
    fclose(f);
    if (n_seen <= 0 || n_seen > n_logical) return n_logical > 0 ? n_logical : 1;
    return n_seen;
}

void pd_threads_set(int n) {
    if (n <= 0) n = pd_physical_cores();
    pd_nthreads = n;
    omp_set_num_threads(n);
}

int pd_threads_get(void) {
    if (pd_nthreads <= 0) pd_threads_set(0);
    return pd_nthreads;
}
