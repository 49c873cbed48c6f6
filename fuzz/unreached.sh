#!/usr/bin/env bash
# fuzz/unreached.sh — the lines of a parser that a corpus never executes (what `make fuzz-run` did not
# reach). Needs a gcc build with line coverage of the replay drivers:
#   cmake -S . -B build-fuzz-run -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="--coverage -O0" \
#         -DCMAKE_EXE_LINKER_FLAGS=--coverage && cmake --build build-fuzz-run --target fuzz_gguf
#   bash fuzz/unreached.sh build-fuzz-run fuzz_gguf src/fmt/gguf.c -- fuzz/corpus/fuzz_gguf ~/.cache/ponder-fuzz/fuzz_gguf
# Replays every corpus directory (no mutations), then prints "file:line: code" for each executable line
# of the given sources that never ran, and a per-file count.
set -u
build=${1:?usage: unreached.sh COV_BUILD TARGET SRC... -- CORPUS_DIR...}
target=${2:?target}
shift 2
srcs=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do srcs+=("$1"); shift; done
shift
find "$build" -name '*.gcda' -delete
for d in "$@"; do [ -d "$d" ] && "$build/$target" --runs 0 "$d" >/dev/null 2>&1; done
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
for s in "${srcs[@]}"; do
    lib=$(basename "$(dirname "$s")")
    obj="$build/CMakeFiles/pd_$lib.dir/$s.o"
    (cd "$tmp" && gcov -o "$root/$obj" "$root/$s" >/dev/null 2>&1)
    g="$tmp/$(basename "$s").gcov"
    if [ ! -f "$g" ]; then echo "$s: no coverage data (not linked into $target?)"; continue; fi
    awk -v f="$s" '{ c = index($0, ":"); rest = substr($0, c + 1); d = index(rest, ":");
                     if (substr($0, 1, c - 1) ~ /#####/) { ln = substr(rest, 1, d - 1); gsub(/ /, "", ln);
                                                            print f ":" ln ": " substr(rest, d + 1) } }' "$g"
    awk -v f="$s" -F: '$1 ~ /#####/ { n++ } $1 ~ /[0-9]/ { e++ } END { printf "%s: %d of %d executable lines never ran\n", f, n, n + e }' "$g"
done
rm -rf "$tmp"
