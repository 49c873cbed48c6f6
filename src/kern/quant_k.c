/* kern/quant_k.c — quantisers and dequantisers of the 256-weight K-quants (Q2_K … Q6_K), IQ4_XS
 * and IQ4_NL. The quantisers follow the algorithms of ggml's reference quantisers (what
 * llama-quantize runs when it has no importance matrix): per sub-block a scale (and for the
 * "x" types with a min, an offset) chosen by a small weighted least-squares search, the
 * sub-block scales coded relative to the super-block's F16 scale, then the weights re-rounded
 * with the coded values. Same order of float operations as theirs, so the files we write hold
 * the bytes theirs do (tested against llama-quantize's output in tests/kern/test_quant_more.c).
 * Layouts: kern_impl.h. */
#include "kern_impl.h"
#include <float.h>
#include <math.h>
#include <string.h>

#define PD_EPS_ZERO 1e-15f /* a group whose largest magnitude is below this is all zero */

const int8_t pd_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---------- scale searches ---------- */

/* Signed symmetric levels -nmax..nmax-1 for n values (Q6_K: nmax 32, weights x^2). Starts from
 * scale = max/-nmax, then tries 18 nearby inverse scales and keeps the one that maximises
 * (sum w x l)^2 / sum w l^2. L receives l + nmax. Returns the scale. */
/* The first value of largest magnitude of x[0..n) (0 when all are below PD_EPS_ZERO). */
static float signed_max(int n, const float *x) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    return amax < PD_EPS_ZERO ? 0.f : max;
}

