/* tests/fmt/test_gguf.c — GGUF reader and writer.
 * Truths: the fixture READMEs (architectures, shapes, types, vocab sizes), GGUF files assembled
 * byte by byte in this test (independent of the writer), write→read round trips, and malformed
 * variants of a hand-built file (every truncation, corrupted header fields) that must fail with
 * PD_ERR_FORMAT and a message naming the file and the byte offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"

#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include "ponder/kern.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODELS PD_SHARED_DIR "/fixtures/models/"
#define TOKDIR PD_SHARED_DIR "/fixtures/tokenizer/"

/* ---------------------------------------------------------------------------------------------- */
/* byte builder                                                                                     */

typedef struct { uint8_t *d; size_t n, cap; } bb;

static void b_put(bb *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void b_u32(bb *b, uint32_t v) { b_put(b, &v, 4); }
static void b_u64(bb *b, uint64_t v) { b_put(b, &v, 8); }
static void b_str(bb *b, const char *s) { b_u64(b, strlen(s)); b_put(b, s, strlen(s)); }
static void b_pad(bb *b, size_t a) { while (b->n % a) { uint8_t z = 0; b_put(b, &z, 1); } }

/* Spec of a small hand-built file; the defaults give a valid one. */
typedef struct {
    uint32_t version;
    int64_t n_kv_hdr, n_t_hdr;          /* -1: the real counts */
    int align_mode;                     /* 0: no key, 1: u32 key, 2: key typed i32 */
    uint32_t align;
    uint64_t str_len;                   /* UINT64_MAX: real length of general.name */
    uint64_t arr_n;                     /* UINT64_MAX: real count of test.floats */
    int nest;                           /* >0: add a KV with arrays nested this deep */
    int dup_key, dup_tensor, nul_key;
    uint32_t t1_ndims;                  /* tensor b.weight */
    uint64_t t1_ne0;
    uint32_t t1_type;
    uint64_t t1_off;                    /* UINT64_MAX: computed */
    /* recorded offsets */
    size_t off_name_kv, off_floats_kv, off_nest_kv, off_t0, off_t1, off_data;
} spec;

static spec spec_default(void) {
    spec s = {0};
    s.version = 3;
    s.n_kv_hdr = s.n_t_hdr = -1;
    s.align_mode = 1;
    s.align = 32;
    s.str_len = UINT64_MAX;
    s.arr_n = UINT64_MAX;
    s.t1_ndims = 2;
    s.t1_ne0 = 16;
    s.t1_type = PD_TYPE_F16;
    s.t1_off = UINT64_MAX;
    return s;
}

/* Tensors: a.weight F32 [8,4] (128 bytes) at 0, b.weight F16 [16,2] (64 bytes) at 128. */
static void build(spec *s, bb *b) {
    b->n = 0;
    uint64_t n_kv = 3 + (s->align_mode ? 1 : 0) + (s->nest ? 1 : 0) + (s->dup_key ? 1 : 0) + (s->nul_key ? 1 : 0);
    uint64_t n_t = 2 + (s->dup_tensor ? 1 : 0);
    b_put(b, "GGUF", 4);
    b_u32(b, s->version);
    b_u64(b, s->n_t_hdr >= 0 ? (uint64_t)s->n_t_hdr : n_t);
    b_u64(b, s->n_kv_hdr >= 0 ? (uint64_t)s->n_kv_hdr : n_kv);
    s->off_name_kv = b->n;
    b_str(b, "general.name");
    b_u32(b, PD_GGUF_STRING);
    b_u64(b, s->str_len != UINT64_MAX ? s->str_len : 4);
    b_put(b, "tiny", 4);
    if (s->align_mode) {
        b_str(b, "general.alignment");
        b_u32(b, s->align_mode == 1 ? PD_GGUF_U32 : PD_GGUF_I32);
        b_u32(b, s->align);
    }
    s->off_floats_kv = b->n;
    b_str(b, "test.floats");
    b_u32(b, PD_GGUF_ARRAY);
    b_u32(b, PD_GGUF_F32);
    b_u64(b, s->arr_n != UINT64_MAX ? s->arr_n : 3);
    float fl[3] = {1.5f, -2.0f, 0.25f};
    b_put(b, fl, sizeof fl);
    b_str(b, "test.words");
    b_u32(b, PD_GGUF_ARRAY);
    b_u32(b, PD_GGUF_STRING);
    b_u64(b, 3);
    b_str(b, "alpha");
    b_str(b, "");
    b_str(b, "gamma");
    if (s->nest) {
        s->off_nest_kv = b->n;
        b_str(b, "test.nested");
        b_u32(b, PD_GGUF_ARRAY);
        for (int d = 1; d < s->nest; d++) { b_u32(b, PD_GGUF_ARRAY); b_u64(b, 1); }
        b_u32(b, PD_GGUF_U8);
        b_u64(b, 2);
        uint8_t two[2] = {7, 9};
        b_put(b, two, 2);
    }
    if (s->dup_key) { b_str(b, "test.floats"); b_u32(b, PD_GGUF_U8); uint8_t z = 1; b_put(b, &z, 1); }
    if (s->nul_key) { b_u64(b, 3); b_put(b, "a\0b", 3); b_u32(b, PD_GGUF_U8); uint8_t z = 1; b_put(b, &z, 1); }
    s->off_t0 = b->n;
    b_str(b, "a.weight");
    b_u32(b, 2);
    b_u64(b, 8);
    b_u64(b, 4);
    b_u32(b, PD_TYPE_F32);
    b_u64(b, 0);
    s->off_t1 = b->n;
    b_str(b, s->dup_tensor == 1 ? "a.weight" : "b.weight");
    b_u32(b, s->t1_ndims);
    for (uint32_t d = 0; d < s->t1_ndims && d < 8; d++) b_u64(b, d == 0 ? s->t1_ne0 : 2);
    b_u32(b, s->t1_type);
    b_u64(b, s->t1_off != UINT64_MAX ? s->t1_off : 128);
    if (s->dup_tensor) {
        b_str(b, "c.weight");
        b_u32(b, 1);
        b_u64(b, 8);
        b_u32(b, PD_TYPE_F32);
        b_u64(b, 192);
    }
    b_pad(b, s->align_mode == 1 && s->align && s->align <= 4096 && !(s->align & (s->align - 1)) ? s->align : 32);
    s->off_data = b->n;
    for (int i = 0; i < 32; i++) { float v = (float)i * 0.5f - 3.0f; b_put(b, &v, 4); }
    for (int i = 0; i < 32; i++) { uint16_t h = pd_f32_to_f16((float)i); b_put(b, &h, 2); }
    if (s->dup_tensor) for (int i = 0; i < 8; i++) { float v = 1; b_put(b, &v, 4); }
}

/* Expect open_memory to fail with `code` and a message containing each of the NULL-terminated substrings. */
static void expect_fail(const bb *b, pd_status code, ...) {
    pd_clear_error();
    pd_gguf *g = pd_gguf_open_memory(b->d, b->n, "t.gguf");
    if (g) {
        pd_gguf_close(g);
        fail_msg("expected a failure, file opened");
    }
    const char *msg = pd_last_error();
    if (pd_gguf_open_status() != code) fail_msg("status %s, expected %s: %s", pd_status_name(pd_gguf_open_status()),
                                                pd_status_name(code), msg);
    va_list ap;
    va_start(ap, code);
    for (const char *sub; (sub = va_arg(ap, const char *)) != NULL;)
        if (!strstr(msg, sub)) fail_msg("message '%s' lacks '%s'", msg, sub);
    va_end(ap);
    if (!strstr(msg, "t.gguf")) fail_msg("message '%s' does not name the file", msg);
    if (!strstr(msg, "offset")) fail_msg("message '%s' does not name an offset", msg);
}

static char *at_off(size_t off) {
    static char buf[8][48];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "at offset %zu", off);
    return buf[k];
}

