#!/bin/bash
# tests/cli/test_kvpolicy.sh — KV eviction from the command line (fixture tiny-qwen3): --kv-policy /
# --kv-budget usage errors (exit 2, message naming the flag), `run --json` reports the eviction and a
# peak below the full cache's, `eval` prints its kv_policy line, `kvheads` writes a well-formed gate file
# that rlkv reads, `bench --kv-policy` rows parse as JSON, `bench --kv-plot` draws a PNG and rejects a
# malformed line (exit 1, naming file:line).
# Usage: bash tests/cli/test_kvpolicy.sh path/to/ponder   (from the repo root)
set -u
PONDER=${1:?usage: test_kvpolicy.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
M=$FX/models/tiny-qwen3.gguf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
usage() { # expected message, then the command
  local want=$1; shift
  "$@" > "$T/o" 2> "$T/e"; local rc=$?
  [ $rc = 2 ] || fail "$* : rc $rc, want 2 ($(cat "$T/e"))"
  grep -q -- "$want" "$T/e" || fail "$* : stderr lacks '$want': $(cat "$T/e")"
}
P="--no-template -p hello -n 40 --temp 0"
usage "--kv-budget has no effect without --kv-policy" "$PONDER" run -m "$M" $P --kv-budget 50%
usage "needs --kv-budget" "$PONDER" run -m "$M" $P --kv-policy h2o
usage "unknown (full" "$PONDER" run -m "$M" $P --kv-policy lru --kv-budget 8
usage "percentage must be in (0, 100]" "$PONDER" eval -m "$M" --task arith --n 1 --kv-policy tova --kv-budget 120%
usage "unknown key 'window'" "$PONDER" bench -m "$M" --kv-policy h2o:window=3 --kv-budget 8
usage "needs gates=FILE" "$PONDER" chat -m "$M" --kv-policy rlkv
usage "required" "$PONDER" kvheads -m "$M" --task arith

# run --json: eviction reported, peak below the full cache's
"$PONDER" run -m "$M" $P --kv-policy full --json > "$T/full.json" || fail "run full"
"$PONDER" run -m "$M" $P --kv-policy streaming:sink=2 --kv-budget 8 --json > "$T/ev.json" || fail "run streaming"
python3 - "$T/full.json" "$T/ev.json" <<'PY' || fail "run --json kv_eviction"
import json, sys
f, e = (json.load(open(p))["kv_eviction"] for p in sys.argv[1:])
assert f["rows_evicted"] == 0 and e["rows_evicted"] > 0, (f, e)
assert e["peak_kv_bytes"] < f["peak_kv_bytes"], (f, e)
PY

"$PONDER" eval -m "$M" --task arith --n 2 -n 16 --kv-policy lazy:W=4 --kv-budget 50% > "$T/eval.txt" 2> /dev/null ||
    fail "eval with a policy"
grep -q "^kv_policy lazy: [0-9]* rows evicted in [0-9]* rounds, peak_kv_bytes [0-9]*$" "$T/eval.txt" ||
    fail "eval kv_policy line: $(cat "$T/eval.txt")"

"$PONDER" kvheads -m "$M" --task arith --n 2 --sink 2 --recent 4 --out "$T/g.tsv" > /dev/null || fail "kvheads"
python3 - "$T/g.tsv" <<'PY' || fail "gates file"
import sys
rows = [l.split("\t") for l in open(sys.argv[1]) if not l.startswith("#")]
assert len(rows) == 2 and all(len(r) == 2 for r in rows), rows
assert all(0 <= float(x) <= 1 for r in rows for x in r)
PY
"$PONDER" run -m "$M" $P --kv-policy "rlkv:gates=$T/g.tsv,sink=2,recent=4" --json > /dev/null || fail "run rlkv"

"$PONDER" bench -m "$M" --kv-policy h2o --kv-budget 25% --depth 64 -n 8 -o jsonl > "$T/b.jsonl" || fail "bench kv"
python3 - "$T/b.jsonl" <<'PY' || fail "bench kv rows"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["kv_policy"] for r in rows] == ["full", "h2o"], rows
assert rows[1]["peak_kv_bytes"] <= rows[0]["peak_kv_bytes"] and rows[1]["live_rows_per_head"] < rows[0]["live_rows_per_head"]
PY

printf '%s\n' '{"policy":"h2o","budget_pct":50,"accuracy":0.5,"peak_kv_bytes":1000,"line_accuracy":0.7}' \
    '{"policy":"h2o","budget_pct":100,"accuracy":0.6,"peak_kv_bytes":2000,"line_accuracy":0.8}' > "$T/r.jsonl"
"$PONDER" bench --kv-plot "$T/r.jsonl" --out "$T/c.png" > /dev/null || fail "kv-plot"
[ "$(head -c 4 "$T/c.png" | tail -c 3)" = PNG ] || fail "kv-plot: not a PNG"
echo '{"policy":"h2o"}' >> "$T/r.jsonl"
"$PONDER" bench --kv-plot "$T/r.jsonl" --out "$T/d.png" 2> "$T/e"; rc=$?
[ $rc = 1 ] && grep -q "r.jsonl:3" "$T/e" && [ ! -e "$T/d.png" ] || fail "kv-plot bad line: rc $rc $(cat "$T/e")"
echo "ok: kv policy CLI"
