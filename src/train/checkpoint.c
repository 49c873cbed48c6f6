/* train/checkpoint.c — loading any trainable model into the training engine, and training
 * checkpoints as GGUF files that the inference path loads as they are: llama.cpp tensor names and
 * <arch>.* keys, the vocabulary and chat template of the file the model came from (or, for a model
 * trained from scratch, the byte-level vocabulary with ponder's specials and a Qwen3-style
 * template); plus, for resuming, the AdamW moments as opt.m.<name> / opt.v.<name> and
 * ponder.train.* keys (step, rng state, run settings). Loading goes through the inference loader
 * (model/), so the trainer reads a file's config exactly as `ponder run` does. The fmt writer writes
 * atomically (temp file, fsync, rename), so a kill during a save leaves the previous checkpoint intact. */
#include "train_int.h"
#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include "ponder/model.h"
#include "ponder/tok.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Qwen3-style ChatML with thinking: the gen/ chat code recognises the family from these markers. */
static const char chat_template[] =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' }}"
    "{%- if message.role == 'assistant' and message.reasoning_content %}"
    "{{- '<think>\\n' + message.reasoning_content + '\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{{- message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

static pd_status put_config(pd_gguf_writer *w, const pd_tcfg *c, bool name) {
    char k[96];
    const char *a = c->arch;
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", a, suffix), k)
    PD_TRY(pd_gguf_set_str(w, "general.architecture", a));
    if (name) PD_TRY(pd_gguf_set_str(w, "general.name", "ponder-trained"));
    PD_TRY(pd_gguf_set_u32(w, "general.file_type", 0));
    PD_TRY(pd_gguf_set_u32(w, KEY("context_length"), (uint32_t)c->n_ctx));
    PD_TRY(pd_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)c->dim));
    PD_TRY(pd_gguf_set_u32(w, KEY("block_count"), (uint32_t)c->n_layer));
    PD_TRY(pd_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->n_ff));
    PD_TRY(pd_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_head));
    PD_TRY(pd_gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_head_kv));
    PD_TRY(pd_gguf_set_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim));
    PD_TRY(pd_gguf_set_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim));
    PD_TRY(pd_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps));
    PD_TRY(pd_gguf_set_f32(w, KEY("rope.freq_base"), c->rope_base));
    PD_TRY(pd_gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim));
    PD_TRY(pd_gguf_set_u32(w, KEY("vocab_size"), (uint32_t)c->n_vocab));
#undef KEY
    return PD_OK;
}

/* Build the writer for m (weights, vocabulary, chat template; with info: the ponder.train.* keys
 * and, if asked, the optimiser moments). */
