/* kern/quant.c — F16/BF16 conversions, the row quantisers / dequantisers of the 32-weight block
 * types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1; ggml block formats, see kern_impl.h) and the public row
 * entry points for every type (K-quants and IQ4 in quant_k.c). Storage quantisers follow ggml's
 * reference ones (quantize_row_*_ref) bit for bit. Activation quantisers (Q8_0, Q8_1, Q8_K) round
 * exactly as ggml-cpu does inside a matmul. */
#include "kern_impl.h"
#include "ponder/error.h"
#include <float.h>
#include <math.h>
#include <string.h>

/* ---------- F16 / BF16 ---------- */

float pd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* zero or subnormal: exact */
        return sign ? -v : v;
    }
    if (e == 31) bits = sign | 0x7f800000u | (m << 13);
    else bits = sign | ((e + 112) << 23) | (m << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t pd_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff)); /* NaN, quiet */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);                     /* >= 65520: inf */
    if (ax < 0x38800000u) {                                                      /* half subnormal */
        if (ax <= 0x33000000u) return sign;                                       /* <= 2^-25: tie to 0 */
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        int shift = 126 - (int)e; /* 14..24 */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1);
    r -= 112u << 23;
    return (uint16_t)(sign | (r >> 13));
}

float pd_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t pd_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* NaN stays NaN (quiet) */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

/* ---------- Q8_0 ---------- */

/* Storage (ggml's reference): q = roundf(x / d), halves away from zero, with d = amax/127.
 * Activations (ggml-cpu's matmul): q = rint(x * 127/amax), halves to even. Same F16 d. */
