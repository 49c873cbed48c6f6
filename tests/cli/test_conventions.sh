#!/bin/bash
# tests/cli/test_conventions.sh — the conventions a user expects from every verb (issue 9):
#   1. one parser and one range per shared flag: --seed (full uint64, negatives/overflow refused),
#      -t/--threads (1..1024), --difficulty (D or A-B, checked against the task), -n (-1..2^24);
#   2. ponder --version; a verb table that lists serve (which exists); --flag=value;
#      -f FILE and -p - for prompts; --help shows defaults; config-file errors name FILE:LINE;
#      one exit-code rule (2 usage, 1 runtime) for every verb;
#   3. chat: /bye /clear /help handled (never sent to the model), history trimmed to the context;
#   4. llama.cpp names: --lora, --lora-scaled, -r/--reverse-prompt, -ctk/-ctv, --reasoning-budget,
#      bench -o json and several -m; eval progress with rate and ETA;
#   5. README and the build agree (no server claims while there is no server; libpng listed).
# Parts that need a model use the shared fixtures and are SKIPPED without them.
# Usage: bash tests/cli/test_conventions.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_conventions.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
# expect NAME CODE PATTERN ARGS...: exit status CODE and stderr matching PATTERN (grep -E)
expect() {
  local name=$1 code=$2 pat=$3; shift 3
  "$P" "$@" > "$T/out" 2> "$T/err" < /dev/null
  local rc=$?
  if [ $rc -ne "$code" ] || ! grep -Eq -- "$pat" "$T/err"; then
    bad "$name: rc=$rc (want $code), stderr: $(head -c 300 "$T/err")"
  else ok "$name"; fi
}

# ---- 1. shared flags: one parser, one range, one message ----
# --seed everywhere: negative and overflowing values are refused as usage errors with the same words
for cmd in "run -m M -p x" "chat -m M" "eval -m M --task arith" "tasks gen --task arith" \
           "train --task arith --out $T/o.gguf --steps 1 --eval-n 0 --plot none --quiet" "finetune -m M --task arith --out $T/a.gguf" \
           "rl -m M --task arith --out $T/r.gguf"; do
  # shellcheck disable=SC2086
  expect "$cmd --seed -1 is refused" 2 "--seed: -1 is negative" $cmd --seed -1
  # shellcheck disable=SC2086
  expect "$cmd --seed 2^64 is refused" 2 "--seed: 18446744073709551616 is too large" $cmd --seed 18446744073709551616
done
expect "eval --task-seed -3 is refused (the same seed parser)" 2 "--task-seed: -3 is negative" eval -m M --task arith --task-seed -3
# the whole uint64 range is accepted and round-trips (tasks gen writes it into each id)
"$P" tasks gen --task arith --n 1 --seed 18446744073709551615 > "$T/s.jsonl" 2>/dev/null &&
  grep -q '"id":"arith-18446744073709551615-0"' "$T/s.jsonl" && ok "seed 2^64-1 accepted and kept exact" ||
  bad "seed 2^64-1: $(cat "$T/s.jsonl")"
"$P" tasks gen --task arith --n 1 --seed 9007199254740993 > "$T/s.jsonl" 2>/dev/null &&
  grep -q '"id":"arith-9007199254740993-0"' "$T/s.jsonl" && ok "seed 2^53+1 kept exact" || bad "seed 2^53+1: $(cat "$T/s.jsonl")"
# --threads everywhere: 1..1024 (0 and 1025 refused before anything else happens)
# (the commands are otherwise cheap, so a build that accepts the value fails fast instead of working)
for cmd in "run -m M -p x" "chat -m M" "eval -m M --task arith" "logits -m M --tokens 1 --out $T/l.f32" "bench -m M" \
           "train --task arith --out $T/o.gguf --steps 1 --eval-n 0 --plot none --quiet" \
           "finetune -m M --task arith --out $T/a.gguf" "bench train --size 1M --steps 1" "rl -m M --task arith --out $T/r.gguf"; do
  for t in 0 1025; do
    # shellcheck disable=SC2086
    expect "$cmd --threads $t is refused" 2 "--threads: .*\[1, 1024\]" $cmd --threads $t
  done
