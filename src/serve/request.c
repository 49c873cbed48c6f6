/* serve/request.c — parsing and checking an OpenAI request body (ponder/serve_req.h): cJSON tree →
 * pd_sreq with defaults, or a pd_serr carrying the HTTP status and OpenAI's error shape. Pure (no
 * model, no globals), so the fuzz target can run it on any bytes. Field readers take the field name,
 * so every type error names the field it is about. */
#include "ponder/serve_req.h"
#include "ponder/alloc.h"
#include "ponder/json.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool pd_serr_set(pd_serr *e, int status, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    e->code = code;
    e->type = status == 401 ? "authentication_error"
            : status == 429 ? "rate_limit_error"
            : status >= 500 ? "server_error"
            : "invalid_request_error";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

char *pd_serr_json(const pd_serr *e) {
    cJSON *root = cJSON_CreateObject(), *o = root ? cJSON_AddObjectToObject(root, "error") : NULL;
    char *s = NULL;
    if (o && cJSON_AddStringToObject(o, "message", e->message) && cJSON_AddStringToObject(o, "type", e->type)) {
        if (e->param[0]) cJSON_AddStringToObject(o, "param", e->param);
        else cJSON_AddNullToObject(o, "param");
        if (e->code) cJSON_AddStringToObject(o, "code", e->code);
        else cJSON_AddNullToObject(o, "code");
        s = pd_json_print(root, false);
    }
    cJSON_Delete(root);
    return s;
}

/* ---- typed field readers: absent (or null) leaves *out alone and returns true ---- */

static const cJSON *field(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static bool get_num(const cJSON *o, const char *k, double lo, double hi, double *out, bool *has, pd_serr *e) {
    const cJSON *v = field(o, k);
    if (!v) return true;
    if (!cJSON_IsNumber(v)) return pd_serr_set(e, 400, k, "invalid_type", "'%s' must be a number", k);
    if (!isfinite(v->valuedouble) || v->valuedouble < lo || v->valuedouble > hi)
        return pd_serr_set(e, 400, k, "invalid_value", "'%s' is %g; it must be in [%g, %g]", k, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    if (has) *has = true;
    return true;
}

static bool get_int(const cJSON *o, const char *k, long long lo, long long hi, int *out, bool *has, pd_serr *e) {
    const cJSON *v = field(o, k);
    if (!v) return true;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || !isfinite(d))
        return pd_serr_set(e, 400, k, "invalid_type", "'%s' must be an integer", k);
    if (d < (double)lo || d > (double)hi)
        return pd_serr_set(e, 400, k, "invalid_value", "'%s' is %.0f; it must be in [%lld, %lld]", k, d, lo, hi);
    *out = (int)d;
    if (has) *has = true;
    return true;
}

static bool get_bool(const cJSON *o, const char *k, bool *out, pd_serr *e) {
    const cJSON *v = field(o, k);
    if (!v) return true;
    if (!cJSON_IsBool(v)) return pd_serr_set(e, 400, k, "invalid_type", "'%s' must be a boolean", k);
    *out = cJSON_IsTrue(v);
    return true;
}

static bool dup_str(const char *s, char **out, pd_serr *e) {
    if (!(*out = pd_strdup(s))) return pd_serr_set(e, 500, NULL, NULL, "out of memory");
    return true;
}

static bool get_str(const cJSON *o, const char *k, char **out, pd_serr *e) {
    const cJSON *v = field(o, k);
    if (!v) return true;
    if (!cJSON_IsString(v)) return pd_serr_set(e, 400, k, "invalid_type", "'%s' must be a string", k);
    free(*out);
    *out = NULL;
    return dup_str(v->valuestring, out, e);
}

/* A string, or an array of strings (each non-empty, at most max); name for messages. */
static bool get_str_list(const cJSON *v, const char *name, char **out, int *n, int max, pd_serr *e) {
    if (!v) return true;
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return pd_serr_set(e, 400, name, "invalid_value", "'%s' must not be empty", name);
        *n = 1;
        return dup_str(v->valuestring, &out[0], e);
    }
    if (!cJSON_IsArray(v)) return pd_serr_set(e, 400, name, "invalid_type", "'%s' must be a string or an array of strings", name);
    int k = cJSON_GetArraySize(v);
    if (k > max) return pd_serr_set(e, 400, name, "invalid_value", "'%s' has %d entries; at most %d", name, k, max);
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it) || !it->valuestring[0])
            return pd_serr_set(e, 400, name, "invalid_type", "'%s[%d]' must be a non-empty string", name, i);
        if (!dup_str(it->valuestring, &out[i], e)) return false;
        *n = ++i;
    }
    return true;
}

