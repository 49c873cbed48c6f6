/* tests/tasks/test_overthink.c — the overthinking trace style: k re-checks within the drawn range,
 * each a paragraph opening with a reflection word and re-deriving the reference; a detour holds the
 * wrong answer and is followed by the right derivation; the rest of the item is untouched; same rng
 * → same text. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
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
        pd_overthink_params p = {1, 4, 0};
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
    pd_overthink_params p = {2, 2, 100};
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
    pd_overthink_params bad = {3, 2, 0};
    pd_rng_seed(&r1, 1);
    make(&a, 1);
    assert_int_equal(pd_overthink(&a, &r1, &bad, NULL), PD_ERR_ARG);
    pd_task_item_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rechecks), cmocka_unit_test(test_detour_and_determinism)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
