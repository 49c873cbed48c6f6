/* tests/kern/avx512_emu.h — scalar stand-ins for exactly the x86 intrinsics simd_avx512.c uses,
 * written from the instruction definitions (lane order, saturation, masking), so the AVX-512
 * kernels' logic is tested on CPUs without AVX-512 (test_avx512_emu.c). Not a general emulator. */
#ifndef PD_AVX512_EMU_H
#define PD_AVX512_EMU_H
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "ponder/kern.h"

typedef union { float f[16]; int32_t i[16]; int16_t h[32]; uint16_t uh[32]; int8_t b[64]; uint8_t ub[64]; } emu_v512;
typedef union { float f[8]; int32_t i[8]; int16_t h[16]; uint16_t uh[16]; int8_t b[32]; uint8_t ub[32]; } emu_v256;
typedef union { int16_t h[8]; uint16_t uh[8]; int8_t b[16]; uint8_t ub[16]; } emu_v128;
typedef emu_v512 __m512, __m512i, __m512d;
typedef emu_v256 __m256, __m256i, __m256d;
typedef emu_v128 __m128i;
typedef uint16_t __mmask16;
typedef uint64_t __mmask64;

static inline float _cvtsh_ss(unsigned short h) { return pd_f16_to_f32(h); }
static inline emu_v512 _mm512_setzero_ps(void) { emu_v512 r; memset(&r, 0, sizeof r); return r; }
static inline emu_v512 _mm512_setzero_si512(void) { return _mm512_setzero_ps(); }
static inline emu_v256 _mm256_setzero_si256(void) { emu_v256 r; memset(&r, 0, sizeof r); return r; }
static inline emu_v512 _mm512_loadu_ps(const void *p) { emu_v512 r; memcpy(&r, p, 64); return r; }
static inline emu_v256 _mm256_loadu_si256(const void *p) { emu_v256 r; memcpy(&r, p, 32); return r; }
static inline emu_v128 _mm_loadu_si128(const void *p) { emu_v128 r; memcpy(&r, p, 16); return r; }
/* masked loads touch only the selected elements (the real ones do not fault on the others) */
static inline emu_v512 _mm512_maskz_loadu_ps(__mmask16 k, const void *p) {
    emu_v512 r = _mm512_setzero_ps();
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r.f[i], (const char *)p + 4 * i, 4);
    return r;
}
static inline emu_v256 _mm256_maskz_loadu_epi16(__mmask16 k, const void *p) {
    emu_v256 r = _mm256_setzero_si256();
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) memcpy(&r.uh[i], (const char *)p + 2 * i, 2);
    return r;
}
static inline emu_v512 _mm512_cvtph_ps(emu_v256 a) {
    emu_v512 r;
    for (int i = 0; i < 16; i++) r.f[i] = pd_f16_to_f32(a.uh[i]);
    return r;
}
static inline emu_v512 _mm512_castsi512_ps(emu_v512 a) { return a; }
static inline emu_v512 _mm512_castpd_ps(emu_v512 a) { return a; }
static inline emu_v256 _mm256_castps_pd(emu_v256 a) { return a; }
/* the upper half after a 256 → 512 cast is undefined: fill it with junk so code relying on it fails */
static inline emu_v512 _mm512_castsi256_si512(emu_v256 a) {
    emu_v512 r;
    memset(&r, 0x5a, sizeof r);
    memcpy(&r, &a, 32);
    return r;
}
static inline emu_v512 _mm512_castpd256_pd512(emu_v256 a) { return _mm512_castsi256_si512(a); }
static inline emu_v512 _mm512_inserti64x4(emu_v512 a, emu_v256 b, int imm) {
    memcpy((char *)&a + 32 * (imm & 1), &b, 32);
    return a;
}
static inline emu_v512 _mm512_insertf64x4(emu_v512 a, emu_v256 b, int imm) { return _mm512_inserti64x4(a, b, imm); }
static inline emu_v512 _mm512_slli_epi32(emu_v512 a, int s) {
    for (int i = 0; i < 16; i++) a.i[i] = (int32_t)((uint32_t)a.i[i] << s);
    return a;
}
static inline emu_v512 _mm512_cvtepu16_epi32(emu_v256 a) {
    emu_v512 r;
    for (int i = 0; i < 16; i++) r.i[i] = a.uh[i];
    return r;
}
static inline emu_v512 _mm512_fmadd_ps(emu_v512 a, emu_v512 b, emu_v512 c) {
    for (int i = 0; i < 16; i++) c.f[i] = fmaf(a.f[i], b.f[i], c.f[i]);
    return c;
}
static inline emu_v512 _mm512_mul_ps(emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 16; i++) a.f[i] *= b.f[i];
    return a;
}
static inline emu_v512 _mm512_add_ps(emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 16; i++) a.f[i] += b.f[i];
    return a;
}
static inline float _mm512_reduce_add_ps(emu_v512 a) {
    float s = 0;
    for (int i = 0; i < 16; i++) s += a.f[i];
    return s;
}
static inline emu_v128 _mm_and_si128(emu_v128 a, emu_v128 b) {
    for (int i = 0; i < 16; i++) a.ub[i] &= b.ub[i];
    return a;
}
static inline emu_v128 _mm_set1_epi8(char v) { emu_v128 r; memset(&r, v, 16); return r; }
static inline emu_v128 _mm_srli_epi16(emu_v128 a, int s) {
    for (int i = 0; i < 8; i++) a.uh[i] = (uint16_t)(a.uh[i] >> s);
    return a;
}
static inline emu_v256 _mm256_sub_epi8(emu_v256 a, emu_v256 b) {
    for (int i = 0; i < 32; i++) a.b[i] = (int8_t)(a.b[i] - b.b[i]);
    return a;
}
static inline emu_v256 _mm256_set_m128i(emu_v128 hi, emu_v128 lo) {
    emu_v256 r;
    memcpy(&r, &lo, 16);
    memcpy((char *)&r + 16, &hi, 16);
    return r;
}
static inline emu_v256 _mm256_set1_epi8(char v) { emu_v256 r; memset(&r, v, 32); return r; }
static inline emu_v256 _mm256_set1_ps(float v) {
    emu_v256 r;
    for (int i = 0; i < 8; i++) r.f[i] = v;
    return r;
}
static inline __mmask64 _mm512_movepi8_mask(emu_v512 a) {
    __mmask64 m = 0;
    for (int i = 0; i < 64; i++)
        if (a.b[i] < 0) m |= 1ull << i;
    return m;
}
static inline emu_v512 _mm512_mask_sub_epi8(emu_v512 src, __mmask64 k, emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 64; i++)
        if (k >> i & 1) src.b[i] = (int8_t)(a.b[i] - b.b[i]);
    return src;
}
static inline emu_v512 _mm512_abs_epi8(emu_v512 a) { /* |-128| = 0x80 */
    for (int i = 0; i < 64; i++) a.ub[i] = (uint8_t)(a.b[i] < 0 ? -a.b[i] : a.b[i]);
    return a;
}
static inline emu_v512 _mm512_cvtepi32_ps(emu_v512 a) {
    emu_v512 r;
    for (int i = 0; i < 16; i++) r.f[i] = (float)a.i[i];
    return r;
}
static inline emu_v512 _mm512_set1_epi16(short v) {
    emu_v512 r;
    for (int i = 0; i < 32; i++) r.h[i] = v;
    return r;
}
/* unsigned a x signed b, adjacent pairs summed with signed saturation */
static inline emu_v512 _mm512_maddubs_epi16(emu_v512 a, emu_v512 b) {
    emu_v512 r;
    for (int i = 0; i < 32; i++) {
        int v = a.ub[2 * i] * b.b[2 * i] + a.ub[2 * i + 1] * b.b[2 * i + 1];
        r.h[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    return r;
}
static inline emu_v512 _mm512_madd_epi16(emu_v512 a, emu_v512 b) {
    emu_v512 r;
    for (int i = 0; i < 16; i++) r.i[i] = a.h[2 * i] * b.h[2 * i] + a.h[2 * i + 1] * b.h[2 * i + 1];
    return r;
}
/* VNNI: 4 unsigned x signed byte products added to each int32 lane */
static inline emu_v512 _mm512_dpbusd_epi32(emu_v512 s, emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 16; i++) {
        int t = 0;
        for (int j = 0; j < 4; j++) t += a.ub[4 * i + j] * b.b[4 * i + j];
        s.i[i] += t;
    }
    return s;
}
/* ---- used by the K-quant kernels ---- */
typedef uint32_t __mmask32;
static inline emu_v512 _mm512_loadu_si512(const void *p) { emu_v512 r; memcpy(&r, p, 64); return r; }
static inline emu_v512 _mm512_set1_ps(float v) {
    emu_v512 r;
    for (int i = 0; i < 16; i++) r.f[i] = v;
    return r;
}
static inline emu_v512 _mm512_set1_epi8(char v) { emu_v512 r; memset(&r, v, 64); return r; }
static inline emu_v512 _mm512_and_si512(emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 64; i++) a.ub[i] &= b.ub[i];
    return a;
}
static inline emu_v512 _mm512_or_si512(emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 64; i++) a.ub[i] |= b.ub[i];
    return a;
}
/* 16-bit lane shifts: bits cross from one byte of a lane into the other (as on hardware) */
static inline emu_v512 _mm512_srli_epi16(emu_v512 a, unsigned s) {
    for (int i = 0; i < 32; i++) a.uh[i] = s > 15 ? 0 : (uint16_t)(a.uh[i] >> s);
    return a;
}
static inline emu_v512 _mm512_slli_epi16(emu_v512 a, unsigned s) {
    for (int i = 0; i < 32; i++) a.uh[i] = s > 15 ? 0 : (uint16_t)(a.uh[i] << s);
    return a;
}
static inline emu_v256 _mm256_srli_epi16(emu_v256 a, int s) {
    for (int i = 0; i < 16; i++) a.uh[i] = s > 15 ? 0 : (uint16_t)(a.uh[i] >> s);
    return a;
}
static inline emu_v512 _mm512_add_epi16(emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 32; i++) a.uh[i] = (uint16_t)(a.uh[i] + b.uh[i]);
    return a;
}
static inline emu_v512 _mm512_add_epi32(emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 16; i++) a.i[i] = (int32_t)((uint32_t)a.i[i] + (uint32_t)b.i[i]);
    return a;
}
static inline emu_v512 _mm512_mask_set1_epi16(emu_v512 src, __mmask32 k, short v) {
    for (int i = 0; i < 32; i++)
        if (k >> i & 1) src.h[i] = v;
    return src;
}
static inline emu_v512 _mm512_maskz_set1_epi32(__mmask16 k, int v) {
    emu_v512 r = _mm512_setzero_si512();
    for (int i = 0; i < 16; i++)
        if (k >> i & 1) r.i[i] = v;
    return r;
}
/* result lane i = a's lane (idx lane i mod 32) */
static inline emu_v512 _mm512_permutexvar_epi16(emu_v512 idx, emu_v512 a) {
    emu_v512 r;
    for (int i = 0; i < 32; i++) r.h[i] = a.h[idx.uh[i] & 31];
    return r;
}
static inline emu_v256 _mm256_cvtepi8_epi16(emu_v128 a) {
    emu_v256 r;
    for (int i = 0; i < 16; i++) r.h[i] = a.b[i];
    return r;
}
/* VNNI: 2 signed 16-bit products added to each int32 lane (wrapping, no saturation) */
static inline emu_v512 _mm512_dpwssd_epi32(emu_v512 s, emu_v512 a, emu_v512 b) {
    for (int i = 0; i < 16; i++)
        s.i[i] = (int32_t)((uint32_t)s.i[i] + (uint32_t)((int64_t)a.h[2 * i] * b.h[2 * i] + (int64_t)a.h[2 * i + 1] * b.h[2 * i + 1]));
    return s;
}
#endif
