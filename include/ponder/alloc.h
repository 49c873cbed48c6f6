/* ponder/alloc.h — checked allocation helpers: they set pd_last_error on failure and return NULL.
 * Sizes are multiplied with overflow checks, since many come from untrusted files. */
#ifndef PONDER_ALLOC_H
#define PONDER_ALLOC_H
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

void *pd_malloc(size_t n);               /* NULL + error on failure (n == 0 gives a valid 1-byte block) */
void *pd_calloc(size_t count, size_t size);
void *pd_realloc(void *p, size_t n);
void *pd_aligned_alloc(size_t align, size_t n); /* free with pd_aligned_free */
void pd_aligned_free(void *p);
/* A block for large read-mostly data (weights): 2 MiB-aligned, asked to live on huge pages; free with
 * pd_aligned_free. */
void *pd_alloc_huge(size_t n);
char *pd_strdup(const char *s);
char *pd_strndup(const char *s, size_t n);
/* *out = a*b; false on overflow. */
bool pd_mul_ok(size_t a, size_t b, size_t *out);
bool pd_add_ok(size_t a, size_t b, size_t *out);

/* Growable byte buffer (strings, file contents). */
typedef struct { char *data; size_t len, cap; } pd_buf;
int pd_buf_append(pd_buf *b, const void *p, size_t n); /* 0 ok, -1 out of memory */
int pd_buf_printf(pd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pd_buf_free(pd_buf *b);

/* Read a whole file into memory (NUL-terminated); NULL + error naming the path. */
char *pd_read_file(const char *path, size_t *len_out);

#endif