/* ---- messages ---- */

/* content: a string, or an array of text parts (concatenated). Owned copy in *out. */
static bool msg_content(const cJSON *c, int i, char **out, pd_serr *e) {
    char p[64];
    snprintf(p, sizeof p, "messages[%d].content", i);
    if (!c) return dup_str("", out, e);
    if (cJSON_IsString(c)) return dup_str(c->valuestring, out, e);
    if (!cJSON_IsArray(c)) return pd_serr_set(e, 400, p, "invalid_type", "'%s' must be a string or an array of text parts", p);
    size_t len = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text"))
            return pd_serr_set(e, 400, p, "unsupported_content", "'%s': only {\"type\": \"text\"} parts are supported", p);
        if (!cJSON_IsString(x)) return pd_serr_set(e, 400, p, "invalid_type", "'%s': a text part needs a string 'text'", p);
        len += strlen(x->valuestring);
    }
    char *s = pd_malloc(len + 1);
    if (!s) return pd_serr_set(e, 500, NULL, NULL, "out of memory");
    size_t at = 0;
    cJSON_ArrayForEach(part, c) {
        const char *x = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        size_t k = strlen(x);
        memcpy(s + at, x, k);
        at += k;
    }
    s[at] = 0;
    *out = s;
    return true;
}

static bool parse_messages(const cJSON *root, pd_sreq *r, pd_serr *e) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!m) return pd_serr_set(e, 400, "messages", "missing_required_parameter", "'messages' is required");
    if (!cJSON_IsArray(m)) return pd_serr_set(e, 400, "messages", "invalid_type", "'messages' must be an array");
    int n = cJSON_GetArraySize(m);
    if (n < 1) return pd_serr_set(e, 400, "messages", "invalid_value", "'messages' must hold at least one message");
    if (n > PD_SREQ_MAX_MSGS)
        return pd_serr_set(e, 400, "messages", "invalid_value", "'messages' has %d entries; at most %d", n, PD_SREQ_MAX_MSGS);
    if (!(r->msgs = pd_calloc((size_t)n, sizeof *r->msgs))) return pd_serr_set(e, 500, NULL, NULL, "out of memory");
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, m) {
        char p[64];
        snprintf(p, sizeof p, "messages[%d]", i);
        if (!cJSON_IsObject(it)) return pd_serr_set(e, 400, p, "invalid_type", "'%s' must be an object", p);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        snprintf(p, sizeof p, "messages[%d].role", i);
        if (!cJSON_IsString(role)) return pd_serr_set(e, 400, p, "invalid_type", "'%s' must be a string", p);
        const char *rs = role->valuestring;
        if (!strcmp(rs, "developer")) rs = "system";
        if (strcmp(rs, "system") && strcmp(rs, "user") && strcmp(rs, "assistant"))
            return pd_serr_set(e, 400, p, "invalid_value", "'%s' is '%.32s'; ponder takes system, developer, user, assistant", p,
                               role->valuestring);
        const cJSON *rc = cJSON_GetObjectItemCaseSensitive(it, "reasoning_content");
        snprintf(p, sizeof p, "messages[%d].reasoning_content", i);
        if (rc && !cJSON_IsNull(rc) && !cJSON_IsString(rc))
            return pd_serr_set(e, 400, p, "invalid_type", "'%s' must be a string", p);
        r->n_msgs = i + 1;
        if (!dup_str(rs, &r->msgs[i].role, e) ||
            !msg_content(field(it, "content"), i, &r->msgs[i].content, e))
            return false;
        i++;
    }
    return true;
}

