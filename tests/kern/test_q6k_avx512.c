/* tests/kern/test_q6k_avx512.c — Q6_K in the 8-row repacked layout (kern/repack.c) and its AVX-512
 * VNNI tile (kern/simd_avx512_q6k.c). The tile promises the scalar twin's bits (pd_dot_q6_K_ref:
 * the same int32 sum per super-block, then y += (d * dx) * sum in the same order). Checked: the
 * layout round trip (pd_unpack_row / pd_tensor_row_f32 give every row's GGUF bytes / values back,
 * leftover rows included); the tile called directly on raw blocks and raw Q8_K activations (random
 * bytes: every 6-bit value, scales over the whole int8 range; the extremes q = -32 and 31 with
 * scales -128 and 127 against activations all -128 or all +127, where a lane's 4-product partial
 * is largest) against the scalar dot of each unpacked row, bit for bit; pd_matmul at the AVX-512
 * level on repacked matrices (K = 256..4608, N with N mod 8 and N mod 16 != 0, 1..19 tokens, 1 and
 * 2 threads) against the scalar level (whole groups: bit for bit) and the AVX-512 level on the
 * GGUF layout (rows past the last group: the same GGUF-layout tile, bit for bit); and that the
 * AVX-512 level's table holds the tile. The tile tests skip (with a message) without AVX-512 VNNI. */
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
        fprintf(stderr, "test_q6k_avx512: this CPU has no AVX-512 VNNI; nothing to test here\n"); \
        skip();                                                                                   \
    }

enum { FILL_RANDOM, FILL_MAX, FILL_MIN };

/* n_rows rows of K Q6_K weights: raw random bytes (FILL_MAX: ql, qh all ones, q = 31, scales 127;
 * FILL_MIN: q = -32, scales -128), d F16 of either sign, |d| in [0.002, 0.05] */
static void make_q6k(pd_rng *r, char *w, int64_t K, int64_t n_rows, int fill) {
    int64_t nb = K / PD_QK_K * n_rows;
    for (int64_t b = 0; b < nb; b++) {
        pd_block_q6_K *blk = (pd_block_q6_K *)(w + (size_t)b * sizeof(pd_block_q6_K));
        for (size_t i = 0; i < offsetof(pd_block_q6_K, d); i++)
            ((uint8_t *)blk)[i] = (uint8_t)(fill == FILL_MAX ? 0xFF : fill == FILL_MIN ? 0 : pd_rng_u64(r) >> 24);
        if (fill != FILL_RANDOM) memset(blk->scales, fill == FILL_MAX ? 0x7F : 0x80, sizeof blk->scales);
        double v = 0.002 + 0.048 * pd_rng_uniform(r);
        uint16_t d = pd_f32_to_f16((float)(pd_rng_u64(r) & 1 ? -v : v));
        memcpy(&blk->d, &d, 2);
    }
}

/* M rows of K raw Q8_K activations: int8 values in -128..127 (xfill 0: random; ±1: all +127 /
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
    pd_tile_fn f = pd_kern_active()->tile_r8[PD_TYPE_Q6_K];
    pd_isa_force(pd_isa_best());
    return f;
}

/* The AVX-512 level has a Q6_K repacked tile; the lower levels have none (they unpack). */
static void test_q6k512_installed(void **st) {
    (void)st;
    assert_null(tile_r8_at(PD_ISA_SCALAR));
    assert_null(tile_r8_at(PD_ISA_AVX2));
    SKIP_WITHOUT_VNNI();
    assert_non_null(tile_r8_at(PD_ISA_AVX512));
}

/* Repack and back, whatever the ISA: every row's GGUF bytes and dequantised values, leftover rows
 * included; the repacked bytes are a permutation (the same count, the 8 rows' d after their words). */
