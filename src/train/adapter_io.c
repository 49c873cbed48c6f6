/* train/adapter_io.c — adapter sets over a model's blocks: GGUF adapter files (llama.cpp's LoRA
 * layout for LoRA and PiSSA, ponder's soka_* tensors for SoKA), the inference linear hook, and
 * trainable-parameter counts for published model shapes. Layout facts are in ponder/adapter.h. */
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include "ponder/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pd_adapter *pd_adapter_new(pd_adapter_method m, int n_layer) {
    if (n_layer <= 0 || n_layer > 100000) {
        pd_fail(PD_ERR_ARG, "adapter: bad layer count %d", n_layer);
        return NULL;
    }
    pd_adapter *a = pd_calloc(1, sizeof *a);
    if (!a) return NULL;
    a->layers = pd_calloc((size_t)n_layer * PD_AT_COUNT, sizeof(pd_adapter_layer));
    if (!a->layers) { free(a); return NULL; }
    a->method = m;
    a->n_layer = n_layer;
    a->user_scale = 1.0f;
    pd_soka_opts_default(&a->soka);
    return a;
}

void pd_adapter_free(pd_adapter *a) {
    if (!a) return;
    for (int i = 0; i < a->n_layer * PD_AT_COUNT; i++) pd_adapter_layer_free(&a->layers[i]);
    free(a->layers);
    free(a);
}

int64_t pd_adapter_n_params(const pd_adapter *a) {
    int64_t n = 0;
    for (int i = 0; i < a->n_layer * PD_AT_COUNT; i++) n += pd_adapter_layer_n_params(&a->layers[i]);
    return n;
}

int pd_adapter_n_slots(const pd_adapter *a) {
    int n = 0;
    for (int i = 0; i < a->n_layer * PD_AT_COUNT; i++) n += a->layers[i].A != NULL;
    return n;
}

/* ---- files ---- */
#define KEY_PREFIX "ponder.adapter."

pd_status pd_adapter_save(const pd_adapter *a, const char *path) { return pd_adapter_save_ex(a, path, NULL, NULL); }

pd_status pd_adapter_save_ex(const pd_adapter *a, const char *path, pd_status (*extra)(pd_gguf_writer *w, void *ctx),
                             void *ctx) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (!w) return PD_ERR_NOMEM;
    pd_status st = PD_OK;
    char name[160], tg[64];
    float *ta = NULL, *tb = NULL;
    const bool pissa = a->method == PD_ADAPTER_PISSA, soka = a->method == PD_ADAPTER_SOKA;
