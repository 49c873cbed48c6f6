/* tests/kern/test_avx512_emu.c — the AVX-512 kernels (simd_avx512.c, both the BW and the VNNI
 * variants) compiled with the scalar intrinsic stand-ins of avx512_emu.h and compared with the
 * scalar twins: dots on several lengths (with masked tails), tiles of every shape. This runs on
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
    const int64_t lens[] = {32, 64, 96, 160, 256, 1056};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int odd = 0; odd < 2; odd++) {
            int64_t n = lens[li] + (odd && pd_type_block_elems(t) == 1 ? 7 : 0);
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

static void test_avx512_emulated(void **st) {
    (void)st;
    pd_kern_table ref;
    pd_kern_table_scalar(&ref);
    const emu_case cases[] = {
        {PD_TYPE_F32, dot_f32, tile_f32},           {PD_TYPE_F16, dot_f16, tile_f16},
        {PD_TYPE_BF16, dot_bf16, tile_bf16},        {PD_TYPE_Q8_0, dot_q8_0_bw, tile_q8_0_bw},
        {PD_TYPE_Q4_0, dot_q4_0_bw, tile_q4_0_bw},  {PD_TYPE_Q8_0, dot_q8_0_vnni, tile_q8_0_vnni},
        {PD_TYPE_Q4_0, dot_q4_0_vnni, tile_q4_0_vnni},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check(&ref, &cases[i]);
    /* the table function wires those kernels in */
    pd_kern_table t = ref;
    pd_kern_table_avx512_emulated(&t);
    assert_true(t.dot[PD_TYPE_F16] == dot_f16 && t.tile[PD_TYPE_F32] == tile_f32);
    assert_true(t.dot[PD_TYPE_Q8_0] == dot_q8_0_bw || t.dot[PD_TYPE_Q8_0] == dot_q8_0_vnni);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_avx512_emulated)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
