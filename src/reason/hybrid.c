/* reason/hybrid.c — hybrid base + thinking decoding (ponder/hybrid.h): the per-token decision and
 * the loop over two models with their own KV caches; the steered candidates are computed on a
 * scratch sequence of the base cache so the base's own KV never holds a steered row. */
#include "ponder/hybrid.h"
#include "ponder/alloc.h"
#include "ponder/sampler.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void pd_hybrid_result_free(pd_hybrid_result *r) {
    if (!r) return;
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

pd_status pd_hybrid_parse_coefs(const char *text, float *coefs, int max, int *n) {
    *n = 0;
    const char *p = text;
    if (!p || !*p) return pd_fail(PD_ERR_ARG, "hybrid: coefs: empty list");
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v) || (*end && *end != ':'))
            return pd_fail(PD_ERR_ARG, "hybrid: coefs \"%s\": bad number at offset %d", text, (int)(p - text));
        if (*n == max) return pd_fail(PD_ERR_ARG, "hybrid: coefs \"%s\": more than %d values", text, max);
        coefs[(*n)++] = (float)v;
        if (!*end) return PD_OK;
        p = end + 1;
    }
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int32_t pd_hybrid_pick(const float *base_logits, const float *think_logits, const float *cand_logits, int n_coefs,
                       int n_vocab, int *steered) {
    int b = argmax(base_logits, n_vocab), th = argmax(think_logits, n_vocab);
    *steered = b != th;
    if (b == th) return b;
    int best = -1;
    double best_lp = -INFINITY;
    for (int c = 0; c < n_coefs; c++) {
        int cand = argmax(cand_logits + (size_t)c * (size_t)n_vocab, n_vocab);
        double lp = pd_logprob_of(think_logits, n_vocab, cand);
        if (best < 0 || lp > best_lp) best = cand, best_lp = lp;
    }
    return best < 0 ? b : best;
}

static pd_status feed(const pd_model *m, pd_kv *kv, int seq, int32_t tok, float *logits) {
    return pd_model_eval(m, kv, seq, &tok, 1, false, logits);
}

pd_status pd_hybrid_run(pd_steer *st, const pd_model *think, const int32_t *prompt, int n_prompt,
                        const pd_hybrid_params *p, pd_hybrid_result *r) {
    memset(r, 0, sizeof *r);
    const pd_model *base = st ? pd_steer_model(st) : NULL;
    if (!base || !think || !prompt || n_prompt < 1 || !p || !p->cv || p->n_coefs < 1 || p->n_coefs > PD_HYBRID_MAX_COEFS ||
        p->max_tokens < 0)
        return pd_fail(PD_ERR_ARG, "hybrid: bad arguments (steer, thinking model, prompt of %d tokens, %d coefficients)",
                       n_prompt, p ? p->n_coefs : 0);
    int nv = base->cfg.n_vocab;
    if (think->cfg.n_vocab != nv)
        return pd_fail(PD_ERR_ARG, "hybrid: the thinking model's vocabulary (%d) differs from the base's (%d)",
                       think->cfg.n_vocab, nv);
    pd_status s = pd_cvec_check(p->cv, base, "hybrid");
    if (s != PD_OK) return s;
    int n_ctx = n_prompt + p->max_tokens + 1;
    pd_kv *kb = pd_kv_new(&base->cfg, 2, n_ctx, PD_TYPE_F32), *kt = pd_kv_new(&think->cfg, 1, n_ctx, PD_TYPE_F32);
    float *lb = pd_malloc(sizeof(float) * (size_t)nv), *lt = pd_malloc(sizeof(float) * (size_t)nv);
    float *lc = pd_malloc(sizeof(float) * (size_t)nv * (size_t)p->n_coefs);
    r->tokens = pd_malloc(sizeof(int32_t) * (size_t)n_ctx);
    if (!kb || !kt || !lb || !lt || !lc || !r->tokens) {
        s = pd_fail(PD_ERR_NOMEM, "hybrid: buffers for %d positions", n_ctx);
        goto done;
    }
    memcpy(r->tokens, prompt, sizeof(int32_t) * (size_t)n_prompt);
    r->n_tokens = r->n_prompt = n_prompt;
    if ((s = pd_model_eval(base, kb, 0, prompt, n_prompt, false, lb)) != PD_OK) goto done;
    if ((s = pd_model_eval(think, kt, 0, prompt, n_prompt, false, lt)) != PD_OK) goto done;
    while (r->n_generated < p->max_tokens) {
        int n = r->n_tokens;
        int b = argmax(lb, nv), th = argmax(lt, nv);
        if (b != th)   /* the candidates: base with c·v at the last row, on a scratch copy (seq 1) */
            for (int c = 0; c < p->n_coefs; c++) {
                if ((s = pd_kv_seq_copy(kb, 0, 1)) != PD_OK || (s = pd_kv_seq_rewind(kb, 1, n - 1)) != PD_OK) goto done;
                if ((s = pd_steer_set(st, 1, p->cv, p->coefs[c], p->layers)) != PD_OK) goto done;
                pd_steer_fire(st, 1, true, n - 1);
                s = feed(base, kb, 1, r->tokens[n - 1], lc + (size_t)c * (size_t)nv);
                pd_steer_clear(st, 1);
                pd_kv_seq_clear(kb, 1);
                if (s != PD_OK) goto done;
            }
        int steered;
        int32_t t = pd_hybrid_pick(lb, lt, lc, b != th ? p->n_coefs : 0, nv, &steered);
        r->n_disagree += steered;
        r->n_changed += t != b;
        r->tokens[r->n_tokens++] = t;
        r->n_generated++;
        if (p->stop_at_eog && base->tok && pd_tok_is_eog(base->tok, t)) break;
        if (r->n_generated == p->max_tokens) break;
        if ((s = feed(base, kb, 0, t, lb)) != PD_OK || (s = feed(think, kt, 0, t, lt)) != PD_OK) goto done;
    }
done:
    pd_steer_clear(st, 1);
    pd_kv_free(kb);
    pd_kv_free(kt);
    free(lb);
    free(lt);
    free(lc);
    if (s != PD_OK) pd_hybrid_result_free(r);
    return s;
}
