/* ponder/chat.h — chat templates by family. A model's `tokenizer.chat_template` (Jinja text) is not
 * executed: ponder recognises the family from marker strings in it and renders conversations with
 * the family's fixed layout in C. Each family also says how it marks thinking (`<think>`…`</think>`),
 * whether its generation prompt already opens thinking (DeepSeek-R1), and how thinking is turned
 * off (Qwen3: an empty "<think>\n\n</think>\n\n" block after the generation prompt).
 *
 * Families and what is rendered (BOS is never part of the text: the tokenizer adds it):
 *   PD_CHAT_CHATML   "<|im_start|>{role}\n{content}<|im_end|>\n" …, prompt "<|im_start|>assistant\n"
 *   PD_CHAT_QWEN2    ChatML + the default system message "You are Qwen, created by Alibaba Cloud. …"
 *   PD_CHAT_QWEN3    ChatML; the assistant turn after the last user message carries its thinking as
 *                    "<think>\n{reasoning}\n</think>\n\n{answer}", earlier assistant turns lose their
 *                    thinking; enable_thinking=false appends "<think>\n\n</think>\n\n" to the prompt.
 *                    This is also the layout ponder writes into the models it trains (SFT data).
 *   PD_CHAT_LLAMA3   "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>" …
 *   PD_CHAT_PHI3     "<|{role}|>\n{content}<|end|>\n" …, prompt "<|assistant|>\n" (Phi-3, Phi-3.5)
 *   PD_CHAT_PHI4MINI "<|{role}|>{content}<|end|>" …, prompt "<|assistant|>" (Phi-4-mini)
 *   PD_CHAT_PHI4     "<|im_start|>{role}<|im_sep|>{content}<|im_end|>" …, prompt
 *                    "<|im_start|>assistant<|im_sep|>" (Phi-4, Phi-4-reasoning)
 *   PD_CHAT_DEEPSEEK_R1 "{system}<｜User｜>{content}<｜Assistant｜>{answer}<｜end▁of▁sentence｜>" …,
 *                    prompt "<｜Assistant｜><think>\n" (the prompt opens thinking); history turns
 *                    lose their thinking.
 *   PD_CHAT_QWQ      ChatML whose generation prompt opens thinking ("<|im_start|>assistant\n<think>\n",
 *                    QwQ-32B); history turns lose their thinking.
 *   PD_CHAT_NONE     no template: the contents are concatenated as they are (raw prompt).
 */
#ifndef PONDER_CHAT_H
#define PONDER_CHAT_H
#include <stdbool.h>

typedef enum {
    PD_CHAT_NONE = 0,
    PD_CHAT_CHATML,
    PD_CHAT_QWEN2,
    PD_CHAT_QWEN3,
    PD_CHAT_LLAMA3,
    PD_CHAT_PHI3,
    PD_CHAT_PHI4MINI,
    PD_CHAT_PHI4,
    PD_CHAT_DEEPSEEK_R1,
    PD_CHAT_QWQ,
    PD_CHAT_COUNT
} pd_chat_family;

/* One message. role: "system", "user" or "assistant". For assistant messages the thinking may be
 * given in `reasoning` (NULL: taken from `content` when it holds "...</think>", as the Jinja
 * templates do: reasoning = text before the last </think> after <think>, answer = text after it). */
typedef struct {
    const char *role;
    const char *content;
    const char *reasoning;   /* optional, assistant only */
} pd_chat_msg;

typedef struct {
    pd_chat_family family;
    const char *name;            /* "qwen3", "llama3", … */
    const char *think_open;      /* "<think>", or NULL when the family has no thinking markers */
    const char *think_close;     /* "</think>" */
    bool prompt_opens_thinking;  /* the generation prompt already ends with think_open + "\n" */
    const char *end_of_turn;     /* text that ends an assistant turn ("<|im_end|>", "<|eot_id|>", …) */
} pd_chat_format;

/* Family from template text (NULL or "" → PD_CHAT_NONE; a template with no known marker → NONE). */
pd_chat_family pd_chat_detect(const char *tmpl);
/* Family from a name ("chatml", "qwen3", "r1", "deepseek-r1", "llama3", "phi3", "phi4", "phi4-mini",
 * "none"); -1 if unknown. */
int pd_chat_family_from_name(const char *name);
const pd_chat_format *pd_chat_format_of(pd_chat_family f);

/* Render n messages. add_generation_prompt appends the opening of an assistant turn (for families
 * whose prompt opens thinking, it ends with "<think>\n"). enable_thinking=false makes the
 * generation prompt close thinking at once (think_open "\n\n" think_close "\n\n"); it has no
 * effect for families without thinking markers or without a generation prompt.
 * Returns a malloc'd string (free()), or NULL + pd_last_error (unknown role, NULL content). */
char *pd_chat_render(pd_chat_family f, const pd_chat_msg *msgs, int n, bool add_generation_prompt,
                     bool enable_thinking);

#endif
