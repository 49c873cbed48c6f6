/* train/rl.c — the RL engine (ponder/rl.h): the zero-copy weight view, rollouts through gen/ (each
 * prompt prefilled once and forked G ways, all B·G sequences decoded in one batch), rewards from the
 * task verifiers, group advantages with DAPO's dynamic sampling, the reference log-probs for the KL
 * term (inference path over the frozen reference's view), and the learner: μ epochs × K minibatches
 * of forward on the training engine, the surrogate's dL/dlogp (rl_adv.c) turned into dL/dlogits,
 * backward, AdamW. The run around it (checkpoints, logs, evaluation) is rl_run.c. */
#include "train_int.h"
#include "ponder/rl.h"
#include "ponder/adapted.h"
#include "ponder/alloc.h"
#include "ponder/dist.h"
#include "ponder/budget.h"
#include "ponder/data.h"
#include "ponder/gen.h"
#include "ponder/gguf.h"
#include "ponder/model.h"
#include "ponder/rl_memory.h"
#include "ponder/rlp.h"
#include "ponder/rl_shape.h"
#include "ponder/sampler.h"
#include "ponder/timer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the weight view ---- */

/* t (a tensor of the inference model) to the trainer's f32 copy of the same name; a frozen matrix
 * (stored type, adapters) keeps the file's data */
static pd_status repoint(pd_tmodel *m, pd_tensor *t) {
    if (!t->data) return PD_OK;
    for (int i = 0; i < m->n_tensors; i++) {
        const pd_ttensor *e = &m->tensors[i];
        if (!t->name || strcmp(t->name, e->name)) continue;
        if (t->ne[0] != e->ne[0] || t->ne[1] != e->ne[1] || t->ne[2] != 1 || t->ne[3] != 1)
            return pd_fail(PD_ERR_STATE, "rl view: tensor '%s' does not match the trainer's layout", e->name);
        if (pd_tmodel_is_frozen(m, i)) return PD_OK;
        t->type = PD_TYPE_F32;
        t->nb[0] = sizeof(float);
        for (int d = 1; d < 4; d++) t->nb[d] = t->nb[d - 1] * (size_t)t->ne[d - 1];
        t->data = m->params + e->offset;
        return PD_OK;
    }
    return pd_fail(PD_ERR_STATE, "rl view: tensor '%s' has no trainer parameter", t->name ? t->name : "?");
}

/* every weight tensor of pm through fn */
static pd_status each_weight(pd_model *pm, pd_status (*fn)(void *ctx, pd_tensor *t), void *ctx) {
    pd_status st = fn(ctx, &pm->tok_embd);
    if (st == PD_OK) st = fn(ctx, &pm->output_norm);
    if (st == PD_OK && !pm->cfg.tied_output) st = fn(ctx, &pm->output);
    for (int l = 0; l < pm->cfg.n_layer && st == PD_OK; l++) {
        pd_layer *L = &pm->layers[l];
        pd_tensor *ts[] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wqkv, &L->bq, &L->bk, &L->bv, &L->q_norm,
                           &L->k_norm, &L->wo, &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_gate_up, &L->w_down};
        for (size_t k = 0; k < sizeof ts / sizeof ts[0] && st == PD_OK; k++) st = fn(ctx, ts[k]);
    }
    if (st == PD_OK && pm->cfg.tied_output) pm->output = pm->tok_embd;
    return st;
}

static pd_status repoint_fn(void *ctx, pd_tensor *t) { return repoint(ctx, t); }

pd_model *pd_rl_view(pd_tmodel *m) {
    /* The config and tokenizer of an inference model, whose weight tensors then point into the
     * trainer's parameters. A model loaded from a GGUF file is opened again (mapped, its weights
     * never read: no copy); one made in memory comes from a snapshot (an in-memory GGUF whose
     * weights stay unused). */
    pd_model *pm = NULL;
    if (m->src && m->src->gguf) {
        const char *path = pd_gguf_path(m->src->gguf);
        FILE *f = path ? fopen(path, "rb") : NULL;
        char magic[4] = {0};
        bool gguf = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
        if (f) fclose(f);
        if (gguf) pm = pd_model_load(path);
    }
    if (!pm) pm = pd_tmodel_snapshot(m);
    if (!pm) return NULL;
    if (pm->cfg.n_layer != m->cfg.n_layer || pm->cfg.n_vocab != m->cfg.n_vocab ||
        each_weight(pm, repoint_fn, m) != PD_OK) {
        if (pm->cfg.n_layer != m->cfg.n_layer || pm->cfg.n_vocab != m->cfg.n_vocab)
            pd_fail(PD_ERR_STATE, "rl view: the model file changed since it was loaded");
        pd_model_free(pm);
        return NULL;
    }
    return pm;
}

/* pd_rl_view with the trainer-owned tensors moved into `params` (same offsets): RLP's EMA teacher */
static pd_status shift_fn(void *ctx, pd_tensor *t) {
    const float *const *pp = ctx;   /* [0] m's params, [1] the other buffer */
    const float *d = t->data;
    if (d && t->type == PD_TYPE_F32 && d >= pp[0] && d < pp[2]) t->data = (void *)(pp[1] + (d - pp[0]));
    return PD_OK;
}

pd_model *pd_rl_view_of(pd_tmodel *m, const float *params) {
    pd_model *pm = pd_rl_view(m);
    const float *pp[3] = {m->params, params, m->params + m->n_params};
    if (pm && each_weight(pm, shift_fn, (void *)pp) != PD_OK) { pd_model_free(pm); return NULL; }
    return pm;
}

/* the base with the adapter off: the policy's view with each adapted matrix at its base values */
static pd_status unadapt_fn(void *ctx, pd_tensor *t) {
    const float *w0 = t->name ? pd_adapted_base(ctx, t->name) : NULL;
    if (w0) t->data = (void *)w0;
    return PD_OK;
}

static pd_model *base_view(pd_adapted *ad) {
    pd_model *pm = pd_rl_view(ad->m);
    if (pm && each_weight(pm, unadapt_fn, ad) != PD_OK) { pd_model_free(pm); return NULL; }
    return pm;
}

/* ---- defaults ---- */

void pd_rl_cfg_for_algo(pd_rl_cfg *c, pd_rl_algo algo) {
    memset(c, 0, sizeof *c);
    c->algo = algo;
    c->B = 8; c->G = 8;
    c->temperature = 1.0f; c->top_p = 1.0f;
    c->max_tokens = 256;
    c->think_budget = -1;
    c->eps_low = 0.2; c->eps_high = 0.2;
    c->beta = 0; c->adv_eps = 1e-6;
    c->ppo_epochs = 1; c->minibatches = 1;
    c->max_draws = 4;
    c->w_correct = 1; c->w_format = 0;
    c->micro_rows = 16;
    pd_optcfg_default(&c->opt);
    c->opt.lr = 1e-6f; c->opt.warmup = 0; c->opt.min_lr_frac = 1.0f; c->opt.weight_decay = 0; c->opt.clip = 1.0f;
    c->agg = PD_RL_SEQ_MEAN_TOKEN_MEAN;
    if (algo == PD_RL_DRGRPO) c->agg = PD_RL_SEQ_SUM_CONST;
    pd_rl_mem_cfg_default(&c->mem);
    pd_rlp_cfg_default(&c->rlp);
    pd_rl_shape_cfg_default(&c->shape);
    c->elastic.answer_budget = -1;   /* rl_elastic.h: off */
    pd_rl_brpo_defaults(&c->brpo);
    pd_rl_gates_cfg_default(&c->gates);   /* rl_gates.h: off */
    if (algo == PD_RL_BRPO) c->agg = PD_RL_TOKEN_MEAN;   /* trace and summary tokens in one token mean [P] */
    if (pd_rl_shape_algo_name(algo) && algo != PD_RL_DSRL) c->agg = PD_RL_TOKEN_MEAN;   /* §4.1 [P] */
    if (algo == PD_RL_RLP) {   /* training.md §9.2 at small scale: T 0.7, short thoughts */
        c->temperature = 0.7f;
        c->max_tokens = 32;
    }
    if (algo == PD_RL_DAPO) {
        c->agg = PD_RL_TOKEN_MEAN;
        c->eps_high = 0.28;
        c->dynamic_sampling = true;
        c->overlong_buffer = c->max_tokens / 4;
    }
}

/* ---- the engine ---- */

typedef struct {
    int item;                   /* index into the step's items */
    int32_t *tok;               /* prompt + response */
    int n, n_prompt;
    float *lp_old;              /* n − n_prompt: sampler log-probs (NaN: injected) */
    double *lp_ref;             /* n − n_prompt, or NULL */
    int n_think, n_answer;
    bool truncated, correct;
    double reward;
    pd_rl_shape_seq sh;         /* rl_shape.h: markers, ERD/IRD, SLPO bonus, dropped by the sign mode */
    int32_t *ltok;              /* the learner's row: tok, or under PreRL [BOS] + response (shape_rows) */
    double *adv_tok;            /* n − n_prompt per-token advantages (BRPO's thinking segments), or NULL */
    int ln, lnp;                /* its length and tokens before the first response token */
} rl_seq;

struct pd_rl {
    pd_tmodel *m, *ref;
    pd_adapted *ad;             /* RL through an adapter (NULL: the full model) */
    pd_model *view, *ref_view;
    pd_kv *ref_kv;
    pd_rl_cfg c;
    pd_rl_source src;
    const pd_task *task;
    pd_task_set set;
    size_t n_train;
    pd_gen *gen;
    int n_ctx;
    int32_t think_close;
    pd_rl_mem *mem;             /* Memory-R / R+ (rl_memory.h): the memories, the frozen embedder */
    pd_model *mem_model;
    pd_kv *mem_kv;
    pd_rlp *rlp;                /* RLP (rlp.h): corpus, EMA teacher */
    pd_rl_gates *gates;         /* RLKV gates (rl_gates.h): the learner mixes, only the gates learn */
    double rbar;                /* the kept batch's mean reward (the gates' β') */
    pd_rl_reward_fn rfn;
    void *rctx;
    int64_t step;               /* RL steps done (pd_rl_set_step): DSRL's phase */
    pd_rl_sign sign;            /* this step's sign mode and PreRL flag (pd_rl_shape_phase) */
    pd_brpo_tree tree;          /* BRPO: the last step's tree (rows' arrays moved into seqs) */
    bool prerl;
    /* the step's batch (kept groups) */
    pd_task_item *items;
    int n_items;
    rl_seq *seqs;
    int n_seqs;
    double *reward, *adv;
    int *resp_len;
    const int32_t **vtok;       /* pd_rl_last_batch's view of the sequences */
    int *vn, *vnp;
};