static pd_status build_writer(const pd_tmodel *m, const pd_tckpt_info *info, pd_gguf_writer **out) {
    const pd_tcfg *c = &m->cfg;
    *out = NULL;
    if (!m->src && c->n_vocab != PD_TRAIN_VOCAB)
        return pd_fail(PD_ERR_UNSUPPORTED, "train: vocabulary of %d tokens; a model trained from scratch has ponder's "
                                           "byte-level vocabulary (%d)", c->n_vocab, PD_TRAIN_VOCAB);
    if (info && info->with_optimizer && !m->m)
        return pd_fail(PD_ERR_STATE, "train: a frozen base has no optimizer state to save");
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (!w) return PD_ERR_NOMEM;
    pd_status st = PD_OK;
    if (m->src && m->src->gguf) {
        /* the source's metadata (vocabulary, template, names); its weights' type and any earlier
         * training state are replaced below */
        static const char *const skip[] = {"ponder.train.", "ponder.finetune.", "general.file_type",
                                           "general.quantization_version", NULL};
        st = pd_gguf_copy_kvs(w, m->src->gguf, skip);
    }
    if (st == PD_OK) st = put_config(w, c, m->src == NULL);
    if (st == PD_OK && c->rope_factors) { /* the rope.scaling.* keys came with the source's metadata */
        int64_t ne[1] = {c->head_dim / 2};
        st = pd_gguf_add_tensor(w, "rope_freqs.weight", PD_TYPE_F32, 1, ne, c->rope_factors);
    }
    if (st == PD_OK && !m->src) {
        st = pd_tokenizer_write_gguf(m->own_tok, w);
        if (st == PD_OK) st = pd_gguf_set_str(w, "tokenizer.chat_template", chat_template);
    }
    for (int i = 0; i < m->n_tensors && st == PD_OK; i++) {
        const pd_ttensor *t = &m->tensors[i];
        if (pd_tmodel_is_frozen(m, i)) { /* in its stored type, from the source file */
            const pd_tensor *f = &m->frozen[t->kind * c->n_layer + t->layer];
            st = pd_gguf_add_tensor_ref(w, t->name, f->type, t->n_dims, t->ne, f->data);
        } else {
            st = pd_gguf_add_tensor(w, t->name, PD_TYPE_F32, t->n_dims, t->ne, m->params + t->offset);
        }
    }
    if (info && st == PD_OK) {
        st = pd_gguf_set_u64(w, "ponder.train.step", (uint64_t)info->step);
        if (st == PD_OK) st = pd_gguf_set_arr(w, "ponder.train.rng", PD_GGUF_U64, info->rng.s, 4);
        if (st == PD_OK && info->config_json) st = pd_gguf_set_str(w, "ponder.train.config", info->config_json);
        if (info->with_optimizer) {
            char name[80];
            for (int i = 0; i < m->n_tensors && st == PD_OK; i++) {
                const pd_ttensor *t = &m->tensors[i];
                snprintf(name, sizeof name, "opt.m.%s", t->name);
                st = pd_gguf_add_tensor(w, name, PD_TYPE_F32, t->n_dims, t->ne, m->m + t->offset);
                snprintf(name, sizeof name, "opt.v.%s", t->name);
                if (st == PD_OK) st = pd_gguf_add_tensor(w, name, PD_TYPE_F32, t->n_dims, t->ne, m->v + t->offset);
            }
        }
    }
    if (st != PD_OK) { pd_gguf_writer_free(w); return st; }
    *out = w;
    return PD_OK;
}

pd_status pd_tmodel_save(const pd_tmodel *m, const char *path, const pd_tckpt_info *info) {
    pd_gguf_writer *w;
    pd_status st = build_writer(m, info, &w);
    if (st == PD_OK) st = pd_gguf_write(w, path);
    if (st != PD_OK) pd_fail_ctx(st, "saving %s", path);
    pd_gguf_writer_free(w);
    return st;
}

pd_model *pd_tmodel_snapshot(const pd_tmodel *m) {
    pd_gguf_writer *w;
    if (build_writer(m, NULL, &w) != PD_OK) return NULL;
    void *buf = NULL;
    size_t size = 0;
    pd_status st = pd_gguf_write_buffer(w, &buf, &size);
    pd_gguf_writer_free(w);
    if (st != PD_OK) return NULL;
    pd_gguf *g = pd_gguf_open_owned_memory(buf, size, "training snapshot");
    if (!g) return NULL;
    return pd_model_from_gguf(g);
}

/* Copy tensor `name` (any storage type, converted to f32) into dst after checking its shape. */
static pd_status load_tensor(const pd_gguf *g, const char *name, const pd_ttensor *t, float *dst) {
    const pd_gguf_tensor *gt = pd_gguf_find_tensor(g, name);
    if (!gt) return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' is missing", pd_gguf_path(g), name);
    if (gt->ne[0] != t->ne[0] || gt->ne[1] != t->ne[1] || gt->ne[2] != 1 || gt->ne[3] != 1)
        return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", pd_gguf_path(g),
                       name, (long long)gt->ne[0], (long long)gt->ne[1], (long long)t->ne[0], (long long)t->ne[1]);
    size_t rb = pd_row_bytes(gt->type, gt->ne[0]);
    if (!rb) return pd_fail_ctx(PD_ERR_FORMAT, "%s: tensor '%s'", pd_gguf_path(g), name);
    for (int64_t r = 0; r < t->ne[1]; r++) {
        pd_status st = pd_dequantize_row(gt->type, (const char *)gt->data + (size_t)r * rb, dst + r * t->ne[0], t->ne[0]);
        if (st != PD_OK) return pd_fail_ctx(st, "%s: tensor '%s'", pd_gguf_path(g), name);
    }
    return PD_OK;
}

