#!/usr/bin/env bash
# tests/cli/test_fmt_cli.sh — `ponder inspect`, `ponder convert`, `ponder quantize` end to end:
# facts from the fixture READMEs (shapes, types, parameter counts), quantize → inspect, convert →
# inspect, and bad input → non-zero exit with a one-line error. Run: bash tests/cli/test_fmt_cli.sh PONDER
set -u
P=${1:?usage: test_fmt_cli.sh /path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
T=$(mktemp -d /tmp/pd_fmt_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # name, expected, actual
  if [ "$2" != "$3" ]; then echo "FAIL $1: expected '$2', got '$3'"; fail=1; else echo "ok   $1"; fi
}
# field N of the tensor-table row for tensor $2 in inspect output file $1
col() { awk -v n="$2" -v c="$3" '$1 == n { print $c; exit }' "$1"; }

# inspect a fixture: README says tiny-llama-q8_0 has Q8_0 matrices except ffn_down (F32), norms F32
"$P" inspect "$FX/models/tiny-llama-q8_0.gguf" > "$T/q8.txt"; check "inspect exit" 0 $?
check "inspect version line" 1 "$(grep -c '^GGUF version 3, alignment 32, 24 metadata keys, 20 tensors' "$T/q8.txt")"
check "inspect arch" 1 "$(grep -c '^  general.architecture  *str  *"llama"$' "$T/q8.txt")"
check "inspect file_type 7" 1 "$(grep -c '^  general.file_type  *u32  *7$' "$T/q8.txt")"
check "inspect token_embd type" q8_0 "$(col "$T/q8.txt" token_embd.weight 2)"
check "inspect ffn_down type" f32 "$(col "$T/q8.txt" blk.0.ffn_down.weight 2)"
# Q8_0: 34 bytes per 32 weights → 64×32000/32×34 = 2176000
check "inspect token_embd bytes" 2176000 "$(awk '$1 == "token_embd.weight" { print $(NF-1) }' "$T/q8.txt")"
# parameters: embd 64·32000 + 2 layers × (2·64 norms + 64·64·2 q,o + 64·32·2 k,v + 3·64·172 ffn) + 64 output norm
check "inspect total params" "total: $((64*32000 + 2*(2*64 + 2*64*64 + 2*64*32 + 3*64*172) + 64)) parameters" \
  "$(grep -o '^total: [0-9]* parameters' "$T/q8.txt")"

# quantize the F32 model to q8_0, then inspect: same types as llama.cpp's own q8_0 file
"$P" quantize "$FX/models/tiny-llama.gguf" "$T/mine-q8.gguf" q8_0 > "$T/qout.txt"; check "quantize exit" 0 $?
check "quantize summary" 1 "$(grep -c '(Q8_0): 13 tensors converted (q8_0 13; 0 by fallback), 7 kept' "$T/qout.txt")"
"$P" inspect "$T/mine-q8.gguf" > "$T/mine.txt"; check "inspect quantized exit" 0 $?
check "quantized file_type" 1 "$(grep -c '^  general.file_type  *u32  *7$' "$T/mine.txt")"
table() { awk '/^tensors/{f=1} f && $1 ~ /\.weight$/ {print $1, $2, $(NF-1)}' "$1" | sort; }
check "quantized table rows" 20 "$(table "$T/mine.txt" | wc -l)"
check "quantized tensor table" "$(table "$T/q8.txt")" "$(table "$T/mine.txt")"
check "quantized bytes equal llama.cpp's" "$(grep '^total' "$T/q8.txt")" "$(grep '^total' "$T/mine.txt")"
# Q4_K's 256-wide blocks fit none of this model's 64- and 172-wide rows: llama-quantize's fallbacks (Q4_K -> Q5_0,
# the Q6_K of output / attn_v / ffn_down bumps -> Q8_0; 172-wide ffn_down fits no 32-block either -> F16)
"$P" quantize "$FX/models/tiny-llama.gguf" "$T/mine-q4k.gguf" q4_K > "$T/q4k.out"; check "q4_K fallback exit" 0 $?
check "q4_K is Q4_K_M, by fallback" 1 "$(grep -c '(Q4_K_M): 15 tensors converted (f16 2, q5_0 11, q8_0 2; 14 by fallback), 5 kept' "$T/q4k.out")"
"$P" inspect "$T/mine-q4k.gguf" > "$T/q4k.txt"
check "q4_K_M fallback types" "f16 q5_0 q8_0" "$(table "$T/q4k.txt" | awk '{print $2}' | grep -v f32 | sort -u | tr '\n' ' ' | sed 's/ $//')"
check "q4_K_M ffn_down" "f16" "$(table "$T/q4k.txt" | awk '$1 == "blk.1.ffn_down.weight" {print $2}')"
# a file already in the type (the 172-wide ffn_down fits no Q8_0 block and stays) has nothing to convert
"$P" quantize "$T/mine-q8.gguf" "$T/mine-q8b.gguf" Q8_0 > /dev/null 2> "$T/q8b.err"; check "nothing to convert exit" 1 $?
check "nothing to convert says why" 1 "$(grep -c 'nothing to convert to q8_0 (weight matrices: 13 already q8_0' "$T/q8b.err")"
check "nothing to convert wrote nothing" 1 "$([ -e "$T/mine-q8b.gguf" ]; echo $?)"

# convert the llama2.c checkpoint; README: 260,032 parameters, dim 64, 5 layers, 8/4 heads
"$P" convert "$FX/llama2c/stories260K.bin" "$T/s.gguf" > /dev/null; check "convert exit" 0 $?
"$P" inspect "$T/s.gguf" > "$T/s.txt"
check "converted params" "total: 260032 parameters" "$(grep -o '^total: [0-9]* parameters' "$T/s.txt")"
check "converted tensors" 1 "$(grep -c ' 47 tensors' "$T/s.txt")"
check "converted attn_k shape" "[64, 32]" "$(awk '$1 == "blk.4.attn_k.weight" { print $3, $4 }' "$T/s.txt")"
check "converted head_count_kv" 1 "$(grep -c '^  llama.attention.head_count_kv  *u32  *4$' "$T/s.txt")"

# errors: non-zero exit and exactly one line on stderr naming the problem
expect_err() { # name, code, pattern, args...
  local name=$1 code=$2 pat=$3; shift 3
  local err; err=$("$P" "$@" 2>&1 >/dev/null); local rc=$?
  if [ $rc -ne "$code" ] || ! grep -q -- "$pat" <<<"$err" || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ]; then
    echo "FAIL $name: rc=$rc err='$err'"; fail=1
  else echo "ok   $name"; fi
}
head -c 5000 "$FX/models/tiny-llama.gguf" > "$T/trunc.gguf"
expect_err "inspect truncated" 1 "ponder inspect: $T/trunc.gguf: key 'tokenizer.ggml.tokens' at offset" inspect "$T/trunc.gguf"
printf 'this is not a gguf file at all, really' > "$T/junk.gguf"
expect_err "inspect junk" 1 "not a GGUF file" inspect "$T/junk.gguf"
expect_err "inspect missing" 1 "cannot open" inspect "$T/nope.gguf"
expect_err "inspect no args" 2 "missing FILE" inspect
expect_err "quantize bad type" 2 "unsupported TYPE 'q5_k_x'" quantize "$FX/models/tiny-llama.gguf" "$T/x.gguf" q5_k_x
expect_err "quantize truncated" 1 "offset" quantize "$T/trunc.gguf" "$T/x.gguf" q8_0
check "no output after failure" 1 "$([ -e "$T/x.gguf" ] || [ -e "$T/x.gguf.tmp" ]; echo $?)"
head -c 1000 "$FX/llama2c/stories260K.bin" > "$T/short.bin"
expect_err "convert truncated" 1 "implies 1056540 bytes" convert "$T/short.bin" "$T/y.gguf"
expect_err "convert usage" 2 "expected IN.bin OUT.gguf" convert "$T/short.bin"
expect_err "convert unwritable" 1 "cannot create" convert "$FX/llama2c/stories260K.bin" "$T/no/such/dir/y.gguf"
exit $fail
