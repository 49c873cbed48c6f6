#!/bin/bash
# tests/cli/test_safety.sh — "never lose work or data" and "report only what happened" (issue 9), one
# check per class, on a tiny model trained here (no fixtures needed):
#   no verb writes over its own input; outputs checked before the work starts; every write checked
#   (files and standard output, /dev/full); partial files never under the final name; quantize refuses
#   checkpoints/adapters and converting nothing; resume refuses flags the checkpoint fixes and a
#   finished schedule (no "wrote" line); no target tokens and a NaN loss stop the run.
# Run: bash tests/cli/test_safety.sh PONDER
set -u
P=${1:?usage: test_safety.sh /path/to/ponder}
T=$(mktemp -d /tmp/ponder_safety.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
# name, expected exit code (or "nz" for any non-zero), stderr pattern, args... ; stdout goes to $T/out
expect() {
  local name=$1 code=$2 pat=$3; shift 3
  "$P" "$@" >"$T/out" 2>"$T/err"; local rc=$?
  if { [ "$code" = nz ] && [ $rc -eq 0 ]; } || { [ "$code" != nz ] && [ $rc -ne "$code" ]; } || ! grep -q -- "$pat" "$T/err"; then
    bad "$name: rc=$rc err='$(head -c 400 "$T/err")'"
  else ok "$name"; fi
}
same() { cmp -s "$1" "$2" && ok "$3" || bad "$3"; }
absent() { [ ! -e "$1" ] && ok "$2" || bad "$2 ($1 exists)"; }
nowrote() { grep -q "wrote" "$T/out" && bad "$1: printed '$(grep wrote "$T/out")'" || ok "$1"; }

TINY="--task arith-add --difficulty 1 --dim 32 --layers 1 --heads 2 --kv-heads 1 --ffn 64 --batch 2 --seq 96 --seed 5 --threads 1 --eval-n 0"
"$P" train $TINY --steps 3 --plot none --quiet --out "$T/m.gguf" >/dev/null 2>"$T/err" || { echo "FAIL training: $(cat "$T/err")"; exit 1; }
FT="-m $T/m.gguf --adapter lora --task arith-add --difficulty 1 --batch 2 --seq 96 --eval-n 0 --plot none --threads 1 --quiet"
"$P" finetune $FT --steps 2 --out "$T/a.gguf" >/dev/null 2>"$T/err" || { echo "FAIL finetune: $(cat "$T/err")"; exit 1; }

# ---- no verb writes over its own input ----
cp "$T/a.gguf.ckpt" "$T/keep.ck"; cp "$T/a.gguf.ckpt" "$T/orig.ck"
expect "finetune --resume X (no .ckpt) refuses to derive --out = X" 2 "--out is needed" finetune --resume "$T/keep.ck" --steps 3
same "$T/keep.ck" "$T/orig.ck" "the checkpoint X is unchanged"
expect "finetune --out = the checkpoint resumed from" 2 "is the input --resume" finetune --resume "$T/keep.ck" --out "$T/keep.ck" --steps 3
same "$T/keep.ck" "$T/orig.ck" "and still unchanged"
expect "finetune --out = the base" 2 "is the input -m" finetune $FT --steps 1 --out "$T/m.gguf"
cp "$T/m.gguf" "$T/m0.gguf"
expect "train --resume, --out = the checkpoint" 2 "is the input --resume" train --resume "$T/m.gguf.ckpt" --out "$T/m.gguf.ckpt"
expect "quantize IN IN" 2 "is the input IN" quantize "$T/m.gguf" "$T/m.gguf" q8_0
same "$T/m.gguf" "$T/m0.gguf" "the model is unchanged"
expect "merge over the base" 2 "is the input BASE" merge "$T/m.gguf" "$T/a.gguf" "$T/m.gguf"
expect "merge over the adapter" 2 "is the input ADAPTER" merge "$T/m.gguf" "$T/a.gguf" "$T/a.gguf"
expect "logits --out = the model" 2 "is the input -m" logits -m "$T/m.gguf" --tokens 1,2 --out "$T/m.gguf"
expect "train --log = --out" 2 "name the same file" train $TINY --steps 1 --out "$T/n.gguf" --log "$T/n.gguf"
expect "train --data = --out" 2 "is the input --data" train --data "$T/m.gguf" --steps 1 --out "$T/m.gguf"
expect "eval --out = the model" 2 "is the input -m" eval -m "$T/m.gguf" --task arith-add --n 1 --out "$T/m.gguf"
"$P" tasks gen --task arith-add --n 3 --out "$T/items.jsonl" 2>/dev/null; cp "$T/items.jsonl" "$T/items0.jsonl"
expect "tasks score --out = the items" 2 "is the input ITEMS" tasks score "$T/items.jsonl" "$T/items.jsonl" --out "$T/items.jsonl"
same "$T/items.jsonl" "$T/items0.jsonl" "the items are unchanged"
same "$T/m.gguf" "$T/m0.gguf" "the model is still unchanged"

# ---- every output is checked before the work starts (nothing trained, no log written) ----
expect "train --out in a missing folder" 1 "folder '$T/nope' does not exist" \
  train $TINY --steps 200 --log "$T/pre.jsonl" --out "$T/nope/t.gguf"
absent "$T/pre.jsonl" "... fails before step 1 (no log)"
expect "train --log in a missing folder" 1 "--log: cannot create" train $TINY --steps 200 --log "$T/nope/l.jsonl" --out "$T/t.gguf"
absent "$T/t.gguf.ckpt" "... nothing trained"
mkdir "$T/dir"
expect "train --plot is a directory" 1 "is a directory" train $TINY --steps 200 --plot "$T/dir" --out "$T/t.gguf"
expect "train --records in a missing folder" 1 "--records: cannot create" \
  train $TINY --steps 200 --report 1 --records "$T/nope/r.jsonl" --out "$T/t.gguf"
expect "finetune --out in a missing folder" 1 "does not exist" finetune $FT --steps 200 --out "$T/nope/a.gguf"
expect "quantize OUT in a missing folder" 1 "does not exist" quantize "$T/m.gguf" "$T/nope/q.gguf" q8_0
expect "logits --out in a missing folder" 1 "does not exist" logits -m "$T/m.gguf" --tokens 1,2 --out "$T/nope/l.f32"
expect "eval --out in a missing folder" 1 "--out: cannot create" eval -m "$T/m.gguf" --task arith-add --n 1 --out "$T/nope/e.jsonl"
expect "eval --report in a missing folder" 1 "--report: cannot create" eval -m "$T/m.gguf" --task arith-add --n 1 --report "$T/nope/e.svg"
expect "tasks gen --out in a missing folder" 1 "--out: cannot create" tasks gen --task arith-add --n 1 --out "$T/nope/i.jsonl"
absent "$T/t.gguf" "no partial output anywhere"

# ---- every write checked: files and standard output on a full disk (/dev/full) ----
# Files go to a symlink to /dev/full: a writer that renamed a temp file over its target (as the GGUF
# writer did) replaces the link in $T, never the device node itself (run as root it would).
if [ -c /dev/full ] && [ -w /dev/full ]; then
  F="$T/full"; ln -s /dev/full "$F"
  expect "tasks gen > /dev/full" 1 "write" tasks gen --task arith-add --n 5 --out "$F"
  "$P" tasks gen --task arith-add --n 5 >/dev/full 2>"$T/err"; [ $? -ne 0 ] && grep -q "writ" "$T/err" \
    && ok "tasks gen stdout > /dev/full" || bad "tasks gen stdout > /dev/full exits 0 or says nothing"
  "$P" run -m "$T/m.gguf" -p hi -n 4 --temp 0 --json >/dev/full 2>"$T/err"; [ $? -ne 0 ] && grep -q "writ" "$T/err" \
    && ok "run --json > /dev/full" || bad "run --json > /dev/full: $(cat "$T/err")"
  "$P" inspect "$T/m.gguf" >/dev/full 2>"$T/err"; [ $? -ne 0 ] && ok "inspect > /dev/full" || bad "inspect > /dev/full exits 0"
  "$P" train --help >/dev/full 2>"$T/err"; [ $? -ne 0 ] && ok "train --help > /dev/full" || bad "train --help > /dev/full exits 0"
  expect "eval --out /dev/full" nz "" eval -m "$T/m.gguf" --task arith-add --difficulty 1 --n 2 -n 4 --temp 0 --out "$F"
  expect "train --log /dev/full" 1 "step log failed" train $TINY --steps 2 --plot none --quiet --log "$F" --out "$T/f.gguf"
  nowrote "... and no 'wrote' line"
  expect "quantize to /dev/full" 1 "write failed" quantize "$T/m.gguf" "$F" q8_0
  expect "logits --out /dev/full" 1 "write failed" logits -m "$T/m.gguf" --tokens 1,2 --out "$F"
  expect "merge to /dev/full" 1 "write failed" merge "$T/m.gguf" "$T/a.gguf" "$F"
  [ -c /dev/full ] || bad "/dev/full is no longer a device"
else
  echo "SKIPPED: /dev/full checks (no writable /dev/full character device)"
fi

# ---- quantize: checkpoints and adapters refused; nothing to convert is an error, no file ----
expect "quantize a training checkpoint" 1 "training checkpoint" quantize "$T/m.gguf.ckpt" "$T/q.gguf" q8_0
expect "quantize a fine-tuning checkpoint" 1 "training checkpoint" quantize "$T/a.gguf.ckpt" "$T/q.gguf" q8_0
expect "quantize an adapter" 1 "is an adapter" quantize "$T/a.gguf" "$T/q.gguf" q8_0
absent "$T/q.gguf" "... none written"
"$P" quantize "$T/m.gguf" "$T/q8.gguf" q8_0 >"$T/out" 2>"$T/err" && ok "quantize f32 -> q8_0" || bad "quantize: $(cat "$T/err")"
expect "quantize an already-q8_0 model to q8_0" 1 "nothing to convert" quantize "$T/q8.gguf" "$T/q8b.gguf" q8_0
absent "$T/q8b.gguf" "... no identical copy written"
expect "quantize an already-quantised model to Q4_K_M" 1 "already quantised to another type" quantize "$T/q8.gguf" "$T/q4k.gguf" Q4_K_M
absent "$T/q4k.gguf" "... nothing written"

# ---- resume: flags the checkpoint fixes are errors; a finished schedule writes nothing ----
for fl in "--lr 0.1" "--batch 4" "--seq 64" "--task arith-mul" "--data $T/m.gguf" "--seed 3" "--dim 64" "--difficulty 2"; do
  expect "train --resume with ${fl%% *}" 2 "^ponder train: ${fl%% *}: a resumed run takes it from the checkpoint" \
    train --resume "$T/m.gguf.ckpt" $fl
done
expect "finetune --resume with --rank" 2 "^ponder finetune: --rank: a resumed run" finetune --resume "$T/a.gguf.ckpt" --rank 4
cp "$T/m.gguf" "$T/m1.gguf"
expect "train --resume at the schedule's end" 1 "nothing to do" train --resume "$T/m.gguf.ckpt" --quiet
nowrote "... prints no 'wrote' line"
expect "train --resume --steps N <= checkpoint step" 1 "at step 3" train --resume "$T/m.gguf.ckpt" --steps 2 --quiet
nowrote "... prints no 'wrote' line"
same "$T/m.gguf" "$T/m1.gguf" "... the model is untouched"
expect "finetune --resume at the schedule's end" 1 "nothing to do" finetune --resume "$T/a.gguf.ckpt" --quiet
nowrote "... prints no 'wrote' line"
expect "train --resume --steps past the schedule says so" 0 "schedule stays the checkpoint's (3 steps)" \
  train --resume "$T/m.gguf.ckpt" --steps 4 --plot none --quiet
grep -q "wrote $T/m.gguf " "$T/out" && [ -s "$T/m.gguf" ] && ok "... wrote line names a file that exists" || bad "wrote line"
# ---- flags that would be accepted and then ignored are errors naming the flag ----
expect "finetune --alpha with pissa" 2 "^ponder finetune: --alpha: not used by --adapter pissa" finetune $FT --adapter pissa --alpha 4 --steps 1 --out "$T/x.gguf"
expect "finetune --tau with lora" 2 "^ponder finetune: --tau: not used by --adapter lora" finetune $FT --tau 0.5 --steps 1 --out "$T/x.gguf"
expect "finetune --svd with lora" 2 "^ponder finetune: --svd: not used" finetune $FT --svd jacobi --steps 1 --out "$T/x.gguf"
expect "finetune --rank with soka" 2 "^ponder finetune: --rank: not used by --adapter soka" finetune $FT --adapter soka --rank 4 --steps 1 --out "$T/x.gguf"
expect "finetune --calib without --soka-init update" 2 "^ponder finetune: --calib: not used" finetune $FT --adapter soka --calib 2 --steps 1 --out "$T/x.gguf"
expect "train --difficulty with --data" 2 "^ponder train: --difficulty: it applies to --task" train --data "$T/m.gguf" --difficulty 2 --steps 1 --out "$T/x.gguf"
expect "train --strict with --task" 2 "^ponder train: --strict: it applies to --data" train $TINY --strict --steps 1 --out "$T/x.gguf"
expect "logits --adapter-scale without --adapter" 2 "^ponder logits: --adapter-scale" logits -m "$T/m.gguf" --tokens 1,2 --adapter-scale 0.5 --top 1
# a run resumed from an earlier checkpoint logs the steps after it again: the log keeps each step once
"$P" train $TINY --steps 2 --plot none --quiet --log "$T/j.jsonl" --out "$T/j.gguf" >/dev/null 2>&1
cp "$T/j.gguf.ckpt" "$T/j2.ckpt"
"$P" train --resume "$T/j.gguf.ckpt" --steps 4 --plot none --quiet --log "$T/j.jsonl" >/dev/null 2>&1
cp "$T/j2.ckpt" "$T/j.gguf.ckpt"   # back to step 2, as if the run had been interrupted after it
"$P" train --resume "$T/j.gguf.ckpt" --steps 4 --plot none --quiet --log "$T/j.jsonl" >/dev/null 2>&1
[ "$(grep -c '"loss"' "$T/j.jsonl")" = 4 ] && [ "$(grep -c '^{"step":3,"loss"' "$T/j.jsonl")" = 1 ] \
  && ok "resumed step log holds each step once" || bad "resumed step log: $(grep -o '^{"step":[0-9]*,"[a-z]*' "$T/j.jsonl" | tr '\n' ' ')"
expect "train --report with --data" 2 "does not apply to --data" train --data "$T/m.gguf.ckpt" --report 1 --steps 1 --out "$T/d.gguf"
expect "train --records without --report" 2 "give --report too" train $TINY --steps 1 --records "$T/r.jsonl" --out "$T/d.gguf"

# ---- the run stops on what would make it meaningless ----
expect "no target tokens (--seq 4)" 1 "no tokens to learn from" train ${TINY/--seq 96/--seq 4} --steps 5 --out "$T/s.gguf"
absent "$T/s.gguf" "... nothing written"
PD_TEST_NAN_AT_STEP=2 "$P" train $TINY --steps 4 --plot none --quiet --out "$T/nan.gguf" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "step 2: the loss is nan" "$T/err" && grep -q "blk.0.attn_norm.weight" "$T/err" \
  && ok "a NaN loss stops the run naming the step and the tensor" || bad "NaN: rc=$rc err='$(cat "$T/err")'"
nowrote "... no 'wrote' line"
absent "$T/nan.gguf" "... no model written"

exit $fail
