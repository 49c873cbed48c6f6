/* tests/tasks/test_extract.c — answer extraction against a hand-written table of model outputs
 * (expected extraction written by hand), numeric equivalence and normalisation, the exact
 * expression evaluator, and the thinking/answer split. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/expr.h"
#include "ponder/extract.h"

typedef struct { pd_extract_mode mode; const char *text; const char *want; } ex_case;

#define A PD_EXTRACT_AUTO
#define G PD_EXTRACT_GSM8K
#define B PD_EXTRACT_BOXED
#define T PD_EXTRACT_TAG
#define I PD_EXTRACT_ANSWER_IS
#define L PD_EXTRACT_LAST_NUMBER

static const ex_case cases[] = {
    /* GSM8K "####" */
    {G, "She pays 3*4=12 dollars.\n#### 12", "12"},
    {G, "#### 1,234", "1,234"},
    {G, "so the total is\n#### -7", "-7"},
    {G, "#### $18.", "18"},
    {G, "#### 3.50", "3.50"},
    {G, "first #### 5 then #### 6", "5"},
    {G, "no marker here 42", NULL},
    {G, "#### ", NULL},
    {G, "<think>#### 9</think> nothing", NULL},
    /* boxed */
    {B, "The answer is $\\boxed{42}$.", "42"},
    {B, "\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"},
    {B, "x = \\boxed{\\sqrt{\\frac{a}{b}}} done", "\\sqrt{\\frac{a}{b}}"},
    {B, "first \\boxed{1} then \\boxed{2}", "2"},
    {B, "\\fbox{7}", "7"},
    {B, "\\boxed 5 is it", "5"},
    {B, "\\boxed{unclosed", NULL},
    {B, "no box", NULL},
    {B, "\\boxed{ 3 }", "3"},
    {B, "\\boxed{\\{1,2\\}}", "\\{1,2\\}"},
    {B, "<think>\\boxed{1}</think>final \\boxed{2}", "2"},
    {B, "<think>maybe \\boxed{1}</think>I give up", NULL},
    {B, "\\boxed{a}{b}", "a"},
    {B, "\\boxedx{3}", NULL},
    {B, "\\boxed{x^{2}+1}", "x^{2}+1"},
    /* tag */
    {T, "<answer>17</answer>", "17"},
    {T, "<answer> 3 + 4 </answer>", "3 + 4"},
    {T, "<answer>1</answer> then <answer>2</answer>", "2"},
    {T, "<answer>no close", NULL},
    {T, "<think><answer>5</answer></think>", NULL},
    {T, "<think>x</think><answer>6</answer>", "6"},
    {T, "<ANSWER>8</ANSWER>", NULL},
    {T, "<Answer>9</answer>", "9"},
    /* the answer is */
    {I, "The answer is 42.", "42"},
    {I, "So the answer is: 3.5", "3.5"},
    {I, "the answer is $\\frac{1}{3}$.", "\\frac{1}{3}"},
    {I, "The answer is \\boxed{7}.", "7"},
    {I, "The answer is yes\nmore text", "yes"},
    {I, "The final answer is 1,000 apples.", "1,000 apples"},
    {I, "answer is", NULL},
    {I, "<think>The answer is 3</think>The answer is 4", "4"},
    /* last number */
    {L, "I have 3 apples and 5 pears", "5"},
    {L, "total: 1,234,567", "1,234,567"},
    {L, "it is -12 degrees", "-12"},
    {L, "pi is 3.14159.", "3.14159"},
    {L, "ratio 3/4", "3/4"},
    {L, "cost $5.", "5"},
    {L, "no digits", NULL},
    {L, "x2 y3", NULL},
    {L, "12,34", "34"},
    {L, "value .5", ".5"},
    {L, "<think>42</think>", NULL},
    {L, "<think>42</think>7", "7"},
    {L, "<think>still thinking 42", NULL},
    {L, "5-3", "3"},
    {L, "answer +8", "8"},
    /* auto: tag, boxed, gsm8k, answer-is, last number */
    {A, "work 1 2 3 <answer>4</answer> 5", "4"},
    {A, "work 1 \\boxed{2} 3", "2"},
    {A, "work 1 2\n#### 3\n4", "3"},
    {A, "so the answer is 9. Done 10", "9"},
    {A, "just 11 and 12", "12"},
    {A, "<think>\\boxed{1}</think>Final: 13", "13"},
    {A, "nothing here", NULL},
    {A, "", NULL},
    {A, "<think>a</think><think>b</think>14", "14"},
    {A, "<think>a</think>15<think>unfinished 16", "15"},
};

static void test_extract_table(void **st) {
    (void)st;
    size_t n = sizeof cases / sizeof cases[0];
    assert_true(n >= 60);
    int fails = 0;
    for (size_t i = 0; i < n; i++) {
        char *got = pd_extract(cases[i].mode, cases[i].text);
        int ok = (!got && !cases[i].want) || (got && cases[i].want && !strcmp(got, cases[i].want));
        if (!ok) {
            fprintf(stderr, "case %zu (%s) \"%s\": got %s%s%s, want %s\n", i, pd_extract_mode_name(cases[i].mode), cases[i].text,
                    got ? "\"" : "", got ? got : "NULL", got ? "\"" : "", cases[i].want ? cases[i].want : "NULL");
            fails++;
        }
        free(got);
    }
    assert_int_equal(fails, 0);
}

