/* fmt/quantize.c — owns model-file quantisation (ponder/gguf.h): which tensors are converted and
 * to which type, the row-by-row conversion through the kern reference quantisers, and the
 * metadata (general.file_type, general.quantization_version) of the result.
 *
 * Two entry points share one conversion loop and differ in how a tensor's target is chosen:
 * pd_gguf_quantize (one type for every convertible matrix; rows that do not fit keep their type)
 * and pd_gguf_quantize_ftype (llama-quantize's file types: a base type, its per-tensor mix and
 * the fallbacks). The mix rules, as llama.cpp's llama_tensor_get_type applies them to dense
 * (non-MoE) models without an importance matrix (docs/quantize.md has the same list):
 *  - quantisable: name ends in "weight", not "_norm.weight", 2+ dims, stored F32/F16/BF16 (we do
 *    not re-quantise); everything else is copied unchanged.
 *  - output.weight, and token_embd.weight when the model has no output.weight (tied): Q8_0 if its
 *    rows are not a multiple of the base type's block, else Q6_K unless the base is Q8_0.
 *  - token_embd.weight of an untied model: the base type.
 *  - attn_v / attn_qkv (counted i of n such tensors, in file order): Q2_K → Q4_K if n_head/n_head_kv
 *    >= 4 else Q3_K; Q2_K_S → Q4_K if that ratio >= 4; Q3_K_M → Q5_K for i < 2, else Q4_K;
 *    Q3_K_L → Q5_K; IQ4_NL/IQ4_XS → Q5_K if the ratio >= 4; Q4_K_M/Q5_K_M → Q6_K when
 *    more_bits(i, n); Q4_K_S → Q5_K for i < 4.
 *  - ffn_down (i-th of n_layer): Q2_K → Q3_K; Q2_K_S → Q4_K for i < n/8; Q3_K_M → Q5_K for
 *    i < n/16, else Q4_K; Q3_K_L → Q5_K; Q4_K_M → Q6_K when more_bits(i, n); IQ4_NL/IQ4_XS → Q5_K
 *    for i < n/8; Q5_K_M → Q6_K when more_bits(i, n); Q4_K_S → Q5_K for i < n/8.
 *  - attn_output: Q2_K → Q3_K; Q3_K_M → Q4_K; Q3_K_L → Q5_K.
 *  - more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
 *  - pure: none of the above, every quantisable tensor gets the base type.
 *  - fallback last, when the row length is not a multiple of the chosen type's block:
 *    IQ4_XS → IQ4_NL, Q2_K/Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0; F16 when even that
 *    does not fit. A 32-weight type has no fallback: llama-quantize refuses the file, we keep the
 *    tensor's own type (as llama.cpp's converter does for Q8_0). */
#include "ponder/gguf.h"
#include "ponder/alloc.h"
#include "ponder/kern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int pd_gguf_ftype_of(pd_type type) {
    switch (type) {
    case PD_TYPE_F32: return 0;
    case PD_TYPE_F16: return 1;
    case PD_TYPE_Q4_0: return 2;
    case PD_TYPE_Q4_1: return 3;
    case PD_TYPE_Q8_0: return 7;
    case PD_TYPE_Q5_0: return 8;
    case PD_TYPE_Q5_1: return 9;
    case PD_TYPE_Q2_K: return 10;
    case PD_TYPE_Q3_K: return 11; /* LLAMA_FTYPE_MOSTLY_Q3_K_S: every matrix Q3_K */
    case PD_TYPE_Q4_K: return 14; /* LLAMA_FTYPE_MOSTLY_Q4_K_S: every matrix Q4_K */
    case PD_TYPE_Q5_K: return 16; /* LLAMA_FTYPE_MOSTLY_Q5_K_S */
    case PD_TYPE_Q6_K: return 18;
    case PD_TYPE_IQ4_NL: return 25;
    case PD_TYPE_IQ4_XS: return 30;
    case PD_TYPE_BF16: return 32;
    default: return -1;
    }
}

/* ---------- file types ---------- */

enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9, FT_Q2_K = 10,
    FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15, FT_Q5_K_S = 16, FT_Q5_K_M = 17,
    FT_Q6_K = 18, FT_Q2_K_S = 21, FT_IQ4_NL = 25, FT_IQ4_XS = 30, FT_BF16 = 32,
};

