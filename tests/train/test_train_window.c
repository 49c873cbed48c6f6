/* tests/train/test_train_window.c — training with a local attention window (pd_tmodel_set_window,
 * `ponder train --attn-window S,R`): the window reaches the model's attention. Truth from the mask's
 * definition, not from the attention code: with sink S, recent R and L layers, the last position's
 * receptive field is the first S positions plus the last L·(R−1)+1, so a token outside both leaves
 * its loss bit-identical, while under full attention the same change moves it; a window covering the
 * whole row equals full attention; the gradient stays finite; bad windows are refused. Mixed windows
 * (S,R,mixed): each draw gives the loss of one of the four windows set by hand, all four occur, the
 * same key the same one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ponder/error.h"
#include "ponder/rng.h"
#include "ponder/train.h"
#include <math.h>
#include <string.h>

enum { TT = 24, SINK = 2, RECENT = 4, LAYERS = 2 };

static pd_tmodel *tiny(void) {
    pd_tcfg c;
    memset(&c, 0, sizeof c);
    pd_tcfg_set_arch(&c, "qwen3");
    c.n_vocab = PD_TRAIN_VOCAB; c.dim = 32; c.n_layer = LAYERS; c.n_head = 4; c.n_head_kv = 2; c.head_dim = 8;
    c.n_ff = 64; c.n_ctx = 64; c.tied = true;
    pd_tmodel *m = pd_tmodel_new(&c, 1, TT);
    assert_non_null(m);
    pd_rng r;
    pd_rng_seed(&r, 3);
    pd_tmodel_init(m, &r);
    return m;
}

static void random_tokens(int32_t *tok, uint64_t seed) {
    pd_rng r;
    pd_rng_seed(&r, seed);
    for (int i = 0; i < TT; i++) tok[i] = (int32_t)pd_rng_below(&r, 256);
}

/* loss of the last position only, with token `pos` set to `val` */
static double last_loss(pd_tmodel *m, const int32_t *base, int pos, int32_t val) {
    int32_t tok[TT], tgt[TT];
    memcpy(tok, base, sizeof tok);
    if (pos >= 0) tok[pos] = val;
    for (int i = 0; i < TT; i++) tgt[i] = -1;
    tgt[TT - 1] = 65;
    pd_tbatch b = {1, TT, tok, tgt, NULL};
    int64_t n;
    double l = pd_tmodel_forward(m, &b, &n);
    assert_int_equal(n, 1);
    return l;
}

static void test_window_hides(void **st) {
    (void)st;
    pd_tmodel *m = tiny();
    int32_t base[TT];
    random_tokens(base, 9);
    /* last position 23 sees 0..1 and, through two layers of 4-wide windows, 17..23 */
    int first_seen = TT - 1 - LAYERS * (RECENT - 1);
    double full0 = last_loss(m, base, -1, 0);
    int moved = 0;
    for (int pos = SINK; pos < first_seen; pos++) moved += last_loss(m, base, pos, (base[pos] + 7) % 256) != full0;
    assert_true(moved > 0); /* full attention: those tokens matter */
    assert_int_equal(pd_tmodel_set_window(m, SINK, RECENT), PD_OK);
    double w0 = last_loss(m, base, -1, 0);
    assert_true(w0 != full0);
    for (int pos = SINK; pos < first_seen; pos++) /* hidden: bit-identical */
        assert_true(last_loss(m, base, pos, (base[pos] + 7) % 256) == w0);
    int seen = 0; /* inside the field (a sink or the recent span) a change reaches the loss */
    for (int pos = 0; pos < TT; pos++) {
        if (pos >= SINK && pos < first_seen) continue;
        seen += last_loss(m, base, pos, (base[pos] + 7) % 256) != w0;
    }
    assert_true(seen >= 6);
    /* the backward runs with the window too: finite gradient */
    int32_t tgt[TT];
    for (int i = 0; i < TT; i++) tgt[i] = (i + 1 < TT) ? base[i + 1] : -1;
    pd_tbatch b = {1, TT, base, tgt, NULL};
    int64_t n;
    pd_tmodel_zero_grad(m);
    double l = pd_tmodel_forward(m, &b, &n);
    pd_tmodel_backward(m, &b, 1.0f / (float)n);
    assert_true(isfinite(l));
    pd_optcfg o;
    pd_optcfg_default(&o);
    o.total_steps = 1;
    assert_true(isfinite(pd_tmodel_adamw(m, &o, 0, 1e-3f)));
    /* a window covering the whole row is full attention */
    assert_int_equal(pd_tmodel_set_window(m, 1, TT), PD_OK);
    double wf = last_loss(m, base, -1, 0);
    assert_int_equal(pd_tmodel_set_window(m, 0, 0), PD_OK);
    double ff = last_loss(m, base, -1, 0);
    assert_true(fabs(wf - ff) <= 1e-6 * fabs(ff));
    pd_tmodel_free(m);
}

/* mixed windows: every draw is one of the four windows, each occurs, a key always gives the same one;
 * base restores (S, R); without mixing a draw changes nothing */
static void test_window_mixed(void **st) {
    (void)st;
    pd_tmodel *m = tiny();
    int32_t base[TT];
    random_tokens(base, 13);
    double want[4];
    for (int u = 0; u < 4; u++) {
        assert_int_equal(pd_tmodel_set_window(m, u < 3 ? SINK : 0, u < 3 ? (RECENT / 2) << u : 0), PD_OK);
        want[u] = last_loss(m, base, -1, 0);
    }
    for (int u = 0; u < 4; u++)
        for (int w = u + 1; w < 4; w++) assert_true(want[u] != want[w]); /* the four are told apart */
    assert_int_equal(pd_tmodel_set_window(m, SINK, RECENT / 2), PD_OK);
    for (uint64_t key = 0; key < 8; key++) { /* not mixed: a draw is a no-op */
        pd_tmodel_window_draw(m, key);
        assert_true(last_loss(m, base, -1, 0) == want[0]);
    }
    pd_tmodel_set_window_mix(m, true);
    int seen[4] = {0};
    for (uint64_t key = 0; key < 64; key++) {
        pd_tmodel_window_draw(m, key);
        double l = last_loss(m, base, -1, 0);
        int u = 0;
        while (u < 4 && l != want[u]) u++;
        assert_true(u < 4);
        seen[u]++;
        pd_tmodel_window_draw(m, key);
        assert_true(last_loss(m, base, -1, 0) == l);
    }
    for (int u = 0; u < 4; u++) assert_true(seen[u] >= 6);
    pd_tmodel_window_base(m);
    assert_true(last_loss(m, base, -1, 0) == want[0]);
    pd_tmodel_free(m);
}

static void test_window_refused(void **st) {
    (void)st;
    pd_tmodel *m = tiny();
    assert_int_not_equal(pd_tmodel_set_window(m, -1, 4), PD_OK);
    assert_int_not_equal(pd_tmodel_set_window(m, 0, 4), PD_OK);
    assert_int_not_equal(pd_tmodel_set_window(m, 4, 0), PD_OK);
    assert_non_null(strstr(pd_last_error(), "window"));
    pd_tmodel_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_window_hides), cmocka_unit_test(test_window_mixed),
                                       cmocka_unit_test(test_window_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