#define W_TRY(e) do { st = (e); if (st != PD_OK) goto out; } while (0)
    W_TRY(pd_gguf_set_str(w, "general.type", "adapter"));
    W_TRY(pd_gguf_set_str(w, "general.architecture", a->arch[0] ? a->arch : "llama"));
    W_TRY(pd_gguf_set_str(w, "adapter.type", soka ? "soka" : "lora"));
    /* llama.cpp: scale = alpha / rank of the file's tensors; PiSSA files hold rank 2r with scale 1 */
    float file_alpha = pissa ? 2.0f * (float)a->rank : a->alpha;
    W_TRY(pd_gguf_set_f32(w, "adapter.lora.alpha", file_alpha));
    W_TRY(pd_gguf_set_str(w, KEY_PREFIX "method", pd_adapter_method_name(a->method)));
    W_TRY(pd_gguf_set_u32(w, KEY_PREFIX "rank", (uint32_t)a->rank));
    W_TRY(pd_gguf_set_f32(w, KEY_PREFIX "alpha", a->alpha));
    pd_adapter_targets_str(a->targets, tg, sizeof tg);
    W_TRY(pd_gguf_set_str(w, KEY_PREFIX "targets", tg));
    W_TRY(pd_gguf_set_u32(w, KEY_PREFIX "n_layer", (uint32_t)a->n_layer));
    W_TRY(pd_gguf_set_u64(w, KEY_PREFIX "n_params", (uint64_t)pd_adapter_n_params(a)));
    if (soka) {
        W_TRY(pd_gguf_set_str(w, KEY_PREFIX "soka.rule", pd_rank_rule_name(a->soka.rule)));
        W_TRY(pd_gguf_set_f32(w, KEY_PREFIX "soka.tau", (float)a->soka.tau));
        W_TRY(pd_gguf_set_u32(w, KEY_PREFIX "soka.r_max", (uint32_t)(a->soka.r_max > 0 ? a->soka.r_max : 0)));
        W_TRY(pd_gguf_set_u32(w, KEY_PREFIX "soka.terms", (uint32_t)(a->soka.terms > 0 ? a->soka.terms : 0)));
    }
    for (int l = 0; l < a->n_layer; l++)
        for (int t = 0; t < PD_AT_COUNT; t++) {
            const pd_adapter_layer *L = &a->layers[l * PD_AT_COUNT + t];
            if (!L->A) continue;
            if (L->method != a->method) {
                st = pd_fail(PD_ERR_STATE, "adapter save: layer %d %s is %s in a %s adapter", l,
                             pd_adapter_target_name(t), pd_adapter_method_name(L->method),
                             pd_adapter_method_name(a->method));
                goto out;
            }
            const char *tn = pd_adapter_target_tensor(t);
            const int r = L->rank;
            if (soka) {
                int64_t nea[3] = {L->n1, L->m1, r}, neb[3] = {L->n2, L->m2, r};
                snprintf(name, sizeof name, "blk.%d.%s.weight.soka_a", l, tn);
                W_TRY(pd_gguf_add_tensor(w, name, PD_TYPE_F32, 3, nea, L->A));
                snprintf(name, sizeof name, "blk.%d.%s.weight.soka_b", l, tn);
                W_TRY(pd_gguf_add_tensor(w, name, PD_TYPE_F32, 3, neb, L->B));
                snprintf(name, sizeof name, "blk.%d.%s.weight.soka_a0", l, tn);
                W_TRY(pd_gguf_add_tensor(w, name, PD_TYPE_F32, 3, nea, L->A0));
                snprintf(name, sizeof name, "blk.%d.%s.weight.soka_b0", l, tn);
                W_TRY(pd_gguf_add_tensor(w, name, PD_TYPE_F32, 3, neb, L->B0));
                continue;
            }
            const int rf = pissa ? 2 * r : r;
            const int64_t din = L->d_in, dout = L->d_out;
            ta = pd_malloc(sizeof(float) * (size_t)(rf * din));
            tb = pd_malloc(sizeof(float) * (size_t)(rf * dout));
            if (!ta || !tb) { st = PD_ERR_NOMEM; goto out; }
            /* lora_a = [A; A0] (rf × d_in), lora_b = [B | −B0] (d_out × rf); scale folded so that
             * llama.cpp's alpha/rf reproduces L->scale: for LoRA alpha/r = scale exactly */
            memcpy(ta, L->A, sizeof(float) * (size_t)(r * din));
            if (pissa) memcpy(ta + r * din, L->A0, sizeof(float) * (size_t)(r * din));
            for (int64_t o = 0; o < dout; o++)
                for (int k = 0; k < r; k++) {
                    tb[o * rf + k] = L->B[o * r + k];
                    if (pissa) tb[o * rf + r + k] = -L->B0[o * r + k];
                }
            int64_t nea[2] = {din, rf}, neb[2] = {rf, dout};
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_a", l, tn);
            W_TRY(pd_gguf_add_tensor(w, name, PD_TYPE_F32, 2, nea, ta));
            snprintf(name, sizeof name, "blk.%d.%s.weight.lora_b", l, tn);
            W_TRY(pd_gguf_add_tensor(w, name, PD_TYPE_F32, 2, neb, tb));
            free(ta); free(tb);
            ta = tb = NULL;
        }
    if (extra) W_TRY(extra(w, ctx));
    W_TRY(pd_gguf_write(w, path));
#undef W_TRY
out:
    free(ta); free(tb);
    pd_gguf_writer_free(w);
    if (st != PD_OK) pd_fail_ctx(st, "adapter save %s", path);
    return st;
}

