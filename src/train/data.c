/* train/data.c — training examples from tasks, JSONL files (task items and SFT examples) and text
 * corpora, and their packing into micro-batches (see ponder/data.h). Conversations are rendered with
 * the model's chat family and tokenised with its vocabulary exactly as `ponder run` does. Every
 * random choice goes through the caller's pd_rng, so a run's data stream is fixed by its seed and
 * restored exactly by restoring that rng. */
#include "ponder/data.h"
#include "ponder/alloc.h"
#include "ponder/chat.h"
#include "ponder/json.h"
#include "ponder/log.h"
#include "ponder/model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pd_data {
    pd_data_kind kind;
    pd_tchat chat;
    const pd_task *task;
    int dlo, dhi;
    pd_tex *ex;             /* JSONL: every valid line, tokenised, in file order */
    size_t n_ex, n_train;   /* [0, n_train) train, [n_train, n_ex) held out */
    pd_task_set set;        /* JSONL task items (for greedy accuracy) */
    size_t *item_rec;       /* the line (index into ex) of each task item */
    int32_t *text;          /* text corpus tokens; [0, text_train) train, rest held out */
    size_t text_n, text_train;
    char path[512];
};

void pd_tex_free(pd_tex *e) {
    free(e->tok);
    free(e->loss);
    memset(e, 0, sizeof *e);
}

pd_tchat pd_tchat_of_model(const pd_model *pm) {
    pd_tchat c = {pm->tok, PD_CHAT_NONE, pm->tok ? pd_tok_add_bos_default(pm->tok) : false};
    const char *s;
    size_t len;
    if (pm->gguf && pd_gguf_find_key(pm->gguf, "tokenizer.chat_template") >= 0 &&
        pd_gguf_get_str(pm->gguf, "tokenizer.chat_template", &s, &len)) {
        char *t = pd_strndup(s, len);
        if (t) c.family = pd_chat_detect(t);
        free(t);
    }
    return c;
}

static pd_status tokenize(const pd_tchat *c, const char *s, int32_t **ids, int *n) {
    if (!c->tok) return pd_fail(PD_ERR_STATE, "data: the model has no vocabulary (tokenizer.ggml.*)");
    size_t nn = 0;
    PD_TRY(pd_tokenize(c->tok, s, strlen(s), c->add_bos, true, ids, &nn));
    if (nn > (size_t)1 << 30) { free(*ids); *ids = NULL; return pd_fail(PD_ERR_RANGE, "data: example too long"); }
    *n = (int)nn;
    return PD_OK;
}

pd_status pd_tex_prompt(const pd_tchat *c, const char *prompt, int32_t **ids, int *n) {
    pd_chat_msg u = {"user", prompt, NULL};
    char *p = pd_chat_render(c->family, &u, 1, true, true);
    if (!p) return pd_fail_ctx(PD_ERR_ARG, "rendering a prompt");
    pd_status st = tokenize(c, p, ids, n);
    free(p);
    return st;
}

static char *cat3(const char *a, const char *b, const char *c) {
    pd_buf o = {0};
    if (pd_buf_append(&o, a, strlen(a)) || pd_buf_append(&o, b, strlen(b)) || pd_buf_append(&o, c, strlen(c)) ||
        pd_buf_append(&o, "", 1)) {
        pd_buf_free(&o);
        return NULL;
    }
    return o.data;
}

/* The text the model should produce after the generation prompt of msgs[0..n) for the reply
 * (reasoning may be NULL). */
static char *completion_text(pd_chat_family fam, const pd_chat_msg *msgs, int n, const char *prompt_text,
                             const char *reasoning, const char *answer) {
    const pd_chat_format *fmt = pd_chat_format_of(fam);
    if (fmt->prompt_opens_thinking) { /* the prompt ends with "<think>\n" */
        pd_buf o = {0};
        if (pd_buf_printf(&o, "%s\n%s\n\n%s%s", reasoning ? reasoning : "", fmt->think_close, answer,
                          fmt->end_of_turn ? fmt->end_of_turn : "")) {
            pd_buf_free(&o);
            return NULL;
        }
        return o.data;
    }
    char *inl = NULL;
    if (reasoning && !fmt->think_open) { /* no thinking markers in the template: the thinking inline */
        inl = cat3("<think>\n", reasoning, "\n</think>\n\n");
        char *full = inl ? cat3(inl, answer, "") : NULL;
        free(inl);
        if (!full) return NULL;
        inl = full;
    }
    pd_chat_msg *all = pd_malloc(sizeof *all * (size_t)(n + 1));
    if (!all) { free(inl); return NULL; }
    memcpy(all, msgs, sizeof *all * (size_t)n);
    all[n] = (pd_chat_msg){"assistant", inl ? inl : answer, inl ? NULL : reasoning};
    char *full = pd_chat_render(fam, all, n + 1, false, true);
    free(all);
    free(inl);
    if (!full) return NULL;
    size_t pl = strlen(prompt_text);
    if (strncmp(full, prompt_text, pl)) {
        free(full);
        pd_fail(PD_ERR_UNSUPPORTED, "data: the %s template renders the reply so that the generation prompt is not "
                                    "its prefix", fmt->name);
        return NULL;
    }
    memmove(full, full + pl, strlen(full + pl) + 1);
    return full;
}

