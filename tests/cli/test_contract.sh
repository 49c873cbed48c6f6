#!/usr/bin/env bash
# tests/cli/test_contract.sh — the output contract of the generating verbs (issue 9): every JSON is
# valid UTF-8 JSON (a real parser reads it strictly), token ids exact in a field of their own,
# seeds as integer strings that reproduce the run, OpenAI finish_reason + ponder's finish_detail,
# -n 0 = no tokens, the thinking-budget contract from the JSON usage, eval records compact, in item
# order whatever --parallel, distinct items, context overflow as a failed record, tasks score
# duplicates, flags that would be ignored are errors, and a full disk is an error.
# Run: bash tests/cli/test_contract.sh PONDER (from the repo root)
set -u
P=${1:?usage: test_contract.sh /path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
Q=$FX/models/tiny-qwen3.gguf
L=$FX/models/tiny-llama.gguf
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
check() { if [ "$2" != "$3" ]; then bad "$1: expected '$2', got '$3'"; else ok "$1"; fi; }
expect_err() { # name code pattern args...
  local name=$1 code=$2 pat=$3; shift 3
  local err; err=$("$P" "$@" 2>&1 >/dev/null); local rc=$?
  if [ $rc -ne "$code" ] || ! grep -q -- "$pat" <<<"$err"; then bad "$name: rc=$rc err='$err'"; else ok "$name"; fi
}
# strict UTF-8 + JSON: python decodes the bytes as UTF-8 (errors raise), then parses
py() { python3 - "$@"; }

# ---- run --json: valid UTF-8 for random-weight output that cuts characters (the issue's repro) ----
n_ok=0
for s in $(seq 1 12); do
  "$P" run -m "$Q" -p hi -n 40 --json --seed "$s" --temp 1.5 --top-k 0 --top-p 1 > "$T/r$s.json" 2>/dev/null || continue
  py "$T/r$s.json" <<'EOF' && n_ok=$((n_ok+1))
import json, sys
d = json.loads(open(sys.argv[1], 'rb').read().decode('utf-8'))
u = d['usage']
assert isinstance(d['token_ids'], list) and len(d['token_ids']) == u['completion_tokens'] == 40
assert d['finish_reason'] == 'length' and d['finish_detail'] == 'max_tokens'
EOF
done
check "run --json: 12 random seeds, valid UTF-8 JSON with token_ids" 12 "$n_ok"
# at least one of them needed a replacement character (else the test would prove nothing)
check "some output held a cut character (U+FFFD)" yes \
  "$(py "$T"/r*.json <<'EOF'
import json, sys
print('yes' if any('\ufffd' in json.load(open(f, encoding='utf-8'))['answer'] for f in sys.argv[1:]) else 'no')
EOF
)"

# ---- seeds: an integer string that reproduces the run ----
"$P" run -m "$Q" -p hi -n 12 --temp 1 --seed 9007199254740993 --json > "$T/s1.json" 2>/dev/null
seed=$(py "$T/s1.json" <<'EOF'
import json, sys; print(json.load(open(sys.argv[1]))['seed'])
EOF
)
check "seed 2^53+1 printed exactly, as a string" 9007199254740993 "$seed"
check "seed is a JSON string" str "$(py "$T/s1.json" <<'EOF'
import json, sys; print(type(json.load(open(sys.argv[1]))['seed']).__name__)
EOF
)"
"$P" run -m "$Q" -p hi -n 12 --temp 1 --seed "$seed" --json > "$T/s2.json" 2>/dev/null
check "the printed seed reproduces the run" same "$(py "$T/s1.json" "$T/s2.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
print('same' if a['token_ids'] == b['token_ids'] else 'different')
EOF
)"
# without --seed the printed (clock) seed reproduces too
"$P" run -m "$Q" -p hi -n 8 --temp 1 --json > "$T/c1.json" 2>/dev/null
cs=$(py "$T/c1.json" <<'EOF'
import json, sys; print(json.load(open(sys.argv[1]))['seed'])
EOF
)
"$P" run -m "$Q" -p hi -n 8 --temp 1 --json --seed "$cs" > "$T/c2.json" 2>/dev/null
check "the clock seed reproduces" same "$(py "$T/c1.json" "$T/c2.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
print('same' if a['token_ids'] == b['token_ids'] and len(a['token_ids']) == 8 else 'different')
EOF
)"