static bool str_is(const pd_gguf *g, const char *key, const char *want) {
    const char *s;
    size_t n;
    if (!pd_gguf_get_str(g, key, &s, &n)) return false;
    return n == strlen(want) && !memcmp(s, want, n);
}

/* parse "blk.N.<tensor>.weight.<suffix>" → layer, target, suffix pointer */
static bool parse_name(const char *name, int *layer, int *target, const char **suffix) {
    if (strncmp(name, "blk.", 4)) return false;
    char *end;
    long l = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || l < 0 || l > 100000) return false;
    const char *p = end + 1;
    for (int t = 0; t < PD_AT_COUNT; t++) {
        const char *tn = pd_adapter_target_tensor(t);
        size_t n = strlen(tn);
        if (!strncmp(p, tn, n) && !strncmp(p + n, ".weight.", 8)) {
            *layer = (int)l;
            *target = t;
            *suffix = p + n + 8;
            return true;
        }
    }
    return false;
}

static const pd_gguf_tensor *need_tensor(const pd_gguf *g, const char *path, int l, int t, const char *sfx,
                                         int n_dims, const int64_t *ne) {
    char name[160];
    snprintf(name, sizeof name, "blk.%d.%s.weight.%s", l, pd_adapter_target_tensor(t), sfx);
    const pd_gguf_tensor *gt = pd_gguf_find_tensor(g, name);
    if (!gt) {
        pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' is missing", path, name);
        return NULL;
    }
    if (gt->type != PD_TYPE_F32) {
        pd_fail(PD_ERR_UNSUPPORTED, "%s: tensor '%s' is %s (adapters are read as f32)", path, name,
                pd_type_name(gt->type));
        return NULL;
    }
    for (int d = 0; ne && d < n_dims; d++)
        if (gt->ne[d] != ne[d]) {
            pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' has ne[%d] = %lld, expected %lld", path, name, d,
                    (long long)gt->ne[d], (long long)ne[d]);
            return NULL;
        }
    return gt;
}

/* general.type, the method, LoRA's adapter.lora.alpha and the layer count of an adapter file */
static pd_status read_header(const pd_gguf *g, const char *path, int *method, float *file_alpha, int *n_layer) {
    if (!str_is(g, "general.type", "adapter"))
        return pd_fail(PD_ERR_FORMAT, "%s: general.type is not 'adapter' (not an adapter file)", path);
    const char *s;
    size_t n;
    *method = PD_ADAPTER_LORA;
    if (pd_gguf_get_str(g, KEY_PREFIX "method", &s, &n)) {
        char buf[16] = {0};
        memcpy(buf, s, n < 15 ? n : 15);
        *method = pd_adapter_method_from_name(buf);
        if (*method < 0 || n > 15)
            return pd_fail(PD_ERR_FORMAT, "%s: unknown " KEY_PREFIX "method '%.*s'", path, (int)(n > 32 ? 32 : n), s);
    } else if (!str_is(g, "adapter.type", "lora")) {
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: adapter.type is not 'lora' and the file has no " KEY_PREFIX "method",
                       path);
    }
    *file_alpha = 0;
    if (*method != PD_ADAPTER_SOKA && !pd_gguf_get_f32(g, "adapter.lora.alpha", file_alpha)) *file_alpha = 0;
    /* layer count: the metadata, else the largest blk index among the tensors */
    *n_layer = 0;
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        int l, t;
        const char *sfx;
        const pd_gguf_tensor *gt = pd_gguf_tensor_at(g, i);
        if (!strncmp(gt->name, "opt.", 4)) continue; /* fine-tuning state in checkpoints */
        if (!parse_name(gt->name, &l, &t, &sfx))
            return pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' is not an adapter tensor (blk.N.<matrix>.weight.<part>)",
                           path, gt->name);
        if (l + 1 > *n_layer) *n_layer = l + 1;
    }
    uint32_t u;
    if (pd_gguf_find_key(g, KEY_PREFIX "n_layer") >= 0) {
        if (!pd_gguf_get_u32(g, KEY_PREFIX "n_layer", &u) || (int64_t)u < *n_layer || u > 100000)
            return pd_fail(PD_ERR_FORMAT, "%s: " KEY_PREFIX "n_layer is missing or smaller than the tensors need", path);
        *n_layer = (int)u;
    }
    if (*n_layer <= 0) return pd_fail(PD_ERR_FORMAT, "%s: the adapter has no tensors", path);
    return PD_OK;
}

