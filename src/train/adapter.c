/* train/adapter.c — one adapted linear layer: LoRA / PiSSA / SoKA initialisation, forward and
 * backward over a batch of token rows (SoKA without ever forming A⊗B), the dense delta for
 * merging, the weight-gradient route, and the frozen base linear for any stored type.
 * Conventions are in ponder/adapter.h. */
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/kern.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const method_names[] = {"lora", "pissa", "soka"};
static const char *const target_names[PD_AT_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};
static const char *const target_tensors[PD_AT_COUNT] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                        "ffn_gate", "ffn_up", "ffn_down"};

const char *pd_adapter_method_name(pd_adapter_method m) {
    return (unsigned)m < 3 ? method_names[m] : "?";
}
int pd_adapter_method_from_name(const char *name) {
    for (int i = 0; name && i < 3; i++)
        if (!strcasecmp(name, method_names[i])) return i;
    return -1;
}
const char *pd_adapter_target_name(int t) { return t >= 0 && t < PD_AT_COUNT ? target_names[t] : "?"; }
const char *pd_adapter_target_tensor(int t) { return t >= 0 && t < PD_AT_COUNT ? target_tensors[t] : "?"; }
int pd_adapter_target_from_name(const char *name) {
    if (!name) return -1;
    for (int t = 0; t < PD_AT_COUNT; t++)
        if (!strcasecmp(name, target_names[t]) || !strcasecmp(name, target_tensors[t])) return t;
    /* Hugging Face projection names */
    static const char *const hf[PD_AT_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    for (int t = 0; t < PD_AT_COUNT; t++)
        if (!strcasecmp(name, hf[t])) return t;
    return -1;
}

pd_status pd_adapter_parse_targets(const char *list, unsigned *mask) {
    if (!list || !*list) return pd_fail(PD_ERR_ARG, "targets: empty list (use e.g. q,v or all)");
    if (!strcasecmp(list, "all")) { *mask = (1u << PD_AT_COUNT) - 1; return PD_OK; }
    unsigned m = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[32];
        if (len == 0 || len >= sizeof item)
            return pd_fail(PD_ERR_ARG, "targets: bad item at offset %d in '%s'", (int)(p - list), list);
        memcpy(item, p, len);
        item[len] = 0;
        int t = pd_adapter_target_from_name(item);
        if (t < 0)
            return pd_fail(PD_ERR_ARG, "targets: unknown matrix '%s' (known: q, k, v, o, gate, up, down, all)", item);
        m |= 1u << t;
        p += len + (e ? 1 : 0);
    }
    *mask = m;
    return PD_OK;
}

void pd_adapter_targets_str(unsigned mask, char *buf, size_t cap) {
    size_t len = 0;
    if (cap) buf[0] = 0;
    for (int t = 0; t < PD_AT_COUNT; t++) {
        if (!(mask & (1u << t))) continue;
        int w = snprintf(buf + len, cap > len ? cap - len : 0, "%s%s", len ? "," : "", target_names[t]);
        if (w > 0) len += (size_t)w;
        if (len >= cap) break;
    }
}

int64_t pd_adapter_layer_a_size(const pd_adapter_layer *L) {
    return L->method == PD_ADAPTER_SOKA ? (int64_t)L->rank * L->m1 * L->n1 : (int64_t)L->rank * L->d_in;
}
int64_t pd_adapter_layer_b_size(const pd_adapter_layer *L) {
    return L->method == PD_ADAPTER_SOKA ? (int64_t)L->rank * L->m2 * L->n2 : (int64_t)L->rank * L->d_out;
}
int64_t pd_adapter_layer_n_params(const pd_adapter_layer *L) {
    return L->A ? pd_adapter_layer_a_size(L) + pd_adapter_layer_b_size(L) : 0;
}

void pd_adapter_layer_free(pd_adapter_layer *L) {
    if (!L) return;
    free(L->A); free(L->B); free(L->A0); free(L->B0); free(L->gA); free(L->gB); free(L->spectrum);
    memset(L, 0, sizeof *L);
}

void pd_soka_opts_default(pd_soka_opts *o) {
    memset(o, 0, sizeof *o);
    o->rule = PD_RANK_BOTH;
    o->tau = 0.90;
    o->r_max = 8;
}

