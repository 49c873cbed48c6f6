/* train/data.c — training examples from tasks, JSONL task sets and text corpora, and their packing
 * into micro-batches (see ponder/data.h). Every random choice goes through the caller's pd_rng, so a
 * run's data stream is fixed by its seed and restored exactly by restoring that rng. */
#include "ponder/data.h"
#include "ponder/alloc.h"
#include "ponder/chat.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pd_data {
    pd_data_kind kind;
    const pd_tokenizer *tok;
    const pd_task *task;
    int dlo, dhi;
    pd_task_set set;        /* JSONL items; [0, n_train) train, [n_train, n) held out */
    size_t n_train;
    int32_t *text;          /* text corpus tokens; [0, text_train) train, rest held out */
    size_t text_n, text_train;
    char path[512];
};

void pd_tex_free(pd_tex *e) {
    free(e->tok);
    free(e->loss);
    memset(e, 0, sizeof *e);
}

static pd_status tokenize(const pd_tokenizer *tok, const char *s, int32_t **ids, int *n) {
    size_t nn = 0;
    PD_TRY(pd_tokenize(tok, s, strlen(s), false, true, ids, &nn));
    *n = (int)nn;
    return PD_OK;
}

pd_status pd_tex_prompt(const pd_tokenizer *tok, const char *prompt, int32_t **ids, int *n) {
    pd_chat_msg u = {"user", prompt, NULL};
    char *p = pd_chat_render(PD_CHAT_QWEN3, &u, 1, true, true);
    if (!p) return pd_fail_ctx(PD_ERR_ARG, "rendering a prompt");
    pd_status st = tokenize(tok, p, ids, n);
    free(p);
    return st;
}

pd_status pd_tex_from_item(const pd_tokenizer *tok, const pd_task_item *it, pd_tex *out) {
    memset(out, 0, sizeof *out);
    int32_t *pids = NULL;
    int pn = 0;
    PD_TRY(pd_tex_prompt(tok, it->prompt, &pids, &pn));
    free(pids);
    pd_chat_msg msgs[2] = {{"user", it->prompt, NULL},
                           {"assistant", it->answer, it->reasoning && *it->reasoning ? it->reasoning : NULL}};
    char *full = pd_chat_render(PD_CHAT_QWEN3, msgs, 2, false, true);
    if (!full) return pd_fail_ctx(PD_ERR_ARG, "rendering item '%s'", it->id ? it->id : "?");
    int32_t *ids = NULL;
    int n = 0;
    pd_status st = tokenize(tok, full, &ids, &n);
    free(full);
    if (st != PD_OK) return st;
    /* keep through the last end-of-turn token (the template's trailing newline carries no loss) */
    int32_t eot = pd_tok_find(tok, "<|im_end|>");
    while (n > 0 && ids[n - 1] != eot) n--;
    if (n <= pn) {
        free(ids);
        return pd_fail(PD_ERR_FORMAT, "item '%s': rendered conversation has no completion", it->id ? it->id : "?");
    }
    out->loss = pd_calloc((size_t)n, 1);
    if (!out->loss) { free(ids); return PD_ERR_NOMEM; }
    for (int i = pn; i < n; i++) out->loss[i] = 1;
    out->tok = ids;
    out->n = n;
    return PD_OK;
}

