#!/bin/bash
# docs/experiments/rl-methods/rlp/run.sh — RLP (training.md §9) vs plain next-token pretraining at equal
# compute, tiny scale. Corpus: 20,000 lines "a+b=c" (a, b in 0..99), the last 10% held out.
# Base: a 2-layer dim-64 byte model, 300 next-token steps (batch 16 x 64 tokens). From the base, per seed:
#   rlp: 100 RLP steps (8 positions right after "=", 4 thoughts of <= 8 tokens, context 24, lr 1e-4)
#   ntp: 170 more next-token steps (same lr schedule end), the compute of 100 RLP steps counted in
#        token passes (forward 1, forward+backward 3): rollout 8x25 + 32x8, scoring 32x35 + 8x24,
#        learner 32x35x3 ~ 5.1k per RLP step vs 16x64x3 = 3.1k per NTP step.
# Measured: held-out next-token loss of each model over the held-out corpus (ponder train --init M
# --lr 0 --steps 1: the loss before any change), and RLP's own logged figures.
# Usage: bash run.sh path/to/ponder OUT_DIR   (RLP_LR: the RLP learning rate, default 1e-4; an existing
# OUT_DIR/base.gguf is reused)
set -eu
P=${1:?usage: run.sh ponder OUT}
O=${2:?usage: run.sh ponder OUT}
mkdir -p "$O"
python3 -c "
import random
r = random.Random(7)
with open('$O/arith.txt', 'w') as f:
    for i in range(20000):
        a, b = r.randint(0, 99), r.randint(0, 99)
        f.write(f'{a}+{b}={a+b}\n')
"
C=(--threads 1 --quiet --plot none)
[ -s "$O/base.gguf" ] || "$P" train --data "$O/arith.txt" --arch qwen3 --dim 64 --layers 2 --heads 4 --kv-heads 2 \
    --ffn 192 --ctx 128 --batch 16 --seq 64 --steps 300 --lr 3e-3 --seed 1 --log "$O/base.jsonl" --out "$O/base.gguf" "${C[@]}"
heldout() { "$P" train --init "$1" --data "$O/arith.txt" --batch 16 --seq 64 --steps 1 --lr 0 --warmup 0 --seed 99 \
    --out "$O/probe.gguf" "${C[@]}" | sed -n 's/.*held-out loss \([0-9.]*\).*/\1/p'; }
echo "base held-out loss $(heldout "$O/base.gguf")" | tee "$O/results.txt"
for s in 1 2; do
  "$P" rl -m "$O/base.gguf" --algo rlp --data "$O/arith.txt" --rlp-ctx 24 --rlp-after = --prompts 8 --group 4 \
      --max-tokens 8 --steps 100 --lr "${RLP_LR:-1e-4}" --seed "$s" --log "$O/rlp-s$s.jsonl" --out "$O/rlp-s$s.gguf" "${C[@]}"
  "$P" train --init "$O/base.gguf" --data "$O/arith.txt" --batch 16 --seq 64 --steps 170 --lr "${RLP_LR:-1e-4}" --warmup 0 \
      --min-lr-frac 1 --seed "$((s + 10))" --log "$O/ntp-s$s.jsonl" --out "$O/ntp-s$s.gguf" "${C[@]}"
  echo "seed $s: rlp held-out loss $(heldout "$O/rlp-s$s.gguf"), ntp held-out loss $(heldout "$O/ntp-s$s.gguf")" | tee -a "$O/results.txt"
done
