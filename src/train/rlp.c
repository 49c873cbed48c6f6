/* train/rlp.c — RLP (ponder/rlp.h, training.md §9) on the RL engine: corpus positions drawn as
 * items, the "<think>"-opened prompts, the information-gain reward of each thought (policy with the
 * thought vs the EMA teacher without it, both through the inference path with no gradient), and the
 * EMA teacher (its own copy of the parameters, read through a view of the policy's layout). The
 * engine (rl.c) does the sampling, the RLOO-style advantages and the surrogate on thought tokens. */
#include "ponder/rlp.h"
#include "ponder/rl.h"
#include "ponder/alloc.h"
#include "ponder/data.h"
#include "ponder/model.h"
#include "ponder/sampler.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pd_rlp_cfg_default(pd_rlp_cfg *c) {
    memset(c, 0, sizeof *c);
    c->ctx = 64;
    c->tau = 0.999;
}

void pd_rlp_ema(float *phi, const float *theta, size_t n, double tau) {
    for (size_t i = 0; i < n; i++) phi[i] = (float)(tau * phi[i] + (1 - tau) * theta[i]);
}

struct pd_rlp {
    pd_tmodel *m;
    pd_model *view, *tview;     /* the policy's view (the engine's) and the teacher's */
    float *phi;                 /* teacher parameters */
    pd_kv *kv;
    float *logits;
    pd_data *data;
    pd_rlp_cfg c;
    int32_t think_open, think_close, after;
    /* the teacher's score of the current step's items (by prompt string) */
    char **cache_key;
    double *cache_s;
    bool *cache_hit;
    int n_cache, cap_cache;
};

void pd_rlp_free(pd_rlp *p) {
    if (!p) return;
    pd_rlp_begin_step(p);
    free(p->cache_key); free(p->cache_s); free(p->cache_hit);
    pd_model_free(p->tview);
    pd_kv_free(p->kv);
    pd_data_free(p->data);
    free(p->phi);
    free(p->logits);
    free(p);
}

pd_rlp *pd_rlp_new(pd_tmodel *m, pd_model *view, const pd_rlp_cfg *c, const char *corpus) {
    if (!corpus) { pd_fail(PD_ERR_ARG, "rl rlp: needs --data CORPUS.txt (plain text)"); return NULL; }
    if (c->ctx < 1) { pd_fail(PD_ERR_ARG, "rl rlp: the context must hold at least 1 token"); return NULL; }
    if (!(c->tau >= 0 && c->tau < 1)) { pd_fail(PD_ERR_ARG, "rl rlp: the EMA decay must be in [0, 1)"); return NULL; }
    pd_rlp *p = pd_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->m = m; p->view = view; p->c = *c;
    size_t np = pd_tmodel_n_params(m);
    p->phi = pd_malloc(sizeof(float) * np);
    p->logits = pd_malloc(sizeof(float) * (size_t)view->cfg.n_vocab);
    if (!p->phi || !p->logits) goto fail;
    memcpy(p->phi, pd_tmodel_params(m), sizeof(float) * np);   /* φ ← θ */
    if (!(p->tview = pd_rl_view_of(m, p->phi))) goto fail;
    if (!(p->kv = pd_kv_new(&view->cfg, 1, pd_tmodel_cfg(m)->n_ctx, PD_TYPE_F32))) goto fail;
    if (!(p->data = pd_data_file(pd_tmodel_chat(m), corpus, false))) goto fail;
    if (pd_data_kind_of(p->data) != PD_DATA_TEXT) {
        pd_fail(PD_ERR_ARG, "%s: RLP needs a plain-text corpus (not JSONL)", corpus);
        goto fail;
    }
    p->think_open = pd_tok_find(view->tok, "<think>");
    p->think_close = pd_tok_find(view->tok, "</think>");
    p->after = -1;
    if (c->after) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (pd_tokenize(view->tok, c->after, strlen(c->after), false, true, &ids, &n) != PD_OK) goto fail;
        p->after = n == 1 ? ids[0] : -1;
        free(ids);
        if (n != 1) { pd_fail(PD_ERR_ARG, "rl rlp: --rlp-after '%s' is %zu tokens; it must be one", c->after, n); goto fail; }
    }
    return p;
fail:
    pd_rlp_free(p);
    return NULL;
}

const float *pd_rlp_teacher(const pd_rlp *p) { return p->phi; }

void pd_rlp_begin_step(pd_rlp *p) {
    for (int i = 0; i < p->n_cache; i++) free(p->cache_key[i]);
    p->n_cache = 0;
}

void pd_rlp_after_update(pd_rlp *p) { pd_rlp_ema(p->phi, pd_tmodel_params(p->m), pd_tmodel_n_params(p->m), p->c.tau); }

/* decimal ids "a b c" into tok (malloc'd) */
static pd_status parse_ids(const char *s, int32_t **tok, int *n) {
    int cap = 16, k = 0;
    int32_t *t = pd_malloc(sizeof(int32_t) * (size_t)cap);
    if (!t) return PD_ERR_NOMEM;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX) { free(t); return pd_fail(PD_ERR_FORMAT, "rl rlp: bad item"); }
        if (k + 1 >= cap) {   /* one slot always spare: pd_rlp_prompt appends <think> */
            int32_t *nt = pd_realloc(t, sizeof(int32_t) * (size_t)(cap *= 2));
            if (!nt) { free(t); return PD_ERR_NOMEM; }
            t = nt;
        }
        t[k++] = (int32_t)v;
        s = end;
        while (*s == ' ') s++;
    }
    *tok = t;
    *n = k;
    return PD_OK;
}

