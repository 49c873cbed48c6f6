#!/usr/bin/env bash
# tests/cli/test_tasks.sh — `ponder tasks list|gen|score`: determinism of gen (same seed → same
# bytes), disjoint train/test splits, scoring of hand-written outputs (expected accuracies counted
# by hand below), --extract, the jsonl user task, REST bundles, malformed lines, usage errors.
# Run: bash tests/cli/test_tasks.sh PONDER
set -u
P=${1:?usage: test_tasks.sh /path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # name, expected, actual
  if [ "$2" != "$3" ]; then echo "FAIL $1: expected '$2', got '$3'"; fail=1; else echo "ok   $1"; fi
}
expect_err() { # name, code, grep-pattern, args...
  local name=$1 code=$2 pat=$3; shift 3
  local err; err=$("$P" "$@" 2>&1 >/dev/null); local rc=$?
  if [ $rc -ne "$code" ] || ! grep -q -- "$pat" <<<"$err"; then echo "FAIL $name: rc=$rc err='$err'"; fail=1; else echo "ok   $name"; fi
}
# pull a string field out of a JSONL line (values written by cJSON: no raw newlines)
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"; }

# list names every task
check "list has 8 tasks + variants" 13 "$("$P" tasks list | grep -cE '^(arith|arith-add|arith-sub|arith-mul|countdown|logic|syllogism|graph|sudoku|alchemy|alchemy-len|logicasker|jsonl) ')"

# gen: N lines, same seed same bytes, other seed other bytes
for t in arith countdown logic syllogism graph sudoku alchemy logicasker; do
  "$P" tasks gen --task $t --n 20 --seed 5 > "$T/$t.a" 2>/dev/null
  "$P" tasks gen --task $t --n 20 --seed 5 > "$T/$t.b" 2>/dev/null
  "$P" tasks gen --task $t --n 20 --seed 6 > "$T/$t.c" 2>/dev/null
  check "$t gen 20 lines" 20 "$(wc -l < "$T/$t.a")"
  check "$t gen deterministic" same "$(cmp -s "$T/$t.a" "$T/$t.b" && echo same || echo differ)"
  check "$t gen seed matters" differ "$(cmp -s "$T/$t.a" "$T/$t.c" && echo same || echo differ)"
done
check "gen ids" "arith-5-0" "$(head -1 "$T/arith.a" | field id)"
check "gen difficulty" 4 "$("$P" tasks gen --task arith-add --n 1 --difficulty 4 2>/dev/null | field prompt | tr -cd '0-9' | wc -c | awk '{print $1/2}')"

# train and test prompts are disjoint
"$P" tasks gen --task arith --difficulty 2 --n 300 --split train --seed 1 2>/dev/null | python3 -c 'import json,sys; [print(json.loads(l)["prompt"]) for l in sys.stdin]' | sort -u > "$T/train"
"$P" tasks gen --task arith --difficulty 2 --n 300 --split test --seed 1 2>/dev/null | python3 -c 'import json,sys; [print(json.loads(l)["prompt"]) for l in sys.stdin]' | sort -u > "$T/test"
check "train/test disjoint" 0 "$(comm -12 "$T/train" "$T/test" | wc -l)"
check "both splits non-empty" yes "$([ "$(wc -l < "$T/train")" -gt 100 ] && [ "$(wc -l < "$T/test")" -gt 5 ] && echo yes || echo no)"

# score: hand-written outputs for 3 arith-add items of known content
"$P" tasks gen --task arith-add --n 3 --seed 11 --difficulty 2 > "$T/items.jsonl" 2>/dev/null
a0=$(sed -n 1p "$T/items.jsonl" | field answer); a1=$(sed -n 2p "$T/items.jsonl" | field answer)
cat > "$T/out.jsonl" <<EOF
{"id": "arith-add-11-0", "output": "<think>$a1 maybe</think>The sum is $a0."}
{"id": "arith-add-11-1", "output": "<think>it is $a1</think>"}
{"id": "arith-add-11-2", "output": "<answer>-1</answer>"}
not json
{"id": "nope", "output": "1"}
EOF
out=$("$P" tasks score "$T/items.jsonl" "$T/out.jsonl" --out "$T/per.jsonl" 2>"$T/err")
check "score accuracy 1/3" "accuracy 1/3" "$(grep -o '^accuracy [0-9]*/[0-9]*' <<<"$out")"
check "score reports bad line 4" 1 "$(grep -c 'out.jsonl: line 4: invalid JSON' "$T/err")"
check "score reports unknown id" 1 "$(grep -c "id 'nope' is not in" "$T/err")"
check "per-item records" 3 "$(wc -l < "$T/per.jsonl")"
check "per-item extracted" "$a0" "$(head -1 "$T/per.jsonl" | field extracted)"
check "thinking-only is no answer" "no answer" "$(sed -n 2p "$T/per.jsonl" | field reason)"
expect_err "strict makes bad lines fatal" 1 "line 4" tasks score "$T/items.jsonl" "$T/out.jsonl" --strict

