/* tasks/task.c — the task registry, the generic gen/verify wrappers (ids, train/test split by
 * key hash, thinking stripped before judging), JSONL item (de)serialisation and shared helpers. */
#include "tasks_int.h"
#include "ponder/log.h"
#include "ponder/json.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pd_task *const registry[] = {
    &pd_task_arith, &pd_task_arith_add, &pd_task_arith_sub, &pd_task_arith_mul,
    &pd_task_countdown, &pd_task_logic, &pd_task_syllogism, &pd_task_graph, &pd_task_sudoku,
    &pd_task_alchemy, &pd_task_alchemy_len, &pd_task_logicasker, &pd_task_arith_mul_tape,
    &pd_task_arith_add_lookup, &pd_task_arith_add_lookup_m,
};

size_t pd_task_count(void) { return sizeof registry / sizeof registry[0]; }
const pd_task *pd_task_at(size_t i) { return i < pd_task_count() ? registry[i] : NULL; }

const pd_task *pd_task_find(const char *name) {
    for (size_t i = 0; i < pd_task_count(); i++)
        if (name && !strcmp(registry[i]->name, name)) return registry[i];
    pd_fail(PD_ERR_ARG, "unknown task '%s' (see `ponder tasks list`)", name ? name : "(null)");
    return NULL;
}

uint64_t pd_fnv1a64(const void *data, size_t len, uint64_t h) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) { h ^= p[i]; h *= 0x100000001b3ull; }
    return h;
}

static uint64_t key_hash(const char *task_name, const char *key) {
    uint64_t h = pd_fnv1a64(task_name, strlen(task_name), PD_FNV_OFFSET);
    h = pd_fnv1a64(":", 1, h);
    return pd_fnv1a64(key, strlen(key), h);
}

pd_split pd_task_split_of(const char *task_name, const char *key) {
    return key_hash(task_name, key) % 10 == 0 ? PD_SPLIT_TEST : PD_SPLIT_TRAIN;
}

char *tk_take(pd_buf *b) {
    if (!b->data && pd_buf_append(b, "", 0)) return NULL;
    char *s = b->data;
    b->data = NULL; b->len = b->cap = 0;
    return s;
}

void tk_verdict(pd_verdict *v, double score, const char *reason, const char *answer) {
    v->score = score;
    v->reason = reason;
    free(v->extracted);
    v->extracted = answer ? pd_strdup(answer) : NULL;
}

void tk_shuffle(pd_rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)pd_rng_below(r, (uint64_t)i + 1);
        int t = a[i]; a[i] = a[j]; a[j] = t;
    }
}

int tk_last_word(const char *s, const char *const *words, int n_words) {
    int best = -1;
    for (const char *p = s; *p; p++) {
        if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) continue;
        for (int w = 0; w < n_words; w++) {
            size_t l = strlen(words[w]);
            if (!strncasecmp(p, words[w], l) && !isalnum((unsigned char)p[l]) && p[l] != '_') {
                best = w;
                break;
            }
        }
    }
    return best;
}

char *tk_extract_yesno(const char *region) {
    static const char *const w[] = {"yes", "no", "true", "false"};
    int k = tk_last_word(region, w, 4);
    if (k < 0) return NULL;
    return pd_strdup(k == 0 || k == 2 ? "yes" : "no");
}

void tk_check_yesno(const pd_task_item *it, const char *ans, pd_verdict *v) {
    char *n = tk_extract_yesno(ans);
    int ok = n && !strcmp(n, it->answer);
    tk_verdict(v, ok ? 1.0 : 0.0, n ? (ok ? "correct" : "wrong") : "not yes/no", ans);
    free(n);
}