/* the keys beside the tensors: architecture, rank, alpha (which must agree with adapter.lora.alpha,
 * or load + save would change the adapter), SoKA's rank settings */
static pd_status read_settings(const pd_gguf *g, const char *path, pd_adapter *a, float file_alpha) {
    const char *s;
    size_t n;
    uint32_t u;
    if (pd_gguf_get_str(g, "general.architecture", &s, &n)) {
        size_t c = n < sizeof a->arch - 1 ? n : sizeof a->arch - 1;
        memcpy(a->arch, s, c);
        a->arch[c] = 0;
    }
    if (pd_gguf_get_u32(g, KEY_PREFIX "rank", &u)) a->rank = (int)u;
    if (!pd_gguf_get_f32(g, KEY_PREFIX "alpha", &a->alpha)) a->alpha = file_alpha;
    if (a->method == PD_ADAPTER_LORA && a->alpha != file_alpha)
        return pd_fail(PD_ERR_FORMAT, "%s: " KEY_PREFIX "alpha %g disagrees with adapter.lora.alpha %g", path, a->alpha,
                       file_alpha);
    if (a->method == PD_ADAPTER_SOKA) {
        float tau;
        char buf[16] = {0};
        if (pd_gguf_get_str(g, KEY_PREFIX "soka.rule", &s, &n) && n < sizeof buf) {
            memcpy(buf, s, n);
            int rr = pd_rank_rule_from_name(buf);
            if (rr >= 0) a->soka.rule = (pd_rank_rule)rr;
        }
        if (pd_gguf_get_f32(g, KEY_PREFIX "soka.tau", &tau)) a->soka.tau = tau;
        if (pd_gguf_get_u32(g, KEY_PREFIX "soka.r_max", &u)) a->soka.r_max = (int)u;
        if (pd_gguf_get_u32(g, KEY_PREFIX "soka.terms", &u)) a->soka.terms = (int)u;
    }
    return PD_OK;
}

/* SoKA slot (layer l, target t): soka_a/_b and the frozen soka_a0/_b0, shapes checked */
static pd_status read_soka_slot(const pd_gguf *g, const char *path, pd_adapter_layer *L, int l, int t,
                                const char *name) {
    const pd_gguf_tensor *ta = need_tensor(g, path, l, t, "soka_a", 3, NULL);
    if (!ta || ta->n_dims != 3) {
        if (ta) pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' must have 3 dims", path, name);
        return PD_ERR_FORMAT;
    }
    int64_t n1 = ta->ne[0], m1 = ta->ne[1], r = ta->ne[2];
    const pd_gguf_tensor *tb = need_tensor(g, path, l, t, "soka_b", 3, NULL);
    if (!tb) return PD_ERR_FORMAT;
    int64_t n2 = tb->ne[0], m2 = tb->ne[1];
    int64_t neb[3] = {n2, m2, r}, nea[3] = {n1, m1, r};
    if (tb->n_dims != 3 || tb->ne[2] != r || r <= 0 || r > 4096 || m1 * m2 > (1 << 24) || n1 * n2 > (1 << 24))
        return pd_fail(PD_ERR_FORMAT, "%s: SoKA factors of layer %d %s have inconsistent shapes", path, l,
                       pd_adapter_target_name(t));
    const pd_gguf_tensor *ta0 = need_tensor(g, path, l, t, "soka_a0", 3, nea);
    const pd_gguf_tensor *tb0 = ta0 ? need_tensor(g, path, l, t, "soka_b0", 3, neb) : NULL;
    if (!tb0) return PD_ERR_FORMAT;
    if (pd_adapter_layer_alloc(L, PD_ADAPTER_SOKA, n1 * n2, m1 * m2, (int)r, m1, n1, 1.0f) != PD_OK) return PD_ERR_FORMAT;
    memcpy(L->A, ta->data, sizeof(float) * (size_t)(r * m1 * n1));
    memcpy(L->B, tb->data, sizeof(float) * (size_t)(r * m2 * n2));
    memcpy(L->A0, ta0->data, sizeof(float) * (size_t)(r * m1 * n1));
    memcpy(L->B0, tb0->data, sizeof(float) * (size_t)(r * m2 * n2));
    return PD_OK;
}

