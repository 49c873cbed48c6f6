/* fuzz/fuzz_sse.c — the SSE framing of `ponder serve`'s streamed replies (serve/respond.c) on
 * arbitrary model output: the text a model samples is untrusted bytes (a stop inside a UTF-8
 * character, stray bytes, NUL, CR/LF, quotes), and every byte of it goes into an event.
 *
 * Input: byte 0 = flags (bit 0 completion instead of chat, bit 1 include_usage, bit 2 finish
 * reason "length" instead of "stop"); then records: a header byte h (bit 0 slot: reasoning or
 * content, bit 1 attach a logprob entry, h >> 2 = length 0..63) followed by that many text bytes.
 * The records are sent as the engine sends them (role event, one text event per record, finish,
 * usage, [DONE]); the stream is then read back as a client would.
 * Properties: the stream is a sequence of `data: PAYLOAD\n\n` events and nothing else; no payload
 * holds CR or LF (either would end the event early for an SSE reader); every payload but the last
 * is valid UTF-8 JSON of the expected object type, the last is [DONE]; one event per record in
 * order; each text event carries its record's bytes exactly when they are valid UTF-8 without NUL,
 * and in general their sanitised form (ill-formed subparts and NUL as U+FFFD); the usage event is
 * there exactly when asked for.
 * fuzz-links: pd_serve */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/json.h"
#include "ponder/serve_engine.h"
#include "ponder/serve_resp.h"
#include "fuzz_util.h"
#include <cjson/cJSON.h>

/* What the text of a record must read as once decoded from its event. */
static char *expected_text(const uint8_t *t, size_t n) {
    char *tmp = malloc(3 * n + 1);
    MUST(tmp != NULL);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i]) { tmp[k++] = (char)t[i]; continue; }
        memcpy(tmp + k, "\xEF\xBF\xBD", 3);
        k += 3;
    }
    char *s = pd_utf8_sanitize(tmp, k, NULL);
    free(tmp);
    MUST(s != NULL);
    return s;
}

/* The next event's payload (malloc'd) or NULL at the end of the stream; *p advances. */
static char *next_event(const char **p, const char *end) {
    if (*p == end) return NULL;
    MUST(end - *p >= 8 && !memcmp(*p, "data: ", 6));
    const char *b = *p + 6, *e = b;
    while (e + 1 < end && !(e[0] == '\n' && e[1] == '\n')) {
        MUST(*e != '\n' && *e != '\r');
        e++;
    }
    MUST(e + 1 < end);
    *p = e + 2;
    char *s = pd_strndup(b, (size_t)(e - b));
    MUST(s != NULL);
    return s;
}

static const cJSON *choice0(const cJSON *ev, const char *object) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(ev, "object");
    MUST(cJSON_IsString(o) && !strcmp(o->valuestring, object));
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(ev, "choices");
    MUST(cJSON_IsArray(ch) && cJSON_GetArraySize(ch) == 1);
    const cJSON *c = cJSON_GetArrayItem(ch, 0);
    MUST(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c, "index")));
    return c;
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    pd_sjob *j = pd_sjob_new();
    MUST(j != NULL);
    bool completion = data[0] & 1;
    j->req.kind = completion ? PD_SREQ_COMPLETION : PD_SREQ_CHAT;
    j->req.include_usage = (data[0] & 2) != 0;
    j->req.n = 1;
    j->req.stream = true;
    j->created = 1700000000;
    j->n_prompt = 3;
    strcpy(j->id, "chatcmpl-fuzz");
    strcpy(j->model, "fuzz.gguf");
    j->ch[0].finish_reason = (data[0] & 4) ? "length" : "stop";
    const char *object = completion ? "text_completion" : "chat.completion.chunk";

    /* send */
    MUST(pd_resp_stream_role(j, 0));
    size_t off = 1;
    int n_rec = 0;
    while (off < size) {
        int slot = data[off] & 1, lp = (data[off] >> 1) & 1;
        size_t len = data[off] >> 2;
        off++;
        if (len > size - off) len = size - off;
        cJSON *arr = NULL;
        if (lp) {
            pd_sample s = {.token = (int32_t)len, .logprob = -(float)len / 8};
            arr = cJSON_CreateArray();
            MUST(arr != NULL);
            cJSON_AddItemToArray(arr, pd_resp_logprob(NULL, &s));
        }
        MUST(pd_resp_stream_text(j, 0, slot, (const char *)data + off, len, arr));
        j->ch[0].sent[slot] += len;
        if (slot == 0) j->ch[0].n_thinking++; else j->ch[0].n_answer++;
        off += len;
        n_rec++;
    }
    MUST(pd_resp_stream_finish(j, 0));
    MUST(pd_resp_stream_end(j));

    /* read back */
    const char *p = j->out, *end = j->out + j->out_len;
    MUST(strlen(j->out) == j->out_len);
    char *ev;
    if (!completion) {   /* the role event */
        ev = next_event(&p, end);
        MUST(ev != NULL);
        cJSON *o = cJSON_Parse(ev);
        MUST(o != NULL);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(choice0(o, object), "delta");
        MUST(str_of(d, "role") && !strcmp(str_of(d, "role"), "assistant"));
        cJSON_Delete(o);
        free(ev);
    }
    off = 1;
    for (int r = 0; r < n_rec; r++) {
        int slot = data[off] & 1, lp = (data[off] >> 1) & 1;
        size_t len = data[off] >> 2;
        off++;
        if (len > size - off) len = size - off;
        ev = next_event(&p, end);
        MUST(ev != NULL && utf8_valid(ev, strlen(ev)));
        cJSON *o = cJSON_Parse(ev);
        MUST(o != NULL);
        const cJSON *c = choice0(o, object);
        const cJSON *holder = completion ? c : cJSON_GetObjectItemCaseSensitive(c, "delta");
        const char *got = str_of(holder, slot == 0 ? "reasoning_content" : completion ? "text" : "content");
        MUST(got != NULL);
        char *want = expected_text(data + off, len);
        MUST(!strcmp(got, want));
        if (utf8_valid((const char *)data + off, len) && !memchr(data + off, 0, len))
            MUST(strlen(got) == len && !memcmp(got, data + off, len));
        free(want);
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(c, "logprobs");
        MUST(lp ? cJSON_IsObject(l) : cJSON_IsNull(l));
        cJSON_Delete(o);
        free(ev);
        off += len;
    }
    ev = next_event(&p, end);   /* finish */
    MUST(ev != NULL);
    cJSON *o = cJSON_Parse(ev);
    MUST(o != NULL);
    const char *fr = str_of(choice0(o, object), "finish_reason");
    MUST(fr && !strcmp(fr, (data[0] & 4) ? "length" : "stop"));
    cJSON_Delete(o);
    free(ev);
    if (j->req.include_usage) {
        ev = next_event(&p, end);
        MUST(ev != NULL);
        o = cJSON_Parse(ev);
        MUST(o != NULL);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "usage");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
        MUST(cJSON_IsNumber(ct) && ct->valueint == n_rec);
        MUST(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "choices")) == 0);
        cJSON_Delete(o);
        free(ev);
    }
    ev = next_event(&p, end);
    MUST(ev != NULL && !strcmp(ev, "[DONE]"));
    free(ev);
    MUST(next_event(&p, end) == NULL);
    pd_sjob_release(j);
    return 0;
}
