/* ponder/data.h — training data for train/: examples (token ids + which of them carry loss) from a
 * task generator, a JSONL file (ponder task items and the SFT formats of ponder/sft.h, mixed freely)
 * or a plain-text corpus; packing of examples into B×T micro-batches (documents kept apart: each
 * token knows where its document starts); and the held-out split.
 *
 * Every conversation is rendered and tokenised the way `ponder run` renders it for the same model
 * (pd_tchat: the model's tokenizer, its chat-template family from gen/chat.h, BOS by the vocabulary's
 * add_bos_token, special tokens parsed): the prompt is the conversation up to and including the
 * generation prompt, so its token ids are exactly the ids inference feeds the model, and the
 * completion is what the model should generate after it — for Qwen3
 *   <|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n  +  <think>\n{reasoning}\n</think>\n\n{answer}<|im_end|>
 * for families whose generation prompt opens thinking (DeepSeek-R1, QwQ) "{reasoning}\n</think>\n\n
 * {answer}{end of turn}"; families without thinking markers get the reasoning inline in the same
 * <think> text. Loss is on the completion only, through its end-of-turn token; when the family's end
 * of turn is not one token (no template, plain-text prompt/completion) the vocabulary's EOS is
 * appended. Text is tokenised whole (prompt + completion), as TRL does; the prompt part equals the
 * separately tokenised prompt for every fixed family (the boundary is a special token or newline).
 * A text corpus is one token stream; an example is a window of it with loss on every token. */
#ifndef PONDER_DATA_H
#define PONDER_DATA_H
#include "ponder/chat.h"
#include "ponder/error.h"
#include "ponder/rng.h"
#include "ponder/sft.h"
#include "ponder/task.h"
#include "ponder/tok.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int32_t *tok;
    uint8_t *loss;   /* loss[i] = 1: token i is a training target (predicted from tokens < i) */
    int n;
} pd_tex;
void pd_tex_free(pd_tex *e);

/* How a model's conversations become tokens (see above). */
typedef struct pd_tchat {
    const pd_tokenizer *tok;
    pd_chat_family family;
    bool add_bos;
} pd_tchat;
struct pd_model;
/* The chat format `ponder run` uses for pm (family from its tokenizer.chat_template; NONE without). */
pd_tchat pd_tchat_of_model(const struct pd_model *pm);

/* The generation prompt of one user message, as token ids (what `ponder run -p prompt` feeds). */
pd_status pd_tex_prompt(const pd_tchat *c, const char *prompt, int32_t **ids, int *n);
/* A task item as one user turn and the assistant's reply (its reasoning, if any, and answer). */
pd_status pd_tex_from_item(const pd_tchat *c, const pd_task_item *it, pd_tex *out);
/* An SFT example (ponder/sft.h); *n_prompt (may be NULL) receives the prompt's token count. */
pd_status pd_tex_from_sft(const pd_tchat *c, const pd_sft_example *e, pd_tex *out, int *n_prompt);

typedef enum { PD_DATA_TASK, PD_DATA_JSONL, PD_DATA_TEXT } pd_data_kind;

typedef struct pd_data pd_data;
/* Task source: difficulties drawn uniformly in [dlo, dhi]; training items come from the task's
 * train split, held-out items from its test split (disjoint by construction). */
pd_data *pd_data_task(const pd_tchat *c, const char *task, int dlo, int dhi);
/* File source: *.jsonl (task items and SFT examples, rendered and tokenised on load; the last 10% of
 * the valid lines, at least one, are held out) or any other file read as plain text (the last 10%
 * of its tokens are held out). A malformed JSONL line (bad JSON, a bad message list, an example
 * with no completion tokens) is reported as "<path>: line N: why" and skipped with a warning, or
 * fails the load when strict. */
pd_data *pd_data_file(const pd_tchat *c, const char *path, bool strict);
void pd_data_free(pd_data *d);
pd_data_kind pd_data_kind_of(const pd_data *d);
const pd_task *pd_data_task_of(const pd_data *d);  /* NULL for files */

/* Draw the next training example (consumes rng). T bounds text windows. */
pd_status pd_data_next(pd_data *d, pd_rng *rng, int T, bool heldout, pd_tex *out);

/* Pack examples into a B×T micro-batch (tokens, targets, seg as in pd_tbatch): each row is filled
 * with whole examples in order; an example longer than T is cut to T; the rest of a row is padding
 * (token 0, no target). Returns the number of loss targets. */
int64_t pd_data_batch(pd_data *d, pd_rng *rng, int B, int T, bool heldout, int32_t *tokens, int32_t *targets,
                      int32_t *seg);

/* Held-out items with prompt/answer for accuracy (task: generated from `seed` in the test split at
 * difficulty `difficulty`, or the file's held-out JSONL task items; SFT examples have no verifier
 * and give held-out loss only). Fills up to n items; returns count. */
int pd_data_eval_items(pd_data *d, uint64_t seed, int difficulty, int n, pd_task_item *items);

#endif
