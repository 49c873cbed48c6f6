/* tests/kern/test_mm_f32.c — the F32 matmul in lane order (kern/mm_f32.c): at every SIMD level
 * pd_matmul equals pd_dot_f32_lanes (its scalar twin) to the bit, on odd sizes (K not a multiple of
 * 8, row counts not a multiple of the 8-output tile, 1-7 and 64 tokens, 1 and 2 threads); a token's
 * outputs are the same bits whatever the number of tokens in the call and wherever the token sits
 * in it (batch-size invariance, also at the scalar level); and both are within rounding of a
 * double-precision dot (so the twin is not the only truth). Also the AVX2 swiglu (kern/ops_avx2.c)
 * against its twin pd_silu_poly (bit-exact) and against silu in double (relative 1e-6), and rmsnorm:
 * the AVX2 level bit-identical to the scalar level (same summation order), both near the formula. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "ponder/threads.h"
#include "ponder/tensor.h"
#include "kern_test_util.h"

static const int64_t Ks[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 127, 128, 129, 384, 1003};
static const int64_t Ns[] = {1, 3, 4, 5, 7, 8, 9, 13, 33};
static const int64_t Ms[] = {1, 2, 3, 4, 5, 7, 64, 200};

static int levels(pd_isa out[3]) {
    int n = 0;
    for (int l = PD_ISA_SCALAR; l <= (int)pd_isa_best(); l++) out[n++] = (pd_isa)l;
    return n;
}

typedef struct {
    int64_t K, N, M;
    float *w, *x, *y;
    pd_tensor W;
} mm_case;

static void case_new(mm_case *c, int64_t K, int64_t N, int64_t M, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    c->K = K; c->N = N; c->M = M;
    c->w = malloc(sizeof(float) * (size_t)(K * N));
    c->x = malloc(sizeof(float) * (size_t)(K * M));
    c->y = malloc(sizeof(float) * (size_t)(N * M));
    assert_non_null(c->w);
    assert_non_null(c->x);
    assert_non_null(c->y);
    fill_normal(&r, c->w, K * N, 0.1);
    fill_normal(&r, c->x, K * M, 1.0);
    int64_t ne[2] = {K, N};
    pd_tensor_init(&c->W, PD_TYPE_F32, 2, ne, c->w);
}

static void case_free(mm_case *c) {
    free(c->w);
    free(c->x);
    free(c->y);
}

/* every SIMD level equals the scalar twin to the bit; every level is within rounding of a double dot */
static void test_lanes_twin(void **state) {
    (void)state;
    pd_isa lv[3];
    int nl = levels(lv);
    for (size_t ik = 0; ik < sizeof Ks / sizeof *Ks; ik++)
        for (size_t in = 0; in < sizeof Ns / sizeof *Ns; in++)
            for (size_t im = 0; im < sizeof Ms / sizeof *Ms; im++) {
                mm_case c;
                case_new(&c, Ks[ik], Ns[in], Ms[im], 100 + ik * 31 + in * 7 + im);
                for (int l = 0; l < nl; l++)
                    for (int th = 1; th <= 2; th++) {
                        pd_isa_force(lv[l]);
                        pd_threads_set(th);
                        memset(c.y, 0xff, sizeof(float) * (size_t)(c.N * c.M));
                        assert_int_equal(pd_matmul(&c.W, c.x, c.M, c.K, c.y, c.N), PD_OK);
                        for (int64_t m = 0; m < c.M; m++)
                            for (int64_t n = 0; n < c.N; n++) {
                                const float *wr = c.w + n * c.K, *xr = c.x + m * c.K;
                                float got = c.y[m * c.N + n];
                                double d = 0, mag = 0;
                                for (int64_t k = 0; k < c.K; k++) {
                                    d += (double)wr[k] * xr[k];
                                    mag += fabs((double)wr[k] * xr[k]);
                                }
                                if (!(fabs(got - d) <= 1e-6 * mag + 1e-30)) {
                                    fprintf(stderr, "%s K %lld N %lld M %lld: y[%lld][%lld] %.9g vs double %.9g\n",
                                            pd_isa_name(lv[l]), (long long)c.K, (long long)c.N, (long long)c.M,
                                            (long long)m, (long long)n, got, d);
                                    fail();
                                }
                                if (lv[l] == PD_ISA_SCALAR) continue;
                                float twin = pd_dot_f32_lanes(c.K, wr, xr);
                                if (memcmp(&got, &twin, sizeof got) != 0) {
                                    fprintf(stderr, "%s K %lld N %lld M %lld threads %d: y[%lld][%lld] %.9g vs twin %.9g\n",
                                            pd_isa_name(lv[l]), (long long)c.K, (long long)c.N, (long long)c.M, th,
                                            (long long)m, (long long)n, got, twin);
                                    fail();
                                }
                            }
                    }
                case_free(&c);
            }
    pd_isa_force(pd_isa_best());
    pd_threads_set(1);
}