pd_data *pd_data_task(const pd_tokenizer *tok, const char *task, int dlo, int dhi) {
    const pd_task *t = pd_task_find(task);
    if (!t) return NULL;
    if (dlo < t->dmin || dhi > t->dmax || dlo > dhi) {
        pd_fail(PD_ERR_ARG, "task %s: difficulty range [%d, %d] is outside [%d, %d]", task, dlo, dhi, t->dmin, t->dmax);
        return NULL;
    }
    pd_data *d = pd_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->kind = PD_DATA_TASK;
    d->tok = tok;
    d->task = t;
    d->dlo = dlo;
    d->dhi = dhi;
    return d;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

pd_data *pd_data_file(const pd_tokenizer *tok, const char *path) {
    pd_data *d = pd_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->tok = tok;
    snprintf(d->path, sizeof d->path, "%s", path);
    if (ends_with(path, ".jsonl")) {
        d->kind = PD_DATA_JSONL;
        size_t bad = 0;
        if (pd_jsonl_load(path, 0, &d->set, &bad) != PD_OK) { free(d); return NULL; }
        if (d->set.n < 2) {
            pd_fail(PD_ERR_FORMAT, "%s: needs at least 2 valid items (training and held-out), has %zu", path, d->set.n);
            pd_data_free(d);
            return NULL;
        }
        size_t held = d->set.n / 10 ? d->set.n / 10 : 1;
        d->n_train = d->set.n - held;
        return d;
    }
    d->kind = PD_DATA_TEXT;
    size_t len = 0;
    char *txt = pd_read_file(path, &len);
    if (!txt) { free(d); return NULL; }
    size_t n = 0;
    pd_status st = pd_tokenize(tok, txt, len, false, false, &d->text, &n);
    free(txt);
    if (st != PD_OK) { free(d); return NULL; }
    d->text_n = n;
    if (n < 20) {
        pd_fail(PD_ERR_FORMAT, "%s: only %zu tokens of text; need at least 20", path, n);
        pd_data_free(d);
        return NULL;
    }
    d->text_train = n - n / 10;
    return d;
}

void pd_data_free(pd_data *d) {
    if (!d) return;
    if (d->kind == PD_DATA_JSONL) pd_task_set_free(&d->set);
    free(d->text);
    free(d);
}

pd_data_kind pd_data_kind_of(const pd_data *d) { return d->kind; }
const pd_task *pd_data_task_of(const pd_data *d) { return d->task; }

pd_status pd_data_next(pd_data *d, pd_rng *rng, int T, bool heldout, pd_tex *out) {
    memset(out, 0, sizeof *out);
    if (d->kind == PD_DATA_TASK) {
        int diff = (int)pd_rng_range(rng, d->dlo, d->dhi);
        pd_task_item it;
        PD_TRY(pd_task_gen(d->task, rng, diff, heldout ? PD_SPLIT_TEST : PD_SPLIT_TRAIN, &it));
        pd_status st = pd_tex_from_item(d->tok, &it, out);
        pd_task_item_free(&it);
        return st;
    }
    if (d->kind == PD_DATA_JSONL) {
        size_t lo = heldout ? d->n_train : 0, hi = heldout ? d->set.n : d->n_train;
        size_t i = lo + (size_t)pd_rng_below(rng, hi - lo);
        return pd_tex_from_item(d->tok, &d->set.items[i], out);
    }
    /* text: a window of up to T tokens inside the chosen part */
    size_t lo = heldout ? d->text_train : 0, hi = heldout ? d->text_n : d->text_train;
    size_t span = hi - lo, w = (size_t)T < span ? (size_t)T : span;
    size_t start = lo + (size_t)pd_rng_below(rng, span - w + 1);
    out->tok = pd_malloc(w * sizeof(int32_t));
    out->loss = pd_malloc(w);
    if (!out->tok || !out->loss) { pd_tex_free(out); return PD_ERR_NOMEM; }
    memcpy(out->tok, d->text + start, w * sizeof(int32_t));
    memset(out->loss, 1, w);
    out->loss[0] = 0;
    out->n = (int)w;
    return PD_OK;
}

/* Place ex at row offset o (n tokens): targets predict the next token where it carries loss. */
static void place(const pd_tex *ex, int n, int o, int32_t *tokens, int32_t *targets, int32_t *seg) {
    for (int i = 0; i < n; i++) {
        tokens[o + i] = ex->tok[i];
        seg[o + i] = o;
        targets[o + i] = (i + 1 < n && ex->loss[i + 1]) ? ex->tok[i + 1] : -1;
    }
}

int64_t pd_data_batch(pd_data *d, pd_rng *rng, int B, int T, bool heldout, int32_t *tokens, int32_t *targets,
                      int32_t *seg) {
    int64_t n_targets = 0;
    for (int b = 0; b < B; b++) {
        int32_t *tk = tokens + (int64_t)b * T, *tg = targets + (int64_t)b * T, *sg = seg + (int64_t)b * T;
        int o = 0;
        /* Fill with whole examples; the first one that does not fit ends the row (it is dropped, so
         * rows never depend on leftovers of the previous batch). A too-long first example is cut. */
        while (o < T) {
            pd_tex ex;
            if (pd_data_next(d, rng, T, heldout, &ex) != PD_OK) return -1;
            int n = ex.n;
            if (o + n > T) {
                if (o > 0) { pd_tex_free(&ex); break; }
                n = T;
            }
            place(&ex, n, o, tk, tg, sg);
            o += n;
            pd_tex_free(&ex);
            if (d->kind == PD_DATA_TEXT) break;
        }
        for (int i = o; i < T; i++) { tk[i] = 0; tg[i] = -1; sg[i] = i; }
        for (int i = 0; i < T; i++) n_targets += tg[i] >= 0;
    }
    return n_targets;
}

int pd_data_eval_items(pd_data *d, uint64_t seed, int difficulty, int n, pd_task_item *items) {
    if (d->kind == PD_DATA_TASK) {
        pd_rng r;
        pd_rng_seed(&r, seed);
        for (int i = 0; i < n; i++)
            if (pd_task_gen(d->task, &r, difficulty, PD_SPLIT_TEST, &items[i]) != PD_OK) {
                for (int j = 0; j < i; j++) pd_task_item_free(&items[j]);
                return -1;
            }
        return n;
    }
    if (d->kind != PD_DATA_JSONL) return 0;
    int k = 0;
    for (size_t i = d->n_train; i < d->set.n && k < n; i++, k++) {
        const pd_task_item *s = &d->set.items[i];
        pd_task_item *t = &items[k];
        memset(t, 0, sizeof *t);
        t->id = pd_strdup(s->id ? s->id : "");
        t->task = s->task;
        t->difficulty = s->difficulty;
        t->prompt = pd_strdup(s->prompt ? s->prompt : "");
        t->reasoning = pd_strdup(s->reasoning ? s->reasoning : "");
        t->answer = pd_strdup(s->answer ? s->answer : "");
    }
    return k;
}
