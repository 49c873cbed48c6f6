/* gen/chat.c — chat templates by family (see ponder/chat.h). The Jinja text in a model file is only
 * used to recognise the family by its marker strings; rendering is a fixed layout per family,
 * written from the families' published templates. Qwen3 and DeepSeek-R1 drop the thinking of
 * earlier assistant turns exactly as their templates do. */
#include "ponder/chat.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include <string.h>

static const pd_chat_format formats[PD_CHAT_COUNT] = {
    [PD_CHAT_NONE] = {PD_CHAT_NONE, "none", NULL, NULL, false, NULL},
    [PD_CHAT_CHATML] = {PD_CHAT_CHATML, "chatml", "<think>", "</think>", false, "<|im_end|>"},
    [PD_CHAT_QWEN2] = {PD_CHAT_QWEN2, "qwen2", NULL, NULL, false, "<|im_end|>"},
    [PD_CHAT_QWEN3] = {PD_CHAT_QWEN3, "qwen3", "<think>", "</think>", false, "<|im_end|>"},
    [PD_CHAT_LLAMA3] = {PD_CHAT_LLAMA3, "llama3", NULL, NULL, false, "<|eot_id|>"},
    [PD_CHAT_PHI3] = {PD_CHAT_PHI3, "phi3", NULL, NULL, false, "<|end|>"},
    [PD_CHAT_PHI4MINI] = {PD_CHAT_PHI4MINI, "phi4-mini", NULL, NULL, false, "<|end|>"},
    [PD_CHAT_PHI4] = {PD_CHAT_PHI4, "phi4", "<think>", "</think>", false, "<|im_end|>"},
    [PD_CHAT_DEEPSEEK_R1] = {PD_CHAT_DEEPSEEK_R1, "deepseek-r1", "<think>", "</think>", true,
                             "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"},
    [PD_CHAT_QWQ] = {PD_CHAT_QWQ, "qwq", "<think>", "</think>", true, "<|im_end|>"},
};

#define R1_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define R1_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"

pd_chat_family pd_chat_detect(const char *t) {
    if (!t || !*t) return PD_CHAT_NONE;
    if (strstr(t, R1_USER) || strstr(t, R1_ASSISTANT)) return PD_CHAT_DEEPSEEK_R1;
    if (strstr(t, "<|start_header_id|>")) return PD_CHAT_LLAMA3;
    if (strstr(t, "<|im_sep|>")) return PD_CHAT_PHI4;
    if (strstr(t, "<|im_start|>")) {
        /* the generation prompt itself opens thinking (QwQ): "assistant\n<think>\n" in one literal */
        if (strstr(t, "assistant\\n<think>\\n") || strstr(t, "assistant\n<think>\n")) return PD_CHAT_QWQ;
        if (strstr(t, "<think>")) return PD_CHAT_QWEN3;
        if (strstr(t, "You are Qwen")) return PD_CHAT_QWEN2;
        return PD_CHAT_CHATML;
    }
    if (strstr(t, "<|user|>") || strstr(t, "<|assistant|>") || strstr(t, "<|end|>")) {
        /* Phi-3 puts a newline after every role tag and after <|end|>; Phi-4-mini none. The
         * newline appears either as a real character or as a "\n" escape inside the Jinja string. */
        if (strstr(t, "|>\n") || strstr(t, "|>\\n") || strstr(t, "|>' + '\\n'") || strstr(t, "|>' + '\n'"))
            return PD_CHAT_PHI3;
        return PD_CHAT_PHI4MINI;
    }
    return PD_CHAT_NONE;
}

int pd_chat_family_from_name(const char *name) {
    if (!name) return -1;
    static const struct { const char *n; pd_chat_family f; } alias[] = {
        {"r1", PD_CHAT_DEEPSEEK_R1}, {"deepseek", PD_CHAT_DEEPSEEK_R1}, {"qwen2.5", PD_CHAT_QWEN2},
        {"llama-3", PD_CHAT_LLAMA3}, {"phi-3", PD_CHAT_PHI3}, {"phi-4", PD_CHAT_PHI4},
        {"phi-4-mini", PD_CHAT_PHI4MINI}, {"raw", PD_CHAT_NONE},
    };
    for (int f = 0; f < PD_CHAT_COUNT; f++)
        if (!strcmp(name, formats[f].name)) return f;
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(name, alias[i].n)) return (int)alias[i].f;
    return -1;
}

const pd_chat_format *pd_chat_format_of(pd_chat_family f) {
    if ((int)f < 0 || f >= PD_CHAT_COUNT) return &formats[PD_CHAT_NONE];
    return &formats[f];
}

/* ---- small string helpers over (pointer, length) spans ---- */
typedef struct { const char *p; size_t n; } span;

