/* kern/simd_avx512_q4k.c — AVX-512 (VNNI where present) matmul tiles for Q4_K weights in the 8-row
 * repacked layout (PD_LAYOUT_R8, kern/repack.c). Until they exist the AVX-512 level keeps the AVX2
 * level's Q4_K tiles (dispatch.c). */
#include "kern_impl.h"

void pd_kern_table_avx512_q4k(pd_kern_table *t) { (void)t; }
