/* cli/cmd_bench.c — `ponder bench`: prefill (ppN) and decode (tgN) tokens/s, mean ± sd over
 * repetitions, printed like llama-bench. The model is a file (-m) or a random-weight model of a real
 * shape written here (--synthetic qwen3-0.6b|llama-110m --type T) so anyone can reproduce the
 * figures of bench/README.md without downloading weights.
 *
 * Method (as llama-bench): ppN = one sequence of N random tokens from an empty cache, fed in
 * batches of at most 512, logits of the last token only; tgN = N single-token forward passes from
 * an empty cache. One warm-up run of each test precedes the timed repetitions. The forward pass is
 * timed directly (no sampling), F16 KV cache unless --kv f32.
 *
 * Several -m: each model is measured in turn, one table (as llama-bench). -o md|json|jsonl picks the
 * output (--json = -o json); -ctk/-ctv set the K / V cache types apart, as llama-bench's (--kv: both).
 *
 * `ponder bench train …` and `ponder bench gemm …` dispatch to the training layer's entry points
 * (pd_bench_train / pd_bench_gemm, ponder/train.h); a new one is a line in sub_benches. */
#include "cli.h"
#include "bench_kv.h"
#include "bench_compare.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/json.h"
#include "ponder/kern.h"
#include "ponder/model.h"
#include "ponder/rl.h"
#include "ponder/rng.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include "ponder/train.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *VERB = "bench";

/* ---- sub-benchmarks owned by other layers: dispatch point ---------------------------------
 * `ponder bench train ARGS…` → pd_bench_train(argc, argv) with argv[0] = "train";
 * `ponder bench gemm ARGS…`  → pd_bench_gemm(argc, argv) with argv[0] = "gemm". */
int pd_bench_serve(int argc, char **argv);   /* cli/bench_serve.c */
static const struct { const char *name; int (*fn)(int, char **); } sub_benches[] = {
    {"train", pd_bench_train},
    {"gemm", pd_bench_gemm},
    {"rl", pd_bench_rl},   /* ponder/rl.h: rollout tokens/s at 1, 8, 64 sequences, learner tokens/s */
    {"serve", pd_bench_serve},   /* cli/bench_serve.c: N streaming clients against `ponder serve` (or --url) */
};
/* ------------------------------------------------------------------------------------------ */

/* Real shapes (../shared/fixtures/REFERENCE-SPEED.md). */
typedef struct {
    const char *name, *arch, *label;
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float rope_base, eps;
    bool tied, qk_norm;
} shape_t;
static const shape_t shapes[] = {
    {"qwen3-0.6b", "qwen3", "qwen3 0.6B", 1024, 28, 16, 8, 128, 3072, 151936, 40960, 1e6f, 1e-6f, true, true},
    {"llama-110m", "llama", "llama 110M", 768, 12, 12, 12, 64, 2048, 32000, 2048, 1e4f, 1e-5f, false, false},
};

static void help(FILE *f) {
    fprintf(f,
            "usage: ponder bench (-m MODEL [-m MODEL ...] | --synthetic SHAPE [--type T]) [flags]\n"
            "       ponder bench train|gemm [flags]   (training engine / GEMM benchmarks)\n"
            "  -m, --model FILE     GGUF model (or llama2.c .bin); repeat to measure several in one table\n"
            "  --synthetic SHAPE    random weights of a real shape: qwen3-0.6b, llama-110m\n"
            "  --type T             weight type of the synthetic model: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1,\n"
            "                       q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs (default f16)\n"
            "  --layers N           synthetic model with N layers instead of the real count (quick checks)\n"
            "  --keep FILE          keep the synthetic GGUF at FILE (default: a temporary file, removed); llama.cpp\n"
            "                       loads it too (tokenizer.ggml.model \"none\")\n"
            "  --compare LLAMA_BENCH  also run this llama-bench binary on the same file with the same -p/-n/-t/-r\n"
            "                       and KV type; each row gets llama.cpp's t/s and the ratio ponder / llama.cpp\n"
            "  -p LIST              prompt lengths, comma-separated (default 512; 0 = skip)\n"
            "  -n LIST              decode lengths (default 128; 0 = skip)\n"
            "  -r N                 repetitions (default 3)\n"
            "  -t LIST              thread counts, each 1..1024 (default: physical cores)\n"
            "  --kv-type T          KV cache type f16 (default), f32, q8_0, q4_0 (also --kv, for K and V)\n"
            "  -ctk T, -ctv T       K / V cache types apart (any pair of those four)\n"
            "  --kv-policy P --kv-budget B   KV eviction benchmark instead: decode t/s over the last -n tokens\n"
            "                       at each --depth (default 4096,16384), full cache vs policy P, peak KV bytes\n"
            "  --depth LIST         positions reached by decoding (with --kv-policy)\n"
            "  --kv-plot IN.jsonl --out OUT.png   chart of an eviction experiment (accuracy, peak KV vs budget)\n"
            "  -o md|json|jsonl     output: markdown table (default), one JSON array, one JSON object per line\n"
            "  --json               same as -o json\n"
            "  --cpu-time           add a column: tokens per CPU-second per thread (on a busy shared machine this\n"
            "                       estimates the idle speed of 1-thread runs; --json always has it as cpu_ts)\n");
}

