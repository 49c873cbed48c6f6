/* base/json.c — valid-UTF-8 JSON output (see ponder/json.h): the UTF-8 validator/sanitiser and the
 * one printing function every JSON writer uses. */
#include "ponder/json.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed sequence at s[0..n), or 0 if ill-formed; *sub gets the length of the
 * maximal subpart (>= 1) to replace when it is ill-formed. */
static size_t seq_len(const unsigned char *s, size_t n, size_t *sub) {
    unsigned char b = s[0];
    *sub = 1;
    if (b < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;   /* range of the second byte */
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        if (b == 0xE0) lo = 0xA0;        /* no overlongs */
        if (b == 0xED) hi = 0x9F;        /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;        /* at most U+10FFFF */
    } else return 0;
    size_t k = 1;
    for (; k < need && k < n; k++) {
        unsigned char c = s[k];
        bool ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
        if (!ok) break;
    }
    if (k == need) return need;
    *sub = k;
    return 0;
}

size_t pd_utf8_invalid_at(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, sub;
    while (i < n) {
        size_t l = seq_len(p + i, n - i, &sub);
        if (!l) return i;
        i += l;
    }
    return n;
}

bool pd_utf8_valid(const char *s, size_t n) { return pd_utf8_invalid_at(s, n) == n; }

char *pd_utf8_sanitize(const char *s, size_t n, size_t *out_len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t bad = 0, i = 0, sub;
    while (i < n) {
        size_t l = seq_len(p + i, n - i, &sub);
        if (l) i += l;
        else { bad++; i += sub; }
    }
    size_t cap;  /* each replaced subpart (>= 1 byte) grows by at most 2 bytes */
    if (!pd_mul_ok(bad, 2, &cap) || !pd_add_ok(cap, n, &cap) || !pd_add_ok(cap, 1, &cap)) {
        pd_fail(PD_ERR_RANGE, "utf8: text of %zu bytes is too long", n);
        return NULL;
    }
    char *out = pd_malloc(cap);
    if (!out) return NULL;
    size_t o = 0;
    i = 0;
    while (i < n) {
        size_t l = seq_len(p + i, n - i, &sub);
        if (l) { memcpy(out + o, p + i, l); o += l; i += l; }
        else { memcpy(out + o, "\xEF\xBF\xBD", 3); o += 3; i += sub; }
    }
    out[o] = 0;
    if (out_len) *out_len = o;
    return out;
}

char *pd_json_print(const cJSON *j, bool formatted) {
    if (!j) { pd_fail(PD_ERR_ARG, "json: nothing to print"); return NULL; }
    char *raw = formatted ? cJSON_Print(j) : cJSON_PrintUnformatted(j);
    if (!raw) { pd_fail(PD_ERR_NOMEM, "json: out of memory printing"); return NULL; }
    /* outside strings everything cJSON prints is ASCII, so sanitising the text only touches string
     * contents; compact output never contains a raw newline (cJSON escapes control characters) */
    char *s = pd_utf8_sanitize(raw, strlen(raw), NULL);
    cJSON_free(raw);
    return s;
}

cJSON *pd_json_add_u64(cJSON *obj, const char *key, uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%" PRIu64, v);
    return cJSON_AddStringToObject(obj, key, b);
}
