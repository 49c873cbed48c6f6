/* tests/kv/test_kvevict.c — eviction over the real cache and forward (fixture model tiny-qwen3):
 *   - with a budget at least the sequence length every policy's logits equal the full cache's,
 *     bit for bit, at every generated step (the observer and the rounds change nothing);
 *   - with a small budget the logits do change and the peak KV bytes drop (the path is live);
 *   - fork + evict on one branch leaves the sibling branch bit-identical (shared blocks are copied
 *     before the evicting side rewrites them);
 *   - a head-wise policy really keeps different positions in different heads;
 *   - a fork made mid-generation inherits its source's statistics: decoding on in lockstep, the two
 *     keep the same rows in every head (with fresh statistics the fork's H2O sums restart and its
 *     kept sets differ). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/kvpolicy.h"

#define MODEL PD_FIXTURES "models/tiny-qwen3.gguf"
enum { NP = 70, NG = 40 };

typedef struct { float *logits; int V, n; } rec;

static void rec_logits(void *ctx, const pd_seq_state *s, float *logits) {
    rec *r = ctx;
    (void)s;
    if (r->n < NG) memcpy(r->logits + (size_t)r->n * r->V, logits, (size_t)r->V * sizeof(float));
    r->n++;
}

static pd_policy recorder(rec *r) { return (pd_policy){.name = "rec", .ctx = r, .on_logits = rec_logits}; }

static void prompt(int32_t *t, int n, int V) {
    uint64_t x = 12345;
    for (int i = 0; i < n; i++) { x = x * 6364136223846793005ull + 1442695040888963407ull; t[i] = (int32_t)((x >> 33) % (uint64_t)V); }
}

static pd_seq_params greedy(void) {
    pd_seq_params p = pd_seq_defaults();
    p.sampling.temperature = 0;
    p.max_tokens = NG;
    p.ignore_eog = true;
    return p;
}

/* Generate NG tokens greedily from the fixed prompt with policy `s` (NULL: none); logits into r. */
static void run_one(const pd_model *m, const pd_kvp_spec *s, rec *r, pd_kvm_stats *ks) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 1;
    gp.n_ctx = 256;
    pd_gen *g = pd_gen_new(m, &gp);
    assert_non_null(g);
    pd_kvm *km = s ? pd_kvm_new(g, s) : NULL;
    if (s) assert_non_null(km);
    int32_t t[NP];
    prompt(t, NP, m->cfg.n_vocab);
    pd_policy chain[2];
    int n = 0;
    if (km) chain[n++] = pd_kvm_policy(km);
    chain[n++] = recorder(r);
    pd_seq_params p = greedy();
    p.policies = chain;
    p.n_policies = n;
    int id = pd_gen_add(g, t, NP, &p);
    assert_true(id >= 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    if (km) pd_kvm_get_stats(km, ks);
    else { memset(ks, 0, sizeof *ks); ks->peak_bytes = pd_kv_peak_bytes(pd_gen_kv(g, 0)); }
    pd_gen_free(g);
    pd_kvm_free(km);
}

static char gates_path[64];

static void write_gates(const pd_model *m) {
    snprintf(gates_path, sizeof gates_path, "/tmp/test_kvevict_gates_%d.tsv", (int)getpid());
    FILE *f = fopen(gates_path, "w");
    assert_non_null(f);
    for (int l = 0; l < m->cfg.n_layer; l++) {
        for (int h = 0; h < m->cfg.n_head_kv; h++) fprintf(f, "%s%.2f", h ? "\t" : "", (l * m->cfg.n_head_kv + h) % 3 / 2.0);
        fputc('\n', f);
    }
    assert_int_equal(fclose(f), 0);
}

static pd_kvp_spec spec_of(pd_kvp_kind k, int budget) {
    pd_kvp_spec s;
    pd_kvp_defaults(&s, k);
    s.budget_rows = budget;
    s.window = 8;     /* lazy: rounds every 8 steps */
    s.buffer = 8;     /* rkv */
    s.obs = 8;        /* snapkv */
    if (k == PD_KVP_RLKV) {
        snprintf(s.gates, sizeof s.gates, "%s", gates_path);
        s.sparsity = 0.5;
        s.sink = 4;
        s.recent = budget;
    }
    return s;
}

