#!/bin/bash
# tests/cli/test_policies.sh — `ponder policies` (registry listing, pareto table/plot on a hand-made
# file), `--policy` parsing errors (exit 2, message names policy and key) in run/eval/chat, and
# --policy s1 / anytime / vote / trimr-probe through `ponder run` on tiny-qwen3 (JSON parses).
# Usage: bash tests/cli/test_policies.sh path/to/ponder   (from the repo root)
set -u
PONDER=${1:?usage: test_policies.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. the registry lists every method with its parameters
"$PONDER" policies > "$T/list.txt" || fail "policies"
for m in s1 anytime trimr-probe trimr vote; do grep -q "^$m" "$T/list.txt" || fail "policies lacks $m"; done
grep -q "wait .*default 1 " "$T/list.txt" || fail "s1 wait default"
"$PONDER" policies --bogus 2>/dev/null; [ $? = 2 ] || fail "policies --bogus exit"

# 2. pareto: hand-checked best (b: 50% fewer tokens, 0.5 point lost) and frontier
cat > "$T/p.jsonl" <<'J'
{"method":"none","accuracy":0.90,"thinking":200,"wall_s":1.0}
{"method":"a","accuracy":0.80,"thinking":80}
{"method":"b","accuracy":0.895,"thinking":100}
{"method":"c","accuracy":0.85,"thinking":250}
J
"$PONDER" policies pareto "$T/p.jsonl" --plot "$T/p.svg" > "$T/pareto.txt" || fail "pareto"
grep -q 'best within 1 point of "none": b, 50.0% fewer' "$T/pareto.txt" || fail "pareto best: $(cat "$T/pareto.txt")"
grep -E '^c +' "$T/pareto.txt" | grep -q '\*' && fail "c is dominated"
grep -E '^a +' "$T/pareto.txt" | grep -q '\*' || fail "a is on the frontier"
grep -q '<svg' "$T/p.svg" || fail "pareto svg"
# --baseline and the paired interval: against "a" (0.80, 80 tokens) nothing is cheaper; against "c"
# (0.85, 250) "b" saves 60% ("a" is 5 points below) and its interval is printed on its row and with the verdict
cat > "$T/q.jsonl" <<'J'
{"method":"a","accuracy":0.80,"thinking":80}
{"method":"b","accuracy":0.895,"thinking":100,"delta_lo":2.5,"delta_hi":16.5}
{"method":"c","accuracy":0.85,"thinking":250}
{"method":"d","accuracy":0.5,"thinking":900,"delta":-3.25,"delta_lo":-9,"delta_hi":2.5}
J
"$PONDER" policies pareto "$T/q.jsonl" --baseline c > "$T/q.txt" || fail "pareto --baseline"
grep -q 'best within 1 point of "c": b, 60.0% fewer.*interval \[+2.5, +16.5\] points' "$T/q.txt" ||
    fail "baseline c best: $(cat "$T/q.txt")"
grep -E '^b +' "$T/q.txt" | grep -q '+4.5 \[+2.5, +16.5\]' || fail "interval on b's row: $(cat "$T/q.txt")"
grep -E '^d +' "$T/q.txt" | grep -q -- '-3.2 \[-9.0, +2.5\]' || fail "given delta on d's row: $(cat "$T/q.txt")"
"$PONDER" policies pareto "$T/q.jsonl" --baseline a > "$T/q.txt" || fail "pareto --baseline a"
grep -q 'no method uses fewer thinking tokens than "a"' "$T/q.txt" || fail "baseline a: $(cat "$T/q.txt")"
"$PONDER" policies pareto "$T/q.jsonl" --baseline zz > /dev/null 2> "$T/err"; [ $? = 2 ] || fail "unknown baseline exit"
grep -q "no method named 'zz'" "$T/err" || fail "unknown baseline message"
echo '{"method":"x"}' > "$T/bad.jsonl"
"$PONDER" policies pareto "$T/bad.jsonl" 2> "$T/err" && fail "bad pareto input accepted"
grep -q "bad.jsonl:1" "$T/err" || fail "pareto error names the line"

need_fixtures
M=$FX/models/tiny-qwen3.gguf
# 3. usage errors name policy and key, exit 2
"$PONDER" run -m "$M" -p hi --policy s1:foo=1 2> "$T/err"; [ $? = 2 ] || fail "unknown key exit"
grep -q "policy s1: unknown key 'foo'" "$T/err" || fail "unknown key message"
"$PONDER" run -m "$M" -p hi --policy nope 2> "$T/err"; [ $? = 2 ] || fail "unknown policy exit"
"$PONDER" run -m "$M" -p hi --policy vote:mode=best 2> "$T/err"; [ $? = 2 ] || fail "bad choice exit"
grep -q "mode=best is not one of majority|logprob|verifier" "$T/err" || fail "choice message"
"$PONDER" run -m "$M" -p hi --policy vote --policy vote 2> "$T/err"; [ $? = 2 ] || fail "two drivers"
echo hi | "$PONDER" chat -m "$M" --policy trimr-probe 2> "$T/err"; [ $? = 2 ] || fail "chat trimr-probe"

# 4. the policies run (mechanics on a random model: JSON parses, limits hold)
"$PONDER" run -m "$M" -p "What is 2+3?" --seed 3 -n 40 --policy s1:wait=2,max=20 --policy anytime:think=30,answer=8 \
    --json > "$T/s1.json" || fail "run s1+anytime"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['usage']['completion_tokens'] <= 40" "$T/s1.json" ||
    fail "s1 json"
"$PONDER" run -m "$M" -p "What is 2+3?" --seed 3 -n 20 --policy vote:n=3,adaptive=0 --json > "$T/v.json" 2> "$T/v.err" ||
    fail "run vote"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/v.json" || fail "vote json"
grep -q "vote (majority).*3 samples finished, 0 stopped early" "$T/v.err" || fail "vote summary: $(cat "$T/v.err")"
"$PONDER" run -m "$M" -p "What is 2+3?" --seed 3 -n 20 --policy vote:n=3,mode=verifier,verifier=$FX/models/tiny-qwen2.gguf \
    --json > "$T/vv.json" 2> "$T/vv.err" || fail "run vote verifier: $(cat "$T/vv.err")"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/vv.json" || fail "vote verifier json"
grep -q "vote (verifier).*3 samples finished" "$T/vv.err" || fail "vote verifier summary: $(cat "$T/vv.err")"
"$PONDER" run -m "$M" -p "What is 2+3?" -n 8 --policy vote:n=2,mode=verifier 2> "$T/vn.err" > /dev/null; [ $? = 1 ] ||
    fail "vote verifier without a model: exit"
grep -q "needs verifier=FILE" "$T/vn.err" || fail "vote verifier without a model: $(cat "$T/vn.err")"
"$PONDER" run -m "$M" -p "What is 2+3?" --seed 3 -n 30 --policy trimr-probe --json > "$T/t.json" 2> "$T/t.err" ||
    fail "run trimr-probe"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/t.json" || fail "trimr-probe json"
"$PONDER" run -m "$M" -p "What is 2+3?" --seed 3 -n 30 --policy spec-think:large=$FX/models/tiny-qwen2.gguf,probe=1 \
    --json > "$T/sp.json" || fail "run spec-think"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$T/sp.json" || fail "spec-think json"
"$PONDER" run -m "$M" -p hi --policy spec-think 2> "$T/err" && fail "spec-think without a large model"
grep -q "needs a large model" "$T/err" || fail "spec-think message"
"$PONDER" eval -m "$M" --task arith --n 2 -n 16 --policy trimr-probe --policy s1 > "$T/e.txt" || fail "eval with policies"
grep -q "^accuracy" "$T/e.txt" || fail "eval summary"
# vote inside eval: one record per item, the vote written into it (JSON parses, counts add up)
"$PONDER" eval -m "$M" --task arith --n 2 -n 16 --policy vote:n=3,adaptive=0 --out "$T/ev.jsonl" > "$T/ev.txt" ||
    fail "eval with vote"
grep -q "^vote " "$T/ev.txt" || fail "eval vote summary line"
python3 -c "
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 2, recs
for r in recs:
    v = r['vote']
    assert v['samples'] == 3 and v['finished'] + v['stopped'] == 3, v
    assert v['answer'] == r['extracted'] or v['answer'] is None, (v, r['extracted'])
" "$T/ev.jsonl" || fail "eval vote records"
"$PONDER" eval -m "$M" --task arith --n 2 -n 16 --policy vote --samples 2 2> "$T/err"; [ $? = 2 ] || fail "eval vote with --samples 2"
# anytime with votes at the cut: a prompt that opens thinking, cut by think=10, 4 short answers voted
"$PONDER" run -m "$M" --no-template -p "$(printf '<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n<think>\n')" \
    --seed 3 -n 60 --policy anytime:think=10,answer=8,votes=4 --json > "$T/av.json" 2> "$T/av.err" || fail "run anytime votes"
grep -q "anytime: thinking cut at 10 tokens; 4 short answers voted" "$T/av.err" || fail "anytime votes line: $(cat "$T/av.err")"
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['usage']['thinking_tokens'] <= 10, d['usage']" "$T/av.json" ||
    fail "anytime votes json"
"$PONDER" eval -m "$M" --task arith --n 2 -n 16 --policy anytime:think=10,answer=8,votes=3 --out "$T/ea.jsonl" > /dev/null 2>&1 ||
    fail "eval anytime votes"
python3 -c "import json,sys; [json.loads(l)['vote'] for l in open(sys.argv[1])]" "$T/ea.jsonl" || fail "eval anytime records"
echo hi | "$PONDER" chat -m "$M" --policy anytime:votes=2 2> "$T/err"; [ $? = 2 ] || fail "chat anytime votes"
echo "ok"
