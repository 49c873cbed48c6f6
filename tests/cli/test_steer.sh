#!/bin/bash
# tests/cli/test_steer.sh — `ponder steer`: a control vector from two text files (written, listed by
# --info, llama.cpp's layout seen by `ponder inspect`), --policy steer in run (scale 0 = the
# unsteered text; the stderr count of steered positions), and bad input: missing/empty text files,
# bad --layers, a file that is not a control vector, a vector of the wrong size (exit codes, messages).
# Usage: bash tests/cli/test_steer.sh path/to/ponder   (from the repo root)
set -u
PONDER=${1:?usage: test_steer.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
M=$FX/models/tiny-llama.gguf
printf 'The answer is correct and I am sure.\nYes, that is right.\\nI am confident.\n\n' > "$T/pos.txt"
printf 'Wait, let me check that again.\nHmm, maybe I made a mistake.\n' > "$T/neg.txt"

# 1. compute, list, inspect
"$PONDER" steer -m "$M" --positive "$T/pos.txt" --negative "$T/neg.txt" --out "$T/cv.gguf" > "$T/out.txt" || fail "steer"
grep -q '^2 positive and 2 negative texts' "$T/out.txt" || fail "counts: $(cat "$T/out.txt")"
grep -q "^wrote $T/cv.gguf" "$T/out.txt" || fail "wrote line"
"$PONDER" steer --info "$T/cv.gguf" > "$T/info.txt" || fail "info"
grep -q "model_hint 'llama', n_embd 64, 1 directions" "$T/info.txt" || fail "info: $(cat "$T/info.txt")"
grep -q 'direction.1 ' "$T/info.txt" || fail "info lists direction.1"
"$PONDER" inspect "$T/cv.gguf" > "$T/insp.txt" || fail "inspect"
grep -q 'general.architecture .*"controlvector"' "$T/insp.txt" || fail "architecture key"
grep -q 'controlvector.layer_count i32 *1' "$T/insp.txt" || fail "layer_count key: $(cat "$T/insp.txt")"

# JSONL texts: "text", or a task item's "reasoning"
printf '{"text": "Short and sure."}\n{"id": "a", "reasoning": "12+30=42"}\n' > "$T/pos.jsonl"
"$PONDER" steer -m "$M" --positive "$T/pos.jsonl" --negative "$T/neg.txt" --out "$T/cvj.gguf" > "$T/outj.txt" || fail "steer jsonl"
grep -q '^2 positive and 2 negative texts' "$T/outj.txt" || fail "jsonl counts: $(cat "$T/outj.txt")"
printf '{"x": 1}\n' > "$T/bad.jsonl"
"$PONDER" steer -m "$M" --positive "$T/bad.jsonl" --negative "$T/neg.txt" --out "$T/x.gguf" 2> "$T/e0"; [ $? = 1 ] || fail "bad jsonl exit"
grep -q 'line 1: a JSON line needs' "$T/e0" || fail "bad jsonl message: $(cat "$T/e0")"

# 2. the policy in run: scale 0 changes nothing; a scaled vector is applied at every generated position
"$PONDER" run -m "$M" -p "Hello" -n 8 --temp 0 --json > "$T/plain.json" 2>/dev/null || fail "run"
"$PONDER" run -m "$M" -p "Hello" -n 8 --temp 0 --json --policy "steer:file=$T/cv.gguf,scale=0" > "$T/s0.json" 2> "$T/s0.err" || fail "run steer"
grep -q 'steer: 8 positions steered' "$T/s0.err" || fail "steered count: $(cat "$T/s0.err")"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(a["token_ids"] != b["token_ids"])' \
  "$T/plain.json" "$T/s0.json" || fail "scale 0 changed the text"
"$PONDER" run -m "$M" -p "Hello" -n 8 --temp 0 --json --policy "steer:file=$T/cv.gguf,scale=40,layers=1" > "$T/s40.json" 2>/dev/null || fail "run steer 40"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(a["token_ids"] == b["token_ids"])' \
  "$T/plain.json" "$T/s40.json" || fail "a large vector changed nothing"
"$PONDER" policies | grep -q '^steer' || fail "policies lists steer"

# 3. bad input
"$PONDER" steer -m "$M" --positive "$T/none.txt" --negative "$T/neg.txt" --out "$T/x.gguf" 2> "$T/e1"; [ $? = 1 ] || fail "missing file exit"
grep -q 'none.txt' "$T/e1" || fail "missing file named: $(cat "$T/e1")"
: > "$T/empty.txt"
"$PONDER" steer -m "$M" --positive "$T/empty.txt" --negative "$T/neg.txt" --out "$T/x.gguf" 2> "$T/e2"; [ $? = 1 ] || fail "empty set exit"
grep -q 'no texts' "$T/e2" || fail "empty set message: $(cat "$T/e2")"
"$PONDER" steer -m "$M" --positive "$T/pos.txt" --negative "$T/neg.txt" --out "$T/x.gguf" --layers 5 2> "$T/e3"; [ $? = 2 ] || fail "bad layers exit"
grep -q 'layers' "$T/e3" || fail "bad layers message"
[ -e "$T/x.gguf" ] && fail "a failed run wrote its output"
"$PONDER" steer -m "$M" --positive "$T/pos.txt" 2>/dev/null; [ $? = 2 ] || fail "missing flags exit"
"$PONDER" steer --info "$M" 2> "$T/e4"; [ $? = 1 ] || fail "info on a model exit"
grep -q 'not a control vector' "$T/e4" || fail "info on a model message: $(cat "$T/e4")"
"$PONDER" run -m "$M" -p "Hello" -n 4 --policy "steer:file=$M" 2> "$T/e5" > /dev/null; [ $? = 1 ] || fail "model as vector exit"
grep -q 'not a control vector' "$T/e5" || fail "model as vector message: $(cat "$T/e5")"
"$PONDER" steer -m "$FX/models/tiny-llama256-q4_0.gguf" --positive "$T/pos.txt" --negative "$T/neg.txt" --out "$T/w.gguf" > /dev/null || fail "n_embd 256 vector"
"$PONDER" run -m "$M" -p "Hello" -n 4 --policy "steer:file=$T/w.gguf" 2> "$T/e6" > /dev/null; [ $? = 1 ] || fail "wrong size exit"
grep -q "directions of 256 elements, the model's n_embd is 64" "$T/e6" || fail "wrong size message: $(cat "$T/e6")"
"$PONDER" run -m "$M" -p "Hello" -n 4 --policy "steer:scale=2" 2> "$T/e7" > /dev/null; [ $? = 2 ] || fail "no file exit"
grep -q 'file=FILE' "$T/e7" || fail "no file message: $(cat "$T/e7")"
echo "ok"
