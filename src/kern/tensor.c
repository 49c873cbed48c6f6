/* kern/tensor.c — type traits (names, block sizes, row sizes) and contiguous pd_tensor set-up.
 * Type ids equal ggml's so GGUF tensor types map 1:1. */
#include "ponder/tensor.h"
#include "ponder/error.h"
#include <strings.h>

typedef struct { const char *name; int64_t blck; size_t bytes; } pd_type_traits;

static const pd_type_traits pd_traits[PD_TYPE_COUNT] = {
    [PD_TYPE_F32] = {"f32", 1, 4},
    [PD_TYPE_F16] = {"f16", 1, 2},
    [PD_TYPE_Q4_0] = {"q4_0", 32, 18},
    [PD_TYPE_Q4_1] = {"q4_1", 32, 20},
    [PD_TYPE_Q5_0] = {"q5_0", 32, 22},
    [PD_TYPE_Q5_1] = {"q5_1", 32, 24},
    [PD_TYPE_Q8_0] = {"q8_0", 32, 34},
    [PD_TYPE_Q8_1] = {"q8_1", 32, 36},
    [PD_TYPE_Q2_K] = {"q2_K", 256, 84},
    [PD_TYPE_Q3_K] = {"q3_K", 256, 110},
    [PD_TYPE_Q4_K] = {"q4_K", 256, 144},
    [PD_TYPE_Q5_K] = {"q5_K", 256, 176},
    [PD_TYPE_Q6_K] = {"q6_K", 256, 210},
    [PD_TYPE_Q8_K] = {"q8_K", 256, 292},
    [PD_TYPE_IQ4_NL] = {"iq4_nl", 32, 18},
    [PD_TYPE_IQ4_XS] = {"iq4_xs", 256, 136},
    [PD_TYPE_BF16] = {"bf16", 1, 2},
};

bool pd_type_valid(int type) {
    return type >= 0 && type < PD_TYPE_COUNT && pd_traits[type].name != NULL;
}

bool pd_type_is_storage(int type) {
    return pd_type_valid(type) && type != PD_TYPE_Q8_1 && type != PD_TYPE_Q8_K;
}

const char *pd_type_name(pd_type t) {
    return pd_type_valid((int)t) ? pd_traits[t].name : "unknown";
}

int pd_type_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < PD_TYPE_COUNT; t++)
        if (pd_traits[t].name && strcasecmp(pd_traits[t].name, name) == 0) return t;
    return -1;
}

int64_t pd_type_block_elems(pd_type t) {
    return pd_type_valid((int)t) ? pd_traits[t].blck : 0;
}

size_t pd_type_block_bytes(pd_type t) {
    return pd_type_valid((int)t) ? pd_traits[t].bytes : 0;
}

size_t pd_row_bytes(pd_type t, int64_t n) {
    if (!pd_type_valid((int)t)) {
        pd_fail(PD_ERR_UNSUPPORTED, "tensor type %d is not supported", (int)t);
        return 0;
    }
    int64_t b = pd_traits[t].blck;
    if (n < 0 || n % b != 0) {
        pd_fail(PD_ERR_ARG, "row of %lld elements is not a multiple of the %s block size %lld", (long long)n,
                pd_traits[t].name, (long long)b);
        return 0;
    }
    /* n / b blocks; guard against size_t overflow on absurd sizes. */
    uint64_t nb = (uint64_t)(n / b);
    if (nb > SIZE_MAX / pd_traits[t].bytes) {
        pd_fail(PD_ERR_RANGE, "row of %lld %s elements is too large", (long long)n, pd_traits[t].name);
        return 0;
    }
    return (size_t)nb * pd_traits[t].bytes;
}

void pd_tensor_init(pd_tensor *t, pd_type type, int n_dims, const int64_t *ne, void *data) {
    t->name = NULL;
    t->type = type;
    t->n_dims = n_dims < 1 ? 1 : (n_dims > 4 ? 4 : n_dims);
    for (int i = 0; i < 4; i++) t->ne[i] = (i < n_dims && ne) ? ne[i] : 1;
    int64_t blck = pd_type_block_elems(type);
    t->nb[0] = pd_type_block_bytes(type);
    t->nb[1] = blck > 0 ? t->nb[0] * (size_t)(t->ne[0] / blck) : 0;
    for (int i = 2; i < 4; i++) t->nb[i] = t->nb[i - 1] * (size_t)t->ne[i - 1];
    t->data = data;
    t->layout = PD_LAYOUT_ROWS;
}

int64_t pd_tensor_nelements(const pd_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

size_t pd_tensor_nbytes(const pd_tensor *t) {
    int64_t blck = pd_type_block_elems(t->type);
    if (blck <= 0) return 0;
    return (size_t)(pd_tensor_nelements(t) / blck) * pd_type_block_bytes(t->type);
}
