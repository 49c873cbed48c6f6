#!/bin/bash
# tests/dist/test_mpi_rl.sh PONDER MPIRUN — `mpirun -np 2 ponder rl`: each rank rolls out its half of
# every step's prompt groups, the rollouts are gathered, each rank learns from its half of the batch
# and the gradients are summed. Against the one-process run of the same settings:
#  - every step's rollout statistics (reward, accuracy, lengths, kept groups) are identical and the
#    loss / gradient norm / entropy agree within 1e-5 (the gradient sum rounds differently)
#  - PD_DIST_VERIFY=1: after every optimizer step the weights are compared across the ranks (a hash
#    of every byte; a difference stops the job) — full model and a LoRA adapter
#  - rank 0 alone writes the log, checkpoint and model
set -u
P=${1:?usage: test_mpi_rl.sh path/to/ponder path/to/mpirun}
MPIRUN=${2:?mpirun}
D=$(cd "$(dirname "$0")" && pwd)
source "$D/mpi_env.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$P" train --task arith-add --difficulty 1 --seq 64 --dim 64 --layers 2 --heads 2 --kv-heads 1 --head-dim 32 \
    --ffn 128 --threads 1 --quiet --eval-n 0 --steps 30 --batch 8 --out "$T/m.gguf" >/dev/null || fail "train"
R="-m $T/m.gguf --task arith-add --difficulty 1 --steps 3 --prompts 5 --group 4 --max-tokens 24 --temp 1 --lr 1e-3"
R="$R --format-reward 0.5 --threads 1 --quiet --batch 4"
for extra in "" "--adapter lora --rank 4 --lr 1e-2"; do
    "$P" rl $R $extra --out "$T/a.gguf" --log "$T/a.jsonl" >/dev/null 2>"$T/err" || fail "one-process rl $extra: $(cat "$T/err")"
    PD_DIST_VERIFY=1 timeout 300 "$MPIRUN" -np 2 "$P" rl $R $extra --out "$T/b.gguf" --log "$T/b.jsonl" >"$T/out" 2>"$T/err" \
        || fail "2-rank rl $extra: $(cat "$T/err")"
    [ "$(grep -c "^wrote" "$T/out")" -eq 1 ] || fail "one summary for the job: $(cat "$T/out")"
    for k in reward_mean accuracy len_mean len_think groups_kept; do
        python3 "$D/compare.py" steps "$T/a.jsonl" "$T/b.jsonl" $k 0 >/dev/null || fail "$extra: $k differs"
    done
    for k in loss grad_norm entropy; do
        python3 "$D/compare.py" steps "$T/a.jsonl" "$T/b.jsonl" $k 1e-5 || fail "$extra: $k differs"
    done
    [ -s "$T/b.gguf" ] && [ -s "$T/b.gguf.ckpt" ] || fail "rank 0 wrote the result and checkpoint"
done
echo "ok"
