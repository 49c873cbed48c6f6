#!/bin/bash
# docs/experiments/rl-methods/memory/run.sh — GRPO vs GRPO + Memory-R+ (training.md §8) on countdown
# (3 numbers) from a tiny answers-only model (scripts/r1zero.sh's base: 2 layers, dim 64, byte vocab,
# ~0.1M parameters, pretrained on countdown answers without reasoning). Per arm and seed: S steps of
# 4 prompts x 8 samples, T 1, up to 32 new tokens, lr 3e-4, reward = countdown verifier (1 / 0.1 / 0)
# + 0.5 format; Memory-R+ adds exploit + explore (k 1, window 100, exploration after 100 failure
# questions — the paper's 500 scaled to this run's ~300 distinct questions [P]).
# Usage: bash run.sh path/to/ponder BASE.gguf OUT_DIR [STEPS] [SEEDS...]
#   (MEM_TASK / MEM_DIFF: another task and difficulty, e.g. arith-add 2 with scripts/r1zero.sh's arith base)
set -eu
P=${1:?usage}; BASE=${2:?usage}; O=${3:?usage}; S=${4:-80}; shift 4 || true
SEEDS=("$@"); [ ${#SEEDS[@]} -gt 0 ] || SEEDS=(1 2)
mkdir -p "$O"
C=(--task "${MEM_TASK:-countdown}" --difficulty "${MEM_DIFF:-3}" --algo grpo --group 8 --prompts 4 --steps "$S" --lr 3e-4 --temp 1 --max-tokens 32
   --format-reward 0.5 --threads 1 --eval-every 20 --eval-n 50 --max-new 32 --quiet)
for s in "${SEEDS[@]}"; do
  "$P" rl -m "$BASE" "${C[@]}" --seed "$s" --log "$O/grpo-s$s.jsonl" --plot "$O/grpo-s$s.svg" --out "$O/grpo-s$s.gguf" &
  "$P" rl -m "$BASE" "${C[@]}" --seed "$s" --memory-reward rplus --mem-explore-after 100 \
      --log "$O/memrplus-s$s.jsonl" --plot "$O/memrplus-s$s.svg" --out "$O/memrplus-s$s.gguf" &
done
wait