char *tk_last_line(const char *s) {
    const char *end = s + strlen(s);
    while (end > s) {
        const char *e = end;
        while (e > s && isspace((unsigned char)e[-1])) e--;
        const char *b = e;
        while (b > s && b[-1] != '\n') b--;
        const char *bb = b;
        while (bb < e && isspace((unsigned char)*bb)) bb++;
        if (bb < e) return pd_strndup(bb, (size_t)(e - bb));
        end = b > s ? b - 1 : s;
    }
    return NULL;
}

pd_status pd_task_gen(const pd_task *t, pd_rng *r, int difficulty, pd_split split, pd_task_item *out) {
    memset(out, 0, sizeof *out);
    if (!t) return pd_fail(PD_ERR_ARG, "pd_task_gen: no task");
    if (difficulty < t->dmin || difficulty > t->dmax)
        return pd_fail(PD_ERR_ARG, "task %s: difficulty %d out of range [%d, %d] (%s)", t->name, difficulty,
                       t->dmin, t->dmax, t->difficulty_help);
    for (int attempt = 0; attempt < 10000; attempt++) {
        pd_buf key = {0};
        pd_task_item it = {0};
        pd_status s = t->gen(r, difficulty, &it, &key);
        if (s != PD_OK) { pd_buf_free(&key); pd_task_item_free(&it); return s; }
        if (!key.data && pd_buf_append(&key, "", 0)) { pd_task_item_free(&it); return PD_ERR_NOMEM; }
        if (split != PD_SPLIT_ANY && pd_task_split_of(t->name, key.data) != split) {
            pd_buf_free(&key);
            pd_task_item_free(&it);
            continue;
        }
        char idb[64];
        snprintf(idb, sizeof idb, "%s-%012llx", t->name,
                 (unsigned long long)(key_hash(t->name, key.data) & 0xffffffffffffull));
        pd_buf_free(&key);
        it.id = pd_strdup(idb);
        it.task = t->name;
        it.difficulty = difficulty;
        if (!it.id || !it.prompt || !it.reasoning || !it.answer) {
            pd_task_item_free(&it);
            return pd_fail(PD_ERR_NOMEM, "task %s: out of memory generating an item", t->name);
        }
        *out = it;
        return PD_OK;
    }
    return pd_fail(PD_ERR_RANGE, "task %s: no %s-split problem found at difficulty %d after 10000 draws",
                   t->name, split == PD_SPLIT_TEST ? "test" : "train", difficulty);
}

/* Answer text for judging: <answer> tag inside the region (AUTO), else the task's extractor or
 * the forced mode. */
static char *answer_for(const pd_task *t, const char *output, pd_extract_mode mode) {
    size_t len;
    const char *reg = pd_extract_region(output, &len);
    if (mode != PD_EXTRACT_AUTO) return pd_extract_span(mode, reg, len);
    char *tag = pd_extract_span(PD_EXTRACT_TAG, reg, len);
    if (tag) return tag;
    char *copy = pd_strndup(reg, len);
    if (!copy) return NULL;
    char *a = t->extract(copy);
    free(copy);
    return a;
}

pd_status pd_task_verify_ex(const pd_task *t, const pd_task_item *item, const char *output,
                            pd_extract_mode mode, pd_verdict *v) {
    memset(v, 0, sizeof *v);
    if (!t || !item || !output) return pd_fail(PD_ERR_ARG, "pd_task_verify: null argument");
    char *a = answer_for(t, output, mode);
    if (!a) { tk_verdict(v, 0.0, "no answer", NULL); return PD_OK; }
    t->check(item, a, v);
    if (!v->extracted) v->extracted = pd_strdup(a);
    free(a);
    return PD_OK;
}

pd_status pd_task_verify(const pd_task *t, const pd_task_item *item, const char *output, pd_verdict *v) {
    return pd_task_verify_ex(t, item, output, PD_EXTRACT_AUTO, v);
}

