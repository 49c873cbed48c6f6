/* fuzz/fuzz_jsonl.c — the JSONL item reader (lenient mode) and the verifiers of every task on
 * whatever items it accepts (REST bundles too): malformed lines are skipped, nothing crashes or hangs;
 * an accepted item written back as JSON is valid UTF-8 and, when its texts are, reads back unchanged.
 * fuzz-links: pd_tasks */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/log.h"
#include "ponder/task.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_log_set_level(PD_LOG_QUIET);
    pd_task_set s;
    size_t bad;
    if (pd_jsonl_parse((const char *)data, size, "fuzz", 0, &s, &bad) != PD_OK) return 0;
    for (size_t i = 0; i < s.n && i < 16; i++) {
        pd_task_item *it = &s.items[i];
        for (size_t k = 0; k < pd_task_count(); k++) {
            pd_verdict v;
            /* the item's own prompt and answer serve as model outputs */
            if (pd_task_verify(pd_task_at(k), it, it->answer, &v) == PD_OK) pd_verdict_free(&v);
            if (pd_task_verify(pd_task_at(k), it, it->prompt, &v) == PD_OK) pd_verdict_free(&v);
        }
        double sc[PD_REST_MAX_K];
        int k;
        if (pd_rest_is_bundle(it)) pd_rest_verify(it, it->prompt, sc, &k);
        pd_verdict v;
        if (pd_task_verify_ref(it->answer, it->prompt, PD_EXTRACT_AUTO, &v) == PD_OK) pd_verdict_free(&v);
        /* the item written back is valid UTF-8 JSON and reads back to the same item */
        char *js = pd_task_item_to_json(it);
        MUST(js != NULL);
        MUST(utf8_valid(js, strlen(js)));
        pd_task_item back;
        MUST(pd_task_item_from_json(js, &back) == PD_OK);
        /* invalid UTF-8 is written as U+FFFD (pd_json_print), so only valid texts come back unchanged */
        bool valid = utf8_valid(it->id, strlen(it->id)) && utf8_valid(it->prompt, strlen(it->prompt)) &&
                     utf8_valid(it->answer, strlen(it->answer)) && utf8_valid(it->reasoning, strlen(it->reasoning));
        if (valid)
            MUST(!strcmp(back.id, it->id) && !strcmp(back.prompt, it->prompt) && !strcmp(back.answer, it->answer) &&
                 !strcmp(back.reasoning, it->reasoning) && back.difficulty == it->difficulty);
        pd_task_item_free(&back);
        free(js);
    }
    pd_task_set_free(&s);
    return 0;
}