# ---- finish_reason (OpenAI) and finish_detail (ponder) ----
fin() { py "$1" <<'EOF'
import json, sys; d = json.load(open(sys.argv[1])); print(d['finish_reason'], d['finish_detail'])
EOF
}
"$P" run -m "$Q" -p hi -n 5 --temp 0 --json > "$T/f1.json" 2>/dev/null
check "max tokens: length/max_tokens" "length max_tokens" "$(fin "$T/f1.json")"
"$P" run -m "$Q" -p hi -n 50 --temp 0 --answer-budget 4 --json > "$T/f2.json" 2>/dev/null
check "answer budget: length/answer_budget" "length answer_budget" "$(fin "$T/f2.json")"
"$P" run -m "$Q" -p hi -n 200 -c 40 --temp 0 --json > "$T/f3.json" 2>/dev/null
check "context: length/context" "length context" "$(fin "$T/f3.json")"
# (stop strings: stop/stop_string is checked in tests/gen/test_finish.c)

# ---- -n 0: zero new tokens (-1: unlimited) ----
timeout 60 "$P" run -m "$Q" -p hi -n 0 --json > "$T/n0.json" 2>/dev/null
check "run -n 0: no tokens" "0 length max_tokens" "$(py "$T/n0.json" <<'EOF'
import json, sys; d = json.load(open(sys.argv[1])); print(d['usage']['completion_tokens'], d['finish_reason'], d['finish_detail'])
EOF
)"
"$P" run -m "$Q" -p hi -n -1 -c 32 --temp 0 --json > "$T/nm1.json" 2>/dev/null
check "run -n -1: until the context" "length context" "$(fin "$T/nm1.json")"
timeout 60 "$P" eval -m "$L" --task arith --n 2 -n 0 -c 256 --out "$T/e0.jsonl" > /dev/null 2>&1
check "eval -n 0: no tokens" "0 0" "$(py "$T/e0.jsonl" <<'EOF'
import json, sys; print(*[json.loads(l)['answer_tokens'] for l in open(sys.argv[1])])
EOF
)"

# ---- the thinking-budget contract: thinking_tokens <= N always, message separated ----
RAW=$(printf '<|im_start|>user\nWhat is 12+35?<|im_end|>\n<|im_start|>assistant\n<think>\n')
viol=0; runs=0; msgs=0
for N in 1 2 5 16; do
  for m in "" "Time is up."; do
    for s in 1 2 3; do
      args=(--think-budget "$N"); [ -n "$m" ] && args+=(--budget-message "$m")
      "$P" run -m "$Q" --no-template -p "$RAW" -n 40 --temp 1 --top-k 0 --top-p 1 --seed "$s" --json "${args[@]}" \
        > "$T/b.json" 2>/dev/null || { viol=$((viol+1)); continue; }
      runs=$((runs+1))
      r=$(py "$T/b.json" "$N" "$m" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); N = int(sys.argv[2]); msg = sys.argv[3]
t = d['usage']['thinking_tokens']
# <= N always; the random model never closes by itself, so the budget is used up to the one
# token a bare closer saves when the text already ends in a newline
bad = t > N or t < N - 1
i = d['thinking'].find(msg) if msg else -1
glued = msg and i > 0 and d['thinking'][i - 1] != '\n'
print('bad' if bad or glued else ('msg' if i >= 0 else 'ok'))
EOF
)
      [ "$r" = bad ] && { viol=$((viol+1)); echo "  budget $N msg '$m' seed $s: $(py "$T/b.json" <<< 'import json,sys; d=json.load(open(sys.argv[1])); print(d["usage"], ascii(d["thinking"][-60:]))')"; }
      [ "$r" = msg ] && msgs=$((msgs+1))
    done
  done
done
check "think budgets 1/2/5/16 x message x 3 seeds: N-1 <= thinking_tokens <= N, message not glued" "24 0" "$runs $viol"
check "the message appears where it fits (budget 16: 3 seeds)" 3 "$msgs"
# budget 0 = the family's no-think form: the same prompt as --no-think, no thinking at all
for s in 1 2 3; do
  "$P" run -m "$Q" -p "What is 12+35?" -n 30 --temp 1 --seed $s --think-budget 0 --json > "$T/z.json" 2>/dev/null
  "$P" run -m "$Q" -p "What is 12+35?" -n 30 --temp 1 --seed $s --no-think --json > "$T/nt.json" 2>/dev/null
  check "budget 0 seed $s: no thinking, same prompt as --no-think" "0 same" "$(py "$T/z.json" "$T/nt.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
print(a['usage']['thinking_tokens'], 'same' if a['usage']['prompt_tokens'] == b['usage']['prompt_tokens'] and a['token_ids'] == b['token_ids'] else 'different')
EOF
)"
done

