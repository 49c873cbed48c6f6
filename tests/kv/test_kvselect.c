/* tests/kv/test_kvselect.c — each eviction policy's kept set on constructed attention statistics
 * equals the set computed by hand (the computation is written out above each case), plus the
 * LazyEviction recurrence scenario of inference.md §3 "Test idea", the RLKV head allocation
 * count, and the spec / budget parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/kvpolicy.h"

static int32_t P[64];

static void check(const int32_t *got, int n_got, const int32_t *want, int n_want) {
    assert_int_equal(n_got, n_want);
    for (int i = 0; i < n_want; i++) assert_int_equal(got[i], want[i]);
}

static pd_kvp_rows rows(int n) {
    for (int i = 0; i < 64; i++) P[i] = i;
    pd_kvp_rows r = {0};
    r.n = n;
    r.pos = P;
    return r;
}

/* streaming sink=2, 10 rows, budget 5: the first 2 + the last 3 = {0,1,7,8,9}.
 * Prompt rows 0..2 protected, budget 4: unprotected rows are 3..9; sinks = first 2 of those {3,4},
 * recent = budget - 2 = 2 → {8,9}; protected kept → {0,1,2,3,4,8,9}. */
static void test_streaming(void **st) {
    (void)st;
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_STREAMING);
    s.sink = 2;
    pd_kvp_rows r = rows(10);
    int32_t keep[16];
    check(keep, pd_kvp_select(&s, &r, 5, keep), (int32_t[]){0, 1, 7, 8, 9}, 5);
    uint8_t prot[10] = {1, 1, 1};
    r.protect = prot;
    check(keep, pd_kvp_select(&s, &r, 4, keep), (int32_t[]){0, 1, 2, 3, 4, 8, 9}, 7);
    /* budget >= unprotected rows: everything stays */
    check(keep, pd_kvp_select(&s, &r, 7, keep), (int32_t[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10);
}

/* h2o recent=50%, budget 4 → recent window 2 = rows {6,7}; heavy hitters: the 2 largest acc among
 * rows 0..5 = [5, 1, 4, 0.5, 3, 0.2] → row 0 (5) and row 2 (4) → {0,2,6,7}.
 * budget 6: recent 3 = {5,6,7}; heavy 3 of rows 0..4: 5, 4, 3 → {0,2,4,5,6,7}. */
static void test_h2o(void **st) {
    (void)st;
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_H2O);
    pd_kvp_rows r = rows(8);
    float acc[8] = {5, 1, 4, 0.5f, 3, 0.2f, 0.1f, 0.3f};
    r.acc = acc;
    int32_t keep[8];
    check(keep, pd_kvp_select(&s, &r, 4, keep), (int32_t[]){0, 2, 6, 7}, 4);
    check(keep, pd_kvp_select(&s, &r, 6, keep), (int32_t[]){0, 2, 4, 5, 6, 7}, 6);
}

/* tova: cur = [0.3, 0.05, 0.2, 0.05, 0.1, 0.3]. budget 3: 0.3 (rows 0 and 5), 0.2 (row 2) → {0,2,5};
 * budget 4 adds 0.1 (row 4); budget 5: rows 1 and 3 tie at 0.05, the more recent (3) wins. */
static void test_tova(void **st) {
    (void)st;
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_TOVA);
    pd_kvp_rows r = rows(6);
    float cur[6] = {0.3f, 0.05f, 0.2f, 0.05f, 0.1f, 0.3f};
    r.cur = cur;
    int32_t keep[6];
    check(keep, pd_kvp_select(&s, &r, 3, keep), (int32_t[]){0, 2, 5}, 3);
    check(keep, pd_kvp_select(&s, &r, 4, keep), (int32_t[]){0, 2, 4, 5}, 4);
    check(keep, pd_kvp_select(&s, &r, 5, keep), (int32_t[]){0, 2, 3, 4, 5}, 5);
}

/* snapkv obs=2: rows 8, 9 are the observation window and stay. votes: only row 2 got any (9).
 * pool=3: pooled = max over i-1..i+1 = [0, 9, 9, 9, 0, ...]; budget 5 = 2 window + 3 best: rows
 * 1, 2, 3 (9 each) → {1,2,3,8,9}. pool=1: only row 2 scores; the 2 others are the most recent
 * zero-vote rows 7, 6 → {2,6,7,8,9}. */
static void test_snapkv(void **st) {
    (void)st;
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_SNAPKV);
    s.obs = 2;
    s.pool = 3;
    pd_kvp_rows r = rows(10);
    float win[10] = {0, 0, 9, 0, 0, 0, 0, 0, 0, 0};
    r.win = win;
    int32_t keep[10];
    check(keep, pd_kvp_select(&s, &r, 5, keep), (int32_t[]){1, 2, 3, 8, 9}, 5);
    s.pool = 1;
    check(keep, pd_kvp_select(&s, &r, 5, keep), (int32_t[]){2, 6, 7, 8, 9}, 5);
}

