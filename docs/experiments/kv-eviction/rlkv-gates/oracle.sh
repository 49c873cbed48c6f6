#!/bin/bash
# docs/experiments/kv-eviction/rlkv-gates/oracle.sh — the exhaustive answer at s = 2/(L·H_kv): every pair of
# KV heads compressed to sink + recent (gates 0 on the pair, 1 elsewhere), held-out greedy accuracy of each;
# the reference the learned and offline gates' choice at that sparsity is judged against. oracle.jsonl in OUT.
# Usage: bash oracle.sh PONDER MODEL.gguf ITEMS.jsonl L H_KV [OUT]   (OR_SINK 16, OR_RECENT 64, OR_MAX_TOKENS 560)
set -eu
PONDER=${1:?usage}; MODEL=${2:?usage}; ITEMS=${3:?usage}; L=${4:?usage}; HKV=${5:?usage}; OUT=${6:-$(dirname "$0")}
SINK=${OR_SINK:-16}; RECENT=${OR_RECENT:-64}; MAXTOK=${OR_MAX_TOKENS:-560}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT/oracle"
n=$((L * HKV))
s=$(python3 -c "print(2 / $n)")
: > "$OUT/oracle.jsonl.tmp"
for ((a = 0; a < n; a++)); do
  for ((b = a + 1; b < n; b++)); do
    g=$OUT/oracle/gates-$a-$b.tsv
    python3 - "$L" "$HKV" "$a" "$b" > "$g" <<'PY'
import sys
L, H, a, b = map(int, sys.argv[1:])
for l in range(L): print("\t".join("0" if l * H + h in (a, b) else "1" for h in range(H)))
PY
    "$PONDER" eval -m "$MODEL" --items "$ITEMS" --temp 0 -n "$MAXTOK" --parallel 1 -t 2 \
        --kv-policy "rlkv:gates=$g,s=$s,sink=$SINK,recent=$RECENT" --out "$OUT/oracle/rec-$a-$b.jsonl" \
        > "$OUT/oracle/sum-$a-$b.txt" 2> /dev/null
    acc=$(awk '$1 == "accuracy" {print $2}' "$OUT/oracle/sum-$a-$b.txt")
    echo "{\"heads\": [[$((a / HKV)), $((a % HKV))], [$((b / HKV)), $((b % HKV))]], \"accuracy\": $acc}" | tee -a "$OUT/oracle.jsonl.tmp"
  done
done
mv "$OUT/oracle.jsonl.tmp" "$OUT/oracle.jsonl"
