/* train/sft.c — one JSONL line → one SFT example, in the formats TRL reads (ponder/sft.h): chat
 * "messages", plain-text "prompt"/"completion" and conversational prompt/completion lists. The
 * completion's thinking comes from "reasoning_content" or a leading <think>...</think> in its
 * content. Pure over the line's bytes: no files, no tokenizer (data.c renders and tokenises). */
#include "ponder/sft.h"
#include "ponder/alloc.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

void pd_sft_example_free(pd_sft_example *e) {
    if (!e) return;
    for (int i = 0; i < e->n_msgs; i++) {
        free((char *)e->msgs[i].content);
        free((char *)e->msgs[i].reasoning);
    }
    free(e->msgs);
    free(e->text_prompt);
    free(e->answer);
    free(e->reasoning);
    memset(e, 0, sizeof *e);
}

static const char *role_of(const char *r) {
    static const char *const roles[] = {"system", "user", "assistant"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(r, roles[i])) return roles[i];
    return NULL;
}

/* msg i of array `key`: role and content checked; *role gets the static role string */
static pd_status check_msg(const cJSON *m, const char *key, int i, const char **role, const char **content) {
    if (!cJSON_IsObject(m)) return pd_fail(PD_ERR_FORMAT, "'%s'[%d] is not an object", key, i);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsString(r)) return pd_fail(PD_ERR_FORMAT, "'%s'[%d]: 'role' is missing or not a string", key, i);
    if (!(*role = role_of(r->valuestring)))
        return pd_fail(PD_ERR_FORMAT, "'%s'[%d]: role '%.40s' is not system, user or assistant", key, i, r->valuestring);
    if (!cJSON_IsString(c)) return pd_fail(PD_ERR_FORMAT, "'%s'[%d]: 'content' is missing or not a string", key, i);
    *content = c->valuestring;
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(m, "reasoning_content");
    if (rc && !cJSON_IsNull(rc) && !cJSON_IsString(rc))
        return pd_fail(PD_ERR_FORMAT, "'%s'[%d]: 'reasoning_content' is not a string", key, i);
    return PD_OK;
}

static bool is_nl(char c) { return c == '\n' || c == '\r'; }

/* The completion message: answer and reasoning. With no reasoning_content, a content that starts
 * (after whitespace) with <think> and holds </think> is split there, as the Qwen3 template does:
 * reasoning = the text between the markers, answer = the text after </think>, newlines trimmed. */
static pd_status take_completion(const cJSON *m, pd_sft_example *e) {
    const char *content = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(m, "reasoning_content");
    if (cJSON_IsString(rc)) {
        e->reasoning = pd_strdup(rc->valuestring);
        e->answer = pd_strdup(content);
        return e->reasoning && e->answer ? PD_OK : PD_ERR_NOMEM;
    }
    const char *s = content;
    while (*s == ' ' || *s == '\t' || is_nl(*s)) s++;
    const char *close = !strncmp(s, "<think>", 7) ? strstr(s + 7, "</think>") : NULL;
    if (!close) {
        if (strstr(content, "</think>"))
            return pd_fail(PD_ERR_FORMAT, "the assistant content holds '</think>' without a leading '<think>'");
        e->answer = pd_strdup(content);
        return e->answer ? PD_OK : PD_ERR_NOMEM;
    }
    const char *r0 = s + 7, *r1 = close;
    while (r0 < r1 && is_nl(*r0)) r0++;
    while (r1 > r0 && is_nl(r1[-1])) r1--;
    const char *a = close + 8;
    while (is_nl(*a)) a++;
    e->reasoning = pd_strndup(r0, (size_t)(r1 - r0));
    e->answer = pd_strdup(a);
    return e->reasoning && e->answer ? PD_OK : PD_ERR_NOMEM;
}

