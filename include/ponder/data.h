/* ponder/data.h — training data for train/: examples (token ids + which of them carry loss) from a
 * task generator, a JSONL task set or a plain-text corpus; packing of examples into B×T micro-batches
 * (documents kept apart: each token knows where its document starts); and the held-out split.
 *
 * A task/JSONL item becomes one Qwen3-style chat turn:
 *   <|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n<think>\n{reasoning}\n</think>\n\n{answer}<|im_end|>
 * with loss on the completion only (everything after "<|im_start|>assistant\n", <|im_end|> included).
 * A text corpus is one token stream; an example is a window of it with loss on every token. */
#ifndef PONDER_DATA_H
#define PONDER_DATA_H
#include "ponder/error.h"
#include "ponder/rng.h"
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

/* Render a task item as above and tokenise it (specials parsed). */
pd_status pd_tex_from_item(const pd_tokenizer *tok, const pd_task_item *it, pd_tex *out);
/* The prompt part only (ends with "<|im_start|>assistant\n"), for generation. */
pd_status pd_tex_prompt(const pd_tokenizer *tok, const char *prompt, int32_t **ids, int *n);

typedef enum { PD_DATA_TASK, PD_DATA_JSONL, PD_DATA_TEXT } pd_data_kind;

typedef struct pd_data pd_data;
/* Task source: difficulties drawn uniformly in [dlo, dhi]; training items come from the task's
 * train split, held-out items from its test split (disjoint by construction). */
pd_data *pd_data_task(const pd_tokenizer *tok, const char *task, int dlo, int dhi);
/* File source: *.jsonl (task items; the last 10% of lines, at least one, are held out) or any
 * other file read as plain text (the last 10% of its tokens are held out). */
pd_data *pd_data_file(const pd_tokenizer *tok, const char *path);
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
 * difficulty `difficulty`, or the file's held-out JSONL items). Fills up to n items; returns count. */
int pd_data_eval_items(pd_data *d, uint64_t seed, int difficulty, int n, pd_task_item *items);

#endif
