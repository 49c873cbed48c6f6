/* train/bench_train.c — the work behind `ponder bench train` and `ponder bench gemm`.
 * gemm: f32 GEMM GFLOP/s of pd_sgemm (OpenBLAS when present) on square sizes and on the shapes a
 * training step uses, best of a few repetitions. train: full training steps (forward, backward,
 * AdamW) of random-data models of about 1M, 10M and 50M parameters at one or more thread counts;
 * tokens/s (wall) and tokens per CPU second, and achieved GFLOP/s, counting 6·N_matmul per token
 * (N_matmul = every weight that takes part in a matmul, the output head included) plus causal
 * attention (12·layers·heads·head_dim·mean context per token for forward + backward), as a share of
 * the FMA peak measured at start (independent FMA chains on one core, its CPU time). --torch: the
 * same model, shapes and steps in PyTorch (a python3 child, only if torch imports), right after each
 * ponder row so both see the same load, and the ratio.
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
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double thread_cpu(void);

/* GFLOP/s of pd_sgemm on one shape, best of reps after a warm-up call; cpu: per second of the calling
 * thread's CPU time (for the one-thread engine columns: other processes do not count) */
static double gemm_rate(int64_t M, int64_t N, int64_t K, int ta, int tb, int reps, bool cpu) {
    float *A = pd_malloc(sizeof(float) * (size_t)(M * K)), *B = pd_malloc(sizeof(float) * (size_t)(K * N)),
          *C = pd_malloc(sizeof(float) * (size_t)(M * N));
    if (!A || !B || !C) { free(A); free(B); free(C); return 0; }
    pd_rng r;
    pd_rng_seed(&r, 1);
    for (int64_t i = 0; i < M * K; i++) A[i] = pd_rng_uniformf(&r) - 0.5f;
    for (int64_t i = 0; i < K * N; i++) B[i] = pd_rng_uniformf(&r) - 0.5f;
    double best = 1e30;
    for (int rep = 0; rep < reps + 1; rep++) {
        double t0 = cpu ? thread_cpu() : pd_time_now();
        pd_sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C, N);
        double dt = (cpu ? thread_cpu() : pd_time_now()) - t0;
        if (rep > 0 && dt < best) best = dt; /* the first call warms caches and threads */
    }
    free(A); free(B); free(C);
    return 2.0 * (double)M * N * K / best / 1e9;
}

/* the GEMM table: pd_sgemm on `threads` threads (wall), and each engine pinned on one thread
 * (GFLOP per CPU second) with the one pd_sgemm's automatic choice takes for the shape */
