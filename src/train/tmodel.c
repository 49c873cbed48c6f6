/* train/tmodel.c — the model being trained: configuration, the one parameter allocation (grads and
 * AdamW moments in the same layout), the GGUF tensor table over it, random init, and the f32
 * forward/backward (the code itself is tmodel_tmpl.h, instantiated in train_int.h). The optimiser
 * lives in optim.c, checkpoints in checkpoint.c. */
#include "train_int.h"
#include "ponder/alloc.h"
#include "ponder/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pd_train_specials[PD_TRAIN_N_SPECIALS] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>",
                                                            "</think>"};

pd_status pd_tcfg_set_arch(pd_tcfg *c, const char *arch) {
    if (!strcmp(arch, "llama")) {
        c->rope_neox = false; c->qkv_bias = false; c->qk_norm = false;
        c->norm_eps = 1e-5f; c->rope_base = 10000.0f;
    } else if (!strcmp(arch, "qwen2")) {
        c->rope_neox = true; c->qkv_bias = true; c->qk_norm = false;
        c->norm_eps = 1e-6f; c->rope_base = 10000.0f;
    } else if (!strcmp(arch, "qwen3")) {
        c->rope_neox = true; c->qkv_bias = false; c->qk_norm = true;
        c->norm_eps = 1e-6f; c->rope_base = 10000.0f;
    } else {
        return pd_fail(PD_ERR_ARG, "train: unknown architecture '%s' (expected llama, qwen2 or qwen3)", arch);
    }
    snprintf(c->arch, sizeof c->arch, "%s", arch);
    return PD_OK;
}

pd_status pd_tcfg_validate(const pd_tcfg *c) {
    if (strcmp(c->arch, "llama") && strcmp(c->arch, "qwen2") && strcmp(c->arch, "qwen3"))
        return pd_fail(PD_ERR_ARG, "train: unknown architecture '%s'", c->arch);
    if (c->n_vocab <= 0 || c->dim <= 0 || c->n_layer <= 0 || c->n_head <= 0 || c->n_head_kv <= 0 || c->head_dim <= 0 ||
        c->n_ff <= 0 || c->n_ctx <= 0)
        return pd_fail(PD_ERR_ARG, "train: every dimension must be positive (vocab %d dim %d layers %d heads %d kv %d "
                                   "head_dim %d ffn %d ctx %d)", c->n_vocab, c->dim, c->n_layer, c->n_head,
                       c->n_head_kv, c->head_dim, c->n_ff, c->n_ctx);
    if (c->head_dim % 2) return pd_fail(PD_ERR_ARG, "train: head_dim %d must be even (RoPE pairs)", c->head_dim);
    if (c->n_head % c->n_head_kv)
        return pd_fail(PD_ERR_ARG, "train: heads %d must be a multiple of kv heads %d", c->n_head, c->n_head_kv);
    if (!(c->norm_eps > 0) || !(c->rope_base > 1)) return pd_fail(PD_ERR_ARG, "train: bad norm eps or rope base");
    return PD_OK;
}

size_t pd_tcfg_param_sizes(const pd_tcfg *c, size_t s[PD_TP_COUNT]) {
    size_t L = c->n_layer, D = c->dim, V = c->n_vocab, F = c->n_ff, Hq = (size_t)c->n_head * c->head_dim,
           Hk = (size_t)c->n_head_kv * c->head_dim, hd = c->head_dim;
    s[PD_TP_TOK_EMBD] = V * D;
    s[PD_TP_ATTN_NORM] = L * D;
    s[PD_TP_WQ] = L * Hq * D; s[PD_TP_WK] = L * Hk * D; s[PD_TP_WV] = L * Hk * D;
    s[PD_TP_BQ] = c->qkv_bias ? L * Hq : 0; s[PD_TP_BK] = c->qkv_bias ? L * Hk : 0; s[PD_TP_BV] = c->qkv_bias ? L * Hk : 0;
    s[PD_TP_QNORM] = c->qk_norm ? L * hd : 0; s[PD_TP_KNORM] = c->qk_norm ? L * hd : 0;
    s[PD_TP_WO] = L * D * Hq;
    s[PD_TP_FFN_NORM] = L * D;
    s[PD_TP_GATE] = L * F * D; s[PD_TP_UP] = L * F * D; s[PD_TP_DOWN] = L * D * F;
    s[PD_TP_OUT_NORM] = D;
    s[PD_TP_OUTPUT] = c->tied ? 0 : V * D;
    size_t tot = 0;
    for (int i = 0; i < PD_TP_COUNT; i++) tot += s[i];
    return tot;
}