static bool parse_list(const char *flag, const char *s, int lo, int hi, int *out, int *n, int cap) {
    *n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        long long v;
        if (!cli_int(VERB, flag, tok, lo, hi, &v)) return false;
        if (*n == cap) { cli_error(VERB, "%s: at most %d values", flag, cap); return false; }
        out[(*n)++] = (int)v;
    }
    if (!*n) { cli_error(VERB, "%s: empty list", flag); return false; }
    return true;
}

/* ---- synthetic model ---- */

/* Add one tensor of random values (uniform, std ≈ 0.02) of the given type, row by row. */
static pd_status add_random(pd_gguf_writer *w, const char *name, pd_type t, int64_t cols, int64_t rows, const float *pool,
                            size_t pool_n, pd_rng *r) {
    size_t rb = pd_row_bytes(t, cols);
    if (!rb) return pd_fail(PD_ERR_ARG, "synthetic: %s: %lld columns are not a multiple of the %s block", name,
                            (long long)cols, pd_type_name(t));
    size_t total;
    if (!pd_mul_ok(rb, (size_t)rows, &total)) return pd_fail(PD_ERR_NOMEM, "synthetic: %s too large", name);
    unsigned char *data = pd_malloc(total);
    if (!data) return PD_ERR_NOMEM;
    pd_status st = PD_OK;
    for (int64_t i = 0; i < rows && st == PD_OK; i++) {
        const float *src = pool + pd_rng_below(r, pool_n - (size_t)cols);
        st = pd_quantize_row(t, src, data + (size_t)i * rb, cols);
    }
    int64_t ne[2] = {cols, rows};
    if (st == PD_OK) st = pd_gguf_add_tensor(w, name, t, rows > 1 ? 2 : 1, ne, data);
    free(data);
    return st;
}

static pd_status add_ones(pd_gguf_writer *w, const char *name, int64_t n) {
    float *v = pd_malloc((size_t)n * sizeof(float));
    if (!v) return PD_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) v[i] = 1.0f;
    int64_t ne[1] = {n};
    pd_status st = pd_gguf_add_tensor(w, name, PD_TYPE_F32, 1, ne, v);
    free(v);
    return st;
}

