/* fuzz/fuzz_chat.c — chat-template rendering of arbitrary conversations, and family detection from an
 * arbitrary template text (tokenizer.chat_template comes from the model file).
 *
 * Input: h[0] family (mod PD_CHAT_COUNT), h[1] bit 0 add_generation_prompt, bit 1 enable_thinking;
 * then messages, '\0'-separated fields, each message = role byte (0 system, 1 user, 2 assistant, 3: the
 * next field is the role text), content, and for assistants a reasoning field whose first byte says
 * whether it is given (1) or NULL (taken from the content). The whole input is also a template text.
 * Properties: a conversation of known roles always renders (only unknown roles are refused, with an
 * error); rendering is deterministic; when every text is valid UTF-8 the rendering is too (the
 * </think> split never cuts a character); every user content appears in the rendering verbatim
 * (whitespace-trimmed).
 * fuzz-links: pd_gen */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/chat.h"
#include "ponder/error.h"
#include "fuzz_util.h"

#define MAX_MSG 16

static char *field(const uint8_t **p, const uint8_t *end, bool *more) {
    const uint8_t *z = memchr(*p, 0, (size_t)(end - *p));
    size_t n = (size_t)((z ? z : end) - *p);
    char *s = malloc(n + 1);
    MUST(s != NULL);
    memcpy(s, *p, n);
    s[n] = 0;
    *p = z ? z + 1 : end;
    *more = z != NULL;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *whole = malloc(size + 1);
    MUST(whole != NULL);
    memcpy(whole, data, size);
    whole[size] = 0;
    pd_chat_family det = pd_chat_detect(whole);
    MUST(det >= PD_CHAT_NONE && det < PD_CHAT_COUNT && pd_chat_format_of(det) != NULL);
    free(whole);
    if (size < 2) return 0;

    pd_chat_family fam = (pd_chat_family)(data[0] % PD_CHAT_COUNT);
    bool gen = data[1] & 1, think = data[1] & 2;
    const uint8_t *p = data + 2, *end = data + size;
    pd_chat_msg msgs[MAX_MSG];
    char *owned[MAX_MSG * 3];
    int n_owned = 0, n = 0;
    bool known_roles = true, all_utf8 = true, more = p < end;
    static const char *const roles[3] = {"system", "user", "assistant"};
    while (more && p < end && n < MAX_MSG) {
        uint8_t r = *p++;
        pd_chat_msg *m = &msgs[n++];
        memset(m, 0, sizeof *m);
        if (r % 4 == 3) {
            char *rt = owned[n_owned++] = field(&p, end, &more);
            m->role = rt;
            known_roles &= !strcmp(rt, "system") || !strcmp(rt, "user") || !strcmp(rt, "assistant");
        } else {
            m->role = roles[r % 4];
        }
        char *c = owned[n_owned++] = field(&p, end, &more);
        m->content = c;
        all_utf8 &= utf8_valid(c, strlen(c));
        if (!strcmp(m->role, "assistant") && more) {
            char *rs = owned[n_owned++] = field(&p, end, &more);
            if (rs[0] == 1) {
                m->reasoning = rs + 1;
                all_utf8 &= utf8_valid(rs + 1, strlen(rs + 1));
            }
        }
    }
    pd_clear_error();
    char *out = pd_chat_render(fam, msgs, n, gen, think);
    if (!out) {
        MUST(!known_roles);
        MUST(strcmp(pd_last_error(), "no error") != 0);
    } else {
        char *again = pd_chat_render(fam, msgs, n, gen, think);
        MUST(again && !strcmp(out, again));
        free(again);
        if (all_utf8) MUST(utf8_valid(out, strlen(out)));
        for (int i = 0; i < n; i++)
            if (!strcmp(msgs[i].role, "user")) { /* Llama 3 trims contents (space, tab, CR, LF) */
                const char *c = msgs[i].content;
                size_t cl = strlen(c);
                while (cl && strchr(" \t\r\n", c[0])) { c++; cl--; }
                while (cl && strchr(" \t\r\n", c[cl - 1])) cl--;
                MUST(memmem(out, strlen(out), c, cl) != NULL);
            }
        free(out);
    }
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    return 0;
}