/* ---------------------------------------------------------------------------------------------- */

static void test_hand_built_valid(void **state) {
    (void)state;
    spec s = spec_default();
    bb b = {0};
    build(&s, &b);
    pd_gguf *g = pd_gguf_open_memory(b.d, b.n, "t.gguf");
    assert_non_null(g);
    assert_int_equal(pd_gguf_version(g), 3);
    assert_int_equal(pd_gguf_alignment(g), 32);
    assert_int_equal(pd_gguf_n_kv(g), 4);
    assert_string_equal(pd_gguf_key(g, 0), "general.name");
    const char *str;
    size_t len;
    assert_true(pd_gguf_get_str(g, "general.name", &str, &len));
    assert_int_equal(len, 4);
    assert_memory_equal(str, "tiny", 4);
    pd_gguf_vtype et;
    uint64_t n;
    assert_true(pd_gguf_get_arr(g, "test.floats", &et, &n));
    assert_int_equal(et, PD_GGUF_F32);
    assert_int_equal(n, 3);
    const float *fl = pd_gguf_arr_data(g, "test.floats");
    assert_non_null(fl);
    assert_int_equal((uintptr_t)fl % 4, 0);
    assert_true(fl[0] == 1.5f && fl[1] == -2.0f && fl[2] == 0.25f);
    assert_true(pd_gguf_arr_str(g, "test.words", 0, &str, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(str, "alpha", 5);
    assert_true(pd_gguf_arr_str(g, "test.words", 1, &str, &len));
    assert_int_equal(len, 0);
    assert_true(pd_gguf_arr_str(g, "test.words", 2, &str, &len));
    assert_memory_equal(str, "gamma", 5);
    assert_false(pd_gguf_arr_str(g, "test.words", 3, &str, &len));
    assert_non_null(strstr(pd_last_error(), "test.words"));
    assert_int_equal(pd_gguf_n_tensors(g), 2);
    const pd_gguf_tensor *a = pd_gguf_find_tensor(g, "a.weight"), *t = pd_gguf_find_tensor(g, "b.weight");
    assert_non_null(a);
    assert_non_null(t);
    assert_null(pd_gguf_find_tensor(g, "c.weight"));
    assert_int_equal(a->type, PD_TYPE_F32);
    assert_int_equal(a->n_dims, 2);
    assert_int_equal(a->ne[0], 8);
    assert_int_equal(a->ne[1], 4);
    assert_int_equal(a->ne[2], 1);
    assert_int_equal(a->nbytes, 128);
    assert_ptr_equal(a->data, b.d + s.off_data);
    assert_int_equal(t->nbytes, 64);
    assert_ptr_equal(t->data, b.d + s.off_data + 128);
    float v;
    memcpy(&v, (const uint8_t *)a->data + 4 * 5, 4);
    assert_true(v == 5 * 0.5f - 3.0f);
    pd_tensor view;
    pd_gguf_tensor_view(t, &view);
    assert_int_equal(view.nb[0], 2);
    assert_int_equal(view.nb[1], 32);
    assert_int_equal(view.nb[2], 64);
    assert_ptr_equal(view.data, t->data);
    assert_string_equal(view.name, "b.weight");
    char txt[128];
    pd_gguf_kv_to_text(g, pd_gguf_find_key(g, "test.words"), txt, sizeof txt);
    assert_string_equal(txt, "[str x 3] \"alpha\", \"\", \"gamma\"");
    pd_gguf_kv_to_text(g, pd_gguf_find_key(g, "test.floats"), txt, sizeof txt);
    assert_string_equal(txt, "[f32 x 3] 1.5, -2, 0.25");
    pd_gguf_kv_to_text(g, pd_gguf_find_key(g, "general.alignment"), txt, sizeof txt);
    assert_string_equal(txt, "32");
    pd_gguf_close(g);

    /* The same bytes at an odd address: numeric arrays are still handed out aligned (copied). */
    uint8_t *odd = malloc(b.n + 1);
    memcpy(odd + 1, b.d, b.n);
    g = pd_gguf_open_memory(odd + 1, b.n, "t.gguf");
    assert_non_null(g);
    fl = pd_gguf_arr_data(g, "test.floats");
    assert_int_equal((uintptr_t)fl % 4, 0);
    assert_true(fl[0] == 1.5f && fl[1] == -2.0f && fl[2] == 0.25f);
    assert_ptr_equal(pd_gguf_find_tensor(g, "a.weight")->data, odd + 1 + s.off_data);
    pd_gguf_close(g);
    free(odd);

    /* Version 2 is the same layout. */
    s.version = 2;
    build(&s, &b);
    g = pd_gguf_open_memory(b.d, b.n, "t.gguf");
    assert_non_null(g);
    assert_int_equal(pd_gguf_version(g), 2);
    pd_gguf_close(g);

    /* Without general.alignment the default is 32; with 64 the data section moves. */
    s = spec_default();
    s.align_mode = 0;
    build(&s, &b);
    g = pd_gguf_open_memory(b.d, b.n, "t.gguf");
    assert_non_null(g);
    assert_int_equal(pd_gguf_alignment(g), 32);
    pd_gguf_close(g);
    s = spec_default();
    s.align = 256;
    s.t1_off = 256;
    build(&s, &b);
    /* b.weight at 256 needs the data section to reach 256+64: append the bytes. */
    size_t need = s.off_data + 256 + 64;
    while (b.n < need) { uint8_t z = 0; b_put(&b, &z, 1); }
    g = pd_gguf_open_memory(b.d, b.n, "t.gguf");
    assert_non_null(g);
    assert_int_equal(pd_gguf_alignment(g), 256);
    assert_int_equal(s.off_data % 256, 0);
    assert_ptr_equal(pd_gguf_find_tensor(g, "b.weight")->data, b.d + s.off_data + 256);
    pd_gguf_close(g);

    /* Nested arrays (depth 3) parse; the outer KV reports an array of arrays. */
    s = spec_default();
    s.nest = 3;
    build(&s, &b);
    g = pd_gguf_open_memory(b.d, b.n, "t.gguf");
    assert_non_null(g);
    assert_true(pd_gguf_get_arr(g, "test.nested", &et, &n));
    assert_int_equal(et, PD_GGUF_ARRAY);
    assert_int_equal(n, 1);
    assert_null(pd_gguf_arr_data(g, "test.nested"));
    pd_gguf_close(g);
    free(b.d);
}

static void test_truncation_every_offset(void **state) {
    (void)state;
    spec s = spec_default();
    bb b = {0};
    build(&s, &b);
    /* Every strict prefix must fail (the last tensor ends exactly at the end of the file). */
    for (size_t cut = 0; cut < b.n; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.d, cut);
        pd_clear_error();
        pd_gguf *g = pd_gguf_open_memory(copy, cut, "t.gguf");
        if (g) fail_msg("truncation at %zu opened", cut);
        if (pd_gguf_open_status() != PD_ERR_FORMAT) fail_msg("cut %zu: %s", cut, pd_last_error());
        if (!strstr(pd_last_error(), "offset") || !strstr(pd_last_error(), "t.gguf"))
            fail_msg("cut %zu: message '%s'", cut, pd_last_error());
        free(copy);
    }
    /* And the same through pd_gguf_open on real files, for a few cuts. */
    char path[] = "/tmp/pd_test_gguf_truncXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t cuts[] = {0, 3, 23, 24, s.off_t0 + 3, s.off_data + 100, b.n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        assert_int_equal(ftruncate(fd, 0), 0);
        assert_int_equal(pwrite(fd, b.d, cuts[i], 0), (ssize_t)cuts[i]);
        pd_gguf *g = pd_gguf_open(path);
        assert_null(g);
        assert_int_equal(pd_gguf_open_status(), PD_ERR_FORMAT);
        assert_non_null(strstr(pd_last_error(), path));
        assert_non_null(strstr(pd_last_error(), "offset"));
    }
    close(fd);
    unlink(path);
    free(b.d);
}