/* prompt messages from array `arr` (all of it, or without its last element when drop_last) */
static pd_status take_prompt(const cJSON *arr, const char *key, int n, pd_sft_example *e) {
    e->msgs = pd_calloc((size_t)(n > 0 ? n : 1), sizeof *e->msgs);
    if (!e->msgs) return PD_ERR_NOMEM;
    for (int i = 0; i < n; i++) {
        const char *role, *content;
        PD_TRY(check_msg(cJSON_GetArrayItem(arr, i), key, i, &role, &content));
        const cJSON *rc = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(arr, i), "reasoning_content");
        pd_chat_msg *m = &e->msgs[e->n_msgs++];
        m->role = role;
        m->content = pd_strdup(content);
        if (!m->content) return PD_ERR_NOMEM;
        if (cJSON_IsString(rc) && !strcmp(role, "assistant") && !(m->reasoning = pd_strdup(rc->valuestring)))
            return PD_ERR_NOMEM;
    }
    if (n == 0) return pd_fail(PD_ERR_FORMAT, "'%s' has no prompt message", key);
    return PD_OK;
}

static pd_status parse_obj(const cJSON *j, pd_sft_example *e) {
    if (!cJSON_IsObject(j)) return pd_fail(PD_ERR_FORMAT, "not a JSON object");
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(j, "prompt");
    const cJSON *comp = cJSON_GetObjectItemCaseSensitive(j, "completion");
    if (msgs && comp) return pd_fail(PD_ERR_FORMAT, "has both 'messages' and 'completion'");
    if (msgs) {
        if (!cJSON_IsArray(msgs)) return pd_fail(PD_ERR_FORMAT, "'messages' is not an array");
        int n = cJSON_GetArraySize(msgs);
        if (n < 2) return pd_fail(PD_ERR_FORMAT, "'messages' needs a prompt and an assistant reply (%d message%s)", n,
                                  n == 1 ? "" : "s");
        const char *role, *content;
        PD_TRY(check_msg(cJSON_GetArrayItem(msgs, n - 1), "messages", n - 1, &role, &content));
        if (strcmp(role, "assistant"))
            return pd_fail(PD_ERR_FORMAT, "'messages': the last message is '%s'; it must be the assistant's reply", role);
        e->kind = PD_SFT_CHAT;
        PD_TRY(take_prompt(msgs, "messages", n - 1, e));
        return take_completion(cJSON_GetArrayItem(msgs, n - 1), e);
    }
    if (!comp) return PD_OK; /* not an SFT line: a task item */
    if (!prompt) return pd_fail(PD_ERR_FORMAT, "has 'completion' but no 'prompt'");
    if (cJSON_IsString(prompt) && cJSON_IsString(comp)) {
        e->kind = PD_SFT_TEXT;
        e->text_prompt = pd_strdup(prompt->valuestring);
        e->answer = pd_strdup(comp->valuestring);
        return e->text_prompt && e->answer ? PD_OK : PD_ERR_NOMEM;
    }
    if (!cJSON_IsArray(prompt) || !cJSON_IsArray(comp))
        return pd_fail(PD_ERR_FORMAT, "'prompt' and 'completion' must both be strings or both be message lists");
    if (cJSON_GetArraySize(comp) != 1)
        return pd_fail(PD_ERR_FORMAT, "'completion' must hold exactly one (assistant) message, has %d",
                       cJSON_GetArraySize(comp));
    const char *role, *content;
    PD_TRY(check_msg(cJSON_GetArrayItem(comp, 0), "completion", 0, &role, &content));
    if (strcmp(role, "assistant"))
        return pd_fail(PD_ERR_FORMAT, "'completion'[0] is a '%s' message; it must be the assistant's", role);
    e->kind = PD_SFT_CHAT;
    PD_TRY(take_prompt(prompt, "prompt", cJSON_GetArraySize(prompt), e));
    return take_completion(cJSON_GetArrayItem(comp, 0), e);
}

pd_status pd_sft_parse_line(const char *line, size_t len, pd_sft_example *out) {
    memset(out, 0, sizeof *out);
    if (!line) return pd_fail(PD_ERR_ARG, "pd_sft_parse_line: NULL line");
    if (memchr(line, '\0', len)) return pd_fail(PD_ERR_FORMAT, "NUL byte in line");
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!j) return pd_fail(PD_ERR_FORMAT, "not valid JSON");
    while (end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
    pd_status st = end && end < line + len ? pd_fail(PD_ERR_FORMAT, "text after the JSON object") : parse_obj(j, out);
    cJSON_Delete(j);
    if (st != PD_OK) pd_sft_example_free(out);
    return st;
}