pd_status pd_adapter_layer_alloc(pd_adapter_layer *L, pd_adapter_method m, int64_t d_in, int64_t d_out, int rank,
                                 int64_t m1, int64_t n1, float scale) {
    memset(L, 0, sizeof *L);
    if (d_in <= 0 || d_out <= 0 || rank <= 0 || (unsigned)m > PD_ADAPTER_SOKA)
        return pd_fail(PD_ERR_ARG, "adapter: bad layer (%s, d_in %lld, d_out %lld, rank %d)",
                       pd_adapter_method_name(m), (long long)d_in, (long long)d_out, rank);
    L->method = m;
    L->d_in = d_in;
    L->d_out = d_out;
    L->rank = rank;
    L->scale = scale;
    if (m == PD_ADAPTER_SOKA) {
        if (m1 <= 0 || n1 <= 0 || d_out % m1 || d_in % n1)
            return pd_fail(PD_ERR_ARG, "adapter: SoKA factor rows %lld / cols %lld do not divide %lldx%lld", (long long)m1,
                           (long long)n1, (long long)d_out, (long long)d_in);
        L->m1 = m1; L->n1 = n1; L->m2 = d_out / m1; L->n2 = d_in / n1;
        if (rank > pd_kpsvd_n_values(L->m1, L->n1, L->m2, L->n2))
            return pd_fail(PD_ERR_ARG, "adapter: %d SoKA terms exceed the %lld possible for %lldx%lld (x) %lldx%lld",
                           rank, (long long)pd_kpsvd_n_values(L->m1, L->n1, L->m2, L->n2), (long long)L->m1,
                           (long long)L->n1, (long long)L->m2, (long long)L->n2);
    } else if (rank > (d_in < d_out ? d_in : d_out) && m == PD_ADAPTER_PISSA) {
        return pd_fail(PD_ERR_ARG, "adapter: PiSSA rank %d exceeds min(%lld, %lld)", rank, (long long)d_in,
                       (long long)d_out);
    }
    int64_t na = pd_adapter_layer_a_size(L), nb = pd_adapter_layer_b_size(L);
    L->A = pd_calloc((size_t)na, sizeof(float));
    L->B = pd_calloc((size_t)nb, sizeof(float));
    L->gA = pd_calloc((size_t)na, sizeof(float));
    L->gB = pd_calloc((size_t)nb, sizeof(float));
    bool frozen = m != PD_ADAPTER_LORA;
    if (frozen) {
        L->A0 = pd_calloc((size_t)na, sizeof(float));
        L->B0 = pd_calloc((size_t)nb, sizeof(float));
    }
    if (!L->A || !L->B || !L->gA || !L->gB || (frozen && (!L->A0 || !L->B0))) {
        pd_adapter_layer_free(L);
        return pd_fail(PD_ERR_NOMEM, "adapter: out of memory for a rank-%d layer", rank);
    }
    return PD_OK;
}

pd_status pd_adapter_lora_init(pd_adapter_layer *L, int64_t d_in, int64_t d_out, int r, float alpha, pd_rng *rng) {
    if (r <= 0) return pd_fail(PD_ERR_ARG, "lora: rank must be positive (got %d)", r);
    PD_TRY(pd_adapter_layer_alloc(L, PD_ADAPTER_LORA, d_in, d_out, r, 0, 0, alpha / (float)r));
    /* Kaiming-uniform with a = √5 (PEFT's default): bound = √(6/((1+a²)·fan_in)) = 1/√fan_in */
    double bound = 1.0 / sqrt((double)d_in);
    for (int64_t i = 0; i < (int64_t)r * d_in; i++) L->A[i] = (float)((2 * pd_rng_uniform(rng) - 1) * bound);
    return PD_OK;
}

