/* bench/kv_paging.c — measurements behind the paged KV cache's choices (README "KV cache"):
 *   fork    : prefill a P-token prompt once vs fork it into 16 sequences (pd_kv_seq_copy) and take
 *             one decode step on each fork (which copies each head's partial tail block);
 *   blocks  : decode tokens/s at depth D for block_rows 16 / 32 / 64 / 128 (F16 cache);
 *   types   : decode tokens/s at depths 4096 and 16384 for F32 / F16 / Q8_0 / Q4_0 caches, with the
 *             cache's bytes.
 * For blocks / types the first D rows are written directly (random K/V rows, quantised to the cache
 * type) instead of prefilled: decode cost does not depend on the rows' values, and a 16k prefill
 * takes minutes on a small machine.
 * Times are thread CPU seconds of one thread (pd_threads_set(1)), so a busy shared machine moves
 * them less than wall time; each figure is the best of R repetitions.
 * Build (after building ponder in build-X):
 *   cc -O2 -fopenmp -Iinclude bench/kv_paging.c build-X/libpd_model.a build-X/libpd_tok.a \
 *      build-X/libpd_fmt.a build-X/libpd_kern.a build-X/libpd_base.a -lm -o kv_paging
 * Model: any GGUF, e.g. `ponder bench --synthetic qwen3-0.6b --type q8_0 --layers 4 --keep m.gguf -n 1 -p 1`.
 * Usage: kv_paging MODEL.gguf fork|blocks|types [P or D] [R] */
#include "../src/model/model_impl.h" /* to fill a deep cache without prefilling (see fill) */
#include "ponder/threads.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int32_t *tokens(const pd_model *m, int n) {
    int32_t *t = malloc(sizeof(int32_t) * (size_t)n);
    uint32_t x = 12345;
    for (int i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        t[i] = (int32_t)(x % (uint32_t)m->cfg.n_vocab);
    }
    return t;
}

static pd_kv *kv_new(const pd_model *m, int n_seq, int n_ctx, pd_type t, int br) {
    pd_kv_params p = {.type = t, .block_rows = br};
    pd_kv *kv = pd_kv_new_ex(&m->cfg, n_seq, n_ctx, &p);
    if (!kv) {
        fprintf(stderr, "kv: %s\n", pd_last_error());
        exit(1);
    }
    return kv;
}

static void check(pd_status st) {
    if (st != PD_OK) {
        fprintf(stderr, "error: %s\n", pd_last_error());
        exit(1);
    }
}

/* prefill n tokens into seq (no logits), in 512-token batches */
static void prefill(const pd_model *m, pd_kv *kv, int seq, const int32_t *t, int n) { check(pd_model_eval(m, kv, seq, t, n, false, NULL)); }

static void bench_fork(const pd_model *m, int P, int R) {
    int32_t *t = tokens(m, P + 1);
    float *lg = malloc(sizeof(float) * (size_t)m->cfg.n_vocab);
    double best_pre = 1e30, best_fork = 1e30, best_step = 1e30, best_plain = 1e30;
    pd_kv_stats st = {0};
    for (int r = 0; r < R; r++) {
        pd_kv *kv = kv_new(m, 17, P + 8, PD_TYPE_F16, 0);
        double t0 = cpu_now();
        prefill(m, kv, 0, t, P);
        double t1 = cpu_now();
        for (int f = 1; f <= 16; f++) check(pd_kv_seq_copy(kv, 0, f));
        double t2 = cpu_now();
        for (int f = 1; f <= 16; f++) check(pd_model_eval(m, kv, f, t + P, 1, false, lg));
        double t3 = cpu_now();
        check(pd_model_eval(m, kv, 0, t + P, 1, false, lg)); /* warm: a plain decode step for comparison */
        double t4 = cpu_now();
        check(pd_model_eval(m, kv, 0, t + P, 1, false, lg));
        double t5 = cpu_now();
        (void)t4;
        if (t1 - t0 < best_pre) best_pre = t1 - t0;
        if (t2 - t1 < best_fork) best_fork = t2 - t1;
        if ((t3 - t2) / 16 < best_step) best_step = (t3 - t2) / 16;
        if (t5 - t4 < best_plain) best_plain = t5 - t4;
        pd_kv_get_stats(kv, &st);
        pd_kv_free(kv);
    }
    printf("fork: prompt %d tokens, F16 cache, block %d rows, CPU s (best of %d)\n", P, st.block_rows, R);
    printf("  prefill once              %10.4f s\n", best_pre);
    printf("  16 forks (table copies)   %10.6f s  = %.4f%% of the prefill\n", best_fork, 100 * best_fork / best_pre);
    printf("  first decode step / fork  %10.6f s  (plain decode step %.6f s; the difference is the tail block copy)\n",
           best_step, best_plain);
    printf("  16 forks + their first steps' copies = %.4f%% of the prefill\n",
           100 * (best_fork + 16 * (best_step - best_plain > 0 ? best_step - best_plain : 0)) / best_pre);
    printf("  blocks used at the end %lld (%.2f MiB), copy-on-write copies %lld\n", (long long)st.blocks_used,
           st.bytes_used / 1048576.0, (long long)st.cow_copies);
    free(t);
    free(lg);
}

