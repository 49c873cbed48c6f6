/* kern/gemm_bf16.c — the BF16 GEMM of mixed-precision training (ponder/gemm_bf16.h): F32 -> BF16
 * rounding as vcvtneps2bf16, the scalar twin that defines the result (VDPBF16PS's pair order,
 * DAZ/FTZ), and the blocked driver of the two fast paths: F32 panels holding the BF16 values in
 * that pair order through sgemm.c's AVX2 micro-kernel under MXCSR FTZ+DAZ, and BF16 pair panels
 * through the AVX512-BF16 micro-kernel (gemm_bf16_avx512.c). All three give the same bits. */
#include "kern_impl.h"
#include "gemm_bf16_impl.h"
#include "ponder/alloc.h"
#include "ponder/gemm_bf16.h"
#include "ponder/threads.h"
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#if PD_X86
#include <immintrin.h>
#endif
#if defined(__clang__)
#pragma clang fp contract(off) /* the definition's adds and multiplies stay separate */
#endif

#define KC PD_GEMM_BF16_KC
#define MC 96  /* rows of A per packed block: a multiple of both paths' MR (6) */
#define NC 512 /* columns of B per packed block: a multiple of both paths' NR (16, 32) */
_Static_assert(KC % 2 == 0, "KC holds whole pairs");
_Static_assert(MC % PD_BF16P_MR == 0 && MC % PD_SGEMM_MR == 0, "MC");
_Static_assert(PD_BF16P_MR == PD_SGEMM_MR && PD_BF16P_NR % 8 == 0, "store_tile_avx2 serves both tiles");
_Static_assert(NC % PD_BF16P_NR == 0 && NC % PD_SGEMM_NR == 0, "NC");

/* ---------- conversion ---------- */

uint16_t pd_bf16_round(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7f800000u) == 0) return (uint16_t)(x >> 16 & 0x8000u);           /* ±0, subnormal: ±0 */
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(x >> 16 | 0x0040u);   /* NaN: quiet */
    if ((x & 0x7fffffffu) == 0x7f800000u) return (uint16_t)(x >> 16);             /* ±inf */
    return (uint16_t)((x + 0x7fffu + (x >> 16 & 1u)) >> 16);                      /* RNE (overflow: inf) */
}

void pd_bf16_round_n(const float *x, uint16_t *y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16) && !omp_in_parallel())
    for (int64_t c = 0; c < n; c += 4096) {
        int64_t e = n - c < 4096 ? n - c : 4096;
        for (int64_t i = c; i < c + e; i++) y[i] = pd_bf16_round(x[i]);
    }
}

/* ---------- the definition ---------- */

static inline float daz(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }
#define ftz daz /* same test: a result below FLT_MIN in magnitude becomes a zero of its sign */
static inline float bf16_val(uint16_t h) { return daz(pd_bf16_to_f32(h)); }
static inline float fma_dz(float a, float b, float acc) { return ftz(fmaf(a, b, acc)); }

/* op(X) as one of the GEMM's operands: element (r, c) of the [rows][cols] matrix it stands for */
typedef struct { const float *f; const uint16_t *h; int64_t ld; int trans; int vec; } bop; /* vec: AVX512-BF16 rounding */
static inline uint16_t bop_at(const bop *o, int64_t r, int64_t c) {
    int64_t i = o->trans ? c * o->ld + r : r * o->ld + c;
    return o->h ? o->h[i] : pd_bf16_round(o->f[i]);
}

/* one block's sum into C: first block C = acc (beta 0) or ftz(ftz(beta·C) + acc), later ftz(C + acc) */
static inline float combine(float c, float acc, float beta, int first) {
    if (!first) return ftz(daz(c) + acc);
    if (beta == 0.0f) return acc;
    float t = beta == 1.0f ? daz(c) : ftz(daz(beta) * daz(c));
    return ftz(t + acc);
}