static void test_malformed_fields(void **state) {
    (void)state;
    bb b = {0};
    spec s;
#define CASE(setup, code, ...) do { s = spec_default(); setup; build(&s, &b); expect_fail(&b, code, __VA_ARGS__, NULL); } while (0)
    CASE(s.version = 1, PD_ERR_FORMAT, "version 1", at_off(4));
    CASE(s.version = 4, PD_ERR_FORMAT, "version 4", at_off(4));
    CASE(s.version = 0x03000000u, PD_ERR_FORMAT, "big-endian", at_off(4));
    CASE(s.n_kv_hdr = (int64_t)1 << 40, PD_ERR_FORMAT, "KV count", at_off(16));
    CASE(s.n_kv_hdr = INT64_MAX, PD_ERR_FORMAT, "KV count", at_off(16));
    CASE(s.n_t_hdr = 1000000, PD_ERR_FORMAT, "tensor count", at_off(8));
    CASE(s.n_kv_hdr = 5, PD_ERR_FORMAT, "tensor"); /* reads the first tensor info as a KV */
    CASE(s.align = 3, PD_ERR_FORMAT, "general.alignment", "power of two");
    CASE(s.align = 0, PD_ERR_FORMAT, "general.alignment", "power of two");
    CASE(s.align_mode = 2, PD_ERR_FORMAT, "general.alignment", "u32");
    CASE(s.str_len = UINT64_MAX - 3, PD_ERR_FORMAT, "general.name", at_off(s.off_name_kv + 8 + 12 + 4));
    CASE(s.str_len = 1u << 20, PD_ERR_FORMAT, "general.name");
    CASE(s.arr_n = UINT64_MAX / 2, PD_ERR_FORMAT, "test.floats", at_off(s.off_floats_kv + 8 + 11 + 4));
    CASE(s.arr_n = 1000, PD_ERR_FORMAT, "test.floats");
    CASE(s.nest = 9, PD_ERR_FORMAT, "test.nested", "nested");
    CASE(s.dup_key = 1, PD_ERR_FORMAT, "duplicate key", "test.floats");
    CASE(s.nul_key = 1, PD_ERR_FORMAT, "NUL");
    CASE(s.dup_tensor = 1, PD_ERR_FORMAT, "duplicate tensor name", "a.weight", at_off(s.off_t1));
    CASE(s.t1_ndims = 5, PD_ERR_FORMAT, "b.weight", "n_dims 5", at_off(s.off_t1));
    CASE(s.t1_ndims = 0, PD_ERR_FORMAT, "b.weight", "n_dims 0");
    CASE(s.t1_ne0 = 0, PD_ERR_FORMAT, "b.weight", "dimension 0");
    CASE(s.t1_ne0 = UINT64_MAX, PD_ERR_FORMAT, "b.weight");
    CASE(s.t1_ne0 = (uint64_t)1 << 62, PD_ERR_FORMAT, "b.weight");
    CASE(s.t1_type = 99, PD_ERR_FORMAT, "b.weight", "invalid tensor type 99", at_off(s.off_t1));
    CASE(s.t1_type = 16, PD_ERR_UNSUPPORTED, "b.weight", "iq2_xxs");
    CASE(s.t1_type = PD_TYPE_Q8_0, PD_ERR_FORMAT, "b.weight", "block size");
    CASE(s.t1_off = 130, PD_ERR_FORMAT, "b.weight", "alignment");
    CASE(s.t1_off = 160, PD_ERR_FORMAT, "b.weight", "exceeds file size", at_off(s.off_t1));
    CASE(s.t1_off = UINT64_MAX - 31, PD_ERR_FORMAT, "b.weight", "exceeds file size");
    CASE(s.t1_off = 96, PD_ERR_FORMAT, "overlaps", "a.weight");
    CASE(s.t1_off = 0, PD_ERR_FORMAT, "overlaps");
#undef CASE
    /* Bad magic, empty input. */
    s = spec_default();
    build(&s, &b);
    memcpy(b.d, "GGUG", 4);
    expect_fail(&b, PD_ERR_FORMAT, "magic", NULL);
    bb empty = {0};
    expect_fail(&empty, PD_ERR_FORMAT, "magic", NULL);
    /* Unknown KV value type. */
    build(&s, &b);
    uint32_t bad = 77;
    memcpy(b.d + s.off_name_kv + 8 + 12, &bad, 4);
    expect_fail(&b, PD_ERR_FORMAT, "general.name", "value type 77", NULL);
    /* Unknown array element type. */
    memcpy(b.d + s.off_name_kv + 8 + 12, &(uint32_t){PD_GGUF_STRING}, 4);
    memcpy(b.d + s.off_floats_kv + 8 + 11 + 4, &bad, 4);
    expect_fail(&b, PD_ERR_FORMAT, "test.floats", "element type 77", NULL);
    free(b.d);
}

/* Corrupt every 4-byte-aligned word of the header region with interesting values: must never crash,
 * and every failure must name an offset. (The sanitizer build turns any overread into a failure.) */
