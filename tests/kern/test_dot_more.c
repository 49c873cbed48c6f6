/* tests/kern/test_dot_more.c — the types added beside the main ones (Q4_1, Q5_0, Q5_1, IQ4_NL,
 * Q2_K, Q3_K, Q5_K, IQ4_XS and the Q8_1 activations): every SIMD dot against its scalar twin and
 * the scalar twin against a double-precision dot of the dequantised operands, on quantised random
 * rows and on raw random blocks (every bit pattern, extreme bytes); pd_matmul against a naive loop
 * at every ISA; the AVX2 Q8_1 activation converter bit-identical to the scalar one; and
 * quantise → dequantise error bounds (per element from the format for the 32-weight types, RMS
 * for all), with all-zero rows staying zero. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "ponder/alloc.h"
#include "kern_test_util.h"
#include "../../src/kern/kern_impl.h"

static const pd_type new_types[] = {PD_TYPE_Q4_1, PD_TYPE_Q5_0, PD_TYPE_Q5_1, PD_TYPE_IQ4_NL,
                                    PD_TYPE_Q2_K, PD_TYPE_Q3_K, PD_TYPE_Q5_K, PD_TYPE_IQ4_XS};
#define N_NEW ((int)(sizeof new_types / sizeof new_types[0]))

/* Byte offsets of the F16 scale fields of one block (-1 ends): raw random blocks get sane values
 * there (a random F16 may be inf / NaN). */
static void f16_fields(pd_type t, int off[3]) {
    off[0] = off[1] = off[2] = -1;
    switch (t) {
    case PD_TYPE_Q4_1: case PD_TYPE_Q5_1: case PD_TYPE_Q5_K: off[0] = 0; off[1] = 2; break;
    case PD_TYPE_Q2_K: off[0] = 80; off[1] = 82; break;
    case PD_TYPE_Q3_K: off[0] = 108; break;
    default: off[0] = 0; break; /* Q5_0, IQ4_NL, IQ4_XS */
    }
}

/* scalar ref vs a double dot of the dequantised operands; every SIMD level vs the scalar ref */
static void compare_levels(pd_type t, int64_t n, const void *w, const void *x, const char *what) {
    float *wf = malloc(n * 4), *xf = malloc(n * 4);
    assert_int_equal(pd_dequantize_row(t, w, wf, n), PD_OK);
    assert_int_equal(pd_dequantize_row(pd_vec_dot_type(t), x, xf, n), PD_OK);
    double exact = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        exact += (double)wf[i] * xf[i];
        mag += fabs((double)wf[i] * xf[i]);
    }
    /* Q4_1 / Q5_1 add m * s with s = d_x * sum(q_x) rounded to F16: up to 2^-11 of |m| sum|x| */
    double slack = 0;
    if (t == PD_TYPE_Q4_1 || t == PD_TYPE_Q5_1) {
        const pd_block_q8_1 *xb = x;
        const uint8_t *wb = w;
        size_t bb = pd_type_block_bytes(t);
        for (int64_t i = 0; i < n / 32; i++) {
            uint16_t m;
            memcpy(&m, wb + (size_t)i * bb + 2, 2);
            slack += fabs(pd_f16_to_f32(m) * pd_f16_to_f32(xb[i].s)) * 0x1p-10;
        }
    }
    float ref = pd_vec_dot_ref(t, n, w, x);
    if (fabs(ref - exact) > 1e-5 * mag + slack + 1e-6) {
        fprintf(stderr, "%s %s n=%lld: scalar %.8g, dequantised dot %.8g\n", what, pd_type_name(t), (long long)n, ref, exact);
        fail();
    }
    for (int isa = 1; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        float v = pd_vec_dot(t, n, w, x);
        if (fabs(v - ref) > 2e-6 * mag + 1e-6) {
            fprintf(stderr, "%s %s %s n=%lld: %.8g vs scalar %.8g\n", what, pd_isa_name((pd_isa)isa), pd_type_name(t),
                    (long long)n, v, ref);
            fail();
        }
    }
    pd_isa_force(pd_isa_best());
    free(wf);
    free(xf);
}

static void test_dots_random_rows(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 1601);
    const int64_t lens[] = {256, 512, 1280, 4096};
    for (int ti = 0; ti < N_NEW; ti++) {
        pd_type t = new_types[ti];
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
            for (int extra = 0; extra < 2; extra++) {
                int64_t n = lens[li] + (extra && pd_type_block_elems(t) == 32 ? 96 : 0);
                void *w = malloc(pd_row_bytes(t, n)), *x = malloc(pd_row_bytes(pd_vec_dot_type(t), n));
                float *wf = malloc(n * 4), *xf = malloc(n * 4);
                fill_normal(&r, wf, n, 0.05);
                fill_normal(&r, xf, n, 1.0);
                if (extra) wf[3] = 0.9f; /* one outlier per row */
                assert_int_equal(pd_quantize_row(t, wf, w, n), PD_OK);
                assert_int_equal(pd_quantize_row_act(pd_vec_dot_type(t), xf, x, n), PD_OK);
                compare_levels(t, n, w, x, "random");
                free(w), free(x), free(wf), free(xf);
            }
    }
}