/* LoRA/PiSSA slot (layer l, target t) in llama.cpp's layout (PiSSA: [A; A0] and [B | -B0], alpha 2r) */
static pd_status read_lora_slot(const pd_gguf *g, const char *path, pd_adapter *a, pd_adapter_layer *L, int l, int t,
                                float file_alpha) {
    const int method = a->method;
    const pd_gguf_tensor *ta = need_tensor(g, path, l, t, "lora_a", 2, NULL);
    const pd_gguf_tensor *tb = ta ? need_tensor(g, path, l, t, "lora_b", 2, NULL) : NULL;
    if (!tb) return PD_ERR_FORMAT;
    int64_t din = ta->ne[0], rf = ta->ne[1], dout = tb->ne[1];
    if (ta->n_dims != 2 || tb->n_dims != 2 || tb->ne[0] != rf || rf <= 0)
        return pd_fail(PD_ERR_FORMAT, "%s: layer %d %s: lora_a ne [%lld, %lld] and lora_b ne [%lld, %lld] do not pair "
                       "(need a = [d_in, r], b = [r, d_out])", path, l, pd_adapter_target_name(t), (long long)ta->ne[0],
                       (long long)ta->ne[1], (long long)tb->ne[0], (long long)tb->ne[1]);
    if (method == PD_ADAPTER_PISSA && rf % 2)
        return pd_fail(PD_ERR_FORMAT, "%s: PiSSA tensors of layer %d %s have odd rank %lld (expected 2r)", path, l,
                       pd_adapter_target_name(t), (long long)rf);
    const int r = method == PD_ADAPTER_PISSA ? (int)(rf / 2) : (int)rf;
    if (method == PD_ADAPTER_PISSA && ((file_alpha != 0 && file_alpha != (float)rf) || (a->rank && a->rank != r)))
        return pd_fail(PD_ERR_FORMAT, "%s: PiSSA tensors of layer %d %s have rank %d, but the file says rank %d and "
                       "adapter.lora.alpha %g (PiSSA: one rank r, alpha 2r)", path, l, pd_adapter_target_name(t), r,
                       a->rank, file_alpha);
    if (method == PD_ADAPTER_PISSA) a->rank = r;
    /* llama.cpp semantics: scale = alpha / rf, or 1 when alpha is 0 */
    float scale = file_alpha != 0 ? file_alpha / (float)rf : 1.0f;
    if (pd_adapter_layer_alloc(L, (pd_adapter_method)method, din, dout, r, 0, 0, scale) != PD_OK) return PD_ERR_FORMAT;
    const float *fa = ta->data, *fb = tb->data;
    memcpy(L->A, fa, sizeof(float) * (size_t)(r * din));
    if (L->A0) memcpy(L->A0, fa + (size_t)r * din, sizeof(float) * (size_t)(r * din));
    for (int64_t o = 0; o < dout; o++)
        for (int k = 0; k < r; k++) {
            L->B[o * r + k] = fb[o * rf + k];
            if (L->B0) L->B0[o * r + k] = -fb[o * rf + r + k];
        }
    return PD_OK;
}

