/* tests/kern/avx512bf16_emu.h — scalar stand-ins for exactly the intrinsics gemm_bf16_avx512.c uses,
 * written from Intel's definition of VDPBF16PS: per 32-bit lane j, with the pair's odd element first,
 *     acc += a.bf16[2j+1]·b.bf16[2j+1];  acc += a.bf16[2j]·b.bf16[2j]
 * each an F32 FMA with round-to-nearest-even, DAZ on its inputs and FTZ on its result, MXCSR ignored.
 * Written independently of gemm_bf16.c (no shared helper), so test_gemm_bf16_emu compares two
 * readings of the definition. */
#ifndef PD_AVX512BF16_EMU_H
#define PD_AVX512BF16_EMU_H
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef union { float f[16]; uint32_t u[16]; uint16_t h[32]; } emu_bh512;
typedef emu_bh512 __m512, __m512i, __m512bh;

static inline emu_bh512 _mm512_setzero_ps(void) { emu_bh512 r; memset(&r, 0, sizeof r); return r; }
static inline emu_bh512 _mm512_loadu_si512(const void *p) { emu_bh512 r; memcpy(&r, p, 64); return r; }
static inline emu_bh512 _mm512_set1_epi32(int v) {
    emu_bh512 r;
    for (int i = 0; i < 16; i++) r.u[i] = (uint32_t)v;
    return r;
}
static inline void _mm512_storeu_ps(void *p, emu_bh512 a) { memcpy(p, &a, 64); }
/* a float whose bits are x, with a zero exponent field read as a zero of its sign (DAZ) */
static inline float emu_bits_daz(uint32_t x) {
    if ((x & 0x7f800000u) == 0) x &= 0x80000000u;
    float f;
    memcpy(&f, &x, 4);
    return f;
}
static inline float emu_fma_ftz(float a, float b, float c) {
    uint32_t cb;
    memcpy(&cb, &c, 4);
    float r = fmaf(a, b, emu_bits_daz(cb));
    uint32_t rb;
    memcpy(&rb, &r, 4);
    return emu_bits_daz(rb); /* FTZ: a subnormal result is the zero of its sign */
}
static inline emu_bh512 _mm512_dpbf16_ps(emu_bh512 src, emu_bh512 a, emu_bh512 b) {
    for (int j = 0; j < 16; j++) {
        float a1 = emu_bits_daz((uint32_t)a.h[2 * j + 1] << 16), b1 = emu_bits_daz((uint32_t)b.h[2 * j + 1] << 16);
        float a0 = emu_bits_daz((uint32_t)a.h[2 * j] << 16), b0 = emu_bits_daz((uint32_t)b.h[2 * j] << 16);
        src.f[j] = emu_fma_ftz(a1, b1, src.f[j]);
        src.f[j] = emu_fma_ftz(a0, b0, src.f[j]);
    }
    return src;
}
#endif
