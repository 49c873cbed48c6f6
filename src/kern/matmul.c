/* kern/matmul.c — pd_matmul: activations converted once per call to the weight type's dot
 * format, then OpenMP over blocks of weight rows; inside a block, tiles of rows x tokens so
 * each weight block loaded from memory is reused by every token while it sits in L1/L2.
 * Also the matmul micro-benchmark used by `ponder bench`. */
#include "kern_impl.h"
#include "ponder/alloc.h"
#include "ponder/rng.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Activation bytes per token span of a prefill matmul (pd_matmul): what stays in L2 */
#ifndef PD_MM_SPAN_BYTES
#define PD_MM_SPAN_BYTES ((size_t)192 * 1024)
#endif

/* Per-calling-thread scratch for converted activations (no allocation per token). A thread key
 * frees it when a thread that used it exits (server threads come and go). */
static _Thread_local void *pd_mm_scratch;
static _Thread_local size_t pd_mm_scratch_cap;
static pthread_key_t pd_mm_key;
static pthread_once_t pd_mm_once = PTHREAD_ONCE_INIT;
static int pd_mm_key_ok;

static void mm_scratch_dtor(void *p) { pd_aligned_free(p); }
static void mm_key_init(void) { pd_mm_key_ok = pthread_key_create(&pd_mm_key, mm_scratch_dtor) == 0; }

static void *mm_scratch(size_t n) {
    if (n <= pd_mm_scratch_cap) return pd_mm_scratch;
    pthread_once(&pd_mm_once, mm_key_init);
    pd_aligned_free(pd_mm_scratch);
    pd_mm_scratch = NULL;
    pd_mm_scratch_cap = 0;
    size_t cap = n + n / 4 + 4096;
    pd_mm_scratch = pd_aligned_alloc(64, cap);
    if (pd_mm_key_ok) pthread_setspecific(pd_mm_key, pd_mm_scratch);
    if (!pd_mm_scratch) return NULL;
    pd_mm_scratch_cap = cap;
    return pd_mm_scratch;
}

void pd_matmul_scratch_free(void) {
    pd_aligned_free(pd_mm_scratch);
    pd_mm_scratch = NULL;
    pd_mm_scratch_cap = 0;
    if (pd_mm_key_ok) pthread_setspecific(pd_mm_key, NULL);
}

/* One activation row in the tiles' format: pd_mm_act_row, then (kt->act_sums) the blocks' 8*sum(qs). */
static void act_row(const pd_kern_table *kt, pd_type t, const float *src, char *dst, int64_t K) {
    pd_mm_act_row(t, src, dst, K);
    if (!kt->act_sums[t]) return;
    const pd_block_q8_0 *b = (const pd_block_q8_0 *)dst;
    char *sums = dst + (size_t)(K / PD_QK) * sizeof(pd_block_q8_0);
    for (int64_t i = 0; i < K / PD_QK; i++) {
        int32_t s = 0;
        for (int j = 0; j < PD_QK; j++) s += b[i].qs[j];
        s *= 8;
        memcpy(sums + 4 * i, &s, 4);
    }
}

/* One pd_matmul call's work, as tasks (span of tokens x block of weight rows) that any thread may
 * take: over the call's own OpenMP region, or over the team of a decode step (ponder/threads.h). */
typedef struct {
    const pd_tensor *W;
    const pd_kern_table *kt;
    pd_type t;
    int64_t K, N, N8, M, rb, n_blocks, span, ldy;
    const char *wd, *xa;
    size_t ws, xs;
    int mr, tnr;
    pd_tile_fn tile, tile8;
    char *ubuf; /* per thread, 8 unpacked rows (R8 layout without an 8-row tile) */
    float *Y;
} mm_job;

