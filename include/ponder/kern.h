/* ponder/kern.h — compute kernels. Each hot kernel has a portable scalar version that defines
 * its meaning and SIMD versions (AVX2; AVX-512 where the CPU has it) chosen once at start-up by
 * CPU feature detection; tests compare every SIMD kernel with its scalar twin.
 * Threads: kernels that parallelise use the shared OpenMP pool (ponder/threads.h). */
#ifndef PONDER_KERN_H
#define PONDER_KERN_H
#include "ponder/tensor.h"
#include "ponder/error.h"

/* ---- CPU features and dispatch ---- */
typedef enum { PD_ISA_SCALAR = 0, PD_ISA_AVX2 = 1, PD_ISA_AVX512 = 2 } pd_isa;
pd_isa pd_isa_best(void);          /* best the CPU supports */
pd_isa pd_isa_active(void);        /* what the dispatcher uses now */
void pd_isa_force(pd_isa isa);     /* tests/bench: force a level (clamped to what the CPU has) */
const char *pd_isa_name(pd_isa isa);

/* ---- scalar conversions ---- */
float pd_f16_to_f32(uint16_t h);
uint16_t pd_f32_to_f16(float f);   /* round to nearest even */
float pd_bf16_to_f32(uint16_t h);
uint16_t pd_f32_to_bf16(float f);  /* round to nearest even, NaN kept */

/* ---- rows: quantise / dequantise ---- */
/* n must be a multiple of the type's block size. */
pd_status pd_dequantize_row(pd_type t, const void *src, float *dst, int64_t n);
/* Every type of ponder/tensor.h; the quantisers are ggml's reference ones (quantize_row_*_ref;
 * for IQ4_NL / IQ4_XS quantize_iq4_* without an importance matrix), so they give the bytes
 * llama-quantize writes without --imatrix. */
pd_status pd_quantize_row(pd_type t, const float *src, void *dst, int64_t n);
/* Activation quantiser as ggml-cpu's matmul applies it (what pd_matmul uses): Q8_0 / Q8_1 with
 * d = amax/127 (F16) and q = rint(x*127/amax) (half to even; Q8_1 adds s = d*sum(q)); Q8_K and
 * others as pd_quantize_row. */
pd_status pd_quantize_row_act(pd_type t, const float *src, void *dst, int64_t n);

/* The type activations are converted to before a dot product with weights of type t
 * (ggml's vec_dot_type): F32→F32, F16→F16, BF16→BF16, Q8_0/Q4_0/Q5_0/IQ4_NL→Q8_0,
 * Q4_1/Q5_1→Q8_1, Q2_K..Q6_K/IQ4_XS→Q8_K. */
pd_type pd_vec_dot_type(pd_type weight_type);
/* Dot product of one weight row (type t) with one activation row already in pd_vec_dot_type(t). */
float pd_vec_dot(pd_type t, int64_t n, const void *w_row, const void *x_row);
/* Same, scalar reference only (for tests). */
float pd_vec_dot_ref(pd_type t, int64_t n, const void *w_row, const void *x_row);

/* ---- matmul ----
 * W: ne[0] = K (row length), ne[1] = N (rows), any storage type. X: M rows of K floats
 * (row stride ldx floats). Y: M rows of N floats (row stride ldy). Y[m][n] = dot(W[n], X[m]).
 * Activations are first converted to pd_vec_dot_type(W->type), as ggml does, so results match
 * llama.cpp's to rounding. Multi-threaded over rows of W. */
pd_status pd_matmul(const pd_tensor *W, const float *X, int64_t M, int64_t ldx, float *Y, int64_t ldy);
/* The same, with pre(ctx, m0, m1) called first for every range of rows of X: it fills rows
 * m0..m1-1 of X (the caller's per-token work: a residual add and rmsnorm, swiglu), inside the
 * matmul's parallel region (no fork/join of its own); each range is read only after its pre. */
typedef void (*pd_matmul_pre_fn)(void *ctx, int64_t m0, int64_t m1);
pd_status pd_matmul_pre(const pd_tensor *W, const float *X, int64_t M, int64_t ldx, float *Y, int64_t ldy,
                        pd_matmul_pre_fn pre, void *ctx);
