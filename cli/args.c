/* cli/args.c — flag parsing helpers shared by the verbs (see cli.h): the generic integer/float
 * readers, the one parser per shared flag (threads, seed, max tokens, difficulty), prompt text from
 * -p/-f/stdin, and the build description printed by `ponder --version`. */
#include "cli.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/kern.h"
#include "ponder/kvpolicy.h"
#include "ponder/model.h"
#include "ponder/task.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef PONDER_VERSION
#define PONDER_VERSION "0.1.0"
#endif

static char error_context[320];

void cli_error_context(const char *where) {
    snprintf(error_context, sizeof error_context, "%s", where ? where : "");
}

void cli_error(const char *verb, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "ponder %s: ", verb);
    if (error_context[0]) fprintf(stderr, "%s: ", error_context);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

bool cli_int(const char *verb, const char *flag, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno) {
        if (s && *s && !*end && errno == ERANGE)
            cli_error(verb, "%s: %s is out of range [%lld, %lld]", flag, s, lo, hi);
        else
            cli_error(verb, "%s: expected an integer, got '%s'", flag, s ? s : "");
        return false;
    }
    if (v < lo || v > hi) { cli_error(verb, "%s: %lld is out of range [%lld, %lld]", flag, v, lo, hi); return false; }
    *out = v;
    return true;
}

bool cli_float(const char *verb, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || !isfinite(v)) { cli_error(verb, "%s: expected a number, got '%s'", flag, s ? s : ""); return false; }
    if (v < lo || v > hi) { cli_error(verb, "%s: %g is out of range [%g, %g]", flag, v, lo, hi); return false; }
    *out = v;
    return true;
}

const char *cli_value(const char *verb, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) { cli_error(verb, "%s: missing value", argv[*i]); return NULL; }
    return argv[++*i];
}

/* ---- shared flags ---- */

bool cli_threads(const char *verb, const char *flag, const char *s, int *out) {
    long long v;
    if (!cli_int(verb, flag, s, 1, CLI_THREADS_MAX, &v)) return false;
    *out = (int)v;
    return true;
}

bool cli_seed(const char *verb, const char *flag, const char *s, uint64_t *out) {
    if (!s || !*s) { cli_error(verb, "%s: expected a non-negative integer, got ''", flag); return false; }
    if (*s == '-') {
        cli_error(verb, "%s: %s is negative; a seed is an integer in [0, %llu]", flag, s, (unsigned long long)UINT64_MAX);
        return false;
    }
    uint64_t v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9') {
            cli_error(verb, "%s: expected a non-negative integer, got '%s'", flag, s);
            return false;
        }
        unsigned d = (unsigned)(*c - '0');
        if (v > (UINT64_MAX - d) / 10) {
            cli_error(verb, "%s: %s is too large; a seed is an integer in [0, %llu]", flag, s, (unsigned long long)UINT64_MAX);
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

bool cli_max_tokens(const char *verb, const char *flag, const char *s, int *out) {
    long long v;
    if (!cli_int(verb, flag, s, -1, CLI_MAX_TOKENS_MAX, &v)) return false;
    *out = (int)v;
    return true;
}

/* a decimal integer in [0, CLI_DIFFICULTY_MAX] at *p, advancing *p; false if none */
static bool diff_num(const char **p, int *out) {
    const char *c = *p;
    long v = 0;
    if (*c < '0' || *c > '9') return false;
    while (*c >= '0' && *c <= '9') {
        v = v * 10 + (*c++ - '0');
        if (v > CLI_DIFFICULTY_MAX) return false;
    }
    *out = (int)v;
    *p = c;
    return true;
}

bool cli_difficulty(const char *verb, const char *flag, const char *s, bool allow_range, int *lo, int *hi) {
    const char *p = s ? s : "";
    int a, b;
    if (!diff_num(&p, &a)) goto bad;
    b = a;
    if (*p == '-' && allow_range) {
        p++;
        if (!diff_num(&p, &b)) goto bad;
    }
    if (*p) goto bad;
    if (b < a) { cli_error(verb, "%s: empty range '%s' (the first bound is above the second)", flag, s); return false; }
    *lo = a;
    *hi = b;
    return true;
bad:
    cli_error(verb, "%s: expected %s (integers in [0, %d]), got '%s'", flag, allow_range ? "D or A-B" : "D",
              CLI_DIFFICULTY_MAX, s ? s : "");
    return false;
}

bool cli_difficulty_check(const char *verb, const char *flag, const char *task, int lo, int hi) {
    if (!task) return true;
    const pd_task *t = NULL;
    for (size_t i = 0; i < pd_task_count(); i++)
        if (!strcmp(pd_task_at(i)->name, task)) t = pd_task_at(i);
    if (!t) return true; /* unknown names are reported by whoever looks the task up */
    if (lo >= t->dmin && hi <= t->dmax) return true;
    char given[48];
    if (lo == hi) snprintf(given, sizeof given, "%d", lo);
    else snprintf(given, sizeof given, "%d-%d", lo, hi);
    cli_error(verb, "%s: %s is out of range [%d, %d] for %s (%s)", flag, given, t->dmin, t->dmax, t->name,
              t->difficulty_help);
    return false;
}

bool cli_is_kv_type_flag(const char *a) {
    static const char *const names[] = {"--kv", "--kv-type", "-ctk", "--cache-type-k", "-ctv", "--cache-type-v"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(a, names[i])) return true;
    return false;
}

bool cli_kv_type(const char *verb, const char *flag, const char *s, pd_type *k, pd_type *v) {
    int t = s ? pd_type_from_name(s) : -1;
    if (t < 0 || !pd_kv_type_ok((pd_type)t)) {
        cli_error(verb, "%s: KV cache type '%s' is not supported: f16, f32, q8_0 or q4_0", flag, s ? s : "");
        return false;
    }
    bool only_k = !strcmp(flag, "-ctk") || !strcmp(flag, "--cache-type-k");
    bool only_v = !strcmp(flag, "-ctv") || !strcmp(flag, "--cache-type-v");
    if (!only_v) *k = (pd_type)t;
    if (!only_k) *v = (pd_type)t;
    return true;
}

const char *cli_kv_type_name(pd_type k, pd_type v, char *buf, size_t cap) {
    if (k == v) snprintf(buf, cap, "%s", pd_type_name(k));
    else snprintf(buf, cap, "%s/%s", pd_type_name(k), pd_type_name(v));
    return buf;
}

bool cli_kv_policy(const char *verb, const char *flag, const char *s, pd_kvp_spec *spec) {
    if (pd_kvp_parse(s ? s : "", spec) != PD_OK) { cli_error(verb, "%s: %s", flag, pd_last_error()); return false; }
    return true;
}

bool cli_kv_budget(const char *verb, const char *flag, const char *s, pd_kvp_spec *spec) {
    if (pd_kvp_parse_budget(s ? s : "", spec) != PD_OK) { cli_error(verb, "%s: %s", flag, pd_last_error()); return false; }
    return true;
}

bool cli_kv_check(const char *verb, bool policy_set, bool budget_set, const pd_kvp_spec *spec) {
    if (budget_set && !policy_set) {
        cli_error(verb, "--kv-budget has no effect without --kv-policy NAME");
        return false;
    }
    if (policy_set && !budget_set && spec->kind != PD_KVP_FULL && spec->kind != PD_KVP_RLKV) {
        cli_error(verb, "--kv-policy %s needs --kv-budget N (rows per kv head) or P%% (of the positions)",
                  pd_kvp_name(spec->kind));
        return false;
    }
    return true;
}

/* ---- prompts ---- */

char *cli_read_text(const char *verb, const char *flag, const char *path) {
    bool in = !strcmp(path, "-");
    FILE *f = in ? stdin : fopen(path, "rb");
    if (!f) { cli_error(verb, "%s %s: cannot open: %s", flag, path, strerror(errno)); return NULL; }
    size_t n = 0, cap = 4096;
    char *buf = pd_malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *b = pd_realloc(buf, cap *= 2);
            if (!b) { free(buf); buf = NULL; break; }
            buf = b;
        }
        size_t k = fread(buf + n, 1, cap - 1 - n, f);
        n += k;
        if (k == 0) break;
    }
    bool err = ferror(f);
    if (!in) fclose(f);
    if (!buf) { cli_error(verb, "%s %s: %s", flag, in ? "(stdin)" : path, pd_last_error()); return NULL; }
    if (err) { cli_error(verb, "%s %s: read error", flag, in ? "(stdin)" : path); free(buf); return NULL; }
    buf[n] = 0;
    if (strlen(buf) != n) {
        cli_error(verb, "%s %s: the text contains a NUL byte at offset %zu", flag, in ? "(stdin)" : path, strlen(buf));
        free(buf);
        return NULL;
    }
    return buf;
}

