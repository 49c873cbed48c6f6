#!/bin/bash
# tests/cli/test_rlkv_gates.sh — `ponder rl --rlkv-gates` (RLKV gates learned by RL, ponder/rl_gates.h):
#   1. usage errors exit 2 naming the flag: a bad --rlkv-sink/--rlkv-recent/--rlkv-beta/--rlkv-tau value,
#      an --rlkv-* setting without --rlkv-gates, --out beside it, --resume/--adapter/--algo brpo with it,
#      an empty window (sink 0 + recent 0); an unwritable gates path (missing folder, a directory) is
#      refused before any work, naming --rlkv-gates (exit 1 as every verb's unwritable output; nothing written);
#   2. a short run on a tiny 2-layer model (rollouts from the mixed model, then from the original one)
#      writes the gates file only after it exists ("wrote" line),
#      L rows x H_kv columns in [0, 1] (the layout `--kv-policy rlkv:gates=FILE` reads), step log
#      lines with the gates' figures (JSON), no model file or checkpoint;
#   3. `ponder run --kv-policy rlkv:gates=FILE` reads that file.
# Usage: bash tests/cli/test_rlkv_gates.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_rlkv_gates.sh path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/rl_common.sh"
"$P" train --task arith-add --difficulty 1 --dim 16 --layers 2 --heads 4 --kv-heads 2 --ffn 32 --ctx 96 --batch 4 \
    --seq 96 --steps 3 --seed 2 --threads 1 --eval-n 0 --plot none --quiet --out "$T/m.gguf" > /dev/null 2>&1 \
  && ok "tiny model trained" || { bad "could not train the tiny model"; exit 1; }
M=$T/m.gguf
base=(-m "$M" --task arith-add --difficulty 1)

# ---- 1. errors ----
expect "negative sink" 2 "--rlkv-sink" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --rlkv-sink -1
expect "recent not a number" 2 "--rlkv-recent" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --rlkv-recent many
expect "negative beta" 2 "--rlkv-beta" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --rlkv-beta -0.5
expect "tau not finite" 2 "--rlkv-tau" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --rlkv-tau nan
expect "bad rollout source" 2 "--rlkv-rollouts: expected mixed or original" rl "${base[@]}" --rlkv-gates "$T/g.tsv" \
  --rlkv-rollouts both
expect "setting without gates" 2 "--rlkv-beta: needs --rlkv-gates" rl "${base[@]}" --out "$T/x.gguf" --rlkv-beta 0.01
expect "gates and --out" 2 "leave out --out" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --out "$T/x.gguf"
expect "empty window" 2 "sink \+ recent >= 1" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --rlkv-sink 0 --rlkv-recent 0
expect "gates with an adapter" 2 "no --adapter" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --adapter lora
expect "gates with brpo" 2 "not --algo brpo" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --algo brpo
expect "gates with resume" 2 "no --resume" rl --resume "$T/none.ckpt" --rlkv-gates "$T/g.tsv"
expect "gates file in a missing folder" 1 "--rlkv-gates: cannot create .*folder .* does not exist" rl "${base[@]}" --rlkv-gates "$T/no/such/dir/g.tsv" --steps 1
[ ! -e "$T/no" ] && ok "nothing created for the unwritable path" || bad "something was created"
expect "gates file is a directory" 1 "--rlkv-gates: .* is a directory" rl "${base[@]}" --rlkv-gates "$T" --steps 1

# ---- 2. a short run ----
if "$P" rl "${base[@]}" --rlkv-gates "$T/g.tsv" --rlkv-sink 2 --rlkv-recent 4 --rlkv-beta 0.01 --rlkv-tau 0 \
    --group 4 --prompts 2 --max-tokens 16 --steps 3 --seed 5 --threads 1 --batch 8 --partial-reward 0.5 --quiet \
    --plot none --log "$T/g.jsonl" > "$T/out" 2> "$T/err"; then ok "gates run"
else bad "gates run: $(head -c 300 "$T/err")"; fi
grep -q "^wrote $T/g.tsv (RLKV gates: mean " "$T/out" && ok "wrote line" || bad "wrote line: $(cat "$T/out")"
python3 - "$T/g.tsv" <<'EOF' && ok "gates file: 2 rows x 2 columns in [0, 1], below 1 after 3 steps" || bad "gates file"
import sys
rows = [l.split("\t") for l in open(sys.argv[1]) if not l.startswith("#")]
assert len(rows) == 2 and all(len(r) == 2 for r in rows), rows
g = [float(x) for r in rows for x in r]
assert all(0 <= x <= 1 for x in g) and min(g) < 1, g
EOF
python3 - "$T/g.jsonl" <<'EOF' && ok "step log: gates figures on every line" || bad "step log"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 3
for r in rows:
    assert 0 <= r["gates_mean"] <= 1 and 0 <= r["gates_low"] <= 1 and r["gates_beta_eff"] >= 0, r
EOF
[ ! -e "$T/g.tsv.ckpt" ] && ok "no checkpoint beside the gates" || bad "a checkpoint was written"
"$P" rl "${base[@]}" --rlkv-gates "$T/o.tsv" --rlkv-rollouts original --rlkv-sink 2 --rlkv-recent 4 --group 4 \
    --prompts 2 --max-tokens 16 --steps 2 --seed 5 --threads 1 --batch 8 --quiet --plot none > "$T/out" 2> "$T/err" \
  && [ -s "$T/o.tsv" ] && ok "original-model rollouts run" || bad "original rollouts: $(head -c 300 "$T/err")"

# ---- 3. the inference policy reads the file ----
if "$P" run -m "$M" -p "1+1=" -n 8 --temp 0 --kv-policy "rlkv:gates=$T/g.tsv,s=0.5,sink=2,recent=4" --kv-budget 50% \
    > "$T/run.out" 2> "$T/run.err"; then ok "run reads the gates"
else bad "run with the gates: $(head -c 300 "$T/run.err")"; fi
exit $fail
