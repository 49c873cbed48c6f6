/* gen/gen.c — the generation loop (see ponder/gen.h for the contract).
 *
 * Shape, top to bottom:
 *   - a slot per sequence, with every per-token array (tokens, phase labels, log-probs) sized n_ctx
 *     at pd_gen_new, so stepping allocates nothing except text buffers growing by doubling;
 *   - pd_gen_step: for each model, one pd_batch holding every active sequence's pending tokens
 *     (decode tokens first, then prompt chunks up to n_batch), logits only for a sequence's last
 *     pending token, one pd_model_forward, then sample_next() for each sequence that got logits;
 *   - push_token(): the one place a token joins a sequence (sampled, injected or replayed after a
 *     rewind): phase labelling by the thinking markers, counts, incremental UTF-8 text, stop strings
 *     and the held-back stream;
 *   - policies are called from sample_next() / join only; the loop knows nothing about budgets.
 * Each model has its own KV cache with the same slot numbering; n_past[model] says how much of a
 * sequence that model has seen, so a hand-over simply prefills the difference. */
#include "ponder/gen.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/timer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { GEN_MAX_MODELS = 4, PIECE_CAP = 4096, SCORE_ROWS = 32 };

typedef struct {
    bool used, active;
    pd_seq_params p;                 /* copy; pointers below own the arrays */
    char **stop;
    size_t max_stop;
    int32_t *stop_tokens;
    pd_policy *pol;
    pd_sampler *smp;
    int32_t *tokens;                 /* [n_ctx] */
    uint8_t *phases;                 /* [n_ctx] */
    float *logprobs;                 /* [n_ctx], indexed by position */
    int n_tokens, n_prompt;
    int n_past[GEN_MAX_MODELS];
    int model;
    pd_phase phase;
    pd_phase phase_before_last;      /* phase before the last push_token (PD_ACT_REPLACE undoes it) */
    int n_thinking, n_answer;
    pd_detok_stream ds;
    pd_buf text[2];                  /* 0 thinking, 1 answer */
    size_t emitted[2];
    pd_finish finish;
    const char *stop_hit;
    const char *stop_policy;         /* name of the policy that answered PD_ACT_STOP */
    char err[256];
    double t_join, t_first, t_end;
    long last_step;
    pd_gen_result res;
} seq_t;

struct pd_gen {
    const pd_model *models[GEN_MAX_MODELS];
    pd_kv *kv[GEN_MAX_MODELS];
    int n_models;
    pd_gen_params p;
    int n_vocab;
    const pd_tokenizer *tok;
    int32_t think_open, think_close;
    seq_t *seqs;
    /* step buffers */
    int32_t *b_tok, *b_seq, *b_pos;
    int8_t *b_want;
    int *rows;
    float *logits;                   /* [n_seq_max][n_vocab] */
    float *score_logits;             /* [SCORE_ROWS][n_vocab], allocated at the first score */
    char *piece;                     /* [PIECE_CAP] */
    long step_no;
    int64_t fed[GEN_MAX_MODELS];     /* tokens fed to each model's forward (pd_gen_tokens_fed) */
    pd_stream_fn stream; void *stream_ctx;
    pd_token_fn on_tok; void *on_tok_ctx;
};

const char *pd_finish_name(pd_finish f) {
    static const char *n[] = {"none", "eog", "stop", "length", "context", "policy", "error"};
    return (int)f >= 0 && (int)f < (int)(sizeof n / sizeof n[0]) ? n[f] : "?";
}

const char *pd_finish_reason(const pd_gen_result *r) {
    switch (r ? r->finish : PD_FINISH_NONE) {
    case PD_FINISH_EOG: case PD_FINISH_STOP: return "stop";
    case PD_FINISH_LENGTH: case PD_FINISH_CONTEXT: return "length";
    case PD_FINISH_POLICY: return r->stop_policy && !strcmp(r->stop_policy, PD_POLICY_ANSWER_BUDGET) ? "length" : "stop";
    default: return NULL;
    }
}

const char *pd_finish_detail(const pd_gen_result *r) {
    switch (r ? r->finish : PD_FINISH_NONE) {
    case PD_FINISH_EOG: return "eog";
    case PD_FINISH_STOP: return "stop_string";
    case PD_FINISH_LENGTH: return "max_tokens";
    case PD_FINISH_CONTEXT: return "context";
    case PD_FINISH_POLICY: return r->stop_policy && !strcmp(r->stop_policy, PD_POLICY_ANSWER_BUDGET) ? "answer_budget" : "policy";
    case PD_FINISH_ERROR: return "error";
    default: return "none";
    }
}

pd_gen_params pd_gen_defaults(void) { return (pd_gen_params){.kv_type = PD_TYPE_F16}; }

pd_seq_params pd_seq_defaults(void) {
    pd_seq_params p = {0};
    p.sampling = pd_sampler_defaults();
    p.max_tokens = -1;
    return p;
}

/* ---------------------------------------------------------------- creation */

static pd_kv *make_kv(const pd_model *m, const pd_gen_params *p) {
    pd_kv_params kp = {.type = p->kv_type, .v_type_set = p->kv_type_v_set, .v_type = p->kv_type_v};
    return pd_kv_new_ex(&m->cfg, p->n_seq_max, p->n_ctx, &kp);
}