pd_status pd_adapter_pissa_init(pd_adapter_layer *L, const float *W, int64_t d_in, int64_t d_out, int r,
                                pd_svd_method svd) {
    int64_t k = d_in < d_out ? d_in : d_out;
    if (r <= 0 || r > k)
        return pd_fail(PD_ERR_ARG, "pissa: rank %d out of range [1, %lld] for a %lldx%lld matrix", r, (long long)k,
                       (long long)d_out, (long long)d_in);
    PD_TRY(pd_adapter_layer_alloc(L, PD_ADAPTER_PISSA, d_in, d_out, r, 0, 0, 1.0f));
    double *a = pd_malloc((size_t)(d_in * d_out) * sizeof(double));
    double *U = pd_malloc((size_t)(d_out * k) * sizeof(double));
    double *Vt = pd_malloc((size_t)(k * d_in) * sizeof(double));
    L->spectrum = pd_malloc((size_t)k * sizeof(double));
    pd_status st = PD_OK;
    if (!a || !U || !Vt || !L->spectrum) {
        st = pd_fail(PD_ERR_NOMEM, "pissa: out of memory for the SVD of a %lldx%lld matrix", (long long)d_out,
                     (long long)d_in);
        goto out;
    }
    L->n_spectrum = k;
    for (int64_t i = 0; i < d_in * d_out; i++) a[i] = W[i];
    st = pd_svd_f64(a, d_out, d_in, U, L->spectrum, Vt, svd);
    if (st != PD_OK) {
        pd_fail_ctx(st, "pissa");
        goto out;
    }
    for (int c = 0; c < r; c++) {
        double sq = sqrt(L->spectrum[c]);
        for (int64_t o = 0; o < d_out; o++) L->B[o * r + c] = (float)(U[o * k + c] * sq);
        for (int64_t i = 0; i < d_in; i++) L->A[c * d_in + i] = (float)(Vt[c * d_in + i] * sq);
    }
    memcpy(L->A0, L->A, sizeof(float) * (size_t)(r * d_in));
    memcpy(L->B0, L->B, sizeof(float) * (size_t)(r * d_out));
out:
    free(a); free(U); free(Vt);
    if (st != PD_OK) pd_adapter_layer_free(L);
    return st;
}

pd_status pd_adapter_soka_init(pd_adapter_layer *L, const float *W, int64_t d_in, int64_t d_out,
                               const pd_soka_opts *o, pd_svd_method svd) {
    pd_soka_opts def;
    if (!o) { pd_soka_opts_default(&def); o = &def; }
    int64_t m1 = o->m1, n1 = o->n1, tmp;
    if (m1 <= 0) pd_kron_factor_dim(d_out, &m1, &tmp);
    if (n1 <= 0) pd_kron_factor_dim(d_in, &n1, &tmp);
    if (m1 <= 0 || n1 <= 0 || d_out % m1 || d_in % n1)
        return pd_fail(PD_ERR_ARG, "soka: factor shape %lldx%lld does not divide the %lldx%lld weight", (long long)m1,
                       (long long)n1, (long long)d_out, (long long)d_in);
    int64_t m2 = d_out / m1, n2 = d_in / n1, K = pd_kpsvd_n_values(m1, n1, m2, n2);
    if (o->terms > K)
        return pd_fail(PD_ERR_ARG, "soka: %d terms requested, %lldx%lld (x) %lldx%lld allows at most %lld", o->terms,
                       (long long)m1, (long long)n1, (long long)m2, (long long)n2, (long long)K);
    if (o->terms <= 0 && !(o->tau > 0 && o->tau <= 1))
        return pd_fail(PD_ERR_ARG, "soka: energy threshold tau must be in (0, 1] (got %g)", o->tau);
    int want = o->terms > 0 ? o->terms : (o->r_max > 0 && o->r_max < K ? o->r_max : (int)K);
    double *sig = pd_malloc((size_t)K * sizeof(double));
    float *Af = pd_malloc(sizeof(float) * (size_t)(want * m1 * n1));
    float *Bf = pd_malloc(sizeof(float) * (size_t)(want * m2 * n2));
    pd_status st;
    if (!sig || !Af || !Bf) {
        st = pd_fail(PD_ERR_NOMEM, "soka: out of memory");
        goto fail;
    }
    st = pd_kpsvd(W, m1, n1, m2, n2, want, sig, Af, Bf, svd);
    if (st != PD_OK) {
        pd_fail_ctx(st, "soka");
        goto fail;
    }
    int r = o->terms > 0 ? o->terms : pd_rank_select(o->rule, sig, K, o->tau, o->r_max);
    st = pd_adapter_layer_alloc(L, PD_ADAPTER_SOKA, d_in, d_out, r, m1, n1, 1.0f);
    if (st != PD_OK) goto fail;
    for (int k = 0; k < r; k++) {
        float sq = (float)sqrt(sig[k]);
        for (int64_t i = 0; i < m1 * n1; i++) L->A[k * m1 * n1 + i] = sq * Af[k * m1 * n1 + i];
        for (int64_t i = 0; i < m2 * n2; i++) L->B[k * m2 * n2 + i] = sq * Bf[k * m2 * n2 + i];
    }
    memcpy(L->A0, L->A, sizeof(float) * (size_t)(r * m1 * n1));
    memcpy(L->B0, L->B, sizeof(float) * (size_t)(r * m2 * n2));
    L->spectrum = sig;
    L->n_spectrum = K;
    free(Af); free(Bf);
    return PD_OK;
fail:
    free(sig); free(Af); free(Bf);
    return st;
}