static void test_header_word_corruption(void **state) {
    (void)state;
    spec s = spec_default();
    bb b = {0};
    build(&s, &b);
    static const uint32_t vals[] = {0, 1, 5, 0x7fffffffu, 0xffffffffu, 0x80000000u, 64, 33};
    for (size_t off = 4; off + 4 <= s.off_data; off += 2) {
        for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
            uint8_t *copy = malloc(b.n);
            memcpy(copy, b.d, b.n);
            memcpy(copy + off, &vals[k], 4);
            pd_clear_error();
            pd_gguf *g = pd_gguf_open_memory(copy, b.n, "t.gguf");
            if (g) {
                /* Still valid: everything it hands out stays inside the buffer. */
                for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
                    const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
                    assert_true((const uint8_t *)t->data >= copy);
                    assert_true((const uint8_t *)t->data + t->nbytes <= copy + b.n);
                }
                char txt[256];
                for (int64_t i = 0; i < pd_gguf_n_kv(g); i++) pd_gguf_kv_to_text(g, i, txt, sizeof txt);
                pd_gguf_close(g);
            } else if (!strstr(pd_last_error(), "offset")) {
                fail_msg("corrupt word at %zu = %u: message '%s'", off, vals[k], pd_last_error());
            }
            free(copy);
        }
    }
    free(b.d);
}

static void test_getters(void **state) {
    (void)state;
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(pd_gguf_set_i32(w, "neg", -5), PD_OK);
    assert_int_equal(pd_gguf_set_u64(w, "big", (uint64_t)1 << 40), PD_OK);
    assert_int_equal(pd_gguf_set_u64(w, "huge", UINT64_MAX), PD_OK);
    assert_int_equal(pd_gguf_set_i64(w, "min", INT64_MIN), PD_OK);
    assert_int_equal(pd_gguf_set_f64(w, "dbl", 0.125), PD_OK);
    assert_int_equal(pd_gguf_set_u32(w, "u", 7), PD_OK);
    assert_int_equal(pd_gguf_set_str(w, "s", "x"), PD_OK);
    uint8_t u8 = 200;
    assert_int_equal(pd_gguf_set_arr(w, "a8", PD_GGUF_U8, &u8, 1), PD_OK);
    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "mem.gguf");
    assert_non_null(g);
    uint32_t u32;
    int64_t i64;
    float f;
    bool bo;
    assert_false(pd_gguf_get_u32(g, "neg", &u32));
    assert_non_null(strstr(pd_last_error(), "'neg'"));
    assert_true(pd_gguf_get_i64(g, "neg", &i64));
    assert_int_equal(i64, -5);
    assert_false(pd_gguf_get_u32(g, "big", &u32));
    assert_true(pd_gguf_get_i64(g, "big", &i64));
    assert_int_equal(i64, (int64_t)1 << 40);
    assert_false(pd_gguf_get_i64(g, "huge", &i64));
    assert_true(pd_gguf_get_i64(g, "min", &i64));
    assert_true(i64 == INT64_MIN);
    assert_true(pd_gguf_get_f32(g, "dbl", &f));
    assert_true(f == 0.125f);
    assert_false(pd_gguf_get_f32(g, "u", &f));
    assert_non_null(strstr(pd_last_error(), "'u'"));
    assert_true(pd_gguf_get_u32(g, "u", &u32));
    assert_int_equal(u32, 7);
    assert_false(pd_gguf_get_bool(g, "u", &bo));
    assert_false(pd_gguf_get_u32(g, "missing", &u32));
    assert_non_null(strstr(pd_last_error(), "'missing'"));
    assert_non_null(strstr(pd_last_error(), "mem.gguf"));
    assert_int_equal(pd_gguf_find_key(g, "missing"), -1);
    assert_false(pd_gguf_get_u32(g, "s", &u32));
    assert_null(pd_gguf_arr_data(g, "s"));
    const uint8_t *p8 = pd_gguf_arr_data(g, "a8");
    assert_non_null(p8);
    assert_int_equal(p8[0], 200);
    pd_gguf_close(g);
}

