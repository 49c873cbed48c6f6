/* tasks/extract.c — answer extraction from model text (GSM8K "####", \boxed{} with nested
 * braces, <answer> tags, "The answer is", last number), the thinking/answer split, exact
 * rational parsing of numeric answers and normalised string match. */
#include "ponder/extract.h"
#include "ponder/alloc.h"
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const mode_names[] = {"auto", "gsm8k", "boxed", "tag", "answer-is", "last-number"};

int pd_extract_mode_parse(const char *s) {
    if (!s) return -1;
    for (int i = 0; i < 6; i++)
        if (!strcmp(s, mode_names[i])) return i;
    if (!strcmp(s, "answer")) return PD_EXTRACT_TAG;
    return -1;
}

const char *pd_extract_mode_name(pd_extract_mode m) {
    return (unsigned)m < 6 ? mode_names[m] : "?";
}

/* Last occurrence of needle in [s, s+len) (case-sensitive unless icase); NULL if none. */
static const char *find_last(const char *s, size_t len, const char *needle, int icase) {
    size_t nl = strlen(needle);
    if (nl > len) return NULL;
    for (size_t i = len - nl + 1; i-- > 0;)
        if (icase ? !strncasecmp(s + i, needle, nl) : !memcmp(s + i, needle, nl)) return s + i;
    return NULL;
}

static const char *find_first(const char *s, size_t len, const char *needle) {
    size_t nl = strlen(needle);
    if (nl > len) return NULL;
    for (size_t i = 0; i + nl <= len; i++)
        if (!memcmp(s + i, needle, nl)) return s + i;
    return NULL;
}

const char *pd_extract_region(const char *text, size_t *len) {
    size_t n = strlen(text);
    const char *close = find_last(text, n, "</think>", 0);
    const char *start = close ? close + 8 : text;
    size_t rest = n - (size_t)(start - text);
    const char *open = find_first(start, rest, "<think>");
    if (open) rest = (size_t)(open - start); /* an unclosed <think>: what follows is thinking */
    *len = rest;
    return start;
}

static char *trimmed(const char *b, const char *e) {
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    return pd_strndup(b, (size_t)(e - b));
}

/* Brace-matched argument of a \boxed at p (p points just after the command name). */
static char *boxed_arg(const char *p, const char *end, const char **after) {
    while (p < end && *p == ' ') p++;
    if (p < end && *p == '{') {
        int depth = 0;
        const char *b = p + 1;
        for (const char *q = p; q < end; q++) {
            if (*q == '\\' && q + 1 < end) { q++; continue; }
            if (*q == '{') depth++;
            else if (*q == '}' && --depth == 0) {
                if (after) *after = q + 1;
                return trimmed(b, q);
            }
        }
        return NULL; /* unbalanced */
    }
    /* "\boxed 5" form: up to whitespace or '$' */
    const char *b = p;
    while (p < end && !isspace((unsigned char)*p) && *p != '$') p++;
    if (p == b) return NULL;
    if (after) *after = p;
    return pd_strndup(b, (size_t)(p - b));
}

/* Position of the next \boxed or \fbox at or after s; *cmdlen gets the command length. */
static const char *next_box(const char *s, const char *end, size_t *cmdlen) {
    for (const char *q = s; q < end; q++) {
        if (*q != '\\') continue;
        if ((size_t)(end - q) >= 6 && !memcmp(q, "\\boxed", 6) && !(q + 6 < end && isalpha((unsigned char)q[6]))) {
            *cmdlen = 6;
            return q;
        }
        if ((size_t)(end - q) >= 5 && !memcmp(q, "\\fbox", 5) && !(q + 5 < end && isalpha((unsigned char)q[5]))) {
            *cmdlen = 5;
            return q;
        }
    }
    return NULL;
}

static char *ex_boxed(const char *s, size_t len) {
    const char *end = s + len, *p = s, *found = NULL;
    size_t cl = 0, fcl = 0;
    for (const char *q; (q = next_box(p, end, &cl)); p = q + cl) { found = q; fcl = cl; }
    if (!found) return NULL;
    return boxed_arg(found + fcl, end, NULL);
}