/* a token's outputs do not depend on the batch: each token alone, and the batch cut at every
 * offset (so the token lands in every tile position and in 1-token remainders), give the same bits */
static void test_batch_invariance(void **state) {
    (void)state;
    pd_isa lv[3];
    int nl = levels(lv);
    static const int64_t shapes[][2] = {{128, 64}, {128, 128}, {384, 128}, {128, 262}, {100, 13}, {17, 9}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        mm_case c;
        case_new(&c, shapes[s][0], shapes[s][1], 11, 7 + s);
        float *one = malloc(sizeof(float) * (size_t)c.N), *part = malloc(sizeof(float) * (size_t)(c.N * c.M));
        assert_non_null(one);
        assert_non_null(part);
        for (int l = 0; l < nl; l++) {
            pd_isa_force(lv[l]);
            pd_threads_set(1);
            assert_int_equal(pd_matmul(&c.W, c.x, c.M, c.K, c.y, c.N), PD_OK);
            for (int64_t m = 0; m < c.M; m++) {
                assert_int_equal(pd_matmul(&c.W, c.x + m * c.K, 1, c.K, one, c.N), PD_OK);
                if (memcmp(one, c.y + m * c.N, sizeof(float) * (size_t)c.N) != 0) {
                    fprintf(stderr, "%s K %lld N %lld: token %lld alone differs from the 11-token batch\n",
                            pd_isa_name(lv[l]), (long long)c.K, (long long)c.N, (long long)m);
                    fail();
                }
            }
            for (int64_t off = 1; off < c.M; off++) {
                pd_threads_set(off % 2 ? 2 : 1);
                assert_int_equal(pd_matmul(&c.W, c.x + off * c.K, c.M - off, c.K, part, c.N), PD_OK);
                assert_int_equal(memcmp(part, c.y + off * c.N, sizeof(float) * (size_t)(c.N * (c.M - off))), 0);
            }
        }
        free(one);
        free(part);
        case_free(&c);
    }
    pd_isa_force(pd_isa_best());
    pd_threads_set(1);
}

/* One F16 / BF16 case at the current level: pd_matmul equals the twin (pd_dot_f32_lanes on the
 * exactly converted weights and the activations rounded to the weight type through pd_quantize_row /
 * pd_dequantize_row, an independent path) to the bit, on 1 and 2 threads; and every token's outputs
 * are the same bits in 1-, 2- and 3-token calls (the decode tiles, F32 activations) as in the batch.
 * wide: one activation in five moved to an end of the F16 range (F16 subnormals below 6.1e-5, values
 * near the largest F16 65504, exact zeros). */
