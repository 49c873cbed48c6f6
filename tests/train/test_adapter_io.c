/* tests/train/test_adapter_io.c — adapter GGUF files: round trip of every method, the LoRA/PiSSA
 * files read back in llama.cpp's layout and semantics (y += alpha/r · b·(a·x) from the raw
 * tensors), the inference hook, refusal of bad files, and parameter counts for real shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include "ponder/rng.h"

enum { DIN = 24, DOUT = 16, NL = 2 };

static char tmp_path[256];
static const char *tmpfile_name(const char *tag) {
    snprintf(tmp_path, sizeof tmp_path, "/tmp/ponder_test_adapter_%d_%s.gguf", (int)getpid(), tag);
    return tmp_path;
}

/* A set over 2 layers with targets q and down (different shapes), factors moved off init. */
static pd_adapter *make_set(pd_adapter_method m, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    pd_adapter *a = pd_adapter_new(m, NL);
    assert_non_null(a);
    a->rank = m == PD_ADAPTER_SOKA ? 0 : 3;
    a->alpha = m == PD_ADAPTER_LORA ? 6.0f : (float)a->rank;
    a->targets = (1u << PD_AT_Q) | (1u << PD_AT_DOWN);
    strcpy(a->arch, "qwen2");
    for (int l = 0; l < NL; l++)
        for (int t = 0; t < PD_AT_COUNT; t++) {
            if (!(a->targets & (1u << t))) continue;
            int64_t din = t == PD_AT_DOWN ? DOUT : DIN, dout = t == PD_AT_DOWN ? DIN : DOUT;
            float W[DIN * DOUT];
            for (int i = 0; i < DIN * DOUT; i++) W[i] = (float)pd_rng_normal(&r);
            pd_adapter_layer *L = pd_adapter_slot(a, l, t);
            if (m == PD_ADAPTER_LORA) assert_int_equal(pd_adapter_lora_init(L, din, dout, 3, 6.0f, &r), PD_OK);
            if (m == PD_ADAPTER_PISSA) assert_int_equal(pd_adapter_pissa_init(L, W, din, dout, 3, PD_SVD_AUTO), PD_OK);
            if (m == PD_ADAPTER_SOKA) {
                pd_soka_opts o;
                pd_soka_opts_default(&o);
                o.tau = 0.5;
                assert_int_equal(pd_adapter_soka_init(L, W, din, dout, &o, PD_SVD_AUTO), PD_OK);
            }
            for (int64_t i = 0; i < pd_adapter_layer_a_size(L); i++) L->A[i] += 0.1f * (float)pd_rng_normal(&r);
            for (int64_t i = 0; i < pd_adapter_layer_b_size(L); i++) L->B[i] += 0.1f * (float)pd_rng_normal(&r);
        }
    return a;
}

static void same_layer(const pd_adapter_layer *x, const pd_adapter_layer *y) {
    assert_int_equal(x->method, y->method);
    assert_int_equal(x->d_in, y->d_in);
    assert_int_equal(x->d_out, y->d_out);
    assert_int_equal(x->rank, y->rank);
    assert_true(fabsf(x->scale - y->scale) <= 1e-7f * fabsf(x->scale));
    assert_int_equal(x->m1, y->m1);
    assert_int_equal(x->n1, y->n1);
    int64_t na = pd_adapter_layer_a_size(x), nb = pd_adapter_layer_b_size(x);
    assert_memory_equal(x->A, y->A, sizeof(float) * na);
    assert_memory_equal(x->B, y->B, sizeof(float) * nb);
    assert_true((x->A0 == NULL) == (y->A0 == NULL));
    if (x->A0) {
        assert_memory_equal(x->A0, y->A0, sizeof(float) * na);
        assert_memory_equal(x->B0, y->B0, sizeof(float) * nb);
    }
}

static void test_round_trip(void **st) {
    (void)st;
    for (int m = 0; m < 3; m++) {
        pd_adapter *a = make_set((pd_adapter_method)m, 10 + m);
        const char *p = tmpfile_name("rt");
        assert_int_equal(pd_adapter_save(a, p), PD_OK);
        pd_adapter *b = pd_adapter_load(p);
        if (!b) fail_msg("%s", pd_last_error());
        assert_int_equal(b->method, m);
        assert_int_equal(b->n_layer, NL);
        assert_int_equal(b->targets, a->targets);
        assert_int_equal(b->rank, a->rank);
        assert_float_equal(b->alpha, a->alpha, 0);
        assert_string_equal(b->arch, "qwen2");
        assert_int_equal(pd_adapter_n_params(b), pd_adapter_n_params(a));
        assert_int_equal(pd_adapter_n_slots(b), 4);
        for (int i = 0; i < NL * PD_AT_COUNT; i++) {
            assert_true((a->layers[i].A == NULL) == (b->layers[i].A == NULL));
            if (a->layers[i].A) same_layer(&a->layers[i], &b->layers[i]);
        }
        pd_adapter_free(a);
        pd_adapter_free(b);
        unlink(p);
    }
}