int pd_extract_boxed_all(const char *text, char ***out) {
    size_t len;
    const char *s = pd_extract_region(text, &len), *end = s + len, *p = s;
    char **list = NULL;
    int n = 0, cap = 0;
    size_t cl;
    for (const char *q; (q = next_box(p, end, &cl));) {
        const char *after = q + cl;
        char *a = boxed_arg(q + cl, end, &after);
        p = after > q + cl ? after : q + cl;
        if (!a) continue;
        if (n == cap) {
            int nc = cap ? cap * 2 : 8;
            char **nl = pd_realloc(list, (size_t)nc * sizeof *nl);
            if (!nl) { free(a); break; }
            list = nl;
            cap = nc;
        }
        list[n++] = a;
    }
    *out = list;
    return n;
}

void pd_extract_list_free(char **list, int n) {
    for (int i = 0; i < n; i++) free(list[i]);
    free(list);
}

static char *ex_tag(const char *s, size_t len) {
    const char *open = find_last(s, len, "<answer>", 1);
    if (!open) return NULL;
    const char *b = open + 8, *end = s + len;
    const char *close = find_first(b, (size_t)(end - b), "</answer>");
    if (!close) return NULL;
    return trimmed(b, close);
}

/* A number at p: -?digits with ,ddd groups, optional .digits, optional /digits. Returns its end
 * or NULL. */
static const char *scan_number(const char *p, const char *end) {
    const char *q = p;
    if (q < end && (*q == '-' || *q == '+')) q++;
    if (q < end && *q == '.' && q + 1 < end && isdigit((unsigned char)q[1])) {
        q++;
        while (q < end && isdigit((unsigned char)*q)) q++;
        return q;
    }
    if (!(q < end && isdigit((unsigned char)*q))) return NULL;
    while (q < end && isdigit((unsigned char)*q)) q++;
    while (q + 3 < end + 0 && q < end && *q == ',' && isdigit((unsigned char)q[1]) && isdigit((unsigned char)q[2]) &&
           isdigit((unsigned char)q[3]) && !(q + 4 < end && isdigit((unsigned char)q[4])))
        q += 4;
    if (q + 1 < end && *q == '.' && isdigit((unsigned char)q[1])) {
        q++;
        while (q < end && isdigit((unsigned char)*q)) q++;
    } else if (q + 1 < end && *q == '/' && isdigit((unsigned char)q[1])) {
        q++;
        while (q < end && isdigit((unsigned char)*q)) q++;
    }
    return q;
}

static char *ex_last_number(const char *s, size_t len) {
    const char *end = s + len, *best = NULL, *best_end = NULL;
    for (const char *p = s; p < end;) {
        int boundary = p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '.' || p[-1] == '_');
        const char *e = boundary ? scan_number(p, end) : NULL;
        if (e) {
            /* a '-' that follows a digit/letter is an operator, not a sign */
            best = p; best_end = e;
            p = e;
        } else {
            p++;
        }
    }
    if (!best) return NULL;
    if (*best == '+') best++;
    return pd_strndup(best, (size_t)(best_end - best));
}

static char *ex_gsm8k(const char *s, size_t len) {
    const char *h = find_first(s, len, "####");
    if (!h) return NULL;
    const char *p = h + 4, *end = s + len;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '$')) p++;
    const char *q = p;
    if (q < end && *q == '-') q++;
    while (q < end && (isdigit((unsigned char)*q) || *q == ',' || *q == '.')) q++;
    while (q > p && (q[-1] == '.' || q[-1] == ',')) q--;
    if (q == p || (q == p + 1 && *p == '-')) return NULL;
    return pd_strndup(p, (size_t)(q - p));
}

static char *ex_answer_is(const char *s, size_t len) {
    const char *end = s + len;
    const char *m = find_last(s, len, "answer is", 1);
    if (!m) return NULL;
    const char *p = m + 9;
    while (p < end && (*p == ' ' || *p == ':' || *p == '\t')) p++;
    const char *q = p;
    /* to end of line, or a sentence-ending '.' (one not inside a number) */
    while (q < end && *q != '\n') {
        if (*q == '.' && !(q + 1 < end && isdigit((unsigned char)q[1]))) break;
        q++;
    }
    char *a = trimmed(p, q);
    if (!a) return NULL;
    if (!*a) { free(a); return NULL; }
    /* unwrap a \boxed{} or $…$ around the answer */
    char *bx = ex_boxed(a, strlen(a));
    if (bx) { free(a); return bx; }
    size_t al = strlen(a);
    if (al >= 2 && a[0] == '$' && a[al - 1] == '$' && !(al > 2 && isdigit((unsigned char)a[1]) && a[al - 2] != '$')) {
        char *u = trimmed(a + 1, a + al - 1);
        free(a);
        return u;
    }
    return a;
}

