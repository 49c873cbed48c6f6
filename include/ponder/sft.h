/* ponder/sft.h — supervised fine-tuning examples in the JSONL formats people already have, read as
 * TRL reads them, one JSON object per line:
 *
 *   {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
 *       conversational: the LAST message must be the assistant's; it is the completion (the only
 *       part that carries loss), everything before it is the prompt. The completion's reasoning is
 *       its "reasoning_content" string, or the text inside <think>...</think> at the start of its
 *       content (then removed from the answer, as the Qwen3 template does).
 *   {"prompt": "...", "completion": "..."}
 *       standard (plain text): no chat template, prompt text then completion text (TRL's
 *       language-modelling form; the trainer appends the vocabulary's end-of-sequence token).
 *   {"prompt": [messages...], "completion": [{"role": "assistant", ...}]}
 *       conversational prompt/completion: as "messages" with the prompt list followed by the one
 *       completion message.
 *
 * A line with neither "messages" nor "completion" is not an SFT example (PD_SFT_NONE): the caller
 * reads it as a ponder task item ({"id","prompt","answer",...}, ponder/task.h). Other keys are ignored.
 * The parser is a pure function of the line's bytes (the fuzz entry point is pd_sft_parse_line). */
#ifndef PONDER_SFT_H
#define PONDER_SFT_H
#include "ponder/chat.h"
#include "ponder/error.h"
#include <stddef.h>

typedef enum { PD_SFT_NONE = 0, PD_SFT_CHAT, PD_SFT_TEXT } pd_sft_kind;

typedef struct {
    pd_sft_kind kind;
    /* CHAT: the prompt messages (roles are static strings; contents owned), at least one */
    pd_chat_msg *msgs;
    int n_msgs;
    /* TEXT: the plain prompt (may be empty); CHAT: NULL */
    char *text_prompt;
    /* the completion: CHAT: the assistant's answer with any leading <think>...</think> removed;
     * TEXT: the completion text as given */
    char *answer;
    char *reasoning;        /* CHAT: the completion's reasoning, or NULL when it has none */
} pd_sft_example;

/* Parse one JSONL line (len bytes, need not be NUL-terminated). PD_OK with out->kind set (NONE: not
 * an SFT line, nothing allocated); PD_ERR_FORMAT with a message naming the key and what is wrong
 * (no file or line number: the caller adds them); PD_ERR_NOMEM. out is always safe to free. */
pd_status pd_sft_parse_line(const char *line, size_t len, pd_sft_example *out);
void pd_sft_example_free(pd_sft_example *e);

#endif
