/* tests/serve/test_request.c — the OpenAI request parser of `ponder serve` (serve/request.c):
 * every field read with its type and range, the reasoning controls mapped as documented, wrong
 * types refused with 400 naming the field, malformed JSON, and OpenAI's error shape. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include "ponder/serve_req.h"

static pd_sreq parse_ok(const char *body, pd_sreq_kind kind) {
    pd_sreq r;
    pd_serr e;
    bool ok = pd_sreq_parse(body, strlen(body), kind, &r, &e);
    if (!ok) print_error("unexpected error: %s\n", e.message);
    assert_true(ok);
    return r;
}

static pd_serr parse_err(const char *body, pd_sreq_kind kind) {
    pd_sreq r;
    pd_serr e;
    assert_false(pd_sreq_parse(body, strlen(body), kind, &r, &e));
    return e;
}

static void test_chat_fields(void **st) {
    (void)st;
    pd_sreq r = parse_ok("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                         "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
                         "{\"role\":\"assistant\",\"content\":\"4\",\"reasoning_content\":\"think\"},"
                         "{\"role\":\"developer\",\"content\":\"D\"}],"
                         "\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":3,\"min_p\":0.1,\"seed\":42,"
                         "\"stop\":[\"x\",\"yy\"],\"n\":3,\"logprobs\":true,\"top_logprobs\":4,\"presence_penalty\":1.5,"
                         "\"frequency_penalty\":-0.5,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                         "\"response_format\":{\"type\":\"json_object\"},\"user\":\"ignored\"}",
                         PD_SREQ_CHAT);
    assert_string_equal(r.model, "m");
    assert_int_equal(r.n_msgs, 4);
    assert_string_equal(r.msgs[1].content, "ab");
    assert_string_equal(r.msgs[2].role, "assistant");
    assert_string_equal(r.msgs[2].content, "4");          /* reasoning_content dropped */
    assert_string_equal(r.msgs[3].role, "system");        /* developer = system */
    assert_int_equal(r.max_tokens, 7);
    assert_true(r.has_temperature && r.temperature == 0.5 && r.top_p == 0.9 && r.top_k == 3 && r.min_p == 0.1);
    assert_true(r.has_seed && r.seed == 42);
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "yy");
    assert_int_equal(r.n, 3);
    assert_true(r.logprobs && r.top_logprobs == 4);
    assert_true(r.presence_penalty == 1.5 && r.frequency_penalty == -0.5);
    assert_true(r.stream && r.include_usage && r.json_object);
    assert_int_equal(r.thinking_budget, PD_SREQ_UNSET);
    pd_sreq_free(&r);
}

static void test_defaults_and_aliases(void **st) {
    (void)st;
    pd_sreq r = parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"max_tokens\":5,\"max_completion_tokens\":9,"
                         "\"stop\":\"END\",\"seed\":-1}", PD_SREQ_CHAT);
    assert_null(r.model);
    assert_int_equal(r.max_tokens, 9);      /* max_completion_tokens wins */
    assert_int_equal(r.n, 1);
    assert_false(r.has_temperature);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "END");
    assert_true(r.seed == UINT64_MAX);      /* -1 as two's complement */
    pd_sreq_free(&r);
    r = parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", PD_SREQ_CHAT);
    assert_int_equal(r.max_tokens, -1);
    pd_sreq_free(&r);
}

