#!/bin/bash
# tests/cli/test_kv_cache.sh — `ponder run --json` reports the KV cache's peak bytes, checked against
# the block layout computed here by hand (model/kv.c: per (layer, kv head) ceil(rows / 32) blocks of
# 64 header bytes + 32 int32 positions + 32 K rows + 32 V rows, each part rounded up to 64 bytes), for
# f16 / f32 / q8_0 / q4_0 caches and K / V of different types (-ctk / -ctv: each part sized by its own
# type), and bench --json's per-test peak; --kv-type errors.
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

# model  kv-flags  layers  kv-heads  K-row-bytes  V-row-bytes  reported-type (head_dim of that type)
check() {
  local model=$1 kv=$2 L=$3 H=$4 krow=$5 vrow=$6 name=$7
  # shellcheck disable=SC2086
  if ! "$P" run -m "$FX/models/$model" -p "hello there" -n 40 --temp 0 $kv --json > "$T/o.json" 2> "$T/e"; then
    bad "$model $kv: rc != 0: $(head -c 200 "$T/e")"; return
  fi
  python3 - "$T/o.json" "$L" "$H" "$krow" "$vrow" "$name" <<'PY' && ok "$model $kv: peak KV bytes = block count x block bytes" || bad "$model $kv: peak bytes"
import json, sys
d = json.load(open(sys.argv[1])); L, H, krow, vrow = map(int, sys.argv[2:6])
up = lambda n: (n + 63) // 64 * 64
rows = d["usage"]["prompt_tokens"] + d["usage"]["completion_tokens"] - 1   # the last token is never fed
block = 64 + up(32 * 4) + up(32 * krow) + up(32 * vrow)
want = L * H * ((rows + 31) // 32) * block
assert d["kv"]["type"] == sys.argv[6], d["kv"]
k, _, v = sys.argv[6].partition("/")
assert (d["kv"]["k_type"], d["kv"]["v_type"]) == (k, v or k), d["kv"]
assert d["kv"]["peak_bytes"] == want, (d["kv"], want, rows)
PY
}
check tiny-qwen3.gguf "--kv-type f16" 2 2 32 32 f16           # head_dim 16: 16 x 2 bytes
check tiny-qwen3.gguf "--kv-type f32" 2 2 64 64 f32
check tiny-llama256-q4_0.gguf "--kv-type q8_0" 2 2 68 68 q8_0 # head_dim 64: 2 Q8_0 blocks of 34 bytes
check tiny-llama256-q4_0.gguf "--kv-type q4_0" 2 2 36 36 q4_0 # 2 Q4_0 blocks of 18 bytes
check tiny-llama256-q4_0.gguf "-ctk q8_0 -ctv f16" 2 2 68 128 q8_0/f16
check tiny-llama256-q4_0.gguf "-ctk f32 -ctv q4_0" 2 2 256 36 f32/q4_0
check tiny-qwen3.gguf "-ctv f32" 2 2 32 64 f16/f32            # -ctv alone: K keeps the default f16
check tiny-qwen3.gguf "-ctk f32 --kv-type f16" 2 2 32 32 f16  # a later flag overrides

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
