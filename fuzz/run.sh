#!/usr/bin/env bash
# fuzz/run.sh — run every libFuzzer target of a `make fuzz` build for SECONDS each, one after the other,
# over its seed corpus (fuzz/corpus/<target>, read only) plus a grown corpus kept OUTSIDE the repository
# (CORPUS_DIR/<target>, new inputs go there), with fuzz/dict/<target>.dict when it exists. Prints per
# target: executions, covered edges when the corpus was loaded and at the end, crashes (artifacts under
# CORPUS_DIR/<target>-crashes/). Exit 1 when any target crashed, leaked, hung or reported UB.
#
#   bash fuzz/run.sh BUILD_DIR SECONDS CORPUS_DIR [target ...]
# RUNS=N (environment) also stops a target after N executions, whichever comes first: the robustness
# figure of issue 17 is `RUNS=10000000 SECONDS=1800` (10M executions, or 30 minutes for the slow targets).
set -u
build=${1:?usage: run.sh BUILD_DIR SECONDS CORPUS_DIR [target ...]}
secs=${2:?seconds}
cache=${3:?corpus dir}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$here"/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
mkdir -p "$cache" || { echo "fuzz-run: cannot create $cache" >&2; exit 1; }
summary=()
failed=0
for t in "${targets[@]}"; do
    bin="$build/$t"
    if [ ! -x "$bin" ]; then echo "fuzz-run: $bin missing (run make fuzz)" >&2; failed=1; continue; fi
    grown="$cache/$t"
    crashes="$cache/$t-crashes"
    mkdir -p "$grown" "$crashes"
    log="$cache/$t.log"
    dict=()
    [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
    stamp="$cache/$t.stamp"; : >"$stamp"
    runs=()
    [ -n "${RUNS:-}" ] && runs=(-runs="$RUNS")
    echo "fuzz-run: $t for ${secs}s${RUNS:+ or $RUNS executions} (corpus $grown, log $log)"
    # -timeout: one input taking 20 s is a hang; -rss_limit_mb: a blow-up is a bug too.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
        "${runs[@]}" -artifact_prefix="$crashes/" "${dict[@]}" "$grown" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    start=$(grep -m1 -E '#[0-9]+\s+INITED' "$log" | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
    end=$(grep -E '^#[0-9]+\s' "$log" | grep -E 'cov: [0-9]+' | tail -1 | sed -nE 's/.*cov: ([0-9]+).*/\1/p')
    execs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$log" | tail -1)
    ncrash=$(find "$crashes" -type f -newer "$stamp" | wc -l)
    status=ok
    if [ $rc -eq 77 ]; then
        status="SKIPPED ($(grep -m1 SKIPPED "$log" | cut -c1-90))"
    elif [ $rc -ne 0 ]; then
        status="FAILED rc=$rc"; failed=1
        grep -m3 -E 'ERROR: |runtime error|SUMMARY' "$log" | sed 's/^/    /'
    fi
    summary+=("$(printf '%-22s %14s %9s %9s %8s  %s' "$t" "${execs:-?}" "${start:-?}" "${end:-?}" "$ncrash" "$status")")
done
echo
printf '%-22s %14s %9s %9s %8s  %s\n' target executions edges0 edges1 crashes status
for l in "${summary[@]}"; do echo "$l"; done
echo "(edges0: covered edges once the corpus was loaded; edges1: at the end; crashes: new files in CORPUS/<target>-crashes)"
exit $failed
