/* ponder/steer.h — activation steering (spec §8): steering vectors by difference of means of the
 * residual stream between two text sets, stored in llama.cpp's control-vector GGUF layout, and
 * applied to chosen sequences of a batch through the model's residual hook.
 *
 * File layout (what llama.cpp's --control-vector loader reads): general.architecture =
 * "controlvector", controlvector.model_hint = the model's architecture name (text),
 * controlvector.layer_count = number of directions (int32); tensors "direction.<l>", F32, 1-D of
 * n_embd, for l = 1 … n_layer-1. direction.l is added to the output of block l (0-based, after its
 * FFN residual add); block 0 cannot be addressed (llama.cpp's loader rejects direction.0). Loading
 * follows llama.cpp: only the tensors matter (metadata is optional, but a file whose
 * general.architecture names something else is refused).
 *
 * Runtime: pd_steer_attach makes a pd_steer the model's residual hook. Each sequence id has an entry
 * (off by default): a vector, a scale, a layer mask and a first position. While an entry is on, the
 * rows of that sequence at positions >= from get scale·direction[l] added after block l; positions
 * already in the KV cache are never recomputed ("current-position steering": the KV stays valid). */
#ifndef PONDER_STEER_H
#define PONDER_STEER_H
#include <stdbool.h>
#include <stdint.h>
#include "ponder/error.h"
#include "ponder/model.h"
#include "ponder/reason.h"

typedef struct {
    int n_embd;
    int n_layer;        /* rows of dir: layers 0 … n_layer-1 (row 0 is never used) */
    float *dir;         /* [n_layer][n_embd]; a layer without a direction holds zeros */
    uint8_t *has;       /* [n_layer]: 1 where direction.l exists */
    char hint[64];      /* controlvector.model_hint ("" if absent) */
} pd_cvec;

/* A zero vector with directions for layers 1 … n_layer-1 (n_layer >= 2). */
pd_cvec *pd_cvec_new(int n_embd, int n_layer, const char *hint);
void pd_cvec_free(pd_cvec *c);
/* Write the file (atomically: tmp, fsync, rename). Only layers with has[l] are written. */
pd_status pd_cvec_save(const pd_cvec *c, const char *path);
/* Read a control-vector file; errors name the file and the tensor (not a GGUF, another kind of
 * GGUF, direction.0 or an unparsable index, a non-F32 or non-1-D tensor, sizes that differ, no
 * directions). n_layer = the highest index + 1. */
pd_cvec *pd_cvec_load(const char *path);
/* Can c steer m? (same n_embd, no direction at or beyond m's layer count) */
pd_status pd_cvec_check(const pd_cvec *c, const pd_model *m, const char *label);

/* Difference of means at every layer 1 … n_layer-1: for each text, the mean of the residual rows
 * after block l over its tokens (tokenised without BOS, special tokens as text); each set's mean is
 * the mean over its texts; direction.l = mean(pos) − mean(neg). Uses m's residual_rows_hook for the time
 * of the call (refused if one is set). */
pd_status pd_cvec_mean_diff(pd_model *m, const char *const *pos, int n_pos, const char *const *neg, int n_neg,
                            pd_cvec **out);

/* ---- the runtime ---- */
typedef struct pd_steer pd_steer;
/* Become m's residual_rows_hook (refused if m already has one). */
pd_steer *pd_steer_attach(pd_model *m);
/* Unhook and free (also the vectors it loaded). */
void pd_steer_detach(pd_steer *s);
/* Free without touching the model (when the model was freed first). */
void pd_steer_free(pd_steer *s);
const pd_model *pd_steer_model(const pd_steer *s);
/* A file through the steer's cache (loaded and checked against the model once). */
pd_status pd_steer_file(pd_steer *s, const char *path, const pd_cvec **out);
/* Sequence seq's entry: cv (not owned; NULL turns the entry off), scale, layer mask (cv->n_layer
 * bytes, not owned; NULL = every layer with a direction). The entry starts off. */
pd_status pd_steer_set(pd_steer *s, int seq, const pd_cvec *cv, float scale, const uint8_t *layers);
/* Steer seq's rows at positions >= from (on), or stop (off). */
void pd_steer_fire(pd_steer *s, int seq, bool on, int from);
void pd_steer_clear(pd_steer *s, int seq);
/* Rows steered so far: by sequence entry (since its last pd_steer_set), and in all. */
long pd_steer_rows(const pd_steer *s, int seq);
long pd_steer_total_rows(const pd_steer *s);

/* "all", "L", "A-B", or such items joined by '|': mask[l] = 1 for the layers named (0 < l < n_layer).
 * Errors name the text. */
pd_status pd_steer_parse_layers(const char *text, int n_layer, uint8_t *mask);

/* The `steer` policy (registry): env->steer must be set (the CLI attaches one to the main model). */
pd_status pd_steer_make(const pd_reason_spec *spec, const pd_reason_env *env, pd_policy *out);

#endif