pd_status pd_bench_gemm_run(FILE *out, int threads, double *peak) {
    pd_sgemm_engine pinned = pd_sgemm_get_engine();
    char rep[2048];
    pd_sgemm_report(rep, sizeof rep);
    fprintf(out, "%s\n", rep);
    pd_threads_set(threads);
    int nt = pd_threads_get();
    fprintf(out, "f32 GEMM: pd_sgemm at %d thread%s (GFLOP/s, wall) and each engine at 1 thread (GFLOP/CPU-s)\n", nt,
            nt > 1 ? "s" : "");
    fprintf(out, "%-40s %9s %9s %9s  %s\n", "shape M x N x K (op)", "pd_sgemm", "OpenBLAS", "builtin", "chosen");
    /* the linear layers of the bench models (16 x 256 tokens; forward x·Wᵀ, grad input dy·W, grad
     * weight dyᵀ·x of the FFN's up/gate matrix) and the attention blocks (64 query rows, head dim
     * 64 for 10M/50M, 32 for 1M; S = Q·Kᵀ, O = P·V, dK = dSᵀ·Q) */
    struct { int64_t M, N, K; int ta, tb; const char *what; } sh[] = {
        {256, 256, 256, 0, 1, "256^3 (A x B^T)"},
        {512, 512, 512, 0, 1, "512^3 (A x B^T)"},
        {1024, 1024, 1024, 0, 1, "1024^3 (A x B^T)"},
        {4096, 384, 128, 0, 1, "1M  4096 x 384 x 128 (forward)"},
        {4096, 128, 384, 0, 0, "1M  4096 x 128 x 384 (grad input)"},
        {384, 128, 4096, 1, 0, "1M  384 x 128 x 4096 (grad weight)"},
        {4096, 864, 320, 0, 1, "10M 4096 x 864 x 320 (forward)"},
        {4096, 320, 864, 0, 0, "10M 4096 x 320 x 864 (grad input)"},
        {864, 320, 4096, 1, 0, "10M 864 x 320 x 4096 (grad weight)"},
        {4096, 1728, 640, 0, 1, "50M 4096 x 1728 x 640 (forward)"},
        {4096, 640, 1728, 0, 0, "50M 4096 x 640 x 1728 (grad input)"},
        {1728, 640, 4096, 1, 0, "50M 1728 x 640 x 4096 (grad weight)"},
        {64, 256, 64, 0, 1, "attn hd64 64 x 256 x 64 (S = Q K^T)"},
        {64, 64, 256, 0, 0, "attn hd64 64 x 64 x 256 (O = P V)"},
        {256, 64, 64, 1, 0, "attn hd64 256 x 64 x 64 (dK = dS^T Q)"},
        {64, 256, 32, 0, 1, "attn hd32 64 x 256 x 32 (S = Q K^T)"},
        {64, 32, 256, 0, 0, "attn hd32 64 x 32 x 256 (O = P V)"},
    };
    double best = 0;
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
        double fl = 2.0 * (double)sh[i].M * sh[i].N * sh[i].K;
        int reps = fl < 1e7 ? 50 : fl < 1e9 ? 4 : 2;
        pd_sgemm_set_engine(pinned);
        pd_threads_set(threads);
        double g = gemm_rate(sh[i].M, sh[i].N, sh[i].K, sh[i].ta, sh[i].tb, reps, false);
        pd_sgemm_engine ch = pd_sgemm_engine_for(sh[i].ta, sh[i].tb, sh[i].M, sh[i].N, sh[i].K);
        if (sh[i].M == sh[i].N && sh[i].N == sh[i].K && g > best) best = g;
        pd_threads_set(1);
        double e[2] = {0, 0};
        for (int k = 0; k < 2; k++) {
            pd_sgemm_set_engine(k ? PD_SGEMM_BUILTIN : PD_SGEMM_BLAS);
            if (pd_sgemm_engine_for(sh[i].ta, sh[i].tb, sh[i].M, sh[i].N, sh[i].K) == (k ? PD_SGEMM_BUILTIN : PD_SGEMM_BLAS))
                e[k] = gemm_rate(sh[i].M, sh[i].N, sh[i].K, sh[i].ta, sh[i].tb, reps, true);
        }
        char eb[2][16];
        for (int k = 0; k < 2; k++) snprintf(eb[k], sizeof eb[k], e[k] > 0 ? "%.1f" : "-", e[k]);
        fprintf(out, "%-40s %9.1f %9s %9s  %s\n", sh[i].what, g, eb[0], eb[1], ch == PD_SGEMM_BLAS ? "OpenBLAS" : "builtin");
    }
    pd_sgemm_set_engine(pinned);
    pd_threads_set(threads);
    if (peak) *peak = best;
    return PD_OK;
}

typedef struct { const char *name; int dim, layers, heads, ffn; } bench_size;
static const bench_size sizes[] = {
    {"1M", 128, 4, 4, 384},
    {"10M", 320, 8, 5, 864},
    {"50M", 640, 10, 10, 1728},
};

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

/* ---- the FMA peak of one core: independent FMA chains (enough to cover the latency of both FMA
 * pipes: 12 × 8 lanes on AVX2, 12 × 16 on AVX-512), best of a few runs, in the thread's CPU time so
 * that other processes on the machine do not lower it. GFLOP per CPU second; 0 without FMA. */
