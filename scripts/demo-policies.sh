#!/bin/bash
# scripts/demo-policies.sh — `make demo-policies`: train an *overthinking* reasoning model and measure
# the reasoning-control policies on it (accuracy against mean thinking tokens, wall time per item).
#   1. `ponder tasks gen --overthink K`: arith-add items whose traces are the digit-by-digit solution
#      followed by 0..K re-checks ("Wait, let me verify...", some a corrected wrong detour);
#   2. `ponder train` a small qwen3-layout model on them (byte vocabulary, no download);
#   3. demo-out/policies-demo.json: the manifest (task, difficulty, trace style, training settings);
#   4. `ponder eval` on held-out items for: no control, thinking budgets, s1 forcing, trimr-probe,
#      trimr (the model as its own verifier), and `ponder run --policy vote` (k = 1, 4, 8, adaptive),
#      collected in demo-out/policies-results.jsonl and drawn by `ponder policies pareto`.
# Meant for about 20 minutes on 2 idle cores (not timed on one: this machine was shared; a 250-step model
# reached 0% and 250 + 400 steps 60% on held-out items). DEMO_STEPS, DEMO_EVAL_N, DEMO_VOTE_N scale it.
# Usage: bash scripts/demo-policies.sh path/to/ponder
set -eu
PONDER=${1:?usage: demo-policies.sh path/to/ponder}
OUT=${DEMO_OUT:-demo-out}
STEPS=${DEMO_STEPS:-600}
DIFF=${DEMO_DIFF:-2}
K=${DEMO_OVERTHINK:-3}
EVAL_N=${DEMO_EVAL_N:-50}
VOTE_N=${DEMO_VOTE_N:-15}
THREADS=${DEMO_THREADS:-0}
MAXTOK=${DEMO_MAX_TOKENS:-768}
TFLAG=()
[ "$THREADS" -gt 0 ] && TFLAG=(--threads "$THREADS")
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
mkdir -p "$OUT"
MODEL=$OUT/overthink.gguf
RES=$OUT/policies-results.jsonl
t0=$(date +%s)

if [ ! -s "$MODEL" ] || [ "${DEMO_RETRAIN:-0}" = 1 ]; then
  echo "== 1. overthinking traces: arith-add difficulty $DIFF, 1..$K re-checks per item"
  "$PONDER" tasks gen --task arith-add --difficulty "$DIFF" --n 20000 --split train --overthink "$K" --detour 20 \
      --seed 11 --out "$OUT/overthink-train.jsonl"
  echo "== 2. training ($STEPS steps)"
  "$PONDER" train --data "$OUT/overthink-train.jsonl" --arch qwen3 --dim 128 --layers 4 --heads 4 --kv-heads 2 \
      --ffn 384 --batch 6 --seq 512 --steps "$STEPS" --lr 2e-3 --warmup 20 --wd 0.1 --seed 1 "${TFLAG[@]}" \
      --eval-n 0 --quiet --log "$OUT/overthink-steps.jsonl" --out "$MODEL"
fi
t1=$(date +%s)
# the manifest, written atomically
python3 - "$OUT/policies-demo.json" "$MODEL" "$DIFF" "$K" "$STEPS" "$EVAL_N" <<'PY'
import json, os, sys
path, model, diff, k, steps, n = sys.argv[1:]
doc = {"model": model, "task": "arith-add", "difficulty": int(diff), "split_trained": "train", "split_measured": "test",
       "trace_style": {"overthink_max_rechecks": int(k), "detour_percent": 20, "train_items": 20000, "seed": 11},
       "training": {"steps": int(steps), "arch": "qwen3", "dim": 128, "layers": 4, "batch": 6, "seq": 512, "lr": 2e-3},
       "eval_items": int(n), "results": path.replace("policies-demo.json", "policies-results.jsonl")}
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=1); f.write("\n"); f.flush(); os.fsync(f.fileno())
os.replace(tmp, path)
PY
echo "wrote $OUT/policies-demo.json"

