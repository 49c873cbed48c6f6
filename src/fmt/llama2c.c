/* fmt/llama2c.c — owns the import of llama2.c legacy (version 0) .bin checkpoints into a GGUF writer
 * (ponder/llama2c.h). The header is validated field by field and the exact file size it implies is
 * checked before any weight is read; the file is memory-mapped read-only. */
#include "ponder/llama2c.h"
#include "ponder/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define L2C_HEADER 28
#define L2C_MAGIC_V1 0x616b3432u /* "ak42": the versioned export format of llama2.c's export.py */

/* Sections of the file, in file order. */
enum { S_EMB, S_RMS_ATT, S_WQ, S_WK, S_WV, S_WO, S_RMS_FFN, S_W1, S_W2, S_W3, S_RMS_FINAL, S_FREQ, S_WCLS, S_COUNT };

typedef struct {
    uint64_t n[S_COUNT]; /* floats per section */
    uint64_t total_bytes;
} l2c_layout;

/* a*b*c, setting *ovf on overflow. */
static uint64_t mul3(uint64_t a, uint64_t b, uint64_t c, bool *ovf) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r) || __builtin_mul_overflow(r, c, &r)) *ovf = true;
    return r;
}

static bool layout_of(const pd_llama2c_config *c, l2c_layout *l) {
    bool ovf = false;
    uint64_t d = (uint64_t)c->dim, h = (uint64_t)c->hidden_dim, L = (uint64_t)c->n_layers;
    uint64_t v = (uint64_t)c->vocab_size, hs = d / (uint64_t)c->n_heads;
    uint64_t kv = d * (uint64_t)c->n_kv_heads / (uint64_t)c->n_heads;
    l->n[S_EMB] = mul3(v, d, 1, &ovf);
    l->n[S_RMS_ATT] = l->n[S_RMS_FFN] = mul3(L, d, 1, &ovf);
    l->n[S_WQ] = l->n[S_WO] = mul3(L, d, d, &ovf);
    l->n[S_WK] = l->n[S_WV] = mul3(L, kv, d, &ovf);
    l->n[S_W1] = l->n[S_W2] = l->n[S_W3] = mul3(L, h, d, &ovf);
    l->n[S_RMS_FINAL] = d;
    l->n[S_FREQ] = mul3((uint64_t)c->seq_len, hs, 1, &ovf); /* real + imag, each seq_len * hs/2 */
    l->n[S_WCLS] = c->shared_classifier ? 0 : l->n[S_EMB];
    uint64_t floats = 0;
    for (int i = 0; i < S_COUNT; i++)
        if (__builtin_add_overflow(floats, l->n[i], &floats)) ovf = true;
    if (__builtin_mul_overflow(floats, 4, &l->total_bytes) ||
        __builtin_add_overflow(l->total_bytes, L2C_HEADER, &l->total_bytes))
        ovf = true;
    return !ovf;
}

/* Open `path`, read its header and size. */
static pd_status read_header(const char *path, int *fd_out, pd_llama2c_config *c, uint64_t *fsize) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pd_fail(PD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pd_fail(PD_ERR_IO, "%s: not a readable regular file", path);
    }
    int32_t h[7];
    if (st.st_size < L2C_HEADER || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
        close(fd);
        return pd_fail(PD_ERR_FORMAT, "%s: header at offset 0: file is %lld bytes, too short for the 28-byte llama2.c header",
                       path, (long long)st.st_size);
    }
    *fsize = (uint64_t)st.st_size;
    if ((uint32_t)h[0] == L2C_MAGIC_V1) {
        close(fd);
        return pd_fail(PD_ERR_UNSUPPORTED,
                       "%s: header at offset 0: magic 'ak42' marks a versioned llama2.c export; only the legacy "
                       "version-0 format is supported (export.py --version 0)",
                       path);
    }
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    c->vocab_size = h[5];
    c->seq_len = h[6];
    c->shared_classifier = h[5] > 0;
    if (h[5] < 0 && h[5] != INT32_MIN) c->vocab_size = -h[5];
    *fd_out = fd;
    return PD_OK;
}

static pd_status validate(const char *path, const pd_llama2c_config *c, uint64_t fsize, l2c_layout *l) {
    static const char *names[] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
    const int32_t vals[] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len};
    for (int i = 0; i < 7; i++)
        if (vals[i] <= 0)
            return pd_fail(PD_ERR_FORMAT, "%s: header at offset %d: %s = %" PRId32 " must be positive", path, 4 * i,
                           names[i], vals[i]);
    if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads != 0)
        return pd_fail(PD_ERR_FORMAT, "%s: header at offset 16: n_kv_heads = %" PRId32 " must divide n_heads = %" PRId32,
                       path, c->n_kv_heads, c->n_heads);
    if (c->dim % c->n_heads != 0 || (c->dim / c->n_heads) % 2 != 0)
        return pd_fail(PD_ERR_FORMAT,
                       "%s: header at offset 12: dim = %" PRId32 " must be n_heads = %" PRId32 " times an even head size",
                       path, c->dim, c->n_heads);
    if (!layout_of(c, l))
        return pd_fail(PD_ERR_FORMAT, "%s: header at offset 0: sizes overflow (dim %" PRId32 ", layers %" PRId32 ")", path,
                       c->dim, c->n_layers);
    if (l->total_bytes != fsize)
        return pd_fail(PD_ERR_FORMAT,
                       "%s: at offset %" PRIu64 ": file is %" PRIu64 " bytes but its header (dim %" PRId32
                       ", hidden_dim %" PRId32 ", n_layers %" PRId32 ", n_heads %" PRId32 ", n_kv_heads %" PRId32
                       ", vocab %" PRId32 " %s, seq_len %" PRId32 ") implies %" PRIu64 " bytes",
                       path, fsize < l->total_bytes ? fsize : l->total_bytes, fsize, c->dim, c->hidden_dim, c->n_layers,
                       c->n_heads, c->n_kv_heads, c->vocab_size, c->shared_classifier ? "tied" : "untied", c->seq_len,
                       l->total_bytes);
    return PD_OK;
}

