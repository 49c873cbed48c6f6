/* tests/kern/test_dot.c — vec_dot of every weight type: each SIMD level vs the scalar twin on
 * random rows of several lengths, scalar vs a double-precision dot over dequantised operands, and
 * pd_matmul vs a naive loop over dequantised weights and vec_dot-type-rounded activations. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <pthread.h>
#include "ponder/alloc.h"
#include "ponder/threads.h"
#include "kern_test_util.h"

static const pd_type weight_types[] = {PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_BF16, PD_TYPE_Q8_0,
                                       PD_TYPE_Q4_0, PD_TYPE_Q4_K, PD_TYPE_Q6_K};
#define N_WT ((int)(sizeof weight_types / sizeof weight_types[0]))

/* Fill a weight row and an activation row of n elements in their storage / dot types. */
static void make_pair(pd_rng *r, pd_type t, int64_t n, void *w, void *x, float *wf, float *xf) {
    fill_normal(r, wf, n, 0.05);
    fill_normal(r, xf, n, 1.0);
    assert_int_equal(pd_quantize_row(t, wf, w, n), PD_OK);
    assert_int_equal(pd_quantize_row_act(pd_vec_dot_type(t), xf, x, n), PD_OK);
    /* what the operands hold after rounding */
    assert_int_equal(pd_dequantize_row(t, w, wf, n), PD_OK);
    assert_int_equal(pd_dequantize_row(pd_vec_dot_type(t), x, xf, n), PD_OK);
}

static void check_isa(pd_isa isa) {
    pd_rng r;
    pd_rng_seed(&r, 100 + isa);
    const int64_t lens[] = {256, 512, 768, 1024, 4096};
    for (int ti = 0; ti < N_WT; ti++) {
        pd_type t = weight_types[ti];
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            for (int extra = 0; extra < 2; extra++) {
                /* float types also get lengths that are not a multiple of the SIMD width */
                int64_t n = lens[li] + (pd_type_block_elems(t) == 1 && extra ? 13 : 0);
                if (extra && pd_type_block_elems(t) != 1) n = lens[li] + (pd_type_block_elems(t) == 32 ? 32 : 0);
                void *w = malloc(pd_row_bytes(t, n)), *x = malloc(pd_row_bytes(pd_vec_dot_type(t), n));
                float *wf = malloc(n * 4), *xf = malloc(n * 4);
                make_pair(&r, t, n, w, x, wf, xf);
                double exact = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) {
                    exact += (double)wf[i] * xf[i];
                    mag += fabs((double)wf[i] * xf[i]);
                }
                pd_isa_force(PD_ISA_SCALAR);
                float ref = pd_vec_dot(t, n, w, x);
                assert_true(ref == pd_vec_dot_ref(t, n, w, x));
                /* the scalar reference equals the dot of the dequantised operands to rounding */
                if (fabs(ref - exact) > 1e-5 * mag + 1e-6) {
                    fprintf(stderr, "%s n=%lld: ref %.8g exact %.8g\n", pd_type_name(t), (long long)n, ref, exact);
                    fail();
                }
                pd_isa_force(isa);
                float v = pd_vec_dot(t, n, w, x);
                if (fabs(v - ref) > 2e-6 * mag + 1e-6) {
                    fprintf(stderr, "%s %s n=%lld: %.8g vs scalar %.8g\n", pd_isa_name(isa), pd_type_name(t),
                            (long long)n, v, ref);
                    fail();
                }
                free(w), free(x), free(wf), free(xf);
            }
        }
    }
    pd_isa_force(pd_isa_best());
}

static void test_dot_avx2(void **st) {
    (void)st;
    if (pd_isa_best() < PD_ISA_AVX2) skip();
    check_isa(PD_ISA_AVX2);
}

static void test_dot_avx512(void **st) {
    (void)st;
    if (pd_isa_best() < PD_ISA_AVX512) skip();
    check_isa(PD_ISA_AVX512);
}

static void test_dot_scalar_exact(void **st) {
    (void)st;
    check_isa(PD_ISA_SCALAR);
}

/* Weight blocks of random bytes (every bit pattern the formats allow: int8 -128, 6-bit scales
 * with high bits set, Q6_K scale -128, ...), with the F16 scale fields set to finite values:
 * each SIMD level against the scalar twin. */
