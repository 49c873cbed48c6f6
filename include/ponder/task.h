/* ponder/task.h — verifiable reasoning tasks: seeded generators with reference reasoning and exact
 * verifiers (tasks/ depends only on base/). Everything that trains or evaluates gets its problems
 * and its rewards here.
 *
 * Usage:
 *   const pd_task *t = pd_task_find("arith");
 *   pd_rng r; pd_rng_seed(&r, pd_rng_derive(seed, i));
 *   pd_task_item it; pd_task_gen(t, &r, 3, PD_SPLIT_TRAIN, &it);
 *   // train on it.prompt → pd_task_completion(&it)   ("<think>\n" reasoning "\n</think>\n" answer)
 *   pd_verdict v; pd_task_verify(t, &it, model_output, &v);   // v.score in [0,1]
 *   pd_verdict_free(&v); pd_task_item_free(&it);
 *
 * Model output convention: the answer is read only from the text after the end of thinking
 * (after the last "</think>"; an unclosed "<think>" means there is no answer yet). Inside that
 * text, the last <answer>…</answer> wins when present, otherwise the task's own extraction
 * (arith: last number; countdown: last expression line; yes/no tasks: last yes/no word; ...).
 *
 * Splits: every problem has a canonical key (the problem, not the rendering); an item belongs to
 * the test split iff FNV-1a-64(task name ":" key) % 10 == 0 (alchemy: the key is the
 * transformation chain only, so the test split holds out whole compositions). PD_SPLIT_TRAIN and
 * PD_SPLIT_TEST reject-sample until the item lands in the requested split, so the two are
 * disjoint by construction; PD_SPLIT_ANY keeps the first draw.
 *
 * Determinism: items depend only on the rng state, the difficulty and the split; no floats are
 * used in any generator, so the same seed gives byte-identical items on every machine. */
#ifndef PONDER_TASK_H
#define PONDER_TASK_H
#include <stddef.h>
#include <stdint.h>
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/rng.h"
#include "ponder/extract.h"

typedef struct {
    char *id;          /* "<task>-<12 hex digits of the key hash>" (CLI gen: "<task>-<seed>-<index>") */
    const char *task;  /* static task name */
    int difficulty;
    char *prompt;
    char *reasoning;   /* reference step-by-step trace (plain text); "" for user tasks */
    char *answer;      /* the exact final answer text */
    char *meta;        /* task-specific payload as compact JSON text, or NULL */
} pd_task_item;

typedef struct {
    double score;        /* 1 = correct, 0 = wrong/absent; countdown gives 0.1 for a well-formed wrong answer */
    char *extracted;     /* owned copy of the answer text that was judged; NULL when none was found */
    const char *reason;  /* static: "correct", "wrong", "no answer", "bad format", "wrong numbers", ... */
} pd_verdict;

typedef enum { PD_SPLIT_ANY = 0, PD_SPLIT_TRAIN = 1, PD_SPLIT_TEST = 2 } pd_split;

typedef struct pd_task pd_task;
struct pd_task {
    const char *name;
    const char *summary;          /* one line */
    const char *difficulty_help;  /* what the difficulty knob means */
    int dmin, dmax, ddefault;     /* valid difficulty range and default */
    /* Generate one item; `key` receives the canonical problem key (used for the split). Fields
     * other than id/task/difficulty are filled by the task. */
    pd_status (*gen)(pd_rng *r, int difficulty, pd_task_item *out, pd_buf *key);
    /* Default extraction from the answer region (text after thinking, no <answer> tag found).
     * Returns an owned string or NULL when nothing is found. */
    char *(*extract)(const char *region);
    /* Judge an extracted answer string against the item. */
    void (*check)(const pd_task_item *item, const char *answer, pd_verdict *v);
};

/* Registry of the built-in tasks (arith, arith-add, arith-sub, arith-mul, countdown, logic,
 * syllogism, graph, sudoku, alchemy, alchemy-len, logicasker, arith-mul-tape, arith-add-lookup,
 * arith-add-lookup-m). The `jsonl` user task is loaded from a file
 * (pd_jsonl_load) and judged with pd_task_verify_ref. */