static void gemm_ref(const bop *A, const bop *B, int64_t M, int64_t N, int64_t K, float beta, float *C, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float c = beta == 0.0f ? 0.0f : C[i * ldc + j];
            int64_t k0 = 0;
            do {
                int64_t kc = K - k0 < KC ? K - k0 : KC;
                float acc = 0.0f;
                for (int64_t p = 0; p < kc; p += 2) {
                    float a1 = 0, b1 = 0;
                    if (p + 1 < kc) a1 = bf16_val(bop_at(A, i, k0 + p + 1)), b1 = bf16_val(bop_at(B, k0 + p + 1, j));
                    acc = fma_dz(a1, b1, acc);
                    acc = fma_dz(bf16_val(bop_at(A, i, k0 + p)), bf16_val(bop_at(B, k0 + p, j)), acc);
                }
                c = combine(c, acc, beta, k0 == 0);
                k0 += KC;
            } while (k0 < K);
            C[i * ldc + j] = c;
        }
}

void pd_gemm_bf16_ref(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, const uint16_t *Ab,
                      int64_t lda, const float *B, const uint16_t *Bb, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    bop a = {A, Ab, lda, ta, 0}, b = {B, Bb, ldb, tb, 0};
    gemm_ref(&a, &b, M, N, K < 0 ? 0 : K, beta, C, ldc);
}

/* ---------- packing ---------- */

/* n consecutive elements of op(X) from (r, c), along c (along_c) or along r, as the F32 values of
 * their BF16 roundings (subnormals 0: DAZ). Contiguous runs in memory are converted 8 at a time. */
#if PD_X86
__attribute__((target("avx2"))) static inline __m256 bf16_vals_avx2(__m256i x) { /* x: F32 bits */
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff), hi = _mm256_set1_epi32((int)0xffff0000u);
    const __m256i expm = _mm256_set1_epi32(0x7f800000), absm = _mm256_set1_epi32(0x7fffffff);
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u), quiet = _mm256_set1_epi32(0x00400000);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), one);
    __m256i r = _mm256_and_si256(_mm256_add_epi32(x, _mm256_add_epi32(bias, lsb)), hi);
    __m256i ax = _mm256_and_si256(x, absm);
    __m256i nan = _mm256_cmpgt_epi32(ax, expm); /* |x| > inf bits: NaN (signed compare is fine: ax >= 0) */
    r = _mm256_blendv_epi8(r, _mm256_and_si256(_mm256_or_si256(x, quiet), hi), nan);
    __m256i sub = _mm256_cmpeq_epi32(_mm256_and_si256(x, expm), _mm256_setzero_si256());
    r = _mm256_blendv_epi8(r, _mm256_and_si256(x, sign), sub);
    return _mm256_castsi256_ps(r);
}
__attribute__((target("avx2"))) static inline __m256 bf16_widen_avx2(__m128i h) { /* BF16 bits -> F32, DAZ */
    __m256i x = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
    __m256i sub = _mm256_cmpeq_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7f800000)), _mm256_setzero_si256());
    x = _mm256_blendv_epi8(x, _mm256_and_si256(x, _mm256_set1_epi32((int)0x80000000u)), sub);
    return _mm256_castsi256_ps(x);
}
__attribute__((target("avx2"))) static void get_run(const bop *o, int64_t r, int64_t c, int n, int along_c, float *out) {
    int64_t i0 = o->trans ? c * o->ld + r : r * o->ld + c;
    if (along_c != o->trans) { /* contiguous */
        int j = 0;
        if (o->h) {
            for (; j + 8 <= n; j += 8) _mm256_storeu_ps(out + j, bf16_widen_avx2(_mm_loadu_si128((const __m128i *)(o->h + i0 + j))));
            for (; j < n; j++) out[j] = bf16_val(o->h[i0 + j]);
        } else {
            for (; j + 8 <= n; j += 8) _mm256_storeu_ps(out + j, bf16_vals_avx2(_mm256_loadu_si256((const __m256i *)(o->f + i0 + j))));
            for (; j < n; j++) out[j] = bf16_val(pd_bf16_round(o->f[i0 + j]));
        }
        return;
    }
    int64_t step = o->ld;
    for (int j = 0; j < n; j++) out[j] = bf16_val(o->h ? o->h[i0 + j * step] : pd_bf16_round(o->f[i0 + j * step]));
}
#else
static void get_run(const bop *o, int64_t r, int64_t c, int n, int along_c, float *out) {
    for (int j = 0; j < n; j++) out[j] = bf16_val(along_c ? bop_at(o, r, c + j) : bop_at(o, r + j, c));
}
#endif