static void half_case(pd_type t, int64_t K, int64_t N, int64_t M, uint64_t seed, int wide) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    size_t rb = pd_row_bytes(t, K);
    char *w = malloc(rb * (size_t)N), *xq = malloc(rb);
    float *wf = malloc(sizeof(float) * (size_t)(K * N)), *x = malloc(sizeof(float) * (size_t)(K * M));
    float *xr = malloc(sizeof(float) * (size_t)K), *y = malloc(sizeof(float) * (size_t)(N * M));
    float *one = malloc(sizeof(float) * (size_t)(N * 3));
    assert_true(w && xq && wf && x && xr && y && one);
    fill_normal(&r, wf, K * N, 0.1);
    fill_normal(&r, x, K * M, 1.0);
    for (int64_t i = 0; wide && i < K * M; i++) {
        uint64_t u = pd_rng_below(&r, 20);
        if (u >= 4) continue;
        x[i] = u == 0 ? x[i] * 3e-6f : u == 1 ? x[i] * 2e4f : u == 2 ? 0.0f : x[i] * 1e-7f;
        x[i] = x[i] > 65000.f ? 65000.f : x[i] < -65000.f ? -65000.f : x[i];
    }
    for (int64_t n = 0; n < N; n++) {
        assert_int_equal(pd_quantize_row(t, wf + n * K, w + (size_t)n * rb, K), PD_OK);
        assert_int_equal(pd_dequantize_row(t, w + (size_t)n * rb, wf + n * K, K), PD_OK);
    }
    pd_tensor W;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, t, 2, ne, w);
    for (int th = 1; th <= 2; th++) {
        pd_threads_set(th);
        memset(y, 0xff, sizeof(float) * (size_t)(N * M));
        assert_int_equal(pd_matmul(&W, x, M, K, y, N), PD_OK);
        for (int64_t m = 0; m < M; m++) {
            assert_int_equal(pd_quantize_row(t, x + m * K, xq, K), PD_OK);
            assert_int_equal(pd_dequantize_row(t, xq, xr, K), PD_OK);
            for (int64_t n = 0; n < N; n++) {
                float twin = pd_dot_f32_lanes(K, wf + n * K, xr), got = y[m * N + n];
                if (memcmp(&got, &twin, sizeof got) != 0) {
                    fprintf(stderr, "%s K %lld N %lld M %lld threads %d: y[%lld][%lld] %.9g vs twin %.9g\n",
                            pd_type_name(t), (long long)K, (long long)N, (long long)M, th, (long long)m, (long long)n,
                            got, twin);
                    fail();
                }
            }
        }
        for (int64_t m = 0; m < M; m++) {
            int64_t c = 1 + m % 3;
            if (m + c > M) c = M - m;
            assert_int_equal(pd_matmul(&W, x + m * K, c, K, one, N), PD_OK);
            if (memcmp(one, y + m * N, sizeof(float) * (size_t)(N * c)) != 0) {
                fprintf(stderr, "%s K %lld N %lld M %lld threads %d: tokens %lld..%lld alone differ from the batch\n",
                        pd_type_name(t), (long long)K, (long long)N, (long long)M, th, (long long)m,
                        (long long)(m + c - 1));
                fail();
            }
        }
    }
    free(w), free(xq), free(wf), free(x), free(xr), free(y), free(one);
}

/* F16 / BF16 weights at the AVX2 level (mm_f32.c), half_case on shapes that take the decode tiles
 * (1-3 tokens) and the prefill blocks (rows not a multiple of the 16-row block or the 4-row tile,
 * K mod 8 tails, token counts not a multiple of the 3-token tile). The F32 twin test above covers
 * the same blocking for F32 (shapes up to K 1003, M 200). */