/* D random rows in every head of seq 0, as the forward pass writes them (prepare, write, commit) */
static void fill(pd_kv *kv, int D) {
    check(pd_kv_prepare(kv, 0, D));
    float *row = malloc(sizeof(float) * (size_t)kv->head_dim);
    uint32_t x = 777;
    for (int i = 0; i < kv->n_layer * kv->n_head_kv; i++) {
        pd_kv_head *h = &kv->seqs[0].heads[i];
        for (int r = 0; r < D; r++) {
            for (int w = 0; w < 2; w++) {
                for (int d = 0; d < kv->head_dim; d++) {
                    x = x * 1664525u + 1013904223u;
                    row[d] = (float)((int)(x >> 9) - (1 << 22)) / (float)(1 << 22);
                }
                check(pd_quantize_row(kv->type, row, w ? pd_kv_row_v(kv, h, r) : pd_kv_row_k(kv, h, r), kv->head_dim));
            }
            *pd_kv_row_pos(kv, h, r) = r;
        }
    }
    pd_kv_commit(kv, 0, D, D);
    free(row);
}

/* decode tokens/s at depth D: D cached rows, then time n_dec single-token steps */
static double decode_tps(const pd_model *m, pd_type type, int br, int D, int n_dec, int R, size_t *bytes) {
    int32_t *t = tokens(m, D + n_dec);
    float *lg = malloc(sizeof(float) * (size_t)m->cfg.n_vocab);
    pd_kv *kv = kv_new(m, 1, D + n_dec + 1, type, br);
    fill(kv, D);
    double best = 1e30;
    for (int r = 0; r < R; r++) {
        check(pd_kv_seq_rewind(kv, 0, D));
        double t0 = cpu_now();
        for (int i = 0; i < n_dec; i++) check(pd_model_eval(m, kv, 0, t + D + i, 1, false, lg));
        double dt = cpu_now() - t0;
        if (dt < best) best = dt;
    }
    *bytes = pd_kv_bytes(kv);
    pd_kv_free(kv);
    free(t);
    free(lg);
    return n_dec / best;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: kv_paging MODEL.gguf fork|blocks|types [P or D] [R]\n");
        return 2;
    }
    pd_threads_set(1);
    pd_model *m = pd_model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "%s\n", pd_last_error());
        return 1;
    }
    int arg = argc > 3 ? atoi(argv[3]) : 0, R = argc > 4 ? atoi(argv[4]) : 3;
    printf("model %s: %d layers, %d kv heads, head_dim %d\n", argv[1], m->cfg.n_layer, m->cfg.n_head_kv, m->cfg.head_dim);
    if (!strcmp(argv[2], "fork")) {
        bench_fork(m, arg ? arg : 2000, R);
    } else if (!strcmp(argv[2], "blocks")) {
        int D = arg ? arg : 4096;
        const int brs[] = {16, 32, 64, 128};
        printf("decode at depth %d, F16 cache, 32 steps, 1 thread, tokens per CPU-second (best of %d)\n", D, R);
        for (int i = 0; i < 4; i++) {
            size_t bytes;
            double tps = decode_tps(m, PD_TYPE_F16, brs[i], D, 32, R, &bytes);
            printf("  block_rows %4d  %8.2f tok/s  KV %.2f MiB\n", brs[i], tps, bytes / 1048576.0);
        }
    } else if (!strcmp(argv[2], "types")) {
        const pd_type ty[] = {PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_Q8_0, PD_TYPE_Q4_0};
        const int depths[] = {4096, 16384};
        printf("decode, 32 steps, 1 thread, tokens per CPU-second (best of %d)\n", R);
        for (int d = 0; d < 2; d++)
            for (int i = 0; i < 4; i++) {
                size_t bytes;
                double tps = decode_tps(m, ty[i], 0, depths[d], 32, R, &bytes);
                printf("  depth %5d  %-5s %8.2f tok/s  KV %8.2f MiB\n", depths[d], pd_type_name(ty[i]), tps,
                       bytes / 1048576.0);
            }
    } else {
        fprintf(stderr, "unknown mode %s\n", argv[2]);
        return 2;
    }
    pd_model_free(m);
    return 0;
}