done
# --difficulty: D or A-B in every verb, checked against the task's own range before any work
expect "tasks gen --difficulty 2-3 is a range" 0 "difficulty 2-3" tasks gen --task arith --n 2 --difficulty 2-3
grep -q '"difficulty":3' "$T/out" && ok "tasks gen range reaches its upper end" || bad "tasks gen 2-3: $(cat "$T/out")"
for cmd in "tasks gen --task arith" "eval -m M --task arith" "train --task arith --out $T/o.gguf --steps 1 --eval-n 0 --plot none --quiet" \
           "finetune -m M --task arith --out $T/a.gguf --steps 1"; do
  # shellcheck disable=SC2086
  expect "$cmd --difficulty 0-99 out of the task's range" 2 "--difficulty: 0-99 is out of range \[1, 20\] for arith" \
    $cmd --difficulty 0-99
  # shellcheck disable=SC2086
  expect "$cmd --difficulty 3-2 empty" 2 "--difficulty: empty range '3-2'" $cmd --difficulty 3-2
  # shellcheck disable=SC2086
  expect "$cmd --difficulty 2x malformed" 2 "--difficulty: expected D or A-B" $cmd --difficulty 2x
done
[ -e "$T/o.gguf" ] && bad "train with a bad difficulty wrote a model"
# -n / --max-tokens: -1 (unlimited) .. 2^24; -2 refused in every generating verb
for cmd in "run -m M -p x" "chat -m M" "eval -m M --task arith"; do
  # shellcheck disable=SC2086
  expect "$cmd -n -2 is refused" 2 "-n: -2 is out of range \[-1, 16777216\]" $cmd -n -2
done
expect "rl -n -2: the same parser" 2 "-n: -2 is out of range \[-1, 16777216\]" rl -m M --task arith --out "$T/r.gguf" -n -2
expect "rl -n 0: a rollout needs a limit" 2 "-n: rollouts need a limit of at least 1 token" rl -m M --task arith --out "$T/r.gguf" -n 0

# ---- 2. version, verb table, --flag=value, help, config, exit codes ----
"$P" --version > "$T/v" 2>&1; rc=$?
[ $rc = 0 ] && grep -Eq '^ponder [0-9]+\.[0-9]+' "$T/v" && grep -q '^cpu:' "$T/v" && grep -Eq '^kernels: (scalar|avx2|avx512)' "$T/v" &&
  grep -Eq '^blas: +(OpenBLAS|built-in)' "$T/v" && grep -Eq '^openmp: +(yes|no)' "$T/v" && ok "--version" ||
  bad "--version rc=$rc: $(cat "$T/v")"
if grep -q avx2 /proc/cpuinfo 2>/dev/null; then
  grep '^cpu:' "$T/v" | grep -qw avx2 && ok "--version lists AVX2" || bad "--version misses avx2: $(cat "$T/v")"
fi
# PONDER_KERNELS caps the kernel level (scalar runs everywhere); an unknown value warns and keeps the best
PONDER_KERNELS=scalar "$P" --version > "$T/vs" 2>&1
grep -Eq '^kernels: scalar' "$T/vs" && ok "PONDER_KERNELS=scalar" || bad "PONDER_KERNELS=scalar: $(grep kernels "$T/vs")"
PONDER_KERNELS=avx9 "$P" --version > "$T/vb" 2>&1
grep -q 'PONDER_KERNELS=avx9 is not' "$T/vb" && [ "$(grep '^kernels:' "$T/vb")" = "$(grep '^kernels:' "$T/v")" ] &&
  ok "PONDER_KERNELS with an unknown level warns" || bad "PONDER_KERNELS=avx9: $(cat "$T/vb")"
"$P" --help > "$T/h" 2>&1
if grep -qw serve "$T/h"; then ok "--help lists serve"; else bad "--help does not list serve"; fi
expect "serve without -m is a usage error" 2 "-m MODEL is required" serve
for v in $(sed -n 's/^  \([a-z]*\) .*/\1/p' "$T/h"); do
  "$P" "$v" --help > "$T/vh" 2>&1 && [ -s "$T/vh" ] && ok "$v --help" || bad "$v --help: rc or empty"