static void test_reasoning_controls(void **st) {
    (void)st;
    static const struct { const char *extra; int budget; } cases[] = {
        {"\"reasoning_effort\":\"low\"", PD_SREQ_EFFORT_LOW},
        {"\"reasoning_effort\":\"medium\"", PD_SREQ_EFFORT_MEDIUM},
        {"\"reasoning_effort\":\"high\"", -1},
        {"\"thinking_budget\":12", 12},
        {"\"thinking_token_budget\":13", 13},
        {"\"chat_template_kwargs\":{\"thinking_budget\":14}", 14},
        {"\"thinking_budget\":3,\"thinking_token_budget\":13", 3},          /* ponder's name wins */
        {"\"reasoning_effort\":\"low\",\"thinking_budget\":5", 5},
        {"\"chat_template_kwargs\":{\"enable_thinking\":false}", 0},
        {"\"chat_template_kwargs\":{\"enable_thinking\":true}", PD_SREQ_UNSET},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],%s}", cases[i].extra);
        pd_sreq r = parse_ok(body, PD_SREQ_CHAT);
        if (r.thinking_budget != cases[i].budget) print_error("case %s\n", cases[i].extra);
        assert_int_equal(r.thinking_budget, cases[i].budget);
        pd_sreq_free(&r);
    }
    pd_sreq r = parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"policy\":[\"s1:wait=1\",\"anytime:think=8\"],"
                         "\"answer_budget\":4,\"budget_message\":\"Stop.\"}", PD_SREQ_CHAT);
    assert_int_equal(r.n_policy, 2);
    assert_string_equal(r.policy[1], "anytime:think=8");
    assert_int_equal(r.answer_budget, 4);
    assert_string_equal(r.budget_message, "Stop.");
    pd_sreq_free(&r);
    pd_serr e = parse_err("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"thinking_budget\":5,"
                          "\"chat_template_kwargs\":{\"enable_thinking\":false}}", PD_SREQ_CHAT);
    assert_int_equal(e.status, 400);
}

static void test_completion(void **st) {
    (void)st;
    pd_sreq r = parse_ok("{\"prompt\":\"Once\",\"logprobs\":2,\"max_tokens\":3}", PD_SREQ_COMPLETION);
    assert_string_equal(r.prompt, "Once");
    assert_true(r.logprobs && r.top_logprobs == 2);
    pd_sreq_free(&r);
    r = parse_ok("{\"prompt\":[\"one\"]}", PD_SREQ_COMPLETION);
    assert_string_equal(r.prompt, "one");
    assert_false(r.logprobs);
    pd_sreq_free(&r);
    assert_int_equal(parse_err("{\"prompt\":[\"a\",\"b\"]}", PD_SREQ_COMPLETION).status, 400);
    assert_string_equal(parse_err("{\"messages\":[]}", PD_SREQ_COMPLETION).param, "prompt");
}

/* every wrong type is a 400 that names its field */
static void test_wrong_types(void **st) {
    (void)st;
    static const struct { const char *extra, *param; } cases[] = {
        {"\"temperature\":\"hot\"", "temperature"}, {"\"temperature\":3", "temperature"},
        {"\"top_p\":0", "top_p"},                   {"\"top_k\":1.5", "top_k"},
        {"\"min_p\":true", "min_p"},                {"\"seed\":\"7\"", "seed"},
        {"\"seed\":1.5", "seed"},                   {"\"max_tokens\":-1", "max_tokens"},
        {"\"max_completion_tokens\":\"9\"", "max_completion_tokens"},
        {"\"stop\":5", "stop"},                     {"\"stop\":[\"a\",\"\"]", "stop"},
        {"\"n\":0", "n"},                           {"\"n\":17", "n"},
        {"\"logprobs\":1", "logprobs"},             {"\"top_logprobs\":3", "top_logprobs"},
        {"\"logprobs\":true,\"top_logprobs\":21", "top_logprobs"},
        {"\"presence_penalty\":2.5", "presence_penalty"}, {"\"frequency_penalty\":[]", "frequency_penalty"},
        {"\"stream\":\"yes\"", "stream"},           {"\"stream_options\":true", "stream_options"},
        {"\"stream_options\":{\"include_usage\":1}", "include_usage"},
        {"\"response_format\":\"json\"", "response_format"},
        {"\"response_format\":{\"type\":\"json_schema\"}", "response_format.type"},
        {"\"reasoning_effort\":\"max\"", "reasoning_effort"}, {"\"reasoning_effort\":2", "reasoning_effort"},
        {"\"thinking_budget\":-2", "thinking_budget"}, {"\"thinking_token_budget\":\"x\"", "thinking_token_budget"},
        {"\"chat_template_kwargs\":[]", "chat_template_kwargs"},
        {"\"chat_template_kwargs\":{\"enable_thinking\":\"no\"}", "enable_thinking"},
        {"\"policy\":3", "policy"},                 {"\"answer_budget\":false", "answer_budget"},
        {"\"budget_message\":1", "budget_message"}, {"\"model\":1", "model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],%s}", cases[i].extra);
        pd_serr e = parse_err(body, PD_SREQ_CHAT);
        if (strcmp(e.param, cases[i].param)) print_error("case %s: param %s\n", cases[i].extra, e.param);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.param, cases[i].param);
        assert_non_null(strstr(e.message, cases[i].param));
    }
}

