/* model/model.c — loading a decoder-only transformer: the config from GGUF `<arch>.*` metadata, and
 * every weight tensor bound by its llama.cpp name with its shape checked against that config.
 *
 * Supported: llama (rope NORM; Llama-3.1 `rope_freqs`), qwen2 (rope NEOX, q/k/v biases), qwen3 (rope
 * NEOX, per-head q/k RMSNorm, head_dim from key_length), phi3 (rope NEOX, fused attn_qkv and
 * gate|up ffn_up, partial rotary, short/long rope factors, attn_factor). Any arch may store q/k/v
 * fused or separate and gate/up fused or separate; the forward pass (forward.c) handles both.
 * Tensors point into the GGUF mapping, which the model owns; nothing is copied, except by
 * pd_model_repack (inference commands): every matmul-only weight moves into one model-owned buffer on
 * huge pages (decode reads all of it per token; on the mapping's 4 KiB pages it missed the TLB), the
 * types with an 8-row layout rearranged into it (kern/repack.c), the others copied as they are; the
 * mapped originals' pages are released, so memory does not double. */
#include "ponder/model.h"
#include "ponder/alloc.h"
#include "ponder/llama2c.h"
#include "ponder/gguf.h"
#include "ponder/kern.h"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <math.h>

static const struct { const char *name; pd_arch arch; } arch_names[] = {
    {"llama", PD_ARCH_LLAMA}, {"qwen2", PD_ARCH_QWEN2}, {"qwen3", PD_ARCH_QWEN3}, {"phi3", PD_ARCH_PHI3},
};

/* ---- metadata helpers: "<arch>.<suffix>" keys ---- */

static bool has_key(const pd_gguf *g, const char *key) { return pd_gguf_find_key(g, key) >= 0; }

