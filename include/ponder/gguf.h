/* ponder/gguf.h — GGUF (v2, v3) reader and writer. The reader memory-maps the file, checks every
 * count, length, offset and dimension against the file size before use, and names the file, key
 * or tensor and byte offset in every error. The writer is the one way ponder writes models,
 * checkpoints and adapters; it writes atomically (temp file, fsync, rename). */
#ifndef PONDER_GGUF_H
#define PONDER_GGUF_H
#include "ponder/tensor.h"
#include "ponder/error.h"

typedef enum {
    PD_GGUF_U8 = 0, PD_GGUF_I8 = 1, PD_GGUF_U16 = 2, PD_GGUF_I16 = 3, PD_GGUF_U32 = 4, PD_GGUF_I32 = 5,
    PD_GGUF_F32 = 6, PD_GGUF_BOOL = 7, PD_GGUF_STRING = 8, PD_GGUF_ARRAY = 9, PD_GGUF_U64 = 10,
    PD_GGUF_I64 = 11, PD_GGUF_F64 = 12,
} pd_gguf_vtype;

typedef struct pd_gguf pd_gguf;

typedef struct {
    const char *name;   /* NUL-terminated copy owned by the pd_gguf */
    pd_type type;
    int n_dims;
    int64_t ne[4];      /* unused dims = 1 */
    uint64_t offset;    /* relative to the data section */
    size_t nbytes;
    const void *data;   /* inside the mapping, aligned as the file says */
} pd_gguf_tensor;

/* ---- reading ---- */
pd_gguf *pd_gguf_open(const char *path);          /* mmap; NULL + pd_last_error on failure */
pd_gguf *pd_gguf_open_memory(const void *data, size_t size, const char *label); /* parse a buffer (fuzzing); not copied */
/* Parse a malloc'd buffer and take ownership of it: it is freed by pd_gguf_close, or at once when
 * parsing fails. Pairs with pd_gguf_write_buffer for in-memory models. */
pd_gguf *pd_gguf_open_owned_memory(void *data, size_t size, const char *label);
/* Status code of the last failed pd_gguf_open* on this thread (PD_ERR_FORMAT for malformed files,
 * PD_ERR_UNSUPPORTED for a valid but unsupported tensor type, PD_ERR_IO, ...); PD_OK after a success. */
pd_status pd_gguf_open_status(void);
void pd_gguf_close(pd_gguf *g);
const char *pd_gguf_path(const pd_gguf *g);
uint32_t pd_gguf_version(const pd_gguf *g);
size_t pd_gguf_alignment(const pd_gguf *g);
size_t pd_gguf_data_offset(const pd_gguf *g);     /* file offset of the data section (tensor offsets are relative to it) */
size_t pd_gguf_file_size(const pd_gguf *g);

int64_t pd_gguf_n_kv(const pd_gguf *g);
const char *pd_gguf_key(const pd_gguf *g, int64_t i);
int64_t pd_gguf_find_key(const pd_gguf *g, const char *key);   /* -1 if absent */
pd_gguf_vtype pd_gguf_kv_type(const pd_gguf *g, int64_t i);
/* Typed getters return false (and set an error naming the key) when the key is absent or of
 * another type. Integer getters accept any integer type whose value fits. */
bool pd_gguf_get_u32(const pd_gguf *g, const char *key, uint32_t *out);
bool pd_gguf_get_i64(const pd_gguf *g, const char *key, int64_t *out);
bool pd_gguf_get_f32(const pd_gguf *g, const char *key, float *out); /* F32 or F64 */
bool pd_gguf_get_bool(const pd_gguf *g, const char *key, bool *out);
/* Strings are not NUL-terminated in the file: pointer + length into the mapping. */
bool pd_gguf_get_str(const pd_gguf *g, const char *key, const char **s, size_t *len);
/* Arrays: element type and count; then element access. */
bool pd_gguf_get_arr(const pd_gguf *g, const char *key, pd_gguf_vtype *elem_type, uint64_t *n);
/* numeric arrays: raw little-endian elements, aligned for the element type (copied if the file is not) */
const void *pd_gguf_arr_data(const pd_gguf *g, const char *key);
bool pd_gguf_arr_str(const pd_gguf *g, const char *key, uint64_t i, const char **s, size_t *len);
/* Value of KV i rendered as short text (for `ponder inspect`); arrays show type, count and first items. */
void pd_gguf_kv_to_text(const pd_gguf *g, int64_t i, char *buf, size_t cap);

