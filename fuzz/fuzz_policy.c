/* fuzz/fuzz_policy.c — the reasoning-policy spec parser (`--policy NAME[:key=value,…]`, reason.h) on
 * arbitrary text. Properties: a refused spec leaves an error message; an accepted one prints as a
 * canonical text (pd_reason_spec_text) that parses again to the same canonical text, and every key
 * of its method has a value of its type (numbers within the declared range).
 * fuzz-links: pd_reason */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/error.h"
#include "ponder/reason.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    MUST(text != NULL);
    memcpy(text, data, size);
    text[size] = 0;
    pd_clear_error();
    pd_reason_spec *s = NULL;
    if (pd_reason_parse(text, &s) != PD_OK) {
        MUST(s == NULL && strcmp(pd_last_error(), "no error") != 0);
        free(text);
        return 0;
    }
    const pd_reason_method *m = pd_reason_spec_method(s);
    MUST(m != NULL);
    for (int i = 0; i < m->n_params; i++) {
        const pd_reason_param *p = &m->params[i];
        if (p->type == PD_RP_INT) {
            int v = pd_reason_int(s, p->key);
            MUST(v >= p->lo && v <= p->hi);
        } else if (p->type == PD_RP_FLOAT) {
            double v = pd_reason_float(s, p->key);
            MUST(v >= p->lo && v <= p->hi);
        } else {
            MUST(pd_reason_str(s, p->key) != NULL);
        }
    }
    char *c1 = pd_reason_spec_text(s);
    MUST(c1 != NULL);
    pd_reason_spec *s2 = NULL;
    MUST(pd_reason_parse(c1, &s2) == PD_OK);
    char *c2 = pd_reason_spec_text(s2);
    MUST(c2 && !strcmp(c1, c2));
    free(c1);
    free(c2);
    pd_reason_spec_free(s2);
    pd_reason_spec_free(s);
    free(text);
    return 0;
}