char *pd_extract_span(pd_extract_mode mode, const char *s, size_t len) {
    switch (mode) {
    case PD_EXTRACT_GSM8K: return ex_gsm8k(s, len);
    case PD_EXTRACT_BOXED: return ex_boxed(s, len);
    case PD_EXTRACT_TAG: return ex_tag(s, len);
    case PD_EXTRACT_ANSWER_IS: return ex_answer_is(s, len);
    case PD_EXTRACT_LAST_NUMBER: return ex_last_number(s, len);
    case PD_EXTRACT_AUTO: {
        char *a = ex_tag(s, len);
        if (!a) a = ex_boxed(s, len);
        if (!a) a = ex_gsm8k(s, len);
        if (!a) a = ex_answer_is(s, len);
        if (!a) a = ex_last_number(s, len);
        return a;
    }
    }
    return NULL;
}

char *pd_extract(pd_extract_mode mode, const char *text) {
    size_t len;
    const char *s = pd_extract_region(text, &len);
    return pd_extract_span(mode, s, len);
}

/* ---- numbers ---- */

static int64_t gcd64(int64_t a, int64_t b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) { int64_t t = a % b; a = b; b = t; }
    return a;
}

/* Unsigned decimal "123", "1,234", "12.50", ".5" → num/den; false on overflow/garbage. */
static bool parse_decimal(const char *p, const char *end, long long *num, long long *den) {
    int64_t n = 0, d = 1;
    int digits = 0, frac = 0;
    for (; p < end; p++) {
        if (*p == ',' && !frac) continue;
        if (*p == '.' && !frac) { frac = 1; continue; }
        if (!isdigit((unsigned char)*p)) return false;
        if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, *p - '0', &n)) return false;
        if (frac && __builtin_mul_overflow(d, 10, &d)) return false;
        digits++;
    }
    if (!digits) return false;
    int64_t g = gcd64(n, d);
    if (g > 1) { n /= g; d /= g; }
    *num = n;
    *den = d;
    return true;
}

/* Copy of s without whitespace, '$', "\!", "\,", "\ ", "\left", "\right", and "\text{…}" kept as
 * its content. */
static char *strip_markup(const char *s) {
    size_t n = strlen(s);
    char *o = pd_malloc(n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (isspace((unsigned char)s[i]) || s[i] == '$') { i++; continue; }
        if (s[i] == '\\') {
            if (s[i + 1] == '!' || s[i + 1] == ',' || s[i + 1] == ' ' || s[i + 1] == ';') { i += 2; continue; }
            if (!strncmp(s + i, "\\left", 5) && !isalpha((unsigned char)s[i + 5])) { i += 5; continue; }
            if (!strncmp(s + i, "\\right", 6) && !isalpha((unsigned char)s[i + 6])) { i += 6; continue; }
            static const char *const wraps[] = {"\\text{", "\\mathrm{", "\\textbf{", "\\mbox{"};
            int w = -1;
            for (int j = 0; j < 4; j++)
                if (!strncmp(s + i, wraps[j], strlen(wraps[j]))) { w = j; break; }
            if (w >= 0) {
                /* keep the content, drop the matching close brace */
                size_t b = i + strlen(wraps[w]);
                int depth = 1;
                size_t q = b;
                for (; q < n && depth; q++) {
                    if (s[q] == '{') depth++;
                    else if (s[q] == '}') depth--;
                }
                if (depth == 0) {
                    for (size_t t = b; t < q - 1; t++)
                        if (!isspace((unsigned char)s[t])) o[k++] = s[t];
                    i = q;
                    continue;
                }
            }
        }
        o[k++] = s[i++];
    }
    o[k] = 0;
    return o;
}

