/* tests/fmt/test_quant_types.c — our reference quantisers and llama-quantize's mixes against
 * llama-quantize's output (../shared/fixtures/models/quant/README.md): every quantised tensor of
 * every fixture file is re-made from the same F32 base with pd_quantize_row of its type, and must
 * hold the same bytes (llama.cpp's reference quantisers are deterministic; ours follow the same
 * algorithms) — the truth for Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_0, Q4_0, IQ4_NL,
 * IQ4_XS; then the whole file made by pd_gguf_quantize_ftype with the same file type (and --pure
 * where the README says so) must have every tensor's type and bytes equal to theirs: the per-tensor
 * mix (attn_v / ffn_down bumps, output / tied token_embd rule) and the fallbacks of 96-wide rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"

#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include "ponder/kern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QDIR PD_SHARED_DIR "/fixtures/models/quant/"

/* Re-quantise every non-F32 tensor of `file` from base `base`; returns the number of tensors
 * checked, fails on the first differing block (naming tensor, row and block). */
static int check_file(const char *base, const char *file) {
    char p1[512], p2[512];
    snprintf(p1, sizeof p1, QDIR "%s", base);
    snprintf(p2, sizeof p2, QDIR "%s", file);
    pd_gguf *b = pd_gguf_open(p1), *q = pd_gguf_open(p2);
    if (!b || !q) fail_msg("%s", pd_last_error());
    int checked = 0;
    for (int64_t i = 0; i < pd_gguf_n_tensors(q); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(q, i);
        if (t->type == PD_TYPE_F32) continue;
        const pd_gguf_tensor *f = pd_gguf_find_tensor(b, t->name);
        if (!f) fail_msg("%s: %s not in %s", file, t->name, base);
        assert_int_equal(f->type, PD_TYPE_F32);
        int64_t n = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
        size_t rb = pd_row_bytes(t->type, n), bb = pd_type_block_bytes(t->type);
        uint8_t *row = malloc(rb);
        for (int64_t r = 0; r < rows; r++) {
            assert_int_equal(pd_quantize_row(t->type, (const float *)f->data + r * n, row, n), PD_OK);
            const uint8_t *want = (const uint8_t *)t->data + (size_t)r * rb;
            if (memcmp(row, want, rb)) {
                size_t k = 0;
                while (row[k] == want[k]) k++;
                fail_msg("%s: %s (%s) row %lld block %zu byte %zu differs from llama-quantize's", file, t->name,
                         pd_type_name(t->type), (long long)r, k / bb, k % bb);
            }
        }
        free(row);
        checked++;
    }
    pd_gguf_close(b);
    pd_gguf_close(q);
    return checked;
}

static void test_bytes(void **st) {
    PD_NEED_FIXTURES();
    const char *base = (const char *)*st;
    static const char *fx256[] = {"fx256-q4_1.gguf", "fx256-q5_0.gguf", "fx256-q5_1.gguf", "fx256-iq4_nl.gguf",
                                  "fx256-iq4_xs.gguf", "fx256-q2_k.gguf", "fx256-q4_k_m.gguf", "fx256-q5_k_m.gguf",
                                  "fx256-q6_k.gguf"};
    static const char *fx96[] = {"fx96-q2_k.gguf", "fx96-q4_k_m.gguf", "fx96-q5_k_m.gguf"};
    int is256 = !strcmp(base, "fx256-f32.gguf");
    const char **files = is256 ? fx256 : fx96;
    size_t nf = is256 ? sizeof fx256 / sizeof *fx256 : sizeof fx96 / sizeof *fx96;
    for (size_t i = 0; i < nf; i++) {
        int n = check_file(base, files[i]);
        printf("  %-20s %2d quantised tensors byte-identical to llama-quantize's\n", files[i], n);
        assert_true(n >= 14);
    }
}