static void seq_free(rl_seq *s) {
    if (s->ltok != s->tok) free(s->ltok);
    free(s->tok); free(s->lp_old); free(s->lp_ref); free(s->adv_tok);
    memset(s, 0, sizeof *s);
}

static void batch_free(pd_rl *r) {
    for (int i = 0; i < r->n_seqs; i++) seq_free(&r->seqs[i]);
    for (int i = 0; i < r->n_items; i++) pd_task_item_free(&r->items[i]);
    free(r->seqs); free(r->items); free(r->reward); free(r->adv); free(r->resp_len);
    free(r->vtok); free(r->vn); free(r->vnp);
    pd_brpo_tree_free(&r->tree);
    r->seqs = NULL; r->items = NULL; r->reward = r->adv = NULL; r->resp_len = NULL;
    r->vtok = NULL; r->vn = r->vnp = NULL;
    r->n_seqs = r->n_items = 0;
}

void pd_rl_free(pd_rl *r) {
    if (!r) return;
    batch_free(r);
    pd_gen_free(r->gen);
    pd_model_free(r->view);
    pd_model_free(r->ref_view);
    pd_kv_free(r->ref_kv);
    pd_rl_mem_free(r->mem); pd_model_free(r->mem_model); pd_kv_free(r->mem_kv);
    pd_rlp_free(r->rlp);
    pd_rl_gates_free(r->gates);
    pd_task_set_free(&r->set);
    free(r);
}

static pd_rl *rl_new(pd_tmodel *m, pd_tmodel *ref, pd_adapted *ad, const pd_rl_cfg *c, const pd_rl_source *src) {
    if (c->B < 1 || c->G < 2 || c->max_tokens < 1 || c->ppo_epochs < 1 || c->minibatches < 1 || c->micro_rows < 1) {
        pd_fail(PD_ERR_ARG, "rl: need prompts >= 1, group >= 2, max tokens >= 1, epochs >= 1, minibatches >= 1");
        return NULL;
    }
    if (c->minibatches > c->B * c->G) {
        pd_fail(PD_ERR_ARG, "rl: %d minibatches for %d sequences per step", c->minibatches, c->B * c->G);
        return NULL;
    }
    if (c->beta > 0 && !ref && !ad) { pd_fail(PD_ERR_ARG, "rl: a KL weight needs a reference model"); return NULL; }
    if (!(c->temperature > 0)) { pd_fail(PD_ERR_ARG, "rl: the sampling temperature must be positive"); return NULL; }
    if (c->sampler_old_logp && c->temperature != 1.0f) {
        pd_fail(PD_ERR_ARG, "rl: the sampler records untempered log-probs; with temperature %g pi_old must come "
                            "from the learner (leave out --sampler-old-logp)", c->temperature);
        return NULL;
    }
    if (c->sampler_old_logp && pd_rl_shape_uses_prerl(c->algo)) {   /* rl_shape.h */
        pd_fail(PD_ERR_ARG, "rl: --algo %s drops the prompt in the learner; pi_old must come from the learner "
                            "(leave out --sampler-old-logp)", pd_rl_algo_name(c->algo));
        return NULL;
    }
    pd_rl *r = pd_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->m = m;
    r->ref = c->beta > 0 && !ad ? ref : NULL;
    r->ad = ad;
    r->c = *c;
    r->src = *src;
    if (c->algo == PD_RL_RLP) {   /* the corpus is opened below, with the view */
        if (ad) { pd_fail(PD_ERR_ARG, "rl: --algo rlp trains the full model (no --adapter)"); goto fail; }
    } else if (src->jsonl) {
        if (pd_jsonl_load(src->jsonl, 0, &r->set, NULL) != PD_OK) goto fail;
        if (r->set.n < 2) { pd_fail(PD_ERR_ARG, "%s: need at least 2 items (one held out)", src->jsonl); goto fail; }
        size_t ho = r->set.n / 10 ? r->set.n / 10 : 1;
        r->n_train = r->set.n - ho;
    } else {
        if (!src->task) { pd_fail(PD_ERR_ARG, "rl: no task and no JSONL set"); goto fail; }
        if (!(r->task = pd_task_find(src->task))) goto fail;
        if (src->dlo < r->task->dmin || src->dhi > r->task->dmax || src->dlo > src->dhi) {
            pd_fail(PD_ERR_ARG, "rl: difficulty %d-%d outside task '%s' range %d-%d", src->dlo, src->dhi,
                    r->task->name, r->task->dmin, r->task->dmax);
            goto fail;
        }
    }
    if (!(r->view = pd_rl_view(m))) goto fail;
    if (!r->view->tok) { pd_fail(PD_ERR_STATE, "rl: the model has no tokenizer"); goto fail; }
    if (ad && c->beta > 0) {   /* the reference is the base with the adapter off: no second copy */
        if (!(r->ref_view = base_view(ad))) goto fail;
    } else if (r->ref) {
        if (pd_tmodel_n_params(r->ref) != pd_tmodel_n_params(m)) {
            pd_fail(PD_ERR_ARG, "rl: the reference model's shape differs from the policy's");
            goto fail;
        }
        if (!(r->ref_view = pd_rl_view(r->ref))) goto fail;
    }
    if (r->ref_view && !(r->ref_kv = pd_kv_new(&r->ref_view->cfg, 1, m->T, PD_TYPE_F32))) goto fail;
    r->n_ctx = m->T;   /* prompt + response must fit the learner's rows */
    if (pd_rl_elastic_check(c->think_budget, c->elastic.answer_budget, c->max_tokens) != PD_OK) goto fail;
    if (c->algo == PD_RL_BRPO) {   /* rl_brpo.h: its own rollout tree (no dynamic sampling, one process) */
        if (pd_rl_brpo_check(&c->brpo, c->max_tokens) != PD_OK) goto fail;
        if (c->dynamic_sampling || pd_dist_on() || c->think_budget >= 0) {
            pd_fail(PD_ERR_ARG, "rl: --algo brpo cuts its traces itself: no --think-budget, dynamic sampling or mpirun");
            goto fail;
        }
        if (c->mem.mode != PD_RL_MEM_OFF || c->shape.length_reward != PD_RL_LEN_NONE) {   /* group-level shaping */
            pd_fail(PD_ERR_ARG, "rl: --algo brpo scores summaries, not groups: no --memory-reward or --length-reward");
            goto fail;
        }
    }
    int slots = c->algo == PD_RL_BRPO ? pd_brpo_slots(&c->brpo, c->B, c->G) : c->B * c->G + 1;
    pd_gen_params gp = {.n_seq_max = slots, .n_ctx = r->n_ctx, .kv_type = PD_TYPE_F32, .n_batch = 512};
    if (!(r->gen = pd_gen_new(r->view, &gp))) goto fail;
    r->think_close = pd_tok_find(r->view->tok, "</think>");
    if (c->algo == PD_RL_RLP && !(r->rlp = pd_rlp_new(m, r->view, &c->rlp, src->jsonl))) goto fail;
    if (c->gates.on) {   /* rl_gates.h: weights frozen; rollouts keep sampling the original model (the view) */
        if (ad || c->algo == PD_RL_RLP || c->algo == PD_RL_BRPO || pd_dist_on() ||
            (c->gates.mixed_rollouts && c->think_budget >= 0)) {
            pd_fail(PD_ERR_ARG, "rl: RLKV gates train on the full model's learner with a group algorithm in one "
                                "process (no --adapter, --algo rlp or brpo, mpirun; mixed rollouts: no --think-budget)");
            goto fail;
        }
        if (!(r->gates = pd_rl_gates_new(m, &c->gates))) goto fail;
    }
    if (c->mem.mode != PD_RL_MEM_OFF) {   /* the embedder: a frozen copy of the starting policy */
        if (!(r->mem_model = pd_tmodel_snapshot(m)) ||
            !(r->mem_kv = pd_kv_new(&r->mem_model->cfg, 1, r->n_ctx, PD_TYPE_F32)) ||
            !(r->mem = pd_rl_mem_new(&c->mem, r->mem_model->cfg.n_embd)))
            goto fail;
    }
    return r;
fail:
    pd_rl_free(r);
    return NULL;
}

pd_rl *pd_rl_new(pd_tmodel *m, pd_tmodel *ref, const pd_rl_cfg *c, const pd_rl_source *src) {
    return rl_new(m, ref, NULL, c, src);
}

pd_rl *pd_rl_new_adapted(pd_adapted *ad, const pd_rl_cfg *c, const pd_rl_source *src) {
    if (!ad || !ad->m || !ad->n) { pd_fail(PD_ERR_ARG, "rl: the adapted model is not bound"); return NULL; }
    pd_adapted_apply(ad);   /* the engine's adapted matrices hold W_eff from the start */
    return rl_new(ad->m, NULL, ad, c, src);
}

pd_model *pd_rl_model(pd_rl *r) { return r->view; }
pd_rl_gates *pd_rl_gates_of(pd_rl *r) { return r->gates; }
void pd_rl_set_reward(pd_rl *r, pd_rl_reward_fn fn, void *ctx) { r->rfn = fn; r->rctx = ctx; }