static void test_full_budget_identical(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = pd_model_load(MODEL);
    assert_non_null(m);
    write_gates(m);
    int V = m->cfg.n_vocab;
    rec ref = {calloc((size_t)NG * V, sizeof(float)), V, 0}, got = {calloc((size_t)NG * V, sizeof(float)), V, 0};
    pd_kvm_stats ks, full;
    run_one(m, NULL, &ref, &full);
    assert_int_equal(ref.n, NG);
    for (int k = PD_KVP_STREAMING; k < PD_KVP_COUNT; k++) {
        pd_kvp_spec s = spec_of((pd_kvp_kind)k, NP + NG + 1);
        got.n = 0;
        run_one(m, &s, &got, &ks);
        assert_int_equal(got.n, NG);
        assert_int_equal(ks.evictions, 0);
        if (memcmp(ref.logits, got.logits, (size_t)NG * V * sizeof(float)))
            fail_msg("policy %s with a budget >= the sequence changed the logits", pd_kvp_name((pd_kvp_kind)k));
    }
    /* a budget of 16 rows: eviction happens, logits move, the peak drops */
    for (int k = PD_KVP_STREAMING; k < PD_KVP_COUNT; k++) {
        if (k == PD_KVP_SNAPKV) continue; /* prompt-only: checked below with its own budget */
        pd_kvp_spec s = spec_of((pd_kvp_kind)k, 16);
        got.n = 0;
        run_one(m, &s, &got, &ks);
        assert_true(ks.evictions > 0);
        assert_true(ks.peak_bytes < full.peak_bytes);
        if (!memcmp(ref.logits, got.logits, (size_t)NG * V * sizeof(float)))
            fail_msg("policy %s evicted rows but the logits did not change", pd_kvp_name((pd_kvp_kind)k));
    }
    pd_kvp_spec s = spec_of(PD_KVP_SNAPKV, 24);
    got.n = 0;
    run_one(m, &s, &got, &ks);
    /* the prompt (70 rows) goes down to 24 in every (layer, kv head) once */
    assert_int_equal(ks.rounds, 1);
    assert_int_equal(ks.evictions, (int64_t)(NP - 24) * m->cfg.n_layer * m->cfg.n_head_kv);
    free(ref.logits);
    free(got.logits);
    remove(gates_path);
    pd_model_free(m);
}

/* Source prompt prefilled once, forked into an evicting branch (streaming, budget 12) and a plain
 * branch; the plain branch's logits must equal those of the same set-up whose other branch does not
 * evict. */
static void fork_run(const pd_model *m, bool evict, rec *plain, pd_kvm_stats *ks, pd_kv_stats *kst) {
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 3;
    gp.n_ctx = 256;
    pd_gen *g = pd_gen_new(m, &gp);
    assert_non_null(g);
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_STREAMING);
    s.budget_rows = 12;
    pd_kvm *km = pd_kvm_new(g, &s);
    assert_non_null(km);
    int32_t t[NP];
    prompt(t, NP, m->cfg.n_vocab);
    pd_seq_params p0 = greedy();
    int src = pd_gen_add(g, t, NP, &p0);
    assert_true(src >= 0);
    assert_int_equal(pd_gen_prefill(g, src), PD_OK);
    pd_policy a[1] = {pd_kvm_policy(km)};
    pd_seq_params pa = greedy();
    if (evict) { pa.policies = a; pa.n_policies = 1; }
    else if (a[0].release) a[0].release(a[0].ctx);
    pd_policy b[1] = {recorder(plain)};
    pd_seq_params pb = greedy();
    pb.policies = b;
    pb.n_policies = 1;
    assert_true(pd_gen_fork(g, src, &pa) >= 0);
    assert_true(pd_gen_fork(g, src, &pb) >= 0);
    pd_gen_remove(g, src);
    assert_int_equal(pd_gen_run(g), PD_OK);
    pd_kvm_get_stats(km, ks);
    pd_kv_get_stats(pd_gen_kv(g, 0), kst);
    pd_gen_free(g);
    pd_kvm_free(km);
}

static void test_fork_sibling_untouched(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = pd_model_load(MODEL);
    assert_non_null(m);
    int V = m->cfg.n_vocab;
    rec ref = {calloc((size_t)NG * V, sizeof(float)), V, 0}, got = {calloc((size_t)NG * V, sizeof(float)), V, 0};
    pd_kvm_stats ks;
    pd_kv_stats a, b;
    fork_run(m, false, &ref, &ks, &a);
    assert_int_equal(ks.evictions, 0);
    fork_run(m, true, &got, &ks, &b);
    assert_true(ks.evictions > 0);
    assert_true(b.cow_copies > 0);   /* the evicting branch copied the shared prompt blocks */
    assert_int_equal(ref.n, NG);
    assert_int_equal(got.n, NG);
    assert_memory_equal(ref.logits, got.logits, (size_t)NG * V * sizeof(float));
    free(ref.logits);
    free(got.logits);
    pd_model_free(m);
}

/* h2o keeps heavy hitters per head: after a generation with a small budget, some two (layer, kv
 * head) pairs hold different position sets. */
static void test_heads_differ(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = pd_model_load(MODEL);
    assert_non_null(m);
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = 256;
    pd_gen *g = pd_gen_new(m, &gp);
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_H2O);
    s.budget_rows = 16;
    pd_kvm *km = pd_kvm_new(g, &s);
    int32_t t[NP];
    prompt(t, NP, m->cfg.n_vocab);
    pd_policy pol = pd_kvm_policy(km);
    pd_seq_params p = greedy();
    p.policies = &pol;
    p.n_policies = 1;
    int id = pd_gen_add(g, t, NP, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    pd_kv *kv = pd_gen_kv(g, 0);
    int L = m->cfg.n_layer, H = m->cfg.n_head_kv;
    int32_t first[64], other[64];
    int n0 = pd_kv_n_live(kv, id, 0, 0);
    assert_true(n0 <= 64);
    assert_int_equal(pd_kv_positions(kv, id, 0, 0, 0, n0, first), PD_OK);
    bool differ = false;
    for (int l = 0; l < L && !differ; l++)
        for (int h = 0; h < H && !differ; h++) {
            int n = pd_kv_n_live(kv, id, l, h);
            assert_true(n <= 64);
            assert_int_equal(pd_kv_positions(kv, id, l, h, 0, n, other), PD_OK);
            differ = n != n0 || memcmp(first, other, (size_t)n * sizeof *first);
        }
    assert_true(differ);
    pd_gen_free(g);
    pd_kvm_free(km);
    pd_model_free(m);
}