pd_adapter *pd_adapter_load(const char *path) {
    pd_gguf *g = pd_gguf_open(path);
    if (!g) return NULL;
    pd_adapter *a = NULL;
    int method = PD_ADAPTER_LORA, n_layer = 0;
    float file_alpha = 0;
    if (read_header(g, path, &method, &file_alpha, &n_layer) != PD_OK) goto fail;
    a = pd_adapter_new((pd_adapter_method)method, n_layer);
    if (!a || read_settings(g, path, a, file_alpha) != PD_OK) goto fail;
    pd_clear_error();
    /* read each slot: find the "a" tensor, then its partners */
    const char *asfx = method == PD_ADAPTER_SOKA ? "soka_a" : "lora_a";
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        int l, t;
        const char *sfx;
        const pd_gguf_tensor *gt = pd_gguf_tensor_at(g, i);
        if (!parse_name(gt->name, &l, &t, &sfx)) continue; /* opt.* */
        if (strcmp(sfx, asfx)) {
            static const char *const known[] = {"lora_b", "soka_b", "soka_a0", "soka_b0"};
            bool ok = false;
            for (int k = 0; k < 4; k++) ok |= !strcmp(sfx, known[k]) && (k == 0) == (method != PD_ADAPTER_SOKA);
            if (!ok) {
                pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' has an unexpected suffix for a %s adapter", path, gt->name,
                        pd_adapter_method_name((pd_adapter_method)method));
                goto fail;
            }
            continue;
        }
        pd_adapter_layer *L = pd_adapter_slot(a, l, t);
        if (L->A) {
            pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' appears twice", path, gt->name);
            goto fail;
        }
        a->targets |= 1u << t;
        pd_status st = method == PD_ADAPTER_SOKA ? read_soka_slot(g, path, L, l, t, gt->name)
                                                 : read_lora_slot(g, path, a, L, l, t, file_alpha);
        if (st != PD_OK) goto fail;
    }
    pd_gguf_close(g);
    return a;
fail:
    pd_fail_ctx(PD_ERR_FORMAT, "adapter load");
    pd_adapter_free(a);
    pd_gguf_close(g);
    return NULL;
}

void pd_adapter_print_summary(const pd_adapter *a, FILE *f, const char *in) {
    char tg[64];
    pd_adapter_targets_str(a->targets, tg, sizeof tg);
    int64_t np = pd_adapter_n_params(a);
    fprintf(f, "%smethod:     %s\n", in, pd_adapter_method_name(a->method));
    fprintf(f, "%sarch:       %s\n", in, a->arch[0] ? a->arch : "(unknown)");
    fprintf(f, "%slayers:     %d, adapted matrices: %d, targets: %s\n", in, a->n_layer, pd_adapter_n_slots(a), tg);
    if (a->method == PD_ADAPTER_SOKA)
        fprintf(f, "%srank rule:  %s, tau %.3g, r_max %d, fixed terms %d\n", in, pd_rank_rule_name(a->soka.rule),
                a->soka.tau, a->soka.r_max, a->soka.terms);
    else
        fprintf(f, "%srank:       %d, alpha %g\n", in, a->rank, a->alpha);
    fprintf(f, "%strainable:  %lld (%.3gM)\n", in, (long long)np, (double)np / 1e6);
    /* per-matrix ranks (SoKA's vary with the rank rule) */
    int hist[65] = {0}, big = 0;
    for (int i = 0; i < a->n_layer * PD_AT_COUNT; i++) {
        if (!a->layers[i].A) continue;
        if (a->layers[i].rank <= 64) hist[a->layers[i].rank]++;
        else big++;
    }
    fprintf(f, "%sranks:     ", in);
    for (int r = 1; r <= 64; r++)
        if (hist[r]) fprintf(f, " %d x r%d", hist[r], r);
    if (big) fprintf(f, " %d x r>64", big);
    fprintf(f, "\n");
}

void pd_adapter_linear_hook(void *ctx, int layer, const char *which, const float *x, int64_t n_tokens,
                            int64_t in_dim, float *y, int64_t out_dim) {
    pd_adapter *a = ctx;
    if (!a || layer < 0 || layer >= a->n_layer) return;
    int t = pd_adapter_target_from_name(which);
    if (t < 0) return;
    const pd_adapter_layer *L = &a->layers[layer * PD_AT_COUNT + t];
    if (!L->A || L->d_in != in_dim || L->d_out != out_dim) return;
    pd_adapter_forward(L, x, n_tokens, y, a->user_scale);
}

