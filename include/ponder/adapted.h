/* ponder/adapted.h — a base model in the training engine with an adapter (LoRA / PiSSA / SoKA, see
 * ponder/adapter.h) on some of its block matrices: what `ponder finetune` (train/peft.c) and
 * `ponder rl --adapter` (train/rl*.c) share.
 *
 * The base is loaded frozen (pd_tmodel_load_frozen: quantised / half matrices stay in their stored
 * type); each adapted matrix is thawed into the engine's f32 params, which hold W_eff = W0 + Δ_eff(A, B)
 * (pd_adapted_apply), so the engine's forward — and any inference view of its params — is the
 * adapted model. The engine's gradient of W_eff is pulled back onto the factors and only the factors
 * get AdamW updates (pd_adapted_step). W0, the base's own values of the adapted matrices, is kept
 * (pd_adapted_base): the base with the adapter off, e.g. an RL reference model with no second copy.
 *
 * Order of use: pd_adapted_load → pd_adapted_prepare (a fresh adapter, or check a resumed one; thaw
 * its matrices) → [SoKA update init: accumulate gradients in the engine] → pd_adapted_bind →
 * [pd_adapted_restore_moments on resume] → per step: pd_adapted_apply, forward/backward,
 * pd_adapted_step. */
#ifndef PONDER_ADAPTED_H
#define PONDER_ADAPTED_H
#include "ponder/adapter.h"
#include "ponder/error.h"
#include "ponder/train.h"
#include <stdbool.h>
#include <stdint.h>

/* How a fresh adapter is made. */
typedef struct {
    pd_adapter_method method;
    unsigned targets;           /* mask of PD_AT_* */
    int rank;                   /* LoRA/PiSSA r */
    float alpha;                /* LoRA α (<= 0: 2·rank) */
    pd_soka_opts soka;
    pd_svd_method svd;
    uint64_t seed;              /* LoRA's A init: stream PD_STREAM_LORA_INIT + layer·PD_AT_COUNT + target */
} pd_adapted_spec;
/* LoRA, q and v, r 8, α 16, SoKA defaults, SVD auto, seed 1 (finetune's defaults). */
void pd_adapted_spec_default(pd_adapted_spec *s);

typedef struct {
    pd_adapter_layer *L;        /* the adapter's slot */
    size_t off;                 /* of W_eff in the engine's params */
    float *W0;                  /* the base's values of this matrix (f32) */
    float *mA, *vA, *mB, *vB;   /* AdamW moments of the factors */
    int layer, target;
} pd_adapted_slot;

typedef struct pd_adapted {
    pd_tmodel *m;               /* the frozen base; adapted matrices thawed (W_eff) */
    pd_adapter *a;              /* owned */
    pd_adapted_slot *s;
    int n;
} pd_adapted;

/* The base, frozen, with B×T rows of capacity. p must be zeroed; free with pd_adapted_free. */
pd_status pd_adapted_load(pd_adapted *p, const char *base, int B, int T);
/* A fresh adapter (fresh) from spec, or the check that p->a (set by the caller from a file) fits the
 * base; then the adapted matrices get their f32 copies in the engine. */
pd_status pd_adapted_prepare(pd_adapted *p, const pd_adapted_spec *spec, bool fresh);
/* Find the adapted matrices, keep W0, allocate the moments; fresh: initialise the factors from W0
 * (LoRA: random A, zero B; PiSSA: SVD of W0; SoKA: KPSVD of W0, or of −upd when upd is given: the
 * engine's accumulated gradients, SoKA's update initialisation). */
pd_status pd_adapted_bind(pd_adapted *p, const pd_adapted_spec *spec, bool fresh, const float *upd);
/* W_eff = W0 + Δ_eff for every adapted matrix (after each factor update). */
void pd_adapted_apply(pd_adapted *p);
/* The engine's W_eff gradients pulled back onto the factors, clipped to o->clip (global norm), one
 * AdamW step at lr (step: 0-based count for the bias correction). Returns the norm before clipping. */
double pd_adapted_step(pd_adapted *p, const pd_optcfg *o, int64_t step, float lr);
/* The base's f32 values of engine tensor `name` if it is adapted, else NULL. */
const float *pd_adapted_base(const pd_adapted *p, const char *name);
/* Checkpoints: the moments as opt.{m,v}.blk.N.<t>.{A,B} (F32), added to / read from a GGUF file. */
struct pd_gguf_writer;
struct pd_gguf;
pd_status pd_adapted_save_moments(const pd_adapted *p, struct pd_gguf_writer *w);
pd_status pd_adapted_restore_moments(pd_adapted *p, const struct pd_gguf *g, const char *path);
void pd_adapted_free(pd_adapted *p);   /* the engine model, the adapter, the copies; zeroes *p */

#endif
