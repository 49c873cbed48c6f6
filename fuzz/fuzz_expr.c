/* fuzz/fuzz_expr.c — the countdown expression evaluator and the answer extractors on arbitrary
 * bytes: no crash, no hang, no UB (overflow must be reported, never performed).
 * fuzz-links: pd_tasks */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/expr.h"
#include "ponder/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_expr_result r;
    pd_expr_eval((const char *)data, size, &r);
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    for (int m = 0; m <= PD_EXTRACT_LAST_NUMBER; m++) {
        char *a = pd_extract((pd_extract_mode)m, s);
        if (a) {
            long long n, d;
            pd_answer_number(a, &n, &d);
            pd_answer_equiv(a, s);
            free(a);
        }
    }
    char **list;
    int n = pd_extract_boxed_all(s, &list);
    pd_extract_list_free(list, n);
    free(s);
    return 0;
}
