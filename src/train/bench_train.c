/* train/bench_train.c — the work behind `ponder bench train` and `ponder bench gemm`.
 * gemm: f32 GEMM GFLOP/s of pd_sgemm (OpenBLAS when present) on square sizes and on the shapes a
 * training step uses, best of a few repetitions. train: full training steps (forward, backward,
 * AdamW) of random-data models of about 1M, 10M and 50M parameters; tokens/s and achieved
 * GFLOP/s, counting 6·N_matmul per token (N_matmul = every weight that takes part in a matmul,
 * the output head included) plus causal attention (12·layers·heads·head_dim·mean context per
 * token for forward + backward), and that rate as a fraction of the measured GEMM rate.
 * train --mpi: the same steps data parallel (ponder/dist.h; run under mpirun, or alone as the
 * one-rank baseline): the global batch split over the ranks, the gradient summed after the backward
 * pass; tokens/s and the share of a step spent in the gradient sum. */
#include "ponder/train.h"
#include "train_int.h"
#include "ponder/alloc.h"
#include "ponder/dist.h"
#include "ponder/kern.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double gemm_rate(int64_t M, int64_t N, int64_t K, int ta, int tb, int reps) {
    float *A = pd_malloc(sizeof(float) * (size_t)(M * K)), *B = pd_malloc(sizeof(float) * (size_t)(K * N)),
          *C = pd_malloc(sizeof(float) * (size_t)(M * N));
    if (!A || !B || !C) { free(A); free(B); free(C); return 0; }
    pd_rng r;
    pd_rng_seed(&r, 1);
    for (int64_t i = 0; i < M * K; i++) A[i] = pd_rng_uniformf(&r) - 0.5f;
    for (int64_t i = 0; i < K * N; i++) B[i] = pd_rng_uniformf(&r) - 0.5f;
    double best = 1e30;
    for (int rep = 0; rep < reps + 1; rep++) {
        double t0 = pd_time_now();
        pd_sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C, N);
        double dt = pd_time_now() - t0;
        if (rep > 0 && dt < best) best = dt; /* the first call warms caches and threads */
    }
    free(A); free(B); free(C);
    return 2.0 * (double)M * N * K / best / 1e9;
}

pd_status pd_bench_gemm_run(FILE *out, int threads, double *peak) {
    pd_threads_set(threads);
    fprintf(out, "f32 GEMM (pd_sgemm, %d threads)\n", pd_threads_get());
    fprintf(out, "%-34s %10s\n", "shape M x N x K (op)", "GFLOP/s");
    static const int sq[] = {256, 512, 1024, 2048};
    double best = 0;
    for (size_t i = 0; i < sizeof sq / sizeof sq[0]; i++) {
        double g = gemm_rate(sq[i], sq[i], sq[i], 0, 1, sq[i] >= 2048 ? 2 : 4);
        char s[64];
        snprintf(s, sizeof s, "%d x %d x %d (A·Bᵀ)", sq[i], sq[i], sq[i]);
        fprintf(out, "%-36s %10.1f\n", s, g);
        if (g > best) best = g;
    }
    /* the three products of a linear layer in training (50M model: 1024 tokens, 640 → 1728) */
    struct { int64_t M, N, K; int ta, tb; const char *what; } tr[] = {
        {1024, 1728, 640, 0, 1, "1024 x 1728 x 640 (forward)"},
        {1024, 640, 1728, 0, 0, "1024 x 640 x 1728 (grad input)"},
        {1728, 640, 1024, 1, 0, "1728 x 640 x 1024 (grad weight)"},
    };
    for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++)
        fprintf(out, "%-34s %10.1f\n", tr[i].what, gemm_rate(tr[i].M, tr[i].N, tr[i].K, tr[i].ta, tr[i].tb, 3));
    if (peak) *peak = best;
    return PD_OK;
}

typedef struct { const char *name; int dim, layers, heads, ffn; } bench_size;
static const bench_size sizes[] = {
    {"1M", 128, 4, 4, 384},
    {"10M", 320, 8, 5, 864},
    {"50M", 640, 10, 10, 1728},
};

/* The benchmark's model of size z (qwen3 shape, byte vocabulary) with its seed-1 random init; *r is
 * left as the init leaves it (the single-process benchmark draws its tokens from it). */