static void test_dot_raw_blocks(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 4242);
    const pd_type qt[] = {PD_TYPE_Q8_0, PD_TYPE_Q4_0, PD_TYPE_Q4_K, PD_TYPE_Q6_K};
    for (int ti = 0; ti < 4; ti++) {
        pd_type t = qt[ti];
        int64_t n = 1024;
        size_t wb = pd_row_bytes(t, n), bb = pd_type_block_bytes(t);
        uint8_t *w = malloc(wb);
        void *x = malloc(pd_row_bytes(pd_vec_dot_type(t), n));
        float *xf = malloc(n * 4), *wf = malloc(n * 4);
        for (int rep = 0; rep < 20; rep++) {
            for (size_t i = 0; i < wb; i++) w[i] = (uint8_t)pd_rng_u64(&r);
            for (size_t b = 0; b < wb; b += bb) {
                uint16_t d = pd_f32_to_f16((float)(pd_rng_uniform(&r) * 0.01)), dm = pd_f32_to_f16((float)(pd_rng_uniform(&r) * 0.01));
                if (t == PD_TYPE_Q6_K) memcpy(w + b + 208, &d, 2);
                else memcpy(w + b, &d, 2);
                if (t == PD_TYPE_Q4_K) memcpy(w + b + 2, &dm, 2);
            }
            if (rep == 0 && t == PD_TYPE_Q8_0) memset(w + 2, 0x80, 32); /* a whole block of -128 */
            fill_normal(&r, xf, n, 1.0);
            assert_int_equal(pd_quantize_row_act(pd_vec_dot_type(t), xf, x, n), PD_OK);
            assert_int_equal(pd_dequantize_row(t, w, wf, n), PD_OK);
            assert_int_equal(pd_dequantize_row(pd_vec_dot_type(t), x, xf, n), PD_OK);
            double mag = 0;
            for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[i] * xf[i]);
            float ref = pd_vec_dot_ref(t, n, w, x);
            for (int isa = 1; isa <= (int)pd_isa_best(); isa++) {
                pd_isa_force((pd_isa)isa);
                float v = pd_vec_dot(t, n, w, x);
                if (fabs(v - ref) > 2e-6 * mag + 1e-6) {
                    fprintf(stderr, "raw %s %s: %.8g vs scalar %.8g\n", pd_isa_name((pd_isa)isa), pd_type_name(t), v, ref);
                    fail();
                }
            }
        }
        free(w), free(x), free(xf), free(wf);
    }
    pd_isa_force(pd_isa_best());
}

/* K-quant rows at the format's extremes, each SIMD level (AVX-512 where the CPU has it) against the
 * scalar twin: weight bytes all 0xFF (nibbles 15, 6-bit values 63, 6-bit scales / mins 63, Q6_K
 * scales -1), all 0x80 (Q6_K scales -128), random; Q8_K activations of all -128, all 127 or
 * random int8 (bsums kept consistent), so maddubs pair sums and 32-bit partial sums are largest.
 * Tolerance: float rounding of sums that cancel, 1e-6 of sum |w x| (one wrong weight or scale is
 * ~1e-3 of it). */
static void test_dot_kquant_extremes(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 5150);
    const pd_type kt[] = {PD_TYPE_Q4_K, PD_TYPE_Q6_K};
    const int64_t n = 1024;
    for (int ti = 0; ti < 2; ti++) {
        pd_type t = kt[ti];
        size_t wb = pd_row_bytes(t, n), bb = pd_type_block_bytes(t), xb = pd_row_bytes(PD_TYPE_Q8_K, n);
        uint8_t *w = malloc(wb), *x = malloc(xb);
        float *wf = malloc(n * 4), *xf = malloc(n * 4);
        for (int rep = 0; rep < 9; rep++) {
            int wk = rep % 3, xk = rep / 3;
            for (size_t i = 0; i < wb; i++) w[i] = wk == 0 ? 0xFF : wk == 1 ? 0x80 : (uint8_t)pd_rng_u64(&r);
            for (size_t b = 0; b < wb; b += bb) {
                uint16_t d = pd_f32_to_f16((float)(0.001 + pd_rng_uniform(&r) * 0.01)), dm = pd_f32_to_f16(0.004f);
                if (t == PD_TYPE_Q6_K) memcpy(w + b + 208, &d, 2);
                else memcpy(w + b, &d, 2), memcpy(w + b + 2, &dm, 2);
            }
            /* Q8_K block: float d, int8 qs[256], int16 bsums[16] */
            for (size_t b = 0; b < xb; b += 292) {
                float d = (float)(0.5 + pd_rng_uniform(&r));
                int8_t q[256];
                int16_t bs[16];
                for (int l = 0; l < 256; l++) q[l] = xk == 0 ? (int8_t)-128 : xk == 1 ? (int8_t)127 : (int8_t)pd_rng_u64(&r);
                for (int k = 0; k < 16; k++) {
                    int sum = 0;
                    for (int l = 0; l < 16; l++) sum += q[16 * k + l];
                    bs[k] = (int16_t)sum;
                }
                memcpy(x + b, &d, 4), memcpy(x + b + 4, q, 256), memcpy(x + b + 260, bs, 32);
            }
            assert_int_equal(pd_dequantize_row(t, w, wf, n), PD_OK);
            assert_int_equal(pd_dequantize_row(PD_TYPE_Q8_K, x, xf, n), PD_OK);
            double mag = 0;
            for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[i] * xf[i]);
            float ref = pd_vec_dot_ref(t, n, w, x);
            for (int isa = 1; isa <= (int)pd_isa_best(); isa++) {
                pd_isa_force((pd_isa)isa);
                float v = pd_vec_dot(t, n, w, x);
                if (fabs(v - ref) > 1e-6 * mag + 1e-5 * (1 + fabs(ref))) {
                    fprintf(stderr, "extreme %s %s rep %d: %.8g vs scalar %.8g (sum |wx| %.6g)\n",
                            pd_isa_name((pd_isa)isa), pd_type_name(t), rep, v, ref, mag);
                    fail();
                }
            }
        }
        free(w), free(x), free(wf), free(xf);
    }
    pd_isa_force(pd_isa_best());
}