static pd_status get_int(const pd_gguf *g, const char *arch, const char *suffix, bool required, int64_t dflt,
                         int64_t lo, int64_t hi, int *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v = dflt;
    if (has_key(g, key)) {
        if (!pd_gguf_get_i64(g, key, &v)) return pd_fail_ctx(PD_ERR_FORMAT, "%s", pd_gguf_path(g));
    } else if (required) {
        return pd_fail(PD_ERR_FORMAT, "%s: required key '%s' is missing", pd_gguf_path(g), key);
    }
    if (v < lo || v > hi)
        return pd_fail(PD_ERR_FORMAT, "%s: key '%s' = %lld is out of range [%lld, %lld]", pd_gguf_path(g), key,
                       (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return PD_OK;
}

static pd_status get_float(const pd_gguf *g, const char *arch, const char *suffix, float dflt, float *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    *out = dflt;
    if (has_key(g, key) && !pd_gguf_get_f32(g, key, out)) return pd_fail_ctx(PD_ERR_FORMAT, "%s", pd_gguf_path(g));
    if (!isfinite(*out)) return pd_fail(PD_ERR_FORMAT, "%s: key '%s' is not finite", pd_gguf_path(g), key);
    return PD_OK;
}

static pd_status parse_config(const pd_gguf *g, pd_model_config *c) {
    const char *path = pd_gguf_path(g);
    const char *s;
    size_t len;
    memset(c, 0, sizeof *c);
    if (!pd_gguf_get_str(g, "general.architecture", &s, &len)) return pd_fail_ctx(PD_ERR_FORMAT, "%s", path);
    if (len >= sizeof c->arch_name)
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: architecture name of %zu bytes is not supported", path, len);
    memcpy(c->arch_name, s, len);
    c->arch_name[len] = 0;
    bool known = false;
    for (size_t i = 0; i < sizeof arch_names / sizeof arch_names[0]; i++)
        if (!strcmp(c->arch_name, arch_names[i].name)) { c->arch = arch_names[i].arch; known = true; }
    if (!known)
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (llama, qwen2, qwen3, phi3)", path,
                       c->arch_name);
    if (has_key(g, "general.name") && pd_gguf_get_str(g, "general.name", &s, &len)) {
        if (len >= sizeof c->name) len = sizeof c->name - 1;
        memcpy(c->name, s, len);
        c->name[len] = 0;
    }
    const char *a = c->arch_name;
    const int64_t big = 1 << 24;
    PD_TRY(get_int(g, a, "embedding_length", true, 0, 1, big, &c->n_embd));
    PD_TRY(get_int(g, a, "block_count", true, 0, 1, 4096, &c->n_layer));
    PD_TRY(get_int(g, a, "feed_forward_length", true, 0, 1, big, &c->n_ff));
    PD_TRY(get_int(g, a, "attention.head_count", true, 0, 1, 65536, &c->n_head));
    PD_TRY(get_int(g, a, "attention.head_count_kv", false, c->n_head, 1, c->n_head, &c->n_head_kv));
    if (c->n_head % c->n_head_kv)
        return pd_fail(PD_ERR_FORMAT, "%s: %s.attention.head_count %d is not a multiple of head_count_kv %d", path, a,
                       c->n_head, c->n_head_kv);
    PD_TRY(get_int(g, a, "context_length", false, 2048, 1, 1 << 30, &c->n_ctx_train));
    if (c->n_embd % c->n_head) {
        char key[160];
        snprintf(key, sizeof key, "%s.attention.key_length", a);
        if (!has_key(g, key))
            return pd_fail(PD_ERR_FORMAT, "%s: n_embd %d is not a multiple of head_count %d and '%s' is missing", path,
                           c->n_embd, c->n_head, key);
    }
    PD_TRY(get_int(g, a, "attention.key_length", false, c->n_embd / c->n_head, 1, 65536, &c->head_dim));
    int vlen;
    PD_TRY(get_int(g, a, "attention.value_length", false, c->head_dim, 1, 65536, &vlen));
    if (vlen != c->head_dim)
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: %s.attention.value_length %d != key_length %d is not supported", path, a,
                       vlen, c->head_dim);
    {
        char key[160];
        snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
        if (!has_key(g, key))
            return pd_fail(PD_ERR_FORMAT, "%s: required key '%s' is missing", path, key);
        PD_TRY(get_float(g, a, "attention.layer_norm_rms_epsilon", 1e-5f, &c->norm_eps));
        if (!(c->norm_eps > 0 && c->norm_eps < 1))
            return pd_fail(PD_ERR_FORMAT, "%s: key '%s' = %g is out of range (0, 1)", path, key, c->norm_eps);
    }
    /* rope */
    c->rope.mode = c->arch == PD_ARCH_LLAMA ? PD_ROPE_NORM : PD_ROPE_NEOX;
    PD_TRY(get_int(g, a, "rope.dimension_count", false, c->head_dim, 2, c->head_dim, &c->rope.n_rot));
    if (c->rope.n_rot % 2)
        return pd_fail(PD_ERR_FORMAT, "%s: %s.rope.dimension_count %d is odd", path, a, c->rope.n_rot);
    PD_TRY(get_float(g, a, "rope.freq_base", 10000.0f, &c->rope.base));
    if (!(c->rope.base > 1)) return pd_fail(PD_ERR_FORMAT, "%s: %s.rope.freq_base %g must be > 1", path, a, c->rope.base);
    c->rope.freq_scale = 1.0f;
    float factor = 0;
    PD_TRY(get_float(g, a, "rope.scale_linear", 0.0f, &factor)); /* older key */
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (has_key(g, key)) {
        if (!pd_gguf_get_str(g, key, &s, &len)) return pd_fail_ctx(PD_ERR_FORMAT, "%s", path);
        if (len == 6 && !memcmp(s, "linear", 6)) {
            PD_TRY(get_float(g, a, "rope.scaling.factor", 0.0f, &factor));
        } else if (!(len == 4 && !memcmp(s, "none", 4))) {
            return pd_fail(PD_ERR_UNSUPPORTED, "%s: %s = '%.*s' is not supported (none, linear)", path, key, (int)len, s);
        }
    }
    if (factor != 0 && factor != 1) {
        if (!(factor > 0)) return pd_fail(PD_ERR_FORMAT, "%s: rope scaling factor %g must be > 0", path, factor);
        c->rope.freq_scale = 1.0f / factor;
    }
    PD_TRY(get_float(g, a, "rope.scaling.attn_factor", 1.0f, &c->rope.attn_factor));
    PD_TRY(get_int(g, a, "rope.scaling.original_context_length", false, 0, 0, 1 << 30, &c->rope_orig_ctx));
    c->rope.factors = NULL;
    return PD_OK;
}

