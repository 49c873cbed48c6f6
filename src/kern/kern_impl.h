/* kern/kern_impl.h — private to the kern layer: the ggml block formats (defined once, here),
 * the per-ISA kernel tables the dispatcher chooses from, and helpers shared by the SIMD files. */
#ifndef PD_KERN_IMPL_H
#define PD_KERN_IMPL_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "ponder/kern.h"

/* x86 SIMD kernels are compiled on x86 only (elsewhere the scalar table is all there is;
 * -DPD_NO_X86_SIMD builds that configuration on x86 too, to test it). */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(PD_NO_X86_SIMD)
#define PD_X86 1
#else
#define PD_X86 0
#endif

/* Per-file instruction-set regions (no global -m flags): GCC's target pragmas, or clang's
 * attribute push, which applies the same target to every function in the region. */
#if defined(__clang__)
#define PD_TARGET_AVX2_BEGIN _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
#define PD_TARGET_AVX512_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx2,fma,f16c\"))), apply_to = function)")
#define PD_TARGET_AVX512VNNI_BEGIN \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c\"))), apply_to = function)")
#define PD_TARGET_END _Pragma("clang attribute pop")
#define PD_UNROLL4 _Pragma("unroll 4")
#else
#define PD_TARGET_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define PD_TARGET_AVX512_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx2,fma,f16c\")")
#define PD_TARGET_AVX512VNNI_BEGIN \
    _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c\")")
#define PD_TARGET_END _Pragma("GCC pop_options")
#define PD_UNROLL4 _Pragma("GCC unroll 4")
#endif

#define PD_QK 32     /* Q8_0 / Q4_0 block */
#define PD_QK_K 256  /* K-quant super-block */

/* Layouts exactly as ggml-common.h (little-endian, packed by natural alignment). */
typedef struct { uint16_t d; int8_t qs[PD_QK]; } pd_block_q8_0;                       /* 34 B */
typedef struct { uint16_t d; uint8_t qs[PD_QK / 2]; } pd_block_q4_0;                  /* 18 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[PD_QK_K / 2]; } pd_block_q4_K; /* 144 B */
typedef struct { uint8_t ql[PD_QK_K / 2]; uint8_t qh[PD_QK_K / 4]; int8_t scales[PD_QK_K / 16]; uint16_t d; } pd_block_q6_K; /* 210 B */
typedef struct { float d; int8_t qs[PD_QK_K]; int16_t bsums[PD_QK_K / 16]; } pd_block_q8_K; /* 292 B */

/* Legacy 32-weight blocks with a min or a 5th bit, IQ4_NL (non-linear 4-bit grid), the Q8_1
 * activations (s = d * sum(qs), F16), and the 2/3/5-bit K-quants and IQ4_XS (256 weights). */
typedef struct { uint16_t d, m; uint8_t qs[PD_QK / 2]; } pd_block_q4_1;                /* 20 B */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[PD_QK / 2]; } pd_block_q5_0;    /* 22 B */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[PD_QK / 2]; } pd_block_q5_1; /* 24 B */
typedef struct { uint16_t d, s; int8_t qs[PD_QK]; } pd_block_q8_1;                     /* 36 B */
typedef struct { uint16_t d; uint8_t qs[PD_QK / 2]; } pd_block_iq4_nl;                 /* 18 B */
typedef struct { uint8_t scales[PD_QK_K / 16]; uint8_t qs[PD_QK_K / 4]; uint16_t d, dmin; } pd_block_q2_K; /* 84 B */
typedef struct { uint8_t hmask[PD_QK_K / 8]; uint8_t qs[PD_QK_K / 4]; uint8_t scales[12]; uint16_t d; } pd_block_q3_K; /* 110 B */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[PD_QK_K / 8]; uint8_t qs[PD_QK_K / 2]; } pd_block_q5_K; /* 176 B */
typedef struct { uint16_t d, scales_h; uint8_t scales_l[PD_QK_K / 64]; uint8_t qs[PD_QK_K / 2]; } pd_block_iq4_xs; /* 136 B */

