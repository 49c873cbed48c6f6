#!/bin/bash
# docs/experiments/rl-methods/tree/run.sh — the small-scale tests of training.md §5 (Elastic) and §6
# (AnytimeReasoner / BRPO) on a ponder-trained 115K-parameter arith-add model (see README.md here).
# Usage: bash run.sh path/to/ponder OUTDIR   (every run at nice 19, 1 thread; runs go in parallel)
set -eu
P=${1:?usage: run.sh path/to/ponder OUTDIR}
O=${2:?usage: run.sh path/to/ponder OUTDIR}
mkdir -p "$O"
cd "$O"
N="nice -n 19"
# 1. the starting model: SFT on arith-add difficulty 1-2 traces (the demo's recipe, 1500 steps)
[ -s sft.gguf ] || $N "$P" train --task arith-add --difficulty 1-2 --arch qwen3 --dim 64 --layers 2 --heads 4 \
  --kv-heads 2 --ffn 192 --batch 8 --seq 128 --steps 1500 --lr 3e-3 --seed 1 --threads 1 --eval-n 0 --plot none \
  --log sft-steps.jsonl --out sft.gguf --quiet
# 2. RL from it, 2 seeds per method, same prompts per step, lr, temperature and reward (verifier + 0.5 partial)
STEPS=${STEPS:-40}
C=(-m sft.gguf --task arith-add --difficulty 2 --prompts 8 --lr 1e-4 --temp 1 --partial-reward 0.5 -t 1 --quiet
   --plot none --steps "$STEPS")
for s in 1 2; do
  $N "$P" rl "${C[@]}" --seed $s --group 8 --max-tokens 128 --out grpo-s$s.gguf --log grpo-s$s.jsonl &
  $N "$P" rl "${C[@]}" --seed $s --group 8 --think-budget 48 --answer-budget 12 --out elastic-s$s.gguf \
    --log elastic-s$s.jsonl &
  # BRPO: 4 prompts x 4 traces, 3 budgets (32/64/96), 2 summaries per cut: about 1.6x GRPO's learner tokens
  # per step (the learner has no tree attention: each summary row re-reads its trace prefix)
  $N "$P" rl "${C[@]}" --seed $s --algo brpo --prompts 4 --group 4 --max-tokens 96 --brpo-budgets 3 \
    --brpo-summaries 2 --brpo-summary-tokens 12 --out brpo-s$s.gguf --log brpo-s$s.jsonl &
  # a second Elastic setting, added after the first (t = 48, about 55% of the ~90-token traces) left
  # accuracy at small budgets where it was: t = 64 (about 70%: two of the three answer digits written)
  $N "$P" rl "${C[@]}" --seed $s --group 8 --think-budget 64 --answer-budget 12 --out elastic64-s$s.gguf \
    --log elastic64-s$s.jsonl &
done
# 3. gradient variance, paired: BRPO's baseline vs v2only on the very same rollouts (lr 0: the weights and
#    so the trees are identical step by step for both), 10 steps, 2 seeds
for s in 1 2; do
  for bl in brpo v2only; do
    $N "$P" rl -m sft.gguf --task arith-add --difficulty 2 --prompts 4 --lr 0 --temp 1 --partial-reward 0.5 -t 1 \
      --quiet --plot none --steps 10 --seed $((10 + s)) --algo brpo --group 4 --max-tokens 96 --brpo-budgets 3 \
      --brpo-summaries 2 --brpo-summary-tokens 12 --brpo-baseline $bl --out var-$bl-s$s.gguf --log var-$bl-s$s.jsonl &
  done
done
wait
# 4. the same paired measurement from each BRPO-trained model (its early budgets score more often)
for s in 1 2; do
  for bl in brpo v2only; do
    $N "$P" rl -m brpo-s$s.gguf --task arith-add --difficulty 2 --prompts 4 --lr 0 --temp 1 --partial-reward 0.5 -t 1 \
      --quiet --plot none --steps 10 --seed $((20 + s)) --algo brpo --group 4 --max-tokens 96 --brpo-budgets 3 \
      --brpo-summaries 2 --brpo-summary-tokens 12 --brpo-baseline $bl --out var2-$bl-s$s.gguf --log var2-$bl-s$s.jsonl &
  done
done
wait
# 5. GRPO, BRPO and Elastic t64 continued to 80 steps from their step-40 checkpoints (the same settings)
for s in 1 2; do
  for m in grpo brpo; do
    $N "$P" rl --resume $m-s$s.gguf.ckpt --steps 80 --out ${m}80-s$s.gguf --log ${m}80-s$s.jsonl --quiet --plot none &
  done
  $N "$P" rl --resume elastic64-s$s.gguf.ckpt --steps 80 --out elastic64-80-s$s.gguf --log elastic64-80-s$s.jsonl \
    --quiet --plot none &
done
wait