bool pd_answer_number(const char *s, long long *num, long long *den) {
    char *t = strip_markup(s);
    if (!t) return false;
    bool ok = false;
    char *p = t, *end = t + strlen(t);
    while (end > p && (end[-1] == '.' || end[-1] == '%')) {
        if (end[-1] == '.' && end - 1 > p && isdigit((unsigned char)end[-2]) && end[-1] == '.') { end--; continue; }
        if (end[-1] == '%') { end--; continue; }
        break;
    }
    int neg = 0;
    if (p < end && (*p == '-' || *p == '+')) { neg = *p == '-'; p++; }
    long long n1, d1, n2, d2;
    const char *fr = NULL;
    if (!strncmp(p, "\\frac", 5)) fr = p + 5;
    else if (!strncmp(p, "\\dfrac", 6) || !strncmp(p, "\\tfrac", 6)) fr = p + 6;
    if (fr) {
        /* \frac{a}{b} or \frac ab (single digits) */
        const char *a0, *a1, *b0, *b1;
        if (*fr == '{') {
            a0 = fr + 1; a1 = strchr(a0, '}');
            if (!a1 || a1[1] != '{') goto done;
            b0 = a1 + 2; b1 = strchr(b0, '}');
            if (!b1 || b1 + 1 != end) goto done;
        } else {
            if (end - fr != 2) goto done;
            a0 = fr; a1 = fr + 1; b0 = fr + 1; b1 = fr + 2;
        }
        int sa = 0;
        if (a0 < a1 && *a0 == '-') { sa = 1; a0++; }
        if (!parse_decimal(a0, a1, &n1, &d1) || !parse_decimal(b0, b1, &n2, &d2)) goto done;
        if (sa) neg = !neg;
        if (n2 == 0) goto done;
        /* (n1/d1) / (n2/d2) = n1*d2 / (d1*n2) */
        long long nn, dd;
        if (__builtin_mul_overflow(n1, d2, &nn) || __builtin_mul_overflow(d1, n2, &dd)) goto done;
        n1 = nn; d1 = dd;
    } else {
        char *slash = memchr(p, '/', (size_t)(end - p));
        if (slash) {
            if (!parse_decimal(p, slash, &n1, &d1) || !parse_decimal(slash + 1, end, &n2, &d2) || n2 == 0) goto done;
            long long nn, dd;
            if (__builtin_mul_overflow(n1, d2, &nn) || __builtin_mul_overflow(d1, n2, &dd)) goto done;
            n1 = nn; d1 = dd;
        } else {
            /* commas must be thousands separators */
            for (const char *c = p; c < end; c++)
                if (*c == ',') {
                    const char *d = c + 1;
                    int k = 0;
                    while (d < end && isdigit((unsigned char)*d)) { d++; k++; }
                    if (k != 3 || c == p) goto done;
                }
            if (!parse_decimal(p, end, &n1, &d1)) goto done;
        }
    }
    {
        long long g = gcd64(n1, d1);
        if (g > 1) { n1 /= g; d1 /= g; }
        *num = neg ? -n1 : n1;
        *den = d1;
        ok = true;
    }
done:
    free(t);
    return ok;
}

char *pd_answer_normalize(const char *s) {
    char *t = strip_markup(s);
    if (!t) return NULL;
    size_t n = strlen(t), k = 0;
    char *o = pd_malloc(n + 1);
    if (!o) { free(t); return NULL; }
    for (size_t i = 0; i < n; i++) {
        if ((!strncmp(t + i, "\\dfrac", 6) || !strncmp(t + i, "\\tfrac", 6))) {
            memcpy(o + k, "\\frac", 5);
            k += 5;
            i += 5;
            continue;
        }
        o[k++] = (char)tolower((unsigned char)t[i]);
    }
    while (k > 0 && o[k - 1] == '.') k--;
    o[k] = 0;
    free(t);
    return o;
}

bool pd_answer_equiv(const char *pred, const char *gold) {
    if (!pred || !gold) return false;
    long long n1, d1, n2, d2;
    if (pd_answer_number(pred, &n1, &d1) && pd_answer_number(gold, &n2, &d2))
        return (__int128)n1 * d2 == (__int128)n2 * d1;
    char *a = pd_answer_normalize(pred), *b = pd_answer_normalize(gold);
    bool eq = a && b && !strcmp(a, b);
    free(a);
    free(b);
    return eq;
}
