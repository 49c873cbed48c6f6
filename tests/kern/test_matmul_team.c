/* tests/kern/test_matmul_team.c — pd_matmul's thread scheduling does not change results: Q4_0, Q8_0
 * and Q4_K products (GGUF layout and the repacked 8-row layout) give the same bits on 1 thread (no
 * OpenMP region), on 2 threads inside a decode team (ponder/threads.h: pd_par_ranges gives each
 * thread one contiguous stretch of rows, the rest taken by whoever is free), and on 2 threads over an OpenMP
 * region; for 1 and 3 tokens, tiny to over-1-MiB matrices, N not a multiple of 8 or 16. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/kern.h"
#include "ponder/rng.h"
#include "ponder/tensor.h"
#include "ponder/threads.h"

typedef struct {
    const pd_tensor *W;
    const float *x;
    int64_t M;
    float *y;
    pd_status st;
} team_call;

static pd_status team_body(void *p) {
    team_call *c = p;
    c->st = pd_matmul(c->W, c->x, c->M, c->W->ne[0], c->y, c->W->ne[1]);
    return c->st;
}

/* y on 1 thread, then on 2 threads in a team and over a region: all three the same bits */
static void check_schedules(const pd_tensor *W, const float *x, int64_t M, const char *what) {
    const int64_t N = W->ne[1];
    const size_t ny = (size_t)(N * M);
    float *y1 = malloc(ny * sizeof(float)), *yt = malloc(ny * sizeof(float)), *yr = malloc(ny * sizeof(float));
    assert_non_null(y1);
    assert_non_null(yt);
    assert_non_null(yr);
    for (size_t i = 0; i < ny; i++) y1[i] = yt[i] = yr[i] = NAN;
    pd_threads_set(1);
    assert_int_equal(pd_matmul(W, x, M, W->ne[0], y1, N), PD_OK);
    pd_threads_set(2);
    team_call c = {.W = W, .x = x, .M = M, .y = yt};
    assert_int_equal(pd_team_run(2, team_body, &c), PD_OK);
    assert_int_equal(pd_matmul(W, x, M, W->ne[0], yr, N), PD_OK);
    for (size_t i = 0; i < ny; i++) {
        if (isnan(y1[i])) fail_msg("%s: output %zu not written on 1 thread", what, i);
        if (memcmp(&y1[i], &yt[i], sizeof(float)))
            fail_msg("%s: output %zu: 1 thread %.9g, team of 2 %.9g", what, i, (double)y1[i], (double)yt[i]);
        if (memcmp(&y1[i], &yr[i], sizeof(float)))
            fail_msg("%s: output %zu: 1 thread %.9g, region of 2 %.9g", what, i, (double)y1[i], (double)yr[i]);
    }
    free(y1);
    free(yt);
    free(yr);
}

static void check_shape(pd_type t, int64_t K, int64_t N) {
    pd_rng r;
    pd_rng_seed(&r, (uint64_t)(K * 131 + N * 7 + t));
    const size_t rb = pd_row_bytes(t, K);
    char *w = pd_aligned_alloc(64, rb * (size_t)N);
    void *wp = pd_aligned_alloc(64, rb * (size_t)N);
    float *row = malloc((size_t)K * sizeof(float)), *x = malloc((size_t)(3 * K) * sizeof(float));
    assert_non_null(w);
    assert_non_null(wp);
    assert_non_null(row);
    assert_non_null(x);
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < K; k++) row[k] = (float)(pd_rng_normal(&r) * 0.05);
        assert_int_equal(pd_quantize_row(t, row, w + (size_t)n * rb, K), PD_OK);
    }
    for (int64_t i = 0; i < 3 * K; i++) x[i] = (float)pd_rng_normal(&r);
    pd_tensor W, P;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, t, 2, ne, w);
    P = W;
    char what[128];
    for (int64_t M = 1; M <= 3; M += 2) {
        snprintf(what, sizeof what, "%s %lldx%lld (%zu KiB) M=%lld GGUF layout", pd_type_name(t), (long long)K,
                 (long long)N, rb * (size_t)N / 1024, (long long)M);
        check_schedules(&W, x, M, what);
    }
    if (pd_repack_supported(&W)) {
        assert_int_equal(pd_repack_r8(&P, wp), PD_OK);
        for (int64_t M = 1; M <= 3; M += 2) {
            snprintf(what, sizeof what, "%s %lldx%lld (%zu KiB) M=%lld repacked", pd_type_name(t), (long long)K,
                     (long long)N, rb * (size_t)N / 1024, (long long)M);
            check_schedules(&P, x, M, what);
        }
    }
    pd_aligned_free(w);
    pd_aligned_free(wp);
    free(row);
    free(x);
}

/* tiny (one thread whatever the count), below and above the team's 1-thread size, odd N */
static void test_schedules_same_bits(void **st) {
    (void)st;
    const pd_type types[] = {PD_TYPE_Q4_0, PD_TYPE_Q8_0, PD_TYPE_Q4_K};
    const int64_t shapes[][2] = {{256, 19}, {768, 776}, {1024, 1037}, {2048, 1030}, {768, 2056}};
    for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) check_shape(types[ti], shapes[si][0], shapes[si][1]);
    pd_threads_set(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_schedules_same_bits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
