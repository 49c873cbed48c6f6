#!/bin/bash
# tests/cli/test_rl_shape.sh — the rl_shape.h methods of `ponder rl` from the command line:
#   1. usage errors (unknown length reward / redundancy mode, penalty out of [0, 1]) exit 2 naming the flag;
#   2. a short run of each method (nsr, psr, w-reinforce, prerl, nsr-prerl, dsrl with a switch at step 2,
#      grpo + SLPO, grpo + the redundancy penalty) on a tiny model: exit 0, no NaN in the step log, every
#      line parses as JSON and holds the method's own quantities (shape_phase, prerl, neg_frac/pos_frac,
#      slpo_bonus, redundancy_erd/ird, reflect_markers) with the values the method implies (NSR: no
#      positive advantage; PSR: no negative; dsrl: phase 1 with prerl for 2 steps, then phase 2);
#   3. a dsrl run of 1 step resumed to 4 keeps its switch step (from the checkpoint's settings).
# Usage: bash tests/cli/test_rl_shape.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_rl_shape.sh path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/rl_common.sh"
rl_tiny_model arith-add 1 96 96 4 3

# ---- 1. errors ----
expect "bad length reward" 2 "--length-reward" rl -m "$M" --task arith-add --length-reward short --out "$T/x.gguf"
expect "bad redundancy mode" 2 "--redundancy-mode" rl -m "$M" --task arith-add --redundancy-mode both --out "$T/x.gguf"
expect "penalty above 1" 2 "--redundancy-penalty" rl -m "$M" --task arith-add --redundancy-penalty 1.5 --out "$T/x.gguf"
expect "bad algo lists the new ones" 2 "dsrl" rl -m "$M" --task arith-add --algo nsr2 --out "$T/x.gguf"
expect "prerl with sampler log-probs" 2 "sampler-old-logp" rl -m "$M" --task arith-add --algo prerl \
  --sampler-old-logp --steps 1 --out "$T/x.gguf"

# ---- 2. one short run per method ----
common=(-m "$M" --task arith-add --difficulty 1 --group 4 --prompts 2 --max-tokens 16 --lr 1e-3 --seed 5
        --threads 1 --batch 8 --partial-reward 0.5 --quiet --plot none)
run() { # NAME STEPS ARGS...
  local name=$1 steps=$2; shift 2
  if "$P" rl "${common[@]}" --steps "$steps" --out "$T/$name.gguf" --log "$T/$name.jsonl" "$@" > "$T/out" 2> "$T/err"
  then ok "$name run"; else bad "$name run: $(head -c 300 "$T/err")"; return 1; fi
  grep -qi nan "$T/$name.jsonl" && bad "$name: NaN in the step log"
  return 0
}
check() { # NAME PYTHON-CONDITION-ON-rows
  python3 - "$T/$1.jsonl" "$2" <<'EOF' && ok "$1 step log: $2" || bad "$1 step log: $2"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if not r.get("eval")]
keys = ("shape_phase", "prerl", "neg_frac", "pos_frac", "slpo_bonus", "redundancy_erd", "redundancy_ird",
        "reflect_markers")
assert rows and all(k in r for r in rows for k in keys), "missing keys"
assert all(isinstance(r["loss"], (int, float)) and math.isfinite(r["loss"]) for r in rows), "loss"
assert eval(sys.argv[2]), sys.argv[2]
EOF
}
run nsr 2 --algo nsr && check nsr "all(r['shape_phase'] == 1 and not r['prerl'] and r['pos_frac'] == 0 for r in rows)"
run psr 2 --algo psr && check psr "all(r['shape_phase'] == 1 and r['neg_frac'] == 0 for r in rows)"
run wr 2 --algo w-reinforce --psr-weight 0.2 && check wr "all(abs(r['neg_frac'] + r['pos_frac'] - 1) < 1e-9 for r in rows)"
run prerl 2 --algo prerl && check prerl "all(r['prerl'] and r['logp_maxdiff'] is None for r in rows)"
run nsrp 2 --algo nsr-prerl && check nsrp "all(r['prerl'] and r['pos_frac'] == 0 for r in rows)"
run dsrl 4 --algo dsrl --switch-step 2 --ckpt-every 1 && \
  check dsrl "[(r['shape_phase'], r['prerl']) for r in rows] == [(1, True), (1, True), (2, False), (2, False)]"
run slpo 2 --length-reward slpo --slpo-alpha 0.5 && \
  check slpo "all(r['slpo_bonus'] is None or 0 <= r['slpo_bonus'] <= 0.5 for r in rows) and rows[0]['shape_phase'] == 0"
run red 2 --redundancy-penalty 0.5 --redundancy-mode dual && \
  check red "all(r['redundancy_erd'] is None or 0 <= r['redundancy_erd'] <= 1 for r in rows)"

# ---- 3. dsrl resumed keeps its switch step ----
"$P" rl "${common[@]}" --algo dsrl --switch-step 2 --steps 1 --out "$T/d2.gguf" --log "$T/d2.jsonl" \
  > /dev/null 2> "$T/err" || bad "dsrl stop-at: $(head -c 300 "$T/err")"
if "$P" rl --resume "$T/d2.gguf.ckpt" --steps 4 --quiet --plot none --threads 1 --log "$T/d2.jsonl" \
     > /dev/null 2> "$T/err"; then
  check d2 "[(r['step'], r['shape_phase']) for r in rows] == [(1, 1), (2, 1), (3, 2), (4, 2)]"
else bad "dsrl resume: $(head -c 300 "$T/err")"; fi

exit $fail