static void quant_q8_0_any(const float *x, pd_block_q8_0 *y, int64_t nb, int act) {
    for (int64_t i = 0; i < nb; i++, x += PD_QK) {
        float amax = 0;
        for (int j = 0; j < PD_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.f;
        y[i].d = pd_f32_to_f16(d);
        if (act) {
            float id = amax != 0.f ? 127.f / amax : 0.0f;
            for (int j = 0; j < PD_QK; j++) y[i].qs[j] = (int8_t)rintf(x[j] * id);
        } else {
            float id = d != 0.f ? 1.0f / d : 0.0f;
            for (int j = 0; j < PD_QK; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
        }
    }
}
static void quant_q8_0_ref(const float *x, void *y, int64_t nb) { quant_q8_0_any(x, y, nb, 0); }
static void quant_q8_0_act(const float *x, void *y, int64_t nb) { quant_q8_0_any(x, y, nb, 1); }

static void dequant_q8_0(const void *vx, float *y, int64_t nb) {
    const pd_block_q8_0 *x = vx;
    for (int64_t i = 0; i < nb; i++) {
        float d = pd_f16_to_f32(x[i].d);
        for (int j = 0; j < PD_QK; j++) *y++ = d * (float)x[i].qs[j];
    }
}

/* ---------- Q4_0 ---------- */

static void quant_q4_0_ref(const float *x, void *vy, int64_t nb) {
    pd_block_q4_0 *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK) {
        float amax = 0, max = 0;
        for (int j = 0; j < PD_QK; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -8.f, id = d != 0.f ? 1.0f / d : 0.0f;
        y[i].d = pd_f32_to_f16(d);
        for (int j = 0; j < PD_QK / 2; j++) {
            int a = (int8_t)(x[j] * id + 8.5f), b = (int8_t)(x[j + 16] * id + 8.5f);
            if (a > 15) a = 15;
            if (b > 15) b = 15;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

static void dequant_q4_0(const void *vx, float *y, int64_t nb) {
    const pd_block_q4_0 *x = vx;
    for (int64_t i = 0; i < nb; i++, y += PD_QK) {
        float d = pd_f16_to_f32(x[i].d);
        for (int j = 0; j < PD_QK / 2; j++) {
            y[j] = d * (float)((x[i].qs[j] & 0xF) - 8);
            y[j + 16] = d * (float)((x[i].qs[j] >> 4) - 8);
        }
    }
}

/* ---------- Q4_1 / Q5_0 / Q5_1 (ggml's reference quantisers) ---------- */

/* Q4_1: x = d*q + m with m = the block's min, d = (max - min)/15, q = trunc((x - m)/d + 0.5). */
static void quant_q4_1_ref(const float *x, void *vy, int64_t nb) {
    pd_block_q4_1 *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK) {
        float lo = FLT_MAX, hi = -FLT_MAX;
        for (int j = 0; j < PD_QK; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        float d = (hi - lo) / 15, id = d ? 1.0f / d : 0.0f;
        y[i].d = pd_f32_to_f16(d);
        y[i].m = pd_f32_to_f16(lo);
        for (int j = 0; j < PD_QK / 2; j++) {
            int a = (int8_t)((x[j] - lo) * id + 0.5f), b = (int8_t)((x[j + 16] - lo) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((a > 15 ? 15 : a) | ((b > 15 ? 15 : b) << 4));
        }
    }
}

static void dequant_q4_1(const void *vx, float *y, int64_t nb) {
    const pd_block_q4_1 *x = vx;
    for (int64_t i = 0; i < nb; i++, y += PD_QK) {
        float d = pd_f16_to_f32(x[i].d), m = pd_f16_to_f32(x[i].m);
        for (int j = 0; j < PD_QK / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0xF) * d + m;
            y[j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Q5_0: x = d*(q - 16), d = max/-16 (max = the value of largest magnitude), q = trunc(x/d + 16.5)
 * capped at 31; bit 4 of weight j in bit j of qh. */
static void quant_q5_0_ref(const float *x, void *vy, int64_t nb) {
    pd_block_q5_0 *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK) {
        float amax = 0, max = 0;
        for (int j = 0; j < PD_QK; j++)
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        float d = max / -16, id = d ? 1.0f / d : 0.0f;
        y[i].d = pd_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < PD_QK / 2; j++) {
            int a = (int8_t)(x[j] * id + 16.5f), b = (int8_t)(x[j + 16] * id + 16.5f);
            a = a > 31 ? 31 : a;
            b = b > 31 ? 31 : b;
            y[i].qs[j] = (uint8_t)((a & 0xF) | ((b & 0xF) << 4));
            qh |= (uint32_t)((a >> 4) & 1) << j;
            qh |= (uint32_t)((b >> 4) & 1) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void dequant_q5_0(const void *vx, float *y, int64_t nb) {
    const pd_block_q5_0 *x = vx;
    for (int64_t i = 0; i < nb; i++, y += PD_QK) {
        float d = pd_f16_to_f32(x[i].d);
        uint32_t qh = pd_q5_high(x[i].qh);
        for (int j = 0; j < PD_QK / 2; j++) {
            int lo = (x[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4), hi = (x[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    }
}

/* Q5_1: as Q4_1 with 32 levels, d = (max - min)/31. */
static void quant_q5_1_ref(const float *x, void *vy, int64_t nb) {
    pd_block_q5_1 *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK) {
        float lo = FLT_MAX, hi = -FLT_MAX;
        for (int j = 0; j < PD_QK; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        float d = (hi - lo) / 31, id = d ? 1.0f / d : 0.0f;
        y[i].d = pd_f32_to_f16(d);
        y[i].m = pd_f32_to_f16(lo);
        uint32_t qh = 0;
        for (int j = 0; j < PD_QK / 2; j++) {
            uint8_t a = (uint8_t)((x[j] - lo) * id + 0.5f), b = (uint8_t)((x[j + 16] - lo) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((a & 0xF) | ((b & 0xF) << 4));
            qh |= (uint32_t)((a >> 4) & 1) << j;
            qh |= (uint32_t)((b >> 4) & 1) << (j + 16);
        }
        memcpy(y[i].qh, &qh, 4);
    }
}

static void dequant_q5_1(const void *vx, float *y, int64_t nb) {
    const pd_block_q5_1 *x = vx;
    for (int64_t i = 0; i < nb; i++, y += PD_QK) {
        float d = pd_f16_to_f32(x[i].d), m = pd_f16_to_f32(x[i].m);
        uint32_t qh = pd_q5_high(x[i].qh);
        for (int j = 0; j < PD_QK / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) * d + m;
            y[j + 16] = (float)((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) * d + m;
        }
    }
}

/* ---------- Q8_1 (activations of Q4_1 / Q5_1) ---------- */

/* As the Q8_0 activations (d = amax/127 in F16, q = rint(x * 127/amax)), plus s = d * sum(q) in
 * F16 with the unrounded d, as ggml-cpu's quantize_row_q8_1. Storage quantiser: the same with
 * roundf(x / d) (ggml's quantize_row_q8_1_ref). */
static void quant_q8_1_any(const float *x, void *vy, int64_t nb, int act) {
    pd_block_q8_1 *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK) {
        float amax = 0;
        for (int j = 0; j < PD_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.f;
        y[i].d = pd_f32_to_f16(d);
        int sum = 0;
        float id = act ? (amax != 0.f ? 127.f / amax : 0.0f) : (d != 0.f ? 1.0f / d : 0.0f);
        for (int j = 0; j < PD_QK; j++) {
            y[i].qs[j] = (int8_t)(act ? rintf(x[j] * id) : roundf(x[j] * id));
            sum += y[i].qs[j];
        }
        y[i].s = pd_f32_to_f16(d * (float)sum);
    }
}
static void quant_q8_1_ref(const float *x, void *y, int64_t nb) { quant_q8_1_any(x, y, nb, 0); }
static void quant_q8_1_act(const float *x, void *y, int64_t nb) { quant_q8_1_any(x, y, nb, 1); }

static void dequant_q8_1(const void *vx, float *y, int64_t nb) {
    const pd_block_q8_1 *x = vx;
    for (int64_t i = 0; i < nb; i++) {
        float d = pd_f16_to_f32(x[i].d);
        for (int j = 0; j < PD_QK; j++) *y++ = d * (float)x[i].qs[j];
    }
}

/* ---------- Q4_K (quantiser in quant_k.c) ---------- */

static void dequant_q4_K(const void *vx, float *y, int64_t nb) {
    const pd_block_q4_K *x = vx;
    for (int64_t i = 0; i < nb; i++) {
        float d = pd_f16_to_f32(x[i].d), dmin = pd_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int j = 0; j < 4; j++, q += 32) {
            uint8_t sc, m;
            pd_q4k_scale_min(2 * j, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            pd_q4k_scale_min(2 * j + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* ---------- Q6_K (quantiser in quant_k.c) ---------- */

static void dequant_q6_K(const void *vx, float *y, int64_t nb) {
    const pd_block_q6_K *x = vx;
    for (int64_t i = 0; i < nb; i++) {
        float d = pd_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < PD_QK_K; n += 128, ql += 64, qh += 32, sc += 8, y += 128)
            for (int l = 0; l < 32; l++) {
                int is = l / 16, q[4];
                pd_q6k_vals(ql, qh, l, q);
                y[l] = d * (float)sc[is] * (float)q[0];
                y[l + 32] = d * (float)sc[is + 2] * (float)q[1];
                y[l + 64] = d * (float)sc[is + 4] * (float)q[2];
                y[l + 96] = d * (float)sc[is + 6] * (float)q[3];
            }
    }
}

/* ---------- Q8_K (activations) ---------- */

static void quant_q8_K(const float *x, void *vy, int64_t nb) {
    pd_block_q8_K *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < PD_QK_K; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -127.f / max;
        for (int j = 0; j < PD_QK_K; j++) {
            int v = pd_nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (int j = 0; j < PD_QK_K / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)s;
        }
        y[i].d = 1.f / iscale;
    }
}

static void dequant_q8_K(const void *vx, float *y, int64_t nb) {
    const pd_block_q8_K *x = vx;
    for (int64_t i = 0; i < nb; i++)
        for (int j = 0; j < PD_QK_K; j++) *y++ = x[i].d * (float)x[i].qs[j];
}

/* ---------- public rows ---------- */

static pd_status check_row(pd_type t, const void *a, const void *b, int64_t n, const char *what) {
    if (!pd_type_valid((int)t)) return pd_fail(PD_ERR_UNSUPPORTED, "%s: tensor type %d is not supported", what, (int)t);
    if (!a || !b) return pd_fail(PD_ERR_ARG, "%s: NULL buffer", what);
    int64_t blck = pd_type_block_elems(t);
    if (n < 0 || n % blck != 0)
        return pd_fail(PD_ERR_ARG, "%s: %lld elements is not a multiple of the %s block size %lld", what, (long long)n,
                       pd_type_name(t), (long long)blck);
    return PD_OK;
}

static void quant_f32(const float *x, void *y, int64_t n) { memmove(y, x, (size_t)n * sizeof(float)); }
static void dequant_f32(const void *x, float *y, int64_t n) { memmove(y, x, (size_t)n * sizeof(float)); }
/* F16 rows (the F16 KV cache stores every token's K and V through here): F16C where present, same bits */
static void quant_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) {
        pd_f16_from_f32_avx2(x, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = pd_f32_to_f16(x[i]);
}
static void dequant_f16(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) {
        pd_f16_to_f32_avx2(x, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = pd_f16_to_f32(x[i]);
}
static void quant_bf16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = pd_f32_to_bf16(x[i]);
}
static void dequant_bf16(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = pd_bf16_to_f32(x[i]);
}

/* Per type: quantise / dequantise a number of whole blocks. */
typedef void (*quant_fn)(const float *, void *, int64_t);
typedef void (*dequant_fn)(const void *, float *, int64_t);
static const struct { quant_fn q; dequant_fn dq; } row_fns[PD_TYPE_COUNT] = {
    [PD_TYPE_F32] = {quant_f32, dequant_f32},
    [PD_TYPE_F16] = {quant_f16, dequant_f16},
    [PD_TYPE_BF16] = {quant_bf16, dequant_bf16},
    [PD_TYPE_Q8_0] = {quant_q8_0_ref, dequant_q8_0},
    [PD_TYPE_Q4_0] = {quant_q4_0_ref, dequant_q4_0},
    [PD_TYPE_Q4_1] = {quant_q4_1_ref, dequant_q4_1},
    [PD_TYPE_Q5_0] = {quant_q5_0_ref, dequant_q5_0},
    [PD_TYPE_Q5_1] = {quant_q5_1_ref, dequant_q5_1},
    [PD_TYPE_Q8_1] = {quant_q8_1_ref, dequant_q8_1},
    [PD_TYPE_Q2_K] = {pd_quant_q2_K, pd_dequant_q2_K},
    [PD_TYPE_Q3_K] = {pd_quant_q3_K, pd_dequant_q3_K},
    [PD_TYPE_Q4_K] = {pd_quant_q4_K, dequant_q4_K},
    [PD_TYPE_Q5_K] = {pd_quant_q5_K, pd_dequant_q5_K},
    [PD_TYPE_Q6_K] = {pd_quant_q6_K, dequant_q6_K},
    [PD_TYPE_Q8_K] = {quant_q8_K, dequant_q8_K},
    [PD_TYPE_IQ4_NL] = {pd_quant_iq4_nl, pd_dequant_iq4_nl},
    [PD_TYPE_IQ4_XS] = {pd_quant_iq4_xs, pd_dequant_iq4_xs},
};

pd_status pd_dequantize_row(pd_type t, const void *src, float *dst, int64_t n) {
    PD_TRY(check_row(t, src, dst, n, "dequantize"));
    row_fns[t].dq(src, dst, n / pd_type_block_elems(t));
    return PD_OK;
}

pd_status pd_quantize_row(pd_type t, const float *src, void *dst, int64_t n) {
    PD_TRY(check_row(t, src, dst, n, "quantize"));
    row_fns[t].q(src, dst, n / pd_type_block_elems(t));
    return PD_OK;
}

/* The activation converters: AVX2 versions where the CPU has them (bit-identical, tested). */
static quant_fn act_q8_0(void) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) return pd_act_q8_0_avx2;
#endif
    return quant_q8_0_act;
}
static quant_fn act_q8_K(void) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) return pd_act_q8_K_avx2;
#endif
    return quant_q8_K;
}
static quant_fn act_q8_1(void) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) return pd_act_q8_1_avx2;
#endif
    return quant_q8_1_act;
}
static void round_f16(const float *x, float *y, int64_t n) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) {
        pd_act_f16_round_avx2(x, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = pd_f16_to_f32(pd_f32_to_f16(x[i]));
}
static void round_bf16(const float *x, float *y, int64_t n) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) {
        pd_act_bf16_round_avx2(x, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = pd_bf16_to_f32(pd_f32_to_bf16(x[i]));
}

pd_status pd_quantize_row_act(pd_type t, const float *src, void *dst, int64_t n) {
    PD_TRY(check_row(t, src, dst, n, "quantize activations"));
    if (t == PD_TYPE_Q8_0) act_q8_0()(src, dst, n / PD_QK);
    else if (t == PD_TYPE_Q8_K) act_q8_K()(src, dst, n / PD_QK_K);
    else if (t == PD_TYPE_Q8_1) act_q8_1()(src, dst, n / PD_QK);
    else return pd_quantize_row(t, src, dst, n);
    return PD_OK;
}

/* ---------- matmul activation formats ---------- */

pd_type pd_mm_act_type(pd_type wt) {
    switch (wt) {
    case PD_TYPE_F32: case PD_TYPE_F16: case PD_TYPE_BF16: return PD_TYPE_F32;
    default: return pd_vec_dot_type(wt);
    }
}

void pd_mm_act_row(pd_type wt, const float *src, void *dst, int64_t n) {
    switch (wt) {
    case PD_TYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
    case PD_TYPE_F16: round_f16(src, dst, n); break;
    case PD_TYPE_BF16: round_bf16(src, dst, n); break;
    default:
        switch (pd_vec_dot_type(wt)) {
        case PD_TYPE_Q8_0: act_q8_0()(src, dst, n / PD_QK); break;
        case PD_TYPE_Q8_1: act_q8_1()(src, dst, n / PD_QK); break;
        case PD_TYPE_Q8_K: act_q8_K()(src, dst, n / PD_QK_K); break;
        default: break;
        }
        break;
    }
}
