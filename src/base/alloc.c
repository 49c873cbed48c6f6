/* base/alloc.c — checked allocation, a growable buffer and whole-file reads. */
#include "ponder/alloc.h"
#include "ponder/error.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *pd_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) pd_fail(PD_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *pd_calloc(size_t count, size_t size) {
    size_t n;
    if (!pd_mul_ok(count, size, &n)) { pd_fail(PD_ERR_NOMEM, "allocation size overflow (%zu x %zu)", count, size); return NULL; }
    void *p = calloc(n ? n : 1, 1);
    if (!p) pd_fail(PD_ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return p;
}

void *pd_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) pd_fail(PD_ERR_NOMEM, "out of memory reallocating %zu bytes", n);
    return q;
}

void *pd_aligned_alloc(size_t align, size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, align, n ? n : align) != 0) {
        pd_fail(PD_ERR_NOMEM, "out of memory allocating %zu aligned bytes", n);
        return NULL;
    }
    return p;
}
void pd_aligned_free(void *p) { free(p); }

/* Weights are read once per decoded token, all of them: with 4 KiB pages the walk misses the TLB every
 * page and decode ran at 0.6-0.8x the speed of the same bytes on 2 MiB pages (bench/README.md). So the
 * block starts on a 2 MiB boundary, covers whole 2 MiB pages, and asks the kernel for huge pages
 * (transparent_hugepage in "madvise" mode grants them only when asked; a refusal changes nothing). */
#define PD_HUGE_PAGE ((size_t)2 << 20)
void *pd_alloc_huge(size_t n) {
    size_t whole;
    if (!pd_add_ok(n ? n : 1, PD_HUGE_PAGE - 1, &whole)) {
        pd_fail(PD_ERR_NOMEM, "out of memory allocating %zu bytes", n);
        return NULL;
    }
    whole -= whole % PD_HUGE_PAGE;
    void *p = pd_aligned_alloc(PD_HUGE_PAGE, whole);
#ifdef MADV_HUGEPAGE
    if (p) (void)madvise(p, whole, MADV_HUGEPAGE);
#endif
    return p;
}

char *pd_strdup(const char *s) { return pd_strndup(s, strlen(s)); }
char *pd_strndup(const char *s, size_t n) {
    char *d = pd_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

bool pd_mul_ok(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
bool pd_add_ok(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

int pd_buf_append(pd_buf *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = pd_realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int pd_buf_printf(pd_buf *b, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < sizeof small) return pd_buf_append(b, small, (size_t)n);
    char *big = pd_malloc((size_t)n + 1);
    if (!big) return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int r = pd_buf_append(b, big, (size_t)n);
    free(big);
    return r;
}

void pd_buf_free(pd_buf *b) { free(b->data); b->data = NULL; b->len = b->cap = 0; }

char *pd_read_file(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) { pd_fail(PD_ERR_IO, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    pd_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (pd_buf_append(&b, chunk, n)) { fclose(f); pd_buf_free(&b); return NULL; }
    }
    if (ferror(f)) { pd_fail(PD_ERR_IO, "%s: read error", path); fclose(f); pd_buf_free(&b); return NULL; }
    fclose(f);
    if (!b.data && pd_buf_append(&b, "", 0)) return NULL;
    if (len_out) *len_out = b.len;
    return b.data;
}