static void test_q6k_layout_roundtrip(void **st) {
    (void)st;
    const int64_t Ks[] = {256, 768, 4096}, Ns[] = {8, 13, 35};
    for (int ki = 0; ki < 3; ki++)
        for (int ni = 0; ni < 3; ni++) {
            const int64_t K = Ks[ki], N = Ns[ni];
            pd_rng r;
            pd_rng_seed(&r, (uint64_t)(K + N));
            const size_t rb = pd_row_bytes(PD_TYPE_Q6_K, K);
            char *w = malloc(rb * N), *wp = malloc(rb * N), *row = malloc(rb);
            float *f1 = malloc(sizeof(float) * K), *f2 = malloc(sizeof(float) * K);
            make_q6k(&r, w, K, N, FILL_RANDOM);
            pd_tensor W;
            int64_t ne[2] = {K, N};
            pd_tensor_init(&W, PD_TYPE_Q6_K, 2, ne, w);
            assert_int_equal(pd_repack_r8(&W, wp), PD_OK);
            assert_int_equal(W.layout, PD_LAYOUT_R8);
            /* block 0 of a group: row 3's d is at 1664 + 6, its ql word 1 at 4 * (8 + 3) */
            assert_memory_equal(wp + 1664 + 6, w + 3 * rb + offsetof(pd_block_q6_K, d), 2);
            assert_memory_equal(wp + 4 * (8 + 3), w + 3 * rb + 4, 4);
            for (int64_t n = 0; n < N; n++) {
                assert_int_equal(pd_unpack_row(&W, n, row), PD_OK);
                assert_memory_equal(row, w + (size_t)n * rb, rb);
                assert_int_equal(pd_tensor_row_f32(&W, n, f1), PD_OK);
                assert_int_equal(pd_dequantize_row(PD_TYPE_Q6_K, w + (size_t)n * rb, f2, K), PD_OK);
                assert_memory_equal(f1, f2, sizeof(float) * K);
            }
            free(w), free(wp), free(row), free(f1), free(f2);
        }
}

/* One 8-row group of K weights against mr raw activation rows, called as pd_matmul calls it: the
 * AVX-512 tile vs the scalar dot of each unpacked row, bit for bit; columns past 8 not written. */
static void check_tile(int64_t K, int mr, int fill, int xfill, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    const size_t rb = pd_row_bytes(PD_TYPE_Q6_K, K), xs = pd_row_bytes(PD_TYPE_Q8_K, K);
    char *w = malloc(8 * rb), *wp = malloc(8 * rb), *row = malloc(rb);
    pd_block_q8_K *x = malloc(xs * (size_t)mr);
    make_q6k(&r, w, K, 8, fill);
    make_q8k(&r, x, K, mr, xfill);
    pd_tensor W;
    int64_t ne[2] = {K, 8};
    pd_tensor_init(&W, PD_TYPE_Q6_K, 2, ne, w);
    assert_int_equal(pd_repack_r8(&W, wp), PD_OK);
    enum { LDY = 11 }; /* outputs ldy apart, 8 used */
    float y[4 * LDY];
    for (int i = 0; i < 4 * LDY; i++) y[i] = -7.0f;
    tile_r8_at(PD_ISA_AVX512)(K, wp, rb, 8, x, xs, mr, y, LDY);
    for (int m = 0; m < mr; m++)
        for (int c = 0; c < LDY; c++) {
            float a = y[m * LDY + c];
            if (c >= 8) {
                if (a != -7.0f) fail_msg("K=%lld mr=%d: token %d column %d written (%g)", (long long)K, mr, m, c, a);
                continue;
            }
            assert_int_equal(pd_unpack_row(&W, c, row), PD_OK);
            const float s = pd_vec_dot_ref(PD_TYPE_Q6_K, K, row, (const char *)x + (size_t)m * xs);
            if (memcmp(&a, &s, sizeof a))
                fail_msg("K=%lld mr=%d fill %d x %d: token %d row %d: avx512 %.9g vs scalar %.9g", (long long)K, mr,
                         fill, xfill, m, c, a, s);
        }
    free(w), free(wp), free(row), free(x);
}

static void test_q6k512_tile_random(void **st) {
    (void)st;
    SKIP_WITHOUT_VNNI();
    const int64_t Ks[] = {256, 512, 768, 1024, 2304, 3072, 4096, 4608};
    for (int ki = 0; ki < 8; ki++)
        for (int mr = 1; mr <= 4; mr++) check_tile(Ks[ki], mr, FILL_RANDOM, 0, (uint64_t)(ki * 16 + mr));
}