/* prompt_text + comp tokenised; loss from the end of the prompt's tokens through the last end of
 * turn (or an appended EOS) */
static pd_status build(const pd_tchat *c, const char *prompt_text, const char *comp, pd_tex *out, int *n_prompt,
                       bool *split) {
    memset(out, 0, sizeof *out);
    int32_t *pids = NULL, *ids = NULL;
    int pn = 0, n = 0;
    PD_TRY(tokenize(c, prompt_text, &pids, &pn));
    char *text = cat3(prompt_text, comp, "");
    pd_status st = text ? tokenize(c, text, &ids, &n) : PD_ERR_NOMEM;
    free(text);
    if (st != PD_OK) { free(pids); return st; }
    int lcp = 0; /* the prompt's ids are a prefix of the whole text's except at an odd token boundary */
    while (lcp < pn && lcp < n && pids[lcp] == ids[lcp]) lcp++;
    free(pids);
    const pd_chat_format *fmt = pd_chat_format_of(c->family);
    int32_t eot = fmt->end_of_turn ? pd_tok_find(c->tok, fmt->end_of_turn) : -1;
    int last = -1;
    for (int i = lcp; i < n; i++)
        if (ids[i] == eot) last = i;
    if (last >= 0) {
        n = last + 1; /* what follows the end of turn (the template's newline) carries no loss */
    } else if (pd_tok_eos(c->tok) >= 0 && (n == 0 || !pd_tok_is_eog(c->tok, ids[n - 1]))) {
        int32_t *g = pd_realloc(ids, sizeof(int32_t) * (size_t)(n + 1));
        if (!g) { free(ids); return PD_ERR_NOMEM; }
        ids = g;
        ids[n++] = pd_tok_eos(c->tok);
    }
    int first = lcp > 1 ? lcp : 1; /* token 0 has nothing to be predicted from */
    if (n <= first) {
        free(ids);
        return pd_fail(PD_ERR_FORMAT, "the rendered example has no completion tokens");
    }
    out->loss = pd_calloc((size_t)n, 1);
    if (!out->loss) { free(ids); return PD_ERR_NOMEM; }
    for (int i = first; i < n; i++) out->loss[i] = 1;
    out->tok = ids;
    out->n = n;
    if (n_prompt) *n_prompt = lcp;
    if (split) *split = lcp < pn;
    return PD_OK;
}

static pd_status from_chat(const pd_tchat *c, const pd_chat_msg *msgs, int n, const char *reasoning,
                           const char *answer, pd_tex *out, int *n_prompt, bool *split) {
    char *prompt = pd_chat_render(c->family, msgs, n, true, true);
    if (!prompt) return pd_fail_ctx(PD_ERR_ARG, "rendering a prompt");
    char *comp = completion_text(c->family, msgs, n, prompt, reasoning, answer);
    pd_status st = comp ? build(c, prompt, comp, out, n_prompt, split) : pd_fail_ctx(PD_ERR_NOMEM, "rendering a reply");
    free(prompt);
    free(comp);
    return st;
}

/* split: the whole text's tokens do not start with the prompt's (loss starts where they part) */
static pd_status from_sft(const pd_tchat *c, const pd_sft_example *e, pd_tex *out, int *n_prompt, bool *split) {
    memset(out, 0, sizeof *out);
    if (e->kind == PD_SFT_TEXT) return build(c, e->text_prompt, e->answer, out, n_prompt, split);
    if (e->kind != PD_SFT_CHAT) return pd_fail(PD_ERR_ARG, "data: not an SFT example");
    return from_chat(c, e->msgs, e->n_msgs, e->reasoning, e->answer, out, n_prompt, split);
}