/* ---- LoRA / PiSSA math ---- */
static void lowrank_forward(const float *A, const float *B, int r, int64_t d_in, int64_t d_out, const float *x,
                            double *h, double *yacc, double sign) {
    for (int k = 0; k < r; k++) {
        double s = 0;
        const float *a = A + k * d_in;
        for (int64_t i = 0; i < d_in; i++) s += (double)a[i] * x[i];
        h[k] = s;
    }
    for (int64_t o = 0; o < d_out; o++) {
        double s = 0;
        const float *b = B + o * r;
        for (int k = 0; k < r; k++) s += (double)b[k] * h[k];
        yacc[o] += sign * s;
    }
}

/* ---- SoKA math: one term, one token. X n1×n2 (x row-major), accumulates sign·A·X·Bᵀ into Y (m1×m2) ---- */
static void kron_forward(const float *A, const float *B, int64_t m1, int64_t n1, int64_t m2, int64_t n2,
                         const float *x, double *T, double *Y, double sign) {
    /* T = X·Bᵀ (n1×m2) */
    for (int64_t j1 = 0; j1 < n1; j1++)
        for (int64_t i2 = 0; i2 < m2; i2++) {
            double s = 0;
            const float *xr = x + j1 * n2, *br = B + i2 * n2;
            for (int64_t j2 = 0; j2 < n2; j2++) s += (double)xr[j2] * br[j2];
            T[j1 * m2 + i2] = s;
        }
    /* Y += A·T */
    for (int64_t i1 = 0; i1 < m1; i1++) {
        double *yr = Y + i1 * m2;
        for (int64_t j1 = 0; j1 < n1; j1++) {
            double a = sign * A[i1 * n1 + j1];
            if (a == 0) continue;
            const double *tr = T + j1 * m2;
            for (int64_t i2 = 0; i2 < m2; i2++) yr[i2] += a * tr[i2];
        }
    }
}

void pd_adapter_forward(const pd_adapter_layer *L, const float *X, int64_t n, float *Y, float user_scale) {
    if (!L->A || n <= 0) return;
    const int64_t din = L->d_in, dout = L->d_out;
    const double s = (double)L->scale * user_scale;
    int64_t tsz = L->method == PD_ADAPTER_SOKA ? L->n1 * L->m2 : L->rank;
    double *yacc = pd_malloc(sizeof(double) * (size_t)dout), *tmp = pd_malloc(sizeof(double) * (size_t)tsz);
    if (!yacc || !tmp) { free(yacc); free(tmp); return; }
    for (int64_t t = 0; t < n; t++) {
        const float *x = X + t * din;
        memset(yacc, 0, sizeof(double) * (size_t)dout);
        if (L->method == PD_ADAPTER_SOKA) {
            int64_t asz = L->m1 * L->n1, bsz = L->m2 * L->n2;
            for (int k = 0; k < L->rank; k++) {
                kron_forward(L->A + k * asz, L->B + k * bsz, L->m1, L->n1, L->m2, L->n2, x, tmp, yacc, 1.0);
                if (L->A0)
                    kron_forward(L->A0 + k * asz, L->B0 + k * bsz, L->m1, L->n1, L->m2, L->n2, x, tmp, yacc, -1.0);
            }
        } else {
            lowrank_forward(L->A, L->B, L->rank, din, dout, x, tmp, yacc, 1.0);
            if (L->A0) lowrank_forward(L->A0, L->B0, L->rank, din, dout, x, tmp, yacc, -1.0);
        }
        float *y = Y + t * dout;
        for (int64_t o = 0; o < dout; o++) y[o] += (float)(s * yacc[o]);
    }
    free(yacc); free(tmp);
}