static void mm_tasks(void *ctx, int64_t t0, int64_t t1, int tid) {
    const mm_job *j = ctx;
    const int64_t K = j->K, N = j->N, N8 = j->N8, M = j->M, ldy = j->ldy;
    const size_t ws = j->ws, xs = j->xs;
    const int mr = j->mr, tnr = j->tnr;
    char *ub = j->ubuf ? j->ubuf + (size_t)tid * 8 * ws : NULL;
    for (int64_t task = t0; task < t1; task++) {
        int64_t b = task % j->n_blocks, s0 = task / j->n_blocks * j->span, s1 = s0 + j->span < M ? s0 + j->span : M;
        int64_t r0 = b * j->rb, r1 = r0 + j->rb < N ? r0 + j->rb : N;
        for (int64_t m0 = s0; m0 < s1; m0 += mr) {
            int mm = (int)(s1 - m0 < mr ? s1 - m0 : mr);
            const char *xm = j->xa + (size_t)m0 * xs;
            float *Ym = j->Y + m0 * ldy;
            int64_t r = r0;
            for (int g8 = 8; r < r1 && r < N8; r += g8) { /* repacked groups (r0 is a multiple of 8 here) */
                if (j->tile8) { /* tnr rows (a multiple of 8) where that many groups are left, else one */
                    g8 = r + tnr <= r1 && r + tnr <= N8 && tnr % 8 == 0 ? tnr : 8;
                    j->tile8(K, j->wd + (size_t)r * ws, ws, g8, xm, xs, mm, Ym + r, ldy);
                    continue;
                }
                for (int q = 0; q < 8; q++) pd_unpack_row(j->W, r + q, ub + (size_t)q * ws);
                for (int q = 0; q < 8; q += tnr)
                    j->tile(K, ub + (size_t)q * ws, ws, 8 - q < tnr ? 8 - q : tnr, xm, xs, mm, Ym + r + q, ldy);
            }
            for (; r < r1; r += tnr) {
                int rr = (int)(r1 - r < tnr ? r1 - r : tnr);
                j->tile(K, j->wd + (size_t)r * ws, ws, rr, xm, xs, mm, Ym + r, ldy);
            }
        }
    }
}

/* rows [r0, r1) of an F32 / F16 / BF16 matmul through the type's own path on one thread (each
 * output is computed in one fixed order whatever the rows around it: mm_f32.c) */
static void mm_float_rows(void *ctx, int64_t r0, int64_t r1, int tid) {
    const mm_job *j = ctx;
    (void)tid;
    (void)j->kt->mm_float[j->t](j->t, j->K, r1 - r0, j->wd + (size_t)r0 * j->ws, j->ws, j->N8 > 0, j->xa, j->xs, j->M,
                                j->Y + r0, j->ldy, 1);
}

pd_status pd_matmul(const pd_tensor *W, const float *X, int64_t M, int64_t ldx, float *Y, int64_t ldy) {
    return pd_matmul_pre(W, X, M, ldx, Y, ldy, NULL, NULL);
}