typedef struct { const char *a, *b; int eq; } eq_case;
static const eq_case eqs[] = {
    {"1,000", "1000", 1}, {"1000.00", "1000", 1}, {"$5.", "5", 1}, {"50%", "50", 1}, {"0.5", "1/2", 1},
    {"\\frac{1}{2}", "0.5", 1}, {"\\dfrac{3}{4}", "3/4", 1}, {"\\frac34", "0.75", 1}, {"-\\frac{1}{2}", "-0.5", 1},
    {"\\frac{-1}{2}", "-1/2", 1}, {"2/4", "1/2", 1}, {"-3", "3", 0}, {"3.01", "3.1", 0}, {"10", "1,0", 0},
    {"12,34", "1234", 0}, {"x+1", "x + 1", 1}, {"\\text{yes}", "Yes", 1}, {"\\left(1,2\\right)", "(1,2)", 1},
    {"B.", "b", 1}, {"\\tfrac{1}{3}", "\\frac{1}{3}", 1}, {"1/0", "1/0", 1}, {"abc", "abd", 0},
    {"99999999999999999999", "99999999999999999999", 1}, {"007", "7", 1}, {"7.", "7", 1},
};

static void test_equiv(void **st) {
    (void)st;
    for (size_t i = 0; i < sizeof eqs / sizeof eqs[0]; i++) {
        int got = pd_answer_equiv(eqs[i].a, eqs[i].b);
        if (got != eqs[i].eq) fprintf(stderr, "equiv case %zu: '%s' vs '%s' got %d\n", i, eqs[i].a, eqs[i].b, got);
        assert_int_equal(got, eqs[i].eq);
    }
    long long n, d;
    assert_true(pd_answer_number("-1,234.50", &n, &d));
    assert_int_equal(n, -2469);
    assert_int_equal(d, 2);
    assert_false(pd_answer_number("1e3", &n, &d));
    assert_false(pd_answer_number("", &n, &d));
    assert_false(pd_answer_number("1/0", &n, &d));
}

static void test_region(void **st) {
    (void)st;
    size_t len;
    const char *s = pd_extract_region("<think>abc</think>xyz", &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "xyz", 3);
    s = pd_extract_region("<think>abc", &len);
    assert_int_equal(len, 0);
    s = pd_extract_region("plain", &len);
    assert_int_equal(len, 5);
    char **list;
    int n = pd_extract_boxed_all("<think>\\boxed{0}</think>Q1 \\boxed{1}, Q2 \\boxed{\\frac{2}{3}}, Q3 \\boxed{x", &list);
    assert_int_equal(n, 2);
    assert_string_equal(list[0], "1");
    assert_string_equal(list[1], "\\frac{2}{3}");
    pd_extract_list_free(list, n);
    assert_int_equal(pd_extract_mode_parse("last-number"), PD_EXTRACT_LAST_NUMBER);
    assert_int_equal(pd_extract_mode_parse("bogus"), -1);
}

static void test_expr(void **st) {
    (void)st;
    pd_expr_result r;
    assert_int_equal(pd_expr_eval("(25+7)*4-9", 10, &r), PD_OK);
    assert_int_equal(r.value.num, 119);
    assert_int_equal(r.value.den, 1);
    assert_int_equal(r.n_lits, 4);
    assert_int_equal(r.lits[0], 25);
    assert_int_equal(r.lits[3], 9);
    /* 1/3 + 1/6 = 1/2 exactly (a float would not be exact) */
    assert_int_equal(pd_expr_eval("1/3+1/6", 7, &r), PD_OK);
    assert_int_equal(r.value.num, 1);
    assert_int_equal(r.value.den, 2);
    assert_int_equal(pd_expr_eval(" 8 / (3 - 8/3) ", 15, &r), PD_OK);
    assert_int_equal(r.value.num, 24);
    assert_int_equal(r.value.den, 1);
    assert_int_equal(pd_expr_eval("-(2-5)*-2", 9, &r), PD_OK);
    assert_int_equal(r.value.num, -6);
    assert_int_equal(pd_expr_eval("2-3-4", 5, &r), PD_OK); /* left associative */
    assert_int_equal(r.value.num, -5);
    assert_int_equal(pd_expr_eval("12/4/3", 6, &r), PD_OK);
    assert_int_equal(r.value.num, 1);
    assert_int_equal(pd_expr_eval("1/0", 3, &r), PD_ERR_RANGE);
    assert_int_equal(pd_expr_eval("1/(2-2)", 7, &r), PD_ERR_RANGE);
    assert_int_equal(pd_expr_eval("(1+2", 4, &r), PD_ERR_FORMAT);
    assert_int_equal(pd_expr_eval("1+2)", 4, &r), PD_ERR_FORMAT);
    assert_int_equal(pd_expr_eval("1+x", 3, &r), PD_ERR_FORMAT);
    assert_int_equal(pd_expr_eval("", 0, &r), PD_ERR_FORMAT);
    assert_int_equal(pd_expr_eval("99999999999999999999", 20, &r), PD_ERR_RANGE);
    assert_int_equal(pd_expr_eval("4294967296*4294967296", 21, &r), PD_ERR_RANGE);
    char deep[300];
    memset(deep, '(', 200);
    deep[200] = '1';
    memset(deep + 201, ')', 99);
    assert_int_equal(pd_expr_eval(deep, 300, &r), PD_ERR_RANGE);
    assert_non_null(strstr(pd_last_error(), "nested"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract_table),
        cmocka_unit_test(test_equiv),
        cmocka_unit_test(test_region),
        cmocka_unit_test(test_expr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
