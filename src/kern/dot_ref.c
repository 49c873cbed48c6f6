/* kern/dot_ref.c — scalar reference dot products (they define what every SIMD version computes)
 * and the scalar matmul tiles. Integer parts are summed exactly in int32, as ggml does. */
#include "kern_impl.h"

float pd_dot_f32_ref(int64_t n, const void *w, const void *x) {
    const float *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

float pd_dot_f16_ref(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)pd_f16_to_f32(a[i]) * pd_f16_to_f32(b[i]);
    return (float)s;
}

float pd_dot_bf16_ref(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)pd_bf16_to_f32(a[i]) * pd_bf16_to_f32(b[i]);
    return (float)s;
}

float pd_dot_q8_0_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q8_0 *a = w, *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < PD_QK; j++) si += (int32_t)a[i].qs[j] * b[i].qs[j];
        s += (float)si * (pd_f16_to_f32(a[i].d) * pd_f16_to_f32(b[i].d));
    }
    return s;
}

float pd_dot_q4_0_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q4_0 *a = w;
    const pd_block_q8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < PD_QK / 2; j++) {
            si += ((a[i].qs[j] & 0xF) - 8) * (int32_t)b[i].qs[j];
            si += ((a[i].qs[j] >> 4) - 8) * (int32_t)b[i].qs[j + 16];
        }
        s += (float)si * (pd_f16_to_f32(a[i].d) * pd_f16_to_f32(b[i].d));
    }
    return s;
}

float pd_dot_q4_K_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q4_K *a = w;
    const pd_block_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        int32_t sumi = 0, summ = 0;
        const uint8_t *q4 = a[i].qs;
        const int8_t *q8 = b[i].qs;
        for (int j = 0; j < 4; j++, q4 += 32, q8 += 64) {
            uint8_t sc0, m0, sc1, m1;
            pd_q4k_scale_min(2 * j, a[i].scales, &sc0, &m0);
            pd_q4k_scale_min(2 * j + 1, a[i].scales, &sc1, &m1);
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += (q4[l] & 0xF) * (int32_t)q8[l];
                s1 += (q4[l] >> 4) * (int32_t)q8[l + 32];
            }
            sumi += sc0 * s0 + sc1 * s1;
            summ += m0 * (b[i].bsums[4 * j] + b[i].bsums[4 * j + 1]) + m1 * (b[i].bsums[4 * j + 2] + b[i].bsums[4 * j + 3]);
        }
        s += b[i].d * pd_f16_to_f32(a[i].d) * (float)sumi - b[i].d * pd_f16_to_f32(a[i].dmin) * (float)summ;
    }
    return s;
}

float pd_dot_q6_K_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q6_K *a = w;
    const pd_block_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        int32_t sumi = 0;
        const uint8_t *ql = a[i].ql, *qh = a[i].qh;
        const int8_t *q8 = b[i].qs, *sc = a[i].scales;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, q8 += 128, sc += 8) {
            int32_t part[8] = {0};
            for (int l = 0; l < 32; l++) {
                int is = l / 16, q[4];
                pd_q6k_vals(ql, qh, l, q);
                part[is + 0] += q[0] * q8[l];
                part[is + 2] += q[1] * q8[l + 32];
                part[is + 4] += q[2] * q8[l + 64];
                part[is + 6] += q[3] * q8[l + 96];
            }
            for (int k = 0; k < 8; k++) sumi += sc[k] * part[k];
        }
        s += pd_f16_to_f32(a[i].d) * b[i].d * (float)sumi;
    }
    return s;
}

/* ---------- Q4_1 / Q5_1 (Q8_1 activations): sum d_w d_x q_w q_x + m_w s_x per block ---------- */

float pd_dot_q4_1_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q4_1 *a = w;
    const pd_block_q8_1 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < PD_QK / 2; j++)
            si += (a[i].qs[j] & 0xF) * (int32_t)b[i].qs[j] + (a[i].qs[j] >> 4) * (int32_t)b[i].qs[j + 16];
        s += (pd_f16_to_f32(a[i].d) * pd_f16_to_f32(b[i].d)) * (float)si + pd_f16_to_f32(a[i].m) * pd_f16_to_f32(b[i].s);
    }
    return s;
}

