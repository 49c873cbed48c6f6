/* tests/kern/test_q4k_avx512.c — the AVX-512 VNNI Q4_K tile over the 8-row repacked layout
 * (kern/simd_avx512_q4k.c). It promises the AVX2 repacked tile's numbers to the bit (same integer
 * sums, same float order) and so the scalar twin's within the tolerance test_rows8 gives the AVX2
 * tiles. Checked three ways: the tile called directly on raw blocks and raw Q8_K activations
 * (every nibble, scale and min pattern, activations over the whole int8 range -128..127, the
 * extremes of the int16 partial sums), pd_matmul at the AVX-512 level against the AVX2 level and the
 * scalar level on repacked matrices (K = 256..4352, whole groups and leftover rows, 1..13 tokens,
 * 1 and 2 threads), and that the AVX-512 level's table holds this tile at all. Skips (with a
 * message) on a CPU without AVX-512 VNNI. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "ponder/threads.h"
#include "kern_test_util.h"
#include "../../src/kern/kern_impl.h"

static int have_vnni(void) {
#if PD_X86
    __builtin_cpu_init();
    return pd_isa_best() == PD_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

#define SKIP_WITHOUT_VNNI()                                                                       \
    if (!have_vnni()) {                                                                           \
        fprintf(stderr, "test_q4k_avx512: this CPU has no AVX-512 VNNI; nothing to test here\n"); \
        skip();                                                                                   \
    }

enum { FILL_RANDOM, FILL_MAX, FILL_MIN };

/* n_rows rows of K Q4_K weights: raw random bytes (or all 0xFF: nibbles 15, scales and mins 63; or
 * all 0), d and dmin F16 in [0.002, 0.05] */
static void make_q4k(pd_rng *r, char *w, int64_t K, int64_t n_rows, int fill) {
    int64_t nb = K / PD_QK_K * n_rows;
    for (int64_t b = 0; b < nb; b++) {
        char *blk = w + (size_t)b * sizeof(pd_block_q4_K);
        for (size_t i = 0; i < sizeof(pd_block_q4_K); i++)
            blk[i] = (char)(fill == FILL_MAX ? 0xFF : fill == FILL_MIN ? 0 : (uint8_t)(pd_rng_u64(r) >> 24));
        for (int f = 0; f < 2; f++) {
            uint16_t d = pd_f32_to_f16((float)(0.002 + 0.048 * pd_rng_uniform(r)));
            memcpy(blk + 2 * f, &d, 2);
        }
    }
}

/* M rows of K raw Q8_K activations: int8 values in -128..127 (xfill 0: random; ±1: all at +127 /
 * -128), bsums consistent with them, d random positive */
static void make_q8k(pd_rng *r, pd_block_q8_K *x, int64_t K, int64_t M, int xfill) {
    for (int64_t b = 0; b < K / PD_QK_K * M; b++) {
        x[b].d = (float)(0.001 + pd_rng_uniform(r));
        for (int k = 0; k < PD_QK_K; k++)
            x[b].qs[k] = (int8_t)(xfill > 0 ? 127 : xfill < 0 ? -128 : (int)(pd_rng_u64(r) >> 40 & 0xFF) - 128);
        for (int g = 0; g < PD_QK_K / 16; g++) {
            int s = 0;
            for (int k = 0; k < 16; k++) s += x[b].qs[16 * g + k];
            x[b].bsums[g] = (int16_t)s;
        }
    }
}

static pd_tile_fn tile_r8_at(pd_isa isa) {
    pd_isa_force(isa);
    pd_tile_fn f = pd_kern_active()->tile_r8[PD_TYPE_Q4_K];
    pd_isa_force(pd_isa_best());
    return f;
}

/* The AVX-512 level has its own Q4_K repacked tile (not the AVX2 one it started from). */
static void test_q4k512_installed(void **st) {
    (void)st;
    SKIP_WITHOUT_VNNI();
    pd_tile_fn t2 = tile_r8_at(PD_ISA_AVX2), t5 = tile_r8_at(PD_ISA_AVX512);
    assert_non_null(t2);
    assert_non_null(t5);
    assert_true(t2 != t5);
}

