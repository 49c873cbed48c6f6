/* ponder/tok.h — tokenizers read from GGUF metadata: byte-level BPE (gpt2 / llama-bpe / qwen2
 * pre-tokenisers, regex via PCRE2), SentencePiece-style BPE with byte fallback (llama), and the
 * byte-level vocabulary ponder uses for models it trains from scratch. Plus streaming
 * detokenisation that never emits half a UTF-8 character. */
#ifndef PONDER_TOK_H
#define PONDER_TOK_H
#include "ponder/gguf.h"
#include <stddef.h>
#include <stdint.h>

typedef struct pd_tokenizer pd_tokenizer;

typedef enum { PD_TOK_SPM = 1, PD_TOK_BPE = 2, PD_TOK_BYTES = 3 } pd_tok_kind;

/* A tokenizer is immutable once made: tokenising and decoding may run on many threads at once.
 * It copies what it needs, so the pd_gguf may be closed afterwards. A "gpt2" vocabulary without
 * merges whose tokens 0..255 are the 256 bytes (what pd_tokenizer_write_gguf writes for the byte
 * vocabulary) reads back as PD_TOK_BYTES. tokenizer.ggml.pre: llama3 / llama-bpe (Llama 3),
 * qwen2 / deepseek-r1-qwen (Qwen), default / gpt-2 (GPT-2); an unknown one warns and uses GPT-2's. */
pd_tokenizer *pd_tokenizer_from_gguf(const pd_gguf *g);   /* NULL + error naming the key */
/* The vocabulary ponder writes for models trained from scratch: ids 0..255 are the bytes,
 * then the given special tokens (e.g. "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<|endoftext|>"). */
pd_tokenizer *pd_tokenizer_new_bytes(const char *const *specials, int n_specials);
/* Write tokenizer.ggml.* keys so the model loads in ponder and llama.cpp. The byte vocabulary is
 * written as model "gpt2", pre "default", tokens in GPT-2 byte-to-unicode form typed NORMAL (1;
 * llama.cpp renders BYTE-typed BPE tokens as nothing), specials CONTROL (3), an empty merges
 * array (llama.cpp requires the key), bos/eos/eot/padding ids and add_bos_token. */
pd_status pd_tokenizer_write_gguf(const pd_tokenizer *t, pd_gguf_writer *w);
void pd_tokenizer_free(pd_tokenizer *t);

pd_tok_kind pd_tok_kind_of(const pd_tokenizer *t);
int32_t pd_tok_n_vocab(const pd_tokenizer *t);
int32_t pd_tok_bos(const pd_tokenizer *t);   /* -1 if none */
int32_t pd_tok_eos(const pd_tokenizer *t);
int32_t pd_tok_eot(const pd_tokenizer *t);   /* end of turn (e.g. <|im_end|>, <|eot_id|>), -1 if none */
bool pd_tok_add_bos_default(const pd_tokenizer *t);
bool pd_tok_is_special(const pd_tokenizer *t, int32_t id);  /* control or user-defined (added) token */
bool pd_tok_is_eog(const pd_tokenizer *t, int32_t id);      /* ends generation (eos, eot, …) */
/* Exact id of a token whose text is `text` (e.g. "<think>"); -1 if none. */
int32_t pd_tok_find(const pd_tokenizer *t, const char *text);

/* Tokenise len bytes. parse_special: text of special tokens becomes those tokens; otherwise it is
 * plain text. *ids is malloc'd (free()).
 * Conventions: with parse_special the text of control, user-defined and unknown tokens is cut out
 * first (leftmost, longest at a position); without it only user-defined (added, GGUF token_type 4)
 * tokens such as Qwen's <think>, </think>, <tool_call> are cut out, as Hugging Face tokenizers and
 * llama.cpp do, and control tokens (<|im_start|>) stay plain text. The vocabulary's add_eos is not
 * applied. SPM: a space is prefixed to the text and to every fragment after a special token
 * (add_space_prefix). Bytes that are not valid UTF-8 are kept as they are (BPE: a word of their
 * own; SPM: byte-fallback tokens), so every byte string round-trips through pd_detokenize. */
pd_status pd_tokenize(const pd_tokenizer *t, const char *text, size_t len, bool add_bos, bool parse_special,
                      int32_t **ids, size_t *n_ids);
/* Raw bytes of one token as it appears in text (byte-level decoded, ▁ → space, <0xNN> → byte).
 * Special tokens render as their text. */
const char *pd_tok_piece(const pd_tokenizer *t, int32_t id, size_t *len);
/* Whole-sequence decode into a malloc'd NUL-terminated string; NULL + error if an id is out of
 * range. Special tokens render as their text. SPM with add_space_prefix: the leading space of the
 * first token, and of the first token after each special token, is dropped (the inverse of the
 * prefix pd_tokenize adds), so pd_detokenize(pd_tokenize(x)) == x. No other clean-up is done. */
char *pd_detokenize(const pd_tokenizer *t, const int32_t *ids, size_t n, size_t *len_out);

/* Longest piece in bytes: an output buffer of pd_tok_max_piece(t) + 8 bytes always suffices for
 * one pd_detok_push. */
size_t pd_tok_max_piece(const pd_tokenizer *t);
/* The token's text as stored in the vocabulary (GPT-2 byte form, "▁" escapes); NULL if out of range. */
const char *pd_tok_text(const pd_tokenizer *t, int32_t id);

/* Streaming: feed ids one at a time; complete UTF-8 characters come out, a split character is held.
 * Bytes are passed through unchanged: an incomplete sequence is held only while more bytes could
 * still complete it; once a byte arrives that cannot continue it (or at flush), the held bytes
 * come out as they are (no U+FFFD). The concatenated output is therefore exactly the concatenated
 * pieces (for SPM no leading space is dropped: a stream continues a prompt). Start from
 * `pd_detok_stream s = {0}`. An invalid id emits nothing (and sets the error). */
typedef struct { unsigned char pending[8]; int n_pending; } pd_detok_stream;
/* Appends to out (cap bytes); returns bytes written. flush=true emits held bytes too. */
size_t pd_detok_push(pd_detok_stream *s, const pd_tokenizer *t, int32_t id, char *out, size_t cap);
size_t pd_detok_flush(pd_detok_stream *s, char *out, size_t cap);

#endif