float pd_dot_q5_1_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q5_1 *a = w;
    const pd_block_q8_1 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        uint32_t qh = pd_q5_high(a[i].qh);
        int32_t si = 0;
        for (int j = 0; j < PD_QK / 2; j++) {
            int lo = (a[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4);
            int hi = (a[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
            si += lo * (int32_t)b[i].qs[j] + hi * (int32_t)b[i].qs[j + 16];
        }
        s += (pd_f16_to_f32(a[i].d) * pd_f16_to_f32(b[i].d)) * (float)si + pd_f16_to_f32(a[i].m) * pd_f16_to_f32(b[i].s);
    }
    return s;
}

/* ---------- Q5_0 / IQ4_NL (Q8_0 activations) ---------- */

float pd_dot_q5_0_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q5_0 *a = w;
    const pd_block_q8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        uint32_t qh = pd_q5_high(a[i].qh);
        int32_t si = 0;
        for (int j = 0; j < PD_QK / 2; j++) {
            int lo = ((a[i].qs[j] & 0xF) | (int)(((qh >> j) & 1) << 4)) - 16;
            int hi = ((a[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
            si += lo * (int32_t)b[i].qs[j] + hi * (int32_t)b[i].qs[j + 16];
        }
        s += (float)si * (pd_f16_to_f32(a[i].d) * pd_f16_to_f32(b[i].d));
    }
    return s;
}

float pd_dot_iq4_nl_ref(int64_t n, const void *w, const void *x) {
    const pd_block_iq4_nl *a = w;
    const pd_block_q8_0 *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK; i++) {
        int32_t si = 0;
        for (int j = 0; j < PD_QK / 2; j++)
            si += pd_iq4nl_values[a[i].qs[j] & 0xF] * (int32_t)b[i].qs[j] +
                  pd_iq4nl_values[a[i].qs[j] >> 4] * (int32_t)b[i].qs[j + 16];
        s += (float)si * (pd_f16_to_f32(a[i].d) * pd_f16_to_f32(b[i].d));
    }
    return s;
}

/* ---------- Q2_K / Q3_K / Q5_K / IQ4_XS (Q8_K activations) ---------- */

float pd_dot_q2_K_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q2_K *a = w;
    const pd_block_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        int32_t sumi = 0, summ = 0;
        for (int k = 0; k < 16; k++) summ += (a[i].scales[k] >> 4) * (int32_t)b[i].bsums[k];
        /* sub-block k (16 weights): half k/8, bit pair (k%8)/2, bytes 16*(k%2) .. +15 of the half */
        for (int k = 0; k < 16; k++) {
            const uint8_t *q = a[i].qs + 32 * (k / 8) + 16 * (k % 2);
            const int8_t *y = b[i].qs + 16 * k;
            int shift = 2 * ((k % 8) / 2);
            int32_t p = 0;
            for (int l = 0; l < 16; l++) p += ((q[l] >> shift) & 3) * (int32_t)y[l];
            sumi += (a[i].scales[k] & 0xF) * p;
        }
        s += b[i].d * pd_f16_to_f32(a[i].d) * (float)sumi - b[i].d * pd_f16_to_f32(a[i].dmin) * (float)summ;
    }
    return s;
}

float pd_dot_q3_K_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q3_K *a = w;
    const pd_block_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        int8_t sc[16];
        pd_q3k_scales(a[i].scales, sc);
        int32_t sumi = 0;
        for (int k = 0; k < 16; k++) {
            int off = 16 * (k % 2), shift = 2 * ((k % 8) / 2), bit = k / 2;
            const uint8_t *q = a[i].qs + 32 * (k / 8) + off;
            const int8_t *y = b[i].qs + 16 * k;
            int32_t p = 0;
            for (int l = 0; l < 16; l++) {
                int v = ((q[l] >> shift) & 3) - (((a[i].hmask[off + l] >> bit) & 1) ? 0 : 4);
                p += v * (int32_t)y[l];
            }
            sumi += sc[k] * p;
        }
        s += pd_f16_to_f32(a[i].d) * b[i].d * (float)sumi;
    }
    return s;
}

float pd_dot_q5_K_ref(int64_t n, const void *w, const void *x) {
    const pd_block_q5_K *a = w;
    const pd_block_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        int32_t sumi = 0, summ = 0;
        const uint8_t *ql = a[i].qs, *qh = a[i].qh;
        const int8_t *q8 = b[i].qs;
        for (int j = 0; j < 4; j++, ql += 32, q8 += 64) {
            uint8_t sc0, m0, sc1, m1;
            pd_q4k_scale_min(2 * j, a[i].scales, &sc0, &m0);
            pd_q4k_scale_min(2 * j + 1, a[i].scales, &sc1, &m1);
            int32_t s0 = 0, s1 = 0;
            for (int l = 0; l < 32; l++) {
                s0 += ((ql[l] & 0xF) | (((qh[l] >> (2 * j)) & 1) << 4)) * (int32_t)q8[l];
                s1 += ((ql[l] >> 4) | (((qh[l] >> (2 * j + 1)) & 1) << 4)) * (int32_t)q8[l + 32];
            }
            sumi += sc0 * s0 + sc1 * s1;
            summ += m0 * (b[i].bsums[4 * j] + b[i].bsums[4 * j + 1]) + m1 * (b[i].bsums[4 * j + 2] + b[i].bsums[4 * j + 3]);
        }
        s += b[i].d * pd_f16_to_f32(a[i].d) * (float)sumi - b[i].d * pd_f16_to_f32(a[i].dmin) * (float)summ;
    }
    return s;
}

