/* tasks/syllogism.c — chains of categorical premises ("All daps are feps."), shuffled, with
 * distractor premises that lead into the chain. Question: "Are all X Y?". Difficulty = chain
 * length d (1-15): for "yes" items X reaches Y in exactly d premises; for "no" items Y is a
 * distractor term that leads into the chain but is never reached from X (X's chain has d
 * premises). Half of the items are "yes". Trace: the walk from X, one premise per line. */
#include "tasks_int.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const words[] = {
    "dap", "fep", "blicket", "gorp", "tove", "yimp", "quib", "snark", "vorp", "glim", "plonk", "trun",
    "mib", "kret", "floop", "grell", "jub", "prim", "skee", "vell", "yurn", "clop", "drib", "gronk",
    "hask", "jorp", "kiv", "lum", "nib", "wug", "zorp", "bram", "cheb", "dorn", "fim", "gub",
};
#define N_WORDS ((int)(sizeof words / sizeof words[0]))
#define SY_MAXD 15

static pd_status sy_gen(pd_rng *r, int d, pd_task_item *out, pd_buf *key) {
    int perm[N_WORDS];
    for (int i = 0; i < N_WORDS; i++) perm[i] = i;
    tk_shuffle(r, perm, N_WORDS);
    int n_chain = d + 1, n_dis = d / 2 + 1;
    /* premises: chain i -> i+1; distractor j: dis_j -> chain node (any but the first) */
    int from[2 * SY_MAXD + 2], to[2 * SY_MAXD + 2], np = 0;
    for (int i = 0; i < d; i++) { from[np] = perm[i]; to[np] = perm[i + 1]; np++; }
    for (int j = 0; j < n_dis; j++) {
        from[np] = perm[n_chain + j];
        to[np] = perm[1 + (int)pd_rng_below(r, (uint64_t)d)];
        np++;
    }
    int order[2 * SY_MAXD + 2];
    for (int i = 0; i < np; i++) order[i] = i;
    tk_shuffle(r, order, np);
    int yes = (int)pd_rng_below(r, 2);
    int subj = perm[0], obj = yes ? perm[d] : perm[n_chain + (int)pd_rng_below(r, (uint64_t)n_dis)];
    pd_buf pr = {0}, tr = {0};
    for (int i = 0; i < np; i++) pd_buf_printf(&pr, "All %ss are %ss. ", words[from[order[i]]], words[to[order[i]]]);
    pd_buf_printf(&pr, "Are all %ss %ss?", words[subj], words[obj]);
    /* key: premise set (sorted by word index pair) + query */
    int kp[2 * SY_MAXD + 2];
    for (int i = 0; i < np; i++) kp[i] = from[i] * 64 + to[i];
    for (int a = 1; a < np; a++)
        for (int b = a; b > 0 && kp[b - 1] > kp[b]; b--) { int t = kp[b]; kp[b] = kp[b - 1]; kp[b - 1] = t; }
    for (int i = 0; i < np; i++) pd_buf_printf(key, "%d,", kp[i]);
    pd_buf_printf(key, "?%d>%d", subj, obj);
    /* the walk from the subject */
    pd_buf_printf(&tr, "start from %ss\n", words[subj]);
    for (int i = 0; i < d; i++) {
        pd_buf_printf(&tr, "all %ss are %ss, so all %ss are %ss\n", words[perm[i]], words[perm[i + 1]], words[subj],
                      words[perm[i + 1]]);
        if (yes && i == d - 1) break;
    }
    if (yes) pd_buf_printf(&tr, "reached %ss, so yes", words[obj]);
    else pd_buf_printf(&tr, "no premise starts with %ss; %ss never reached, so no", words[perm[d]], words[obj]);
    pd_buf meta = {0};
    pd_buf_printf(&meta, "{\"chain\":%d}", d);
    out->prompt = tk_take(&pr);
    out->reasoning = tk_take(&tr);
    out->answer = pd_strdup(yes ? "yes" : "no");
    out->meta = tk_take(&meta);
    return PD_OK;
}


const pd_task pd_task_syllogism = {"syllogism", "does 'all X are Y' follow from a shuffled chain of premises?",
                                   "chain length (1-15)", 1, SY_MAXD, 3, sy_gen, tk_extract_yesno, tk_check_yesno};