/* The engine's config for a loaded model, or an error saying what the engine cannot represent. */
static pd_status tcfg_of(const pd_model *pm, const char *path, pd_tcfg *c) {
    const pd_model_config *mc = &pm->cfg;
    memset(c, 0, sizeof *c);
    if (pd_tcfg_set_arch(c, mc->arch_name) != PD_OK)
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: architecture '%s' cannot be trained (llama, qwen2, qwen3)", path,
                       mc->arch_name);
    const char *why = NULL;
    if (mc->rope.n_rot != mc->head_dim) why = "partial rotary embedding (rope.dimension_count < head_dim)";
    else if (pm->rope_long.data) why = "context-dependent (long/short) rope factors";
    for (int l = 0; l < mc->n_layer && !why; l++)
        if (pm->layers[l].wqkv.data || pm->layers[l].w_gate_up.data) why = "fused q/k/v or gate/up matrices";
    if (why) return pd_fail(PD_ERR_UNSUPPORTED, "%s: the training engine does not support %s", path, why);
    c->n_vocab = mc->n_vocab;
    c->dim = mc->n_embd;
    c->n_layer = mc->n_layer;
    c->n_head = mc->n_head;
    c->n_head_kv = mc->n_head_kv;
    c->head_dim = mc->head_dim;
    c->n_ff = mc->n_ff;
    c->n_ctx = mc->n_ctx_train;
    c->norm_eps = mc->norm_eps;
    c->rope_base = mc->rope.base;
    c->rope_neox = mc->rope.mode == PD_ROPE_NEOX;
    c->tied = mc->tied_output;
    c->qkv_bias = mc->qkv_bias;
    c->qk_norm = mc->qk_norm;
    c->rope_freq_scale = mc->rope.freq_scale;
    c->rope_attn_factor = mc->rope.attn_factor;
    c->rope_factors = pm->rope_freqs.data; /* F32 [head_dim/2] (checked by the loader) */
    if (pd_tcfg_validate(c) != PD_OK) return pd_fail_ctx(PD_ERR_FORMAT, "%s", path);
    return PD_OK;
}

static bool block_matrix(int kind) {
    return kind == PD_TP_WQ || kind == PD_TP_WK || kind == PD_TP_WV || kind == PD_TP_WO || kind == PD_TP_GATE ||
           kind == PD_TP_UP || kind == PD_TP_DOWN;
}

/* A frozen base keeps its non-F32 block matrices as views of the file (the model's params and grads
 * slices for them are never touched); one scratch buffer holds the one being used, dequantised. */
static pd_status freeze_matrices(pd_tmodel *m, const pd_gguf *g) {
    size_t big = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const pd_ttensor *t = &m->tensors[i];
        const pd_gguf_tensor *gt = block_matrix(t->kind) ? pd_gguf_find_tensor(g, t->name) : NULL;
        if (!gt || gt->type == PD_TYPE_F32) continue;
        if (gt->ne[0] != t->ne[0] || gt->ne[1] != t->ne[1] || gt->ne[2] != 1 || gt->ne[3] != 1 || !pd_row_bytes(gt->type, gt->ne[0]))
            return load_tensor(g, t->name, t, m->params + t->offset); /* the same error a load gives */
        if (!m->frozen && !(m->frozen = pd_calloc((size_t)PD_TP_COUNT * m->cfg.n_layer, sizeof *m->frozen)))
            return PD_ERR_NOMEM;
        pd_gguf_tensor_view(gt, &m->frozen[t->kind * m->cfg.n_layer + t->layer]);
        if (t->n > big) big = t->n;
    }
    if (!m->frozen) return PD_OK;
    if (!(m->frozen_scratch = pd_malloc(sizeof(float) * big))) return PD_ERR_NOMEM;
    m->p.frozen = m->frozen;
    m->p.scratch = m->frozen_scratch;
    return PD_OK;
}

pd_status pd_tmodel_thaw(pd_tmodel *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++) {
        const pd_ttensor *t = &m->tensors[i];
        if (strcmp(t->name, name)) continue;
        if (!pd_tmodel_is_frozen(m, i)) return PD_OK;
        pd_tensor *f = &m->frozen[t->kind * m->cfg.n_layer + t->layer];
        size_t rb = pd_row_bytes(f->type, f->ne[0]);
        for (int64_t r = 0; r < t->ne[1]; r++)
            PD_TRY(pd_dequantize_row(f->type, (const char *)f->data + (size_t)r * rb, m->params + t->offset + r * t->ne[0],
                                     t->ne[0]));
        memset(m->grads + t->offset, 0, t->n * sizeof(float));
        f->data = NULL;
        return PD_OK;
    }
    return pd_fail(PD_ERR_ARG, "train: no tensor '%s'", name);
}

