/* tests/fmt/test_quantize.c — model quantisation (pd_gguf_quantize).
 * Truths: llama.cpp's own F16 and Q8_0 copies of tiny-llama (same weights; its reference quantisers
 * are deterministic, so the converted tensors must be byte-identical), the README's statement of which
 * tensors stay F32, and per-element error bounds of each block format derived from its definition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"

#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include "ponder/kern.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODELS PD_SHARED_DIR "/fixtures/models/"

static pd_gguf *quantize(const pd_gguf *src, pd_type type, pd_quantize_stats *st) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (pd_gguf_quantize_to_writer(src, w, type, st) != PD_OK) fail_msg("%s", pd_last_error());
    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "quantized.gguf");
    if (!g) fail_msg("%s", pd_last_error());
    return g;
}

static uint32_t u32(const pd_gguf *g, const char *key) {
    uint32_t v = 0;
    if (!pd_gguf_get_u32(g, key, &v)) fail_msg("%s", pd_last_error());
    return v;
}

/* Every tensor of `got` equals (type, shape, bytes) the tensor of the same name in `want`. */
static void expect_same_tensors(const pd_gguf *got, const pd_gguf *want) {
    assert_int_equal(pd_gguf_n_tensors(got), pd_gguf_n_tensors(want));
    for (int64_t i = 0; i < pd_gguf_n_tensors(want); i++) {
        const pd_gguf_tensor *w = pd_gguf_tensor_at(want, i);
        const pd_gguf_tensor *g = pd_gguf_find_tensor(got, w->name);
        if (!g) fail_msg("missing %s", w->name);
        if (g->type != w->type) fail_msg("%s: type %s, llama.cpp has %s", w->name, pd_type_name(g->type), pd_type_name(w->type));
        for (int d = 0; d < 4; d++) assert_int_equal(g->ne[d], w->ne[d]);
        assert_int_equal(g->nbytes, w->nbytes);
        if (memcmp(g->data, w->data, w->nbytes)) {
            size_t k = 0;
            while (((const uint8_t *)g->data)[k] == ((const uint8_t *)w->data)[k]) k++;
            fail_msg("%s: bytes differ from llama.cpp's from byte %zu", w->name, k);
        }
    }
}

static void test_matches_llama_cpp(void **state) {
    (void)state;
    PD_NEED_FIXTURES();
    pd_gguf *f32 = pd_gguf_open(MODELS "tiny-llama.gguf");
    assert_non_null(f32);
    pd_quantize_stats st;
    pd_gguf *q8 = quantize(f32, PD_TYPE_Q8_0, &st);
    pd_gguf *ref = pd_gguf_open(MODELS "tiny-llama-q8_0.gguf");
    assert_non_null(ref);
    expect_same_tensors(q8, ref);
    assert_int_equal(u32(q8, "general.file_type"), 7);
    assert_int_equal(u32(q8, "general.quantization_version"), 2);
    /* token_embd + 2 x (q, k, v, o, gate, up) converted; ffn_down (172 columns) and the norms kept. */
    assert_int_equal(st.n_converted, 1 + 2 * 6);
    assert_int_equal(st.n_kept, 2 * 3 + 1);
    assert_int_equal(pd_gguf_find_tensor(q8, "blk.1.ffn_down.weight")->type, PD_TYPE_F32);
    assert_int_equal(pd_gguf_find_tensor(q8, "output_norm.weight")->type, PD_TYPE_F32);
    /* KVs: every key of the source is carried over. */
    for (int64_t i = 0; i < pd_gguf_n_kv(f32); i++)
        if (pd_gguf_find_key(q8, pd_gguf_key(f32, i)) < 0) fail_msg("key %s lost", pd_gguf_key(f32, i));
    pd_gguf_close(ref);
    pd_gguf_close(q8);

    pd_gguf *f16 = quantize(f32, PD_TYPE_F16, &st);
    ref = pd_gguf_open(MODELS "tiny-llama-f16.gguf");
    assert_non_null(ref);
    expect_same_tensors(f16, ref);
    assert_int_equal(u32(f16, "general.file_type"), 1);
    assert_int_equal(st.n_converted, 1 + 2 * 7);
    pd_gguf_close(ref);
    /* Already-F16 matrices are kept as they are when asked for F16 again. */
    pd_gguf *again = quantize(f16, PD_TYPE_F16, &st);
    assert_int_equal(st.n_converted, 0);
    expect_same_tensors(again, f16);
    pd_gguf_close(again);
    /* A K-quant mix asked for Q8_0: nothing is re-quantised, and its file_type (15, Q4_K_M) stays. */
    pd_gguf *q4k = pd_gguf_open(MODELS "tiny-llama256-q4_k.gguf");
    assert_non_null(q4k);
    again = quantize(q4k, PD_TYPE_Q8_0, &st);
    assert_int_equal(st.n_converted, 0);
    assert_int_equal(u32(again, "general.file_type"), 15);
    expect_same_tensors(again, q4k);
    pd_gguf_close(q4k);
    pd_gguf_close(again);
    pd_gguf_close(f16);
    pd_gguf_close(f32);
}