static const struct { const char *name; int ftype; pd_type base; } ftypes[] = {
    {"Q4_K_M", FT_Q4_K_M, PD_TYPE_Q4_K}, {"Q4_K_S", FT_Q4_K_S, PD_TYPE_Q4_K}, {"Q5_K_M", FT_Q5_K_M, PD_TYPE_Q5_K},
    {"Q5_K_S", FT_Q5_K_S, PD_TYPE_Q5_K}, {"Q3_K_S", FT_Q3_K_S, PD_TYPE_Q3_K}, {"Q3_K_M", FT_Q3_K_M, PD_TYPE_Q3_K},
    {"Q3_K_L", FT_Q3_K_L, PD_TYPE_Q3_K}, {"Q2_K", FT_Q2_K, PD_TYPE_Q2_K},     {"Q2_K_S", FT_Q2_K_S, PD_TYPE_Q2_K},
    {"Q6_K", FT_Q6_K, PD_TYPE_Q6_K},     {"Q8_0", FT_Q8_0, PD_TYPE_Q8_0},     {"Q4_0", FT_Q4_0, PD_TYPE_Q4_0},
    {"Q4_1", FT_Q4_1, PD_TYPE_Q4_1},     {"Q5_0", FT_Q5_0, PD_TYPE_Q5_0},     {"Q5_1", FT_Q5_1, PD_TYPE_Q5_1},
    {"IQ4_NL", FT_IQ4_NL, PD_TYPE_IQ4_NL}, {"IQ4_XS", FT_IQ4_XS, PD_TYPE_IQ4_XS}, {"F16", FT_F16, PD_TYPE_F16},
    {"BF16", FT_BF16, PD_TYPE_BF16},     {"F32", FT_F32, PD_TYPE_F32},
    /* llama-quantize's short names for the _M mixes (listed after them, so names map back to _M) */
    {"Q3_K", FT_Q3_K_M, PD_TYPE_Q3_K},   {"Q4_K", FT_Q4_K_M, PD_TYPE_Q4_K},   {"Q5_K", FT_Q5_K_M, PD_TYPE_Q5_K},
};
#define N_FTYPES ((int)(sizeof ftypes / sizeof ftypes[0]))

int pd_gguf_ftype_from_name(const char *name, pd_type *base) {
    for (int i = 0; name && i < N_FTYPES; i++)
        if (!strcasecmp(name, ftypes[i].name)) {
            if (base) *base = ftypes[i].base;
            return ftypes[i].ftype;
        }
    return -1;
}

const char *pd_gguf_ftype_name(int ftype) {
    for (int i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].name;
    return NULL;
}

static pd_type ftype_base(int ftype) {
    for (int i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype) return ftypes[i].base;
    return PD_TYPE_COUNT;
}

/* ---------- which tensors convert ---------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int big_dims(const pd_gguf_tensor *t) {
    int big = 0; /* dims larger than 1 */
    for (int d = 0; d < t->n_dims; d++) big += t->ne[d] > 1;
    return big;
}

static bool float_type(pd_type t) { return t == PD_TYPE_F32 || t == PD_TYPE_F16 || t == PD_TYPE_BF16; }

/* A weight matrix we may convert: stored as a float type, named *weight, not a norm. */
static bool quantisable(const pd_gguf_tensor *t) {
    if (!float_type(t->type)) return false;
    if (!ends_with(t->name, "weight") || strstr(t->name, "_norm") || strstr(t->name, "rope_")) return false;
    if (strstr(t->name, "ffn_gate_inp.weight")) return false; /* expert router */
    return big_dims(t) >= 2;
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

/* ---------- the mix ---------- */

typedef struct {
    int ftype;          /* -1: one plain type for every convertible matrix (pd_gguf_quantize) */
    pd_type base;
    bool pure, tied;
    int n_gqa, n_layer; /* n_head / n_head_kv; block_count */
    int n_attn_v, i_attn_v, i_ffn_down;
} mix_state;

static bool more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static bool is_attn_v(const char *name) {
    return strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight") || strstr(name, "attn_kv_b.weight");
}

static pd_type mix_type(mix_state *m, const pd_gguf_tensor *t) {
    const char *name = t->name;
    int ft = m->ftype;
    pd_type ty = m->base;
    bool output = !strcmp(name, "output.weight"), embd = !strcmp(name, "token_embd.weight");
    if (output || (m->tied && embd)) {
        if (t->ne[0] % pd_type_block_elems(m->base)) ty = PD_TYPE_Q8_0;
        else if (m->base != PD_TYPE_Q8_0) ty = PD_TYPE_Q6_K;
    } else if (embd) {
        /* the base type */
    } else if (is_attn_v(name)) {
        int i = m->i_attn_v++, n = m->n_attn_v;
        if (ft == FT_Q2_K) ty = m->n_gqa >= 4 ? PD_TYPE_Q4_K : PD_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S && m->n_gqa >= 4) ty = PD_TYPE_Q4_K;
        else if (ft == FT_Q3_K_M) ty = i < 2 ? PD_TYPE_Q5_K : PD_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) ty = PD_TYPE_Q5_K;
        else if ((ft == FT_IQ4_NL || ft == FT_IQ4_XS) && m->n_gqa >= 4) ty = PD_TYPE_Q5_K;
        else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && more_bits(i, n)) ty = PD_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && i < 4) ty = PD_TYPE_Q5_K;
    } else if (strstr(name, "ffn_down")) {
        int i = m->i_ffn_down++, n = m->n_layer;
        if (ft == FT_Q2_K) ty = PD_TYPE_Q3_K;
        else if (ft == FT_Q2_K_S) { if (i < n / 8) ty = PD_TYPE_Q4_K; }
        else if (ft == FT_Q3_K_M) ty = i < n / 16 ? PD_TYPE_Q5_K : PD_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) ty = PD_TYPE_Q5_K;
        else if (ft == FT_Q4_K_M) { if (more_bits(i, n)) ty = PD_TYPE_Q6_K; }
        else if (i < n / 8 && (ft == FT_IQ4_NL || ft == FT_IQ4_XS)) ty = PD_TYPE_Q5_K;
        else if (ft == FT_Q5_K_M && more_bits(i, n)) ty = PD_TYPE_Q6_K;
        else if (ft == FT_Q4_K_S && i < n / 8) ty = PD_TYPE_Q5_K;
    } else if (strstr(name, "attn_output.weight")) {
        if (ft == FT_Q2_K) ty = PD_TYPE_Q3_K;
        else if (ft == FT_Q3_K_M) ty = PD_TYPE_Q4_K;
        else if (ft == FT_Q3_K_L) ty = PD_TYPE_Q5_K;
    }
    return ty;
}