# --extract and the jsonl user task (GSM8K-style references)
cat > "$T/user.jsonl" <<'EOF'
{"id": "g1", "prompt": "How many?", "answer": "Some work\n#### 1,000"}
{"id": "g2", "prompt": "Half?", "answer": "\\frac{1}{2}"}
{"id": "g3", "prompt": "Yes?", "answer": "yes"}
{"id": "g4" "prompt": broken}
EOF
cat > "$T/uout.jsonl" <<'EOF'
{"id": "g1", "output": "<think>maybe 999</think>So 1000 in total. #### 1000"}
{"id": "g2", "output": "The answer is \\boxed{0.5}"}
{"id": "g3", "output": "\\boxed{Yes}"}
EOF
out=$("$P" tasks score --task jsonl "$T/user.jsonl" "$T/uout.jsonl" 2>"$T/err")
check "jsonl auto 3/3" "accuracy 3/3" "$(grep -o '^accuracy [0-9]*/[0-9]*' <<<"$out")"
check "jsonl malformed line reported" 1 "$(grep -c 'user.jsonl: line 4' "$T/err")"
out=$("$P" tasks score --task jsonl "$T/user.jsonl" "$T/uout.jsonl" --extract gsm8k 2>/dev/null)
check "jsonl --extract gsm8k 1/3" "accuracy 1/3" "$(grep -o '^accuracy [0-9]*/[0-9]*' <<<"$out")"
out=$("$P" tasks score --task jsonl "$T/user.jsonl" "$T/uout.jsonl" --extract last-number 2>/dev/null)
check "jsonl --extract last-number 2/3" "accuracy 2/3" "$(grep -o '^accuracy [0-9]*/[0-9]*' <<<"$out")"

# REST bundles: k=3, answers for Q1 and Q3 right, Q2 wrong
"$P" tasks gen --task arith-add --n 4 --rest 3 --seed 2 --difficulty 2 > "$T/rest.jsonl" 2>/dev/null
check "rest prompt numbering" 1 "$(head -1 "$T/rest.jsonl" | field prompt | grep -c '^Q3: ')"
python3 - "$T/rest.jsonl" > "$T/rout.jsonl" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    it = json.loads(l); a = it["answer"].split("; ")
    print(json.dumps({"id": it["id"], "output": "<think>x</think>Q1 \\boxed{%s} Q2 \\boxed{%s0} Q3 \\boxed{%s}" % (a[0], a[1], a[2])}))
EOF
out=$("$P" tasks score "$T/rest.jsonl" "$T/rout.jsonl" 2>/dev/null)
check "rest per position" "per-position accuracy: Q1 1.0000 Q2 0.0000 Q3 1.0000" "$(head -1 <<<"$out")"
check "rest overall" "rest accuracy 0.6667 over 12 questions" "$(sed -n 2p <<<"$out")"

# usage errors
expect_err "no verb" 2 "list, gen, score" tasks bogus
expect_err "gen needs task" 2 "task is required" tasks gen --n 3
expect_err "unknown task" 2 "unknown task 'nope'" tasks gen --task nope
expect_err "difficulty range" 2 "out of range" tasks gen --task sudoku --difficulty 99
expect_err "bad split" 2 "--split" tasks gen --task arith --split dev
expect_err "bad extractor" 2 "unknown extractor" tasks score a b --extract foo
expect_err "score needs two files" 2 "need ITEMS" tasks score a
expect_err "missing file" 1 "nonexistent" tasks score "$T/nonexistent.jsonl" "$T/out.jsonl"
# --overthink-style counted: the stated count (1 + the question's last digit's byte mod 3) matches the numbered re-checks
line=$("$P" tasks gen --task arith-add --difficulty 2 --n 1 --seed 4 --overthink 3 --overthink-min 1 --overthink-style counted)
check "counted style: stated = numbered = rule" ok "$(python3 -c '
import json, re, sys
d = json.loads(sys.argv[1]); r = d["reasoning"]
k = 1 + ord([c for c in d["prompt"] if c.isdigit()][-1]) % 3
said = int(re.match(r"I will solve it, then double-check it (\d+) time", r).group(1))
nums = [int(a) for a, b in re.findall(r"\(check (\d+) of (\d+)\)", r)]
print("ok" if said == k and nums == list(range(1, k + 1)) else "bad %d %d %s" % (k, said, nums))' "$line")"
expect_err "bad overthink style" 2 "expected drawn or counted" tasks gen --task arith --overthink 2 --overthink-style x
expect_err "overthink-min above K" 2 "is above --overthink" tasks gen --task arith --overthink 2 --overthink-min 3
exit $fail