/* A LoRA or PiSSA file read with llama.cpp's rules gives the same output as ponder's Δ_eff. */
static void test_llama_cpp_layout(void **st) {
    (void)st;
    for (int m = 0; m < 2; m++) {
        pd_adapter *a = make_set((pd_adapter_method)m, 20 + m);
        const char *p = tmpfile_name("ll");
        assert_int_equal(pd_adapter_save(a, p), PD_OK);
        pd_gguf *g = pd_gguf_open(p);
        assert_non_null(g);
        const char *s;
        size_t n;
        assert_true(pd_gguf_get_str(g, "general.type", &s, &n));
        assert_int_equal(n, 7); assert_memory_equal(s, "adapter", 7);
        assert_true(pd_gguf_get_str(g, "adapter.type", &s, &n));
        assert_int_equal(n, 4); assert_memory_equal(s, "lora", 4);
        assert_true(pd_gguf_get_str(g, "general.architecture", &s, &n));
        assert_int_equal(n, 5); assert_memory_equal(s, "qwen2", 5);
        float alpha;
        assert_true(pd_gguf_get_f32(g, "adapter.lora.alpha", &alpha));
        assert_int_equal(pd_gguf_n_tensors(g), 2 * 2 * NL);
        pd_rng r;
        pd_rng_seed(&r, 5);
        for (int l = 0; l < NL; l++)
            for (int t = 0; t < PD_AT_COUNT; t++) {
                const pd_adapter_layer *L = pd_adapter_slot(a, l, t);
                if (!L->A) continue;
                char na[96], nb[96];
                snprintf(na, sizeof na, "blk.%d.%s.weight.lora_a", l, pd_adapter_target_tensor(t));
                snprintf(nb, sizeof nb, "blk.%d.%s.weight.lora_b", l, pd_adapter_target_tensor(t));
                const pd_gguf_tensor *ta = pd_gguf_find_tensor(g, na), *tb = pd_gguf_find_tensor(g, nb);
                assert_non_null(ta); assert_non_null(tb);
                /* llama.cpp's checks: a.ne[0] == W.ne[0] (d_in), b.ne[1] == W.ne[1] (d_out), a.ne[1] == b.ne[0] */
                int64_t rf = m == PD_ADAPTER_PISSA ? 2 * L->rank : L->rank;
                assert_int_equal(ta->ne[0], L->d_in); assert_int_equal(ta->ne[1], rf);
                assert_int_equal(tb->ne[0], rf);      assert_int_equal(tb->ne[1], L->d_out);
                assert_int_equal(ta->type, PD_TYPE_F32);
                /* y = (alpha / rf) · b · (a · x), straight from the file's bytes */
                float x[DIN], y[DIN] = {0};
                for (int i = 0; i < L->d_in; i++) x[i] = (float)pd_rng_normal(&r);
                pd_adapter_forward(L, x, 1, y, 1.0f);
                const float *fa = ta->data, *fb = tb->data;
                for (int64_t o = 0; o < L->d_out; o++) {
                    double v = 0;
                    for (int64_t k = 0; k < rf; k++) {
                        double h = 0;
                        for (int64_t i = 0; i < L->d_in; i++) h += (double)fa[k * L->d_in + i] * x[i];
                        v += (double)fb[o * rf + k] * h;
                    }
                    v *= alpha / (double)rf;
                    assert_true(fabs(v - y[o]) < 1e-4 * (1 + fabs(v)));
                }
            }
        pd_gguf_close(g);
        pd_adapter_free(a);
        unlink(p);
    }
}

static void test_hook(void **st) {
    (void)st;
    pd_adapter *a = make_set(PD_ADAPTER_SOKA, 30);
    float x[2 * DIN], y1[2 * DOUT] = {0}, y2[2 * DOUT] = {0};
    for (int i = 0; i < 2 * DIN; i++) x[i] = (float)(i % 7) - 3;
    a->user_scale = 0.5f;
    pd_adapter_linear_hook(a, 1, "q", x, 2, DIN, y1, DOUT);
    pd_adapter_forward(pd_adapter_slot(a, 1, PD_AT_Q), x, 2, y2, 0.5f);
    assert_memory_equal(y1, y2, sizeof y1);
    double nz = 0;
    for (int i = 0; i < 2 * DOUT; i++) nz += fabs(y1[i]);
    assert_true(nz > 0);
    /* not adapted, unknown, wrong dims or layer: no change */
    float y3[2 * DOUT] = {0}, zero[2 * DOUT] = {0};
    pd_adapter_linear_hook(a, 1, "k", x, 2, DIN, y3, DOUT);
    pd_adapter_linear_hook(a, 1, "zz", x, 2, DIN, y3, DOUT);
    pd_adapter_linear_hook(a, 1, "q", x, 2, DIN, y3, DOUT - 1);
    pd_adapter_linear_hook(a, 7, "q", x, 2, DIN, y3, DOUT);
    assert_memory_equal(y3, zero, sizeof zero);
    pd_adapter_free(a);
}