pd_status pd_rlp_draw(pd_rlp *p, pd_rng *rng, bool heldout, pd_task_item *it) {
    memset(it, 0, sizeof *it);
    pd_tex ex = {0};
    int tries = 0;
    for (;;) {
        pd_tex_free(&ex);
        PD_TRY(pd_data_next(p->data, rng, p->c.ctx + 1, heldout, &ex));
        if (ex.n < 2) { pd_tex_free(&ex); return pd_fail(PD_ERR_ARG, "rl rlp: the corpus is shorter than 2 tokens"); }
        if (p->after < 0 || ex.tok[ex.n - 2] == p->after) break;
        if (++tries >= 100000) {
            pd_tex_free(&ex);
            return pd_fail(PD_ERR_ARG, "rl rlp: no position after '%s' found in 100000 draws", p->c.after);
        }
    }
    pd_buf b = {0};
    for (int i = 0; i + 1 < ex.n; i++) pd_buf_printf(&b, i ? " %d" : "%d", ex.tok[i]);
    char ans[16];
    snprintf(ans, sizeof ans, "%d", ex.tok[ex.n - 1]);
    pd_tex_free(&ex);
    it->prompt = b.data ? pd_strndup(b.data, b.len) : NULL;
    pd_buf_free(&b);
    it->id = pd_strdup("rlp");
    it->reasoning = pd_strdup("");
    it->answer = pd_strdup(ans);
    if (!it->prompt || !it->id || !it->reasoning || !it->answer) { pd_task_item_free(it); return PD_ERR_NOMEM; }
    return PD_OK;
}

pd_status pd_rlp_prompt(const pd_rlp *p, const pd_task_item *it, int32_t **tok, int *n) {
    PD_TRY(parse_ids(it->prompt, tok, n));
    if (p->think_open >= 0) (*tok)[(*n)++] = p->think_open;   /* parse_ids leaves one slot spare */
    return PD_OK;
}

/* log p(next | tok[0..n)) and whether next is the argmax, under pm */
static pd_status score_after(pd_rlp *p, const pd_model *pm, const int32_t *tok, int n, int32_t next, double *lp,
                             bool *hit) {
    pd_kv_seq_clear(p->kv, 0);
    pd_status st = pd_model_eval(pm, p->kv, 0, tok, n, false, p->logits);
    pd_kv_seq_clear(p->kv, 0);
    if (st != PD_OK) return st;
    int V = pm->cfg.n_vocab, best = 0;
    for (int j = 1; j < V; j++) if (p->logits[j] > p->logits[best]) best = j;
    *lp = pd_logprob_of(p->logits, V, next);
    *hit = best == next;
    return PD_OK;
}

pd_status pd_rlp_score(pd_rlp *p, const pd_task_item *it, const int32_t *tok, int n, double *s_pred, double *s_ema,
                       bool *hit_pred, bool *hit_ema) {
    int32_t next = (int32_t)strtol(it->answer, NULL, 10);
    int32_t *ctx = NULL;
    int nc = 0;
    PD_TRY(parse_ids(it->prompt, &ctx, &nc));
    int ci = -1;
    for (int i = 0; i < p->n_cache && ci < 0; i++) if (!strcmp(p->cache_key[i], it->prompt)) ci = i;
    pd_status st = PD_OK;
    if (ci < 0) {
        if (p->n_cache == p->cap_cache) {
            int nc2 = p->cap_cache ? p->cap_cache * 2 : 16;
            char **k = pd_realloc(p->cache_key, sizeof *k * (size_t)nc2);
            if (k) p->cache_key = k;
            double *s = k ? pd_realloc(p->cache_s, sizeof *s * (size_t)nc2) : NULL;
            if (s) p->cache_s = s;
            bool *h = s ? pd_realloc(p->cache_hit, sizeof *h * (size_t)nc2) : NULL;
            if (h) p->cache_hit = h;
            if (!h) { free(ctx); return PD_ERR_NOMEM; }
            p->cap_cache = nc2;
        }
        ci = p->n_cache;
        st = score_after(p, p->tview, ctx, nc, next, &p->cache_s[ci], &p->cache_hit[ci]);
        if (st == PD_OK && !(p->cache_key[ci] = pd_strdup(it->prompt))) st = PD_ERR_NOMEM;
        if (st == PD_OK) p->n_cache++;
    }
    free(ctx);
    if (st != PD_OK) return st;
    *s_ema = p->cache_s[ci];
    *hit_ema = p->cache_hit[ci];
    /* the policy on context + <think> + thought (+ an appended </think>) */
    bool closed = n > 0 && tok[n - 1] == p->think_close;
    int32_t *seq = pd_malloc(sizeof(int32_t) * (size_t)(n + 1));
    if (!seq) return PD_ERR_NOMEM;
    memcpy(seq, tok, sizeof(int32_t) * (size_t)n);
    int ns = n;
    /* an end-of-generation token that ended the thought is replaced by the close (it is not text) */
    if (ns > 0 && pd_tok_is_eog(p->view->tok, seq[ns - 1]) && !closed) ns--;
    if (!closed && p->think_close >= 0) seq[ns++] = p->think_close;
    st = score_after(p, p->view, seq, ns, next, s_pred, hit_pred);
    free(seq);
    return st;
}