/* Every KV type and every tensor type through write_buffer → open, and through a file. */
static void test_round_trip(void **state) {
    (void)state;
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(pd_gguf_set_u32(w, "k.u32", 4000000000u), PD_OK);
    assert_int_equal(pd_gguf_set_i32(w, "k.i32", -123456), PD_OK);
    assert_int_equal(pd_gguf_set_u64(w, "k.u64", 0x123456789abcull), PD_OK);
    assert_int_equal(pd_gguf_set_i64(w, "k.i64", -0x123456789abcll), PD_OK);
    assert_int_equal(pd_gguf_set_f32(w, "k.f32", 3.25f), PD_OK);
    assert_int_equal(pd_gguf_set_f64(w, "k.f64", -1e300), PD_OK);
    assert_int_equal(pd_gguf_set_bool(w, "k.bool", true), PD_OK);
    assert_int_equal(pd_gguf_set_str(w, "k.str", "héllo"), PD_OK);
    assert_int_equal(pd_gguf_set_strn(w, "k.bytes", "a\0b", 3), PD_OK);
    assert_int_equal(pd_gguf_set_str(w, "k.replaced", "old"), PD_OK);
    assert_int_equal(pd_gguf_set_u32(w, "k.replaced", 99), PD_OK);
    static const pd_gguf_vtype num[] = {PD_GGUF_U8, PD_GGUF_I8, PD_GGUF_U16, PD_GGUF_I16, PD_GGUF_U32, PD_GGUF_I32,
                                        PD_GGUF_F32, PD_GGUF_BOOL, PD_GGUF_U64, PD_GGUF_I64, PD_GGUF_F64};
    static const size_t num_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 8, 8};
    uint8_t src[11][40];
    for (int t = 0; t < 11; t++) {
        for (int i = 0; i < 40; i++) src[t][i] = (uint8_t)(t * 31 + i * 7 + 1);
        if (num[t] == PD_GGUF_BOOL) for (int i = 0; i < 40; i++) src[t][i] &= 1;
        char key[32];
        snprintf(key, sizeof key, "arr.%d", (int)num[t]);
        assert_int_equal(pd_gguf_set_arr(w, key, num[t], src[t], 40 / num_size[t]), PD_OK);
    }
    const char *words[] = {"zero", "", "two", "\xe2\x96\x81three"};
    assert_int_equal(pd_gguf_set_arr_str(w, "arr.str", words, 4), PD_OK);
    assert_int_equal(pd_gguf_set_arr_str(w, "arr.empty", NULL, 0), PD_OK);
    assert_int_equal(pd_gguf_set_arr(w, "arr.bad", PD_GGUF_STRING, words, 1), PD_ERR_ARG);
    /* One tensor of every storage type, random bytes (quantised blocks are opaque to the format). */
    static const pd_type types[] = {PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_BF16, PD_TYPE_Q8_0, PD_TYPE_Q4_0, PD_TYPE_Q4_K,
                                    PD_TYPE_Q6_K};
    uint8_t *tdata[7];
    size_t tbytes[7];
    for (int t = 0; t < 7; t++) {
        int64_t ne[3] = {pd_type_block_elems(types[t]) * 2, 3, 2};
        tbytes[t] = pd_row_bytes(types[t], ne[0]) * 6;
        tdata[t] = malloc(tbytes[t]);
        for (size_t i = 0; i < tbytes[t]; i++) tdata[t][i] = (uint8_t)(i * 13 + (size_t)t);
        char name[32];
        snprintf(name, sizeof name, "t.%s", pd_type_name(types[t]));
        assert_int_equal(pd_gguf_add_tensor(w, name, types[t], 3, ne, tdata[t]), PD_OK);
    }
    int64_t ne1 = 5;
    float five[5] = {1, 2, 3, 4, 5};
    assert_int_equal(pd_gguf_add_tensor(w, "t.f32", PD_TYPE_F32, 1, &ne1, five), PD_ERR_ARG); /* duplicate */
    int64_t bad_ne = 31;
    assert_int_equal(pd_gguf_add_tensor(w, "t.bad", PD_TYPE_Q8_0, 1, &bad_ne, tdata[0]), PD_ERR_ARG);
    assert_int_equal(pd_gguf_add_tensor(w, "t.vec", PD_TYPE_F32, 1, &ne1, five), PD_OK);
    float by_ref[5] = {9, 8, 7, 6, 5};
    assert_int_equal(pd_gguf_add_tensor_ref(w, "t.ref", PD_TYPE_F32, 1, &ne1, by_ref), PD_OK);
    by_ref[4] = -1; /* not copied: the write sees this */

    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    char path[] = "/tmp/pd_test_gguf_rtXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pd_gguf_write(w, path), PD_OK);
    size_t flen;
    char *fbytes = pd_read_file(path, &flen);
    assert_non_null(fbytes);
    assert_int_equal(flen, size);
    assert_memory_equal(fbytes, buf, size);
    free(fbytes);
    pd_gguf_writer_free(w);

    for (int pass = 0; pass < 2; pass++) {
        pd_gguf *g = pass == 0 ? pd_gguf_open_owned_memory(buf, size, "mem") : pd_gguf_open(path);
        assert_non_null(g);
        assert_int_equal(pd_gguf_version(g), 3);
        assert_int_equal(pd_gguf_alignment(g), 32);
        assert_int_equal(pd_gguf_n_kv(g), 10 + 11 + 2);
        assert_string_equal(pd_gguf_key(g, 0), "k.u32");
        uint32_t u32;
        int64_t i64;
        float f;
        bool bo;
        const char *s;
        size_t len;
        assert_true(pd_gguf_get_u32(g, "k.u32", &u32));
        assert_int_equal(u32, 4000000000u);
        assert_true(pd_gguf_get_i64(g, "k.i32", &i64));
        assert_int_equal(i64, -123456);
        assert_true(pd_gguf_get_i64(g, "k.u64", &i64));
        assert_int_equal(i64, 0x123456789abcll);
        assert_true(pd_gguf_get_i64(g, "k.i64", &i64));
        assert_int_equal(i64, -0x123456789abcll);
        assert_true(pd_gguf_get_f32(g, "k.f32", &f));
        assert_true(f == 3.25f);
        assert_int_equal(pd_gguf_kv_type(g, pd_gguf_find_key(g, "k.f64")), PD_GGUF_F64);
        assert_true(pd_gguf_get_f32(g, "k.f64", &f));
        assert_true(f == (float)-1e300);
        assert_true(pd_gguf_get_bool(g, "k.bool", &bo));
        assert_true(bo);
        assert_true(pd_gguf_get_str(g, "k.str", &s, &len));
        assert_int_equal(len, strlen("héllo"));
        assert_memory_equal(s, "héllo", len);
        assert_true(pd_gguf_get_str(g, "k.bytes", &s, &len));
        assert_int_equal(len, 3);
        assert_memory_equal(s, "a\0b", 3);
        assert_int_equal(pd_gguf_kv_type(g, pd_gguf_find_key(g, "k.replaced")), PD_GGUF_U32);
        for (int t = 0; t < 11; t++) {
            char key[32];
            snprintf(key, sizeof key, "arr.%d", (int)num[t]);
            pd_gguf_vtype et;
            uint64_t n;
            assert_true(pd_gguf_get_arr(g, key, &et, &n));
            assert_int_equal(et, num[t]);
            assert_int_equal(n, 40 / num_size[t]);
            const uint8_t *d = pd_gguf_arr_data(g, key);
            assert_non_null(d);
            assert_int_equal((uintptr_t)d % num_size[t], 0);
            assert_memory_equal(d, src[t], 40);
        }
        for (uint64_t i = 0; i < 4; i++) {
            assert_true(pd_gguf_arr_str(g, "arr.str", i, &s, &len));
            assert_int_equal(len, strlen(words[i]));
            assert_memory_equal(s, words[i], len);
        }
        pd_gguf_vtype et;
        uint64_t n;
        assert_true(pd_gguf_get_arr(g, "arr.empty", &et, &n));
        assert_int_equal(et, PD_GGUF_STRING);
        assert_int_equal(n, 0);
        assert_int_equal(pd_gguf_n_tensors(g), 9);
        const float *rf = pd_gguf_find_tensor(g, "t.ref")->data;
        assert_true(rf[0] == 9 && rf[4] == -1);
        for (int t = 0; t < 7; t++) {
            const pd_gguf_tensor *gt = pd_gguf_tensor_at(g, t);
            char name[32];
            snprintf(name, sizeof name, "t.%s", pd_type_name(types[t]));
            assert_string_equal(gt->name, name);
            assert_ptr_equal(pd_gguf_find_tensor(g, name), gt);
            assert_int_equal(gt->type, types[t]);
            assert_int_equal(gt->n_dims, 3);
            assert_int_equal(gt->ne[0], pd_type_block_elems(types[t]) * 2);
            assert_int_equal(gt->ne[1], 3);
            assert_int_equal(gt->ne[2], 2);
            assert_int_equal(gt->ne[3], 1);
            assert_int_equal(gt->nbytes, tbytes[t]);
            assert_int_equal(gt->offset % 32, 0);
            assert_int_equal((uintptr_t)gt->data % 32, 0);
            assert_memory_equal(gt->data, tdata[t], tbytes[t]);
        }
        const pd_gguf_tensor *v = pd_gguf_find_tensor(g, "t.vec");
        assert_int_equal(v->n_dims, 1);
        assert_memory_equal(v->data, five, sizeof five);
        /* copy_kvs with a skip list: a second writer gets every KV except arr.* */
        pd_gguf_writer *w2 = pd_gguf_writer_new();
        const char *skip[] = {"arr.", NULL};
        assert_int_equal(pd_gguf_copy_kvs(w2, g, skip), PD_OK);
        void *b2;
        size_t s2;
        assert_int_equal(pd_gguf_write_buffer(w2, &b2, &s2), PD_OK);
        pd_gguf_writer_free(w2);
        pd_gguf *g2 = pd_gguf_open_owned_memory(b2, s2, "copy");
        assert_non_null(g2);
        assert_int_equal(pd_gguf_n_kv(g2), 10);
        assert_true(pd_gguf_get_str(g2, "k.bytes", &s, &len));
        assert_memory_equal(s, "a\0b", 3);
        assert_true(pd_gguf_get_i64(g2, "k.i64", &i64));
        assert_int_equal(i64, -0x123456789abcll);
        assert_int_equal(pd_gguf_find_key(g2, "arr.str"), -1);
        pd_gguf_close(g2);
        pd_gguf_close(g);
    }
    unlink(path);
    for (int t = 0; t < 7; t++) free(tdata[t]);
}