static void write_bytes(const char *p, const void *d, size_t n) {
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

static void test_bad_files(void **st) {
    (void)st;
    const char *p = tmpfile_name("bad");
    /* a GGUF that is not an adapter */
    pd_gguf_writer *w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "general.type", "model");
    assert_int_equal(pd_gguf_write(w, p), PD_OK);
    pd_gguf_writer_free(w);
    assert_null(pd_adapter_load(p));
    assert_non_null(strstr(pd_last_error(), "not 'adapter'"));
    /* lora_a without lora_b */
    w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "general.type", "adapter");
    pd_gguf_set_str(w, "adapter.type", "lora");
    float z[8] = {0};
    int64_t ne[2] = {4, 2};
    pd_gguf_add_tensor(w, "blk.0.attn_q.weight.lora_a", PD_TYPE_F32, 2, ne, z);
    assert_int_equal(pd_gguf_write(w, p), PD_OK);
    pd_gguf_writer_free(w);
    assert_null(pd_adapter_load(p));
    assert_non_null(strstr(pd_last_error(), "blk.0.attn_q.weight.lora_b"));
    /* transposed lora_b (ne [d_out, r]) */
    w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "general.type", "adapter");
    pd_gguf_set_str(w, "adapter.type", "lora");
    int64_t neb[2] = {3, 2};
    pd_gguf_add_tensor(w, "blk.0.attn_q.weight.lora_a", PD_TYPE_F32, 2, ne, z);
    pd_gguf_add_tensor(w, "blk.0.attn_q.weight.lora_b", PD_TYPE_F32, 2, neb, z);
    assert_int_equal(pd_gguf_write(w, p), PD_OK);
    pd_gguf_writer_free(w);
    assert_null(pd_adapter_load(p));
    assert_non_null(strstr(pd_last_error(), "do not pair"));
    /* a foreign tensor name */
    w = pd_gguf_writer_new();
    pd_gguf_set_str(w, "general.type", "adapter");
    pd_gguf_set_str(w, "adapter.type", "lora");
    pd_gguf_add_tensor(w, "output.weight", PD_TYPE_F32, 2, ne, z);
    assert_int_equal(pd_gguf_write(w, p), PD_OK);
    pd_gguf_writer_free(w);
    assert_null(pd_adapter_load(p));
    assert_non_null(strstr(pd_last_error(), "output.weight"));
    /* truncated copy of a good file */
    pd_adapter *a = make_set(PD_ADAPTER_LORA, 40);
    assert_int_equal(pd_adapter_save(a, p), PD_OK);
    pd_adapter_free(a);
    size_t len;
    char *data = pd_read_file(p, &len);
    assert_non_null(data);
    write_bytes(p, data, len / 2);
    free(data);
    assert_null(pd_adapter_load(p));
    assert_null(pd_adapter_load("/nonexistent/adapter.gguf"));
    unlink(p);
}

/* Counts from dimensions, checked against hand arithmetic. */
static void test_counts(void **st) {
    (void)st;
    const pd_model_shape *s = pd_model_shape_find("llama2-7b");
    assert_non_null(s);
    int64_t din, dout;
    pd_model_shape_dims(s, PD_AT_V, &din, &dout);
    assert_int_equal(din, 4096); assert_int_equal(dout, 4096);
    pd_model_shape_dims(s, PD_AT_DOWN, &din, &dout);
    assert_int_equal(din, 11008); assert_int_equal(dout, 4096);
    /* LoRA r=8 on a 4096×4096 matrix: 8·(4096+4096) = 65,536 */
    assert_int_equal(pd_adapter_count_matrix(PD_ADAPTER_LORA, 4096, 4096, 8), 65536);
    /* SoKA: 64×64 ⊗ 64×64 → 8,192 per term */
    assert_int_equal(pd_adapter_count_matrix(PD_ADAPTER_SOKA, 4096, 4096, 1), 8192);
    /* 11008 = 86·128 input, 4096 = 64·64 output: 64·86 + 64·128 = 13,696 per term */
    assert_int_equal(pd_adapter_count_matrix(PD_ADAPTER_SOKA, 11008, 4096, 2), 2 * 13696);
    const pd_model_shape *q = pd_model_shape_find("qwen2.5-0.5b");
    assert_non_null(q);
    pd_model_shape_dims(q, PD_AT_K, &din, &dout);
    assert_int_equal(din, 896); assert_int_equal(dout, 128); /* 2 kv heads × 64 */
    assert_null(pd_model_shape_find("gpt-5"));
    int n = 0;
    while (pd_model_shape_at(n)) n++;
    assert_true(n >= 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_llama_cpp_layout), cmocka_unit_test(test_hook),
        cmocka_unit_test(test_bad_files),  cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
