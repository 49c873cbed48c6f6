#!/bin/bash
# scripts/demo-policies.sh — `make demo-policies`: train an *overthinking* reasoning model (and a small
# one of the same vocabulary for speculative thinking) and measure the reasoning-control policies on
# held-out items: accuracy against mean thinking tokens, wall time per item, and the paired accuracy
# difference to no control with a 95% interval.
#   1. `ponder tasks gen --overthink 3 --overthink-style counted`: arith-add items whose traces state a
#      plan ("I will solve it, then double-check it k times."), give the digit-by-digit solution, then k
#      numbered re-checks ("Wait, let me double-check (check 1 of 2)." ..., 10% of them a corrected wrong
#      detour); k = the question's last digit's byte mod 4 (0..3), so the stop is learnable and greedy
#      decoding ends, and the k = 0 items show "solution, then </think>", where early exits close;
#   2. `ponder train` two qwen3-layout models on them (byte vocabulary, no download): the "large"
#      demo-out/overthink.gguf and a small one (demo-out/overthink-small.gguf, ~1/8 of the compute);
#   3. demo-out/policies-demo.json: the manifest (task, difficulty, trace style, training settings);
#   4. `ponder eval` on held-out items for: no control, thinking budgets, s1 forcing, trimr-probe (k = 1,
#      2), trimr (the model as its own verifier), self-consistency (`--policy vote`, k = 1, 4, 8, adaptive
#      stop, temperature 0.6), speculative thinking (small alone, large alone, small + large), greedy and
#      (a subset) sampled at 0.6, collected in demo-out/policies-results.jsonl (greedy rows against
#      "none") and demo-out/policies-results-sampled.jsonl (sampled rows and votes against "none-t0.6"),
#      drawn by `ponder policies pareto`.
# Sizing (from measured CPU time, docs/experiments/policies/README.md): ~935 CPU-seconds in all on the
# defaults (training ~700, measuring ~235), ~16 min of one core, ~10-11 on 2 idle cores; DEMO_STEPS, DEMO_SMALL_STEPS, DEMO_EVAL_N, DEMO_VOTE_N scale it. Models already in
# demo-out are reused (DEMO_RETRAIN=1 retrains).
# DEMO_MODEL=FILE measures a given model instead (nothing trained; DEMO_SMALL=FILE the small one for
# speculative thinking, else those rows are skipped; set DEMO_DIFF to its task difficulty).
# Usage: bash scripts/demo-policies.sh path/to/ponder
set -eu
PONDER=${1:?usage: demo-policies.sh path/to/ponder}
OUT=${DEMO_OUT:-demo-out}
STEPS=${DEMO_STEPS:-800}
DIFF=${DEMO_DIFF:-2}
KMIN=${DEMO_OVERTHINK_MIN:-0}
K=${DEMO_OVERTHINK:-3}
DETOUR=${DEMO_DETOUR:-10}
EVAL_N=${DEMO_EVAL_N:-200}
VOTE_N=${DEMO_VOTE_N:-100}
SMALL_STEPS=${DEMO_SMALL_STEPS:-400}
THREADS=${DEMO_THREADS:-0}
MAXTOK=${DEMO_MAX_TOKENS:-768}
TFLAG=()
[ "$THREADS" -gt 0 ] && TFLAG=(--threads "$THREADS")
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
mkdir -p "$OUT"
MODEL=${DEMO_MODEL:-$OUT/overthink.gguf}
SMALL=${DEMO_SMALL:-$OUT/overthink-small.gguf}
GIVEN=${DEMO_MODEL:+1}
RES=$OUT/policies-results.jsonl
RESS=$OUT/policies-results-sampled.jsonl
t0=$(date +%s)

if [ -n "$GIVEN" ]; then
  [ -s "$MODEL" ] || { echo "demo-policies: DEMO_MODEL $MODEL: no such file" >&2; exit 1; }
  [ -n "${DEMO_SMALL:-}" ] || SMALL=
elif [ ! -s "$MODEL" ] || [ ! -s "$SMALL" ] || [ "${DEMO_RETRAIN:-0}" = 1 ]; then
  echo "== 1. overthinking traces: arith-add difficulty $DIFF, $KMIN..$K counted re-checks per item"
  "$PONDER" tasks gen --task arith-add --difficulty "$DIFF" --n 20000 --split train --overthink "$K" \
      --overthink-min "$KMIN" --overthink-style counted --detour "$DETOUR" --seed 11 --out "$OUT/overthink-train.jsonl"
fi
if [ -z "$GIVEN" ] && { [ ! -s "$MODEL" ] || [ "${DEMO_RETRAIN:-0}" = 1 ]; }; then
  echo "== 2a. training the large model ($STEPS steps)"
  "$PONDER" train --data "$OUT/overthink-train.jsonl" --arch qwen3 --dim 128 --layers 4 --heads 4 --kv-heads 2 \
      --ffn 384 --batch 3 --seq 1024 --steps "$STEPS" --lr 2e-3 --warmup 30 --wd 0.1 --seed 1 "${TFLAG[@]}" \
      --eval-n 0 --quiet --log "$OUT/overthink-steps.jsonl" --out "$MODEL"