size_t pd_task_count(void);
const pd_task *pd_task_at(size_t i);
const pd_task *pd_task_find(const char *name); /* NULL + error naming the task if unknown */

/* Generate one item (fills every field). Difficulty outside [dmin, dmax] → PD_ERR_ARG. */
pd_status pd_task_gen(const pd_task *t, pd_rng *r, int difficulty, pd_split split, pd_task_item *out);
/* Split of an item's key (see above). */
pd_split pd_task_split_of(const char *task_name, const char *key);

/* Verify a model's full output text. mode PD_EXTRACT_AUTO uses <answer> tags then the task's
 * own extraction; any other mode forces that extractor on the answer region. */
pd_status pd_task_verify(const pd_task *t, const pd_task_item *item, const char *output, pd_verdict *v);
pd_status pd_task_verify_ex(const pd_task *t, const pd_task_item *item, const char *output,
                            pd_extract_mode mode, pd_verdict *v);
/* Judge an output against a free-form reference answer (the `jsonl` task): numeric equivalence,
 * else normalised string match. AUTO = tag, boxed, gsm8k, "the answer is", last number. */
pd_status pd_task_verify_ref(const char *reference, const char *output, pd_extract_mode mode, pd_verdict *v);

/* "<think>\n" reasoning "\n</think>\n" answer — the SFT completion for an item (owned). */
char *pd_task_completion(const pd_task_item *item);

/* JSONL: one compact object {"id","task","difficulty","prompt","reasoning","answer"[,"meta"]}.
 * pd_task_item_to_json returns an owned string without a newline. from_json needs at least
 * id, prompt and answer (task defaults to "jsonl"); error message names the missing key. */
char *pd_task_item_to_json(const pd_task_item *item);
pd_status pd_task_item_from_json(const char *line, pd_task_item *out);
void pd_task_item_free(pd_task_item *item);
void pd_verdict_free(pd_verdict *v);

/* A file of items. Malformed lines are reported (pd_log warning to stderr, line number and why)
 * and skipped, or make the load fail when `strict`; `n_bad` (optional) receives their count. */
typedef struct { pd_task_item *items; size_t n; } pd_task_set;
pd_status pd_jsonl_load(const char *path, int strict, pd_task_set *out, size_t *n_bad);
pd_status pd_jsonl_parse(const char *text, size_t len, const char *label, int strict, pd_task_set *out,
                         size_t *n_bad);
void pd_task_set_free(pd_task_set *s);

/* REST stress bundle: items[(i+1)%n], …, items[(i+k-1)%n], items[i] as "Q1: …\n\nQ2: …" plus the
 * instruction to answer each within \boxed{}; `order` (k ints, optional) receives the item index
 * of each question. Scoring extracts the \boxed{} answers after thinking, in order, and judges
 * answer j against question j with the item's task (or pd_task_verify_ref for jsonl items). */
char *pd_rest_prompt(const pd_task_item *items, size_t n, size_t i, int k, size_t *order);
/* scores[j] receives the score of question j (0 when its answer is missing); returns the count of
 * boxed answers found. */
int pd_rest_score(const pd_task_item *items, size_t n, size_t i, int k, const char *output, double *scores);
/* A bundle item as `ponder tasks gen --rest K` writes it: task "rest", meta {"k": K, "items": [the
 * K sub-items in question order]}. is_bundle: 1 if the meta has that shape. verify: scores[j] for
 * question j (scores holds PD_REST_MAX_K), *k the bundle size; PD_ERR_FORMAT if meta is malformed. */
#define PD_REST_MAX_K 64
int pd_rest_is_bundle(const pd_task_item *it);
pd_status pd_rest_verify(const pd_task_item *bundle, const char *output, double *scores, int *k);

/* FNV-1a 64-bit (used for ids, splits and determinism checks). */
uint64_t pd_fnv1a64(const void *data, size_t len, uint64_t h);
#define PD_FNV_OFFSET 0xcbf29ce484222325ull

#endif
