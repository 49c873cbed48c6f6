/* serve/respond.c — OpenAI-shaped output of `ponder serve` (ponder/serve_resp.h): SSE chunks as the
 * engine produces text, and the final body. Every document goes through pd_json_print, so a model
 * that stops inside a UTF-8 character still yields valid JSON (U+FFFD). */
#include "ponder/serve_resp.h"
#include "ponder/alloc.h"
#include "ponder/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *pd_resp_logprob(const pd_tokenizer *tok, const pd_sample *s) {
    cJSON *e = cJSON_CreateObject();
    if (!e) return NULL;
    for (int k = -1; k < s->n_top; k++) {
        int32_t id = k < 0 ? s->token : s->top[k].token;
        float lp = k < 0 ? s->logprob : s->top[k].logprob;
        size_t n = 0;
        const char *p = tok ? pd_tok_piece(tok, id, &n) : NULL;
        cJSON *x = k < 0 ? e : cJSON_CreateObject();
        if (!x) break;
        char *t = pd_utf8_sanitize(p ? p : "", p ? n : 0, NULL);
        cJSON_AddStringToObject(x, "token", t ? t : "");
        free(t);
        cJSON_AddNumberToObject(x, "logprob", lp);
        cJSON *b = cJSON_AddArrayToObject(x, "bytes");
        for (size_t i = 0; b && i < n; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber((unsigned char)p[i]));
        if (k < 0) cJSON_AddArrayToObject(e, "top_logprobs");
        else cJSON_AddItemToArray(cJSON_GetObjectItem(e, "top_logprobs"), x);
    }
    return e;
}

/* completions' logprobs from chat-shape entries; text offsets from `offset` */
static cJSON *completion_logprobs(const cJSON *entries, size_t offset) {
    cJSON *o = cJSON_CreateObject();
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens"), *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs"), *offs = cJSON_AddArrayToObject(o, "text_offset");
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) {
        const char *t = cJSON_GetObjectItem(e, "token")->valuestring;
        cJSON_AddItemToArray(toks, cJSON_CreateString(t));
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(cJSON_GetObjectItem(e, "logprob")->valuedouble));
        cJSON *m = cJSON_CreateObject(), *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(e, "top_logprobs"))
            if (!cJSON_GetObjectItem(m, cJSON_GetObjectItem(x, "token")->valuestring))
                cJSON_AddNumberToObject(m, cJSON_GetObjectItem(x, "token")->valuestring,
                                        cJSON_GetObjectItem(x, "logprob")->valuedouble);
        cJSON_AddItemToArray(tops, m);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        offset += cJSON_GetArraySize(cJSON_GetObjectItem(e, "bytes"));
    }
    return o;
}

static cJSON *logprobs_json(const pd_sjob *j, cJSON *entries, size_t offset) {
    if (j->req.kind == PD_SREQ_COMPLETION) {
        cJSON *o = completion_logprobs(entries, offset);
        cJSON_Delete(entries);
        return o;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "content", entries);
    return o;
}

static cJSON *envelope(const pd_sjob *j, bool chunk) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", j->req.kind == PD_SREQ_COMPLETION ? "text_completion"
                                         : chunk ? "chat.completion.chunk" : "chat.completion");
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", j->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "ponder");
    return o;
}

static cJSON *usage_json(const pd_sjob *j) {
    int comp = 0, think = 0;
    for (int c = 0; c < j->req.n; c++) { comp += j->ch[c].n_thinking + j->ch[c].n_answer; think += j->ch[c].n_thinking; }
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", comp);
    cJSON_AddNumberToObject(u, "total_tokens", j->n_prompt + comp);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "completion_tokens_details"), "reasoning_tokens", think);
    return u;
}

static bool emit_event(pd_sjob *j, cJSON *o) {
    char *s = o ? pd_json_print(o, false) : NULL;
    cJSON_Delete(o);
    if (!s) return false;
    bool ok = pd_sjob_emit(j, "data: ", 6) && pd_sjob_emit(j, s, strlen(s)) && pd_sjob_emit(j, "\n\n", 2);
    free(s);
    return ok;
}

/* an event with one choice; `delta` (chat) or the text fields (completions) filled by the caller */
static cJSON *chunk_choice(const pd_sjob *j, int choice, cJSON **root) {
    *root = envelope(j, true);
    cJSON *arr = *root ? cJSON_AddArrayToObject(*root, "choices") : NULL, *c = cJSON_CreateObject();
    if (!arr || !c) { cJSON_Delete(c); return NULL; }
    cJSON_AddItemToArray(arr, c);
    cJSON_AddNumberToObject(c, "index", choice);
    return c;
}

/* The n bytes of a text delta as a C string. A NUL byte (a byte-level tokenizer can sample one)
 * cannot travel in a cJSON string: it becomes U+FFFD like any other byte that is not text, so the
 * rest of the delta is not cut off at it. */