static void test_half_lanes(void **state) {
    (void)state;
    if (pd_isa_best() < PD_ISA_AVX2) skip();
    static const pd_type types[] = {PD_TYPE_F16, PD_TYPE_BF16};
    static const int64_t shapes[][3] = {{1, 3, 5},    {7, 5, 4},     {9, 17, 7},   {100, 33, 64},
                                        {257, 20, 5}, {1003, 37, 200}, {384, 16, 97}, {520, 301, 8},
                                        {64, 9, 1},   {129, 19, 2},  {256, 21, 3}};
    pd_isa_force(PD_ISA_AVX2);
    for (size_t ti = 0; ti < 2; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            half_case(types[ti], shapes[si][0], shapes[si][1], shapes[si][2], 900 + si * 3 + ti, 0);
    pd_isa_force(pd_isa_best());
    pd_threads_set(1);
}

/* F16 prefill (M > 3 at the AVX2 level) reads an F16 copy of the activations, which pd_matmul has
 * rounded to F16: the same bits as the twin and as the F32-activation path of the 1-3 token calls,
 * with activations over the whole F16 range, odd K (the K mod 8 tails read the copy too), token
 * counts not a multiple of the 3-token tile, rows not a multiple of 4 or 16. */
static void test_f16_act_copy(void **state) {
    (void)state;
    if (pd_isa_best() < PD_ISA_AVX2) skip();
    static const int64_t shapes[][3] = {{1, 5, 4},    {7, 3, 5},     {9, 17, 7},   {15, 4, 8},   {17, 21, 10},
                                        {33, 6, 11},  {255, 19, 13}, {1003, 9, 65}, {3079, 5, 6}, {2048, 40, 97}};
    pd_isa_force(PD_ISA_AVX2);
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        half_case(PD_TYPE_F16, shapes[si][0], shapes[si][1], shapes[si][2], 4400 + si, 1);
    pd_isa_force(pd_isa_best());
    pd_threads_set(1);
}

/* The AVX-512 level (mm_f32_avx512.c: two tokens per zmm, 6 tokens x 8 outputs per tile) gives the
 * AVX2 level's bits: half_case (the twin, on 1 and 2 threads, and 1-3 token calls against the batch)
 * for F16 (activations over the whole F16 range) and BF16, on token counts that leave a pair half
 * empty or a 6-token group short (4, 5, 7, 11, 13, 97), rows not a multiple of the 8-output tile or
 * the row block, K mod 8 tails; F32 goes through test_lanes_twin and test_batch_invariance at
 * every level. Skipped where the CPU has no AVX-512. */
static void test_lanes_avx512(void **state) {
    (void)state;
    if (pd_isa_best() < PD_ISA_AVX512) {
        fprintf(stderr, "test_lanes_avx512: skipped, this CPU has no AVX-512F/BW/VL\n");
        skip();
    }
    static const int64_t shapes[][3] = {{1, 3, 5},     {7, 5, 4},     {9, 17, 7},     {15, 4, 8},   {17, 21, 10},
                                        {33, 6, 11},   {100, 33, 64}, {255, 19, 13},  {257, 20, 5}, {384, 16, 97},
                                        {520, 301, 8}, {1003, 37, 200}, {1003, 9, 65}, {3079, 5, 6}, {2048, 40, 97},
                                        {64, 9, 1},    {129, 19, 2},  {256, 21, 3},   {16, 70, 12}};
    pd_isa_force(PD_ISA_AVX512);
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        half_case(PD_TYPE_F16, shapes[si][0], shapes[si][1], shapes[si][2], 7100 + si, (int)(si % 2));
        half_case(PD_TYPE_BF16, shapes[si][0], shapes[si][1], shapes[si][2], 7300 + si, 0);
    }
    /* and directly: the two levels' outputs compared, F32 / F16 / BF16, 1..13 tokens, 2 threads */
    static const pd_type types[] = {PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_BF16};
    const int64_t K = 1003, N = 37, M = 13;
    pd_rng r;
    pd_rng_seed(&r, 77);
    float *wf = malloc(sizeof(float) * (size_t)(K * N)), *x = malloc(sizeof(float) * (size_t)(K * M));
    float *y2 = malloc(sizeof(float) * (size_t)(N * M)), *y5 = malloc(sizeof(float) * (size_t)(N * M));
    char *w = malloc(sizeof(float) * (size_t)(K * N));
    assert_true(wf && x && y2 && y5 && w);
    fill_normal(&r, wf, K * N, 0.1);
    fill_normal(&r, x, K * M, 1.0);
    pd_threads_set(2);
    for (size_t ti = 0; ti < 3; ti++) {
        size_t rb = pd_row_bytes(types[ti], K);
        for (int64_t n = 0; n < N; n++) assert_int_equal(pd_quantize_row(types[ti], wf + n * K, w + (size_t)n * rb, K), PD_OK);
        pd_tensor W;
        int64_t ne[2] = {K, N};
        pd_tensor_init(&W, types[ti], 2, ne, w);
        for (int64_t m = 1; m <= M; m++) {
            pd_isa_force(PD_ISA_AVX2);
            assert_int_equal(pd_matmul(&W, x, m, K, y2, N), PD_OK);
            pd_isa_force(PD_ISA_AVX512);
            assert_int_equal(pd_matmul(&W, x, m, K, y5, N), PD_OK);
            if (memcmp(y2, y5, sizeof(float) * (size_t)(N * m)) != 0) {
                fprintf(stderr, "%s %lld tokens: AVX-512 and AVX2 levels differ\n", pd_type_name(types[ti]), (long long)m);
                fail();
            }
        }
    }
    free(wf), free(x), free(y2), free(y5), free(w);
    pd_isa_force(pd_isa_best());
    pd_threads_set(1);
}