static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FMA12(T, fma)                                                                                          \
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c); a4 = fma(a4, m, c);          \
    a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c); a8 = fma(a8, m, c); a9 = fma(a9, m, c);          \
    a10 = fma(a10, m, c); a11 = fma(a11, m, c)
__attribute__((target("avx2,fma"), noinline)) static float fma_loop_avx2(long n) {
    __m256 a0 = _mm256_set1_ps(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
           a10 = a0, a11 = a0, m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < n; i++) {
        FMA12(__m256, _mm256_fmadd_ps);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
        __asm__ volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    return _mm256_cvtss_f32(s);
}
__attribute__((target("avx512f"), noinline)) static float fma_loop_avx512(long n) {
    __m512 a0 = _mm512_set1_ps(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0,
           a10 = a0, a11 = a0, m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < n; i++) {
        FMA12(__m512, _mm512_fmadd_ps);
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
        __asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return _mm512_reduce_add_ps(s);
}
#undef FMA12
#endif

static double fma_peak(const char **isa) {
    *isa = "none";
#if defined(__x86_64__) || defined(__i386__)
    pd_isa level = pd_isa_active();
    if (level < PD_ISA_AVX2) return 0;
    bool wide = level >= PD_ISA_AVX512;
    *isa = wide ? "AVX-512 FMA" : "AVX2 FMA";
    double lanes = wide ? 16 : 8, best = 0;
    long n = 4000000; /* 48M FMAs: ~10-20 ms per run */
    volatile float sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = thread_cpu();
        sink += wide ? fma_loop_avx512(n) : fma_loop_avx2(n);
        double dt = thread_cpu() - t0;
        if (dt > 0 && 24.0 * lanes * n / dt / 1e9 > best) best = 24.0 * lanes * n / dt / 1e9;
    }
    (void)sink;
    return best;
#else
    return 0;
#endif
}

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

/* ---- the same model in PyTorch (--torch): a script run with `python3 -c`, the shapes on its command
 * line, one JSON line back. Same layout as bench_model: qwen3 (RMSNorm, per-head q/k RMSNorm, NEOX
 * RoPE, SwiGLU, tied embedding, no biases), causal attention written out (1.13 has no fused kernel),
 * cross-entropy, AdamW; 1 warm-up step, then `steps` timed ones. PyTorch is never a dependency: without
 * it `--torch` is refused. */
static const char torch_script[] =
    "import sys, json, time\n"
    "try:\n"
    "    import torch\n"
    "    import torch.nn.functional as F\n"
    "except Exception as e:\n"
    "    print(json.dumps({'error': 'cannot import torch: %s' % e})); sys.exit(3)\n"
    "dim, L, H, ffn, V, B, T, steps, threads = map(int, sys.argv[1:10])\n"
    "torch.set_num_threads(threads); torch.manual_seed(1)\n"
    "hd = dim // H\n"
    "class RMS(torch.nn.Module):\n"
    "    def __init__(s, n):\n"
    "        super().__init__(); s.w = torch.nn.Parameter(torch.ones(n))\n"
    "    def forward(s, x): return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * s.w\n"
    "def lin(i, o): return torch.nn.Linear(i, o, bias=False)\n"
    "inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))\n"
    "ang = torch.arange(T).float()[:, None] * inv[None, :]\n"
    "cos, sin = torch.cos(ang), torch.sin(ang)\n"
    "def rope(x):\n"
    "    a, b = x[..., :hd // 2], x[..., hd // 2:]\n"
    "    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)\n"
    "mask = torch.ones(T, T, dtype=torch.bool).triu(1)\n"
    "class Block(torch.nn.Module):\n"
    "    def __init__(s):\n"
    "        super().__init__()\n"
    "        s.n1, s.n2, s.qn, s.kn = RMS(dim), RMS(dim), RMS(hd), RMS(hd)\n"
    "        s.q, s.k, s.v, s.o = lin(dim, dim), lin(dim, dim), lin(dim, dim), lin(dim, dim)\n"
    "        s.g, s.u, s.d = lin(dim, ffn), lin(dim, ffn), lin(ffn, dim)\n"
    "    def forward(s, x):\n"
    "        h = s.n1(x)\n"
    "        q = rope(s.qn(s.q(h).view(B, T, H, hd)).transpose(1, 2))\n"
    "        k = rope(s.kn(s.k(h).view(B, T, H, hd)).transpose(1, 2))\n"
    "        v = s.v(h).view(B, T, H, hd).transpose(1, 2)\n"
    "        a = ((q @ k.transpose(-2, -1)) * hd ** -0.5).masked_fill(mask, float('-inf')).softmax(-1)\n"
    "        x = x + s.o((a @ v).transpose(1, 2).reshape(B, T, dim))\n"
    "        h = s.n2(x)\n"
    "        return x + s.d(F.silu(s.g(h)) * s.u(h))\n"
    "class Model(torch.nn.Module):\n"
    "    def __init__(s):\n"
    "        super().__init__()\n"
    "        s.emb = torch.nn.Embedding(V, dim)\n"
    "        s.blocks = torch.nn.ModuleList([Block() for _ in range(L)])\n"
    "        s.nf = RMS(dim)\n"
    "    def forward(s, t):\n"
    "        x = s.emb(t)\n"
    "        for b in s.blocks: x = b(x)\n"
    "        return s.nf(x) @ s.emb.weight.t()\n"
    "m = Model()\n"
    "opt = torch.optim.AdamW(m.parameters(), lr=1e-4)\n"
    "tok = torch.randint(0, 256, (B, T)); tgt = torch.randint(0, 256, (B, T))\n"
    "wall = cpu = 0.0\n"
    "for step in range(steps + 1):\n"
    "    t0, c0 = time.perf_counter(), time.process_time()\n"
    "    opt.zero_grad(set_to_none=True)\n"
    "    loss = F.cross_entropy(m(tok).view(-1, V), tgt.view(-1))\n"
    "    loss.backward(); opt.step()\n"
    "    if step > 0: wall += time.perf_counter() - t0; cpu += time.process_time() - c0\n"
    "print(json.dumps({'torch': torch.__version__, 'params': sum(p.numel() for p in m.parameters()),\n"
    "                  's_per_step': wall / steps, 'cpu_per_step': cpu / steps}))\n";

typedef struct { double s_step, cpu_step; long long params; char version[32]; } torch_row;

/* Runs the script for size z at `threads` threads; PyTorch gets its own best settings for the thread
 * count (passive OpenMP waits, OpenBLAS/MKL at the same count; ponder's spin settings removed). */
static pd_status torch_run(const char *python, const bench_size *z, int threads, int steps, int B, int T, torch_row *r) {
    char cmd[8192];
    int n = snprintf(cmd, sizeof cmd,
                     "env -u GOMP_SPINCOUNT -u KMP_BLOCKTIME OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=%d "
                     "OPENBLAS_NUM_THREADS=%d MKL_NUM_THREADS=%d \"$PD_TORCH_PYTHON\" -c \"$PD_TORCH_SCRIPT\" %d %d %d %d %d %d %d %d %d",
                     threads, threads, threads, z->dim, z->layers, z->heads, z->ffn, PD_TRAIN_VOCAB, B, T, steps,
                     threads);
    if (n < 0 || (size_t)n >= sizeof cmd) return pd_fail(PD_ERR_ARG, "bench train --torch: command too long");
    if (setenv("PD_TORCH_SCRIPT", torch_script, 1) || setenv("PD_TORCH_PYTHON", python, 1))
        return pd_fail(PD_ERR_IO, "bench train --torch: cannot set the script's environment variable");
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p) return pd_fail(PD_ERR_IO, "bench train --torch: cannot run %s: %s", python, strerror(errno));
    char line[4096] = "", last[4096] = "";
    while (fgets(line, sizeof line, p)) snprintf(last, sizeof last, "%s", line);
    int rc = pclose(p);
    unsetenv("PD_TORCH_SCRIPT");
    unsetenv("PD_TORCH_PYTHON");
    cJSON *j = cJSON_Parse(last);
    const cJSON *err = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    if (cJSON_IsString(err)) {
        pd_status st = pd_fail(PD_ERR_IO, "bench train --torch: %s %s (PyTorch is optional: install it, e.g. "
                                           "apt-get install python3-torch, point --python at an interpreter that has "
                                           "it, or leave out --torch)", python, err->valuestring);
        cJSON_Delete(j);
        return st;
    }
    const cJSON *s = j ? cJSON_GetObjectItemCaseSensitive(j, "s_per_step") : NULL,
                *c = j ? cJSON_GetObjectItemCaseSensitive(j, "cpu_per_step") : NULL,
                *np = j ? cJSON_GetObjectItemCaseSensitive(j, "params") : NULL,
                *v = j ? cJSON_GetObjectItemCaseSensitive(j, "torch") : NULL;
    if (rc != 0 || !cJSON_IsNumber(s) || !cJSON_IsNumber(c) || !cJSON_IsNumber(np) || !cJSON_IsString(v) ||
        !(s->valuedouble > 0)) {
        cJSON_Delete(j);
        return pd_fail(PD_ERR_IO, "bench train --torch: %s failed (exit status %d) for size %s; last line: %.200s",
                       python, rc, z->name, last[0] ? last : "(none)");
    }
    r->s_step = s->valuedouble;
    r->cpu_step = c->valuedouble;
    r->params = (long long)np->valuedouble;
    snprintf(r->version, sizeof r->version, "%s", v->valuestring);
    cJSON_Delete(j);
    return PD_OK;
}