pd_status pd_tex_from_sft(const pd_tchat *c, const pd_sft_example *e, pd_tex *out, int *n_prompt) {
    return from_sft(c, e, out, n_prompt, NULL);
}

pd_status pd_tex_from_item(const pd_tchat *c, const pd_task_item *it, pd_tex *out) {
    memset(out, 0, sizeof *out);
    pd_chat_msg u = {"user", it->prompt ? it->prompt : "", NULL};
    pd_status st = from_chat(c, &u, 1, it->reasoning && *it->reasoning ? it->reasoning : NULL,
                             it->answer ? it->answer : "", out, NULL, NULL);
    if (st != PD_OK) pd_fail_ctx(st, "item '%s'", it->id ? it->id : "?");
    return st;
}

pd_data *pd_data_task(const pd_tchat *c, const char *task, int dlo, int dhi) {
    const pd_task *t = pd_task_find(task);
    if (!t) return NULL;
    if (dlo < t->dmin || dhi > t->dmax || dlo > dhi) {
        pd_fail(PD_ERR_ARG, "task %s: difficulty range [%d, %d] is outside [%d, %d]", task, dlo, dhi, t->dmin, t->dmax);
        return NULL;
    }
    if (!c->tok) { pd_fail(PD_ERR_STATE, "data: the model has no vocabulary (tokenizer.ggml.*)"); return NULL; }
    pd_data *d = pd_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->kind = PD_DATA_TASK;
    d->chat = *c;
    d->task = t;
    d->dlo = dlo;
    d->dhi = dhi;
    return d;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* one JSONL line: an SFT example or a task item, tokenised into d->ex[d->n_ex] */
static pd_status add_line(pd_data *d, const char *p, size_t len, size_t *cap, size_t *icap, size_t *n_split) {
    pd_sft_example e;
    PD_TRY(pd_sft_parse_line(p, len, &e));
    pd_tex ex;
    pd_status st;
    pd_task_item it;
    memset(&it, 0, sizeof it);
    bool item = e.kind == PD_SFT_NONE;
    if (!item) {
        bool split = false;
        st = from_sft(&d->chat, &e, &ex, NULL, &split);
        pd_sft_example_free(&e);
        *n_split += st == PD_OK && split;
    } else {
        char *line = pd_strndup(p, len);
        if (!line) return PD_ERR_NOMEM;
        st = pd_task_item_from_json(line, &it);
        free(line);
        if (st == PD_OK && (st = pd_tex_from_item(&d->chat, &it, &ex)) != PD_OK) pd_task_item_free(&it);
    }
    if (st != PD_OK) return st;
    if (d->n_ex == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        pd_tex *ne = pd_realloc(d->ex, nc * sizeof *ne);
        if (!ne) { st = PD_ERR_NOMEM; goto fail; }
        d->ex = ne;
        *cap = nc;
    }
    if (item && d->set.n == *icap) {
        size_t nc = *icap ? *icap * 2 : 64;
        pd_task_item *ni = pd_realloc(d->set.items, nc * sizeof *ni);
        size_t *nr = ni ? pd_realloc(d->item_rec, nc * sizeof *nr) : NULL;
        if (ni) d->set.items = ni;
        if (!nr) { st = PD_ERR_NOMEM; goto fail; }
        d->item_rec = nr;
        *icap = nc;
    }
    if (item) {
        d->item_rec[d->set.n] = d->n_ex;
        d->set.items[d->set.n++] = it;
    }
    d->ex[d->n_ex++] = ex;
    return PD_OK;
fail:
    pd_tex_free(&ex);
    if (item) pd_task_item_free(&it);
    return st;
}

static pd_status load_jsonl(pd_data *d, const char *path, bool strict) {
    size_t len;
    char *text = pd_read_file(path, &len);
    if (!text) return PD_ERR_IO;
    size_t cap = 0, icap = 0, lineno = 0, bad = 0, split = 0;
    pd_status st = PD_OK;
    for (const char *p = text, *end = text + len; p < end && st == PD_OK;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
        lineno++;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q < le && (st = add_line(d, p, (size_t)(le - p), &cap, &icap, &split)) != PD_OK) {
            pd_fail_ctx(st, "%s: line %zu", path, lineno);
            if (!strict && st != PD_ERR_NOMEM) {
                pd_log(PD_LOG_WARN, "%s (skipped)", pd_last_error());
                bad++;
                st = PD_OK;
            }
        }
        p = nl ? nl + 1 : end;
    }
    free(text);
    if (st != PD_OK) return st;
    if (split) /* e.g. a plain prompt ending in a space that the completion's first word would take */
        pd_log(PD_LOG_WARN, "%s: %zu example%s tokenise across the prompt/completion boundary (the prompt alone "
                            "tokenises differently); their loss starts where the two tokenisations part", path, split,
               split == 1 ? "" : "s");
    if (d->n_ex < 2)
        return pd_fail(PD_ERR_FORMAT, "%s: needs at least 2 valid lines (training and held-out), has %zu%s", path,
                       d->n_ex, bad ? " (malformed lines skipped)" : "");
    size_t held = d->n_ex / 10 ? d->n_ex / 10 : 1;
    d->n_train = d->n_ex - held;
    return PD_OK;
}