pd_status pd_matmul_pre(const pd_tensor *W, const float *X, int64_t M, int64_t ldx, float *Y, int64_t ldy,
                        pd_matmul_pre_fn pre, void *ctx) {
    if (!W || !X || !Y) return pd_fail(PD_ERR_ARG, "matmul: NULL argument");
    const char *wn = W->name ? W->name : "(unnamed)";
    pd_type t = W->type;
    if (!pd_type_is_storage((int)t))
        return pd_fail(PD_ERR_UNSUPPORTED, "matmul: weight '%s' has unsupported type %s", wn, pd_type_name(t));
    if (!W->data) return pd_fail(PD_ERR_ARG, "matmul: weight '%s' has no data", wn);
    int64_t K = W->ne[0], N = pd_tensor_nrows(W);
    size_t wrow = pd_row_bytes(t, K);
    if (K <= 0 || wrow == 0)
        return pd_fail(PD_ERR_ARG, "matmul: weight '%s': row length %lld does not fit type %s", wn, (long long)K,
                       pd_type_name(t));
    if (W->nb[1] < wrow || (W->ne[2] > 1 && W->nb[2] != W->nb[1] * (size_t)W->ne[1]) ||
        (W->ne[3] > 1 && W->nb[3] != W->nb[2] * (size_t)W->ne[2]))
        return pd_fail(PD_ERR_ARG, "matmul: weight '%s' rows are not evenly strided", wn);
    if (M < 0 || ldx < K || ldy < N)
        return pd_fail(PD_ERR_ARG, "matmul: weight '%s': bad sizes M=%lld ldx=%lld (K=%lld) ldy=%lld (N=%lld)", wn,
                       (long long)M, (long long)ldx, (long long)K, (long long)ldy, (long long)N);
    if (M == 0 || N == 0) {
        if (pre && M > 0) pre(ctx, 0, M);
        return PD_OK;
    }

    const pd_kern_table *kt = pd_kern_active();
    pd_tile_fn tile = kt->tile[t];
    if (!tile) return pd_fail(PD_ERR_UNSUPPORTED, "matmul: no kernel for type %s", pd_type_name(t));
    pd_type at = pd_mm_act_type(t);
    const void *xa;
    size_t xs;
    int convert = t != PD_TYPE_F32;
    if (convert) {
        xs = pd_row_bytes(at, K);
        if (kt->act_sums[t] && at == PD_TYPE_Q8_0) xs += 4 * (size_t)(K / PD_QK);
        size_t total;
        if (!pd_mul_ok(xs, (size_t)M, &total)) return pd_fail(PD_ERR_RANGE, "matmul: activations too large");
        xa = mm_scratch(total);
        if (!xa) return pd_fail_ctx(PD_ERR_NOMEM, "matmul: activations of '%s'", wn);
    } else {
        xa = X;
        xs = (size_t)ldx * sizeof(float);
    }
    size_t ws = W->nb[1];
    const char *wd = W->data;
    int nr = kt->tile_nr[t], mr = kt->tile_mr[t];
    /* PD_LAYOUT_R8 (repack.c): rows below N8 come in groups of 8, read by the level's 8-row tile,
     * or unpacked to the GGUF layout first where the level has none (a forced lower level). */
    int64_t N8 = 0;
    pd_tile_fn tile8 = NULL;
    char *ubuf = NULL;
    if (W->layout != PD_LAYOUT_ROWS) {
        if (W->layout != PD_LAYOUT_R8 || !pd_r8_type(t) || ws != wrow || W->ne[2] > 1 || W->ne[3] > 1 || N < 8)
            return pd_fail(PD_ERR_ARG, "matmul: weight '%s' (%s) has a layout (%d) its type and shape cannot have", wn,
                           pd_type_name(t), (int)W->layout);
        N8 = N / 8 * 8;
        tile8 = kt->tile_r8[t];
        if (nr % 8) nr = 8; /* row blocks hold whole groups */
    }
    /* Row block: about 16 KiB of weights (stays in L1/L2 while every token passes over it). */
    int64_t rb = (int64_t)(16384 / ws);
    if (rb < nr) rb = nr;
    rb = (rb + nr - 1) / nr * nr;
    /* inside a decode step's team (ponder/threads.h) the loop goes to the team's threads */
    const int team = pd_team_size() > 1;
    int nt = team ? pd_team_size() : pd_threads_get();
    double work = (double)K * (double)N * (double)M;
    if (work < 65536.0) nt = 1;
    int64_t n_blocks = (N + rb - 1) / rb;
    if (nt > 1 && n_blocks < 4 * nt) { /* keep every thread busy on small N (decode) */
        rb = (N + 4 * nt - 1) / (4 * nt);
        rb = (rb + nr - 1) / nr * nr;
        if (rb < nr) rb = nr;
        n_blocks = (N + rb - 1) / rb;
    }

    /* A few rows are prepared (pre) and converted by the caller (saves a barrier); many in parallel,
     * in chunks handed out dynamically, as the blocks are, so a thread that the OS delays does not
     * hold the others up. */
    int par_rows = (convert || pre) && M >= 4 * nt && nt > 1 && !team;
    const int64_t row_chunk = M >= 64 * nt ? 8 : 1;
    /* Many tokens (prefill): tokens in spans whose converted activations (about 192 KiB) stay in
     * L2 while every row block passes over them (the weights are read once per span, the
     * activations once per span instead of once per row block); spans start at multiples of mr,
     * so the tiles see the same token groups as with one span. Tasks go span-major: the threads
     * work on one span at a time. */
    int64_t n_spans = 1, span = M;
    if (M > mr) {
        n_spans = (int64_t)(((size_t)M * xs + PD_MM_SPAN_BYTES - 1) / PD_MM_SPAN_BYTES);
        if (n_spans < 1) n_spans = 1;
        span = (M + n_spans - 1) / n_spans;
        span = (span + mr - 1) / mr * mr;
        n_spans = (M + span - 1) / span;
    }
    const int64_t n_tasks = n_blocks * n_spans;
    /* hand out tasks in chunks: about 32 grabs per thread, whatever N is (vocab-sized outputs) */
    int chunk = (int)(n_tasks / (32 * (int64_t)nt));
    if (chunk < 1) chunk = 1;
    if (N8 && !tile8 && !kt->mm_float[t]) {
        size_t ub;
        if (!pd_mul_ok(8 * ws, (size_t)nt, &ub)) return pd_fail(PD_ERR_RANGE, "matmul: weight rows too large");
        ubuf = pd_malloc(ub);
        if (!ubuf) return pd_fail_ctx(PD_ERR_NOMEM, "matmul: unpacking '%s'", wn);
    }
    if (kt->mm_float[t]) { /* F32 / F16 / BF16 (mm_f32.c): its own cache blocking and threads */
        if (pre) pre(ctx, 0, M);
        if (convert)
            for (int64_t m = 0; m < M; m++) act_row(kt, t, X + m * ldx, (char *)xa + (size_t)m * xs, K);
        if (team && nt > 1) { /* blocks of rows (multiples of 16, as mm_float's own) over the team */
            int64_t frb = N / (8 * (int64_t)nt);
            frb = frb < 16 ? 16 : frb > 256 ? 256 : (frb + 15) / 16 * 16;
            if (M > 3 && frb < 128) frb = 128; /* mm_float converts the activations once per call there */
            mm_job fj = {.kt = kt, .t = t, .K = K, .N8 = N8, .M = M, .ldy = ldy, .wd = wd, .xa = xa, .ws = ws, .xs = xs,
                         .Y = Y};
            pd_par_for(N, frb, nt, mm_float_rows, &fj);
            return PD_OK;
        }
        return kt->mm_float[t](t, K, N, wd, ws, N8 > 0, xa, xs, M, Y, ldy, nt);
    }
    if (!par_rows) {
        if (pre) pre(ctx, 0, M);
        if (convert)
            for (int64_t m = 0; m < M; m++) act_row(kt, t, X + m * ldx, (char *)xa + (size_t)m * xs, K);
    }
    mm_job job = {.W = W, .kt = kt, .t = t, .K = K, .N = N, .N8 = N8, .M = M, .rb = rb, .n_blocks = n_blocks,
                  .span = span, .ldy = ldy, .wd = wd, .xa = xa, .ws = ws, .xs = xs, .mr = mr,
                  .tnr = kt->tile_nr[t] > 0 ? kt->tile_nr[t] : 1, /* the GGUF-layout tile's row count */
                  .tile = tile, .tile8 = tile8, .ubuf = ubuf, .Y = Y};
    if (team) { /* one contiguous stretch of rows per thread (ponder/threads.h): one memory stream each */
        pd_par_ranges(n_tasks, 1, nt, mm_tasks, &job);
        free(ubuf);
        return PD_OK;
    }
    if (nt <= 1) { /* no OpenMP region: even a 1-thread one ends in a barrier, a futex call (~1 us in this VM) */
        mm_tasks(&job, 0, n_tasks, 0);
        free(ubuf);
        return PD_OK;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        if (par_rows) {
#pragma omp for schedule(dynamic, 1)
            for (int64_t m0 = 0; m0 < M; m0 += row_chunk) {
                int64_t m1 = m0 + row_chunk < M ? m0 + row_chunk : M;
                if (pre) pre(ctx, m0, m1);
                if (convert)
                    for (int64_t m = m0; m < m1; m++) act_row(kt, t, X + m * ldx, (char *)xa + (size_t)m * xs, K);
            }
        }
        const int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic, chunk)
        for (int64_t task = 0; task < n_tasks; task++) mm_tasks(&job, task, task + 1, tid);
    }
    free(ubuf);
    return PD_OK;
}