/* Naive truth: dequantised weight rows · activations rounded to the vec_dot type, in double. */
static void check_matmul(pd_isa isa, pd_type t, int64_t K, int64_t N, int64_t M, int threads) {
    pd_rng r;
    pd_rng_seed(&r, (uint64_t)(K * 31 + N * 7 + M + t));
    size_t rb = pd_row_bytes(t, K);
    char *w = malloc(rb * N);
    float *wf = malloc(K * N * 4), *x = malloc(K * M * 2 * 4), *xq = malloc(K * 4);
    int64_t ldx = K + 5, ldy = N + 3;
    float *y = malloc(M * ldy * 4), *yr = malloc(M * N * 4);
    void *xa = malloc(pd_row_bytes(pd_vec_dot_type(t), K));
    fill_normal(&r, wf, K * N, 0.05);
    for (int64_t n = 0; n < N; n++) {
        assert_int_equal(pd_quantize_row(t, wf + n * K, w + n * rb, K), PD_OK);
        assert_int_equal(pd_dequantize_row(t, w + n * rb, wf + n * K, K), PD_OK);
    }
    fill_normal(&r, x, ldx * M, 1.0);
    double maxmag = 0;
    for (int64_t m = 0; m < M; m++) {
        assert_int_equal(pd_quantize_row_act(pd_vec_dot_type(t), x + m * ldx, xa, K), PD_OK);
        assert_int_equal(pd_dequantize_row(pd_vec_dot_type(t), xa, xq, K), PD_OK);
        for (int64_t n = 0; n < N; n++) {
            double s = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                s += (double)wf[n * K + k] * xq[k];
                mag += fabs((double)wf[n * K + k] * xq[k]);
            }
            yr[m * N + n] = (float)s;
            if (mag > maxmag) maxmag = mag;
        }
    }
    pd_tensor W;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, t, 2, ne, w);
    pd_isa_force(isa);
    pd_threads_set(threads);
    for (int64_t i = 0; i < M * ldy; i++) y[i] = NAN;
    assert_int_equal(pd_matmul(&W, x, M, ldx, y, ldy), PD_OK);
    for (int64_t m = 0; m < M; m++) {
        char what[96];
        snprintf(what, sizeof what, "matmul %s %s K=%lld N=%lld M=%lld row %lld", pd_isa_name(isa), pd_type_name(t),
                 (long long)K, (long long)N, (long long)M, (long long)m);
        if (!close_all(y + m * ldy, yr + m * N, N, 3e-6 * maxmag + 1e-6, 0, what)) fail();
        for (int64_t n = N; n < ldy; n++) assert_true(isnan(y[m * ldy + n])); /* padding untouched */
    }
    pd_isa_force(pd_isa_best());
    pd_threads_set(0);
    free(w), free(wf), free(x), free(xq), free(y), free(yr), free(xa);
}

static void test_matmul_all(void **st) {
    (void)st;
    for (int isa = 0; isa <= (int)pd_isa_best(); isa++)
        for (int ti = 0; ti < N_WT; ti++) {
            pd_type t = weight_types[ti];
            int64_t K = pd_type_block_elems(t) == 256 ? 512 : 96;
            check_matmul((pd_isa)isa, t, K, 37, 1, 2);
            check_matmul((pd_isa)isa, t, K, 37, 7, 2);
            check_matmul((pd_isa)isa, t, K, 64, 13, 1);
        }
}

