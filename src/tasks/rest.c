/* tasks/rest.c — REST multi-problem stress bundles (arXiv 2507.10541): k questions in one
 * prompt, numbered Q1..Qk, answered each in \boxed{}; the boxed answers after thinking are
 * matched to the questions in order, missing ones score 0. */
#include "tasks_int.h"
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
