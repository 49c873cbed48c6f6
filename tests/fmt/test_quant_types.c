/* tests/fmt/test_quant_types.c — our reference quantisers against llama-quantize's output
 * (../shared/fixtures/models/quant/README.md): every quantised tensor of every fixture file is
 * re-made from the same F32 base with pd_quantize_row of its type, and must hold the same bytes
 * (llama.cpp's reference quantisers are deterministic; ours follow the same algorithms). This is
 * the truth for Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_0, Q4_0, IQ4_NL, IQ4_XS. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_bytes, (void *)"fx256-f32.gguf"),
        cmocka_unit_test_prestate(test_bytes, (void *)"fx96-f32.gguf"),
    };
    return pd_run_tests(tests, NULL, NULL);
}