static pd_status write_synthetic(const shape_t *s, pd_type t, int n_layer, const char *path) {
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (!w) return PD_ERR_NOMEM;
    char key[128], name[128];
    const char *a = s->arch;
    pd_status st = pd_gguf_set_str(w, "general.architecture", a);
    snprintf(name, sizeof name, "%s %s (random)", s->label, pd_type_name(t));
    if (st == PD_OK) st = pd_gguf_set_str(w, "general.name", name);
#define U32(k, v) if (st == PD_OK) { snprintf(key, sizeof key, "%s." k, a); st = pd_gguf_set_u32(w, key, (uint32_t)(v)); }
#define F32(k, v) if (st == PD_OK) { snprintf(key, sizeof key, "%s." k, a); st = pd_gguf_set_f32(w, key, (v)); }
    U32("context_length", s->n_ctx)
    U32("embedding_length", s->n_embd)
    U32("block_count", n_layer)
    U32("feed_forward_length", s->n_ff)
    U32("attention.head_count", s->n_head)
    U32("attention.head_count_kv", s->n_head_kv)
    U32("attention.key_length", s->head_dim)
    U32("attention.value_length", s->head_dim)
    U32("rope.dimension_count", s->head_dim)
    F32("rope.freq_base", s->rope_base)
    F32("attention.layer_norm_rms_epsilon", s->eps)
#undef U32
#undef F32
    /* no vocabulary: llama.cpp loads such a file with tokenizer.ggml.model "none" and <arch>.vocab_size
     * (dummy tokens), so llama-bench can time the same file */
    if (st == PD_OK) st = pd_gguf_set_str(w, "tokenizer.ggml.model", "none");
    if (st == PD_OK) { snprintf(key, sizeof key, "%s.vocab_size", a); st = pd_gguf_set_u32(w, key, (uint32_t)s->n_vocab); }
    if (st == PD_OK) st = pd_gguf_set_u32(w, "general.file_type", (uint32_t)(pd_gguf_ftype_of(t) < 0 ? 0 : pd_gguf_ftype_of(t)));
    size_t pool_n = 1 << 20;
    float *pool = pd_malloc(pool_n * sizeof(float));
    if (!pool) { pd_gguf_writer_free(w); return PD_ERR_NOMEM; }
    pd_rng r;
    pd_rng_seed(&r, 1234);
    for (size_t i = 0; i < pool_n; i++) pool[i] = (pd_rng_uniformf(&r) * 2.0f - 1.0f) * 0.0346f;
    const int64_t E = s->n_embd, nq = (int64_t)s->n_head * s->head_dim, nkv = (int64_t)s->n_head_kv * s->head_dim;
    if (st == PD_OK) st = add_random(w, "token_embd.weight", t, E, s->n_vocab, pool, pool_n, &r);
    if (st == PD_OK) st = add_ones(w, "output_norm.weight", E);
    if (st == PD_OK && !s->tied) st = add_random(w, "output.weight", t, E, s->n_vocab, pool, pool_n, &r);
    for (int l = 0; l < n_layer && st == PD_OK; l++) {
#define T(suffix) (snprintf(name, sizeof name, "blk.%d.%s", l, suffix), name)
        st = add_ones(w, T("attn_norm.weight"), E);
        if (st == PD_OK) st = add_random(w, T("attn_q.weight"), t, E, nq, pool, pool_n, &r);
        if (st == PD_OK) st = add_random(w, T("attn_k.weight"), t, E, nkv, pool, pool_n, &r);
        if (st == PD_OK) st = add_random(w, T("attn_v.weight"), t, E, nkv, pool, pool_n, &r);
        if (st == PD_OK && s->qk_norm) st = add_ones(w, T("attn_q_norm.weight"), s->head_dim);
        if (st == PD_OK && s->qk_norm) st = add_ones(w, T("attn_k_norm.weight"), s->head_dim);
        if (st == PD_OK) st = add_random(w, T("attn_output.weight"), t, nq, E, pool, pool_n, &r);
        if (st == PD_OK) st = add_ones(w, T("ffn_norm.weight"), E);
        if (st == PD_OK) st = add_random(w, T("ffn_gate.weight"), t, E, s->n_ff, pool, pool_n, &r);
        if (st == PD_OK) st = add_random(w, T("ffn_up.weight"), t, E, s->n_ff, pool, pool_n, &r);
        if (st == PD_OK) st = add_random(w, T("ffn_down.weight"), t, s->n_ff, E, pool, pool_n, &r);
#undef T
    }
    free(pool);
    if (st == PD_OK) st = pd_gguf_write(w, path);
    pd_gguf_writer_free(w);
    return st;
}

/* ---- measurement ---- */

typedef struct { double mean, sd; double samples[64]; int n; } stat_t;

static void finish_stat(stat_t *s) {
    double m = 0, v = 0;
    for (int i = 0; i < s->n; i++) m += s->samples[i];
    m /= s->n;
    for (int i = 0; i < s->n; i++) v += (s->samples[i] - m) * (s->samples[i] - m);
    s->mean = m;
    s->sd = s->n > 1 ? sqrt(v / (s->n - 1)) : 0;
}

