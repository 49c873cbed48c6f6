/* train/teval.c — task accuracy of the model being trained, by greedy decoding through the
 * inference path: the weights are snapshotted into an in-memory GGUF, loaded with
 * pd_model_from_gguf (so every evaluation also checks that what we would save loads and runs), and
 * decoded with a small batched greedy loop over pd_model_forward and its KV cache: all prompts are
 * prefilled in one batch, then each step feeds one token per unfinished sequence.
 * Prompts are rendered with the model's own chat family and vocabulary, as `ponder run` renders them.
 * Scoring uses the task verifiers (tasks/), thinking tokens are those between <think> and </think>. */
#include "train_int.h"
#include "ponder/json.h"
#include "ponder/alloc.h"
#include "ponder/data.h"
#include "ponder/model.h"
#include "ponder/timer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void json_str(FILE *f, const char *text) {
    /* model output may cut a character or hold bytes that never form one: U+FFFD, as ponder/json.h */
    char *clean = pd_utf8_sanitize(text ? text : "", text ? strlen(text) : 0, NULL);
    const char *s = clean ? clean : "";
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
    free(clean);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

/* Greedy-decode `n` prompts (token ids) with up to max_new new tokens each; out[i] receives the
 * generated ids (malloc'd) and out_n[i] their count (stopping token excluded). */
static pd_status greedy_batch(const pd_model *pm, int32_t *const *prompts, const int *plen, int n, int max_new,
                              int32_t **out, int *out_n) {
    const pd_tokenizer *tok = pm->tok;
    int ctx = 0;
    for (int i = 0; i < n; i++) if (plen[i] + max_new > ctx) ctx = plen[i] + max_new;
    pd_kv *kv = pd_kv_new(&pm->cfg, n, ctx, PD_TYPE_F32);
    if (!kv) return PD_ERR_NOMEM;
    int V = pm->cfg.n_vocab, total = 0;
    for (int i = 0; i < n; i++) total += plen[i];
    int32_t *tk = pd_malloc(sizeof(int32_t) * (size_t)(total > n ? total : n));
    int32_t *sq = pd_malloc(sizeof(int32_t) * (size_t)(total > n ? total : n));
    int32_t *ps = pd_malloc(sizeof(int32_t) * (size_t)(total > n ? total : n));
    int8_t *want = pd_malloc((size_t)(total > n ? total : n));
    float *logits = pd_malloc(sizeof(float) * (size_t)n * V);
    int *active = pd_calloc((size_t)n, sizeof(int)), *pos = pd_calloc((size_t)n, sizeof(int));
    pd_status st = (tk && sq && ps && want && logits && active && pos) ? PD_OK : PD_ERR_NOMEM;
    for (int i = 0; i < n && st == PD_OK; i++) {
        out[i] = pd_malloc(sizeof(int32_t) * (size_t)(max_new > 0 ? max_new : 1));
        out_n[i] = 0;
        if (!out[i]) st = PD_ERR_NOMEM;
    }
    if (st == PD_OK) {
        int k = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < plen[i]; j++, k++) {
                tk[k] = prompts[i][j]; sq[k] = i; ps[k] = j; want[k] = j == plen[i] - 1;
            }
        pd_batch b = {.n = total, .token = tk, .seq = sq, .pos = ps, .want_logits = want};
        st = pd_model_forward(pm, kv, &b, logits);
        for (int i = 0; i < n; i++) { active[i] = max_new > 0; pos[i] = plen[i]; }
    }
    /* logits row r belongs to the r-th sequence that asked for logits, in batch order */
    for (int step = 0; st == PD_OK && step < max_new; step++) {
        int r = 0, m = 0;
        for (int i = 0; i < n; i++) {
            if (!active[i]) continue;
            int t = argmax(logits + (size_t)r * V, V);
            r++;
            if (pd_tok_is_eog(tok, t) || out_n[i] >= max_new) { active[i] = 0; continue; }
            out[i][out_n[i]++] = t;
            if (out_n[i] >= max_new) { active[i] = 0; continue; }
            tk[m] = t; sq[m] = i; ps[m] = pos[i]++; want[m] = 1; m++;
        }
        if (!m) break;
        pd_batch b = {.n = m, .token = tk, .seq = sq, .pos = ps, .want_logits = want};
        st = pd_model_forward(pm, kv, &b, logits);
    }
    free(tk); free(sq); free(ps); free(want); free(logits); free(active); free(pos);
    pd_kv_free(kv);
    return st;
}

