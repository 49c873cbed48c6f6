/* ponder/trimr.h — TrimR thinking trimming (inference.md §2): the rules, and two policies.
 *
 * Thoughts: the thinking is split where a paragraph (after "\n\n") begins with a reflection marker
 * (default Wait, But, Alternatively, Hmm, However, Let me double-check, Let me verify); the thought
 * that just closed is judged.
 *   trimr        a verifier model (a second pd_model of the gen, may be the same file) answers
 *                p1 "does the excerpt state a final answer?" on the thought's last n_sent sentences
 *                and p2 "are A and B the same final answer?" for consecutive concluded thoughts,
 *                each read from logit(" Yes") - logit(" No") of one prefill (hub asks, batched with
 *                decoding, never waited for);
 *   trimr-probe  no verifier: the thought is probed (fork, close thinking, short greedy answer,
 *                the task's extractor); "exists" = an answer was extracted, "same" = equivalent.
 * Rules (pd_trimr_rules, pure, shared by both):
 *   overthinking: c = consecutive concluded answers equal to the previous concluded one; c >= M
 *                 (default 2: three equal answers; M = 0: the first concluded answer) → mild stop;
 *   underthinking: n_thoughts >= N_thres, or thinking tokens >= R_thres x budget, without a
 *                 convergence so far → forced stop;
 *   repetition:   the hash of the last rep_n tokens seen rep_count times within rep_window tokens
 *                 → forced stop.
 * Guides: mild = "\n\nI have checked this several times and the answer is consistent.\n\n**Final
 * Answer**\n" (inside thinking; the model closes it); forced = "\n\nI am running out of time, so I
 * will stop here and give my best answer based on the reasoning so far.\n</think>\n\n"; the
 * guide=close choice injects only "</think>\n\n" for either (better for small trained models).
 * A guide is injected at the first line end after the rule fired (judgements arrive a few tokens
 * late; cutting a line in the middle makes the answer continue it). */
#ifndef PONDER_TRIMR_H
#define PONDER_TRIMR_H
#include <stdbool.h>
#include <stdint.h>
#include "ponder/reason.h"

typedef enum { PD_TRIMR_NONE = 0, PD_TRIMR_OVER, PD_TRIMR_UNDER, PD_TRIMR_REPEAT } pd_trimr_event;
const char *pd_trimr_event_name(pd_trimr_event e);

typedef struct {
    int M;              /* consecutive equal concluded answers beyond the first (default 2) */
    int n_thres;        /* thoughts (default 40) */
    double r_thres;     /* share of the budget (default 0.5) */
    int budget;         /* thinking budget for r_thres (<= 0: that rule off) */
    int rep_n, rep_count, rep_window;   /* 64, 3, 4096 */
} pd_trimr_rules;
pd_trimr_rules pd_trimr_rules_defaults(void);

typedef struct {
    int c, n_thoughts, n_concluded;
    bool converged;
    /* repetition: ring of (hash, position) */
    uint64_t *hash; int *pos; int n_hash, cap_hash, head;
    uint64_t roll; int n_tok;
    int32_t *win;       /* last rep_n tokens */
} pd_trimr_state;
pd_status pd_trimr_state_init(pd_trimr_state *st, const pd_trimr_rules *r);
void pd_trimr_state_free(pd_trimr_state *st);
/* A thought closed. exists: it states an answer; same: that answer equals the previous concluded
 * one (ignored when there is none or !exists). tokens: thinking tokens so far. */
pd_trimr_event pd_trimr_thought(pd_trimr_state *st, const pd_trimr_rules *r, bool exists, bool same, int tokens);
/* Underthinking by tokens alone (checked every token). */
pd_trimr_event pd_trimr_tokens(const pd_trimr_state *st, const pd_trimr_rules *r, int tokens);
/* Feed one generated token to the repetition detector. */
pd_trimr_event pd_trimr_push(pd_trimr_state *st, const pd_trimr_rules *r, int32_t token);

/* Reflection markers: does `text` (the thinking so far) end a new paragraph's first words with a
 * marker of the '|'-separated list? Returns the byte offset where that paragraph starts, or -1. */
long pd_trimr_marker_at(const char *text, size_t len, const char *markers);
/* The last n sentences of text[0..len) (owned). */
char *pd_trimr_last_sentences(const char *text, size_t len, int n);

/* Constructors for the registry (parameters: `ponder policies`). */
pd_status pd_trimr_probe_make(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out);
pd_status pd_trimr_make(const pd_reason_spec *s, const pd_reason_env *env, pd_policy *out);

#endif