static float search_signed(int n, int nmax, const float *x, int8_t *L) {
    float max = signed_max(n, x);
    if (max == 0.f) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(pd_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(pd_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + clampi(pd_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's search: signed levels -nmax..nmax-1 from scale max/-nmax, then up to 5 passes that move
 * single levels when that raises (sum w x l)^2 / sum w l^2 (w = x^2). L receives l + nmax. */
static float search_q3(int n, int nmax, const float *x, int8_t *L) {
    float max = signed_max(n, x);
    if (max == 0.f) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(pd_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * L[i];
            if (slx <= 0) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int nl = clampi(pd_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += w * x[i] * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Unsigned levels 0..nmax with an offset (Q2_K / Q4_K / Q5_K): x ≈ scale*l - min_out. Starts
 * from the min-max fit, then tries nstep+1 inverse scales (rmin + rdelta*k + nmax)/(max-min),
 * solving the weighted least-squares scale and offset for each level assignment and keeping the
 * one with the least weighted error (|e| when mad, e^2 otherwise). The offset is kept <= 0. */
static float search_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *min_out, uint8_t *Laux,
                        float rmin, float rdelta, int nstep, int mad) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *min_out = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best_err = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(pd_nearest_int(iscale * (x[i] - min)), 0, nmax);
        float e = scale * L[i] + min - x[i];
        best_err += w[i] * (mad ? fabsf(e) : e * e);
    }
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * k + nmax) / (max - min);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(pd_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sl += w[i] * l;
            sl2 += w[i] * l * l;
            sxl += w[i] * l * x[i];
        }
        float D = sum_w * sl2 - sl * sl;
        if (D <= 0) continue;
        float s = (sum_w * sxl - sum_x * sl) / D, m = (sl2 * sum_x - sl * sxl) / D;
        if (m > 0) {
            m = 0;
            s = sxl / sl2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float e = s * Laux[i] + m - x[i];
            err += w[i] * (mad ? fabsf(e) : e * e);
        }
        if (err < best_err) {
            memcpy(L, Laux, (size_t)n);
            best_err = err;
            scale = s;
            min = m;
        }
    }
    *min_out = -min;
    return scale;
}

/* ---------- Q2_K ---------- */

void pd_quant_q2_K(const float *x, void *vy, int64_t nb) {
    pd_block_q2_K *y = vy;
    uint8_t L[PD_QK_K], Laux[16];
    float w[16], mins[16], scales[16];
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
            scales[j] = search_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float is = 15.f / max_scale;
            for (int j = 0; j < 16; j++) y[i].scales[j] = (uint8_t)pd_nearest_int(is * scales[j]);
            y[i].d = pd_f32_to_f16(max_scale / 15.f);
        } else {
            memset(y[i].scales, 0, 16);
            y[i].d = pd_f32_to_f16(0.f);
        }
        if (max_min > 0) {
            float is = 15.f / max_min;
            for (int j = 0; j < 16; j++) y[i].scales[j] |= (uint8_t)(pd_nearest_int(is * mins[j]) << 4);
            y[i].dmin = pd_f32_to_f16(max_min / 15.f);
        } else {
            y[i].dmin = pd_f32_to_f16(0.f);
        }
        for (int j = 0; j < 16; j++) {
            float d = pd_f16_to_f32(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            float dm = pd_f16_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)clampi(pd_nearest_int((x[16 * j + l] + dm) / d), 0, 3);
        }
        for (int j = 0; j < PD_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] =
                    (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

void pd_dequant_q2_K(const void *vx, float *y, int64_t nb) {
    const pd_block_q2_K *x = vx;
    for (int64_t i = 0; i < nb; i++) {
        float d = pd_f16_to_f32(x[i].d), dmin = pd_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs, *sc = x[i].scales;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int part = 0; part < 2; part++, sc++) {
                    float dl = d * (*sc & 0xF), ml = dmin * (*sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[16 * part + l] >> shift) & 3) - ml;
                }
    }
}

/* ---------- Q3_K ---------- */

void pd_quant_q3_K(const float *x, void *vy, int64_t nb) {
    pd_block_q3_K *y = vy;
    int8_t L[PD_QK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = search_q3(16, 4, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) { amax = fabsf(scales[j]); max_scale = scales[j]; }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            float is = -32.f / max_scale;
            for (int j = 0; j < 16; j++) {
                int l = clampi((int8_t)pd_nearest_int(is * scales[j]), -32, 31) + 32;
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0xF);
                else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = pd_f32_to_f16(1 / is);
        } else {
            y[i].d = pd_f32_to_f16(0.f);
        }
        int8_t sc[16];
        pd_q3k_scales(y[i].scales, sc);
        for (int j = 0; j < 16; j++) {
            float d = pd_f16_to_f32(y[i].d) * sc[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(clampi(pd_nearest_int(x[16 * j + l] / d), -4, 3) + 4);
        }
        /* third bit of weight j: hmask[j % 32], bit j / 32 */
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        for (int j = 0; j < PD_QK_K; j++)
            if (L[j] > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                L[j] = (int8_t)(L[j] - 4);
            }
        for (int j = 0; j < PD_QK_K; j += 128)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 4 + l] =
                    (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}

void pd_dequant_q3_K(const void *vx, float *y, int64_t nb) {
    const pd_block_q3_K *x = vx;
    for (int64_t i = 0; i < nb; i++) {
        float d = pd_f16_to_f32(x[i].d);
        int8_t sc[16];
        pd_q3k_scales(x[i].scales, sc);
        const uint8_t *q = x[i].qs;
        int is = 0, bit = 0;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2, bit++)
                for (int part = 0; part < 2; part++, is++) {
                    float dl = d * sc[is];
                    for (int l = 0; l < 16; l++) {
                        int k = 16 * part + l;
                        int v = ((q[k] >> shift) & 3) - ((x[i].hmask[k] >> bit) & 1 ? 0 : 4);
                        *y++ = dl * (float)v;
                    }
                }
    }
}

/* ---------- Q4_K / Q5_K (scales and mins in 6 bits, pd_q4k_scale_min) ---------- */

static void pack_scale_min(uint8_t s[12], const uint8_t ls[8], const uint8_t lm[8]) {
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): sub-block fits, 6-bit coded scales and mins,
 * re-rounded levels into L (0..nmax). Writes d, dmin, scales of the block. */
static void quant_kx(const float *x, int nmax, float rmin, int nstep, uint16_t *dh, uint16_t *mh, uint8_t scales12[12],
                     uint8_t L[PD_QK_K]) {
    float w[32], mins[8], scales[8], max_scale = 0, max_min = 0;
    uint8_t Laux[32];
    for (int j = 0; j < 8; j++) {
        const float *xb = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xb[l] * xb[l];
        float av = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av + fabsf(xb[l]);
        scales[j] = search_min(32, nmax, xb, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_s = max_scale > 0 ? 63.f / max_scale : 0.f, inv_m = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        uint8_t a = (uint8_t)pd_nearest_int(inv_s * scales[j]), b = (uint8_t)pd_nearest_int(inv_m * mins[j]);
        ls[j] = a > 63 ? 63 : a;
        lm[j] = b > 63 ? 63 : b;
    }
    pack_scale_min(scales12, ls, lm);
    *dh = pd_f32_to_f16(max_scale / 63.f);
    *mh = pd_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        pd_q4k_scale_min(j, scales12, &sc, &m);
        float d = pd_f16_to_f32(*dh) * sc;
        if (!d) continue;
        float dm = pd_f16_to_f32(*mh) * m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(pd_nearest_int((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

void pd_quant_q4_K(const float *x, void *vy, int64_t nb) {
    pd_block_q4_K *y = vy;
    uint8_t L[PD_QK_K];
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        quant_kx(x, 15, -1.f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        for (int j = 0; j < PD_QK_K; j += 64)
            for (int l = 0; l < 32; l++) y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void pd_quant_q5_K(const float *x, void *vy, int64_t nb) {
    pd_block_q5_K *y = vy;
    uint8_t L[PD_QK_K];
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        quant_kx(x, 31, -0.5f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        /* 64 weights per step: low nibbles of the first 32, high of the next; 5th bits in qh, two bits per step */
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int s = 0; s < 4; s++)
            for (int l = 0; l < 32; l++) {
                int a = L[64 * s + l], b = L[64 * s + l + 32];
                if (a > 15) { a -= 16; y[i].qh[l] |= (uint8_t)(1u << (2 * s)); }
                if (b > 15) { b -= 16; y[i].qh[l] |= (uint8_t)(2u << (2 * s)); }
                y[i].qs[32 * s + l] = (uint8_t)(a | (b << 4));
            }
    }
}

void pd_dequant_q5_K(const void *vx, float *y, int64_t nb) {
    const pd_block_q5_K *x = vx;
    for (int64_t i = 0; i < nb; i++) {
        float d = pd_f16_to_f32(x[i].d), dmin = pd_f16_to_f32(x[i].dmin);
        for (int s = 0; s < 4; s++) {
            const uint8_t *ql = x[i].qs + 32 * s;
            uint8_t sc, m;
            pd_q4k_scale_min(2 * s, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            pd_q4k_scale_min(2 * s + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0xF) + ((x[i].qh[l] >> (2 * s)) & 1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + ((x[i].qh[l] >> (2 * s + 1)) & 1 ? 16 : 0)) - m2;
        }
    }
}

/* ---------- Q6_K ---------- */

void pd_quant_q6_K(const float *x, void *vy, int64_t nb) {
    pd_block_q6_K *y = vy;
    int8_t L[PD_QK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            scales[j] = search_signed(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) { max_abs = fabsf(scales[j]); max_scale = scales[j]; }
        }
        if (max_abs < PD_EPS_ZERO) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float is = -128.f / max_scale;
        y[i].d = pd_f32_to_f16(1 / is);
        for (int j = 0; j < 16; j++) {
            int s = pd_nearest_int(is * scales[j]);
            y[i].scales[j] = (int8_t)(s > 127 ? 127 : s);
        }
        for (int j = 0; j < 16; j++) {
            float d = pd_f16_to_f32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(clampi(pd_nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < PD_QK_K; j += 128, ql += 64, qh += 32)
            for (int l = 0; l < 32; l++) {
                uint8_t q1 = (uint8_t)L[j + l], q2 = (uint8_t)L[j + l + 32], q3 = (uint8_t)L[j + l + 64],
                        q4 = (uint8_t)L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
    }
}

/* ---------- IQ4_NL / IQ4_XS ---------- */

/* Index of the grid value nearest to v (ties to the lower one only when strictly closer). */
static int iq4_index(float v) {
    const int8_t *g = pd_iq4nl_values;
    if (v <= g[0]) return 0;
    if (v >= g[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < g[mid]) hi = mid;
        else lo = mid;
    }
    return v - g[hi - 1] < g[hi] - v ? hi - 1 : hi;
}

/* One super-block of `sb` weights in 32-weight groups (IQ4_NL: sb = 32, IQ4_XS: sb = 256), weights
 * x^2, 7 tries either side of the grid's end: per group the scale maximising (sum w q x)^2 / sum
 * w q^2; for IQ4_XS the group scales are then coded as 6-bit multiples of d = -max/32. */
static void quant_iq4(int sb, const float *x, uint16_t *dh, uint8_t *qs, uint16_t *scales_h, uint8_t *scales_l) {
    const int8_t *g = pd_iq4nl_values;
    const int ntry = 7, ng = sb / 32;
    uint8_t L[PD_QK_K];
    float scales[PD_QK_K / 32], w[32];
    memset(qs, 0, (size_t)sb / 2);
    *dh = pd_f32_to_f16(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < ng; ib++) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        for (int j = 0; j < 32; j++) w[j] = xb[j] * xb[j];
        float max = signed_max(32, xb);
        if (max == 0.f) {
            scales[ib] = 0;
            continue;
        }
        float d = -max / g[0], id = 1 / d, sqx = 0, sq2 = 0;
        for (int j = 0; j < 32; j++) {
            int l = iq4_index(id * xb[j]);
            Lb[j] = (uint8_t)l;
            float q = g[l];
            sqx += w[j] * q * xb[j];
            sq2 += w[j] * q * q;
        }
        d = sq2 > 0 ? sqx / sq2 : 0.f;
        float best = d * sqx;
        for (int t = -ntry; t <= ntry; t++) {
            id = (t + g[0]) / max;
            sqx = sq2 = 0;
            for (int j = 0; j < 32; j++) {
                float q = g[iq4_index(id * xb[j])];
                sqx += w[j] * q * xb[j];
                sq2 += w[j] * q * q;
            }
            if (sq2 > 0 && sqx * sqx > best * sq2) {
                d = sqx / sq2;
                best = d * sqx;
            }
        }
        scales[ib] = d;
        if (fabsf(d) > amax_scale) { amax_scale = fabsf(d); max_scale = d; }
    }
    if (ng > 1) {
        *scales_h = 0;
        float d = -max_scale / 32, id = d ? 1 / d : 0.f;
        *dh = pd_f32_to_f16(d);
        for (int ib = 0; ib < ng; ib++) {
            int l = clampi(pd_nearest_int(id * scales[ib]), -32, 31);
            float dl = d * l, idl = dl ? 1 / dl : 0.f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)iq4_index(idl * x[32 * ib + j]);
            l += 32;
            if (ib % 2 == 0) scales_l[ib / 2] = (uint8_t)(l & 0xF);
            else scales_l[ib / 2] |= (uint8_t)((l & 0xF) << 4);
            *scales_h |= (uint16_t)((l >> 4) << (2 * ib));
        }
    } else {
        *dh = pd_f32_to_f16(scales[0]);
        float id = scales[0] ? 1 / scales[0] : 0;
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)iq4_index(id * x[j]);
    }
    for (int ib = 0; ib < ng; ib++)
        for (int j = 0; j < 16; j++) qs[16 * ib + j] = (uint8_t)(L[32 * ib + j] | (L[32 * ib + 16 + j] << 4));
}

void pd_quant_iq4_nl(const float *x, void *vy, int64_t nb) {
    pd_block_iq4_nl *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK) quant_iq4(PD_QK, x, &y[i].d, y[i].qs, NULL, NULL);
}

void pd_quant_iq4_xs(const float *x, void *vy, int64_t nb) {
    pd_block_iq4_xs *y = vy;
    for (int64_t i = 0; i < nb; i++, x += PD_QK_K) quant_iq4(PD_QK_K, x, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l);
}

void pd_dequant_iq4_nl(const void *vx, float *y, int64_t nb) {
    const pd_block_iq4_nl *x = vx;
    for (int64_t i = 0; i < nb; i++, y += PD_QK) {
        float d = pd_f16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * pd_iq4nl_values[x[i].qs[j] & 0xF];
            y[j + 16] = d * pd_iq4nl_values[x[i].qs[j] >> 4];
        }
    }
}

void pd_dequant_iq4_xs(const void *vx, float *y, int64_t nb) {
    const pd_block_iq4_xs *x = vx;
    for (int64_t i = 0; i < nb; i++) {
        float d = pd_f16_to_f32(x[i].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            float dl = d * (float)(pd_iq4xs_scale(&x[i], ib) - 32);
            const uint8_t *q = x[i].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * pd_iq4nl_values[q[j] & 0xF];
                y[j + 16] = dl * pd_iq4nl_values[q[j] >> 4];
            }
        }
    }
}