/* One 8-row group of K weights against mr raw activation rows, called as pd_matmul calls it:
 * AVX-512 tile vs AVX2 tile bit for bit, and vs the scalar dot of each unpacked row. */
static void check_tile(int64_t K, int mr, int fill, int xfill, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    const size_t rb = pd_row_bytes(PD_TYPE_Q4_K, K), xs = pd_row_bytes(PD_TYPE_Q8_K, K);
    char *w = malloc(8 * rb), *wp = malloc(8 * rb), *row = malloc(rb);
    float *wf = malloc(sizeof(float) * K);
    pd_block_q8_K *x = malloc(xs * (size_t)mr);
    make_q4k(&r, w, K, 8, fill);
    make_q8k(&r, x, K, mr, xfill);
    pd_tensor W;
    int64_t ne[2] = {K, 8};
    pd_tensor_init(&W, PD_TYPE_Q4_K, 2, ne, w);
    assert_int_equal(pd_repack_r8(&W, wp), PD_OK);
    enum { LDY = 11 }; /* outputs ldy apart, 8 used */
    float y2[4 * LDY], y5[4 * LDY];
    for (int i = 0; i < 4 * LDY; i++) y2[i] = y5[i] = -7.0f;
    tile_r8_at(PD_ISA_AVX2)(K, wp, rb, 8, x, xs, mr, y2, LDY);
    tile_r8_at(PD_ISA_AVX512)(K, wp, rb, 8, x, xs, mr, y5, LDY);
    for (int m = 0; m < mr; m++)
        for (int c = 0; c < LDY; c++) {
            float a = y5[m * LDY + c], b = y2[m * LDY + c];
            if (c >= 8) { /* not written */
                if (a != -7.0f) fail_msg("K=%lld mr=%d: token %d column %d written (%g)", (long long)K, mr, m, c, a);
                continue;
            }
            if (memcmp(&a, &b, sizeof a))
                fail_msg("K=%lld mr=%d fill %d x %d: token %d row %d: avx512 %.9g vs avx2 %.9g", (long long)K, mr, fill,
                         xfill, m, c, a, b);
            assert_int_equal(pd_unpack_row(&W, c, row), PD_OK);
            const pd_block_q8_K *xm = (const pd_block_q8_K *)((const char *)x + (size_t)m * xs);
            const float s = pd_vec_dot_ref(PD_TYPE_Q4_K, K, row, xm);
            /* tolerance: 1e-6 of the sum of the products' magnitudes (test_rows8's) */
            assert_int_equal(pd_dequantize_row(PD_TYPE_Q4_K, row, wf, K), PD_OK);
            double mag = 0;
            for (int64_t k = 0; k < K; k++) mag += fabs((double)wf[k] * xm[k / PD_QK_K].qs[k % PD_QK_K] * xm[k / PD_QK_K].d);
            if (!(fabs((double)a - s) <= 1e-6 * mag))
                fail_msg("K=%lld mr=%d: token %d row %d: avx512 %.9g vs scalar %.9g", (long long)K, mr, m, c, a, s);
        }
    free(w), free(wp), free(row), free(x), free(wf);
}

static void test_q4k512_tile_random(void **st) {
    (void)st;
    SKIP_WITHOUT_VNNI();
    const int64_t Ks[] = {256, 512, 768, 1024, 2304, 3072, 4096, 4352};
    for (int ki = 0; ki < 8; ki++)
        for (int mr = 1; mr <= 4; mr++) check_tile(Ks[ki], mr, FILL_RANDOM, 0, (uint64_t)(ki * 16 + mr));
}

/* The largest partial sums: nibbles 15 (and 0), scales and mins 63, activations all +127 or -128
 * (a quarter's int16 partial reaches 16 * 15 * 128 = 30720 in magnitude). */