/* pd_matmul on both layouts of the same matrix (repack_case) */
typedef struct {
    const pd_tensor *W, *P;
    const float *x;
    int64_t M;
    float *yw, *yp;
} r8_job;

static pd_status r8_both(void *ctx) {
    r8_job *j = ctx;
    int64_t K = j->W->ne[0], N = j->W->ne[1];
    PD_TRY(pd_matmul(j->W, j->x, j->M, K, j->yw, N));
    return pd_matmul(j->P, j->x, j->M, K, j->yp, N);
}

/* One F32 / F16 / BF16 matrix and its PD_LAYOUT_R8 copy (repack.c: 8-row groups interleaved by
 * 8-element chunks, the K mod 8 tails after each group, the N mod 8 rows left as they are): every
 * level's pd_matmul gives the same bits on both (the SIMD levels' own products read the groups; the
 * scalar level unpacks them), for 1-3 tokens (decode), 4-13 and 64 (prefill tiles), 1 and 2 threads,
 * inside a 2-thread team too (the decode step's row blocks); every row unpacks to its bytes and
 * reads back as floats (get_rows of a tied embedding) as the plain row does. */
static void repack_case(pd_type t, int64_t K, int64_t N, uint64_t seed) {
    static const int64_t Mr[] = {1, 2, 3, 4, 5, 7, 13, 64};
    const int64_t M = 64;
    pd_rng r;
    pd_rng_seed(&r, seed);
    size_t rb = pd_row_bytes(t, K);
    char *w = malloc(rb * (size_t)N), *wp = malloc(rb * (size_t)N), *row = malloc(rb);
    float *wf = malloc(sizeof(float) * (size_t)(K * N)), *x = malloc(sizeof(float) * (size_t)(K * M));
    float *yw = malloc(sizeof(float) * (size_t)(N * M)), *yp = malloc(sizeof(float) * (size_t)(N * M));
    float *f1 = malloc(sizeof(float) * (size_t)K), *f2 = malloc(sizeof(float) * (size_t)K);
    assert_true(w && wp && row && wf && x && yw && yp && f1 && f2);
    fill_normal(&r, wf, K * N, 0.1);
    fill_normal(&r, x, K * M, 1.0);
    for (int64_t n = 0; n < N; n++) assert_int_equal(pd_quantize_row(t, wf + n * K, w + (size_t)n * rb, K), PD_OK);
    pd_tensor W, P;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, t, 2, ne, w);
    pd_tensor_init(&P, t, 2, ne, w);
    assert_int_equal(pd_repack_r8(&P, wp), PD_OK);
    assert_int_equal(P.layout, PD_LAYOUT_R8);
    if (N % 8 == 0 && K % 8 == 0 && K >= 16) assert_true(memcmp(w, wp, rb * (size_t)N) != 0);
    for (int64_t n = 0; n < N; n++) {
        assert_int_equal(pd_unpack_row(&P, n, row), PD_OK);
        assert_memory_equal(row, w + (size_t)n * rb, rb);
        assert_int_equal(pd_tensor_row_f32(&P, n, f1), PD_OK);
        assert_int_equal(pd_tensor_row_f32(&W, n, f2), PD_OK);
        assert_memory_equal(f1, f2, sizeof(float) * (size_t)K);
    }
    pd_isa lv[3];
    int nl = levels(lv);
    for (int l = 0; l < nl; l++)
        for (int th = 1; th <= 2; th++)
            for (int team = 0; team <= (th > 1); team++)
                for (size_t mi = 0; mi < sizeof Mr / sizeof *Mr; mi++) {
                    pd_isa_force(lv[l]);
                    pd_threads_set(th);
                    r8_job j = {.W = &W, .P = &P, .x = x, .M = Mr[mi], .yw = yw, .yp = yp};
                    memset(yw, 0xff, sizeof(float) * (size_t)(N * M));
                    memset(yp, 0xfe, sizeof(float) * (size_t)(N * M));
                    assert_int_equal(team ? pd_team_run(th, r8_both, &j) : r8_both(&j), PD_OK);
                    if (memcmp(yw, yp, sizeof(float) * (size_t)(N * Mr[mi])) != 0) {
                        for (int64_t i = 0; i < N * Mr[mi]; i++)
                            if (memcmp(yw + i, yp + i, sizeof(float)) != 0) {
                                fprintf(stderr, "%s %s K %lld N %lld M %lld threads %d team %d: y[%lld][%lld] %.9g (r8) vs %.9g (rows)\n",
                                        pd_isa_name(lv[l]), pd_type_name(t), (long long)K, (long long)N,
                                        (long long)Mr[mi], th, team, (long long)(i / N), (long long)(i % N), yp[i], yw[i]);
                                break;
                            }
                        fail();
                    }
                }
    pd_isa_force(pd_isa_best());
    pd_threads_set(1);
    free(w), free(wp), free(row), free(wf), free(x), free(yw), free(yp), free(f1), free(f2);
}

