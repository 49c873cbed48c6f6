/* train/train_int.h — internals shared by the train/ files: the f32 instantiation of the model
 * template (tmodel_tmpl.h) and the pd_tmodel struct. Not a public header. */
#ifndef PONDER_TRAIN_INT_H
#define PONDER_TRAIN_INT_H
#include "ponder/kern.h"
#include "ponder/train.h"
#include <math.h>

#define TR float
#define TN(x) pd_tr_##x
#define TR_EXP(x) expf(x)
#define TR_GEMM(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc) \
    pd_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc)
#include "tmodel_tmpl.h"

struct pd_tmodel {
    pd_tcfg cfg;
    int B, T;                   /* batch capacity */
    size_t n_params;
    float *params, *grads, *m, *v;  /* same layout; m, v: AdamW moments */
    pd_tr_params p, g;
    float *act_mem;
    size_t act_floats;
    pd_tr_acts a;
    pd_tr_grads_act ga;
    int curB, curT;             /* shape the activations are laid out for */
    float *cs;                  /* RoPE table [n_ctx][head_dim/2][2] */
    pd_ttensor *tensors;
    int n_tensors;
};

#endif