/* ---- tensors ---- */

static const char *shape_str(const int64_t *ne, int n, char *buf, size_t cap) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < n && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)ne[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
    return buf;
}

enum { T_MATRIX, T_VECTOR };

/* Bind tensor `name` into *out, checking shape [ne0] (vector, F32 only) or [ne0, ne1] (matrix, any
 * storage type). Absent optional tensors leave *out zeroed (data NULL). */
static pd_status bind(const pd_gguf *g, const char *name, bool required, int kind, int64_t ne0, int64_t ne1,
                      pd_tensor *out) {
    memset(out, 0, sizeof *out);
    const pd_gguf_tensor *gt = pd_gguf_find_tensor(g, name);
    if (!gt) {
        if (required) return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' is missing", pd_gguf_path(g), name);
        return PD_OK;
    }
    int64_t want[4] = {ne0, kind == T_MATRIX ? ne1 : 1, 1, 1};
    int nd = kind == T_MATRIX ? 2 : 1;
    if (gt->ne[0] != want[0] || gt->ne[1] != want[1] || gt->ne[2] != 1 || gt->ne[3] != 1) {
        char b1[96], b2[96];
        int found_nd = gt->n_dims > 0 && gt->n_dims <= 4 ? gt->n_dims : 4;
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': expected shape %s, found %s", pd_gguf_path(g), name,
                       shape_str(want, nd, b1, sizeof b1), shape_str(gt->ne, found_nd, b2, sizeof b2));
    }
    if (kind == T_VECTOR && gt->type != PD_TYPE_F32)
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: tensor '%s': type %s is not supported for a 1-D tensor (f32 only)",
                       pd_gguf_path(g), name, pd_type_name(gt->type));
    if (kind == T_MATRIX) {
        pd_type t = gt->type;
        if (!pd_type_is_storage((int)t))
            return pd_fail(PD_ERR_UNSUPPORTED, "%s: tensor '%s': type %s (%d) is not supported", pd_gguf_path(g), name,
                           pd_type_valid(t) ? pd_type_name(t) : "unknown", (int)t);
        if (gt->ne[0] % pd_type_block_elems(t))
            return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': row length %lld is not a multiple of the %s block size",
                           pd_gguf_path(g), name, (long long)gt->ne[0], pd_type_name(t));
    }
    pd_gguf_tensor_view(gt, out);
    out->name = gt->name;
    return PD_OK;
}

