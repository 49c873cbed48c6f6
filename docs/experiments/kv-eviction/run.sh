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
# Window parameters can be scaled with KV_W (lazy W, rkv buffer, rlkv recent; default 16), KV_OBS (snapkv
# obs, default 8), KV_AQ (rkv aq, default 4), KV_SINK (streaming/rlkv sink, default 4); KV_PARALLEL
# sequences are decoded at once (default 1: the peak KV is then one sequence's); KV_POLICIES limits the
# policies run (default all seven), KV_BUDGETS the budgets (default "75 50 25"). KV_ROWS=L turns the P% budgets into fixed row budgets, P% of L rows
# per head (L = the full trace length: the peak KV is then P% of the full cache's), instead of P% of
# the positions so far (which leaves little room early in the trace).
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
W=${KV_W:-16}
OBS=${KV_OBS:-8}
AQ=${KV_AQ:-4}
SINK=${KV_SINK:-4}
PAR=${KV_PARALLEL:-1}
POLICIES=${KV_POLICIES:-streaming h2o tova snapkv rkv lazy rlkv}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT/records"
RES=$OUT/results.jsonl
ITEMS=$OUT/items.jsonl
"$PONDER" tasks gen --task "$TASK" --difficulty "$DIFF" --n "$N" --split test --seed 7 --out "$ITEMS" 2> /dev/null
"$PONDER" kvheads -m "$MODEL" --task "$TASK" --difficulty "$DIFF" --n 20 --sink "$SINK" --recent "$W" --out "$OUT/gates.tsv"
: > "$RES.tmp"
PROTECT=${KV_PROTECT:-}
measure() { # policy-name budget-pct spec
  local name=$1 b=$2 spec=$3
  if [ -n "$PROTECT" ] && [ "$spec" != full ]; then
    case $spec in *:*) spec="$spec,protect=$PROTECT" ;; *) spec="$spec:protect=$PROTECT" ;; esac
  fi
  local flags=(--kv-policy "$spec")
  if [ "$b" != 100 ] && [ -n "${KV_ROWS:-}" ]; then flags+=(--kv-budget "$(( (b * KV_ROWS + 50) / 100 ))")
  elif [ "$b" != 100 ]; then flags+=(--kv-budget "$b%"); fi
  local rec=$OUT/records/$name-$b.jsonl sum=$OUT/records/$name-$b.txt
  "$PONDER" eval -m "$MODEL" --items "$ITEMS" --temp 0 -n "$MAXTOK" --parallel "$PAR" -t "$TH" "${flags[@]}" \
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
for B in ${KV_BUDGETS:-75 50 25}; do
  for P in $POLICIES; do
    case $P in
      streaming) measure streaming "$B" "streaming:sink=$SINK" ;;
      h2o) measure h2o "$B" h2o ;;
      tova) measure tova "$B" tova ;;
      snapkv) measure snapkv "$B" "snapkv:obs=$OBS" ;;
      rkv) measure rkv "$B" "rkv:buffer=$W,aq=$AQ" ;;
      lazy) measure lazy "$B" "lazy:W=$W" ;;
      rlkv) measure rlkv "$B" "rlkv:gates=$OUT/gates.tsv,sink=$SINK,recent=$W" ;;
      *) echo "run.sh: unknown policy $P" >&2; exit 2 ;;
    esac
  done
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