pd_gen *pd_gen_new(const pd_model *m, const pd_gen_params *pp) {
    if (!m) { pd_fail(PD_ERR_ARG, "gen: model is NULL"); return NULL; }
    pd_gen_params p = pp ? *pp : pd_gen_defaults();
    if (p.n_seq_max <= 0) p.n_seq_max = 1;
    if (p.n_ctx <= 0) p.n_ctx = m->cfg.n_ctx_train > 0 ? (m->cfg.n_ctx_train < 32768 ? m->cfg.n_ctx_train : 32768) : 4096;
    if (p.n_batch <= 0) p.n_batch = 512;
    if (!pd_kv_type_ok(p.kv_type) || (p.kv_type_v_set && !pd_kv_type_ok(p.kv_type_v))) {
        pd_fail(PD_ERR_ARG, "gen: KV types %d / %d are not f32, f16, q8_0 or q4_0", (int)p.kv_type,
                (int)(p.kv_type_v_set ? p.kv_type_v : p.kv_type));
        return NULL;
    }
    if (p.n_seq_max > 4096 || p.n_ctx > (1 << 24)) {
        pd_fail(PD_ERR_ARG, "gen: n_seq_max %d / n_ctx %d out of range", p.n_seq_max, p.n_ctx);
        return NULL;
    }
    pd_gen *g = pd_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->p = p;
    g->models[0] = m;
    g->n_models = 1;
    g->n_vocab = m->cfg.n_vocab;
    g->tok = m->tok;
    g->think_open = g->tok ? pd_tok_find(g->tok, "<think>") : -1;
    g->think_close = g->tok ? pd_tok_find(g->tok, "</think>") : -1;
    if (g->think_open < 0 || g->think_close < 0) g->think_open = g->think_close = -1;
    g->kv[0] = make_kv(m, &p);
    size_t cap = (size_t)p.n_batch + (size_t)p.n_seq_max;
    g->seqs = pd_calloc((size_t)p.n_seq_max, sizeof *g->seqs);
    g->b_tok = pd_malloc(cap * sizeof(int32_t));
    g->b_seq = pd_malloc(cap * sizeof(int32_t));
    g->b_pos = pd_malloc(cap * sizeof(int32_t));
    g->b_want = pd_malloc(cap);
    g->rows = pd_malloc((size_t)p.n_seq_max * sizeof(int));
    g->logits = pd_malloc((size_t)p.n_seq_max * (size_t)g->n_vocab * sizeof(float));
    g->piece = pd_malloc(PIECE_CAP);
    bool ok = g->kv[0] && g->seqs && g->b_tok && g->b_seq && g->b_pos && g->b_want && g->rows && g->logits && g->piece;
    for (int i = 0; ok && i < p.n_seq_max; i++) {
        seq_t *s = &g->seqs[i];
        s->tokens = pd_malloc((size_t)p.n_ctx * sizeof(int32_t));
        s->phases = pd_malloc((size_t)p.n_ctx);
        s->logprobs = pd_malloc((size_t)p.n_ctx * sizeof(float));
        ok = s->tokens && s->phases && s->logprobs;
    }
    if (!ok) { pd_gen_free(g); return NULL; }
    return g;
}

int pd_gen_add_model(pd_gen *g, const pd_model *m) {
    if (!g || !m) { pd_fail(PD_ERR_ARG, "gen: add_model: NULL"); return -1; }
    if (g->n_models >= GEN_MAX_MODELS) { pd_fail(PD_ERR_RANGE, "gen: at most %d models", GEN_MAX_MODELS); return -1; }
    if (m->cfg.n_vocab != g->n_vocab) {
        pd_fail(PD_ERR_ARG, "gen: add_model: vocabulary of %d tokens, the main model has %d", m->cfg.n_vocab, g->n_vocab);
        return -1;
    }
    pd_kv *kv = make_kv(m, &g->p);
    if (!kv) return -1;
    g->models[g->n_models] = m;
    g->kv[g->n_models] = kv;
    return g->n_models++;
}

static void seq_release(seq_t *s) {
    for (int i = 0; i < s->p.n_policies; i++)
        if (s->pol[i].release) s->pol[i].release(s->pol[i].ctx);
    free(s->pol); s->pol = NULL;
    if (s->stop) for (int i = 0; i < s->p.n_stop; i++) free(s->stop[i]);
    free(s->stop); s->stop = NULL;
    free(s->stop_tokens); s->stop_tokens = NULL;
    pd_sampler_free(s->smp); s->smp = NULL;
    pd_buf_free(&s->text[0]);
    pd_buf_free(&s->text[1]);
    s->used = s->active = false;
}

void pd_gen_free(pd_gen *g) {
    if (!g) return;
    for (int i = 0; g->seqs && i < g->p.n_seq_max; i++) {
        seq_t *s = &g->seqs[i];
        if (s->used) seq_release(s);
        free(s->tokens); free(s->phases); free(s->logprobs);
    }
    for (int i = 0; i < g->n_models; i++) pd_kv_free(g->kv[i]);
    free(g->seqs); free(g->b_tok); free(g->b_seq); free(g->b_pos); free(g->b_want); free(g->rows);
    free(g->logits); free(g->score_logits); free(g->piece);
    free(g);
}

