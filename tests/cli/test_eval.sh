#!/usr/bin/env bash
# tests/cli/test_eval.sh — `ponder eval` on the tiny-llama fixture: one record per item × sample
# with the documented fields, the summary table, records identical across runs (seeded), the SVG
# and PNG reports, JSONL items, and usage errors. Run: bash tests/cli/test_eval.sh PONDER
set -u
P=${1:?usage: test_eval.sh /path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
M=$FX/models/tiny-llama-f16.gguf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if [ "$2" != "$3" ]; then echo "FAIL $1: expected '$2', got '$3'"; fail=1; else echo "ok   $1"; fi; }
expect_err() {
  local name=$1 code=$2 pat=$3; shift 3
  local err; err=$("$P" "$@" 2>&1 >/dev/null); local rc=$?
  if [ $rc -ne "$code" ] || ! grep -q -- "$pat" <<<"$err"; then echo "FAIL $name: rc=$rc err='$err'"; fail=1; else echo "ok   $name"; fi
}

out=$("$P" eval -m $M --task arith --n 2 --difficulty 1-2 --samples 2 -n 6 --temp 0.8 --out "$T/r1.jsonl" --report "$T/p.svg" 2>/dev/null)
check "eval exit" 0 $?
check "records = items x samples" 8 "$(wc -l < "$T/r1.jsonl")"
check "record fields" 8 "$(python3 -c '
import json,sys
n=0
for l in open(sys.argv[1]):
    r=json.loads(l)
    need={"id","prompt","thinking","answer","extracted","score","thinking_tokens","answer_tokens","wall_s"}
    n+= need <= set(r) and r["thinking_tokens"]+r["answer_tokens"] <= 6
print(n)' "$T/r1.jsonl")"
check "summary has pass@2" 1 "$(grep -c '^pass@2 ' <<<"$out")"
check "summary has maj@2" 1 "$(grep -c '^maj@2 ' <<<"$out")"
check "summary accuracy line" 1 "$(grep -cE '^accuracy +[0-9.]+$' <<<"$out")"
check "svg written" 1 "$(grep -c '</svg>' "$T/p.svg")"
check "svg has both difficulties" 2 "$(grep -oE 'accuracy: x [12],' "$T/p.svg" | sort -u | wc -l)"
# the same report as PNG: signature and the 900x380 size in IHDR
"$P" eval -m $M --task arith --n 2 --difficulty 1-2 --samples 2 -n 6 --temp 0.8 --report "$T/p.png" >/dev/null 2>&1
check "png report written" "89504e470d0a1a0a 00000384 0000017c" "$(python3 -c '
import sys; b=open(sys.argv[1],"rb").read(24); print(b[:8].hex(), b[16:20].hex(), b[20:24].hex())' "$T/p.png")"
# seeded: the same run gives the same records (order may differ: sort)
"$P" eval -m $M --task arith --n 2 --difficulty 1-2 --samples 2 -n 6 --temp 0.8 --out "$T/r2.jsonl" >/dev/null 2>&1
strip() { python3 -c 'import json,sys; [print(json.dumps({k:v for k,v in json.loads(l).items() if k!="wall_s"}, sort_keys=True)) for l in open(sys.argv[1])]' "$1" | sort; }
check "seeded runs identical" same "$(cmp -s <(strip "$T/r1.jsonl") <(strip "$T/r2.jsonl") && echo same || echo differ)"
# JSONL items
printf '{"id":"q1","prompt":"What is 2+2?","answer":"4"}\n{"id":"q2","prompt":"Say 7.","answer":"7"}\nbroken\n' > "$T/items.jsonl"
"$P" eval -m $M --items "$T/items.jsonl" -n 4 --out "$T/r3.jsonl" >/dev/null 2>"$T/err"
check "jsonl items evaluated" 2 "$(wc -l < "$T/r3.jsonl")"
check "jsonl malformed line reported" 1 "$(grep -c 'items.jsonl: line 3' "$T/err")"

# REST bundles from `tasks gen --rest 2`: per-question scores in the records and a per-position line
"$P" tasks gen --task arith-add --difficulty 1 --n 3 --rest 2 > "$T/bundles.jsonl" 2>/dev/null
out=$("$P" eval -m $M --items "$T/bundles.jsonl" -n 4 --out "$T/r4.jsonl" 2>/dev/null)
check "rest summary line" 1 "$(grep -cE '^rest +[0-9.]+ over 6 questions; per position: Q1 [0-9.]+ Q2 [0-9.]+$' <<<"$out")"
check "rest records carry 2 scores" 3 "$(python3 -c 'import json,sys; print(sum(len(json.loads(l)["scores"])==2 for l in open(sys.argv[1])))' "$T/r4.jsonl")"

expect_err "model required" 2 "-m MODEL" eval --task arith
expect_err "task or items" 2 "exactly one of" eval -m $M
expect_err "other report formats refused" 2 "expected a .svg or .png" eval -m $M --task arith --report x.jpg
expect_err "bad difficulty" 2 "--difficulty" eval -m $M --task arith --difficulty 3-1
expect_err "difficulty range" 2 "out of range" eval -m $M --task sudoku --difficulty 1-99
expect_err "missing model" 1 "nonexistent" eval -m "$T/nonexistent.gguf" --task arith --n 1
exit $fail
