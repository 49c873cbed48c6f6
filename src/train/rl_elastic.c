/* train/rl_elastic.c — Elastic Reasoning's budget-constrained rollouts (ponder/rl_elastic.h,
 * training.md §5): the check of the thinking / solution budget pair, the rollout's policy (the
 * budget policy with both budgets, so a cut is closed exactly as `ponder run --think-budget t
 * --answer-budget s` closes it) and the per-step statistics of cut rollouts. rl.c calls these from
 * its rollout; the masking of the injected closer is rl.c's (every injected token has a NaN
 * sampler log-prob and no loss). */
#include "ponder/rl_elastic.h"
#include "ponder/budget.h"
#include <math.h>

pd_status pd_rl_elastic_check(int think_budget, int answer_budget, int max_tokens) {
    if (answer_budget < 0) return PD_OK;
    if (think_budget < 1)
        return pd_fail(PD_ERR_ARG, "rl: --answer-budget %d needs a thinking budget (--think-budget t >= 1)", answer_budget);
    if ((int64_t)think_budget + answer_budget > max_tokens)
        return pd_fail(PD_ERR_ARG, "rl: --think-budget %d + --answer-budget %d exceed --max-tokens %d (the rollout "
                                   "limit must hold both)", think_budget, answer_budget, max_tokens);
    return PD_OK;
}

int pd_rl_elastic_max_tokens(int think_budget, int answer_budget, int max_tokens) {
    return answer_budget >= 0 && think_budget >= 1 ? think_budget + answer_budget : max_tokens;
}

pd_status pd_rl_elastic_policy(const pd_tokenizer *tok, int think_budget, int answer_budget, pd_policy *out) {
    pd_budget_params bp = pd_budget_defaults();
    bp.think_budget = think_budget;
    bp.answer_budget = answer_budget;
    return pd_budget_policy(tok, &bp, out);
}

void pd_rl_elastic_add(pd_rl_elastic_acc *a, const float *lp, int n_resp, int n_answer, bool correct) {
    int forced = 0;
    for (int k = 0; k < n_resp; k++) forced += !isfinite(lp[k]);
    a->n += 1;
    a->forced += forced;
    if (forced) {
        a->cut += 1;
        a->cut_ok += correct;
        a->ans_cut += n_answer;
    } else {
        a->uncut_ok += correct;
    }
}

void pd_rl_elastic_stats_end(const pd_rl_elastic_acc *a, pd_rl_elastic_stats *s) {
    double un = a->n - a->cut;
    s->on = true;
    s->cut_frac = a->n ? a->cut / a->n : 0;
    s->forced_tokens = a->n ? a->forced / a->n : 0;
    s->acc_cut = a->cut ? a->cut_ok / a->cut : NAN;
    s->acc_uncut = un > 0 ? a->uncut_ok / un : NAN;
    s->answer_len_cut = a->cut ? a->ans_cut / a->cut : NAN;
}

static void num(FILE *f, const char *k, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.6g", k, v);
    else fprintf(f, ",\"%s\":null", k);
}

void pd_rl_elastic_log(FILE *f, const pd_rl_elastic_stats *s) {
    if (!s->on) return;
    num(f, "elastic_cut_frac", s->cut_frac); num(f, "elastic_forced_tokens", s->forced_tokens);
    num(f, "elastic_acc_cut", s->acc_cut); num(f, "elastic_acc_uncut", s->acc_uncut);
    num(f, "elastic_answer_len_cut", s->answer_len_cut);
}