done
"$P" tasks gen --task arith --n 3 --seed 7 --difficulty 2 > "$T/a.jsonl" 2>/dev/null
"$P" tasks gen --task=arith --n=3 --seed=7 --difficulty=2 > "$T/b.jsonl" 2>/dev/null
[ -s "$T/a.jsonl" ] && cmp -s "$T/a.jsonl" "$T/b.jsonl" && ok "--flag=value == --flag value" || bad "--flag=value differs"
expect "--flag=value with a bad value names the flag" 2 "--seed: -4 is negative" tasks gen --task=arith --seed=-4
# every --help shows the defaults of its optional valued flags
help_has_default() { # verb-args..., then --, then flags
  local args=() flag
  while [ "$1" != -- ]; do args+=("$1"); shift; done; shift
  "$P" "${args[@]}" --help > "$T/hd" 2>&1
  for flag in "$@"; do
    # the flag's own line (and its continuation lines, indented deeper) must say "default"
    if awk -v f="$flag" '
        index($0, f" ") || index($0, f",") || $0 ~ (f"$") { on = 1; if ($0 ~ /default/) found = 1; next }
        on && /^          / { if ($0 ~ /default/) found = 1; next }
        { on = 0 } END { exit !found }' "$T/hd"; then :; else bad "${args[*]} --help: $flag shows no default"; return; fi
  done
  ok "${args[*]} --help shows defaults"
}
help_has_default run -- --temp --top-k --top-p --seed --threads --ctx --kv --max-tokens --think-budget --answer-budget --system --adapter-scale
help_has_default eval -- --n --difficulty --split --task-seed --samples --parallel --extract
help_has_default bench -- -p -n -r -t --kv --type -o
help_has_default bench train -- --threads --size --steps --batch --seq
help_has_default tasks -- --n --seed --difficulty --split --rest --extract
help_has_default train -- --difficulty --batch --seq --accum --steps --lr --min-lr-frac --warmup --wd --clip --seed --threads --ckpt-every --eval-every --eval-n --max-new --arch --dim --layers --heads --ctx
help_has_default finetune -- --difficulty --batch --seq --accum --steps --lr --warmup --wd --clip --seed --threads --rank --alpha --eval-n --max-new
help_has_default logits -- --kv --threads --top --adapter-scale
help_has_default rl -- --algo --group --prompts --kl --ppo-epochs --minibatches --max-tokens --difficulty --steps --lr --warmup --seed --threads --batch --ckpt-every --log --eval-every --max-new
help_has_default merge -- --scale
help_has_default adapters -- --rank --terms --targets
# config files: an error names the file and the line
printf '# a config\ntask arith\n\nlr notanumber\n' > "$T/bad.cfg"
expect "train --config error names FILE:LINE" 2 "bad\.cfg:4: --lr: expected a number" train --config "$T/bad.cfg" --out "$T/o.gguf"
printf 'task arith\nbogus 3\n' > "$T/bad2.cfg"
expect "train --config unknown flag names FILE:LINE" 2 "bad2\.cfg:2: unknown flag '--bogus'" train --config "$T/bad2.cfg" --out "$T/o.gguf"
printf 'lr\nsteps 3\n' > "$T/bad3.cfg"
expect "train --config: a value never comes from the next line" 2 "bad3\.cfg:1: --lr: missing value" train --config "$T/bad3.cfg" --out "$T/o.gguf"
# --dry-run: the effective settings as JSON, config file first and the command line winning, nothing written
printf 'task arith\ndifficulty 2-3\nsteps 7 # short\nlr=0.002\nbatch 4 quiet\n' > "$T/dry.cfg"
if "$P" train --config "$T/dry.cfg" --batch 6 --out "$T/dry.gguf" --dry-run > "$T/dry.json" 2> "$T/err" &&
   python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["run"]
assert (r["task"], r["dlo"], r["dhi"], r["steps"], r["batch"], abs(r["lr"]-0.002) < 1e-9) == ("arith", 2, 3, 7, 6, True), r
assert d["model"]["arch"] == "qwen3" and r["out"].endswith("dry.gguf")' "$T/dry.json" 2> "$T/err2" &&
   [ ! -e "$T/dry.gguf" ] && [ ! -e "$T/dry.gguf.ckpt" ] && [ ! -e "$T/dry.gguf.loss.svg" ]; then
  ok "train --dry-run prints the effective settings (config, then flags) and writes nothing"