void pd_adapter_zero_grad(pd_adapter_layer *L) {
    if (!L->A) return;
    memset(L->gA, 0, sizeof(float) * (size_t)pd_adapter_layer_a_size(L));
    memset(L->gB, 0, sizeof(float) * (size_t)pd_adapter_layer_b_size(L));
}

void pd_adapter_backward(pd_adapter_layer *L, const float *X, int64_t n, const float *dY, float *dX) {
    if (!L->A || n <= 0) return;
    const int64_t din = L->d_in, dout = L->d_out, na = pd_adapter_layer_a_size(L), nb = pd_adapter_layer_b_size(L);
    const double s = L->scale;
    double *gA = pd_calloc((size_t)na, sizeof(double)), *gB = pd_calloc((size_t)nb, sizeof(double));
    double *dx = pd_malloc(sizeof(double) * (size_t)din);
    int64_t w1, w2;
    if (L->method == PD_ADAPTER_SOKA) { w1 = L->m1 * L->n2; w2 = L->m1 * L->n2; }
    else { w1 = L->rank; w2 = L->rank; }
    double *P = pd_malloc(sizeof(double) * (size_t)w1), *Q = pd_malloc(sizeof(double) * (size_t)w2);
    if (!gA || !gB || !dx || !P || !Q) goto out;
    for (int64_t t = 0; t < n; t++) {
        const float *x = X + t * din, *dy = dY + t * dout;
        memset(dx, 0, sizeof(double) * (size_t)din);
        if (L->method == PD_ADAPTER_SOKA) {
            const int64_t m1 = L->m1, n1 = L->n1, m2 = L->m2, n2 = L->n2, asz = m1 * n1, bsz = m2 * n2;
            for (int k = 0; k < L->rank; k++) {
                for (int pass = 0; pass < (L->A0 ? 2 : 1); pass++) {
                    const float *A = (pass ? L->A0 : L->A) + k * asz, *B = (pass ? L->B0 : L->B) + k * bsz;
                    double sg = pass ? -s : s;
                    /* P = dY·B (m1×n2), dY = sg·dy viewed m1×m2 */
                    for (int64_t i1 = 0; i1 < m1; i1++)
                        for (int64_t j2 = 0; j2 < n2; j2++) {
                            double v = 0;
                            for (int64_t i2 = 0; i2 < m2; i2++) v += (double)dy[i1 * m2 + i2] * B[i2 * n2 + j2];
                            P[i1 * n2 + j2] = sg * v;
                        }
                    /* dX += Aᵀ·P */
                    for (int64_t i1 = 0; i1 < m1; i1++)
                        for (int64_t j1 = 0; j1 < n1; j1++) {
                            double a = A[i1 * n1 + j1];
                            for (int64_t j2 = 0; j2 < n2; j2++) dx[j1 * n2 + j2] += a * P[i1 * n2 + j2];
                        }
                    if (pass) continue; /* frozen factors get no gradient */
                    /* dA += P·Xᵀ (m1×n1) */
                    for (int64_t i1 = 0; i1 < m1; i1++)
                        for (int64_t j1 = 0; j1 < n1; j1++) {
                            double v = 0;
                            for (int64_t j2 = 0; j2 < n2; j2++) v += P[i1 * n2 + j2] * x[j1 * n2 + j2];
                            gA[k * asz + i1 * n1 + j1] += v;
                        }
                    /* Q = A·X (m1×n2); dB += sg·dYᵀ·Q (m2×n2) */
                    for (int64_t i1 = 0; i1 < m1; i1++)
                        for (int64_t j2 = 0; j2 < n2; j2++) {
                            double v = 0;
                            for (int64_t j1 = 0; j1 < n1; j1++) v += (double)A[i1 * n1 + j1] * x[j1 * n2 + j2];
                            Q[i1 * n2 + j2] = v;
                        }
                    for (int64_t i2 = 0; i2 < m2; i2++)
                        for (int64_t j2 = 0; j2 < n2; j2++) {
                            double v = 0;
                            for (int64_t i1 = 0; i1 < m1; i1++) v += (double)dy[i1 * m2 + i2] * Q[i1 * n2 + j2];
                            gB[k * bsz + i2 * n2 + j2] += sg * v;
                        }
                }
            }
        } else {
            const int r = L->rank;
            for (int pass = 0; pass < (L->A0 ? 2 : 1); pass++) {
                const float *A = pass ? L->A0 : L->A, *B = pass ? L->B0 : L->B;
                double sg = pass ? -s : s;
                /* h = A·x (Q), g_h = sg·Bᵀ·dy (P) */
                for (int k = 0; k < r; k++) {
                    double v = 0, g = 0;
                    for (int64_t i = 0; i < din; i++) v += (double)A[k * din + i] * x[i];
                    for (int64_t o = 0; o < dout; o++) g += (double)B[o * r + k] * dy[o];
                    Q[k] = v;
                    P[k] = sg * g;
                }
                for (int k = 0; k < r; k++)
                    for (int64_t i = 0; i < din; i++) dx[i] += (double)A[k * din + i] * P[k];
                if (pass) continue;
                for (int k = 0; k < r; k++)
                    for (int64_t i = 0; i < din; i++) gA[k * din + i] += P[k] * x[i];
                for (int64_t o = 0; o < dout; o++)
                    for (int k = 0; k < r; k++) gB[o * r + k] += sg * dy[o] * Q[k];
            }
        }
        if (dX)
            for (int64_t i = 0; i < din; i++) dX[t * din + i] += (float)dx[i];
    }
    for (int64_t i = 0; i < na; i++) L->gA[i] += (float)gA[i];
    for (int64_t i = 0; i < nb; i++) L->gB[i] += (float)gB[i];
out:
    free(gA); free(gB); free(dx); free(P); free(Q);
}

