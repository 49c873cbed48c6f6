/* cli/main.c — `ponder <verb> ...`: global flags (--help, --version), the `--flag=value` spelling
 * (split into `--flag value` here, once, for every verb), and dispatch through the verb table in
 * cli/verbs.h. Each verb is implemented in cli/cmd_<verb>.c. Under mpirun (ponder/dist.h) every rank
 * runs the verb; only rank 0 writes to standard output, and a rank that fails ends the whole job. */
#include "cli.h"
#include "ponder/alloc.h"
#include "ponder/dist.h"
#include "ponder/outfile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*cmd_fn)(int argc, char **argv);
#define PD_VERB(name, help) int pd_cmd_##name(int argc, char **argv);
#include "verbs.h"
#undef PD_VERB

static const struct { const char *name; cmd_fn fn; const char *help; } verbs[] = {
#define PD_VERB(name, help) {#name, pd_cmd_##name, help},
#include "verbs.h"
#undef PD_VERB
};

static void print_wait_policy(FILE *f);

static void usage(FILE *f) {
    /* the verb list comes last: scripts read every line after "verbs:" as a verb */
    fprintf(f, "usage: ponder <verb> [flags]   (ponder <verb> --help for a verb's flags)\n"
               "       ponder --version        version and build (CPU features, BLAS, OpenMP)\n\n"
               "flags take their value as `--flag value` or `--flag=value`; exit status: 0 ok, 1 runtime error,\n"
               "2 usage error (bad command line).\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
}

/* "--name=value" → "--name" "value" (a flag name is letters, digits and '-'); everything after a
 * bare "--" is left alone. Returns the new argv (owned; the strings point into argv or one block). */
static char **split_eq(int argc, char **argv, int *argc_out) {
    int extra = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strncmp(argv[i], "--", 2) && strchr(argv[i], '=')) extra++;
    }
    char **out = pd_calloc((size_t)(argc + extra + 1), sizeof *out);
    if (!out) return NULL;
    int n = 0;
    bool raw = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i], *eq = raw ? NULL : strchr(a, '=');
        if (!raw && !strcmp(a, "--")) raw = true;
        bool name_ok = !raw && !strncmp(a, "--", 2) && eq && eq > a + 2;
        for (char *c = a + 2; name_ok && c < eq; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-'))
                name_ok = false;
        if (name_ok) {
            *eq = 0; /* argv strings are ours to modify (C11 5.1.2.2.1) */
            out[n++] = a;
            out[n++] = eq + 1;
        } else {
            out[n++] = a;
        }
    }
    out[n] = NULL;
    *argc_out = n;
    return out;
}

/* Every verb's standard output is checked once at the end (base/outfile.c): a write that failed on
 * the way (a full disk, /dev/full) is an error even when the verb itself succeeded. */
static int finish(int rc) {
    if (pd_out_close_stdout() != PD_OK && rc == CLI_OK) { /* a failed verb has said why already */
        fprintf(stderr, "ponder: %s\n", pd_last_error());
        return CLI_RUNTIME;
    }
    return rc;
}

static int run(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return CLI_USAGE; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return finish(CLI_OK);
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") || !strcmp(argv[1], "version")) {
        cli_print_version(stdout);
        print_wait_policy(stdout);
        return finish(CLI_OK);
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(argv[1], verbs[i].name)) continue;
        int n;
        char **av = split_eq(argc - 1, argv + 1, &n);
        if (!av) { fprintf(stderr, "ponder: out of memory\n"); return CLI_RUNTIME; }
        int rc = verbs[i].fn(n, av);
        free(av);
        return finish(rc);
    }
    fprintf(stderr, "ponder: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}

/* OpenMP's wait policy. libgomp reads it from the environment once, when it is loaded (before
 * main), and by default a thread that reaches a barrier spins ~300000 times before it sleeps: on
 * a machine whose cores are busy with other work, the spinning thread takes the core that the
 * thread it waits for needs, and 2 threads run slower than 1. Unless the user chose a policy
 * (OMP_WAIT_POLICY, GOMP_SPINCOUNT or KMP_BLOCKTIME set), the binary asks for a short spin (200
 * turns, then sleep in the kernel: enough for the gaps between one token's matmuls on an idle
 * machine) and re-executes itself once so that libgomp reads it; LLVM's libomp reads
 * KMP_BLOCKTIME (milliseconds) at its first parallel region, so it needs no re-exec. */
#define PD_OMP_MARK "PONDER_OMP_DEFAULTS" /* set with them: the values are ponder's, not the user's */

static void omp_wait_policy(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || getenv("KMP_BLOCKTIME")) return;
    if (setenv("GOMP_SPINCOUNT", "200", 1) || setenv("KMP_BLOCKTIME", "1", 1) || setenv(PD_OMP_MARK, "1", 1)) return;
#if defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
    execv("/proc/self/exe", argv); /* returns only on failure: go on with libgomp's default */
#else
    (void)argv;
#endif
}

/* One line for --version: which wait policy this process runs with and who chose it. */
static void print_wait_policy(FILE *f) {
    const char *p = getenv("OMP_WAIT_POLICY"), *s = getenv("GOMP_SPINCOUNT"), *b = getenv("KMP_BLOCKTIME");
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s%s%s%s%s", p ? " OMP_WAIT_POLICY=" : "", p ? p : "", s ? " GOMP_SPINCOUNT=" : "",
             s ? s : "", b ? " KMP_BLOCKTIME=" : "", b ? b : "");
    fprintf(f, "omp wait:%s (%s)\n", buf[0] ? buf : " OpenMP's default",
            getenv(PD_OMP_MARK) ? "ponder's default" : "from the environment");
}

int main(int argc, char **argv) {
    omp_wait_policy(argv);
    if (pd_dist_init(&argc, &argv) != PD_OK) {
        fprintf(stderr, "ponder: %s\n", pd_last_error());
        return CLI_RUNTIME;
    }
    /* one summary per job: the other ranks' standard output is discarded (their errors still show) */
    if (pd_dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "ponder: rank %d: cannot redirect standard output\n", pd_dist_rank());
        pd_dist_abort(CLI_RUNTIME);
        return CLI_RUNTIME;
    }
    int rc = run(argc, argv);
    if (pd_dist_on() && rc != CLI_OK) {
        /* the other ranks may be waiting for this one inside a collective: end them all */
        fprintf(stderr, "ponder: rank %d of %d failed (exit status %d): ending the job\n", pd_dist_rank(),
                pd_dist_size(), rc);
        pd_dist_abort(rc);
    }
    pd_dist_finalize();
    return rc;
}