static pd_tmodel *load(const char *path, int B, int T, bool frozen, pd_tckpt_info *info, bool *has_opt) {
    if (info) memset(info, 0, sizeof *info);
    if (has_opt) *has_opt = false;
    pd_model *pm = pd_model_load(path);
    if (!pm) return NULL;
    const pd_gguf *g = pm->gguf;
    pd_tmodel *m = NULL;
    pd_tcfg c;
    const char *s;
    size_t sl;
    if (tcfg_of(pm, path, &c) != PD_OK) goto fail;
    if (!frozen) /* full training keeps f32 masters of weights that dequantise (nearly) losslessly */
        for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
            const pd_gguf_tensor *gt = pd_gguf_tensor_at(g, i);
            if (strncmp(gt->name, "opt.", 4) && gt->type != PD_TYPE_F32 && gt->type != PD_TYPE_F16 &&
                gt->type != PD_TYPE_BF16 && gt->type != PD_TYPE_Q8_0) {
                pd_fail(PD_ERR_UNSUPPORTED, "%s: tensor '%s' is %s; full training takes F32, F16, BF16 or Q8_0 weights "
                                            "(fine-tune a quantised model through an adapter)", path, gt->name,
                        pd_type_name(gt->type));
                goto fail;
            }
        }
    if (T > c.n_ctx) T = c.n_ctx;
    m = pd_tmodel_new_ex(&c, B, T, !frozen);
    if (!m) goto fail;
    m->src = pm;
    pd_tokenizer_free(m->own_tok); /* the file's own vocabulary, even when it is ponder's byte one */
    m->own_tok = NULL;
    m->chat = pd_tchat_of_model(pm);
    if (frozen && freeze_matrices(m, g) != PD_OK) goto fail;
    for (int i = 0; i < m->n_tensors; i++)
        if (!pd_tmodel_is_frozen(m, i) &&
            load_tensor(g, m->tensors[i].name, &m->tensors[i], m->params + m->tensors[i].offset) != PD_OK)
            goto fail;
    if (!frozen && pd_gguf_find_tensor(g, "opt.m.token_embd.weight")) {
        char name[80];
        for (int i = 0; i < m->n_tensors; i++) {
            const pd_ttensor *t = &m->tensors[i];
            snprintf(name, sizeof name, "opt.m.%s", t->name);
            if (load_tensor(g, name, t, m->m + t->offset) != PD_OK) goto fail;
            snprintf(name, sizeof name, "opt.v.%s", t->name);
            if (load_tensor(g, name, t, m->v + t->offset) != PD_OK) goto fail;
        }
        if (has_opt) *has_opt = true;
    }
    if (info) {
        int64_t step = 0;
        if (pd_gguf_find_key(g, "ponder.train.step") >= 0 && !pd_gguf_get_i64(g, "ponder.train.step", &step)) goto fail;
        info->step = step;
        pd_gguf_vtype et;
        uint64_t n;
        if (pd_gguf_find_key(g, "ponder.train.rng") >= 0) {
            if (!pd_gguf_get_arr(g, "ponder.train.rng", &et, &n) || et != PD_GGUF_U64 || n != 4) {
                pd_fail(PD_ERR_FORMAT, "%s: key 'ponder.train.rng' must be 4 u64 values", path);
                goto fail;
            }
            memcpy(info->rng.s, pd_gguf_arr_data(g, "ponder.train.rng"), sizeof info->rng.s);
        }
        if (pd_gguf_find_key(g, "ponder.train.config") >= 0) {
            if (!pd_gguf_get_str(g, "ponder.train.config", &s, &sl)) goto fail;
            char *cj = pd_strndup(s, sl);
            if (!cj) goto fail;
            info->config_json = cj;
        }
    }
    return m;
fail:
    if (info && info->config_json) { free((char *)info->config_json); info->config_json = NULL; }
    if (m) pd_tmodel_free(m); /* frees pm too once it is m->src */
    else pd_model_free(pm);
    return NULL;
}

pd_tmodel *pd_tmodel_load(const char *path, int B, int T, pd_tckpt_info *info, bool *has_opt) {
    return load(path, B, T, false, info, has_opt);
}

pd_tmodel *pd_tmodel_load_frozen(const char *path, int B, int T) { return load(path, B, T, true, NULL, NULL); }