/* The 16 IQ4_NL / IQ4_XS grid values (ggml's kvalues_iq4nl). */
extern const int8_t pd_iq4nl_values[16];

_Static_assert(sizeof(pd_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(pd_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(pd_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(pd_block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(pd_block_iq4_nl) == 18, "iq4_nl block");
_Static_assert(sizeof(pd_block_q2_K) == 84, "q2_K block");
_Static_assert(sizeof(pd_block_q3_K) == 110, "q3_K block");
_Static_assert(sizeof(pd_block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(pd_block_iq4_xs) == 136, "iq4_xs block");
_Static_assert(sizeof(pd_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(pd_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(pd_block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(pd_block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(pd_block_q8_K) == 292, "q8_K block");

/* Unpack the j-th (0..7) 6-bit scale and min of a Q4_K super-block. */
static inline void pd_q4k_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

/* The 32 fifth bits of a Q5_0 / Q5_1 block (bit j = weight j). */
static inline uint32_t pd_q5_high(const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    return h;
}

/* The sixteen Q3_K sub-block scales (6-bit, stored with +32) unpacked to signed values. */
static inline void pd_q3k_scales(const uint8_t s[12], int8_t out[16]) {
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
        int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* The 6-bit scale (0..63, stored with +32) of 32-weight sub-block ib (0..7) of an IQ4_XS block. */
static inline int pd_iq4xs_scale(const pd_block_iq4_xs *b, int ib) {
    return ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b->scales_h >> (2 * ib)) & 3) << 4);
}

/* The four signed 6-bit Q6_K values of column l (0..31) of a 128-weight half (ql: its 64 bytes,
 * qh: its 32 bytes): elements l, l+32, l+64, l+96 of the half. */
static inline void pd_q6k_vals(const uint8_t *ql, const uint8_t *qh, int l, int q[4]) {
    q[0] = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
    q[1] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
    q[2] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
    q[3] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
}

/* Tile entry for kernels instantiated for 1..4 tokens: calls FN(MR, args...) with MR = mr. */
#define PD_TILE_MR_SWITCH(FN, mr, ...)      \
    switch (mr) {                           \
    case 1: FN(1, __VA_ARGS__); break;      \
    case 2: FN(2, __VA_ARGS__); break;      \
    case 3: FN(3, __VA_ARGS__); break;      \
    default: FN(4, __VA_ARGS__); break;     \
    }

/* A matmul tile for a 256-weight type with Q8_K activations, from ROWFN(n, row, xb[KT], out[KT])
 * (one weight row against KT tokens, its blocks unpacked once for all of them); the tokens left
 * over (mr % KT) go through single dots (ONE). */
#define PD_KQ_TILE(name, WB, ROWFN, ONE, KT)                                                                        \
    static void name(int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, int mr, float *y,         \
                     int64_t ldy) {                                                                                   \
        int m0 = 0;                                                                                                   \
        for (; m0 + (KT) <= mr; m0 += (KT)) {                                                                         \
            const pd_block_q8_K *xb[KT];                                                                              \
            for (int t = 0; t < (KT); t++) xb[t] = (const pd_block_q8_K *)((const char *)x + (size_t)(m0 + t) * xs);  \
            for (int r = 0; r < nr; r++) {                                                                            \
                float o[KT];                                                                                          \
                ROWFN(n, (const WB *)((const char *)w + (size_t)r * ws), xb, o);                                      \
                for (int t = 0; t < (KT); t++) y[(m0 + t) * ldy + r] = o[t];                                          \
            }                                                                                                         \
        }                                                                                                             \
        if (m0 < mr) pd_tile_by_dots(ONE, n, w, ws, nr, (const char *)x + (size_t)m0 * xs, xs, mr - m0, y + m0 * ldy, \
                                     ldy);                                                                            \
    }

/* All eight Q4_K scales (sc[0..7]) and mins (mn[0..7]) at once, with 32-bit word operations;
 * equal to pd_q4k_scale_min for j = 0..7 (the SIMD kernels use this form). */
static inline void pd_q4k_unpack(const uint8_t *s, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t u0, u1, u2, w[4];
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    w[0] = u0 & 0x3f3f3f3fu;
    w[1] = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    w[2] = u1 & 0x3f3f3f3fu;
    w[3] = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    memcpy(sc, w, 8);
    memcpy(mn, w + 2, 8);
}

/* One weight row · one activation row (activation already in the vec_dot type). */
typedef float (*pd_dot_fn)(int64_t n, const void *w, const void *x);
/* Matmul tile: y[m*ldy + r] = dot(w row r, x row m) for r < nr, m < mr, where rows are w_stride /
 * x_stride bytes apart and x rows are in the matmul activation format (see pd_mm_act_type). */
typedef void (*pd_tile_fn)(int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int mr,
                           float *y, int64_t ldy);

typedef struct {
    pd_dot_fn dot[PD_TYPE_COUNT];   /* public vec_dot semantics */
    pd_tile_fn tile[PD_TYPE_COUNT]; /* matmul tiles */
    int tile_nr[PD_TYPE_COUNT], tile_mr[PD_TYPE_COUNT]; /* tile shape (rows x tokens) per type */
    /* nr rows x 1..tile_mr tokens of a PD_LAYOUT_R8 matrix (w: the first group's start, w_stride: the
     * GGUF row bytes, nr = 8, or tile_nr (a multiple of 8: consecutive groups) where that many rows
     * are left); NULL where the level has none (pd_matmul then unpacks the group) */
    pd_tile_fn tile_r8[PD_TYPE_COUNT];
    /* 1: pd_matmul appends to each Q8_0 activation row, after its blocks, the int32 8*sum(qs) of
     * every block (Q4_0's -8 offset, computed once per token instead of once per 8-row tile) */
    int act_sums[PD_TYPE_COUNT];
    /* F32 / F16 / BF16 weights (mm_f32.c): the whole product after the activation conversion, with
     * its own blocking and threads (nt); r8: w's rows below N rounded down to 8 are in PD_LAYOUT_R8's
     * 8-row groups (repack.c), the rest rows of ws bytes; NULL: pd_matmul's row blocks of tiles */
    pd_status (*mm_float[PD_TYPE_COUNT])(pd_type t, int64_t K, int64_t N, const char *w, size_t ws, int r8,
                                         const void *x, size_t xs, int64_t M, float *y, int64_t ldy, int nt);
} pd_kern_table;

/* Scalar reference dots (dot_ref.c). */
float pd_dot_f32_ref(int64_t n, const void *w, const void *x);
float pd_dot_f16_ref(int64_t n, const void *w, const void *x);
float pd_dot_bf16_ref(int64_t n, const void *w, const void *x);
float pd_dot_q8_0_ref(int64_t n, const void *w, const void *x);
float pd_dot_q4_0_ref(int64_t n, const void *w, const void *x);
float pd_dot_q4_K_ref(int64_t n, const void *w, const void *x);
float pd_dot_q6_K_ref(int64_t n, const void *w, const void *x);
float pd_dot_q4_1_ref(int64_t n, const void *w, const void *x);
float pd_dot_q5_0_ref(int64_t n, const void *w, const void *x);
float pd_dot_q5_1_ref(int64_t n, const void *w, const void *x);
float pd_dot_iq4_nl_ref(int64_t n, const void *w, const void *x);
float pd_dot_q2_K_ref(int64_t n, const void *w, const void *x);
float pd_dot_q3_K_ref(int64_t n, const void *w, const void *x);
float pd_dot_q5_K_ref(int64_t n, const void *w, const void *x);
float pd_dot_iq4_xs_ref(int64_t n, const void *w, const void *x);

/* Reference quantisers / dequantisers of the K-quants and IQ4 types (quant_k.c): the algorithms
 * of ggml's quantize_row_*_ref (IQ4: quantize_iq4_* without importance weights), so our files
 * hold the bytes llama-quantize writes. nb = number of blocks. */
void pd_quant_q2_K(const float *x, void *y, int64_t nb);
void pd_quant_q3_K(const float *x, void *y, int64_t nb);
void pd_quant_q4_K(const float *x, void *y, int64_t nb);
void pd_quant_q5_K(const float *x, void *y, int64_t nb);
void pd_quant_q6_K(const float *x, void *y, int64_t nb);
void pd_quant_iq4_nl(const float *x, void *y, int64_t nb);
void pd_quant_iq4_xs(const float *x, void *y, int64_t nb);
void pd_dequant_q2_K(const void *x, float *y, int64_t nb);
void pd_dequant_q3_K(const void *x, float *y, int64_t nb);
void pd_dequant_q5_K(const void *x, float *y, int64_t nb);
void pd_dequant_iq4_nl(const void *x, float *y, int64_t nb);
void pd_dequant_iq4_xs(const void *x, float *y, int64_t nb);
/* Round half to even, for |v| < 2^22 (ggml's nearest_int). */
static inline int pd_nearest_int(float v) {
    float t = v + 12582912.f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void pd_kern_table_scalar(pd_kern_table *t);
void pd_kern_table_avx2(pd_kern_table *t);   /* fills what AVX2 improves, keeps the rest */
void pd_kern_table_avx512(pd_kern_table *t);
/* Whether type t has a PD_LAYOUT_R8 form (repack.c's one list of them). */
bool pd_r8_type(pd_type t);

/* AVX-512 tiles over the 8-row repacked layout (PD_LAYOUT_R8), filled after the AVX-512 level has
 * taken the AVX2 level's 8-row tiles: Q4_0 / Q8_0 (simd_avx512_r8.c) and Q4_K (simd_avx512_q4k.c);
 * each replaces an entry only where its tile is measured faster on AVX-512 hardware. Q6_K
 * (simd_avx512_q6k.c) has an 8-row tile on this level only (AVX512_VNNI CPUs). */
void pd_kern_table_avx512_r8(pd_kern_table *t);
void pd_kern_table_avx512_q4k(pd_kern_table *t);
void pd_kern_table_avx512_q6k(pd_kern_table *t);
/* The F32 tiles in lane order (mm_f32.c; see pd_dot_f32_lanes): every SIMD level, so an output does
 * not depend on the number of tokens in the call or on the machine. */
void pd_kern_table_f32_lanes(pd_kern_table *t);
/* The AVX2 level's F16 / BF16 matmul in the same lane order (F16/BF16 weights converted exactly). */
void pd_kern_table_f16_lanes(pd_kern_table *t);
/* The AVX2 level's F32 / F16 / BF16 product (mm_f32.c; kt->mm_float's signature), and the AVX-512
 * level's (mm_f32_avx512.c: a wider prefill tile in the same lane order; decode the AVX2 path, or on
 * PD_LAYOUT_R8 groups a one-token tile of its own, the same bits). */
pd_status pd_mm_float_avx2(pd_type wt, int64_t K, int64_t N, const char *w, size_t ws, int r8, const void *xv,
                           size_t xs, int64_t M, float *y, int64_t ldy, int nt);
void pd_kern_table_lanes_avx512(pd_kern_table *t);
/* mm_f32.c's per-thread scratch for those products' activation copies (valid until the next call
 * on the same thread) */
void *pd_mm_float_scratch(size_t n);

/* sgemm.c's AVX2+FMA register loop (x86 only): acc[MR][NR] = Σ_k pa[k][MR]ᵀ·pb[k][NR] over kc packed
 * k in panel order, from 0, one FMA per k (gemm_bf16.c's AVX2 path runs it on BF16-exact panels) */
#define PD_SGEMM_MR 6
#define PD_SGEMM_NR 16
void pd_sgemm_micro_avx2_acc(int kc, const float *pa, const float *pb, float *acc);
/* sgemm_avx512.c's register loop (AVX-512F): the same contract on a 12 × 32 tile */
#define PD_SGEMM512_MR 12
#define PD_SGEMM512_NR 32
void pd_sgemm_micro_avx512_acc(int kc, const float *pa, const float *pb, float *acc);
/* pd_sgemm's built-in blocked GEMM (sgemm.c) over a given register loop (mr × nr, acc as above), on
 * nt threads (1: the calling thread alone); tests run it with the emulated AVX-512 loop */
typedef void (*pd_sgemm_acc_fn)(int kc, const float *pa, const float *pb, float *acc);
void pd_sgemm_blocked(pd_sgemm_acc_fn acc, int mr, int nr, int nt, int trans_a, int trans_b, int64_t M, int64_t N,
                      int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc);
/* CPUID leaf 7 subleaf 1 EAX bit 5: the CPU has AVX512_BF16 (vdpbf16ps; dispatch.c) */
int pd_cpu_avx512bf16(void);
/* swiglu with the 8-lane exp (ops_avx2.c); pd_silu_poly (kern.h) is its per-element twin */
void pd_swiglu_avx2(float *out, const float *gate, const float *up, int64_t n);
/* training's fused passes with the same exp (ops_avx2.c; scalar twins in ops.c use expf) */
float pd_exp_sum_avx2(float *x, int64_t n, float mx);
void pd_swiglu_backward_avx2(float *dgate, float *dup, const float *dsw, const float *gate, const float *up, int64_t n);
/* rmsnorm with the sum of squares of pd_sumsq_lanes (bit-identical to the scalar level) */
void pd_rmsnorm_avx2(float *out, const float *x, const float *w, int64_t n, float eps);
double pd_sumsq_lanes(const float *x, int64_t n);
const pd_kern_table *pd_kern_active(void);

/* Matmul activation format for weight type t: F16/BF16 weights take F32 activations that are
 * already rounded to F16/BF16 (exactly the values ggml's F16/BF16 activations hold). */
pd_type pd_mm_act_type(pd_type weight_type);
/* Convert one activation row of n floats to the matmul activation format. */
void pd_mm_act_row(pd_type weight_type, const float *src, void *dst, int64_t n);

/* Generic tile made of single dots (used where no dedicated tile exists). */
void pd_tile_by_dots(pd_dot_fn dot, int64_t n, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                     int mr, float *y, int64_t ldy);

/* AVX2 activation conversions (bit-identical to the scalar ones; quant.c dispatches). */
void pd_act_f16_round_avx2(const float *x, float *y, int64_t n);
void pd_f16_from_f32_avx2(const float *x, uint16_t *y, int64_t n); /* = pd_f32_to_f16 on each */
void pd_f16_to_f32_avx2(const uint16_t *x, float *y, int64_t n);   /* = pd_f16_to_f32 on each */
void pd_act_bf16_round_avx2(const float *x, float *y, int64_t n);
void pd_act_q8_0_avx2(const float *x, void *y, int64_t nb);
void pd_act_q8_K_avx2(const float *x, void *y, int64_t nb);
void pd_act_q8_1_avx2(const float *x, void *y, int64_t nb);
/* AVX2 dots of the types added later (simd_avx2_more.c), filled into the AVX2 table. */
void pd_kern_table_avx2_more(pd_kern_table *t);
/* AVX2 8-row tiles for Q4_0 / Q8_0 (simd_avx2_rows8.c); they take over those types' tiles. */
void pd_kern_table_avx2_rows8(pd_kern_table *t);

/* AVX2 / AVX-512 pieces used by ops.c (defined in the SIMD files). */
void pd_attend_head_avx2(float *out, const float *q, const void *K, const void *V, pd_type kv_type, int64_t k_stride,
                         int64_t v_stride, int64_t n_kv, int64_t head_dim, float scale);
void pd_attend_heads_avx2(float *out, int64_t out_stride, const float *q, int64_t q_stride, int n_q, const void *K,
                          const void *V, pd_type kv_type, int64_t k_stride, int64_t v_stride, int64_t n_kv,
                          int64_t head_dim, float scale);
void pd_attend_head_ref(float *out, const float *q, const void *K, const void *V, pd_type kv_type, int64_t k_stride,
                        int64_t v_stride, int64_t n_kv, int64_t head_dim, float scale);

#endif
