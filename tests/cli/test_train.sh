#!/bin/bash
# tests/cli/test_train.sh — `ponder train` end to end on a tiny model: flags and usage errors, the
# step log, the loss plot, a checkpoint that the inference path (`ponder inspect`, `ponder run`)
# loads, --resume, a config file, and a clear error for a truncated checkpoint.
set -u
P=${1:?usage: test_train.sh path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$P" train --help | grep -q -- "--resume" || fail "--help lists the flags"
"$P" train --out "$T/x.gguf" 2>"$T/err"; [ $? -eq 2 ] || fail "no data source is a usage error (exit 2)"
grep -q "^ponder train: " "$T/err" || fail "usage error is one 'ponder train:' line"
"$P" train --task arith-add --out "$T/x.gguf" --dim abc 2>/dev/null; [ $? -eq 2 ] || fail "bad number is a usage error"
"$P" train --task no-such-task --out "$T/x.gguf" --steps 1 --quiet 2>"$T/err"; [ $? -eq 1 ] || fail "unknown task exits 1"
grep -q "no-such-task" "$T/err" || fail "unknown task is named"

TINY="--task arith-add --difficulty 1 --dim 32 --layers 1 --heads 2 --kv-heads 1 --ffn 64 --batch 2 --seq 96 --seed 5 --threads 1"
"$P" train $TINY --steps 6 --eval-n 4 --max-new 40 --log "$T/steps.jsonl" --out "$T/m.gguf" --quiet >"$T/out" \
    || fail "training run: $(cat "$T/out")"
grep -q "trained .* parameters for 6 steps" "$T/out" || fail "summary line: $(cat "$T/out")"
[ "$(grep -c '"loss"' "$T/steps.jsonl")" -eq 6 ] || fail "one log line per step"
grep -q '"step":6,"eval":true,"heldout_loss":[0-9.]*,"accuracy":' "$T/steps.jsonl" || fail "eval line in the log"
grep -q '"grad_norm":' "$T/steps.jsonl" && grep -q '"tokens_per_s":' "$T/steps.jsonl" && grep -q '"lr":' "$T/steps.jsonl" \
    || fail "step lines carry lr, grad_norm, tokens_per_s"
head -c 4 "$T/m.gguf.loss.svg" | grep -q "<svg" || fail "loss plot written"
"$P" inspect "$T/m.gguf" >"$T/insp" || fail "inspect loads the model"
grep -q "qwen3" "$T/insp" || fail "model architecture"
grep -q "opt.m.token_embd.weight" "$T/insp" && fail "the model file carries no optimizer state"
"$P" inspect "$T/m.gguf.ckpt" >"$T/insp" || fail "inspect loads the checkpoint"
grep -q "ponder.train.step" "$T/insp" && grep -q "opt.m.token_embd.weight" "$T/insp" \
    || fail "checkpoint keys and optimizer tensors"

# resume continues from step 6 to 8 with the saved settings
"$P" train --resume "$T/m.gguf.ckpt" --steps 8 --plot "$T/r.png" --quiet >"$T/out" || fail "resume: $(cat "$T/out")"
[ "$(head -c 8 "$T/r.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "--plot FILE.png writes a PNG"
grep -q "for 8 steps" "$T/out" || fail "resumed run reaches step 8: $(cat "$T/out")"
"$P" inspect "$T/m.gguf.ckpt" | grep "ponder.train.step" | grep -q "8" || fail "step 8 saved"

# the model loads and generates in ponder run
"$P" run -m "$T/m.gguf" -p "What is 1+2?" --temp 0 -n 8 >"$T/run" 2>&1 || fail "ponder run loads the model: $(cat "$T/run")"

# config file (flags with or without dashes, '#' comments); the command line overrides it
printf '# tiny run\ntask arith-add\ndifficulty 1\ndim 32\nlayers 1\nheads 2\n--kv-heads 1\nffn 64\nbatch 2\nseq 96\nsteps 50\n' >"$T/cfg"
"$P" train --config "$T/cfg" --steps 2 --eval-n 0 --out "$T/c.gguf" --plot none --quiet >"$T/out" || fail "config: $(cat "$T/out")"
grep -q "for 2 steps" "$T/out" || fail "command line overrides the config file"
[ ! -e "$T/c.gguf.loss.svg" ] || fail "--plot none writes no plot"

# --attn-window S,R (a local training window): bad values exit 2; kept in the checkpoint; fixed on resume
for w in 4 4, ,8 0,8 8,0 -1,8 4,8x 4,8,mix 0,0,mixed; do
    "$P" train --config "$T/cfg" --steps 1 --eval-n 0 --out "$T/w.gguf" --attn-window "$w" --quiet 2>"$T/err"
    [ $? -eq 2 ] || fail "--attn-window $w exits 2"
done
grep -q "attn-window" "$T/err" || fail "the window error names the flag: $(cat "$T/err")"
"$P" train --config "$T/cfg" --steps 2 --eval-n 0 --out "$T/w.gguf" --plot none --attn-window 8,16 --quiet >"$T/out" ||
    fail "--attn-window 8,16: $(cat "$T/out")"
grep -q '"attn_sink":8,"attn_recent":16' <(tr -d ' \t\n' <"$T/w.gguf.ckpt" | grep -ao '"attn_sink":[0-9]*,"attn_recent":[0-9]*') ||
    fail "the checkpoint keeps the window"
"$P" train --config "$T/cfg" --steps 2 --eval-n 0 --out "$T/wm.gguf" --plot none --attn-window 8,16,mixed --quiet >"$T/out" ||
    fail "--attn-window 8,16,mixed: $(cat "$T/out")"
tr -d ' \t\n' <"$T/wm.gguf.ckpt" | grep -aq '"attn_recent":16,"attn_mix":1' || fail "the checkpoint keeps the mixed window"
"$P" train --resume "$T/w.gguf.ckpt" --attn-window 8,16 --quiet 2>"$T/err"; [ $? -eq 2 ] || fail "--attn-window with --resume exits 2"

# a truncated checkpoint is a clear error naming the file
head -c 3000 "$T/m.gguf.ckpt" >"$T/bad.gguf.ckpt"
"$P" train --resume "$T/bad.gguf.ckpt" --quiet 2>"$T/err"; [ $? -eq 1 ] || fail "truncated checkpoint exits 1"
grep -q "bad.gguf" "$T/err" || fail "error names the file: $(cat "$T/err")"
echo "ok"