/* The writer's bytes for a tiny file, laid out by hand from the GGUF spec. */
static void test_writer_layout(void **state) {
    (void)state;
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_set_u32(w, "general.alignment", 64), PD_OK);
    assert_int_equal(pd_gguf_set_str(w, "general.name", "x"), PD_OK);
    float d0[3] = {1, 2, 3}, d1[2] = {4, 5};
    int64_t n0 = 3, n1 = 2;
    assert_int_equal(pd_gguf_add_tensor(w, "a", PD_TYPE_F32, 1, &n0, d0), PD_OK);
    assert_int_equal(pd_gguf_add_tensor(w, "bb", PD_TYPE_F32, 1, &n1, d1), PD_OK);
    void *buf;
    size_t size;
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
    pd_gguf_writer_free(w);
    bb e = {0};
    b_put(&e, "GGUF", 4);
    b_u32(&e, 3);
    b_u64(&e, 2);
    b_u64(&e, 2);
    b_str(&e, "general.alignment");
    b_u32(&e, PD_GGUF_U32);
    b_u32(&e, 64);
    b_str(&e, "general.name");
    b_u32(&e, PD_GGUF_STRING);
    b_str(&e, "x");
    b_str(&e, "a");
    b_u32(&e, 1);
    b_u64(&e, 3);
    b_u32(&e, PD_TYPE_F32);
    b_u64(&e, 0);
    b_str(&e, "bb");
    b_u32(&e, 1);
    b_u64(&e, 2);
    b_u32(&e, PD_TYPE_F32);
    b_u64(&e, 64);
    b_pad(&e, 64);
    b_put(&e, d0, 12);
    b_pad(&e, 64);
    b_put(&e, d1, 8);
    b_pad(&e, 64);
    assert_int_equal(size, e.n);
    assert_memory_equal(buf, e.d, e.n);
    free(buf);
    free(e.d);
    /* A bad alignment key makes the write fail. */
    w = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_set_u32(w, "general.alignment", 48), PD_OK);
    assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_ERR_ARG);
    assert_non_null(strstr(pd_last_error(), "alignment"));
    pd_gguf_writer_free(w);
}

static void write_bytes(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void expect_file(const char *path, const char *s) {
    size_t n;
    char *d = pd_read_file(path, &n);
    assert_non_null(d);
    assert_int_equal(n, strlen(s));
    assert_memory_equal(d, s, n);
    free(d);
}

static void test_atomic_write(void **state) {
    (void)state;
    char dir[] = "/tmp/pd_test_gguf_atomicXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], tmp[260];
    snprintf(path, sizeof path, "%s/model.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_bytes(path, "previous contents");

    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_set_str(w, "general.name", "new"), PD_OK);
    size_t big = 1 << 20;
    float *data = calloc(big, sizeof(float));
    int64_t ne[2] = {1024, 1024};
    assert_int_equal(pd_gguf_add_tensor(w, "big", PD_TYPE_F32, 2, ne, data), PD_OK);
    free(data);

    /* 1. The temp path cannot be created (a directory is in the way). */
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(pd_gguf_write(w, path), PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), tmp));
    expect_file(path, "previous contents");
    assert_int_equal(rmdir(tmp), 0);

    /* 2. The write fails half-way (file size limit): temp file removed, old file untouched. */
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    struct rlimit lim = old;
    lim.rlim_cur = 100000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    pd_status st = pd_gguf_write(w, path);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(st, PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), path));
    expect_file(path, "previous contents");
    assert_int_equal(access(tmp, F_OK), -1);

    /* 3. An invalid writer (bad alignment) fails before touching the disk. */
    assert_int_equal(pd_gguf_set_u32(w, "general.alignment", 7), PD_OK);
    assert_int_equal(pd_gguf_write(w, path), PD_ERR_ARG);
    expect_file(path, "previous contents");
    assert_int_equal(access(tmp, F_OK), -1);

    /* 4. Target directory missing. */
    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/missing/model.gguf", dir);
    assert_int_equal(pd_gguf_set_u32(w, "general.alignment", 32), PD_OK);
    assert_int_equal(pd_gguf_write(w, nodir), PD_ERR_IO);

    /* 5. Success replaces the file. */
    assert_int_equal(pd_gguf_write(w, path), PD_OK);
    assert_int_equal(access(tmp, F_OK), -1);
    pd_gguf *g = pd_gguf_open(path);
    assert_non_null(g);
    const char *s;
    size_t len;
    assert_true(pd_gguf_get_str(g, "general.name", &s, &len));
    assert_memory_equal(s, "new", 3);
    assert_int_equal(pd_gguf_find_tensor(g, "big")->nbytes, big * 4);
    pd_gguf_close(g);
    pd_gguf_writer_free(w);
    unlink(path);
    rmdir(dir);
}

/* ---------------------------------------------------------------------------------------------- */
/* fixtures                                                                                         */

static void expect_str(const pd_gguf *g, const char *key, const char *want) {
    const char *s;
    size_t len;
    if (!pd_gguf_get_str(g, key, &s, &len)) fail_msg("%s", pd_last_error());
    if (len != strlen(want) || memcmp(s, want, len)) fail_msg("%s: %.*s != %s", key, (int)len, s, want);
}

static void expect_u32(const pd_gguf *g, const char *key, uint32_t want) {
    uint32_t v;
    if (!pd_gguf_get_u32(g, key, &v)) fail_msg("%s", pd_last_error());
    if (v != want) fail_msg("%s: %u != %u", key, v, want);
}

static void expect_tensor(const pd_gguf *g, const char *name, pd_type type, int64_t ne0, int64_t ne1) {
    const pd_gguf_tensor *t = pd_gguf_find_tensor(g, name);
    if (!t) fail_msg("tensor %s missing", name);
    if (t->type != type || t->ne[0] != ne0 || t->ne[1] != ne1)
        fail_msg("%s: %s [%lld,%lld], expected %s [%lld,%lld]", name, pd_type_name(t->type), (long long)t->ne[0],
                 (long long)t->ne[1], pd_type_name(type), (long long)ne0, (long long)ne1);
    pd_tensor v;
    pd_gguf_tensor_view(t, &v);
    assert_int_equal(pd_tensor_nbytes(&v), t->nbytes);
}

static void expect_vocab(const pd_gguf *g, uint64_t n_vocab, const char *model) {
    pd_gguf_vtype et;
    uint64_t n;
    assert_true(pd_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n));
    assert_int_equal(et, PD_GGUF_STRING);
    assert_int_equal(n, n_vocab);
    expect_str(g, "tokenizer.ggml.model", model);
    const char *s;
    size_t len;
    /* The last entry is reachable (offset table covers the whole array). */
    assert_true(pd_gguf_arr_str(g, "tokenizer.ggml.tokens", n - 1, &s, &len));
    assert_true(pd_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n));
    assert_int_equal(et, PD_GGUF_I32);
    assert_int_equal(n, n_vocab);
}