fi
if [ -z "$GIVEN" ] && { [ ! -s "$SMALL" ] || [ "${DEMO_RETRAIN:-0}" = 1 ]; }; then
  echo "== 2b. training the small model ($SMALL_STEPS steps)"
  "$PONDER" train --data "$OUT/overthink-train.jsonl" --arch qwen3 --dim 64 --layers 2 --heads 2 --kv-heads 1 \
      --head-dim 32 --ffn 192 --batch 3 --seq 1024 --steps "$SMALL_STEPS" --lr 4e-3 --warmup 20 --wd 0.1 --seed 2 \
      "${TFLAG[@]}" --eval-n 0 --quiet --log "$OUT/overthink-small-steps.jsonl" --out "$SMALL"
fi
t1=$(date +%s)
# the manifest, written atomically
python3 - "$OUT/policies-demo.json" "$MODEL" "$DIFF" "$KMIN" "$K" "$DETOUR" "$STEPS" "$EVAL_N" "$SMALL" "$SMALL_STEPS" \
    "$VOTE_N" "$GIVEN" <<'PY'
import json, os, sys
path, model, diff, kmin, k, detour, steps, n, small, small_steps, vote_n, given = sys.argv[1:]
if given:   # a given model: what was measured, not how it was trained
    doc = {"model": model, "given": True, "task": "arith-add", "difficulty": int(diff), "split_measured": "test",
           "small_model": {"path": small} if small else None, "eval_items": int(n), "vote_items": int(vote_n),
           "sampled_temperature": 0.6, "results": path.replace("policies-demo.json", "policies-results.jsonl"),
           "results_sampled": path.replace("policies-demo.json", "policies-results-sampled.jsonl")}
else:
  doc = {"model": model, "task": "arith-add", "difficulty": int(diff), "split_trained": "train", "split_measured": "test",
       "trace_style": {"style": "counted", "rechecks_min": int(kmin), "rechecks_max": int(k),
                       "rechecks_rule": "min + (byte of the question's last digit) mod (max - min + 1), stated first",
                       "detour_percent": int(detour), "train_items": 20000, "seed": 11},
       "training": {"steps": int(steps), "arch": "qwen3", "dim": 128, "layers": 4, "batch": 3, "seq": 1024, "lr": 2e-3},
       "small_model": {"path": small, "steps": int(small_steps), "arch": "qwen3", "dim": 64, "layers": 2, "batch": 3,
                       "seq": 1024, "lr": 4e-3},
       "eval_items": int(n), "vote_items": int(vote_n), "sampled_temperature": 0.6,
       "results": path.replace("policies-demo.json", "policies-results.jsonl"),
       "results_sampled": path.replace("policies-demo.json", "policies-results-sampled.jsonl")}
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, indent=1); f.write("\n"); f.flush(); os.fsync(f.fileno())
os.replace(tmp, path)
PY
echo "wrote $OUT/policies-demo.json"

echo "== 3. measuring policies on $EVAL_N held-out items (greedy unless noted)"
: > "$RES.tmp"
: > "$RESS.tmp"
measure() { # file, name, items, model, then eval flags (greedy unless they say otherwise)
  local file=$1 name=$2 n=$3 model=$4; shift 4
  local s e
  s=$(date +%s.%N)
  "$PONDER" eval -m "$model" --task arith-add --difficulty "$DIFF" --n "$n" --temp 0 -n "$MAXTOK" "${TFLAG[@]}" \
      "$@" --out "$OUT/records-$name.jsonl" > "$OUT/summary-$name.txt" 2> "$OUT/stderr-$name.txt"
  e=$(date +%s.%N)
  python3 - "$name" "$OUT/summary-$name.txt" "$s" "$e" "$n" >> "$file" <<'PY'
import json, sys
name, summ, s, e, n = sys.argv[1:]
d = {}
for line in open(summ):
    parts = line.split()
    if parts and parts[0] in ("accuracy", "thinking", "answer", "vote"): d[parts[0]] = float(parts[1])
# a vote's thinking tokens are those of all its samples (the summary's vote line), not the winner's
think = d.get("vote", d["thinking"])
print(json.dumps({"method": name, "accuracy": d["accuracy"], "thinking": think, "answer": d["answer"],
                  "wall_s": (float(e) - float(s)) / int(n), "items": int(n)}))
PY
  tail -1 "$file"
}
PARTS=${DEMO_PARTS:-greedy vote spec sampled}
if [[ " $PARTS " == *" greedy "* ]]; then
  measure "$RES.tmp" none "$EVAL_N" "$MODEL"
  for B in 64 96 128 192; do measure "$RES.tmp" "budget-$B" "$EVAL_N" "$MODEL" --policy "anytime:think=$B,answer=32"; done
  measure "$RES.tmp" s1-wait1 "$EVAL_N" "$MODEL" --policy s1:wait=1
  measure "$RES.tmp" trimr-probe-k1 "$EVAL_N" "$MODEL" --policy trimr-probe:k=1,answer=16
  measure "$RES.tmp" trimr-probe-k2 "$EVAL_N" "$MODEL" --policy trimr-probe:k=2,answer=16
  measure "$RES.tmp" trimr-self-k1 "$EVAL_N" "$MODEL" --policy trimr:k=1,guide=close
