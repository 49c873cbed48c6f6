/* tests/kern/test_rows8_avx512.c — the AVX-512 VNNI tiles for Q4_0 / Q8_0 weights in the 8-row
 * repacked layout (kern/simd_avx512_r8.c). Their promise: exact int32 block sums, and per block
 * acc = fma(d_w * d_x, float(sum), acc) in block order, as the AVX2 8-row tiles do. Checked to the bit
 * against a scalar model of exactly that (fmaf, computed here from the quantised bytes), against the
 * AVX2 level's repacked tiles and against the AVX-512 level's own GGUF-layout path, on
 * K from one block to 4128, N of one group, two (the 16-row tiles), 16 + 8 and with leftover rows
 * (the last N mod 8 rows keep the GGUF layout), 1-19
 * tokens (full 8-token tiles and every remainder), 1 and 2 threads, random bytes and the extremes
 * of the integer sums (all nibbles 15 / 0, all weights -128 / +127 against activations at ±127);
 * and the scalar level's result within the bound of its different float rounding. Skips (with a
 * message) on a CPU without AVX-512 VNNI. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "ponder/threads.h"
#include "kern_test_util.h"

enum { FILL_RANDOM, FILL_MAX, FILL_MIN };

static int have_vnni(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return pd_isa_best() >= PD_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

#define NEED_VNNI()                                                               \
    do {                                                                          \
        if (!have_vnni()) {                                                       \
            fprintf(stderr, "SKIPPED: this CPU has no AVX-512 VNNI\n");           \
            skip();                                                               \
        }                                                                         \
    } while (0)

/* n_rows rows of K weights of type t: raw bytes per `fill`, F16 scales in [0.002, 0.05] */
static void make_rows(pd_rng *r, pd_type t, char *w, int64_t K, int64_t n_rows, int fill) {
    size_t bs = pd_row_bytes(t, 32);
    for (int64_t b = 0; b < K / 32 * n_rows; b++) {
        char *blk = w + (size_t)b * bs;
        for (size_t i = 2; i < bs; i++) {
            uint8_t v = (uint8_t)(pd_rng_u64(r) >> 24);
            if (fill == FILL_MAX) v = t == PD_TYPE_Q8_0 ? 0x7F : 0xFF;
            if (fill == FILL_MIN) v = t == PD_TYPE_Q8_0 ? 0x80 : 0x00;
            blk[i] = (char)v;
        }
        uint16_t d = pd_f32_to_f16((float)(0.002 + 0.048 * pd_rng_uniform(r)));
        memcpy(blk, &d, 2);
    }
}

/* the promised arithmetic, one row against one Q8_0 activation row */
static float model_dot(pd_type t, int64_t K, const char *w, const char *xa, double *mag) {
    float acc = 0;
    *mag = 0;
    size_t bs = pd_row_bytes(t, 32);
    for (int64_t i = 0; i < K / 32; i++) {
        const char *b = w + (size_t)i * bs, *xb = xa + (size_t)i * 34;
        uint16_t dw, dx;
        memcpy(&dw, b, 2);
        memcpy(&dx, xb, 2);
        int32_t s = 0;
        for (int j = 0; j < 32; j++) {
            int wq = t == PD_TYPE_Q8_0 ? (int8_t)b[2 + j] : j < 16 ? ((uint8_t)b[2 + j] & 0xF) - 8 : ((uint8_t)b[2 + j - 16] >> 4) - 8;
            s += wq * (int8_t)xb[2 + j];
        }
        acc = fmaf(pd_f16_to_f32(dw) * pd_f16_to_f32(dx), (float)s, acc);
        *mag += fabs((double)pd_f16_to_f32(dw) * pd_f16_to_f32(dx) * s);
    }
    return acc;
}

/* a[i] == b[i] to the bit for the first `rows` of every N-row output row (rows = N: all) */
static int same_bits(const float *a, const float *b, int64_t n, int64_t N, int64_t rows, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (i % N < rows && memcmp(&a[i], &b[i], sizeof(float)) != 0) {
            fprintf(stderr, "%s: element %lld: %.9g vs %.9g\n", what, (long long)i, a[i], b[i]);
            return 0;
        }
    return 1;
}

static void check(pd_type t, int64_t K, int64_t N, int64_t M, int threads, int fill, int xsign) {
    pd_rng r;
    pd_rng_seed(&r, (uint64_t)(K * 7919 + N * 131 + M * 17 + fill * 5 + t * 3 + (xsign + 1)));
    size_t rb = pd_row_bytes(t, K), xrb = pd_row_bytes(PD_TYPE_Q8_0, K);
    char *w = malloc(rb * N), *wp = malloc(rb * N), *xa = malloc(xrb);
    make_rows(&r, t, w, K, N, fill);
    float *x = malloc(sizeof(float) * K * M);
    for (int64_t i = 0; i < K * M; i++)
        x[i] = xsign ? (float)xsign * (1.0f + (float)(i % 3) * 1e-7f) : (float)pd_rng_normal(&r);
    float *ym = malloc(sizeof(float) * N * M), *ys = malloc(sizeof(float) * N * M), *y2 = malloc(sizeof(float) * N * M);
    float *yp = malloc(sizeof(float) * N * M), *yg = malloc(sizeof(float) * N * M);
    double maxmag = 1e-30;
    for (int64_t m = 0; m < M; m++) {
        assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_0, x + m * K, xa, K), PD_OK);
        for (int64_t n = 0; n < N; n++) {
            double mag;
            ym[m * N + n] = model_dot(t, K, w + n * rb, xa, &mag);
            if (mag > maxmag) maxmag = mag;
        }
    }
    pd_tensor W, P;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, t, 2, ne, w);
    P = W;
    pd_threads_set(threads);
    char what[160];