/* protect=prompt: with a budget of 8 rows, every prompt position is still live in every head after the
 * generation, and exactly 8 generated rows besides (streaming keeps sink 4 + recent 4 of them). */
static void test_protect_prompt(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = pd_model_load(MODEL);
    assert_non_null(m);
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = 256;
    pd_gen *g = pd_gen_new(m, &gp);
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_STREAMING);
    assert_int_equal(pd_kvp_parse("streaming:protect=prompt", &s), PD_OK);
    s.budget_rows = 8;
    pd_kvm *km = pd_kvm_new(g, &s);
    int32_t t[NP];
    prompt(t, NP, m->cfg.n_vocab);
    pd_policy pol = pd_kvm_policy(km);
    pd_seq_params p = greedy();
    p.policies = &pol;
    p.n_policies = 1;
    int id = pd_gen_add(g, t, NP, &p);
    assert_int_equal(pd_gen_run(g), PD_OK);
    pd_kv *kv = pd_gen_kv(g, 0);
    int32_t pos[NP + NG];
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int h = 0; h < m->cfg.n_head_kv; h++) {
            int n = pd_kv_n_live(kv, id, l, h);
            assert_int_equal(n, NP + 8);
            assert_int_equal(pd_kv_positions(kv, id, l, h, 0, n, pos), PD_OK);
            for (int i = 0; i < NP; i++) assert_int_equal(pos[i], i);
            /* the sinks are the first 4 generated rows: positions NP .. NP+3 */
            for (int i = 0; i < 4; i++) assert_int_equal(pos[NP + i], NP + i);
        }
    pd_gen_free(g);
    pd_kvm_free(km);
    pd_model_free(m);
}

/* h2o, budget 16 rows: the source generates 12 tokens, is forked, and both decode greedily to 40.
 * The fork starts from a copy of the source's accumulated attention, so every later round keeps the
 * same rows in both: identical positions in every (layer, kv head) at the end. */
static void test_fork_inherits_stats(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_model *m = pd_model_load(MODEL);
    assert_non_null(m);
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 2;
    gp.n_ctx = 256;
    pd_gen *g = pd_gen_new(m, &gp);
    assert_non_null(g);
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_H2O);
    s.budget_rows = 16;
    pd_kvm *km = pd_kvm_new(g, &s);
    assert_non_null(km);
    int32_t t[NP];
    prompt(t, NP, m->cfg.n_vocab);
    pd_policy pa = pd_kvm_policy(km), pb = pd_kvm_policy(km);
    pd_seq_params p = greedy();
    p.policies = &pa;
    p.n_policies = 1;
    int src = pd_gen_add(g, t, NP, &p);
    assert_true(src >= 0);
    for (int i = 0; i < 12; i++) assert_int_equal(pd_gen_step(g), PD_OK);
    pd_kvm_stats before;
    pd_kvm_get_stats(km, &before);
    assert_true(before.rounds > 0);
    p.policies = &pb;
    int fk = pd_gen_fork(g, src, &p);
    assert_true(fk >= 0);
    assert_int_equal(pd_gen_run(g), PD_OK);
    pd_kvm_stats ks;
    pd_kvm_get_stats(km, &ks);
    assert_true(ks.rounds > before.rounds + 20);  /* both kept evicting after the fork */
    pd_kv *kv = pd_gen_kv(g, 0);
    int32_t a[64], b[64];
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int h = 0; h < m->cfg.n_head_kv; h++) {
            int na = pd_kv_n_live(kv, src, l, h), nb = pd_kv_n_live(kv, fk, l, h);
            assert_int_equal(na, nb);
            assert_true(na <= 64);
            assert_int_equal(pd_kv_positions(kv, src, l, h, 0, na, a), PD_OK);
            assert_int_equal(pd_kv_positions(kv, fk, l, h, 0, nb, b), PD_OK);
            assert_memory_equal(a, b, (size_t)na * sizeof *a);
        }
    assert_int_equal(ks.forks_copied, 1);
    pd_gen_free(g);
    pd_kvm_free(km);
    pd_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_budget_identical),
        cmocka_unit_test(test_fork_sibling_untouched),
        cmocka_unit_test(test_heads_differ),
        cmocka_unit_test(test_protect_prompt),
        cmocka_unit_test(test_fork_inherits_stats),
    };
    return pd_run_tests(tests, NULL, NULL);
}