/* The type a tensor of row length n gets when `ty`'s block does not divide it. */
static pd_type fallback(pd_type ty, int64_t n, bool *fell) {
    *fell = false;
    if (n % pd_type_block_elems(ty) == 0) return ty;
    *fell = true;
    switch (ty) {
    case PD_TYPE_IQ4_XS: ty = PD_TYPE_IQ4_NL; break;
    case PD_TYPE_Q2_K: case PD_TYPE_Q3_K: ty = PD_TYPE_Q4_0; break;
    case PD_TYPE_Q4_K: ty = PD_TYPE_Q5_0; break;
    case PD_TYPE_Q5_K: ty = PD_TYPE_Q5_1; break;
    case PD_TYPE_Q6_K: ty = PD_TYPE_Q8_0; break;
    default: *fell = false; return PD_TYPE_COUNT; /* no fallback defined: the tensor keeps its type */
    }
    return n % pd_type_block_elems(ty) ? PD_TYPE_F16 : ty;
}

/* Target type of tensor t (t->type when it is copied unchanged). */
static pd_type target(mix_state *m, const pd_gguf_tensor *t, bool *fell) {
    *fell = false;
    if (!quantisable(t)) return t->type;
    if (m->ftype < 0) return t->ne[0] % pd_type_block_elems(m->base) ? t->type : m->base;
    if (float_type(m->base)) return m->base;
    pd_type ty = m->pure ? m->base : mix_type(m, t);
    ty = fallback(ty, t->ne[0], fell);
    return ty == PD_TYPE_COUNT ? t->type : ty;
}

static int kv_int(const pd_gguf *g, const char *arch, size_t alen, const char *key) {
    char k[160];
    snprintf(k, sizeof k, "%.*s.%s", (int)alen, arch, key);
    uint32_t v = 0;
    return pd_gguf_get_u32(g, k, &v) && v <= 1u << 20 ? (int)v : 0;
}

static void mix_init(mix_state *m, const pd_gguf *src, int ftype, pd_type base, bool pure) {
    memset(m, 0, sizeof *m);
    m->ftype = ftype;
    m->base = base;
    m->pure = pure;
    m->tied = pd_gguf_find_tensor(src, "output.weight") == NULL;
    for (int64_t i = 0; i < pd_gguf_n_tensors(src); i++) m->n_attn_v += is_attn_v(pd_gguf_tensor_at(src, i)->name) != 0;
    const char *arch = "";
    size_t alen = 0;
    pd_gguf_get_str(src, "general.architecture", &arch, &alen);
    int nh = kv_int(src, arch, alen, "attention.head_count"), nkv = kv_int(src, arch, alen, "attention.head_count_kv");
    m->n_gqa = nh > 0 && nkv > 0 ? nh / nkv : 1;
    m->n_layer = kv_int(src, arch, alen, "block_count");
}

/* ---------- conversion ---------- */

