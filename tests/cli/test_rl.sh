#!/bin/bash
# tests/cli/test_rl.sh — `ponder rl` from the command line:
#   1. usage errors exit 2 with a message naming the flag; a missing model exits 1 naming the file;
#   2. a short run writes the model (loads in `ponder run`), its checkpoint, a step log whose every
#      line parses as JSON with the per-step fields, and the curves plot;
#   3. a run killed with SIGKILL after a checkpoint and resumed ends with the same model file (weights,
#      step, rollout rng) and the same step log (timings aside) as an uninterrupted run;
#   4. `ponder bench rl` prints its tables;
#   2b. `--adapter lora` writes an adapter that `ponder run --adapter` applies to the unchanged base,
#      with sampler/learner log-probs equal; a NaN weight stops the run (exit 1, nothing written).
# Usage: bash tests/cli/test_rl.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_rl.sh path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/rl_common.sh"
# a tiny model of ponder's byte vocabulary (a few SFT steps: enough to load and sample)
rl_tiny_model arith-add 1 96 96 4 3

# ---- 1. errors ----
expect "no model" 2 "-m MODEL" rl --task arith-add --out "$T/x.gguf"
expect "bad algo" 2 "--algo" rl -m "$M" --task arith-add --algo ppo --out "$T/x.gguf"
expect "bad clip" 2 "--clip" rl -m "$M" --task arith-add --clip 2 --out "$T/x.gguf"
expect "bad agg" 2 "--agg" rl -m "$M" --task arith-add --agg mean --out "$T/x.gguf"
expect "group of one" 2 "--group" rl -m "$M" --task arith-add --group 1 --out "$T/x.gguf"
expect "adapter setting without --adapter" 2 "needs --adapter" rl -m "$M" --task arith-add --rank 4 --out "$T/x.gguf"
expect "unknown extractor" 2 "--extract" rl -m "$M" --task arith-add --extract fancy --out "$T/x.gguf"
expect "unknown adapter" 2 "--adapter" rl -m "$M" --task arith-add --adapter dora --out "$T/x.gguf"
expect "no out" 2 "--out" rl -m "$M" --task arith-add
expect "bad difficulty" 2 "difficulty" rl -m "$M" --task countdown --difficulty 1 --out "$T/x.gguf"
expect "missing model file" 1 "nonexistent" rl -m "$T/nonexistent.gguf" --task arith-add --out "$T/x.gguf"
expect "unknown flag" 2 "unknown flag" rl -m "$M" --task arith-add --out "$T/x.gguf" --frobnicate
expect "out is the input" 2 "starting model" rl -m "$M" --task arith-add --out "$M"
expect "out folder missing" 1 "does not exist" rl -m "$M" --task arith-add --out "$T/no/such/x.gguf"

# ---- 2. a short run ----
common=(-m "$M" --task arith-add --difficulty 1 --group 4 --prompts 2 --max-tokens 16 --lr 1e-3 --seed 5
        --threads 1 --batch 8 --overlong-buffer 8 --format-reward 0.5 --quiet)
if "$P" rl "${common[@]}" --algo dapo --steps 3 --eval-n 4 --max-new 16 --out "$T/a.gguf" --log "$T/a.jsonl" \
     > "$T/out" 2> "$T/err"; then ok "rl run"; else bad "rl run: $(head -c 300 "$T/err")"; fi
[ -s "$T/a.gguf" ] && [ -s "$T/a.gguf.ckpt" ] && [ -s "$T/a.gguf.rl.svg" ] && ok "model, checkpoint, plot written" \
  || bad "missing outputs: $(ls "$T")"
grep -q "wrote $T/a.gguf" "$T/out" && ok "wrote line" || bad "no wrote line: $(cat "$T/out")"
python3 - "$T/a.jsonl" <<'EOF' && ok "step log parses, fields present" || bad "step log"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
steps = [r for r in rows if not r.get("eval")]
evals = [r for r in rows if r.get("eval")]
assert len(steps) == 3, steps
need = ["reward_mean", "reward_std", "accuracy", "dropped_frac", "zero_var_frac", "len_mean", "len_think",
        "len_answer", "len_correct", "len_incorrect", "entropy", "kl", "clip_frac", "grad_norm", "lr",
        "rollout_tok_s", "learner_tok_s", "t_rollout", "t_learn", "logp_maxdiff"]
for r in steps:
    for k in need:
        assert k in r, (k, r)