static void test_dots_raw_blocks(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 1602);
    const int64_t n = 1024;
    for (int ti = 0; ti < N_NEW; ti++) {
        pd_type t = new_types[ti];
        size_t wb = pd_row_bytes(t, n), bb = pd_type_block_bytes(t);
        uint8_t *w = malloc(wb);
        void *x = malloc(pd_row_bytes(pd_vec_dot_type(t), n));
        float *xf = malloc(n * 4);
        int off[3];
        f16_fields(t, off);
        for (int rep = 0; rep < 24; rep++) {
            int fill = rep % 3; /* random bytes, all 0xFF, all 0x00 */
            for (size_t i = 0; i < wb; i++) w[i] = fill == 0 ? (uint8_t)pd_rng_u64(&r) : fill == 1 ? 0xFF : 0x00;
            for (size_t b = 0; b < wb; b += bb)
                for (int k = 0; k < 3 && off[k] >= 0; k++) {
                    uint16_t d = pd_f32_to_f16((float)((pd_rng_uniform(&r) - (k ? 0.5 : 0.0)) * 0.01));
                    memcpy(w + b + off[k], &d, 2);
                }
            /* activations: random, all at +max, all at -max (int8 127 / -127 everywhere) */
            int xa = (rep / 3) % 3;
            for (int64_t i = 0; i < n; i++) xf[i] = xa == 0 ? (float)pd_rng_normal(&r) : xa == 1 ? 1.0f : -1.0f;
            assert_int_equal(pd_quantize_row_act(pd_vec_dot_type(t), xf, x, n), PD_OK);
            compare_levels(t, n, w, x, "raw");
        }
        free(w), free(x), free(xf);
    }
}

/* pd_matmul (tiles, threads, activation conversion) vs a naive loop over dequantised weights and
 * activations rounded to the vec_dot type, at every ISA. */
static void test_matmul_new_types(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 1603);
    const int64_t K = 512, N = 37;
    for (int ti = 0; ti < N_NEW; ti++) {
        pd_type t = new_types[ti];
        size_t rb = pd_row_bytes(t, K);
        uint8_t *w = malloc(rb * N);
        float *row = malloc(K * 4), *wd = malloc(K * N * 4);
        for (int64_t j = 0; j < N; j++) {
            fill_normal(&r, row, K, 0.05);
            assert_int_equal(pd_quantize_row(t, row, w + j * rb, K), PD_OK);
            assert_int_equal(pd_dequantize_row(t, w + j * rb, wd + j * K, K), PD_OK);
        }
        pd_tensor W;
        int64_t ne[2] = {K, N};
        pd_tensor_init(&W, t, 2, ne, w);
        const int Ms[] = {1, 3, 6}; /* tiles take 2..4 tokens (K-quant rows 4), leftovers go through dots */
        for (int mi = 0; mi < 3; mi++) {
            int64_t M = Ms[mi];
            float *X = malloc(M * K * 4), *Y = malloc(M * N * 4), *xr = malloc(K * 4);
            void *xq = malloc(pd_row_bytes(pd_vec_dot_type(t), K));
            fill_normal(&r, X, M * K, 1.0);
            for (int isa = 0; isa <= (int)pd_isa_best(); isa++) {
                pd_isa_force((pd_isa)isa);
                assert_int_equal(pd_matmul(&W, X, M, K, Y, N), PD_OK);
                for (int64_t m = 0; m < M; m++) {
                    assert_int_equal(pd_quantize_row_act(pd_vec_dot_type(t), X + m * K, xq, K), PD_OK);
                    assert_int_equal(pd_dequantize_row(pd_vec_dot_type(t), xq, xr, K), PD_OK);
                    for (int64_t j = 0; j < N; j++) {
                        double s = 0, mag = 0;
                        for (int64_t k = 0; k < K; k++) {
                            s += (double)wd[j * K + k] * xr[k];
                            mag += fabs((double)wd[j * K + k] * xr[k]);
                        }
                        /* Q4_1/Q5_1: s of Q8_1 is F16-rounded (2^-11), and |m| <= max|w| */
                        double tol = 2e-3 * mag + 1e-5;
                        if (fabs(Y[m * N + j] - s) > tol) {
                            fprintf(stderr, "matmul %s %s m=%lld row %lld: %.8g vs %.8g\n", pd_isa_name((pd_isa)isa),
                                    pd_type_name(t), (long long)m, (long long)j, Y[m * N + j], s);
                            fail();
                        }
                    }
                }
            }
            pd_isa_force(pd_isa_best());
            free(X), free(Y), free(xr), free(xq);
        }
        free(w), free(row), free(wd);
    }
    pd_matmul_scratch_free();
}