static bool parse_prompt(const cJSON *root, pd_sreq *r, pd_serr *e) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p) return pd_serr_set(e, 400, "prompt", "missing_required_parameter", "'prompt' is required");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    else if (cJSON_IsArray(p))
        return pd_serr_set(e, 400, "prompt", "invalid_value", "'prompt': ponder takes one prompt (a string, or an array of one string)");
    if (!cJSON_IsString(p)) return pd_serr_set(e, 400, "prompt", "invalid_type", "'prompt' must be a string");
    return dup_str(p->valuestring, &r->prompt, e);
}

/* ---- reasoning controls ---- */

static bool parse_reasoning(const cJSON *root, pd_sreq *r, pd_serr *e) {
    const cJSON *eff = field(root, "reasoning_effort");
    if (eff) {
        if (!cJSON_IsString(eff)) return pd_serr_set(e, 400, "reasoning_effort", "invalid_type", "'reasoning_effort' must be a string");
        const char *s = eff->valuestring;
        if (!strcmp(s, "low")) r->thinking_budget = PD_SREQ_EFFORT_LOW;
        else if (!strcmp(s, "medium")) r->thinking_budget = PD_SREQ_EFFORT_MEDIUM;
        else if (!strcmp(s, "high")) r->thinking_budget = -1;
        else return pd_serr_set(e, 400, "reasoning_effort", "invalid_value", "'reasoning_effort' must be low, medium or high");
    }
    const cJSON *kw = field(root, "chat_template_kwargs");
    if (kw && !cJSON_IsObject(kw))
        return pd_serr_set(e, 400, "chat_template_kwargs", "invalid_type", "'chat_template_kwargs' must be an object");
    /* the budget fields, weakest first: the template kwarg, vLLM's name, ponder's name */
    if (kw && !get_int(kw, "thinking_budget", -1, 1 << 24, &r->thinking_budget, NULL, e)) return false;
    if (!get_int(root, "thinking_token_budget", -1, 1 << 24, &r->thinking_budget, NULL, e)) return false;
    if (!get_int(root, "thinking_budget", -1, 1 << 24, &r->thinking_budget, NULL, e)) return false;
    bool think = true;
    if (kw && !get_bool(kw, "enable_thinking", &think, e)) return false;
    if (!think) {
        if (r->thinking_budget > 0)
            return pd_serr_set(e, 400, "thinking_budget", "invalid_value",
                               "a thinking budget of %d contradicts chat_template_kwargs.enable_thinking=false", r->thinking_budget);
        r->thinking_budget = 0;
    }
    if (!get_int(root, "answer_budget", -1, 1 << 24, &r->answer_budget, NULL, e)) return false;
    if (!get_str(root, "budget_message", &r->budget_message, e)) return false;
    return get_str_list(field(root, "policy"), "policy", r->policy, &r->n_policy, PD_SREQ_MAX_POLICY, e);
}

/* ---- sampling, output options ---- */

static bool parse_sampling(const cJSON *root, pd_sreq *r, pd_serr *e) {
    if (!get_num(root, "temperature", 0, 2, &r->temperature, &r->has_temperature, e) ||
        !get_num(root, "top_p", 0, 1, &r->top_p, &r->has_top_p, e) ||
        !get_int(root, "top_k", -1, 1 << 24, &r->top_k, &r->has_top_k, e) ||
        !get_num(root, "min_p", 0, 1, &r->min_p, &r->has_min_p, e) ||
        !get_num(root, "presence_penalty", -2, 2, &r->presence_penalty, NULL, e) ||
        !get_num(root, "frequency_penalty", -2, 2, &r->frequency_penalty, NULL, e) ||
        !get_int(root, "n", 1, PD_SREQ_MAX_N, &r->n, NULL, e))
        return false;
    if (r->has_top_p && r->top_p <= 0) return pd_serr_set(e, 400, "top_p", "invalid_value", "'top_p' must be above 0");
    const cJSON *s = field(root, "seed");
    if (s) {
        double d = s->valuedouble;
        if (!cJSON_IsNumber(s) || d != floor(d) || !isfinite(d))
            return pd_serr_set(e, 400, "seed", "invalid_type", "'seed' must be an integer");
        if (d < -9223372036854775808.0 || d >= 18446744073709551616.0)
            return pd_serr_set(e, 400, "seed", "invalid_value", "'seed' is out of the 64-bit range");
        r->seed = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
        r->has_seed = true;
    }
    int mt = -1, mct = -1;
    if (!get_int(root, "max_tokens", 0, 1 << 24, &mt, NULL, e) ||
        !get_int(root, "max_completion_tokens", 0, 1 << 24, &mct, NULL, e))
        return false;
    r->max_tokens = mct >= 0 ? mct : mt;
    return get_str_list(field(root, "stop"), "stop", r->stop, &r->n_stop, PD_SREQ_MAX_STOP, e);
}