/* GGUF names (llama.cpp's) and shapes of each kind: ne0 = row length, ne1 = rows (0: a vector). */
static const char *const kind_name[PD_TP_COUNT] = {
    "token_embd.weight", "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_q.bias",
    "attn_k.bias", "attn_v.bias", "attn_q_norm.weight", "attn_k_norm.weight", "attn_output.weight",
    "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "output_norm.weight", "output.weight"};

static void kind_shape(const pd_tcfg *c, int k, int64_t *ne0, int64_t *ne1) {
    int64_t D = c->dim, Hq = (int64_t)c->n_head * c->head_dim, Hk = (int64_t)c->n_head_kv * c->head_dim;
    switch (k) {
    case PD_TP_TOK_EMBD: case PD_TP_OUTPUT: *ne0 = D; *ne1 = c->n_vocab; break;
    case PD_TP_ATTN_NORM: case PD_TP_FFN_NORM: case PD_TP_OUT_NORM: *ne0 = D; *ne1 = 0; break;
    case PD_TP_WQ: *ne0 = D; *ne1 = Hq; break;
    case PD_TP_WK: case PD_TP_WV: *ne0 = D; *ne1 = Hk; break;
    case PD_TP_BQ: *ne0 = Hq; *ne1 = 0; break;
    case PD_TP_BK: case PD_TP_BV: *ne0 = Hk; *ne1 = 0; break;
    case PD_TP_QNORM: case PD_TP_KNORM: *ne0 = c->head_dim; *ne1 = 0; break;
    case PD_TP_WO: *ne0 = Hq; *ne1 = D; break;
    case PD_TP_GATE: case PD_TP_UP: *ne0 = D; *ne1 = c->n_ff; break;
    default: /* PD_TP_DOWN */ *ne0 = c->n_ff; *ne1 = D; break;
    }
}

static bool kind_per_layer(int k) { return k != PD_TP_TOK_EMBD && k != PD_TP_OUT_NORM && k != PD_TP_OUTPUT; }

pd_ttensor *pd_tcfg_tensors(const pd_tcfg *c, int *n) {
    size_t sz[PD_TP_COUNT];
    pd_tcfg_param_sizes(c, sz);
    int cap = 3 + PD_TP_COUNT * c->n_layer, cnt = 0;
    pd_ttensor *t = pd_calloc((size_t)cap, sizeof *t);
    if (!t) return NULL;
    size_t off = 0;
    for (int k = 0; k < PD_TP_COUNT; k++) {
        if (!sz[k]) continue;
        int64_t ne0, ne1;
        kind_shape(c, k, &ne0, &ne1);
        int reps = kind_per_layer(k) ? c->n_layer : 1;
        size_t each = sz[k] / (size_t)reps;
        for (int l = 0; l < reps; l++) {
            pd_ttensor *e = &t[cnt++];
            if (kind_per_layer(k)) snprintf(e->name, sizeof e->name, "blk.%d.%s", l, kind_name[k]);
            else snprintf(e->name, sizeof e->name, "%s", kind_name[k]);
            e->offset = off + each * (size_t)l;
            e->n = each;
            e->n_dims = ne1 ? 2 : 1;
            e->ne[0] = ne0;
            e->ne[1] = ne1 ? ne1 : 1;
            e->decay = ne1 != 0;
            e->kind = k;
            e->layer = kind_per_layer(k) ? l : 0;
        }
        off += sz[k];
    }
    *n = cnt;
    return t;
}

/* cos/sin per position and pair exactly as the inference path computes them (kern pd_rope_cache: the
 * same for NORM and NEOX, which differ only in pairing), scaling and frequency factors included */
static void rope_table(float *cs, const pd_tcfg *c) {
    pd_rope r = {PD_ROPE_NORM, c->head_dim, c->rope_base, c->rope_freq_scale > 0 ? c->rope_freq_scale : 1.0f,
                 c->rope_attn_factor > 0 ? c->rope_attn_factor : 1.0f, c->rope_factors};
    for (int pos = 0; pos < c->n_ctx; pos++) pd_rope_cache(&r, pos, cs + (size_t)pos * c->head_dim);
}

pd_tmodel *pd_tmodel_new(const pd_tcfg *c, int B, int T) { return pd_tmodel_new_ex(c, B, T, true); }

pd_tmodel *pd_tmodel_new_ex(const pd_tcfg *c, int B, int T, bool moments) {
    if (pd_tcfg_validate(c) != PD_OK) return NULL;
    if (B <= 0 || T <= 0 || T > c->n_ctx) {
        pd_fail(PD_ERR_ARG, "train: batch %d x %d does not fit (seq must be in [1, n_ctx=%d])", B, T, c->n_ctx);
        return NULL;
    }
    pd_tmodel *m = pd_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *c;
    if (c->rope_factors) {
        if (!(m->rope_factors = pd_malloc(sizeof(float) * (size_t)(c->head_dim / 2)))) { free(m); return NULL; }
        memcpy(m->rope_factors, c->rope_factors, sizeof(float) * (size_t)(c->head_dim / 2));
        m->cfg.rope_factors = m->rope_factors;
    }
    m->B = B;
    m->T = T;
    size_t sz[PD_TP_COUNT];
    m->n_params = pd_tcfg_param_sizes(c, sz);
    size_t sa[TA_COUNT], sg[TG_COUNT];
    m->act_floats = pd_tr_acts_sizes(c, B, T, sa, sg);
    m->params = pd_calloc(m->n_params, sizeof(float));
    m->grads = pd_calloc(m->n_params, sizeof(float));
    if (moments) {
        m->m = pd_calloc(m->n_params, sizeof(float));
        m->v = pd_calloc(m->n_params, sizeof(float));
    }
    m->act_mem = pd_calloc(m->act_floats, sizeof(float));
    m->cs = pd_calloc((size_t)c->n_ctx * c->head_dim, sizeof(float));
    m->tensors = pd_tcfg_tensors(c, &m->n_tensors);
    if (c->n_vocab == PD_TRAIN_VOCAB) { /* ponder's byte vocabulary and its Qwen3-style template */
        m->own_tok = pd_tokenizer_new_bytes(pd_train_specials, PD_TRAIN_N_SPECIALS);
        m->chat = (pd_tchat){m->own_tok, PD_CHAT_QWEN3, false};
    }
    if (!m->params || !m->grads || (moments && (!m->m || !m->v)) || !m->act_mem || !m->cs || !m->tensors ||
        (c->n_vocab == PD_TRAIN_VOCAB && !m->own_tok)) {
        pd_tmodel_free(m);
        pd_fail(PD_ERR_NOMEM, "train: out of memory for a %zu-parameter model with batch %d x %d", m->n_params, B, T);
        return NULL;
    }
    pd_tr_params_point(&m->p, c, m->params);
    pd_tr_params_point(&m->g, c, m->grads);
    pd_tr_acts_point(&m->a, &m->ga, c, B, T, m->act_mem);
    m->curB = B;
    m->curT = T;
    rope_table(m->cs, &m->cfg);
    return m;
}

void pd_tmodel_free(pd_tmodel *m) {
    if (!m) return;
    free(m->params); free(m->grads); free(m->m); free(m->v);
    free(m->act_mem); free(m->cs); free(m->tensors);
    pd_tokenizer_free(m->own_tok);
    pd_model_free(m->src);
    free(m->rope_factors);
    free(m->frozen);
    free(m->frozen_scratch);
    free(m->wh);
    free(m);
}

const pd_tcfg *pd_tmodel_cfg(const pd_tmodel *m) { return &m->cfg; }
size_t pd_tmodel_n_params(const pd_tmodel *m) { return m->n_params; }
float *pd_tmodel_params(pd_tmodel *m) {
    pd_tmodel_touch(m); /* the caller may write: the BF16 copy is remade before the next forward */
    return m->params;
}
float *pd_tmodel_grads(pd_tmodel *m) { return m->grads; }
float *pd_tmodel_adam_m(pd_tmodel *m) { return m->m; }
float *pd_tmodel_adam_v(pd_tmodel *m) { return m->v; }
const float *pd_tmodel_logits(const pd_tmodel *m) { return m->a.logits; }
const pd_tchat *pd_tmodel_chat(const pd_tmodel *m) { return &m->chat; }

void pd_tmodel_init(pd_tmodel *m, pd_rng *rng) {
    const pd_tcfg *c = &m->cfg;
    float resid_scale = 1.0f / sqrtf(2.0f * c->n_layer);
    for (int i = 0; i < m->n_tensors; i++) {
        const pd_ttensor *t = &m->tensors[i];
        float *w = m->params + t->offset;
        bool norm = strstr(t->name, "norm") != NULL, bias = strstr(t->name, ".bias") != NULL;
        if (norm) { for (size_t j = 0; j < t->n; j++) w[j] = 1.0f; continue; }
        if (bias) { memset(w, 0, t->n * sizeof(float)); continue; }
        float sd = 0.02f;
        if (strstr(t->name, "attn_output") || strstr(t->name, "ffn_down")) sd *= resid_scale;
        for (size_t j = 0; j < t->n; j++) w[j] = sd * (float)pd_rng_normal(rng);
    }
}

void pd_tmodel_zero_grad(pd_tmodel *m) {
    pd_tmodel_touch(m); /* a new optimizer step: the weights may have changed since the copy */
    if (!m->frozen) { memset(m->grads, 0, m->n_params * sizeof(float)); return; }
    /* frozen matrices never get a gradient: their slices stay untouched (and uncommitted) */
    for (int i = 0; i < m->n_tensors; i++)
        if (!pd_tmodel_is_frozen(m, i)) memset(m->grads + m->tensors[i].offset, 0, m->tensors[i].n * sizeof(float));
}

bool pd_tmodel_is_frozen(const pd_tmodel *m, int i) {
    const pd_ttensor *t = &m->tensors[i];
    return m->frozen && t->kind >= PD_TP_WQ && t->kind <= PD_TP_DOWN && m->frozen[t->kind * m->cfg.n_layer + t->layer].data;
}

static pd_status check_batch(pd_tmodel *m, const pd_tbatch *b) {
    if (b->B <= 0 || b->T <= 0 || b->B > m->B || b->T > m->T || (int64_t)b->B * b->T > (int64_t)m->B * m->T)
        return pd_fail(PD_ERR_RANGE, "train: batch %d x %d exceeds the model's capacity %d x %d", b->B, b->T, m->B, m->T);
    int64_t N = (int64_t)b->B * b->T;
    for (int64_t i = 0; i < N; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= m->cfg.n_vocab)
            return pd_fail(PD_ERR_RANGE, "train: token %d at batch index %lld is outside the vocabulary (%d)",
                           b->tokens[i], (long long)i, m->cfg.n_vocab);
        if (b->targets && b->targets[i] >= m->cfg.n_vocab)
            return pd_fail(PD_ERR_RANGE, "train: target %d at batch index %lld is outside the vocabulary (%d)",
                           b->targets[i], (long long)i, m->cfg.n_vocab);
        if (b->seg && (b->seg[i] < 0 || b->seg[i] > (int)(i % b->T)))
            return pd_fail(PD_ERR_RANGE, "train: document start %d at batch index %lld is not in [0, %d]", b->seg[i],
                           (long long)i, (int)(i % b->T));
    }
    return PD_OK;
}

