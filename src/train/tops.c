/* train/tops.c — the f32 training step's elementwise passes outside the GEMMs: RMSNorm forward over a
 * block of rows (with the residual add fused in front), RMSNorm backward over a block of rows (input
 * gradient plus the block's partial weight gradient, one pass over the rows), and the AdamW update.
 * Each has a scalar twin and an AVX2+FMA version (compiled with a target attribute), chosen per call
 * from pd_isa_active() as src/kern's dispatcher does. tmodel_tmpl.h's generic loops define the same
 * passes for the f64 finite-difference instantiation; train_int.h maps its hooks to these. */
#include "train_int.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#define TOPS_X86 1
#include <immintrin.h>
#else
#define TOPS_X86 0
#endif

/* ---- scalar twins ---- */
static void rms_fwd_scalar(float *y, float *rstd, float *x, const float *add, const float *w, int64_t rows, int n,
                           float eps) {
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * n, *yr = y + r * n;
        if (add)
            for (int j = 0; j < n; j++) xr[j] += add[r * n + j];
        float ss = 0;
        for (int j = 0; j < n; j++) ss += xr[j] * xr[j];
        float s = 1.0f / sqrtf(ss / (float)n + eps);
        rstd[r] = s;
        for (int j = 0; j < n; j++) yr[j] = xr[j] * s * w[j];
    }
}
static void rms_bwd_scalar(float *dx, float *dwp, const float *dy, const float *x, const float *w, const float *rstd,
                           int64_t rows, int n) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *gr = dy + r * n;
        float *dxr = dx + r * n, s = rstd[r], dot = 0;
        for (int j = 0; j < n; j++) dot += gr[j] * w[j] * xr[j];
        float c = s * s * (dot * s / (float)n); /* s · x̂ · mean(dy·w·x̂) = c · x */
        for (int j = 0; j < n; j++) {
            dxr[j] += s * (gr[j] * w[j]) - c * xr[j];
            dwp[j] += gr[j] * xr[j] * s;
        }
    }
}
static void adamw_scalar(float *p, const float *g, float *m, float *v, int64_t n, const pd_trk_adamw_args *a) {
    float b1 = a->b1, b2 = a->b2;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * a->gscale;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        float mh = m[i] / a->bc1, vh = v[i] / a->bc2;
        p[i] -= a->lr * (mh / (sqrtf(vh) + a->eps) + a->wd * p[i]);
    }
}