/* rkv aq=1 (row 5 stays), lambda 0.5, pool 1, keys in 2-D:
 *   k0 = (1,0), k1 = (2,0), k2 = (0,1), k3 = (3,0), k4 = (-1,0), k5 = (0,1)
 * candidates 0..4, redundancy = mean cosine to the other 4 candidates:
 *   row 0: 1 + 0 + 1 - 1 = 1 → 0.25; rows 1 and 3 likewise 0.25; row 2: 0; row 4: (-1 -1 + 0 -1)/4 = -0.75
 * importance = [0.4, 0.1, 0.1, 0.2, 0.0]; score = 0.5·imp − 0.5·red:
 *   r0 = 0.2 − 0.125 = 0.075, r1 = 0.05 − 0.125 = −0.075, r2 = 0.05, r3 = 0.1 − 0.125 = −0.025, r4 = 0.375
 * budget 3 = row 5 + best 2: r4, r0 → {0,4,5}; budget 4 adds r2 → {0,2,4,5}. */
static void test_rkv(void **st) {
    (void)st;
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_RKV);
    s.aq = 1;
    s.lambda = 0.5;
    s.pool = 1;
    pd_kvp_rows r = rows(6);
    float win[6] = {0.4f, 0.1f, 0.1f, 0.2f, 0.0f, 0.9f};
    float keys[12] = {1, 0, 2, 0, 0, 1, 3, 0, -1, 0, 0, 1};
    r.win = win;
    r.keys = keys;
    r.dim = 2;
    int32_t keep[6];
    check(keep, pd_kvp_select(&s, &r, 3, keep), (int32_t[]){0, 4, 5}, 3);
    check(keep, pd_kvp_select(&s, &r, 4, keep), (int32_t[]){0, 2, 4, 5}, 4);
}

/* lazy W=2 at now = 100 (rows 4, 5 are the recent window):
 *   row 0: ts 90, mri 20 → Δ 10 ≤ 20, in period; H1 = 2/(1+e^0.5) = 0.755
 *   row 1: ts 50, mri 10 → Δ 50 > 10, out of period (H1 = 2/(1+e^5) = 0.013)
 *   row 2: ts 99, mri 0 → M 1, Δ 1 ≤ 1 in; H1 = 2/(1+e) = 0.538
 *   row 3: ts 95, mri 5 → Δ 5 ≤ 5 in; H1 = 2/(1+e) = 0.538, ties row 2 → smaller M first: row 2
 * order: 0, 2, 3, 1. budget 4 → {0,2,4,5}; budget 5 → {0,2,3,4,5}. */
static void test_lazy_order(void **st) {
    (void)st;
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_LAZY);
    s.window = 2;
    s.protect = 0;
    pd_kvp_rows r = rows(6);
    int32_t ts[6] = {90, 50, 99, 95, 100, 100}, mri[6] = {20, 10, 0, 5, 0, 0};
    r.ts = ts;
    r.mri = mri;
    r.now = 100;
    int32_t keep[6];
    check(keep, pd_kvp_select(&s, &r, 4, keep), (int32_t[]){0, 2, 4, 5}, 4);
    check(keep, pd_kvp_select(&s, &r, 5, keep), (int32_t[]){0, 2, 3, 4, 5}, 5);
}

/* activation: alpha 0 → 1/n = 0.25 for 4 rows; two query heads. Row 1 exceeds it in head 0, row 3 in
 * head 1, rows 0 and 2 in neither (row 0 is exactly 0.25: not above). At now = 10: row 1 (ts 4, mri 2)
 * → mri 6, ts 10; row 3 (ts 9, mri 0) → mri 1, ts 10; a second call at the same step changes nothing. */
static void test_lazy_activate(void **st) {
    (void)st;
    float p[8] = {0.25f, 0.5f, 0.1f, 0.15f, /* head 1 */ 0.2f, 0.1f, 0.1f, 0.6f};
    int32_t ts[4] = {1, 4, 2, 9}, mri[4] = {0, 2, 0, 0};
    pd_kvp_lazy_activate(p, 2, 4, 4, 0, 10, ts, mri);
    int32_t wts[4] = {1, 10, 2, 10}, wmri[4] = {0, 6, 0, 1};
    check(ts, 4, wts, 4);
    check(mri, 4, wmri, 4);
    pd_kvp_lazy_activate(p, 2, 4, 4, 0, 10, ts, mri);
    check(ts, 4, wts, 4);
    check(mri, 4, wmri, 4);
}

