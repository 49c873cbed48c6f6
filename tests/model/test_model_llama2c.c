/* tests/model/test_model_llama2c.c — llama2.c's stories260K (trained weights, legacy .bin) loaded
 * through pd_model_load (converted to GGUF in memory) against run.c's own outputs
 * (../shared/fixtures/llama2c/README.md): logits at 25 positions within 1e-4 absolute, and exact
 * greedy ids from BOS (80) and after the prompt (40). */
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
#include "ponder/alloc.h"

#define FIX PD_SHARED_DIR "/fixtures/llama2c/"

static int read_ids(const char *path, int32_t *ids, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s", path);
    int n = 0;
    long v;
    while (n < cap && fscanf(f, "%ld", &v) == 1) ids[n++] = (int32_t)v;
    fclose(f);
    return n;
}

/* run.c's sample_argmax: strict '>', so a tie goes to the lowest index */
static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void test_stories260k(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = pd_model_load(FIX "stories260K.bin");
    if (!m) fail_msg("%s", pd_last_error());
    const pd_model_config *c = &m->cfg;
    assert_int_equal(c->arch, PD_ARCH_LLAMA);
    assert_int_equal(c->n_vocab, 512);
    assert_int_equal(c->n_embd, 64);
    assert_int_equal(c->n_layer, 5);
    assert_int_equal(c->n_head, 8);
    assert_int_equal(c->n_head_kv, 4);
    assert_int_equal(c->head_dim, 8);
    assert_int_equal(c->n_ff, 172);
    assert_true(c->tied_output);
    assert_null(m->tok);
    const int V = c->n_vocab;

    int32_t ids[32];
    int n = read_ids(FIX "stories260K.tokens.txt", ids, 32);
    assert_int_equal(n, 25);
    size_t bytes = 0;
    float *gold = (float *)pd_read_file(FIX "stories260K.logits.f32", &bytes);
    assert_non_null(gold);
    assert_int_equal(bytes, (size_t)n * V * 4);

    /* logits, whole prompt in one batch and one token at a time: run.c accumulates in float with
     * its own order (an FMA build of run.c differs by 5.5e-5), so 1e-4 absolute (|logit| up to ~16) */
    pd_kv *kv = pd_kv_new(c, 1, 512, PD_TYPE_F32);
    float *lg = malloc(sizeof(float) * (size_t)n * V);
    assert_int_equal(pd_model_eval(m, kv, 0, ids, n, true, lg), PD_OK);
    double worst = 0, maxg = 0;
    for (int i = 0; i < n * V; i++) {
        worst = fmax(worst, fabs(lg[i] - gold[i]));
        maxg = fmax(maxg, fabs(gold[i]));
    }
    pd_kv_seq_clear(kv, 0);
    double worst1 = 0;
    for (int p = 0; p < n; p++) {
        assert_int_equal(pd_model_eval(m, kv, 0, ids + p, 1, false, lg), PD_OK);
        for (int j = 0; j < V; j++) worst1 = fmax(worst1, fabs(lg[j] - gold[(size_t)p * V + j]));
    }
    printf("  stories260K: batch worst |d| %.2e, decode %.2e (max |logit| %.2f)\n", worst, worst1, maxg);
    assert_true(worst <= 1e-4);
    assert_true(worst1 <= 1e-4);

    /* greedy from the prompt: argmax at position 24 onwards, 40 ids */
    int32_t want[80];
    assert_int_equal(read_ids(FIX "stories260K.greedy-from-prompt.txt", want, 80), 40);
    int32_t t = argmax(lg, V); /* lg holds position 24's logits */
    for (int i = 0; i < 40; i++) {
        assert_int_equal(t, want[i]);
        assert_int_equal(pd_model_eval(m, kv, 0, &t, 1, false, lg), PD_OK);
        t = argmax(lg, V);
    }
    /* greedy from BOS, 80 ids, in a second sequence of a fresh cache */
    assert_int_equal(read_ids(FIX "stories260K.greedy-from-bos.txt", want, 80), 80);
    pd_kv_free(kv);
    kv = pd_kv_new(c, 2, 512, PD_TYPE_F32);
    t = 1;
    for (int i = 0; i < 80; i++) {
        assert_int_equal(pd_model_eval(m, kv, 1, &t, 1, false, lg), PD_OK);
        t = argmax(lg, V);
        assert_int_equal(t, want[i]);
    }
    free(lg);
    free(gold);
    pd_kv_free(kv);
    pd_model_free(m);
}

static void test_not_a_model(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    /* a text file is neither GGUF nor a llama2.c checkpoint: the error names the file */
    assert_null(pd_model_load(FIX "README.md"));
    assert_non_null(strstr(pd_last_error(), "README.md"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_stories260k), cmocka_unit_test(test_not_a_model)};
    return pd_run_tests(tests, NULL, NULL);
}
