#!/bin/bash
# docs/experiments/rl-methods/shape/run.sh — the small-scale runs of the rl_shape methods (training.md §4,
# §7a, §7b). Model: the demo-rl 0.1M-parameter qwen3-layout byte model, SFT'd 400 more steps on arith-add
# difficulty 1-2 traces with 0-1 verbose re-checks ("Wait, let me double-check. ..."; `ponder tasks gen --overthink 1
# --detour 0`), so that there is redundancy to remove and reflection markers to count. From it, per seed:
# grpo, grpo + SLPO, grpo + the dual redundancy penalty, nsr, psr, dsrl (15 NSR-PreRL steps, then grpo),
# each STEPS steps of 8 prompts x 8 samples (temperature 1, lr 1e-4, 160 new tokens), then held-out
# `ponder eval` with 16 samples per item (pass@k, tokens, markers) and greedy accuracy.
# Usage: bash run.sh PONDER OUTDIR [SEEDS...]   (nice -n 19; one thread per run, runs two at a time)
set -eu
P=$1; O=$2; shift 2
SEEDS=${*:-3 4}
STEPS=${STEPS:-30}
mkdir -p "$O"
# BASE: `make demo-rl`'s rl-final.gguf (0.1M-parameter qwen3 byte model, arith-add, ~25-28% on difficulty 2)
if [ ! -s "$O/sft.gguf" ]; then
  "$P" tasks gen --task arith-add --difficulty 1-2 --n 6000 --overthink 1 --detour 0 --split train --seed 7 --out "$O/ot.jsonl"
  nice -n 19 "$P" train -m "${BASE:?BASE=the demo-rl model}" --data "$O/ot.jsonl" --seq 256 --batch 8 --steps 400 \
    --lr 1e-3 --seed 1 --threads 2 --eval-n 0 --plot none --quiet --log "$O/sft-steps.jsonl" --out "$O/sft.gguf"
fi
common=(-m "$O/sft.gguf" --task arith-add --difficulty 1-2 --group 8 --prompts 8 --max-tokens 160 --lr 1e-4
        --temp 1 --threads 1 --steps "$STEPS" --eval-every 10 --eval-n 60 --max-new 160 --plot none --quiet)
declare -A ARGS=([grpo]="--algo grpo" [slpo]="--algo grpo --length-reward slpo" \
  [red]="--algo grpo --redundancy-penalty 1" [nsr]="--algo nsr" [psr]="--algo psr" [dsrl]="--algo dsrl --switch-step 15" [dsrl5]="--algo dsrl --switch-step 5" [wr]="--algo w-reinforce --psr-weight 0.1")
METHODS=${METHODS:-grpo slpo red nsr psr dsrl}
evals() { # NAME MODEL
  nice -n 19 "$P" eval -m "$2" --task arith-add --difficulty 1-2 --n 25 --samples 16 --temp 1 --top-k 0 --top-p 1 \
    -n 160 --seed 11 --threads 1 --parallel 64 --out "$O/$1.samples.jsonl" > /dev/null 2>&1
  nice -n 19 "$P" eval -m "$2" --task arith-add --difficulty 1-2 --n 60 --temp 0 -n 160 --threads 1 \
    --out "$O/$1.greedy.jsonl" > /dev/null 2>&1
}
jobs=()
for s in $SEEDS; do
  for m in $METHODS; do
    [ -s "$O/$m-s$s.gguf" ] && continue
    ( nice -n 19 "$P" rl "${common[@]}" ${ARGS[$m]} --seed "$s" --log "$O/$m-s$s.jsonl" --out "$O/$m-s$s.gguf" \
        > "$O/$m-s$s.out" 2>&1 && evals "$m-s$s" "$O/$m-s$s.gguf" ) &
    jobs+=($!)
    if [ ${#jobs[@]} -ge 2 ]; then wait "${jobs[0]}"; jobs=("${jobs[@]:1}"); fi
  done
done
wait
[ -s "$O/sft.samples.jsonl" ] || evals sft "$O/sft.gguf"