static void test_messages_errors(void **st) {
    (void)st;
    assert_string_equal(parse_err("{}", PD_SREQ_CHAT).param, "messages");
    assert_string_equal(parse_err("{\"messages\":{}}", PD_SREQ_CHAT).param, "messages");
    assert_string_equal(parse_err("{\"messages\":[]}", PD_SREQ_CHAT).param, "messages");
    assert_string_equal(parse_err("{\"messages\":[1]}", PD_SREQ_CHAT).param, "messages[0]");
    assert_string_equal(parse_err("{\"messages\":[{\"content\":\"x\"}]}", PD_SREQ_CHAT).param, "messages[0].role");
    assert_string_equal(parse_err("{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"tool\",\"content\":\"x\"}]}",
                                  PD_SREQ_CHAT).param, "messages[1].role");
    assert_string_equal(parse_err("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", PD_SREQ_CHAT).param,
                        "messages[0].content");
    assert_string_equal(parse_err("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
                                  PD_SREQ_CHAT).param, "messages[0].content");
    assert_string_equal(parse_err("{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\",\"reasoning_content\":1}]}",
                                  PD_SREQ_CHAT).param, "messages[0].reasoning_content");
}

static void test_malformed_and_shape(void **st) {
    (void)st;
    const char *bad[] = {"", "{", "[1,2]", "\"x\"", "{\"messages\":[}", "nul", "{\"messages\":[]} x", "{} {}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pd_serr e = parse_err(bad[i], PD_SREQ_CHAT);
        assert_int_equal(e.status, 400);
        char *j = pd_serr_json(&e);
        cJSON *p = cJSON_Parse(j);
        assert_non_null(p);
        cJSON *o = cJSON_GetObjectItemCaseSensitive(p, "error");
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "message")));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "type")->valuestring, "invalid_request_error");
        assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "param")));
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "code")->valuestring, "invalid_json");
        cJSON_Delete(p);
        free(j);
    }
    pd_serr e;
    pd_serr_set(&e, 429, NULL, NULL, "queue full");
    char *j = pd_serr_json(&e);
    assert_non_null(strstr(j, "\"type\":\"rate_limit_error\""));
    assert_non_null(strstr(j, "\"code\":null"));
    free(j);
}

static void test_continue_final(void **st) {
    (void)st;
    pd_sreq r = parse_ok("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"<think>\\n\"}],"
                         "\"continue_final_message\":true}", PD_SREQ_CHAT);
    assert_true(r.continue_final);
    pd_sreq_free(&r);
    pd_serr e = parse_err("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"continue_final_message\":true}", PD_SREQ_CHAT);
    assert_string_equal(e.param, "continue_final_message");
    e = parse_err("{\"messages\":[{\"role\":\"assistant\",\"content\":\"q\"}],\"continue_final_message\":1}", PD_SREQ_CHAT);
    assert_string_equal(e.param, "continue_final_message");
}

/* the canonical form parses back to itself */
static void test_canonical(void **st) {
    (void)st;
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"seed\":-5,\"temperature\":0.3,"
                       "\"reasoning_effort\":\"low\",\"policy\":\"s1\",\"stop\":\"S\",\"logprobs\":true}";
    pd_sreq r = parse_ok(body, PD_SREQ_CHAT);
    char *a = pd_sreq_to_json(&r);
    pd_sreq r2 = parse_ok(a, PD_SREQ_CHAT);
    char *b = pd_sreq_to_json(&r2);
    assert_string_equal(a, b);
    assert_true(r2.seed == r.seed && r2.thinking_budget == PD_SREQ_EFFORT_LOW);
    free(a);
    free(b);
    pd_sreq_free(&r);
    pd_sreq_free(&r2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_fields),       cmocka_unit_test(test_defaults_and_aliases),
        cmocka_unit_test(test_reasoning_controls), cmocka_unit_test(test_completion),
        cmocka_unit_test(test_wrong_types),       cmocka_unit_test(test_messages_errors),
        cmocka_unit_test(test_malformed_and_shape), cmocka_unit_test(test_canonical), cmocka_unit_test(test_continue_final),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
