/* fuzz/fuzz_sft.c — SFT JSONL lines in TRL's formats (ponder/sft.h: "messages", "prompt"/"completion"
 * as text or as message lists) through pd_sft_parse_line, and every accepted example rendered and
 * tokenised for training (pd_tex_from_sft) under one of four chat families (by line number) with the
 * byte vocabulary plus the families' special tokens.
 * Properties: a line that is not SFT allocates nothing; an accepted chat example has at least one
 * prompt message of a known role and an answer; a rendered example has ids in the vocabulary, no
 * loss on the prompt's tokens (nor on token 0) and loss on at least one token.
 * fuzz-links: pd_train */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/data.h"
#include "ponder/error.h"
#include "ponder/log.h"
#include "ponder/sft.h"
#include "ponder/tok.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static pd_tokenizer *tok;
    if (!tok) {
        pd_log_set_level(PD_LOG_QUIET);
        static const char *const sp[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>",
                                         "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                         "<|eot_id|>", "<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"};
        tok = pd_tokenizer_new_bytes(sp, (int)(sizeof sp / sizeof sp[0]));
        MUST(tok != NULL);
    }
    static const pd_chat_family fams[4] = {PD_CHAT_QWEN3, PD_CHAT_LLAMA3, PD_CHAT_DEEPSEEK_R1, PD_CHAT_NONE};
    const char *p = (const char *)data, *end = p + size;
    int line = 0;
    while (p < end && line < 8) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        pd_sft_example e;
        pd_clear_error();
        pd_status st = pd_sft_parse_line(p, len, &e);
        if (st == PD_OK && e.kind == PD_SFT_NONE) {
            MUST(!e.msgs && !e.text_prompt && !e.answer && !e.reasoning);
        } else if (st == PD_OK) {
            MUST(e.answer != NULL);
            if (e.kind == PD_SFT_CHAT) {
                MUST(e.n_msgs >= 1 && e.msgs && !e.text_prompt);
                for (int i = 0; i < e.n_msgs; i++)
                    MUST(e.msgs[i].content && (!strcmp(e.msgs[i].role, "system") || !strcmp(e.msgs[i].role, "user") ||
                                               !strcmp(e.msgs[i].role, "assistant")));
            } else {
                MUST(e.kind == PD_SFT_TEXT && e.text_prompt && !e.msgs);
            }
            pd_tchat c = {tok, fams[line % 4], line % 2 == 0};
            pd_tex x;
            int n_prompt = -1;
            if (pd_tex_from_sft(&c, &e, &x, &n_prompt) == PD_OK) {
                MUST(x.n > 1 && n_prompt >= 0 && n_prompt < x.n);
                int n_loss = 0;
                for (int i = 0; i < x.n; i++) {
                    MUST(x.tok[i] >= 0 && x.tok[i] < pd_tok_n_vocab(tok));
                    if (i == 0 || i < n_prompt) MUST(x.loss[i] == 0);
                    n_loss += x.loss[i];
                }
                MUST(n_loss >= 1);
                pd_tex_free(&x);
            }
        } else {
            MUST(strcmp(pd_last_error(), "no error") != 0);
        }
        pd_sft_example_free(&e);
        p = nl ? nl + 1 : end;
        line++;
    }
    return 0;
}