echo "== 3. measuring policies on $EVAL_N held-out items (greedy unless noted)"
: > "$RES.tmp"
measure() { # name, then eval flags
  local name=$1; shift
  local s e
  s=$(date +%s.%N)
  "$PONDER" eval -m "$MODEL" --task arith-add --difficulty "$DIFF" --n "$EVAL_N" --temp 0 -n "$MAXTOK" "${TFLAG[@]}" \
      "$@" --out "$OUT/records-$name.jsonl" > "$OUT/summary-$name.txt" 2> /dev/null
  e=$(date +%s.%N)
  python3 - "$name" "$OUT/summary-$name.txt" "$s" "$e" "$EVAL_N" >> "$RES.tmp" <<'PY'
import json, sys
name, summ, s, e, n = sys.argv[1:]
d = {}
for line in open(summ):
    parts = line.split()
    if parts and parts[0] in ("accuracy", "thinking", "answer"): d[parts[0]] = float(parts[1])
print(json.dumps({"method": name, "accuracy": d["accuracy"], "thinking": d["thinking"], "answer": d["answer"],
                  "wall_s": (float(e) - float(s)) / int(n)}))
PY
  tail -1 "$RES.tmp"
}
measure none
for B in 64 128 192; do measure "budget-$B" --policy "anytime:think=$B,answer=64"; done
measure s1-wait1 --policy s1:wait=1
measure trimr-probe-k1 --policy trimr-probe:k=1,answer=16
measure trimr-probe-k2 --policy trimr-probe:k=2,answer=16
measure trimr-self-k1 --policy trimr:k=1,guide=close
# self-consistency: n samples (temperature 0.6) per prompt through `ponder run`, on fewer items
"$PONDER" tasks gen --task arith-add --difficulty "$DIFF" --n "$VOTE_N" --split test --seed 5 --out "$OUT/vote-items.jsonl" 2>/dev/null
for V in 1 4 8; do
  s=$(date +%s.%N)
  : > "$OUT/vote-$V.out.jsonl"
  tot=0
  while IFS= read -r line; do
    id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$line")
    q=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["prompt"])' "$line")
    "$PONDER" run -m "$MODEL" -p "$q" --temp 0.6 --seed 1 -n "$MAXTOK" "${TFLAG[@]}" --policy "vote:n=$V,adaptive=1" \
        --json > "$OUT/vote.json" 2> "$OUT/vote.err"
    th=$(sed -n 's/.*; \([0-9]*\) thinking tokens in all.*/\1/p' "$OUT/vote.err")
    tot=$((tot + ${th:-0}))
    python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); print(json.dumps({"id": sys.argv[1], "output": d["answer"]}))' \
        "$id" "$OUT/vote.json" >> "$OUT/vote-$V.out.jsonl"
  done < "$OUT/vote-items.jsonl"
  e=$(date +%s.%N)
  acc=$("$PONDER" tasks score "$OUT/vote-items.jsonl" "$OUT/vote-$V.out.jsonl" 2>/dev/null | sed -n 's/^accuracy \([0-9]*\)\/\([0-9]*\).*/\1 \2/p')
  python3 -c 'import json,sys; c,n=map(int,sys.argv[2].split()); print(json.dumps({"method":"vote-k"+sys.argv[1]+"-adaptive","accuracy":c/n,"thinking":int(sys.argv[3])/n,"wall_s":(float(sys.argv[5])-float(sys.argv[4]))/n}))' \
      "$V" "$acc" "$tot" "$s" "$e" >> "$RES.tmp"
  tail -1 "$RES.tmp"
done
mv "$RES.tmp" "$RES"
echo "wrote $RES"
"$PONDER" policies pareto "$RES" --plot "$OUT/policies-pareto.png"
t2=$(date +%s)
echo "== demo-policies finished: training $((t1 - t0)) s, measuring $((t2 - t1)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
