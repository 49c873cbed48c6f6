/* ponder/llama2c.h — import of llama2.c's legacy ("version 0") .bin checkpoints
 * (karpathy/llama2.c run.c format: 7 int32 header, then float32 weights, no padding). */
#ifndef PONDER_LLAMA2C_H
#define PONDER_LLAMA2C_H
#include "ponder/gguf.h"

/* The header of a legacy .bin checkpoint. */
typedef struct {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared_classifier; /* vocab_size was positive in the file: the output matrix is the embedding */
} pd_llama2c_config;

/* Read and validate the header of `path` (values, and the exact file size they imply). */
pd_status pd_llama2c_read_config(const char *path, pd_llama2c_config *cfg);

/* Read `path` and fill `w` with a complete llama-architecture GGUF: general.* and llama.* keys
 * (context_length, embedding_length, block_count, feed_forward_length, attention.head_count(_kv),
 * rope.dimension_count, attention.layer_norm_rms_epsilon = 1e-5, rope.freq_base = 10000, vocab_size)
 * and F32 tensors under llama.cpp's names (token_embd, blk.N.attn_norm/attn_q/attn_k/attn_v/attn_output/
 * ffn_norm/ffn_gate (w1)/ffn_down (w2)/ffn_up (w3), output_norm, and output only when untied).
 * llama2.c's RoPE rotates adjacent pairs like GGUF llama, so weights are copied unpermuted.
 * The checkpoint carries no tokenizer: no tokenizer.* keys are written. */
pd_status pd_llama2c_to_gguf(const char *path, pd_gguf_writer *w);

/* Convert `path` in memory and open the result as a GGUF reader (label: the .bin path). */
pd_gguf *pd_llama2c_open(const char *path);

#endif