/* inference.md §3 test idea, scripted. Rows arrive one per step from position 0; the query of step t
 * gives 0.225 to each of the 4 newest rows (0.9 in all) and spreads 0.1 over the others (below the
 * uniform 1/n, so they are not activated), except: token A (position 0) gets 0.5 at t = 100, 200, ...
 * and token B (position 130) gets 0.5 once, at t = 140. W = 8, budget 10 (2 rows besides the window),
 * a round every W steps (t = 7, 15, ...). A is protected until t = 100 (its period cannot be seen
 * before its first recurrence). Hand computation with the proposed order:
 *   A: never activated while new (0.9 / n_recent stays below 1/n for n <= 4); t = 100: MRI 100, TS 100;
 *      from then on Δ <= 100 = M at every round: always in period, always first → never evicted.
 *   B: activated at t = 130..133 (among the 4 newest, 0.225 > 1/n): TS 133, MRI 1; t = 140: MRI 7, TS 140.
 *   a filler p: TS p + 3, MRI 1: in period only while in the window.
 *   rounds: 143: B Δ 3 <= 7 in period → kept with A. 151 / 159 / 167: B out of period, H1 = 2σ(−Δ/7)
 *   = 0.344 / 0.125 / 0.041, the best filler (Δ 5, M 1) has 2σ(−5) = 0.0134 → B kept.
 *   175: B Δ 35 → H1 = 2σ(−5), equal to the best filler's; the tie goes to the smaller M (the filler)
 *   → B is evicted at t = 175.
 * No row younger than W is ever evicted. TOVA (budget 10 every step, current query only) on the same
 * trace keeps A at t = 100 (0.5) and drops it at t = 101, its first quiet step. */
static void test_lazy_recurrence(void **st) {
    (void)st;
    enum { T = 450, CAP = 64 };
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_LAZY);
    s.window = 8;
    s.protect = 0;
    int32_t pos[CAP], ts[CAP], mri[CAP], keep[CAP];
    uint8_t prot[CAP];
    float p[CAP];
    int n = 0, b_gone = -1;
    bool a_dropped = false;
    for (int t = 0; t < T; t++) {
        pos[n] = t; ts[n] = t; mri[n] = 0; n++;
        int recent = n < 4 ? n : 4;
        for (int i = 0; i < n; i++) p[i] = i >= n - recent ? 0.9f / recent : 0.1f / (n - recent);
        for (int i = 0; i < n; i++) {
            if (pos[i] == 0 && t > 0 && t % 100 == 0) p[i] = 0.5f;
            if (pos[i] == 130 && t == 140) p[i] = 0.5f;
        }
        pd_kvp_lazy_activate(p, 1, n, n, 0, t, ts, mri);
        if ((t + 1) % s.window) continue;
        for (int i = 0; i < n; i++) prot[i] = t < 100 && pos[i] == 0;
        pd_kvp_rows r = {.n = n, .pos = pos, .protect = prot, .ts = ts, .mri = mri, .now = t};
        int k = pd_kvp_select(&s, &r, 10, keep);
        assert_true(k > 0);
        for (int i = 0, j = 0; i < n; i++) {
            bool kept = j < k && keep[j] == i;
            if (kept) j++;
            else assert_true(t - pos[i] >= s.window); /* nothing younger than W is evicted */
            if (!kept && pos[i] == 0) a_dropped = true;
            if (!kept && pos[i] == 130) b_gone = t;
        }
        for (int j = 0; j < k; j++) { pos[j] = pos[keep[j]]; ts[j] = ts[keep[j]]; mri[j] = mri[keep[j]]; }
        n = k;
    }
    assert_false(a_dropped);
    assert_int_equal(b_gone, 175);

    pd_kvp_spec tv;
    pd_kvp_defaults(&tv, PD_KVP_TOVA);
    n = 0;
    int tova_drop = -1;
    for (int t = 0; t < T && tova_drop < 0; t++) {
        pos[n++] = t;
        int recent = n < 4 ? n : 4;
        for (int i = 0; i < n; i++) p[i] = i >= n - recent ? 0.9f / recent : 0.1f / (n - recent);
        for (int i = 0; i < n; i++) if (pos[i] == 0 && t > 0 && t % 100 == 0) p[i] = 0.5f;
        for (int i = 0; i < n; i++) prot[i] = t < 100 && pos[i] == 0;
        pd_kvp_rows r = {.n = n, .pos = pos, .protect = prot, .cur = p};
        int k = pd_kvp_select(&tv, &r, 10, keep);
        bool has_a = false;
        for (int j = 0; j < k; j++) has_a |= pos[keep[j]] == 0;
        if (!has_a) tova_drop = t;
        for (int j = 0; j < k; j++) pos[j] = pos[keep[j]];
        n = k;
    }
    assert_int_equal(tova_drop, 101);
}

