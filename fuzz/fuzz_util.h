/* fuzz/fuzz_util.h — shared by the fuzz targets: MUST (a property that failed names itself, then
 * traps so libFuzzer keeps the input), fuzz_temp_file (for readers that take a path) and utf8_valid. */
#ifndef PONDER_FUZZ_UTIL_H
#define PONDER_FUZZ_UTIL_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MUST(cond)                                                                               \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);          \
            __builtin_trap();                                                                    \
        }                                                                                        \
    } while (0)

/* Write data to a new temporary file (in /dev/shm when there is one: a file per input) whose name
 * goes to path (cap >= 64). Returns 0, or -1 with nothing left behind. */
static inline int fuzz_temp_file(char *path, size_t cap, const char *tag, const uint8_t *data, size_t size) {
    snprintf(path, cap, "%s/pd-fuzz-%s-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", tag);
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t k = write(fd, data + off, size - off);
        if (k <= 0) break;
        off += (size_t)k;
    }
    if (close(fd) != 0 || off != size) {
        unlink(path);
        return -1;
    }
    return 0;
}

/* Well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
static inline bool utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        uint32_t cp = k == 1 ? c : k == 2 ? (c & 0x1fu) : k == 3 ? (c & 0x0fu) : (c & 0x07u);
        for (size_t j = 1; j < k; j++) {
            unsigned char d = (unsigned char)s[i + j];
            if ((d & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3fu);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k;
    }
    return true;
}

#endif
