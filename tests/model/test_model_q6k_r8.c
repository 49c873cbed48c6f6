/* tests/model/test_model_q6k_r8.c — models with Q6_K matrices after pd_model_repack (the inference
 * commands' load): where the level has the 8-row Q6_K tile (AVX-512 VNNI, kern/simd_avx512_q6k.c)
 * every Q6_K matrix of 8 rows or more, the tied output included, is in PD_LAYOUT_R8, elsewhere
 * none is; the logits of a 17-token prompt match the GGUF layout's (whose AVX-512 tile adds in
 * another order: within 1e-4 of the largest logit) and are the same bits on 1 and 2 threads.
 * Files: the all-Q6_K tiny-llama256 fixture, and the quant fixtures' Q6_K and Q4_K_M mixes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/model.h"
#include "ponder/kern.h"
#include "ponder/threads.h"

#define FIX PD_SHARED_DIR "/fixtures/models/"

static int have_q6k_tile(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return pd_isa_active() == PD_ISA_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

/* Q6_K matrices of m (8 rows or more), and how many of them are repacked */
static void count_q6k(const pd_model *m, int *n_q6k, int *n_r8) {
    *n_q6k = *n_r8 = 0;
    for (int il = 0; il < m->cfg.n_layer; il++) {
        const pd_layer *L = &m->layers[il];
        const pd_tensor *ts[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_gate_up, &L->w_down};
        for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
            if (ts[k]->data && ts[k]->type == PD_TYPE_Q6_K && ts[k]->ne[1] >= 8) {
                (*n_q6k)++;
                *n_r8 += ts[k]->layout == PD_LAYOUT_R8;
            }
    }
    if (m->output.type == PD_TYPE_Q6_K) {
        (*n_q6k)++;
        *n_r8 += m->output.layout == PD_LAYOUT_R8;
    }
}

static void eval_prompt(const pd_model *m, const int32_t *ids, int n, float *logits) {
    pd_kv *kv = pd_kv_new(&m->cfg, 1, 64, PD_TYPE_F32);
    assert_non_null(kv);
    assert_int_equal(pd_model_eval(m, kv, 0, ids, n, true, logits), PD_OK);
    pd_kv_free(kv);
}

static void check_file(const char *file) {
    PD_NEED_FIXTURES();
    char path[512];
    snprintf(path, sizeof path, FIX "%s", file);
    pd_model *a = pd_model_load(path), *b = pd_model_load(path);
    if (!a || !b) fail_msg("%s: %s", file, pd_last_error());
    assert_int_equal(pd_model_repack(b), PD_OK);
    int nq, nr;
    count_q6k(b, &nq, &nr);
    assert_true(nq > 0);
    assert_int_equal(nr, have_q6k_tile() ? nq : 0);
    if (b->cfg.tied_output) assert_true(b->output.data == b->tok_embd.data);
    enum { N = 17 };
    int32_t ids[N];
    for (int i = 0; i < N; i++) ids[i] = (int32_t)((7 * i + 3) % b->cfg.n_vocab);
    const size_t V = (size_t)b->cfg.n_vocab;
    float *la = malloc(sizeof(float) * N * V), *lb = malloc(sizeof(float) * N * V), *lb2 = malloc(sizeof(float) * N * V);
    const int saved = pd_threads_get();
    pd_threads_set(1);
    eval_prompt(a, ids, N, la);
    eval_prompt(b, ids, N, lb);
    pd_threads_set(2);
    eval_prompt(b, ids, N, lb2);
    pd_threads_set(saved);
    double d = 0, mx = 0;
    for (size_t i = 0; i < N * V; i++) {
        d = fmax(d, fabs((double)la[i] - lb[i]));
        mx = fmax(mx, fabs((double)la[i]));
    }
    fprintf(stderr, "  %s: %d Q6_K matrices, %d repacked; max |logit| %.3f, repacked vs GGUF layout %.3g\n", file, nq, nr,
            mx, d);
    assert_true(mx > 0 && d <= 1e-4 * mx);
    assert_memory_equal(lb, lb2, sizeof(float) * N * V);
    free(la), free(lb), free(lb2);
    pd_model_free(a);
    pd_model_free(b);
}

static void test_tiny_llama_q6k(void **st) {
    (void)st;
    check_file("tiny-llama256-q6_k.gguf");
}
static void test_fx_q6k(void **st) {
    (void)st;
    check_file("quant/fx256-q6_k.gguf");
}
static void test_fx_q4k_m(void **st) {
    (void)st;
    check_file("quant/fx256-q4_k_m.gguf");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_llama_q6k),
        cmocka_unit_test(test_fx_q6k),
        cmocka_unit_test(test_fx_q4k_m),
    };
    return pd_run_tests(tests, NULL, NULL);
}