/* Layers of a llama-style model: shapes from the README's table. */
static void expect_llama_blocks(const pd_gguf *g, int layers, int64_t d, int64_t kv, int64_t ff, pd_type wt,
                                pd_type down_t) {
    char n[64];
    for (int l = 0; l < layers; l++) {
#define T(suffix, ty, a, b) snprintf(n, sizeof n, "blk.%d." suffix, l); expect_tensor(g, n, ty, a, b)
        T("attn_norm.weight", PD_TYPE_F32, d, 1);
        T("attn_q.weight", wt, d, d);
        T("attn_k.weight", wt, d, kv);
        T("attn_v.weight", wt, d, kv);
        T("attn_output.weight", wt, d, d);
        T("ffn_norm.weight", PD_TYPE_F32, d, 1);
        T("ffn_gate.weight", wt, d, ff);
        T("ffn_up.weight", wt, d, ff);
        T("ffn_down.weight", down_t, ff, d);
#undef T
    }
}

static void test_fixture_llama(void **state) {
    (void)state;
    PD_NEED_FIXTURES();
    static const struct { const char *file; pd_type wt, down, embd; uint32_t ftype; } v[] = {
        {MODELS "tiny-llama.gguf", PD_TYPE_F32, PD_TYPE_F32, PD_TYPE_F32, 0},
        {MODELS "tiny-llama-f16.gguf", PD_TYPE_F16, PD_TYPE_F16, PD_TYPE_F16, 1},
        {MODELS "tiny-llama-q8_0.gguf", PD_TYPE_Q8_0, PD_TYPE_F32, PD_TYPE_Q8_0, 7},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        pd_gguf *g = pd_gguf_open(v[i].file);
        if (!g) fail_msg("%s", pd_last_error());
        expect_str(g, "general.architecture", "llama");
        expect_u32(g, "llama.embedding_length", 64);
        expect_u32(g, "llama.block_count", 2);
        expect_u32(g, "llama.attention.head_count", 4);
        expect_u32(g, "llama.attention.head_count_kv", 2);
        expect_u32(g, "llama.feed_forward_length", 172);
        expect_u32(g, "general.file_type", v[i].ftype);
        float eps, theta;
        assert_true(pd_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps));
        assert_true(eps == 1e-5f);
        assert_true(pd_gguf_get_f32(g, "llama.rope.freq_base", &theta));
        assert_true(theta == 10000.0f);
        assert_int_equal(pd_gguf_n_tensors(g), 2 * 9 + 2);
        expect_tensor(g, "token_embd.weight", v[i].embd, 64, 32000);
        expect_tensor(g, "output_norm.weight", PD_TYPE_F32, 64, 1);
        assert_null(pd_gguf_find_tensor(g, "output.weight"));
        expect_llama_blocks(g, 2, 64, 32, 172, v[i].wt, v[i].down);
        expect_vocab(g, 32000, "llama");
        const char *s;
        size_t len;
        assert_true(pd_gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &len));
        assert_int_equal(len, 3);
        assert_memory_equal(s, "<s>", 3);
        pd_gguf_close(g);
    }
    /* tiny-llama256: Q4_K_M mix, pure Q4_0, Q6_K. */
    pd_gguf *g = pd_gguf_open(MODELS "tiny-llama256-q4_k.gguf");
    assert_non_null(g);
    expect_u32(g, "general.file_type", 15);
    expect_u32(g, "llama.embedding_length", 256);
    expect_tensor(g, "token_embd.weight", PD_TYPE_Q6_K, 256, 32000);
    expect_tensor(g, "blk.1.attn_v.weight", PD_TYPE_Q6_K, 256, 128);
    expect_tensor(g, "blk.1.ffn_down.weight", PD_TYPE_Q6_K, 512, 256);
    expect_tensor(g, "blk.0.attn_v.weight", PD_TYPE_Q4_K, 256, 128);
    expect_tensor(g, "blk.0.ffn_down.weight", PD_TYPE_Q4_K, 512, 256);
    expect_tensor(g, "blk.1.attn_q.weight", PD_TYPE_Q4_K, 256, 256);
    assert_int_equal(pd_gguf_n_tensors(g), 20);
    pd_gguf_close(g);
    g = pd_gguf_open(MODELS "tiny-llama256-q4_0.gguf");
    assert_non_null(g);
    expect_u32(g, "general.file_type", 2);
    expect_tensor(g, "token_embd.weight", PD_TYPE_Q4_0, 256, 32000);
    expect_llama_blocks(g, 2, 256, 128, 512, PD_TYPE_Q4_0, PD_TYPE_Q4_0);
    pd_gguf_close(g);
    g = pd_gguf_open(MODELS "tiny-llama256-q6_k.gguf");
    assert_non_null(g);
    expect_u32(g, "general.file_type", 18);
    expect_tensor(g, "token_embd.weight", PD_TYPE_Q6_K, 256, 32000);
    expect_llama_blocks(g, 2, 256, 128, 512, PD_TYPE_Q6_K, PD_TYPE_Q6_K);
    pd_gguf_close(g);
}

