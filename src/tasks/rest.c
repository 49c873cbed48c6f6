/* tasks/rest.c — REST multi-problem stress bundles (arXiv 2507.10541): k questions in one
 * prompt, numbered Q1..Qk, answered each in \boxed{}; the boxed answers after thinking are
 * matched to the questions in order, missing ones score 0. */
#include "tasks_int.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

char *pd_rest_prompt(const pd_task_item *items, size_t n, size_t i, int k, size_t *order) {
    if (!items || n == 0 || i >= n || k < 1) { pd_fail(PD_ERR_ARG, "rest: bad bundle (n=%zu, i=%zu, k=%d)", n, i, k); return NULL; }
    pd_buf b = {0};
    for (int j = 0; j < k; j++) {
        size_t idx = j == k - 1 ? i : (i + 1 + (size_t)j) % n;
        if (order) order[j] = idx;
        pd_buf_printf(&b, "Q%d: %s\n\n", j + 1, items[idx].prompt ? items[idx].prompt : "");
    }
    pd_buf_printf(&b, "Answer the above questions one by one. Remember to put your final answer within \\boxed{}.");
    return tk_take(&b);
}

int pd_rest_score(const pd_task_item *items, size_t n, size_t i, int k, const char *output, double *scores) {
    char **ans = NULL;
    int na = pd_extract_boxed_all(output ? output : "", &ans);
    for (int j = 0; j < k; j++) {
        scores[j] = 0.0;
        if (j >= na || !items || n == 0 || i >= n) continue;
        size_t idx = j == k - 1 ? i : (i + 1 + (size_t)j) % n;
        const pd_task_item *it = &items[idx];
        /* judge the boxed text as that question's whole answer region */
        pd_verdict v;
        const pd_task *t = NULL;
        for (size_t q = 0; q < pd_task_count(); q++)
            if (it->task && !strcmp(pd_task_at(q)->name, it->task)) t = pd_task_at(q);
        pd_status s = t ? pd_task_verify(t, it, ans[j], &v) : pd_task_verify_ref(it->answer, ans[j], PD_EXTRACT_AUTO, &v);
        if (s == PD_OK) scores[j] = v.score;
        pd_verdict_free(&v);
    }
    pd_extract_list_free(ans, na);
    return na < k ? na : k;
}

int pd_rest_is_bundle(const pd_task_item *it) {
    if (!it || !it->meta) return 0;
    cJSON *m = cJSON_Parse(it->meta);
    int r = m && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(m, "items")) &&
            cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m, "k"));
    cJSON_Delete(m);
    return r;
}

pd_status pd_rest_verify(const pd_task_item *bundle, const char *output, double *scores, int *k_out) {
    *k_out = 0;
    cJSON *m = bundle && bundle->meta ? cJSON_Parse(bundle->meta) : NULL;
    const cJSON *jk = m ? cJSON_GetObjectItemCaseSensitive(m, "k") : NULL;
    const cJSON *ji = m ? cJSON_GetObjectItemCaseSensitive(m, "items") : NULL;
    int k = cJSON_IsNumber(jk) && jk->valuedouble >= 1 && jk->valuedouble <= PD_REST_MAX_K ? (int)jk->valuedouble : 0;
    if (!k || !cJSON_IsArray(ji) || cJSON_GetArraySize(ji) != k) {
        cJSON_Delete(m);
        return pd_fail(PD_ERR_FORMAT, "item '%s': not a REST bundle (meta needs k <= %d and k items)",
                       bundle && bundle->id ? bundle->id : "?", PD_REST_MAX_K);
    }
    pd_task_item sub[PD_REST_MAX_K];
    int n = 0;
    pd_status st = PD_OK;
    const cJSON *e;
    cJSON_ArrayForEach(e, ji) {
        char *s = cJSON_PrintUnformatted(e);
        st = s ? pd_task_item_from_json(s, &sub[n]) : pd_fail(PD_ERR_NOMEM, "out of memory (json)");
        if (s) cJSON_free(s);
        if (st != PD_OK) { pd_fail_ctx(st, "item '%s': REST question %d", bundle->id ? bundle->id : "?", n + 1); break; }
        n++;
    }
    cJSON_Delete(m);
    /* the sub-items are stored in question order: anchor k-1 reproduces that order */
    if (st == PD_OK) pd_rest_score(sub, (size_t)k, (size_t)k - 1, k, output, scores);
    for (int j = 0; j < n; j++) pd_task_item_free(&sub[j]);
    if (st == PD_OK) *k_out = k;
    return st;
}
