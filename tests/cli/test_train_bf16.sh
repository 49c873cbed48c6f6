#!/bin/bash
# tests/cli/test_train_bf16.sh — `--precision f32|bf16` (mixed-precision training): bad values are usage
# errors naming the flag; a bf16 run trains (losses close to f32's, not equal), says once on a CPU
# without AVX512-BF16 that there is no speed-up, keeps the precision in its checkpoint and resumes with
# it (giving the flag with --resume is an error: the checkpoint fixes it); finetune and rl list it.
set -u
P=${1:?usage: test_train_bf16.sh path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

TINY="--task arith-add --difficulty 1 --dim 32 --layers 1 --heads 2 --kv-heads 1 --ffn 64 --batch 2 --seq 96 --seed 5 --threads 1 --eval-n 0 --plot none --quiet"
for v in fp16 BF16 "" bf16x; do
    "$P" train $TINY --steps 1 --out "$T/x.gguf" --precision "$v" 2>"$T/err"; [ $? -eq 2 ] || fail "--precision '$v' exits 2"
    grep -q -- "--precision" "$T/err" || fail "the error names the flag: $(cat "$T/err")"
done
"$P" train --help | grep -q -- "--precision P" || fail "train --help lists --precision"
"$P" finetune --help | grep -q -- "--precision" || fail "finetune --help lists --precision"
"$P" rl --help | grep -q -- "--precision" || fail "rl --help lists --precision"
"$P" train $TINY --precision bf16 --steps 2 --out "$T/d.gguf" --dry-run 2>/dev/null | tr -d ' \t\n' | grep -q '"precision":"bf16"' ||
    fail "--dry-run shows the precision"

"$P" train $TINY --steps 3 --log "$T/f.jsonl" --out "$T/f.gguf" >"$T/out" 2>"$T/err" || fail "f32 run: $(cat "$T/err")"
grep -q "BF16" "$T/err" && fail "an f32 run says nothing about BF16"
"$P" train $TINY --steps 3 --precision bf16 --log "$T/b.jsonl" --out "$T/b.gguf" >"$T/out" 2>"$T/err" || fail "bf16 run: $(cat "$T/err")"
grep -q "trained .* parameters for 3 steps" "$T/out" || fail "bf16 summary: $(cat "$T/out")"
if grep -q avx512_bf16 /proc/cpuinfo 2>/dev/null; then
    grep -q "no BF16 speed-up" "$T/err" && fail "a CPU with AVX512-BF16 gets no 'no speed-up' note"
else
    [ "$(grep -c "no BF16 speed-up" "$T/err")" -eq 1 ] || fail "one 'no BF16 speed-up' note on this CPU: $(cat "$T/err")"
fi
# step 1's loss: close to f32's (same weights, BF16 matmuls), but not the same number
python3 - "$T/f.jsonl" "$T/b.jsonl" <<'PY' || fail "bf16 step-1 loss vs f32"
import json, sys
f = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l][0]["loss"]
b = [json.loads(l) for l in open(sys.argv[2]) if '"loss"' in l][0]["loss"]
assert f != b and abs(f - b) < 0.01 * f, (f, b)
PY
tr -d ' \t\n' <"$T/b.gguf.ckpt" | grep -aq '"precision":"bf16"' || fail "the checkpoint keeps the precision"
tr -d ' \t\n' <"$T/f.gguf.ckpt" | grep -aq '"precision"' && fail "an f32 checkpoint has no precision key (f32 is the default)"
"$P" train --resume "$T/b.gguf.ckpt" --precision f32 --steps 4 --quiet 2>"$T/err"; [ $? -eq 2 ] || fail "--precision with --resume exits 2"
"$P" train --resume "$T/b.gguf.ckpt" --steps 4 --quiet >"$T/out" 2>"$T/err" || fail "bf16 resume: $(cat "$T/err")"
grep -q "for 4 steps" "$T/out" || fail "resumed to step 4: $(cat "$T/out")"
tr -d ' \t\n' <"$T/b.gguf.ckpt" | grep -aq '"precision":"bf16"' || fail "the resumed run stays bf16"
if ! grep -q avx512_bf16 /proc/cpuinfo 2>/dev/null; then
    grep -q "no BF16 speed-up" "$T/err" || fail "the resumed run is bf16 (its note): $(cat "$T/err")"
fi
echo "ok"