/* A text corpus is UTF-8 text: a model file, an archive or any binary given as --data by mistake would
 * otherwise tokenise as bytes and train without a word of warning. */
static pd_status check_text(const char *path, const char *txt, size_t len) {
    if (len >= 4 && !memcmp(txt, "GGUF", 4))
        return pd_fail(PD_ERR_FORMAT, "%s: is a GGUF model file, not training data (plain UTF-8 text, or JSONL "
                                      "in a file named *.jsonl)", path);
    const char *nul = memchr(txt, 0, len);
    if (nul)
        return pd_fail(PD_ERR_FORMAT, "%s: byte %zu is NUL: not a text file (a corpus is plain UTF-8 text; JSONL "
                                      "files must be named *.jsonl)", path, (size_t)(nul - txt));
    size_t bad = pd_utf8_invalid_at(txt, len);
    if (bad < len)
        return pd_fail(PD_ERR_FORMAT, "%s: invalid UTF-8 at byte %zu (0x%02x): a corpus is plain UTF-8 text", path,
                       bad, (unsigned char)txt[bad]);
    return PD_OK;
}

pd_data *pd_data_file(const pd_tchat *c, const char *path, bool strict) {
    if (!c->tok) { pd_fail(PD_ERR_STATE, "data: the model has no vocabulary (tokenizer.ggml.*)"); return NULL; }
    pd_data *d = pd_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->chat = *c;
    snprintf(d->path, sizeof d->path, "%s", path);
    if (ends_with(path, ".jsonl")) {
        d->kind = PD_DATA_JSONL;
        if (load_jsonl(d, path, strict) != PD_OK) { pd_data_free(d); return NULL; }
        return d;
    }
    d->kind = PD_DATA_TEXT;
    size_t len = 0;
    char *txt = pd_read_file(path, &len);
    if (!txt) { free(d); return NULL; }
    if (check_text(path, txt, len) != PD_OK) { free(txt); free(d); return NULL; }
    size_t n = 0;
    pd_status st = pd_tokenize(c->tok, txt, len, false, false, &d->text, &n);
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
    for (size_t i = 0; i < d->n_ex; i++) pd_tex_free(&d->ex[i]);
    free(d->ex);
    pd_task_set_free(&d->set);
    free(d->item_rec);
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
        pd_status st = pd_tex_from_item(&d->chat, &it, out);
        pd_task_item_free(&it);
        return st;
    }
    if (d->kind == PD_DATA_JSONL) {
        size_t lo = heldout ? d->n_train : 0, hi = heldout ? d->n_ex : d->n_train;
        const pd_tex *e = &d->ex[lo + (size_t)pd_rng_below(rng, hi - lo)];
        out->tok = pd_malloc(sizeof(int32_t) * (size_t)e->n);
        out->loss = pd_malloc((size_t)e->n);
        if (!out->tok || !out->loss) { pd_tex_free(out); return PD_ERR_NOMEM; }
        memcpy(out->tok, e->tok, sizeof(int32_t) * (size_t)e->n);
        memcpy(out->loss, e->loss, (size_t)e->n);
        out->n = e->n;
        return PD_OK;
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
    for (size_t i = 0; i < d->set.n && k < n; i++) {
        if (d->item_rec[i] < d->n_train) continue;
        const pd_task_item *s = &d->set.items[i];
        pd_task_item *t = &items[k];
        memset(t, 0, sizeof *t);
        t->id = pd_strdup(s->id ? s->id : "");
        t->task = s->task;
        t->difficulty = s->difficulty;
        t->prompt = pd_strdup(s->prompt ? s->prompt : "");
        t->reasoning = pd_strdup(s->reasoning ? s->reasoning : "");
        t->answer = pd_strdup(s->answer ? s->answer : "");
        k++;
    }
    return k;
}