static void test_fixture_qwen_phi(void **state) {
    (void)state;
    PD_NEED_FIXTURES();
    pd_gguf *g = pd_gguf_open(MODELS "tiny-qwen2.gguf");
    assert_non_null(g);
    expect_str(g, "general.architecture", "qwen2");
    expect_tensor(g, "token_embd.weight", PD_TYPE_F16, 64, 151936);
    expect_tensor(g, "blk.0.attn_q.bias", PD_TYPE_F32, 64, 1);
    expect_tensor(g, "blk.1.attn_k.bias", PD_TYPE_F32, 32, 1);
    expect_tensor(g, "blk.1.attn_v.bias", PD_TYPE_F32, 32, 1);
    expect_llama_blocks(g, 2, 64, 32, 128, PD_TYPE_F32, PD_TYPE_F32);
    assert_int_equal(pd_gguf_n_tensors(g), 2 * 12 + 2);
    expect_vocab(g, 151936, "gpt2");
    expect_str(g, "tokenizer.ggml.pre", "qwen2");
    expect_u32(g, "tokenizer.ggml.eos_token_id", 151645);
    float theta;
    assert_true(pd_gguf_get_f32(g, "qwen2.rope.freq_base", &theta));
    assert_true(theta == 1e6f);
    pd_gguf_close(g);

    g = pd_gguf_open(MODELS "tiny-qwen3.gguf");
    assert_non_null(g);
    expect_str(g, "general.architecture", "qwen3");
    expect_u32(g, "qwen3.attention.key_length", 16);
    expect_u32(g, "qwen3.attention.value_length", 16);
    expect_tensor(g, "blk.0.attn_q_norm.weight", PD_TYPE_F32, 16, 1);
    expect_tensor(g, "blk.1.attn_k_norm.weight", PD_TYPE_F32, 16, 1);
    assert_null(pd_gguf_find_tensor(g, "blk.0.attn_q.bias"));
    assert_int_equal(pd_gguf_n_tensors(g), 2 * 11 + 2);
    const char *s;
    size_t len;
    assert_true(pd_gguf_arr_str(g, "tokenizer.ggml.tokens", 151667, &s, &len));
    assert_int_equal(len, 7);
    assert_memory_equal(s, "<think>", 7);
    assert_true(pd_gguf_get_str(g, "tokenizer.chat_template", &s, &len));
    assert_true(len > 100);
    pd_gguf_close(g);

    g = pd_gguf_open(MODELS "tiny-phi3.gguf");
    assert_non_null(g);
    expect_str(g, "general.architecture", "phi3");
    expect_str(g, "general.name", "Tiny Phi 4 Mini");
    expect_u32(g, "phi3.rope.dimension_count", 12);
    expect_u32(g, "phi3.context_length", 131072);
    expect_u32(g, "phi3.rope.scaling.original_context_length", 4096);
    float af;
    assert_true(pd_gguf_get_f32(g, "phi3.rope.scaling.attn_factor", &af));
    assert_true(af > 1.19023f && af < 1.19025f);
    expect_tensor(g, "token_embd.weight", PD_TYPE_F16, 64, 128256);
    expect_tensor(g, "blk.0.attn_qkv.weight", PD_TYPE_F32, 64, 128);
    expect_tensor(g, "blk.1.ffn_up.weight", PD_TYPE_F32, 64, 256);
    expect_tensor(g, "blk.1.ffn_down.weight", PD_TYPE_F32, 128, 64);
    expect_tensor(g, "rope_factors_short.weight", PD_TYPE_F32, 6, 1);
    const pd_gguf_tensor *rf = pd_gguf_find_tensor(g, "rope_factors_short.weight");
    const float *rfd = rf->data;
    static const float want[6] = {1.0f, 1.15f, 1.35f, 1.6f, 2.0f, 2.6f};
    for (int i = 0; i < 6; i++) assert_true(rfd[i] == want[i]);
    assert_null(pd_gguf_find_tensor(g, "output.weight"));
    expect_vocab(g, 128256, "gpt2");
    pd_gguf_close(g);
}

static void test_fixture_vocabs(void **state) {
    (void)state;
    PD_NEED_FIXTURES();
    pd_gguf *g = pd_gguf_open(TOKDIR "ggml-vocab-llama-spm.gguf");
    assert_non_null(g);
    assert_int_equal(pd_gguf_n_tensors(g), 0);
    expect_vocab(g, 32000, "llama");
    pd_gguf_vtype et;
    uint64_t n;
    assert_true(pd_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n));
    assert_int_equal(et, PD_GGUF_F32);
    assert_int_equal(n, 32000);
    const char *s;
    size_t len;
    assert_true(pd_gguf_arr_str(g, "tokenizer.ggml.tokens", 13, &s, &len)); /* <0x0A> is id 13 */
    assert_int_equal(len, 6);
    assert_memory_equal(s, "<0x0A>", 6);
    pd_gguf_close(g);

    g = pd_gguf_open(TOKDIR "ggml-vocab-llama-bpe-rebuilt.gguf");
    assert_non_null(g);
    expect_vocab(g, 128256, "gpt2");
    expect_str(g, "tokenizer.ggml.pre", "llama-bpe");
    assert_true(pd_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n));
    assert_int_equal(n, 280147);
    expect_u32(g, "tokenizer.ggml.bos_token_id", 128000);
    assert_true(pd_gguf_arr_str(g, "tokenizer.ggml.tokens", 128000, &s, &len));
    assert_int_equal(len, strlen("<|begin_of_text|>"));
    assert_memory_equal(s, "<|begin_of_text|>", len);
    assert_true(pd_gguf_arr_str(g, "tokenizer.ggml.tokens", 128009, &s, &len));
    assert_memory_equal(s, "<|eot_id|>", len);
    pd_gguf_close(g);

    g = pd_gguf_open(TOKDIR "ggml-vocab-qwen2-rebuilt.gguf");
    assert_non_null(g);
    expect_vocab(g, 151936, "gpt2");
    expect_str(g, "tokenizer.ggml.pre", "qwen2");
    assert_true(pd_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n));
    assert_int_equal(n, 151387);
    expect_u32(g, "tokenizer.ggml.bos_token_id", 151643);
    expect_u32(g, "tokenizer.ggml.eos_token_id", 151645);
    bool add_bos = true;
    assert_true(pd_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos));
    assert_false(add_bos);
    assert_true(pd_gguf_arr_str(g, "tokenizer.ggml.tokens", 151668, &s, &len));
    assert_memory_equal(s, "</think>", len);
    pd_gguf_close(g);

    /* Errors from pd_gguf_open itself. */
    assert_null(pd_gguf_open(TOKDIR "no-such-file.gguf"));
    assert_int_equal(pd_gguf_open_status(), PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), "no-such-file.gguf"));
    assert_null(pd_gguf_open(TOKDIR));
    assert_int_equal(pd_gguf_open_status(), PD_ERR_IO);
    assert_null(pd_gguf_open(TOKDIR "README.md"));
    assert_int_equal(pd_gguf_open_status(), PD_ERR_FORMAT);
    assert_non_null(strstr(pd_last_error(), "offset 0"));
}

/* Fixtures re-serialised from their own contents (copy_kvs + add_tensor) come out byte-identical:
 * llama.cpp's writer uses the same layout (v3, infos in order, tensors padded to 32, no padding
 * without tensors). */
static void test_fixture_rewrite(void **state) {
    (void)state;
    PD_NEED_FIXTURES();
    static const char *files[] = {MODELS "tiny-llama-q8_0.gguf", MODELS "tiny-llama256-q4_k.gguf",
                                  TOKDIR "ggml-vocab-llama-spm.gguf"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        pd_gguf *g = pd_gguf_open(files[f]);
        assert_non_null(g);
        pd_gguf_writer *w = pd_gguf_writer_new();
        assert_int_equal(pd_gguf_copy_kvs(w, g, NULL), PD_OK);
        for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
            const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
            assert_int_equal(pd_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data), PD_OK);
        }
        void *buf;
        size_t size;
        assert_int_equal(pd_gguf_write_buffer(w, &buf, &size), PD_OK);
        pd_gguf_writer_free(w);
        size_t flen;
        char *orig = pd_read_file(files[f], &flen);
        assert_non_null(orig);
        if (size != flen || memcmp(buf, orig, flen)) fail_msg("%s: rewritten bytes differ", files[f]);
        free(orig);
        free(buf);
        pd_gguf_close(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_built_valid),
        cmocka_unit_test(test_truncation_every_offset),
        cmocka_unit_test(test_malformed_fields),
        cmocka_unit_test(test_header_word_corruption),
        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_layout),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_fixture_llama),
        cmocka_unit_test(test_fixture_qwen_phi),
        cmocka_unit_test(test_fixture_vocabs),
        cmocka_unit_test(test_fixture_rewrite),
    };
    return pd_run_tests(tests, NULL, NULL);
}
