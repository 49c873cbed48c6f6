/* tests/kern/test_avx512_emu.c — the AVX-512 kernels (simd_avx512.c, both the BW and the VNNI
 * variants) compiled with the scalar intrinsic stand-ins of avx512_emu.h and compared with the
 * scalar twins: dots on several lengths (with masked tails), tiles of every shape, and for the
 * K-quants raw blocks with every bit pattern and the extreme weights / scales / activations. This runs on
 * any CPU; test_dot checks the real instructions where the CPU has AVX-512. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "avx512_emu.h"

#define PD_AVX512_EMULATE 1
#define pd_kern_table_avx512 pd_kern_table_avx512_emulated
#include "../../src/kern/simd_avx512.c"
#include "kern_test_util.h"

typedef struct { pd_type t; pd_dot_fn dot; pd_tile_fn tile; } emu_case;

static void check(const pd_kern_table *ref, const emu_case *c) {
    pd_rng r;
    pd_rng_seed(&r, 77 + c->t);
    pd_type t = c->t;
    const int64_t lens[] = {32, 64, 96, 160, 256, 1056}, klens[] = {256, 512, 768, 1280};
    int kq = pd_type_block_elems(t) == PD_QK_K;
    size_t nlens = kq ? sizeof klens / sizeof klens[0] : sizeof lens / sizeof lens[0];
    for (size_t li = 0; li < nlens; li++)
        for (int odd = 0; odd < 2; odd++) {
            int64_t n = kq ? klens[li] : lens[li] + (odd && pd_type_block_elems(t) == 1 ? 7 : 0);
            enum { NR = 5, MR = 5 };
            size_t wb = pd_row_bytes(t, n), xb = pd_row_bytes(pd_vec_dot_type(t), n), mb = pd_row_bytes(pd_mm_act_type(t), n);
            char *w = malloc(wb * NR), *x = malloc(xb * MR), *xm = malloc(mb * MR);
            float *f = malloc(n * sizeof(float));
            for (int i = 0; i < NR; i++) {
                fill_normal(&r, f, n, 1.0);
                f[i] = -9.0f; /* large negatives exercise |w| = 128 in q8_0 */
                assert_int_equal(pd_quantize_row(t, f, w + i * wb, n), PD_OK);
            }
            if (t == PD_TYPE_Q8_0) memset(w + 2, 0x80, 32); /* int8 -128: |w| = 128 as unsigned */
            for (int i = 0; i < MR; i++) {
                fill_normal(&r, f, n, 1.0);
                assert_int_equal(pd_quantize_row_act(pd_vec_dot_type(t), f, x + i * xb, n), PD_OK);
                pd_mm_act_row(t, f, xm + i * mb, n);
            }
            for (int i = 0; i < NR; i++)
                for (int m = 0; m < MR; m++) {
                    float a = ref->dot[t](n, w + i * wb, x + m * xb), b = c->dot(n, w + i * wb, x + m * xb);
                    if (fabsf(a - b) > 1e-5f * (1 + fabsf(a))) {
                        fprintf(stderr, "dot %s n=%lld: scalar %.8g avx512 %.8g\n", pd_type_name(t), (long long)n, a, b);
                        fail();
                    }
                }
            for (int nr = 1; nr <= NR; nr++)
                for (int mr = 1; mr <= MR; mr++) {
                    float ys[MR * 8], ye[MR * 8];
                    ref->tile[t](n, w, wb, nr, xm, mb, mr, ys, 8);
                    for (int i = 0; i < MR * 8; i++) ye[i] = -999.0f;
                    c->tile(n, w, wb, nr, xm, mb, mr, ye, 8);
                    for (int m = 0; m < MR; m++)
                        for (int q = 0; q < 8; q++) {
                            if (m >= mr || q >= nr) {
                                assert_true(ye[m * 8 + q] == -999.0f); /* nothing written outside the tile */
                                continue;
                            }
                            float a = ys[m * 8 + q], b = ye[m * 8 + q];
                            if (fabsf(a - b) > 1e-5f * (1 + fabsf(a))) {
                                fprintf(stderr, "tile %s n=%lld %dx%d at (%d,%d): scalar %.8g avx512 %.8g\n",
                                        pd_type_name(t), (long long)n, nr, mr, m, q, a, b);
                                fail();
                            }
                        }
                }
            free(w), free(x), free(xm), free(f);
        }
}

/* Q8_K activation block from raw int8 values (bsums kept consistent, as the kernels rely on them). */
static void q8k_block(pd_block_q8_K *b, float d, const int8_t *q) {
    b->d = d;
    memcpy(b->qs, q, PD_QK_K);
    for (int k = 0; k < PD_QK_K / 16; k++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += q[16 * k + l];
        b->bsums[k] = (int16_t)s;
    }
}

/* K-quant kernels on raw blocks: random bytes (every 6-bit scale / min pattern, Q6_K scales down to
 * -128), then the extremes: all weights and scales at their maximum / minimum against activations
 * of all -128 or all 127 (the largest maddubs pair sums and 32-bit partial sums the formats allow). */
