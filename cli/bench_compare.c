/* cli/bench_compare.c — `ponder bench --compare LLAMA_BENCH`: runs a llama-bench binary the user
 * has on the same model file with the same tests (-p / -n / -t / -r, KV type) and reads its JSON
 * results, so each of ponder's rows can print llama.cpp's tokens/s and the ratio beside its own.
 * The child gets the user's environment: when ponder chose the OpenMP wait policy itself (cli/main.c
 * marks it), those variables are removed, so llama-bench runs with its own defaults. */
#include "bench_compare.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* "a,b,c" of n ints into buf */
static void join(char *buf, size_t cap, const int *v, int n) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? "," : "", v[i]);
}

cJSON *cli_llama_bench_run(const char *bin, const char *model, const int *pp, int n_pp, const int *tg, int n_tg,
                           const int *th, int n_th, int reps, const char *k_type,
                           const char *v_type) {
    char p[256], n[256], t[256], r[16];
    join(p, sizeof p, pp, n_pp);
    join(n, sizeof n, tg, n_tg);
    join(t, sizeof t, th, n_th);
    snprintf(r, sizeof r, "%d", reps);
    /* llama-bench takes "-p 0" / "-n 0" for "none of these" */
    char *argv[] = {(char *)bin, "-m", (char *)model, "-p", n_pp ? p : "0", "-n", n_tg ? n : "0", "-t", t,
                    "-r", r, "-ctk", (char *)k_type, "-ctv", (char *)v_type, "-o", "json", NULL};
    int fd[2];
    if (pipe(fd)) {
        pd_fail(PD_ERR_IO, "--compare: pipe: %s", strerror(errno));
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        pd_fail(PD_ERR_IO, "--compare: fork: %s", strerror(errno));
        return NULL;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (getenv("PONDER_OMP_DEFAULTS")) {
            unsetenv("GOMP_SPINCOUNT");
            unsetenv("KMP_BLOCKTIME");
            unsetenv("PONDER_OMP_DEFAULTS");
        }
        execv(bin, argv);
        fprintf(stderr, "ponder bench: --compare: cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 1 << 16, len = 0;
    char *out = pd_malloc(cap);
    ssize_t got = 0;
    while (out && (got = read(fd[0], out + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (len + 1 == cap) {
            char *bigger = pd_realloc(out, cap * 2);
            if (!bigger) { free(out); out = NULL; break; }
            out = bigger;
            cap *= 2;
        }
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!out) return NULL;
    out[len] = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(out);
        pd_fail(PD_ERR_IO, "--compare: %s on %s failed (exit status %d; its messages are above)", bin, model,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return NULL;
    }
    cJSON *arr = cJSON_Parse(out);
    free(out);
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(arr);
        pd_fail(PD_ERR_FORMAT, "--compare: %s did not print a JSON array (-o json)", bin);
        return NULL;
    }
    return arr;
}

double cli_llama_bench_ts(const cJSON *arr, int n_prompt, int n_gen, int threads) {
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        const cJSON *np = cJSON_GetObjectItemCaseSensitive(o, "n_prompt"), *ng = cJSON_GetObjectItemCaseSensitive(o, "n_gen"),
                    *nt = cJSON_GetObjectItemCaseSensitive(o, "n_threads"), *ts = cJSON_GetObjectItemCaseSensitive(o, "avg_ts");
        if (cJSON_IsNumber(np) && cJSON_IsNumber(ng) && cJSON_IsNumber(nt) && cJSON_IsNumber(ts) &&
            (int)np->valuedouble == n_prompt && (int)ng->valuedouble == n_gen && (int)nt->valuedouble == threads)
            return ts->valuedouble;
    }
    return -1;
}