pd_status pd_model_attach_adapter(pd_model *m, const char *path, float scale, pd_adapter **out) {
    *out = NULL;
    pd_adapter *a = pd_adapter_load(path);
    if (!a) return PD_ERR_FORMAT;
    const pd_model_config *c = &m->cfg;
    pd_status st = PD_OK;
    if (a->arch[0] && strcmp(a->arch, c->arch_name)) {
        st = pd_fail(PD_ERR_ARG, "%s: adapter for architecture '%s', the model is '%s'", path, a->arch, c->arch_name);
        goto fail;
    }
    if (a->n_layer > c->n_layer) {
        st = pd_fail(PD_ERR_ARG, "%s: adapter has %d layers, the model %d", path, a->n_layer, c->n_layer);
        goto fail;
    }
    pd_model_shape sh = {"model", c->n_layer, c->n_embd, c->n_head, c->n_head_kv, c->head_dim, c->n_ff};
    for (int l = 0; l < a->n_layer; l++)
        for (int t = 0; t < PD_AT_COUNT; t++) {
            const pd_adapter_layer *L = pd_adapter_slot(a, l, t);
            if (!L->A) continue;
            int64_t din, dout;
            pd_model_shape_dims(&sh, t, &din, &dout);
            if (L->d_in != din || L->d_out != dout) {
                st = pd_fail(PD_ERR_ARG, "%s: layer %d %s is %lldx%lld but the model's matrix is %lldx%lld", path, l,
                             pd_adapter_target_name(t), (long long)L->d_out, (long long)L->d_in, (long long)dout,
                             (long long)din);
                goto fail;
            }
        }
    a->user_scale = scale;
    m->linear_hook = pd_adapter_linear_hook;
    m->linear_hook_ctx = a;
    *out = a;
    return PD_OK;
fail:
    pd_adapter_free(a);
    return st;
}

/* ---- published shapes (Hugging Face config.json of each model) ---- */
static const pd_model_shape shapes[] = {
    /* name            layers  hidden heads kv  head_dim  ffn */
    {"llama2-7b", 32, 4096, 32, 32, 128, 11008},
    {"qwen2.5-0.5b", 24, 896, 14, 2, 64, 4864},
    {"qwen2.5-1.5b", 28, 1536, 12, 2, 128, 8960},
    {"qwen2.5-7b", 28, 3584, 28, 4, 128, 18944},
    {"qwen3-0.6b", 28, 1024, 16, 8, 128, 3072},
};

const pd_model_shape *pd_model_shape_find(const char *name) {
    for (size_t i = 0; name && i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(shapes[i].name, name)) return &shapes[i];
    return NULL;
}
const pd_model_shape *pd_model_shape_at(int i) {
    return i >= 0 && (size_t)i < sizeof shapes / sizeof shapes[0] ? &shapes[i] : NULL;
}

void pd_model_shape_dims(const pd_model_shape *s, int t, int64_t *d_in, int64_t *d_out) {
    int64_t e = s->n_embd, q = (int64_t)s->n_head * s->head_dim, kv = (int64_t)s->n_head_kv * s->head_dim;
    switch (t) {
    case PD_AT_Q: *d_in = e; *d_out = q; break;
    case PD_AT_K:
    case PD_AT_V: *d_in = e; *d_out = kv; break;
    case PD_AT_O: *d_in = q; *d_out = e; break;
    case PD_AT_GATE:
    case PD_AT_UP: *d_in = e; *d_out = s->n_ff; break;
    default: *d_in = s->n_ff; *d_out = e; break;
    }
}

int64_t pd_adapter_count_matrix(pd_adapter_method m, int64_t d_in, int64_t d_out, int r) {
    if (m != PD_ADAPTER_SOKA) return (int64_t)r * (d_in + d_out);
    int64_t m1, m2, n1, n2;
    pd_kron_factor_dim(d_out, &m1, &m2);
    pd_kron_factor_dim(d_in, &n1, &n2);
    return (int64_t)r * (m1 * n1 + m2 * n2);
}
