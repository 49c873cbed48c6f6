/* reason/trimr.c — TrimR (ponder/trimr.h): the rules as plain functions over a small state (tested
 * on scripted thought sequences), thought segmentation at reflection markers, and the two policies
 * that feed the rules — from probes (trimr-probe) or from a verifier model's yes/no logits (trimr).
 * Judgements arrive through the hub a few tokens after the thought closed; they are applied in
 * thought order and the guide is injected at the next token, as the spec's online system does. */
#include "ponder/trimr.h"
#include "ponder/alloc.h"
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pd_trimr_event_name(pd_trimr_event e) {
    static const char *n[] = {"none", "overthinking", "underthinking", "repetition"};
    return (unsigned)e < 4 ? n[e] : "?";
}

pd_trimr_rules pd_trimr_rules_defaults(void) {
    return (pd_trimr_rules){.M = 2, .n_thres = 40, .r_thres = 0.5, .budget = 0, .rep_n = 64, .rep_count = 3, .rep_window = 4096};
}

pd_status pd_trimr_state_init(pd_trimr_state *st, const pd_trimr_rules *r) {
    memset(st, 0, sizeof *st);
    if (r->rep_n < 1 || r->rep_window < r->rep_n || r->rep_count < 2)
        return pd_fail(PD_ERR_ARG, "trimr: repetition window %d / n-gram %d / count %d", r->rep_window, r->rep_n, r->rep_count);
    st->cap_hash = r->rep_window;
    st->hash = pd_malloc((size_t)st->cap_hash * sizeof *st->hash);
    st->pos = pd_malloc((size_t)st->cap_hash * sizeof *st->pos);
    st->win = pd_malloc((size_t)r->rep_n * sizeof *st->win);
    if (!st->hash || !st->pos || !st->win) { pd_trimr_state_free(st); return PD_ERR_NOMEM; }
    return PD_OK;
}

void pd_trimr_state_free(pd_trimr_state *st) {
    free(st->hash); free(st->pos); free(st->win);
    memset(st, 0, sizeof *st);
}

pd_trimr_event pd_trimr_tokens(const pd_trimr_state *st, const pd_trimr_rules *r, int tokens) {
    if (st->converged || r->budget <= 0) return PD_TRIMR_NONE;
    return tokens >= r->r_thres * r->budget ? PD_TRIMR_UNDER : PD_TRIMR_NONE;
}

pd_trimr_event pd_trimr_thought(pd_trimr_state *st, const pd_trimr_rules *r, bool exists, bool same, int tokens) {
    st->n_thoughts++;
    if (exists) {
        st->c = st->n_concluded > 0 && same ? st->c + 1 : 0;
        st->n_concluded++;
        if (st->c >= r->M) { st->converged = true; return PD_TRIMR_OVER; }
    }
    if (!st->converged && st->n_thoughts >= r->n_thres) return PD_TRIMR_UNDER;
    return pd_trimr_tokens(st, r, tokens);
}

pd_trimr_event pd_trimr_push(pd_trimr_state *st, const pd_trimr_rules *r, int32_t token) {
    st->win[st->n_tok % r->rep_n] = token;
    st->n_tok++;
    if (st->n_tok < r->rep_n) return PD_TRIMR_NONE;
    /* FNV-1a over the last rep_n tokens, oldest first */
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < r->rep_n; i++) {
        uint32_t t = (uint32_t)st->win[(st->n_tok + i) % r->rep_n];
        for (int b = 0; b < 4; b++) { h ^= (t >> (8 * b)) & 0xff; h *= 1099511628211ull; }
    }
    int seen = 1;
    for (int i = 0; i < st->n_hash; i++)
        if (st->hash[i] == h && st->pos[i] > st->n_tok - r->rep_window) seen++;
    int slot = st->n_hash < st->cap_hash ? st->n_hash++ : (st->head++ % st->cap_hash);
    st->hash[slot] = h;
    st->pos[slot] = st->n_tok;
    return seen >= r->rep_count ? PD_TRIMR_REPEAT : PD_TRIMR_NONE;
}