# ---- eval records: compact JSONL in item order whatever --parallel, seeds as strings ----
"$P" eval -m "$L" --task arith --n 5 --difficulty 1-2 --samples 2 -n 6 --temp 1 --parallel 1 --out "$T/p1.jsonl" >/dev/null 2>&1
"$P" eval -m "$L" --task arith --n 5 --difficulty 1-2 --samples 2 -n 6 --temp 1 --parallel 7 --out "$T/p7.jsonl" >/dev/null 2>&1
check "records identical line by line for --parallel 1 and 7 (wall time aside)" "" \
  "$(diff <(sed 's/"wall_s":[^,]*,//' "$T/p1.jsonl") <(sed 's/"wall_s":[^,]*,//' "$T/p7.jsonl"))"
check "records: compact, item order, fields" ok "$(py "$T/p7.jsonl" <<'EOF'
import json, sys
lines = open(sys.argv[1], 'rb').read().decode('utf-8').split('\n')
assert lines[-1] == '' and len(lines) == 21
order = []
for l in lines[:-1]:
    assert ': ' not in l.split('"prompt"')[0]           # compact
    r = json.loads(l)
    assert isinstance(r['seed'], str) and r['seed'].isdigit()
    assert r['finish_reason'] in ('stop', 'length') and r['finish_detail']
    assert len(r['token_ids']) == r['thinking_tokens'] + r['answer_tokens']
    order.append((r['id'], r['sample']))
want = [(f'arith-d{d}-{i}', s) for d in (1, 2) for i in range(5) for s in (0, 1)]
assert order == want, order
print('ok')
EOF
)"
# an eval record's seed reproduces the sample with ponder run
"$P" eval -m "$L" --task arith --n 1 -n 6 --temp 1 --seed 5 --out "$T/one.jsonl" >/dev/null 2>&1
py "$T/one.jsonl" "$T" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
open(sys.argv[2] + '/rs', 'w').write(r['seed'])
open(sys.argv[2] + '/rp', 'w').write(r['prompt'])
open(sys.argv[2] + '/rids', 'w').write(','.join(map(str, r['token_ids'])))
EOF
"$P" run -m "$L" -p "$(cat "$T/rp")" -n 6 --temp 1 --seed "$(cat "$T/rs")" --json > "$T/rr.json" 2>/dev/null
[ -s "$T/rids" ] || bad "record has no seed/token_ids"
check "record seed reproduces with ponder run" "$(cat "$T/rids")" "$(py "$T/rr.json" <<< 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["token_ids"])))')"

# ---- eval: distinct items, duplicate ids, prompts longer than the context ----
err=$("$P" eval -m "$L" --task arith-add --difficulty 1 --n 200 -n 2 --out "$T/d.jsonl" 2>&1 >/dev/null)
nd=$(wc -l < "$T/d.jsonl")
check "arith-add d1 test split: distinct prompts only" "$nd" "$(py "$T/d.jsonl" <<< 'import json,sys; print(len({json.loads(l)["prompt"] for l in open(sys.argv[1])}))')"
if [ "$nd" -lt 200 ] && grep -q "only $nd distinct items" <<<"$err"; then ok "says how many distinct items exist ($nd)"; else bad "distinct note: $nd lines, '$err'"; fi
printf '{"id":"a","prompt":"x","answer":"1"}\n{"id":"a","prompt":"y","answer":"2"}\n' > "$T/dup.jsonl"
expect_err "eval --items with a duplicate id" 2 "'a' appears more than once" eval -m "$L" --items "$T/dup.jsonl"
long=$(py <<< "print('word ' * 120)")
printf '{"id":"s","prompt":"hi","answer":"1"}\n{"id":"l","prompt":"%s","answer":"2"}\n{"id":"t","prompt":"yo","answer":"3"}\n' "$long" > "$T/long.jsonl"
out=$("$P" eval -m "$L" --items "$T/long.jsonl" -c 48 -n 4 --out "$T/long.out" 2>/dev/null); rc=$?
check "eval goes on past a prompt longer than the context" "0 3" "$rc $(wc -l < "$T/long.out")"
check "the long prompt is a failed record (length/context, score 0)" "length context 0 0" "$(py "$T/long.out" <<'EOF'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][1]
print(r['finish_reason'], r['finish_detail'], r['score'], r['answer_tokens'])
EOF
)"
if grep -q "^context .*1 record" <<<"$out"; then ok "summary counts context failures"; else bad "summary: $out"; fi

