/* tests/kern/test_quant.c — type traits, F16/BF16 conversions (ties, subnormals, inf/NaN),
 * hand-built Q8_0 / Q4_0 / Q4_K / Q6_K / Q8_K blocks, ggml's rounding rules for activations and
 * quantise → dequantise error bounds per type. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "ponder/error.h"
#include "kern_test_util.h"
#include "../../src/kern/kern_impl.h"

static float bits_f(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t f_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

static void test_traits(void **st) {
    (void)st;
    struct { pd_type t; const char *name; int64_t be; size_t bb; } tab[] = {
        {PD_TYPE_F32, "f32", 1, 4},      {PD_TYPE_F16, "f16", 1, 2},        {PD_TYPE_BF16, "bf16", 1, 2},
        {PD_TYPE_Q8_0, "q8_0", 32, 34},  {PD_TYPE_Q4_0, "q4_0", 32, 18},    {PD_TYPE_Q4_K, "q4_K", 256, 144},
        {PD_TYPE_Q6_K, "q6_K", 256, 210}, {PD_TYPE_Q8_K, "q8_K", 256, 292},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        assert_true(pd_type_valid(tab[i].t));
        assert_string_equal(pd_type_name(tab[i].t), tab[i].name);
        assert_int_equal(pd_type_from_name(tab[i].name), tab[i].t);
        assert_int_equal(pd_type_block_elems(tab[i].t), tab[i].be);
        assert_int_equal(pd_type_block_bytes(tab[i].t), tab[i].bb);
        assert_int_equal(pd_row_bytes(tab[i].t, tab[i].be * 3), tab[i].bb * 3);
    }
    assert_int_equal(pd_type_from_name("Q4_k"), PD_TYPE_Q4_K);
    assert_int_equal(pd_type_from_name("q4_2"), -1); /* removed from ggml; id 4 stays unused */
    assert_false(pd_type_valid(4));
    assert_false(pd_type_valid(-1));
    assert_false(pd_type_valid(PD_TYPE_COUNT));
    assert_int_equal(pd_row_bytes(PD_TYPE_Q4_K, 100), 0);
    assert_non_null(strstr(pd_last_error(), "q4_K"));
    pd_tensor t;
    int64_t ne[3] = {64, 5, 2};
    pd_tensor_init(&t, PD_TYPE_Q8_0, 3, ne, NULL);
    assert_int_equal(t.nb[0], 34);
    assert_int_equal(t.nb[1], 68);
    assert_int_equal(t.nb[2], 340);
    assert_int_equal(t.nb[3], 680);
    assert_int_equal(pd_tensor_nelements(&t), 640);
    assert_int_equal(pd_tensor_nbytes(&t), 680);
    assert_int_equal(pd_tensor_nrows(&t), 10);
}