char *cli_prompt_text(const char *verb, const char *p, const char *file, bool *usage) {
    *usage = false;
    if (p && file) {
        cli_error(verb, "give the prompt once: -p TEXT, -p - (stdin) or -f FILE");
        *usage = true;
        return NULL;
    }
    if (file) return cli_read_text(verb, "-f", file);
    if (!p) return NULL;
    if (!strcmp(p, "-")) return cli_read_text(verb, "-p", "-");
    char *s = pd_strdup(p);
    if (!s) cli_error(verb, "%s", pd_last_error());
    return s;
}

/* ---- build description ---- */

const char *cli_blas_name(void) {
#ifdef PD_HAVE_OPENBLAS
    return "OpenBLAS";
#else
    return "built-in";
#endif
}

void cli_print_version(FILE *f) {
    fprintf(f, "ponder %s\n", PONDER_VERSION);
    char feat[256] = "";
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    static const char *const names[] = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16", "avxvnni"};
    const int on[] = {
        __builtin_cpu_supports("avx2"),       __builtin_cpu_supports("fma"),
        __builtin_cpu_supports("avx512f"),    __builtin_cpu_supports("avx512bw"),
        __builtin_cpu_supports("avx512vl"),   __builtin_cpu_supports("avx512vnni"),
        __builtin_cpu_supports("avx512bf16"),
#if defined(__clang__) && __clang_major__ < 15
        0, /* clang 14 (the fuzz build) does not know "avxvnni" */
#else
        __builtin_cpu_supports("avxvnni"),
#endif
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (on[i]) {
            if (feat[0]) strcat(feat, " ");
            strcat(feat, names[i]);
        }
    fprintf(f, "cpu:     x86-64%s%s\n", feat[0] ? ", " : "", feat[0] ? feat : " (no AVX2)");
#else
    fprintf(f, "cpu:     not x86-64 (portable kernels)\n");
#endif
    if (pd_isa_active() == pd_isa_best())
        fprintf(f, "kernels: %s (best this CPU runs; levels: scalar, avx2, avx512)\n", pd_isa_name(pd_isa_best()));
    else
        fprintf(f, "kernels: %s (set by PONDER_KERNELS; best this CPU runs: %s)\n", pd_isa_name(pd_isa_active()),
                pd_isa_name(pd_isa_best()));
    fprintf(f, "blas:    %s (training GEMM)\n", cli_blas_name());
#ifdef _OPENMP
    fprintf(f, "openmp:  yes (_OPENMP %d, up to %d threads)\n", _OPENMP, omp_get_max_threads());
#else
    fprintf(f, "openmp:  no\n");
#endif
}
