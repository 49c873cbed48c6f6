/* kern/ops.c — elementwise and normalisation ops (rmsnorm, softmax, silu, swiglu), rotary
 * position embedding (NORM / NEOX, partial rotation, frequency divisors, attention factor) and
 * attention with an online softmax over one head or a GQA group of heads (scalar reference here;
 * the AVX2 version is in simd_avx2.c). */
#include "kern_impl.h"
#include <math.h>
#include <string.h>

/* The sum of squares in double (each square is exact in double), in the order of the AVX2 version
 * (ops_avx2.c): eight partial sums over i = j, j+8, … (n rounded down to 8), combined as
 * ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)), then the last n mod 8 squares in order. */
double pd_sumsq_lanes(const float *x, int64_t n) {
    int64_t n8 = n & ~(int64_t)7;
    double l[8];
    for (int j = 0; j < 8; j++) {
        double a = 0;
        for (int64_t i = j; i < n8; i += 8) a += (double)x[i] * x[i];
        l[j] = a;
    }
    double ss = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
    for (int64_t i = n8; i < n; i++) ss += (double)x[i] * x[i];
    return ss;
}

void pd_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    if (n <= 0) return;
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) {
        pd_rmsnorm_avx2(out, x, w, n, eps);
        return;
    }
#endif
    double ss = pd_sumsq_lanes(x, n);
    float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    if (w)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
    else
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale;
}

void pd_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) { /* everything masked: uniform rather than NaN */
        for (int64_t i = 0; i < n; i++) x[i] = 1.0f / (float)n;
        return;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

float pd_silu(float x) {
    return x / (1.0f + expf(-x));
}

/* e^x for x <= 0: the scalar twin of pd_exp_le0_avx2 (simd_avx2_util.h), operation for operation */
static float pd_exp_le0(float x) {
    if (isnan(x)) return x; /* as the 8-lane version: NaN stays NaN */
    x = fmaxf(x, -87.0f);
    float n = nearbyintf(x * 1.44269504088896341f);
    float r = fmaf(-n, 0.693145751953125f, x);
    r = fmaf(-n, 1.428606765330187045e-6f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    float y = fmaf(p * r, r, r + 1.0f);
    uint32_t eb = (uint32_t)((int32_t)n + 127) << 23;
    float e;
    memcpy(&e, &eb, sizeof e);
    return y * e;
}

float pd_silu_poly(float g) {
    float e = pd_exp_le0(-fabsf(g));
    return g * ((g < 0.0f ? e : 1.0f) / (1.0f + e));
}

/* AVX2: 8 lanes of pd_silu_poly (ops_avx2.c); scalar level: libm's expf */
void pd_swiglu(float *out, const float *gate, const float *up, int64_t n) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) {
        pd_swiglu_avx2(out, gate, up, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) out[i] = pd_silu(gate[i]) * up[i];
}

/* training's fused passes: AVX2 (ops_avx2.c) or the libm versions below */
float pd_exp_sum(float *x, int64_t n, float mx) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2) return pd_exp_sum_avx2(x, n, mx);
#endif
    float s = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    return s;
}

void pd_swiglu_backward(float *dgate, float *dup, const float *dsw, const float *gate, const float *up, int64_t n) {
#if PD_X86
    if (n >= 8 && pd_isa_active() >= PD_ISA_AVX2) {
        pd_swiglu_backward_avx2(dgate, dup, dsw, gate, up, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i], sg = 1 / (1 + expf(-g));
        dup[i] += dsw[i] * g * sg;
        dgate[i] += dsw[i] * up[i] * sg * (1 + g * (1 - sg));
    }
}

/* ---- rope ---- */

void pd_rope_cache(const pd_rope *r, int64_t pos, float *cs) {
    int half = r->n_rot / 2;
    /* As ggml: theta_i = pos * base^(-2i/n_rot), built by repeated multiplication in float. */
    float theta_scale = powf(r->base, -2.0f / (float)r->n_rot);
    float theta = (float)pos;
    for (int i = 0; i < half; i++) {
        float ff = r->factors ? r->factors[i] : 1.0f;
        float t = r->freq_scale * (theta / ff);
        cs[2 * i] = cosf(t) * r->attn_factor;
        cs[2 * i + 1] = sinf(t) * r->attn_factor;
        theta *= theta_scale;
    }
}