pd_status pd_tmodel_set_window(pd_tmodel *m, int sink, int recent) {
    if (sink < 0 || recent < 0 || (sink == 0 && recent > 0) || (recent == 0 && sink > 0))
        return pd_fail(PD_ERR_ARG, "train: attention window sink %d, recent %d: both positive, or both 0 (full)", sink,
                       recent);
    m->p.win_sink = m->win_sink = sink;
    m->p.win_recent = m->win_recent = recent;
    return PD_OK;
}

void pd_tmodel_set_window_mix(pd_tmodel *m, bool on) { m->win_mix = on && m->win_recent > 0; }

void pd_tmodel_window_draw(pd_tmodel *m, uint64_t key) {
    if (!m->win_mix) return;
    pd_rng g;
    pd_rng_seed(&g, key);
    int u = (int)pd_rng_below(&g, 4); /* R, 2R, 4R, full */
    m->p.win_sink = u < 3 ? m->win_sink : 0;
    m->p.win_recent = u < 3 ? m->win_recent << u : 0;
}

void pd_tmodel_window_base(pd_tmodel *m) {
    m->p.win_sink = m->win_sink;
    m->p.win_recent = m->win_recent;
}

const char *pd_precision_name(pd_precision p) { return p == PD_PREC_BF16 ? "bf16" : "f32"; }