typedef struct {
    pd_precision prec;      /* of ponder's GEMMs (--precision; PyTorch's rows stay f32) */
    const char *only;       /* one size or NULL: all */
    int threads[8], n_threads;
    int steps, B, T;
    bool torch, no_gemm;
    const char *python;     /* the interpreter for --torch */
} train_bench;

/* ponder's steps of size z at the current thread count: wall and process CPU seconds per step */
static pd_status ponder_steps(const bench_size *z, pd_precision prec, int steps, int B, int T, double *s_step,
                              double *cpu_step, size_t *params, double *flop_tok) {
    pd_rng r;
    pd_tmodel *m = bench_model(z, B, T, &r);
    if (!m) return PD_ERR_NOMEM;
    pd_status ps = pd_tmodel_set_precision(m, prec);
    if (ps != PD_OK) { pd_tmodel_free(m); return ps; }
    size_t n = (size_t)B * T;
    int32_t *tok = pd_malloc(n * sizeof(int32_t)), *tgt = pd_malloc(n * sizeof(int32_t));
    if (!tok || !tgt) { free(tok); free(tgt); pd_tmodel_free(m); return PD_ERR_NOMEM; }
    for (size_t i = 0; i < n; i++) { tok[i] = (int32_t)pd_rng_below(&r, 256); tgt[i] = (int32_t)pd_rng_below(&r, 256); }
    pd_tbatch b = {B, T, tok, tgt, NULL};
    pd_optcfg o;
    pd_optcfg_default(&o);
    double t_total = 0, c_total = 0;
    for (int s = 0; s <= steps; s++) {
        double t0 = pd_time_now(), c0 = cpu_now();
        int64_t nt;
        pd_tmodel_zero_grad(m);
        pd_tmodel_forward(m, &b, &nt);
        pd_tmodel_backward(m, &b, 1.0f / (float)nt);
        pd_tmodel_adamw(m, &o, s, 1e-4f);
        if (s > 0) { t_total += pd_time_now() - t0; c_total += cpu_now() - c0; }
    }
    /* matmul weights: every layer matrix + the output head (tied: the embedding, used once as a matmul) */
    size_t sz[PD_TP_COUNT];
    const pd_tcfg c = *pd_tmodel_cfg(m);
    pd_tcfg_param_sizes(&c, sz);
    double nmat = (double)(sz[PD_TP_WQ] + sz[PD_TP_WK] + sz[PD_TP_WV] + sz[PD_TP_WO] + sz[PD_TP_GATE] + sz[PD_TP_UP] +
                           sz[PD_TP_DOWN]) + (double)c.n_vocab * c.dim;
    double attn = 12.0 * c.n_layer * c.n_head * c.head_dim * ((T + 1) / 2.0);
    *flop_tok = 6.0 * nmat + attn;
    *s_step = t_total / steps;
    *cpu_step = c_total / steps;
    *params = pd_tmodel_n_params(m);
    free(tok); free(tgt);
    pd_tmodel_free(m);
    return PD_OK;
}