/* One run: n_prompt tokens as a prefill (n_gen = 0) or n_gen single-token steps. Returns seconds, < 0 on error. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* *cpu: CPU seconds the process used meanwhile (all threads). */
static double run_once(const pd_model *m, pd_kv *kv, int n_prompt, int n_gen, int32_t *tok, int8_t *want, float *logits,
                       pd_rng *r, double *cpu) {
    pd_kv_seq_clear(kv, 0);
    double c0 = cpu_now();
    int V = m->cfg.n_vocab;
    double t0 = pd_time_now();
    if (n_prompt > 0) {
        for (int done = 0; done < n_prompt;) {
            int nb = n_prompt - done < 512 ? n_prompt - done : 512;
            for (int i = 0; i < nb; i++) { tok[i] = (int32_t)pd_rng_below(r, (uint64_t)V); want[i] = 0; }
            want[nb - 1] = done + nb == n_prompt;
            pd_batch b = {.n = nb, .token = tok, .want_logits = want};
            if (pd_model_forward(m, kv, &b, logits) != PD_OK) return -1;
            done += nb;
        }
    } else {
        for (int i = 0; i < n_gen; i++) {
            tok[0] = (int32_t)pd_rng_below(r, (uint64_t)V);
            pd_batch b = {.n = 1, .token = tok};
            if (pd_model_forward(m, kv, &b, logits) != PD_OK) return -1;
        }
    }
    *cpu = cpu_now() - c0;
    return pd_time_now() - t0;
}

static pd_type main_type(const pd_model *m) {
    const pd_layer *L = &m->layers[0];
    return L->wq.data ? L->wq.type : L->wqkv.type;
}

static size_t model_bytes(const pd_model *m) {
    size_t b = 0;
    for (int64_t i = 0; m->gguf && i < pd_gguf_n_tensors(m->gguf); i++) b += pd_gguf_tensor_at(m->gguf, i)->nbytes;
    return b;
}

static void fmt_size(size_t b, char *buf, size_t cap) {
    if (b >= (1ull << 30)) snprintf(buf, cap, "%.2f GiB", b / (double)(1ull << 30));
    else snprintf(buf, cap, "%.2f MiB", b / (double)(1ull << 20));
}

typedef struct {
    int pp[16], n_pp, tg[16], n_tg, th[16], n_th, reps;
    pd_type kv_type, kv_type_v;   /* K, V cache types */
    bool cpu_col;
    const cJSON *ref; /* --compare: llama-bench's results for the model being measured, or NULL */
    enum { OUT_MD, OUT_JSON, OUT_JSONL } out;
} bench_opts;

/* Measure one model (every -p, -n and -t) and print its rows (a table, or objects added to arr /
 * printed as JSONL). 0, or 1 after printing an error. */
