/* base/threads.c — sizing of the OpenMP pool that all kernels share, and the team that keeps the
 * pool's threads at hand for the many short loops of a decode step (ponder/threads.h). */
#include "ponder/threads.h"
#include "ponder/alloc.h"
#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

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

/* ---- the team ----
 * One loop at a time. `work` holds the loop's chunk count (high 32 bits) and the next chunk to
 * hand out (low 32): a thread takes chunk i by moving i to i + 1 (compare-and-swap), and it may
 * do so only while i < count, so nobody touches the loop's parameters (fn, ctx, n, chunk) before
 * holding a chunk of it. The leader sets up the next loop only when `done` says every chunk of
 * this one is finished, and a thread adds its chunks to `done` only after its last attempt to take
 * one, so no thread still holds a chunk or reads the parameters when they change.
 * Waiting: helpers watch `bell` (bumped for every loop and at the end), the leader `done`; each
 * spins for a while and then sleeps on the word (a futex) until the other side wakes it. The spin
 * adapts per thread: it doubles (up to PD_TEAM_SPIN_US) when the wait ended while spinning and
 * halves (down to PD_TEAM_SPIN_MIN_NS) when it had to sleep. On a quiet machine the gaps between
 * a decode step's loops are a few microseconds and the threads never sleep inside a step; on a
 * loaded one, where the other thread is often not running, a long spin would only take CPU time
 * from it (the kernel shares CPU time per process group), so the spins shrink to a short one. */
#ifndef PD_TEAM_SPIN_US
#define PD_TEAM_SPIN_US 100
#endif
#ifndef PD_TEAM_SPIN_MIN_NS
#define PD_TEAM_SPIN_MIN_NS 2000
#endif

/* A range loop's pieces [front, back) of one thread (low 32 bits front, high 32 back), one per cache line. */
typedef struct {
    _Alignas(64) _Atomic uint64_t w;
} pd_range;

typedef struct {
    _Atomic uint64_t work;
    _Atomic uint32_t done, bell;
    _Atomic int sleepers, leader_sleeps, quit;
    pd_par_fn fn;
    void *ctx;
    int64_t n, chunk;
    int nt, n_range;
    pd_range *range; /* n_range ranges (set before the team starts); all empty outside a range loop */
} pd_team;

static _Thread_local pd_team *pd_team_cur;  /* the team this thread leads */
static _Thread_local int64_t pd_spin_ns = (int64_t)PD_TEAM_SPIN_US * 1000; /* this thread's spin */
static _Atomic int pd_team_on = 1;

void pd_team_enable(int on) { atomic_store(&pd_team_on, on != 0); }

int pd_team_size(void) { return pd_team_cur ? pd_team_cur->nt : 0; }

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void word_sleep(_Atomic uint32_t *w, uint32_t seen) {
#ifdef __linux__
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
#else
    (void)w, (void)seen;
    sched_yield();
#endif
}

static void word_wake(_Atomic uint32_t *w) {
#ifdef __linux__
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)w;
#endif
}

/* Spins, at most this thread's spin, until *w != seen, or (below given) until *below >= target;
 * adapts the spin; returns whether the wait ended while spinning. */
static int spin_wait(_Atomic uint32_t *w, uint32_t seen, _Atomic uint32_t *below, uint32_t target) {
    const int64_t t0 = now_ns(), lim = pd_spin_ns;
    for (int spin = 1;; spin++) {
        if (below ? atomic_load_explicit(below, memory_order_acquire) >= target
                  : atomic_load_explicit(w, memory_order_relaxed) != seen) {
            int64_t grown = 2 * pd_spin_ns;
            pd_spin_ns = grown < (int64_t)PD_TEAM_SPIN_US * 1000 ? grown : (int64_t)PD_TEAM_SPIN_US * 1000;
            return 1;
        }
        cpu_relax();
        if (spin % 64 == 0 && now_ns() - t0 > lim) break;
    }
    pd_spin_ns = pd_spin_ns / 2 > PD_TEAM_SPIN_MIN_NS ? pd_spin_ns / 2 : PD_TEAM_SPIN_MIN_NS;
    return 0;
}

static void run_piece(pd_team *t, uint32_t piece, int tid) {
    int64_t i0 = (int64_t)piece * t->chunk, i1 = i0 + t->chunk < t->n ? i0 + t->chunk : t->n;
    t->fn(t->ctx, i0, i1, tid);
}

/* Takes and runs the pieces of a range loop: this thread's own range one piece at a time from the
 * front, then from each other thread's range the back half of what is left, run front to back
 * (both read ascending addresses), until every range is empty. */
static uint32_t run_ranges(pd_team *t, int tid) {
    uint32_t mine = 0;
    for (int k = 0; k < t->n_range; k++) {
        const int r = (tid + k) % t->n_range; /* own range first */
        _Atomic uint64_t *rw = &t->range[r].w;
        uint64_t w = atomic_load_explicit(rw, memory_order_relaxed);
        while ((uint32_t)w < (uint32_t)(w >> 32)) {
            const uint32_t front = (uint32_t)w, back = (uint32_t)(w >> 32);
            const uint32_t from = k == 0 ? front : front + (back - front) / 2, to = k == 0 ? front + 1 : back;
            const uint64_t left = k == 0 ? w + 1 : (uint64_t)front | (uint64_t)from << 32;
            if (!atomic_compare_exchange_weak_explicit(rw, &w, left, memory_order_acquire, memory_order_relaxed))
                continue;
            for (uint32_t p = from; p < to; p++) run_piece(t, p, tid);
            mine += to - from;
            w = atomic_load_explicit(rw, memory_order_relaxed);
        }
    }
    return mine;
}

