# tests/cli/rl_common.sh — what the `ponder rl` CLI tests share: the pass/fail helpers and the tiny
# byte-vocabulary model they train (a few SFT steps: enough to load and sample, seconds of CPU).
# Sourced, not run (CTest runs only test_*.sh), after the test has set P (the ponder binary) and
# T (its scratch folder):
#   . "$(dirname "$0")/rl_common.sh"
#   rl_tiny_model arith-add 1 96 96 4 3     # TASK DIFFICULTY CTX SEQ BATCH STEPS -> M=$T/m.gguf
#   expect "no model" 2 "-m MODEL" rl --task arith-add --out "$T/x.gguf"
#   ...
#   exit $fail
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
expect() { # NAME CODE PATTERN ARGS...: ponder ARGS exits CODE and its stderr matches PATTERN
  local name=$1 code=$2 pat=$3; shift 3
  "$P" "$@" > "$T/out" 2> "$T/err" < /dev/null
  local rc=$?
  if [ $rc -ne "$code" ] || ! grep -Eq -- "$pat" "$T/err"; then
    bad "$name: rc=$rc (want $code), stderr: $(head -c 300 "$T/err")"
  else ok "$name"; fi
}
rl_tiny_model() { # TASK DIFFICULTY CTX SEQ BATCH STEPS: trains $T/m.gguf and sets M, or exits 1
  "$P" train --task "$1" --difficulty "$2" --dim 16 --layers 1 --heads 2 --kv-heads 1 --ffn 32 --ctx "$3" \
      --batch "$5" --seq "$4" --steps "$6" --seed 2 --threads 1 --eval-n 0 --plot none --quiet --out "$T/m.gguf" \
      > /dev/null 2>&1 && ok "tiny model trained" || { bad "could not train the tiny model"; exit 1; }
  M=$T/m.gguf
}
