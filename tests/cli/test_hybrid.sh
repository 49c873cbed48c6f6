#!/bin/bash
# tests/cli/test_hybrid.sh — --policy hybrid in run: with the base itself as the thinking model every
# token agrees, so the text equals plain greedy decoding and steering is applied at 0 tokens (the
# stderr share line); bad input: thinking=/file= missing (exit 2), a thinking model of another
# vocabulary, bad coefficients, a vector of the wrong size (exit 1, messages).
# Usage: bash tests/cli/test_hybrid.sh path/to/ponder   (from the repo root)
set -u
PONDER=${1:?usage: test_hybrid.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
M=$FX/models/tiny-llama.gguf
printf 'Wait, let me check that again.\nHmm, maybe I made a mistake.\n' > "$T/pos.txt"
printf 'The answer is 47.\nYes, that is right.\n' > "$T/neg.txt"
"$PONDER" steer -m "$M" --positive "$T/pos.txt" --negative "$T/neg.txt" --out "$T/cv.gguf" > /dev/null || fail "steer"

# 1. agreement everywhere: the base's greedy text, 0 steered
"$PONDER" run -m "$M" -p 'Question: what is 12+35?' -n 12 --temp 0 > "$T/plain.txt" 2>/dev/null || fail "plain run"
"$PONDER" run -m "$M" -p 'Question: what is 12+35?' -n 12 --policy "hybrid:thinking=$M,file=$T/cv.gguf,coefs=0.5:1" \
    > "$T/hyb.txt" 2> "$T/hyb.err" || fail "hybrid run: $(cat "$T/hyb.err")"
cmp -s "$T/plain.txt" "$T/hyb.txt" || fail "hybrid with the base as thinker differs from greedy"
grep -q 'hybrid: 12 tokens, steering applied at 0 (0.0%)' "$T/hyb.err" || fail "share line: $(cat "$T/hyb.err")"

# 2. bad input
"$PONDER" run -m "$M" -p x -n 2 --policy "hybrid:file=$T/cv.gguf" > /dev/null 2> "$T/e1"
[ $? -eq 2 ] || fail "no thinking=: exit 2"
grep -q 'hybrid needs thinking=' "$T/e1" || fail "message: $(cat "$T/e1")"
"$PONDER" run -m "$M" -p x -n 2 --policy "hybrid:thinking=$M" > /dev/null 2>&1
[ $? -eq 2 ] || fail "no file=: exit 2"
"$PONDER" run -m "$M" -p x -n 2 --policy "hybrid:thinking=$FX/models/tiny-qwen3.gguf,file=$T/cv.gguf" > /dev/null 2> "$T/e2"
[ $? -eq 1 ] || fail "other vocabulary: exit 1"
grep -q 'vocabulary (151936) differs' "$T/e2" || fail "message: $(cat "$T/e2")"
"$PONDER" run -m "$M" -p x -n 2 --policy "hybrid:thinking=$M,file=$T/cv.gguf,coefs=0.5:x" > /dev/null 2> "$T/e3"
[ $? -eq 1 ] || fail "bad coefs: exit 1"
grep -q 'coefs' "$T/e3" || fail "message: $(cat "$T/e3")"
"$PONDER" steer -m "$FX/models/tiny-llama256-q4_0.gguf" --positive "$T/pos.txt" --negative "$T/neg.txt" --out "$T/q.gguf" > /dev/null || fail "steer q"
"$PONDER" run -m "$M" -p x -n 2 --policy "hybrid:thinking=$M,file=$T/q.gguf" > /dev/null 2> "$T/e4"
[ $? -eq 1 ] || fail "wrong n_embd: exit 1"
grep -q n_embd "$T/e4" || fail "message: $(cat "$T/e4")"
echo "test_hybrid.sh: all passed"
