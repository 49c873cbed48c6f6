/* kern/quant.c — F16/BF16 conversions and the row quantisers / dequantisers for every storage
 * type (ggml block formats, see kern_impl.h). Storage quantisers follow ggml's reference ones
 * (quantize_row_*_ref) bit for bit for Q8_0 / Q4_0; Q4_K / Q6_K use a simpler min-max start plus
 * a small search over the coded scales (same format, not byte-identical to llama-quantize).
 * Activation quantisers (Q8_0, Q8_K) round exactly as ggml-cpu does inside a matmul. */
#include "kern_impl.h"
#include "ponder/error.h"
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

/* Round half to even, for |v| < 2^22 (ggml's nearest_int). */
static inline int pd_nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
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

/* ---------- Q4_K ---------- */

/* Min-max start: per 32-weight sub-block scale = (max - min) / 15 and offset = -min (min clipped
 * to <= 0), both coded as 6-bit multiples of the super-block's d / dmin, the scale rounded up so
 * the range fits. Then a small search over the coded scale (up to 5 codes smaller) and offset
 * (+-2) keeps the pair with the least squared error (some clipping can pay); the weights are
 * re-quantised with the coded values. */
static void quant_q4_K(const float *x, void *vy, int64_t nb) {
    pd_block_q4_K *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        float scale[8], mn[8], max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
            float lo = 0, hi = -INFINITY;
            for (int l = 0; l < 32; l++) {
                lo = fminf(lo, x[32 * j + l]);
                hi = fmaxf(hi, x[32 * j + l]);
            }
            if (hi < lo) hi = lo;
            scale[j] = (hi - lo) / 15.f;
            mn[j] = -lo;
            max_scale = fmaxf(max_scale, scale[j]);
            max_min = fmaxf(max_min, mn[j]);
        }
        uint16_t dh = pd_f32_to_f16(max_scale / 63.f), mh = pd_f32_to_f16(max_min / 63.f);
        float d = pd_f16_to_f32(dh), dmin = pd_f16_to_f32(mh);
        uint8_t ls[8], lm[8];
        for (int j = 0; j < 8; j++) {
            int a = d > 0 ? (int)ceilf(scale[j] / d) : 0;
            int b = dmin > 0 ? pd_nearest_int(mn[j] / dmin) : 0;
            ls[j] = (uint8_t)(a < 0 ? 0 : a > 63 ? 63 : a);
            lm[j] = (uint8_t)(b < 0 ? 0 : b > 63 ? 63 : b);
        }
        y[i].d = dh;
        y[i].dmin = mh;
        uint8_t L[PD_QK_K];
        for (int j = 0; j < 8; j++) {
            /* local search on the coded scale / min around the min-max choice */
            float best = INFINITY;
            int bs = ls[j], bm = lm[j];
            for (int a = ls[j] - 5; a <= ls[j]; a++)
                for (int b = lm[j] - 2; b <= lm[j] + 2; b++) {
                    if (a < 0 || b < 0 || b > 63) continue;
                    float d1 = d * a, dm = dmin * b, e = 0;
                    for (int l = 0; l < 32; l++) {
                        int q = d1 > 0 ? pd_nearest_int((x[32 * j + l] + dm) / d1) : 0;
                        q = q < 0 ? 0 : q > 15 ? 15 : q;
                        float r = d1 * q - dm - x[32 * j + l];
                        e += r * r;
                    }
                    if (e < best) { best = e; bs = a; bm = b; }
                }
            ls[j] = (uint8_t)bs;
            lm[j] = (uint8_t)bm;
        }
        memset(y[i].scales, 0, 12);
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                y[i].scales[j] |= ls[j];
                y[i].scales[j + 4] |= lm[j];
            } else {
                y[i].scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
                y[i].scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
                y[i].scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
            }
        }
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            pd_q4k_scale_min(j, y[i].scales, &sc, &m);
            float d1 = d * sc, dm = dmin * m;
            for (int l = 0; l < 32; l++) {
                int q = d1 > 0 ? pd_nearest_int((x[32 * j + l] + dm) / d1) : 0;
                L[32 * j + l] = (uint8_t)(q < 0 ? 0 : q > 15 ? 15 : q);
            }
        }
        for (int j = 0; j < PD_QK_K; j += 64)
            for (int l = 0; l < 32; l++) y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

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

/* ---------- Q6_K ---------- */

/* Per 16-weight sub-block a signed scale s = max/-32 (max = the value of largest magnitude, as
 * ggml does), coded as int8 multiples of the super-block's d with the magnitude rounded up, then
 * the code among it and up to 3 smaller magnitudes with the least squared error; weights are
 * re-quantised to [-32, 31] with the coded scale. */
static void quant_q6_K(const float *x, void *vy, int64_t nb) {
    pd_block_q6_K *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        float scale[16], max_scale = 0, amax_scale = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0, max = 0;
            for (int l = 0; l < 16; l++)
                if (fabsf(x[16 * j + l]) > amax) { amax = fabsf(x[16 * j + l]); max = x[16 * j + l]; }
            scale[j] = max / -32.f;
            if (fabsf(scale[j]) > amax_scale) { amax_scale = fabsf(scale[j]); max_scale = scale[j]; }
        }
        float d = 0;
        uint16_t dh = 0;
        if (amax_scale > 0) {
            dh = pd_f32_to_f16(max_scale / -128.f);
            d = pd_f16_to_f32(dh);
        }
        y[i].d = dh;
        uint8_t L[PD_QK_K];
        for (int j = 0; j < 16; j++) {
            int s = 0;
            if (d != 0) {
                float r = scale[j] / d;
                s = (int)(r >= 0 ? ceilf(r) : floorf(r));
                if (s > 127) s = 127;
                if (s < -128) s = -128;
            }
            /* local search: the rounded-up scale or up to 3 codes smaller in magnitude */
            float best = INFINITY;
            int bs = s;
            for (int k = 0; k <= 3; k++) {
                int c = s > 0 ? s - k : s + k;
                if ((s > 0 && c < 1) || (s < 0 && c > -1) || (s == 0 && k > 0)) break;
                float st = d * (float)c, e = 0;
                for (int l = 0; l < 16; l++) {
                    int q = st != 0 ? pd_nearest_int(x[16 * j + l] / st) : 0;
                    q = q < -32 ? -32 : q > 31 ? 31 : q;
                    float r = st * (float)q - x[16 * j + l];
                    e += r * r;
                }
                if (e < best) { best = e; bs = c; }
            }
            s = bs;
            y[i].scales[j] = (int8_t)s;
            float step = d * (float)s;
            for (int l = 0; l < 16; l++) {
                int q = step != 0 ? pd_nearest_int(x[16 * j + l] / step) : 0;
                if (q < -32) q = -32;
                if (q > 31) q = 31;
                L[16 * j + l] = (uint8_t)(q + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < PD_QK_K; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                uint8_t q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
    }
}

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
static void quant_f16(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = pd_f32_to_f16(x[i]);
}
static void dequant_f16(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
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
    [PD_TYPE_Q4_K] = {quant_q4_K, dequant_q4_K},
    [PD_TYPE_Q6_K] = {quant_q6_K, dequant_q6_K},
    [PD_TYPE_Q8_K] = {quant_q8_K, dequant_q8_K},
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
    case PD_TYPE_Q8_0: case PD_TYPE_Q4_0: act_q8_0()(src, dst, n / PD_QK); break;
    case PD_TYPE_Q4_K: case PD_TYPE_Q6_K: act_q8_K()(src, dst, n / PD_QK_K); break;
    default: break;
    }
}
