#!/bin/bash
# tests/dist/test_mpi_eval.sh PONDER MPIRUN — `mpirun -np 2 ponder eval` splits the items over the
# ranks and gathers the records: the records file equals the one-process run's record for record
# (every field but the wall time: same sampled tokens, answers, scores, seeds, in item then sample
# order), the summary lines equal it (but the speed line), and rank 0 alone writes --out and --report.
set -u
P=${1:?usage: test_mpi_eval.sh path/to/ponder path/to/mpirun}
MPIRUN=${2:?mpirun}
D=$(cd "$(dirname "$0")" && pwd)
source "$D/mpi_env.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$P" train --task arith-add --difficulty 1 --seq 64 --dim 64 --layers 2 --heads 2 --kv-heads 1 --head-dim 32 \
    --ffn 128 --threads 1 --quiet --eval-n 0 --steps 30 --batch 8 --out "$T/m.gguf" >/dev/null || fail "train"
# 7 items (an odd count: the ranks get 3 and 4), 2 samples each, sampled at temperature 0.8
E="-m $T/m.gguf --task arith-add --difficulty 1-2 --n 7 --samples 2 --temperature 0.8 -n 24 --threads 1"
"$P" eval $E --out "$T/a.jsonl" --report "$T/a.svg" >"$T/a.txt" 2>/dev/null || fail "one-process eval"
timeout 300 "$MPIRUN" -np 2 "$P" eval $E --out "$T/b.jsonl" --report "$T/b.svg" >"$T/b.txt" 2>"$T/err" \
    || fail "2-rank eval: $(cat "$T/err")"
python3 "$D/compare.py" records "$T/a.jsonl" "$T/b.jsonl" || fail "records differ"
diff <(grep -v "^speed" "$T/a.txt") <(grep -v "^speed" "$T/b.txt") || fail "summaries differ"
[ "$(grep -c "^accuracy" "$T/b.txt")" -eq 1 ] || fail "one summary for the job"
head -c 4 "$T/b.svg" | grep -q "<svg" || fail "report written"
ls "$T" | grep -q "tmp" && fail "a temp file was left behind: $(ls "$T")"
echo "ok"
