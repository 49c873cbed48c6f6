/* fmt/gguf.c — owns the GGUF (v2, v3) reader and writer (ponder/gguf.h).
 * Reader: the file is memory-mapped read-only (or a caller's buffer is parsed in place); every count,
 * length, offset and dimension is checked against the bytes that remain and for overflow before it
 * is used, so no input can crash it or make it loop for long: a count larger than the remaining
 * bytes could hold is rejected at once. Errors name the file, the key or tensor and the byte offset.
 * Writer: KVs and tensors are collected in memory, then serialised as GGUF v3 either into a malloc'd
 * buffer or atomically into a file through base/outfile.c (path.tmp, every write checked, fsync,
 * rename; on failure the temp file is removed and any previous file is left untouched). */
#include "ponder/gguf.h"
#include "ponder/alloc.h"
#include "ponder/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ponder's GGUF reader assumes a little-endian host"
#endif

#define GG_MAGIC "GGUF"
#define GG_DEFAULT_ALIGN 32
#define GG_MAX_NEST 8           /* nesting depth of arrays of arrays */
#define GG_MAX_NAME 64          /* ggml's GGML_MAX_NAME: tensor names must be shorter */

/* ------------------------------------------------------------------------------------------------ */
/* shared helpers                                                                                     */

/* Size in bytes of a fixed-size value type; 0 for string, array and unknown types. */
static size_t vt_size(uint32_t t) {
    switch (t) {
    case PD_GGUF_U8: case PD_GGUF_I8: case PD_GGUF_BOOL: return 1;
    case PD_GGUF_U16: case PD_GGUF_I16: return 2;
    case PD_GGUF_U32: case PD_GGUF_I32: case PD_GGUF_F32: return 4;
    case PD_GGUF_U64: case PD_GGUF_I64: case PD_GGUF_F64: return 8;
    default: return 0;
    }
}

static const char *vt_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "?";
}

static bool vt_is_int(uint32_t t) {
    return t == PD_GGUF_U8 || t == PD_GGUF_I8 || t == PD_GGUF_U16 || t == PD_GGUF_I16 || t == PD_GGUF_U32 ||
           t == PD_GGUF_I32 || t == PD_GGUF_U64 || t == PD_GGUF_I64;
}