static void test_f16(void **st) {
    (void)st;
    /* exact values */
    assert_int_equal(pd_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(pd_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(pd_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(pd_f32_to_f16(0.0f), 0x0000);
    assert_int_equal(pd_f32_to_f16(-0.0f), 0x8000);
    /* ties to even: 1 + 2^-11 is halfway between 1 and 1+2^-10 → 1; 1 + 3*2^-11 → 1 + 2*2^-10 */
    assert_int_equal(pd_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    assert_int_equal(pd_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(pd_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01); /* above the tie */
    /* overflow: 65519 rounds down to 65504, 65520 (tie, odd mantissa) up to inf */
    assert_int_equal(pd_f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(pd_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(pd_f32_to_f16(-1e10f), 0xfc00);
    assert_int_equal(pd_f32_to_f16(INFINITY), 0x7c00);
    uint16_t hn = pd_f32_to_f16(NAN);
    assert_true((hn & 0x7c00) == 0x7c00 && (hn & 0x3ff) != 0);
    assert_true(isnan(pd_f16_to_f32(hn)));
    assert_true(isinf(pd_f16_to_f32(0xfc00)) && pd_f16_to_f32(0xfc00) < 0);
    /* subnormals: smallest 2^-24; 2^-25 is a tie → 0; 1.5*2^-24 tie → 2*2^-24 (even) */
    assert_int_equal(pd_f32_to_f16(0x1p-24f), 0x0001);
    assert_int_equal(pd_f32_to_f16(0x1p-25f), 0x0000);
    assert_int_equal(pd_f32_to_f16(0x1p-25f * 1.0001f), 0x0001);
    assert_int_equal(pd_f32_to_f16(1.5f * 0x1p-24f), 0x0002);
    assert_int_equal(pd_f32_to_f16(2.5f * 0x1p-24f), 0x0002);
    assert_int_equal(pd_f32_to_f16(-3.0f * 0x1p-24f), 0x8003);
    assert_int_equal(pd_f32_to_f16(0x1p-14f), 0x0400);                   /* smallest normal */
    assert_int_equal(pd_f32_to_f16(0x1p-14f - 0x1p-26f), 0x0400);        /* rounds up into normal */
    assert_true(pd_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(pd_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    assert_true(pd_f16_to_f32(0x8400) == -0x1p-14f);
    /* every finite half round-trips exactly */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        assert_int_equal(pd_f32_to_f16(pd_f16_to_f32((uint16_t)h)), h);
    }
}

static void test_bf16(void **st) {
    (void)st;
    assert_int_equal(pd_f32_to_bf16(1.0f), 0x3f80);
    /* ties to even on the dropped 16 bits */
    assert_int_equal(pd_f32_to_bf16(bits_f(0x3f808000)), 0x3f80); /* tie, even stays */
    assert_int_equal(pd_f32_to_bf16(bits_f(0x3f818000)), 0x3f82); /* tie, odd rounds up */
    assert_int_equal(pd_f32_to_bf16(bits_f(0x3f808001)), 0x3f81);
    assert_int_equal(pd_f32_to_bf16(bits_f(0x00018000)), 0x0002); /* subnormal tie → even */
    assert_int_equal(pd_f32_to_bf16(bits_f(0x7f7fffff)), 0x7f80); /* FLT_MAX rounds to inf */
    assert_int_equal(pd_f32_to_bf16(-INFINITY), 0xff80);
    uint16_t n = pd_f32_to_bf16(bits_f(0x7f800001)); /* signalling NaN with low payload only */
    assert_true(isnan(pd_bf16_to_f32(n)));
    assert_true(f_bits(pd_bf16_to_f32(0x4049)) == 0x40490000u);
}

static void test_q8_0_hand(void **st) {
    (void)st;
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = (float)(i - 16) * 0.25f; /* amax = 4 at i=0 */
    uint8_t b[34];
    assert_int_equal(pd_quantize_row(PD_TYPE_Q8_0, x, b, 32), PD_OK);
    uint16_t d;
    memcpy(&d, b, 2);
    assert_int_equal(d, pd_f32_to_f16(4.0f / 127.0f));
    /* q = round(x * 127/4): x=-4 → -127, x=0.25 → round(7.9375) = 8, x=3.75 → round(119.06) = 119 */
    assert_int_equal((int8_t)b[2 + 0], -127);
    assert_int_equal((int8_t)b[2 + 17], 8);
    assert_int_equal((int8_t)b[2 + 31], 119);
    float y[32];
    assert_int_equal(pd_dequantize_row(PD_TYPE_Q8_0, b, y, 32), PD_OK);
    assert_true(y[17] == 8 * pd_f16_to_f32(d));
    /* reference (storage) rounds halves away from zero, activations half to even:
     * amax 127 → id 1: 0.5 → 1 (ref) vs 0 (act), 2.5 → 3 vs 2 */
    float h[32] = {0};
    h[0] = 127.0f;
    h[1] = 0.5f;
    h[2] = 2.5f;
    h[3] = -1.5f;
    assert_int_equal(pd_quantize_row(PD_TYPE_Q8_0, h, b, 32), PD_OK);
    assert_int_equal((int8_t)b[3], 1);
    assert_int_equal((int8_t)b[4], 3);
    assert_int_equal((int8_t)b[5], -2);
    assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_0, h, b, 32), PD_OK);
    assert_int_equal((int8_t)b[3], 0);
    assert_int_equal((int8_t)b[4], 2);
    assert_int_equal((int8_t)b[5], -2);
    memset(h, 0, sizeof h);
    assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_0, h, b, 32), PD_OK);
    for (int i = 0; i < 34; i++) assert_int_equal(b[i], 0);
}

static void test_q4_0_hand(void **st) {
    (void)st;
    /* block with d = 0.5: nibble n decodes to (n-8)*0.5; element j in the low nibble of byte j,
     * element j+16 in the high nibble */
    uint8_t b[18];
    uint16_t d = pd_f32_to_f16(0.5f);
    memcpy(b, &d, 2);
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
    float y[32];
    assert_int_equal(pd_dequantize_row(PD_TYPE_Q4_0, b, y, 32), PD_OK);
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == (j - 8) * 0.5f);
        assert_true(y[j + 16] == (7 - j) * 0.5f);
    }
    /* quantising those values gives d = max/-8 with max = -4 (largest magnitude, first seen) */
    uint8_t q[18];
    assert_int_equal(pd_quantize_row(PD_TYPE_Q4_0, y, q, 32), PD_OK);
    assert_memory_equal(q, b, 18);
    /* dot with a hand-made Q8_0 activation block: d = 1, q = 1 everywhere → sum of (n-8)*0.5 */
    uint8_t xb[34];
    uint16_t one = pd_f32_to_f16(1.0f);
    memcpy(xb, &one, 2);
    memset(xb + 2, 1, 32);
    float s = 0;
    for (int j = 0; j < 32; j++) s += y[j];
    assert_true(pd_vec_dot_ref(PD_TYPE_Q4_0, 32, b, xb) == s);
    assert_true(pd_vec_dot(PD_TYPE_Q4_0, 32, b, xb) == s);
}

static void test_q4_K_hand(void **st) {
    (void)st;
    /* super-block: d = 1, dmin = 0.5; sub-block j has scale j+1 and min 2j (6-bit packing with
     * j >= 4 spread over the high bits); every nibble = 3 */
    uint8_t b[144] = {0};
    uint16_t d = pd_f32_to_f16(1.0f), dm = pd_f32_to_f16(0.5f);
    memcpy(b, &d, 2);
    memcpy(b + 2, &dm, 2);
    uint8_t *s = b + 4;
    int sc[8], mn[8];
    for (int j = 0; j < 8; j++) { sc[j] = j + 1 + (j >= 4 ? 40 : 0); mn[j] = 2 * j + (j >= 4 ? 30 : 0); }
    for (int j = 0; j < 4; j++) { s[j] = (uint8_t)sc[j]; s[j + 4] = (uint8_t)mn[j]; }
    for (int j = 4; j < 8; j++) {
        s[j + 4] = (uint8_t)((sc[j] & 0xF) | ((mn[j] & 0xF) << 4));
        s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        s[j] |= (uint8_t)((mn[j] >> 4) << 6);
    }
    memset(b + 16, 0x33, 128);
    float y[256];
    assert_int_equal(pd_dequantize_row(PD_TYPE_Q4_K, b, y, 256), PD_OK);
    for (int i = 0; i < 256; i++) assert_true(y[i] == 1.0f * sc[i / 32] * 3 - 0.5f * mn[i / 32]);
}

static void test_q6_K_hand(void **st) {
    (void)st;
    /* every 6-bit value v_i = i % 64 (so q = v - 32), scales[k] = k - 8, d = 0.25 */
    uint8_t b[210] = {0};
    uint8_t *ql = b, *qh = b + 128;
    int8_t *sc = (int8_t *)(b + 192);
    uint16_t d = pd_f32_to_f16(0.25f);
    memcpy(b + 208, &d, 2);
    for (int k = 0; k < 16; k++) sc[k] = (int8_t)(k - 8);
    for (int i = 0; i < 256; i++) {
        int v = i % 64, half = i / 128, w = i % 128, quarter = w / 32, l = w % 32;
        /* quarter 0: low nibble of ql[l], 1: low of ql[l+32], 2: high of ql[l], 3: high of ql[l+32] */
        uint8_t *q = ql + 64 * half + l + ((quarter & 1) ? 32 : 0);
        *q |= (uint8_t)((v & 0xF) << ((quarter & 2) ? 4 : 0));
        qh[32 * half + l] |= (uint8_t)((v >> 4) << (2 * quarter));
    }
    float y[256];
    assert_int_equal(pd_dequantize_row(PD_TYPE_Q6_K, b, y, 256), PD_OK);
    for (int i = 0; i < 256; i++) assert_true(y[i] == 0.25f * (float)(i / 16 - 8) * (float)(i % 64 - 32));
}

static void test_q8_K_rules(void **st) {
    (void)st;
    /* d = 1/(-127/max) with max the signed value of largest |x|; q = nearest-even(-127 x / max) */
    float x[256];
    for (int i = 0; i < 256; i++) x[i] = (float)(i % 17) - 8.0f; /* in [-8, 8] */
    x[5] = -10.0f;                                                  /* signed max is negative */
    x[6] = 10.0f * 63.5f / 127.0f; /* -127/-10 * x = 63.5 → tie, even → 64 (check computed below) */
    uint8_t b[292];
    assert_int_equal(pd_quantize_row(PD_TYPE_Q8_K, x, b, 256), PD_OK);
    float d;
    memcpy(&d, b, 4);
    float iscale = -127.f / -10.0f;
    assert_true(d == 1.0f / iscale);
    int8_t *qs = (int8_t *)(b + 4);
    for (int i = 0; i < 256; i++) {
        float v = iscale * x[i];
        float r = rintf(v); /* default rounding mode: half to even */
        assert_int_equal(qs[i], (int)(r > 127 ? 127 : r));
    }
    assert_int_equal(qs[5], -127);
    int16_t bs[16];
    memcpy(bs, b + 4 + 256, 32);
    for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += qs[16 * j + l];
        assert_int_equal(bs[j], s);
    }
    /* positive signed max: q of max is -127 (the scale is negative) */
    for (int i = 0; i < 256; i++) x[i] = 0.01f * i;
    assert_int_equal(pd_quantize_row(PD_TYPE_Q8_K, x, b, 256), PD_OK);
    assert_int_equal(qs[255], -127);
    memcpy(&d, b, 4);
    assert_true(d < 0);
}

/* quantise → dequantise: error bounds per type on N(0,1) data */
static void test_roundtrip(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 5);
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t buf[N * 4];
    fill_normal(&r, x, N, 1.0);
    x[7] = 0; x[300] = 1e-3f; x[1000] = 6.0f; x[2000] = -7.0f;
    const pd_type ts[] = {PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_BF16, PD_TYPE_Q8_0, PD_TYPE_Q4_0,
                          PD_TYPE_Q4_K, PD_TYPE_Q6_K, PD_TYPE_Q8_K};
    for (size_t ti = 0; ti < sizeof ts / sizeof ts[0]; ti++) {
        pd_type t = ts[ti];
        assert_int_equal(pd_quantize_row(t, x, buf, N), PD_OK);
        assert_int_equal(pd_dequantize_row(t, buf, y, N), PD_OK);
        int64_t be = pd_type_block_elems(t);
        if (be == 1) {
            double rel = t == PD_TYPE_F32 ? 0 : t == PD_TYPE_F16 ? 0x1p-11 : 0x1p-8;
            assert_true(close_all(y, x, N, 1e-7, rel, pd_type_name(t)));
            continue;
        }
        /* per block: |err| <= bound * amax(block), where the step is amax/127 (8-bit), amax/7 (q4_0);
         * K-quants: two steps of the widest sub-block (the scale search may trade a little clipping
         * for a finer step; the rms bound below is tighter than min-max coding reaches) */
        /* (q8_0: half a step plus the F16 rounding of d, at most 127 * 2^-11 of a step) */
        double frac = t == PD_TYPE_Q8_K ? 0.5 / 127 * 1.01 : t == PD_TYPE_Q8_0 ? (0.5 + 127 * 0x1p-11) / 127 * 1.01 : t == PD_TYPE_Q4_0 ? 1.0 / 8 * 1.01
                      : t == PD_TYPE_Q4_K ? 2.0 / 15 * 1.1 : 2.0 / 32 * 1.1;
        double se = 0, sx = 0;
        for (int64_t b0 = 0; b0 < N; b0 += be) {
            double amax = 0;
            for (int64_t i = b0; i < b0 + be; i++) amax = fmax(amax, fabs(x[i]));
            for (int64_t i = b0; i < b0 + be; i++) {
                double e = fabs((double)y[i] - x[i]);
                double lim = frac * (t == PD_TYPE_Q4_K ? 2 * amax : amax) + 1e-6;
                if (e > lim) {
                    fprintf(stderr, "%s: element %lld err %.4g > %.4g\n", pd_type_name(t), (long long)i, e, lim);
                    fail();
                }
                se += e * e;
                sx += (double)x[i] * x[i];
            }
        }
        double rel_rms = sqrt(se / sx);
        double lim = t == PD_TYPE_Q4_0 ? 0.095 : t == PD_TYPE_Q4_K ? 0.074 : t == PD_TYPE_Q6_K ? 0.0188 : 0.009;
        if (getenv("PD_TEST_VERBOSE")) fprintf(stderr, "%s rel rms %.4f\n", pd_type_name(t), rel_rms);
        if (rel_rms > lim) {
            fprintf(stderr, "%s: relative rms error %.4g > %.4g\n", pd_type_name(t), rel_rms, lim);
            fail();
        }
    }
}

