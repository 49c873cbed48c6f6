/* tests/base/test_json.c — valid-UTF-8 JSON output: the sanitiser against the Unicode standard's
 * worked example (Table 3-8: one U+FFFD per maximal ill-formed subpart; Python's
 * bytes.decode('utf-8', 'replace') gives the same), printed JSON of invalid text, 64-bit seeds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/json.h"

#define R "\xEF\xBF\xBD"

static void check(const char *in, size_t n, const char *want) {
    size_t len = 0;
    char *s = pd_utf8_sanitize(in, n, &len);
    assert_non_null(s);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(s, want, len);
    assert_true(pd_utf8_valid(s, len));
    free(s);
}

static void test_sanitize(void **st) {
    (void)st;
    /* Unicode 15 §3.9, Table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
    const char ex[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    assert_false(pd_utf8_valid(ex, sizeof ex - 1));
    check(ex, sizeof ex - 1, "a" R R R "b" R "c" R R "d");
    check("\xED\xA0\x80", 3, R R R);          /* surrogate: ED takes only 80..9F */
    check("\xF4\x90\x80\x80", 4, R R R R);    /* above U+10FFFF */
    check("\xC0\xAF", 2, R R);                /* overlong */
    check("\xE0\x80\xAF", 3, R R R);          /* overlong */
    check("\xF0\x9F\x98", 3, R);              /* a character cut at the end: one replacement */
    check("\xF0\x9F\x98\x80", 4, "\xF0\x9F\x98\x80");
    check("h\xC3\xA9llo", 6, "h\xC3\xA9llo");
    check("", 0, "");
    assert_true(pd_utf8_valid("\xE2\x82\xAC", 3));
    assert_false(pd_utf8_valid("\xE2\x82", 2));
    /* the first ill-formed byte's offset (Table 3-8's example: F1 80 80 E1 80 C2 is cut at E1's C2) */
    assert_int_equal(pd_utf8_invalid_at(ex, sizeof ex - 1), 1);
    assert_int_equal(pd_utf8_invalid_at("h\xC3\xA9llo", 6), 6);
    assert_int_equal(pd_utf8_invalid_at("h\xC3\xA9l\xC0\xAF", 6), 4);
    assert_int_equal(pd_utf8_invalid_at("ab\xE2\x82", 4), 2);
    assert_int_equal(pd_utf8_invalid_at("", 0), 0);
}

static void test_print(void **st) {
    (void)st;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", "ok\xE4\xB8\n\"q\"");
    pd_json_add_u64(o, "seed", 9007199254740993ull);
    pd_json_add_u64(o, "max", UINT64_MAX);
    char *s = pd_json_print(o, false);
    assert_non_null(s);
    assert_string_equal(s, "{\"text\":\"ok" R "\\n\\\"q\\\"\",\"seed\":\"9007199254740993\",\"max\":\"18446744073709551615\"}");
    free(s);
    s = pd_json_print(o, true);
    assert_true(pd_utf8_valid(s, strlen(s)));
    cJSON *back = cJSON_Parse(s);
    assert_non_null(back);
    assert_string_equal(cJSON_GetObjectItem(back, "seed")->valuestring, "9007199254740993");
    assert_string_equal(cJSON_GetObjectItem(back, "text")->valuestring, "ok" R "\n\"q\"");
    cJSON_Delete(back);
    free(s);
    cJSON_Delete(o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_print),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
