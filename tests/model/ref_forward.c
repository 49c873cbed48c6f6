/* tests/model/ref_forward.c — see ref_forward.h. Included by the tests that use it (the test build
 * compiles one file per executable). Clarity over speed: every quantity is a double. */
#include "model/ref_forward.h"
#include "ponder/kern.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whole tensor dequantised into doubles, rows of ne[0]. */
static double *ref_load(const pd_gguf *g, const char *name, int64_t *rows, int64_t *cols) {
    const pd_gguf_tensor *t = pd_gguf_find_tensor(g, name);
    if (!t) {
        fprintf(stderr, "ref_forward: tensor %s missing\n", name);
        return NULL;
    }
    int64_t K = t->ne[0], N = t->ne[1] * t->ne[2] * t->ne[3];
    size_t rb = pd_row_bytes(t->type, K);
    double *out = malloc(sizeof(double) * (size_t)(K * N));
    float *row = malloc(sizeof(float) * (size_t)K);
    for (int64_t r = 0; r < N; r++) {
        pd_dequantize_row(t->type, (const unsigned char *)t->data + (size_t)r * rb, row, K);
        for (int64_t j = 0; j < K; j++) out[r * K + j] = row[j];
    }
    free(row);
    if (rows) *rows = N;
    if (cols) *cols = K;
    return out;
}

/* y[N] = W[N][K] x[K] */
static void ref_mv(const double *W, const double *x, double *y, int64_t N, int64_t K) {
    for (int64_t i = 0; i < N; i++) {
        double s = 0;
        for (int64_t j = 0; j < K; j++) s += W[i * K + j] * x[j];
        y[i] = s;
    }
}

static void ref_rmsnorm(double *out, const double *x, const double *w, int64_t n, double eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / (double)n + eps);
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * r * (w ? w[i] : 1.0);
}

static void ref_rope(const ref_config *c, double *x, int pos) {
    int half = c->n_rot / 2;
    for (int i = 0; i < half; i++) {
        double theta = pos * c->freq_scale * pow(c->base, -2.0 * i / c->n_rot);
        if (c->factors) theta /= c->factors[i];
        double cs = cos(theta) * c->attn_factor, sn = sin(theta) * c->attn_factor;
        int a = c->neox ? i : 2 * i, b = c->neox ? i + half : 2 * i + 1;
        double x0 = x[a], x1 = x[b];
        x[a] = x0 * cs - x1 * sn;
        x[b] = x0 * sn + x1 * cs;
    }
}

