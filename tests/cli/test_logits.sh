#!/bin/bash
# tests/cli/test_logits.sh — `ponder logits` on tiny-llama against llama.cpp's logits
# (../shared/fixtures/models/tiny-llama.logits.f32: all 21 positions × 32000), plus its errors.
# Usage: bash tests/cli/test_logits.sh path/to/ponder   (from the repo root)
set -u
PONDER=${1:?usage: test_logits.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
FIX=$FX/models
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

TOKENS=$(cut -f1 "$FIX/tiny-llama.tokens.txt" | paste -sd, -)
V=32000

# max |a-b| / max |b| of two raw f32 files (b = golden; optional row offset into b, in floats)
relerr() {
    paste <(od -An -v -tf4 -w4 "$1") <(od -An -v -tf4 -w4 "$2" | tail -n +$(( ${3:-0} + 1 ))) |
        awk 'NF == 2 { d = $1 - $2; if (d < 0) d = -d; if (d > w) w = d; g = $2 < 0 ? -$2 : $2; if (g > m) m = g; n++ }
             END { if (n == 0 || m == 0) print "nan"; else printf "%.3e\n", w / m }'
}
# a <= b, and a is a number (relerr prints "nan" for an empty file: mawk takes nan <= b as true)
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a ~ /^[0-9][0-9.e+-]*$/ && a + 0 <= b + 0) }'; }

# all positions, F32 cache: 1e-4 of the largest logit (measured ~1e-7)
"$PONDER" logits -m "$FIX/tiny-llama.gguf" --tokens "$TOKENS" --all --threads 2 --out "$T/all.f32" || fail "logits --all"
[ "$(stat -c %s "$T/all.f32")" = $(( 21 * V * 4 )) ] || fail "--all size $(stat -c %s "$T/all.f32")"
e=$(relerr "$T/all.f32" "$FIX/tiny-llama.logits.f32")
echo "tiny-llama --all: worst rel err $e"
le "$e" 1e-4 || fail "--all rel err $e"

# last position only: equals the golden's last row
"$PONDER" logits -m "$FIX/tiny-llama.gguf" --tokens "$TOKENS" --threads 1 --out "$T/last.f32" || fail "logits"
[ "$(stat -c %s "$T/last.f32")" = $(( V * 4 )) ] || fail "last-row size"
e=$(relerr "$T/last.f32" "$FIX/tiny-llama.logits.f32" $(( 20 * V )))
echo "tiny-llama last row: worst rel err $e"
le "$e" 1e-4 || fail "last row rel err $e"

# F16 cache: K/V rounded to 11 bits → within 3e-3 of the largest logit, but not identical
"$PONDER" logits -m "$FIX/tiny-llama.gguf" --tokens "$TOKENS" --all --kv f16 --out "$T/f16.f32" || fail "--kv f16"
e=$(relerr "$T/f16.f32" "$FIX/tiny-llama.logits.f32")
echo "tiny-llama --kv f16: worst rel err $e"
le "$e" 3e-3 || fail "--kv f16 rel err $e"

# errors: bad id named (usage, exit 2), unknown kv type, missing flags, missing model file (exit 1)
"$PONDER" logits -m "$FIX/tiny-llama.gguf" --tokens 1,32000 --out "$T/x" 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q "32000" "$T/err" || fail "bad id: rc $rc, $(cat "$T/err")"
"$PONDER" logits -m "$FIX/tiny-llama.gguf" --tokens 1,x --out "$T/x" 2> "$T/err"; rc=$?
[ $rc = 2 ] && grep -q "'x'" "$T/err" || fail "non-numeric id: rc $rc"
"$PONDER" logits -m "$FIX/tiny-llama.gguf" --tokens 1 --kv q8 --out "$T/x" 2> "$T/err"; rc=$?
[ $rc = 2 ] || fail "--kv q8 accepted"
"$PONDER" logits --tokens 1 --out "$T/x" 2> /dev/null; rc=$?
[ $rc = 2 ] || fail "missing -m: rc $rc"
"$PONDER" logits -m "$T/none.gguf" --tokens 1 --out "$T/x" 2> "$T/err"; rc=$?
[ $rc = 1 ] && grep -q "none.gguf" "$T/err" || fail "missing model: rc $rc"
[ "$(wc -l < "$T/err")" = 1 ] || fail "error is not one line"
# --top: the printed best id at the last position is llama.cpp's top-1 there
top1=$(awk '$1 == 20 { split($3, a, ":"); print a[1] }' "$FIX/tiny-llama.top5.txt")
"$PONDER" logits -m "$FIX/tiny-llama.gguf" --tokens "$TOKENS" --top 5 > "$T/top" || fail "--top"
[ "$(wc -l < "$T/top")" = 1 ] && grep -q -- "->  $top1 " "$T/top" || fail "--top: want $top1, got $(cat "$T/top")"
"$PONDER" logits --help | grep -q -- "--tokens" || fail "--help"
echo "test_logits: ok"
