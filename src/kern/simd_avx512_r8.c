/* kern/simd_avx512_r8.c — AVX-512 (VNNI where present) matmul tiles for Q4_0 and Q8_0 weights in the
 * 8-row repacked layout (PD_LAYOUT_R8, kern/repack.c). Until they exist the AVX-512 level keeps the
 * AVX2 level's 8-row tiles (dispatch.c). */
#include "kern_impl.h"

void pd_kern_table_avx512_r8(pd_kern_table *t) { (void)t; }