/* repack_case on shapes with K mod 8 tails (K 1..1003, also K < 8: tails only), N mod 8 rows left
 * over, groups that straddle the 16-row decode blocks and the 32-row prefill blocks, and the
 * pd_repack_supported rule: floats where the level has its own product (SIMD levels), 8 rows or more. */
static void test_repack_float(void **state) {
    (void)state;
    static const pd_type types[] = {PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_BF16};
    static const int64_t shapes[][2] = {{8, 8},   {1, 9},    {7, 17},  {9, 16},   {16, 8},    {17, 23},  {33, 40},
                                        {100, 37}, {129, 19}, {256, 33}, {257, 72}, {520, 301}, {1003, 29}};
    for (size_t ti = 0; ti < 3; ti++) {
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            repack_case(types[ti], shapes[si][0], shapes[si][1], 8100 + 17 * si + ti);
        char buf[4 * 16 * 8] = {0};
        pd_tensor W;
        int64_t ne[2] = {16, 8}, ne7[2] = {16, 7};
        pd_tensor_init(&W, types[ti], 2, ne, buf);
        pd_isa lv[3];
        int nl = levels(lv);
        for (int l = 0; l < nl; l++) {
            pd_isa_force(lv[l]);
            assert_true(pd_repack_supported(&W) == (lv[l] >= PD_ISA_AVX2));
        }
        pd_tensor_init(&W, types[ti], 2, ne7, buf);
        assert_false(pd_repack_supported(&W));
        pd_isa_force(pd_isa_best());
    }
}

/* the twin itself, on a hand-made case where the order shows: K 10, products 1e8, 1, -1e8, 1, … */
static void test_lanes_order_by_hand(void **state) {
    (void)state;
    float w[10], x[10];
    for (int k = 0; k < 10; k++) x[k] = 1.0f;
    const float p[10] = {1e8f, 1, -1e8f, 1, 0.5f, 0.25f, 3, 5, 3, 2};
    memcpy(w, p, sizeof w);
    /* n8 = 8: lanes are the single products l_j = p[j]; tree ((1e8+1)+(-1e8+1))+((0.5+0.25)+(3+5)):
     * 1e8+1 = 1e8 in float, -1e8+1 = -1e8, sum 0; + 8.75 = 8.75; tail + 3 + 2 = 13.75 */
    assert_true(pd_dot_f32_lanes(10, w, x) == 13.75f);
    /* a sequential float sum would give ((1e8+1)-1e8+1+…) = 0+1+… = 14.75: the order is observable */
    float seq = 0;
    for (int k = 0; k < 10; k++) seq += w[k] * x[k];
    assert_true(seq != 13.75f);
}

/* swiglu: every level against its per-element definition; the SIMD level against pd_silu_poly to
 * the bit, on a sweep of -100..100, the edges (±0, tiny, ±87/88, +inf) and lengths not a multiple of 8 */
