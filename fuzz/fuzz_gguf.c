/* fuzz/fuzz_gguf.c — fuzz target for the GGUF reader: parse arbitrary bytes, then use everything the
 * reader hands out (every KV rendered and read through its typed getter, every string-array element,
 * the first and last byte of every tensor), and re-serialise what was read through the writer: a file
 * the reader accepted must come back unchanged in content, and the writer's output is a fixed point
 * (read and written again: the same bytes).
 * fuzz-links: pd_fmt */
#include "ponder/gguf.h"
#include "ponder/alloc.h"
#include "fuzz_util.h"
#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_gguf *g = pd_gguf_open_memory(data, size, "fuzz.gguf");
    if (!g) {
        MUST(pd_gguf_open_status() != PD_OK);
        return 0;
    }
    char txt[512];
    for (int64_t i = 0; i < pd_gguf_n_kv(g); i++) {
        const char *key = pd_gguf_key(g, i);
        MUST(pd_gguf_find_key(g, key) == i);
        pd_gguf_kv_to_text(g, i, txt, sizeof txt);
        MUST(strlen(txt) < sizeof txt);
        uint32_t u;
        int64_t v;
        float f;
        bool b;
        const char *s;
        size_t len;
        (void)pd_gguf_get_u32(g, key, &u);
        (void)pd_gguf_get_i64(g, key, &v);
        (void)pd_gguf_get_f32(g, key, &f);
        (void)pd_gguf_get_bool(g, key, &b);
        if (pd_gguf_get_str(g, key, &s, &len) && len) sink ^= (uint8_t)(s[0] ^ s[len - 1]);
        pd_gguf_vtype et;
        uint64_t n;
        if (pd_gguf_get_arr(g, key, &et, &n)) {
            if (et == PD_GGUF_STRING) {
                for (uint64_t k = 0; k < n; k++) {
                    MUST(pd_gguf_arr_str(g, key, k, &s, &len));
                    if (len) sink ^= (uint8_t)(s[0] ^ s[len - 1]);
                }
            } else {
                const uint8_t *p = pd_gguf_arr_data(g, key);
                if (p && n) sink ^= p[0];
            }
        }
    }
    pd_gguf_writer *w = pd_gguf_writer_new();
    MUST(w != NULL);
    MUST(pd_gguf_copy_kvs(w, g, NULL) == PD_OK);
    bool ok = true;
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        MUST(pd_gguf_find_tensor(g, t->name) == t);
        const uint8_t *p = t->data;
        MUST(p >= data && t->nbytes <= size && p + t->nbytes <= data + size);
        sink ^= (uint8_t)(p[0] ^ p[t->nbytes - 1]);
        pd_tensor view;
        pd_gguf_tensor_view(t, &view);
        MUST(pd_tensor_nbytes(&view) == t->nbytes);
        /* Names of 64+ bytes are valid for the reader but llama.cpp (and our writer) refuse them. */
        if (pd_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data) != PD_OK) ok = false;
    }
    void *buf;
    size_t bsize;
    if (ok && pd_gguf_write_buffer(w, &buf, &bsize) == PD_OK) {
        pd_gguf *g2 = pd_gguf_open_owned_memory(buf, bsize, "rewritten.gguf");
        MUST(g2 != NULL);
        MUST(pd_gguf_n_kv(g2) == pd_gguf_n_kv(g) && pd_gguf_n_tensors(g2) == pd_gguf_n_tensors(g));
        for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
            const pd_gguf_tensor *a = pd_gguf_tensor_at(g, i), *b = pd_gguf_tensor_at(g2, i);
            MUST(!strcmp(a->name, b->name) && a->type == b->type && a->nbytes == b->nbytes);
            MUST(!memcmp(a->data, b->data, a->nbytes));
        }
        for (int64_t i = 0; i < pd_gguf_n_kv(g); i++) {
            char t2[512];
            pd_gguf_kv_to_text(g, i, txt, sizeof txt);
            pd_gguf_kv_to_text(g2, i, t2, sizeof t2);
            MUST(!strcmp(txt, t2));
        }
        /* the writer's output is canonical: writing what was read from it gives the same bytes */
        pd_gguf_writer *w2 = pd_gguf_writer_new();
        MUST(w2 != NULL && pd_gguf_copy_kvs(w2, g2, NULL) == PD_OK);
        for (int64_t i = 0; i < pd_gguf_n_tensors(g2); i++) {
            const pd_gguf_tensor *t = pd_gguf_tensor_at(g2, i);
            MUST(pd_gguf_add_tensor(w2, t->name, t->type, t->n_dims, t->ne, t->data) == PD_OK);
        }
        void *buf2;
        size_t bsize2;
        MUST(pd_gguf_write_buffer(w2, &buf2, &bsize2) == PD_OK);
        MUST(bsize2 == bsize && !memcmp(buf2, buf, bsize));
        free(buf2);
        pd_gguf_writer_free(w2);
        pd_gguf_close(g2);
    }
    pd_gguf_writer_free(w);
    pd_gguf_close(g);
    return 0;
}