static span sp(const char *s) { return (span){s, s ? strlen(s) : 0}; }
static span lstrip_nl(span s) { while (s.n && *s.p == '\n') { s.p++; s.n--; } return s; }
static span rstrip_nl(span s) { while (s.n && s.p[s.n - 1] == '\n') s.n--; return s; }
static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static span trim_ws(span s) {
    while (s.n && is_ws(*s.p)) { s.p++; s.n--; }
    while (s.n && is_ws(s.p[s.n - 1])) s.n--;
    return s;
}
/* First / last occurrence of needle in s; NULL if none. */
static const char *span_find(span s, const char *needle) {
    size_t k = strlen(needle);
    if (k > s.n) return NULL;
    for (size_t i = 0; i + k <= s.n; i++)
        if (!memcmp(s.p + i, needle, k)) return s.p + i;
    return NULL;
}
static const char *span_rfind(span s, const char *needle) {
    size_t k = strlen(needle);
    if (k > s.n) return NULL;
    for (size_t i = s.n - k + 1; i-- > 0;)
        if (!memcmp(s.p + i, needle, k)) return s.p + i;
    return NULL;
}

/* Split an assistant message into reasoning and answer as the Qwen3 template does:
 * answer = content.split('</think>')[-1].lstrip('\n');
 * reasoning = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n'). */
static void split_thinking(const pd_chat_msg *m, span *reasoning, span *answer) {
    span c = sp(m->content);
    if (m->reasoning) { *reasoning = sp(m->reasoning); *answer = c; return; }
    *reasoning = (span){"", 0};
    *answer = c;
    const char *last = span_rfind(c, "</think>");
    if (!last) return;
    const char *first = span_find(c, "</think>");
    const char *after = last + strlen("</think>");
    *answer = lstrip_nl((span){after, (size_t)(c.p + c.n - after)});
    span before = rstrip_nl((span){c.p, (size_t)(first - c.p)});
    const char *open = span_rfind(before, "<think>");
    if (open) {
        const char *s = open + strlen("<think>");
        before = (span){s, (size_t)(before.p + before.n - s)};
    }
    *reasoning = lstrip_nl(before);
}

typedef struct { pd_buf b; bool oom; } out_t;
static void put(out_t *o, span s) { if (!o->oom && pd_buf_append(&o->b, s.p, s.n)) o->oom = true; }
static void puts_(out_t *o, const char *s) { put(o, sp(s)); }

static bool role_ok(const char *r) { return r && (!strcmp(r, "system") || !strcmp(r, "user") || !strcmp(r, "assistant")); }

/* Families that keep thinking in history (none of the fixed ones drop it) write an assistant
 * turn's given reasoning wrapped in the markers; without markers the reasoning is left out. */
static void put_assistant_plain(out_t *o, const pd_chat_format *fmt, const pd_chat_msg *m) {
    if (m->reasoning && fmt->think_open) {
        puts_(o, fmt->think_open); puts_(o, "\n");
        put(o, sp(m->reasoning)); puts_(o, "\n");
        puts_(o, fmt->think_close); puts_(o, "\n\n");
    }
    puts_(o, m->content);
}

