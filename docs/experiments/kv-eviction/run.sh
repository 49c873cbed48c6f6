#!/bin/bash
# docs/experiments/kv-eviction/run.sh — held-out accuracy against the KV budget for every eviction
# policy, on a ponder-trained reasoning model (issue 13). Per policy and budget (25/50/75% of the
# positions; 100% = the full cache, which every policy equals bit for bit, tests/kv/test_kvevict.c):
# accuracy, a finer "trace-line accuracy" (share of the reference trace's lines reproduced at the same
# line index), peak KV bytes of one sequence (--parallel 1) and decode tokens/s; results.jsonl + chart.
# Window parameters are scaled to these traces (~230 positions with the prompt, against 4-8K in the
# papers): lazy W=16, rkv buffer=16 aq=4, snapkv obs=8, rlkv sink=4 recent=16 (gates: ponder kvheads).
# KV_PROTECT=prompt adds protect=prompt to every policy (the prompt holds the operands; lazy has it by
# default, as in its paper's protocol): the prompt rows then stay outside the budget for all.
# Usage: bash run.sh PONDER MODEL.gguf [OUTDIR]    (KV_N items, KV_TASK/KV_DIFF, KV_THREADS, KV_PROTECT)
set -eu
PONDER=${1:?usage: run.sh PONDER MODEL.gguf [OUTDIR]}
MODEL=${2:?usage: run.sh PONDER MODEL.gguf [OUTDIR]}
OUT=${3:-$(dirname "$0")}
N=${KV_N:-60}
TASK=${KV_TASK:-arith-mul}
DIFF=${KV_DIFF:-2}
TH=${KV_THREADS:-1}
MAXTOK=${KV_MAX_TOKENS:-320}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT/records"
RES=$OUT/results.jsonl
ITEMS=$OUT/items.jsonl
"$PONDER" tasks gen --task "$TASK" --difficulty "$DIFF" --n "$N" --split test --seed 7 --out "$ITEMS" 2> /dev/null
"$PONDER" kvheads -m "$MODEL" --task "$TASK" --difficulty "$DIFF" --n 20 --sink 4 --recent 16 --out "$OUT/gates.tsv"
: > "$RES.tmp"
PROTECT=${KV_PROTECT:-}
measure() { # policy-name budget-pct spec
  local name=$1 b=$2 spec=$3
  if [ -n "$PROTECT" ] && [ "$spec" != full ]; then
    case $spec in *:*) spec="$spec,protect=$PROTECT" ;; *) spec="$spec:protect=$PROTECT" ;; esac
  fi
  local flags=(--kv-policy "$spec")
  [ "$b" != 100 ] && flags+=(--kv-budget "$b%")
  local rec=$OUT/records/$name-$b.jsonl sum=$OUT/records/$name-$b.txt
  "$PONDER" eval -m "$MODEL" --items "$ITEMS" --temp 0 -n "$MAXTOK" --parallel 1 -t "$TH" "${flags[@]}" \
      --out "$rec" > "$sum" 2> /dev/null
  python3 - "$name" "$b" "$spec" "$sum" "$rec" "$ITEMS" >> "$RES.tmp" <<'PY'
import json, sys
name, b, spec, summ, rec, items = sys.argv[1:]
d = {}
for line in open(summ):
    p = line.split()
    if p and p[0] == "accuracy": d["accuracy"] = float(p[1])
    if p and p[0] == "speed": d["tokens_per_s"] = float(p[1])
    if p and p[0] == "kv_policy":
        d["rows_evicted"] = int(p[2]); d["peak_kv_bytes"] = int(p[-1])
ref = {}
for line in open(items):
    it = json.loads(line); ref[it["id"]] = it["reasoning"].strip().split("\n")
hit = tot = 0
for line in open(rec):
    r = json.loads(line); want = ref[r["id"]]; got = r.get("thinking", "").strip().split("\n")
    tot += len(want); hit += sum(1 for i, w in enumerate(want) if i < len(got) and got[i].strip() == w.strip())
d["line_accuracy"] = hit / tot if tot else 0.0
print(json.dumps({"policy": name, "budget_pct": int(b), "spec": spec, **d}))
PY
  tail -1 "$RES.tmp"
}
measure full 100 full
for B in 75 50 25; do
  measure streaming "$B" streaming:sink=4
  measure h2o "$B" h2o
  measure tova "$B" tova
  measure snapkv "$B" snapkv:obs=8
  measure rkv "$B" rkv:buffer=16,aq=4
  measure lazy "$B" lazy:W=16
  measure rlkv "$B" "rlkv:gates=$OUT/gates.tsv,sink=4,recent=16"
done
mv "$RES.tmp" "$RES"
# the chart: every policy's line ends at the full cache (100%), which each policy equals exactly
python3 - "$RES" "$OUT/plot-input.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
full = [r for r in rows if r["policy"] == "full"][0]
pols = sorted({r["policy"] for r in rows if r["policy"] != "full"})
with open(sys.argv[2], "w") as f:
    for r in rows:
        if r["policy"] != "full": f.write(json.dumps(r) + "\n")
    for p in pols: f.write(json.dumps({**full, "policy": p}) + "\n")
PY
"$PONDER" bench --kv-plot "$OUT/plot-input.jsonl" --out "$OUT/kv-eviction.png"
