/* fuzz/fuzz_ckpt.c — training checkpoints and trainable models (`ponder train --resume`, the base of
 * `ponder finetune`) from arbitrary bytes, through a temporary file (the loader takes a path): the
 * inference loader, the training engine's config check, dequantisation into the f32 masters, the
 * AdamW moments (opt.m.* / opt.v.*), ponder.train.{step, rng, config} and the resume settings parser
 * on the config JSON. The frozen loader (adapter bases) runs on the same bytes.
 * Properties: a rejected file leaves an error message; an accepted one has f32 masters of the
 * engine's parameter count (all read), and moments exactly when the file has opt.m.* tensors.
 * Seeds: a tiny qwen3 checkpoint and a llama model written by `ponder train`.
 * fuzz-links: pd_train */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/log.h"
#include "ponder/train.h"
#include "../src/train/train_int.h"
#include "fuzz_util.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_log_set_level(PD_LOG_QUIET);
    char path[64];
    if (fuzz_temp_file(path, sizeof path, "ck", data, size) != 0) return 0;
    pd_clear_error();
    pd_tckpt_info info;
    bool has_opt = false;
    pd_tmodel *m = pd_tmodel_load(path, 1, 4, &info, &has_opt);
    if (!m) {
        MUST(strcmp(pd_last_error(), "no error") != 0);
    } else {
        pd_gguf *g = pd_gguf_open_memory(data, size, "ckpt");
        MUST(g != NULL);
        MUST(has_opt == (pd_gguf_find_tensor(g, "opt.m.token_embd.weight") != NULL));
        pd_gguf_close(g);
        const float *p = pd_tmodel_params(m);
        size_t n = pd_tmodel_n_params(m);
        float acc = 0;
        for (size_t i = 0; i < n; i++) acc += p[i];
        sink = acc;
        if (info.config_json) {
            cJSON *j = cJSON_Parse(info.config_json);
            if (j) {
                pd_run_opts r;
                pd_run_opts_default(&r, 0);
                char *keep = NULL;
                (void)pd_run_opts_from_json(j, &r, &keep);
                (void)pd_run_json_steps(j);
                free(keep);
                cJSON_Delete(j);
            }
            free((char *)info.config_json);
        }
        pd_tmodel_free(m);
    }
    pd_tmodel *f = pd_tmodel_load_frozen(path, 1, 4);
    if (f) pd_tmodel_free(f);
    unlink(path);
    return 0;
}
