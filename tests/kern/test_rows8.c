/* tests/kern/test_rows8.c — the AVX2 8-row tiles (simd_avx2_rows8.c) for Q4_0, Q8_0, Q4_K weights:
 * pd_matmul at every SIMD level against the same matmul on the scalar twins, on raw random blocks
 * (every nibble / byte pattern, random sane scales), on the extremes that stress the integer sums
 * (all nibbles 15 or 0, all weights -128 / +127, Q4_K scales and mins all 63 or 0, against
 * activations at ±127), with row counts that
 * are and are not multiples of 8 (the last rows go to the previous tile), 1-9 tokens (full tiles
 * of 4 and the 1-3 token remainders) and 1 or 2 threads. Also each level against a double dot of
 * the dequantised operands, so the scalar twin is not the only truth.
 * The same matrices repacked into 8-row groups (PD_LAYOUT_R8, kern/repack.c): every row reads back
 * as its GGUF bytes, and pd_matmul at every level gives that level's GGUF-layout results to the bit
 * (the scalar level through its unpacking fallback; Q4_K's one-token tiles within the tolerance,
 * as the GGUF layout sends one token to the one-row kernel). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "ponder/threads.h"
#include "kern_test_util.h"

enum { FILL_RANDOM, FILL_MAX, FILL_MIN };

/* n_rows rows of K weights of type t (Q4_0, Q8_0 or Q4_K): raw bytes per `fill`, F16 scales
 * (Q4_K: d and dmin) in [0.002, 0.05] */
static void make_rows(pd_rng *r, pd_type t, char *w, int64_t K, int64_t n_rows, int fill) {
    int64_t be = pd_type_block_elems(t), nb = K / be;
    size_t bs = pd_row_bytes(t, be);
    int n_f16 = t == PD_TYPE_Q4_K ? 2 : 1;
    for (int64_t b = 0; b < nb * n_rows; b++) {
        char *blk = w + (size_t)b * bs;
        for (size_t i = 0; i < bs; i++) {
            uint8_t v = (uint8_t)(pd_rng_u64(r) >> 24);
            if (fill == FILL_MAX) v = t == PD_TYPE_Q8_0 ? 0x7F : 0xFF;  /* nibbles 15 / +127 / scales 63 */
            if (fill == FILL_MIN) v = t == PD_TYPE_Q8_0 ? 0x80 : 0x00;  /* nibbles 0 / -128 / scales 0 */
            blk[i] = (char)v;
        }
        for (int f = 0; f < n_f16; f++) {
            uint16_t d = pd_f32_to_f16((float)(0.002 + 0.048 * pd_rng_uniform(r)));
            memcpy(blk + 2 * f, &d, 2);
        }
    }
}

