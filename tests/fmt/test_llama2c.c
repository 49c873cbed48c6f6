/* tests/fmt/test_llama2c.c — llama2.c legacy .bin import.
 * Truth: the byte offsets of every section of stories260K.bin listed in its README, checked against the
 * raw file bytes; header values from the README; synthetic variants (untied classifier, bad headers,
 * wrong sizes, versioned export) made from the fixture bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"

#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include "ponder/llama2c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIN PD_SHARED_DIR "/fixtures/llama2c/stories260K.bin"

static pd_gguf *convert(const char *path) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_non_null(w);
    if (pd_llama2c_to_gguf(path, w) != PD_OK) fail_msg("%s", pd_last_error());
    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "converted.gguf");
    if (!g) fail_msg("%s", pd_last_error());
    return g;
}

static void expect_u32(const pd_gguf *g, const char *key, uint32_t want) {
    uint32_t v;
    if (!pd_gguf_get_u32(g, key, &v)) fail_msg("%s", pd_last_error());
    if (v != want) fail_msg("%s: %u, expected %u", key, v, want);
}

/* Tensor `name` has shape [ne0, ne1] and holds exactly the file bytes at `off`. */
static void expect_at(const pd_gguf *g, const char *raw, const char *name, int64_t ne0, int64_t ne1, size_t off) {
    const pd_gguf_tensor *t = pd_gguf_find_tensor(g, name);
    if (!t) fail_msg("missing tensor %s", name);
    if (t->type != PD_TYPE_F32 || t->ne[0] != ne0 || t->ne[1] != ne1)
        fail_msg("%s: shape [%lld,%lld], expected [%lld,%lld]", name, (long long)t->ne[0], (long long)t->ne[1],
                 (long long)ne0, (long long)ne1);
    assert_int_equal(t->n_dims, ne1 == 1 ? 1 : 2);
    assert_int_equal(t->nbytes, (size_t)(ne0 * ne1 * 4));
    if (memcmp(t->data, raw + off, t->nbytes)) fail_msg("%s: data differs from file bytes at %zu", name, off);
}