else bad "train --dry-run: $(head -c 300 "$T/err") $(head -c 300 "$T/err2" 2>/dev/null)"; fi
expect "train --dry-run still checks the settings" 2 "--out FILE.gguf is required" train --config "$T/dry.cfg" --dry-run
# exit codes: a usage error is 2 in every verb, a missing input file is 1
for v in $(sed -n 's/^  \([a-z]*\) .*/\1/p' "$T/h"); do  # every verb ponder --help lists
  expect "$v --no-such-flag is a usage error" 2 "no-such-flag" "$v" --no-such-flag
done
expect "inspect missing file" 1 "nonexistent" inspect "$T/nonexistent.gguf"
expect "tokenize missing model" 1 "nonexistent" tokenize -m "$T/nonexistent.gguf" hi
expect "logits missing model" 1 "nonexistent" logits -m "$T/nonexistent.gguf" --tokens 1 --out "$T/l.f32"
expect "quantize missing input" 1 "nonexistent" quantize "$T/nonexistent.gguf" "$T/q.gguf" q8_0
expect "convert missing input" 1 "nonexistent" convert "$T/nonexistent.bin" "$T/c.gguf"
expect "run missing model" 1 "nonexistent" run -m "$T/nonexistent.gguf" -p hi
expect "chat missing model" 1 "nonexistent" chat -m "$T/nonexistent.gguf"
expect "bench missing model" 1 "nonexistent" bench -m "$T/nonexistent.gguf" -p 1 -n 0 -r 1
expect "eval missing model" 1 "nonexistent" eval -m "$T/nonexistent.gguf" --task arith --n 1
expect "merge missing base" 1 "cannot open|nonexistent" merge "$T/nonexistent.gguf" "$T/n2.gguf" "$T/m.gguf"
expect "adapters info missing file" 1 "nonexistent" adapters info "$T/nonexistent.gguf"
expect "run -f missing prompt file" 1 "-f .*nonexistent.txt" run -m "$T/nonexistent.gguf" -f "$T/nonexistent.txt"
expect "run -p and -f together" 2 "give the prompt once" run -m M -p x -f "$T/bad.cfg"

# ---- 5. README and build agree ----
if ! "$P" --help | grep -qw serve; then
  if grep -Eiq '\bserves?\b|ponder serve|HTTP server' README.md; then bad "README claims a server: $(grep -Ein '\bserves?\b|ponder serve|HTTP server' README.md | head -3)"
  else ok "README makes no server claim"; fi
  if grep -q microhttpd Makefile README.md CMakeLists.txt && ! grep -rqs microhttpd.h src cli include; then
    bad "libmicrohttpd is a dependency but no code uses it"
  else ok "no unused server dependency"; fi
fi
grep -q libpng README.md && grep -q libpng-dev Makefile && ok "libpng listed" || bad "libpng missing from README/Makefile"

