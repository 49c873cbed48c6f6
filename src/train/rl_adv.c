/* train/rl_adv.c — the arithmetic of RL with verifiable rewards, with no model in sight: group
 * advantages for GRPO / Dr. GRPO / DAPO / RLOO, the clipped PPO surrogate with the k3 KL penalty in
 * the three aggregation modes of training.md §0 and its gradient with respect to each token's
 * log-prob, and DAPO's overlong soft punishment. Everything in double: the learner turns dL/dlogp
 * into dL/dlogits (rl.c). Tested against hand-computed groups and f64 finite differences. */
#include "ponder/rl.h"
#include <math.h>
#include <string.h>

static const char *const algo_names[] = {"grpo", "drgrpo", "dapo", "rloo"};
static const char *const agg_names[] = {"seq-mean-token-mean", "token-mean", "seq-sum-const"};

const char *pd_rl_algo_name(pd_rl_algo a) {
    if (pd_rl_shape_algo_name(a)) return pd_rl_shape_algo_name(a);   /* nsr, psr, …, dsrl (rl_shape.c) */
    if (a == PD_RL_RLP) return "rlp";   /* rlp.c */
    if (a == PD_RL_BRPO) return "brpo";   /* rl_brpo.c */
    return (unsigned)a < 4 ? algo_names[a] : "?";
}
const char *pd_rl_agg_name(pd_rl_agg a) { return (unsigned)a < 3 ? agg_names[a] : "?"; }
int pd_rl_algo_from_name(const char *s) {
    for (int i = 0; i < 4; i++) if (!strcmp(s, algo_names[i])) return i;
    if (!strcmp(s, "dr-grpo") || !strcmp(s, "dr_grpo")) return PD_RL_DRGRPO;
    if (!strcmp(s, "rlp")) return PD_RL_RLP;
    if (!strcmp(s, "brpo")) return PD_RL_BRPO;
    if (pd_rl_shape_algo_from_name(s) >= 0) return pd_rl_shape_algo_from_name(s);
    return -1;
}
int pd_rl_agg_from_name(const char *s) {
    for (int i = 0; i < 3; i++) if (!strcmp(s, agg_names[i])) return i;
    return -1;
}

int pd_rl_advantages(pd_rl_algo algo, const double *r, int n_groups, int G, double eps, double *adv,
                     uint8_t *zero_var) {
    int nz = 0;
    for (int g = 0; g < n_groups; g++) {
        const double *x = r + (size_t)g * G;
        double *a = adv + (size_t)g * G;
        bool equal = true;
        for (int i = 1; i < G; i++) equal = equal && x[i] == x[0];
        if (zero_var) zero_var[g] = equal;
        if (equal) {
            /* exactly zero: a computed mean of equal values need not equal them bit for bit */
            for (int i = 0; i < G; i++) a[i] = 0;
            nz++;
            continue;
        }
        double mean = 0;
        for (int i = 0; i < G; i++) mean += x[i];
        mean /= G;
        if (algo == PD_RL_DRGRPO) {
            for (int i = 0; i < G; i++) a[i] = x[i] - mean;
        } else if (algo == PD_RL_RLOO || algo == PD_RL_RLP) {   /* RLP: the same G/(G−1)·(r − mean) */
            /* r_i − (Σ_j r_j − r_i)/(G−1) = G/(G−1)·(r_i − mean) */
            for (int i = 0; i < G; i++) a[i] = (x[i] - (mean * G - x[i]) / (G - 1));
        } else {
            double var = 0;
            for (int i = 0; i < G; i++) var += (x[i] - mean) * (x[i] - mean);
            double sd = sqrt(var / (G - 1));
            for (int i = 0; i < G; i++) a[i] = (x[i] - mean) / (sd + eps);
        }
    }
    return nz;
}

double pd_rl_overlong_penalty(int L, int l_max, int l_cache) {
    if (l_cache <= 0 || L <= l_max - l_cache) return 0;
    if (L > l_max) return -1;
    return ((double)(l_max - l_cache) - L) / l_cache;
}

double pd_rl_surrogate(const pd_rl_loss_cfg *c, const pd_rl_tokens *t, double *dlogp, pd_rl_lstats *st) {
    double loss = 0;
    double lo = 1 - c->eps_low, hi = 1 + c->eps_high;
    for (int i = 0; i < t->n_seq; i++) {
        int s0 = t->start[i], n = t->len[i];
        int cnt = 0;
        for (int k = s0; k < s0 + n; k++) cnt += !t->mask || t->mask[k];
        /* the weight of one token's term in the aggregate */
        double w;
        if (c->agg == PD_RL_TOKEN_MEAN) w = t->norm_tokens > 0 ? 1.0 / t->norm_tokens : 0;
        else if (c->agg == PD_RL_SEQ_SUM_CONST) w = 1.0 / (c->l_norm * t->norm_seqs);
        else w = cnt > 0 ? 1.0 / ((double)cnt * t->norm_seqs) : 0;
        for (int k = s0; k < s0 + n; k++) {
            if (t->mask && !t->mask[k]) { if (dlogp) dlogp[k] = 0; continue; }
            double A = t->adv_tok ? t->adv_tok[k] : t->adv[i];
            double l = t->logp[k] - t->logp_old[k], rho = exp(l);
            double unc = rho * A, rc = rho < lo ? lo : rho > hi ? hi : rho, cl = rc * A;
            double s, ds;   /* surrogate and its derivative in logp */
            if (unc <= cl) { s = unc; ds = rho * A; }
            else { s = cl; ds = (rho < lo || rho > hi) ? 0 : rho * A; }
            double kl = 0, dkl = 0;
            if (c->beta > 0 && t->logp_ref) {
                double lr = t->logp_ref[k] - t->logp[k], q = exp(lr);
                kl = q - lr - 1;                    /* k3 */
                dkl = -q + 1;                       /* d/dlogp of q − (logp_ref − logp) − 1 */
                if (kl > 10) { kl = 10; dkl = 0; }  /* verl's low_var_kl clamp */
            }
            loss -= w * (s - c->beta * kl);
            if (dlogp) dlogp[k] = -w * (ds - c->beta * dkl);
            if (st) {
                st->tokens += 1;
                st->clipped += (unc > cl && (rho < lo || rho > hi));
                st->kl_sum += kl;
                double dv = fabs(rho - 1);
                if (dv > st->ratio_dev_max) st->ratio_dev_max = dv;
            }
        }
    }
    return loss;
}

double pd_rl_partial_credit(const char *got, const char *want) {
    if (!got || !want) return 0;
    while (*got == ' ' || *got == '\t' || *got == '\n') got++;
    while (*want == ' ' || *want == '\t' || *want == '\n') want++;
    size_t lg = strlen(got), lw = strlen(want);
    while (lg && (got[lg - 1] == ' ' || got[lg - 1] == '\t' || got[lg - 1] == '\n')) lg--;
    while (lw && (want[lw - 1] == ' ' || want[lw - 1] == '\t' || want[lw - 1] == '\n')) lw--;
    size_t n = lg > lw ? lg : lw, same = 0;
    if (!n) return 0;
    for (size_t i = 0; i < lg && i < lw; i++) same += got[lg - 1 - i] == want[lw - 1 - i];
    return (double)same / (double)n;
}