void pd_gen_set_stream(pd_gen *g, pd_stream_fn fn, void *ctx) { g->stream = fn; g->stream_ctx = ctx; }
void pd_gen_set_token_callback(pd_gen *g, pd_token_fn fn, void *ctx) { g->on_tok = fn; g->on_tok_ctx = ctx; }
const pd_model *pd_gen_model(const pd_gen *g, int i) { return i >= 0 && i < g->n_models ? g->models[i] : NULL; }
pd_kv *pd_gen_kv(pd_gen *g, int i) { return g && i >= 0 && i < g->n_models ? g->kv[i] : NULL; }
int32_t pd_gen_think_open(const pd_gen *g) { return g->think_open; }
int32_t pd_gen_think_close(const pd_gen *g) { return g->think_close; }

/* ---------------------------------------------------------------- text and phases */

static int phase_slot(pd_phase ph) { return ph == PD_PHASE_THINKING ? 0 : 1; }

static void emit(pd_gen *g, int id, seq_t *s, int slot, size_t upto) {
    if (upto <= s->emitted[slot]) return;
    if (g->stream)
        g->stream(g->stream_ctx, id, slot == 0 ? PD_PHASE_THINKING : PD_PHASE_ANSWER, s->text[slot].data + s->emitted[slot],
                  upto - s->emitted[slot]);
    s->emitted[slot] = upto;
}

/* Bytes at the end of the answer that could still start a stop string. */
static size_t held_back(const seq_t *s) {
    const pd_buf *b = &s->text[1];
    size_t hold = 0;
    for (int i = 0; i < s->p.n_stop; i++) {
        size_t k = strlen(s->stop[i]);
        for (size_t j = (k - 1 < b->len ? k - 1 : b->len); j > hold; j--)
            if (!memcmp(b->data + b->len - j, s->stop[i], j)) { hold = j; break; }
    }
    return hold;
}

static void finish(pd_gen *g, int id, seq_t *s, pd_finish why) {
    if (!s->active) return;
    s->active = false;
    s->finish = why;
    s->t_end = pd_time_now();
    emit(g, id, s, 0, s->text[0].len);
    emit(g, id, s, 1, s->text[1].len);
}

static bool text_append(seq_t *s, int slot, const char *p, size_t n) {
    if (!n) return true;
    if (pd_buf_append(&s->text[slot], p, n)) return false;
    return true;
}

/* Append one token. replay: rebuilding after a rewind (no stream, no stop strings).
 * Returns the PD_BOUNDARY_* flags it raised; sets s->finish on a stop string or out of memory. */
static unsigned push_token(pd_gen *g, int id, seq_t *s, int32_t tok, float logprob, bool is_eog, bool replay) {
    unsigned boundary = 0;
    pd_phase lbl = s->phase;
    bool marker = false;
    s->phase_before_last = s->phase;
    /* markers are labelled thinking when they open or close it; a stray closer in the answer is an
     * answer token (its text is left out all the same) */
    if (tok >= 0 && tok == g->think_open) {
        lbl = PD_PHASE_THINKING; s->phase = PD_PHASE_THINKING; boundary |= PD_BOUNDARY_THINK_START; marker = true;
    } else if (tok >= 0 && tok == g->think_close) {
        if (s->phase == PD_PHASE_THINKING) boundary |= PD_BOUNDARY_THINK_END;
        else lbl = PD_PHASE_ANSWER;
        s->phase = PD_PHASE_ANSWER;
        marker = true;
    }
    int n = s->n_tokens++;
    s->tokens[n] = tok;
    s->phases[n] = (uint8_t)lbl;
    s->logprobs[n] = logprob;
    if (lbl == PD_PHASE_THINKING) s->n_thinking++;
    else s->n_answer++;
    if (!g->tok) return boundary;
    if (marker) {
        /* a character split before a marker can never complete: drop it; stream what was held */
        s->ds.n_pending = 0;
        if (!replay) {
            emit(g, id, s, 0, s->text[0].len);
            emit(g, id, s, 1, s->text[1].len);
        }
        return boundary;
    }
    if (is_eog) return boundary;
    size_t k = pd_detok_push(&s->ds, g->tok, tok, g->piece, PIECE_CAP);
    if (!k) return boundary;
    int slot = phase_slot(lbl);
    pd_buf *b = &s->text[slot];
    size_t old = b->len;
    if (!text_append(s, slot, g->piece, k)) {
        snprintf(s->err, sizeof s->err, "%s", pd_last_error());
        if (!replay) finish(g, id, s, PD_FINISH_ERROR);
        return boundary;
    }
    if (memchr(g->piece, '\n', k)) boundary |= PD_BOUNDARY_LINE;
    bool was_par = old >= 2 && b->data[old - 1] == '\n' && b->data[old - 2] == '\n';
    if (!was_par && b->len >= 2 && b->data[b->len - 1] == '\n' && b->data[b->len - 2] == '\n') boundary |= PD_BOUNDARY_PARAGRAPH;
    if (replay) { s->emitted[slot] = b->len; return boundary; }
    if (slot == 1 && s->p.n_stop) {
        for (int i = 0; i < s->p.n_stop; i++) {
            size_t sl = strlen(s->stop[i]);
            size_t from = old + 1 > sl ? old + 1 - sl : 0;
            const char *hit = NULL;
            for (size_t j = from; j + sl <= b->len; j++)
                if (!memcmp(b->data + j, s->stop[i], sl)) { hit = b->data + j; break; }
            if (hit) {
                b->len = (size_t)(hit - b->data);
                b->data[b->len] = 0;
                s->stop_hit = s->stop[i];
                finish(g, id, s, PD_FINISH_STOP);
                return boundary;
            }
        }
        emit(g, id, s, 1, b->len - held_back(s));
    } else {
        emit(g, id, s, slot, b->len);
    }
    return boundary;
}

