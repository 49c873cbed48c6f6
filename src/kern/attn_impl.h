/* kern/attn_impl.h — private to kern/attn.c, attn_avx2.c and attn_avx512.c: the SIMD entry points. */
#ifndef PD_ATTN_IMPL_H
#define PD_ATTN_IMPL_H
#include "kern_impl.h"
#include "ponder/attn.h"
/* The parts of paged attention each SIMD level writes for itself; attn.c's chunk loop (one for every
 * level) calls them. rows_to_f32: cnt cached rows of type t, src_stride bytes apart, to F32 rows
 * hd floats apart. step: one query head over cnt <= 16 F32 rows (K, V ld floats apart): scores,
 * online-softmax rescale of out / m / l, accumulation of V; probs (if not NULL) gets the scaled scores. */
typedef struct {
    void (*rows_to_f32)(pd_type t, const unsigned char *src, size_t src_stride, int cnt, float *dst, int64_t hd);
    void (*step)(float *out, float *m, float *l, const float *q, const float *K, const float *V, int64_t ld, int cnt,
                 int64_t hd, float scale, float *probs);
} pd_attn_ops;
extern const pd_attn_ops pd_attn_ops_avx2, pd_attn_ops_avx512;
#endif