pd_status pd_task_verify_ref(const char *reference, const char *output, pd_extract_mode mode, pd_verdict *v) {
    memset(v, 0, sizeof *v);
    if (!reference || !output) return pd_fail(PD_ERR_ARG, "pd_task_verify_ref: null argument");
    char *a = pd_extract(mode, output);
    if (!a) { tk_verdict(v, 0.0, "no answer", NULL); return PD_OK; }
    /* A GSM8K-style reference "… #### 42" is judged against its final number. */
    const char *gold = reference;
    const char *hh = strstr(reference, "####");
    if (hh) gold = hh + 4;
    bool ok = pd_answer_equiv(a, gold);
    v->score = ok ? 1.0 : 0.0;
    v->reason = ok ? "correct" : "wrong";
    v->extracted = a;
    return PD_OK;
}

char *pd_task_completion(const pd_task_item *item) {
    pd_buf b = {0};
    if (pd_buf_printf(&b, "<think>\n%s\n</think>\n%s", item->reasoning ? item->reasoning : "",
                      item->answer ? item->answer : "")) {
        pd_buf_free(&b);
        return NULL;
    }
    return tk_take(&b);
}

void pd_task_item_free(pd_task_item *it) {
    if (!it) return;
    free(it->id); free(it->prompt); free(it->reasoning); free(it->answer); free(it->meta);
    memset(it, 0, sizeof *it);
}

void pd_verdict_free(pd_verdict *v) {
    if (!v) return;
    free(v->extracted);
    memset(v, 0, sizeof *v);
}

char *pd_task_item_to_json(const pd_task_item *it) {
    cJSON *o = cJSON_CreateObject();
    if (!o) { pd_fail(PD_ERR_NOMEM, "out of memory (json)"); return NULL; }
    cJSON_AddStringToObject(o, "id", it->id ? it->id : "");
    cJSON_AddStringToObject(o, "task", it->task ? it->task : "jsonl");
    cJSON_AddNumberToObject(o, "difficulty", it->difficulty);
    cJSON_AddStringToObject(o, "prompt", it->prompt ? it->prompt : "");
    cJSON_AddStringToObject(o, "reasoning", it->reasoning ? it->reasoning : "");
    cJSON_AddStringToObject(o, "answer", it->answer ? it->answer : "");
    if (it->meta) {
        cJSON *m = cJSON_Parse(it->meta);
        if (m) cJSON_AddItemToObject(o, "meta", m);
        else cJSON_AddStringToObject(o, "meta", it->meta);
    }
    char *s = pd_json_print(o, false);  /* one line, valid UTF-8 */
    cJSON_Delete(o);
    return s;
}

/* Scalar JSON value as text: strings as-is, numbers in shortest integer/decimal form. */
static char *scalar_text(const cJSON *v) {
    if (cJSON_IsString(v)) return pd_strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        char b[64];
        double d = v->valuedouble;
        if (d > -9e15 && d < 9e15 && d == (double)(long long)d) snprintf(b, sizeof b, "%lld", (long long)d);
        else snprintf(b, sizeof b, "%.17g", d);
        return pd_strdup(b);
    }
    return NULL;
}