static pd_phase prompt_phase(const pd_gen *g, const int32_t *t, int n) {
    pd_phase ph = PD_PHASE_ANSWER;
    if (g->think_open < 0) return ph;
    for (int i = 0; i < n; i++) {
        if (t[i] == g->think_open) ph = PD_PHASE_THINKING;
        else if (t[i] == g->think_close) ph = PD_PHASE_ANSWER;
    }
    return ph;
}

static pd_seq_state make_state(const pd_gen *g, int id, const seq_t *s, int32_t tok, unsigned boundary) {
    pd_seq_state st = {
        .seq = id, .phase = s->phase, .tokens = s->tokens, .phases = s->phases, .n_tokens = s->n_tokens,
        .n_prompt = s->n_prompt, .n_thinking = s->n_thinking, .n_answer = s->n_answer,
        .n_generated = s->n_tokens - s->n_prompt, .token = tok, .boundary = boundary, .model = s->model,
        .n_vocab = g->n_vocab, .tok = g->tok, .think_open = g->think_open, .think_close = g->think_close,
        .thinking = s->text[0].data ? s->text[0].data : "", .thinking_len = s->text[0].len,
        .answer = s->text[1].data ? s->text[1].data : "", .answer_len = s->text[1].len,
    };
    return st;
}

/* PD_ACT_REPLACE: take back the token just sampled — only a marker (no text, nothing streamed), and
 * only before it was fed. False (sequence finished with an error) otherwise. */
static bool take_back(pd_gen *g, int id, seq_t *s) {
    int last = s->n_tokens - 1;
    int32_t t = last >= s->n_prompt ? s->tokens[last] : -1;
    if (t < 0 || (t != g->think_open && t != g->think_close) || s->n_past[s->model] > last) {
        snprintf(s->err, sizeof s->err, "gen: sequence %d: a policy can take back only a thinking marker just sampled", id);
        finish(g, id, s, PD_FINISH_ERROR);
        return false;
    }
    if (s->phases[last] == PD_PHASE_THINKING) s->n_thinking--;
    else s->n_answer--;
    s->n_tokens = last;
    s->phase = s->phase_before_last;
    return true;
}

/* Apply a policy action (not CONTINUE). */
static void apply_action(pd_gen *g, int id, seq_t *s, const pd_action *a) {
    if (a->kind == PD_ACT_REPLACE && !take_back(g, id, s)) return;
    switch (a->kind) {
    case PD_ACT_REPLACE:
    case PD_ACT_INJECT:
        for (int i = 0; i < a->n_tokens && s->active; i++) {
            int32_t t = a->tokens[i];
            if (t < 0 || t >= g->n_vocab) {
                snprintf(s->err, sizeof s->err, "gen: sequence %d: a policy injected token %d outside [0, %d)", id, t, g->n_vocab);
                finish(g, id, s, PD_FINISH_ERROR);
                return;
            }
            if (s->n_tokens >= g->p.n_ctx) { finish(g, id, s, PD_FINISH_CONTEXT); return; }
            if (s->p.max_tokens >= 0 && s->n_tokens - s->n_prompt >= s->p.max_tokens) { finish(g, id, s, PD_FINISH_LENGTH); return; }
            pd_sampler_accept(s->smp, t);
            push_token(g, id, s, t, NAN, false, false);
        }
        break;
    case PD_ACT_STOP: finish(g, id, s, PD_FINISH_POLICY); break;
    case PD_ACT_HANDOVER:
        if (a->model < 0 || a->model >= g->n_models) {
            snprintf(s->err, sizeof s->err, "gen: sequence %d: hand-over to model %d, but the gen has %d", id, a->model, g->n_models);
            finish(g, id, s, PD_FINISH_ERROR);
            return;
        }
        s->model = a->model;
        break;
    default: break;
    }
}

static void check_limits(pd_gen *g, int id, seq_t *s) {
    if (!s->active) return;
    if (s->p.max_tokens >= 0 && s->n_tokens - s->n_prompt >= s->p.max_tokens) finish(g, id, s, PD_FINISH_LENGTH);
    else if (s->n_tokens >= g->p.n_ctx) finish(g, id, s, PD_FINISH_CONTEXT);
}