/* ggml type names, for messages about types ponder does not support. */
static const char *ggml_type_name(uint32_t t) {
    static const char *names[] = {"f32", "f16", "q4_0", "q4_1", NULL, NULL, "q5_0", "q5_1", "q8_0", "q8_1",
                                  "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K", "iq2_xxs", "iq2_xs", "iq3_xxs",
                                  "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs", "i8", "i16", "i32", "i64", "f64",
                                  "iq1_m", "bf16", NULL, NULL, NULL, "tq1_0", "tq2_0", NULL, NULL, NULL, "mxfp4"};
    return t < sizeof names / sizeof names[0] ? names[t] : NULL;
}

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Copy untrusted bytes into a printable, NUL-terminated name for messages (escapes, truncation). */
static void printable(char *dst, size_t cap, const char *src, size_t len) {
    /* A byte takes at most 4 characters; keep room for "..." and the NUL. */
    if (cap < 8) {
        if (cap) dst[0] = 0;
        return;
    }
    size_t o = 0, i = 0;
    for (; i < len && o + 8 <= cap; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') dst[o++] = (char)c;
        else o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
    }
    if (i < len) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* reader                                                                                             */

typedef struct {
    char *key;
    size_t off;            /* file offset of the KV entry (its key length field) */
    pd_gguf_vtype type;
    const uint8_t *val;    /* value bytes, right after the type field */
    size_t val_len;
    /* arrays */
    pd_gguf_vtype arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data; /* first element (numeric arrays: aligned for the element type) */
    void *arr_copy;          /* owned aligned copy when the elements are misaligned in the file */
    uint64_t *str_offs;      /* string arrays: offset (from the file start) of each element's length field */
} gg_kv;

struct pd_gguf {
    char *path;
    const uint8_t *base;
    size_t size;
    void *map;              /* mmap'd region (pd_gguf_open) */
    void *owned;            /* malloc'd buffer to free (pd_gguf_open_owned_memory) */
    uint32_t version;
    size_t alignment;
    size_t data_start;
    int64_t n_kv;
    gg_kv *kvs;
    gg_kv **kv_sorted;      /* by key, for lookup and the duplicate check */
    int64_t n_tensors;
    pd_gguf_tensor *tensors;
    size_t *tensor_info_off; /* file offset of each tensor's info record */
    pd_gguf_tensor **t_sorted; /* by name */
};

/* Parse cursor. */
typedef struct {
    pd_gguf *g;
    size_t off;
} gg_rd;

static size_t rd_left(const gg_rd *r) { return r->g->size - r->off; }

static int cmp_kv(const void *a, const void *b) {
    return strcmp((*(gg_kv *const *)a)->key, (*(gg_kv *const *)b)->key);
}
static int cmp_tname(const void *a, const void *b) {
    return strcmp((*(pd_gguf_tensor *const *)a)->name, (*(pd_gguf_tensor *const *)b)->name);
}
static int cmp_toff(const void *a, const void *b) {
    const pd_gguf_tensor *x = *(pd_gguf_tensor *const *)a, *y = *(pd_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : 0;
}

/* Error helper: "<file>: <where> at offset N: <why>". */
static pd_status gg_err(const pd_gguf *g, const char *where, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static pd_status gg_err(const pd_gguf *g, const char *where, size_t off, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return pd_fail(PD_ERR_FORMAT, "%s: %s at offset %zu: %s", g->path, where, off, why);
}

/* Ensure n bytes remain at the cursor. */
static pd_status rd_need(gg_rd *r, size_t n, const char *where, const char *what) {
    if (n > rd_left(r))
        return gg_err(r->g, where, r->off, "%s needs %zu bytes but only %zu remain (file size %zu)", what, n,
                      rd_left(r), r->g->size);
    return PD_OK;
}

static pd_status rd_u32(gg_rd *r, uint32_t *v, const char *where, const char *what) {
    PD_TRY(rd_need(r, 4, where, what));
    *v = rd32(r->g->base + r->off);
    r->off += 4;
    return PD_OK;
}

static pd_status rd_u64(gg_rd *r, uint64_t *v, const char *where, const char *what) {
    PD_TRY(rd_need(r, 8, where, what));
    *v = rd64(r->g->base + r->off);
    r->off += 8;
    return PD_OK;
}

/* A GGUF string: u64 length + bytes. Returns pointer + length inside the buffer. */
static pd_status rd_str(gg_rd *r, const char **s, size_t *len, const char *where, const char *what) {
    uint64_t n;
    size_t at = r->off;
    PD_TRY(rd_u64(r, &n, where, what));
    if (n > rd_left(r))
        return gg_err(r->g, where, at, "%s length %" PRIu64 " exceeds the %zu bytes that remain (file size %zu)", what,
                      n, rd_left(r), r->g->size);
    *s = (const char *)r->g->base + r->off;
    *len = (size_t)n;
    r->off += (size_t)n;
    return PD_OK;
}

/* Skip (validate) one value of type t; depth counts array nesting. For a top-level array, fills the
 * array fields of kv (kv != NULL). */
static pd_status rd_value(gg_rd *r, uint32_t t, int depth, gg_kv *kv, const char *where) {
    size_t fs = vt_size(t);
    if (fs) {
        PD_TRY(rd_need(r, fs, where, vt_name(t)));
        r->off += fs;
        return PD_OK;
    }
    if (t == PD_GGUF_STRING) {
        const char *s;
        size_t n;
        return rd_str(r, &s, &n, where, "string");
    }
    if (t != PD_GGUF_ARRAY) return gg_err(r->g, where, r->off, "unknown value type %" PRIu32, t);
    if (depth >= GG_MAX_NEST) return gg_err(r->g, where, r->off, "arrays nested deeper than %d levels", GG_MAX_NEST);
    size_t at = r->off;
    uint32_t et;
    uint64_t n;
    PD_TRY(rd_u32(r, &et, where, "array element type"));
    PD_TRY(rd_u64(r, &n, where, "array count"));
    size_t left = rd_left(r);
    size_t es = vt_size(et);
    if (kv) { kv->arr_type = (pd_gguf_vtype)et; kv->arr_n = n; kv->arr_data = r->g->base + r->off; }
    if (es) {
        if (n > left / es)
            return gg_err(r->g, where, at, "array of %" PRIu64 " %s (%zu bytes each) exceeds the %zu bytes that remain",
                          n, vt_name(et), es, left);
        r->off += (size_t)n * es;
        return PD_OK;
    }
    if (et == PD_GGUF_STRING) {
        if (n > left / 8)
            return gg_err(r->g, where, at, "array of %" PRIu64 " strings cannot fit in the %zu bytes that remain", n,
                          left);
        if (kv && !(kv->str_offs = pd_malloc((size_t)n * sizeof(uint64_t) + 1))) return PD_ERR_NOMEM;
        for (uint64_t i = 0; i < n; i++) {
            if (kv) kv->str_offs[i] = r->off;
            const char *s;
            size_t sl;
            PD_TRY(rd_str(r, &s, &sl, where, "array string"));
        }
        return PD_OK;
    }
    if (et == PD_GGUF_ARRAY) {
        if (n > left / 12)
            return gg_err(r->g, where, at, "array of %" PRIu64 " arrays cannot fit in the %zu bytes that remain", n,
                          left);
        for (uint64_t i = 0; i < n; i++) PD_TRY(rd_value(r, PD_GGUF_ARRAY, depth + 1, NULL, where));
        return PD_OK;
    }
    return gg_err(r->g, where, at, "array has unknown element type %" PRIu32, et);
}

/* "<kind> '<printable name>'" into where. */
static void where_name(char *where, size_t cap, const char *kind, const char *s, size_t len) {
    char pn[96];
    printable(pn, sizeof pn, s, len);
    snprintf(where, cap, "%s '%s'", kind, pn);
}

/* Read a key or tensor name (non-empty, no NUL) as an owned NUL-terminated copy; `where` becomes
 * "<kind> '<name>'" for later messages. idx and at only serve the message when the name is unreadable. */
static pd_status rd_name(gg_rd *r, const char *kind, uint64_t idx, size_t at, char *where, size_t cap, char **out) {
    const char *s;
    size_t n;
    snprintf(where, cap, "%s #%" PRIu64, kind, idx);
    PD_TRY(rd_str(r, &s, &n, where, "name"));
    where_name(where, cap, kind, s, n);
    if (n == 0) return gg_err(r->g, where, at, "empty name");
    if (memchr(s, 0, n)) return gg_err(r->g, where, at, "name contains a NUL byte");
    *out = pd_strndup(s, n);
    return *out ? PD_OK : PD_ERR_NOMEM;
}

static size_t align_up_ok(size_t x, size_t a, bool *ok) {
    size_t r = x % a ? a - x % a : 0;
    if (x > SIZE_MAX - r) { *ok = false; return 0; }
    *ok = true;
    return x + r;
}

static pd_status gg_parse(pd_gguf *g) {
    gg_rd r = {g, 0};
    char where[160];
    if (g->size < 4 || memcmp(g->base, GG_MAGIC, 4) != 0)
        return gg_err(g, "header", 0, "not a GGUF file (magic bytes are not 'GGUF')");
    r.off = 4;
    uint32_t ver;
    PD_TRY(rd_u32(&r, &ver, "header", "version"));
    if (ver == 1) return gg_err(g, "header", 4, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (ver == 0x02000000u || ver == 0x03000000u)
        return gg_err(g, "header", 4, "big-endian GGUF is not supported");
    if (ver != 2 && ver != 3) return gg_err(g, "header", 4, "unknown GGUF version %" PRIu32 " (expected 2 or 3)", ver);
    g->version = ver;
    uint64_t n_t, n_kv;
    PD_TRY(rd_u64(&r, &n_t, "header", "tensor count"));
    PD_TRY(rd_u64(&r, &n_kv, "header", "KV count"));
    /* Smallest KV: 8 (key len) + 4 (type) + 1 (u8 value). Smallest tensor info: 8 + 4 + 8 + 4 + 8. */
    if (n_kv > rd_left(&r) / 13)
        return gg_err(g, "header", 16, "KV count %" PRIu64 " cannot fit in the %zu bytes that remain", n_kv, rd_left(&r));
    if (n_t > rd_left(&r) / 32)
        return gg_err(g, "header", 8, "tensor count %" PRIu64 " cannot fit in the %zu bytes that remain", n_t,
                      rd_left(&r));
    g->kvs = pd_calloc((size_t)n_kv + 1, sizeof *g->kvs);
    if (!g->kvs) return PD_ERR_NOMEM;
    g->n_kv = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        gg_kv *kv = &g->kvs[i];
        kv->off = r.off;
        PD_TRY(rd_name(&r, "key", i, kv->off, where, sizeof where, &kv->key));
        g->n_kv = (int64_t)i + 1;
        uint32_t t;
        PD_TRY(rd_u32(&r, &t, where, "value type"));
        if (t > PD_GGUF_F64) return gg_err(g, where, kv->off, "unknown value type %" PRIu32, t);
        kv->type = (pd_gguf_vtype)t;
        kv->val = g->base + r.off;
        size_t vstart = r.off;
        PD_TRY(rd_value(&r, t, 0, kv, where));
        kv->val_len = r.off - vstart;
        /* Numeric arrays are handed out as typed pointers: keep them aligned for their element type. */
        size_t es = vt_size(kv->arr_type);
        if (t == PD_GGUF_ARRAY && es > 1 && kv->arr_n > 0 && ((uintptr_t)kv->arr_data % es) != 0) {
            if (!(kv->arr_copy = pd_malloc((size_t)kv->arr_n * es))) return PD_ERR_NOMEM;
            memcpy(kv->arr_copy, kv->arr_data, (size_t)kv->arr_n * es);
            kv->arr_data = kv->arr_copy;
        }
    }
    /* Duplicate keys. */
    g->kv_sorted = pd_malloc(((size_t)n_kv + 1) * sizeof *g->kv_sorted);
    if (!g->kv_sorted) return PD_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_sorted[i] = &g->kvs[i];
    qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
    for (int64_t i = 1; i < g->n_kv; i++)
        if (!strcmp(g->kv_sorted[i - 1]->key, g->kv_sorted[i]->key)) {
            gg_kv *a = g->kv_sorted[i - 1], *b = g->kv_sorted[i];
            gg_kv *later = a->off > b->off ? a : b, *first = a->off > b->off ? b : a;
            where_name(where, sizeof where, "key", later->key, strlen(later->key));
            return gg_err(g, where, later->off, "duplicate key (first defined at offset %zu)", first->off);
        }
    /* Alignment. */
    g->alignment = GG_DEFAULT_ALIGN;
    int64_t ai = pd_gguf_find_key(g, "general.alignment");
    if (ai >= 0) {
        gg_kv *kv = &g->kvs[ai];
        if (kv->type != PD_GGUF_U32)
            return gg_err(g, "key 'general.alignment'", kv->off, "has type %s, expected u32", vt_name(kv->type));
        uint32_t a = rd32(kv->val);
        if (a == 0 || (a & (a - 1)) != 0)
            return gg_err(g, "key 'general.alignment'", kv->off, "alignment %" PRIu32 " is not a power of two", a);
        g->alignment = a;
    }
    /* Tensor infos. */
    g->tensors = pd_calloc((size_t)n_t + 1, sizeof *g->tensors);
    g->tensor_info_off = pd_calloc((size_t)n_t + 1, sizeof *g->tensor_info_off);
    if (!g->tensors || !g->tensor_info_off) return PD_ERR_NOMEM;
    g->n_tensors = 0;
    for (uint64_t i = 0; i < n_t; i++) {
        pd_gguf_tensor *t = &g->tensors[i];
        size_t at = r.off;
        g->tensor_info_off[i] = at;
        char *nm = NULL;
        PD_TRY(rd_name(&r, "tensor", i, at, where, sizeof where, &nm));
        t->name = nm;
        g->n_tensors = (int64_t)i + 1;
        uint32_t nd;
        PD_TRY(rd_u32(&r, &nd, where, "n_dims"));
        if (nd < 1 || nd > 4) return gg_err(g, where, at, "n_dims %" PRIu32 " is out of range (1..4)", nd);
        t->n_dims = (int)nd;
        int64_t nel = 1;
        for (int d = 0; d < 4; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            PD_TRY(rd_u64(&r, &ne, where, "dimension"));
            if (ne == 0 || ne > (uint64_t)INT64_MAX)
                return gg_err(g, where, at, "dimension %" PRIu32 " has invalid size %" PRIu64, d, ne);
            t->ne[d] = (int64_t)ne;
            if (__builtin_mul_overflow(nel, (int64_t)ne, &nel))
                return gg_err(g, where, at, "element count overflows");
        }
        uint32_t ty;
        PD_TRY(rd_u32(&r, &ty, where, "tensor type"));
        if (!pd_type_valid((int)ty) || ty > INT32_MAX) {
            const char *gn = ggml_type_name(ty);
            if (gn)
                return pd_fail(PD_ERR_UNSUPPORTED, "%s: %s at offset %zu: tensor type %" PRIu32 " (%s) is not supported",
                               g->path, where, at, ty, gn);
            return gg_err(g, where, at, "invalid tensor type %" PRIu32, ty);
        }
        t->type = (pd_type)ty;
        PD_TRY(rd_u64(&r, &t->offset, where, "data offset"));
        int64_t be = pd_type_block_elems(t->type);
        size_t bb = pd_type_block_bytes(t->type);
        if (be <= 0 || bb == 0) return gg_err(g, where, at, "tensor type %s has no block size", pd_type_name(t->type));
        if (t->ne[0] % be != 0)
            return gg_err(g, where, at, "row length %" PRId64 " is not a multiple of the %s block size %" PRId64,
                          t->ne[0], pd_type_name(t->type), be);
        size_t nbytes;
        if (!pd_mul_ok((size_t)(nel / be), bb, &nbytes)) return gg_err(g, where, at, "byte size overflows");
        t->nbytes = nbytes;
    }
    /* Data section. */
    bool ok;
    g->data_start = align_up_ok(r.off, g->alignment, &ok);
    if (!ok) return gg_err(g, "data section", r.off, "start overflows");
    if (g->n_tensors > 0 && g->data_start > g->size)
        return gg_err(g, "data section", r.off, "starts at %zu, beyond the end of the file (size %zu)", g->data_start,
                      g->size);
    size_t data_size = g->n_tensors > 0 ? g->size - g->data_start : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        pd_gguf_tensor *t = &g->tensors[i];
        where_name(where, sizeof where, "tensor", t->name, strlen(t->name));
        if (t->offset % g->alignment != 0)
            return gg_err(g, where, g->tensor_info_off[i], "data offset %" PRIu64 " is not a multiple of the alignment %zu",
                          t->offset, g->alignment);
        if (t->offset > data_size || t->nbytes > data_size - (size_t)t->offset) {
            uint64_t s = (uint64_t)g->data_start + t->offset;
            uint64_t e;
            if (__builtin_add_overflow(s, (uint64_t)t->nbytes, &e)) e = UINT64_MAX;
            return gg_err(g, where, g->tensor_info_off[i],
                          "data range [%" PRIu64 ", %" PRIu64 ") exceeds file size %zu", s, e, g->size);
        }
        t->data = g->base + g->data_start + t->offset;
    }
    /* Duplicate names and overlapping data. */
    g->t_sorted = pd_malloc(((size_t)g->n_tensors + 1) * sizeof *g->t_sorted);
    if (!g->t_sorted) return PD_ERR_NOMEM;
    for (int64_t i = 0; i < g->n_tensors; i++) g->t_sorted[i] = &g->tensors[i];
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, cmp_toff);
    for (int64_t i = 1; i < g->n_tensors; i++) {
        const pd_gguf_tensor *a = g->t_sorted[i - 1], *b = g->t_sorted[i];
        if (a->offset + a->nbytes > b->offset) {
            const pd_gguf_tensor *later = a > b ? a : b, *other = a > b ? b : a;
            char po[96];
            printable(po, sizeof po, other->name, strlen(other->name));
            where_name(where, sizeof where, "tensor", later->name, strlen(later->name));
            return gg_err(g, where, g->tensor_info_off[later - g->tensors], "data overlaps tensor '%s'", po);
        }
    }
    qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, cmp_tname);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (!strcmp(g->t_sorted[i - 1]->name, g->t_sorted[i]->name)) {
            const pd_gguf_tensor *a = g->t_sorted[i - 1], *b = g->t_sorted[i];
            const pd_gguf_tensor *later = a > b ? a : b, *first = a > b ? b : a;
            where_name(where, sizeof where, "tensor", later->name, strlen(later->name));
            return gg_err(g, where, g->tensor_info_off[later - g->tensors],
                          "duplicate tensor name (first defined at offset %zu)", g->tensor_info_off[first - g->tensors]);
        }
    return PD_OK;
}

