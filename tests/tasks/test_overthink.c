/* tests/tasks/test_overthink.c — the overthinking trace style: k re-checks within the drawn range,
 * each a paragraph opening with a reflection word and re-deriving the reference; a detour holds the
 * wrong answer and is followed by the right derivation; the rest of the item is untouched; same rng
 * → same text. The counted form: the count stated before the solution equals the number of re-check
 * paragraphs, which are numbered 1..k in order, and k follows the question (hand-computed cases). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "ponder/overthink.h"

static int count(const char *h, const char *n) {
    int c = 0;
    for (const char *p = h; (p = strstr(p, n)); p++) c++;
    return c;
}

static void make(pd_task_item *it, uint64_t seed) {
    const pd_task *t = pd_task_find("arith-add");
    assert_non_null(t);
    pd_rng r;
    pd_rng_seed(&r, seed);
    assert_int_equal(pd_task_gen(t, &r, 3, PD_SPLIT_ANY, it), PD_OK);
}

static void test_rechecks(void **st) {
    (void)st;
    int seen[5] = {0};
    for (uint64_t s = 0; s < 200; s++) {
        pd_task_item it, ref;
        make(&it, s);
        make(&ref, s);
        pd_rng r;
        pd_rng_seed(&r, pd_rng_derive(s, PD_RNG_STREAM_OVERTHINK));
        pd_overthink_params p = {1, 4, 0, false};
        int k = -1;
        assert_int_equal(pd_overthink(&it, &r, &p, &k), PD_OK);
        assert_true(k >= 1 && k <= 4);
        seen[k]++;
        /* the solution first, then k paragraphs, each re-deriving it */
        assert_memory_equal(it.reasoning, ref.reasoning, strlen(ref.reasoning));
        assert_int_equal(count(it.reasoning, "\n\n"), k);
        assert_int_equal(count(it.reasoning, ref.reasoning), k + 1);
        assert_string_equal(it.prompt, ref.prompt);
        assert_string_equal(it.answer, ref.answer);
        pd_task_item_free(&it);
        pd_task_item_free(&ref);
    }
    for (int k = 1; k <= 4; k++) assert_true(seen[k] > 20);   /* k is drawn, not fixed */
}

static void test_detour_and_determinism(void **st) {
    (void)st;
    pd_task_item a, b, ref;
    make(&a, 7);
    make(&b, 7);
    make(&ref, 7);
    pd_overthink_params p = {2, 2, 100, false};
    pd_rng r1, r2;
    pd_rng_seed(&r1, 99);
    pd_rng_seed(&r2, 99);
    assert_int_equal(pd_overthink(&a, &r1, &p, NULL), PD_OK);
    assert_int_equal(pd_overthink(&b, &r2, &p, NULL), PD_OK);
    assert_string_equal(a.reasoning, b.reasoning);
    /* every re-check is a detour: 2 wrong answers noticed, the right derivation 1 + 2 times */
    assert_int_equal(count(a.reasoning, "which does not match"), 2);
    assert_int_equal(count(a.reasoning, ref.reasoning), 3);
    /* the wrong answer differs from the right one only in its last digit */
    const char *w = strstr(a.reasoning, "that gives ");
    assert_non_null(w);
    w += strlen("that gives ");
    size_t n = strlen(ref.answer);
    assert_memory_equal(w, ref.answer, n - 1);
    assert_int_not_equal(w[n - 1], ref.answer[n - 1]);
    pd_task_item_free(&a);
    pd_task_item_free(&b);
    pd_task_item_free(&ref);
    /* bad parameters */
    pd_overthink_params bad = {3, 2, 0, false};
    pd_rng_seed(&r1, 1);
    make(&a, 1);
    assert_int_equal(pd_overthink(&a, &r1, &bad, NULL), PD_ERR_ARG);
    pd_task_item_free(&a);
}

/* The number in "I will solve it, then double-check it N time(s)." (0 for "... without double-checking."), -1 if absent. */
static int stated(const char *s) {
    if (!strncmp(s, "I will solve it without double-checking.\n", 41)) return 0;
    const char *p = "I will solve it, then double-check it ";
    if (strncmp(s, p, strlen(p))) return -1;
    return atoi(s + strlen(p));
}

static void test_counted(void **st) {
    (void)st;
    /* hand-computed: k = k_min + (last digit's byte, else last byte) mod (k_max - k_min + 1); '7' = 55, '0' = 48 */
    assert_int_equal(pd_overthink_counted_k("What is 30+17?", 1, 3), 2);    /* 55 % 3 = 1 */
    assert_int_equal(pd_overthink_counted_k("What is 120+0?", 1, 3), 1);    /* 48 % 3 = 0 */
    assert_int_equal(pd_overthink_counted_k("Is it so?", 0, 3), 3);         /* '?' = 63, 63 % 4 = 3 */
    assert_int_equal(pd_overthink_counted_k("", 2, 4), 2);
    assert_int_equal(pd_overthink_counted_k("5", 2, 2), 2);
    int seen[4] = {0};
    for (uint64_t s = 0; s < 300; s++) {
        pd_task_item it, ref;
        make(&it, s);
        make(&ref, s);
        pd_rng r;
        pd_rng_seed(&r, pd_rng_derive(s, PD_RNG_STREAM_OVERTHINK));
        pd_overthink_params p = {0, 3, 30, true};
        int k = -1;
        assert_int_equal(pd_overthink(&it, &r, &p, &k), PD_OK);
        assert_int_equal(k, pd_overthink_counted_k(ref.prompt, 0, 3));
        seen[k]++;
        /* the plan on the first line, then the solution */
        assert_int_equal(stated(it.reasoning), k);
        const char *sol = strchr(it.reasoning, '\n');
        assert_non_null(sol);
        size_t n = strlen(ref.reasoning);
        assert_memory_equal(sol + 1, ref.reasoning, n);
        assert_true(sol[1 + n] == 0 || !strncmp(sol + 1 + n, "\n\n", 2));   /* k = 0: nothing follows */
        assert_int_equal(sol[1 + n] == 0, k == 0);
        /* exactly k re-checks: paragraphs opened by a reflection word and numbered 1..k of k, in order */
        const char *at = sol + 1 + n;
        for (int i = 1; i <= k; i++) {
            char mark[64];
            snprintf(mark, sizeof mark, " (check %d of %d).\n", i, k);
            const char *m = strstr(at, mark);
            assert_non_null(m);
            const char *para = m;
            while (para > it.reasoning + 1 && !(para[-1] == '\n' && para[-2] == '\n')) para--;
            assert_true(para >= at);   /* a new paragraph after the previous mark */
            assert_true(!strncmp(para, "Wait", 4) || !strncmp(para, "But", 3) || !strncmp(para, "Hmm", 3) ||
                        !strncmp(para, "Let me", 6));
            assert_null(memchr(para, '\n', (size_t)(m - para)));   /* the opener is one line */
            at = m + strlen(mark);
        }
        assert_int_equal(count(it.reasoning, " (check "), k);
        /* every re-check re-derives it right once (a detour's wrong derivation differs from it) */
        assert_int_equal(count(it.reasoning, ref.reasoning), k + 1);
        assert_string_equal(it.answer, ref.answer);
        pd_task_item_free(&it);
        pd_task_item_free(&ref);
    }
    for (int k = 0; k <= 3; k++) assert_true(seen[k] > 30);   /* every count occurs */
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rechecks), cmocka_unit_test(test_detour_and_determinism),
                                       cmocka_unit_test(test_counted)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