static void sample_next(pd_gen *g, int id, seq_t *s, float *logits) {
    pd_seq_state st = make_state(g, id, s, -1, 0);
    for (int i = 0; i < s->p.n_policies; i++)
        if (s->pol[i].on_logits) s->pol[i].on_logits(s->pol[i].ctx, &st, logits);
    pd_sample smp;
    bool want = s->p.logprobs || g->on_tok;
    int32_t tok = pd_sampler_sample(s->smp, logits, want ? &smp : NULL);
    if (tok < 0) {
        snprintf(s->err, sizeof s->err, "%s", pd_last_error());
        finish(g, id, s, PD_FINISH_ERROR);
        return;
    }
    if (s->t_first == 0) s->t_first = pd_time_now();
    pd_sampler_accept(s->smp, tok);
    bool eog = false;
    if (!s->p.ignore_eog) {
        eog = g->tok && pd_tok_is_eog(g->tok, tok);
        for (int i = 0; i < s->p.n_stop_tokens && !eog; i++) eog = s->stop_tokens[i] == tok;
    }
    unsigned boundary = push_token(g, id, s, tok, want ? smp.logprob : NAN, eog, false);
    pd_phase ph = (pd_phase)s->phases[s->n_tokens - 1];
    if (g->on_tok) g->on_tok(g->on_tok_ctx, id, &smp, ph);
    if (!s->active) return;
    if (eog) { finish(g, id, s, PD_FINISH_EOG); return; }
    st = make_state(g, id, s, tok, boundary);
    for (int i = 0; i < s->p.n_policies; i++) {
        if (!s->pol[i].on_token) continue;
        pd_action a = {PD_ACT_CONTINUE, NULL, 0, 0};
        s->pol[i].on_token(s->pol[i].ctx, &st, &a);
        if (a.kind == PD_ACT_STOP) s->stop_policy = s->pol[i].name;
        if (a.kind != PD_ACT_CONTINUE) { apply_action(g, id, s, &a); break; }
    }
    check_limits(g, id, s);
}

/* ---------------------------------------------------------------- joining */

static seq_t *seq_at(pd_gen *g, int id);

static int free_slot(const pd_gen *g) {
    for (int i = 0; i < g->p.n_seq_max; i++)
        if (!g->seqs[i].used) return i;
    return -1;
}

/* Copy params and build sampler/policies into slot s. */
static pd_status seq_setup(pd_gen *g, seq_t *s, const pd_seq_params *pp) {
    pd_seq_params p = pp ? *pp : pd_seq_defaults();
    if (p.n_stop < 0 || p.n_stop_tokens < 0 || p.n_policies < 0 || (p.n_stop && !p.stop) ||
        (p.n_stop_tokens && !p.stop_tokens) || (p.n_policies && !p.policies))
        return pd_fail(PD_ERR_ARG, "gen: sequence params: negative count or NULL array");
    int32_t *tokens = s->tokens;
    uint8_t *phases = s->phases;
    float *logprobs = s->logprobs;
    memset(s, 0, sizeof *s);
    s->tokens = tokens;
    s->phases = phases;
    s->logprobs = logprobs;
    s->p = p;
    s->smp = pd_sampler_new(&p.sampling, g->n_vocab);
    if (!s->smp) return pd_fail_ctx(PD_ERR_ARG, "gen: sequence params");
    if (p.n_stop) {
        s->stop = pd_calloc((size_t)p.n_stop, sizeof(char *));
        if (!s->stop) return PD_ERR_NOMEM;
        for (int i = 0; i < p.n_stop; i++) {
            if (!p.stop[i] || !p.stop[i][0]) return pd_fail(PD_ERR_ARG, "gen: stop string %d is empty", i);
            if (!(s->stop[i] = pd_strdup(p.stop[i]))) return PD_ERR_NOMEM;
            size_t k = strlen(p.stop[i]);
            if (k > s->max_stop) s->max_stop = k;
        }
    }
    if (p.n_stop_tokens) {
        if (!(s->stop_tokens = pd_malloc((size_t)p.n_stop_tokens * sizeof(int32_t)))) return PD_ERR_NOMEM;
        memcpy(s->stop_tokens, p.stop_tokens, (size_t)p.n_stop_tokens * sizeof(int32_t));
    }
    if (p.n_policies) {
        if (!(s->pol = pd_malloc((size_t)p.n_policies * sizeof(pd_policy)))) return PD_ERR_NOMEM;
        memcpy(s->pol, p.policies, (size_t)p.n_policies * sizeof(pd_policy));
    }
    s->p.stop = (const char *const *)s->stop;
    s->p.stop_tokens = s->stop_tokens;
    s->p.policies = s->pol;
    return PD_OK;
}

/* On failure the caller's policies are not released (the caller still owns them). */
static void seq_abort(seq_t *s) {
    s->p.n_policies = 0;
    seq_release(s);
}

static void run_on_start(pd_gen *g, int id, seq_t *s) {
    check_limits(g, id, s);  /* max_tokens 0: nothing at all, not even injected tokens */
    pd_seq_state st = make_state(g, id, s, -1, 0);
    for (int i = 0; i < s->p.n_policies && s->active; i++) {
        if (!s->pol[i].on_start) continue;
        pd_action a = {PD_ACT_CONTINUE, NULL, 0, 0};
        s->pol[i].on_start(s->pol[i].ctx, &st, &a);
        if (a.kind == PD_ACT_STOP) s->stop_policy = s->pol[i].name;
        if (a.kind != PD_ACT_CONTINUE) { apply_action(g, id, s, &a); st = make_state(g, id, s, -1, 0); }
    }
    check_limits(g, id, s);
}