void pd_gguf_close(pd_gguf *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kvs[i].key);
        free(g->kvs[i].arr_copy);
        free(g->kvs[i].str_offs);
    }
    /* A KV whose key was read but whose value failed keeps its fields; n_kv covers it. */
    free(g->kvs);
    free(g->kv_sorted);
    for (int64_t i = 0; i < g->n_tensors; i++) free((char *)g->tensors[i].name);
    free(g->tensors);
    free(g->tensor_info_off);
    free(g->t_sorted);
    if (g->map) munmap(g->map, g->size);
    free(g->owned);
    free(g->path);
    free(g);
}

/* Status of the last failed open on this thread (pd_gguf_open_status). */
static _Thread_local pd_status gg_open_st = PD_OK;

static pd_gguf *open_fail(pd_status st) {
    gg_open_st = st;
    return NULL;
}

pd_status pd_gguf_open_status(void) { return gg_open_st; }

static pd_gguf *gg_new(const char *label) {
    pd_gguf *g = pd_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->path = pd_strdup(label ? label : "<memory>");
    if (!g->path) { free(g); return NULL; }
    g->alignment = GG_DEFAULT_ALIGN;
    return g;
}

static pd_gguf *gg_finish(pd_gguf *g) {
    pd_status st = gg_parse(g);
    if (st != PD_OK) {
        pd_gguf_close(g);
        return open_fail(st);
    }
    gg_open_st = PD_OK;
    return g;
}

