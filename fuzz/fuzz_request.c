/* fuzz/fuzz_request.c — the OpenAI request parser of `ponder serve` (serve/request.c) on arbitrary
 * bytes, as a chat request and as a completion request.
 * Properties: a refused body gives an HTTP status in 400..599 and an error body that parses as JSON
 * with error.message a non-empty string; an accepted one serialises (pd_sreq_to_json) to valid UTF-8
 * JSON that is accepted again and serialises to the same text (the canonical form is a fixed point),
 * and its fields are within the documented ranges.
 * fuzz-links: pd_serve */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/serve_req.h"
#include "fuzz_util.h"
#include <cjson/cJSON.h>

static void check_error(const pd_serr *e) {
    MUST(e->status >= 400 && e->status <= 599 && e->message[0]);
    char *j = pd_serr_json(e);
    MUST(j != NULL && utf8_valid(j, strlen(j)));
    cJSON *p = cJSON_Parse(j);
    MUST(p != NULL);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "error"), "message");
    MUST(cJSON_IsString(m) && m->valuestring[0]);
    cJSON_Delete(p);
    free(j);
}

static void check_ranges(const pd_sreq *r) {
    MUST(r->n >= 1 && r->n <= PD_SREQ_MAX_N);
    MUST(r->n_stop >= 0 && r->n_stop <= PD_SREQ_MAX_STOP && r->n_policy <= PD_SREQ_MAX_POLICY);
    MUST(r->max_tokens >= -1 && r->top_logprobs >= 0 && r->top_logprobs <= 20);
    MUST(!r->has_temperature || (r->temperature >= 0 && r->temperature <= 2));
    MUST(!r->has_top_p || (r->top_p > 0 && r->top_p <= 1));
    MUST(r->thinking_budget >= PD_SREQ_UNSET && r->answer_budget >= PD_SREQ_UNSET);
    MUST(r->kind == PD_SREQ_COMPLETION ? r->prompt != NULL : r->n_msgs >= 1);
    for (int i = 0; i < r->n_stop; i++) MUST(r->stop[i] && r->stop[i][0]);
}

static void one(const uint8_t *data, size_t size, pd_sreq_kind kind) {
    pd_sreq r;
    pd_serr e;
    if (!pd_sreq_parse((const char *)data, size, kind, &r, &e)) { check_error(&e); return; }
    check_ranges(&r);
    char *a = pd_sreq_to_json(&r);
    MUST(a != NULL && utf8_valid(a, strlen(a)));
    pd_sreq r2;
    if (!pd_sreq_parse(a, strlen(a), kind, &r2, &e)) {
        fprintf(stderr, "canonical form refused: %s\n%s\n", e.message, a);
        MUST(0);
    }
    char *b = pd_sreq_to_json(&r2);
    MUST(b != NULL && !strcmp(a, b));
    free(a);
    free(b);
    pd_sreq_free(&r);
    pd_sreq_free(&r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    one(data, size, PD_SREQ_CHAT);
    one(data, size, PD_SREQ_COMPLETION);
    return 0;
}
