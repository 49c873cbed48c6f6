#!/bin/bash
# tests/cli/test_serve_kv.sh — `ponder serve --kv-policy/--kv-budget` evicts for every sequence:
# greedy text equals `ponder run` with the same eviction flags (and differs from the full cache, so the
# eviction is live), n=2 forks give two identical choices, /metrics counts the evicted rows, a budget
# without a policy is a usage error.
# Usage: bash tests/cli/test_serve_kv.sh path/to/ponder   (from the repo root)
set -u
PONDER=${1:?usage: test_serve_kv.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
command -v curl > /dev/null || { echo "SKIPPED: needs curl"; exit 77; }
M=$FX/models/tiny-qwen3.gguf
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2> /dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -5 "$T/s.err" >&2 2> /dev/null; exit 1; }
P="The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat near the door of the old house"
KV=(--kv-policy streaming:sink=4 --kv-budget 16)

# the reference: ponder run with and without the same eviction (greedy, raw prompt)
"$PONDER" run -m "$M" --no-template -p "$P" -n 24 --temp 0 "${KV[@]}" --json > "$T/run_kv.json" 2> /dev/null || fail "run --kv-policy"
"$PONDER" run -m "$M" --no-template -p "$P" -n 24 --temp 0 --json > "$T/run_full.json" 2> /dev/null || fail "run"
ans() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["answer"])' "$1"; }
[ "$(ans "$T/run_kv.json")" != "$(ans "$T/run_full.json")" ] || fail "eviction does not change this generation: the test would prove nothing"

# usage error: a budget without a policy
"$PONDER" serve -m "$M" --port 0 --kv-budget 16 > /dev/null 2> "$T/u.err"
[ $? = 2 ] || fail "--kv-budget without --kv-policy: expected exit 2"
grep -q "kv-budget" "$T/u.err" || fail "usage error does not name --kv-budget: $(cat "$T/u.err")"

"$PONDER" serve -m "$M" --port 0 --parallel 2 --ctx 256 "${KV[@]}" > "$T/s.out" 2> "$T/s.err" &
PID=$!
for _ in $(seq 600); do
    grep -q "listening on" "$T/s.out" 2> /dev/null && break
    kill -0 "$PID" 2> /dev/null || fail "server died: $(cat "$T/s.err")"
    sleep 0.1
done
PORT=$(sed -n 's/^ponder serve: listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/s.out")
[ -n "$PORT" ] || fail "no 'listening on' line"
U=http://127.0.0.1:$PORT
BODY=$(python3 -c 'import json,sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": 24, "temperature": 0, "n": 2}))' "$P")
code=$(curl -s -o "$T/r.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "$BODY" "$U/v1/completions")
[ "$code" = 200 ] || fail "completion: HTTP $code $(cat "$T/r.json")"
python3 - "$T/r.json" "$(ans "$T/run_kv.json")" << 'PY' || fail "serve with eviction differs from run with eviction"
import json, sys
d = json.load(open(sys.argv[1])); want = sys.argv[2]
texts = [c["text"] for c in d["choices"]]
assert len(texts) == 2, texts
for t in texts: assert t == want, (t, want)
PY
curl -s "$U/metrics" > "$T/m.txt"
rows=$(sed -n 's/^ponder_kv_evicted_rows_total \([0-9]*\)$/\1/p' "$T/m.txt")
[ -n "$rows" ] && [ "$rows" -gt 0 ] || fail "/metrics: ponder_kv_evicted_rows_total missing or 0: $(grep kv "$T/m.txt")"
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ $rc = 0 ] || fail "serve exit status $rc after SIGTERM"
echo "ok   serve --kv-policy: text equals run's, n=2 forks agree, $rows rows evicted (/metrics), clean exit"
