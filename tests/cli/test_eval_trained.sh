#!/usr/bin/env bash
# tests/cli/test_eval_trained.sh — `ponder eval` sees correct answers end to end: a tiny model is
# trained here (400 steps of 1-digit addition, ~15 s of one core) and evaluated greedily on training
# and held-out items. Every record is re-checked against our own sum of the prompt's numbers, the
# summary accuracy must equal the records', and accuracy must beat chance: the best constant answer
# over the same items (held-out 1-digit sums: "10" is right for 12 of 40 draws). No fixtures needed.
# Run: bash tests/cli/test_eval_trained.sh PONDER
set -u
P=${1:?usage: test_eval_trained.sh /path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OMP_WAIT_POLICY=passive
fail=0

"$P" train --task arith-add --difficulty 1 --arch qwen3 --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 192 \
  --batch 8 --seq 128 --steps 400 --lr 4e-3 --warmup 30 --seed 1 --threads 1 --eval-n 0 --plot none --quiet \
  --out "$T/m.gguf" > "$T/train.out" 2>&1 || { cat "$T/train.out"; echo "FAIL training"; exit 1; }

# split, items, minimum accuracy
for run in "train 40 0.5" "test 9 0.0"; do
  set -- $run
  "$P" eval -m "$T/m.gguf" --task arith-add --difficulty 1 --split "$1" --n "$2" --temp 0 -n 80 --threads 1 \
    --out "$T/$1.jsonl" > "$T/$1.out" 2>&1 || { cat "$T/$1.out"; echo "FAIL eval --split $1"; fail=1; continue; }
  python3 - "$T/$1.jsonl" "$T/$1.out" "$3" "$1" <<'EOF' || fail=1
import collections, json, re, sys
recs = [json.loads(l) for l in open(sys.argv[1], encoding="latin-1")]
out = open(sys.argv[2]).read()
floor, split = float(sys.argv[3]), sys.argv[4]
ok = True
def bad(msg):
    global ok
    ok = False
    print("FAIL %s: %s" % (split, msg))
right, sums = 0, []
for r in recs:
    a, b = map(int, re.fullmatch(r"What is (\d)\+(\d)\?", r["prompt"]).groups())
    s = a + b
    sums.append(s)
    ours = r["extracted"] == str(s) and str(s) in r["answer"]
    if bool(r["correct"]) != ours or (r["score"] == 1) != ours:
        bad("record %s: extracted %r, correct %r, score %r, but %d+%d=%d" % (r["id"], r["extracted"], r["correct"], r["score"], a, b, s))
    right += ours
n = len(recs)
acc = right / n if n else 0.0
chance = max(collections.Counter(sums).values()) / n if n else 1.0
m = re.search(r"^accuracy +([0-9.]+)$", out, re.M)
if not m or abs(float(m.group(1)) - acc) > 1e-4:
    bad("summary accuracy %s, records say %.4f" % (m and m.group(1), acc))
if right == 0:
    bad("no correct answer in %d records" % n)
if not (acc > chance and acc >= floor):
    bad("accuracy %.3f not above chance %.3f (floor %.2f)" % (acc, chance, floor))
print("%s   %s split: %d/%d correct (%.3f), best constant answer %.3f" % ("ok  " if ok else "FAIL", split, right, n, acc, chance))
sys.exit(0 if ok else 1)
EOF
done
exit $fail
