/* tests/tasks/test_addlookup.c — arith-add-lookup (src/tasks/addlookup.c): every trace line is re-read
 * and checked against the operands parsed back from the prompt by their labels and against 128-bit
 * integer arithmetic (independent of the generator's digit loop): line i shows digit i of each operand
 * under labels 'A'+i / 'a'+i, its carry in is the previous line's carry out, and its carry out and
 * tape (digits 0..i, '.' above) equal (X mod 10^(i+1) + Y mod 10^(i+1)) split at 10^(i+1). The last
 * line is "=" and X+Y. The verifier accepts the reference completion and rejects a wrong sum.
 * arith-add-lookup-m (labels from a random offset s, wrapping Z->A): the same checks with labels
 * 'A'+(s+i) mod 26, every offset occurs, and each line is rebuilt from the prompt and the previous
 * line alone (the Markov property the variant exists for). */
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

/* The label of digit k with offset s: 'A'+(s+k) mod 26 (or lowercase). */
static int lab(int base, int s, int k) { return base + (s + k) % 26; }

/* Parse "What is {L d}..+{l d}..?" with labels descending to the units label 'A'+s / 'a'+s (s = 0 for
 * arith-add-lookup; markov: s read from the units label); digits by label index. Returns s. */
static int parse_prompt(const char *p, int n, int markov, int *x, int *y) {
    assert_int_equal(strncmp(p, "What is ", 8), 0);
    p += 8;
    int s = 0;
    if (markov) { /* the units label of X sits just before '+' */
        const char *plus = strchr(p, '+');
        assert_non_null(plus);
        assert_true(plus - p == 2 * n);
        assert_true(plus[-2] >= 'A' && plus[-2] <= 'Z');
        s = plus[-2] - 'A';
    }
    for (int pass = 0; pass < 2; pass++) {
        char base = pass ? 'a' : 'A';
        int *dst = pass ? y : x;
        for (int k = n - 1; k >= 0; k--) {
            assert_int_equal(p[0], lab(base, s, k));
            assert_true(p[1] >= '0' && p[1] <= '9');
            dst[k] = p[1] - '0';
            p += 2;
        }
        assert_true(dst[n - 1] != 0); /* no leading zero */
        assert_int_equal(*p++, pass ? '?' : '+');
    }
    assert_int_equal(*p, 0);
    return s;
}

/* Line i rebuilt from the prompt and line i-1 only (prev NULL for line 0): the label is the successor
 * of the previous line's (wrapping), or the prompt's units label; the digits are found in the prompt by
 * label; carry in = the previous carry out; the tape is the previous one with the new digit written
 * into its rightmost '.'. Writes the line into out (no newline). */
static void next_line(const char *prompt, const char *prev, int n, char *out) {
    const char *plus = strchr(prompt, '+');
    char L;
    if (!prev) L = plus[-2];
    else L = prev[0] == 'Z' ? 'A' : (char)(prev[0] + 1);
    char l = (char)(L - 'A' + 'a');
    const char *px = strchr(prompt + 8, L), *py = strchr(plus, l);
    assert_non_null(px);
    assert_non_null(py);
    int xd = px[1] - '0', yd = py[1] - '0', c = prev ? prev[7] - '0' : 0, v = xd + yd + c;
    const char head[10] = {L, (char)('0' + xd), l, (char)('0' + yd), '+', (char)('0' + c), '=',
                           (char)('0' + v / 10), (char)('0' + v % 10), '|'};
    memcpy(out, head, sizeof head);
    char *tape = out + 10;
    if (prev) memcpy(tape, prev + 10, (size_t)n);
    else memset(tape, '.', (size_t)n);
    tape[n] = 0;
    char *dot = strrchr(tape, '.');
    assert_non_null(dot);
    *dot = (char)('0' + v % 10);
}

static void check_item(const pd_task_item *it, int markov) {
    int n = it->difficulty, x[32], y[32];
    int s = parse_prompt(it->prompt, n, markov, x, y);
    u128 X = 0, Y = 0;
    for (int k = n - 1; k >= 0; k--) { X = X * 10 + (u128)x[k]; Y = Y * 10 + (u128)y[k]; }
    char want[48];
    u128_str(X + Y, want);
    assert_string_equal(it->answer, want);
    char *tr = pd_strdup(it->reasoning), *save = NULL, *prev = NULL, rebuilt[48];
    int i = 0, carry = 0;
    for (char *ln = strtok_r(tr, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save), i++) {
        if (i == n) { /* the answer line, last */
            assert_int_equal(ln[0], '=');
            assert_string_equal(ln + 1, want);
            assert_null(strtok_r(NULL, "\n", &save));
            break;
        }
        assert_int_equal((int)strlen(ln), 10 + n);
        next_line(it->prompt, prev, n, rebuilt); /* Markov: prompt + previous line suffice */
        assert_string_equal(ln, rebuilt);
        prev = ln;
        assert_int_equal(ln[0], lab('A', s, i));
        assert_int_equal(ln[1], '0' + x[i]);
        assert_int_equal(ln[2], lab('a', s, i));
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
        check_item(&it, 0);
        pd_task_item_free(&it);
    }
}

/* arith-add-lookup-m: every line checked as above with the item's offset; all 26 offsets occur, labels
 * wrap past 'Z' on some items, and the operands are arith-add-lookup's for the same rng state. */
static void test_markov_trace(void **st) {
    (void)st;
    const pd_task *t = pd_task_find("arith-add-lookup-m"), *t0 = pd_task_find("arith-add-lookup");
    assert_non_null(t);
    int seen[26] = {0}, wrapped = 0;
    for (int j = 0; j < 3000; j++) {
        int d = 2 + j % 25;
        pd_rng r, r0;
        pd_rng_seed(&r, pd_rng_derive(32, (uint64_t)j));
        r0 = r;
        pd_task_item it, it0;
        assert_int_equal(pd_task_gen(t, &r, d, PD_SPLIT_ANY, &it), PD_OK);
        check_item(&it, 1);
        int s = strchr(it.prompt, '+')[-2] - 'A';
        seen[s]++;
        wrapped += s + d > 26;
        assert_int_equal(pd_task_gen(t0, &r0, d, PD_SPLIT_ANY, &it0), PD_OK);
        assert_string_equal(it.answer, it0.answer);
        pd_task_item_free(&it);
        pd_task_item_free(&it0);
    }
    for (int k = 0; k < 26; k++) assert_true(seen[k] > 3000 / 26 / 2);
    assert_true(wrapped > 100);
}

static void test_verifier(void **st) {
    (void)st;
    for (int m = 0; m < 2; m++) {
        const pd_task *t = pd_task_find(m ? "arith-add-lookup-m" : "arith-add-lookup");
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
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_trace_invariant), cmocka_unit_test(test_markov_trace),
                                       cmocka_unit_test(test_verifier)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
