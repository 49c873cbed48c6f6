#!/bin/bash
# tests/cli/test_kv_cache.sh — `ponder run --json` reports the KV cache's peak bytes, checked against
# the block layout computed here by hand (model/kv.c: per (layer, kv head) ceil(rows / 32) blocks of
# 64 header bytes + 32 int32 positions + 32 K rows + 32 V rows, each part rounded up to 64 bytes), for
# f16 / f32 / q8_0 / q4_0 caches, and bench --json's per-test peak; --kv-type errors.
# Usage: bash tests/cli/test_kv_cache.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_kv_cache.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n_fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; n_fail=$((n_fail + 1)); }

# model  kv-type  layers  kv-heads  row-bytes(head_dim of that type)
check() {
  local model=$1 kv=$2 L=$3 H=$4 row=$5
  if ! "$P" run -m "$FX/models/$model" -p "hello there" -n 40 --temp 0 --kv-type "$kv" --json > "$T/o.json" 2> "$T/e"; then
    bad "$model --kv-type $kv: rc != 0: $(head -c 200 "$T/e")"; return
  fi
  python3 - "$T/o.json" "$L" "$H" "$row" "$kv" <<'PY' && ok "$model --kv-type $kv: peak KV bytes = block count x block bytes" || bad "$model --kv-type $kv: peak bytes"
import json, sys
d = json.load(open(sys.argv[1])); L, H, row = map(int, sys.argv[2:5])
up = lambda n: (n + 63) // 64 * 64
rows = d["usage"]["prompt_tokens"] + d["usage"]["completion_tokens"] - 1   # the last token is never fed
block = 64 + up(32 * 4) + 2 * up(32 * row)
want = L * H * ((rows + 31) // 32) * block
assert d["kv"]["type"] == sys.argv[5], d["kv"]
assert d["kv"]["peak_bytes"] == want, (d["kv"], want, rows)
PY
}
check tiny-qwen3.gguf f16 2 2 32            # head_dim 16: 16 x 2 bytes
check tiny-qwen3.gguf f32 2 2 64
check tiny-llama256-q4_0.gguf q8_0 2 2 68   # head_dim 64: 2 Q8_0 blocks of 34 bytes
check tiny-llama256-q4_0.gguf q4_0 2 2 36   # 2 Q4_0 blocks of 18 bytes

# bench --json: each test's peak = its own rows (pp64: 64 rows, tg16: 16 rows; f16, head_dim 16)
if "$P" bench -m "$FX/models/tiny-llama.gguf" -p 64 -n 16 -r 1 --json > "$T/b.json" 2> "$T/e" &&
   python3 - "$T/b.json" <<'PY'
import json, sys
block = 64 + 128 + 2 * 1024            # 32 rows: header, positions, K and V of 16 f16 values each
peaks = {o["test"]: o["peak_kv_bytes"] for o in json.load(open(sys.argv[1]))}
assert peaks == {"pp64": 2 * 2 * 2 * block, "tg16": 2 * 2 * 1 * block}, peaks
PY
then ok "bench --json peak_kv_bytes per test = block count x block bytes"
else bad "bench --json peak_kv_bytes: $(head -c 200 "$T/e")"; fi

"$P" run -m "$FX/models/tiny-qwen3.gguf" -p hi --kv-type q4_K > /dev/null 2> "$T/e"; rc=$?
if [ $rc = 2 ] && grep -q "not supported: f16, f32, q8_0 or q4_0" "$T/e"; then ok "--kv-type q4_K is a usage error"
else bad "--kv-type q4_K: rc $rc $(head -c 200 "$T/e")"; fi
"$P" run -m "$FX/models/tiny-qwen3.gguf" -p hi --kv-type q8_0 > /dev/null 2> "$T/e"; rc=$?
if [ $rc = 1 ] && grep -q "head_dim divisible by 32" "$T/e"; then ok "--kv-type q8_0 on head_dim 16 says why"
else bad "--kv-type q8_0 on head_dim 16: rc $rc $(head -c 200 "$T/e")"; fi
[ $n_fail = 0 ]
