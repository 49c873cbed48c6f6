/* eval/metrics.c — pass@k (unbiased estimator), majority vote, the summary table of an eval run,
 * and eval records as JSONL. */
#include "ponder/eval.h"
#include "ponder/alloc.h"
#include "ponder/json.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

double pd_pass_at_k(int n, int c, int k) {
    if (n < 1 || k < 1 || k > n || c < 0 || c > n) return NAN;
    if (n - c < k) return 1.0;
    /* C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i) */
    double p = 1.0;
    for (int i = n - c + 1; i <= n; i++) p *= 1.0 - (double)k / (double)i;
    return 1.0 - p;
}

int pd_majority(const char *const *answers, int k) {
    int best = -1, best_count = 0;
    for (int i = 0; i < k; i++) {
        if (!answers[i]) continue;
        /* skip i if it belongs to a group that started earlier */
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            if (answers[j] && pd_answer_equiv(answers[i], answers[j])) seen = 1;
        if (seen) continue;
        int count = 0;
        for (int j = i; j < k; j++)
            if (answers[j] && pd_answer_equiv(answers[i], answers[j])) count++;
        if (count > best_count) { best = i; best_count = count; }
    }
    return best;
}

void pd_eval_record_free(pd_eval_record *r) {
    if (!r) return;
    free(r->id); free(r->task); free(r->prompt); free(r->thinking); free(r->answer); free(r->extracted);
    free(r->rest_scores);
    free(r->token_ids);
    memset(r, 0, sizeof *r);
}

char *pd_eval_record_to_json(const pd_eval_record *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) { pd_fail(PD_ERR_NOMEM, "out of memory (json)"); return NULL; }
    cJSON_AddStringToObject(o, "id", r->id ? r->id : "");
    cJSON_AddNumberToObject(o, "sample", r->sample);
    pd_json_add_u64(o, "seed", r->seed);
    cJSON_AddStringToObject(o, "task", r->task ? r->task : "");
    cJSON_AddNumberToObject(o, "difficulty", r->difficulty);
    cJSON_AddStringToObject(o, "prompt", r->prompt ? r->prompt : "");
    cJSON_AddStringToObject(o, "thinking", r->thinking ? r->thinking : "");
    cJSON_AddStringToObject(o, "answer", r->answer ? r->answer : "");
    if (r->extracted) cJSON_AddStringToObject(o, "extracted", r->extracted);
    else cJSON_AddNullToObject(o, "extracted");
    cJSON_AddNumberToObject(o, "score", r->score);
    cJSON_AddBoolToObject(o, "correct", r->correct);
    cJSON_AddStringToObject(o, "reason", r->reason ? r->reason : "");
    cJSON_AddNumberToObject(o, "thinking_tokens", r->n_thinking);
    cJSON_AddNumberToObject(o, "answer_tokens", r->n_answer);
    cJSON_AddNumberToObject(o, "wall_s", r->wall_s);
    if (r->finish_reason) cJSON_AddStringToObject(o, "finish_reason", r->finish_reason);
    else cJSON_AddNullToObject(o, "finish_reason");
    cJSON_AddStringToObject(o, "finish_detail", r->finish_detail ? r->finish_detail : "none");
    cJSON *ids = cJSON_AddArrayToObject(o, "token_ids");
    for (int i = 0; ids && i < r->n_token_ids; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(r->token_ids[i]));
    if (r->rest_k > 0 && r->rest_scores) {
        cJSON *a = cJSON_AddArrayToObject(o, "scores");
        for (int j = 0; j < r->rest_k; j++) cJSON_AddItemToArray(a, cJSON_CreateNumber(r->rest_scores[j]));
    }
    char *s = pd_json_print(o, false);  /* one line, valid UTF-8 */
    cJSON_Delete(o);
    return s;
}

static int by_id(const void *a, const void *b) {
    const pd_eval_record *x = *(const pd_eval_record *const *)a, *y = *(const pd_eval_record *const *)b;
    int c = strcmp(x->id ? x->id : "", y->id ? y->id : "");
    return c ? c : (x->sample > y->sample) - (x->sample < y->sample);
}

pd_status pd_eval_summarize(const pd_eval_record *r, size_t n, double elapsed, pd_eval_summary *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) return PD_OK;
    const pd_eval_record **s = pd_malloc(n * sizeof *s);
    const char **ans = pd_malloc(n * sizeof *ans);
    if (!s || !ans) { free(s); free(ans); return PD_ERR_NOMEM; }
    for (size_t i = 0; i < n; i++) s[i] = &r[i];
    qsort(s, n, sizeof *s, by_id);
    double corr = 0, think = 0, answer = 0, pass = 0, maj = 0;
    int kmax = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(s[j]->id ? s[j]->id : "", s[i]->id ? s[i]->id : "")) j++;
        int m = (int)(j - i), c = 0;
        for (size_t t = i; t < j; t++) {
            c += s[t]->correct;
            ans[t - i] = s[t]->extracted;
        }
        if (m > kmax) kmax = m;
        pass += pd_pass_at_k(m, c, m);
        int w = pd_majority(ans, m);
        maj += w >= 0 && s[i + (size_t)w]->correct;
        out->n_items++;
        i = j;
    }
    for (size_t i = 0; i < n; i++) {
        corr += r[i].correct;
        out->n_context += r[i].context_overflow;
        think += r[i].n_thinking;
        answer += r[i].n_answer;
    }
    out->n_records = n;
    out->k = kmax;
    out->accuracy = corr / (double)n;
    out->pass_at_k = pass / (double)out->n_items;
    out->maj_at_k = maj / (double)out->n_items;
    out->mean_thinking = think / (double)n;
    out->mean_answer = answer / (double)n;
    out->tokens_per_s = elapsed > 0 ? (think + answer) / elapsed : 0.0;
    free(s);
    free(ans);
    return PD_OK;
}