static pd_status bind_layer(const pd_gguf *g, const pd_model_config *c, int il, pd_layer *L) {
    char n[96];
    const int64_t E = c->n_embd, hd = c->head_dim, nq = (int64_t)c->n_head * hd, nkv = (int64_t)c->n_head_kv * hd;
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, il), n)
    PD_TRY(bind(g, NAME("attn_norm.weight"), true, T_VECTOR, E, 0, &L->attn_norm));
    PD_TRY(bind(g, NAME("attn_qkv.weight"), false, T_MATRIX, E, nq + 2 * nkv, &L->wqkv));
    bool fused = L->wqkv.data != NULL;
    PD_TRY(bind(g, NAME("attn_q.weight"), !fused, T_MATRIX, E, nq, &L->wq));
    PD_TRY(bind(g, NAME("attn_k.weight"), !fused, T_MATRIX, E, nkv, &L->wk));
    PD_TRY(bind(g, NAME("attn_v.weight"), !fused, T_MATRIX, E, nkv, &L->wv));
    if (fused && (L->wq.data || L->wk.data || L->wv.data))
        return pd_fail(PD_ERR_FORMAT, "%s: layer %d has both attn_qkv and separate attn_q/k/v", pd_gguf_path(g), il);
    bool bias = c->arch == PD_ARCH_QWEN2;
    PD_TRY(bind(g, NAME("attn_q.bias"), bias, T_VECTOR, nq, 0, &L->bq));
    PD_TRY(bind(g, NAME("attn_k.bias"), bias, T_VECTOR, nkv, 0, &L->bk));
    PD_TRY(bind(g, NAME("attn_v.bias"), bias, T_VECTOR, nkv, 0, &L->bv));
    if (fused && (L->bq.data || L->bk.data || L->bv.data))
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: layer %d: q/k/v biases with a fused attn_qkv are not supported",
                       pd_gguf_path(g), il);
    bool qkn = c->arch == PD_ARCH_QWEN3;
    PD_TRY(bind(g, NAME("attn_q_norm.weight"), qkn, T_VECTOR, hd, 0, &L->q_norm));
    PD_TRY(bind(g, NAME("attn_k_norm.weight"), qkn, T_VECTOR, hd, 0, &L->k_norm));
    if (!L->q_norm.data != !L->k_norm.data)
        return pd_fail(PD_ERR_FORMAT, "%s: layer %d has only one of attn_q_norm / attn_k_norm", pd_gguf_path(g), il);
    PD_TRY(bind(g, NAME("attn_output.weight"), true, T_MATRIX, nq, E, &L->wo));
    PD_TRY(bind(g, NAME("ffn_norm.weight"), true, T_VECTOR, E, 0, &L->ffn_norm));
    bool has_gate = pd_gguf_find_tensor(g, NAME("ffn_gate.weight")) != NULL;
    if (has_gate) {
        PD_TRY(bind(g, NAME("ffn_gate.weight"), true, T_MATRIX, E, c->n_ff, &L->w_gate));
        PD_TRY(bind(g, NAME("ffn_up.weight"), true, T_MATRIX, E, c->n_ff, &L->w_up));
    } else {
        /* fused gate|up (phi3): 2·n_ff rows, gate first */
        PD_TRY(bind(g, NAME("ffn_up.weight"), true, T_MATRIX, E, 2 * (int64_t)c->n_ff, &L->w_gate_up));
    }
    PD_TRY(bind(g, NAME("ffn_down.weight"), true, T_MATRIX, c->n_ff, E, &L->w_down));
#undef NAME
    return PD_OK;
}

static pd_status bind_all(pd_model *m) {
    pd_gguf *g = m->gguf;
    pd_model_config *c = &m->cfg;
    const pd_gguf_tensor *te = pd_gguf_find_tensor(g, "token_embd.weight");
    if (!te) return pd_fail(PD_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing", pd_gguf_path(g));
    if (te->ne[1] < 1 || te->ne[1] > (1 << 28))
        return pd_fail(PD_ERR_FORMAT, "%s: tensor 'token_embd.weight': vocabulary size %lld is out of range",
                       pd_gguf_path(g), (long long)te->ne[1]);
    c->n_vocab = (int)te->ne[1];
    PD_TRY(bind(g, "token_embd.weight", true, T_MATRIX, c->n_embd, c->n_vocab, &m->tok_embd));
    PD_TRY(bind(g, "output_norm.weight", true, T_VECTOR, c->n_embd, 0, &m->output_norm));
    PD_TRY(bind(g, "output.weight", false, T_MATRIX, c->n_embd, c->n_vocab, &m->output));
    c->tied_output = m->output.data == NULL;
    if (c->tied_output) m->output = m->tok_embd;
    const int64_t n_pairs = c->rope.n_rot / 2;
    if (c->arch == PD_ARCH_PHI3 || pd_gguf_find_tensor(g, "rope_factors_short.weight") ||
        pd_gguf_find_tensor(g, "rope_factors_long.weight")) {
        PD_TRY(bind(g, "rope_factors_short.weight", false, T_VECTOR, n_pairs, 0, &m->rope_freqs));
        PD_TRY(bind(g, "rope_factors_long.weight", false, T_VECTOR, n_pairs, 0, &m->rope_long));
    }
    if (!m->rope_freqs.data) PD_TRY(bind(g, "rope_freqs.weight", false, T_VECTOR, n_pairs, 0, &m->rope_freqs));
    for (int s = 0; s < 2; s++) {
        const pd_tensor *f = s ? &m->rope_long : &m->rope_freqs;
        const float *v = f->data;
        for (int64_t i = 0; v && i < n_pairs; i++)
            if (!(v[i] > 0) || !isfinite(v[i]))
                return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s': element %lld = %g is not a positive frequency factor",
                               pd_gguf_path(g), f->name, (long long)i, v[i]);
    }
    c->rope.factors = m->rope_freqs.data;
    m->layers = pd_calloc((size_t)c->n_layer, sizeof *m->layers);
    if (!m->layers) return PD_ERR_NOMEM;
    for (int il = 0; il < c->n_layer; il++) PD_TRY(bind_layer(g, c, il, &m->layers[il]));
    const pd_layer *L0 = &m->layers[0];
    c->qkv_bias = L0->bq.data != NULL;
    c->qk_norm = L0->q_norm.data != NULL;
    return PD_OK;
}

