#!/bin/bash
# bench/kern_vs_ggml/run.sh — ponder's pd_matmul vs ggml's mul_mat on the matrix shapes of the
# bench table (llama-110m: 768x2048, 2048x768; qwen3-0.6b: 1024x3072, 3072x1024), prefill (M=512)
# and decode (M=1), 1 thread, best CPU time of R runs (robust on a shared machine, unlike wall time).
# usage: bench/kern_vs_ggml/run.sh BUILD_DIR LLAMA_CPP_SRC LLAMA_CPP_BUILD [TYPES]
#   BUILD_DIR: ponder build (libpd_kern.a, libpd_base.a); LLAMA_CPP_SRC: a llama.cpp checkout;
#   LLAMA_CPP_BUILD: its cmake build dir (libggml*.so in bin/). Prints one line per measurement.
#   REPACK=1: ponder's Q4_0 / Q8_0 / Q4_K weights repacked into 8-row groups first, as `ponder`
#   loads a model (leave it unset for a build from before the repack).
set -e
B=$(cd "$1" && pwd); L=$(cd "$2" && pwd); LB=$(cd "$3" && pwd); TYPES=${4:-"f32 f16 q8_0 q4_0 q4_K"}
D=$(cd "$(dirname "$0")" && pwd); T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
gcc -O2 -fopenmp ${REPACK:+-DPD_MM_REPACK} -I"$D/../../include" "$D/ponder_mm.c" "$B/libpd_kern.a" "$B/libpd_base.a" -lm -o "$T/ponder_mm"
gcc -O2 -I"$L/ggml/include" "$D/ggml_mm.c" -L"$LB/bin" -lggml -lggml-base -lggml-cpu -Wl,-rpath,"$LB/bin" -o "$T/ggml_mm"
declare -A TID=([f32]=0 [f16]=1 [q4_0]=2 [q8_0]=8 [q4_K]=12 [q6_K]=14)
for shape in "768 2048" "2048 768" "1024 3072" "3072 1024"; do
  set -- $shape
  for t in $TYPES; do
    for M in 512 1; do
      R=$([ $M = 1 ] && echo 200 || echo 5)
      p=$("$T/ponder_mm" "${TID[$t]}" $1 $2 $M $R | sed 's/.*best \([0-9.]*\) ms.*/\1/')
      g=$("$T/ggml_mm" $t $1 $2 $M $R 2>/dev/null | sed 's/.*best \([0-9.]*\) ms.*/\1/')
      echo "$t K=$1 N=$2 M=$M ponder_ms=$p ggml_ms=$g ratio=$(python3 -c "print(round($g/$p,2))") load=$(cut -d' ' -f1 /proc/loadavg)"
    done
  done
done