static int bench_model(const char *path, const char *label_override, const bench_opts *b, cJSON *arr) {
    pd_model *m = pd_model_load(path);
    if (!m) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    if (pd_model_repack(m) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); pd_model_free(m); return 1; }
    int max_pp = 1;
    for (int i = 0; i < b->n_pp; i++) if (b->pp[i] > max_pp) max_pp = b->pp[i];
    int max_ctx = max_pp;
    for (int i = 0; i < b->n_tg; i++) if (b->tg[i] > max_ctx) max_ctx = b->tg[i];
    pd_kv_params kp = {.type = b->kv_type, .v_type_set = true, .v_type = b->kv_type_v};
    pd_kv *kv = pd_kv_new_ex(&m->cfg, 1, max_ctx + 1, &kp);
    int32_t *tok = pd_malloc(512 * sizeof(int32_t));
    int8_t *want = pd_malloc(512);
    float *logits = pd_malloc((size_t)m->cfg.n_vocab * sizeof(float));
    if (!kv || !tok || !want || !logits) { cli_error(VERB, "%s", pd_last_error()); free(tok); free(want); free(logits); pd_kv_free(kv); pd_model_free(m); return 1; }
    char label[160], size[32], params[32];
    const char *nm = m->cfg.name[0] ? m->cfg.name : m->cfg.arch_name;
    if (label_override) snprintf(label, sizeof label, "%s", label_override);
    else if (strstr(nm, pd_type_name(main_type(m)))) snprintf(label, sizeof label, "%s", nm);
    else snprintf(label, sizeof label, "%s %s", nm, pd_type_name(main_type(m)));
    fmt_size(model_bytes(m), size, sizeof size);
    snprintf(params, sizeof params, "%.2f M", pd_model_n_params(m) / 1e6);
    pd_rng r;
    pd_rng_seed(&r, 42);
    int rc = 0;
    for (int ti = 0; ti < b->n_th && !rc; ti++) {
        pd_threads_set(b->th[ti]);
        int nthreads = pd_threads_get();
        for (int k = 0; k < b->n_pp + b->n_tg && !rc; k++) {
            int np = k < b->n_pp ? b->pp[k] : 0, ng = k < b->n_pp ? 0 : b->tg[k - b->n_pp];
            if (np == 0 && ng == 0) continue;
            stat_t s = {0}, c = {0};
            double cpu;
            if (run_once(m, kv, np ? (np < 32 ? np : 32) : 0, ng ? 1 : 0, tok, want, logits, &r, &cpu) < 0) { rc = 1; break; }
            pd_kv_reset_peak(kv); /* the peak of this test's runs (each starts from an empty cache) */
            for (int rep = 0; rep < b->reps; rep++) {
                double t = run_once(m, kv, np, ng, tok, want, logits, &r, &cpu);
                if (t < 0) { rc = 1; break; }
                s.samples[s.n++] = (np ? np : ng) / t;
                c.samples[c.n++] = (np ? np : ng) / (cpu > 0 ? cpu / nthreads : t);
            }
            if (rc) break;
            finish_stat(&s);
            finish_stat(&c);
            char test[32];
            snprintf(test, sizeof test, np ? "pp%d" : "tg%d", np ? np : ng);
            if (b->out != OUT_MD) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "model", label);
                cJSON_AddStringToObject(o, "model_filename", path);
                cJSON_AddStringToObject(o, "type", pd_type_name(main_type(m)));
                cJSON_AddNumberToObject(o, "size_bytes", (double)model_bytes(m));
                cJSON_AddNumberToObject(o, "params", (double)pd_model_n_params(m));
                cJSON_AddNumberToObject(o, "threads", nthreads);
                char kvn[32];
                cJSON_AddStringToObject(o, "kv", cli_kv_type_name(b->kv_type, b->kv_type_v, kvn, sizeof kvn));
                cJSON_AddStringToObject(o, "k_type", pd_type_name(b->kv_type));
                cJSON_AddStringToObject(o, "v_type", pd_type_name(b->kv_type_v));
                cJSON_AddNumberToObject(o, "peak_kv_bytes", (double)pd_kv_peak_bytes(kv));
                cJSON_AddStringToObject(o, "test", test);
                cJSON_AddNumberToObject(o, "n_prompt", np);
                cJSON_AddNumberToObject(o, "n_gen", ng);
                FILE *la = fopen("/proc/loadavg", "r");
                double l1 = -1;
                if (la) { if (fscanf(la, "%lf", &l1) != 1) l1 = -1; fclose(la); }
                cJSON_AddNumberToObject(o, "loadavg_1m", l1);
                cJSON_AddNumberToObject(o, "avg_ts", s.mean);
                cJSON_AddNumberToObject(o, "cpu_ts", c.mean);
                cJSON_AddNumberToObject(o, "stddev_ts", s.sd);
                cJSON_AddItemToObject(o, "samples_ts", cJSON_CreateDoubleArray(s.samples, s.n));
                if (b->ref) {
                    double lt = cli_llama_bench_ts(b->ref, np, ng, nthreads);
                    if (lt > 0) cJSON_AddNumberToObject(o, "llama_cpp_ts", lt);
                    else cJSON_AddNullToObject(o, "llama_cpp_ts");
                    if (lt > 0) cJSON_AddNumberToObject(o, "ratio", s.mean / lt);
                    else cJSON_AddNullToObject(o, "ratio");
                }
                if (b->out == OUT_JSONL) {
                    char *line = pd_json_print(o, false);
                    if (line) { puts(line); fflush(stdout); }
                    free(line);
                    cJSON_Delete(o);
                } else {
                    cJSON_AddItemToArray(arr, o);
                }
            } else {
                char ts[48];
                snprintf(ts, sizeof ts, "%.2f ± %.2f", s.mean, s.sd);
                printf("| %-28s | %10s | %10s | %-8s | %7d | %8s | %21s |", label, size, params, "CPU", nthreads, test, ts);
                if (b->cpu_col) printf(" %14.2f |", c.mean);
                if (b->ref) {
                    double lt = cli_llama_bench_ts(b->ref, np, ng, nthreads);
                    if (lt > 0) printf(" %13.2f | %5.2fx |", lt, s.mean / lt);
                    else printf(" %13s | %6s |", "-", "-");
                }
                printf("\n");
                fflush(stdout);
            }
        }
    }
    if (rc) cli_error(VERB, "%s: %s", path, pd_last_error());
    free(tok); free(want); free(logits);
    pd_kv_free(kv);
    pd_model_free(m);
    return rc;
}