/* What the SIMD levels' F32 matmul computes for one output, to the bit, whatever M is: the "lane
 * order" (lane j = fused multiply-adds over k = j, j+8, … below K rounded down to 8; lanes added as
 * ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)); the last K mod 8 products fused-added in order). The scalar
 * level keeps its double-accumulated dot. For tests (kern/mm_f32.c). */
float pd_dot_f32_lanes(int64_t n, const float *w, const float *x);
/* pd_matmul keeps a per-thread scratch buffer for converted activations; this frees the
 * calling thread's one (optional, e.g. before exit under a leak checker). */
void pd_matmul_scratch_free(void);
/* Benchmark: random weights of type t (K x N) times M random activation rows, reps timed calls
 * after one warm-up. gflops_out = 2*K*N*M*reps / time; gbps_out = weight bytes*reps / time. */
pd_status pd_kern_bench_matmul(pd_type t, int64_t K, int64_t N, int64_t M, int reps, double *gflops_out,
                               double *gbps_out);

/* ---- 8-row interleaved weights (kern/repack.c) ----
 * pd_repack_r8 rearranges a Q4_0 / Q8_0 / Q4_K / Q6_K matrix so that each group of 8 rows is one
 * contiguous stream in the order the AVX2 8-row tiles consume it (same byte count; rows past the
 * last multiple of 8 stay as they are, at their old offsets). Per group and block index i, the 8
 * rows' block i: first their F16 scales (Q4_0 / Q8_0: row r's at byte 2r), then the rest of the
 * block as 32-bit words, word k of row r at 4*(8k + r) from there (Q4_K: the whole 144-byte block
 * is words; Q6_K: its first 208 bytes, then the 8 rows' F16 d, row r's at 1664 + 2r). F32 / F16 /
 * BF16 too: blocks of 8 elements, row r's block i whole at block 8i + r of the group, then the 8
 * rows' last K mod 8 elements, row after row. pd_matmul reads either layout (same results to the
 * bit); pd_unpack_row gives a row's GGUF bytes back. Only worth it where the active kernels read
 * the layout (pd_repack_supported: an 8-row tile, or for floats the level's own float product). */
bool pd_repack_supported(const pd_tensor *W);
/* Write W's repacked bytes (pd_tensor_nbytes(W)) to dst, which must not overlap W->data, and point
 * W at them (W->data = dst, W->layout = PD_LAYOUT_R8). Fails unless pd_repack_supported-able type,
 * contiguous rows and at least 8 rows (independent of the ISA, for tests). */
pd_status pd_repack_r8(pd_tensor *W, void *dst);
/* Row r of W in the GGUF layout (pd_row_bytes(type, ne[0]) bytes to dst), whatever W's layout. */
pd_status pd_unpack_row(const pd_tensor *W, int64_t r, void *dst);
/* Row r of W dequantised to ne[0] floats, whatever W's layout (get_rows of a repacked tied embedding). */
pd_status pd_tensor_row_f32(const pd_tensor *W, int64_t r, float *dst);

/* f32 GEMM for training: C[M][N] (+)= A[M][K] · op(B), with B given as [N][K] (trans_b=1) or
 * [K][N] (trans_b=0); row-major, leading dims. accumulate=0 overwrites C. OpenBLAS when present.
 * Precisely: C = alpha * op(A) * op(B) + beta * C, op(A) = A ([M][K]) or A^T (A given as [K][M] when
 * trans_a); beta = 0 overwrites C without reading it (as BLAS). Threads: pd_threads_get(). */