/* F32 panels (AVX2 path): the block's k in pair order k+1, k (packed slot q holds k = q ^ 1), padded
 * with zeros to an even count; A: [kp][MR] per panel of PD_SGEMM_MR rows, B: [kp][NR]. The values are
 * BF16's, subnormals already 0 (DAZ). */
static void pack_a_f32(const bop *A, int64_t i0, int mc, int64_t k0, int kc, void *vp) {
    float *p = vp, tmp[KC + 1];
    int kp = (kc + 1) & ~1, mr = PD_SGEMM_MR;
    if (A->trans) { /* op(A) column k is contiguous over the block's rows: one run of mc per k */
        size_t panel = (size_t)kp * mr;
        for (int q = 0; q < kp; q++) {
            int k = q ^ 1;
            if (k < kc) get_run(A, i0, k0 + k, mc, 0, tmp);
            for (int ip = 0; ip < mc; ip += mr) {
                int rows = mc - ip < mr ? mc - ip : mr;
                float *d = p + (size_t)(ip / mr) * panel + q * mr;
                for (int r = 0; r < mr; r++) d[r] = k < kc && r < rows ? tmp[ip + r] : 0.0f;
            }
        }
        return;
    }
    for (int ip = 0; ip < mc; ip += mr, p += (size_t)kp * mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
        for (int r = 0; r < mr; r++) {
            if (r < rows) get_run(A, i0 + ip + r, k0, kc, 1, tmp);
            tmp[kc] = 0.0f;
            for (int q = 0; q < kp; q++) p[q * mr + r] = r < rows ? tmp[q ^ 1] : 0.0f;
        }
    }
}
static void pack_b_f32(const bop *B, int64_t k0, int kc, int64_t j0, int nc, void *vp) {
    float *p = vp, tmp[KC + 1];
    int kp = (kc + 1) & ~1, nr = PD_SGEMM_NR;
    for (int jp = 0; jp < nc; jp += nr, p += (size_t)kp * nr) {
        int cols = nc - jp < nr ? nc - jp : nr;
        if (!B->trans) { /* op(B) row k is contiguous over the columns */
            for (int q = 0; q < kp; q++) {
                int k = q ^ 1;
                float *d = p + q * nr;
                if (k < kc) get_run(B, k0 + k, j0 + jp, cols, 1, d);
                for (int c = k < kc ? cols : 0; c < nr; c++) d[c] = 0.0f;
            }
            continue;
        }
        for (int c = 0; c < nr; c++) {
            if (c < cols) get_run(B, k0, j0 + jp + c, kc, 0, tmp);
            tmp[kc] = 0.0f;
            for (int q = 0; q < kp; q++) p[q * nr + c] = c < cols ? tmp[q ^ 1] : 0.0f;
        }
    }
}
/* BF16 pair panels (AVX512-BF16 path, gemm_bf16_impl.h): a word = element k (low) | element k+1 (high) */
static inline uint32_t pair_at(uint16_t lo, uint16_t hi) { return (uint32_t)lo | (uint32_t)hi << 16; }

/* out[j] = the BF16 of op element (r, c + j) (along_c) or (r + j, c): a copy of the BF16 operand, the
 * rounding of a contiguous F32 run (vectorised where o->vec), else element by element */
static void run_bf16(const bop *o, int64_t r, int64_t c, int n, int along_c, uint16_t *out) {
    int contiguous = along_c ? !o->trans : o->trans;
    if (!contiguous) {
        for (int j = 0; j < n; j++) out[j] = along_c ? bop_at(o, r, c + j) : bop_at(o, r + j, c);
        return;
    }
    int64_t i0 = o->trans ? c * o->ld + r : r * o->ld + c;
    if (o->h) memcpy(out, o->h + i0, (size_t)n * sizeof(uint16_t));
#if PD_X86
    else if (o->vec) pd_bf16_round_run_avx512bf16(o->f + i0, out, n);
#endif
    else
        for (int j = 0; j < n; j++) out[j] = pd_bf16_round(o->f[i0 + j]);
}

