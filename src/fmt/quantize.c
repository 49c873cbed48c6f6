/* fmt/quantize.c — owns model-file quantisation (pd_gguf_quantize, ponder/gguf.h): which tensors are
 * converted, the row-by-row conversion through the kern reference quantisers, and the metadata
 * (general.file_type, general.quantization_version) of the result. */
#include "ponder/gguf.h"
#include "ponder/alloc.h"
#include "ponder/kern.h"

#include <stdlib.h>
#include <string.h>

int pd_gguf_ftype_of(pd_type type) {
    switch (type) {
    case PD_TYPE_F32: return 0;
    case PD_TYPE_F16: return 1;
    case PD_TYPE_Q4_0: return 2;
    case PD_TYPE_Q8_0: return 7;
    case PD_TYPE_Q4_K: return 14; /* LLAMA_FTYPE_MOSTLY_Q4_K_S: every matrix Q4_K */
    case PD_TYPE_Q6_K: return 18;
    case PD_TYPE_BF16: return 32;
    default: return -1;
    }
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* A weight matrix that may be converted to `type`. */
static bool convertible(const pd_gguf_tensor *t, pd_type type) {
    if (t->type != PD_TYPE_F32 && t->type != PD_TYPE_F16 && t->type != PD_TYPE_BF16) return false;
    if (!ends_with(t->name, "weight") || strstr(t->name, "_norm") || strstr(t->name, "rope_")) return false;
    int big = 0; /* dims larger than 1 */
    for (int d = 0; d < t->n_dims; d++) big += t->ne[d] > 1;
    if (big < 2) return false;
    return t->ne[0] % pd_type_block_elems(type) == 0;
}

/* Training checkpoints (AdamW moments opt.*) and adapters are
 * not models to quantise: quantised moments would be resumed from as if they were the real ones. */
static pd_status refuse_non_model(const pd_gguf *src) {
    for (int64_t i = 0; i < pd_gguf_n_tensors(src); i++)
        if (!strncmp(pd_gguf_tensor_at(src, i)->name, "opt.", 4))
            return pd_fail(PD_ERR_UNSUPPORTED, "this is a training checkpoint (optimizer state '%s'), not a model; "
                                               "quantise the model written beside it (the file without .ckpt)",
                           pd_gguf_tensor_at(src, i)->name);
    const char *s;
    size_t n;
    if (pd_gguf_get_str(src, "general.type", &s, &n) && n == 7 && !memcmp(s, "adapter", 7))
        return pd_fail(PD_ERR_UNSUPPORTED, "this is an adapter (general.type = adapter), not a model; merge it into "
                                           "its base first (ponder merge BASE ADAPTER OUT), then quantise");
    return PD_OK;
}

pd_status pd_gguf_quantize_to_writer(const pd_gguf *src, pd_gguf_writer *w, pd_type type, pd_quantize_stats *stats) {
    if (!src || !w) return pd_fail(PD_ERR_ARG, "pd_gguf_quantize: NULL argument");
    int ftype = pd_gguf_ftype_of(type);
    if (ftype < 0)
        return pd_fail(PD_ERR_UNSUPPORTED, "quantize: target type %s is not supported (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K)",
                       pd_type_name(type));
    PD_TRY(refuse_non_model(src));
    pd_quantize_stats st = {0};
    PD_TRY(pd_gguf_copy_kvs(w, src, NULL));
    float *row = NULL;
    void *out = NULL;
    pd_status rc = PD_OK;
    for (int64_t i = 0; i < pd_gguf_n_tensors(src) && rc == PD_OK; i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(src, i);
        st.bytes_in += t->nbytes;
        if (!convertible(t, type) || t->type == type) {
            rc = pd_gguf_add_tensor_ref(w, t->name, t->type, t->n_dims, t->ne, t->data);
            st.n_kept++;
            st.bytes_out += t->nbytes;
            continue;
        }
        int64_t n = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
        size_t in_rb = pd_row_bytes(t->type, n), out_rb = pd_row_bytes(type, n), total;
        if (!in_rb || !out_rb || !pd_mul_ok(out_rb, (size_t)rows, &total)) {
            rc = pd_fail_ctx(PD_ERR_FORMAT, "quantize: tensor '%s'", t->name);
            break;
        }
        float *nrow = pd_realloc(row, (size_t)n * sizeof(float));
        if (!nrow) { rc = PD_ERR_NOMEM; break; }
        row = nrow;
        free(out);
        if (!(out = pd_malloc(total))) { rc = PD_ERR_NOMEM; break; }
        for (int64_t r = 0; r < rows && rc == PD_OK; r++) {
            const uint8_t *in = (const uint8_t *)t->data + (size_t)r * in_rb;
            rc = pd_dequantize_row(t->type, in, row, n);
            if (rc == PD_OK) rc = pd_quantize_row(type, row, (uint8_t *)out + (size_t)r * out_rb, n);
        }
        if (rc != PD_OK) {
            rc = pd_fail_ctx(rc, "quantize: tensor '%s'", t->name);
            break;
        }
        rc = pd_gguf_add_tensor(w, t->name, type, t->n_dims, t->ne, out);
        st.n_converted++;
        st.bytes_out += total;
    }
    free(row);
    free(out);
    /* Label the result only when something was converted; otherwise the source's labels stay true. */
    if (rc == PD_OK && st.n_converted > 0) rc = pd_gguf_set_u32(w, "general.file_type", (uint32_t)ftype);
    if (rc == PD_OK && st.n_converted > 0) rc = pd_gguf_set_u32(w, "general.quantization_version", 2);
    if (stats) *stats = st;
    return rc;
}

/* why no tensor of src converts to type (for the "nothing to convert" error) */
static pd_status nothing_to_convert(const pd_gguf *src, pd_type type) {
    int64_t same = 0, quant = 0, misfit = 0;
    for (int64_t i = 0; i < pd_gguf_n_tensors(src); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(src, i);
        int big = 0;
        for (int d = 0; d < t->n_dims; d++) big += t->ne[d] > 1;
        if (!ends_with(t->name, "weight") || strstr(t->name, "_norm") || big < 2) continue;
        if (t->type == type) same++;
        else if (t->type != PD_TYPE_F32 && t->type != PD_TYPE_F16 && t->type != PD_TYPE_BF16) quant++;
        else if (t->ne[0] % pd_type_block_elems(type)) misfit++;
    }
    return pd_fail(PD_ERR_ARG, "nothing to convert to %s (weight matrices: %lld already %s, %lld already "
                               "quantised to another type, %lld with rows not a multiple of %s's block of %lld); "
                               "no file written",
                   pd_type_name(type), (long long)same, pd_type_name(type), (long long)quant, (long long)misfit,
                   pd_type_name(type), (long long)pd_type_block_elems(type));
}

pd_status pd_gguf_quantize(const pd_gguf *src, const char *out_path, pd_type type, pd_quantize_stats *stats) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (!w) return PD_ERR_NOMEM;
    pd_quantize_stats qs;
    pd_status st = pd_gguf_quantize_to_writer(src, w, type, &qs);
    if (stats) *stats = qs;
    if (st == PD_OK && qs.n_converted == 0) st = nothing_to_convert(src, type);
    if (st == PD_OK) st = pd_gguf_write(w, out_path);
    pd_gguf_writer_free(w);
    return st;
}