static void test_swiglu_twin(void **state) {
    (void)state;
    enum { N = 4003 };
    static float g[N], u[N], o[N];
    pd_rng r;
    pd_rng_seed(&r, 99);
    const float edge[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 87.0f, -87.0f, 88.5f, -88.5f, 100.0f, -100.0f,
                          INFINITY, 1e-3f, 1.0f, -1.0f, 0.5f, -0.5f};
    int ne = (int)(sizeof edge / sizeof *edge);
    for (int i = 0; i < N; i++) {
        g[i] = i < ne ? edge[i] : i % 2 ? (float)(-100.0 + 200.0 * pd_rng_uniform(&r)) : (float)pd_rng_normal(&r) * 3.0f;
        u[i] = (float)pd_rng_normal(&r);
    }
    pd_isa lv[3];
    int nl = levels(lv);
    for (int l = 0; l < nl; l++) {
        pd_isa_force(lv[l]);
        for (int64_t n = 1; n <= N; n += n < 40 ? 1 : 997) {
            pd_swiglu(o, g, u, n);
            for (int64_t i = 0; i < n; i++) {
                double gd = g[i], want = isinf(gd) ? INFINITY * u[i] : gd / (1.0 + exp(-gd)) * u[i];
                /* below -87 the exp is held at e^-87: |error| <= |g u| e^-87 < 1e-33 */
                if (!(fabs(o[i] - want) <= 1e-6 * fabs(want) + 1e-33 || (isinf(want) && o[i] == want))) {
                    fprintf(stderr, "%s swiglu(%.9g, %.9g) = %.9g vs %.9g\n", pd_isa_name(lv[l]), g[i], u[i], o[i], want);
                    fail();
                }
                if (lv[l] == PD_ISA_SCALAR) continue;
                float twin = pd_silu_poly(g[i]) * u[i];
                if (memcmp(&twin, &o[i], sizeof twin) != 0 && !(isnan(twin) && isnan(o[i]))) {
                    fprintf(stderr, "%s swiglu(%.9g) = %.9g vs twin %.9g (n %lld, i %lld)\n", pd_isa_name(lv[l]), g[i],
                            o[i], twin, (long long)n, (long long)i);
                    fail();
                }
            }
        }
    }
    pd_isa_force(pd_isa_best());
}

static void test_rmsnorm_levels(void **state) {
    (void)state;
    enum { N = 400 };
    float x[N], w[N], o[3][N];
    pd_rng r;
    pd_rng_seed(&r, 5);
    fill_normal(&r, x, N, 2.0);
    fill_normal(&r, w, N, 1.0);
    x[3] = 1e-20f;
    x[7] = 3e4f;
    pd_isa lv[3];
    int nl = levels(lv);
    for (int64_t n = 1; n <= N; n += n < 40 ? 1 : 89)
        for (int wi = 0; wi < 2; wi++) {
            for (int l = 0; l < nl; l++) {
                pd_isa_force(lv[l]);
                pd_rmsnorm(o[l], x, wi ? w : NULL, n, 1e-6f);
                if (l > 0 && memcmp(o[l], o[0], sizeof(float) * (size_t)n) != 0) {
                    fprintf(stderr, "rmsnorm n %lld: %s differs from scalar\n", (long long)n, pd_isa_name(lv[l]));
                    fail();
                }
            }
            double ss = 0;
            for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
            double sc = 1.0 / sqrt(ss / (double)n + 1e-6);
            for (int64_t i = 0; i < n; i++) {
                double want = x[i] * sc * (wi ? w[i] : 1.0);
                assert_true(fabs(o[0][i] - want) <= 1e-6 * fabs(want) + 1e-30);
            }
        }
    pd_isa_force(pd_isa_best());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lanes_order_by_hand),
        cmocka_unit_test(test_lanes_twin),
        cmocka_unit_test(test_batch_invariance),
        cmocka_unit_test(test_half_lanes),
        cmocka_unit_test(test_f16_act_copy),
        cmocka_unit_test(test_lanes_avx512),
        cmocka_unit_test(test_repack_float),
        cmocka_unit_test(test_swiglu_twin),
        cmocka_unit_test(test_rmsnorm_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