long pd_trimr_marker_at(const char *text, size_t len, const char *markers) {
    size_t p = len;
    while (p >= 2 && !(text[p - 1] == '\n' && text[p - 2] == '\n')) p--;
    if (p < 2) return -1;
    while (p < len && (text[p] == '\n' || text[p] == ' ')) p++;
    for (const char *m = markers; m && *m;) {
        const char *e = strchr(m, '|');
        size_t k = e ? (size_t)(e - m) : strlen(m);
        if (k && len - p >= k && !strncmp(text + p, m, k)) return (long)p;
        m = e ? e + 1 : NULL;
    }
    return -1;
}

char *pd_trimr_last_sentences(const char *text, size_t len, int n) {
    while (len && isspace((unsigned char)text[len - 1])) len--;
    size_t start = len;
    int found = 0;
    for (size_t i = len; i > 0; i--) {
        char c = text[i - 1];
        bool end = (c == '.' || c == '!' || c == '?') && i < len && isspace((unsigned char)text[i]);
        if (c == '\n' || end) {
            if (++found == n) break;
        }
        start = i - 1;
    }
    while (start < len && isspace((unsigned char)text[start])) start++;
    return pd_strndup(text + start, len - start);
}

/* ---------------------------------------------------------------- the policies */

typedef struct {
    int req;            /* hub request id of the pending judgement (-1 none) */
    int keep;           /* probe: tokens of the sequence at the thought's end */
    bool nl;            /* probe: closed with close_nl (after a line end) */
    int32_t *ans; int n_ans;   /* probe: the answer tokens it decoded (EOG included when it ended so) */
    bool p1_done, exists;
    char *text;         /* probe: the extracted answer; verifier: the intermediate answer s_l */
    int p2_req;         /* verifier: the equivalence request (-1 none) */
    bool p2_done, same;
} thought_t;

typedef struct {
    bool verifier;
    pd_trimr_rules r;
    pd_trimr_state st;
    pd_reason_env env;
    char *markers, *question;
    int answer_budget, n_sent, model, guide;   /* guide: 0 close, 1 spec (mild/forced) */
    int32_t *close; int n_close;      /* "\n</think>\n\n" (probes) */
    int32_t *close_nl; int n_close_nl; /* "</think>\n\n" (the guide at a line end) */
    int32_t *mild; int n_mild;
    int32_t *forced; int n_forced;
    int32_t yes, no;
    long handled_par;   /* thinking offset of the last paragraph judged */
    int par_tokens;     /* token count at the last paragraph boundary */
    int line_tokens, prev_line_tokens;   /* token counts at the last two line ends */
    thought_t *th; int n_th, cap_th, head;
    char *prev;         /* the previous concluded answer / intermediate answer */
    int32_t *prev_ans; int n_prev_ans;   /* probe: that answer's tokens */
    int32_t *tail; int n_tail;           /* injected on stopping: closer + the probe's answer */
    int32_t force_eog;                   /* >= 0: force this end token next (after the answer) */
    pd_trimr_event fire;
    bool done;
} trimr_t;