static void test_stories260k(void **state) {
    (void)state;
    PD_NEED_FIXTURES();
    pd_llama2c_config c;
    assert_int_equal(pd_llama2c_read_config(BIN, &c), PD_OK);
    assert_int_equal(c.dim, 64);
    assert_int_equal(c.hidden_dim, 172);
    assert_int_equal(c.n_layers, 5);
    assert_int_equal(c.n_heads, 8);
    assert_int_equal(c.n_kv_heads, 4);
    assert_int_equal(c.vocab_size, 512);
    assert_int_equal(c.seq_len, 512);
    assert_true(c.shared_classifier);

    size_t n;
    char *raw = pd_read_file(BIN, &n);
    assert_non_null(raw);
    assert_int_equal(n, 1056540);
    pd_gguf *g = convert(BIN);
    const char *s;
    size_t len;
    assert_true(pd_gguf_get_str(g, "general.architecture", &s, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(s, "llama", 5);
    assert_true(pd_gguf_get_str(g, "general.name", &s, &len));
    assert_int_equal(len, strlen("stories260K"));
    assert_memory_equal(s, "stories260K", len);
    expect_u32(g, "llama.embedding_length", 64);
    expect_u32(g, "llama.feed_forward_length", 172);
    expect_u32(g, "llama.block_count", 5);
    expect_u32(g, "llama.attention.head_count", 8);
    expect_u32(g, "llama.attention.head_count_kv", 4);
    expect_u32(g, "llama.context_length", 512);
    expect_u32(g, "llama.rope.dimension_count", 8);
    expect_u32(g, "llama.vocab_size", 512);
    float eps, theta;
    assert_true(pd_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps));
    assert_true(eps == 1e-5f);
    assert_true(pd_gguf_get_f32(g, "llama.rope.freq_base", &theta));
    assert_true(theta == 10000.0f);
    assert_int_equal(pd_gguf_n_tensors(g), 1 + 5 * 9 + 1);
    assert_null(pd_gguf_find_tensor(g, "output.weight"));
    /* Section offsets from the README; per-layer strides: dim 256 B, wq 16384 B, wk/wv 8192 B, w1/w2/w3 44032 B. */
    expect_at(g, raw, "token_embd.weight", 64, 512, 28);
    char name[64];
    for (int l = 0; l < 5; l++) {
#define AT(suffix, ne0, ne1, base, stride) \
    snprintf(name, sizeof name, "blk.%d." suffix, l); expect_at(g, raw, name, ne0, ne1, (size_t)(base) + (size_t)l * (stride))
        AT("attn_norm.weight", 64, 1, 131100, 256);
        AT("attn_q.weight", 64, 64, 132380, 16384);
        AT("attn_k.weight", 64, 32, 214300, 8192);
        AT("attn_v.weight", 64, 32, 255260, 8192);
        AT("attn_output.weight", 64, 64, 296220, 16384);
        AT("ffn_norm.weight", 64, 1, 378140, 256);
        AT("ffn_gate.weight", 64, 172, 379420, 44032);
        AT("ffn_down.weight", 172, 64, 599580, 44032);
        AT("ffn_up.weight", 64, 172, 819740, 44032);
#undef AT
    }
    expect_at(g, raw, "output_norm.weight", 64, 1, 1039900);
    pd_gguf_close(g);
    free(raw);
}

static char tmp_path[64];

static void write_file(const void *data, size_t n) {
    FILE *f = fopen(tmp_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void expect_error(pd_status code, const char *sub) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    pd_status st = pd_llama2c_to_gguf(tmp_path, w);
    pd_gguf_writer_free(w);
    if (st != code) fail_msg("status %s, expected %s: %s", pd_status_name(st), pd_status_name(code), pd_last_error());
    if (!strstr(pd_last_error(), sub)) fail_msg("message '%s' lacks '%s'", pd_last_error(), sub);
    if (!strstr(pd_last_error(), tmp_path)) fail_msg("message '%s' lacks the path", pd_last_error());
    if (!strstr(pd_last_error(), "offset")) fail_msg("message '%s' lacks an offset", pd_last_error());
}

static void test_variants(void **state) {
    (void)state;
    PD_NEED_FIXTURES();
    strcpy(tmp_path, "/tmp/pd_test_l2cXXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    close(fd);
    size_t n;
    char *raw = pd_read_file(BIN, &n);
    assert_non_null(raw);
    char *buf = malloc(n + 512 * 64 * 4);
    int32_t v;

    /* Untied classifier: vocab_size negative and a [vocab][dim] matrix appended. */
    memcpy(buf, raw, n);
    v = -512;
    memcpy(buf + 20, &v, 4);
    float *wcls = (float *)(buf + n);
    for (int i = 0; i < 512 * 64; i++) wcls[i] = (float)i * 0.001f - 3.0f;
    write_file(buf, n + 512 * 64 * 4);
    pd_gguf *g = convert(tmp_path);
    const pd_gguf_tensor *out = pd_gguf_find_tensor(g, "output.weight");
    assert_non_null(out);
    assert_int_equal(out->ne[0], 64);
    assert_int_equal(out->ne[1], 512);
    assert_memory_equal(out->data, wcls, 512 * 64 * 4);
    assert_int_equal(pd_gguf_n_tensors(g), 1 + 5 * 9 + 2);
    pd_gguf_close(g);
    /* ...but without the appended matrix the size is wrong. */
    write_file(buf, n);
    expect_error(PD_ERR_FORMAT, "implies 1187612 bytes");

    /* Truncated by one float; one float too many. */
    write_file(raw, n - 4);
    expect_error(PD_ERR_FORMAT, "implies 1056540 bytes");
    memcpy(buf, raw, n);
    memset(buf + n, 0, 4);
    write_file(buf, n + 4);
    expect_error(PD_ERR_FORMAT, "file is 1056544 bytes");
    write_file(raw, 20);
    expect_error(PD_ERR_FORMAT, "too short");

    /* Bad header fields. */
    static const struct { int field; int32_t value; const char *msg; } bad[] = {
        {0, 0, "dim = 0"}, {1, -5, "hidden_dim = -5"}, {2, 0, "n_layers"}, {3, 0, "n_heads = 0"},
        {4, 3, "n_kv_heads = 3"}, {4, 16, "n_kv_heads = 16"}, {3, 12, "dim = 64"}, {3, 64, "even head size"},
        {5, 0, "vocab_size = 0"}, {6, -1, "seq_len"}, {0, 1 << 20, "implies"}, {2, 1000000, "implies"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(buf, raw, n);
        memcpy(buf + 4 * bad[i].field, &bad[i].value, 4);
        write_file(buf, n);
        expect_error(PD_ERR_FORMAT, bad[i].msg);
    }
    /* Sizes that overflow 64 bits. */
    memcpy(buf, raw, n);
    int32_t huge[3] = {0x7ffffff0, 0x7fffffff, 0x7fffffff};
    memcpy(buf, huge, sizeof huge);
    write_file(buf, n);
    expect_error(PD_ERR_FORMAT, "overflow");
    /* A versioned export (magic "ak42"). */
    memcpy(buf, raw, n);
    uint32_t magic = 0x616b3432u;
    memcpy(buf, &magic, 4);
    write_file(buf, n);
    expect_error(PD_ERR_UNSUPPORTED, "ak42");
    /* Missing file. */
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_int_equal(pd_llama2c_to_gguf("/nonexistent/x.bin", w), PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), "/nonexistent/x.bin"));
    pd_gguf_writer_free(w);
    unlink(tmp_path);
    free(buf);
    free(raw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_variants),
    };
    return pd_run_tests(tests, NULL, NULL);
}