static void check_kraw(const pd_kern_table *ref, const emu_case *c) {
    pd_rng r;
    pd_rng_seed(&r, 991 + c->t);
    pd_type t = c->t;
    enum { NB = 3, MR = 5 };
    const int64_t n = NB * PD_QK_K;
    size_t wb = pd_row_bytes(t, n), bb = pd_type_block_bytes(t);
    uint8_t *w = malloc(wb);
    pd_block_q8_K *x = malloc(sizeof(pd_block_q8_K) * NB * MR);
    float *wf = malloc(n * sizeof(float)), *xf = malloc(n * sizeof(float));
    int8_t q[PD_QK_K];
    for (int rep = 0; rep < 12; rep++) {
        for (size_t i = 0; i < wb; i++) w[i] = (uint8_t)pd_rng_u64(&r);
        if (rep == 1) memset(w, 0xFF, wb);                  /* nibbles 15, 6-bit values 63, scales -1 / 63 */
        if (rep == 2) memset(w, 0x00, wb);
        if (rep == 3 && t == PD_TYPE_Q6_K) memset(w, 0x80, wb); /* scales -128 */
        for (size_t b = 0; b < wb; b += bb) {
            uint16_t d = pd_f32_to_f16((float)(0.001 + pd_rng_uniform(&r) * 0.01));
            uint16_t dm = pd_f32_to_f16((float)(pd_rng_uniform(&r) * 0.01));
            if (t == PD_TYPE_Q6_K) memcpy(w + b + 208, &d, 2);
            else memcpy(w + b, &d, 2), memcpy(w + b + 2, &dm, 2);
        }
        for (int m = 0; m < NB * MR; m++) {
            for (int l = 0; l < PD_QK_K; l++) {
                int kind = (rep + m) % 4;
                q[l] = kind == 0 ? (int8_t)-128 : kind == 1 ? (int8_t)127 : (int8_t)pd_rng_u64(&r);
            }
            q8k_block(&x[m], (float)(0.5 + pd_rng_uniform(&r)), q);
        }
        size_t xs = sizeof(pd_block_q8_K) * NB;
        /* float rounding bound: these sums cancel heavily (|result| << sum |w x|), so the kernels,
         * which convert per-lane partial sums, differ from the scalar twin by ~1e-7 of sum |w x| */
        double tol[MR];
        assert_int_equal(pd_dequantize_row(t, w, wf, n), PD_OK);
        for (int m = 0; m < MR; m++) {
            assert_int_equal(pd_dequantize_row(PD_TYPE_Q8_K, (const char *)x + m * xs, xf, n), PD_OK);
            double mag = 0;
            for (int64_t k = 0; k < n; k++) mag += fabs((double)wf[k] * xf[k]);
            tol[m] = 1e-6 * mag;
        }
        for (int m = 0; m < MR; m++) {
            const void *xm = (const char *)x + m * xs;
            float a = ref->dot[t](n, w, xm), b = c->dot(n, w, xm);
            if (fabsf(a - b) > 1e-5f * (1 + fabsf(a)) + tol[m]) {
                fprintf(stderr, "raw dot %s rep %d tok %d: scalar %.8g avx512 %.8g\n", pd_type_name(t), rep, m, a, b);
                fail();
            }
        }
        float ys[MR], ye[MR];
        ref->tile[t](n, w, wb, 1, x, xs, MR, ys, 1);
        c->tile(n, w, wb, 1, x, xs, MR, ye, 1);
        for (int m = 0; m < MR; m++)
            if (fabsf(ys[m] - ye[m]) > 1e-5f * (1 + fabsf(ys[m])) + tol[m]) {
                fprintf(stderr, "raw tile %s rep %d tok %d: scalar %.8g avx512 %.8g\n", pd_type_name(t), rep, m, ys[m], ye[m]);
                fail();
            }
    }
    free(w), free(x), free(wf), free(xf);
}

static void test_avx512_emulated(void **st) {
    (void)st;
    pd_kern_table ref;
    pd_kern_table_scalar(&ref);
    const emu_case cases[] = {
        {PD_TYPE_F32, dot_f32, tile_f32},           {PD_TYPE_F16, dot_f16, tile_f16},
        {PD_TYPE_BF16, dot_bf16, tile_bf16},        {PD_TYPE_Q8_0, dot_q8_0_bw, tile_q8_0_bw},
        {PD_TYPE_Q4_0, dot_q4_0_bw, tile_q4_0_bw},  {PD_TYPE_Q8_0, dot_q8_0_vnni, tile_q8_0_vnni},
        {PD_TYPE_Q4_0, dot_q4_0_vnni, tile_q4_0_vnni},
        {PD_TYPE_Q4_K, dot_q4_K_bw, tile_q4_K_bw},  {PD_TYPE_Q6_K, dot_q6_K_bw, tile_q6_K_bw},
        {PD_TYPE_Q4_K, dot_q4_K_vnni, tile_q4_K_vnni}, {PD_TYPE_Q6_K, dot_q6_K_vnni, tile_q6_K_vnni},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        check(&ref, &cases[i]);
        if (pd_type_block_elems(cases[i].t) == PD_QK_K) check_kraw(&ref, &cases[i]);
    }
    /* the table function wires those kernels in */
    pd_kern_table t = ref;
    pd_kern_table_avx512_emulated(&t);
    assert_true(t.dot[PD_TYPE_F16] == dot_f16 && t.tile[PD_TYPE_F32] == tile_f32);
    assert_true(t.dot[PD_TYPE_Q8_0] == dot_q8_0_bw || t.dot[PD_TYPE_Q8_0] == dot_q8_0_vnni);
    assert_true(t.dot[PD_TYPE_Q4_K] == dot_q4_K_bw || t.dot[PD_TYPE_Q4_K] == dot_q4_K_vnni);
    assert_true(t.dot[PD_TYPE_Q6_K] == dot_q6_K_bw || t.dot[PD_TYPE_Q6_K] == dot_q6_K_vnni);
    assert_true(t.tile[PD_TYPE_Q4_K] == tile_q4_K_bw || t.tile[PD_TYPE_Q4_K] == tile_q4_K_vnni);
    assert_true(t.tile[PD_TYPE_Q6_K] == tile_q6_K_bw || t.tile[PD_TYPE_Q6_K] == tile_q6_K_vnni);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_avx512_emulated)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
