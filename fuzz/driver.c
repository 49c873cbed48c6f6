/* fuzz/driver.c — a standalone driver for the libFuzzer-style targets in fuzz/fuzz_*.c, used when
 * building with gcc: it replays every file of a seed corpus directory, then runs --runs N
 * deterministic mutations (bit flips, byte sets, truncations, splices, interesting integers) of
 * those seeds. Under ASan/UBSan any memory error aborts the run, so the CTest entry fails.
 * With clang, `make fuzz` builds the same targets against libFuzzer instead. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct { uint8_t *data; size_t size; } seed_t;

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint64_t next_rand(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return rng_state;
}

static int load_file(const char *path, seed_t *s) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) { fclose(f); return -1; }
    s->data = malloc((size_t)n + 1);
    s->size = fread(s->data, 1, (size_t)n, f);
    fclose(f);
    return 0;
}

static void mutate(uint8_t *d, size_t *size, size_t cap) {
    static const uint32_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff, 32, 64, 256};
    int n_mut = 1 + (int)(next_rand() % 4);
    for (int m = 0; m < n_mut; m++) {
        size_t sz = *size;
        switch (next_rand() % 6) {
        case 0: if (sz) d[next_rand() % sz] ^= (uint8_t)(1u << (next_rand() % 8)); break;
        case 1: if (sz) d[next_rand() % sz] = (uint8_t)next_rand(); break;
        case 2: if (sz) *size = next_rand() % sz; break;
        case 3: if (sz >= 4) { uint32_t v = interesting[next_rand() % 12]; memcpy(d + next_rand() % (sz - 3), &v, 4); } break;
        case 4: if (sz >= 8) { uint64_t v = (uint64_t)interesting[next_rand() % 12] << (next_rand() % 2 ? 32 : 0); memcpy(d + next_rand() % (sz - 7), &v, 8); } break;
        case 5: if (sz && sz < cap) { size_t at = next_rand() % sz; d[sz] = d[at]; *size = sz + 1; } break;
        }
    }
}

int main(int argc, char **argv) {
    long runs = 1000;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atol(argv[++i]);
        else dir = argv[i];
    }
    seed_t seeds[256];
    int n_seeds = 0;
    if (dir) {
        DIR *dd = opendir(dir);
        if (!dd) { fprintf(stderr, "fuzz driver: cannot open corpus dir %s\n", dir); return 1; }
        struct dirent *e;
        while ((e = readdir(dd)) && n_seeds < 256) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (load_file(path, &seeds[n_seeds]) == 0) n_seeds++;
        }
        closedir(dd);
    }
    for (int i = 0; i < n_seeds; i++) LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].size);
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    for (long r = 0; r < runs; r++) {
        size_t size = 0;
        if (n_seeds) {
            seed_t *s = &seeds[next_rand() % (uint64_t)n_seeds];
            size = s->size < cap ? s->size : cap;
            memcpy(buf, s->data, size);
        } else {
            size = next_rand() % 256;
            for (size_t k = 0; k < size; k++) buf[k] = (uint8_t)next_rand();
        }
        mutate(buf, &size, cap);
        /* Copy to an exact-size heap block so ASan catches reads past the end. */
        uint8_t *exact = malloc(size ? size : 1);
        memcpy(exact, buf, size);
        LLVMFuzzerTestOneInput(exact, size);
        free(exact);
    }
    free(buf);
    for (int i = 0; i < n_seeds; i++) free(seeds[i].data);
    printf("fuzz driver: %d seeds, %ld mutated runs, no crash\n", n_seeds, runs);
    return 0;
}