fi
if [[ " $PARTS " == *" spec "* ]] && [ -n "$SMALL" ]; then
  # speculative thinking: the small model alone, the large alone (= none), the small one thinking with the large one
  measure "$RES.tmp" spec-small-alone "$EVAL_N" "$SMALL"
  if [ -s "$OUT/records-none.jsonl" ]; then   # the large model alone is the greedy "none" run
    cp "$OUT/records-none.jsonl" "$OUT/records-spec-large-alone.jsonl"
    sed -n 's/^{"method": "none",/{"method": "spec-large-alone",/p' "$RES.tmp" > "$RES.tmp.2"
    cat "$RES.tmp.2" >> "$RES.tmp" && rm -f "$RES.tmp.2"
  fi
  measure "$RES.tmp" spec-small+large "$EVAL_N" "$SMALL" --policy "spec-think:large=$MODEL"
fi
if [[ " $PARTS " == *" sampled "* ]]; then
  # sampled at temperature 0.6 as reasoning models are run
  measure "$RESS.tmp" none-t0.6 "$EVAL_N" "$MODEL" --temp 0.6 --seed 1
  measure "$RESS.tmp" budget-96-t0.6 "$EVAL_N" "$MODEL" --temp 0.6 --seed 1 --policy anytime:think=96,answer=32
  measure "$RESS.tmp" s1-wait1-t0.6 "$EVAL_N" "$MODEL" --temp 0.6 --seed 1 --policy s1:wait=1
  measure "$RESS.tmp" trimr-probe-k1-t0.6 "$EVAL_N" "$MODEL" --temp 0.6 --seed 1 --policy trimr-probe:k=1,answer=16
  measure "$RESS.tmp" trimr-probe-k2-t0.6 "$EVAL_N" "$MODEL" --temp 0.6 --seed 1 --policy trimr-probe:k=2,answer=16
fi
if [[ " $PARTS " == *" vote "* ]]; then
  # self-consistency: k samples (temperature 0.6) per item from one prefill, adaptive stop, on the first VOTE_N items
  for V in 1 4 8; do
    measure "$RESS.tmp" "vote-k$V-adaptive" "$VOTE_N" "$MODEL" --temp 0.6 --seed 1 --policy "vote:n=$V,adaptive=1"
  done
fi
# paired accuracy differences (points) to the baseline on the items both were run on, with a 95% interval
# (normal approximation of the mean of per-item differences; exactly 0 wide when no item disagrees)
python3 - "$OUT" "$RES.tmp" none "$RESS.tmp" none-t0.6 <<'PY'
import json, math, os, sys
out = sys.argv[1]
def correct(name):
    r = {}
    for line in open(os.path.join(out, "records-%s.jsonl" % name)):
        d = json.loads(line); r[d["id"]] = 1 if d["correct"] else 0
    return r
for path, base in ((sys.argv[2], sys.argv[3]), (sys.argv[4], sys.argv[5])):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    if not any(r["method"] == base for r in rows): continue
    b = correct(base)
    for r in rows:
        m = correct(r["method"])
        ids = [i for i in m if i in b]
        if r["method"] == base or not ids: continue
        diff = [m[i] - b[i] for i in ids]
        n = len(diff); mean = sum(diff) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in diff) / (n - 1)) if n > 1 else 0.0
        half = 1.96 * sd / math.sqrt(n)
        r.update({"baseline": base, "paired_items": n, "better": sum(1 for x in diff if x > 0),
                  "worse": sum(1 for x in diff if x < 0), "delta": round(100 * mean, 2),
                  "delta_lo": round(100 * (mean - half), 2), "delta_hi": round(100 * (mean + half), 2)})
    with open(path + ".2", "w") as f:
        for r in rows: f.write(json.dumps(r) + "\n")
        f.flush(); os.fsync(f.fileno())
    os.replace(path + ".2", path)
PY
mv "$RES.tmp" "$RES"
mv "$RESS.tmp" "$RESS"
echo "wrote $RES and $RESS"
if [ -s "$RES" ]; then "$PONDER" policies pareto "$RES" --plot "$OUT/policies-pareto.png"; fi
if grep -q '"method": "none-t0.6"' "$RESS"; then
  "$PONDER" policies pareto "$RESS" --baseline none-t0.6 --plot "$OUT/policies-pareto-sampled.png"
elif [ -s "$RESS" ]; then
  "$PONDER" policies pareto "$RESS" --plot "$OUT/policies-pareto-sampled.png"
fi
t2=$(date +%s)
echo "== demo-policies finished: training $((t1 - t0)) s, measuring $((t2 - t1)) s (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
