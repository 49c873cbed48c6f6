/* tests/gen/test_chat.c — chat template families: detection from the fixtures' real Jinja templates
 * (tiny-qwen3: Qwen3-0.6B, tiny-qwen2: Qwen2.5-Instruct) and from the published templates of the
 * other families; rendering checked against the fixture's chat prompt and hand-expanded templates. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/chat.h"
#include "ponder/error.h"

#define FIX PD_SHARED_DIR "/fixtures/models/"

/* Read tokenizer.chat_template straight from the GGUF bytes (key, u32 type 8, u64 length, text):
 * an independent route that does not depend on the GGUF reader under test elsewhere. */
static char *template_of(const char *path) {
    size_t len;
    char *data = pd_read_file(path, &len);
    assert_non_null(data);
    const char *key = "tokenizer.chat_template";
    size_t k = strlen(key);
    char *res = NULL;
    for (size_t i = 8; i + k + 12 < len; i++) {
        if (memcmp(data + i, key, k)) continue;
        uint64_t klen;
        memcpy(&klen, data + i - 8, 8);
        if (klen != k) continue;
        uint32_t type;
        uint64_t n;
        memcpy(&type, data + i + k, 4);
        memcpy(&n, data + i + k + 4, 8);
        assert_int_equal(type, 8);
        assert_true(i + k + 12 + n <= len);
        res = pd_strndup(data + i + k + 12, n);
        break;
    }
    free(data);
    assert_non_null(res);
    return res;
}

/* The fixture prompt text: pieces of <name>.tokens.txt with "\n" escapes undone. */
static char *fixture_prompt(const char *path) {
    size_t len;
    char *data = pd_read_file(path, &len);
    assert_non_null(data);
    pd_buf out = {0};
    char *line = data;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char *tab = strchr(line, '\t');
        if (tab) {
            for (char *p = tab + 1; *p; p++) {
                if (p[0] == '\\' && p[1] == 'n') { pd_buf_append(&out, "\n", 1); p++; }
                else if (p[0] == '\\' && p[1] == 't') { pd_buf_append(&out, "\t", 1); p++; }
                else pd_buf_append(&out, p, 1);
            }
        }
        if (!nl) break;
        line = nl + 1;
    }
    free(data);
    pd_buf_append(&out, "", 0);
    return out.data;
}

static void test_detect_fixtures(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    char *q3 = template_of(FIX "tiny-qwen3.gguf");
    char *q2 = template_of(FIX "tiny-qwen2.gguf");
    assert_int_equal(pd_chat_detect(q3), PD_CHAT_QWEN3);
    assert_int_equal(pd_chat_detect(q2), PD_CHAT_QWEN2);
    free(q3);
    free(q2);
    assert_int_equal(pd_chat_detect(NULL), PD_CHAT_NONE);
    assert_int_equal(pd_chat_detect(""), PD_CHAT_NONE);
    assert_int_equal(pd_chat_detect("{{ messages[0].content }}"), PD_CHAT_NONE);
}

static void test_qwen3_matches_fixture_prompt(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    char *want = fixture_prompt(FIX "tiny-qwen3.chat.tokens.txt");
    pd_chat_msg m[] = {{"user", "Question: what is 12+35?", NULL}};
    char *got = pd_chat_render(PD_CHAT_QWEN3, m, 1, true, true);
    assert_non_null(got);
    /* The fixture prompt is the generation prompt with the thinking opener the model writes first. */
    const pd_chat_format *f = pd_chat_format_of(PD_CHAT_QWEN3);
    assert_false(f->prompt_opens_thinking);
    size_t n = strlen(got);
    assert_true(strlen(want) == n + strlen("<think>\n"));
    assert_memory_equal(want, got, n);
    assert_string_equal(want + n, "<think>\n");
    assert_string_equal(f->think_open, "<think>");
    assert_string_equal(f->think_close, "</think>");
    free(got);
    /* enable_thinking=false: the template's empty thinking block. */
    got = pd_chat_render(PD_CHAT_QWEN3, m, 1, true, false);
    assert_string_equal(got, "<|im_start|>user\nQuestion: what is 12+35?<|im_end|>\n<|im_start|>assistant\n"
                             "<think>\n\n</think>\n\n");
    free(got);
    free(want);
}

/* Qwen3 template expanded by hand: the first system message, earlier assistant turns lose their
 * thinking, the final assistant turn (after the last user message) keeps it. */