assert evals and evals[0]["step"] == 0 and evals[-1]["step"] == 3, evals
EOF
"$P" run -m "$T/a.gguf" -p 'What is 2+3?' -n 8 --temp 0 > /dev/null 2>&1 && ok "rl model loads in run" || bad "run on the rl model"
# a resumed run keeps the checkpoint's held-out evaluation (--eval-n 4 above): an eval line at its new end
"$P" rl --resume "$T/a.gguf.ckpt" --steps 4 --quiet --log "$T/a.jsonl" > /dev/null 2> "$T/err" \
  && grep -q '"step":4,"eval":true' "$T/a.jsonl" && ok "resumed run evaluates as the checkpoint did" \
  || bad "resumed run: no evaluation at step 4: $(head -c 300 "$T/err")"

# ---- 2b. through an adapter: the result is an adapter file for the unchanged base ----
if "$P" rl "${common[@]}" --adapter lora --targets all --rank 2 --kl 0.05 --steps 2 --out "$T/l.gguf" \
     --log "$T/l.jsonl" > "$T/out" 2> "$T/err"; then ok "rl --adapter lora run"; else bad "rl --adapter: $(head -c 300 "$T/err")"; fi
"$P" run -m "$M" --adapter "$T/l.gguf" -p 'What is 2+3?' -n 8 --temp 0 > /dev/null 2>&1 \
  && ok "the RL adapter loads on the base in run" || bad "run --adapter on the RL adapter"
python3 - "$T/l.jsonl" <<'EOF' && ok "adapter run: sampler and learner log-probs agree, KL logged" || bad "adapter step log"
import json, sys
steps = [json.loads(l) for l in open(sys.argv[1])]
assert len(steps) == 2, steps
for r in steps:
    assert r["logp_maxdiff"] is not None and r["logp_maxdiff"] <= 1e-4, r
    assert r["kl"] is not None and r["kl"] >= 0, r
EOF
expect "resume fixes the adapter" 2 "adapter" rl --resume "$T/l.gguf.ckpt" --adapter pissa --steps 3
# a diverged update (NaN put into a weight by the test hook) stops the run naming the tensor
PD_TEST_NAN_AT_STEP=2 expect "non-finite weights stop the run" 1 "not finite" rl "${common[@]}" --steps 3 \
  --out "$T/nan.gguf"
[ ! -e "$T/nan.gguf" ] && ok "nothing written for the diverged run" || bad "a model was written after the NaN"

# ---- 3. kill -9 and resume ----
"$P" rl "${common[@]}" --steps 5 --ckpt-every 1 --out "$T/u.gguf" --log "$T/u.jsonl" > /dev/null 2>&1 \
  || bad "uninterrupted run"
# the kill lands inside the run's 3rd file save (between fsync and rename: PD_TEST_KILL_IN_SAVE in
# base/outfile.c), so it is mid-run on a fast machine too; earlier checkpoints stay valid
PD_TEST_KILL_IN_SAVE=3 "$P" rl "${common[@]}" --steps 5 --ckpt-every 1 --out "$T/k.gguf" --log "$T/k.jsonl" \
  > /dev/null 2>&1
krc=$?
[ $krc -eq 137 ] && ok "killed by SIGKILL mid-save" || bad "the run was not killed mid-save (rc $krc)"
if [ -s "$T/k.gguf.ckpt" ]; then
  "$P" rl --resume "$T/k.gguf.ckpt" --quiet --log "$T/k.jsonl" > /dev/null 2> "$T/err" || bad "resume: $(head -c 300 "$T/err")"
  cmp -s "$T/u.gguf" "$T/k.gguf" && ok "resumed model identical" || bad "resumed model differs"
  expect "resume of a finished run" 2 "nothing to do" rl --resume "$T/k.gguf.ckpt"
  python3 - "$T/u.jsonl" "$T/k.jsonl" <<'EOF' && ok "resumed step log identical (timings aside)" || bad "resumed log differs"
import json, sys
def load(p):
    out = {}
    for l in open(p):
        r = json.loads(l)
        if r.get("eval"): continue
        for k in ("rollout_tok_s", "learner_tok_s", "t_rollout", "t_reward", "t_learn"): r.pop(k, None)
        out[r["step"]] = r   # a step re-run after the kill replaces its line
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a == b, (a, b)
EOF
else bad "no checkpoint before the kill"; fi

# ---- 4. bench ----
"$P" bench rl -m "$M" -n 8 -t 1 > "$T/bench" 2>&1 && grep -q "8 prompt x 8" "$T/bench" && grep -q "learner" "$T/bench" \
  && ok "bench rl" || bad "bench rl: $(head -c 300 "$T/bench")"

exit $fail
