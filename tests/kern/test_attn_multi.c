/* tests/kern/test_attn_multi.c — pd_attend_paged_multi (kern/attn.c, attn_avx2.c, attn_avx512.c), the prefill form of
 * paged attention: n descriptors over one K/V head, each K/V chunk dequantised once for all of them.
 * Its outputs and softmax weights must equal n separate pd_attend_paged calls to the bit (every KV
 * type and every K type / V type pair (-ctk != -ctv), causal row counts that end inside and on 16-row chunks, rows 0 included, GQA groups of 1-5
 * heads, several head dims), at every SIMD level; descriptors that do not share their head go one
 * by one. The single calls themselves are checked against an explicit softmax in tests/model/test_kv.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/attn.h"
#include "ponder/rng.h"

enum { RNG_ATTN_MULTI = 0x61746d31 }; /* named pd_rng stream of this file */

static void multi_case(pd_rng *rng, pd_type kt, pd_type vt, int hd, int n_tok, int first_rows, int n_q,
                       int with_probs) {
    const int br = 32, max_rows = first_rows + n_tok;
    const size_t krb = pd_row_bytes(kt, hd), vrb = pd_row_bytes(vt, hd);
    const int n_blk = max_rows / br + 1;
    const size_t k_off = 0, v_off = (size_t)br * krb;
    unsigned char **blocks = calloc((size_t)n_blk, sizeof *blocks);
    float *row = malloc(sizeof(float) * hd);
    for (int b = 0; b < n_blk; b++) {
        blocks[b] = calloc(1, (size_t)br * (krb + vrb));
        for (int r = 0; r < 2 * br; r++) {
            for (int d = 0; d < hd; d++) row[d] = (float)pd_rng_normal(rng);
            pd_type t = r < br ? kt : vt;
            unsigned char *dst = blocks[b] + (r < br ? k_off + (size_t)r * krb : v_off + (size_t)(r - br) * vrb);
            assert_int_equal(pd_quantize_row(t, row, dst, hd), PD_OK);
        }
    }
    const size_t qn = (size_t)n_tok * n_q * hd, pn = (size_t)n_tok * n_q * max_rows;
    float *q = malloc(sizeof(float) * qn), *o1 = malloc(sizeof(float) * qn), *om = malloc(sizeof(float) * qn);
    float *p1 = calloc(pn, sizeof(float)), *pm = calloc(pn, sizeof(float));
    for (size_t i = 0; i < qn; i++) q[i] = (float)pd_rng_normal(rng);
    pd_attn_paged *a = calloc((size_t)n_tok, sizeof *a);
    for (int pass = 0; pass < 2; pass++) {
        float *out = pass ? om : o1, *pr = pass ? pm : p1;
        for (int i = 0; i < n_tok; i++) {
            a[i] = (pd_attn_paged){.blocks = (const unsigned char *const *)blocks, .block_rows = br, .k_off = k_off,
                                   .v_off = v_off, .k_type = kt, .v_type = vt, .n_rows = first_rows + i, .head_dim = hd,
                                   .scale = 1.0f / sqrtf((float)hd), .n_q = n_q, .q = q + (size_t)i * n_q * hd,
                                   .q_stride = hd, .out = out + (size_t)i * n_q * hd, .out_stride = hd};
            if (with_probs) {
                a[i].probs = pr + (size_t)i * n_q * max_rows;
                a[i].probs_stride = max_rows;
            }
            if (!pass) pd_attend_paged(&a[i]);
        }
        if (pass) pd_attend_paged_multi(a, n_tok);
    }
    char what[160];
    snprintf(what, sizeof what, "%s K %s V %s hd %d tokens %d rows %d.. n_q %d probs %d", pd_isa_name(pd_isa_active()),
             pd_type_name(kt), pd_type_name(vt), hd, n_tok, first_rows, n_q, with_probs);
    for (size_t i = 0; i < qn; i++)
        if (memcmp(&o1[i], &om[i], sizeof(float))) fail_msg("%s: output %zu: %.9g vs %.9g", what, i, om[i], o1[i]);
    if (memcmp(p1, pm, sizeof(float) * pn)) fail_msg("%s: softmax weights differ", what);
    for (int b = 0; b < n_blk; b++) free(blocks[b]);
    free(blocks), free(row), free(q), free(o1), free(om), free(p1), free(pm), free(a);
}

static void test_multi_equals_single(void **st) {
    (void)st;
    pd_rng rng;
    pd_rng_seed(&rng, RNG_ATTN_MULTI);
    const pd_type ts[] = {PD_TYPE_F32, PD_TYPE_F16, PD_TYPE_Q8_0, PD_TYPE_Q4_0};
    for (int isa = PD_ISA_SCALAR; isa <= (int)pd_isa_best(); isa++) {
        pd_isa_force((pd_isa)isa);
        for (int ti = 0; ti < 4; ti++) {
            multi_case(&rng, ts[ti], ts[ti], 64, 16, 0, 1, 1);   /* prefill from the first token: rows 0..15 */
            multi_case(&rng, ts[ti], ts[ti], 64, 13, 27, 2, 0);  /* a later chunk, rows ending inside 16-row steps */
            multi_case(&rng, ts[ti], ts[ti], 128, 5, 16, 5, 1);
            multi_case(&rng, ts[ti], ts[ti], 32, 1, 40, 3, 1);
            multi_case(&rng, ts[ti], ts[ti], 96, 16, 100, 16, 0); /* 256 (token, head) states */
            for (int vi = 0; vi < 4; vi++) /* K and V of different types */
                if (vi != ti) {
                    multi_case(&rng, ts[ti], ts[vi], 64, 13, 27, 2, 1);
                    multi_case(&rng, ts[ti], ts[vi], 32, 16, 0, 4, 0);
                }
        }
    }
    pd_isa_force(pd_isa_best());
}

/* Descriptors over different heads (here: other blocks) are not merged: each gets its own rows. */
static void test_multi_not_shared(void **st) {
    (void)st;
    const int hd = 32, br = 16;
    const size_t rb = pd_row_bytes(PD_TYPE_F32, hd);
    float *b0 = calloc(2 * br * hd, sizeof(float)), *b1 = calloc(2 * br * hd, sizeof(float));
    for (int i = 0; i < 2 * br * hd; i++) {
        b0[i] = 1.0f;
        b1[i] = 2.0f;
    }
    const unsigned char *l0[1] = {(const unsigned char *)b0}, *l1[1] = {(const unsigned char *)b1};
    float q[2 * 32] = {0}, out[2 * 32];
    pd_attn_paged a[2];
    for (int i = 0; i < 2; i++)
        a[i] = (pd_attn_paged){.blocks = i ? l1 : l0, .block_rows = br, .k_off = 0, .v_off = (size_t)br * rb,
                               .k_type = PD_TYPE_F32, .v_type = PD_TYPE_F32, .n_rows = 4, .head_dim = hd, .scale = 1.0f, .n_q = 1,
                               .q = q + i * hd, .q_stride = hd, .out = out + i * hd, .out_stride = hd};
    pd_attend_paged_multi(a, 2);
    for (int d = 0; d < hd; d++) {
        assert_true(out[d] == 1.0f);
        assert_true(out[hd + d] == 2.0f);
    }
    free(b0), free(b1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multi_equals_single),
        cmocka_unit_test(test_multi_not_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
