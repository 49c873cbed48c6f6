/* kern/simd_avx2_util.h — the small AVX2/F16C helpers every AVX2 kernel file uses (horizontal sums,
 * scalar F16 conversion). Include it after PD_TARGET_AVX2_BEGIN, so the functions are compiled for
 * that ISA like the kernels that call them. */
#ifndef PONDER_KERN_SIMD_AVX2_UTIL_H
#define PONDER_KERN_SIMD_AVX2_UTIL_H
#include <immintrin.h>
#include <stdint.h>

/* F16C scalar conversion: inline, and (unlike a call) it leaves the vector registers alone */
static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* sum of 8 floats */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* sum of 8 int32 */
static inline int32_t hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* e^x for x <= 0, 8 lanes (attention's softmax, silu, training's softmax; pd_exp_le0 in ops.c is
 * its scalar twin): x = n ln2 + r (ln2 split in two for accuracy), e^r from the Cephes expf minimax
 * polynomial (about 1 ulp), 2^n put into the exponent. x below -87 gives ~e^-87; NaN stays NaN
 * (maxps returns its second operand when either is NaN, so x goes second). */
static inline __m256 pd_exp_le0_avx2(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-6f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    __m256 y = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

#endif