/* q = 31 or -32 everywhere with scales 127 or -128, activations all +127 or -128: a lane's partial
 * of 4 products reaches 63 * 128 * 4 = 32256 in magnitude (the int16 bound of the pack) */
static void test_q6k512_tile_extremes(void **st) {
    (void)st;
    SKIP_WITHOUT_VNNI();
    for (int fill = FILL_RANDOM; fill <= FILL_MIN; fill++)
        for (int xf = -1; xf <= 1; xf++)
            for (int mr = 1; mr <= 4; mr++) check_tile(fill == FILL_RANDOM ? 512 : 4096, mr, fill, xf, (uint64_t)(100 + fill * 10 + xf));
}

/* pd_matmul on a repacked matrix at the AVX-512 level: whole groups vs the scalar level (which
 * unpacks them) bit for bit; the rows past the last group vs the AVX-512 level on the GGUF layout
 * (the same GGUF-layout tile) bit for bit. */
static void check_matmul(int64_t K, int64_t N, int64_t M, int threads) {
    pd_rng r;
    pd_rng_seed(&r, (uint64_t)(K * 7 + N * 131 + M * 3 + threads));
    const size_t rb = pd_row_bytes(PD_TYPE_Q6_K, K);
    char *w = malloc(rb * N), *wp = malloc(rb * N);
    make_q6k(&r, w, K, N, FILL_RANDOM);
    float *x = malloc(sizeof(float) * K * M), *ys = malloc(sizeof(float) * N * M), *yg = malloc(sizeof(float) * N * M),
          *y5 = malloc(sizeof(float) * N * M);
    fill_normal(&r, x, K * M, 1.0);
    pd_tensor W, G;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, PD_TYPE_Q6_K, 2, ne, w);
    pd_tensor_init(&G, PD_TYPE_Q6_K, 2, ne, w);
    assert_int_equal(pd_repack_r8(&W, wp), PD_OK);
    pd_threads_set(threads);
    for (int64_t i = 0; i < N * M; i++) ys[i] = yg[i] = y5[i] = NAN;
    pd_isa_force(PD_ISA_SCALAR);
    assert_int_equal(pd_matmul(&W, x, M, K, ys, N), PD_OK);
    pd_isa_force(PD_ISA_AVX512);
    assert_int_equal(pd_matmul(&G, x, M, K, yg, N), PD_OK);
    assert_int_equal(pd_matmul(&W, x, M, K, y5, N), PD_OK);
    pd_isa_force(pd_isa_best());
    pd_threads_set(0);
    const int64_t N8 = N / 8 * 8;
    for (int64_t i = 0; i < N * M; i++) {
        const float want = i % N < N8 ? ys[i] : yg[i];
        if (memcmp(&y5[i], &want, sizeof(float)) || isnan(y5[i]))
            fail_msg("K=%lld N=%lld M=%lld thr %d: token %lld row %lld: avx512 r8 %.9g vs %s %.9g", (long long)K,
                     (long long)N, (long long)M, threads, (long long)(i / N), (long long)(i % N), y5[i],
                     i % N < N8 ? "scalar" : "avx512 gguf", want);
    }
    free(w), free(wp), free(x), free(ys), free(yg), free(y5);
}

static void test_q6k512_matmul(void **st) {
    (void)st;
    SKIP_WITHOUT_VNNI();
    const int64_t Ks[] = {256, 1024, 2304, 4608}, Ns[] = {8, 13, 24, 67}, Ms[] = {1, 2, 3, 4, 5, 7, 9, 13, 19};
    for (int ki = 0; ki < 4; ki++)
        for (int ni = 0; ni < 4; ni++)
            for (int mi = 0; mi < 9; mi++) check_matmul(Ks[ki], Ns[ni], Ms[mi], 1 + (mi & 1));
    check_matmul(1024, 3072, 1, 2); /* a decode-sized product over the team's row blocks */
    check_matmul(3072, 1037, 3, 2);
    check_matmul(3072, 264, 37, 2); /* prefill spans of 4-token tiles */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q6k512_installed),
        cmocka_unit_test(test_q6k_layout_roundtrip),
        cmocka_unit_test(test_q6k512_tile_random),
        cmocka_unit_test(test_q6k512_tile_extremes),
        cmocka_unit_test(test_q6k512_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