static thought_t *new_thought(trimr_t *t) {
    if (t->n_th == t->cap_th) {
        int cap = t->cap_th ? 2 * t->cap_th : 16;
        thought_t *n = realloc(t->th, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        t->th = n;
        t->cap_th = cap;
    }
    thought_t *x = &t->th[t->n_th++];
    *x = (thought_t){.req = -1, .p2_req = -1};
    return x;
}

static bool answers_same(const trimr_t *t, const char *a, const char *b) {
    return t->env.equiv ? t->env.equiv(a, b) : !strcmp(a, b);
}

static void ask_p2(trimr_t *t, thought_t *x);

/* Apply judged thoughts in order, as far as they are complete. */
static void advance(trimr_t *t, int tokens) {
    while (t->head < t->n_th && !t->done && t->fire == PD_TRIMR_NONE) {
        thought_t *x = &t->th[t->head];
        if (!x->p1_done) return;
        bool same = false;
        if (x->exists && t->prev) {
            if (t->verifier) {
                if (x->p2_req < 0 && !x->p2_done) { ask_p2(t, x); if (x->p2_req < 0) x->p2_done = true; }
                if (!x->p2_done) return;
                same = x->same;
            } else {
                same = answers_same(t, t->prev, x->text);
            }
        }
        pd_trimr_event e = pd_trimr_thought(&t->st, &t->r, x->exists, same, tokens);
        if (x->exists) {
            free(t->prev); t->prev = x->text; x->text = NULL;
            free(t->prev_ans); t->prev_ans = x->ans; t->n_prev_ans = x->n_ans; x->ans = NULL;
        }
        free(x->ans); x->ans = NULL;
        free(x->text); x->text = NULL;
        t->head++;
        if (e != PD_TRIMR_NONE) t->fire = e;
    }
}

static thought_t *find(trimr_t *t, int req, bool p2) {
    for (int i = t->head; i < t->n_th; i++)
        if ((p2 ? t->th[i].p2_req : t->th[i].req) == req) return &t->th[i];
    return NULL;
}


static void probe_done(void *owner, int req, const pd_gen_result *r, float d) {
    (void)d;
    trimr_t *t = owner;
    thought_t *x = find(t, req, false);
    if (!x) return;
    x->text = pd_reason_extract(&t->env, r->answer, r->answer_len);
    x->exists = x->text != NULL;
    x->p1_done = true;
    int from = x->keep + (x->nl ? t->n_close_nl : t->n_close);
    if (from < r->n_tokens && (x->ans = pd_malloc((size_t)(r->n_tokens - from) * sizeof(int32_t)))) {
        x->n_ans = r->n_tokens - from;
        memcpy(x->ans, r->tokens + from, (size_t)x->n_ans * sizeof(int32_t));
    }
}

static void p1_done(void *owner, int req, const pd_gen_result *r, float d) {
    (void)r;
    trimr_t *t = owner;
    thought_t *x = find(t, req, false);
    if (!x) return;
    x->exists = isfinite(d) && d > 0;
    x->p1_done = true;
}

static void p2_done(void *owner, int req, const pd_gen_result *r, float d) {
    (void)r;
    trimr_t *t = owner;
    thought_t *x = find(t, req, true);
    if (!x) return;
    x->same = isfinite(d) && d > 0;
    x->p2_done = true;
}

static int ask_text(trimr_t *t, const char *text, pd_hub_done_fn fn) {
    int32_t *ids;
    int n;
    if (pd_reason_tokens(t->env.tok, text, &ids, &n) != PD_OK) return -1;
    int id = pd_reason_hub_ask(t->env.hub, t, t->model, ids, n, t->yes, t->no, fn);
    free(ids);
    return id;
}

static void ask_p2(trimr_t *t, thought_t *x) {
    pd_buf b = {0};
    const char *q = t->question ? t->question : "";
    const char *f1 = "Question: ", *f2 = "\nAnswer A: ", *f3 = "\nAnswer B: ",
               *f4 = "\nAre A and B the same final answer? Answer Yes or No.\nAnswer:";
    bool ok = !pd_buf_append(&b, f1, strlen(f1)) && !pd_buf_append(&b, q, strlen(q)) && !pd_buf_append(&b, f2, strlen(f2)) &&
              !pd_buf_append(&b, t->prev, strlen(t->prev)) && !pd_buf_append(&b, f3, strlen(f3)) &&
              !pd_buf_append(&b, x->text, strlen(x->text)) && !pd_buf_append(&b, f4, strlen(f4));
    x->p2_req = ok ? ask_text(t, b.data, p2_done) : -1;
    pd_buf_free(&b);
}

/* A thought closed at thinking offset `end` (the paragraph that starts a reflection). */
static void judge(trimr_t *t, const pd_seq_state *s, long end) {
    thought_t *x = new_thought(t);
    if (!x) return;
    if (!t->verifier) {
        /* the thought ends at its last line: when the blank line came as a token of its own, the
         * probe forks before it and closes with "</think>\n\n" (the text "…\n</think>"), else
         * after it with "\n</think>\n\n" */
        bool split = t->prev_line_tokens == t->par_tokens - 1;
        x->keep = split ? t->par_tokens - 1 : t->par_tokens;
        x->nl = split;
        x->req = split ? pd_reason_hub_probe(t->env.hub, t, s->seq, x->keep, t->close_nl, t->n_close_nl, t->answer_budget, probe_done)
                       : pd_reason_hub_probe(t->env.hub, t, s->seq, x->keep, t->close, t->n_close, t->answer_budget, probe_done);
    } else {
        /* the thought: text since the previous judged paragraph */
        long from = t->handled_par > 0 ? t->handled_par : 0;
        x->text = pd_trimr_last_sentences(s->thinking + from, (size_t)(end - from), t->n_sent);
        pd_buf b = {0};
        const char *q = t->question ? t->question : "";
        const char *f1 = "Question: ", *f2 = "\nReasoning excerpt: ",
                   *f3 = "\nDoes the excerpt state a final answer to the question? Answer Yes or No.\nAnswer:";
        bool ok = x->text && !pd_buf_append(&b, f1, strlen(f1)) && !pd_buf_append(&b, q, strlen(q)) &&
                  !pd_buf_append(&b, f2, strlen(f2)) && !pd_buf_append(&b, x->text, strlen(x->text)) &&
                  !pd_buf_append(&b, f3, strlen(f3));
        x->req = ok ? ask_text(t, b.data, p1_done) : -1;
        pd_buf_free(&b);
    }
    if (x->req < 0) x->p1_done = true;   /* could not ask: counts as a thought without an answer */
}

static void t_logits(void *ctx, const pd_seq_state *s, float *logits) {
    trimr_t *t = ctx;
    if (t->force_eog < 0) return;
    for (int v = 0; v < s->n_vocab; v++)
        if (v != t->force_eog) logits[v] = -INFINITY;
    t->force_eog = -1;
}

static void t_token(void *ctx, const pd_seq_state *s, pd_action *a) {
    trimr_t *t = ctx;
    if (t->done) return;
    if (s->phase != PD_PHASE_THINKING) {
        if (s->n_thinking) t->done = true;   /* thinking ended by itself */
        return;
    }
    if (s->boundary & PD_BOUNDARY_LINE) { t->prev_line_tokens = t->line_tokens; t->line_tokens = s->n_tokens; }
    if (s->boundary & PD_BOUNDARY_PARAGRAPH) t->par_tokens = s->n_tokens;
    long p = pd_trimr_marker_at(s->thinking, s->thinking_len, t->markers);
    if (p > t->handled_par) {
        judge(t, s, p);
        t->handled_par = p;
    }
    if (t->fire == PD_TRIMR_NONE) t->fire = pd_trimr_push(&t->st, &t->r, s->token);
    if (t->fire == PD_TRIMR_NONE) advance(t, s->n_thinking);
    if (t->fire == PD_TRIMR_NONE) t->fire = pd_trimr_tokens(&t->st, &t->r, s->n_thinking);
    if (t->fire == PD_TRIMR_NONE) return;
    /* a judgement arrives a few tokens after its thought closed: inject at the next line end, so the
     * current line is not cut in the middle (the answer would continue it) */
    bool at_nl = s->thinking_len && s->thinking[s->thinking_len - 1] == '\n';
    if (!t->verifier && t->guide == 0 && t->prev_ans && t->fire == PD_TRIMR_OVER) {
        /* trimr-probe: the probe already decoded the answer at the converged thought; end with it
         * (the closer, its answer tokens, its end token) instead of letting the model answer after
         * a reflection it has started */
        int n = t->n_prev_ans;
        bool eog = n > 0 && t->env.tok && pd_tok_is_eog(t->env.tok, t->prev_ans[n - 1]);
        if (eog) n--;
        t->n_tail = (at_nl ? t->n_close_nl : t->n_close) + n;
        if (!(t->tail = pd_malloc((size_t)(t->n_tail > 0 ? t->n_tail : 1) * sizeof(int32_t)))) return;
        int k = at_nl ? t->n_close_nl : t->n_close;
        memcpy(t->tail, at_nl ? t->close_nl : t->close, (size_t)k * sizeof(int32_t));
        memcpy(t->tail + k, t->prev_ans, (size_t)n * sizeof(int32_t));
        t->force_eog = eog ? t->prev_ans[n] : -1;
        a->kind = PD_ACT_INJECT;
        a->tokens = t->tail;
        a->n_tokens = t->n_tail;
        t->done = true;
        return;
    }
    if (!at_nl) return;
    bool mild = t->fire == PD_TRIMR_OVER;
    a->kind = PD_ACT_INJECT;
    a->tokens = t->guide == 0 ? t->close_nl : mild ? t->mild : t->forced;
    a->n_tokens = t->guide == 0 ? t->n_close_nl : mild ? t->n_mild : t->n_forced;
    t->done = true;
}

static void t_release(void *ctx) {
    trimr_t *t = ctx;
    pd_reason_hub_cancel(t->env.hub, t);
    for (int i = 0; i < t->n_th; i++) { free(t->th[i].text); free(t->th[i].ans); }
    free(t->prev_ans); free(t->tail);
    free(t->th); free(t->prev); free(t->markers); free(t->question);
    free(t->close); free(t->close_nl); free(t->mild); free(t->forced);
    pd_trimr_state_free(&t->st);
    free(t);
}

static const char GUIDE_MILD[] = "\n\nI have checked this several times and the answer is consistent.\n\n**Final Answer**\n";
static const char GUIDE_FORCED[] =
    "\n\nI am running out of time, so I will stop here and give my best answer based on the reasoning so far.\n</think>\n\n";

static pd_status make(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out, bool verifier) {
    if (!env->tok) return pd_fail(PD_ERR_ARG, "the model has no vocabulary");
    if (!env->hub) return pd_fail(PD_ERR_ARG, "needs the reasoning hub (run/chat/eval set it up)");
    if (!verifier && !env->extract) return pd_fail(PD_ERR_ARG, "needs an answer extractor");
    trimr_t *t = pd_calloc(1, sizeof *t);
    if (!t) return PD_ERR_NOMEM;
    t->verifier = verifier;
    t->env = *env;
    t->r = pd_trimr_rules_defaults();
    t->r.M = pd_reason_int(s, "k") - 1;
    t->r.n_thres = pd_reason_int(s, "n_thres");
    t->r.r_thres = pd_reason_float(s, "r_thres");
    t->r.budget = pd_reason_int(s, "budget") > 0 ? pd_reason_int(s, "budget") : env->think_budget;
    t->r.rep_n = pd_reason_int(s, "rep_n");
    t->answer_budget = verifier ? 0 : pd_reason_int(s, "answer");
    t->n_sent = verifier ? pd_reason_int(s, "n_sent") : 0;
    t->model = env->model2;
    t->guide = !strcmp(pd_reason_str(s, "guide"), "spec");
    t->markers = pd_strdup(pd_reason_str(s, "markers"));
    t->question = env->question ? pd_strdup(env->question) : NULL;
    t->env.question = NULL;
    pd_status st = t->markers ? pd_trimr_state_init(&t->st, &t->r) : PD_ERR_NOMEM;
    if (st == PD_OK) st = pd_reason_tokens(env->tok, "\n</think>\n\n", &t->close, &t->n_close);
    if (st == PD_OK) st = pd_reason_tokens(env->tok, "</think>\n\n", &t->close_nl, &t->n_close_nl);
    if (st == PD_OK) st = pd_reason_tokens(env->tok, GUIDE_MILD, &t->mild, &t->n_mild);
    if (st == PD_OK) st = pd_reason_tokens(env->tok, GUIDE_FORCED, &t->forced, &t->n_forced);
    if (st == PD_OK && verifier) {
        int32_t *y = NULL, *n = NULL;
        int ny = 0, nn = 0;
        st = pd_reason_tokens(env->tok, " Yes", &y, &ny);
        if (st == PD_OK) st = pd_reason_tokens(env->tok, " No", &n, &nn);
        if (st == PD_OK && (ny < 1 || nn < 1)) st = pd_fail(PD_ERR_ARG, "cannot tokenise ' Yes' / ' No'");
        if (st == PD_OK) { t->yes = y[0]; t->no = n[0]; }
        free(y); free(n);
    }
    if (st != PD_OK) { t->env.hub = NULL; t_release(t); return st; }
    t->handled_par = 0;
    t->force_eog = -1;
    *out = (pd_policy){.name = verifier ? "trimr" : "trimr-probe", .ctx = t, .on_logits = t_logits, .on_token = t_token,
                       .release = t_release};
    return PD_OK;
}

pd_status pd_trimr_probe_make(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out) { return make(s, env, out, false); }
pd_status pd_trimr_make(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out) { return make(s, env, out, true); }