int pd_cmd_bench(int argc, char **argv) {
    if (argc >= 2)
        for (size_t i = 0; i < sizeof sub_benches / sizeof sub_benches[0]; i++)
            if (!strcmp(argv[1], sub_benches[i].name)) return sub_benches[i].fn(argc - 1, argv + 1);
    enum { MAX_MODELS = 16 };
    const char *models[MAX_MODELS], *synth = NULL, *keep = NULL, *compare = NULL;
    int n_models = 0, layers = 0;
    pd_type type = PD_TYPE_F16;
    pd_kvp_spec kvp = {0};
    bool kvp_set = false, kvb_set = false;
    int depth[16] = {4096, 16384}, n_depth = 2;
    const char *kv_plot = NULL, *plot_out = NULL;
    bench_opts b = {.pp = {512}, .n_pp = 1, .tg = {128}, .n_tg = 1, .th = {0}, .n_th = 1, .reps = 3,
                    .kv_type = PD_TYPE_F16, .kv_type_v = PD_TYPE_F16, .out = OUT_MD};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return 0; }
        if (!strcmp(a, "--json")) { b.out = OUT_JSON; continue; }
        if (!strcmp(a, "--cpu-time")) { b.cpu_col = true; continue; }
        if (!(v = cli_value(VERB, argc, argv, &i))) return 2;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (n_models == MAX_MODELS) { cli_error(VERB, "%s: at most %d models", a, MAX_MODELS); return 2; }
            models[n_models++] = v;
        } else if (!strcmp(a, "--synthetic")) synth = v;
        else if (!strcmp(a, "--keep")) keep = v;
        else if (!strcmp(a, "--compare")) compare = v;
        else if (!strcmp(a, "--type")) {
            int t = pd_type_from_name(v);
            if (!pd_type_is_storage(t)) { cli_error(VERB, "--type: unknown weight type '%s'", v); return 2; }
            type = (pd_type)t;
        } else if (cli_is_kv_type_flag(a)) {
            if (!cli_kv_type(VERB, a, v, &b.kv_type, &b.kv_type_v)) return 2;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!strcmp(v, "md")) b.out = OUT_MD;
            else if (!strcmp(v, "json")) b.out = OUT_JSON;
            else if (!strcmp(v, "jsonl")) b.out = OUT_JSONL;
            else { cli_error(VERB, "%s: expected md, json or jsonl, got '%s'", a, v); return 2; }
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) { if (!parse_list(a, v, 0, 1 << 20, b.pp, &b.n_pp, 16)) return 2; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) { if (!parse_list(a, v, 0, 1 << 20, b.tg, &b.n_tg, 16)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!parse_list(a, v, 1, CLI_THREADS_MAX, b.th, &b.n_th, 16)) return 2; }
        else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) { if (!cli_int(VERB, a, v, 1, 64, &x)) return 2; b.reps = (int)x; }
        else if (!strcmp(a, "--kv-policy")) { if (!cli_kv_policy(VERB, a, v, &kvp)) return 2; kvp_set = true; }
        else if (!strcmp(a, "--kv-budget")) { if (!cli_kv_budget(VERB, a, v, &kvp)) return 2; kvb_set = true; }
        else if (!strcmp(a, "--kv-plot")) kv_plot = v;
        else if (!strcmp(a, "--out")) plot_out = v;
        else if (!strcmp(a, "--depth")) { if (!parse_list(a, v, 1, 1 << 22, depth, &n_depth, 16)) return 2; }
        else if (!strcmp(a, "--layers")) { if (!cli_int(VERB, a, v, 1, 4096, &x)) return 2; layers = (int)x; }
        else { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
    }
    if (kv_plot || plot_out) {
        if (!kv_plot || !plot_out) { cli_error(VERB, "--kv-plot RESULTS.jsonl and --out CHART.png go together"); return 2; }
        return cli_bench_kv_plot(kv_plot, plot_out);
    }
    if (!n_models == !synth) { cli_error(VERB, "give -m MODEL (one or more) or --synthetic SHAPE"); return 2; }
    if (!cli_kv_check(VERB, kvp_set, kvb_set, &kvp)) return 2;
    const shape_t *shape = NULL;
    char tmp[512] = "", label[160] = "";
    if (synth) {
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            if (!strcmp(synth, shapes[i].name)) shape = &shapes[i];
        if (!shape) { cli_error(VERB, "--synthetic: unknown shape '%s' (qwen3-0.6b, llama-110m)", synth); return 2; }
        const char *path = keep;
        if (!path) {
            const char *dir = getenv("TMPDIR");
            snprintf(tmp, sizeof tmp, "%s/ponder-bench-XXXXXX", dir && *dir ? dir : "/tmp");
            int fd = mkstemp(tmp);
            if (fd < 0) { cli_error(VERB, "cannot create a temporary file %s", tmp); return 1; }
            close(fd);
            path = tmp;
        }
        if (b.out == OUT_MD) fprintf(stderr, "ponder bench: writing a random %s %s model to %s\n", shape->name, pd_type_name(type), path);
        if (write_synthetic(shape, type, layers ? layers : shape->n_layer, path) != PD_OK) {
            cli_error(VERB, "%s", pd_last_error());
            if (tmp[0]) unlink(tmp);
            return 1;
        }
        snprintf(label, sizeof label, "%s %s%s", shape->label, pd_type_name(type), layers ? " (fewer layers)" : "");
        models[n_models++] = path;
    }
    cJSON *arr = b.out == OUT_JSON ? cJSON_CreateArray() : NULL;
    if (b.out == OUT_MD && !kvp_set) {
        printf("| %-28s | %10s | %10s | %-8s | %7s | %8s | %20s |%s%s\n", "model", "size", "params", "backend", "threads", "test", "t/s",
               b.cpu_col ? " t/CPU-s/thread |" : "", compare ? " llama.cpp t/s |  ratio |" : "");
        printf("| %s | %s | %s | %s | %s | %s | %s |%s%s\n", "----------------------------", "---------:", "---------:",
               "--------", "------:", "-------:", "-------------------:", b.cpu_col ? " -------------: |" : "",
               compare ? " ------------: | -----: |" : "");
    }
    int rc = 0;
    for (int i = 0; i < n_models && !rc; i++) {
        cJSON *ref = NULL;
        if (compare && !kvp_set) {
            /* llama-bench first, on the same file and tests; its rows are printed beside ours */
            int th[16];
            for (int k = 0; k < b.n_th; k++) th[k] = b.th[k] > 0 ? b.th[k] : pd_physical_cores();
            ref = cli_llama_bench_run(compare, models[i], b.pp, b.n_pp, b.tg, b.n_tg, th, b.n_th, b.reps,
                                      pd_type_name(b.kv_type), pd_type_name(b.kv_type_v));
            if (!ref) { cli_error(VERB, "%s", pd_last_error()); rc = 1; break; }
        }
        b.ref = ref;
        rc = kvp_set ? cli_bench_kv(models[i], label[0] ? label : NULL, &kvp, depth, n_depth, b.tg[0] > 0 ? b.tg[0] : 128,
                                    b.th[0], b.kv_type, b.kv_type_v, arr, b.out == OUT_JSONL)
                     : bench_model(models[i], label[0] ? label : NULL, &b, arr);
        b.ref = NULL;
        cJSON_Delete(ref);
    }
    if (tmp[0]) unlink(tmp);
    /* the machine may be shared: say how busy it was */
    double load[3] = {0};
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) { if (fscanf(lf, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1; fclose(lf); }
    if (b.out == OUT_MD && lf)
        fprintf(stderr, "ponder bench: load average at the end %.2f %.2f %.2f (%d cores)\n", load[0], load[1], load[2],
                pd_physical_cores());
    if (arr) {
        char *out = rc ? NULL : pd_json_print(arr, true);
        if (out) puts(out);
        free(out);
        cJSON_Delete(arr);
    }
    if (!rc && (fflush(stdout) || ferror(stdout))) { cli_error(VERB, "writing the results to stdout failed"); rc = 1; }
    return rc;
}