static void test_qwen3_multiturn(void **st) {
    (void)st;
    pd_chat_msg m[] = {
        {"system", "Be brief.", NULL},
        {"user", "2+2?", NULL},
        {"assistant", "<think>\nadd them\n</think>\n\n4", NULL},
        {"user", "3+3?", NULL},
        {"assistant", "6", "\n\nadd again\n"},
    };
    char *got = pd_chat_render(PD_CHAT_QWEN3, m, 5, false, true);
    assert_string_equal(got,
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\n3+3?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nadd again\n</think>\n\n6<|im_end|>\n");
    free(got);
    /* The last turn without reasoning still gets an (empty) thinking block, as the template does. */
    pd_chat_msg m2[] = {{"user", "hi", NULL}, {"assistant", "hello", NULL}};
    got = pd_chat_render(PD_CHAT_QWEN3, m2, 2, false, true);
    assert_string_equal(got, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nhello<|im_end|>\n");
    free(got);
    /* Thinking embedded in the content, with text around the markers. */
    pd_chat_msg m3[] = {{"user", "q", NULL}, {"assistant", "<think>\n\nstep 1\nstep 2\n\n</think>\n\n\nanswer", NULL}};
    got = pd_chat_render(PD_CHAT_QWEN3, m3, 2, false, true);
    assert_string_equal(got, "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\nstep 1\nstep 2\n</think>\n\nanswer<|im_end|>\n");
    free(got);
}

static void test_qwen2_default_system(void **st) {
    (void)st;
    pd_chat_msg m[] = {{"user", "hi", NULL}, {"assistant", "hello", NULL}, {"user", "bye", NULL}};
    char *got = pd_chat_render(PD_CHAT_QWEN2, m, 3, true, true);
    assert_string_equal(got,
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n"
        "<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n");
    free(got);
    pd_chat_msg s[] = {{"system", "S", NULL}, {"user", "hi", NULL}};
    got = pd_chat_render(PD_CHAT_QWEN2, s, 2, false, true);
    assert_string_equal(got, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n");
    free(got);
    /* Qwen2.5 has no thinking: enable_thinking=false changes nothing. */
    got = pd_chat_render(PD_CHAT_QWEN2, s, 2, true, false);
    assert_string_equal(got, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    free(got);
}

/* DeepSeek-R1(-Distill) template (published tokenizer_config, abridged to the parts that decide). */
static const char *r1_tmpl =
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}"
    "{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{{'<\xef\xbd\x9cUser\xef\xbd\x9c>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>' + content + '<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>'}}"
    "{%- endif %}{%- endfor -%}{% if add_generation_prompt %}{{'<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>\\n'}}{% endif %}";

static void test_deepseek_r1(void **st) {
    (void)st;
    assert_int_equal(pd_chat_detect(r1_tmpl), PD_CHAT_DEEPSEEK_R1);
    const pd_chat_format *f = pd_chat_format_of(PD_CHAT_DEEPSEEK_R1);
    assert_true(f->prompt_opens_thinking);
    pd_chat_msg m[] = {{"system", "SYS", NULL}, {"user", "1+1?", NULL}, {"assistant", "<think>\nhmm\n</think>\n\n2", NULL},
                       {"user", "2+2?", NULL}};
    char *got = pd_chat_render(PD_CHAT_DEEPSEEK_R1, m, 4, true, true);
    assert_string_equal(got, "SYS<\xef\xbd\x9cUser\xef\xbd\x9c>1+1?<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>\n\n2"
                             "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
                             "<\xef\xbd\x9cUser\xef\xbd\x9c>2+2?<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>\n");
    free(got);
    got = pd_chat_render(PD_CHAT_DEEPSEEK_R1, m + 1, 1, true, false);
    assert_string_equal(got, "<\xef\xbd\x9cUser\xef\xbd\x9c>1+1?<\xef\xbd\x9c" "Assistant\xef\xbd\x9c><think>\n\n</think>\n\n");
    free(got);
}

static void test_llama3_phi(void **st) {
    (void)st;
    const char *llama3 =
        "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
        "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
        "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
    const char *phi3 =
        "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + "
        "'<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
        "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";
    const char *phi4mini =
        "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";
    const char *phi4 =
        "{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + "
        "message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + "
        "message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'assistant') %}{{'<|im_start|>assistant<|im_sep|>' + "
        "message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}{% if add_generation_prompt %}"
        "{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}";
    assert_int_equal(pd_chat_detect(llama3), PD_CHAT_LLAMA3);
    assert_int_equal(pd_chat_detect(phi3), PD_CHAT_PHI3);
    assert_int_equal(pd_chat_detect(phi4mini), PD_CHAT_PHI4MINI);
    assert_int_equal(pd_chat_detect(phi4), PD_CHAT_PHI4);
    assert_int_equal(pd_chat_detect("{% for m in messages %}{{'<|im_start|>' + m.role + '\n' + m.content + '<|im_end|>\n'}}{% endfor %}"),
                     PD_CHAT_CHATML);

    pd_chat_msg m[] = {{"system", "S", NULL}, {"user", " hi \n", NULL}, {"assistant", "yo", NULL}, {"user", "q", NULL}};
    char *got = pd_chat_render(PD_CHAT_LLAMA3, m, 4, true, true);
    assert_string_equal(got,
                             "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
                             "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\nyo<|eot_id|>"
                             "<|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|>"
                             "<|start_header_id|>assistant<|end_header_id|>\n\n");
    free(got);
    got = pd_chat_render(PD_CHAT_PHI3, m + 1, 2, true, true);
    assert_string_equal(got, "<|user|>\n hi \n<|end|>\n<|assistant|>\nyo<|end|>\n<|assistant|>\n");
    free(got);
    got = pd_chat_render(PD_CHAT_PHI4MINI, m, 2, true, true);
    assert_string_equal(got, "<|system|>S<|end|><|user|> hi \n<|end|><|assistant|>");
    free(got);
    got = pd_chat_render(PD_CHAT_PHI4, m, 2, true, true);
    assert_string_equal(got, "<|im_start|>system<|im_sep|>S<|im_end|><|im_start|>user<|im_sep|> hi \n<|im_end|>"
                             "<|im_start|>assistant<|im_sep|>");
    free(got);
    /* Llama-3 has no thinking markers: --no-think is a no-op for the prompt. */
    assert_null(pd_chat_format_of(PD_CHAT_LLAMA3)->think_open);
    got = pd_chat_render(PD_CHAT_LLAMA3, m + 3, 1, true, false);
    assert_string_equal(got, "<|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    free(got);
}

/* QwQ-32B: ChatML whose generation prompt opens thinking (published template, abridged). */
static void test_qwq(void **st) {
    (void)st;
    const char *qwq =
        "{%- for message in messages %}{%- if (message.role == \"user\") %}{{- '<|im_start|>' + message.role + "
        "'\\n' + message.content + '<|im_end|>' + '\\n' }}{%- elif message.role == \"assistant\" %}"
        "{%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}{{- '<|im_start|>' + message.role + "
        "'\\n' + content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}"
        "{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}";
    assert_int_equal(pd_chat_detect(qwq), PD_CHAT_QWQ);
    assert_true(pd_chat_format_of(PD_CHAT_QWQ)->prompt_opens_thinking);
    pd_chat_msg m[] = {{"user", "a", NULL}, {"assistant", "<think>\nr\n</think>\n\nA", NULL}, {"user", "b", NULL}};
    char *got = pd_chat_render(PD_CHAT_QWQ, m, 3, true, true);
    assert_string_equal(got, "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n"
                             "<|im_start|>user\nb<|im_end|>\n<|im_start|>assistant\n<think>\n");
    free(got);
    got = pd_chat_render(PD_CHAT_QWQ, m + 2, 1, true, false);
    assert_string_equal(got, "<|im_start|>user\nb<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    free(got);
}

static void test_none_and_names(void **st) {
    (void)st;
    pd_chat_msg m[] = {{"user", "Once upon", NULL}, {"assistant", " a time", NULL}};
    char *got = pd_chat_render(PD_CHAT_NONE, m, 2, true, false);
    assert_string_equal(got, "Once upon a time");
    free(got);
    got = pd_chat_render(PD_CHAT_NONE, NULL, 0, true, true);
    assert_string_equal(got, "");
    free(got);
    for (int f = 0; f < PD_CHAT_COUNT; f++)
        assert_int_equal(pd_chat_family_from_name(pd_chat_format_of((pd_chat_family)f)->name), f);
    assert_int_equal(pd_chat_family_from_name("r1"), PD_CHAT_DEEPSEEK_R1);
    assert_int_equal(pd_chat_family_from_name("vicuna"), -1);
}

static void test_errors(void **st) {
    (void)st;
    pd_chat_msg bad[] = {{"user", "a", NULL}, {"tool", "b", NULL}};
    assert_null(pd_chat_render(PD_CHAT_QWEN3, bad, 2, true, true));
    assert_non_null(strstr(pd_last_error(), "message 1"));
    assert_non_null(strstr(pd_last_error(), "tool"));
    pd_chat_msg nul[] = {{"user", NULL, NULL}};
    assert_null(pd_chat_render(PD_CHAT_CHATML, nul, 1, true, true));
    assert_non_null(strstr(pd_last_error(), "content"));
    assert_null(pd_chat_render((pd_chat_family)99, NULL, 0, true, true));
    assert_null(pd_chat_render(PD_CHAT_CHATML, NULL, 2, true, true));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect_fixtures),
        cmocka_unit_test(test_qwen3_matches_fixture_prompt),
        cmocka_unit_test(test_qwen3_multiturn),
        cmocka_unit_test(test_qwen2_default_system),
        cmocka_unit_test(test_deepseek_r1),
        cmocka_unit_test(test_llama3_phi),
        cmocka_unit_test(test_qwq),
        cmocka_unit_test(test_none_and_names),
        cmocka_unit_test(test_errors),
    };
    return pd_run_tests(tests, NULL, NULL);
}