# ---- tasks score: duplicates and unknown ids skipped with a count (errors with --strict) ----
"$P" tasks gen --task arith --n 3 --seed 1 > "$T/it.jsonl" 2>/dev/null
py "$T/it.jsonl" > "$T/outs.jsonl" <<'EOF'
import json, sys
it = [json.loads(l) for l in open(sys.argv[1])]
for _ in range(3): print(json.dumps({'id': it[0]['id'], 'output': 'The answer is ' + it[0]['answer']}))
print(json.dumps({'id': 'nope', 'output': '1'}))
EOF
out=$("$P" tasks score "$T/it.jsonl" "$T/outs.jsonl" 2>/dev/null)
check "tasks score: one output per item, accuracy over items" "accuracy 1/3 (33.33%)" "$(grep -o 'accuracy [0-9/]* ([0-9.]*%)' <<<"$out")"
if grep -q "unknown ids 1, duplicates 2" <<<"$out"; then ok "tasks score counts skipped lines"; else bad "tasks score counts: $out"; fi
expect_err "tasks score --strict: duplicate is an error" 1 "has an output already" tasks score --strict "$T/it.jsonl" "$T/outs.jsonl"
cat "$T/it.jsonl" "$T/it.jsonl" > "$T/it2.jsonl"
expect_err "tasks score: duplicate item ids" 1 "appears more than once" tasks score "$T/it2.jsonl" "$T/outs.jsonl"
# records of tasks score are valid UTF-8 JSON even for outputs with broken bytes
printf '{"id":"%s","output":"x\xff\xe4\xb8 \\u00e9 1"}\n' "$(py "$T/it.jsonl" <<< 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["id"])')" > "$T/o8.jsonl"
"$P" tasks score --out "$T/sc.jsonl" "$T/it.jsonl" "$T/o8.jsonl" > /dev/null 2>&1
check "tasks score records: valid UTF-8 JSON" 1 "$(py "$T/sc.jsonl" <<< 'import json,sys; print(len([json.loads(l) for l in open(sys.argv[1],"rb").read().decode("utf-8").splitlines()]))')"

# ---- flags that would be accepted and ignored are errors naming the flag ----
expect_err "--system with --no-template" 2 "\-\-system" run -m "$L" -p hi --system s --no-template
expect_err "--budget-message without a budget" 2 "\-\-budget-message" run -m "$L" -p hi --budget-message m
expect_err "--budget-message with budget 0" 2 "\-\-budget-message" run -m "$L" -p hi --budget-message m --think-budget 0
expect_err "--adapter-scale without --adapter" 2 "\-\-adapter-scale" run -m "$L" -p hi --adapter-scale 0.5
expect_err "--no-think with --think-budget 5" 2 "\-\-no-think" run -m "$L" -p hi --no-think --think-budget 5
expect_err "--show-thinking with --json" 2 "\-\-show-thinking" run -m "$L" -p hi --show-thinking --json
expect_err "--template with --no-template" 2 "\-\-template" run -m "$L" -p hi --template chatml --no-template
printf '{"id":"a","prompt":"x","answer":"1"}\n' > "$T/one.items"
for f in "--difficulty 2" "--split train" "--task-seed 3"; do
  expect_err "eval --items with $f" 2 "${f%% *}" eval -m "$L" --items "$T/one.items" $f
done
expect_err "eval --system with --no-template" 2 "\-\-system" eval -m "$L" --task arith --system s --no-template

# ---- a full disk is an error ----
# /dev/full, or a node of the same device (some containers lack it); skipped if neither can be had
FULL=/dev/full
[ -c "$FULL" ] || { FULL=$T/full; mknod "$FULL" c 1 7 2>/dev/null || FULL=; }
if [ -n "$FULL" ]; then
  "$P" run -m "$L" -p hi -n 2 --json > "$FULL" 2>/dev/null; check "run --json > full disk fails" 1 $?
  "$P" run -m "$L" -p hi -n 2 > "$FULL" 2>/dev/null; check "run > full disk fails" 1 $?
  "$P" tasks gen --task arith --n 20 > "$FULL" 2>/dev/null; check "tasks gen > full disk fails" 1 $?
  "$P" eval -m "$L" --task arith --n 2 -n 2 --out "$FULL" > /dev/null 2>&1; check "eval --out full disk fails" 1 $?
  "$P" tasks score --out "$FULL" "$T/it.jsonl" "$T/outs.jsonl" > /dev/null 2>&1; check "tasks score --out full disk fails" 1 $?
else
  echo "SKIPPED: full-disk checks (no /dev/full and mknod not allowed)"
fi

exit $fail