/* Takes and runs chunks of the open loop until none is left; then counts them as done. */
static void run_chunks(pd_team *t, int tid) {
    uint32_t mine = 0;
    uint64_t w = atomic_load_explicit(&t->work, memory_order_relaxed);
    while ((uint32_t)w < (uint32_t)(w >> 32)) {
        if (!atomic_compare_exchange_weak_explicit(&t->work, &w, w + 1, memory_order_acquire, memory_order_relaxed))
            continue;
        run_piece(t, (uint32_t)w, tid);
        mine++;
        w = atomic_load_explicit(&t->work, memory_order_relaxed);
    }
    mine += run_ranges(t, tid);
    if (!mine || tid == 0) {
        if (mine) atomic_fetch_add_explicit(&t->done, mine, memory_order_release);
        return;
    }
    atomic_fetch_add(&t->done, mine);
    if (atomic_load(&t->leader_sleeps)) word_wake(&t->done);
}

static void helper(pd_team *t, int tid) {
    for (;;) {
        uint32_t b = atomic_load(&t->bell);
        if (atomic_load(&t->quit)) return;
        run_chunks(t, tid);
        if (spin_wait(&t->bell, b, NULL, 0)) continue;
        atomic_fetch_add(&t->sleepers, 1);
        while (atomic_load(&t->bell) == b) word_sleep(&t->bell, b);
        atomic_fetch_sub(&t->sleepers, 1);
    }
}

static void ring(pd_team *t) {
    atomic_fetch_add(&t->bell, 1);
    if (atomic_load(&t->sleepers)) word_wake(&t->bell);
}

pd_status pd_team_run(int nt, pd_status (*body)(void *), void *ctx) {
    if (nt <= 1 || !atomic_load(&pd_team_on) || pd_team_cur || omp_in_parallel()) return body(ctx);
    pd_team t;
    memset(&t, 0, sizeof t);
    atomic_init(&t.work, 0), atomic_init(&t.done, 0), atomic_init(&t.bell, 0);
    atomic_init(&t.sleepers, 0), atomic_init(&t.leader_sleeps, 0), atomic_init(&t.quit, 0);
    t.range = pd_aligned_alloc(64, (size_t)nt * sizeof *t.range); /* none: range loops hand out pieces as pd_par_for */
    t.n_range = t.range ? nt : 0;
    for (int i = 0; i < t.n_range; i++) atomic_init(&t.range[i].w, 0);
    pd_status st = PD_OK;
#pragma omp parallel num_threads(nt)
    {
        if (omp_get_thread_num() == 0) {
            t.nt = omp_get_num_threads();
            pd_team_cur = &t;
            st = body(ctx);
            pd_team_cur = NULL;
            atomic_store(&t.quit, 1);
            ring(&t);
        } else {
            helper(&t, omp_get_thread_num());
        }
    }
    pd_aligned_free(t.range);
    return st;
}

/* How many pieces of *chunk items n items make (*chunk grown where the piece index would pass 31 bits). */
static int64_t pieces(int64_t n, int64_t *chunk) {
    if (*chunk < 1) *chunk = 1;
    int64_t nc = (n + *chunk - 1) / *chunk;
    if (nc > UINT32_MAX / 2) { /* the chunk index is 32 bits */
        *chunk = (n + UINT32_MAX / 2 - 1) / (UINT32_MAX / 2);
        nc = (n + *chunk - 1) / *chunk;
    }
    return nc;
}

/* The leader's part of a published loop of `total` pieces: ring, take pieces, wait for the rest. */
static void lead_loop(pd_team *t, uint32_t total) {
    ring(t);
    run_chunks(t, 0);
    /* the chunks other threads still hold */
    if (spin_wait(&t->done, 0, &t->done, total)) return;
    atomic_store(&t->leader_sleeps, 1);
    for (uint32_t d; (d = atomic_load(&t->done)) < total;) word_sleep(&t->done, d);
    atomic_store(&t->leader_sleeps, 0);
}

void pd_par_for(int64_t n, int64_t chunk, int nt, pd_par_fn fn, void *ctx) {
    if (n <= 0) return;
    int64_t nc = pieces(n, &chunk);
    pd_team *t = pd_team_cur;
    if (nt <= 1 || nc <= 1 || (t && t->nt <= 1)) {
        fn(ctx, 0, n, 0);
        return;
    }
    if (!t) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int64_t c = 0; c < nc; c++) fn(ctx, c * chunk, c * chunk + chunk < n ? c * chunk + chunk : n, omp_get_thread_num());
        return;
    }
    t->fn = fn, t->ctx = ctx, t->n = n, t->chunk = chunk;
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    atomic_store_explicit(&t->work, (uint64_t)nc << 32, memory_order_release);
    lead_loop(t, (uint32_t)nc);
}

void pd_par_ranges(int64_t n, int64_t chunk, int nt, pd_par_fn fn, void *ctx) {
    pd_team *t = pd_team_cur;
    if (!t || !t->n_range) {
        pd_par_for(n, chunk, nt, fn, ctx);
        return;
    }
    if (n <= 0) return;
    int64_t nc = pieces(n, &chunk);
    if (nt <= 1 || nc <= 1 || t->nt <= 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    const int nr = nt < t->nt ? nt : t->nt;
    t->fn = fn, t->ctx = ctx, t->n = n, t->chunk = chunk;
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    for (int i = 0; i < nr; i++) { /* the pieces as evenly as they go, in order */
        uint64_t front = (uint64_t)(nc * i / nr), back = (uint64_t)(nc * (i + 1) / nr);
        atomic_store_explicit(&t->range[i].w, front | back << 32, memory_order_release);
    }
    lead_loop(t, (uint32_t)nc);
}
