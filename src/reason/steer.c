/* reason/steer.c — activation steering (ponder/steer.h): control-vector files in llama.cpp's
 * layout, steering vectors by difference of means, the per-sequence residual hook, and the
 * `steer` policy that decides at which positions the vector is added. */
#include "ponder/steer.h"
#include "ponder/alloc.h"
#include "ponder/gguf.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CVEC_MAX_LAYERS = 4096 };   /* far above any model's layer count; bounds what a file can make us allocate */

/* ---------------------------------------------------------------- files */

pd_cvec *pd_cvec_new(int n_embd, int n_layer, const char *hint) {
    if (n_embd < 1 || n_layer < 2 || n_layer > CVEC_MAX_LAYERS) {
        pd_fail(PD_ERR_ARG, "control vector: n_embd %d, %d layers (need n_embd >= 1 and 2 .. %d layers)", n_embd, n_layer,
                CVEC_MAX_LAYERS);
        return NULL;
    }
    pd_cvec *c = pd_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n_embd = n_embd;
    c->n_layer = n_layer;
    c->dir = pd_calloc((size_t)n_layer * (size_t)n_embd, sizeof(float));
    c->has = pd_calloc((size_t)n_layer, 1);
    if (!c->dir || !c->has) { pd_cvec_free(c); return NULL; }
    for (int l = 1; l < n_layer; l++) c->has[l] = 1;
    snprintf(c->hint, sizeof c->hint, "%s", hint ? hint : "");
    return c;
}

void pd_cvec_free(pd_cvec *c) {
    if (!c) return;
    free(c->dir);
    free(c->has);
    free(c);
}

pd_status pd_cvec_save(const pd_cvec *c, const char *path) {
    if (!c || !path) return pd_fail(PD_ERR_ARG, "control vector: nothing to write");
    int n = 0;
    for (int l = 1; l < c->n_layer; l++) n += c->has[l] != 0;
    if (!n) return pd_fail(PD_ERR_ARG, "%s: control vector has no directions", path);
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (!w) return PD_ERR_NOMEM;
    pd_status st = pd_gguf_set_str(w, "general.architecture", "controlvector");
    if (st == PD_OK) st = pd_gguf_set_str(w, "controlvector.model_hint", c->hint);
    if (st == PD_OK) st = pd_gguf_set_i32(w, "controlvector.layer_count", n);
    for (int l = 1; st == PD_OK && l < c->n_layer; l++) {
        if (!c->has[l]) continue;
        char name[32];
        snprintf(name, sizeof name, "direction.%d", l);
        int64_t ne[1] = {c->n_embd};
        st = pd_gguf_add_tensor(w, name, PD_TYPE_F32, 1, ne, c->dir + (size_t)l * (size_t)c->n_embd);
    }
    if (st == PD_OK) st = pd_gguf_write(w, path);
    pd_gguf_writer_free(w);
    return st;
}

/* "direction.<l>" with l a decimal integer in [1, CVEC_MAX_LAYERS): l, else -1 (not a direction) or 0. */
static long direction_index(const char *name) {
    if (strncmp(name, "direction.", 10)) return -1;
    const char *d = name + 10;
    if (*d < '0' || *d > '9') return -1;
    char *e;
    errno = 0;
    long l = strtol(d, &e, 10);
    if (*e || errno || l >= CVEC_MAX_LAYERS) return -1;
    return l;
}