# ---- parts that need a model ----
if have_fixtures "the model-based conventions"; then
  M=$FX/models/tiny-qwen3.gguf
  j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(repr((d["thinking"], d["answer"], d["usage"])))' "$1"; }
  run() { "$P" run -m "$M" -n 6 --seed 3 --temp 1 --json "$@"; }
  # -f FILE and -p - give the same reply as -p TEXT
  printf 'what is 2+2?' > "$T/prompt.txt"
  run -p 'what is 2+2?' > "$T/r1.json" 2>/dev/null; run -f "$T/prompt.txt" > "$T/r2.json" 2>/dev/null
  run -p - < "$T/prompt.txt" > "$T/r3.json" 2>/dev/null
  [ -s "$T/r1.json" ] && [ "$(j "$T/r1.json")" = "$(j "$T/r2.json" 2>&1)" ] && ok "run -f FILE" || bad "run -f FILE differs from -p"
  [ "$(j "$T/r1.json")" = "$(j "$T/r3.json" 2>&1)" ] && ok "run -p - (stdin)" || bad "run -p - differs from -p"
  # llama.cpp aliases give the same reply as ponder's names
  alias_same() { # name, ponder-args | alias-args (separated by |)
    local name=$1 a b; a=${2%%|*}; b=${2#*|}
    # shellcheck disable=SC2086
    run -p hi $a > "$T/x1.json" 2> "$T/x1.err"; local r1=$?
    # shellcheck disable=SC2086
    run -p hi $b > "$T/x2.json" 2> "$T/x2.err"; local r2=$?
    if [ $r1 = 0 ] && [ $r2 = 0 ] && [ "$(j "$T/x1.json")" = "$(j "$T/x2.json")" ]; then ok "$name"
    else bad "$name: rc $r1/$r2 $(head -c 200 "$T/x2.err")"; fi
  }
  alias_same "-r TEXT == --stop TEXT" "--stop ,|-r ,"
  alias_same "--reverse-prompt TEXT == --stop TEXT" "--stop ,|--reverse-prompt ,"
  alias_same "-ctk f32 -ctv f32 == --kv f32" "--kv f32|-ctk f32 -ctv f32"
  alias_same "--cache-type-k f16 == --kv f16" "--kv f16|--cache-type-k f16"
  alias_same "--reasoning-budget 0 == --think-budget 0" "--think-budget 0|--reasoning-budget 0"
  alias_same "--reasoning-budget -1 == no budget" "|--reasoning-budget -1"
  expect "-ctk q4_K names what is supported" 2 "-ctk: KV cache type 'q4_K' is not supported: f16, f32, q8_0 or q4_0" run -m "$M" -p hi -ctk q4_K
  alias_same "--kv-type f32 == -ctk f32 -ctv f32" "--kv-type f32|-ctk f32 -ctv f32"
  expect "-ctk q8_0 on head_dim 16 says why" 1 "needs head_dim divisible by 32" run -m "$M" -p hi -ctk q8_0
  if "$P" run -m "$M" -p hi -n 2 -ctk f16 -ctv f32 --json > "$T/x3.json" 2> "$T/x3.err" &&
     python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["kv"]; assert (k["k_type"], k["v_type"], k["type"]) == ("f16", "f32", "f16/f32"), k' "$T/x3.json"
  then ok "-ctk f16 -ctv f32: K and V types apart"
  else bad "-ctk f16 -ctv f32: $(head -c 200 "$T/x3.err")"; fi
  # --lora / --lora-scaled on an adapter trained here (3 steps change the greedy reply)
  if "$P" finetune -m "$M" --task arith --difficulty 1 --steps 3 --batch 2 --seq 48 --lr 0.05 --eval-n 0 --plot none \
       --quiet --out "$T/ad.gguf" > /dev/null 2>&1; then
    alias_same "--lora FILE == --adapter FILE" "--temp 0 --adapter $T/ad.gguf|--temp 0 --lora $T/ad.gguf"
    alias_same "--lora-scaled FILE S == --adapter FILE --adapter-scale S" \
      "--temp 0 --adapter $T/ad.gguf --adapter-scale 0.5|--temp 0 --lora-scaled $T/ad.gguf 0.5"
    alias_same "--lora-scaled FILE 0 == no adapter" "--temp 0|--temp 0 --lora-scaled $T/ad.gguf 0"
    run -p hi --temp 0 > "$T/n.json"; run -p hi --temp 0 --lora "$T/ad.gguf" > "$T/l.json"
    [ "$(j "$T/n.json")" != "$(j "$T/l.json")" ] && ok "--lora changes the reply" || bad "--lora had no effect"
    expect "two adapters refused" 2 "one adapter at most" run -m "$M" -p hi --lora "$T/ad.gguf" --adapter "$T/ad.gguf"
  else bad "finetune for the --lora test failed"; fi
  # bench: several -m in one table, -o json parses and has a row per model and test
  "$P" bench -m "$M" -m "$FX/models/tiny-llama.gguf" -p 8 -n 2 -r 1 -t 1 -o json > "$T/b.json" 2> "$T/b.err"
  python3 - "$T/b.json" "$M" "$FX/models/tiny-llama.gguf" <<'EOF' && ok "bench -o json with two -m" || bad "bench -o json: $(head -c 300 "$T/b.err")"
import json, sys
rows = json.load(open(sys.argv[1]))
got = sorted((r["model_filename"], r["test"]) for r in rows)
want = sorted((m, t) for m in sys.argv[2:] for t in ("pp8", "tg2"))
assert got == want, got
assert all(r["avg_ts"] > 0 for r in rows)
EOF
  "$P" bench -m "$M" -m "$FX/models/tiny-llama.gguf" -p 8 -n 0 -r 1 -t 1 > "$T/b.md" 2>/dev/null
  [ "$(grep -c '| *pp8 *|' "$T/b.md")" = 2 ] && ok "bench table: a row per -m" || bad "bench table: $(cat "$T/b.md")"
  "$P" bench -m "$M" -p 8 -n 0 -r 1 -t 1 -o jsonl > "$T/b.jsonl" 2>/dev/null
  python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/b.jsonl" && [ -s "$T/b.jsonl" ] &&
    ok "bench -o jsonl" || bad "bench -o jsonl"
  # eval: progress with a rate and an ETA, as train's (plain periodic lines when stderr is not a terminal)
  "$P" eval -m "$M" --task arith --n 3 -n 4 > /dev/null 2> "$T/e.err"; rc=$?
  [ $rc = 0 ] && grep -Eq 'samples/s.*ETA' "$T/e.err" && ok "eval progress shows rate and ETA" ||
    bad "eval progress: rc=$rc $(tail -c 300 "$T/e.err")"
  if command -v script > /dev/null; then  # on a terminal: a redrawn bar
    script -qec "$P eval -m $M --task arith --n 3 -n 4" /dev/null > "$T/e.tty" 2>&1 < /dev/null
    grep -q $'\r\e\\[K' "$T/e.tty" && grep -Eq '\[[#=> .-]*\].*ETA' "$T/e.tty" && ok "eval progress bar on a terminal" ||
      bad "eval progress bar on a terminal: $(tail -c 300 "$T/e.tty" | tr '\r' '|')"
  fi
  # chat: commands are handled, never sent to the model
  printf '/help\n/clear\n/bye\nhello\n' | "$P" chat -m "$M" -n 4 --seed 1 > "$T/c.out" 2> "$T/c.err"; rc=$?
  { [ $rc = 0 ] && grep -q '/bye' "$T/c.out" && grep -q '/clear' "$T/c.out" && grep -q 'history cleared' "$T/c.out" &&
    [ "$(grep -vc -e '^commands:' -e '^  /' -e 'history cleared' "$T/c.out")" = 0 ]; } &&
    ok "chat /help /clear /bye are commands, nothing was generated" || bad "chat commands: rc=$rc out=$(head -c 300 "$T/c.out")"
  printf '/nonsense\n/bye\n' | "$P" chat -m "$M" -n 4 > "$T/c.out" 2> "$T/c.err"
  [ ! -s "$T/c.out" ] && grep -q "unknown command '/nonsense'" "$T/c.err" && ok "chat unknown /command reported, not sent" ||
    bad "chat /nonsense: $(head -c 200 "$T/c.out")"
  # chat: a conversation longer than the context goes on, dropping the oldest turns
  python3 -c "print('\n'.join(['tell me about the number %d and the words apple banana cherry date elder fig grape' % i for i in range(8)]))" > "$T/long.txt"
  "$P" chat -m "$M" -c 96 -n 8 --seed 1 --hide-thinking < "$T/long.txt" > "$T/c.out" 2> "$T/c.err"; rc=$?
  [ $rc = 0 ] && grep -q 'outgrew the context' "$T/c.err" && [ "$(grep -c . "$T/c.out")" -ge 6 ] &&
    ok "chat drops the oldest turns and goes on" || bad "chat long: rc=$rc lines=$(grep -c . "$T/c.out") $(head -c 300 "$T/c.err")"
  # a single message that cannot fit is refused and the chat goes on
  { python3 -c "print('word ' * 400)"; echo "hi"; } | "$P" chat -m "$M" -c 64 -n 4 --seed 1 > "$T/c.out" 2> "$T/c.err"; rc=$?
  [ $rc = 0 ] && grep -q 'not sent' "$T/c.err" && [ "$(grep -c . "$T/c.out")" -ge 1 ] && ok "chat: an oversize message is skipped" ||
    bad "chat oversize: rc=$rc $(head -c 300 "$T/c.err")"
fi
fixtures_exit $fail