void pd_rl_last_batch(const pd_rl *r, pd_rl_batch_view *v) {
    v->n = r->n_seqs; v->G = r->c.G; v->reward = r->reward; v->adv = r->adv; v->resp_len = r->resp_len;
    v->tokens = r->vtok; v->n_tokens = r->vn; v->n_prompt = r->vnp;
}

int pd_rl_eval_items(pd_rl *r, uint64_t seed, int n, pd_task_item *items) {
    int got = 0;
    if (r->task) {
        pd_rng g;
        pd_rng_seed(&g, pd_rng_derive(seed, PD_STREAM_RL_EVAL_ITEMS));
        for (; got < n; got++) {
            int d = (int)pd_rng_range(&g, r->src.dlo, r->src.dhi);
            if (pd_task_gen(r->task, &g, d, PD_SPLIT_TEST, &items[got]) != PD_OK) break;
        }
        return got;
    }
    for (size_t i = r->n_train; i < r->set.n && got < n; i++, got++) {
        const pd_task_item *s = &r->set.items[i];
        pd_task_item *d = &items[got];
        memset(d, 0, sizeof *d);
        d->id = pd_strdup(s->id ? s->id : ""); d->task = s->task; d->difficulty = s->difficulty;
        d->prompt = pd_strdup(s->prompt ? s->prompt : ""); d->reasoning = pd_strdup(s->reasoning ? s->reasoning : "");
        d->answer = pd_strdup(s->answer ? s->answer : "");
        if (!d->id || !d->prompt || !d->reasoning || !d->answer) { pd_task_item_free(d); break; }
    }
    return got;
}