static pd_tmodel *bench_model(const bench_size *z, int B, int T, pd_rng *r) {
    pd_tcfg c;
    memset(&c, 0, sizeof c);
    pd_tcfg_set_arch(&c, "qwen3");
    c.n_vocab = PD_TRAIN_VOCAB; c.dim = z->dim; c.n_layer = z->layers; c.n_head = z->heads;
    c.n_head_kv = z->heads; c.head_dim = z->dim / z->heads; c.n_ff = z->ffn; c.n_ctx = T; c.tied = true;
    pd_tmodel *m = pd_tmodel_new(&c, B, T);
    if (!m) return NULL;
    pd_rng_seed(r, 1);
    pd_tmodel_init(m, r);
    return m;
}

pd_status pd_bench_train_run(FILE *out, const char *only, int threads, int steps, int B, int T) {
    pd_threads_set(threads);
    double peak = 0;
    pd_status st = pd_bench_gemm_run(out, threads, &peak);
    if (st != PD_OK) return st;
    fprintf(out, "\ntraining steps (qwen3 layout, vocab %d, batch %d x %d tokens, %d timed steps after 1 warm-up, %d threads)\n",
            PD_TRAIN_VOCAB, B, T, steps, pd_threads_get());
    fprintf(out, "%-5s %10s %10s %12s %10s %10s %13s\n", "size", "params", "s/step", "tokens/s", "GFLOP/tok",
            "GFLOP/s", "of GEMM peak");
    bool any = false;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const bench_size *z = &sizes[si];
        if (only && strcmp(only, z->name)) continue;
        any = true;
        pd_rng r;
        pd_tmodel *m = bench_model(z, B, T, &r);
        if (!m) return PD_ERR_NOMEM;
        size_t n = (size_t)B * T;
        int32_t *tok = pd_malloc(n * sizeof(int32_t)), *tgt = pd_malloc(n * sizeof(int32_t));
        if (!tok || !tgt) { free(tok); free(tgt); pd_tmodel_free(m); return PD_ERR_NOMEM; }
        for (size_t i = 0; i < n; i++) { tok[i] = (int32_t)pd_rng_below(&r, 256); tgt[i] = (int32_t)pd_rng_below(&r, 256); }
        pd_tbatch b = {B, T, tok, tgt, NULL};
        pd_optcfg o;
        pd_optcfg_default(&o);
        double t_total = 0;
        for (int s = 0; s <= steps; s++) {
            double t0 = pd_time_now();
            int64_t nt;
            pd_tmodel_zero_grad(m);
            pd_tmodel_forward(m, &b, &nt);
            pd_tmodel_backward(m, &b, 1.0f / (float)nt);
            pd_tmodel_adamw(m, &o, s, 1e-4f);
            if (s > 0) t_total += pd_time_now() - t0;
        }
        /* matmul weights: every layer matrix + the output head (tied: the embedding, used once as a matmul) */
        size_t sz[PD_TP_COUNT];
        const pd_tcfg c = *pd_tmodel_cfg(m);
        pd_tcfg_param_sizes(&c, sz);
        double nmat = (double)(sz[PD_TP_WQ] + sz[PD_TP_WK] + sz[PD_TP_WV] + sz[PD_TP_WO] + sz[PD_TP_GATE] + sz[PD_TP_UP] +
                               sz[PD_TP_DOWN]) + (double)c.n_vocab * c.dim;
        double attn = 12.0 * c.n_layer * c.n_head * c.head_dim * ((T + 1) / 2.0);
        double flop_tok = 6.0 * nmat + attn;
        double sps = t_total / steps, tps = (double)n / sps, gf = flop_tok * tps / 1e9;
        fprintf(out, "%-5s %10zu %10.3f %12.0f %10.4f %10.1f %12.0f%%\n", z->name, pd_tmodel_n_params(m), sps, tps,
                flop_tok / 1e9, gf, peak > 0 ? 100 * gf / peak : 0);
        free(tok); free(tgt);
        pd_tmodel_free(m);
    }
    if (!any) return pd_fail(PD_ERR_ARG, "bench train: unknown size '%s' (1M, 10M, 50M)", only);
    return PD_OK;
}

