#!/bin/bash
# docs/experiments/rl-methods/tree/eval.sh — greedy held-out accuracy against the inference thinking budget
# (the budget policy: thinking cut at N tokens, closer included, then an answer budget of 12 tokens) for
# every model of run.sh; one JSON line per (model, budget) into OUTDIR/budgets.jsonl.
# Usage: bash eval.sh path/to/ponder OUTDIR
set -eu
P=${1:?usage: eval.sh path/to/ponder OUTDIR}
O=${2:?usage: eval.sh path/to/ponder OUTDIR}
cd "$O"
BUDGETS=(16 32 48 64 80 96 -1)
one() { # model -> lines
  local m=$1
  for b in "${BUDGETS[@]}"; do
    local tb=()
    [ "$b" -ge 0 ] && tb=(--think-budget "$b")
    nice -n 19 "$P" eval -m "$m.gguf" --task arith-add --difficulty 2 --n 200 --temp 0 -n 160 -t 1 \
      --answer-budget 12 "${tb[@]}" > "ev-$m-$b.txt" 2>&1
    awk -v m="$m" -v b="$b" '$1 == "accuracy" { a = $2 } $1 == "thinking" { t = $2 }
      END { printf "{\"model\":\"%s\",\"budget\":%d,\"accuracy\":%s,\"think_tokens\":%s}\n", m, b, a, t }' "ev-$m-$b.txt"
  done > "ev-$m.jsonl"
}
for m in sft grpo-s1 grpo-s2 elastic-s1 elastic-s2 elastic64-s1 elastic64-s2 brpo-s1 brpo-s2 grpo80-s1 grpo80-s2 \
         brpo80-s1 brpo80-s2 elastic64-80-s1 elastic64-80-s2; do
  # (a model evaluated before, after its file was written, is kept)
  [ -s "$m.gguf" ] && ! [ "ev-$m.jsonl" -nt "$m.gguf" -a "$(wc -l < "ev-$m.jsonl" 2>/dev/null)" = 7 ] && one "$m" &
done
wait
cat ev-*.jsonl > budgets.jsonl
