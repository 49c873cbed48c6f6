/* fuzz/fuzz_cvec.c — the control-vector reader of `--policy steer:file=…` and `ponder steer --info`
 * (reason/steer.c, llama.cpp's control-vector GGUF layout) on arbitrary bytes, through a temporary
 * file because the reader takes a path.
 * Properties: a refused file leaves an error message; an accepted one has sane sizes (n_embd >= 1,
 * n_layer >= 2, no direction at layer 0, at least one direction, layers without a direction all
 * zero, a NUL-terminated hint); saved again, it reads back with the same sizes, layers, hint and
 * direction bits, and saving that copy gives the same bytes (the written form is a fixed point).
 * Seeds: vectors written by `ponder steer` on the tiny fixture models, hand-broken variants.
 * fuzz-links: pd_reason */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ponder/error.h"
#include "ponder/log.h"
#include "ponder/steer.h"
#include "fuzz_util.h"

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    MUST(f != NULL);
    MUST(fseek(f, 0, SEEK_END) == 0);
    long len = ftell(f);
    MUST(len >= 0 && fseek(f, 0, SEEK_SET) == 0);
    uint8_t *b = malloc((size_t)len + 1);
    MUST(b != NULL && fread(b, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void same(const pd_cvec *a, const pd_cvec *b) {
    MUST(a->n_embd == b->n_embd && a->n_layer == b->n_layer && !strcmp(a->hint, b->hint));
    MUST(!memcmp(a->has, b->has, (size_t)a->n_layer));
    MUST(!memcmp(a->dir, b->dir, sizeof(float) * (size_t)a->n_layer * (size_t)a->n_embd));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_log_set_level(PD_LOG_QUIET);
    char path[64], out1[80], out2[80];
    if (fuzz_temp_file(path, sizeof path, "cv", data, size) != 0) return 0;
    pd_clear_error();
    pd_cvec *c = pd_cvec_load(path);
    unlink(path);
    if (!c) {
        MUST(strcmp(pd_last_error(), "no error") != 0);
        return 0;
    }
    MUST(c->n_embd >= 1 && c->n_layer >= 2 && !c->has[0] && memchr(c->hint, 0, sizeof c->hint));
    int n_has = 0;
    for (int l = 0; l < c->n_layer; l++) {
        n_has += c->has[l] != 0;
        if (!c->has[l])
            for (int i = 0; i < c->n_embd; i++) MUST(c->dir[(size_t)l * c->n_embd + i] == 0.0f);
    }
    MUST(n_has >= 1 && c->has[c->n_layer - 1]);
    snprintf(out1, sizeof out1, "%s.a.gguf", path);
    snprintf(out2, sizeof out2, "%s.b.gguf", path);
    MUST(pd_cvec_save(c, out1) == PD_OK);
    pd_cvec *d = pd_cvec_load(out1);
    MUST(d != NULL);
    same(c, d);
    MUST(pd_cvec_save(d, out2) == PD_OK);
    size_t n1, n2;
    uint8_t *b1 = slurp(out1, &n1), *b2 = slurp(out2, &n2);
    MUST(n1 == n2 && !memcmp(b1, b2, n1));
    free(b1);
    free(b2);
    unlink(out1);
    unlink(out2);
    pd_cvec_free(d);
    pd_cvec_free(c);
    return 0;
}