/* the machine's load average (the machine may be shared: timings mean little without it) */
static void load_avg(char *buf, size_t n) {
    FILE *f = fopen("/proc/loadavg", "r");
    double a = 0, b = 0, c = 0;
    if (f && fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) snprintf(buf, n, "%.2f %.2f %.2f", a, b, c);
    else snprintf(buf, n, "unknown");
    if (f) fclose(f);
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static pd_status bench_mpi(FILE *out, const char *only, int threads, int steps, int B, int T) {
    pd_threads_set(threads);
    int N = pd_dist_size(), me = pd_dist_rank();
    if (B % N) return pd_fail(PD_ERR_ARG, "bench train --mpi: --batch %d (global) is not a multiple of %d ranks", B, N);
    int b = B / N;
    char la[64];
    load_avg(la, sizeof la);
    fprintf(out, "data-parallel training steps (qwen3 layout, vocab %d): %d rank%s x %d thread%s, global batch %d x %d "
                 "tokens (%d rows per rank), %d timed steps after 1 warm-up\nload average before: %s\n\n",
            PD_TRAIN_VOCAB, N, N > 1 ? "s" : "", pd_threads_get(), pd_threads_get() > 1 ? "s" : "", B, T, b, steps, la);
    fprintf(out, "| size | params | ranks x threads | s/step | tokens/s | tokens per CPU s | compute s | wait s | "
                 "gradient sum s | comm share | MB sent per rank | sum GB/s |\n"
                 "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    bool any = false;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const bench_size *z = &sizes[si];
        if (only ? strcmp(only, z->name) : !strcmp(z->name, "50M")) continue;   /* default: 1M and 10M */
        any = true;
        pd_rng r;
        pd_tmodel *m = bench_model(z, b, T, &r);   /* the same weights on every rank */
        if (!m) return PD_ERR_NOMEM;
        pd_rng_seed(&r, 1000 + (uint64_t)me);   /* each rank its own rows */
        size_t n = (size_t)b * T;
        int32_t *tok = pd_malloc(n * sizeof(int32_t)), *tgt = pd_malloc(n * sizeof(int32_t));
        if (!tok || !tgt) { free(tok); free(tgt); pd_tmodel_free(m); return PD_ERR_NOMEM; }
        for (size_t i = 0; i < n; i++) { tok[i] = (int32_t)pd_rng_below(&r, 256); tgt[i] = (int32_t)pd_rng_below(&r, 256); }
        pd_tbatch tb = {b, T, tok, tgt, NULL};
        pd_optcfg o;
        pd_optcfg_default(&o);
        double t_total = 0, t_comm = 0, t_wait = 0, sent = 0, cpu = 0, cpu_sum = 0;
        pd_status st = pd_dist_barrier();
        for (int s = 0; s <= steps && st == PD_OK; s++) {
            double t0 = pd_time_now(), c0 = cpu_now();
            int64_t nt;
            pd_tmodel_zero_grad(m);
            pd_tmodel_forward(m, &tb, &nt);
            pd_tmodel_backward(m, &tb, 1.0f / (float)(nt * N));
            if (s > 0) cpu += cpu_now() - c0;   /* forward + backward of this rank's rows */
            pd_dist_stats d0, d1;
            double tw = pd_time_now();
            st = pd_dist_barrier();   /* waiting for the slowest rank, apart from the sum itself */
            tw = pd_time_now() - tw;
            pd_dist_stats_get(&d0);
            double tc = pd_time_now(), cc = cpu_now();
            if (st == PD_OK) st = pd_tmodel_sum_grads(m);
            tc = pd_time_now() - tc;
            cc = cpu_now() - cc;
            pd_dist_stats_get(&d1);
            pd_tmodel_adamw(m, &o, s, 1e-4f);
            if (s > 0) { t_total += pd_time_now() - t0; t_comm += tc; t_wait += tw; cpu_sum += cc; sent += d1.bytes_sent - d0.bytes_sent; }
        }
        free(tok); free(tgt);
        size_t np = pd_tmodel_n_params(m);
        pd_tmodel_free(m);
        if (st != PD_OK) return st;
        /* the slowest rank sets the pace: its times are reported */
        double tm[4] = {t_total, t_comm, t_wait, cpu_sum}, cpu_all = cpu;
        PD_TRY(pd_dist_max_f64(tm, 4));
        PD_TRY(pd_dist_sum_f64(&cpu_all, 1));
        double sps = tm[0] / steps, cps = tm[1] / steps, wps = tm[2] / steps, mb = sent / steps / 1e6;
        /* bytes this rank sent over the wall time of the sums, and over their CPU time (what the sum
         * costs when the rank has its core: the figure that does not depend on the machine's load) */
        char bw[48] = "-";
        if (N > 1 && cps > 0) snprintf(bw, sizeof bw, "%.2f (%.2f per CPU s)", mb / 1e3 / cps, tm[3] > 0 ? mb / 1e3 / (tm[3] / steps) : 0);
        fprintf(out, "| %s | %zu | %d x %d | %.3f | %.0f | %.0f | %.3f | %.4f | %.4f | %.1f%% | %.1f | %s |\n", z->name,
                np, N, pd_threads_get(), sps, (double)B * T / sps, cpu_all > 0 ? (double)B * T * steps / cpu_all : 0,
                sps - cps - wps, wps, cps, sps > 0 ? 100 * cps / sps : 0, mb, bw);
    }
    load_avg(la, sizeof la);
    fprintf(out, "\nload average after: %s\n", la);
    if (!any) return pd_fail(PD_ERR_ARG, "bench train: unknown size '%s' (1M, 10M, 50M)", only);
    return PD_OK;
}

/* ---- `ponder bench gemm|train [flags]` (called from cli/cmd_bench.c with argv[0] = the sub-verb) ---- */
static int flag_int(const char *sub, const char *flag, const char *v, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < lo || x > hi) {
        fprintf(stderr, "ponder bench %s: %s: expected an integer in [%ld, %ld], got '%s'\n", sub, flag, lo, hi,
                v ? v : "");
        return 0;
    }
    *out = (int)x;
    return 1;
}

