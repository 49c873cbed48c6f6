/* ponder/jsonmask.h — constrained decoding to one JSON object (response_format json_object of
 * `ponder serve`): an incremental JSON recogniser (RFC 8259, byte by byte, strings checked as UTF-8)
 * and a pd_policy whose on_logits masks every token whose text would make the answer something no
 * continuation can turn into a JSON object.
 *
 * The policy acts on the answer phase only. While the model thinks, only end-of-generation tokens
 * are masked (a reply that ends inside its thinking would have no JSON). In the answer: special
 * tokens are masked, end-of-generation tokens are allowed only once the object is complete, and
 * once it is complete ONLY end-of-generation tokens are allowed — so a reply that ends by EOG is
 * exactly one JSON object (with surrounding whitespace). A reply cut by max_tokens or the context
 * can still be incomplete (finish_reason "length"), as with OpenAI. Nesting is limited to
 * PD_JSONM_DEPTH; deeper openers are masked. */
#ifndef PONDER_JSONMASK_H
#define PONDER_JSONMASK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ponder/error.h"
#include "ponder/policy.h"

enum { PD_JSONM_DEPTH = 32 };

typedef struct {
    uint8_t st;                 /* internal state */
    uint8_t lit, lit_pos;       /* literal being matched (true/false/null) and bytes matched */
    uint8_t hex, hex_d;         /* \u hex digits still expected; the first one was d/D */
    uint8_t u8_need, u8_lo, u8_hi; /* UTF-8 continuation bytes still expected, range of the next one */
    uint8_t in_key;             /* the open string is an object key */
    int depth;
    uint8_t stack[PD_JSONM_DEPTH];   /* '{' or '[' */
} pd_jsonm;

void pd_jsonm_init(pd_jsonm *m);
/* Feed n bytes; false if they make the text an impossible prefix (m is then unspecified). */
bool pd_jsonm_feed(pd_jsonm *m, const char *p, size_t n);
/* The text so far is one complete JSON object (whitespace after it allowed). */
bool pd_jsonm_complete(const pd_jsonm *m);
/* A short text that completes the current prefix (e.g. "\"}" inside a key, "0}" after ':'), into
 * out (cap >= PD_JSONM_DEPTH * 2 + 16); returns its length. */
size_t pd_jsonm_closer(const pd_jsonm *m, char *out, size_t cap);

/* A fresh policy instance (one per sequence; the pd_gen releases it). */
pd_status pd_jsonmask_policy(const pd_tokenizer *tok, pd_policy *out);

#endif
