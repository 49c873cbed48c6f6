/* fuzz/fuzz_tok.h — the decoding property shared by the tokenizer targets: streaming the ids one at a
 * time (pd_detok_push/flush) gives exactly the pieces of the valid ids concatenated, never more than
 * the buffer, and holds at most 3 bytes of an unfinished character. */
#ifndef PONDER_FUZZ_TOK_H
#define PONDER_FUZZ_TOK_H
#include <stdlib.h>
#include <string.h>
#include "ponder/tok.h"
#include "fuzz_util.h"

/* Checks the property; returns the concatenated pieces (malloc'd, *len bytes) for further checks. */
static inline char *fuzz_check_stream(const pd_tokenizer *t, const int32_t *ids, size_t n, size_t *len) {
    size_t cap = pd_tok_max_piece(t) + 8, el = 0, so = 0, pl;
    for (size_t i = 0; i < n; i++)
        if (pd_tok_piece(t, ids[i], &pl)) el += pl;
    char *want = malloc(el + 1), *got = malloc(el + 1), *buf = malloc(cap);
    MUST(want && got && buf);
    el = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = pd_tok_piece(t, ids[i], &pl);
        if (p) { memcpy(want + el, p, pl); el += pl; }
    }
    pd_detok_stream s = {0};
    for (size_t i = 0; i < n; i++) {
        size_t k = pd_detok_push(&s, t, ids[i], buf, cap);
        MUST(k <= cap && s.n_pending >= 0 && s.n_pending <= 3 && so + k <= el);
        memcpy(got + so, buf, k);
        so += k;
    }
    size_t k = pd_detok_flush(&s, buf, cap);
    MUST(so + k <= el);
    memcpy(got + so, buf, k);
    so += k;
    MUST(so == el && memcmp(got, want, el) == 0);
    free(got);
    free(buf);
    *len = el;
    return want;
}

#endif