float pd_dot_iq4_xs_ref(int64_t n, const void *w, const void *x) {
    const pd_block_iq4_xs *a = w;
    const pd_block_q8_K *b = x;
    float s = 0;
    for (int64_t i = 0; i < n / PD_QK_K; i++) {
        int32_t sumi = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = a[i].qs + 16 * ib;
            const int8_t *y = b[i].qs + 32 * ib;
            int32_t p = 0;
            for (int j = 0; j < 16; j++)
                p += pd_iq4nl_values[q[j] & 0xF] * (int32_t)y[j] + pd_iq4nl_values[q[j] >> 4] * (int32_t)y[j + 16];
            sumi += (pd_iq4xs_scale(&a[i], ib) - 32) * p;
        }
        s += pd_f16_to_f32(a[i].d) * b[i].d * (float)sumi;
    }
    return s;
}

/* Matmul-format dots for F16/BF16 weights: activations are F32 values already rounded. */
static float mmdot_f16(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)pd_f16_to_f32(a[i]) * b[i];
    return (float)s;
}

static float mmdot_bf16(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)pd_bf16_to_f32(a[i]) * b[i];
    return (float)s;
}

void pd_tile_by_dots(pd_dot_fn dot, int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                     int mr, float *y, int64_t ldy) {
    for (int m = 0; m < mr; m++)
        for (int r = 0; r < nr; r++)
            y[m * ldy + r] = dot(n, (const char *)w + (size_t)r * w_stride, (const char *)x + (size_t)m * x_stride);
}

#define PD_SCALAR_TILE(name, dotfn)                                                                                  \
    static void name(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,         \
                     int64_t ldy) {                                                                                   \
        pd_tile_by_dots(dotfn, n, w, ws, nr, x, xs, mr, y, ldy);                                                      \
    }
PD_SCALAR_TILE(tile_f32, pd_dot_f32_ref)
PD_SCALAR_TILE(tile_f16, mmdot_f16)
PD_SCALAR_TILE(tile_bf16, mmdot_bf16)
PD_SCALAR_TILE(tile_q8_0, pd_dot_q8_0_ref)
PD_SCALAR_TILE(tile_q4_0, pd_dot_q4_0_ref)
PD_SCALAR_TILE(tile_q4_K, pd_dot_q4_K_ref)
PD_SCALAR_TILE(tile_q6_K, pd_dot_q6_K_ref)
PD_SCALAR_TILE(tile_q4_1, pd_dot_q4_1_ref)
PD_SCALAR_TILE(tile_q5_0, pd_dot_q5_0_ref)
PD_SCALAR_TILE(tile_q5_1, pd_dot_q5_1_ref)
PD_SCALAR_TILE(tile_iq4_nl, pd_dot_iq4_nl_ref)
PD_SCALAR_TILE(tile_q2_K, pd_dot_q2_K_ref)
PD_SCALAR_TILE(tile_q3_K, pd_dot_q3_K_ref)
PD_SCALAR_TILE(tile_q5_K, pd_dot_q5_K_ref)
PD_SCALAR_TILE(tile_iq4_xs, pd_dot_iq4_xs_ref)

void pd_kern_table_scalar(pd_kern_table *t) {
    t->dot[PD_TYPE_F32] = pd_dot_f32_ref;
    t->dot[PD_TYPE_F16] = pd_dot_f16_ref;
    t->dot[PD_TYPE_BF16] = pd_dot_bf16_ref;
    t->dot[PD_TYPE_Q8_0] = pd_dot_q8_0_ref;
    t->dot[PD_TYPE_Q4_0] = pd_dot_q4_0_ref;
    t->dot[PD_TYPE_Q4_K] = pd_dot_q4_K_ref;
    t->dot[PD_TYPE_Q6_K] = pd_dot_q6_K_ref;
    t->tile[PD_TYPE_F32] = tile_f32;
    t->tile[PD_TYPE_F16] = tile_f16;
    t->tile[PD_TYPE_BF16] = tile_bf16;
    t->tile[PD_TYPE_Q8_0] = tile_q8_0;
    t->tile[PD_TYPE_Q4_0] = tile_q4_0;
    t->tile[PD_TYPE_Q4_K] = tile_q4_K;
    t->tile[PD_TYPE_Q6_K] = tile_q6_K;
#define PD_SET(T, name) (t->dot[T] = pd_dot_##name##_ref, t->tile[T] = tile_##name)
    PD_SET(PD_TYPE_Q4_1, q4_1);
    PD_SET(PD_TYPE_Q5_0, q5_0);
    PD_SET(PD_TYPE_Q5_1, q5_1);
    PD_SET(PD_TYPE_IQ4_NL, iq4_nl);
    PD_SET(PD_TYPE_Q2_K, q2_K);
    PD_SET(PD_TYPE_Q3_K, q3_K);
    PD_SET(PD_TYPE_Q5_K, q5_K);
    PD_SET(PD_TYPE_IQ4_XS, iq4_xs);
#undef PD_SET
    for (int i = 0; i < PD_TYPE_COUNT; i++) {
        t->tile_nr[i] = 1;
        t->tile_mr[i] = 1;
    }
}