pd_cvec *pd_cvec_load(const char *path) {
    pd_gguf *g = pd_gguf_open(path);
    if (!g) return NULL;
    const char *arch;
    size_t al;
    pd_cvec *c = NULL;
    if (pd_gguf_get_str(g, "general.architecture", &arch, &al) && !(al == 13 && !memcmp(arch, "controlvector", 13))) {
        pd_fail(PD_ERR_FORMAT, "%s: not a control vector (general.architecture is '%.*s', expected 'controlvector')", path,
                (int)(al > 64 ? 64 : al), arch);
        goto done;
    }
    int64_t nt = pd_gguf_n_tensors(g);
    long top = 0;
    int64_t n_embd = -1;
    for (int64_t i = 0; i < nt; i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        long l = direction_index(t->name);
        if (l < 0) { pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' is not direction.<layer> (a control vector holds only those)", path, t->name); goto done; }
        if (l == 0) { pd_fail(PD_ERR_FORMAT, "%s: tensor 'direction.0': layer 0 cannot be steered (directions start at 1)", path); goto done; }
        if (t->type != PD_TYPE_F32) { pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' is %s, a direction must be F32", path, t->name, pd_type_name(t->type)); goto done; }
        if (t->n_dims != 1) { pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' has %d dimensions, a direction has 1", path, t->name, t->n_dims); goto done; }
        if (n_embd < 0) n_embd = t->ne[0];
        if (t->ne[0] != n_embd || n_embd < 1) {
            pd_fail(PD_ERR_FORMAT, "%s: tensor '%s' has %lld elements, the first direction %lld", path, t->name, (long long)t->ne[0],
                    (long long)n_embd);
            goto done;
        }
        if (l > top) top = l;
    }
    if (n_embd < 0) { pd_fail(PD_ERR_FORMAT, "%s: no direction.<layer> tensors", path); goto done; }
    if (n_embd > (1 << 24) || n_embd * (top + 1) > ((int64_t)1 << 28)) {
        pd_fail(PD_ERR_FORMAT, "%s: directions of %lld elements up to layer %ld: too large", path, (long long)n_embd, top);
        goto done;
    }
    const char *hint = "";
    size_t hl = 0;
    char hbuf[64] = "";
    if (pd_gguf_get_str(g, "controlvector.model_hint", &hint, &hl)) snprintf(hbuf, sizeof hbuf, "%.*s", (int)(hl > 63 ? 63 : hl), hint);
    if (!(c = pd_cvec_new((int)n_embd, (int)top + 1, hbuf))) goto done;
    memset(c->has, 0, (size_t)c->n_layer);
    for (int64_t i = 0; i < nt; i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        long l = direction_index(t->name);
        memcpy(c->dir + (size_t)l * (size_t)n_embd, t->data, (size_t)n_embd * sizeof(float));
        c->has[l] = 1;
    }
done:
    pd_gguf_close(g);
    return c;
}

pd_status pd_cvec_check(const pd_cvec *c, const pd_model *m, const char *label) {
    if (c->n_embd != m->cfg.n_embd)
        return pd_fail(PD_ERR_ARG, "%s: directions of %d elements, the model's n_embd is %d", label, c->n_embd, m->cfg.n_embd);
    for (int l = m->cfg.n_layer; l < c->n_layer; l++)
        if (c->has[l]) return pd_fail(PD_ERR_ARG, "%s: direction.%d, but the model has %d layers (0 … %d)", label, l, m->cfg.n_layer,
                                      m->cfg.n_layer - 1);
    return PD_OK;
}

/* ---------------------------------------------------------------- difference of means */

typedef struct { double *sum; int64_t rows; int n_layer, n_embd; } mean_acc;

static void acc_hook(void *ctx, int layer, float *x, int64_t n, int64_t E, const int32_t *seq, const int32_t *pos) {
    (void)seq; (void)pos;
    mean_acc *a = ctx;
    if (layer == 0) a->rows += n;
    double *s = a->sum + (size_t)layer * (size_t)E;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < E; j++) s[j] += x[i * E + j];
}

/* set_mean[l][j] = mean over texts of (mean over that text's rows of x after block l). */
static pd_status set_mean(pd_model *m, const char *const *texts, int n, double *set_mean, const char *which) {
    const int L = m->cfg.n_layer, E = m->cfg.n_embd;
    mean_acc a = {.sum = pd_calloc((size_t)L * (size_t)E, sizeof(double)), .n_layer = L, .n_embd = E};
    if (!a.sum) return PD_ERR_NOMEM;
    pd_status st = PD_OK;
    m->residual_rows_hook = acc_hook;
    m->residual_rows_hook_ctx = &a;
    for (int t = 0; t < n && st == PD_OK; t++) {
        int32_t *ids = NULL;
        size_t k = 0;
        st = pd_tokenize(m->tok, texts[t], strlen(texts[t]), false, false, &ids, &k);
        if (st == PD_OK && k == 0) st = pd_fail(PD_ERR_ARG, "%s text %d is empty", which, t + 1);
        pd_kv *kv = NULL;
        if (st == PD_OK && !(kv = pd_kv_new(&m->cfg, 1, (int)k, PD_TYPE_F32))) st = PD_ERR_NOMEM;
        memset(a.sum, 0, (size_t)L * (size_t)E * sizeof(double));
        a.rows = 0;
        if (st == PD_OK) st = pd_model_eval(m, kv, 0, ids, (int)k, false, NULL);
        if (st == PD_OK)
            for (size_t j = 0; j < (size_t)L * (size_t)E; j++) set_mean[j] += a.sum[j] / (double)a.rows / n;
        if (st != PD_OK) st = pd_fail_ctx(st, "%s text %d", which, t + 1);
        pd_kv_free(kv);
        free(ids);
    }
    m->residual_rows_hook = NULL;
    m->residual_rows_hook_ctx = NULL;
    free(a.sum);
    return st;
}

pd_status pd_cvec_mean_diff(pd_model *m, const char *const *pos, int n_pos, const char *const *neg, int n_neg, pd_cvec **out) {
    *out = NULL;
    if (!m || !m->tok) return pd_fail(PD_ERR_ARG, "steer: the model has no vocabulary");
    if (n_pos < 1 || n_neg < 1) return pd_fail(PD_ERR_ARG, "steer: need at least one positive and one negative text (got %d and %d)", n_pos, n_neg);
    if (m->residual_rows_hook) return pd_fail(PD_ERR_ARG, "steer: the model already has a residual hook");
    const int L = m->cfg.n_layer, E = m->cfg.n_embd;
    if (L < 2) return pd_fail(PD_ERR_ARG, "steer: the model has %d layer; directions start at layer 1", L);
    double *mp = pd_calloc((size_t)L * (size_t)E, sizeof(double)), *mn = pd_calloc((size_t)L * (size_t)E, sizeof(double));
    pd_status st = mp && mn ? PD_OK : PD_ERR_NOMEM;
    if (st == PD_OK) st = set_mean(m, pos, n_pos, mp, "positive");
    if (st == PD_OK) st = set_mean(m, neg, n_neg, mn, "negative");
    pd_cvec *c = st == PD_OK ? pd_cvec_new(E, L, m->cfg.arch_name) : NULL;
    if (st == PD_OK && !c) st = PD_ERR_NOMEM;
    if (st == PD_OK) {
        for (size_t j = (size_t)E; j < (size_t)L * (size_t)E; j++) c->dir[j] = (float)(mp[j] - mn[j]);
        *out = c;
    }
    free(mp);
    free(mn);
    return st;
}

/* ---------------------------------------------------------------- runtime */

typedef struct {
    const pd_cvec *cv;
    const uint8_t *mask;
    float scale;
    bool on;
    int from;
    long rows;
} entry_t;

typedef struct { char *path; pd_cvec *cv; } file_t;

struct pd_steer {
    pd_model *m;
    entry_t *e;
    int n_e;
    file_t *files;
    int n_files;
    long total;
};

static void steer_hook(void *ctx, int layer, float *x, int64_t n, int64_t E, const int32_t *seq, const int32_t *pos) {
    pd_steer *s = ctx;
    for (int64_t i = 0; i < n; i++) {
        int q = seq ? seq[i] : 0;
        if (q < 0 || q >= s->n_e) continue;
        entry_t *e = &s->e[q];
        if (!e->on || !e->cv || (pos && pos[i] < e->from)) continue;
        if (layer == 0) { e->rows++; s->total++; }
        if (layer >= e->cv->n_layer || !e->cv->has[layer] || (e->mask && !e->mask[layer])) continue;
        const float *v = e->cv->dir + (size_t)layer * (size_t)E;
        float *r = x + i * E;
        for (int64_t j = 0; j < E; j++) r[j] += e->scale * v[j];
    }
}

pd_steer *pd_steer_attach(pd_model *m) {
    if (!m) { pd_fail(PD_ERR_ARG, "steer: no model"); return NULL; }
    if (m->residual_rows_hook) { pd_fail(PD_ERR_ARG, "steer: the model already has a residual hook"); return NULL; }
    pd_steer *s = pd_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m;
    m->residual_rows_hook = steer_hook;
    m->residual_rows_hook_ctx = s;
    return s;
}

void pd_steer_detach(pd_steer *s) {
    if (!s) return;
    if (s->m->residual_rows_hook_ctx == s) {
        s->m->residual_rows_hook = NULL;
        s->m->residual_rows_hook_ctx = NULL;
    }
    pd_steer_free(s);
}

void pd_steer_free(pd_steer *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) {
        free(s->files[i].path);
        pd_cvec_free(s->files[i].cv);
    }
    free(s->files);
    free(s->e);
    free(s);
}

const pd_model *pd_steer_model(const pd_steer *s) { return s->m; }

pd_status pd_steer_file(pd_steer *s, const char *path, const pd_cvec **out) {
    *out = NULL;
    for (int i = 0; i < s->n_files; i++)
        if (!strcmp(s->files[i].path, path)) { *out = s->files[i].cv; return PD_OK; }
    pd_cvec *c = pd_cvec_load(path);
    if (!c) return PD_ERR_FORMAT;   /* the message says why (I/O or format) */
    pd_status st = pd_cvec_check(c, s->m, path);
    file_t *nf = st == PD_OK ? pd_realloc(s->files, (size_t)(s->n_files + 1) * sizeof *nf) : NULL;
    char *p = nf ? pd_strdup(path) : NULL;
    if (nf) s->files = nf;
    if (st == PD_OK && !p) st = PD_ERR_NOMEM;
    if (st != PD_OK) { pd_cvec_free(c); free(p); return st; }
    s->files[s->n_files++] = (file_t){p, c};
    *out = c;
    return PD_OK;
}

pd_status pd_steer_set(pd_steer *s, int seq, const pd_cvec *cv, float scale, const uint8_t *layers) {
    if (seq < 0 || seq > (1 << 20)) return pd_fail(PD_ERR_RANGE, "steer: sequence %d", seq);
    if (seq >= s->n_e) {
        int n = seq + 1 > 2 * s->n_e ? seq + 1 : 2 * s->n_e;
        entry_t *ne = pd_realloc(s->e, (size_t)n * sizeof *ne);
        if (!ne) return PD_ERR_NOMEM;
        memset(ne + s->n_e, 0, (size_t)(n - s->n_e) * sizeof *ne);
        s->e = ne;
        s->n_e = n;
    }
    s->e[seq] = (entry_t){.cv = cv, .mask = layers, .scale = scale};
    return PD_OK;
}

void pd_steer_fire(pd_steer *s, int seq, bool on, int from) {
    if (seq < 0 || seq >= s->n_e) return;
    if (on && !s->e[seq].on) s->e[seq].from = from;
    s->e[seq].on = on && s->e[seq].cv;
}

void pd_steer_clear(pd_steer *s, int seq) {
    if (seq >= 0 && seq < s->n_e) s->e[seq] = (entry_t){0};
}

long pd_steer_rows(const pd_steer *s, int seq) { return seq >= 0 && seq < s->n_e ? s->e[seq].rows : 0; }
long pd_steer_total_rows(const pd_steer *s) { return s->total; }

pd_status pd_steer_parse_layers(const char *text, int n_layer, uint8_t *mask) {
    memset(mask, 0, (size_t)n_layer);
    if (!strcmp(text, "all")) {
        for (int l = 1; l < n_layer; l++) mask[l] = 1;
        return PD_OK;
    }
    const char *p = text;
    for (;;) {
        char *e;
        errno = 0;
        long a = strtol(p, &e, 10), b = a;
        if (e == p || errno) goto bad;
        if (*e == '-') {
            const char *q = e + 1;
            b = strtol(q, &e, 10);
            if (e == q || errno) goto bad;
        }
        if (a < 1 || b < a || b >= n_layer)
            return pd_fail(PD_ERR_ARG, "steer: layers=%s: layers must lie in 1 … %d (the vector's), in increasing ranges", text, n_layer - 1);
        for (long l = a; l <= b; l++) mask[l] = 1;
        if (!*e) return PD_OK;
        if (*e != '|') goto bad;
        p = e + 1;
    }
bad:
    return pd_fail(PD_ERR_ARG, "steer: layers=%s: expected all, L, A-B or such items joined by '|'", text);
}

/* ---------------------------------------------------------------- the policy */

typedef enum { W_ALWAYS, W_THINKING, W_ANSWER, W_REFLECT } when_t;

typedef struct {
    pd_steer *st;
    const pd_cvec *cv;
    uint8_t *mask;
    float scale;
    when_t when;
    int span, left;
    bool prompt;
    int seq;
} pol_t;

static bool fires(pol_t *p, const pd_seq_state *s, unsigned boundary) {
    switch (p->when) {
    case W_ALWAYS: return true;
    case W_THINKING: return s->phase == PD_PHASE_THINKING;
    case W_ANSWER: return s->phase == PD_PHASE_ANSWER;
    case W_REFLECT:
        if (s->phase != PD_PHASE_THINKING) { p->left = 0; return false; }
        if (boundary & PD_BOUNDARY_PARAGRAPH) p->left = p->span;
        if (p->left <= 0) return false;
        p->left--;
        return true;
    }
    return false;
}

static void st_start(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)a;
    pol_t *p = ctx;
    p->seq = s->seq;
    if (pd_steer_set(p->st, s->seq, p->cv, p->scale, p->mask) != PD_OK) { p->seq = -1; return; }
    /* the row whose output is sampled first is the prompt's last; the whole prompt with prompt=1 */
    if (fires(p, s, 0)) pd_steer_fire(p->st, s->seq, true, p->prompt ? 0 : s->n_tokens - 1);
}