static pd_status quantize_with(const pd_gguf *src, pd_gguf_writer *w, mix_state *m, int ftype_label,
                               pd_quantize_stats *stats) {
    PD_TRY(refuse_non_model(src));
    pd_quantize_stats st;
    memset(&st, 0, sizeof st);
    PD_TRY(pd_gguf_copy_kvs(w, src, NULL));
    float *row = NULL;
    void *out = NULL;
    pd_status rc = PD_OK;
    for (int64_t i = 0; i < pd_gguf_n_tensors(src) && rc == PD_OK; i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(src, i);
        st.bytes_in += t->nbytes;
        bool fell;
        pd_type type = target(m, t, &fell);
        if (type == t->type) {
            rc = pd_gguf_add_tensor_ref(w, t->name, t->type, t->n_dims, t->ne, t->data);
            st.n_kept++;
            st.bytes_out += t->nbytes;
            continue;
        }
        st.n_fallback += fell;
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
        st.n_to[type]++;
        st.bytes_out += total;
    }
    free(row);
    free(out);
    /* Label the result only when something was converted; otherwise the source's labels stay true. */
    if (rc == PD_OK && st.n_converted > 0) rc = pd_gguf_set_u32(w, "general.file_type", (uint32_t)ftype_label);
    if (rc == PD_OK && st.n_converted > 0) rc = pd_gguf_set_u32(w, "general.quantization_version", 2);
    if (stats) *stats = st;
    return rc;
}

pd_status pd_gguf_quantize_to_writer(const pd_gguf *src, pd_gguf_writer *w, pd_type type, pd_quantize_stats *stats) {
    if (!src || !w) return pd_fail(PD_ERR_ARG, "pd_gguf_quantize: NULL argument");
    int ftype = pd_gguf_ftype_of(type);
    if (ftype < 0)
        return pd_fail(PD_ERR_UNSUPPORTED,
                       "quantize: target type %s is not supported (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, "
                       "q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs)",
                       pd_type_name(type));
    mix_state m;
    mix_init(&m, src, -1, type, true);
    return quantize_with(src, w, &m, ftype, stats);
}

pd_status pd_gguf_quantize_ftype_to_writer(const pd_gguf *src, pd_gguf_writer *w, int ftype, bool pure,
                                           pd_quantize_stats *stats) {
    if (!src || !w) return pd_fail(PD_ERR_ARG, "pd_gguf_quantize: NULL argument");
    pd_type base = ftype_base(ftype);
    if (base == PD_TYPE_COUNT) return pd_fail(PD_ERR_UNSUPPORTED, "quantize: file type %d is not supported", ftype);
    mix_state m;
    mix_init(&m, src, ftype, base, pure);
    return quantize_with(src, w, &m, ftype, stats);
}

/* why no tensor of src converts to type (for the "nothing to convert" error) */
static pd_status nothing_to_convert(const pd_gguf *src, pd_type type) {
    int64_t same = 0, quant = 0, misfit = 0;
    for (int64_t i = 0; i < pd_gguf_n_tensors(src); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(src, i);
        if (!ends_with(t->name, "weight") || strstr(t->name, "_norm") || big_dims(t) < 2) continue;
        if (t->type == type) same++;
        else if (!float_type(t->type)) quant++;
        else if (t->ne[0] % pd_type_block_elems(type)) misfit++;
    }
    return pd_fail(PD_ERR_ARG, "nothing to convert to %s (weight matrices: %lld already %s, %lld already "
                               "quantised to another type, %lld with rows not a multiple of %s's block of %lld); "
                               "no file written",
                   pd_type_name(type), (long long)same, pd_type_name(type), (long long)quant, (long long)misfit,
                   pd_type_name(type), (long long)pd_type_block_elems(type));
}

static pd_status write_result(const pd_gguf *src, const char *out_path, pd_type type, int ftype, bool pure,
                              pd_quantize_stats *stats) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (!w) return PD_ERR_NOMEM;
    pd_quantize_stats qs;
    memset(&qs, 0, sizeof qs);
    pd_status st = ftype < 0 ? pd_gguf_quantize_to_writer(src, w, type, &qs)
                             : pd_gguf_quantize_ftype_to_writer(src, w, ftype, pure, &qs);
    if (stats) *stats = qs;
    if (st == PD_OK && qs.n_converted == 0) st = nothing_to_convert(src, type);
    if (st == PD_OK) st = pd_gguf_write(w, out_path);
    pd_gguf_writer_free(w);
    return st;
}

pd_status pd_gguf_quantize(const pd_gguf *src, const char *out_path, pd_type type, pd_quantize_stats *stats) {
    return write_result(src, out_path, type, -1, true, stats);
}

pd_status pd_gguf_quantize_ftype(const pd_gguf *src, const char *out_path, int ftype, bool pure, pd_quantize_stats *stats) {
    pd_type base = ftype_base(ftype);
    if (base == PD_TYPE_COUNT) return pd_fail(PD_ERR_UNSUPPORTED, "quantize: file type %d is not supported", ftype);
    return write_result(src, out_path, base, ftype, pure, stats);
}
