#!/bin/bash
# tests/cli/test_rl_memory.sh — rlmem's methods of `ponder rl` from the command line:
#   1. usage errors: a bad --memory-reward, --algo rlp without a text corpus (exit 2, naming the flag);
#   2. a short Memory-R+ run on countdown: every step-log line parses as JSON, no NaN/null in the
#      reward and loss, and the memory's own keys (mem_exploit, mem_explore, mem_*_keys) are logged;
#   3. a short RLP run on a text corpus: the same, with rlp_reward = rlp_s_pred − rlp_s_ema logged.
# Usage: bash tests/cli/test_rl_memory.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_rl_memory.sh path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/rl_common.sh"
rl_tiny_model countdown 3 256 256 2 2
python3 -c "
import random
r = random.Random(1)
with open('$T/corpus.txt', 'w') as f:
    for i in range(500):
        a, b = r.randint(0, 49), r.randint(0, 49)
        f.write(f'{a}+{b}={a+b}\n')
"

expect "bad memory mode" 2 "--memory-reward" rl -m "$M" --task countdown --memory-reward lots --out "$T/x.gguf"
expect "rlp needs a corpus" 2 "rlp" rl -m "$M" --algo rlp --task countdown --out "$T/x.gguf"
expect "rlp with jsonl" 2 "plain-text" rl -m "$M" --algo rlp --data "$T/x.jsonl" --out "$T/x.gguf"
expect "rlp-after of two tokens" 2 "one" rl -m "$M" --algo rlp --data "$T/corpus.txt" --rlp-after "+=" --steps 1 \
    --out "$T/x.gguf" --threads 1 --quiet

check_log() { # NAME LOG KEYS...
  local name=$1 log=$2; shift 2
  if python3 - "$log" "$@" <<'EOF'
import json, math, sys
log, keys = sys.argv[1], sys.argv[2:]
n = 0
for line in open(log):
    o = json.loads(line)
    if o.get("eval"):
        continue
    n += 1
    for k in ["reward_mean", "loss", "grad_norm"] + keys:
        v = o.get(k)
        assert isinstance(v, (int, float)) and math.isfinite(v), (k, v)
    if "rlp_reward" in keys:
        assert abs(o["rlp_reward"] - (o["rlp_s_pred"] - o["rlp_s_ema"])) < 1e-4, o
assert n >= 2, n
EOF
  then ok "$name"; else bad "$name: $(head -c 400 "$log")"; fi
}

"$P" rl -m "$M" --task countdown --difficulty 3 --memory-reward rplus --mem-explore-after 1 --group 4 --prompts 2 \
    --steps 3 --max-tokens 16 --lr 1e-4 --seed 1 --threads 1 --quiet --plot none --log "$T/mem.jsonl" \
    --out "$T/mem.gguf" > "$T/out" 2> "$T/err" \
  && [ -s "$T/mem.gguf" ] && ok "Memory-R+ run" || bad "Memory-R+ run: $(head -c 300 "$T/err")"
check_log "Memory-R+ step log" "$T/mem.jsonl" mem_exploit mem_explore mem_succ_keys mem_fail_keys

"$P" rl -m "$M" --algo rlp --data "$T/corpus.txt" --rlp-ctx 12 --rlp-after = --group 4 --prompts 2 --steps 3 \
    --max-tokens 8 --lr 1e-4 --seed 1 --threads 1 --quiet --plot none --log "$T/rlp.jsonl" --out "$T/rlp.gguf" \
    > "$T/out" 2> "$T/err" \
  && [ -s "$T/rlp.gguf" ] && ok "RLP run" || bad "RLP run: $(head -c 300 "$T/err")"
check_log "RLP step log" "$T/rlp.jsonl" rlp_reward rlp_s_pred rlp_s_ema rlp_acc_pred rlp_acc_ema

exit $fail