static void render_chatml(out_t *o, pd_chat_family f, const pd_chat_msg *msgs, int n) {
    const pd_chat_format *fmt = pd_chat_format_of(f);
    if (f == PD_CHAT_QWEN2 && (n == 0 || strcmp(msgs[0].role, "system")))
        puts_(o, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n");
    /* Qwen3: the index of the last user message; assistant turns after it keep their thinking. */
    int last_query = n - 1;
    for (int i = n - 1; i >= 0; i--)
        if (!strcmp(msgs[i].role, "user")) { last_query = i; break; }
    for (int i = 0; i < n; i++) {
        const pd_chat_msg *m = &msgs[i];
        puts_(o, "<|im_start|>");
        puts_(o, m->role);
        puts_(o, "\n");
        if (!strcmp(m->role, "assistant") && f == PD_CHAT_QWQ) {
            span reasoning, answer;
            split_thinking(m, &reasoning, &answer);
            put(o, answer);
        } else if (strcmp(m->role, "assistant") || f != PD_CHAT_QWEN3) {
            if (!strcmp(m->role, "assistant")) put_assistant_plain(o, fmt, m);
            else puts_(o, m->content);
        } else {
            span reasoning, answer;
            split_thinking(m, &reasoning, &answer);
            if (i > last_query && (i == n - 1 || reasoning.n)) {
                puts_(o, "<think>\n");
                put(o, rstrip_nl(lstrip_nl(reasoning)));
                puts_(o, "\n</think>\n\n");
                put(o, lstrip_nl(answer));
            } else {
                put(o, answer);
            }
        }
        puts_(o, "<|im_end|>\n");
    }
}

static void render_simple(out_t *o, pd_chat_family f, const pd_chat_msg *msgs, int n) {
    const pd_chat_format *fmt = pd_chat_format_of(f);
    for (int i = 0; i < n; i++) {
        const pd_chat_msg *m = &msgs[i];
        bool asst = !strcmp(m->role, "assistant");
        switch (f) {
        case PD_CHAT_LLAMA3:
            puts_(o, "<|start_header_id|>"); puts_(o, m->role); puts_(o, "<|end_header_id|>\n\n");
            put(o, trim_ws(sp(m->content)));
            puts_(o, "<|eot_id|>");
            break;
        case PD_CHAT_PHI3:
        case PD_CHAT_PHI4MINI:
            puts_(o, "<|"); puts_(o, m->role); puts_(o, f == PD_CHAT_PHI3 ? "|>\n" : "|>");
            if (asst) put_assistant_plain(o, fmt, m); else puts_(o, m->content);
            puts_(o, f == PD_CHAT_PHI3 ? "<|end|>\n" : "<|end|>");
            break;
        case PD_CHAT_PHI4:
            puts_(o, "<|im_start|>"); puts_(o, m->role); puts_(o, "<|im_sep|>");
            if (asst) put_assistant_plain(o, fmt, m); else puts_(o, m->content);
            puts_(o, "<|im_end|>");
            break;
        default: /* NONE: raw concatenation */
            if (asst) put_assistant_plain(o, fmt, m); else puts_(o, m->content);
            break;
        }
    }
}

static void render_r1(out_t *o, const pd_chat_msg *msgs, int n) {
    /* The template collects the system prompt first (the last system message wins) and writes it
     * before everything else. */
    const char *system = NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(msgs[i].role, "system")) system = msgs[i].content;
    if (system) puts_(o, system);
    for (int i = 0; i < n; i++) {
        const pd_chat_msg *m = &msgs[i];
        if (!strcmp(m->role, "user")) {
            puts_(o, R1_USER);
            puts_(o, m->content);
        } else if (!strcmp(m->role, "assistant")) {
            span c = sp(m->content);
            const char *last = span_rfind(c, "</think>");
            if (last) {
                const char *a = last + strlen("</think>");
                c = (span){a, (size_t)(c.p + c.n - a)};
            }
            puts_(o, R1_ASSISTANT);
            put(o, c);
            puts_(o, pd_chat_format_of(PD_CHAT_DEEPSEEK_R1)->end_of_turn);
        }
    }
}

char *pd_chat_render(pd_chat_family f, const pd_chat_msg *msgs, int n, bool add_generation_prompt,
                     bool enable_thinking) {
    if ((int)f < 0 || f >= PD_CHAT_COUNT) { pd_fail(PD_ERR_ARG, "chat: unknown template family %d", (int)f); return NULL; }
    if (n < 0 || (n > 0 && !msgs)) { pd_fail(PD_ERR_ARG, "chat: %d messages at %p", n, (const void *)msgs); return NULL; }
    for (int i = 0; i < n; i++) {
        if (!role_ok(msgs[i].role)) {
            pd_fail(PD_ERR_ARG, "chat: message %d: role '%s' is not system, user or assistant", i,
                    msgs[i].role ? msgs[i].role : "(null)");
            return NULL;
        }
        if (!msgs[i].content) { pd_fail(PD_ERR_ARG, "chat: message %d (%s): content is NULL", i, msgs[i].role); return NULL; }
    }
    const pd_chat_format *fmt = pd_chat_format_of(f);
    out_t o = {{0}, false};
    switch (f) {
    case PD_CHAT_CHATML: case PD_CHAT_QWEN2: case PD_CHAT_QWEN3: case PD_CHAT_QWQ: render_chatml(&o, f, msgs, n); break;
    case PD_CHAT_DEEPSEEK_R1: render_r1(&o, msgs, n); break;
    default: render_simple(&o, f, msgs, n); break;
    }
    if (add_generation_prompt) {
        switch (f) {
        case PD_CHAT_CHATML: case PD_CHAT_QWEN2: case PD_CHAT_QWEN3: puts_(&o, "<|im_start|>assistant\n"); break;
        case PD_CHAT_QWQ: puts_(&o, "<|im_start|>assistant\n<think>\n"); break;
        case PD_CHAT_LLAMA3: puts_(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n"); break;
        case PD_CHAT_PHI3: puts_(&o, "<|assistant|>\n"); break;
        case PD_CHAT_PHI4MINI: puts_(&o, "<|assistant|>"); break;
        case PD_CHAT_PHI4: puts_(&o, "<|im_start|>assistant<|im_sep|>"); break;
        case PD_CHAT_DEEPSEEK_R1: puts_(&o, R1_ASSISTANT "<think>\n"); break;
        default: break;
        }
        if (!enable_thinking && fmt->think_open) {
            if (fmt->prompt_opens_thinking) puts_(&o, "\n");
            else { puts_(&o, fmt->think_open); puts_(&o, "\n\n"); }
            puts_(&o, fmt->think_close);
            puts_(&o, "\n\n");
        }
    }
    puts_(&o, ""); /* an empty result is still an allocated string */
    if (o.oom) { pd_buf_free(&o.b); return NULL; }
    return o.b.data;
}