void pd_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* The built-in kernel (always compiled, and tested): 12x32 AVX-512, 6x16 AVX2 or scalar register tiles. */
void pd_sgemm_builtin(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* pd_sgemm's engine: AUTO (default) takes, per class (transposes x small/large product), the faster of
 * OpenBLAS and the built-in kernel, measured once at the first call (the built-in must win by 15%);
 * PONDER_SGEMM=blas|builtin in the environment, or pd_sgemm_set_engine, pins one (without OpenBLAS:
 * always the built-in kernel). */
typedef enum { PD_SGEMM_AUTO = 0, PD_SGEMM_BLAS = 1, PD_SGEMM_BUILTIN = 2 } pd_sgemm_engine;
void pd_sgemm_set_engine(pd_sgemm_engine e);
pd_sgemm_engine pd_sgemm_get_engine(void); /* the pin in force (AUTO: none) */
pd_sgemm_engine pd_sgemm_engine_for(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K); /* BLAS or BUILTIN */
/* the engines and the start-up measurement as one line (snprintf's return convention) */
int pd_sgemm_report(char *buf, size_t n);
/* threads pd_sgemm uses for an M x N x K product: pd_threads_get(), fewer when a thread would get
 * less than ~2 MFLOP, 1 inside a parallel region */
int pd_sgemm_threads_for(int64_t M, int64_t N, int64_t K);

/* ---- elementwise / normalisation ---- */
void pd_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps); /* w may be NULL */
void pd_softmax(float *x, int64_t n);          /* in place, numerically stable */
float pd_silu(float x);
void pd_swiglu(float *out, const float *gate, const float *up, int64_t n); /* silu(gate)*up */
/* silu as the AVX2 swiglu computes it (a Cephes exp polynomial, about 1 ulp; pd_silu uses expf) */
float pd_silu_poly(float x);
/* Training's fused passes (AVX2 with the same 8-lane exp; scalar level: libm expf):
 * pd_exp_sum: x[i] = e^(x[i] − mx) for x[i] <= mx (a softmax's exponentials), returns their sum;
 * pd_swiglu_backward: dgate += dsw·up·σ(g)·(1 + g·(1 − σ(g))), dup += dsw·silu(g) (accumulates). */
float pd_exp_sum(float *x, int64_t n, float mx);
void pd_swiglu_backward(float *dgate, float *dup, const float *dsw, const float *gate, const float *up, int64_t n);

/* ---- rotary position embedding ----
 * Rotates the first n_rot dims of one head vector x[head_dim] at position pos.
 * mode NORM: pairs (2i, 2i+1); NEOX: pairs (i, i + n_rot/2).
 * theta_i = pos * freq_scale * base^(-2i/n_rot) / (factors ? factors[i] : 1); cos/sin × attn_factor. */
typedef enum { PD_ROPE_NORM = 0, PD_ROPE_NEOX = 2 } pd_rope_mode;
typedef struct {
    pd_rope_mode mode;
    int n_rot;            /* rotated dims (<= head_dim, even) */
    float base;           /* rope theta */
    float freq_scale;     /* 1 / linear scaling factor (1 = none) */
    float attn_factor;    /* multiplies cos and sin (1 = none) */
    const float *factors; /* n_rot/2 frequency divisors (Llama-3.1 rope_freqs, Phi-3 factors) or NULL */
} pd_rope;
void pd_rope_apply(const pd_rope *r, float *x, int64_t pos);
/* (pd_rope_apply memoises the last position's angles per thread, keyed on the pd_rope fields and
 * the factors pointer: do not rewrite a factors array in place between calls.)
 * Same rotation split in two, so one position's angles serve every head: cs[n_rot] receives
 * (cos, sin) per pair (already x attn_factor); apply_cached rotates x exactly as pd_rope_apply. */
void pd_rope_cache(const pd_rope *r, int64_t pos, float *cs);
void pd_rope_apply_cached(const pd_rope *r, const float *cs, float *x);

/* ---- attention ----
 * One query head vs n_kv cached positions, online softmax (never a full score matrix).
 * K and V rows are stored with type kv_type (F32 or F16; BF16 optional) and row stride
 * (in elements) k_stride / v_stride. out[head_dim] = softmax(q·K^T * scale) · V. */
void pd_attend_head(float *out, const float *q, const void *K, const void *V, pd_type kv_type, int64_t k_stride,
                    int64_t v_stride, int64_t n_kv, int64_t head_dim, float scale);
/* GQA: n_q query heads (q + h*q_stride, results at out + h*out_stride) that share one K/V head.
 * Same results as n_q pd_attend_head calls, but each K/V chunk is read from memory once for all
 * of them (the group's heads cost about one head's memory traffic at long context). */
void pd_attend_heads(float *out, int64_t out_stride, const float *q, int64_t q_stride, int n_q, const void *K,
                     const void *V, pd_type kv_type, int64_t k_stride, int64_t v_stride, int64_t n_kv, int64_t head_dim,
                     float scale);

#endif
