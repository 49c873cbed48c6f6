#!/bin/bash
# tests/cli/test_bench_compare.sh — `ponder bench --synthetic --keep FILE` writes a file llama.cpp
# loads (tokenizer.ggml.model "none" and <arch>.vocab_size, what llama.cpp's vocabulary loader reads
# for a file without a vocabulary) and ponder loads again (-m); `--compare LLAMA_BENCH` runs the given
# llama-bench on the same file with the same tests and prints llama.cpp's t/s and the ratio. A stand-in
# llama-bench (a script printing llama-bench's JSON fields) checks the arguments it gets, that ponder's
# own OpenMP defaults are not passed on to it, and the ratio arithmetic; a failing one is an error.
# Usage: bash tests/cli/test_bench_compare.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_bench_compare.sh path/to/ponder}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # name, expected, got
  if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected '$2', got '$3'"; fail=1; fi
}
cat > "$T/llama-bench" <<'SH'
#!/bin/bash
echo "$@" > "$(dirname "$0")/args.txt"
env > "$(dirname "$0")/env.txt"
p=0; n=0; t=1
while [ $# -gt 0 ]; do case "$1" in -p) p=$2; shift;; -n) n=$2; shift;; -t) t=$2; shift;; esac; shift; done
echo "["; first=1
for th in ${t//,/ }; do
  for pp in ${p//,/ }; do [ "$pp" = 0 ] && continue; [ $first = 1 ] || echo ","; first=0
    echo "{\"n_prompt\": $pp, \"n_gen\": 0, \"n_threads\": $th, \"avg_ts\": 100.0}"; done
  for tg in ${n//,/ }; do [ "$tg" = 0 ] && continue; [ $first = 1 ] || echo ","; first=0
    echo "{\"n_prompt\": 0, \"n_gen\": $tg, \"n_threads\": $th, \"avg_ts\": 50.0}"; done
done
echo "]"
SH
chmod +x "$T/llama-bench"
clean=(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u KMP_BLOCKTIME -u PONDER_OMP_DEFAULTS)
"${clean[@]}" "$P" bench --synthetic llama-110m --layers 1 --type q4_K -p 16 -n 4 -r 1 -t 1 --keep "$T/k.gguf" \
  --compare "$T/llama-bench" -o json > "$T/out.json" 2> "$T/err"; check "bench --compare exit" 0 $?
check "llama-bench arguments" "-m $T/k.gguf -p 16 -n 4 -t 1 -r 1 -ctk f16 -ctv f16 -o json" "$(cat "$T/args.txt")"
check "ponder's OpenMP defaults not passed on" 0 "$(grep -c 'GOMP_SPINCOUNT\|PONDER_OMP_DEFAULTS' "$T/env.txt")"
python3 - "$T/out.json" <<'PY' || fail=1
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 2, rows
for r in rows:
    want = 100.0 if r["n_prompt"] else 50.0
    assert r["llama_cpp_ts"] == want, r
    assert abs(r["ratio"] - r["avg_ts"] / want) < 1e-9 * r["ratio"], r
print("ok   json rows carry llama_cpp_ts and ratio = avg_ts / llama_cpp_ts")
PY
"$P" inspect "$T/k.gguf" > "$T/k.txt"
check "kept file: no vocabulary" 1 "$(grep -c '^  tokenizer.ggml.model  *str  *"none"$' "$T/k.txt")"
check "kept file: vocab_size" 1 "$(grep -c '^  llama.vocab_size  *u32  *32000$' "$T/k.txt")"
check "kept file: file_type q4_K" 1 "$(grep -c '^  general.file_type  *u32  *14$' "$T/k.txt")"
"$P" bench -m "$T/k.gguf" -p 8 -n 0 -r 1 -t 1 > "$T/md.txt" 2>&1; check "kept file loads in ponder" 0 $?
"$P" bench -m "$T/k.gguf" -p 8 -n 0 -r 1 -t 1 --compare "$T/llama-bench" > "$T/md2.txt" 2>&1
check "markdown ratio column" 1 "$(grep -cE '\| +100\.00 \| +[0-9.]+x \|$' "$T/md2.txt")"
printf '#!/bin/bash\necho broken >&2\nexit 3\n' > "$T/bad-bench"; chmod +x "$T/bad-bench"
"$P" bench -m "$T/k.gguf" -p 8 -n 0 -r 1 -t 1 --compare "$T/bad-bench" > /dev/null 2> "$T/bad.err"
check "failing llama-bench: exit 1" 1 $?
check "failing llama-bench: says so" 1 "$(grep -c 'exit status 3' "$T/bad.err")"
exit $fail
