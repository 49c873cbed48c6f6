/* tasks/overthink.c — the overthinking trace style (ponder/overthink.h). Task-agnostic: it only
 * rewrites the reference reasoning text, so every task gets it; a re-check repeats the reference
 * derivation (what small reasoning models do when they "verify" — recompute the same way). */
#include "ponder/overthink.h"
#include "ponder/alloc.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pd_overthink_params pd_overthink_defaults(void) { return (pd_overthink_params){.k_min = 1, .k_max = 4, .detour_pct = 20}; }

int pd_overthink_counted_k(const char *prompt, int k_min, int k_max) {
    size_t n = prompt ? strlen(prompt) : 0;
    if (n == 0 || k_max <= k_min) return k_min;
    unsigned char c = (unsigned char)prompt[n - 1];
    for (size_t i = n; i > 0; i--)
        if (isdigit((unsigned char)prompt[i - 1])) { c = (unsigned char)prompt[i - 1]; break; }
    return k_min + (int)(c % (unsigned)(k_max - k_min + 1));
}

static const char *OPENERS[] = {
    "Wait, let me verify by doing it again.",
    "Wait, let me double-check.",
    "But let me check that once more.",
    "Hmm, let me recompute to be sure.",
    "Let me verify the result again.",
};
static const char *CONFIRM[] = {
    "Same result, so the answer is %s.",
    "That matches: %s.",
    "Yes, it is %s again.",
};

/* A wrong answer near the right one: the last digit moved by one; else "not X". Owned. */
static char *wrong_of(const char *ans) {
    size_t n = strlen(ans);
    char *w = pd_malloc(n + 8);
    if (!w) return NULL;
    memcpy(w, ans, n + 1);
    for (size_t i = n; i > 0; i--) {
        if (isdigit((unsigned char)w[i - 1])) {
            w[i - 1] = w[i - 1] == '9' ? '8' : (char)(w[i - 1] + 1);
            return w;
        }
    }
    snprintf(w, n + 8, "not %s", ans);
    return w;
}

/* reasoning with the last occurrence of ans replaced by wrong (or wrong appended). Owned. */
static char *with_wrong(const char *reasoning, const char *ans, const char *wrong) {
    pd_buf b = {0};
    const char *hit = NULL;
    size_t al = strlen(ans);
    for (const char *p = reasoning; al && (p = strstr(p, ans)); p++) hit = p;
    if (hit) {
        if (pd_buf_append(&b, reasoning, (size_t)(hit - reasoning)) || pd_buf_printf(&b, "%s%s", wrong, hit + al)) goto fail;
    } else if (pd_buf_printf(&b, "%s\nso it is %s", reasoning, wrong)) {
        goto fail;
    }
    return b.data;
fail:
    pd_buf_free(&b);
    return NULL;
}

pd_status pd_overthink(pd_task_item *it, pd_rng *r, const pd_overthink_params *p, int *k_out) {
    if (!it || !r || !p || p->k_min < 0 || p->k_max < p->k_min || p->k_max > PD_OVERTHINK_MAX_K || p->detour_pct < 0 ||
        p->detour_pct > 100)
        return pd_fail(PD_ERR_ARG, "overthink: re-checks %d..%d (at most %d), detour %d%%", p ? p->k_min : 0, p ? p->k_max : 0,
                       PD_OVERTHINK_MAX_K, p ? p->detour_pct : 0);
    const char *base = it->reasoning ? it->reasoning : "";
    const char *ans = it->answer ? it->answer : "";
    int k = p->counted ? pd_overthink_counted_k(it->prompt, p->k_min, p->k_max) : (int)pd_rng_range(r, p->k_min, p->k_max);
    pd_buf b = {0};
    int bad = 0;
    if (p->counted) {   /* the plan comes first */
        if (k == 0) bad |= pd_buf_printf(&b, "I will solve it without double-checking.\n");
        else bad |= pd_buf_printf(&b, "I will solve it, then double-check it %d time%s.\n", k, k == 1 ? "" : "s");
    }
    bad |= pd_buf_printf(&b, "%s", base);
    for (int i = 0; i < k && !bad; i++) {
        const char *open = OPENERS[pd_rng_below(r, sizeof OPENERS / sizeof OPENERS[0])];
        bool detour = (int)pd_rng_below(r, 100) < p->detour_pct;
        if (p->counted)   /* the opener without its full stop, then the count */
            bad |= pd_buf_printf(&b, "\n\n%.*s (check %d of %d).\n", (int)strlen(open) - 1, open, i + 1, k);
        else
            bad |= pd_buf_printf(&b, "\n\n%s\n", open);
        if (detour) {
            char *w = wrong_of(ans);
            char *wr = w ? with_wrong(base, ans, w) : NULL;
            if (!wr) { free(w); bad = 1; break; }
            bad |= pd_buf_printf(&b, "%s\n\nHmm, that gives %s, which does not match %s. I must have slipped; redoing it "
                                     "carefully.\n%s", wr, w, ans, base);
            free(w);
            free(wr);
        } else {
            bad |= pd_buf_printf(&b, "%s", base);
        }
        bad |= pd_buf_printf(&b, "\n");
        bad |= pd_buf_printf(&b, CONFIRM[pd_rng_below(r, sizeof CONFIRM / sizeof CONFIRM[0])], ans);
    }
    if (bad) { pd_buf_free(&b); return pd_fail(PD_ERR_NOMEM, "overthink: out of memory"); }
    free(it->reasoning);
    it->reasoning = b.data ? b.data : pd_strdup("");
    if (k_out) *k_out = k;
    return PD_OK;
}