/* D += s·(Δ(A, B) − Δ(A0, B0)) as a dense d_out×d_in matrix (A0 may be NULL). Both products are
 * accumulated per entry in double, so the step-0 delta (A = A0, B = B0) is exactly 0. */
static void delta_add(const pd_adapter_layer *L, const float *A, const float *B, const float *A0, const float *B0,
                      double s, float *D) {
    const int64_t din = L->d_in, dout = L->d_out;
    const int r = L->rank;
    if (L->method == PD_ADAPTER_SOKA) {
        const int64_t m1 = L->m1, n1 = L->n1, m2 = L->m2, n2 = L->n2, asz = m1 * n1, bsz = m2 * n2;
        for (int64_t i1 = 0; i1 < m1; i1++)
            for (int64_t i2 = 0; i2 < m2; i2++)
                for (int64_t j1 = 0; j1 < n1; j1++)
                    for (int64_t j2 = 0; j2 < n2; j2++) {
                        const int64_t ia = i1 * n1 + j1, ib = i2 * n2 + j2;
                        double v = 0;
                        for (int k = 0; k < r; k++) {
                            v += (double)A[k * asz + ia] * B[k * bsz + ib];
                            if (A0) v -= (double)A0[k * asz + ia] * B0[k * bsz + ib];
                        }
                        D[(i1 * m2 + i2) * din + j1 * n2 + j2] += (float)(s * v);
                    }
        return;
    }
    for (int64_t o = 0; o < dout; o++)
        for (int64_t i = 0; i < din; i++) {
            double v = 0;
            for (int k = 0; k < r; k++) {
                v += (double)B[o * r + k] * A[k * din + i];
                if (A0) v -= (double)B0[o * r + k] * A0[k * din + i];
            }
            D[o * din + i] += (float)(s * v);
        }
}

void pd_adapter_delta_dense(const pd_adapter_layer *L, float *D) {
    memset(D, 0, sizeof(float) * (size_t)(L->d_in * L->d_out));
    if (L->A) delta_add(L, L->A, L->B, L->A0, L->B0, L->scale, D);
}

void pd_adapter_residual(const pd_adapter_layer *L, float *W) {
    if (!L->A || !L->A0) return;
    delta_add(L, L->A0, L->B0, NULL, NULL, -(double)L->scale, W);
}

