/* fuzz/fuzz_llama2c.c — fuzz target for the llama2.c legacy .bin import: arbitrary bytes are written to
 * a temporary file (the importer reads paths), converted to GGUF, and the result is opened with the GGUF
 * reader. A rejected file must leave an error message; an accepted one must round-trip through the
 * reader with the dimensions its header gave.
 * fuzz-links: pd_fmt */
#include "ponder/gguf.h"
#include "ponder/llama2c.h"
#include "ponder/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void must(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[] = "/tmp/pd-fuzz-l2c-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t k = write(fd, data + off, size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    close(fd);
    pd_clear_error();
    pd_llama2c_config cfg;
    pd_status hs = pd_llama2c_read_config(path, &cfg);
    pd_gguf *g = pd_llama2c_open(path);
    unlink(path);
    if (!g) {
        must(strcmp(pd_last_error(), "no error") != 0);
        return 0;
    }
    must(hs == PD_OK);
    int64_t dim = 0, layers = 0;
    must(pd_gguf_get_i64(g, "llama.embedding_length", &dim) && dim == cfg.dim);
    must(pd_gguf_get_i64(g, "llama.block_count", &layers) && layers == cfg.n_layers);
    const pd_gguf_tensor *emb = pd_gguf_find_tensor(g, "token_embd.weight");
    must(emb && emb->ne[0] == cfg.dim);
    must((pd_gguf_find_tensor(g, "output.weight") != NULL) == !cfg.shared_classifier);
    pd_gguf_close(g);
    return 0;
}
