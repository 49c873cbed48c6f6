/* ponder/extract.h — reading final answers out of model text, as evaluation harnesses do:
 * GSM8K "#### N", MATH "\boxed{…}" (nested braces, also \fbox), <answer>…</answer>,
 * "The answer is …", last number; plus numeric equivalence and normalised string match.
 * Thinking is never the answer: every extractor looks only at pd_extract_region(text). */
#ifndef PONDER_EXTRACT_H
#define PONDER_EXTRACT_H
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    PD_EXTRACT_AUTO = 0,   /* task default (jsonl: tag, boxed, gsm8k, answer-is, last-number) */
    PD_EXTRACT_GSM8K,      /* first "#### N" */
    PD_EXTRACT_BOXED,      /* last \boxed{…} / \fbox{…} */
    PD_EXTRACT_TAG,        /* last <answer>…</answer> */
    PD_EXTRACT_ANSWER_IS,  /* last "The answer is …" (to end of sentence/line) */
    PD_EXTRACT_LAST_NUMBER /* last number (sign, thousands commas, decimals, fraction a/b) */
} pd_extract_mode;

/* Parse "gsm8k|boxed|tag|answer-is|last-number|auto"; returns -1 if unknown. */
int pd_extract_mode_parse(const char *s);
const char *pd_extract_mode_name(pd_extract_mode m);

/* The answer region: text after the last "</think>"; if "<think>" opens and never closes, the
 * region is empty (the model is still thinking). Text without think tags is all region.
 * Returns a pointer into `text` and its length. */
const char *pd_extract_region(const char *text, size_t *len);

/* Extract with `mode` from the region of `text` (thinking is dropped first). Owned string,
 * trimmed, or NULL when nothing matches. AUTO tries tag, boxed, gsm8k, answer-is, last-number. */
char *pd_extract(pd_extract_mode mode, const char *text);
/* Same on an explicit span that is already the answer region. */
char *pd_extract_span(pd_extract_mode mode, const char *s, size_t len);

/* All \boxed{…} arguments in order (brace-matched) from the region; returns the count, *out an
 * owned array of owned strings (free with pd_extract_list_free). */
int pd_extract_boxed_all(const char *text, char ***out);
void pd_extract_list_free(char **list, int n);

/* Numeric value of an answer string as an exact rational: accepts "-1,234.50", "$5.", "50%"
 * (percent sign dropped), "3/4", "\frac{3}{4}", "\dfrac34", "-\frac{1}{2}", "1e3" not accepted.
 * Returns false if the string is not a single number. */
bool pd_answer_number(const char *s, long long *num, long long *den);
/* Normalise for string match: drop whitespace, "$", "\left"/"\right", "\!", "\,", \text{…} and
 * \mathrm{…} wrappers, trailing ".", lower-case; "\dfrac"/"\tfrac" → "\frac". Owned. */
char *pd_answer_normalize(const char *s);
/* Numeric equivalence when both parse as numbers, else normalised string equality. */
bool pd_answer_equiv(const char *pred, const char *gold);

#endif