static bool parse_output(const cJSON *root, pd_sreq *r, pd_serr *e) {
    if (!get_bool(root, "stream", &r->stream, e)) return false;
    const cJSON *so = field(root, "stream_options");
    if (so && !cJSON_IsObject(so)) return pd_serr_set(e, 400, "stream_options", "invalid_type", "'stream_options' must be an object");
    if (so && !get_bool(so, "include_usage", &r->include_usage, e)) return false;
    if (r->kind == PD_SREQ_COMPLETION) { /* legacy API: logprobs is the number of top entries */
        int k = -1;
        if (!get_int(root, "logprobs", 0, 20, &k, NULL, e)) return false;
        r->logprobs = k >= 0;
        r->top_logprobs = k > 0 ? k : 0;
    } else {
        if (!get_bool(root, "logprobs", &r->logprobs, e)) return false;
        if (!get_int(root, "top_logprobs", 0, 20, &r->top_logprobs, NULL, e)) return false;
        if (r->top_logprobs > 0 && !r->logprobs)
            return pd_serr_set(e, 400, "top_logprobs", "invalid_value", "'top_logprobs' needs 'logprobs': true");
    }
    if (!get_bool(root, "continue_final_message", &r->continue_final, e)) return false;
    if (r->continue_final && (r->kind != PD_SREQ_CHAT || strcmp(r->msgs[r->n_msgs - 1].role, "assistant")))
        return pd_serr_set(e, 400, "continue_final_message", "invalid_value",
                           "'continue_final_message' needs a chat whose last message is an assistant one");
    const cJSON *rf = field(root, "response_format");
    if (rf) {
        const cJSON *t = cJSON_IsObject(rf) ? cJSON_GetObjectItemCaseSensitive(rf, "type") : NULL;
        if (!cJSON_IsString(t))
            return pd_serr_set(e, 400, "response_format", "invalid_type", "'response_format' must be an object with a string 'type'");
        if (!strcmp(t->valuestring, "json_object")) r->json_object = true;
        else if (strcmp(t->valuestring, "text"))
            return pd_serr_set(e, 400, "response_format.type", "invalid_value",
                               "'response_format.type' is '%.32s'; ponder takes text or json_object", t->valuestring);
    }
    return true;
}

void pd_sreq_free(pd_sreq *r) {
    if (!r) return;
    free(r->model);
    for (int i = 0; i < r->n_msgs; i++) { free(r->msgs[i].role); free(r->msgs[i].content); }
    free(r->msgs);
    free(r->prompt);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    for (int i = 0; i < r->n_policy; i++) free(r->policy[i]);
    free(r->budget_message);
    memset(r, 0, sizeof *r);
}