pd_status pd_precision_parse(const char *s, pd_precision *p) {
    if (!strcmp(s, "f32")) *p = PD_PREC_F32;
    else if (!strcmp(s, "bf16")) *p = PD_PREC_BF16;
    else return pd_fail(PD_ERR_ARG, "precision '%s': expected f32 or bf16", s);
    return PD_OK;
}

pd_status pd_tmodel_set_precision(pd_tmodel *m, pd_precision p) {
    if (p != PD_PREC_F32 && p != PD_PREC_BF16) return pd_fail(PD_ERR_ARG, "train: unknown precision %d", (int)p);
    if (p == PD_PREC_BF16 && !m->wh && !(m->wh = pd_malloc(m->n_params * sizeof(uint16_t))))
        return pd_fail(PD_ERR_NOMEM, "train: out of memory for the BF16 copy of %zu weights", m->n_params);
    m->precision = p;
    m->p.bf16 = p == PD_PREC_BF16;
    m->p.wh = p == PD_PREC_BF16 ? m->wh : NULL;
    m->wh_stale = true;
    return PD_OK;
}

pd_precision pd_tmodel_precision(const pd_tmodel *m) { return m->precision; }

double pd_tmodel_forward(pd_tmodel *m, const pd_tbatch *b, int64_t *n_targets) {
    if (n_targets) *n_targets = 0;
    if (check_batch(m, b) != PD_OK) return NAN;
    if (m->p.bf16 && m->wh_stale) { /* once per optimizer step: the BF16 copy of the weights */
        pd_bf16_round_n(m->params, m->wh, (int64_t)m->n_params);
        m->wh_stale = false;
    }
    if (b->B != m->curB || b->T != m->curT) {
        pd_tr_acts_point(&m->a, &m->ga, &m->cfg, b->B, b->T, m->act_mem);
        m->curB = b->B;
        m->curT = b->T;
    }
    pd_tr_model_forward(&m->cfg, &m->p, &m->a, m->cs, b->tokens, b->seg, b->B, b->T);
    if (!b->targets) return 0;
    return pd_tr_xent_forward_backward(NULL, m->a.logits, b->targets, (int64_t)b->B * b->T, m->cfg.n_vocab, 0,
                                       n_targets);
}

void pd_tmodel_backward(pd_tmodel *m, const pd_tbatch *b, float scale) {
    if (!b->targets || b->B != m->curB || b->T != m->curT) return;
    pd_tr_xent_forward_backward(m->ga.dlogits, m->a.logits, b->targets, (int64_t)b->B * b->T, m->cfg.n_vocab, scale,
                                NULL);
    pd_tr_model_backward(&m->cfg, &m->p, &m->g, &m->a, &m->ga, m->cs, b->tokens, b->seg, b->B, b->T);
}