int64_t pd_gguf_n_tensors(const pd_gguf *g);
const pd_gguf_tensor *pd_gguf_tensor_at(const pd_gguf *g, int64_t i);
const pd_gguf_tensor *pd_gguf_find_tensor(const pd_gguf *g, const char *name); /* NULL if absent (no error set) */
/* A pd_tensor view of a GGUF tensor (contiguous strides). */
void pd_gguf_tensor_view(const pd_gguf_tensor *gt, pd_tensor *out);
/* The pages wholly inside [p, p + n) of a file-mapped reader are dropped from memory (they are read
 * from the file again if touched): for data copied elsewhere, e.g. pd_model_repack's weights.
 * Nothing happens for a buffer-backed reader or a range outside the mapping. */
void pd_gguf_release(const pd_gguf *g, const void *p, size_t n);
/* Whether [p, p + n) lies inside g's file mapping (false for a buffer-backed reader). */
bool pd_gguf_maps(const pd_gguf *g, const void *p, size_t n);

/* ---- writing ---- */
typedef struct pd_gguf_writer pd_gguf_writer;
pd_gguf_writer *pd_gguf_writer_new(void);
void pd_gguf_writer_free(pd_gguf_writer *w);
/* Setting a key that exists replaces it. Strings and arrays are copied. */
pd_status pd_gguf_set_u32(pd_gguf_writer *w, const char *key, uint32_t v);
pd_status pd_gguf_set_i32(pd_gguf_writer *w, const char *key, int32_t v);
pd_status pd_gguf_set_u64(pd_gguf_writer *w, const char *key, uint64_t v);
pd_status pd_gguf_set_f32(pd_gguf_writer *w, const char *key, float v);
pd_status pd_gguf_set_bool(pd_gguf_writer *w, const char *key, bool v);
pd_status pd_gguf_set_i64(pd_gguf_writer *w, const char *key, int64_t v);
pd_status pd_gguf_set_f64(pd_gguf_writer *w, const char *key, double v);
pd_status pd_gguf_set_str(pd_gguf_writer *w, const char *key, const char *v);
pd_status pd_gguf_set_strn(pd_gguf_writer *w, const char *key, const char *v, size_t len); /* may hold any bytes */
pd_status pd_gguf_set_arr(pd_gguf_writer *w, const char *key, pd_gguf_vtype elem_type, const void *data, uint64_t n);
pd_status pd_gguf_set_arr_str(pd_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Copy every KV of a reader except those whose key starts with one of `skip_prefixes` (NULL-terminated list, may be NULL). */
pd_status pd_gguf_copy_kvs(pd_gguf_writer *w, const pd_gguf *src, const char *const *skip_prefixes);
/* Add a tensor; data is copied now (nbytes = pd_row_bytes(type, ne[0]) * rows). */
pd_status pd_gguf_add_tensor(pd_gguf_writer *w, const char *name, pd_type type, int n_dims, const int64_t *ne,
                             const void *data);
/* Same without the copy: `data` must stay valid and unchanged until the writer is written or freed
 * (large models and checkpoints, whose weights are already in memory). */
pd_status pd_gguf_add_tensor_ref(pd_gguf_writer *w, const char *name, pd_type type, int n_dims, const int64_t *ne,
                                 const void *data);
/* Write version 3, alignment general.alignment or 32: to path.tmp, fsync, rename over path. */
pd_status pd_gguf_write(pd_gguf_writer *w, const char *path);
/* The same file image in a malloc'd buffer (*data, *size; free() it, or hand it to
 * pd_gguf_open_owned_memory), without touching the disk. */
pd_status pd_gguf_write_buffer(pd_gguf_writer *w, void **data, size_t *size); /* aligned to max(64, alignment) */

/* ---- model quantisation (`ponder quantize`) ----
 * Converts every weight matrix of src (name ending in "weight", not a norm, at least 2 dims larger
 * than 1, stored as F32, F16 or BF16, row length a multiple of the target's block size) to `type`
 * (any storage type of ponder/tensor.h) with the reference quantisers; every other tensor keeps
 * its type and bytes. token_embd and output are converted like any matrix (no mixed recipe; for
 * llama-quantize's mixes see pd_gguf_quantize_ftype below). All KVs are copied; when at least one
 * tensor was converted, general.file_type is set to llama.cpp's LLAMA_FTYPE for the type
 * (pd_gguf_ftype_of: 0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 7 Q8_0, 8 Q5_0, 9 Q5_1, 10 Q2_K, 11 Q3_K,
 * 14 Q4_K, 16 Q5_K, 18 Q6_K, 25 IQ4_NL, 30 IQ4_XS, 32 BF16) and
 * general.quantization_version to 2. Already-quantised tensors are never re-quantised. Written atomically.
 * Refused (PD_ERR_UNSUPPORTED): training checkpoints (opt.* optimizer tensors) and adapters
 * (general.type "adapter"). pd_gguf_quantize writes nothing and fails (PD_ERR_ARG,
 * saying why) when no tensor converts. */
typedef struct {
    int64_t n_converted, n_kept;   /* tensors */
    uint64_t bytes_in, bytes_out;  /* tensor data */
    int64_t n_to[PD_TYPE_COUNT];   /* converted tensors per target type */
    int64_t n_fallback;            /* tensors given a fallback type (rows not a multiple of the block) */
} pd_quantize_stats;
int pd_gguf_ftype_of(pd_type type); /* LLAMA_FTYPE value above, or -1 */
pd_status pd_gguf_quantize(const pd_gguf *src, const char *out_path, pd_type type, pd_quantize_stats *stats);
/* The same into a writer (for callers that add more before writing). Tensors that keep their type
 * reference src's memory: write w before closing src. */
pd_status pd_gguf_quantize_to_writer(const pd_gguf *src, pd_gguf_writer *w, pd_type type, pd_quantize_stats *stats);

/* ---- llama-quantize's file types and per-tensor mixes ----
 * A file type (LLAMA_FTYPE_MOSTLY_*) names a base tensor type and a recipe that bumps some tensors:
 * "Q4_K_M" (15), "Q4_K_S" (14), "Q5_K_M" (17), "Q5_K_S" (16), "Q3_K_S/M/L" (11/12/13), "Q2_K" (10),
 * "Q2_K_S" (21), "Q6_K" (18), "Q8_0" (7), "Q4_0" (2), "Q4_1" (3), "Q5_0" (8), "Q5_1" (9), "IQ4_NL"
 * (25), "IQ4_XS" (30), "F16" (1), "BF16" (32), "F32" (0); "Q3_K"/"Q4_K"/"Q5_K" mean their _M mix
 * (as llama-quantize's names). Case-insensitive. The rules (docs/quantize.md): fmt/quantize.c. */
int pd_gguf_ftype_from_name(const char *name, pd_type *base); /* ftype or -1; *base = its base type */
const char *pd_gguf_ftype_name(int ftype);                     /* "Q4_K_M", ... or NULL */
/* Quantise src as llama-quantize does without an importance matrix: per-tensor type from the mix
 * (pure: every quantisable tensor the base type), then the fallback for rows that are not a
 * multiple of the type's block (IQ4_XS→IQ4_NL, Q2_K/Q3_K→Q4_0, Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0,
 * then F16; a 32-weight type that does not fit keeps the tensor's type). Only F32/F16/BF16
 * tensors are converted; general.file_type = ftype. Same refusals and "nothing to convert" error
 * as pd_gguf_quantize. */
pd_status pd_gguf_quantize_ftype(const pd_gguf *src, const char *out_path, int ftype, bool pure, pd_quantize_stats *stats);
pd_status pd_gguf_quantize_ftype_to_writer(const pd_gguf *src, pd_gguf_writer *w, int ftype, bool pure,
                                           pd_quantize_stats *stats);

#endif
