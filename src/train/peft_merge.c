/* train/peft_merge.c — merge an adapter into its base model file (ponder merge): W' = W + Δ_eff for
 * each adapted matrix, every other tensor and key copied unchanged. */
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include "ponder/kern.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "blk.N.<t>.weight" → slot, or NULL */
static const pd_adapter_layer *slot_of(const pd_adapter *a, const char *name, int *layer, int *target) {
    if (strncmp(name, "blk.", 4)) return NULL;
    char *end;
    long l = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || l < 0 || l >= a->n_layer) return NULL;
    for (int t = 0; t < PD_AT_COUNT; t++) {
        const char *tn = pd_adapter_target_tensor(t);
        size_t n = strlen(tn);
        if (!strncmp(end + 1, tn, n) && !strcmp(end + 1 + n, ".weight")) {
            const pd_adapter_layer *L = &a->layers[l * PD_AT_COUNT + t];
            *layer = (int)l;
            *target = t;
            return L->A ? L : NULL;
        }
    }
    return NULL;
}

pd_status pd_adapter_merge_file(const char *base_path, const pd_adapter *a, const char *out_path, bool keep_type) {
    pd_gguf *g = pd_gguf_open(base_path);
    if (!g) return pd_fail_ctx(PD_ERR_IO, "merge");
    pd_gguf_writer *w = pd_gguf_writer_new();
    float *W = NULL, *D = NULL;
    void *q = NULL;
    pd_status st = PD_OK;
    int used = 0;
    if (!w) { st = PD_ERR_NOMEM; goto out; }
    const char *s;
    size_t sl;
    if (pd_gguf_get_str(g, "general.type", &s, &sl) && sl == 7 && !memcmp(s, "adapter", 7)) {
        st = pd_fail(PD_ERR_ARG, "merge: %s is an adapter, not a base model", base_path);
        goto out;
    }
    pd_clear_error();
    if (a->arch[0] && pd_gguf_get_str(g, "general.architecture", &s, &sl) &&
        (sl != strlen(a->arch) || memcmp(s, a->arch, sl))) {
        st = pd_fail(PD_ERR_ARG, "merge: the adapter is for architecture '%s', %s is '%.*s'", a->arch, base_path,
                     (int)(sl > 32 ? 32 : sl), s);
        goto out;
    }
    if ((st = pd_gguf_copy_kvs(w, g, NULL)) != PD_OK) goto out;
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        int layer, target;
        const pd_adapter_layer *L = slot_of(a, t->name, &layer, &target);
        if (!L) {
            if ((st = pd_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data)) != PD_OK) goto out;
            continue;
        }
        if (t->n_dims != 2 || t->ne[0] != L->d_in || t->ne[1] != L->d_out) {
            st = pd_fail(PD_ERR_ARG, "merge: %s is [%lld, %lld] in %s but the adapter expects [%lld, %lld]", t->name,
                         (long long)t->ne[0], (long long)t->ne[1], base_path, (long long)L->d_in, (long long)L->d_out);
            goto out;
        }
        size_t n = (size_t)(L->d_in * L->d_out);
        W = pd_malloc(n * sizeof(float));
        D = pd_malloc(n * sizeof(float));
        if (!W || !D) { st = PD_ERR_NOMEM; goto out; }
        pd_tensor view;
        pd_gguf_tensor_view(t, &view);
        if ((st = pd_linear_to_f32(&view, W)) != PD_OK) goto out;
        pd_adapter_delta_dense(L, D);
        for (size_t k = 0; k < n; k++) W[k] += a->user_scale * D[k];
        pd_type ty = keep_type ? t->type : PD_TYPE_F32;
        const void *data = W;
        if (ty != PD_TYPE_F32) {
            size_t rb = pd_row_bytes(ty, L->d_in);
            q = pd_malloc(rb * (size_t)L->d_out);
            if (!q) { st = PD_ERR_NOMEM; goto out; }
            for (int64_t o = 0; o < L->d_out; o++)
                if ((st = pd_quantize_row(ty, W + o * L->d_in, (char *)q + o * rb, L->d_in)) != PD_OK) goto out;
            data = q;
        }
        if ((st = pd_gguf_add_tensor(w, t->name, ty, 2, t->ne, data)) != PD_OK) goto out;
        free(W); free(D); free(q);
        W = D = NULL;
        q = NULL;
        used++;
    }
    if (used != pd_adapter_n_slots(a)) {
        st = pd_fail(PD_ERR_ARG, "merge: %s has only %d of the adapter's %d matrices", base_path, used,
                     pd_adapter_n_slots(a));
        goto out;
    }
    st = pd_gguf_write(w, out_path);
out:
    free(W); free(D); free(q);
    pd_gguf_writer_free(w);
    pd_gguf_close(g);
    return st;
}
