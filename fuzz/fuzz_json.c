/* fuzz/fuzz_json.c — ponder's JSON output layer (base/json.c) on arbitrary bytes: the UTF-8 validator
 * against an independent one (fuzz_util.h), the sanitiser (every ill-formed subpart → U+FFFD), and
 * pd_json_print of whatever cJSON parses from the input.
 * Properties: pd_utf8_valid agrees with the twin; the sanitised text is valid UTF-8, equals the input
 * when the input was valid, and is a fixed point (sanitising again changes nothing); printed JSON is
 * valid UTF-8 and parses again, and printing that parse gives the same text.
 * fuzz-links: pd_base */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/json.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    bool valid = pd_utf8_valid(s, size);
    MUST(valid == utf8_valid(s, size));
    size_t n1 = 0, n2 = 0;
    char *a = pd_utf8_sanitize(s, size, &n1);
    MUST(a != NULL && a[n1] == 0);
    MUST(utf8_valid(a, n1));
    if (valid) MUST(n1 == size && !memcmp(a, s, size));
    else MUST(n1 > 0);
    char *b = pd_utf8_sanitize(a, n1, &n2);
    MUST(b && n2 == n1 && !memcmp(a, b, n1));
    free(a);
    free(b);

    char *z = malloc(size + 1);
    MUST(z != NULL);
    memcpy(z, data, size);
    z[size] = 0;
    cJSON *j = cJSON_Parse(z);
    free(z);
    if (!j) return 0;
    for (int formatted = 0; formatted < 2; formatted++) {
        char *p = pd_json_print(j, formatted);
        MUST(p != NULL && utf8_valid(p, strlen(p)));
        cJSON *j2 = cJSON_Parse(p);
        MUST(j2 != NULL);
        char *p2 = pd_json_print(j2, formatted);
        MUST(p2 && !strcmp(p, p2));
        free(p2);
        cJSON_Delete(j2);
        free(p);
    }
    cJSON_Delete(j);
    return 0;
}