static void test_matmul_big(void **st) {
    (void)st;
    /* large enough to take the multi-threaded, blocked path with full tiles */
    check_matmul(pd_isa_best(), PD_TYPE_Q8_0, 1024, 300, 9, 2);
    check_matmul(pd_isa_best(), PD_TYPE_F16, 520, 301, 8, 2);
    check_matmul(pd_isa_best(), PD_TYPE_Q4_K, 1024, 130, 5, 2);
}

static void test_matmul_errors(void **st) {
    (void)st;
    float x[64] = {0}, y[64];
    char w[34 * 2] = {0};
    pd_tensor W;
    int64_t ne[2] = {64, 1};
    pd_tensor_init(&W, PD_TYPE_Q8_0, 2, ne, w);
    W.name = "blk.0.attn_q.weight";
    assert_int_equal(pd_matmul(&W, x, 1, 64, y, 1), PD_OK);
    assert_int_equal(pd_matmul(&W, x, 1, 63, y, 1), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "blk.0.attn_q.weight"));
    W.ne[0] = 40; /* not a multiple of 32 */
    assert_int_equal(pd_matmul(&W, x, 1, 64, y, 1), PD_ERR_ARG);
    W.ne[0] = 64;
    W.type = PD_TYPE_Q8_K;
    assert_int_equal(pd_matmul(&W, x, 1, 64, y, 1), PD_ERR_UNSUPPORTED);
    W.type = PD_TYPE_Q8_1; /* activation-only */
    assert_int_equal(pd_matmul(&W, x, 1, 64, y, 1), PD_ERR_UNSUPPORTED);
    W.type = (pd_type)4; /* unused id */
    assert_int_equal(pd_matmul(&W, x, 1, 64, y, 1), PD_ERR_UNSUPPORTED);
    assert_int_equal(pd_matmul(NULL, x, 1, 64, y, 1), PD_ERR_ARG);
}

/* A thread that runs a matmul and exits leaves nothing behind (the leak checker of the
 * sanitizer build would report the activation scratch otherwise), and gets the same result. */
static void *matmul_thread(void *arg) {
    const pd_tensor *W = arg;
    static float x[256], y[8];
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 9) - 4.0f;
    return pd_matmul(W, x, 1, 256, y, 8) == PD_OK ? y : NULL;
}

static void test_matmul_thread_exit(void **st) {
    (void)st;
    static uint8_t w[8 * 272];
    float row[256], x[256], y[8];
    for (int n = 0; n < 8; n++) {
        for (int i = 0; i < 256; i++) row[i] = (float)((i * 7 + n) % 13) - 6.0f;
        assert_int_equal(pd_quantize_row(PD_TYPE_Q8_0, row, w + n * 272, 256), PD_OK);
    }
    pd_tensor W;
    int64_t ne[2] = {256, 8};
    pd_tensor_init(&W, PD_TYPE_Q8_0, 2, ne, w);
    pthread_t th;
    void *res = NULL;
    assert_int_equal(pthread_create(&th, NULL, matmul_thread, &W), 0);
    assert_int_equal(pthread_join(th, &res), 0);
    assert_non_null(res);
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 9) - 4.0f;
    assert_int_equal(pd_matmul(&W, x, 1, 256, y, 8), PD_OK);
    assert_memory_equal(y, res, sizeof y);
}

static void test_bench_entry(void **st) {
    (void)st;
    double gf = 0, gb = 0;
    assert_int_equal(pd_kern_bench_matmul(PD_TYPE_Q4_0, 256, 64, 2, 1, &gf, &gb), PD_OK);
    assert_true(gf > 0 && gb > 0);
    assert_int_equal(pd_kern_bench_matmul(PD_TYPE_Q4_K, 100, 64, 2, 1, &gf, &gb), PD_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_scalar_exact), cmocka_unit_test(test_dot_raw_blocks), cmocka_unit_test(test_dot_avx2),    cmocka_unit_test(test_dot_avx512),
        cmocka_unit_test(test_dot_kquant_extremes),
        cmocka_unit_test(test_matmul_all),       cmocka_unit_test(test_matmul_big),  cmocka_unit_test(test_matmul_errors),
        cmocka_unit_test(test_bench_entry),      cmocka_unit_test(test_matmul_thread_exit),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pd_matmul_scratch_free();
    return rc;
}