static void pack_a_pairs(const bop *A, int64_t i0, int mc, int64_t k0, int kc, void *vp) {
    uint32_t *p = vp;
    int np = (kc + 1) / 2, mr = PD_BF16P_MR;
    if (A->trans) { /* op(A)'s column k is contiguous over the block's rows */
        uint16_t lo[MC], hi[MC];
        size_t panel = (size_t)np * mr;
        for (int q = 0; q < np; q++) {
            int k = 2 * q;
            run_bf16(A, i0, k0 + k, mc, 0, lo);
            if (k + 1 < kc) run_bf16(A, i0, k0 + k + 1, mc, 0, hi);
            else memset(hi, 0, sizeof hi);
            for (int ip = 0; ip < mc; ip += mr) {
                uint32_t *d = p + (size_t)(ip / mr) * panel + (size_t)q * mr;
                for (int r = 0; r < mr; r++) d[r] = ip + r < mc ? pair_at(lo[ip + r], hi[ip + r]) : 0;
            }
        }
        return;
    }
    uint16_t run[KC + 2];
    for (int ip = 0; ip < mc; ip += mr, p += (size_t)np * mr) {
        int rows = mc - ip < mr ? mc - ip : mr;
        for (int r = 0; r < mr; r++) {
            if (r < rows) {
                run_bf16(A, i0 + ip + r, k0, kc, 1, run);
                run[kc] = 0;
            }
            for (int q = 0; q < np; q++) p[q * mr + r] = r < rows ? pair_at(run[2 * q], run[2 * q + 1]) : 0;
        }
    }
}
static void pack_b_pairs(const bop *B, int64_t k0, int kc, int64_t j0, int nc, void *vp) {
    uint32_t *p = vp;
    int np = (kc + 1) / 2, nr = PD_BF16P_NR;
    uint16_t lo[PD_BF16P_NR], hi[PD_BF16P_NR], run[KC + 2];
    for (int jp = 0; jp < nc; jp += nr, p += (size_t)np * nr) {
        int cols = nc - jp < nr ? nc - jp : nr;
        if (!B->trans) { /* op(B)'s row k is contiguous over the columns */
            for (int q = 0; q < np; q++) {
                int k = 2 * q;
                run_bf16(B, k0 + k, j0 + jp, cols, 1, lo);
                if (k + 1 < kc) run_bf16(B, k0 + k + 1, j0 + jp, cols, 1, hi);
                else memset(hi, 0, sizeof hi);
                for (int c = 0; c < nr; c++) p[q * nr + c] = c < cols ? pair_at(lo[c], hi[c]) : 0;
            }
            continue;
        }
        for (int c = 0; c < nr; c++) {
            if (c < cols) {
                run_bf16(B, k0, j0 + jp + c, kc, 0, run);
                run[kc] = 0;
            }
            for (int q = 0; q < np; q++) p[q * nr + c] = c < cols ? pair_at(run[2 * q], run[2 * q + 1]) : 0;
        }
    }
}

/* ---------- the blocked driver ---------- */

typedef struct {
    int mr, nr, esz;                   /* tile, bytes per packed element (4: F32, 2: half a pair word) */
    void (*pack_a)(const bop *, int64_t, int, int64_t, int, void *);
    void (*pack_b)(const bop *, int64_t, int, int64_t, int, void *);
    pd_bf16p_micro_fn pairs;           /* pair-panel micro-kernel, or NULL: the AVX2 F32 one */
    int ftz_daz;                       /* run the micro-kernel under MXCSR FTZ+DAZ */
} path_def;

static void store_tile(const float *acc, int nr, float *C, int64_t ldc, int rows, int cols, float beta, int first) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) C[r * ldc + c] = combine(C[r * ldc + c], acc[r * nr + c], beta, first);
}

#if PD_X86
/* a full tile (PD_SGEMM_MR rows, nr a multiple of 8 columns) under MXCSR FTZ+DAZ: the hardware add and
 * multiply flush exactly as combine() */
