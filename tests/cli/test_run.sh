#!/bin/bash
# tests/cli/test_run.sh — `ponder run` (greedy vs the fixture logits' argmax, --json usage counts,
# thinking budget, --no-think, seeds), `ponder chat` (multi-turn from a pipe), `ponder bench`
# (output shape on a tiny model and on a scaled-down synthetic run) and their usage errors.
# Usage: bash tests/cli/test_run.sh path/to/ponder   (from the repo root)
set -u
PONDER=${1:?usage: test_run.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
FIX=$FX/models
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# value of a number / string field in ponder's JSON (cJSON_Print: "key":<tab>value)
num() { grep -o "\"$1\":[[:space:]]*[-0-9.e]*" "$2" | head -1 | sed 's/.*:[[:space:]]*//'; }
str() { grep -o "\"$1\":[[:space:]]*\"[^\"]*\"" "$2" | head -1 | sed 's/^[^:]*:[[:space:]]*"//; s/"$//'; }

PROMPT="Question: what is 12+35? Answer: Let me think step by step."

# 1. greedy next token of tiny-llama == argmax of llama.cpp's logits at the last of the 21 positions
V=32000
WANT=$(od -An -v -tf4 -w4 -j $(( 20 * V * 4 )) -N $(( V * 4 )) "$FIX/tiny-llama.logits.f32" |
       awk '{ if (NR == 1 || $1 > m) { m = $1; i = NR - 1 } } END { print i }')
"$PONDER" run -m "$FIX/tiny-llama.gguf" --no-template -p "$PROMPT" --temp 0 -n 1 --kv f32 --json > "$T/g.json" ||
    fail "run greedy"
[ "$(num prompt_tokens "$T/g.json")" = 21 ] || fail "prompt_tokens $(num prompt_tokens "$T/g.json") != 21"
[ "$(num completion_tokens "$T/g.json")" = 1 ] || fail "completion_tokens != 1"
[ "$(str finish_reason "$T/g.json")" = length ] || fail "finish_reason $(str finish_reason "$T/g.json")"
ANS=$(str answer "$T/g.json")
GOT=$("$PONDER" tokenize -m "$FIX/tiny-llama.gguf" --ids "$ANS")
echo "greedy: answer '$ANS' = id $GOT, fixture argmax $WANT"
[ "$GOT" = "$WANT" ] || fail "greedy token $GOT != argmax $WANT"

# 2. thinking budget on tiny-qwen3 (random weights, never stops thinking) at temperature 1:
#    the raw prompt ends inside <think>; at most 7 thinking tokens, "\n" and "</think>" included (the
#    policy closes early enough that they fit), then 4 answer tokens
QP=$'<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n'
"$PONDER" run -m "$FIX/tiny-qwen3.gguf" --no-template -p "$QP" --temp 1 --top-k 0 --top-p 1 --seed 9 \
    --think-budget 7 --answer-budget 4 --json > "$T/b.json" || fail "run budget"
[ "$(num thinking_tokens "$T/b.json")" = 7 ] || fail "thinking_tokens $(num thinking_tokens "$T/b.json") != 7"
[ "$(num answer_tokens "$T/b.json")" = 4 ] || fail "answer_tokens $(num answer_tokens "$T/b.json") != 4"
[ "$(str finish_reason "$T/b.json")" = length ] || fail "budget finish_reason"
[ "$(str finish_detail "$T/b.json")" = answer_budget ] || fail "budget finish_detail"
# same seed → same text; another seed → another text
"$PONDER" run -m "$FIX/tiny-qwen3.gguf" --no-template -p "$QP" --temp 1 --seed 9 --think-budget 7 --answer-budget 4 \
    --top-k 0 --top-p 1 --json > "$T/b2.json" || fail "run budget again"
"$PONDER" run -m "$FIX/tiny-qwen3.gguf" --no-template -p "$QP" --temp 1 --seed 10 --think-budget 7 --answer-budget 4 \
    --top-k 0 --top-p 1 --json > "$T/b3.json" || fail "run budget seed 10"
[ "$(grep -v _s\" "$T/b.json" | grep -v per_s)" = "$(grep -v _s\" "$T/b2.json" | grep -v per_s)" ] || fail "same seed, different output"
[ "$(str thinking "$T/b.json")" != "$(str thinking "$T/b3.json")" ] || fail "different seeds, same thinking"

# 3. --no-think with the model's own (Qwen3) template: no thinking tokens at all
"$PONDER" run -m "$FIX/tiny-qwen3.gguf" -p "What is 2+2?" --no-think -n 6 --seed 1 --json > "$T/n.json" || fail "no-think"
[ "$(str template "$T/n.json")" = qwen3 ] || fail "template $(str template "$T/n.json")"
[ "$(num thinking_tokens "$T/n.json")" = 0 ] || fail "no-think thinking_tokens $(num thinking_tokens "$T/n.json")"
[ "$(num prompt_tokens "$T/n.json")" = 19 ] || fail "no-think prompt_tokens $(num prompt_tokens "$T/n.json") (want 19: 3 + 7 for the user turn, 9 for the rest)"

# 4. plain streaming output with --show-thinking (not a terminal: <think> markers)
"$PONDER" run -m "$FIX/tiny-qwen3.gguf" --no-template -p "$QP" --seed 3 --think-budget 3 --answer-budget 2 \
    --show-thinking > "$T/s.txt" || fail "run stream"
grep -q '^<think>' "$T/s.txt" && grep -q '^</think>' "$T/s.txt" || fail "stream lacks thinking markers: $(cat "$T/s.txt")"

# 5. chat: two turns from a pipe
printf 'hello\nhow are you?\n/exit\n' | "$PONDER" chat -m "$FIX/tiny-qwen3.gguf" -n 4 --seed 2 --hide-thinking > "$T/c.txt" ||
    fail "chat"
[ "$(wc -l < "$T/c.txt")" -ge 2 ] || fail "chat printed $(wc -l < "$T/c.txt") lines"

# 6. bench on a tiny model and a scaled-down synthetic shape
"$PONDER" bench -m "$FIX/tiny-llama.gguf" -p 16 -n 4 -r 2 -t 1 > "$T/bench.txt" || fail "bench"
grep -q 'pp16' "$T/bench.txt" && grep -q 'tg4' "$T/bench.txt" || fail "bench output: $(cat "$T/bench.txt")"
grep -q '±' "$T/bench.txt" || fail "bench has no ± column"
"$PONDER" bench --synthetic llama-110m --type q8_0 --layers 1 -p 8 -n 2 -r 1 -t 1 --json > "$T/bs.json" || fail "bench --synthetic"
grep -q '"test":[[:space:]]*"pp8"' "$T/bs.json" || fail "synthetic bench json: $(cat "$T/bs.json")"

# 7. usage and runtime errors
"$PONDER" run -p hi 2> "$T/e"; [ $? = 2 ] || fail "missing -m must exit 2"
"$PONDER" run -m "$FIX/tiny-qwen3.gguf" -p hi --temp x 2> "$T/e"; [ $? = 2 ] || fail "bad --temp must exit 2"
grep -q -- '--temp' "$T/e" || fail "bad --temp message: $(cat "$T/e")"
"$PONDER" run -m "$FIX/tiny-qwen3.gguf" -p hi --template nosuch 2> "$T/e"; [ $? = 2 ] || fail "bad --template must exit 2"
"$PONDER" run -m "$T/missing.gguf" -p hi 2> "$T/e"; [ $? = 1 ] || fail "missing model must exit 1"
grep -q 'missing.gguf' "$T/e" || fail "missing model message: $(cat "$T/e")"
"$PONDER" bench --synthetic nosuch 2> "$T/e"; [ $? = 2 ] || fail "bad --synthetic must exit 2"
echo "ok"
