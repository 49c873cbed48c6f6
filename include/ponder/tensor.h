/* ponder/tensor.h — the tensor type vocabulary (ids equal ggml's, so GGUF types map 1:1) and
 * pd_tensor, the view every kernel takes. Block formats are defined once, in kern/quant.c. */
#ifndef PONDER_TENSOR_H
#define PONDER_TENSOR_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef enum {
    PD_TYPE_F32 = 0,
    PD_TYPE_F16 = 1,
    PD_TYPE_Q4_0 = 2,
    PD_TYPE_Q4_1 = 3,
    PD_TYPE_Q5_0 = 6,
    PD_TYPE_Q5_1 = 7,
    PD_TYPE_Q8_0 = 8,
    PD_TYPE_Q8_1 = 9,    /* activation-only type (dot partner of Q4_1 / Q5_1) */
    PD_TYPE_Q2_K = 10,
    PD_TYPE_Q3_K = 11,
    PD_TYPE_Q4_K = 12,
    PD_TYPE_Q5_K = 13,
    PD_TYPE_Q6_K = 14,
    PD_TYPE_Q8_K = 15,   /* activation-only type (dot partner of the K-quants and IQ4_XS) */
    PD_TYPE_IQ4_NL = 20,
    PD_TYPE_IQ4_XS = 23,
    PD_TYPE_BF16 = 30,
    PD_TYPE_COUNT = 31,
} pd_type;

/* How a matrix's bytes are arranged (pd_tensor.layout). ROWS: the GGUF layout, row after row.
 * R8: rows in groups of 8 interleaved for the matmul tiles (kern.h, pd_repack_r8); only pd_matmul
 * and pd_unpack_row read such a tensor. */
typedef enum { PD_LAYOUT_ROWS = 0, PD_LAYOUT_R8 = 1 } pd_layout;

/* A strided view over up to 4 dims, ggml order: ne[0] is the innermost (row length, contiguous),
 * ne[1] the number of rows. nb[i] is the byte stride of dim i (nb[0] = block bytes). */
typedef struct pd_tensor {
    const char *name;   /* borrowed (e.g. points into a GGUF file's memory), may be NULL */
    pd_type type;
    int n_dims;
    int64_t ne[4];
    size_t nb[4];
    void *data;
    pd_layout layout;   /* PD_LAYOUT_ROWS unless pd_repack_r8 rearranged data */
} pd_tensor;

bool pd_type_valid(int type);                 /* one of the types above */
bool pd_type_is_storage(int type);            /* valid and weights may be stored in it (not Q8_1 / Q8_K) */
const char *pd_type_name(pd_type t);          /* "f32", "q4_K", ... (ggml spelling) */
int pd_type_from_name(const char *name);      /* case-insensitive; -1 if unknown */
int64_t pd_type_block_elems(pd_type t);       /* weights per block: 1, 32 or 256 */
size_t pd_type_block_bytes(pd_type t);        /* bytes per block */
/* Bytes of a row of n elements; 0 and an error if n is not a multiple of the block size. */
size_t pd_row_bytes(pd_type t, int64_t n);

/* Fill nb[] for a contiguous tensor of type t and shape ne[0..n_dims). */
void pd_tensor_init(pd_tensor *t, pd_type type, int n_dims, const int64_t *ne, void *data);
int64_t pd_tensor_nelements(const pd_tensor *t);
size_t pd_tensor_nbytes(const pd_tensor *t);
static inline int64_t pd_tensor_nrows(const pd_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

#endif