static pd_status train_rows(FILE *out, const train_bench *tb) {
    int maxt = 1;
    for (int i = 0; i < tb->n_threads; i++) maxt = tb->threads[i] > maxt ? tb->threads[i] : maxt;
    bool known = !tb->only;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) known = known || !strcmp(tb->only, sizes[si].name);
    if (!known) return pd_fail(PD_ERR_ARG, "bench train: unknown size '%s' (1M, 10M, 50M)", tb->only);
    const char *isa;
    double core_peak = fma_peak(&isa);
    if (tb->torch) { /* refuse early, before minutes of ponder runs, when PyTorch is missing */
        torch_row tr;
        static const bench_size tiny = {"probe", 16, 1, 2, 16};
        PD_TRY(torch_run(tb->python, &tiny, 1, 1, 1, 8, &tr));
    }
    if (!tb->no_gemm) PD_TRY(pd_bench_gemm_run(out, maxt, NULL));
    char la[64];
    load_avg(la, sizeof la);
    fprintf(out, "\nFMA peak (%s, measured: independent FMA chains, thread CPU time): %.1f GFLOP/s per core\n", isa,
            core_peak);
    fprintf(out, "precision of ponder's GEMMs: %s%s\n", pd_precision_name(tb->prec),
            tb->prec == PD_PREC_BF16 && tb->torch ? " (PyTorch's rows: f32)" : "");
    fprintf(out, "training steps (qwen3 layout, vocab %d, batch %d x %d tokens, %d timed steps after 1 warm-up; "
                 "CPU = process CPU time, all threads)\nload average before: %s\n\n",
            PD_TRAIN_VOCAB, tb->B, tb->T, tb->steps, la);
    fprintf(out, "| size | params | threads | s/step | tokens/s | tokens/CPU-s | GFLOP/tok | GFLOP/s | of FMA peak | "
                 "GFLOP/CPU-s | of 1-core peak |%s load |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|%s---|\n",
            tb->torch ? " torch tokens/s | torch tokens/CPU-s | ratio | ratio (CPU) |" : "",
            tb->torch ? "---:|---:|---:|---:|" : "");
    char version[32] = "";
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const bench_size *z = &sizes[si];
        if (tb->only && strcmp(tb->only, z->name)) continue;
        for (int ti = 0; ti < tb->n_threads; ti++) {
            int th = tb->threads[ti];
            pd_threads_set(th);
            double s_step, cpu_step, flop_tok;
            size_t np;
            PD_TRY(ponder_steps(z, tb->prec, tb->steps, tb->B, tb->T, &s_step, &cpu_step, &np, &flop_tok));
            double tok = (double)tb->B * tb->T, tps = tok / s_step, tpc = cpu_step > 0 ? tok / cpu_step : 0;
            double gf = flop_tok * tps / 1e9, gfc = flop_tok * tpc / 1e9;
            char tcol[160] = "";
            if (tb->torch) {
                torch_row tr;
                PD_TRY(torch_run(tb->python, z, th, tb->steps, tb->B, tb->T, &tr));
                if (tr.params != (long long)np)
                    return pd_fail(PD_ERR_IO, "bench train --torch: PyTorch's %s model has %lld parameters, ponder's %zu "
                                               "(the shapes differ)", z->name, tr.params, np);
                double ttps = tok / tr.s_step, ttpc = tr.cpu_step > 0 ? tok / tr.cpu_step : 0;
                snprintf(tcol, sizeof tcol, " %.0f | %.0f | %.2fx | %.2fx |", ttps, ttpc, tps / ttps,
                         ttpc > 0 ? tpc / ttpc : 0);
                snprintf(version, sizeof version, "%s", tr.version);
            }
            load_avg(la, sizeof la);
            fprintf(out, "| %s | %zu | %d | %.3f | %.0f | %.0f | %.4f | %.1f | %.0f%% | %.1f | %.0f%% |%s %s |\n", z->name,
                    np, pd_threads_get(), s_step, tps, tpc, flop_tok / 1e9, gf,
                    core_peak > 0 ? 100 * gf / (core_peak * pd_threads_get()) : 0, gfc,
                    core_peak > 0 ? 100 * gfc / core_peak : 0, tcol, la);
            fflush(out);
        }
    }
    fprintf(out, "\nGFLOP/tok: 6 x matmul weights (output head included) + causal attention (12 x layers x heads x "
                 "head_dim x mean context); of FMA peak: GFLOP/s over threads x the 1-core peak; of 1-core peak: GFLOP "
                 "per CPU second over the 1-core peak (what a core delivers while it runs, whatever the load)%s%s\n",
            tb->torch ? "; torch: PyTorch " : "", tb->torch ? version : "");
    if (tb->torch)
        fprintf(out, "ratio = ponder / PyTorch tokens/s (wall), ratio (CPU) = the same per CPU second; PyTorch ran with "
                     "OMP_WAIT_POLICY=PASSIVE and OMP/OPENBLAS/MKL_NUM_THREADS = threads, right after ponder's row\n");
    return PD_OK;
}