int pd_gen_add(pd_gen *g, const int32_t *prompt, int n, const pd_seq_params *p) {
    if (!g || !prompt || n < 1) { pd_fail(PD_ERR_ARG, "gen: add: need a prompt of at least one token (got %d)", n); return -1; }
    if (n >= g->p.n_ctx) { pd_fail(PD_ERR_RANGE, "gen: add: prompt of %d tokens does not fit the context of %d", n, g->p.n_ctx); return -1; }
    for (int i = 0; i < n; i++)
        if (prompt[i] < 0 || prompt[i] >= g->n_vocab) {
            pd_fail(PD_ERR_RANGE, "gen: add: prompt token %d: id %d outside the vocabulary [0, %d)", i, prompt[i], g->n_vocab);
            return -1;
        }
    int id = free_slot(g);
    if (id < 0) { pd_fail(PD_ERR_STATE, "gen: add: all %d sequence slots are in use", g->p.n_seq_max); return -1; }
    seq_t *s = &g->seqs[id];
    if (seq_setup(g, s, p) != PD_OK) { char m[256]; snprintf(m, sizeof m, "%s", pd_last_error()); seq_abort(s); pd_fail(PD_ERR_ARG, "%s", m); return -1; }
    s->used = s->active = true;
    for (int m = 0; m < g->n_models; m++) pd_kv_seq_clear(g->kv[m], id);
    memcpy(s->tokens, prompt, (size_t)n * sizeof(int32_t));
    memset(s->phases, PD_PHASE_PROMPT, (size_t)n);
    for (int i = 0; i < n; i++) s->logprobs[i] = NAN;
    s->n_tokens = s->n_prompt = n;
    s->phase = prompt_phase(g, prompt, n);
    s->t_join = pd_time_now();
    s->last_step = -1;
    run_on_start(g, id, s);
    return id;
}

int pd_gen_add_reusing(pd_gen *g, int donor, const int32_t *prompt, int n, const pd_seq_params *p) {
    seq_t *d = seq_at(g, donor);
    if (!d) { pd_fail(PD_ERR_ARG, "gen: add_reusing: donor sequence %d is not in use", donor); return -1; }
    /* the common prefix that is in the main model's cache; the last prompt token is always fed */
    int c = 0, lim = d->n_past[0] < n - 1 ? d->n_past[0] : n - 1;
    while (c < lim && d->tokens[c] == prompt[c]) c++;
    int id = pd_gen_add(g, prompt, n, p);
    if (id < 0 || c == 0) return id;
    seq_t *s = &g->seqs[id];
    if (s->n_past[0] != 0 || s->n_tokens != n) return id;  /* an on_start policy already moved it: no reuse */
    if (pd_kv_seq_copy(g->kv[0], donor, id) != PD_OK || pd_kv_seq_rewind(g->kv[0], id, c) != PD_OK) {
        pd_kv_seq_clear(g->kv[0], id);
        return id;  /* reuse is an optimisation: fall back to a full prefill */
    }
    s->n_past[0] = c;
    return id;
}

/* ---------------------------------------------------------------- stepping */

static pd_status step_model(pd_gen *g, int mi) {
    int V = g->n_vocab, nb = 0, nr = 0, budget = g->p.n_batch;
    /* pass 0: sequences with one pending token (decode); pass 1: the rest (prefill chunks) */
    for (int pass = 0; pass < 2; pass++) {
        for (int id = 0; id < g->p.n_seq_max; id++) {
            seq_t *s = &g->seqs[id];
            if (!s->active || s->model != mi || s->last_step == g->step_no) continue;
            int pend = s->n_tokens - s->n_past[mi];
            if (pend <= 0 || (pass == 0) != (pend == 1)) continue;
            int take = pend;
            if (pass == 1) {
                if (budget <= 0) continue;
                if (take > budget) take = budget;
                budget -= take;
            }
            for (int j = 0; j < take; j++) {
                g->b_tok[nb] = s->tokens[s->n_past[mi] + j];
                g->b_seq[nb] = id;
                g->b_pos[nb] = s->n_past[mi] + j;
                g->b_want[nb] = (int8_t)(take == pend && j == take - 1);
                nb++;
            }
            if (take == pend) g->rows[nr++] = id;
            s->last_step = g->step_no;
        }
    }
    if (!nb) return PD_OK;
    pd_batch b = {.n = nb, .token = g->b_tok, .seq = g->b_seq, .pos = g->b_pos, .want_logits = g->b_want};
    pd_status st = pd_model_forward(g->models[mi], g->kv[mi], &b, g->logits);
    if (st != PD_OK) {
        for (int i = 0; i < nb; i++) g->seqs[g->b_seq[i]].last_step = -1;
        return st;
    }
    for (int i = 0; i < nb; i++) g->seqs[g->b_seq[i]].n_past[mi]++;
    g->fed[mi] += nb;
    for (int r = 0; r < nr; r++) {
        seq_t *s = &g->seqs[g->rows[r]];
        if (s->active) sample_next(g, g->rows[r], s, g->logits + (size_t)r * V);
    }
    return PD_OK;
}

pd_status pd_gen_step(pd_gen *g) {
    if (!g) return pd_fail(PD_ERR_ARG, "gen: step: NULL");
    g->step_no++;
    for (int mi = 0; mi < g->n_models; mi++) PD_TRY(step_model(g, mi));
    return PD_OK;
}

int pd_gen_n_active(const pd_gen *g) {
    int n = 0;
    for (int i = 0; i < g->p.n_seq_max; i++) n += g->seqs[i].active;
    return n;
}

int pd_gen_n_free(const pd_gen *g) {
    int n = 0;
    for (int i = 0; i < g->p.n_seq_max; i++) n += !g->seqs[i].used;
    return n;
}