/* A reader over [data, data+size); `owned` is freed with it (also when this fails). */
static pd_gguf *gg_open_buffer(const void *data, size_t size, const char *label, void *owned) {
    static const uint8_t empty[1] = {0};
    if (!data && size) {
        free(owned);
        return open_fail(pd_fail(PD_ERR_ARG, "%s: NULL buffer", label ? label : "<memory>"));
    }
    pd_gguf *g = gg_new(label);
    if (!g) { free(owned); return open_fail(PD_ERR_NOMEM); }
    g->owned = owned;
    g->base = data ? data : empty;
    g->size = size;
    return gg_finish(g);
}

pd_gguf *pd_gguf_open_memory(const void *data, size_t size, const char *label) {
    return gg_open_buffer(data, size, label, NULL);
}

pd_gguf *pd_gguf_open_owned_memory(void *data, size_t size, const char *label) {
    return gg_open_buffer(data, size, label, data);
}

pd_gguf *pd_gguf_open(const char *path) {
    if (!path) return open_fail(pd_fail(PD_ERR_ARG, "pd_gguf_open: NULL path"));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return open_fail(pd_fail(PD_ERR_IO, "%s: cannot open: %s", path, strerror(errno)));
    struct stat st;
    pd_status err = PD_OK;
    if (fstat(fd, &st) != 0) err = pd_fail(PD_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) err = pd_fail(PD_ERR_IO, "%s: not a regular file", path);
    else if (st.st_size < 24)
        err = pd_fail(PD_ERR_FORMAT, "%s: header at offset 0: file is %lld bytes, too short for a GGUF header (24 bytes)",
                      path, (long long)st.st_size);
    if (err) {
        close(fd);
        return open_fail(err);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return open_fail(pd_fail(PD_ERR_IO, "%s: cannot mmap: %s", path, strerror(e)));
    pd_gguf *g = gg_new(path);
    if (!g) { munmap(m, (size_t)st.st_size); return open_fail(PD_ERR_NOMEM); }
    g->map = m;
    g->base = m;
    g->size = (size_t)st.st_size;
    return gg_finish(g);
}

const char *pd_gguf_path(const pd_gguf *g) { return g->path; }
uint32_t pd_gguf_version(const pd_gguf *g) { return g->version; }
size_t pd_gguf_alignment(const pd_gguf *g) { return g->alignment; }
size_t pd_gguf_data_offset(const pd_gguf *g) { return g->data_start; }
size_t pd_gguf_file_size(const pd_gguf *g) { return g->size; }
int64_t pd_gguf_n_kv(const pd_gguf *g) { return g->n_kv; }

const char *pd_gguf_key(const pd_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_kv) ? g->kvs[i].key : NULL;
}

int64_t pd_gguf_find_key(const pd_gguf *g, const char *key) {
    if (!key || !g->kv_sorted) return -1;
    size_t lo = 0, hi = (size_t)g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->kv_sorted[mid]->key, key);
        if (c == 0) return g->kv_sorted[mid] - g->kvs;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

pd_gguf_vtype pd_gguf_kv_type(const pd_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_kv) ? g->kvs[i].type : (pd_gguf_vtype)-1;
}

/* Look up a key for a getter; error naming the key when absent. */
static const gg_kv *get_kv(const pd_gguf *g, const char *key) {
    int64_t i = pd_gguf_find_key(g, key);
    if (i < 0) {
        pd_fail(PD_ERR_FORMAT, "%s: key '%s' is missing", g->path, key ? key : "(null)");
        return NULL;
    }
    return &g->kvs[i];
}

static bool wrong_type(const pd_gguf *g, const gg_kv *kv, const char *expected) {
    pd_fail(PD_ERR_FORMAT, "%s: key '%s' at offset %zu: has type %s, expected %s", g->path, kv->key, kv->off,
            vt_name(kv->type), expected);
    return false;
}

