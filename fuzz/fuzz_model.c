/* fuzz/fuzz_model.c — model loading from arbitrary GGUF bytes: the architecture config from metadata,
 * tensor binding and shape checks, the vocabulary and chat-template family from the file, then a
 * short forward pass (KV cache of 4 positions, 3 tokens) over whatever a file the loader accepted
 * says. Properties: a rejected file leaves an error message; an accepted one has a config its own
 * tensors agree with (embedding [n_embd, n_vocab]), a tokenizer whose ids fit the vocabulary it
 * declares, and runs a forward pass without a memory error or UB (the values may be anything).
 * Seeds: tiny models written by `ponder train` (llama, qwen2 with biases, qwen3 with qk-norm, untied), and
 * those ponder cannot train, written by fuzz/tools/model_seeds.py: phi3 (fused qkv and gate|up, rope
 * factors), Q8_0 matrices with GQA, linear rope scaling, Llama-3.1 rope_freqs.
 * fuzz-links: pd_gen */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/chat.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/log.h"
#include "ponder/model.h"
#include "ponder/threads.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pd_log_set_level(PD_LOG_QUIET);
    pd_threads_set(1);
    pd_clear_error();
    pd_gguf *g = pd_gguf_open_memory(data, size, "fuzz-model.gguf");
    if (!g) return 0;
    pd_model *m = pd_model_from_gguf(g); /* owns g from here on */
    if (!m) {
        MUST(strcmp(pd_last_error(), "no error") != 0);
        return 0;
    }
    const pd_model_config *c = &m->cfg;
    MUST(c->n_vocab >= 1 && c->n_embd >= 1 && c->n_layer >= 1 && c->head_dim >= 1);
    MUST(m->tok_embd.ne[0] == c->n_embd && m->tok_embd.ne[1] == c->n_vocab);
    if (m->tok) MUST(pd_tok_n_vocab(m->tok) >= 1);
    const char *tmpl;
    size_t tl;
    if (pd_gguf_get_str(m->gguf, "tokenizer.chat_template", &tmpl, &tl)) {
        char *z = malloc(tl + 1);
        if (z) {
            memcpy(z, tmpl, tl);
            z[tl] = 0;
            pd_chat_family f = pd_chat_detect(z);
            MUST(f >= PD_CHAT_NONE && f < PD_CHAT_COUNT && pd_chat_format_of(f) != NULL);
            free(z);
        }
    }
    /* A forward pass only where it stays small: the fuzzer should find parser bugs, not time out
     * multiplying a 2^24-wide matrix. */
    int64_t work = (int64_t)c->n_layer * ((int64_t)c->n_embd * ((int64_t)c->n_head + 2 * c->n_head_kv) * c->head_dim +
                                          3 * (int64_t)c->n_embd * c->n_ff) +
                   (int64_t)c->n_embd * c->n_vocab;
    if (work <= (1 << 22)) {
        pd_kv *kv = pd_kv_new(c, 1, 4, PD_TYPE_F32);
        float *logits = malloc((size_t)c->n_vocab * sizeof *logits * 3);
        if (kv && logits) {
            int32_t toks[3] = {0, c->n_vocab - 1, c->n_vocab / 2};
            pd_status st = pd_model_eval(m, kv, 0, toks, 3, true, logits);
            if (st == PD_OK) MUST(pd_kv_seq_len(kv, 0) == 3);
            if (st == PD_OK) MUST(pd_kv_seq_rewind(kv, 0, 1) == PD_OK && pd_kv_seq_len(kv, 0) == 1);
        }
        free(logits);
        pd_kv_free(kv);
    }
    pd_model_free(m);
    return 0;
}
