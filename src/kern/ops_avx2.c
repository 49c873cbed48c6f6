/* kern/ops_avx2.c — AVX2 + FMA element-wise ops of the forward pass: swiglu (silu(gate) * up) with
 * the 8-lane exp of simd_avx2_util.h instead of one libm expf per element (scalar twin:
 * pd_silu_poly), and rmsnorm (sum of squares in double, 8 lanes; the scalar level sums in the same
 * order, so the two agree to the bit). Per-row ops: a token's result never depends on the batch. */
#include "kern_impl.h"
#if PD_X86
#include <immintrin.h>
#include <math.h>

PD_TARGET_AVX2_BEGIN

#include "simd_avx2_util.h"

/* silu(g) = g * sigmoid(g) with e = exp(-|g|) <= 1: sigmoid = 1/(1+e) for g >= 0, e/(1+e) below */
void pd_swiglu_avx2(float *out, const float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 e = pd_exp_le0_avx2(_mm256_or_ps(g, sign));
        __m256 num = _mm256_blendv_ps(one, e, _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ));
        __m256 s = _mm256_mul_ps(g, _mm256_div_ps(num, _mm256_add_ps(one, e)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) out[i] = pd_silu_poly(gate[i]) * up[i];
}

/* training: x[i] = e^(x[i] − mx), x[i] <= mx; two accumulators, then the tail per element */
float pd_exp_sum_avx2(float *x, int64_t n, float mx) {
    __m256 m = _mm256_set1_ps(mx), s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 e0 = pd_exp_le0_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        __m256 e1 = pd_exp_le0_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m));
        _mm256_storeu_ps(x + i, e0);
        _mm256_storeu_ps(x + i + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 e = pd_exp_le0_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_ps(s0, e);
    }
    float s = hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    return s;
}

/* training: the swiglu backward, σ from e = exp(−|g|) as pd_swiglu_avx2 */
void pd_swiglu_backward_avx2(float *dgate, float *dup, const float *dsw, const float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i), u = _mm256_loadu_ps(up + i), d = _mm256_loadu_ps(dsw + i);
        __m256 e = pd_exp_le0_avx2(_mm256_or_ps(g, sign));
        __m256 num = _mm256_blendv_ps(one, e, _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ));
        __m256 sg = _mm256_div_ps(num, _mm256_add_ps(one, e));
        __m256 t = _mm256_fmadd_ps(g, _mm256_sub_ps(one, sg), one); /* 1 + g·(1 − σ) */
        _mm256_storeu_ps(dup + i, _mm256_fmadd_ps(d, _mm256_mul_ps(g, sg), _mm256_loadu_ps(dup + i)));
        _mm256_storeu_ps(dgate + i, _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(d, u), sg), t, _mm256_loadu_ps(dgate + i)));
    }
    if (i < n) pd_swiglu_backward(dgate + i, dup + i, dsw + i, gate + i, up + i, n - i);
}

/* pd_rmsnorm: squares summed in double in pd_sumsq_lanes's order, then the same float scaling */
void pd_rmsnorm_avx2(float *out, const float *x, const float *w, int64_t n, float eps) {
    int64_t n8 = n & ~(int64_t)7, i = 0;
    __m256d a = _mm256_setzero_pd(), b = a; /* lanes 0-3 and 4-7 */
    for (; i < n8; i += 8) {
        __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), hi = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        a = _mm256_fmadd_pd(lo, lo, a); /* the squares are exact: fma == mul + add */
        b = _mm256_fmadd_pd(hi, hi, b);
    }
    __m256d t = _mm256_add_pd(a, b);                                              /* s_j + s_j+4 */
    __m128d u = _mm_add_pd(_mm256_castpd256_pd128(t), _mm256_extractf128_pd(t, 1)); /* (0+4)+(2+6), (1+5)+(3+7) */
    double ss = _mm_cvtsd_f64(_mm_add_sd(u, _mm_unpackhi_pd(u, u)));
    for (; i < n; i++) ss += (double)x[i] * x[i];
    float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    __m256 sv = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), sv);
        _mm256_storeu_ps(out + i, w ? _mm256_mul_ps(v, _mm256_loadu_ps(w + i)) : v);
    }
    for (; i < n; i++) out[i] = w ? x[i] * scale * w[i] : x[i] * scale;
}

PD_TARGET_END
#endif