void pd_adapter_grad_from_dW(pd_adapter_layer *L, const float *G) {
    if (!L->A) return;
    const int64_t din = L->d_in, dout = L->d_out;
    const double s = L->scale;
    if (L->method == PD_ADAPTER_SOKA) {
        const int64_t m1 = L->m1, n1 = L->n1, m2 = L->m2, n2 = L->n2, asz = m1 * n1, bsz = m2 * n2;
        for (int k = 0; k < L->rank; k++) {
            const float *A = L->A + k * asz, *B = L->B + k * bsz;
            for (int64_t i1 = 0; i1 < m1; i1++)
                for (int64_t j1 = 0; j1 < n1; j1++) {
                    /* block (i1, j1) of G against B_k, and against A_k[i1][j1] for dB */
                    double va = 0, a = A[i1 * n1 + j1];
                    for (int64_t i2 = 0; i2 < m2; i2++) {
                        const float *g = G + (i1 * m2 + i2) * din + j1 * n2;
                        for (int64_t j2 = 0; j2 < n2; j2++) {
                            va += (double)g[j2] * B[i2 * n2 + j2];
                            L->gB[k * bsz + i2 * n2 + j2] += (float)(s * a * g[j2]);
                        }
                    }
                    L->gA[k * asz + i1 * n1 + j1] += (float)(s * va);
                }
        }
        return;
    }
    const int r = L->rank;
    for (int k = 0; k < r; k++)
        for (int64_t i = 0; i < din; i++) {
            double v = 0;
            for (int64_t o = 0; o < dout; o++) v += (double)L->B[o * r + k] * G[o * din + i];
            L->gA[k * din + i] += (float)(s * v);
        }
    for (int64_t o = 0; o < dout; o++)
        for (int k = 0; k < r; k++) {
            double v = 0;
            for (int64_t i = 0; i < din; i++) v += (double)G[o * din + i] * L->A[k * din + i];
            L->gB[o * r + k] += (float)(s * v);
        }
}

/* ---- frozen base linear ---- */
pd_status pd_linear_to_f32(const pd_tensor *W, float *out) {
    if (!W || !W->data || W->n_dims < 1)
        return pd_fail(PD_ERR_ARG, "linear: missing weight tensor%s%s", W && W->name ? " " : "",
                       W && W->name ? W->name : "");
    const int64_t din = W->ne[0], dout = pd_tensor_nrows(W);
    for (int64_t o = 0; o < dout; o++) {
        pd_status st = pd_dequantize_row(W->type, (const char *)W->data + (size_t)o * W->nb[1], out + o * din, din);
        if (st != PD_OK)
            return pd_fail_ctx(st, "linear %s row %lld", W->name ? W->name : "(unnamed)", (long long)o);
    }
    return PD_OK;
}

/* the whole weight as f32 (NULL, *st and the message set on failure) */
static float *dequant_all(const pd_tensor *W, pd_status *st) {
    float *w = pd_malloc(sizeof(float) * (size_t)(W->ne[0] * pd_tensor_nrows(W)));
    *st = w ? pd_linear_to_f32(W, w) : PD_ERR_NOMEM;
    if (*st != PD_OK) { free(w); return NULL; }
    return w;
}

pd_status pd_linear_forward(const pd_tensor *W, const float *X, int64_t n, float *Y) {
    const int64_t din = W->ne[0], dout = pd_tensor_nrows(W);
    pd_status st;
    float *w = dequant_all(W, &st);
    if (!w) return st;
    for (int64_t t = 0; t < n; t++)
        for (int64_t o = 0; o < dout; o++) {
            double s = 0;
            for (int64_t i = 0; i < din; i++) s += (double)w[o * din + i] * X[t * din + i];
            Y[t * dout + o] = (float)s;
        }
    free(w);
    return PD_OK;
}

pd_status pd_linear_backward_x(const pd_tensor *W, const float *dY, int64_t n, float *dX) {
    const int64_t din = W->ne[0], dout = pd_tensor_nrows(W);
    pd_status st;
    float *w = dequant_all(W, &st);
    if (!w) return st;
    double *acc = pd_malloc(sizeof(double) * (size_t)din);
    if (!acc) { free(w); return PD_ERR_NOMEM; }
    for (int64_t t = 0; t < n; t++) {
        memset(acc, 0, sizeof(double) * (size_t)din);
        for (int64_t o = 0; o < dout; o++) {
            double g = dY[t * dout + o];
            for (int64_t i = 0; i < din; i++) acc[i] += g * w[o * din + i];
        }
        for (int64_t i = 0; i < din; i++) dX[t * din + i] += (float)acc[i];
    }
    free(w); free(acc);
    return PD_OK;
}