pd_model *pd_model_from_gguf(pd_gguf *g) {
    if (!g) {
        pd_fail(PD_ERR_ARG, "pd_model_from_gguf: NULL file");
        return NULL;
    }
    pd_model *m = pd_calloc(1, sizeof *m);
    if (!m) {
        pd_gguf_close(g);
        return NULL;
    }
    m->gguf = g;
    if (parse_config(g, &m->cfg) != PD_OK || bind_all(m) != PD_OK) {
        pd_model_free(m);
        return NULL;
    }
    /* "none" / "no_vocab" (llama.cpp's names for a file without a vocabulary, e.g. `ponder bench
     * --synthetic --keep`): no tokenizer, as when the key is absent */
    const char *tm = NULL;
    size_t tl = 0;
    bool no_vocab = pd_gguf_get_str(g, "tokenizer.ggml.model", &tm, &tl) &&
                    ((tl == 4 && !memcmp(tm, "none", 4)) || (tl == 8 && !memcmp(tm, "no_vocab", 8)));
    if (has_key(g, "tokenizer.ggml.model") && !no_vocab) {
        m->tok = pd_tokenizer_from_gguf(g);
        if (!m->tok) {
            pd_fail_ctx(PD_ERR_FORMAT, "%s: tokenizer", pd_gguf_path(g));
            pd_model_free(m);
            return NULL;
        }
    }
    return m;
}

pd_model *pd_model_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pd_fail(PD_ERR_IO, "%s: cannot open", path);
        return NULL;
    }
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    fclose(f);
    if (got == 4 && !memcmp(magic, "GGUF", 4)) {
        pd_gguf *g = pd_gguf_open(path);
        return g ? pd_model_from_gguf(g) : NULL;
    }
    /* Not GGUF: a llama2.c checkpoint, converted to GGUF in memory (a copy of the weights the
     * returned reader owns). */
    pd_llama2c_config lc;
    if (pd_llama2c_read_config(path, &lc) != PD_OK) {
        pd_fail_ctx(PD_ERR_FORMAT, "%s: not GGUF (no 'GGUF' magic at offset 0) and not a llama2.c checkpoint", path);
        return NULL;
    }
    pd_gguf_writer *w = pd_gguf_writer_new();
    void *data = NULL;
    size_t size = 0;
    pd_status st = w ? pd_llama2c_to_gguf(path, w) : PD_ERR_NOMEM;
    if (st == PD_OK) st = pd_gguf_write_buffer(w, &data, &size);
    pd_gguf_writer_free(w);
    if (st != PD_OK) return NULL;
    pd_gguf *g = pd_gguf_open_owned_memory(data, size, path);
    return g ? pd_model_from_gguf(g) : NULL;
}