__attribute__((target("avx2"))) static void store_tile_avx2(const float *acc, int nr, float *C, int64_t ldc, float beta,
                                                            int first) {
    __m256 vb = _mm256_set1_ps(beta);
    for (int r = 0; r < PD_SGEMM_MR; r++)
        for (int h = 0; h < nr; h += 8) {
            float *o = C + r * ldc + h;
            __m256 a = _mm256_loadu_ps(acc + r * nr + h);
            if (first && beta == 0.0f) _mm256_storeu_ps(o, a);
            else if (first && beta != 1.0f) _mm256_storeu_ps(o, _mm256_add_ps(_mm256_mul_ps(vb, _mm256_loadu_ps(o)), a));
            else _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), a));
        }
}
#endif

static void run_micro(const path_def *pd, int kc, const void *pa, const void *pb, float *acc) {
    if (pd->pairs) { pd->pairs((kc + 1) / 2, pa, pb, acc); return; }
#if PD_X86
    pd_sgemm_micro_avx2_acc((kc + 1) & ~1, pa, pb, acc);
#else
    (void)kc; (void)pa; (void)pb; (void)acc;
#endif
}

static void gemm_blocked(const path_def *pd, const bop *A, const bop *B, int64_t M, int64_t N, int64_t K, float beta,
                         float *C, int64_t ldc) {
    if (K <= 0) { gemm_ref(A, B, M, N, 0, beta, C, ldc); return; }
    int nt = pd_threads_get();
    if ((double)M * N * K < 1e6 || omp_in_parallel()) nt = 1;
    /* buffers sized to this product (the attention's many small GEMMs stay small) */
    size_t kp = K < KC ? (size_t)((K + 1) & ~1) : KC, ncp = N < NC ? (size_t)(N + pd->nr - 1) / pd->nr * pd->nr : NC,
           mcp = M < MC ? (size_t)(M + pd->mr - 1) / pd->mr * pd->mr : MC;
    size_t pb_bytes = kp * ncp * pd->esz, pa_bytes = kp * mcp * pd->esz;
    void *pb = pd_aligned_alloc(64, pb_bytes);
    void **pas = calloc((size_t)nt, sizeof(void *));
    int ok = pb && pas;
    for (int t = 0; ok && t < nt; t++) ok = (pas[t] = pd_aligned_alloc(64, pa_bytes)) != NULL;
    if (!ok) { /* out of memory: the definition's plain loops (same bits, slow) */
        gemm_ref(A, B, M, N, K, beta, C, ldc);
        goto done;
    }
    for (int64_t jc = 0; jc < N; jc += NC) {
        int nc = (int)(N - jc < NC ? N - jc : NC);
        for (int64_t pc = 0; pc < K; pc += KC) {
            int kc = (int)(K - pc < KC ? K - pc : KC), first = pc == 0;
            int kpk = (kc + 1) & ~1; /* packed k per panel (pair-padded) */
            pd->pack_b(B, pc, kc, jc, nc, pb);
            int64_t n_ic = (M + MC - 1) / MC;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
            for (int64_t ib = 0; ib < n_ic; ib++) {
                int64_t ic = ib * MC;
                int mc = (int)(M - ic < MC ? M - ic : MC);
                char *pa = pas[omp_get_thread_num()];
                pd->pack_a(A, ic, mc, pc, kc, pa);
#if PD_X86
                unsigned csr = 0;
                if (pd->ftz_daz) {
                    csr = _mm_getcsr();
                    _mm_setcsr(csr | 0x8040u); /* FTZ (bit 15) + DAZ (bit 6) */
                }
#endif
                float acc[PD_BF16P_MR * PD_BF16P_NR];
                for (int jr = 0; jr < nc; jr += pd->nr)
                    for (int ir = 0; ir < mc; ir += pd->mr) {
                        run_micro(pd, kc, pa + (size_t)(ir / pd->mr) * kpk * pd->mr * pd->esz,
                                  (char *)pb + (size_t)(jr / pd->nr) * kpk * pd->nr * pd->esz, acc);
                        int rows = mc - ir < pd->mr ? mc - ir : pd->mr, cols = nc - jr < pd->nr ? nc - jr : pd->nr;
#if PD_X86
                        if (pd->ftz_daz && rows == PD_SGEMM_MR && cols == pd->nr) {
                            store_tile_avx2(acc, pd->nr, C + (ic + ir) * ldc + jc + jr, ldc, beta, first);
                            continue;
                        }
#endif
                        store_tile(acc, pd->nr, C + (ic + ir) * ldc + jc + jr, ldc, rows, cols, beta, first);
                    }
#if PD_X86
                if (pd->ftz_daz) _mm_setcsr(csr);
#endif
            }
        }
    }
done:
    if (pas)
        for (int t = 0; t < nt; t++) pd_aligned_free(pas[t]);
    free(pas);
    pd_aligned_free(pb);
}