/* Integer value of an integer-typed KV as (negative flag, magnitude) to range-check exactly. */
static void int_value(const gg_kv *kv, bool *neg, uint64_t *mag) {
    int64_t s = 0;
    uint64_t u = 0;
    bool is_signed = true;
    switch (kv->type) {
    case PD_GGUF_U8: u = kv->val[0]; is_signed = false; break;
    case PD_GGUF_I8: s = (int8_t)kv->val[0]; break;
    case PD_GGUF_U16: u = rd16(kv->val); is_signed = false; break;
    case PD_GGUF_I16: s = (int16_t)rd16(kv->val); break;
    case PD_GGUF_U32: u = rd32(kv->val); is_signed = false; break;
    case PD_GGUF_I32: s = (int32_t)rd32(kv->val); break;
    case PD_GGUF_U64: u = rd64(kv->val); is_signed = false; break;
    default: s = (int64_t)rd64(kv->val); break;
    }
    if (is_signed) {
        *neg = s < 0;
        *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    } else {
        *neg = false;
        *mag = u;
    }
}

/* An integer-typed KV's value; NULL (error set) when absent or not an integer. */
static const gg_kv *get_int(const pd_gguf *g, const char *key, bool *neg, uint64_t *mag) {
    const gg_kv *kv = get_kv(g, key);
    if (!kv) return NULL;
    if (!vt_is_int(kv->type)) {
        wrong_type(g, kv, "an integer");
        return NULL;
    }
    int_value(kv, neg, mag);
    return kv;
}

static bool does_not_fit(const pd_gguf *g, const gg_kv *kv, bool neg, uint64_t m, const char *type) {
    pd_fail(PD_ERR_FORMAT, "%s: key '%s' at offset %zu: value %s%" PRIu64 " does not fit in %s", g->path, kv->key,
            kv->off, neg ? "-" : "", m, type);
    return false;
}

bool pd_gguf_get_u32(const pd_gguf *g, const char *key, uint32_t *out) {
    bool neg;
    uint64_t m;
    const gg_kv *kv = get_int(g, key, &neg, &m);
    if (!kv) return false;
    if (neg || m > UINT32_MAX) return does_not_fit(g, kv, neg, m, "u32");
    *out = (uint32_t)m;
    return true;
}

bool pd_gguf_get_i64(const pd_gguf *g, const char *key, int64_t *out) {
    bool neg;
    uint64_t m;
    const gg_kv *kv = get_int(g, key, &neg, &m);
    if (!kv) return false;
    if (!neg && m > (uint64_t)INT64_MAX) return does_not_fit(g, kv, neg, m, "i64");
    *out = neg ? (int64_t)(0 - m) : (int64_t)m;
    return true;
}

bool pd_gguf_get_f32(const pd_gguf *g, const char *key, float *out) {
    const gg_kv *kv = get_kv(g, key);
    if (!kv) return false;
    if (kv->type == PD_GGUF_F32) {
        uint32_t b = rd32(kv->val);
        memcpy(out, &b, 4);
        return true;
    }
    if (kv->type == PD_GGUF_F64) {
        uint64_t b = rd64(kv->val);
        double d;
        memcpy(&d, &b, 8);
        *out = (float)d;
        return true;
    }
    return wrong_type(g, kv, "f32 or f64");
}

bool pd_gguf_get_bool(const pd_gguf *g, const char *key, bool *out) {
    const gg_kv *kv = get_kv(g, key);
    if (!kv) return false;
    if (kv->type != PD_GGUF_BOOL) return wrong_type(g, kv, "bool");
    *out = kv->val[0] != 0;
    return true;
}

bool pd_gguf_get_str(const pd_gguf *g, const char *key, const char **s, size_t *len) {
    const gg_kv *kv = get_kv(g, key);
    if (!kv) return false;
    if (kv->type != PD_GGUF_STRING) return wrong_type(g, kv, "str");
    *len = (size_t)rd64(kv->val);
    *s = (const char *)kv->val + 8;
    return true;
}

bool pd_gguf_get_arr(const pd_gguf *g, const char *key, pd_gguf_vtype *elem_type, uint64_t *n) {
    const gg_kv *kv = get_kv(g, key);
    if (!kv) return false;
    if (kv->type != PD_GGUF_ARRAY) return wrong_type(g, kv, "arr");
    if (elem_type) *elem_type = kv->arr_type;
    if (n) *n = kv->arr_n;
    return true;
}

const void *pd_gguf_arr_data(const pd_gguf *g, const char *key) {
    const gg_kv *kv = get_kv(g, key);
    if (!kv) return NULL;
    if (kv->type != PD_GGUF_ARRAY || !vt_size(kv->arr_type)) {
        wrong_type(g, kv, "a numeric array");
        return NULL;
    }
    return kv->arr_data;
}

bool pd_gguf_arr_str(const pd_gguf *g, const char *key, uint64_t i, const char **s, size_t *len) {
    const gg_kv *kv = get_kv(g, key);
    if (!kv) return false;
    if (kv->type != PD_GGUF_ARRAY || kv->arr_type != PD_GGUF_STRING) return wrong_type(g, kv, "an array of strings");
    if (i >= kv->arr_n) {
        pd_fail(PD_ERR_RANGE, "%s: key '%s': index %" PRIu64 " out of range (%" PRIu64 " strings)", g->path, kv->key, i,
                kv->arr_n);
        return false;
    }
    const uint8_t *p = g->base + kv->str_offs[i];
    *len = (size_t)rd64(p);
    *s = (const char *)p + 8;
    return true;
}

/* Render one scalar element of type t at p into buf (appending at *o). */
static void text_scalar(char *buf, size_t cap, size_t *o, uint32_t t, const uint8_t *p) {
    char tmp[64];
    double d;
    float f;
    uint32_t b32;
    uint64_t b64;
    switch (t) {
    case PD_GGUF_U8: snprintf(tmp, sizeof tmp, "%u", p[0]); break;
    case PD_GGUF_I8: snprintf(tmp, sizeof tmp, "%d", (int8_t)p[0]); break;
    case PD_GGUF_U16: snprintf(tmp, sizeof tmp, "%u", rd16(p)); break;
    case PD_GGUF_I16: snprintf(tmp, sizeof tmp, "%d", (int16_t)rd16(p)); break;
    case PD_GGUF_U32: snprintf(tmp, sizeof tmp, "%" PRIu32, rd32(p)); break;
    case PD_GGUF_I32: snprintf(tmp, sizeof tmp, "%" PRId32, (int32_t)rd32(p)); break;
    case PD_GGUF_U64: snprintf(tmp, sizeof tmp, "%" PRIu64, rd64(p)); break;
    case PD_GGUF_I64: snprintf(tmp, sizeof tmp, "%" PRId64, (int64_t)rd64(p)); break;
    case PD_GGUF_F32: b32 = rd32(p); memcpy(&f, &b32, 4); snprintf(tmp, sizeof tmp, "%g", (double)f); break;
    case PD_GGUF_F64: b64 = rd64(p); memcpy(&d, &b64, 8); snprintf(tmp, sizeof tmp, "%g", d); break;
    case PD_GGUF_BOOL: snprintf(tmp, sizeof tmp, "%s", p[0] ? "true" : "false"); break;
    default: snprintf(tmp, sizeof tmp, "?"); break;
    }
    if (*o < cap) *o += (size_t)snprintf(buf + *o, cap - *o, "%s", tmp);
}

