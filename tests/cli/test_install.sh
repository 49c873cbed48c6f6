#!/usr/bin/env bash
# tests/cli/test_install.sh — `make install` and `cmake --install` put ponder in PREFIX/bin under
# DESTDIR, and nothing else; the installed binary is the built one and runs from PATH in another
# directory. The build folder is the one holding PONDER (no rebuild here: `make -o build`).
# Run: bash tests/cli/test_install.sh PONDER
set -u
P=${1:?usage: test_install.sh /path/to/ponder}
B=$(cd "$(dirname "$P")" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if [ "$2" != "$3" ]; then echo "FAIL $1: expected '$2', got '$3'"; fail=1; else echo "ok   $1"; fi; }

# make install PREFIX=... DESTDIR=...
make -s -C "$SRC" -o build install BUILD="$B" PREFIX=/opt/pd DESTDIR="$T/make" > "$T/make.out" 2>&1
check "make install exit" 0 $?
check "make install: only PREFIX/bin/ponder" "$T/make/opt/pd/bin/ponder" "$(find "$T/make" -type f)"
check "installed binary is the built one" same "$(cmp -s "$P" "$T/make/opt/pd/bin/ponder" && echo same || echo differ)"
check "installed binary executable" yes "$([ -x "$T/make/opt/pd/bin/ponder" ] && echo yes || echo no)"
# on PATH, from another directory
mkdir "$T/elsewhere"
check "found on PATH" "$T/make/opt/pd/bin/ponder" "$(cd "$T/elsewhere" && PATH="$T/make/opt/pd/bin:$PATH" command -v ponder)"
out=$(cd "$T/elsewhere" && PATH="$T/make/opt/pd/bin:$PATH" ponder tasks gen --task arith-add --difficulty 1 --n 1 --seed 3 2>/dev/null)
check "runs from PATH" 1 "$(printf '%s\n' "$out" | python3 -c 'import json,sys; print(sum("prompt" in json.loads(l) for l in sys.stdin))' 2>/dev/null)"

# the default prefix is /usr/local (bin on PATH); cmake --install with DESTDIR in the environment
make -s -C "$SRC" -o build install BUILD="$B" DESTDIR="$T/default" > "$T/default.out" 2>&1
check "default PREFIX /usr/local" "$T/default/usr/local/bin/ponder" "$(find "$T/default" -type f)"
DESTDIR="$T/cm" cmake --install "$B" --prefix /usr > "$T/cm.out" 2>&1
check "cmake --install exit" 0 $?
check "cmake --install --prefix /usr" "$T/cm/usr/bin/ponder" "$(find "$T/cm" -type f)"
exit $fail
