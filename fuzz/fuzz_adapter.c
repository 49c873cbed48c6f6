/* fuzz/fuzz_adapter.c — the adapter file reader (LoRA, PiSSA, SoKA; fine-tuning checkpoints, whose
 * opt.* tensors the reader skips) on arbitrary bytes, through a temporary file because the reader
 * takes a path. Properties: a rejected file leaves an error message; an accepted adapter is used
 * (summary, one forward through every slot) and saved again, and the re-read adapter has the same
 * method, slots, shapes, scale and factor values bit for bit.
 * Seeds: adapters and their .ckpt written by `ponder finetune` on a tiny qwen3 base.
 * fuzz-links: pd_train */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ponder/adapter.h"
#include "ponder/error.h"
#include "ponder/log.h"
#include "fuzz_util.h"

static void same_floats(const float *a, const float *b, int64_t n) {
    MUST((a == NULL) == (b == NULL));
    if (a) MUST(!memcmp(a, b, sizeof(float) * (size_t)n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_log_set_level(PD_LOG_QUIET);
    char path[64], out[80];
    if (fuzz_temp_file(path, sizeof path, "ad", data, size) != 0) return 0;
    pd_clear_error();
    pd_adapter *a = pd_adapter_load(path);
    unlink(path);
    if (!a) {
        MUST(strcmp(pd_last_error(), "no error") != 0);
        return 0;
    }
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
        pd_adapter_print_summary(a, devnull, "  ");
        fclose(devnull);
    }
    for (int s = 0; s < a->n_layer * PD_AT_COUNT; s++) {
        const pd_adapter_layer *L = &a->layers[s];
        if (!L->A || L->d_in > 4096 || L->d_out > 4096) continue;
        float *x = calloc((size_t)L->d_in, sizeof *x), *y = calloc((size_t)L->d_out, sizeof *y);
        if (x && y) {
            x[0] = 1.0f;
            pd_adapter_forward(L, x, 1, y, 1.0f);
        }
        free(x);
        free(y);
    }
    snprintf(out, sizeof out, "%s.out", path);
    if (pd_adapter_save(a, out) == PD_OK) {
        pd_adapter *b = pd_adapter_load(out);
        MUST(b != NULL);
        MUST(b->method == a->method && b->targets == a->targets);
        for (int s = 0; s < a->n_layer * PD_AT_COUNT; s++) {
            const pd_adapter_layer *p = &a->layers[s], *q = s < b->n_layer * PD_AT_COUNT ? &b->layers[s] : NULL;
            if (!p->A) {
                MUST(!q || !q->A);
                continue;
            }
            MUST(q && q->A);
            MUST(p->d_in == q->d_in && p->d_out == q->d_out && p->rank == q->rank && p->m1 == q->m1 && p->n1 == q->n1);
            MUST(p->scale == q->scale || (p->scale != p->scale && q->scale != q->scale));
            same_floats(p->A, q->A, pd_adapter_layer_a_size(p));
            same_floats(p->B, q->B, pd_adapter_layer_b_size(p));
            same_floats(p->A0, q->A0, pd_adapter_layer_a_size(p));
            same_floats(p->B0, q->B0, pd_adapter_layer_b_size(p));
        }
        pd_adapter_free(b);
    }
    unlink(out);
    pd_adapter_free(a);
    return 0;
}
