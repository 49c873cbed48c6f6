/* tests/dist/test_dist.c — the dist layer's collectives against values computed locally: every rank
 * can regenerate every other rank's data (seeded by rank), so the expected rank-order sum, maximum
 * and gather are known without communication. Runs as one rank (plain CTest) and, with MPI, again
 * under `mpirun -np 2` (test_dist_np2). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "ponder/dist.h"
#include "ponder/rng.h"

#define STREAM_DATA 0xD157u   /* per-rank test data: pd_rng seeded with STREAM_DATA + rank */

static void rank_data(int rank, float *x, size_t n) {
    pd_rng g;
    pd_rng_seed(&g, STREAM_DATA + (uint64_t)rank);
    for (size_t i = 0; i < n; i++) x[i] = (pd_rng_uniformf(&g) - 0.5f) * (float)(1 + (i % 7) * 1000);
}

static void test_share(void **state) {
    (void)state;
    for (int size = 1; size <= 5; size++)
        for (int64_t n = 0; n <= 13; n++) {
            int64_t prev = 0;
            for (int r = 0; r < size; r++) {
                int64_t lo, hi;
                pd_dist_share(n, r, size, &lo, &hi);
                assert_int_equal(lo, prev);
                assert_true(hi - lo == n / size || hi - lo == n / size + 1);
                prev = hi;
            }
            assert_int_equal(prev, n);
        }
}

/* more than one bucket, and a length the rank count does not divide */
static void test_sum_f32_rank_order(void **state) {
    (void)state;
    int N = pd_dist_size(), me = pd_dist_rank();
    size_t n = PD_DIST_BUCKET + 12347;
    float *x = malloc(n * sizeof *x), *want = malloc(n * sizeof *want), *tmp = malloc(n * sizeof *tmp);
    assert_non_null(x); assert_non_null(want); assert_non_null(tmp);
    rank_data(me, x, n);
    rank_data(0, want, n);
    for (int r = 1; r < N; r++) {
        rank_data(r, tmp, n);
        for (size_t i = 0; i < n; i++) want[i] += tmp[i];   /* rank 0 + rank 1 + ... */
    }
    assert_int_equal(pd_dist_sum_f32(x, n), PD_OK);
    assert_memory_equal(x, want, n * sizeof *x);            /* bit for bit */
    free(x); free(want); free(tmp);
}

static void test_sum_max_f64(void **state) {
    (void)state;
    int N = pd_dist_size(), me = pd_dist_rank();
    double s[3] = {0.1 * (me + 1), -1.0 * me, 1e300}, m[2] = {(double)me, -(double)me};
    assert_int_equal(pd_dist_sum_f64(s, 3), PD_OK);
    double want0 = 0.1;
    for (int r = 1; r < N; r++) want0 += 0.1 * (r + 1);
    assert_memory_equal(&s[0], &want0, sizeof want0);
    assert_true(s[1] == -(double)N * (N - 1) / 2);
    assert_true(s[2] == 1e300 * N);
    assert_int_equal(pd_dist_max_f64(m, 2), PD_OK);
    assert_true(m[0] == N - 1 && m[1] == 0);
}

/* rank r sends r + 2 bytes 'a'+r (empty records are allowed too: the last rank sends none) */
static void test_gather_and_bcast(void **state) {
    (void)state;
    int N = pd_dist_size(), me = pd_dist_rank();
    size_t n = me == N - 1 && N > 1 ? 0 : (size_t)me + 2;
    char buf[64];
    memset(buf, 'a' + me, sizeof buf);
    char want[1024];
    size_t wn = 0, counts[64];
    for (int r = 0; r < N; r++) {
        size_t k = r == N - 1 && N > 1 ? 0 : (size_t)r + 2;
        memset(want + wn, 'a' + r, k);
        wn += k;
    }
    for (int all = 0; all <= 1; all++) {
        void *out = NULL;
        size_t on = 0;
        assert_int_equal(pd_dist_gather(buf, n, all, 0, &out, &on, counts), PD_OK);
        if (all || me == 0) {
            assert_int_equal(on, wn);
            assert_memory_equal(out, want, wn);
            assert_int_equal(counts[0], 2);
        } else {
            assert_null(out);
        }
        free(out);
    }
    uint64_t v = me == 0 ? 0x1234567890abcdefull : 0;
    assert_int_equal(pd_dist_bcast(&v, sizeof v, 0), PD_OK);
    assert_true(v == 0x1234567890abcdefull);
    assert_int_equal(pd_dist_bcast(&v, sizeof v, N), PD_ERR_ARG);   /* no such root: an error, no hang */
    assert_int_equal(pd_dist_barrier(), PD_OK);
}

/* equal buffers pass; a buffer that differs on one rank is an error naming that rank */
static void test_same(void **state) {
    (void)state;
    int N = pd_dist_size(), me = pd_dist_rank();
    float w[100];
    for (int i = 0; i < 100; i++) w[i] = 0.5f * (float)i;
    assert_int_equal(pd_dist_same(w, sizeof w, "weights"), PD_OK);
    if (me == N - 1) w[37] = nextafterf(w[37], 1e9f);   /* one ulp on the last rank */
    pd_status st = pd_dist_same(w, sizeof w, "weights");
    if (N == 1) {
        assert_int_equal(st, PD_OK);
    } else {
        assert_int_equal(st, PD_ERR_STATE);
        char want[64];
        snprintf(want, sizeof want, "rank %d differ", N - 1);
        assert_non_null(strstr(pd_last_error(), want));
    }
}

int main(int argc, char **argv) {
    if (pd_dist_init(&argc, &argv) != PD_OK) {
        fprintf(stderr, "test_dist: %s\n", pd_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_sum_f32_rank_order),
        cmocka_unit_test(test_sum_max_f64),
        cmocka_unit_test(test_gather_and_bcast),
        cmocka_unit_test(test_same),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (rc) pd_dist_abort(1);   /* a failing rank must not leave the other waiting */
    pd_dist_finalize();
    return rc;
}