/* The matmul-only weight tensors of m (NULL-data ones included). */
static int matmul_weights(pd_model *m, pd_tensor **out, int cap) {
    int n = 0;
    /* a tied embedding too: its get_rows reads rows of either layout (pd_tensor_row_f32) */
    if (n < cap) out[n++] = m->cfg.tied_output ? &m->tok_embd : &m->output;
    for (int il = 0; il < m->cfg.n_layer; il++) {
        pd_layer *L = &m->layers[il];
        pd_tensor *ts[] = {&L->wq, &L->wk, &L->wv, &L->wqkv, &L->wo, &L->w_gate, &L->w_up, &L->w_gate_up, &L->w_down};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0] && n < cap; i++) out[n++] = ts[i];
    }
    return n;
}

/* Whether pd_model_repack moves t into its buffer: a tensor with an 8-row layout, or one read from the
 * file mapping (a llama2.c model's weights are already in memory the model owns: copying them would
 * double it). */
static bool repack_moves(const pd_model *m, const pd_tensor *t) {
    if (!t->data) return false;
    return pd_repack_supported(t) || pd_gguf_maps(m->gguf, t->data, pd_tensor_nbytes(t));
}

pd_status pd_model_repack(pd_model *m) {
    if (!m) return pd_fail(PD_ERR_ARG, "repack: NULL model");
    if (m->repacked || m->linear_hook) return PD_OK;
    int cap = 1 + 9 * m->cfg.n_layer;
    pd_tensor **ts = pd_malloc(sizeof *ts * (size_t)cap);
    if (!ts) return pd_fail_ctx(PD_ERR_NOMEM, "repack");
    int n = matmul_weights(m, ts, cap);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        if (repack_moves(m, ts[i])) total += (pd_tensor_nbytes(ts[i]) + 63) / 64 * 64;
    if (!total) {
        free(ts);
        return PD_OK;
    }
    char *buf = pd_alloc_huge(total);
    if (!buf) {
        free(ts);
        return pd_fail_ctx(PD_ERR_NOMEM, "repack: %zu bytes of weights", total);
    }
    size_t off = 0;
    pd_status st = PD_OK;
    for (int i = 0; i < n && st == PD_OK; i++) {
        pd_tensor *t = ts[i];
        if (!repack_moves(m, t)) continue;
        const void *orig = t->data;
        size_t nb = pd_tensor_nbytes(t);
        if (pd_repack_supported(t)) {
            st = pd_repack_r8(t, buf + off);
        } else {
            memcpy(buf + off, orig, nb);
            t->data = buf + off;
        }
        if (st == PD_OK) pd_gguf_release(m->gguf, orig, nb);
        off += (nb + 63) / 64 * 64;
    }
    free(ts);
    if (m->cfg.tied_output) m->output = m->tok_embd;
    m->repacked = buf; /* tensors repacked before a failure point into it */
    return st;
}

void pd_model_free(pd_model *m) {
    if (!m) return;
    pd_aligned_free(m->repacked);
    pd_tokenizer_free(m->tok);
    free(m->layers);
    free(m->owned);
    pd_gguf_close(m->gguf);
    free(m);
}

int64_t pd_model_n_params(const pd_model *m) {
    int64_t n = pd_tensor_nelements(&m->tok_embd) + pd_tensor_nelements(&m->output_norm);
    if (!m->cfg.tied_output) n += pd_tensor_nelements(&m->output);
    for (int il = 0; il < m->cfg.n_layer; il++) {
        const pd_layer *L = &m->layers[il];
        const pd_tensor *ts[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wqkv, &L->bq, &L->bk, &L->bv,
                                 &L->q_norm, &L->k_norm, &L->wo, &L->ffn_norm, &L->w_gate, &L->w_up,
                                 &L->w_gate_up, &L->w_down};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            if (ts[i]->data) n += pd_tensor_nelements(ts[i]);
    }
    return n;
}