int pd_gen_n_ctx(const pd_gen *g) { return g->p.n_ctx; }
int64_t pd_gen_tokens_fed(const pd_gen *g, int model) {
    return g && model >= 0 && model < g->n_models ? g->fed[model] : 0;
}
size_t pd_gen_kv_bytes(const pd_gen *g) {
    size_t b = 0;
    for (int i = 0; i < g->n_models; i++) b += pd_kv_bytes(g->kv[i]);
    return b;
}

pd_status pd_gen_run(pd_gen *g) {
    while (pd_gen_n_active(g)) PD_TRY(pd_gen_step(g));
    return PD_OK;
}

static seq_t *seq_at(pd_gen *g, int id) {
    if (!g || id < 0 || id >= g->p.n_seq_max || !g->seqs[id].used) return NULL;
    return &g->seqs[id];
}

bool pd_gen_done(const pd_gen *g, int id) {
    seq_t *s = seq_at((pd_gen *)g, id);
    return !s || !s->active;
}

const pd_gen_result *pd_gen_get_result(pd_gen *g, int id) {
    seq_t *s = seq_at(g, id);
    if (!s) return NULL;
    pd_gen_result *r = &s->res;
    r->finish = s->active ? PD_FINISH_NONE : s->finish;
    r->error = s->finish == PD_FINISH_ERROR ? s->err : NULL;
    r->stop_string = s->stop_hit;
    r->stop_policy = s->finish == PD_FINISH_POLICY ? s->stop_policy : NULL;
    r->tokens = s->tokens;
    r->phases = s->phases;
    r->logprobs = s->p.logprobs ? s->logprobs + s->n_prompt : NULL;
    r->n_tokens = s->n_tokens;
    r->n_prompt = s->n_prompt;
    r->n_thinking = s->n_thinking;
    r->n_answer = s->n_answer;
    r->thinking = s->text[0].data ? s->text[0].data : "";
    r->thinking_len = s->text[0].len;
    r->answer = s->text[1].data ? s->text[1].data : "";
    r->answer_len = s->text[1].len;
    double end = s->active ? pd_time_now() : s->t_end;
    r->t_prefill = s->t_first > 0 ? s->t_first - s->t_join : end - s->t_join;
    r->t_decode = s->t_first > 0 ? end - s->t_first : 0;
    r->kv_peak_bytes = 0;
    for (int m = 0; m < g->n_models; m++) r->kv_peak_bytes += pd_kv_peak_bytes(g->kv[m]);
    return r;
}

void pd_gen_remove(pd_gen *g, int id) {
    seq_t *s = seq_at(g, id);
    if (!s) return;
    seq_release(s);
    for (int m = 0; m < g->n_models; m++) pd_kv_seq_clear(g->kv[m], id);
}

/* ---------------------------------------------------------------- fork, rewind, score */

int pd_gen_fork(pd_gen *g, int src_id, const pd_seq_params *p) {
    seq_t *src = seq_at(g, src_id);
    if (!src) { pd_fail(PD_ERR_ARG, "gen: fork: sequence %d is not in use", src_id); return -1; }
    int id = free_slot(g);
    if (id < 0) { pd_fail(PD_ERR_STATE, "gen: fork: all %d sequence slots are in use", g->p.n_seq_max); return -1; }
    seq_t *s = &g->seqs[id];
    if (seq_setup(g, s, p) != PD_OK) { char m[256]; snprintf(m, sizeof m, "%s", pd_last_error()); seq_abort(s); pd_fail(PD_ERR_ARG, "%s", m); return -1; }
    for (int m = 0; m < g->n_models; m++) {
        if (pd_kv_seq_copy(g->kv[m], src_id, id) != PD_OK) { seq_abort(s); return -1; }
        s->n_past[m] = src->n_past[m];
    }
    s->used = s->active = true;
    memcpy(s->tokens, src->tokens, (size_t)src->n_tokens * sizeof(int32_t));
    memcpy(s->phases, src->phases, (size_t)src->n_tokens);
    memcpy(s->logprobs, src->logprobs, (size_t)src->n_tokens * sizeof(float));
    s->n_tokens = src->n_tokens;
    s->n_prompt = src->n_prompt;
    s->model = src->model;
    s->phase = src->phase;
    s->n_thinking = src->n_thinking;
    s->n_answer = src->n_answer;
    s->ds = src->ds;
    for (int k = 0; k < 2; k++) {
        if (src->text[k].len && pd_buf_append(&s->text[k], src->text[k].data, src->text[k].len)) { seq_abort(s); return -1; }
        s->emitted[k] = s->text[k].len;  /* the fork streams only what it generates itself */
    }
    s->t_join = pd_time_now();
    s->last_step = -1;
    /* the fork needs logits for its next token: make sure the last token is pending for its model */
    if (s->n_past[s->model] >= s->n_tokens) {
        s->n_past[s->model] = s->n_tokens - 1;
        if (pd_kv_seq_rewind(g->kv[s->model], id, s->n_tokens - 1) != PD_OK) { seq_abort(s); return -1; }
    }
    run_on_start(g, id, s);
    return id;
}

