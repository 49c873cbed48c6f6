/* bench/kern_vs_ggml/ggml_mm.c — the same product as ponder_mm.c through ggml's CPU backend (built from a
 * llama.cpp checkout you have; nothing of it is in this repository): Q4_0 and Q4_K weights go to the
 * CPU_REPACK buffer as llama-bench places them on AVX2, the rest to the plain CPU buffer; F32/F16 run
 * through ggml's own path (llamafile sgemm where it applies). Prints best CPU ms and GMAC/CPU-s. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ggml.h"
#include "ggml-cpu.h"
#include "ggml-backend.h"
#include "ggml-alloc.h"
static double cpu(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc, char **argv) {
    const char *tn = argv[1]; long K = atol(argv[2]), N = atol(argv[3]), M = atol(argv[4]); int reps = atoi(argv[5]);
    int nt = argc > 6 ? atoi(argv[6]) : 1;
    enum ggml_type t = GGML_TYPE_F32;
    for (int i = 0; i < GGML_TYPE_COUNT; i++) if (ggml_type_name(i) && !strcmp(ggml_type_name(i), tn)) t = i;
    ggml_cpu_init();
    ggml_backend_t be = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(be, nt);
    ggml_backend_dev_t dev = ggml_backend_get_device(be);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    ggml_backend_buffer_type_t wbuft = ggml_backend_cpu_buffer_type();
    const char *wname = "CPU";
    if (t == GGML_TYPE_Q4_0 || t == GGML_TYPE_Q4_K) {
        typedef ggml_backend_buffer_type_t *(*get_extra_t)(ggml_backend_dev_t);
        get_extra_t ge = (get_extra_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
        for (ggml_backend_buffer_type_t *p = ge ? ge(dev) : NULL; p && *p; p++)
            if (!strcmp(ggml_backend_buft_name(*p), "CPU_REPACK")) { wbuft = *p; wname = "CPU_REPACK"; }
    }
    struct ggml_init_params ip = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), NULL, true};
    struct ggml_context *cw = ggml_init(ip), *cx = ggml_init(ip);
    struct ggml_tensor *W = ggml_new_tensor_2d(cw, t, K, N);
    struct ggml_tensor *X = ggml_new_tensor_2d(cx, GGML_TYPE_F32, K, M);
    struct ggml_tensor *Y = ggml_mul_mat(cx, W, X);
    ggml_backend_buffer_t bw = ggml_backend_alloc_ctx_tensors_from_buft(cw, wbuft);
    ggml_backend_buffer_t bx = ggml_backend_alloc_ctx_tensors_from_buft(cx, ggml_backend_cpu_buffer_type());
    float *row = malloc(K * N * 4);
    srand(1);
    for (long i = 0; i < K * N; i++) row[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.04f;
    size_t wb = ggml_row_size(t, K) * N;
    void *q = malloc(wb);
    if (t == GGML_TYPE_F32) memcpy(q, row, wb); else ggml_quantize_chunk(t, row, q, 0, N, K, NULL);
    ggml_backend_tensor_set(W, q, 0, wb);
    float *x = malloc(K * M * 4);
    for (long i = 0; i < K * M; i++) x[i] = rand() / (float)RAND_MAX - 0.5f;
    ggml_backend_tensor_set(X, x, 0, K * M * 4);
    struct ggml_cgraph *gf = ggml_new_graph(cx);
    ggml_build_forward_expand(gf, Y);
    ggml_backend_graph_compute(be, gf);
    double best = 1e9;
    for (int r = 0; r < reps; r++) { double c0 = cpu(); ggml_backend_graph_compute(be, gf); double c = cpu() - c0; if (c < best) best = c; }
    float y0; ggml_backend_tensor_get(Y, &y0, 0, 4);
    printf("ggml %s (%s) K=%ld N=%ld M=%ld: best %.3f ms CPU, %.1f GMAC/CPU-s, %.2f GB/CPU-s  y0=%g\n", tn, wname, K, N, M,
           best * 1e3, K * N * M / best * 1e-9, wb / best * 1e-9, y0);
    ggml_backend_buffer_free(bw); ggml_backend_buffer_free(bx); ggml_backend_free(be);
    return 0;
}