pd_status pd_bench_train_run(FILE *out, const char *only, int threads, int steps, int B, int T) {
    pd_threads_set(threads);
    train_bench tb = {.only = only, .threads = {pd_threads_get()}, .n_threads = 1, .steps = steps, .B = B, .T = T,
                      .python = "python3"};
    return train_rows(out, &tb);
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

/* --threads N or a list N,M,...: each in [1, 1024] (the range of cli_threads) */
static int flag_threads(const char *sub, const char *v, int *list, int *n) {
    char buf[128];
    if (!v || !*v || strlen(v) >= sizeof buf) return flag_int(sub, "--threads", v ? v : "", 1, 1024, list);
    snprintf(buf, sizeof buf, "%s", v);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == 8) {
            fprintf(stderr, "ponder bench %s: --threads: at most 8 counts, got '%s'\n", sub, v);
            return 0;
        }
        if (!flag_int(sub, "--threads", tok, 1, 1024, &list[*n])) return 0;
        (*n)++;
    }
    if (!*n || v[strlen(v) - 1] == ',') return flag_int(sub, "--threads", "", 1, 1024, list);
    return 1;
}

static int bench_main(int argc, char **argv, bool train) {
    const char *sub = train ? "train" : "gemm", *only = NULL, *python = "python3";
    int threads[8] = {0}, n_threads = 0, steps = 3, B = 16, T = 256;
    bool mpi = false, torch = false, no_gemm = false;
    pd_precision prec = PD_PREC_F32;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) {
            printf("usage: ponder bench %s [--threads N]%s\n"
                   "  --threads N   1..1024 (default: physical cores)%s\n", sub,
                   train ? " [--size 1M|10M|50M] [--steps N] [--batch B] [--seq T] [--torch [--python PY]] [--no-gemm] [--precision f32|bf16] [--mpi]" : "",
                   train ? "; a list N,M,... gives one row per count (default:\n"
                           "                1 and the physical cores)\n"
                           "  training steps (forward + backward + AdamW) of ~1M/10M/50M-parameter models on random\n"
                           "  tokens: tokens/s and per CPU second, GFLOP/s (6·N per token + attention) and the share of\n"
                           "  the FMA peak (measured at start)\n"
                           "  --size S      1M, 10M or 50M (default: all three)\n"
                           "  --steps N     timed steps per size (default 3)\n"
                           "  --batch B     rows per step (default 16)\n"
                           "  --seq T       tokens per row (default 256)\n"
                           "  --torch       the same model and steps in PyTorch right after each row (torch must be\n"
                           "                importable; optional, default off): its tokens/s and the ratio\n"
                           "  --python PY   the interpreter for --torch (default python3)\n"
                           "  --no-gemm     leave out the GEMM table printed first (default: printed)\n"
                           "  --precision P f32 or bf16: ponder's GEMMs in BF16 mixed precision as `train --precision\n"
                           "                bf16` (default f32; PyTorch's rows stay f32)\n"
                           "  --mpi         data parallel (run under mpirun -np N; alone: the 1-rank baseline): --batch\n"
                           "                is global, split over the ranks; tokens/s and the share of each step spent\n"
                           "                summing gradients (default sizes 1M and 10M; --batch must divide by N)"
                         : "\n  f32 GEMM GFLOP/s of pd_sgemm on square and training-step shapes");
            return 0;
        }
        int ok = 1;
        if (!strcmp(f, "--threads") || !strcmp(f, "-t")) {
            if (train) ok = flag_threads(sub, v, threads, &n_threads);
            else ok = flag_int(sub, f, v, 1, 1024, &threads[0]), n_threads = 1;
            i++;
        }
        else if (train && !strcmp(f, "--steps")) ok = flag_int(sub, f, v, 1, 1000, &steps), i++;
        else if (train && !strcmp(f, "--mpi")) { mpi = true; continue; }
        else if (train && !strcmp(f, "--torch")) { torch = true; continue; }
        else if (train && !strcmp(f, "--no-gemm")) { no_gemm = true; continue; }
        else if (train && !strcmp(f, "--precision")) {
            if (!v || pd_precision_parse(v, &prec) != PD_OK) {
                fprintf(stderr, "ponder bench train: --precision: f32 or bf16, got '%s'\n", v ? v : "");
                return 2;
            }
            i++;
        }
        else if (train && !strcmp(f, "--batch")) ok = flag_int(sub, f, v, 1, 4096, &B), i++;
        else if (train && !strcmp(f, "--seq")) ok = flag_int(sub, f, v, 2, 65536, &T), i++;
        else if (train && !strcmp(f, "--python")) {
            if (!v || !*v) { fprintf(stderr, "ponder bench train: --python: missing value\n"); return 2; }
            python = v;
            i++;
        } else if (train && !strcmp(f, "--size")) {
            if (!v) { fprintf(stderr, "ponder bench train: --size: missing value\n"); return 2; }
            only = v;
            i++;
        } else {
            fprintf(stderr, "ponder bench %s: unknown flag '%s'\n", sub, f);
            return 2;
        }
        if (!ok) return 2;
    }
    if (mpi && (n_threads > 1 || torch)) {
        fprintf(stderr, "ponder bench train: --mpi takes one --threads count and no --torch\n");
        return 2;
    }
    pd_status st;
    if (mpi) st = bench_mpi(stdout, only, threads[0], steps, B, T);
    else if (!train) st = pd_bench_gemm_run(stdout, threads[0], NULL);
    else {
        train_bench tb = {.prec = prec, .only = only, .n_threads = n_threads, .steps = steps, .B = B, .T = T, .torch = torch,
                         .no_gemm = no_gemm, .python = python};
        memcpy(tb.threads, threads, sizeof threads);
        if (!n_threads) { /* 1 and the physical cores */
            pd_threads_set(0);
            tb.threads[0] = 1;
            tb.threads[1] = pd_threads_get();
            tb.n_threads = tb.threads[1] > 1 ? 2 : 1;
        }
        st = train_rows(stdout, &tb);
    }
    if (st != PD_OK) {
        fprintf(stderr, "ponder bench %s: %s\n", sub, pd_last_error());
        return st == PD_ERR_ARG ? 2 : 1;
    }
    return 0;
}

int pd_bench_train(int argc, char **argv) { return bench_main(argc, argv, true); }
int pd_bench_gemm(int argc, char **argv) { return bench_main(argc, argv, false); }