/* rlkv: a compressed head keeps sink 2 + recent 3 of 10 rows = {0,1,7,8,9}; a full head keeps all.
 * allocation: gates [0.9, 0.1, 0.5, 0.1, 0.7, 0.3], s = 0.5 → round(3) heads compressed, lowest
 * gates first, ties by index: heads 1 (0.1), 3 (0.1), 5 (0.3) → full = [1,0,1,0,1,0]; s = 0 → all
 * full; s = 1 → none; s = 0.4 → round(2.4) = 2: heads 1, 3. */
static void test_rlkv(void **st) {
    (void)st;
    pd_kvp_spec s;
    pd_kvp_defaults(&s, PD_KVP_RLKV);
    s.sink = 2;
    s.recent = 3;
    pd_kvp_rows r = rows(10);
    int32_t keep[10];
    check(keep, pd_kvp_select(&s, &r, 1, keep), (int32_t[]){0, 1, 7, 8, 9}, 5);
    r.head_full = true;
    assert_int_equal(pd_kvp_select(&s, &r, 1, keep), 10);
    float g[6] = {0.9f, 0.1f, 0.5f, 0.1f, 0.7f, 0.3f};
    uint8_t full[6];
    pd_kvp_rlkv_alloc(g, 6, 0.5, full);
    check((int32_t[]){full[0], full[1], full[2], full[3], full[4], full[5]}, 6, (int32_t[]){1, 0, 1, 0, 1, 0}, 6);
    pd_kvp_rlkv_alloc(g, 6, 0.0, full);
    for (int i = 0; i < 6; i++) assert_int_equal(full[i], 1);
    pd_kvp_rlkv_alloc(g, 6, 1.0, full);
    for (int i = 0; i < 6; i++) assert_int_equal(full[i], 0);
    pd_kvp_rlkv_alloc(g, 6, 0.4, full);
    check((int32_t[]){full[0], full[1], full[2], full[3], full[4], full[5]}, 6, (int32_t[]){1, 0, 1, 0, 1, 1}, 6);
}

static void test_parse(void **st) {
    (void)st;
    pd_kvp_spec s = {0};
    assert_int_equal(pd_kvp_parse_budget("50%", &s), PD_OK);
    assert_true(fabs(s.budget_frac - 0.5) < 1e-12);
    assert_int_equal(pd_kvp_parse("h2o:recent=25", &s), PD_OK);
    assert_int_equal(s.kind, PD_KVP_H2O);
    assert_int_equal(s.recent, 25);
    assert_true(fabs(s.budget_frac - 0.5) < 1e-12); /* the budget survives the policy parse */
    assert_int_equal(pd_kvp_parse("lazy:W=16,alpha=0.01,protect=none", &s), PD_OK);
    assert_int_equal(s.window, 16);
    assert_int_equal(s.protect, 0);
    assert_int_equal(pd_kvp_parse("lazy", &s), PD_OK);
    assert_int_equal(s.protect, PD_KVP_PROTECT_PROMPT);
    assert_int_equal(pd_kvp_parse_budget("128", &s), PD_OK);
    assert_int_equal(s.budget_rows, 128);
    assert_int_not_equal(pd_kvp_parse("lru", &s), PD_OK);
    assert_int_not_equal(pd_kvp_parse("h2o:window=3", &s), PD_OK);  /* a key of another policy */
    assert_int_not_equal(pd_kvp_parse("snapkv:pool=4", &s), PD_OK); /* even kernel */
    assert_int_not_equal(pd_kvp_parse("rlkv", &s), PD_OK);          /* gates required */
    assert_int_not_equal(pd_kvp_parse("tova:protect=all", &s), PD_OK);
    assert_int_not_equal(pd_kvp_parse_budget("0%", &s), PD_OK);
    assert_int_not_equal(pd_kvp_parse_budget("101%", &s), PD_OK);
    assert_int_not_equal(pd_kvp_parse_budget("0", &s), PD_OK);
    assert_int_not_equal(pd_kvp_parse_budget("12x", &s), PD_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streaming), cmocka_unit_test(test_h2o),         cmocka_unit_test(test_tova),
        cmocka_unit_test(test_snapkv),    cmocka_unit_test(test_rkv),         cmocka_unit_test(test_lazy_order),
        cmocka_unit_test(test_lazy_activate), cmocka_unit_test(test_lazy_recurrence), cmocka_unit_test(test_rlkv),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
