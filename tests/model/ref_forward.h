/* tests/model/ref_forward.h — a straightforward double-precision forward pass, independent of
 * src/model: it gets its hyper-parameters from the test (not from GGUF metadata parsing) and reads
 * weights by tensor name through pd_dequantize_row. Whole sequence at once, causal attention,
 * no KV cache. Used as the truth for models of shapes the fixtures do not cover. */
#ifndef PONDER_TEST_REF_FORWARD_H
#define PONDER_TEST_REF_FORWARD_H
#include "ponder/gguf.h"
#include <stdbool.h>

typedef struct {
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    double eps;
    bool neox;              /* rope pairs (i, i + n_rot/2); else (2i, 2i+1) */
    int n_rot;
    double base, freq_scale, attn_factor;
    const float *factors;   /* n_rot/2 divisors or NULL */
    bool fused_qkv, fused_gate_up, bias, qk_norm, tied;
    int steer_layer;        /* add `steer` (n_embd) to every position's hidden state after this layer; */
    const double *steer;    /* NULL = none (tests of the residual hook) */
} ref_config;

/* logits[n][n_vocab] for every position. 0 on success, -1 (message on stderr) on a missing tensor. */
int ref_forward(const pd_gguf *g, const ref_config *c, const int32_t *tokens, int n, double *logits);
#endif