static void check(pd_type t, int64_t K, int64_t N, int64_t M, int threads, int fill, int xsign) {
    pd_rng r;
    pd_rng_seed(&r, (uint64_t)(K * 131 + N * 17 + M * 3 + fill * 7 + t + (xsign + 1)));
    size_t rb = pd_row_bytes(t, K);
    char *w = malloc(rb * N);
    make_rows(&r, t, w, K, N, fill);
    float *x = malloc(sizeof(float) * K * M), *xq = malloc(sizeof(float) * K), *wf = malloc(sizeof(float) * K);
    for (int64_t i = 0; i < K * M; i++) x[i] = xsign ? (float)xsign * (1.0f + (float)(i % 3) * 1e-7f) : (float)pd_rng_normal(&r);
    float *ys = malloc(sizeof(float) * N * M), *yv = malloc(sizeof(float) * N * M), *yd = malloc(sizeof(float) * N * M);
    pd_type at = pd_vec_dot_type(t);
    void *xa = malloc(pd_row_bytes(at, K));
    double maxmag = 1e-30;
    for (int64_t m = 0; m < M; m++) {
        assert_int_equal(pd_quantize_row_act(at, x + m * K, xa, K), PD_OK);
        assert_int_equal(pd_dequantize_row(at, xa, xq, K), PD_OK);
        for (int64_t n = 0; n < N; n++) {
            assert_int_equal(pd_dequantize_row(t, w + n * rb, wf, K), PD_OK);
            double s = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)wf[k] * xq[k];
                mag += fabs((double)wf[k] * xq[k]);
            }
            yd[m * N + n] = (float)s;
            if (mag > maxmag) maxmag = mag;
        }
    }
    pd_tensor W;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, t, 2, ne, w);
    pd_threads_set(threads);
    pd_isa_force(PD_ISA_SCALAR);
    assert_int_equal(pd_matmul(&W, x, M, K, ys, N), PD_OK);
    char what[128];
    snprintf(what, sizeof what, "scalar %s K=%lld N=%lld M=%lld fill %d x %d", pd_type_name(t), (long long)K,
             (long long)N, (long long)M, fill, xsign);
    if (!close_all(ys, yd, N * M, 2e-6 * maxmag, 0, what)) fail();
    /* the repacked copy */
    pd_tensor P = W;
    char *wp = NULL, *row = malloc(rb);
    float *yp = malloc(sizeof(float) * N * M);
    if (N >= 8) {
        wp = malloc(rb * N);
        assert_int_equal(pd_repack_r8(&P, wp), PD_OK);
        assert_true(P.data == wp && P.layout == PD_LAYOUT_R8);
        for (int64_t n = 0; n < N; n++) {
            assert_int_equal(pd_unpack_row(&P, n, row), PD_OK);
            if (memcmp(row, w + n * rb, rb)) fail_msg("%s K=%lld N=%lld: repacked row %lld does not read back",
                                                      pd_type_name(t), (long long)K, (long long)N, (long long)n);
        }
        assert_false(pd_repack_supported(&P)); /* already repacked */
        for (int64_t n = 0; n < N; n++) { /* get_rows of a repacked matrix */
            assert_int_equal(pd_tensor_row_f32(&P, n, wf), PD_OK);
            assert_int_equal(pd_dequantize_row(t, w + n * rb, xq, K), PD_OK);
            if (memcmp(wf, xq, sizeof(float) * K)) fail_msg("%s: repacked row %lld to f32 differs", pd_type_name(t), (long long)n);
        }
        assert_int_equal(pd_matmul(&P, x, M, K, yp, N), PD_OK); /* scalar level: unpacking fallback */
        snprintf(what, sizeof what, "scalar repacked %s K=%lld N=%lld M=%lld", pd_type_name(t), (long long)K,
                 (long long)N, (long long)M);
        if (!close_all(yp, ys, N * M, 0, 0, what)) fail();
    }
    for (int isa = PD_ISA_AVX2; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        for (int64_t i = 0; i < N * M; i++) yv[i] = NAN;
        assert_int_equal(pd_matmul(&W, x, M, K, yv, N), PD_OK);
        snprintf(what, sizeof what, "%s vs scalar %s K=%lld N=%lld M=%lld fill %d x %d thr %d", pd_isa_name((pd_isa)isa),
                 pd_type_name(t), (long long)K, (long long)N, (long long)M, fill, xsign, threads);
        /* same integer block sums; only the float order of the scale products may differ */
        if (!close_all(yv, ys, N * M, 1e-6 * maxmag, 0, what)) fail();
        if (!wp) continue;
        assert_true(pd_repack_supported(&W) == (isa >= PD_ISA_AVX2));
        for (int64_t i = 0; i < N * M; i++) yp[i] = NAN;
        assert_int_equal(pd_matmul(&P, x, M, K, yp, N), PD_OK);
        snprintf(what, sizeof what, "%s repacked vs GGUF layout %s K=%lld N=%lld M=%lld fill %d x %d thr %d",
                 pd_isa_name((pd_isa)isa), pd_type_name(t), (long long)K, (long long)N, (long long)M, fill, xsign,
                 threads);
        double tol = t == PD_TYPE_Q4_K && M % 4 == 1 ? 1e-6 * maxmag : 0;
        if (!close_all(yp, yv, N * M, tol, 0, what)) fail();
    }
    free(wp), free(row), free(yp);
    pd_isa_force(pd_isa_best());
    pd_threads_set(0);
    free(w), free(x), free(xq), free(wf), free(ys), free(yv), free(yd), free(xa);
}

static void test_rows8_random(void **st) {
    (void)st;
    if (pd_isa_best() < PD_ISA_AVX2) skip();
    const pd_type ts[] = {PD_TYPE_Q4_0, PD_TYPE_Q8_0, PD_TYPE_Q4_K};
    const int64_t Ks[3][3] = {{32, 96, 1024}, {32, 96, 1024}, {256, 512, 1280}};
    const int64_t Ns[] = {8, 16, 37, 64}, Ms[] = {1, 2, 3, 4, 5, 9};
    for (int ti = 0; ti < 3; ti++)
        for (int ki = 0; ki < 3; ki++)
            for (int ni = 0; ni < 4; ni++)
                for (int mi = 0; mi < 6; mi++) check(ts[ti], Ks[ti][ki], Ns[ni], Ms[mi], 1 + (mi & 1), FILL_RANDOM, 0);
}

/* The largest integer sums: every weight at its extreme times activations all at +127 or -127. */
static void test_rows8_extremes(void **st) {
    (void)st;
    if (pd_isa_best() < PD_ISA_AVX2) skip();
    const pd_type ts[] = {PD_TYPE_Q4_0, PD_TYPE_Q8_0, PD_TYPE_Q4_K};
    for (int ti = 0; ti < 3; ti++)
        for (int fill = FILL_MAX; fill <= FILL_MIN; fill++)
            for (int xs = -1; xs <= 1; xs += 2) {
                check(ts[ti], 256, 16, 4, 1, fill, xs);
                check(ts[ti], 512, 24, 3, 2, fill, xs);
            }
}