pd_status pd_train_greedy_eval(const pd_model *pm, const pd_task_item *items, int n, int max_new, FILE *records,
                               pd_geval *res) {
    memset(res, 0, sizeof *res);
    if (!pm->tok) return pd_fail(PD_ERR_STATE, "greedy eval: the model has no tokenizer");
    const pd_tokenizer *tok = pm->tok;
    const pd_tchat chat = pd_tchat_of_model(pm); /* the prompt as `ponder run` builds it */
    int32_t think_open = pd_tok_find(tok, "<think>"), think_close = pd_tok_find(tok, "</think>");
    double t0 = pd_time_now();
    int64_t gen_tokens = 0, think_tokens = 0;
    const int chunk = 64;
    pd_status st = PD_OK;
    for (int c0 = 0; c0 < n && st == PD_OK; c0 += chunk) {
        int cn = n - c0 < chunk ? n - c0 : chunk;
        int32_t *pr[64] = {0}, *gen[64] = {0};
        int pl[64] = {0}, gn[64] = {0};
        for (int i = 0; i < cn && st == PD_OK; i++) st = pd_tex_prompt(&chat, items[c0 + i].prompt, &pr[i], &pl[i]);
        if (st == PD_OK) st = greedy_batch(pm, pr, pl, cn, max_new, gen, gn);
        for (int i = 0; i < cn && st == PD_OK; i++) {
            const pd_task_item *it = &items[c0 + i];
            size_t len;
            char *text = pd_detokenize(tok, gen[i], (size_t)gn[i], &len);
            if (!text) { st = PD_ERR_NOMEM; break; }
            int th = 0, inside = 0;
            for (int j = 0; j < gn[i]; j++) {
                if (gen[i][j] == think_open) { inside = 1; continue; }
                if (gen[i][j] == think_close) { inside = 0; continue; }
                th += inside;
            }
            pd_verdict v;
            const pd_task *t = it->task ? pd_task_find(it->task) : NULL;
            pd_clear_error();
            st = t ? pd_task_verify(t, it, text, &v) : pd_task_verify_ref(it->answer, text, PD_EXTRACT_AUTO, &v);
            if (st == PD_OK) {
                res->correct += v.score >= 1.0;
                res->score_sum += v.score;
                if (records) {
                    fprintf(records, "{\"id\":");
                    json_str(records, it->id);
                    fprintf(records, ",\"difficulty\":%d,\"thinking_tokens\":%d,\"tokens\":%d,\"answer\":", it->difficulty,
                            th, gn[i]);
                    json_str(records, it->answer);
                    fprintf(records, ",\"output\":");
                    json_str(records, text);
                    fprintf(records, ",\"correct\":%s}\n", v.score >= 1.0 ? "true" : "false");
                }
                pd_verdict_free(&v);
            }
            free(text);
            gen_tokens += gn[i];
            think_tokens += th;
        }
        for (int i = 0; i < cn; i++) { free(pr[i]); free(gen[i]); }
    }
    if (st != PD_OK) return st;
    res->n = n;
    res->seconds = pd_time_now() - t0;
    res->accuracy = n ? (double)res->correct / n : 0;
    res->mean_think_tokens = n ? (double)think_tokens / n : 0;
    res->mean_gen_tokens = n ? (double)gen_tokens / n : 0;
    res->tokens_per_s = res->seconds > 0 ? (double)gen_tokens / res->seconds : 0;
    return PD_OK;
}

pd_status pd_train_report(const char *model_path, const char *task, const int *diffs, int nd, int n, uint64_t seed,
                          int max_new, FILE *out, FILE *records) {
    pd_model *pm = pd_model_load(model_path);
    if (!pm) return pd_fail_ctx(PD_ERR_FORMAT, "report");
    pd_data *d = NULL;
    pd_task_item *items = pd_calloc((size_t)(n > 0 ? n : 1), sizeof *items);
    pd_status st = items ? PD_OK : PD_ERR_NOMEM;
    if (st == PD_OK && !pm->tok) st = pd_fail(PD_ERR_FORMAT, "%s: the model has no vocabulary", model_path);
    const pd_tchat chat = pd_tchat_of_model(pm);
    if (st == PD_OK && !(d = pd_data_task(&chat, task, diffs[0], diffs[0]))) st = PD_ERR_ARG;
    if (st == PD_OK) {
        fprintf(out, "| held-out set (greedy) | items | accuracy | mean thinking tokens | mean tokens | tokens/s |\n");
        fprintf(out, "|---|---:|---:|---:|---:|---:|\n");
    }
    for (int k = 0; k < nd && st == PD_OK; k++) {
        int got = pd_data_eval_items(d, pd_rng_derive(seed, PD_STREAM_EVAL_ITEMS + (uint64_t)diffs[k]), diffs[k], n, items);
        if (got < 0) { st = PD_ERR_ARG; break; }
        pd_geval ge;
        st = pd_train_greedy_eval(pm, items, got, max_new, records, &ge);
        for (int i = 0; i < got; i++) pd_task_item_free(&items[i]);
        if (st != PD_OK) break;
        fprintf(out, "| %s, difficulty %d | %d | %.1f%% | %.1f | %.1f | %.0f |\n", task, diffs[k], ge.n,
                100 * ge.accuracy, ge.mean_think_tokens, ge.mean_gen_tokens, ge.tokens_per_s);
    }
    free(items);
    pd_data_free(d);
    pd_model_free(pm);
    return st;
}