static void text_str(char *buf, size_t cap, size_t *o, const char *s, size_t len, size_t max_show) {
    if (*o >= cap) return;
    char tmp[256];
    size_t show = len < max_show ? len : max_show;
    if (show > 60) show = 60;
    printable(tmp, sizeof tmp, s, show);
    *o += (size_t)snprintf(buf + *o, cap - *o, "\"%s%s\"", tmp, show < len ? "..." : "");
}

void pd_gguf_kv_to_text(const pd_gguf *g, int64_t i, char *buf, size_t cap) {
    if (!buf || cap == 0) return;
    buf[0] = 0;
    if (i < 0 || i >= g->n_kv) { snprintf(buf, cap, "(no such KV)"); return; }
    const gg_kv *kv = &g->kvs[i];
    size_t o = 0;
    if (kv->type == PD_GGUF_STRING) {
        text_str(buf, cap, &o, (const char *)kv->val + 8, (size_t)rd64(kv->val), 60);
    } else if (kv->type == PD_GGUF_ARRAY) {
        o += (size_t)snprintf(buf, cap, "[%s x %" PRIu64 "]", vt_name(kv->arr_type), kv->arr_n);
        uint64_t show = kv->arr_n < 8 ? kv->arr_n : 8;
        size_t es = vt_size(kv->arr_type);
        for (uint64_t k = 0; k < show && o < cap; k++) {
            o += (size_t)snprintf(buf + o, cap - o, "%s", k ? ", " : " ");
            if (es) text_scalar(buf, cap, &o, kv->arr_type, kv->arr_data + k * es);
            else if (kv->arr_type == PD_GGUF_STRING) {
                const uint8_t *p = g->base + kv->str_offs[k];
                text_str(buf, cap, &o, (const char *)p + 8, (size_t)rd64(p), 24);
            } else {
                if (o < cap) o += (size_t)snprintf(buf + o, cap - o, "[...]");
                break;
            }
        }
        if (show < kv->arr_n && o < cap) snprintf(buf + o, cap - o, ", ...");
    } else {
        text_scalar(buf, cap, &o, kv->type, kv->val);
    }
    buf[cap - 1] = 0;
}

int64_t pd_gguf_n_tensors(const pd_gguf *g) { return g->n_tensors; }

const pd_gguf_tensor *pd_gguf_tensor_at(const pd_gguf *g, int64_t i) {
    return (i >= 0 && i < g->n_tensors) ? &g->tensors[i] : NULL;
}

const pd_gguf_tensor *pd_gguf_find_tensor(const pd_gguf *g, const char *name) {
    if (!name || !g->t_sorted) return NULL;
    size_t lo = 0, hi = (size_t)g->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->t_sorted[mid]->name, name);
        if (c == 0) return g->t_sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

bool pd_gguf_maps(const pd_gguf *g, const void *p, size_t n) {
    if (!g || !g->map || !p || !n) return false;
    uintptr_t a = (uintptr_t)p, lo = (uintptr_t)g->map, hi = lo + g->size;
    return a >= lo && a <= hi && n <= hi - a;
}

void pd_gguf_release(const pd_gguf *g, const void *p, size_t n) {
    if (!pd_gguf_maps(g, p, n)) return;
    uintptr_t a = (uintptr_t)p;
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0) return;
    uintptr_t s = (a + (uintptr_t)ps - 1) / (uintptr_t)ps * (uintptr_t)ps, e = (a + n) / (uintptr_t)ps * (uintptr_t)ps;
    if (e > s) (void)madvise((void *)s, e - s, MADV_DONTNEED); /* advice only: a refusal changes nothing */
}

void pd_gguf_tensor_view(const pd_gguf_tensor *gt, pd_tensor *out) {
    pd_tensor_init(out, gt->type, gt->n_dims, gt->ne, (void *)gt->data);
    out->name = gt->name;
}

/* ------------------------------------------------------------------------------------------------ */
/* writer                                                                                             */

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *val;      /* serialised value (after the type field) */
    size_t val_len;
} w_kv;

typedef struct {
    char *name;
    pd_type type;
    int n_dims;
    int64_t ne[4];
    size_t nbytes;
    const void *data;  /* owned copy, or the caller's bytes (pd_gguf_add_tensor_ref) */
    bool owned;
    uint64_t offset;   /* assigned at write time */
} w_tensor;

struct pd_gguf_writer {
    w_kv *kvs;
    size_t n_kv, cap_kv;
    w_tensor *ts;
    size_t n_t, cap_t;
};

pd_gguf_writer *pd_gguf_writer_new(void) { return pd_calloc(1, sizeof(pd_gguf_writer)); }

void pd_gguf_writer_free(pd_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kvs[i].key); free(w->kvs[i].val); }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->ts[i].name);
        if (w->ts[i].owned) free((void *)w->ts[i].data);
    }
    free(w->kvs);
    free(w->ts);
    free(w);
}

/* Store a KV with an already serialised value; takes ownership of val (also on failure). */
static pd_status w_put(pd_gguf_writer *w, const char *key, uint32_t type, uint8_t *val, size_t len) {
    if (!w || !key || !key[0]) {
        free(val);
        return pd_fail(PD_ERR_ARG, "gguf writer: empty or NULL key");
    }
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kvs[i].key, key)) {
            free(w->kvs[i].val);
            w->kvs[i].type = type;
            w->kvs[i].val = val;
            w->kvs[i].val_len = len;
            return PD_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t nc = w->cap_kv ? w->cap_kv * 2 : 16;
        w_kv *n = pd_realloc(w->kvs, nc * sizeof *n);
        if (!n) { free(val); return PD_ERR_NOMEM; }
        w->kvs = n;
        w->cap_kv = nc;
    }
    char *k = pd_strdup(key);
    if (!k) { free(val); return PD_ERR_NOMEM; }
    w->kvs[w->n_kv++] = (w_kv){k, type, val, len};
    return PD_OK;
}

static pd_status w_put_scalar(pd_gguf_writer *w, const char *key, uint32_t type, const void *v, size_t n) {
    uint8_t *b = pd_malloc(n);
    if (!b) return PD_ERR_NOMEM;
    memcpy(b, v, n);
    return w_put(w, key, type, b, n);
}

