#!/bin/bash
# tests/cli/test_rl_tree.sh — `ponder rl` with Elastic budget-constrained rollouts (--think-budget t
# --answer-budget s) and AnytimeReasoner / BRPO (--algo brpo):
#   1. usage errors exit 2 naming the flag (answer budget without a thinking budget, t + s over
#      --max-tokens, unknown prior / baseline, one summary per cut, more budgets than tokens);
#   2. a short run of each: the model and checkpoint are written, no NaN in the step log, each step
#      line parses as JSON and holds the method's quantities (elastic_* / brpo_*; brpo_acc one value
#      per budget, in [0, 1]; the tree fed fewer tokens than a re-prefill of every cut would add);
#   3. a BRPO run resumes from its checkpoint with its tree settings: the same step log and, with the
#      same thread count, the same model bytes as the uninterrupted run.
# Usage: bash tests/cli/test_rl_tree.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_rl_tree.sh path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/rl_common.sh"
rl_tiny_model arith-add 1 128 96 4 3

# ---- 1. errors ----
expect "answer budget without thinking budget" 2 "--think-budget" rl -m "$M" --task arith-add --answer-budget 8 \
  --out "$T/x.gguf"
expect "t + s over max tokens" 2 "--max-tokens" rl -m "$M" --task arith-add --think-budget 8 --answer-budget 8 \
  --max-tokens 10 --out "$T/x.gguf"
expect "bad prior" 2 "--brpo-prior" rl -m "$M" --task arith-add --algo brpo --brpo-prior gauss --out "$T/x.gguf"
expect "bad baseline" 2 "--brpo-baseline" rl -m "$M" --task arith-add --algo brpo --brpo-baseline v3 --out "$T/x.gguf"
expect "one summary" 2 "--brpo-summaries" rl -m "$M" --task arith-add --algo brpo --brpo-summaries 1 --out "$T/x.gguf"
expect "budgets over tokens" 2 "--brpo-budgets" rl -m "$M" --task arith-add --algo brpo --brpo-budgets 8 \
  --max-tokens 4 --out "$T/x.gguf"
expect "brpo with a thinking budget" 2 "brpo" rl -m "$M" --task arith-add --algo brpo --think-budget 8 \
  --out "$T/x.gguf"
expect "brpo with group shaping" 2 "--length-reward" rl -m "$M" --task arith-add --algo brpo --length-reward slpo \
  --out "$T/x.gguf"

# ---- 2. a short run of each ----
common=(-m "$M" --task arith-add --difficulty 1 --group 3 --prompts 2 --lr 1e-3 --seed 5 --threads 1 --batch 8
        --quiet --plot none)
if "$P" rl "${common[@]}" --think-budget 10 --answer-budget 6 --steps 2 --out "$T/e.gguf" --log "$T/e.jsonl" \
     > "$T/out" 2> "$T/err"; then ok "elastic run"; else bad "elastic run: $(head -c 300 "$T/err")"; fi
[ -s "$T/e.gguf" ] && [ -s "$T/e.gguf.ckpt" ] && ok "elastic: model and checkpoint" || bad "elastic outputs: $(ls "$T")"
python3 - "$T/e.jsonl" <<'EOF' && ok "elastic step log: JSON, no NaN, elastic_* present" || bad "elastic step log"
import json, math, sys
rows = [json.loads(l, parse_constant=lambda c: float("nan")) for l in open(sys.argv[1])]
assert len(rows) == 2, rows
for r in rows:
    for k in ("loss", "grad_norm", "reward_mean"):
        assert r[k] is not None and math.isfinite(r[k]), (k, r)
    for k in ("elastic_cut_frac", "elastic_forced_tokens", "elastic_acc_cut", "elastic_acc_uncut"):
        assert k in r, (k, r)
    assert 0 <= r["elastic_cut_frac"] <= 1 and r["elastic_forced_tokens"] >= 0, r
    assert r["len_mean"] <= 16, r   # t + s
EOF

brpo=(--algo brpo --max-tokens 16 --brpo-budgets 4 --brpo-summaries 2 --brpo-summary-tokens 6)
if "$P" rl "${common[@]}" "${brpo[@]}" --brpo-prior linear --steps 3 --out "$T/b.gguf" --log "$T/b.jsonl" \
     > "$T/out" 2> "$T/err"; then ok "brpo run"; else bad "brpo run: $(head -c 300 "$T/err")"; fi
grep -q "rl (brpo)" "$T/out" && ok "brpo summary line" || bad "summary line: $(cat "$T/out")"
python3 - "$T/b.jsonl" <<'EOF' && ok "brpo step log: JSON, no NaN, brpo_* present" || bad "brpo step log"
import json, math, sys
rows = [json.loads(l, parse_constant=lambda c: float("nan")) for l in open(sys.argv[1])]
assert len(rows) == 3, rows
for r in rows:
    for k in ("loss", "grad_norm", "reward_mean", "brpo_anytime", "brpo_adv2_think", "brpo_fed_tokens"):
        assert r[k] is not None and math.isfinite(r[k]), (k, r)
    assert len(r["brpo_acc"]) == 4 and all(0 <= a <= 1 for a in r["brpo_acc"]), r
    assert r["brpo_summaries"] == 2 * r["brpo_nodes"], r
    assert 0 < r["brpo_fed_tokens"] and r["brpo_prefix_tokens"] > 0, r
EOF
"$P" run -m "$T/b.gguf" -p 'What is 2+3?' -n 8 --temp 0 > /dev/null 2>&1 && ok "brpo model loads in run" || bad "run"

# ---- 3. resume keeps the tree settings ----
"$P" rl "${common[@]}" "${brpo[@]}" --brpo-baseline v2only --steps 3 --out "$T/u.gguf" --log "$T/u.jsonl" \
  > /dev/null 2>&1 || bad "uninterrupted brpo run"
"$P" rl "${common[@]}" "${brpo[@]}" --brpo-baseline v2only --steps 2 --out "$T/k.gguf" --log "$T/k.jsonl" \
  > /dev/null 2>&1 || bad "2-step brpo run"
# (constant learning rate: 2 steps, then 1 more, is the 3-step run)
# (the thread count is not part of the checkpoint: the same one gives the same bits, rl_run.c)
"$P" rl --resume "$T/k.gguf.ckpt" --steps 3 --threads 1 --quiet --log "$T/k.jsonl" > "$T/rout" 2> "$T/err" \
  || bad "resume: $(head -c 300 "$T/err")"
# the summary names the checkpoint's algorithm, not the command line's default (grpo)
grep -q "^rl (brpo)" "$T/rout" && ok "resumed run's summary names brpo" || bad "resumed summary: $(head -1 "$T/rout")"
cmp -s "$T/u.gguf" "$T/k.gguf" && ok "resumed brpo model identical" || bad "resumed brpo model differs"
python3 - "$T/u.jsonl" "$T/k.jsonl" <<'EOF' && ok "resumed brpo run: same trees, rewards and losses" || bad "resumed log differs"
import json, sys
def load(p):
    out = {}
    for l in open(p):
        r = json.loads(l)
        for k in ("rollout_tok_s", "learner_tok_s", "t_rollout", "t_reward", "t_learn"): r.pop(k, None)
        out[r["step"]] = r
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a == b and len(a) == 3 and "brpo_acc" in a[3], (a, b)
EOF

exit $fail
