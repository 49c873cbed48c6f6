#!/bin/bash
# tests/cli/test_threads.sh — the binary chooses OpenMP's wait policy itself (cli/main.c): with none
# of OMP_WAIT_POLICY / GOMP_SPINCOUNT / KMP_BLOCKTIME set it runs with a short spin (ponder's
# default, which libgomp only reads at load: the binary re-executes itself once to apply it); a
# user's setting is kept. Read back through `ponder --version`'s "omp wait:" line, and a verb runs
# under the default (the re-executed process gets its arguments).
# Usage: bash tests/cli/test_threads.sh path/to/ponder   (from the repo root)
set -u
P=${1:?usage: test_threads.sh path/to/ponder}
fail=0
check() { # name, expected, got
  if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected '$2', got '$3'"; fail=1; fi
}
clean=(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u KMP_BLOCKTIME -u PONDER_OMP_DEFAULTS)
check "default policy" "omp wait: GOMP_SPINCOUNT=200 KMP_BLOCKTIME=1 (ponder's default)" \
  "$("${clean[@]}" "$P" --version | grep '^omp wait:')"
check "user's OMP_WAIT_POLICY kept" "omp wait: OMP_WAIT_POLICY=active (from the environment)" \
  "$("${clean[@]}" OMP_WAIT_POLICY=active "$P" --version | grep '^omp wait:')"
check "user's GOMP_SPINCOUNT kept" "omp wait: GOMP_SPINCOUNT=7 (from the environment)" \
  "$("${clean[@]}" GOMP_SPINCOUNT=7 "$P" --version | grep '^omp wait:')"
# arguments survive the re-execution (the verb sees them, and its exit status comes back)
err=$("${clean[@]}" "$P" quantize /nonexistent/in.gguf "$(mktemp -u)" Q8_0 2>&1 >/dev/null); rc=$?
check "verb runs under the default: status" "1" "$rc"
check "verb runs under the default: message" "1" "$(grep -c 'nonexistent/in.gguf' <<<"$err")"
exit $fail