int ref_forward(const pd_gguf *g, const ref_config *c, const int32_t *tokens, int n, double *logits) {
    const int E = c->n_embd, hd = c->head_dim, H = c->n_head, Hkv = c->n_head_kv, F = c->n_ff;
    const int nq = H * hd, nkv = Hkv * hd;
    char nm[96];
    double *emb = ref_load(g, "token_embd.weight", NULL, NULL);
    if (!emb) return -1;
    double *x = malloc(sizeof(double) * (size_t)n * E), *xn = malloc(sizeof(double) * E);
    double *Q = malloc(sizeof(double) * (size_t)n * nq), *Kc = malloc(sizeof(double) * (size_t)n * nkv);
    double *Vc = malloc(sizeof(double) * (size_t)n * nkv), *att = malloc(sizeof(double) * nq);
    double *tmp = malloc(sizeof(double) * (size_t)(nq + 2 * nkv + 2 * F + E));
    double *sc = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < E; j++) x[i * E + j] = emb[(int64_t)tokens[i] * E + j];
    int rc = 0;
    for (int l = 0; l < c->n_layer && rc == 0; l++) {
#define LOAD(suffix) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), ref_load(g, nm, NULL, NULL))
        double *an = LOAD("attn_norm.weight"), *fn = LOAD("ffn_norm.weight"), *wo = LOAD("attn_output.weight");
        double *wq = NULL, *wk = NULL, *wv = NULL, *wqkv = NULL, *bq = NULL, *bk = NULL, *bv = NULL;
        double *qn = NULL, *kn = NULL, *wg = NULL, *wu = NULL, *wgu = NULL, *wd = LOAD("ffn_down.weight");
        if (c->fused_qkv) wqkv = LOAD("attn_qkv.weight");
        else { wq = LOAD("attn_q.weight"); wk = LOAD("attn_k.weight"); wv = LOAD("attn_v.weight"); }
        if (c->bias) { bq = LOAD("attn_q.bias"); bk = LOAD("attn_k.bias"); bv = LOAD("attn_v.bias"); }
        if (c->qk_norm) { qn = LOAD("attn_q_norm.weight"); kn = LOAD("attn_k_norm.weight"); }
        if (c->fused_gate_up) wgu = LOAD("ffn_up.weight");
        else { wg = LOAD("ffn_gate.weight"); wu = LOAD("ffn_up.weight"); }
#undef LOAD
        if (!an || !fn || !wo || !wd || (c->fused_qkv ? !wqkv : (!wq || !wk || !wv)) ||
            (c->bias && (!bq || !bk || !bv)) || (c->qk_norm && (!qn || !kn)) || (c->fused_gate_up ? !wgu : (!wg || !wu)))
            rc = -1;
        for (int i = 0; i < n && rc == 0; i++) {
            ref_rmsnorm(xn, x + i * E, an, E, c->eps);
            double *q = Q + i * nq, *k = Kc + i * nkv, *v = Vc + i * nkv;
            if (wqkv) {
                ref_mv(wqkv, xn, tmp, nq + 2 * nkv, E);
                memcpy(q, tmp, sizeof(double) * nq);
                memcpy(k, tmp + nq, sizeof(double) * nkv);
                memcpy(v, tmp + nq + nkv, sizeof(double) * nkv);
            } else {
                ref_mv(wq, xn, q, nq, E);
                ref_mv(wk, xn, k, nkv, E);
                ref_mv(wv, xn, v, nkv, E);
            }
            if (bq) for (int j = 0; j < nq; j++) q[j] += bq[j];
            if (bk) for (int j = 0; j < nkv; j++) k[j] += bk[j];
            if (bv) for (int j = 0; j < nkv; j++) v[j] += bv[j];
            for (int h = 0; h < H; h++) {
                if (qn) ref_rmsnorm(q + h * hd, q + h * hd, qn, hd, c->eps);
                ref_rope(c, q + h * hd, i);
            }
            for (int h = 0; h < Hkv; h++) {
                if (kn) ref_rmsnorm(k + h * hd, k + h * hd, kn, hd, c->eps);
                ref_rope(c, k + h * hd, i);
            }
        }
        for (int i = 0; i < n && rc == 0; i++) {
            for (int h = 0; h < H; h++) {
                int kvh = h / (H / Hkv);
                const double *q = Q + i * nq + h * hd;
                double mx = -INFINITY, den = 0;
                for (int p = 0; p <= i; p++) {
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += q[d] * Kc[p * nkv + kvh * hd + d];
                    sc[p] = s / sqrt((double)hd);
                    if (sc[p] > mx) mx = sc[p];
                }
                for (int p = 0; p <= i; p++) den += (sc[p] = exp(sc[p] - mx));
                for (int d = 0; d < hd; d++) {
                    double s = 0;
                    for (int p = 0; p <= i; p++) s += sc[p] * Vc[p * nkv + kvh * hd + d];
                    att[h * hd + d] = s / den;
                }
            }
            ref_mv(wo, att, tmp, E, nq);
            for (int j = 0; j < E; j++) x[i * E + j] += tmp[j];
            ref_rmsnorm(xn, x + i * E, fn, E, c->eps);
            double *gt = tmp, *up = tmp + F;
            if (wgu) {
                ref_mv(wgu, xn, tmp, 2 * F, E);
            } else {
                ref_mv(wg, xn, gt, F, E);
                ref_mv(wu, xn, up, F, E);
            }
            for (int j = 0; j < F; j++) gt[j] = gt[j] / (1.0 + exp(-gt[j])) * up[j];
            double *dn = tmp + 2 * F;
            ref_mv(wd, gt, dn, E, F);
            for (int j = 0; j < E; j++) x[i * E + j] += dn[j];
            if (c->steer && c->steer_layer == l)
                for (int j = 0; j < E; j++) x[i * E + j] += c->steer[j];
        }
        double *all[] = {an, fn, wo, wq, wk, wv, wqkv, bq, bk, bv, qn, kn, wg, wu, wgu, wd};
        for (size_t a = 0; a < sizeof all / sizeof all[0]; a++) free(all[a]);
    }
    if (rc == 0) {
        double *on = ref_load(g, "output_norm.weight", NULL, NULL);
        double *out = c->tied ? emb : ref_load(g, "output.weight", NULL, NULL);
        if (!on || !out) rc = -1;
        for (int i = 0; i < n && rc == 0; i++) {
            ref_rmsnorm(xn, x + i * E, on, E, c->eps);
            ref_mv(out, xn, logits + (int64_t)i * c->n_vocab, c->n_vocab, E);
        }
        free(on);
        if (!c->tied) free(out);
    }
    free(emb); free(x); free(xn); free(Q); free(Kc); free(Vc); free(att); free(tmp); free(sc);
    return rc;
}