void pd_rope_apply_cached(const pd_rope *r, const float *cs, float *x) {
    int half = r->n_rot / 2;
    if (r->mode == PD_ROPE_NEOX) {
        for (int i = 0; i < half; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1], x0 = x[i], x1 = x[i + half];
            x[i] = x0 * c - x1 * s;
            x[i + half] = x0 * s + x1 * c;
        }
    } else {
        for (int i = 0; i < half; i++) {
            float c = cs[2 * i], s = cs[2 * i + 1], x0 = x[2 * i], x1 = x[2 * i + 1];
            x[2 * i] = x0 * c - x1 * s;
            x[2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

/* The model rotates every head of a token at the same position: keep the last position's
 * (cos, sin) table per thread so only the first head pays for powf/cosf/sinf. */
#define PD_ROPE_MEMO 512
static _Thread_local struct {
    pd_rope r;
    int64_t pos;
    int valid;
    float cs[PD_ROPE_MEMO];
} pd_rope_memo;

void pd_rope_apply(const pd_rope *r, float *x, int64_t pos) {
    if (r->n_rot <= 0) return;
    if (r->n_rot > PD_ROPE_MEMO) { /* very wide heads: no memo, same arithmetic */
        int half = r->n_rot / 2;
        float theta_scale = powf(r->base, -2.0f / (float)r->n_rot), theta = (float)pos;
        for (int i = 0; i < half; i++, theta *= theta_scale) {
            float t = r->freq_scale * (theta / (r->factors ? r->factors[i] : 1.0f));
            float cs[2] = {cosf(t) * r->attn_factor, sinf(t) * r->attn_factor};
            int a = r->mode == PD_ROPE_NEOX ? i : 2 * i, b = r->mode == PD_ROPE_NEOX ? i + half : 2 * i + 1;
            float x0 = x[a], x1 = x[b];
            x[a] = x0 * cs[0] - x1 * cs[1];
            x[b] = x0 * cs[1] + x1 * cs[0];
        }
        return;
    }
    const pd_rope *m = &pd_rope_memo.r;
    if (!pd_rope_memo.valid || pd_rope_memo.pos != pos || m->mode != r->mode || m->n_rot != r->n_rot ||
        m->base != r->base || m->freq_scale != r->freq_scale || m->attn_factor != r->attn_factor ||
        m->factors != r->factors) {
        pd_rope_cache(r, pos, pd_rope_memo.cs);
        pd_rope_memo.r = *r;
        pd_rope_memo.pos = pos;
        pd_rope_memo.valid = 1;
    }
    pd_rope_apply_cached(r, pd_rope_memo.cs, x);
}

/* ---- attention ---- */

static inline float kv_at(const void *base, pd_type t, int64_t idx) {
    switch (t) {
    case PD_TYPE_F16: return pd_f16_to_f32(((const uint16_t *)base)[idx]);
    case PD_TYPE_BF16: return pd_bf16_to_f32(((const uint16_t *)base)[idx]);
    default: return ((const float *)base)[idx];
    }
}

void pd_attend_head_ref(float *out, const float *q, const void *K, const void *V, pd_type kv_type, int64_t k_stride,
                        int64_t v_stride, int64_t n_kv, int64_t head_dim, float scale) {
    for (int64_t d = 0; d < head_dim; d++) out[d] = 0;
    if (n_kv <= 0) return;
    float m = -INFINITY, l = 0;
    for (int64_t j = 0; j < n_kv; j++) {
        float s = 0;
        for (int64_t d = 0; d < head_dim; d++) s += q[d] * kv_at(K, kv_type, j * k_stride + d);
        s *= scale;
        if (s > m) {
            float c = m == -INFINITY ? 0.0f : expf(m - s);
            for (int64_t d = 0; d < head_dim; d++) out[d] *= c;
            l *= c;
            m = s;
        }
        float p = expf(s - m);
        l += p;
        for (int64_t d = 0; d < head_dim; d++) out[d] += p * kv_at(V, kv_type, j * v_stride + d);
    }
    float inv = 1.0f / l;
    for (int64_t d = 0; d < head_dim; d++) out[d] *= inv;
}

void pd_attend_head(float *out, const float *q, const void *K, const void *V, pd_type kv_type, int64_t k_stride,
                    int64_t v_stride, int64_t n_kv, int64_t head_dim, float scale) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2 && (kv_type == PD_TYPE_F32 || kv_type == PD_TYPE_F16 || kv_type == PD_TYPE_BF16)) {
        pd_attend_head_avx2(out, q, K, V, kv_type, k_stride, v_stride, n_kv, head_dim, scale);
        return;
    }
#endif
    pd_attend_head_ref(out, q, K, V, kv_type, k_stride, v_stride, n_kv, head_dim, scale);
}

void pd_attend_heads(float *out, int64_t out_stride, const float *q, int64_t q_stride, int n_q, const void *K,
                     const void *V, pd_type kv_type, int64_t k_stride, int64_t v_stride, int64_t n_kv, int64_t head_dim,
                     float scale) {
#if PD_X86
    if (pd_isa_active() >= PD_ISA_AVX2 && (kv_type == PD_TYPE_F32 || kv_type == PD_TYPE_F16 || kv_type == PD_TYPE_BF16)) {
        pd_attend_heads_avx2(out, out_stride, q, q_stride, n_q, K, V, kv_type, k_stride, v_stride, n_kv, head_dim, scale);
        return;
    }
#endif
    for (int h = 0; h < n_q; h++)
        pd_attend_head_ref(out + h * out_stride, q + h * q_stride, K, V, kv_type, k_stride, v_stride, n_kv, head_dim,
                           scale);
}