#define WHAT(s) snprintf(what, sizeof what, "%s %s K=%lld N=%lld M=%lld fill %d x %d thr %d", s, pd_type_name(t), \
                         (long long)K, (long long)N, (long long)M, fill, xsign, threads)
    pd_isa_force(PD_ISA_SCALAR);
    assert_int_equal(pd_matmul(&W, x, M, K, ys, N), PD_OK);
    WHAT("scalar vs model");
    if (!close_all(ys, ym, N * M, 2.4e-7 * maxmag * (double)(K / 32 + 1), 0, what)) fail();
    pd_isa_force(PD_ISA_AVX512);
    assert_true(pd_repack_supported(&W));
    assert_int_equal(pd_repack_r8(&P, wp), PD_OK);
    for (int64_t i = 0; i < N * M; i++) yp[i] = yg[i] = NAN;
    assert_int_equal(pd_matmul(&P, x, M, K, yp, N), PD_OK);
    assert_int_equal(pd_matmul(&W, x, M, K, yg, N), PD_OK);
    /* the 8-row groups to the bit; the last N mod 8 rows go to the row tiles of the AVX2 level,
     * whose float steps differ (checked against that level below, and within the bound here) */
    const int64_t N8 = N / 8 * 8;
    WHAT("avx512 repacked vs model");
    if (!same_bits(yp, ym, N * M, N, N8, what)) fail();
    if (!close_all(yp, ym, N * M, 2.4e-7 * maxmag * (double)(K / 32 + 1), 0, what)) fail();
    WHAT("avx512 GGUF layout vs model");
    if (!same_bits(yg, ym, N * M, N, N8, what)) fail();
    WHAT("avx512 GGUF layout vs repacked");
    if (!same_bits(yg, yp, N * M, N, N, what)) fail();
    pd_isa_force(PD_ISA_AVX2);
    for (int64_t i = 0; i < N * M; i++) y2[i] = NAN;
    assert_int_equal(pd_matmul(&P, x, M, K, y2, N), PD_OK);
    WHAT("avx2 repacked vs avx512 repacked");
    if (!same_bits(y2, yp, N * M, N, N, what)) fail();
#undef WHAT
    pd_isa_force(pd_isa_best());
    pd_threads_set(0);
    free(w), free(wp), free(xa), free(x), free(ym), free(ys), free(y2), free(yp), free(yg);
}

static void test_avx512_r8_shapes(void **st) {
    (void)st;
    NEED_VNNI();
    const pd_type ts[] = {PD_TYPE_Q4_0, PD_TYPE_Q8_0};
    const int64_t Ks[] = {32, 64, 96, 1024, 4128};
    const int64_t Ns[] = {8, 16, 24, 37, 64};
    const int64_t Ms[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 19};
    for (int ti = 0; ti < 2; ti++)
        for (int ki = 0; ki < 5; ki++)
            for (int ni = 0; ni < 5; ni++)
                for (int mi = 0; mi < 10; mi++)
                    if (Ks[ki] * Ns[ni] * Ms[mi] <= (int64_t)4128 * 64 * 4)
                        check(ts[ti], Ks[ki], Ns[ni], Ms[mi], 1 + (mi & 1), FILL_RANDOM, 0);
}

static void test_avx512_r8_extremes(void **st) {
    (void)st;
    NEED_VNNI();
    const pd_type ts[] = {PD_TYPE_Q4_0, PD_TYPE_Q8_0};
    for (int ti = 0; ti < 2; ti++)
        for (int fill = FILL_MAX; fill <= FILL_MIN; fill++)
            for (int xs = -1; xs <= 1; xs += 2) {
                check(ts[ti], 4096, 16, 8, 1, fill, xs);
                check(ts[ti], 512, 24, 11, 2, fill, xs);
            }
}

/* a blocked, 2-thread product: several row blocks, token spans, the last rows in GGUF layout */
static void test_avx512_r8_big(void **st) {
    (void)st;
    NEED_VNNI();
    check(PD_TYPE_Q4_0, 2048, 776, 37, 2, FILL_RANDOM, 0);
    check(PD_TYPE_Q8_0, 768, 2052, 21, 2, FILL_RANDOM, 0);
    check(PD_TYPE_Q4_0, 768, 2052, 1, 2, FILL_RANDOM, 0);
    check(PD_TYPE_Q8_0, 4096, 520, 1, 1, FILL_RANDOM, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avx512_r8_shapes),
        cmocka_unit_test(test_avx512_r8_extremes),
        cmocka_unit_test(test_avx512_r8_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