/* a training item: generated from the task's train split, or a copy of a JSONL training line */
static pd_status draw_item(pd_rl *r, pd_rng *rng, pd_task_item *it) {
    if (r->rlp) return pd_rlp_draw(r->rlp, rng, false, it);
    if (r->task) return pd_task_gen(r->task, rng, (int)pd_rng_range(rng, r->src.dlo, r->src.dhi), PD_SPLIT_TRAIN, it);
    const pd_task_item *s = &r->set.items[pd_rng_below(rng, r->n_train)];
    memset(it, 0, sizeof *it);
    it->id = pd_strdup(s->id ? s->id : ""); it->task = s->task; it->difficulty = s->difficulty;
    it->prompt = pd_strdup(s->prompt ? s->prompt : ""); it->reasoning = pd_strdup("");
    it->answer = pd_strdup(s->answer ? s->answer : "");
    if (!it->id || !it->prompt || !it->reasoning || !it->answer) { pd_task_item_free(it); return PD_ERR_NOMEM; }
    return PD_OK;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* RLKV gates (rl_gates.h): G samples of each of n items from the mixed model, one sequence per task in
 * parallel; seeds drawn in order as rollout() draws them */
static pd_status rollout_mixed(pd_rl *r, pd_rng *rng, const pd_task_item *items, int n, int item0, rl_seq *seqs) {
    const pd_rl_cfg *c = &r->c;
    int G = c->G, N = n * G;
    int32_t **pr = pd_calloc((size_t)n, sizeof *pr);
    int *pn = pd_calloc((size_t)n, sizeof *pn);
    uint64_t *seed = pd_malloc(sizeof(uint64_t) * (size_t)N);
    pd_status *sts = pd_calloc((size_t)N, sizeof *sts), st = pr && pn && seed && sts ? PD_OK : PD_ERR_NOMEM;
    for (int i = 0; i < n && st == PD_OK; i++) {
        st = pd_tex_prompt(pd_tmodel_chat(r->m), items[i].prompt, &pr[i], &pn[i]);
        if (st == PD_OK && pn[i] + 1 >= r->n_ctx)
            st = pd_fail(PD_ERR_RANGE, "rl: prompt of item '%s' has %d tokens; sequences hold %d (the learner's "
                         "capacity)", items[i].id, pn[i], r->n_ctx);
    }
    for (int k = 0; k < N && st == PD_OK; k++) seed[k] = pd_rng_u64(rng);
    if (st == PD_OK) {
#pragma omp parallel for schedule(dynamic)
        for (int k = 0; k < N; k++) {
            rl_seq *s = &seqs[k];
            int i = k / G;
            s->item = item0 + i;
            s->tok = pd_malloc(sizeof(int32_t) * (size_t)(pn[i] + c->max_tokens));
            s->lp_old = pd_malloc(sizeof(float) * (size_t)c->max_tokens);
            if (!s->tok || !s->lp_old) { sts[k] = PD_ERR_NOMEM; continue; }
            pd_sampler_params sp = pd_sampler_defaults();
            sp.temperature = c->temperature;
            sp.top_p = c->top_p;
            sp.seed = seed[k];
            sts[k] = pd_rl_gates_generate(r->gates, r->view->tok, pr[i], pn[i], c->max_tokens, &sp, s->tok, s->lp_old,
                                          &s->n, &s->truncated);
            s->n_prompt = pn[i];
            int close = -1;   /* thinking: up to and with "</think>" (all of it when never closed) */
            for (int j = pn[i]; j < s->n && close < 0; j++) if (s->tok[j] == r->think_close) close = j;
            s->n_think = close < 0 ? s->n - pn[i] : close - pn[i] + 1;
            s->n_answer = s->n - pn[i] - s->n_think;
        }
        for (int k = 0; k < N && st == PD_OK; k++) st = sts[k];
    }
    for (int i = 0; pr && i < n; i++) free(pr[i]);
    free(pr); free(pn); free(seed); free(sts);
    return st;
}

/* Generate G samples for each of n items into seqs[n·G] (prefill once, fork G ways, decode all). */
static pd_status rollout(pd_rl *r, pd_rng *rng, const pd_task_item *items, int n, int item0, rl_seq *seqs) {
    const pd_rl_cfg *c = &r->c;
    if (r->gates && c->gates.mixed_rollouts) return rollout_mixed(r, rng, items, n, item0, seqs);
    pd_gen *g = r->gen;
    int *ids = pd_malloc(sizeof(int) * (size_t)n * c->G);
    if (!ids) return PD_ERR_NOMEM;
    pd_status st = PD_OK;
    int n_ids = 0;
    for (int i = 0; i < n && st == PD_OK; i++) {
        int32_t *pr = NULL;
        int pn = 0;
        st = r->rlp ? pd_rlp_prompt(r->rlp, &items[i], &pr, &pn) : pd_tex_prompt(pd_tmodel_chat(r->m), items[i].prompt, &pr, &pn);
        if (st != PD_OK) break;
        if (pn + 1 >= r->n_ctx) {
            free(pr);
            st = pd_fail(PD_ERR_RANGE, "rl: prompt of item '%s' has %d tokens; sequences hold %d (the learner's "
                         "capacity)", items[i].id, pn, r->n_ctx);
            break;
        }
        pd_seq_params p0 = pd_seq_defaults();
        p0.max_tokens = c->max_tokens;
        int parent = pd_gen_add(g, pr, pn, &p0);
        free(pr);
        if (parent < 0) { st = PD_ERR_STATE; break; }
        st = pd_gen_prefill(g, parent);
        for (int k = 0; k < c->G && st == PD_OK; k++) {
            pd_seq_params p = pd_seq_defaults();
            p.sampling.temperature = c->temperature;
            p.sampling.top_p = c->top_p;
            p.sampling.seed = pd_rng_u64(rng);
            /* Elastic (rl_elastic.h): thinking budget t, then the answer's own budget s; limit t + s */
            p.max_tokens = pd_rl_elastic_max_tokens(c->think_budget, c->elastic.answer_budget, c->max_tokens);
            p.logprobs = true;
            pd_policy pol;
            if (c->think_budget >= 0) {
                if ((st = pd_rl_elastic_policy(r->view->tok, c->think_budget, c->elastic.answer_budget, &pol)) != PD_OK)
                    break;
                p.policies = &pol;
                p.n_policies = 1;
            }
            int id = pd_gen_fork(g, parent, &p);
            if (id < 0) {
                if (p.n_policies && pol.release) pol.release(pol.ctx);
                st = PD_ERR_STATE;
                break;
            }
            ids[n_ids++] = id;
        }
        pd_gen_remove(g, parent);
    }
    if (st == PD_OK) st = pd_gen_run(g);
    for (int k = 0; k < n_ids && st == PD_OK; k++) {
        const pd_gen_result *res = pd_gen_get_result(g, ids[k]);
        rl_seq *s = &seqs[k];
        s->item = item0 + k / c->G;
        s->n = res->n_tokens;
        s->n_prompt = res->n_prompt;
        int nr = s->n - s->n_prompt;
        s->tok = pd_malloc(sizeof(int32_t) * (size_t)s->n);
        s->lp_old = pd_malloc(sizeof(float) * (size_t)(nr > 0 ? nr : 1));
        if (!s->tok || !s->lp_old) { st = PD_ERR_NOMEM; break; }
        memcpy(s->tok, res->tokens, sizeof(int32_t) * (size_t)s->n);
        memcpy(s->lp_old, res->logprobs, sizeof(float) * (size_t)nr);
        s->n_think = res->n_thinking;
        s->n_answer = res->n_answer;
        s->truncated = res->finish == PD_FINISH_LENGTH || res->finish == PD_FINISH_CONTEXT;
        if (res->finish == PD_FINISH_ERROR) st = pd_fail(PD_ERR_STATE, "rl: sampling failed: %s", res->error);
    }
    for (int k = 0; k < n_ids; k++) pd_gen_remove(g, ids[k]);
    free(ids);
    return st;
}

/* Reward of one response (no model call): verifier, format bonus, overlong punishment. */
static double reward_of(pd_rl *r, const pd_task_item *it, rl_seq *s) {
    const pd_tokenizer *tok = r->view->tok;
    int nr = s->n - s->n_prompt;
    int ne = nr;
    if (ne > 0 && pd_tok_is_eog(tok, s->tok[s->n - 1])) ne--;   /* the end token is not text */
    size_t len;
    char *text = pd_detokenize(tok, s->tok + s->n_prompt, (size_t)ne, &len);
    if (!text) return 0;
    double rw;
    if (r->rfn) {
        rw = r->rfn(r->rctx, it, text, nr);
        s->correct = rw >= 1.0;
    } else {
        pd_verdict v;
        const pd_task *t = it->task ? pd_task_find(it->task) : NULL;
        pd_extract_mode em = (pd_extract_mode)r->c.extract;
        pd_status st = t ? pd_task_verify_ex(t, it, text, em, &v) : pd_task_verify_ref(it->answer, text, em, &v);
        double score = st == PD_OK ? v.score : 0;
        bool extractable = st == PD_OK && v.extracted;
        double partial = r->c.w_partial != 0 && extractable && score < 1 ? pd_rl_partial_credit(v.extracted, it->answer) : 0;
        if (st == PD_OK) pd_verdict_free(&v);
        bool closed = false;
        for (int k = s->n_prompt; k < s->n && !closed; k++) closed = s->tok[k] == r->think_close;
        s->correct = score >= 1.0;
        rw = r->c.w_correct * score + r->c.w_format * (closed && extractable ? 1.0 : 0.0) + r->c.w_partial * partial;
    }
    rw = pd_rl_shape_reward(&r->c.shape, text, it->answer, s->correct, r->c.w_correct, rw, &s->sh);
    rw += pd_rl_overlong_penalty(nr, r->c.max_tokens, r->c.overlong_buffer);
    free(text);
    return rw;
}

/* log p(next token) of each response token of s under the reference model (inference path). */
static pd_status ref_logprobs(pd_rl *r, rl_seq *s) {
    int nr = s->n - s->n_prompt, V = r->ref_view->cfg.n_vocab;
    s->lp_ref = pd_malloc(sizeof(double) * (size_t)(nr > 0 ? nr : 1));
    float *lg = pd_malloc(sizeof(float) * (size_t)(nr > 0 ? nr : 1) * V);
    int8_t *want = pd_malloc((size_t)s->n);
    if (!s->lp_ref || !lg || !want) { free(lg); free(want); return PD_ERR_NOMEM; }
    for (int i = 0; i < s->n; i++) want[i] = i >= s->n_prompt - 1 && i < s->n - 1;
    pd_kv_seq_clear(r->ref_kv, 0);
    pd_batch b = {.n = s->n - 1, .token = s->tok, .want_logits = want};
    pd_status st = nr > 0 ? pd_model_forward(r->ref_view, r->ref_kv, &b, lg) : PD_OK;
    /* under the sampling temperature, as the policy's log-probs in the learner */
    float invT = 1.0f / r->c.temperature;
    for (int k = 0; k < nr && st == PD_OK; k++) {
        float *x = lg + (size_t)k * V;
        if (invT != 1.0f) for (int j = 0; j < V; j++) x[j] *= invT;
        s->lp_ref[k] = pd_logprob_of(x, V, s->tok[s->n_prompt + k]);
    }
    free(lg); free(want);
    return st;
}

/* log-softmax of row x·invT (the sampling temperature's distribution) at token t, in double; *ent
 * (may be NULL) gets that distribution's entropy; p (may be NULL) receives its probabilities */
static double row_logp(const float *x, int V, double invT, int t, double *ent, double *p) {
    double mx = x[0];
    for (int j = 1; j < V; j++) if (x[j] > mx) mx = x[j];
    mx *= invT;
    double z = 0;
    for (int j = 0; j < V; j++) z += exp((double)x[j] * invT - mx);
    double lz = log(z) + mx;
    if (ent || p) {
        double h = 0;
        for (int j = 0; j < V; j++) {
            double lp = (double)x[j] * invT - lz, pj = exp(lp);
            if (p) p[j] = pj;
            if (pj > 0) h -= pj * lp;
        }
        if (ent) *ent = h;
    }
    return (double)x[t] * invT - lz;
}

typedef struct {
    int n;                      /* sequences */
    int *start, *len;           /* response spans in the flat arrays */
    double *adv, *lp, *lp_old, *lp_ref, *dlp;
    double *lp_raw;             /* the learner's untempered log-probs (what the sampler records) */
    double *adv_tok;            /* per-token advantages when some sequence has them (BRPO), else NULL */
    uint8_t *mask;
    int64_t total;
} flat_t;

static void flat_free(flat_t *f) {
    free(f->start); free(f->len); free(f->adv); free(f->lp); free(f->lp_old); free(f->lp_ref); free(f->dlp);
    free(f->lp_raw); free(f->mask); free(f->adv_tok);
}

/* ---- under mpirun (ponder/dist.h; hooks of helper "mpi", issue 15) ----
 * Rollouts: rank r generates the groups of its block of each round's prompts; the seeds of the other
 * blocks are drawn and skipped, so every sample keeps its one-process seed. The sequences are then
 * gathered onto every rank, which judge, keep and learn from the same batch as one process would.
 * Learner: each rank forwards and backwards its block of every pass's sequences; the log-probs, loss
 * and statistics of the pass are summed over the ranks (each value comes from one rank: exact), the
 * gradients before each optimizer step (update): the weights stay identical on every rank. */
static int put_seq(pd_buf *b, const rl_seq *q) {
    int32_t h[5] = {q->item, q->n, q->n_prompt, q->n_think, q->n_answer};
    uint8_t t = q->truncated;
    return pd_buf_append(b, h, sizeof h) || pd_buf_append(b, &t, 1) ||
           pd_buf_append(b, q->tok, sizeof(int32_t) * (size_t)q->n) ||
           pd_buf_append(b, q->lp_old, sizeof(float) * (size_t)(q->n - q->n_prompt));
}

static pd_status get_seq(const char **p, const char *end, rl_seq *q) {
    int32_t h[5];
    uint8_t t;
    if ((size_t)(end - *p) < sizeof h + 1) return PD_ERR_FORMAT;
    memcpy(h, *p, sizeof h); memcpy(&t, *p + sizeof h, 1);
    *p += sizeof h + 1;
    int nr = h[1] - h[2];
    if (h[1] <= 0 || nr < 0 || (size_t)(end - *p) < sizeof(int32_t) * (size_t)h[1] + sizeof(float) * (size_t)nr)
        return PD_ERR_FORMAT;
    memset(q, 0, sizeof *q);
    q->item = h[0]; q->n = h[1]; q->n_prompt = h[2]; q->n_think = h[3]; q->n_answer = h[4]; q->truncated = t;
    q->tok = pd_malloc(sizeof(int32_t) * (size_t)q->n);
    q->lp_old = pd_malloc(sizeof(float) * (size_t)(nr > 0 ? nr : 1));
    if (!q->tok || !q->lp_old) return PD_ERR_NOMEM;
    memcpy(q->tok, *p, sizeof(int32_t) * (size_t)q->n);
    *p += sizeof(int32_t) * (size_t)q->n;
    memcpy(q->lp_old, *p, sizeof(float) * (size_t)nr);
    *p += sizeof(float) * (size_t)nr;
    return PD_OK;
}

static pd_status rollout(pd_rl *r, pd_rng *rng, const pd_task_item *items, int n, int item0, rl_seq *seqs);

/* rollout() of the round's n items, spread over the ranks; seqs[n·G] complete on every rank */
static pd_status rollout_shared(pd_rl *r, pd_rng *rng, const pd_task_item *items, int n, rl_seq *seqs) {
    if (!pd_dist_on()) return rollout(r, rng, items, n, 0, seqs);
    int64_t G = r->c.G, lo, hi;
    pd_dist_share(n, pd_dist_rank(), pd_dist_size(), &lo, &hi);
    pd_rng mine = *rng;
    for (int64_t k = 0; k < lo * G; k++) pd_rng_u64(&mine);   /* the earlier blocks' seeds */
    pd_status st = rollout(r, &mine, items + lo, (int)(hi - lo), (int)lo, seqs + lo * G);
    for (int64_t k = 0; k < n * G; k++) pd_rng_u64(rng);       /* every seed of the round */
    pd_buf b = {0};
    for (int64_t k = lo * G; k < hi * G && st == PD_OK; k++)
        if (put_seq(&b, &seqs[k])) st = PD_ERR_NOMEM;
    void *all = NULL;
    size_t all_n = 0;
    if (st == PD_OK) st = pd_dist_gather(b.data ? b.data : "", b.len, true, 0, &all, &all_n, NULL);
    pd_buf_free(&b);
    const char *p = all, *end = p + all_n;
    for (int64_t k = 0; k < n * G && st == PD_OK; k++) {
        if (k >= lo * G && k < hi * G) {   /* ours: already in place; skip its bytes */
            rl_seq tmp;
            st = get_seq(&p, end, &tmp);
            seq_free(&tmp);
        } else {
            st = get_seq(&p, end, &seqs[k]);
        }
    }
    if (st == PD_OK && p != end) st = PD_ERR_FORMAT;
    free(all);
    if (st == PD_ERR_FORMAT) pd_fail(st, "rl: the rollouts gathered from the ranks are malformed");
    return st;
}

typedef struct {
    const int *idx;             /* the whole pass */
    int n, lo, hi;              /* this rank: idx[lo .. hi) */
    pd_rl_lstats *ls, ls0;      /* accumulators and their values before the pass */
    double *loss, *ent_sum, *ent_n, loss0, ent0, entn0;
} dist_pass;

static void dist_pass_begin(dist_pass *d, const int **idx, int *n, pd_rl_lstats *ls, double *loss, double *ent_sum,
                            double *ent_n) {
    memset(d, 0, sizeof *d);
    d->idx = *idx; d->n = *n; d->hi = *n;
    if (!pd_dist_on()) return;
    int64_t lo, hi;
    pd_dist_share(*n, pd_dist_rank(), pd_dist_size(), &lo, &hi);
    d->lo = (int)lo; d->hi = (int)hi;
    *idx += lo;
    *n = (int)(hi - lo);
    d->ls = ls; d->loss = loss; d->ent_sum = ent_sum; d->ent_n = ent_n;
    if (ls) d->ls0 = *ls;
    if (loss) d->loss0 = *loss;
    if (ent_sum) { d->ent0 = *ent_sum; d->entn0 = *ent_n; }
}

/* sum the pass's per-token results and accumulator increments over the ranks */
static pd_status dist_pass_end(dist_pass *d, flat_t *f, bool with_old) {
    if (!pd_dist_on()) return PD_OK;
    int arrays = with_old ? 3 : 2;
    size_t tot = 0;
    for (int i = 0; i < d->n; i++) tot += (size_t)f->len[d->idx[i]];
    size_t nb = tot * (size_t)arrays + 6;
    double *b = pd_calloc(nb, sizeof *b);
    if (!b) return PD_ERR_NOMEM;
    double *x = b;
    for (int i = 0; i < d->n; i++) {
        int si = d->idx[i], L = f->len[si];
        if (i >= d->lo && i < d->hi) {
            memcpy(x, f->lp + f->start[si], sizeof(double) * (size_t)L);
            memcpy(x + tot, f->lp_raw + f->start[si], sizeof(double) * (size_t)L);
            if (with_old) memcpy(x + 2 * tot, f->lp_old + f->start[si], sizeof(double) * (size_t)L);
        }
        x += L;
    }
    double *sc = b + tot * (size_t)arrays;
    if (d->ls) { sc[0] = d->ls->clipped - d->ls0.clipped; sc[1] = d->ls->tokens - d->ls0.tokens; sc[2] = d->ls->kl_sum - d->ls0.kl_sum; }
    if (d->loss) sc[3] = *d->loss - d->loss0;
    if (d->ent_sum) { sc[4] = *d->ent_sum - d->ent0; sc[5] = *d->ent_n - d->entn0; }
    pd_status st = pd_dist_sum_f64(b, nb);
    double rmax = d->ls ? d->ls->ratio_dev_max : 0;
    if (st == PD_OK) st = pd_dist_max_f64(&rmax, 1);
    if (st == PD_OK) {
        x = b;
        for (int i = 0; i < d->n; i++) {
            int si = d->idx[i], L = f->len[si];
            memcpy(f->lp + f->start[si], x, sizeof(double) * (size_t)L);
            memcpy(f->lp_raw + f->start[si], x + tot, sizeof(double) * (size_t)L);
            if (with_old) memcpy(f->lp_old + f->start[si], x + 2 * tot, sizeof(double) * (size_t)L);
            x += L;
        }
        if (d->ls) {
            d->ls->clipped = d->ls0.clipped + sc[0]; d->ls->tokens = d->ls0.tokens + sc[1];
            d->ls->kl_sum = d->ls0.kl_sum + sc[2]; d->ls->ratio_dev_max = rmax;
        }
        if (d->loss) *d->loss = d->loss0 + sc[3];
        if (d->ent_sum) { *d->ent_sum = d->ent0 + sc[4]; *d->ent_n = d->entn0 + sc[5]; }
    }
    free(b);
    return st;
}

/* Forward the sequences idx[0..n) in chunks of the model's rows; for each chunk fill f->lp (and the
 * entropy sums), and with `learn` also run the surrogate and backward with the minibatch normalisers. */
static pd_status learn_pass(pd_rl *r, flat_t *f, const int *idx, int n, bool learn, bool old_from_new,
                            double norm_seqs, double norm_tokens, pd_rl_lstats *ls, double *loss, double *ent_sum,
                            double *ent_n) {
    pd_tmodel *m = r->m;
    dist_pass dp;   /* mpirun: this rank's block of idx; the results summed at the end (dist_pass_end) */
    dist_pass_begin(&dp, &idx, &n, ls, loss, ent_sum, ent_n);
    int V = m->cfg.n_vocab, T = 1;
    for (int i = 0; i < n; i++) if (r->seqs[idx[i]].ln > T) T = r->seqs[idx[i]].ln;
    if (T > m->T) return pd_fail(PD_ERR_RANGE, "rl: a sequence of %d tokens exceeds the learner's %d", T, m->T);
    int rows = m->B;
    int32_t *tk = pd_malloc(sizeof(int32_t) * (size_t)rows * T);
    double *p = pd_malloc(sizeof(double) * (size_t)V);
    int *cs = pd_malloc(sizeof(int) * (size_t)rows), *cl = pd_malloc(sizeof(int) * (size_t)rows);
    double *ca = pd_malloc(sizeof(double) * (size_t)rows);
    if (!tk || !p || !cs || !cl || !ca) { free(tk); free(p); free(cs); free(cl); free(ca); return PD_ERR_NOMEM; }
    /* PreRL's phase: TOKEN_MEAN for DSRL's warm-up, no KL (the reference is conditioned on the prompt) */
    pd_rl_loss_cfg lc = {r->c.algo == PD_RL_DSRL && r->prerl ? PD_RL_TOKEN_MEAN : r->c.agg, r->c.eps_low,
                         r->c.eps_high, r->prerl ? 0 : r->c.beta, (double)r->c.max_tokens};
    double invT = 1.0 / r->c.temperature;
    for (int c0 = 0; c0 < n; c0 += rows) {
        int nr = n - c0 < rows ? n - c0 : rows;
        for (int i = 0; i < nr; i++) {
            const rl_seq *s = &r->seqs[idx[c0 + i]];
            for (int t = 0; t < T; t++) tk[(size_t)i * T + t] = t < s->ln ? s->ltok[t] : 0;
        }
        pd_tbatch b = {nr, T, tk, NULL, NULL};
        if (isnan(pd_tmodel_forward(m, &b, NULL))) {   /* a batch the engine refused (error set) */
            free(tk); free(p); free(cs); free(cl); free(ca);
            return PD_ERR_RANGE;
        }
        const float *lg = m->a.logits;
        for (int i = 0; i < nr; i++) {
            int si = idx[c0 + i];
            const rl_seq *s = &r->seqs[si];
            for (int k = 0; k < f->len[si]; k++) {
                int pos = s->lnp - 1 + k, fk = f->start[si] + k;
                double e;
                const float *x = lg + ((size_t)i * T + pos) * V;
                f->lp[fk] = row_logp(x, V, invT, s->ltok[pos + 1], ent_sum && f->mask[fk] ? &e : NULL, NULL);
                f->lp_raw[fk] = invT == 1.0 ? f->lp[fk] : row_logp(x, V, 1.0, s->ltok[pos + 1], NULL, NULL);
                if (ent_sum && f->mask[fk]) { *ent_sum += e; *ent_n += 1; }
            }
            cs[i] = f->start[si]; cl[i] = f->len[si]; ca[i] = f->adv[si];
        }
        if (!learn) continue;
        if (old_from_new)   /* on-policy single update: π_old is this very forward (detached) */
            for (int i = 0; i < nr; i++)
                for (int k = cs[i]; k < cs[i] + cl[i]; k++) if (f->mask[k]) f->lp_old[k] = f->lp[k];
        pd_rl_tokens tt = {nr, cs, cl, ca, f->lp, f->lp_old, f->lp_ref, f->mask, norm_seqs, norm_tokens, f->adv_tok};
        *loss += pd_rl_surrogate(&lc, &tt, f->dlp, ls);
        float *dl = m->ga.dlogits;
        memset(dl, 0, sizeof(float) * (size_t)nr * T * V);
        for (int i = 0; i < nr; i++) {
            int si = idx[c0 + i];
            const rl_seq *s = &r->seqs[si];
            for (int k = 0; k < f->len[si]; k++) {
                int fk = f->start[si] + k;
                double g = f->dlp[fk];
                if (g == 0) continue;
                int pos = s->lnp - 1 + k;
                size_t row = ((size_t)i * T + pos) * V;
                row_logp(lg + row, V, invT, 0, NULL, p);
                /* d logp_T(t)/d z_j = ([j = t] − p_j) / T */
                double gT = g * invT;
                for (int j = 0; j < V; j++) dl[row + j] = (float)(-gT * p[j]);
                dl[row + s->ltok[pos + 1]] += (float)gT;
            }
        }
        pd_tr_model_backward(&m->cfg, &m->p, &m->g, &m->a, &m->ga, m->cs, tk, NULL, nr, T);
    }
    free(tk); free(p); free(cs); free(cl); free(ca);
    return dist_pass_end(&dp, f, learn && old_from_new);
}

/* RLP's rewards (rlp.h): the information gain of each thought, in order (the scorer's cache is
 * not thread-safe, and each score is a forward that uses every thread already). "Correct" = the
 * thought-conditioned prediction's argmax is the true token. */
static pd_status rlp_rewards(pd_rl *r, const pd_task_item *items, rl_seq *rs, int n, double *rw, pd_rl_stats *s) {
    for (int k = 0; k < n; k++) {
        double sp, se;
        bool hp, he;
        PD_TRY(pd_rlp_score(r->rlp, &items[rs[k].item], rs[k].tok, rs[k].n, &sp, &se, &hp, &he));
        rw[k] = rs[k].reward = sp - se;
        rs[k].correct = hp;
        s->rlp_reward += sp - se; s->rlp_s_pred += sp; s->rlp_s_ema += se; s->rlp_acc_pred += hp; s->rlp_acc_ema += he;
    }
    return PD_OK;
}

/* Memory-R / R+ (rl_memory.h): embed each rollout's question (its prompt) and its response (the whole
 * completion, an end token dropped, as Memory-R's countdown code stores it: the thinking alone is
 * empty for a model that answers at once) with the frozen copy, let the memories take the batch, and
 * add the weighted intrinsic rewards to the verifier's. */
static pd_status mem_rewards(pd_rl *r, rl_seq *rs, int n, double *rw, pd_rl_stats *s) {
    int D = r->mem_model->cfg.n_embd, G = r->c.G;
    float *q = pd_malloc(sizeof(float) * (size_t)n * D), *e = pd_malloc(sizeof(float) * (size_t)n * D);
    uint8_t *ok = pd_malloc((size_t)n);
    double *ex = pd_malloc(sizeof(double) * (size_t)n), *xp = pd_malloc(sizeof(double) * (size_t)n);
    pd_status st = q && e && ok && ex && xp ? PD_OK : PD_ERR_NOMEM;
    for (int k = 0; k < n && st == PD_OK; k++) {
        const rl_seq *sq = &rs[k];
        if (k % G) memcpy(q + (size_t)k * D, q + (size_t)(k - k % G) * D, sizeof(float) * (size_t)D);   /* one prompt */
        else st = pd_rl_mem_embed(r->mem_model, r->mem_kv, sq->tok, sq->n_prompt, q + (size_t)k * D);
        int end = sq->n_prompt;
        while (end < sq->n && !pd_tok_is_eog(r->view->tok, sq->tok[end])) end++;
        if (st == PD_OK)
            st = pd_rl_mem_embed(r->mem_model, r->mem_kv, sq->tok + sq->n_prompt, end - sq->n_prompt, e + (size_t)k * D);
        ok[k] = sq->correct;
    }
    if (st == PD_OK) st = pd_rl_mem_batch(r->mem, n, q, e, ok, ex, xp);
    for (int k = 0; k < n && st == PD_OK; k++) {
        rw[k] += r->c.mem.w_exploit * ex[k] + r->c.mem.w_explore * xp[k];
        rs[k].reward = rw[k];
        s->mem_exploit += ex[k]; s->mem_explore += xp[k];
    }
    free(q); free(e); free(ok); free(ex); free(xp);
    return st;
}

/* rl_shape.h on a round of n groups: SLPO's bonus on the rewards (then the group advantages again),
 * and the sign mode's advantages and dropped rollouts (NSR, PSR, W-REINFORCE, PreRL's ±1) */
static void shape_group(pd_rl *r, rl_seq *rs, double *rw, double *ad, uint8_t *zv, int n) {
    const pd_rl_cfg *c = &r->c;
    int N = n * c->G;
    uint8_t *ok = pd_malloc((size_t)N), *keep = pd_malloc((size_t)N);
    int *len = pd_malloc(sizeof(int) * (size_t)N);
    double *bonus = pd_malloc(sizeof(double) * (size_t)N);
    if (!ok || !keep || !len || !bonus) { free(ok); free(keep); free(len); free(bonus); return; }
    for (int k = 0; k < N; k++) { ok[k] = rs[k].correct; len[k] = rs[k].n - rs[k].n_prompt; }
    if (c->shape.length_reward == PD_RL_LEN_SLPO && pd_rl_slpo(rw, ok, len, n, c->G, c->shape.slpo_alpha, bonus)) {
        for (int k = 0; k < N; k++) { rs[k].reward = rw[k]; rs[k].sh.slpo_bonus = bonus[k]; }
        pd_rl_advantages(c->algo, rw, n, c->G, c->adv_eps, ad, zv);
    }
    if (r->sign != PD_RL_SIGN_NONE) {
        pd_rl_sign_advantages(r->sign, c->shape.psr_weight, ok, N, ad, keep);
        for (int k = 0; k < N; k++) rs[k].sh.no_loss = !keep[k];
    }
    free(ok); free(keep); free(len); free(bonus);
}

/* the learner's rows: prompt + response, or under PreRL a one-token context + response: BOS, else the
 * end-of-text token, else the prompt's first token (rl_shape.h) */
static pd_status shape_rows(pd_rl *r) {
    const pd_tokenizer *tk = r->view->tok;
    int32_t ctx = pd_tok_bos(tk) >= 0 ? pd_tok_bos(tk) : pd_tok_eos(tk);
    for (int i = 0; i < r->n_seqs; i++) {
        rl_seq *q = &r->seqs[i];
        if (!r->prerl) { q->ltok = q->tok; q->ln = q->n; q->lnp = q->n_prompt; continue; }
        if (!(q->ltok = pd_malloc(sizeof(int32_t) * (size_t)(q->n - q->n_prompt + 1)))) return PD_ERR_NOMEM;
        q->ln = pd_rl_prerl_row(ctx >= 0 ? ctx : q->tok[0], q->tok, q->n, q->n_prompt, q->ltok, &q->lnp);
    }
    return PD_OK;
}

/* the step's rl_shape.h figures over the kept batch */
static void shape_stats(const pd_rl *r, pd_rl_stats *s) {
    pd_rl_shape_stats *h = &s->shape;
    h->phase = r->sign != PD_RL_SIGN_NONE ? 1 : r->c.algo == PD_RL_DSRL ? 2 : 0;
    h->prerl = r->prerl;
    double nb = 0, sb = 0, ne = 0, se = 0, si = 0;
    for (int i = 0; i < r->n_seqs; i++) {
        const rl_seq *q = &r->seqs[i];
        h->neg_frac += r->adv[i] < 0; h->pos_frac += r->adv[i] > 0;
        h->markers += q->sh.markers;
        if (q->correct) { nb++; sb += q->sh.slpo_bonus; }
        if (!isnan(q->sh.erd)) { ne++; se += q->sh.erd; si += q->sh.ird; }
    }
    double N = r->n_seqs ? r->n_seqs : 1;
    h->neg_frac /= N; h->pos_frac /= N; h->markers /= N;
    h->slpo_bonus = r->c.shape.length_reward && nb ? sb / nb : NAN;
    h->erd = ne ? se / ne : NAN;
    h->ird = ne ? si / ne : NAN;
}

void pd_rl_set_step(pd_rl *r, int64_t step) { r->step = step; }

int pd_rl_learner_row(const pd_rl *r, int i, const int32_t **tok, int *n_prompt) {
    *tok = r->seqs[i].ltok;
    *n_prompt = r->seqs[i].lnp;
    return r->seqs[i].ln;
}

/* Rounds of B prompts: draw, roll out, reward, advantages; the kept groups (all of the first B, or
 * with dynamic sampling the first B non-degenerate ones over at most max_draws rounds) move into
 * r's batch. */
static pd_status brpo_collect(pd_rl *r, pd_rng *rng, pd_rl_stats *s);
static pd_status collect(pd_rl *r, pd_rng *rng, pd_rl_stats *s) {
    const pd_rl_cfg *c = &r->c;
    if (c->algo == PD_RL_BRPO) return brpo_collect(r, rng, s);   /* rl_brpo.h: the budget tree */
    int G = c->G;
    r->items = pd_calloc((size_t)c->B, sizeof *r->items);
    r->seqs = pd_calloc((size_t)c->B * G, sizeof *r->seqs);
    pd_task_item *items = pd_calloc((size_t)c->B, sizeof *items);
    rl_seq *rs = pd_calloc((size_t)c->B * G, sizeof *rs);
    double *rw = pd_malloc(sizeof(double) * (size_t)c->B * G), *ad = pd_malloc(sizeof(double) * (size_t)c->B * G);
    uint8_t *zv = pd_malloc((size_t)c->B);
    r->reward = pd_malloc(sizeof(double) * (size_t)c->B * G);
    r->adv = pd_malloc(sizeof(double) * (size_t)c->B * G);
    r->resp_len = pd_malloc(sizeof(int) * (size_t)c->B * G);
    pd_status st = r->items && r->seqs && items && rs && rw && ad && zv && r->reward && r->adv && r->resp_len
                       ? PD_OK : PD_ERR_NOMEM;
    int rounds = c->dynamic_sampling ? (c->max_draws > 0 ? c->max_draws : 1) : 1, zero_kept = 0, zero_dropped = 0;
    for (int round = 0; round < rounds && st == PD_OK && r->n_items < c->B; round++) {
        int n = c->B;
        for (int i = 0; i < n && st == PD_OK; i++) st = draw_item(r, rng, &items[i]);
        double tr = pd_time_now();
        if (st == PD_OK) st = rollout_shared(r, rng, items, n, rs);
        s->t_rollout += pd_time_now() - tr;
        double tw = pd_time_now();
        if (st == PD_OK) {
            if (r->rlp) st = rlp_rewards(r, items, rs, n * G, rw, s);
            else {
                /* verifiers are pure functions of the text: the responses are judged in parallel */
#pragma omp parallel for schedule(dynamic)
                for (int k = 0; k < n * G; k++) rw[k] = rs[k].reward = reward_of(r, &items[rs[k].item], &rs[k]);
            }
            if (st == PD_OK && r->mem) st = mem_rewards(r, rs, n * G, rw, s);
            pd_rl_advantages(c->algo, rw, n, G, c->adv_eps, ad, zv);
            if (st == PD_OK) shape_group(r, rs, rw, ad, zv, n);   /* SLPO, NSR/PSR/W-REINFORCE (rl_shape.h) */
        }
        s->t_reward += pd_time_now() - tw;
        s->groups_drawn += n;
        for (int i = 0; i < n && st == PD_OK; i++) {
            bool keep = r->n_items < c->B && !(c->dynamic_sampling && zv[i]);
            if (zv[i]) { if (keep) zero_kept++; else if (c->dynamic_sampling) zero_dropped++; }
            if (!keep) {
                for (int k = 0; k < G; k++) seq_free(&rs[i * G + k]);
                pd_task_item_free(&items[i]);
                continue;
            }
            int gi = r->n_items++;
            r->items[gi] = items[i];
            for (int k = 0; k < G; k++) {
                rl_seq *q = &r->seqs[r->n_seqs];
                *q = rs[i * G + k];
                q->item = gi;
                r->reward[r->n_seqs] = rw[i * G + k];
                r->adv[r->n_seqs] = ad[i * G + k];
                r->resp_len[r->n_seqs] = q->n - q->n_prompt;
                r->n_seqs++;
            }
        }
        if (st != PD_OK) break;   /* leave the round's leftovers to the clean-up below */
        memset(items, 0, sizeof *items * (size_t)c->B);
        memset(rs, 0, sizeof *rs * (size_t)c->B * G);
    }
    /* a round that failed midway leaves its sequences and items here (kept ones were moved out) */
    for (int k = 0; rs && k < c->B * G; k++) seq_free(&rs[k]);
    for (int i = 0; items && i < c->B; i++) pd_task_item_free(&items[i]);
    free(items); free(rs); free(rw); free(ad); free(zv);
    s->groups_kept = r->n_items;
    double nsc = (double)s->groups_drawn * G;   /* Memory-R+ and RLP figures: means over every scored rollout */
    if (nsc > 0) {
        s->mem_exploit /= nsc; s->mem_explore /= nsc;
        s->rlp_reward /= nsc; s->rlp_s_pred /= nsc; s->rlp_s_ema /= nsc; s->rlp_acc_pred /= nsc; s->rlp_acc_ema /= nsc;
    }
    if (r->mem) { s->mem_succ_keys = pd_rl_mem_keys(r->mem, true); s->mem_fail_keys = pd_rl_mem_keys(r->mem, false); }
    s->dropped_frac = s->groups_drawn ? (double)zero_dropped / s->groups_drawn : 0;
    s->zero_var_frac = r->n_items ? (double)zero_kept / r->n_items : 0;
    return st;
}

/* BRPO's round (rl_brpo.h): B prompts, their trees grown on the generator (traces decoded together,
 * each cut joined on its trace's KV and forked into its summaries), the summaries judged (reward_of
 * on the summary, counted only when exactly one "</think>" occurs after the prompt), the segment and
 * summary advantages. Every row of the trees becomes a sequence of the batch: trace rows carry
 * per-token advantages, summary rows train only the summary (the kept thinking and the inserted
 * closer are their prompt). No dynamic sampling: the B groups are kept as drawn. */
static pd_status brpo_collect(pd_rl *r, pd_rng *rng, pd_rl_stats *s) {
    const pd_rl_cfg *c = &r->c;
    int B = c->B, G = c->G, S = c->brpo.S, nt = B * G;
    r->items = pd_calloc((size_t)B, sizeof *r->items);
    int32_t **pr = pd_calloc((size_t)B, sizeof *pr);
    int *pn = pd_calloc((size_t)B, sizeof *pn);
    pd_status st = r->items && pr && pn ? PD_OK : PD_ERR_NOMEM;
    for (int i = 0; i < B && st == PD_OK; i++) {
        if ((st = draw_item(r, rng, &r->items[i])) != PD_OK) break;
        r->n_items++;
        st = pd_tex_prompt(pd_tmodel_chat(r->m), r->items[i].prompt, &pr[i], &pn[i]);
        if (st == PD_OK && pn[i] + 1 >= r->n_ctx)
            st = pd_fail(PD_ERR_RANGE, "rl: prompt of item '%s' has %d tokens; sequences hold %d", r->items[i].id, pn[i],
                         r->n_ctx);
    }
    double t0 = pd_time_now();
    pd_sampler_params sp = pd_seq_defaults().sampling;
    sp.temperature = c->temperature;
    sp.top_p = c->top_p;
    if (st == PD_OK)
        st = pd_brpo_grow(r->gen, r->view->tok, r->think_close, B, (const int32_t *const *)pr, pn, &c->brpo, G,
                          c->max_tokens, &sp, rng, &r->tree);
    s->t_rollout += pd_time_now() - t0;
    for (int i = 0; pr && i < B; i++) free(pr[i]);
    free(pr); free(pn);
    if (st != PD_OK) return st;
    pd_brpo_tree *t = &r->tree;
    int N = t->n_rows;
    double *seg = pd_malloc(sizeof(double) * (size_t)nt * S);
    r->seqs = pd_calloc((size_t)N, sizeof *r->seqs);
    r->reward = pd_calloc((size_t)N, sizeof(double)); r->adv = pd_calloc((size_t)N, sizeof(double));
    r->resp_len = pd_malloc(sizeof(int) * (size_t)N);
    if (!seg || !r->seqs || !r->reward || !r->adv || !r->resp_len) { free(seg); return PD_ERR_NOMEM; }
    for (int k = 0; k < N; k++) {   /* the rows' arrays move into the batch */
        pd_brpo_row *w = &t->rows[k];
        rl_seq *q = &r->seqs[k];
        q->item = w->prompt; q->tok = w->tok; q->n = w->n; q->n_prompt = w->n_prompt; q->lp_old = w->lp;
        q->n_think = w->n_think; q->n_answer = w->n_answer; q->truncated = w->truncated;
        w->tok = NULL; w->lp = NULL;
        r->resp_len[k] = q->n - q->n_prompt;
    }
    r->n_seqs = N;
    double tw = pd_time_now();
#pragma omp parallel for schedule(dynamic)
    for (int k = nt; k < N; k++) {
        rl_seq *q = &r->seqs[k];
        int closers = 0;
        for (int i = r->seqs[t->rows[k].prompt * G + t->rows[k].trace].n_prompt; i < q->n; i++)
            closers += q->tok[i] == r->think_close;
        double rw = reward_of(r, &r->items[q->item], q);
        if (closers != 1) { rw = 0; q->correct = false; }
        r->reward[k] = q->reward = rw;
    }
    st = pd_brpo_tree_advantages(t, c->brpo.baseline, r->reward, r->adv, seg);
    for (int k = 0; k < nt && st == PD_OK; k++) {
        rl_seq *q = &r->seqs[k];
        q->reward = r->reward[k];   /* Rt_{g,0}: the prior-weighted score of the trace's cuts */
        if (!(q->adv_tok = pd_malloc(sizeof(double) * (size_t)(r->resp_len[k] > 0 ? r->resp_len[k] : 1)))) st = PD_ERR_NOMEM;
        else pd_brpo_token_adv(t, k, seg, q->adv_tok);
    }
    if (st == PD_OK) pd_brpo_stats(t, r->reward, seg, &s->brpo);
    free(seg);
    s->t_reward += pd_time_now() - tw;
    s->groups_drawn = s->groups_kept = B;
    return st;
}

/* Elastic's figures (rl_elastic.h) over the kept batch when a thinking budget cuts the rollouts; BRPO's
 * accuracy is the last budget's (full thinking) and its reward the prior-weighted anytime score */
static void tree_stats(const pd_rl *r, pd_rl_stats *s) {
    if (r->c.algo == PD_RL_BRPO) {
        s->accuracy = s->brpo.acc[s->brpo.S > 0 ? s->brpo.S - 1 : 0];
        s->reward_mean = s->brpo.anytime;
        return;
    }
    if (r->c.think_budget < 0) return;
    pd_rl_elastic_acc a = {0};
    for (int i = 0; i < r->n_seqs; i++) {
        const rl_seq *q = &r->seqs[i];
        pd_rl_elastic_add(&a, q->lp_old, q->n - q->n_prompt, q->n_answer, q->correct);
    }
    pd_rl_elastic_stats_end(&a, &s->elastic);
}

void pd_rl_last_seq(const pd_rl *r, int i, const float **lp_old, const double **adv_tok) {
    *lp_old = r->seqs[i].lp_old;
    *adv_tok = r->seqs[i].adv_tok;
}
const pd_brpo_tree *pd_rl_last_tree(const pd_rl *r) { return r->c.algo == PD_RL_BRPO && r->tree.n_rows ? &r->tree : NULL; }

/* reward, accuracy and length statistics of the kept batch */
static void batch_stats(const pd_rl *r, pd_rl_stats *s) {
    int N = r->n_seqs;
    double nc = 0, ni = 0;
    for (int i = 0; i < N; i++) {
        const rl_seq *q = &r->seqs[i];
        int L = q->n - q->n_prompt;
        s->reward_mean += r->reward[i];
        s->accuracy += q->correct;
        s->len_mean += L; s->len_think += q->n_think; s->len_answer += q->n_answer;
        if (q->correct) { s->len_correct += L; nc++; } else { s->len_incorrect += L; ni++; }
        s->rollout_tokens += L;
    }
    if (N) {
        s->reward_mean /= N; s->accuracy /= N; s->len_mean /= N; s->len_think /= N; s->len_answer /= N;
        for (int i = 0; i < N; i++) s->reward_std += (r->reward[i] - s->reward_mean) * (r->reward[i] - s->reward_mean);
        s->reward_std = sqrt(s->reward_std / N);
    }
    s->len_correct = nc ? s->len_correct / nc : NAN;
    s->len_incorrect = ni ? s->len_incorrect / ni : NAN;
}

/* the batch's response tokens as flat arrays (advantages, sampler and reference log-probs, masks) */
static pd_status flat_build(const pd_rl *r, flat_t *f) {
    int N = r->n_seqs;
    memset(f, 0, sizeof *f);
    f->n = N;
    f->start = pd_malloc(sizeof(int) * (size_t)N); f->len = pd_malloc(sizeof(int) * (size_t)N);
    f->adv = pd_malloc(sizeof(double) * (size_t)N);
    int64_t tot = 0;
    for (int i = 0; f->start && f->len && i < N; i++) {
        f->start[i] = (int)tot; f->len[i] = r->seqs[i].n - r->seqs[i].n_prompt; tot += f->len[i];
    }
    f->total = tot;
    size_t nt = (size_t)(tot > 0 ? tot : 1);
    f->lp = pd_malloc(sizeof(double) * nt); f->lp_old = pd_malloc(sizeof(double) * nt);
    f->dlp = pd_malloc(sizeof(double) * nt); f->mask = pd_malloc(nt); f->lp_raw = pd_malloc(sizeof(double) * nt);
    if (r->ref_view) f->lp_ref = pd_malloc(sizeof(double) * nt);
    if (!f->start || !f->len || !f->adv || !f->lp || !f->lp_old || !f->dlp || !f->mask || !f->lp_raw ||
        (r->ref_view && !f->lp_ref))
        return PD_ERR_NOMEM;
    bool per_tok = false;   /* BRPO: per-token advantages for every sequence of the batch */
    for (int i = 0; i < N; i++) per_tok = per_tok || r->seqs[i].adv_tok;
    if (per_tok && !(f->adv_tok = pd_malloc(sizeof(double) * nt))) return PD_ERR_NOMEM;
    for (int i = 0; i < N; i++) {
        const rl_seq *q = &r->seqs[i];
        f->adv[i] = r->adv[i];
        for (int k = 0; k < f->len[i]; k++) {
            int fk = f->start[i] + k;
            if (f->adv_tok) f->adv_tok[fk] = q->adv_tok ? q->adv_tok[k] : r->adv[i];
            f->lp_old[fk] = q->lp_old[k];
            f->mask[fk] = isfinite(q->lp_old[k]) && !(r->c.overlong_filter && q->truncated) && !q->sh.no_loss;
            if (f->lp_ref) f->lp_ref[fk] = q->lp_ref[k];
        }
    }
    return PD_OK;
}

static double logp_maxdiff(const flat_t *f, const double *ref) {
    double md = 0;
    for (int64_t k = 0; k < f->total; k++)
        if (f->mask[k] && fabs(f->lp_raw[k] - ref[k]) > md) md = fabs(f->lp_raw[k] - ref[k]);
    return md;
}

/* One optimizer step from the gradients the learner accumulated in the engine: the full model's
 * AdamW, or the adapter's factors (then W_eff is rebuilt, so the next rollout reads it). A
 * non-finite loss, weight or gradient stops the run first (train/loop.c's check). *gnorm: the
 * gradient norm before clipping. */
static pd_status update(pd_rl *r, int64_t *opt_step, double loss, double *gnorm) {
    /* mpirun: every rank's share of the gradient (an adapter's factor gradients: in pd_adapted_step) */
    if (pd_dist_on() && !r->ad) PD_TRY(pd_tmodel_sum_grads(r->m));
    PD_TRY(pd_tmodel_check_finite(r->m, *opt_step, loss));
    float lr = pd_lr_at(&r->c.opt, *opt_step);
    if (r->gates) {   /* rl_gates.h: the gates alone, the surrogate's gradient + β'·mean|α|, clipped to [0, 1] */
        PD_TRY(pd_rl_gates_step(r->gates, &r->c.opt, *opt_step, lr, r->rbar, gnorm, NULL, NULL));
    } else if (r->ad) {
        *gnorm = pd_adapted_step(r->ad, &r->c.opt, *opt_step, lr);
        pd_adapted_apply(r->ad);
    } else {
        *gnorm = pd_tmodel_adamw(r->m, &r->c.opt, *opt_step, lr);
    }
    if (r->rlp) pd_rlp_after_update(r->rlp);   /* φ ← τφ + (1−τ)θ */
    if (pd_dist_verify()) PD_TRY(pd_dist_same(r->m->params, r->m->n_params * sizeof(float), "weights"));
    (*opt_step)++;
    return PD_OK;
}

/* the learner: μ epochs × K minibatches over the kept batch, one optimizer step per minibatch */
static pd_status learn(pd_rl *r, pd_rng *rng, int64_t *opt_step, bool check_logp, pd_rl_stats *s) {
    const pd_rl_cfg *c = &r->c;
    int N = r->n_seqs;
    double l0 = pd_time_now(), lc0 = cpu_now();
    r->rbar = 0;
    for (int i = 0; i < N; i++) r->rbar += r->reward[i] / N;
    flat_t f;
    int *order = pd_malloc(sizeof(int) * (size_t)N);
    pd_status st = flat_build(r, &f);
    if (st == PD_OK && !order) st = PD_ERR_NOMEM;
    for (int i = 0; order && i < N; i++) order[i] = i;
    /* π_old: by default the learner's own forward before any update (as verl recomputes it), so the
     * ratio starts at 1 to rounding whatever the inference kernels do; the sampler's log-probs are
     * compared with it (logp_maxdiff). sampler_old_logp uses the sampler's log-probs as π_old. */
    int K = c->minibatches, n_upd = 0;
    bool single = c->ppo_epochs * K == 1, recompute = !c->sampler_old_logp;
    double *lp_sampler = NULL;
    if (st == PD_OK && (check_logp || (recompute && !single))) {
        st = learn_pass(r, &f, order, N, false, false, 0, 0, NULL, NULL, NULL, NULL);
        s->logp_maxdiff = logp_maxdiff(&f, f.lp_old);
        if (recompute && !single) memcpy(f.lp_old, f.lp, sizeof(double) * (size_t)f.total);
    } else if (st == PD_OK && single) {
        size_t nt = (size_t)(f.total > 0 ? f.total : 1);
        lp_sampler = pd_malloc(sizeof(double) * nt);   /* to measure the sampler against the learner */
        if (lp_sampler) memcpy(lp_sampler, f.lp_old, sizeof(double) * nt);
    }
    pd_rl_lstats ls = {0};
    double ent = 0, ent_n = 0, loss = 0, gsum = 0;
    for (int e = 0; e < c->ppo_epochs && st == PD_OK; e++) {
        if (K > 1)
            for (int i = N - 1; i > 0; i--) {
                int j = (int)pd_rng_below(rng, (uint64_t)i + 1), t = order[i];
                order[i] = order[j]; order[j] = t;
            }
        for (int k = 0; k < K && st == PD_OK; k++) {
            int a = (int)((int64_t)N * k / K), b = (int)((int64_t)N * (k + 1) / K);
            double ntok = 0;
            for (int i = a; i < b; i++)
                for (int t = 0; t < f.len[order[i]]; t++) ntok += f.mask[f.start[order[i]] + t];
            pd_tmodel_zero_grad(r->m);
            if (r->gates) {
                pd_rl_gates_zero_grad(r->gates);
                /* the penalty's figures before this update (rl_gates.h) */
                double be = pd_rl_gates_beta_eff(r->c.gates.beta, r->c.gates.tau, r->rbar), pen = 0;
                const float *al = pd_rl_gates_alpha(r->gates);
                for (int q = 0; q < pd_rl_gates_count(r->gates); q++) pen += fabs((double)al[q]);
                s->gates_beta_eff = be;
                s->gates_penalty = be * pen / pd_rl_gates_count(r->gates);
            }
            double ml = 0, g = 0;
            st = learn_pass(r, &f, order + a, b - a, true, single && recompute, (double)(b - a), ntok, &ls, &ml,
                            e == 0 ? &ent : NULL, e == 0 ? &ent_n : NULL);
            if (st == PD_OK && lp_sampler) s->logp_maxdiff = logp_maxdiff(&f, lp_sampler);
            if (st != PD_OK || ntok == 0) continue;   /* a minibatch with no loss token: no update */
            if ((st = update(r, opt_step, ml, &g)) != PD_OK) break;
            gsum += g;
            loss += ml;
            n_upd++;
        }
    }
    for (int i = 0; i < N; i++) s->learner_tokens += (double)r->seqs[i].n * c->ppo_epochs;
    if (r->gates) {
        const float *al = pd_rl_gates_alpha(r->gates);
        int ng = pd_rl_gates_count(r->gates);
        for (int q = 0; q < ng; q++) { s->gates_mean += al[q]; s->gates_low += al[q] < 0.5f; }
        s->gates_mean /= ng;
        s->gates_low /= ng;
    }
    s->entropy = ent_n ? ent / ent_n : NAN;
    s->kl = ls.tokens ? ls.kl_sum / ls.tokens : 0;
    s->clip_frac = ls.tokens ? ls.clipped / ls.tokens : 0;
    s->ratio_dev_max = ls.ratio_dev_max;
    s->grad_norm = n_upd ? gsum / n_upd : 0;
    s->loss = n_upd ? loss / n_upd : 0;
    s->t_learn = pd_time_now() - l0;
    s->learn_cpu = cpu_now() - lc0;
    flat_free(&f);
    free(order);
    free(lp_sampler);
    return st;
}

pd_status pd_rl_step(pd_rl *r, pd_rng *rng, int64_t *opt_step, bool check_logp, pd_rl_stats *s) {
    memset(s, 0, sizeof *s);
    batch_free(r);
    r->sign = pd_rl_shape_phase(r->c.algo, &r->c.shape, r->step++, &r->prerl);   /* rl_shape.h */
    if (r->rlp) pd_rlp_begin_step(r->rlp);
    double w0 = pd_time_now(), c0 = cpu_now();
    pd_status st = collect(r, rng, s);
    s->rollout_cpu = cpu_now() - c0;
    for (int i = 0; i < r->n_seqs && st == PD_OK && r->ref_view; i++) st = ref_logprobs(r, &r->seqs[i]);
    if (st != PD_OK) return st;
    r->vtok = pd_malloc(sizeof(*r->vtok) * (size_t)(r->n_seqs + 1));
    r->vn = pd_malloc(sizeof(int) * (size_t)(r->n_seqs + 1));
    r->vnp = pd_malloc(sizeof(int) * (size_t)(r->n_seqs + 1));
    if (!r->vtok || !r->vn || !r->vnp) return PD_ERR_NOMEM;
    for (int i = 0; i < r->n_seqs; i++) {
        r->vtok[i] = r->seqs[i].tok; r->vn[i] = r->seqs[i].n; r->vnp[i] = r->seqs[i].n_prompt;
    }
    batch_stats(r, s);
    shape_stats(r, s);
    tree_stats(r, s);
    s->lr = pd_lr_at(&r->c.opt, *opt_step);
    s->logp_maxdiff = NAN;
    s->t_rollout = pd_time_now() - w0 - s->t_reward;   /* drawing + generating + reference */
    if (!r->n_seqs) return PD_OK;
    pd_run_test_poison(r->m, *opt_step);
    if ((st = shape_rows(r)) != PD_OK) return st;
    st = learn(r, rng, opt_step, check_logp, s);
    if (r->prerl) s->logp_maxdiff = NAN;   /* the learner read no prompt: not the sampler's distribution */
    return st;
}