static void test_q4k512_tile_extremes(void **st) {
    (void)st;
    SKIP_WITHOUT_VNNI();
    for (int fill = FILL_RANDOM; fill <= FILL_MIN; fill++)
        for (int xf = -1; xf <= 1; xf++)
            for (int mr = 1; mr <= 4; mr++) check_tile(fill == FILL_RANDOM ? 512 : 4096, mr, fill, xf, (uint64_t)(100 + fill * 10 + xf));
}

/* pd_matmul on a repacked matrix: the AVX-512 level vs the AVX2 level to the bit, vs the scalar
 * level (unpacking fallback) within test_rows8's tolerance; rows past the last group go to the
 * GGUF-layout tile. */
static void check_matmul(int64_t K, int64_t N, int64_t M, int threads) {
    pd_rng r;
    pd_rng_seed(&r, (uint64_t)(K * 7 + N * 131 + M * 3 + threads));
    const size_t rb = pd_row_bytes(PD_TYPE_Q4_K, K);
    char *w = malloc(rb * N), *wp = malloc(rb * N);
    make_q4k(&r, w, K, N, FILL_RANDOM);
    float *x = malloc(sizeof(float) * K * M), *ys = malloc(sizeof(float) * N * M), *y2 = malloc(sizeof(float) * N * M),
          *y5 = malloc(sizeof(float) * N * M);
    fill_normal(&r, x, K * M, 1.0);
    pd_tensor W;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, PD_TYPE_Q4_K, 2, ne, w);
    assert_int_equal(pd_repack_r8(&W, wp), PD_OK);
    pd_threads_set(threads);
    pd_isa_force(PD_ISA_SCALAR);
    assert_int_equal(pd_matmul(&W, x, M, K, ys, N), PD_OK);
    pd_isa_force(PD_ISA_AVX2);
    for (int64_t i = 0; i < N * M; i++) y2[i] = y5[i] = NAN;
    assert_int_equal(pd_matmul(&W, x, M, K, y2, N), PD_OK);
    pd_isa_force(PD_ISA_AVX512);
    assert_int_equal(pd_matmul(&W, x, M, K, y5, N), PD_OK);
    pd_isa_force(pd_isa_best());
    pd_threads_set(0);
    double maxabs = 1e-30;
    for (int64_t i = 0; i < N * M; i++) maxabs = fmax(maxabs, fabs((double)ys[i]));
    for (int64_t i = 0; i < N * M; i++) {
        if (memcmp(&y5[i], &y2[i], sizeof(float)) || isnan(y5[i]))
            fail_msg("K=%lld N=%lld M=%lld thr %d: token %lld row %lld: avx512 %.9g vs avx2 %.9g", (long long)K,
                     (long long)N, (long long)M, threads, (long long)(i / N), (long long)(i % N), y5[i], y2[i]);
        if (!(fabs((double)y5[i] - ys[i]) <= 1e-5 * maxabs))
            fail_msg("K=%lld N=%lld M=%lld: token %lld row %lld: avx512 %.9g vs scalar %.9g", (long long)K, (long long)N,
                     (long long)M, (long long)(i / N), (long long)(i % N), y5[i], ys[i]);
    }
    free(w), free(wp), free(x), free(ys), free(y2), free(y5);
}

static void test_q4k512_matmul(void **st) {
    (void)st;
    SKIP_WITHOUT_VNNI();
    const int64_t Ks[] = {256, 1024, 2304, 4352}, Ns[] = {8, 13, 24, 67}, Ms[] = {1, 2, 3, 4, 5, 7, 9, 13};
    for (int ki = 0; ki < 4; ki++)
        for (int ni = 0; ni < 4; ni++)
            for (int mi = 0; mi < 8; mi++) check_matmul(Ks[ki], Ns[ni], Ms[mi], 1 + (mi & 1));
    check_matmul(1024, 3072, 1, 2);  /* a decode-sized product over the team's row blocks */
    check_matmul(3072, 264, 37, 2);  /* prefill spans of 4-token tiles */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4k512_installed),
        cmocka_unit_test(test_q4k512_tile_random),
        cmocka_unit_test(test_q4k512_tile_extremes),
        cmocka_unit_test(test_q4k512_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
