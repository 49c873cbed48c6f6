/* tests/base/test_threads.c — the team of ponder/threads.h: every item of every loop runs exactly
 * once, on a thread of the team, also after the helpers fell asleep between loops; nested teams,
 * one-thread loops and teams switched off run the same loops on fewer threads; the same for range
 * loops (pd_par_ranges: contiguous ranges per thread, the rest taken by whoever is free). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ponder/threads.h"

enum { MAXN = 5000 };

typedef struct {
    _Atomic int hits[MAXN];
    _Atomic int bad_range, bad_tid;
    int nt;     /* tids must be below this */
    int ranges; /* run the loops with pd_par_ranges (contiguous ranges per thread, stealing) */
    long nap;   /* microseconds each piece takes (the leader then waits for the helpers' pieces) */
} loop_ctx;

static void nap_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static void count_items(void *vctx, int64_t i0, int64_t i1, int tid) {
    loop_ctx *c = vctx;
    if (c->nap) nap_us(c->nap);
    if (i0 < 0 || i1 > MAXN || i0 >= i1) atomic_fetch_add(&c->bad_range, 1);
    if (tid < 0 || tid >= c->nt) atomic_fetch_add(&c->bad_tid, 1);
    for (int64_t i = i0; i < i1 && i < MAXN; i++) atomic_fetch_add(&c->hits[i], 1);
}

/* two pieces that each wait (up to 20 s) until both were taken: the helper must take one */
typedef struct {
    _Atomic int arrived, seen[2];
} meet_ctx;

static void meet(void *vctx, int64_t i0, int64_t i1, int tid) {
    meet_ctx *m = vctx;
    atomic_fetch_add(&m->arrived, (int)(i1 - i0));
    if (tid >= 0 && tid < 2) atomic_store(&m->seen[tid], 1);
    for (int i = 0; i < 20000 && atomic_load(&m->arrived) < 2; i++) nap_us(1000);
}

/* one loop of n items, checked */
static void one_loop(loop_ctx *c, int64_t n, int64_t chunk, int nt) {
    for (int i = 0; i < MAXN; i++) atomic_store(&c->hits[i], 0);
    atomic_store(&c->bad_range, 0), atomic_store(&c->bad_tid, 0);
    (c->ranges ? pd_par_ranges : pd_par_for)(n, chunk, nt, count_items, c);
    for (int64_t i = 0; i < MAXN; i++)
        if (atomic_load(&c->hits[i]) != (i < n)) fail_msg("n %lld chunk %lld: item %lld ran %d times", (long long)n,
                                                          (long long)chunk, (long long)i, atomic_load(&c->hits[i]));
    assert_int_equal(atomic_load(&c->bad_range), 0);
    assert_int_equal(atomic_load(&c->bad_tid), 0);
}

typedef struct {
    loop_ctx *c;
    int size, nested_size, loops, helped;
} body_ctx;

static pd_status nested_body(void *p) {
    body_ctx *b = p;
    b->nested_size = pd_team_size();
    return PD_OK;
}

static pd_status team_body(void *p) {
    body_ctx *b = p;
    b->size = pd_team_size();
    loop_ctx *c = b->c;
    c->nt = b->size > 0 ? b->size : 2; /* no team: pd_par_for's own OpenMP loop of 2 threads */
    static const int64_t ns[] = {1, 2, 3, 7, 64, 100, 999, MAXN};
    static const int64_t chunks[] = {1, 3, 16, 5000};
    for (int rep = 0; rep < 40; rep++)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            c->ranges = (int)((rep / 4) % 2); /* pd_par_for and pd_par_ranges loops follow each other */
            one_loop(c, ns[i], chunks[(rep + i) % 4], 2);
            b->loops++;
            if (rep % 10 == 9) nap_us(3000); /* longer than the helpers' spin: they sleep, then wake */
        }
    /* pieces that take longer than the spins: the leader sleeps until the helper's are done */
    /* (with ranges: a thread done with its own range takes the rest of the other's) */
    c->nap = 400;
    for (int rep = 0; rep < 10; rep++) {
        c->ranges = rep % 2;
        one_loop(c, 12 + rep, 1, 2);
    }
    c->nap = 0;
    c->ranges = 0;
    /* the helper takes part, in both kinds of loop */
    meet_ctx mc = {0}, mr = {0};
    pd_par_for(2, 1, 2, meet, &mc);
    pd_par_ranges(2, 1, 2, meet, &mr);
    b->helped = b->size > 1 && atomic_load(&mc.seen[0]) && atomic_load(&mc.seen[1]) && atomic_load(&mr.seen[0]) &&
                atomic_load(&mr.seen[1]);
    /* a one-thread loop inside the team runs on this thread only */
    c->nt = 1;
    one_loop(c, 100, 1, 1);
    c->nt = b->size > 0 ? b->size : 2;
    /* a team inside a team: the body alone */
    body_ctx inner = {0};
    assert_int_equal(pd_team_run(2, nested_body, &inner), PD_OK);
    b->nested_size = inner.nested_size;
    return PD_ERR_RANGE; /* handed back by pd_team_run */
}

static void test_team_loops(void **st) {
    (void)st;
    loop_ctx *c = calloc(1, sizeof *c);
    for (int on = 1; on >= 0; on--) {
        pd_team_enable(on);
        body_ctx b = {.c = c};
        assert_int_equal(pd_team_run(2, team_body, &b), PD_ERR_RANGE);
        assert_int_equal(b.loops, 320);
        if (on) {
            assert_int_equal(b.size, 2); /* libgomp gives the 2 threads asked for */
            assert_int_equal(b.nested_size, 2); /* the inner body ran in the outer team's leader */
            assert_true(b.helped); /* both threads took a piece of the meeting loop */
        } else {
            assert_int_equal(b.size, 0);
            assert_int_equal(b.nested_size, 0);
        }
    }
    pd_team_enable(1);
    /* outside any team: the OpenMP loop, and one thread */
    body_ctx b = {.c = c};
    for (int r = 0; r < 2; r++) {
        c->ranges = r;
        c->nt = 4;
        one_loop(c, 777, 2, 4);
        c->nt = 1;
        one_loop(c, 777, 2, 1);
    }
    assert_int_equal(pd_team_run(1, nested_body, &b), PD_OK);
    assert_int_equal(b.nested_size, 0);
    assert_int_equal(pd_team_size(), 0);
    free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_team_loops)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
