/* tests/tasks/test_addlookup.c — arith-add-lookup (src/tasks/addlookup.c): every trace line is re-read
 * and checked against the operands parsed back from the prompt by their labels and against 128-bit
 * integer arithmetic (independent of the generator's digit loop): line i shows digit i of each operand
 * under labels 'A'+i / 'a'+i, its carry in is the previous line's carry out, and its carry out and
 * tape (digits 0..i, '.' above) equal (X mod 10^(i+1) + Y mod 10^(i+1)) split at 10^(i+1). The last
 * line is "=" and X+Y. The verifier accepts the reference completion and rejects a wrong sum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/rng.h"
#include "ponder/task.h"

typedef unsigned __int128 u128;

static u128 p10(int k) { u128 p = 1; while (k-- > 0) p *= 10; return p; }

static void u128_str(u128 v, char *out) {
    char tmp[48];
    int n = 0;
    do { tmp[n++] = (char)('0' + (int)(v % 10)); v /= 10; } while (v);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    out[n] = 0;
}

/* Parse "What is {L d}..+{l d}..?" with labels descending to 'A' / 'a'; digits by label index. */
static void parse_prompt(const char *p, int n, int *x, int *y) {
    assert_int_equal(strncmp(p, "What is ", 8), 0);
    p += 8;
    for (int pass = 0; pass < 2; pass++) {
        char base = pass ? 'a' : 'A';
        int *dst = pass ? y : x;
        for (int k = n - 1; k >= 0; k--) {
            assert_int_equal(p[0], base + k);
            assert_true(p[1] >= '0' && p[1] <= '9');
            dst[k] = p[1] - '0';
            p += 2;
        }
        assert_true(dst[n - 1] != 0); /* no leading zero */
        assert_int_equal(*p++, pass ? '?' : '+');
    }
    assert_int_equal(*p, 0);
}

static void check_item(const pd_task_item *it) {
    int n = it->difficulty, x[32], y[32];
    parse_prompt(it->prompt, n, x, y);
    u128 X = 0, Y = 0;
    for (int k = n - 1; k >= 0; k--) { X = X * 10 + (u128)x[k]; Y = Y * 10 + (u128)y[k]; }
    char want[48];
    u128_str(X + Y, want);
    assert_string_equal(it->answer, want);
    char *tr = pd_strdup(it->reasoning), *save = NULL;
    int i = 0, carry = 0;
    for (char *ln = strtok_r(tr, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save), i++) {
        if (i == n) { /* the answer line, last */
            assert_int_equal(ln[0], '=');
            assert_string_equal(ln + 1, want);
            assert_null(strtok_r(NULL, "\n", &save));
            break;
        }
        assert_int_equal((int)strlen(ln), 10 + n);
        assert_int_equal(ln[0], 'A' + i);
        assert_int_equal(ln[1], '0' + x[i]);
        assert_int_equal(ln[2], 'a' + i);
        assert_int_equal(ln[3], '0' + y[i]);
        assert_int_equal(ln[4], '+');
        assert_int_equal(ln[5], '0' + carry);
        assert_int_equal(ln[6], '=');
        assert_int_equal(ln[9], '|');
        u128 m = p10(i + 1), low = X % m + Y % m;
        int cout = (int)(low / m);
        assert_int_equal(ln[7], '0' + cout);
        assert_int_equal(ln[8], '0' + (int)(x[i] + y[i] + carry) % 10);
        u128 tape = 0;
        for (int k = n - 1; k >= 0; k--) { /* cell k from the right */
            char ch = ln[10 + (n - 1 - k)];
            if (k > i) { assert_int_equal(ch, '.'); continue; }
            assert_true(ch >= '0' && ch <= '9');
            tape = tape * 10 + (u128)(ch - '0');
        }
        assert_true(tape == low % m);
        carry = cout;
    }
    assert_int_equal(i, n);
    free(tr);
}

static double score(const pd_task *t, const pd_task_item *it, const char *out) {
    pd_verdict v;
    assert_int_equal(pd_task_verify(t, it, out, &v), PD_OK);
    double s = v.score;
    free(v.extracted);
    return s;
}

static void test_trace_invariant(void **st) {
    (void)st;
    const pd_task *t = pd_task_find("arith-add-lookup");
    assert_non_null(t);
    for (int j = 0; j < 3000; j++) {
        int d = 2 + j % 25;
        pd_rng r;
        pd_rng_seed(&r, pd_rng_derive(31, (uint64_t)j));
        pd_task_item it;
        assert_int_equal(pd_task_gen(t, &r, d, PD_SPLIT_ANY, &it), PD_OK);
        check_item(&it);
        pd_task_item_free(&it);
    }
}

static void test_verifier(void **st) {
    (void)st;
    const pd_task *t = pd_task_find("arith-add-lookup");
    pd_rng r;
    pd_rng_seed(&r, 5);
    pd_task_item it;
    assert_int_equal(pd_task_gen(t, &r, 20, PD_SPLIT_TEST, &it), PD_OK);
    char *comp = pd_task_completion(&it);
    assert_true(score(t, &it, comp) == 1.0);
    free(comp);
    char buf[128];
    snprintf(buf, sizeof buf, "<think>\n</think>\n%s", it.answer);
    assert_true(score(t, &it, buf) == 1.0);
    snprintf(buf, sizeof buf, "<think>\n</think>\n00%s", it.answer); /* leading zeros */
    assert_true(score(t, &it, buf) == 1.0);
    size_t L = strlen(it.answer);
    snprintf(buf, sizeof buf, "<think>\n</think>\n%s", it.answer);
    char *last = buf + strlen(buf) - 1; /* change the units digit: wrong, though a double would round it away */
    *last = *last == '9' ? '0' : (char)(*last + 1);
    assert_true(L >= 20);
    assert_true(score(t, &it, buf) == 0.0);
    snprintf(buf, sizeof buf, "<think>\n</think>\n%s7", it.answer); /* one digit too many */
    assert_true(score(t, &it, buf) == 0.0);
    assert_true(score(t, &it, "<think>\n</think>\nno idea") == 0.0);
    pd_task_item_free(&it);
    /* out-of-range difficulty is refused */
    assert_int_not_equal(pd_task_gen(t, &r, 27, PD_SPLIT_ANY, &it), PD_OK);
    assert_int_not_equal(pd_task_gen(t, &r, 1, PD_SPLIT_ANY, &it), PD_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_trace_invariant), cmocka_unit_test(test_verifier)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