pd_status pd_task_item_from_json(const char *line, pd_task_item *out) {
    memset(out, 0, sizeof *out);
    cJSON *o = cJSON_Parse(line);
    if (!o) {
        const char *e = cJSON_GetErrorPtr();
        long off = e && e >= line ? (long)(e - line) : 0;
        return pd_fail(PD_ERR_FORMAT, "invalid JSON near offset %ld", off);
    }
    pd_status st = PD_OK;
    if (!cJSON_IsObject(o)) { st = pd_fail(PD_ERR_FORMAT, "not a JSON object"); goto done; }
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    if (!pr) pr = cJSON_GetObjectItemCaseSensitive(o, "question");
    if (!pr) pr = cJSON_GetObjectItemCaseSensitive(o, "problem");
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(o, "answer");
    if (!id) { st = pd_fail(PD_ERR_FORMAT, "missing key 'id'"); goto done; }
    if (!cJSON_IsString(pr)) { st = pd_fail(PD_ERR_FORMAT, "key 'prompt' missing or not a string"); goto done; }
    if (!an) { st = pd_fail(PD_ERR_FORMAT, "missing key 'answer'"); goto done; }
    out->id = scalar_text(id);
    out->answer = scalar_text(an);
    if (!out->id) { st = pd_fail(PD_ERR_FORMAT, "key 'id' is not a string or number"); goto done; }
    if (!out->answer) { st = pd_fail(PD_ERR_FORMAT, "key 'answer' is not a string or number"); goto done; }
    out->prompt = pd_strdup(pr->valuestring);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(o, "reasoning");
    out->reasoning = pd_strdup(cJSON_IsString(rs) ? rs->valuestring : "");
    const cJSON *tk = cJSON_GetObjectItemCaseSensitive(o, "task");
    out->task = "jsonl";
    if (cJSON_IsString(tk)) {
        for (size_t i = 0; i < pd_task_count(); i++)
            if (!strcmp(registry[i]->name, tk->valuestring)) out->task = registry[i]->name;
    }
    const cJSON *df = cJSON_GetObjectItemCaseSensitive(o, "difficulty");
    if (cJSON_IsNumber(df)) {
        double d = df->valuedouble;
        out->difficulty = d > 1e6 ? 1000000 : d < -1e6 ? -1000000 : (int)d;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(o, "meta");
    if (mt && !cJSON_IsNull(mt)) {
        char *m = cJSON_PrintUnformatted(mt);
        if (m) { out->meta = pd_strdup(m); cJSON_free(m); }
    }
    if (!out->prompt || !out->reasoning) st = pd_fail(PD_ERR_NOMEM, "out of memory reading an item");
done:
    cJSON_Delete(o);
    if (st != PD_OK) pd_task_item_free(out);
    return st;
}

void pd_task_set_free(pd_task_set *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) pd_task_item_free(&s->items[i]);
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

pd_status pd_jsonl_parse(const char *text, size_t len, const char *label, int strict, pd_task_set *out,
                         size_t *n_bad) {
    memset(out, 0, sizeof *out);
    if (n_bad) *n_bad = 0;
    size_t cap = 0, bad = 0, lineno = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        const char *q = p;
        while (q < le && isspace((unsigned char)*q)) q++;
        if (q < le) {
            char *line = pd_strndup(p, (size_t)(le - p));
            if (!line) { pd_task_set_free(out); return PD_ERR_NOMEM; }
            pd_status s = PD_OK;
            if (memchr(p, '\0', (size_t)(le - p))) s = pd_fail(PD_ERR_FORMAT, "NUL byte in line");
            pd_task_item it;
            memset(&it, 0, sizeof it);
            if (s == PD_OK) s = pd_task_item_from_json(line, &it);
            free(line);
            if (s != PD_OK) {
                pd_fail_ctx(s, "%s: line %zu", label, lineno);
                if (strict || s == PD_ERR_NOMEM) { pd_task_set_free(out); return s; }
                pd_log(PD_LOG_WARN, "%s (skipped)", pd_last_error());
                bad++;
            } else {
                if (out->n == cap) {
                    size_t nc = cap ? cap * 2 : 64;
                    pd_task_item *ni = pd_realloc(out->items, nc * sizeof *ni);
                    if (!ni) { pd_task_item_free(&it); pd_task_set_free(out); return PD_ERR_NOMEM; }
                    out->items = ni;
                    cap = nc;
                }
                out->items[out->n++] = it;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (n_bad) *n_bad = bad;
    return PD_OK;
}

pd_status pd_jsonl_load(const char *path, int strict, pd_task_set *out, size_t *n_bad) {
    size_t len;
    char *text = pd_read_file(path, &len);
    if (!text) { memset(out, 0, sizeof *out); return PD_ERR_IO; }
    pd_status s = pd_jsonl_parse(text, len, path, strict, out, n_bad);
    free(text);
    return s;
}