/* The Q8_1 activation converter: AVX2 bit-identical to scalar; s = F16(d * sum q) with d = amax/127. */
static void test_q8_1_act(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 1604);
    const int64_t n = 32 * 40;
    float *x = malloc(n * 4);
    fill_normal(&r, x, n, 2.0);
    for (int i = 0; i < 32; i++) x[32 + i] = 0;           /* an all-zero block */
    for (int i = 0; i < 32; i++) x[64 + i] = (i % 2) - 0.5f; /* ties: x*127/amax = +-127 exactly */
    x[100] = 0.5f * 3.0f / 127.0f;                        /* near a half step */
    pd_block_q8_1 *a = malloc(pd_row_bytes(PD_TYPE_Q8_1, n)), *b = malloc(pd_row_bytes(PD_TYPE_Q8_1, n));
    pd_isa_force(PD_ISA_SCALAR);
    assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_1, x, a, n), PD_OK);
    pd_isa_force(pd_isa_best());
    assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_1, x, b, n), PD_OK);
    assert_memory_equal(a, b, pd_row_bytes(PD_TYPE_Q8_1, n));
    for (int64_t i = 0; i < n / 32; i++) {
        float amax = 0;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            amax = fmaxf(amax, fabsf(x[32 * i + j]));
            sum += a[i].qs[j];
        }
        assert_int_equal(a[i].d, pd_f32_to_f16(amax / 127.f));
        assert_int_equal(a[i].s, pd_f32_to_f16(amax / 127.f * (float)sum));
    }
    assert_int_equal(a[1].d, 0);
    assert_int_equal(a[1].s, 0);
    free(x), free(a), free(b);
}

/* quantise → dequantise: per-element bounds from the 32-weight formats' definitions, RMS bounds
 * for all (measured values for N(0,1) rows are about half of each bound), zero rows stay zero. */
static void test_roundtrip_bounds(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 1605);
    const int64_t n = 256 * 64;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    void *q = malloc(pd_row_bytes(PD_TYPE_F32, n));
    /* RMS error / RMS of x on N(0,1) data */
    const struct { pd_type t; double rms; } cases[] = {
        {PD_TYPE_Q4_1, 0.12}, {PD_TYPE_Q5_0, 0.065}, {PD_TYPE_Q5_1, 0.06}, {PD_TYPE_IQ4_NL, 0.12},
        {PD_TYPE_Q2_K, 0.45}, {PD_TYPE_Q3_K, 0.25},  {PD_TYPE_Q5_K, 0.06}, {PD_TYPE_IQ4_XS, 0.12},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pd_type t = cases[c].t;
        fill_normal(&r, x, n, 1.0);
        assert_int_equal(pd_quantize_row(t, x, q, n), PD_OK);
        assert_int_equal(pd_dequantize_row(t, q, y, n), PD_OK);
        double e2 = 0, x2 = 0;
        for (int64_t i = 0; i < n; i++) {
            e2 += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
            x2 += (double)x[i] * x[i];
        }
        double rel = sqrt(e2 / x2);
        printf("  %-7s rms error / rms %.4f (bound %.3f)\n", pd_type_name(t), rel, cases[c].rms);
        assert_true(rel < cases[c].rms);
        /* 32-weight legacy types: |x - y| <= half a step (+ the F16 rounding of d and m) */
        if (t == PD_TYPE_Q4_1 || t == PD_TYPE_Q5_1 || t == PD_TYPE_Q5_0) {
            for (int64_t b = 0; b < n / 32; b++) {
                float lo = INFINITY, hi = -INFINITY, amax = 0;
                for (int j = 0; j < 32; j++) {
                    lo = fminf(lo, x[32 * b + j]);
                    hi = fmaxf(hi, x[32 * b + j]);
                    amax = fmaxf(amax, fabsf(x[32 * b + j]));
                }
                double step = t == PD_TYPE_Q4_1 ? (hi - lo) / 15 : t == PD_TYPE_Q5_1 ? (hi - lo) / 31 : amax / 16;
                /* F16 d, m: relative 2^-11 of d times up to 31 levels, and of m */
                double bound = 0.5 * step * 1.001 + step * 31 * 0x1p-11 + fabs(lo) * 0x1p-11 + 1e-7;
                for (int j = 0; j < 32; j++)
                    /* Q5_0 has 16 levels on max's side and 15 on the other: clipping there */
                    if (fabs((double)y[32 * b + j] - x[32 * b + j]) >
                        bound + (t == PD_TYPE_Q5_0 ? fmax(0, fabs(x[32 * b + j]) - 15.5 * step) : 0)) {
                        fprintf(stderr, "%s block %lld elem %d: %g -> %g (bound %g)\n", pd_type_name(t), (long long)b, j,
                                x[32 * b + j], y[32 * b + j], bound);
                        fail();
                    }
            }
        }
        /* all-zero rows */
        memset(x, 0, n * 4);
        assert_int_equal(pd_quantize_row(t, x, q, n), PD_OK);
        assert_int_equal(pd_dequantize_row(t, q, y, n), PD_OK);
        for (int64_t i = 0; i < n; i++) assert_true(y[i] == 0.0f);
    }
    free(x), free(y), free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dots_random_rows), cmocka_unit_test(test_dots_raw_blocks),
        cmocka_unit_test(test_matmul_new_types), cmocka_unit_test(test_q8_1_act),
        cmocka_unit_test(test_roundtrip_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
