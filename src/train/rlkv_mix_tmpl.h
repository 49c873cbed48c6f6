/* train/rlkv_mix_tmpl.h — RLKV's mixed attention (ponder/rl_gates.h, inference.md §4) over the model
 * template's scalar type: included by tmodel_tmpl.h after its attention functions, so it exists in
 * the f32 engine and in the f64 finite-difference instantiation alike (no include guard: one copy per
 * instantiation).
 *
 * Layer l, query head h of KV group g (gate a = α[l][g]):
 *     out = a·Attn_full + (1 − a)·Attn_local
 * Attn_full is the model's causal attention, Attn_local the same attention restricted to the window
 * (sink, recent) of attention_forward. The backward:
 *     dα[l][g] += Σ_{b,t,h∈g,j} dout·(Attn_full − Attn_local)
 *     full branch  gets a·dout, local branch (1 − a)·dout, both through attention_backward into dq/dk/dv.
 * At a = 1 the output is Attn_full exactly (1·x + 0·y), at a = 0 Attn_local exactly. */

struct TN(mix) {
    const TR *alpha;            /* [L][KV] gates */
    TR *dalpha;                 /* [L][KV] their gradient, accumulated (+=) */
    int sink, recent;           /* Attn_local's window (attention_forward's rule) */
    TR *att_local;              /* [L][B][H][T][T] the window's probabilities, laid out at the batch's B, T */
    TR *ydiff;                  /* [L][B·T][H·hd] Attn_full − Attn_local */
    TR *dy;                     /* [B·T][H·hd] scratch of the backward */
};

/* floats each buffer needs for batches up to B × T */
static inline void TN(mix_sizes)(const pd_tcfg *c, int B, int T, size_t *att, size_t *ydiff, size_t *dy) {
    size_t L = (size_t)c->n_layer, BT = (size_t)B * T, Hq = (size_t)c->n_head * c->head_dim;
    *att = L * (size_t)B * c->n_head * T * T;
    *ydiff = L * BT * Hq;
    *dy = BT * Hq;
}

static inline void TN(mix_forward)(const struct TN(mix) *mx, int l, TR *out, TR *att, const TR *q, const TR *k,
                                   const TR *v, const int32_t *seg, int B, int T, int H, int KV, int hd) {
    int64_t BT = (int64_t)B * T;
    int Hq = H * hd, grp = H / KV;
    TR *al = mx->att_local + (int64_t)l * B * H * T * T, *yd = mx->ydiff + (int64_t)l * BT * Hq;
    const TR *a = mx->alpha + (int64_t)l * KV;
    TN(attention_forward)(out, att, q, k, v, seg, B, T, H, KV, hd, 0, 0);
    TN(attention_forward)(yd, al, q, k, v, seg, B, T, H, KV, hd, mx->sink, mx->recent);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < BT; i++)
        for (int h = 0; h < H; h++) {
            TR g = a[h / grp], ng = 1 - g;
            TR *o = out + i * Hq + h * hd, *d = yd + i * Hq + h * hd;
            for (int j = 0; j < hd; j++) {
                TR full = o[j], loc = d[j];
                o[j] = g * full + ng * loc;
                d[j] = full - loc;
            }
        }
}

/* dq, dk, dv accumulated (+=) as attention_backward does; dalpha[l][·] += the gates' gradient */
static inline void TN(mix_backward)(const struct TN(mix) *mx, int l, TR *dq, TR *dk, TR *dv, TR *dscore, const TR *dout,
                                    const TR *att, const TR *q, const TR *k, const TR *v, const int32_t *seg, int B,
                                    int T, int H, int KV, int hd) {
    int64_t BT = (int64_t)B * T;
    int Hq = H * hd, grp = H / KV;
    const TR *al = mx->att_local + (int64_t)l * B * H * T * T, *yd = mx->ydiff + (int64_t)l * BT * Hq;
    const TR *a = mx->alpha + (int64_t)l * KV;
    /* the gates: one sum per KV group, in a fixed order (serial: O(B·T·H·hd), next to nothing) */
    for (int g = 0; g < KV; g++) {
        double s = 0;
        for (int64_t i = 0; i < BT; i++)
            for (int h = g * grp; h < (g + 1) * grp; h++) {
                const TR *go = dout + i * Hq + h * hd, *d = yd + i * Hq + h * hd;
                for (int j = 0; j < hd; j++) s += (double)go[j] * d[j];
            }
        mx->dalpha[(int64_t)l * KV + g] += (TR)s;
    }
    TR *dy = mx->dy;
    for (int branch = 0; branch < 2; branch++) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < BT; i++)
            for (int h = 0; h < H; h++) {
                TR w = branch == 0 ? a[h / grp] : 1 - a[h / grp];
                const TR *go = dout + i * Hq + h * hd;
                TR *o = dy + i * Hq + h * hd;
                for (int j = 0; j < hd; j++) o[j] = w * go[j];
            }
        if (branch == 0) TN(attention_backward)(dq, dk, dv, dscore, dy, att, q, k, v, seg, B, T, H, KV, hd, 0, 0);
        else TN(attention_backward)(dq, dk, dv, dscore, dy, al, q, k, v, seg, B, T, H, KV, hd, mx->sink, mx->recent);
    }
}
