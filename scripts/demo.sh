#!/bin/bash
# scripts/demo.sh — `make demo`: train a small reasoning model from scratch, with no download.
# A ~0.8M-parameter qwen3-layout model learns 3-digit addition from the `arith-add` task's
# digit-by-digit traces (Qwen3 chat layout, <think>…</think> around the trace, loss on the
# completion only). Then the written GGUF is loaded through the inference path and decoded
# greedily on held-out problems of the trained difficulty and one harder level, and a table
# (accuracy, mean thinking tokens, tokens/s) is printed, with the command to try the model.
# Usage: bash scripts/demo.sh path/to/ponder      (DEMO_STEPS=N to change the training length)
set -eu
PONDER=${1:?usage: demo.sh path/to/ponder}
OUT=${DEMO_OUT:-demo-out}
STEPS=${DEMO_STEPS:-1500}
THREADS=()
[ -n "${DEMO_THREADS:-}" ] && THREADS=(--threads "$DEMO_THREADS")   # default: all cores
# Two thread pools meet in a training step (OpenMP for our kernels, OpenBLAS's own for GEMM): let
# idle workers of each sleep at once instead of spinning, or they steal the cores from each other
# (measured here: 2 threads 2x slower than 1 without these, 1.4-1.6x faster with them).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
mkdir -p "$OUT"
MODEL=$OUT/arith-reasoner.gguf
t0=$(date +%s)

echo "== ponder demo: training a reasoning model from scratch on 3-digit addition"
echo "   ($STEPS steps; loss curve: $MODEL.loss.svg, step log: $OUT/steps.jsonl)"
"$PONDER" train --task arith-add --difficulty 3 \
    --arch qwen3 --dim 128 --layers 4 --heads 4 --kv-heads 2 --ffn 384 \
    --batch 4 --seq 320 --steps "$STEPS" --lr 2e-3 --warmup 50 --wd 0.1 --seed 1 "${THREADS[@]}" \
    --eval-every 500 --eval-n 100 --max-new 160 \
    --out "$MODEL" --log "$OUT/steps.jsonl" \
    --report 3,4 --records "$OUT/eval-records.jsonl"
t1=$(date +%s)
echo
echo "== demo finished in $((t1 - t0)) s (training and evaluation on this machine)"
echo "== try the model (greedy decoding, thinking shown):"
echo "   $PONDER run -m $MODEL -p 'What is 347+589?' --temp 0 --show-thinking"