pd_status pd_kern_bench_matmul(pd_type t, int64_t K, int64_t N, int64_t M, int reps, double *gflops_out,
                               double *gbps_out) {
    if (!pd_type_is_storage((int)t))
        return pd_fail(PD_ERR_UNSUPPORTED, "bench matmul: type %s", pd_type_name(t));
    if (K <= 0 || N <= 0 || M <= 0 || reps <= 0) return pd_fail(PD_ERR_ARG, "bench matmul: sizes must be positive");
    size_t wrow = pd_row_bytes(t, K);
    if (!wrow) return pd_fail_ctx(PD_ERR_ARG, "bench matmul");
    size_t wbytes;
    if (!pd_mul_ok(wrow, (size_t)N, &wbytes)) return pd_fail(PD_ERR_RANGE, "bench matmul: weights too large");
    void *w = pd_aligned_alloc(64, wbytes);
    float *row = pd_malloc((size_t)K * sizeof(float));
    float *x = pd_malloc((size_t)K * (size_t)M * sizeof(float));
    float *y = pd_malloc((size_t)N * (size_t)M * sizeof(float));
    pd_status st = PD_OK;
    if (!w || !row || !x || !y) {
        st = PD_ERR_NOMEM;
        goto done;
    }
    pd_rng rng;
    pd_rng_seed(&rng, 1234);
    for (int64_t n = 0; n < N && st == PD_OK; n++) {
        for (int64_t k = 0; k < K; k++) row[k] = (float)(pd_rng_normal(&rng) * 0.02);
        st = pd_quantize_row(t, row, (char *)w + (size_t)n * wrow, K);
    }
    for (int64_t i = 0; i < K * M; i++) x[i] = (float)pd_rng_normal(&rng);
    pd_tensor W;
    int64_t ne[2] = {K, N};
    pd_tensor_init(&W, t, 2, ne, w);
    if (st == PD_OK) st = pd_matmul(&W, x, M, K, y, N); /* warm-up */
    double t0 = pd_time_now();
    for (int r = 0; r < reps && st == PD_OK; r++) st = pd_matmul(&W, x, M, K, y, N);
    double dt = pd_time_now() - t0;
    if (st == PD_OK) {
        if (dt <= 0) dt = 1e-9;
        if (gflops_out) *gflops_out = 2.0 * (double)K * (double)N * (double)M * reps / dt * 1e-9;
        if (gbps_out) *gbps_out = (double)wbytes * reps / dt * 1e-9;
    }
done:
    pd_aligned_free(w);
    free(row);
    free(x);
    free(y);
    return st;
}