static void st_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    (void)a;
    pol_t *p = ctx;
    if (p->seq < 0) return;
    /* the token just sampled (position n_tokens - 1) is fed next; its output gives the next token */
    bool on = fires(p, s, s->boundary);
    pd_steer_fire(p->st, p->seq, on, s->n_tokens - 1);
}

static void st_release(void *ctx) {
    pol_t *p = ctx;
    if (p->seq >= 0) pd_steer_clear(p->st, p->seq);
    free(p->mask);
    free(p);
}

pd_status pd_steer_make(const pd_reason_spec *spec, const pd_reason_env *env, pd_policy *out) {
    if (!env->steer) return pd_fail(PD_ERR_ARG, "needs the model's steering hook (pd_steer_attach)");
    const char *file = pd_reason_str(spec, "file");
    if (!*file) return pd_fail(PD_ERR_ARG, "file=FILE (a control vector, `ponder steer`) is required");
    const pd_cvec *cv;
    PD_TRY(pd_steer_file(env->steer, file, &cv));
    pol_t *p = pd_calloc(1, sizeof *p);
    uint8_t *mask = pd_malloc((size_t)cv->n_layer);
    if (!p || !mask) { free(p); free(mask); return PD_ERR_NOMEM; }
    pd_status st = pd_steer_parse_layers(pd_reason_str(spec, "layers"), cv->n_layer, mask);
    if (st != PD_OK) { free(p); free(mask); return st; }
    const char *w = pd_reason_str(spec, "when");
    *p = (pol_t){.st = env->steer, .cv = cv, .mask = mask, .scale = (float)pd_reason_float(spec, "scale"),
                 .when = !strcmp(w, "thinking") ? W_THINKING : !strcmp(w, "answer") ? W_ANSWER : !strcmp(w, "reflect") ? W_REFLECT : W_ALWAYS,
                 .span = pd_reason_int(spec, "span"), .prompt = pd_reason_int(spec, "prompt") != 0, .seq = -1};
    *out = (pd_policy){.name = "steer", .ctx = p, .on_start = st_start, .on_token = st_token, .release = st_release};
    return PD_OK;
}
