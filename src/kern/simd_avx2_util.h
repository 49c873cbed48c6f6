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

#endif