pd_status pd_gen_prefill(pd_gen *g, int id) {
    seq_t *s = seq_at(g, id);
    if (!s) return pd_fail(PD_ERR_ARG, "gen: prefill: sequence %d is not in use", id);
    int mi = s->model;
    while (s->n_past[mi] < s->n_tokens - 1) {
        int nb = s->n_tokens - 1 - s->n_past[mi];
        if (nb > g->p.n_batch) nb = g->p.n_batch;
        for (int j = 0; j < nb; j++) {
            g->b_tok[j] = s->tokens[s->n_past[mi] + j];
            g->b_seq[j] = id;
            g->b_pos[j] = s->n_past[mi] + j;
            g->b_want[j] = 0;
        }
        pd_batch b = {.n = nb, .token = g->b_tok, .seq = g->b_seq, .pos = g->b_pos, .want_logits = g->b_want};
        PD_TRY(pd_model_forward(g->models[mi], g->kv[mi], &b, g->logits));
        s->n_past[mi] += nb;
        g->fed[mi] += nb;
    }
    return PD_OK;
}

pd_status pd_gen_rewind(pd_gen *g, int id, int n) {
    seq_t *s = seq_at(g, id);
    if (!s) return pd_fail(PD_ERR_ARG, "gen: rewind: sequence %d is not in use", id);
    if (n < s->n_prompt || n > s->n_tokens)
        return pd_fail(PD_ERR_RANGE, "gen: rewind: sequence %d to %d tokens, must be within [%d, %d]", id, n, s->n_prompt,
                       s->n_tokens);
    /* KV: keep at most n - 1 positions so the last kept token is fed again and yields logits */
    for (int m = 0; m < g->n_models; m++) {
        int keep = s->n_past[m] < n - 1 ? s->n_past[m] : n - 1;
        PD_TRY(pd_kv_seq_rewind(g->kv[m], id, keep));
        s->n_past[m] = keep;
    }
    /* rebuild phases, counts and texts by replaying the kept generated tokens */
    int end = n;
    s->n_tokens = s->n_prompt;
    s->phase = prompt_phase(g, s->tokens, s->n_prompt);
    s->n_thinking = s->n_answer = 0;
    s->text[0].len = s->text[1].len = 0;
    if (s->text[0].data) s->text[0].data[0] = 0;
    if (s->text[1].data) s->text[1].data[0] = 0;
    s->emitted[0] = s->emitted[1] = 0;
    s->ds.n_pending = 0;
    s->stop_hit = NULL;
    pd_sampler_reset(s->smp, s->p.sampling.seed);
    for (int i = s->n_prompt; i < end; i++) {
        int32_t t = s->tokens[i];
        bool eog = !s->p.ignore_eog && g->tok && pd_tok_is_eog(g->tok, t);
        pd_sampler_accept(s->smp, t);
        push_token(g, id, s, t, s->logprobs[i], eog, true);
    }
    s->active = true;
    s->finish = PD_FINISH_NONE;
    s->t_first = 0;
    s->t_join = pd_time_now();
    return PD_OK;
}

pd_status pd_gen_score(pd_gen *g, int mi, const int32_t *prefix, int n_prefix, const int32_t *cont, int n_cont,
                       float *logprobs) {
    if (!g || mi < 0 || mi >= g->n_models) return pd_fail(PD_ERR_ARG, "gen: score: no model %d", mi);
    if (!prefix || n_prefix < 1 || n_cont < 0 || (n_cont && (!cont || !logprobs)))
        return pd_fail(PD_ERR_ARG, "gen: score: need a prefix of at least one token (got %d) and a continuation", n_prefix);
    if (n_prefix + n_cont > g->p.n_ctx)
        return pd_fail(PD_ERR_RANGE, "gen: score: %d + %d tokens exceed the context of %d", n_prefix, n_cont, g->p.n_ctx);
    int id = free_slot(g);
    if (id < 0) return pd_fail(PD_ERR_STATE, "gen: score: needs a free sequence slot (all %d in use)", g->p.n_seq_max);
    if (n_cont == 0) return PD_OK;
    int V = g->n_vocab;
    if (!g->score_logits && !(g->score_logits = pd_malloc((size_t)SCORE_ROWS * V * sizeof(float)))) return PD_ERR_NOMEM;
    pd_kv *kv = g->kv[mi];
    pd_kv_seq_clear(kv, id);
    int total = n_prefix + n_cont - 1; /* the last continuation token is never fed */
    int pos = 0;
    pd_status st = PD_OK;
    while (pos < total && st == PD_OK) {
        int nb = 0, nr = 0;
        int first_row = -1;
        while (pos + nb < total && nb < g->p.n_batch) {
            int p = pos + nb;
            bool want = p >= n_prefix - 1;
            if (want && nr == SCORE_ROWS) break;
            g->b_tok[nb] = p < n_prefix ? prefix[p] : cont[p - n_prefix];
            g->b_seq[nb] = id;
            g->b_pos[nb] = p;
            g->b_want[nb] = (int8_t)want;
            if (want && first_row < 0) first_row = p - (n_prefix - 1);
            nr += want;
            nb++;
        }
        pd_batch b = {.n = nb, .token = g->b_tok, .seq = g->b_seq, .pos = g->b_pos, .want_logits = g->b_want};
        st = pd_model_forward(g->models[mi], kv, &b, g->score_logits);
        if (st == PD_OK) g->fed[mi] += nb;
        for (int r = 0; st == PD_OK && r < nr; r++) {
            int ci = first_row + r;
            logprobs[ci] = pd_logprob_of(g->score_logits + (size_t)r * V, V, cont[ci]);
        }
        pos += nb;
    }
    pd_kv_seq_clear(kv, id);
    return st;
}