static char *text_dup(const char *t, size_t n) {
    size_t nul = 0;
    for (size_t i = 0; i < n; i++) nul += t[i] == 0;
    char *s = pd_malloc(n + 2 * nul + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (t[i]) { *o++ = t[i]; continue; }
        memcpy(o, "\xEF\xBF\xBD", 3);
        o += 3;
    }
    *o = 0;
    return s;
}

bool pd_resp_stream_role(pd_sjob *j, int choice) {
    if (j->req.kind == PD_SREQ_COMPLETION) return true;
    cJSON *root, *c = chunk_choice(j, choice, &root);
    if (!c) { cJSON_Delete(root); return false; }
    cJSON *d = cJSON_AddObjectToObject(c, "delta");
    cJSON_AddStringToObject(d, "role", "assistant");
    cJSON_AddStringToObject(d, "content", "");
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    return emit_event(j, root);
}

bool pd_resp_stream_text(pd_sjob *j, int choice, int slot, const char *t, size_t n, cJSON *lp) {
    cJSON *root, *c = chunk_choice(j, choice, &root);
    if (!c) { cJSON_Delete(root); cJSON_Delete(lp); return false; }
    char *s = text_dup(t, n);     /* pd_json_print sanitises the UTF-8 of the whole document */
    const char *key = slot == 0 ? "reasoning_content" : "content";
    if (j->req.kind == PD_SREQ_COMPLETION) {
        cJSON_AddStringToObject(c, "text", slot == 1 && s ? s : "");
        if (slot == 0) cJSON_AddStringToObject(c, key, s ? s : "");
    } else {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(c, "delta"), key, s ? s : "");
    }
    free(s);
    if (lp) cJSON_AddItemToObject(c, "logprobs", logprobs_json(j, lp, j->ch[choice].sent[1]));
    else cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    return emit_event(j, root);
}

bool pd_resp_stream_finish(pd_sjob *j, int choice) {
    cJSON *root, *c = chunk_choice(j, choice, &root);
    if (!c) { cJSON_Delete(root); return false; }
    if (j->req.kind == PD_SREQ_COMPLETION) cJSON_AddStringToObject(c, "text", "");
    else cJSON_AddObjectToObject(c, "delta");
    cJSON_AddNullToObject(c, "logprobs");
    const pd_schoice *ch = &j->ch[choice];
    if (ch->finish_reason) cJSON_AddStringToObject(c, "finish_reason", ch->finish_reason);
    else cJSON_AddNullToObject(c, "finish_reason");
    if (ch->finish_detail) cJSON_AddStringToObject(c, "finish_detail", ch->finish_detail);
    return emit_event(j, root);
}

bool pd_resp_stream_end(pd_sjob *j) {
    if (j->req.include_usage) {
        cJSON *root = envelope(j, true);
        if (!root) return false;
        cJSON_AddArrayToObject(root, "choices");
        cJSON_AddItemToObject(root, "usage", usage_json(j));
        if (!emit_event(j, root)) return false;
    }
    return pd_sjob_emit(j, "data: [DONE]\n\n", 14);
}

char *pd_resp_body(const pd_sjob *j) {
    cJSON *root = envelope(j, false);
    if (!root) return NULL;
    cJSON *arr = cJSON_AddArrayToObject(root, "choices");
    for (int i = 0; i < j->req.n; i++) {
        const pd_schoice *ch = &j->ch[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, c);
        cJSON_AddNumberToObject(c, "index", i);
        const char *r = ch->reasoning ? ch->reasoning : "", *t = ch->content ? ch->content : "";
        if (j->req.kind == PD_SREQ_COMPLETION) {
            cJSON_AddStringToObject(c, "text", t);
            if (*r) cJSON_AddStringToObject(c, "reasoning_content", r);
        } else {
            cJSON *m = cJSON_AddObjectToObject(c, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddStringToObject(m, "content", t);
            if (*r) cJSON_AddStringToObject(m, "reasoning_content", r);
            else cJSON_AddNullToObject(m, "reasoning_content");
        }
        if (j->req.logprobs && ch->lp_all) cJSON_AddItemToObject(c, "logprobs", logprobs_json(j, cJSON_Duplicate(ch->lp_all, 1), 0));
        else cJSON_AddNullToObject(c, "logprobs");
        if (ch->finish_reason) cJSON_AddStringToObject(c, "finish_reason", ch->finish_reason);
        else cJSON_AddNullToObject(c, "finish_reason");
        if (ch->finish_detail) cJSON_AddStringToObject(c, "finish_detail", ch->finish_detail);
    }
    cJSON_AddItemToObject(root, "usage", usage_json(j));
    char *s = pd_json_print(root, false);
    cJSON_Delete(root);
    return s;
}