/* Random matrices in a small model; per-block error bounds of each format. */
static void test_error_bounds(void **state) {
    (void)state;
    const int64_t K = 512, N = 6;
    float *wdat = malloc((size_t)(K * N) * sizeof(float));
    uint64_t x = 12345;
    for (int64_t i = 0; i < K * N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        wdat[i] = ((float)(x >> 40) / (float)(1 << 24) - 0.5f) * (i % 97 == 0 ? 8.0f : 1.0f);
    }
    float norm[512];
    for (int i = 0; i < 512; i++) norm[i] = 1.0f + 0.001f * (float)i;
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_set_str(w, "general.architecture", "llama"), PD_OK);
    int64_t ne[2] = {K, N}, ne_odd[2] = {K - 32, N}, ne_n = 512;
    assert_int_equal(pd_gguf_add_tensor(w, "blk.0.attn_q.weight", PD_TYPE_F32, 2, ne, wdat), PD_OK);
    assert_int_equal(pd_gguf_add_tensor(w, "blk.0.ffn_down.weight", PD_TYPE_F32, 2, ne_odd, wdat), PD_OK);
    assert_int_equal(pd_gguf_add_tensor(w, "blk.0.attn_norm.weight", PD_TYPE_F32, 1, &ne_n, norm), PD_OK);
    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *src = pd_gguf_open_owned_memory(buf, size, "src.gguf");
    assert_non_null(src);

    static const struct { pd_type t; double rel_rms; bool odd_converted; } cases[] = {
        {PD_TYPE_Q8_0, 0.01, true}, {PD_TYPE_Q4_0, 0.15, true}, {PD_TYPE_Q6_K, 0.04, false},
        {PD_TYPE_Q4_K, 0.15, false}, {PD_TYPE_BF16, 0.005, true}, {PD_TYPE_F16, 0.001, true},
    };
    float *deq = malloc((size_t)K * sizeof(float));
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pd_quantize_stats st;
        pd_gguf *q = quantize(src, cases[c].t, &st);
        const pd_gguf_tensor *t = pd_gguf_find_tensor(q, "blk.0.attn_q.weight");
        assert_int_equal(t->type, cases[c].t);
        assert_int_equal(pd_gguf_find_tensor(q, "blk.0.attn_norm.weight")->type, PD_TYPE_F32);
        assert_memory_equal(pd_gguf_find_tensor(q, "blk.0.attn_norm.weight")->data, norm, sizeof norm);
        /* 480 columns: a multiple of 32 but not of 256. */
        const pd_gguf_tensor *odd = pd_gguf_find_tensor(q, "blk.0.ffn_down.weight");
        assert_int_equal(odd->type, cases[c].odd_converted ? cases[c].t : PD_TYPE_F32);
        assert_int_equal(u32(q, "general.file_type"), (uint32_t)pd_gguf_ftype_of(cases[c].t));
        double err2 = 0, ref2 = 0;
        size_t rb = pd_row_bytes(cases[c].t, K);
        for (int64_t r = 0; r < N; r++) {
            assert_int_equal(pd_dequantize_row(cases[c].t, (const uint8_t *)t->data + (size_t)r * rb, deq, K), PD_OK);
            for (int64_t i = 0; i < K; i++) {
                float v = wdat[r * K + i];
                double e = (double)deq[i] - v;
                err2 += e * e;
                ref2 += (double)v * v;
                if (cases[c].t == PD_TYPE_Q8_0 || cases[c].t == PD_TYPE_Q4_0) {
                    /* One scale per 32. Q8_0: d = amax/127, q = round(x/d) in [-127, 127]: |error| <= d/2.
                     * Q4_0: d = m/-8 with m the value of largest magnitude, q clamped to [-8, 7]: the value
                     * values beyond 7|d| on the side opposite to m land on 7d (|error| <= |d|); every value
                     * within 7|d| is rounded to nearest (|error| <= |d|/2). (+ f16 rounding of d.) */
                    int64_t b0 = i / 32 * 32;
                    float amax = 0;
                    for (int64_t k = b0; k < b0 + 32; k++) amax = fmaxf(amax, fabsf(wdat[r * K + k]));
                    double bound = cases[c].t == PD_TYPE_Q8_0 ? amax / 127.0 / 2 : amax / 8.0;
                    if (cases[c].t == PD_TYPE_Q4_0 && fabsf(v) <= 7.0 * amax / 8.0) bound = amax / 16.0;
                    if (fabs(e) > bound + amax * 2e-3 + 1e-7)
                        fail_msg("%s row %lld col %lld: error %g > bound %g", pd_type_name(cases[c].t), (long long)r,
                                 (long long)i, fabs(e), bound);
                }
            }
        }
        double rel = sqrt(err2 / ref2);
        if (rel > cases[c].rel_rms) fail_msg("%s: relative rms error %g > %g", pd_type_name(cases[c].t), rel, cases[c].rel_rms);
        pd_gguf_close(q);
    }
    /* An unsupported target. */
    pd_gguf_writer *w2 = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_quantize_to_writer(src, w2, PD_TYPE_Q8_K, NULL), PD_ERR_UNSUPPORTED);
    pd_gguf_writer_free(w2);
    free(deq);
    free(wdat);
    pd_gguf_close(src);
}

/* pd_gguf_quantize writes a file that reads back, and replacing the input in place works. */
static void test_file_in_place(void **state) {
    (void)state;
    PD_NEED_FIXTURES();
    char path[] = "/tmp/pd_test_quantXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    size_t n;
    char *orig = pd_read_file(MODELS "tiny-llama.gguf", &n);
    assert_non_null(orig);
    FILE *f = fopen(path, "wb");
    assert_int_equal(fwrite(orig, 1, n, f), n);
    fclose(f);
    free(orig);
    pd_gguf *src = pd_gguf_open(path);
    assert_non_null(src);
    assert_int_equal(pd_gguf_quantize(src, path, PD_TYPE_Q8_0, NULL), PD_OK);
    pd_gguf_close(src);
    pd_gguf *q = pd_gguf_open(path);
    assert_non_null(q);
    pd_gguf *ref = pd_gguf_open(MODELS "tiny-llama-q8_0.gguf");
    expect_same_tensors(q, ref);
    pd_gguf_close(ref);
    pd_gguf_close(q);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_llama_cpp),
        cmocka_unit_test(test_error_bounds),
        cmocka_unit_test(test_file_in_place),
    };
    return pd_run_tests(tests, NULL, NULL);
}
