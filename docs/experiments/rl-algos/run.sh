#!/bin/bash
# docs/experiments/rl-algos/run.sh — GRPO vs Dr. GRPO vs DAPO vs RLOO from one SFT model (README.md).
# Usage: bash docs/experiments/rl-algos/run.sh path/to/ponder [outdir]   (~15 CPU-minutes in all)
# The recorded runs started from the step-1000 checkpoint of a 1200-step SFT run (cosine schedule over
# 1200 steps, same flags otherwise); this script trains 1000 steps, so its SFT model differs slightly.
set -eu
P=${1:?usage: run.sh path/to/ponder [outdir]}
O=${2:-rl-algos-out}
mkdir -p "$O"
"$P" train --task arith-add --difficulty 1-2 --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 192 --batch 8 \
    --seq 128 --steps 1000 --lr 3e-3 --threads 1 --eval-n 0 --plot none --out "$O/sft.gguf"
for a in grpo drgrpo dapo rloo; do
  "$P" rl -m "$O/sft.gguf" --task arith-add --difficulty 2 --algo $a --group 8 --prompts 8 --steps 50 --lr 5e-5 \
      --temp 0.7 --max-tokens 128 --seed 1 --threads 1 --eval-every 10 --eval-n 100 --max-new 128 \
      --log "$O/exp-$a.jsonl" --plot "$O/exp-$a.svg" --out "$O/exp-$a.gguf" --quiet
done