pd_status pd_gguf_set_u32(pd_gguf_writer *w, const char *key, uint32_t v) { return w_put_scalar(w, key, PD_GGUF_U32, &v, 4); }
pd_status pd_gguf_set_i32(pd_gguf_writer *w, const char *key, int32_t v) { return w_put_scalar(w, key, PD_GGUF_I32, &v, 4); }
pd_status pd_gguf_set_u64(pd_gguf_writer *w, const char *key, uint64_t v) { return w_put_scalar(w, key, PD_GGUF_U64, &v, 8); }
pd_status pd_gguf_set_i64(pd_gguf_writer *w, const char *key, int64_t v) { return w_put_scalar(w, key, PD_GGUF_I64, &v, 8); }
pd_status pd_gguf_set_f32(pd_gguf_writer *w, const char *key, float v) { return w_put_scalar(w, key, PD_GGUF_F32, &v, 4); }
pd_status pd_gguf_set_f64(pd_gguf_writer *w, const char *key, double v) { return w_put_scalar(w, key, PD_GGUF_F64, &v, 8); }
pd_status pd_gguf_set_bool(pd_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v ? 1 : 0;
    return w_put_scalar(w, key, PD_GGUF_BOOL, &b, 1);
}

pd_status pd_gguf_set_str(pd_gguf_writer *w, const char *key, const char *v) {
    if (!v) return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': NULL string", key ? key : "(null)");
    return pd_gguf_set_strn(w, key, v, strlen(v));
}

pd_status pd_gguf_set_strn(pd_gguf_writer *w, const char *key, const char *v, size_t len) {
    if (!v && len) return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': NULL string", key ? key : "(null)");
    size_t n;
    if (!pd_add_ok(len, 8, &n)) return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': string too long", key ? key : "(null)");
    uint8_t *b = pd_malloc(n);
    if (!b) return PD_ERR_NOMEM;
    uint64_t l = len;
    memcpy(b, &l, 8);
    if (len) memcpy(b + 8, v, len);
    return w_put(w, key, PD_GGUF_STRING, b, n);
}

pd_status pd_gguf_set_arr(pd_gguf_writer *w, const char *key, pd_gguf_vtype elem_type, const void *data, uint64_t n) {
    size_t es = vt_size((uint32_t)elem_type);
    if (!es)
        return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': pd_gguf_set_arr takes numeric or bool elements, not %s",
                       key ? key : "(null)", vt_name((uint32_t)elem_type));
    size_t bytes, total;
    if (n > SIZE_MAX || !pd_mul_ok((size_t)n, es, &bytes) || !pd_add_ok(bytes, 12, &total))
        return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': array too large", key ? key : "(null)");
    if (!data && n) return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': NULL array data", key ? key : "(null)");
    uint8_t *b = pd_malloc(total);
    if (!b) return PD_ERR_NOMEM;
    uint32_t et = (uint32_t)elem_type;
    memcpy(b, &et, 4);
    memcpy(b + 4, &n, 8);
    if (bytes) memcpy(b + 12, data, bytes);
    return w_put(w, key, PD_GGUF_ARRAY, b, total);
}

pd_status pd_gguf_set_arr_str(pd_gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    if (!v && n) return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': NULL string array", key ? key : "(null)");
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!v[i]) return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': string %" PRIu64 " is NULL", key ? key : "(null)", i);
        if (!pd_add_ok(total, strlen(v[i]) + 8, &total))
            return pd_fail(PD_ERR_ARG, "gguf writer: key '%s': array too large", key ? key : "(null)");
    }
    uint8_t *b = pd_malloc(total);
    if (!b) return PD_ERR_NOMEM;
    uint32_t et = PD_GGUF_STRING;
    memcpy(b, &et, 4);
    memcpy(b + 4, &n, 8);
    size_t o = 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = strlen(v[i]);
        memcpy(b + o, &l, 8);
        memcpy(b + o + 8, v[i], (size_t)l);
        o += 8 + (size_t)l;
    }
    return w_put(w, key, PD_GGUF_ARRAY, b, total);
}

pd_status pd_gguf_copy_kvs(pd_gguf_writer *w, const pd_gguf *src, const char *const *skip_prefixes) {
    if (!w || !src) return pd_fail(PD_ERR_ARG, "pd_gguf_copy_kvs: NULL argument");
    for (int64_t i = 0; i < src->n_kv; i++) {
        const gg_kv *kv = &src->kvs[i];
        bool skip = false;
        for (const char *const *p = skip_prefixes; p && *p && !skip; p++)
            skip = !strncmp(kv->key, *p, strlen(*p));
        if (skip) continue;
        uint8_t *b = pd_malloc(kv->val_len);
        if (!b) return PD_ERR_NOMEM;
        memcpy(b, kv->val, kv->val_len);
        PD_TRY(w_put(w, kv->key, kv->type, b, kv->val_len));
    }
    return PD_OK;
}

static pd_status add_tensor(pd_gguf_writer *w, const char *name, pd_type type, int n_dims, const int64_t *ne,
                            const void *data, bool copy) {
    if (!w || !name || !ne) return pd_fail(PD_ERR_ARG, "gguf writer: NULL argument to pd_gguf_add_tensor");
    size_t nl = strlen(name);
    if (nl == 0 || nl >= GG_MAX_NAME)
        return pd_fail(PD_ERR_ARG, "gguf writer: tensor '%s': name must be 1..%d bytes", name, GG_MAX_NAME - 1);
    if (!pd_type_valid((int)type)) return pd_fail(PD_ERR_ARG, "gguf writer: tensor '%s': invalid type %d", name, (int)type);
    if (n_dims < 1 || n_dims > 4) return pd_fail(PD_ERR_ARG, "gguf writer: tensor '%s': n_dims %d out of range 1..4", name, n_dims);
    int64_t rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] <= 0) return pd_fail(PD_ERR_ARG, "gguf writer: tensor '%s': dimension %d is %" PRId64, name, d, ne[d]);
        if (d > 0 && __builtin_mul_overflow(rows, ne[d], &rows))
            return pd_fail(PD_ERR_ARG, "gguf writer: tensor '%s': too many elements", name);
    }
    size_t rb = pd_row_bytes(type, ne[0]);
    if (!rb) return pd_fail_ctx(PD_ERR_ARG, "gguf writer: tensor '%s'", name);
    size_t nbytes;
    if (!pd_mul_ok(rb, (size_t)rows, &nbytes)) return pd_fail(PD_ERR_ARG, "gguf writer: tensor '%s': too large", name);
    if (!data) return pd_fail(PD_ERR_ARG, "gguf writer: tensor '%s': NULL data", name);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->ts[i].name, name)) return pd_fail(PD_ERR_ARG, "gguf writer: tensor '%s' added twice", name);
    if (w->n_t == w->cap_t) {
        size_t nc = w->cap_t ? w->cap_t * 2 : 32;
        w_tensor *n = pd_realloc(w->ts, nc * sizeof *n);
        if (!n) return PD_ERR_NOMEM;
        w->ts = n;
        w->cap_t = nc;
    }
    w_tensor t = {0};
    t.name = pd_strdup(name);
    if (!t.name) return PD_ERR_NOMEM;
    if (copy) {
        void *d = pd_malloc(nbytes);
        if (!d) { free(t.name); return PD_ERR_NOMEM; }
        memcpy(d, data, nbytes);
        t.data = d;
    } else {
        t.data = data;
    }
    t.owned = copy;
    t.type = type;
    t.n_dims = n_dims;
    for (int d = 0; d < 4; d++) t.ne[d] = d < n_dims ? ne[d] : 1;
    t.nbytes = nbytes;
    w->ts[w->n_t++] = t;
    return PD_OK;
}