/* Whole files: our mix of `ftype` on the base equals llama-quantize's file tensor by tensor. */
static void test_mixes(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    static const struct { const char *base, *file, *ftype; bool pure; } cases[] = {
        {"fx256-f32", "fx256-q4_1", "Q4_1", true},     {"fx256-f32", "fx256-q5_0", "Q5_0", true},
        {"fx256-f32", "fx256-q5_1", "Q5_1", true},     {"fx256-f32", "fx256-iq4_nl", "IQ4_NL", true},
        {"fx256-f32", "fx256-iq4_xs", "IQ4_XS", false}, {"fx256-f32", "fx256-q2_k", "Q2_K", false},
        {"fx256-f32", "fx256-q4_k_m", "Q4_K_M", false}, {"fx256-f32", "fx256-q5_k_m", "Q5_K_M", false},
        {"fx256-f32", "fx256-q6_k", "Q6_K", false},     {"fx96-f32", "fx96-q4_k_m", "Q4_K_M", false},
        {"fx96-f32", "fx96-q5_k_m", "Q5_K_M", false},   {"fx96-f32", "fx96-q2_k", "Q2_K", false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char p1[512], p2[512];
        snprintf(p1, sizeof p1, QDIR "%s.gguf", cases[c].base);
        snprintf(p2, sizeof p2, QDIR "%s.gguf", cases[c].file);
        pd_gguf *b = pd_gguf_open(p1), *want = pd_gguf_open(p2);
        if (!b || !want) fail_msg("%s", pd_last_error());
        pd_type base;
        int ft = pd_gguf_ftype_from_name(cases[c].ftype, &base);
        assert_true(ft >= 0);
        pd_gguf_writer *w = pd_gguf_writer_new();
        pd_quantize_stats qs;
        assert_int_equal(pd_gguf_quantize_ftype_to_writer(b, w, ft, cases[c].pure, &qs), PD_OK);
        void *buf;
        size_t size;
        assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
        pd_gguf_writer_free(w);
        pd_gguf *got = pd_gguf_open_owned_memory(buf, size, "mix.gguf");
        if (!got) fail_msg("%s", pd_last_error());
        assert_int_equal(pd_gguf_n_tensors(got), pd_gguf_n_tensors(want));
        for (int64_t i = 0; i < pd_gguf_n_tensors(want); i++) {
            const pd_gguf_tensor *tw = pd_gguf_tensor_at(want, i), *tg = pd_gguf_find_tensor(got, tw->name);
            if (!tg) fail_msg("%s: %s missing", cases[c].file, tw->name);
            if (tg->type != tw->type)
                fail_msg("%s: %s is %s in ours, %s in llama-quantize's", cases[c].file, tw->name, pd_type_name(tg->type),
                         pd_type_name(tw->type));
            assert_int_equal(tg->nbytes, tw->nbytes);
            if (memcmp(tg->data, tw->data, tw->nbytes)) fail_msg("%s: %s bytes differ", cases[c].file, tw->name);
        }
        uint32_t fa = 0, fb = 0;
        assert_true(pd_gguf_get_u32(got, "general.file_type", &fa) && pd_gguf_get_u32(want, "general.file_type", &fb));
        assert_int_equal(fa, fb);
        printf("  %-8s%s on %-9s = %-17s %lld converted (%lld by fallback), same types and bytes\n", cases[c].ftype,
               cases[c].pure ? " --pure" : "       ", cases[c].base, cases[c].file, (long long)qs.n_converted,
               (long long)qs.n_fallback);
        pd_gguf_close(got);
        pd_gguf_close(b);
        pd_gguf_close(want);
    }
}

/* Names: llama-quantize's spellings, case-insensitive, short names map to the _M mixes. */
static void test_ftype_names(void **st) {
    (void)st;
    pd_type b;
    assert_int_equal(pd_gguf_ftype_from_name("Q4_K_M", &b), 15);
    assert_int_equal(b, PD_TYPE_Q4_K);
    assert_int_equal(pd_gguf_ftype_from_name("q4_k", &b), 15);
    assert_int_equal(pd_gguf_ftype_from_name("Q3_K_L", &b), 13);
    assert_int_equal(b, PD_TYPE_Q3_K);
    assert_int_equal(pd_gguf_ftype_from_name("iq4_xs", &b), 30);
    assert_int_equal(pd_gguf_ftype_from_name("q8_0", &b), 7);
    assert_int_equal(pd_gguf_ftype_from_name("bf16", &b), 32);
    assert_int_equal(pd_gguf_ftype_from_name("Q4_K_X", &b), -1);
    assert_int_equal(pd_gguf_ftype_from_name("q8_K", &b), -1);
    assert_string_equal(pd_gguf_ftype_name(15), "Q4_K_M");
    assert_string_equal(pd_gguf_ftype_name(12), "Q3_K_M");
    assert_null(pd_gguf_ftype_name(4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_bytes, (void *)"fx256-f32.gguf"),
        cmocka_unit_test_prestate(test_bytes, (void *)"fx96-f32.gguf"),
        cmocka_unit_test(test_mixes),
        cmocka_unit_test(test_ftype_names),
    };
    return pd_run_tests(tests, NULL, NULL);
}