bool pd_sreq_parse(const char *body, size_t len, pd_sreq_kind kind, pd_sreq *out, pd_serr *err) {
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    out->kind = kind;
    out->max_tokens = -1;
    out->n = 1;
    out->thinking_budget = out->answer_budget = PD_SREQ_UNSET;
    const char *end = NULL;
    cJSON *root = body ? cJSON_ParseWithLengthOpts(body, len, &end, false) : NULL;
    if (!root) {
        size_t off = body && cJSON_GetErrorPtr() ? (size_t)(cJSON_GetErrorPtr() - body) : 0;
        return pd_serr_set(err, 400, NULL, "invalid_json", "the body is not valid JSON (error near byte %zu of %zu)", off, len);
    }
    while (end && end < body + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t' || !*end)) end++;
    if (end && end < body + len) {
        cJSON_Delete(root);
        return pd_serr_set(err, 400, NULL, "invalid_json", "the body has text after its JSON value (at byte %zu of %zu)",
                           (size_t)(end - body), len);
    }
    bool ok = cJSON_IsObject(root) ? true : pd_serr_set(err, 400, NULL, "invalid_json", "the body must be a JSON object");
    ok = ok && get_str(root, "model", &out->model, err);
    ok = ok && (kind == PD_SREQ_CHAT ? parse_messages(root, out, err) : parse_prompt(root, out, err));
    ok = ok && parse_sampling(root, out, err) && parse_output(root, out, err) && parse_reasoning(root, out, err);
    cJSON_Delete(root);
    if (!ok) pd_sreq_free(out);
    return ok;
}

/* ---- canonical form ---- */

static void add_strs(cJSON *o, const char *k, char *const *s, int n) {
    if (!n) return;
    cJSON *a = cJSON_AddArrayToObject(o, k);
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(s[i]));
}

char *pd_sreq_to_json(const pd_sreq *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    if (r->model) cJSON_AddStringToObject(o, "model", r->model);
    if (r->kind == PD_SREQ_CHAT) {
        cJSON *m = cJSON_AddArrayToObject(o, "messages");
        for (int i = 0; m && i < r->n_msgs; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "role", r->msgs[i].role);
            cJSON_AddStringToObject(x, "content", r->msgs[i].content);
            cJSON_AddItemToArray(m, x);
        }
    } else {
        cJSON_AddStringToObject(o, "prompt", r->prompt ? r->prompt : "");
    }
    if (r->max_tokens >= 0) cJSON_AddNumberToObject(o, "max_tokens", r->max_tokens);
    if (r->has_temperature) cJSON_AddNumberToObject(o, "temperature", r->temperature);
    if (r->has_top_p) cJSON_AddNumberToObject(o, "top_p", r->top_p);
    if (r->has_top_k) cJSON_AddNumberToObject(o, "top_k", r->top_k);
    if (r->has_min_p) cJSON_AddNumberToObject(o, "min_p", r->min_p);
    if (r->has_seed) /* as parsed: seeds at or above 2^63 came from negative integers */
        cJSON_AddNumberToObject(o, "seed", r->seed >> 63 ? (double)(int64_t)r->seed : (double)r->seed);
    if (r->presence_penalty != 0) cJSON_AddNumberToObject(o, "presence_penalty", r->presence_penalty);
    if (r->frequency_penalty != 0) cJSON_AddNumberToObject(o, "frequency_penalty", r->frequency_penalty);
    add_strs(o, "stop", r->stop, r->n_stop);
    cJSON_AddNumberToObject(o, "n", r->n);
    if (r->kind == PD_SREQ_CHAT) {
        cJSON_AddBoolToObject(o, "logprobs", r->logprobs);
        if (r->top_logprobs) cJSON_AddNumberToObject(o, "top_logprobs", r->top_logprobs);
    } else if (r->logprobs) {
        cJSON_AddNumberToObject(o, "logprobs", r->top_logprobs);
    }
    cJSON_AddBoolToObject(o, "stream", r->stream);
    if (r->include_usage) cJSON_AddBoolToObject(cJSON_AddObjectToObject(o, "stream_options"), "include_usage", true);
    if (r->continue_final) cJSON_AddBoolToObject(o, "continue_final_message", true);
    if (r->json_object) cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "response_format"), "type", "json_object");
    if (r->thinking_budget != PD_SREQ_UNSET) cJSON_AddNumberToObject(o, "thinking_budget", r->thinking_budget);
    if (r->answer_budget != PD_SREQ_UNSET) cJSON_AddNumberToObject(o, "answer_budget", r->answer_budget);
    if (r->budget_message) cJSON_AddStringToObject(o, "budget_message", r->budget_message);
    add_strs(o, "policy", r->policy, r->n_policy);
    char *s = pd_json_print(o, false);
    cJSON_Delete(o);
    return s;
}