pd_status pd_gguf_add_tensor(pd_gguf_writer *w, const char *name, pd_type type, int n_dims, const int64_t *ne,
                             const void *data) {
    return add_tensor(w, name, type, n_dims, ne, data, true);
}

pd_status pd_gguf_add_tensor_ref(pd_gguf_writer *w, const char *name, pd_type type, int n_dims, const int64_t *ne,
                                 const void *data) {
    return add_tensor(w, name, type, n_dims, ne, data, false);
}

/* Output sink: a FILE or a memory buffer of known size. */
typedef struct {
    FILE *f;
    uint8_t *mem;
    size_t off;
    bool failed;
} w_sink;

static void sink_put(w_sink *s, const void *p, size_t n) {
    if (s->failed || n == 0) return;
    if (s->f) {
        if (fwrite(p, 1, n, s->f) != n) s->failed = true;
    } else {
        memcpy(s->mem + s->off, p, n);
    }
    s->off += n;
}

static void sink_zeros(w_sink *s, size_t n) {
    static const uint8_t z[64] = {0};
    while (n > 0) {
        size_t k = n < sizeof z ? n : sizeof z;
        sink_put(s, z, k);
        n -= k;
    }
}

/* Validate the writer, pick the alignment, assign tensor offsets and compute the total size. */
static pd_status w_layout(pd_gguf_writer *w, size_t *align_out, size_t *total_out) {
    size_t align = GG_DEFAULT_ALIGN;
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kvs[i].key, "general.alignment")) {
            uint32_t a = 0;
            if (w->kvs[i].type != PD_GGUF_U32)
                return pd_fail(PD_ERR_ARG, "gguf writer: key 'general.alignment' must be u32, not %s",
                               vt_name(w->kvs[i].type));
            memcpy(&a, w->kvs[i].val, 4);
            if (a == 0 || (a & (a - 1)))
                return pd_fail(PD_ERR_ARG, "gguf writer: general.alignment %" PRIu32 " is not a power of two", a);
            align = a;
        }
    size_t o = 24;
    bool ok = true;
    for (size_t i = 0; i < w->n_kv && ok; i++)
        ok = pd_add_ok(o, 8 + strlen(w->kvs[i].key) + 4, &o) && pd_add_ok(o, w->kvs[i].val_len, &o);
    for (size_t i = 0; i < w->n_t && ok; i++)
        ok = pd_add_ok(o, 8 + strlen(w->ts[i].name) + 4 + 8 * (size_t)w->ts[i].n_dims + 4 + 8, &o);
    if (ok && w->n_t > 0) o = align_up_ok(o, align, &ok); /* no padding when there is no data section */
    size_t data = 0;
    for (size_t i = 0; i < w->n_t && ok; i++) {
        w->ts[i].offset = data;
        ok = pd_add_ok(data, w->ts[i].nbytes, &data);
        if (ok) data = align_up_ok(data, align, &ok);
    }
    if (!ok || !pd_add_ok(o, data, total_out)) return pd_fail(PD_ERR_RANGE, "gguf writer: file size overflows");
    *align_out = align;
    return PD_OK;
}

static void w_emit(pd_gguf_writer *w, size_t align, w_sink *s) {
    uint32_t ver = 3;
    uint64_t nt = w->n_t, nkv = w->n_kv;
    sink_put(s, GG_MAGIC, 4);
    sink_put(s, &ver, 4);
    sink_put(s, &nt, 8);
    sink_put(s, &nkv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        uint64_t kl = strlen(w->kvs[i].key);
        sink_put(s, &kl, 8);
        sink_put(s, w->kvs[i].key, (size_t)kl);
        sink_put(s, &w->kvs[i].type, 4);
        sink_put(s, w->kvs[i].val, w->kvs[i].val_len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const w_tensor *t = &w->ts[i];
        uint64_t nl = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        sink_put(s, &nl, 8);
        sink_put(s, t->name, (size_t)nl);
        sink_put(s, &nd, 4);
        for (int d = 0; d < t->n_dims; d++) {
            uint64_t ne = (uint64_t)t->ne[d];
            sink_put(s, &ne, 8);
        }
        sink_put(s, &ty, 4);
        sink_put(s, &t->offset, 8);
    }
    if (w->n_t > 0) sink_zeros(s, s->off % align ? align - s->off % align : 0);
    for (size_t i = 0; i < w->n_t; i++) {
        sink_put(s, w->ts[i].data, w->ts[i].nbytes);
        sink_zeros(s, w->ts[i].nbytes % align ? align - w->ts[i].nbytes % align : 0);
    }
}

pd_status pd_gguf_write_buffer(pd_gguf_writer *w, void **data, size_t *size) {
    if (!w || !data || !size) return pd_fail(PD_ERR_ARG, "pd_gguf_write_buffer: NULL argument");
    size_t align, total;
    PD_TRY(w_layout(w, &align, &total));
    /* Aligned like the file's data section, so tensors read from this buffer are too; free()-able. */
    void *mem = NULL;
    if (posix_memalign(&mem, align < 64 ? 64 : align, total ? total : 1) != 0)
        return pd_fail(PD_ERR_NOMEM, "gguf writer: out of memory allocating %zu bytes", total);
    uint8_t *buf = mem;
    w_sink s = {NULL, buf, 0, false};
    w_emit(w, align, &s);
    *data = buf;
    *size = total;
    return PD_OK;
}

pd_status pd_gguf_write(pd_gguf_writer *w, const char *path) {
    if (!w || !path || !path[0]) return pd_fail(PD_ERR_ARG, "pd_gguf_write: NULL writer or empty path");
    size_t align, total;
    PD_TRY(w_layout(w, &align, &total));
    /* base/outfile.c: "<path>.tmp", every write checked, fsync, rename; the previous file stays on failure */
    pd_outfile *o = pd_out_open(path);
    if (!o) return PD_ERR_IO;
    w_sink s = {pd_out_fp(o), NULL, 0, false};
    errno = 0;
    w_emit(w, align, &s);
    if (s.failed || s.off != total) {
        int e = errno ? errno : EIO;
        pd_out_abort(o);
        return pd_fail(PD_ERR_IO, "%s: write failed: %s (previous file left unchanged)", path, strerror(e));
    }
    return pd_out_commit(o);
}
