/* fuzz/fuzz_llama2c.c — fuzz target for the llama2.c legacy .bin import: arbitrary bytes are written to
 * a temporary file (the importer reads paths), converted to GGUF, and the result is opened with the GGUF
 * reader. A rejected file must leave an error message; an accepted one must round-trip through the
 * reader with the dimensions its header gave.
 * fuzz-links: pd_fmt */
#include "ponder/gguf.h"
#include "ponder/llama2c.h"
#include "ponder/error.h"
#include "fuzz_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    if (fuzz_temp_file(path, sizeof path, "l2c", data, size) != 0) return 0;
    pd_clear_error();
    pd_llama2c_config cfg;
    pd_status hs = pd_llama2c_read_config(path, &cfg);
    pd_gguf *g = pd_llama2c_open(path);
    unlink(path);
    if (!g) {
        MUST(strcmp(pd_last_error(), "no error") != 0);
        return 0;
    }
    MUST(hs == PD_OK);
    int64_t dim = 0, layers = 0;
    MUST(pd_gguf_get_i64(g, "llama.embedding_length", &dim) && dim == cfg.dim);
    MUST(pd_gguf_get_i64(g, "llama.block_count", &layers) && layers == cfg.n_layers);
    const pd_gguf_tensor *emb = pd_gguf_find_tensor(g, "token_embd.weight");
    MUST(emb && emb->ne[0] == cfg.dim);
    MUST((pd_gguf_find_tensor(g, "output.weight") != NULL) == !cfg.shared_classifier);
    pd_gguf_close(g);
    return 0;
}