pd_status pd_llama2c_read_config(const char *path, pd_llama2c_config *cfg) {
    if (!path || !cfg) return pd_fail(PD_ERR_ARG, "pd_llama2c_read_config: NULL argument");
    int fd;
    uint64_t fsize;
    PD_TRY(read_header(path, &fd, cfg, &fsize));
    close(fd);
    l2c_layout l;
    return validate(path, cfg, fsize, &l);
}

static pd_status fill(pd_gguf_writer *w, const char *path, const pd_llama2c_config *c, const l2c_layout *l,
                      const float *f) {
    const int64_t d = c->dim, h = c->hidden_dim, v = c->vocab_size;
    const int64_t kv = d * c->n_kv_heads / c->n_heads;
    /* Model name: the file's base name without .bin. */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t bl = strlen(base);
    if (bl > 4 && !strcmp(base + bl - 4, ".bin")) bl -= 4;
    PD_TRY(pd_gguf_set_str(w, "general.architecture", "llama"));
    PD_TRY(pd_gguf_set_strn(w, "general.name", base, bl));
    PD_TRY(pd_gguf_set_u32(w, "general.file_type", 0));
    PD_TRY(pd_gguf_set_u32(w, "llama.context_length", (uint32_t)c->seq_len));
    PD_TRY(pd_gguf_set_u32(w, "llama.embedding_length", (uint32_t)d));
    PD_TRY(pd_gguf_set_u32(w, "llama.block_count", (uint32_t)c->n_layers));
    PD_TRY(pd_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)h));
    PD_TRY(pd_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads));
    PD_TRY(pd_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads));
    PD_TRY(pd_gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)(d / c->n_heads)));
    PD_TRY(pd_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f));
    PD_TRY(pd_gguf_set_f32(w, "llama.rope.freq_base", 10000.0f));
    PD_TRY(pd_gguf_set_u32(w, "llama.vocab_size", (uint32_t)v));

    const float *sec[S_COUNT];
    const float *p = f;
    for (int i = 0; i < S_COUNT; i++) {
        sec[i] = p;
        p += l->n[i];
    }

    int64_t ne_emb[2] = {d, v};
    PD_TRY(pd_gguf_add_tensor(w, "token_embd.weight", PD_TYPE_F32, 2, ne_emb, sec[S_EMB]));
    /* Per layer, in llama.cpp's order: [rows][cols] slices of each [L][rows][cols] section. */
    const struct { const char *suffix; int sec; int64_t rows, cols; } per_layer[] = {
        {"attn_norm.weight", S_RMS_ATT, 1, d}, {"attn_q.weight", S_WQ, d, d},     {"attn_k.weight", S_WK, kv, d},
        {"attn_v.weight", S_WV, kv, d},        {"attn_output.weight", S_WO, d, d}, {"ffn_norm.weight", S_RMS_FFN, 1, d},
        {"ffn_gate.weight", S_W1, h, d},       {"ffn_down.weight", S_W2, d, h},    {"ffn_up.weight", S_W3, h, d},
    };
    for (int32_t layer = 0; layer < c->n_layers; layer++)
        for (size_t k = 0; k < sizeof per_layer / sizeof per_layer[0]; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%" PRId32 ".%s", layer, per_layer[k].suffix);
            int64_t rows = per_layer[k].rows, cols = per_layer[k].cols;
            int64_t ne[2] = {cols, rows};
            const float *src = sec[per_layer[k].sec] + (size_t)layer * (size_t)(rows * cols);
            PD_TRY(pd_gguf_add_tensor(w, name, PD_TYPE_F32, rows == 1 ? 1 : 2, ne, src));
        }
    int64_t ne_d = d;
    PD_TRY(pd_gguf_add_tensor(w, "output_norm.weight", PD_TYPE_F32, 1, &ne_d, sec[S_RMS_FINAL]));
    if (!c->shared_classifier) PD_TRY(pd_gguf_add_tensor(w, "output.weight", PD_TYPE_F32, 2, ne_emb, sec[S_WCLS]));
    return PD_OK;
}

pd_status pd_llama2c_to_gguf(const char *path, pd_gguf_writer *w) {
    if (!path || !w) return pd_fail(PD_ERR_ARG, "pd_llama2c_to_gguf: NULL argument");
    int fd;
    uint64_t fsize;
    pd_llama2c_config c;
    PD_TRY(read_header(path, &fd, &c, &fsize));
    l2c_layout l;
    pd_status st = validate(path, &c, fsize, &l);
    if (st != PD_OK) {
        close(fd);
        return st;
    }
    void *m = mmap(NULL, (size_t)fsize, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return pd_fail(PD_ERR_IO, "%s: cannot mmap: %s", path, strerror(e));
    st = fill(w, path, &c, &l, (const float *)((const uint8_t *)m + L2C_HEADER));
    munmap(m, (size_t)fsize);
    if (st != PD_OK) return pd_fail_ctx(st, "%s", path);
    return PD_OK;
}

pd_gguf *pd_llama2c_open(const char *path) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (!w) return NULL;
    void *buf = NULL;
    size_t size = 0;
    pd_status st = pd_llama2c_to_gguf(path, w);
    if (st == PD_OK) st = pd_gguf_write_buffer(w, &buf, &size);
    pd_gguf_writer_free(w);
    if (st != PD_OK) return NULL;
    return pd_gguf_open_owned_memory(buf, size, path);
}
