/* kern/attn_impl.h — private to kern/attn.c, attn_avx2.c and attn_avx512.c: the SIMD entry points. */
#ifndef PD_ATTN_IMPL_H
#define PD_ATTN_IMPL_H
#include "kern_impl.h"
#include "ponder/attn.h"
void pd_attend_paged_avx2(const pd_attn_paged *a);
void pd_attend_paged_multi_avx2(const pd_attn_paged *a, int n); /* n <= 256 */
void pd_attend_paged_avx512(const pd_attn_paged *a);
void pd_attend_paged_multi_avx512(const pd_attn_paged *a, int n); /* n <= 256 */
#endif
