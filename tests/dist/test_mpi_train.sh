#!/bin/bash
# tests/dist/test_mpi_train.sh PONDER MPIRUN — data-parallel training on 2 ranks (ponder/dist.h):
#  - `mpirun -np 2 ponder train --batch 8` equals `ponder train --batch 4 --accum 2`: step 1's loss
#    bit-identical, the loss curve within 1e-5 (the gradient sum rounds differently), same grad norms
#    to 1e-4 relative; --accum 2 on 2 ranks equals --accum 4 on one
#  - the same for `ponder finetune` with a LoRA adapter
#  - a global batch the ranks do not divide is a clear error, and the job ends (no hang)
#  - `ponder bench train --mpi` runs on 2 ranks
#  - a rank killed with SIGKILL mid-run: the job ends with an error naming the dead process, and the
#    last checkpoint loads and resumes
#    under mpirun
set -u
P=${1:?usage: test_mpi_train.sh path/to/ponder path/to/mpirun}
MPIRUN=${2:?mpirun}
D=$(cd "$(dirname "$0")" && pwd)
source "$D/mpi_env.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
run2() { timeout 300 "$MPIRUN" -np 2 "$@"; }
cmp_steps() { python3 "$D/compare.py" steps "$@" || fail "curves differ: $*"; }

M="--task arith-add --difficulty 1 --seq 64 --dim 64 --layers 2 --heads 2 --kv-heads 1 --head-dim 32 --ffn 128"
M="$M --threads 1 --quiet --eval-n 0 --seed 3"

"$P" train $M --steps 12 --batch 4 --accum 2 --out "$T/a.gguf" --log "$T/a.jsonl" >/dev/null || fail "one-process train"
run2 "$P" train $M --steps 12 --batch 8 --out "$T/b.gguf" --log "$T/b.jsonl" >"$T/out" 2>"$T/err" \
    || fail "2-rank train: $(cat "$T/err")"
[ "$(grep -c "^trained" "$T/out")" -eq 1 ] || fail "one summary for the job (rank 0): $(cat "$T/out")"
cmp_steps "$T/a.jsonl" "$T/b.jsonl" loss 1e-5 1
cmp_steps "$T/a.jsonl" "$T/b.jsonl" grad_norm 1e-4
[ -s "$T/b.gguf" ] && [ -s "$T/b.gguf.ckpt" ] || fail "rank 0 wrote the model and checkpoint"

# accumulation on top of the ranks: 2 ranks x accum 2 = one process x accum 4
"$P" train $M --steps 4 --batch 2 --accum 4 --out "$T/c.gguf" --log "$T/c.jsonl" >/dev/null || fail "accum 4"
run2 "$P" train $M --steps 4 --batch 4 --accum 2 --out "$T/d.gguf" --log "$T/d.jsonl" >/dev/null 2>&1 || fail "2x2"
cmp_steps "$T/c.jsonl" "$T/d.jsonl" loss 1e-5 1

# a batch of 7 rows cannot be split over 2 ranks
run2 "$P" train $M --steps 2 --batch 7 --out "$T/e.gguf" >/dev/null 2>"$T/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "indivisible batch: exit $rc"
grep -q "multiple of 2" "$T/err" || fail "indivisible batch names the rule: $(cat "$T/err")"

# fine-tuning with a LoRA adapter on the trained model
F="-m $T/a.gguf --task arith-add --difficulty 1 --seq 64 --threads 1 --quiet --eval-n 0 --adapter lora --rank 4 --lr 1e-2"
"$P" finetune $F --steps 8 --batch 4 --accum 2 --out "$T/fa.gguf" --log "$T/fa.jsonl" >/dev/null || fail "finetune"
run2 "$P" finetune $F --steps 8 --batch 8 --out "$T/fb.gguf" --log "$T/fb.jsonl" >"$T/out" 2>"$T/err" \
    || fail "2-rank finetune: $(cat "$T/err")"
cmp_steps "$T/fa.jsonl" "$T/fb.jsonl" loss 1e-5 1
"$P" inspect "$T/fb.gguf" | grep -q "adapter" || fail "adapter written"

# a rank killed mid-run: the job ends with an error, the last checkpoint stays loadable
run2 "$P" train $M --steps 100000 --batch 8 --ckpt-every 1 --out "$T/k.gguf" >/dev/null 2>"$T/kerr" &
mp=$!
for _ in $(seq 600); do [ -s "$T/k.gguf.ckpt" ] && break; sleep 0.1; done
[ -s "$T/k.gguf.ckpt" ] || fail "no checkpoint written by the long run"
victim=""
for _ in $(seq 50); do
    for c in $(pgrep -f -- "--out $T/k.gguf"); do
        tr '\0' '\n' < /proc/$c/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$c
    done
    [ -n "$victim" ] && break
    sleep 0.1
done
[ -n "$victim" ] || { kill $mp; fail "rank 1's process not found"; }
kill -9 "$victim"
wait $mp; rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "killed rank: mpirun exit $rc (0 or a timeout)"
grep -qi "signal 9\|killed" "$T/kerr" || fail "the error names the dead process: $(cat "$T/kerr")"
"$P" inspect "$T/k.gguf.ckpt" >"$T/insp" || fail "the last checkpoint does not load"
step=$(grep "ponder.train.step" "$T/insp" | awk '{print $NF}')
run2 "$P" train --resume "$T/k.gguf.ckpt" --steps $((step + 2)) --threads 1 --quiet >"$T/out" 2>"$T/err" \
    || fail "resume after the kill: $(cat "$T/err")"
grep -q "for $((step + 2)) steps" "$T/out" || fail "resumed to step $((step + 2)): $(cat "$T/out")"
# the benchmark: both ranks step, the table has the 2 x 1 row with a gradient-sum share
run2 "$P" bench train --mpi --size 1M --steps 1 --batch 2 --seq 32 --threads 1 >"$T/out" 2>"$T/err" \
    || fail "bench train --mpi: $(cat "$T/err")"
grep -q "^| 1M | [0-9]* | 2 x 1 | " "$T/out" || fail "bench table: $(cat "$T/out")"
echo "ok"
