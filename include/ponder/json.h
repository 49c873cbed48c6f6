/* ponder/json.h — JSON output that is always valid: every JSON document or JSONL line ponder writes
 * goes through pd_json_print, which turns invalid or incomplete UTF-8 (a model can stop in the middle
 * of a character, or sample bytes that never form one) into U+FFFD, each maximal ill-formed subpart
 * becoming one replacement character (Unicode 15, §3.9). cJSON prints NaN/Inf as null. 64-bit
 * integers that must survive a reader that uses doubles (seeds) are written as decimal strings. */
#ifndef PONDER_JSON_H
#define PONDER_JSON_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* true if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
bool pd_utf8_valid(const char *s, size_t n);
/* the offset of the first byte of s[0..n) that starts an ill-formed sequence; n when it is all valid */
size_t pd_utf8_invalid_at(const char *s, size_t n);
/* A malloc'd, NUL-terminated copy of s[0..n) with every ill-formed subpart replaced by U+FFFD
 * (EF BF BD); *out_len (optional) gets its length. NULL + error when out of memory. */
char *pd_utf8_sanitize(const char *s, size_t n, size_t *out_len);
/* Print j (formatted or compact, one line), then sanitise as above. free() the result. NULL + error. */
char *pd_json_print(const cJSON *j, bool formatted);
/* Add v as a decimal string ("9007199254740993"): exact for every uint64_t. Returns the item or NULL. */
cJSON *pd_json_add_u64(cJSON *obj, const char *key, uint64_t v);

#endif
