#!/bin/bash
# docs/experiments/kv-eviction/rlkv-gates/run.sh — RLKV head allocation (inference.md §4) with three sources
# of gates at equal sparsity s (the share of KV heads compressed to sink + recent): gates learned by RL
# (`ponder rl --rlkv-gates`), the offline head score (`ponder kvheads`) and seeded random gates. Greedy
# held-out accuracy with Wilson 95% intervals and the peak KV bytes of one sequence, per (gates, s);
# results.jsonl + table.md in OUT.
# Usage: bash run.sh PONDER MODEL.gguf RL_GATES.tsv [OUT]
#   RG_RL_NAME the learned gates' name in the results (rl), RG_TASK / RG_DIFF (task, difficulty; default arith-add-lookup 16), RG_N held-out items (150),
#   RG_SINK / RG_RECENT the inference window of compressed heads (16, 64), RG_S the sparsities
#   ("0.25 0.5 0.75"), RG_MAX_TOKENS (560), RG_THREADS (2), RG_RANDOM_SEEDS ("1 2"), RG_ONLY (measure only
#   these gate sources, e.g. "rl": no full-cache row; results.jsonl is then appended to, not replaced).
set -eu
PONDER=${1:?usage: run.sh PONDER MODEL.gguf RL_GATES.tsv [OUT]}
MODEL=${2:?usage: run.sh PONDER MODEL.gguf RL_GATES.tsv [OUT]}
RLG=${3:?usage: run.sh PONDER MODEL.gguf RL_GATES.tsv [OUT]}
OUT=${4:-$(dirname "$0")}
TASK=${RG_TASK:-arith-add-lookup}
DIFF=${RG_DIFF:-16}
N=${RG_N:-150}
SINK=${RG_SINK:-16}
RECENT=${RG_RECENT:-64}
MAXTOK=${RG_MAX_TOKENS:-560}
TH=${RG_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT/records"
ITEMS=$OUT/items.jsonl
"$PONDER" tasks gen --task "$TASK" --difficulty "$DIFF" --n "$N" --split test --seed 7 --out "$ITEMS" 2> /dev/null
RLNAME=${RG_RL_NAME:-rl}   # the learned gates' name in the results (several RL runs side by side)
[ "$(realpath "$RLG")" = "$(realpath -m "$OUT/gates-$RLNAME.tsv")" ] || cp "$RLG" "$OUT/gates-$RLNAME.tsv"
"$PONDER" kvheads -m "$MODEL" --task "$TASK" --difficulty "$DIFF" --n 20 --sink "$SINK" --recent "$RECENT" \
    --out "$OUT/gates-offline.tsv" > /dev/null
GATES="$RLNAME offline"
for seed in ${RG_RANDOM_SEEDS:-1 2}; do   # the shape of the RL file, uniform draws from a fixed seed
  python3 - "$OUT/gates-$RLNAME.tsv" "$seed" > "$OUT/gates-random$seed.tsv" <<'PY'
import random, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
rng = random.Random(int(sys.argv[2]))
print(f"# random gates, seed {sys.argv[2]}")
for r in rows: print("\t".join(f"{rng.random():.6f}" for _ in r))
PY
  GATES="$GATES random$seed"
done
RES=$OUT/results.jsonl
: > "$RES.tmp"
measure() { # NAME S POLICY-SPEC
  local name=$1 s=$2 spec=$3 rec=$OUT/records/$1-$2.jsonl sum=$OUT/records/$1-$2.txt
  "$PONDER" eval -m "$MODEL" --items "$ITEMS" --temp 0 -n "$MAXTOK" --parallel 1 -t "$TH" --kv-policy "$spec" \
      --out "$rec" > "$sum" 2> /dev/null
  python3 - "$name" "$s" "$spec" "$sum" "$rec" >> "$RES.tmp" <<'PY'
import json, math, sys
name, s, spec, summ, rec = sys.argv[1:]
d = {"gates": name, "s": float(s), "spec": spec}
for line in open(summ):
    p = line.split()
    if p and p[0] == "accuracy": d["accuracy"] = float(p[1])
    if p and p[0] == "kv_policy": d["rows_evicted"] = int(p[2]); d["peak_kv_bytes"] = int(p[-1])
recs = [json.loads(l) for l in open(rec)]
n = len(recs); k = sum(1 for r in recs if r.get("correct"))
z = 1.959963984540054; ph = k / n if n else 0
den = 1 + z * z / n; c = (ph + z * z / (2 * n)) / den; h = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
d.update(n=n, correct=k, wilson_lo=c - h, wilson_hi=c + h, correct_ids=[r["id"] for r in recs if r.get("correct")])
print(json.dumps(d))
PY
  tail -1 "$RES.tmp" | python3 -c 'import json, sys
d = json.loads(sys.stdin.read())
print("%-10s s=%.2f acc %5.1f%% [%.1f, %.1f]  peak KV %.1f KiB" % (d["gates"], d["s"], 100 * d["accuracy"],
      100 * d["wilson_lo"], 100 * d["wilson_hi"], d.get("peak_kv_bytes", 0) / 1024))'
}
[ -n "${RG_ONLY:-}" ] || measure full 0 full
for s in ${RG_S:-0.25 0.5 0.75}; do
  for g in ${RG_ONLY:-$GATES}; do measure "$g" "$s" "rlkv:gates=$OUT/gates-$g.tsv,s=$s,sink=$SINK,recent=$RECENT"; done
done
if [ -n "${RG_ONLY:-}" ]; then cat "$RES.tmp" >> "$RES"; rm "$RES.tmp"; else mv "$RES.tmp" "$RES"; fi
