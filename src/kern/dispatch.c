/* kern/dispatch.c — CPU feature detection and the kernel table chosen once (scalar, AVX2,
 * AVX-512); the public vec_dot entry points. */
#include "kern_impl.h"
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#if PD_X86
#include <cpuid.h>
#endif

static pd_kern_table pd_tables[3];
static atomic_int pd_tables_ready = 0;
static atomic_int pd_active_isa = -1;

#if PD_X86
/* F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has no "f16c". */
static int pd_cpu_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

int pd_cpu_avx512bf16(void) {
#if PD_X86
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1);
#else
    return 0;
#endif
}

pd_isa pd_isa_best(void) {
#if PD_X86
    __builtin_cpu_init();
    int base = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && pd_cpu_f16c();
    if (base && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return PD_ISA_AVX512;
    if (base) return PD_ISA_AVX2;
#endif
    return PD_ISA_SCALAR;
}

static void pd_tables_init(void) {
    /* 0 = not built, 1 = being built by one thread, 2 = ready (others wait for it) */
    int st = atomic_load(&pd_tables_ready);
    if (st == 2) return;
    int expected = 0;
    if (atomic_compare_exchange_strong(&pd_tables_ready, &expected, 1)) {
        pd_kern_table_scalar(&pd_tables[0]);
        pd_tables[1] = pd_tables[0];
        pd_kern_table_avx2(&pd_tables[1]);
        pd_tables[2] = pd_tables[1];
        pd_kern_table_avx512(&pd_tables[2]);
        /* Where the AVX2 level has 8-row tiles over the repacked layout (Q4_0, Q8_0, Q4_K), the
         * AVX-512 level keeps them: measured on a Zen 4 core, they beat the AVX-512 GGUF-layout
         * tiles 1.3-2.2x in decode (and Q4_0 / Q4_K prefill). */
        for (int t = 0; t < PD_TYPE_COUNT; t++)
            if (pd_tables[1].tile_r8[t]) {
                pd_tables[2].tile[t] = pd_tables[1].tile[t];
                pd_tables[2].tile_nr[t] = pd_tables[1].tile_nr[t];
                pd_tables[2].tile_mr[t] = pd_tables[1].tile_mr[t];
            }
        pd_kern_table_avx512_r8(&pd_tables[2]);
        pd_kern_table_avx512_q4k(&pd_tables[2]);
        pd_kern_table_avx512_q6k(&pd_tables[2]);
        pd_kern_table_f32_lanes(&pd_tables[1]);
        pd_kern_table_f32_lanes(&pd_tables[2]);
        pd_kern_table_f16_lanes(&pd_tables[1]);
        pd_kern_table_f16_lanes(&pd_tables[2]);
        pd_kern_table_lanes_avx512(&pd_tables[2]);
        atomic_store(&pd_tables_ready, 2);
        return;
    }
    while (atomic_load(&pd_tables_ready) != 2) {
    }
}

/* PONDER_KERNELS=scalar|avx2|avx512 caps the level (A/B timing of two levels on one CPU, or a
 * workaround for a suspect kernel); a level above what the CPU runs is clamped to the best; any other
 * value is ignored with a warning on stderr. */
static int pd_isa_from_env(int best) {
    const char *e = getenv("PONDER_KERNELS");
    if (!e || !*e) return best;
    for (int i = PD_ISA_SCALAR; i <= PD_ISA_AVX512; i++)
        if (!strcmp(e, pd_isa_name((pd_isa)i))) return i < best ? i : best;
    fprintf(stderr, "ponder: PONDER_KERNELS=%s is not scalar, avx2 or avx512; using %s\n", e,
            pd_isa_name((pd_isa)best));
    return best;
}

pd_isa pd_isa_active(void) {
    int a = atomic_load(&pd_active_isa);
    if (a < 0) {
        pd_tables_init();
        a = pd_isa_from_env((int)pd_isa_best());
        atomic_store(&pd_active_isa, a);
    }
    return (pd_isa)a;
}

void pd_isa_force(pd_isa isa) {
    pd_tables_init();
    pd_isa best = pd_isa_best();
    if ((int)isa < 0) isa = PD_ISA_SCALAR;
    if (isa > best) isa = best;
    atomic_store(&pd_active_isa, (int)isa);
}

const char *pd_isa_name(pd_isa isa) {
    switch (isa) {
    case PD_ISA_SCALAR: return "scalar";
    case PD_ISA_AVX2: return "avx2";
    case PD_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

const pd_kern_table *pd_kern_active(void) {
    return &pd_tables[pd_isa_active()];
}

pd_type pd_vec_dot_type(pd_type t) {
    switch (t) {
    case PD_TYPE_F32: return PD_TYPE_F32;
    case PD_TYPE_F16: return PD_TYPE_F16;
    case PD_TYPE_BF16: return PD_TYPE_BF16;
    case PD_TYPE_Q8_0: case PD_TYPE_Q4_0: case PD_TYPE_Q5_0: case PD_TYPE_IQ4_NL: return PD_TYPE_Q8_0;
    case PD_TYPE_Q4_1: case PD_TYPE_Q5_1: return PD_TYPE_Q8_1;
    case PD_TYPE_Q2_K: case PD_TYPE_Q3_K: case PD_TYPE_Q4_K: case PD_TYPE_Q5_K: case PD_TYPE_Q6_K:
    case PD_TYPE_IQ4_XS: return PD_TYPE_Q8_K;
    default: return t;
    }
}

float pd_vec_dot(pd_type t, int64_t n, const void *w_row, const void *x_row) {
    if (!pd_type_valid((int)t)) return 0.0f;
    pd_dot_fn f = pd_kern_active()->dot[t];
    return f ? f(n, w_row, x_row) : 0.0f;
}

float pd_vec_dot_ref(pd_type t, int64_t n, const void *w_row, const void *x_row) {
    if (!pd_type_valid((int)t)) return 0.0f;
    pd_tables_init();
    pd_dot_fn f = pd_tables[PD_ISA_SCALAR].dot[t];
    return f ? f(n, w_row, x_row) : 0.0f;
}
