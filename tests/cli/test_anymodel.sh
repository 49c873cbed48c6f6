#!/bin/bash
# tests/cli/test_anymodel.sh — `ponder train -m` and `ponder finetune` on models ponder did not make
# (fixtures with real vocabularies), from SFT JSONL in TRL's formats: the written model / adapter
# loads in `ponder run`, the prompt keeps the original model's tokens, and malformed lines are
# reported by line number (skipped, or fatal with --strict).
set -u
P=${1:?usage: test_anymodel.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
M=$FX/models
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$T/sft.jsonl" <<'JSONL'
{"messages":[{"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4","reasoning_content":"Two plus two."}]}
{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Double 3."},{"role":"assistant","content":"<think>\nTwice 3.\n</think>\n\n6"}]}
{"prompt":[{"role":"user","content":"3 times two?"}],"completion":[{"role":"assistant","content":"6"}]}
{"prompt":"The sky is","completion":" blue."}
{"messages":[{"role":"user","content":"What is 1+1?"},{"role":"assistant","content":"2"}]}
JSONL
COMMON="--data $T/sft.jsonl --steps 3 --batch 2 --seq 48 --eval-n 0 --plot none --threads 1 --quiet"

# full SFT of tiny-qwen3: the model keeps its vocabulary and chat template
"$P" train -m "$M/tiny-qwen3.gguf" $COMMON --out "$T/q3.gguf" >"$T/out" 2>"$T/err" || fail "train -m: $(cat "$T/err")"
grep -q "trained .* parameters for 3 steps" "$T/out" || fail "summary line: $(cat "$T/out")"
"$P" run -m "$T/q3.gguf" -p "What is 2+2?" -n 4 --temp 0 --json >"$T/a.json" || fail "run on the trained model"
"$P" run -m "$M/tiny-qwen3.gguf" -p "What is 2+2?" -n 4 --temp 0 --json >"$T/b.json" || fail "run on the original"
python3 - "$T/a.json" "$T/b.json" <<'PY' || fail "prompt tokens differ between the trained model and the original"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["usage"]["prompt_tokens"] == b["usage"]["prompt_tokens"] > 5, (a["usage"], b["usage"])
PY
"$P" inspect "$T/q3.gguf" >"$T/insp" || fail "inspect the trained model"
grep -q "<think>" "$T/insp" || grep -q "qwen3" "$T/insp" || fail "inspect shows the qwen3 model"

# shape flags with -m would be silently overridden by the model's own config: an error naming the flag
for fl in "--dim 64" "--layers 2" "--ctx 64" "--untied"; do
    "$P" train -m "$M/tiny-qwen3.gguf" $fl $COMMON --out "$T/shape.gguf" >"$T/out" 2>"$T/err"
    [ $? -eq 2 ] || fail "train -m with $fl: expected usage error 2"
    grep -q -- "${fl%% *}: the model given with -m" "$T/err" || fail "train -m with $fl: message $(cat "$T/err")"
    [ ! -e "$T/shape.gguf" ] || fail "train -m with $fl wrote a model"
done

# LoRA on the Q8_0 tiny-llama (frozen in its stored type); the adapter loads with run --adapter
"$P" finetune -m "$M/tiny-llama-q8_0.gguf" --adapter lora --targets all --rank 4 $COMMON --out "$T/lora.gguf" \
    >"$T/out" 2>"$T/err" || fail "finetune on a Q8_0 base: $(cat "$T/err")"
[ -s "$T/lora.gguf" ] || fail "adapter written"
"$P" run -m "$M/tiny-llama-q8_0.gguf" --adapter "$T/lora.gguf" -p "What is 2+2?" -n 4 --temp 0 --json >"$T/c.json" \
    || fail "run with the adapter"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/c.json" || fail "run --json parses"

# full training takes F32/F16/BF16/Q8_0 weights only; K-quants point to adapters
"$P" train -m "$M/tiny-llama256-q4_k.gguf" $COMMON --out "$T/x.gguf" 2>"$T/err"; [ $? -eq 1 ] || fail "Q4_K full training exits 1"
grep -q "adapter" "$T/err" || fail "Q4_K refusal suggests an adapter: $(cat "$T/err")"

# a malformed line is reported with its number and skipped; --strict makes it fatal
{ cat "$T/sft.jsonl"; echo '{"messages":[{"role":"user","content":"q"}]}'; cat "$T/sft.jsonl"; } >"$T/bad.jsonl"
"$P" train -m "$M/tiny-qwen3.gguf" $COMMON --data "$T/bad.jsonl" --out "$T/y.gguf" >/dev/null 2>"$T/err" \
    || fail "a bad line is skipped: $(cat "$T/err")"
grep -q "bad.jsonl: line 6: .*assistant reply.*(skipped)" "$T/err" || fail "warning names the line: $(cat "$T/err")"
"$P" train -m "$M/tiny-qwen3.gguf" $COMMON --data "$T/bad.jsonl" --strict --out "$T/y.gguf" >/dev/null 2>"$T/err"
[ $? -eq 1 ] || fail "--strict: a bad line exits 1"
grep -q "^ponder train: .*bad.jsonl: line 6: " "$T/err" || fail "--strict error names the line: $(cat "$T/err")"
echo "ok"