void pd_gemm_bf16_pairs(pd_bf16p_micro_fn micro, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                        const uint16_t *Ab, int64_t lda, const float *B, const uint16_t *Bb, int64_t ldb, float beta,
                        float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    /* FTZ+DAZ for the tile store (vdpbf16ps itself ignores MXCSR: it always flushes) */
    path_def pd = {PD_BF16P_MR, PD_BF16P_NR, 2, pack_a_pairs, pack_b_pairs, micro, 0};
    int vec = 0;
#if PD_X86
    pd.ftz_daz = pd_isa_active() >= PD_ISA_AVX2; /* the vector store below needs AVX2 */
    vec = micro == pd_gemm_bf16_micro_avx512bf16; /* the real AVX512-BF16 kernel: the CPU converts too */
#endif
    bop a = {A, Ab, lda, ta, vec}, b = {B, Bb, ldb, tb, vec};
    gemm_blocked(&pd, &a, &b, M, N, K, beta, C, ldc);
}

/* ---------- dispatch ---------- */

pd_gemm_bf16_path pd_gemm_bf16_best(void) {
    static _Atomic int has_bf16 = -1; /* CPUID once: in a VM each CPUID traps (it was 2.6 % of a bf16 step) */
    pd_isa isa = pd_isa_active();
    if (isa >= PD_ISA_AVX512 && has_bf16 < 0) has_bf16 = pd_cpu_avx512bf16();
    if (isa >= PD_ISA_AVX512 && has_bf16) return PD_GEMM_BF16_AVX512BF16;
    if (isa >= PD_ISA_AVX2) return PD_GEMM_BF16_AVX2;
    return PD_GEMM_BF16_SCALAR;
}

const char *pd_gemm_bf16_path_name(pd_gemm_bf16_path p) {
    switch (p) {
    case PD_GEMM_BF16_SCALAR: return "scalar";
    case PD_GEMM_BF16_AVX2: return "avx2 (f32 panels)";
    case PD_GEMM_BF16_AVX512BF16: return "avx512-bf16 (vdpbf16ps)";
    }
    return "unknown";
}

pd_status pd_gemm_bf16_on(pd_gemm_bf16_path path, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                          const uint16_t *Ab, int64_t lda, const float *B, const uint16_t *Bb, int64_t ldb, float beta,
                          float *C, int64_t ldc) {
    pd_gemm_bf16_path best = pd_gemm_bf16_best();
    if (path > best)
        return pd_fail(PD_ERR_UNSUPPORTED, "gemm_bf16: path %s needs a CPU feature this one lacks",
                       pd_gemm_bf16_path_name(path));
    if (M <= 0 || N <= 0) return PD_OK;
    bop a = {A, Ab, lda, ta, 0}, b = {B, Bb, ldb, tb, 0};
    if (path == PD_GEMM_BF16_SCALAR) {
        gemm_ref(&a, &b, M, N, K < 0 ? 0 : K, beta, C, ldc);
    } else if (path == PD_GEMM_BF16_AVX2) {
        path_def pd = {PD_SGEMM_MR, PD_SGEMM_NR, 4, pack_a_f32, pack_b_f32, NULL, 1};
        gemm_blocked(&pd, &a, &b, M, N, K, beta, C, ldc);
    } else {
#if PD_X86
        pd_gemm_bf16_pairs(pd_gemm_bf16_micro_avx512bf16, ta, tb, M, N, K, A, Ab, lda, B, Bb, ldb, beta, C, ldc);
#endif
    }
    return PD_OK;
}

void pd_gemm_bf16(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, const uint16_t *Ab, int64_t lda,
                  const float *B, const uint16_t *Bb, int64_t ldb, float beta, float *C, int64_t ldc) {
    (void)pd_gemm_bf16_on(pd_gemm_bf16_best(), ta, tb, M, N, K, A, Ab, lda, B, Bb, ldb, beta, C, ldc);
}