static int bench_main(int argc, char **argv, bool train) {
    const char *sub = train ? "train" : "gemm", *only = NULL;
    int threads = 0, steps = 3, B = 4, T = 256;
    bool mpi = false;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            printf("usage: ponder bench %s [--threads N]%s\n"
                   "  --threads N   1..1024 (default: physical cores)\n", sub,
                   train ? " [--size 1M|10M|50M] [--steps N] [--batch B] [--seq T] [--mpi]\n"
                           "  training steps (forward + backward + AdamW) of ~1M/10M/50M-parameter models on random\n"
                           "  tokens: tokens/s, GFLOP/s (6·N per token + attention) and the fraction of GEMM peak\n"
                           "  --size S      1M, 10M or 50M (default: all three)\n"
                           "  --steps N     timed steps per size (default 3)\n"
                           "  --batch B     rows per step (default 4)\n"
                           "  --seq T       tokens per row (default 256)\n"
                           "  --mpi         data parallel (run under mpirun -np N; alone: the 1-rank baseline): --batch\n"
                           "                is global, split over the ranks; tokens/s and the share of each step spent\n"
                           "                summing gradients (default sizes 1M and 10M; --batch must divide by N)"
                         : "\n  f32 GEMM GFLOP/s of pd_sgemm on square and training-step shapes");
            return 0;
        }
        int ok = 1;
        if (!strcmp(f, "--threads") || !strcmp(f, "-t")) ok = flag_int(sub, f, v, 1, 1024, &threads), i++; /* one range with cli_threads */
        else if (train && !strcmp(f, "--steps")) ok = flag_int(sub, f, v, 1, 1000, &steps), i++;
        else if (train && !strcmp(f, "--mpi")) { mpi = true; continue; }
        else if (train && !strcmp(f, "--batch")) ok = flag_int(sub, f, v, 1, 4096, &B), i++;
        else if (train && !strcmp(f, "--seq")) ok = flag_int(sub, f, v, 2, 65536, &T), i++;
        else if (train && !strcmp(f, "--size")) {
            if (!v) { fprintf(stderr, "ponder bench train: --size: missing value\n"); return 2; }
            only = v;
            i++;
        } else {
            fprintf(stderr, "ponder bench %s: unknown flag '%s'\n", sub, f);
            return 2;
        }
        if (!ok) return 2;
    }
    pd_status st = mpi     ? bench_mpi(stdout, only, threads, steps, B, T)
                   : train ? pd_bench_train_run(stdout, only, threads, steps, B, T)
                           : pd_bench_gemm_run(stdout, threads, NULL);
    if (st != PD_OK) {
        fprintf(stderr, "ponder bench %s: %s\n", sub, pd_last_error());
        return st == PD_ERR_ARG ? 2 : 1;
    }
    return 0;
}

int pd_bench_train(int argc, char **argv) { return bench_main(argc, argv, true); }
int pd_bench_gemm(int argc, char **argv) { return bench_main(argc, argv, false); }