#if TOPS_X86
/* ---- AVX2 + FMA ---- */
__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
__attribute__((target("avx2,fma"))) static void rms_fwd_avx2(float *y, float *rstd, float *x, const float *add,
                                                            const float *w, int64_t rows, int n, float eps) {
    int n8 = n & ~7;
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * n, *yr = y + r * n;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int j = 0;
        if (add) {
            const float *ar = add + r * n;
            for (; j < n8; j += 8) {
                __m256 t = _mm256_add_ps(_mm256_loadu_ps(xr + j), _mm256_loadu_ps(ar + j));
                _mm256_storeu_ps(xr + j, t);
                if (j & 8) a1 = _mm256_fmadd_ps(t, t, a1);
                else a0 = _mm256_fmadd_ps(t, t, a0);
            }
            for (int k = j; k < n; k++) xr[k] += ar[k];
        } else {
            for (; j + 16 <= n8; j += 16) {
                __m256 t0 = _mm256_loadu_ps(xr + j), t1 = _mm256_loadu_ps(xr + j + 8);
                a0 = _mm256_fmadd_ps(t0, t0, a0);
                a1 = _mm256_fmadd_ps(t1, t1, a1);
            }
            for (; j < n8; j += 8) {
                __m256 t = _mm256_loadu_ps(xr + j);
                a0 = _mm256_fmadd_ps(t, t, a0);
            }
        }
        float ss = hsum8(_mm256_add_ps(a0, a1));
        for (; j < n; j++) ss += xr[j] * xr[j];
        float s = 1.0f / sqrtf(ss / (float)n + eps);
        rstd[r] = s;
        __m256 vs = _mm256_set1_ps(s);
        for (j = 0; j < n8; j += 8)
            _mm256_storeu_ps(yr + j, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + j), vs), _mm256_loadu_ps(w + j)));
        for (; j < n; j++) yr[j] = xr[j] * s * w[j];
    }
}
__attribute__((target("avx2,fma"))) static void rms_bwd_avx2(float *dx, float *dwp, const float *dy, const float *x,
                                                            const float *w, const float *rstd, int64_t rows, int n) {
    int n8 = n & ~7;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n, *gr = dy + r * n;
        float *dxr = dx + r * n, s = rstd[r];
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int j = 0;
        for (; j + 16 <= n8; j += 16) {
            a0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(gr + j), _mm256_loadu_ps(w + j)), _mm256_loadu_ps(xr + j), a0);
            a1 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(gr + j + 8), _mm256_loadu_ps(w + j + 8)),
                                 _mm256_loadu_ps(xr + j + 8), a1);
        }
        for (; j < n8; j += 8)
            a0 = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(gr + j), _mm256_loadu_ps(w + j)), _mm256_loadu_ps(xr + j), a0);
        float dot = hsum8(_mm256_add_ps(a0, a1));
        for (; j < n; j++) dot += gr[j] * w[j] * xr[j];
        float c = s * s * (dot * s / (float)n);
        __m256 vs = _mm256_set1_ps(s), vc = _mm256_set1_ps(c);
        for (j = 0; j < n8; j += 8) {
            __m256 g = _mm256_loadu_ps(gr + j), xv = _mm256_loadu_ps(xr + j);
            __m256 d = _mm256_fmadd_ps(vs, _mm256_mul_ps(g, _mm256_loadu_ps(w + j)), _mm256_loadu_ps(dxr + j));
            _mm256_storeu_ps(dxr + j, _mm256_fnmadd_ps(vc, xv, d));
            _mm256_storeu_ps(dwp + j, _mm256_fmadd_ps(_mm256_mul_ps(g, xv), vs, _mm256_loadu_ps(dwp + j)));
        }
        for (; j < n; j++) {
            dxr[j] += s * (gr[j] * w[j]) - c * xr[j];
            dwp[j] += gr[j] * xr[j] * s;
        }
    }
}
/* the scalar twin's operations in the same order, 8 lanes, no FMA contraction: the same bits */
__attribute__((target("avx2,fma"))) static void adamw_avx2(float *p, const float *g, float *m, float *v, int64_t n,
                                                          const pd_trk_adamw_args *a) {
    float b1 = a->b1, b2 = a->b2;
    __m256 vg = _mm256_set1_ps(a->gscale), vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2),
           v1b1 = _mm256_set1_ps(1 - b1), v1b2 = _mm256_set1_ps(1 - b2), vbc1 = _mm256_set1_ps(a->bc1),
           vbc2 = _mm256_set1_ps(a->bc2), vlr = _mm256_set1_ps(a->lr), vwd = _mm256_set1_ps(a->wd),
           veps = _mm256_set1_ps(a->eps);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), vg);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(v1b1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(v1b2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 mh = _mm256_div_ps(mi, vbc1), vh = _mm256_div_ps(vi, vbc2), pi = _mm256_loadu_ps(p + i);
        __m256 u = _mm256_add_ps(_mm256_div_ps(mh, _mm256_add_ps(_mm256_sqrt_ps(vh), veps)), _mm256_mul_ps(vwd, pi));
        _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(vlr, u)));
    }
    if (i < n) adamw_scalar(p + i, g + i, m + i, v + i, n - i, a);
}
#endif

static bool use_avx2(void) {
#if TOPS_X86
    return pd_isa_active() >= PD_ISA_AVX2;
#else
    return false;
#endif
}

void pd_trk_rmsnorm_fwd(float *y, float *rstd, float *x, const float *add, const float *w, int64_t rows, int n,
                        float eps) {
#if TOPS_X86
    if (use_avx2()) { rms_fwd_avx2(y, rstd, x, add, w, rows, n, eps); return; }
#endif
    rms_fwd_scalar(y, rstd, x, add, w, rows, n, eps);
}
void pd_trk_rmsnorm_bwd(float *dx, float *dwp, const float *dy, const float *x, const float *w, const float *rstd,
                        int64_t rows, int n) {
#if TOPS_X86
    if (use_avx2()) { rms_bwd_avx2(dx, dwp, dy, x, w, rstd, rows, n); return; }
#endif
    rms_bwd_scalar(dx, dwp, dy, x, w, rstd, rows, n);
}
void pd_trk_adamw(float *p, const float *g, float *m, float *v, int64_t n, const pd_trk_adamw_args *a) {
#if TOPS_X86
    if (use_avx2()) { adamw_avx2(p, g, m, v, n, a); return; }
#endif
    adamw_scalar(p, g, m, v, n, a);
}
