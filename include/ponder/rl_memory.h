/* ponder/rl_memory.h — Memory-R / Memory-R+ (training.md §8): two episodic kNN memories of reasoning
 * embeddings, one of rollouts that were right and one of rollouts that were wrong, and the intrinsic
 * rewards they pay on top of the verifier in `ponder rl --memory-reward r|rplus`.
 *
 * A memory maps a key (the embedding of the question) to up to cap_values values (embeddings of the
 * reasoning of rollouts on that question), FIFO; at most cap_keys keys, FIFO. A key equal to an
 * existing key (L2 distance exactly 0: the same question) adds its value to that key instead of a new
 * key. Per batch (pd_rl_mem_batch): every rollout goes into the success or the failure memory first,
 * then each rollout, in order, gets
 *   exploit = 1 − norm(‖e − centroid‖₂), the centroid of every value stored under the k nearest keys
 *             (L2) of the SUCCESS memory; 0 when that memory is empty;
 *   explore = a_t · norm(1 − max cos(e, v)) over the values v under the k nearest keys of the FAILURE
 *             memory; 0 until the failure memory holds explore_after keys; a_t starts at 1 and is
 *             multiplied by `anneal` after every rollout that got a normalised exploration value.
 * norm() is a min-max normaliser over the last `window` raw values of that reward (the new value
 * included): (x − min)/(max − min). When max = min (a window of one value, or all equal) the
 * reference code's fallbacks: exploit gets 1 − the raw distance, explore gets 0 (and a_t stays).
 * (Memory-R's repo, rewards/ir_knn_st.py and run_countdown.py, read for these facts.) A consequence
 * worth knowing: every rollout is in its memory when scored, so a wrong rollout's own value gives
 * it max cos 1 — exploration pays only rollouts that are not in the failure memory (the right ones)
 * for being unlike past failures; with no right rollout at all, every intrinsic reward is 0.
 * Memory-R uses exploit only; Memory-R+ both. The reward is w_exploit·exploit + w_explore·explore.
 *
 * Embedding (pd_rl_mem_embed): the paper uses a frozen sentence encoder (all-MiniLM-L6-v2, 384-d,
 * unit vectors). Ponder has none; it uses a frozen copy of the starting policy instead: the mean of
 * its last layer's hidden states (the residual stream before the final norm) over the text's tokens,
 * scaled to unit length — also a frozen model's score, and the same geometry (unit vectors, so L2 and
 * cosine agree in order). The value embedded is the whole response (an end token dropped), as
 * Memory-R's countdown code stores the completion (the §8 text says "the reasoning inside the tags";
 * for a model that answers at once the thinking is empty and every value would be the same); the
 * question is the prompt's tokens. */
#ifndef PONDER_RL_MEMORY_H
#define PONDER_RL_MEMORY_H
#include "ponder/error.h"
#include <stdbool.h>
#include <stdint.h>

typedef enum { PD_RL_MEM_OFF = 0, PD_RL_MEM_R, PD_RL_MEM_RPLUS } pd_rl_mem_mode;
typedef struct {
    int mode;                     /* pd_rl_mem_mode */
    int k;                        /* nearest question keys retrieved (1, the published commands) */
    int window;                   /* min-max normaliser window (100) */
    int explore_after;            /* failure-memory keys before explore pays anything (500) */
    double anneal;                /* a_t multiplier per batch (1.0: none) */
    double w_exploit, w_explore;  /* weights in the total reward (1, 1) */
    int cap_keys, cap_values;     /* 10000 keys, 100 values per key, both FIFO */
} pd_rl_mem_cfg;
void pd_rl_mem_cfg_default(pd_rl_mem_cfg *c);   /* mode OFF, the published values above */
const char *pd_rl_mem_mode_name(int mode);      /* "off", "r", "rplus" */
int pd_rl_mem_mode_from_name(const char *s);    /* -1 if unknown */

/* ---- one episodic memory ---- */
typedef struct pd_kmem pd_kmem;
pd_kmem *pd_kmem_new(int dim, int cap_keys, int cap_values);
void pd_kmem_free(pd_kmem *m);
pd_status pd_kmem_add(pd_kmem *m, const float *key, const float *value);
int pd_kmem_n_keys(const pd_kmem *m);
/* The k nearest live keys to q (L2, ties: the older key first) as slot ids into idx (nearest first);
 * returns how many (≤ k). */
int pd_kmem_nearest(const pd_kmem *m, const float *q, int k, int *idx);
int pd_kmem_n_values(const pd_kmem *m, int slot);
const float *pd_kmem_value(const pd_kmem *m, int slot, int i);   /* i-th oldest live value */
const float *pd_kmem_key(const pd_kmem *m, int slot);

/* ---- the sliding-window min-max normaliser ---- */
typedef struct {
    double *v;
    int cap, n, head;
} pd_minmax;
pd_status pd_minmax_init(pd_minmax *w, int cap);
void pd_minmax_free(pd_minmax *w);
/* push x (the oldest value leaves a full window) and return x normalised over the window; when the
 * window is flat (max = min) *flat is set and x itself is returned */
double pd_minmax_push(pd_minmax *w, double x, bool *flat);

/* ---- the two memories and the rewards ---- */
typedef struct pd_rl_mem pd_rl_mem;
pd_rl_mem *pd_rl_mem_new(const pd_rl_mem_cfg *c, int dim);
void pd_rl_mem_free(pd_rl_mem *m);
/* n rollouts: q[i·dim], e[i·dim] question and reasoning embeddings, correct[i]. Inserts all of them,
 * then fills exploit[i] and explore[i] (unweighted; explore includes a_t) as described above. */
pd_status pd_rl_mem_batch(pd_rl_mem *m, int n, const float *q, const float *e, const uint8_t *correct, double *exploit,
                          double *explore);
int pd_rl_mem_keys(const pd_rl_mem *m, bool success);   /* keys held by the success / failure memory */
double pd_rl_mem_anneal_now(const pd_rl_mem *m);        /* a_t for the next batch */

/* The embedding described above: mean last-layer hidden state of tok[0..n) under pm (a frozen model;
 * kv: a cache for one sequence of at least n positions, cleared here), L2-normalised into out
 * (pm->cfg.n_embd floats); all zeros for n = 0. */
struct pd_model;
struct pd_kv;
pd_status pd_rl_mem_embed(struct pd_model *pm, struct pd_kv *kv, const int32_t *tok, int n, float *out);

#endif
