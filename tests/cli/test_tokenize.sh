#!/usr/bin/env bash
# tests/cli/test_tokenize.sh — `ponder tokenize`: ids and `id<TAB>piece` output against the model
# fixtures' token files (llama.cpp's tokenisation of the same prompt) and llama.cpp's tokenizer
# test outputs; --file (also from stdin), --special, --add-bos; usage and runtime errors.
# Run: bash tests/cli/test_tokenize.sh PONDER
set -u
P=${1:?usage: test_tokenize.sh /path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
F=$FX
M=$F/models
V=$F/tokenizer
fail=0
check() { # name, expected, actual
  if [ "$2" != "$3" ]; then echo "FAIL $1: expected '$2', got '$3'"; fail=1; else echo "ok   $1"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
Q="Question: what is 12+35? Answer: Let me think step by step."
ids_of() { cut -f1 "$1" | tr '\n' ' ' | sed 's/ $//'; }

# whole `id<TAB>piece` listings equal the fixture files (llama adds BOS <s>, phi3 <|begin_of_text|>)
"$P" tokenize -m "$M/tiny-llama.gguf" --add-bos "$Q" > "$tmp/llama.txt"
same() { [ -s "$1" ] && [ -s "$2" ] && cmp -s "$1" "$2" && echo same || echo "differ: $(diff "$1" "$2" 2>&1 | head -3)"; }
check "tiny-llama listing" same "$(same "$tmp/llama.txt" "$M/tiny-llama.tokens.txt")"
"$P" tokenize -m "$M/tiny-phi3.gguf" --add-bos "$Q" > "$tmp/phi3.txt"
check "tiny-phi3 listing" same "$(same "$tmp/phi3.txt" "$M/tiny-phi3.tokens.txt")"
check "tiny-qwen2 ids" "$(ids_of "$M/tiny-qwen2.tokens.txt")" "$("$P" tokenize -m "$M/tiny-qwen2.gguf" --ids "$Q")"
# the chat prompt with special tokens, read from a file (it ends in a newline)
printf '<|im_start|>user\nQuestion: what is 12+35?<|im_end|>\n<|im_start|>assistant\n<think>\n' > "$tmp/chat.txt"
"$P" tokenize -m "$M/tiny-qwen3.gguf" --special --file "$tmp/chat.txt" > "$tmp/chat.out"
check "tiny-qwen3 chat listing" same "$(same "$tmp/chat.out" "$M/tiny-qwen3.chat.tokens.txt")"
check "chat from stdin" "$(ids_of "$M/tiny-qwen3.chat.tokens.txt")" \
  "$("$P" tokenize -m "$M/tiny-qwen3.gguf" --special --ids --file - < "$tmp/chat.txt")"
# without --special the same text has no control ids (<|im_start|> stays text); the user-defined
# added token <think> (151667) is one token either way, as in Hugging Face and llama.cpp
check "no --special: control tokens are plain text" "151667" \
  "$("$P" tokenize -m "$M/tiny-qwen3.gguf" --file "$tmp/chat.txt" | awk -F'\t' '$1 >= 151643 {print $1}')"
check "no --special: <think> </think> <tool_call> are added tokens" "151667 151668 151657" \
  "$("$P" tokenize -m "$M/tiny-qwen3.gguf" --ids '<think></think><tool_call>')"
# without --add-bos no BOS: the fixture ids minus the first
check "llama without BOS" "$(ids_of "$M/tiny-llama.tokens.txt" | cut -d' ' -f2-)" "$("$P" tokenize -m "$M/tiny-llama.gguf" --ids "$Q")"

# llama.cpp's tokenizer tests (vocab-only files): input 11 is "Hello world", 9 is "\n\n\n"
line() { sed -n "$(( $2 + 1 ))p" "$1" | sed 's/^ *//; s/ *$//'; }
for v in ggml-vocab-llama-spm ggml-vocab-llama-bpe-rebuilt ggml-vocab-qwen2-rebuilt; do
  check "$v Hello world" "$(line "$V/$v.gguf.out" 11)" "$("$P" tokenize -m "$V/$v.gguf" --ids "Hello world")"
  printf '\n\n\n' > "$tmp/nl.txt"
  check "$v three newlines" "$(line "$V/$v.gguf.out" 9)" "$("$P" tokenize -m "$V/$v.gguf" --ids --file "$tmp/nl.txt")"
done
# empty text: empty line with --ids, nothing in a listing
: > "$tmp/empty.txt"
check "empty --ids" "" "$("$P" tokenize -m "$V/ggml-vocab-llama-spm.gguf" --ids --file "$tmp/empty.txt")"
check "empty listing lines" 0 "$("$P" tokenize -m "$V/ggml-vocab-llama-spm.gguf" --file "$tmp/empty.txt" | wc -l)"
# pieces: tab and newline written as \t and \n (input 10 is "\t\n", one token in the Qwen vocab)
check "escaped piece" "$(line "$V/ggml-vocab-qwen2-rebuilt.gguf.out" 10)$(printf '\t')\\t\\n" \
  "$(printf '\t\n' | "$P" tokenize -m "$V/ggml-vocab-qwen2-rebuilt.gguf" --file -)"
check "byte-level piece keeps its space" "$(line "$V/ggml-vocab-qwen2-rebuilt.gguf.out" 11 | cut -d" " -f2)$(printf '\t world')" \
  "$(printf 'Hello world' | "$P" tokenize -m "$V/ggml-vocab-qwen2-rebuilt.gguf" --file - | tail -1)"

expect_err() { # name, code, grep-pattern, args...
  local name=$1 code=$2 pat=$3; shift 3
  local err; err=$("$P" "$@" 2>&1 >/dev/null); local rc=$?
  if [ $rc -ne "$code" ] || ! grep -q -- "$pat" <<<"$err" || [ "$(wc -l <<<"$err")" -ne 1 ]; then
    echo "FAIL $name: rc=$rc err='$err'"; fail=1; else echo "ok   $name"; fi
}
expect_err "missing model" 2 "missing -m" tokenize hello
expect_err "no text" 2 "no text" tokenize -m "$M/tiny-llama.gguf"
expect_err "text and file" 2 "not both" tokenize -m "$M/tiny-llama.gguf" --file "$tmp/chat.txt" hello
expect_err "unknown flag" 2 "unknown flag '--frob'" tokenize -m "$M/tiny-llama.gguf" --frob hello
expect_err "missing value" 2 "missing value" tokenize -m
expect_err "missing model file" 1 "/nonexistent.gguf" tokenize -m /nonexistent.gguf hello
expect_err "missing text file" 1 "/nonexistent.txt" tokenize -m "$M/tiny-llama.gguf" --file /nonexistent.txt
printf 'GGUF\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0' > "$tmp/novocab.gguf"
expect_err "file without vocabulary" 1 "tokenizer.ggml.model" tokenize -m "$tmp/novocab.gguf" hello
"$P" tokenize --help | grep -q -- "--special" && echo "ok   help" || { echo "FAIL help"; fail=1; }
exit $fail