static void test_row_errors(void **st) {
    (void)st;
    float x[64] = {0};
    uint8_t b[512];
    assert_int_equal(pd_quantize_row(PD_TYPE_Q8_0, x, b, 33), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "q8_0"));
    assert_int_equal(pd_dequantize_row(PD_TYPE_Q6_K, b, x, 64), PD_ERR_ARG);
    assert_int_equal(pd_quantize_row((pd_type)5, x, b, 32), PD_ERR_UNSUPPORTED);
    assert_int_equal(pd_quantize_row(PD_TYPE_F32, NULL, b, 32), PD_ERR_ARG);
    assert_int_equal(pd_vec_dot_type(PD_TYPE_Q4_0), PD_TYPE_Q8_0);
    assert_int_equal(pd_vec_dot_type(PD_TYPE_Q6_K), PD_TYPE_Q8_K);
    assert_int_equal(pd_vec_dot_type(PD_TYPE_BF16), PD_TYPE_BF16);
}

/* The AVX2 activation conversions give the same bits as the scalar ones, edge cases included. */
static void test_act_simd_exact(void **st) {
    (void)st;
#if !PD_X86
    skip();
#else
    if (pd_isa_best() < PD_ISA_AVX2) skip();
    pd_rng r;
    pd_rng_seed(&r, 21);
    enum { N = 1024 };
    static float x[N], a[N], b[N];
    static uint8_t qa[N / 32 * 34], qb[N / 32 * 34], ka[N / 256 * 292], kb[N / 256 * 292];
    for (int round = 0; round < 20; round++) {
        fill_normal(&r, x, N, round < 10 ? 1.0 : 1e-6);
        /* edge values: F16 ties and subnormals, overflow, inf, NaN, BF16 ties, +-amax pairs */
        const float edge[] = {1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 0x1p-25f, 1.5f * 0x1p-24f, 65520.0f, -65519.0f,
                              INFINITY, -INFINITY, NAN, bits_f(0x3f808000), bits_f(0x3f818000), bits_f(0x7f800001),
                              0.0f, -0.0f, 2.5f, -2.5f};
        for (int i = 0; i < 16; i++) x[(round * 37 + i * 61) % N] = edge[i];
        pd_act_f16_round_avx2(x, a, N);
        pd_act_bf16_round_avx2(x, b, N);
        for (int i = 0; i < N; i++) {
            float fa = pd_f16_to_f32(pd_f32_to_f16(x[i])), fb = pd_bf16_to_f32(pd_f32_to_bf16(x[i]));
            assert_true(f_bits(a[i]) == f_bits(fa) || (isnan(a[i]) && isnan(fa)));
            assert_true(f_bits(b[i]) == f_bits(fb));
        }
        /* F16 rows (pd_quantize_row / pd_dequantize_row: F16C at AVX2) equal the scalar conversions to
         * the bit, edge values included (a NaN only needs to stay a NaN) */
        {
            static uint16_t ha[N], hb[N];
            static float da[N], db[N];
            pd_isa_force(PD_ISA_SCALAR);
            assert_int_equal(pd_quantize_row(PD_TYPE_F16, x, ha, N - 3), PD_OK); /* odd length: a scalar tail */
            assert_int_equal(pd_dequantize_row(PD_TYPE_F16, ha, da, N - 3), PD_OK);
            pd_isa_force(PD_ISA_AVX2);
            assert_int_equal(pd_quantize_row(PD_TYPE_F16, x, hb, N - 3), PD_OK);
            assert_int_equal(pd_dequantize_row(PD_TYPE_F16, ha, db, N - 3), PD_OK);
            for (int i = 0; i < N - 3; i++) {
                if (isnan(x[i])) assert_true((hb[i] & 0x7fff) > 0x7c00);
                else if (ha[i] != hb[i]) fail_msg("f16 of %a: scalar 0x%04x avx2 0x%04x", (double)x[i], ha[i], hb[i]);
                assert_true(f_bits(da[i]) == f_bits(db[i]) || (isnan(da[i]) && isnan(db[i])));
            }
            /* every F16 bit pattern back to F32 */
            for (int h0 = 0; h0 < 65536; h0 += N) {
                for (int i = 0; i < N; i++) ha[i] = (uint16_t)(h0 + i);
                pd_isa_force(PD_ISA_SCALAR);
                assert_int_equal(pd_dequantize_row(PD_TYPE_F16, ha, da, N), PD_OK);
                pd_isa_force(PD_ISA_AVX2);
                assert_int_equal(pd_dequantize_row(PD_TYPE_F16, ha, db, N), PD_OK);
                for (int i = 0; i < N; i++) assert_true(f_bits(da[i]) == f_bits(db[i]) || (isnan(da[i]) && isnan(db[i])));
            }
        }
        /* quantisers: finite data only; ties between +amax and -amax in some blocks */
        for (int i = 0; i < N; i++)
            if (!isfinite(x[i]) || fabsf(x[i]) > 1e4f) x[i] = 1.0f;
        if (round % 2) { x[5] = 3.5f; x[9] = -3.5f; x[300] = -4.0f; x[301] = 4.0f; }
        if (round == 3) for (int i = 256; i < 512; i++) x[i] = 0.0f; /* an all-zero block */
        pd_isa_force(PD_ISA_SCALAR);
        assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_0, x, qa, N), PD_OK);
        assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_K, x, ka, N), PD_OK);
        pd_isa_force(PD_ISA_AVX2);
        assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_0, x, qb, N), PD_OK);
        assert_int_equal(pd_quantize_row_act(PD_TYPE_Q8_K, x, kb, N), PD_OK);
        assert_memory_equal(qa, qb, sizeof qa);
        assert_memory_equal(ka, kb, sizeof ka);
    }
    pd_isa_force(pd_isa_best());
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traits),    cmocka_unit_test(test_f16),       cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_q8_0_hand), cmocka_unit_test(test_q4_0_hand), cmocka_unit_test(test_q4_K_hand),
        cmocka_unit_test(test_q6_K_hand), cmocka_unit_test(test_q8_K_rules), cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_row_errors), cmocka_unit_test(test_act_simd_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
