#!/usr/bin/env bash
# tests/cli/test_adapters.sh — `ponder adapters count|shapes|info`: counts against hand arithmetic,
# usage errors (exit 2, one line naming the problem). Run: bash tests/cli/test_adapters.sh PONDER
set -u
P=${1:?usage: test_adapters.sh /path/to/ponder}
fail=0
check() { # name, expected, actual
  if [ "$2" != "$3" ]; then echo "FAIL $1: expected '$2', got '$3'"; fail=1; else echo "ok   $1"; fi
}
total() { "$P" adapters count "$@" | sed -n 's/^total trainable parameters: \([0-9]*\).*/\1/p'; }

# Qwen2.5-0.5B, LoRA r=8 on all 7 matrices, per layer: q 8·(896+896)=14336, k,v 8·(896+128)=8192,
# o 14336, gate/up/down 8·(896+4864)=46080 → 183296 × 24 layers
check "qwen2.5-0.5b lora r8 all" 4399104 "$(total --shape qwen2.5-0.5b --adapter lora --rank 8 --targets all)"
# LLaMA2-7B q,v: LoRA r=2: 2·(4096+4096)·2·32; SoKA 64x64(x)64x64, 2 terms: 2·(4096+4096)·2·32
check "llama2-7b lora r2 q,v" 1048576 "$(total --shape llama2-7b --adapter lora --rank 2)"
check "llama2-7b soka 2 terms q,v" 1048576 "$(total --shape llama2-7b --adapter soka --terms 2)"
# PiSSA counts like LoRA: r=4 on q,v of qwen3-0.6b: q 4·(1024+2048), v 4·(1024+1024) per layer, 28 layers
check "qwen3-0.6b pissa r4 q,v" $(( (4*(1024+2048) + 4*(1024+1024)) * 28 )) "$(total --shape qwen3-0.6b --adapter pissa --rank 4)"
# SoKA on down of llama2-7b: d_in 11008 = 86·128, d_out 4096 = 64·64 → 64·86 + 64·128 per term
check "llama2-7b soka down 3 terms" $(( 3 * (64*86 + 64*128) * 32 )) "$(total --shape llama2-7b --adapter soka --terms 3 --targets down)"
# the all-shapes table lists the five shapes
check "all shapes rows" 5 "$("$P" adapters count --shape all --adapter soka | tail -n +2 | wc -l)"
check "shapes list has qwen2.5-7b" 1 "$("$P" adapters shapes | grep -c '^qwen2.5-7b .* 3584 .* 18944$')"

# usage errors: exit 2 and a one-line message naming the problem
expect_err() { # name, code, grep-pattern, args...
  local name=$1 code=$2 pat=$3; shift 3
  local err; err=$("$P" "$@" 2>&1 >/dev/null); local rc=$?
  if [ $rc -ne "$code" ] || ! grep -q -- "$pat" <<<"$err"; then echo "FAIL $name: rc=$rc err='$err'"; fail=1; else echo "ok   $name"; fi
}
expect_err "unknown shape" 2 "unknown shape 'gpt-9'" adapters count --shape gpt-9 --adapter lora
expect_err "unknown method" 2 "unknown method 'dora'" adapters count --shape llama2-7b --adapter dora
expect_err "bad target" 2 "unknown matrix 'qq'" adapters count --shape llama2-7b --adapter lora --targets q,qq
expect_err "bad rank" 2 "--rank" adapters count --shape llama2-7b --adapter lora --rank 0
expect_err "terms for lora" 2 "--terms is for SoKA" adapters count --shape llama2-7b --adapter lora --terms 2
expect_err "missing shape" 2 "--shape is required" adapters count --adapter lora
expect_err "info on a missing file" 1 "/nonexistent.gguf" adapters info /nonexistent.gguf
expect_err "unknown subcommand" 2 "unknown subcommand" adapters frobnicate
exit $fail
