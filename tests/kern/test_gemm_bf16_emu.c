/* tests/kern/test_gemm_bf16_emu.c — the AVX512-BF16 micro-kernel (gemm_bf16_avx512.c) compiled with
 * the scalar stand-ins of avx512bf16_emu.h (Intel's VDPBF16PS definition, written separately from
 * gemm_bf16.c's twin), run through the real pair-panel driver, and compared bit for bit with the
 * scalar twin: transposes, odd sizes (pair, MR/NR, MC/NC and KC edges), beta 0 / 1 / 0.5, F32 and
 * BF16 operands, tiny and huge products. Runs on any CPU; test_gemm_bf16 runs the real instruction
 * where the CPU has avx512_bf16. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include "avx512bf16_emu.h"

#define PD_AVX512_EMULATE 1
#define pd_gemm_bf16_micro_avx512bf16 pd_gemm_bf16_micro_emulated
#include "../../src/kern/gemm_bf16_avx512.c"
#include "ponder/gemm_bf16.h"
#include "ponder/rng.h"
#include "ponder/threads.h"

typedef struct { int64_t M, N, K; } shape;

static void test_emulated_pairs(void **state) {
    (void)state;
    pd_rng r;
    pd_rng_seed(&r, 512);
    const shape sh[] = {{1, 1, 1}, {5, 3, 2}, {6, 32, 256}, {7, 33, 3}, {13, 47, 255}, {97, 70, 257},
                        {20, 530, 40}, {101, 35, 600}};
    const float betas[] = {0.0f, 1.0f, 0.5f};
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bi = 0; bi < 3; bi++)
                    for (int use_h = 0; use_h < 2; use_h++) {
                        int64_t M = sh[s].M, N = sh[s].N, K = sh[s].K;
                        int64_t lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 1, ldc = N + 3;
                        size_t na = (size_t)lda * (ta ? K : M), nb = (size_t)ldb * (tb ? N : K), nc = (size_t)ldc * M;
                        float *A = malloc(na * 4), *B = malloc(nb * 4), *C1 = malloc(nc * 4), *C2 = malloc(nc * 4);
                        uint16_t *Ah = malloc(na * 2), *Bh = malloc(nb * 2);
                        for (size_t i = 0; i < na; i++) A[i] = (float)pd_rng_normal(&r);
                        for (size_t i = 0; i < nb; i++) B[i] = (float)pd_rng_normal(&r) * 1e-3f;
                        for (size_t i = 0; i < nc; i++) C1[i] = C2[i] = (float)pd_rng_normal(&r);
                        if (s == 1) { /* a product below FLT_MIN (FTZ) and a huge one */
                            A[0] = 0x1p-100f; B[0] = 0x1p-30f;
                            A[1] = 3e38f; B[1] = 2.0f;
                        }
                        pd_bf16_round_n(A, Ah, (int64_t)na);
                        pd_bf16_round_n(B, Bh, (int64_t)nb);
                        pd_gemm_bf16_ref(ta, tb, M, N, K, A, NULL, lda, B, NULL, ldb, betas[bi], C1, ldc);
                        pd_gemm_bf16_pairs(pd_gemm_bf16_micro_emulated, ta, tb, M, N, K, A, use_h ? Ah : NULL, lda, B,
                                           use_h ? Bh : NULL, ldb, betas[bi], C2, ldc);
                        for (size_t i = 0; i < nc; i++)
                            if (memcmp(&C1[i], &C2[i], 4)) {
                                fprintf(stderr, "emulated vdpbf16ps %lldx%lldx%lld ta%d tb%d beta %g h%d at %zu: %.9g vs twin %.9g\n",
                                        (long long)M, (long long)N, (long long)K, ta, tb, betas[bi], use_h, i, C2[i], C1[i]);
                                fail();
                            }
                        free(A); free(B); free(C1); free(C2); free(Ah); free(Bh);
                    }
}

/* every product below FLT_MIN: the stand-in's FTZ gives exact zeros, as the twin */
static void test_emulated_ftz(void **state) {
    (void)state;
    enum { TM = 7, TN = 33, TK = 41 };
    float A[TM * TK], B[TK * TN], C[TM * TN];
    for (int i = 0; i < TM * TK; i++) A[i] = ldexpf(1.0f + (float)(i % 8), -72);
    for (int i = 0; i < TK * TN; i++) B[i] = ldexpf(1.0f + (float)(i % 5), -62);
    pd_gemm_bf16_pairs(pd_gemm_bf16_micro_emulated, 0, 0, TM, TN, TK, A, NULL, TK, B, NULL, TN, 0, C, TN);
    for (int i = 0; i < TM * TN; i++) {
        uint32_t b;
        memcpy(&b, &C[i], 4);
        assert_int_equal(b, 0);
    }
}

/* the stand-in itself on hand-computed lanes: DAZ on a subnormal BF16 input and on a subnormal
 * accumulator, FTZ on a subnormal result, and the pair order: acc = 1, odd product 2^-24, even product
 * (1 + 2^-7)·2^-24: odd first gives 1 (a tie to even) then 1 + 2^-23; even first would give 1 + 2^-23
 * then 1 + 2^-22 (a tie to even again). */
static void test_standin_lane(void **state) {
    (void)state;
    __m512 acc = _mm512_setzero_ps(), a = _mm512_setzero_ps(), b = _mm512_setzero_ps();
    a.h[0] = 0x0c00; b.h[0] = 0x3000; /* 2^-103 · 2^-31 = 2^-134: subnormal result, flushed */
    a.h[2] = 0x0001; b.h[2] = 0x3f80; /* a subnormal BF16 input: read as 0 */
    a.h[3] = 0x3f80; b.h[3] = 0x4000; /* lane 1, odd: 1·2 */
    acc.f[1] = 0x1p-130f;             /* a subnormal accumulator: read as 0 */
    a.h[5] = 0x3f80; b.h[5] = 0x3380; /* lane 2, odd: 1 · 2^-24 */
    a.h[4] = 0x3f81; b.h[4] = 0x3380; /* lane 2, even: (1 + 2^-7) · 2^-24 */
    acc.f[2] = 1.0f;
    acc = _mm512_dpbf16_ps(acc, a, b);
    assert_true(acc.f[0] == 0.0f);
    assert_true(acc.f[1] == 2.0f);
    assert_true(acc.f[2] == 1.0f + 0x1p-23f);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_emulated_pairs), cmocka_unit_test(test_emulated_ftz),
                                       cmocka_unit_test(test_standin_lane)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
