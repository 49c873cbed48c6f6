/* kern/simd_avx512.c — AVX-512 (F, BW, VL) kernels; placeholder table until filled below. */
#include "kern_impl.h"
void pd_kern_table_avx512(pd_kern_table *t) { (void)t; }