/* A matrix big enough for the blocked, 2-thread path (row blocks of several 8-row tiles). */
static void test_rows8_big(void **st) {
    (void)st;
    if (pd_isa_best() < PD_ISA_AVX2) skip();
    check(PD_TYPE_Q4_0, 2048, 264, 13, 2, FILL_RANDOM, 0);
    check(PD_TYPE_Q8_0, 2048, 264, 13, 2, FILL_RANDOM, 0);
    check(PD_TYPE_Q4_0, 768, 770, 1, 2, FILL_RANDOM, 0);
    check(PD_TYPE_Q4_K, 2048, 264, 13, 2, FILL_RANDOM, 0);
    check(PD_TYPE_Q4_K, 1024, 770, 1, 2, FILL_RANDOM, 0);
}

/* The repack's refusals, and pd_matmul's refusal of a layout a type cannot have. */
static void test_repack_errors(void **st) {
    (void)st;
    char buf[34 * 8 * 16];
    memset(buf, 0, sizeof buf);
    char out[sizeof buf];
    pd_tensor W;
    int64_t ne[2] = {32, 8};
    pd_tensor_init(&W, PD_TYPE_Q4_1, 2, ne, buf);
    assert_int_equal(pd_repack_r8(&W, out), PD_ERR_UNSUPPORTED);
    assert_false(pd_repack_supported(&W));
    int64_t ne7[2] = {32, 7};
    pd_tensor_init(&W, PD_TYPE_Q8_0, 2, ne7, buf);
    assert_int_equal(pd_repack_r8(&W, out), PD_ERR_ARG); /* fewer than 8 rows */
    assert_false(pd_repack_supported(&W));
    pd_tensor_init(&W, PD_TYPE_Q8_0, 2, ne, buf);
    assert_int_equal(pd_repack_r8(&W, out), PD_OK);
    assert_int_equal(pd_repack_r8(&W, buf), PD_ERR_STATE); /* twice */
    assert_int_equal(pd_unpack_row(&W, 8, out), PD_ERR_RANGE);
    float x[32] = {0}, y[8];
    pd_tensor_init(&W, PD_TYPE_Q4_1, 2, ne, buf);
    W.layout = PD_LAYOUT_R8;
    assert_int_equal(pd_matmul(&W, x, 1, 32, y, 8), PD_ERR_ARG);
    pd_clear_error();
}

/* Prefill-sized token counts: pd_matmul cuts the tokens into spans of about 192 KiB of converted
 * activations (matmul.c PD_MM_SPAN_BYTES) at multiples of the tile's token count. Every output of
 * one 403-token call (3 spans) must be written, and equal to the bit what calls of at most 4 tokens
 * (one span each, the same 4-token groups) give, for both layouts, 1 and 2 threads, at the active level. */
static void test_rows8_spans(void **st) {
    (void)st;
    const pd_type ts[3] = {PD_TYPE_Q4_0, PD_TYPE_Q8_0, PD_TYPE_Q4_K};
    enum { K = 1024, N = 76, M = 403 };
    pd_rng r;
    pd_rng_seed(&r, 77);
    float *x = malloc(sizeof(float) * K * M), *y1 = malloc(sizeof(float) * N * M), *y4 = malloc(sizeof(float) * N * M);
    for (int64_t i = 0; i < (int64_t)K * M; i++) x[i] = (float)pd_rng_normal(&r);
    for (int ti = 0; ti < 3; ti++)
        for (int packed = 0; packed < 2; packed++)
            for (int th = 1; th <= 2; th++) {
                size_t rb = pd_row_bytes(ts[ti], K);
                char *w = malloc(rb * N), *wp = malloc(rb * N);
                make_rows(&r, ts[ti], w, K, N, FILL_RANDOM);
                pd_tensor W;
                int64_t ne[2] = {K, N};
                pd_tensor_init(&W, ts[ti], 2, ne, w);
                if (packed) {
                    if (!pd_repack_supported(&W)) {
                        free(w), free(wp);
                        continue;
                    }
                    assert_int_equal(pd_repack_r8(&W, wp), PD_OK);
                }
                pd_threads_set(th);
                for (int64_t i = 0; i < (int64_t)N * M; i++) y1[i] = y4[i] = NAN;
                assert_int_equal(pd_matmul(&W, x, M, K, y1, N), PD_OK);
                for (int64_t m0 = 0; m0 < M; m0 += 4)
                    assert_int_equal(pd_matmul(&W, x + m0 * K, M - m0 < 4 ? M - m0 : 4, K, y4 + m0 * N, N), PD_OK);
                for (int64_t i = 0; i < (int64_t)N * M; i++)
                    if (memcmp(&y1[i], &y4[i], sizeof(float)) != 0 || isnan(y1[i]))
                        fail_msg("%s %s %d threads: token %lld row %lld: %.9g (one call) vs %.9g (4-token calls)",
                                 pd_type_name(ts[ti]), packed ? "R8" : "GGUF", th, (long long)(i / N),
                                 (long long)(i % N), y1[i], y4[i]);
                free(w), free(wp);
            }
    pd_threads_set(1);
    free(x), free(y1), free(y4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows8_random),
        cmocka_unit_test(test_rows8_extremes),
        cmocka_unit_test(test_rows8_big),
        cmocka_unit_test(test_repack_errors),
        cmocka_unit_test(test_rows8_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
