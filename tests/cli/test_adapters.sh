#!/usr/bin/env bash
# tests/cli/test_adapters.sh — `ponder adapters count|shapes|info`: counts against hand arithmetic,
# usage errors (exit 2, one line naming the problem). Run: bash tests/cli/test_adapters.sh PONDER
set -u -o pipefail
P=${1:?usage: test_adapters.sh /path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
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

# ---- end to end on a tiny base trained here: finetune, info, logits --adapter, merge ----
T=$(mktemp -d /tmp/ponder_cli_adapters.XXXXXX)
trap 'rm -rf "$T"' EXIT
"$P" train --task arith-add --dim 32 --layers 2 --heads 2 --kv-heads 1 --ffn 48 --difficulty 1 --batch 2 --seq 96 --steps 2 \
  --eval-n 0 --plot none --quiet --out "$T/base.gguf" >/dev/null || { echo "FAIL training the base"; exit 1; }
TOK=72,101,108,108,111,33,10
"$P" logits -m "$T/base.gguf" --tokens $TOK --all --out "$T/base.f32" || fail=1
maxrel() { # max |a-b| / max |a| over two raw f32 files of the same non-zero size (else 1e99)
  if [ ! -s "$1" ] || [ "$(stat -c %s "$1")" != "$(stat -c %s "$2" 2>/dev/null)" ]; then echo 1e99; return; fi
  paste <(od -An -v -f -w4 "$1") <(od -An -v -f -w4 "$2") |
    awk '{d=$1-$2; if(d<0)d=-d; a=$1; if(a<0)a=-a; if(d>md)md=d; if(a>ma)ma=a} END{printf "%.3g\n", (ma>0?md/ma:md)}'
}
for m in lora pissa soka; do
  "$P" finetune -m "$T/base.gguf" --adapter $m --targets all $([ $m = soka ] || echo --rank 2) --steps 0 --out "$T/$m.gguf" --quiet >/dev/null \
    || { echo "FAIL finetune --steps 0 $m"; fail=1; continue; }
  check "info $m method" "method:     $m" "$("$P" adapters info "$T/$m.gguf" | grep '^method:')"
  # step 0: the adapted model equals the base, bit for bit
  "$P" logits -m "$T/base.gguf" --adapter "$T/$m.gguf" --tokens $TOK --all --out "$T/$m.f32" || fail=1
  if cmp -s "$T/base.f32" "$T/$m.f32"; then echo "ok   step-0 logits $m"; else echo "FAIL step-0 logits $m"; fail=1; fi
done
# inspect summarises an adapter; run --adapter with a fresh PiSSA adapter generates what the base does
check "inspect pissa trainable" "  trainable:  $(( 2 * (2*(32+32) + 2*(32+16) + 2*(32+16) + 2*(32+32) + 3*2*(32+48)) ))" \
  "$("$P" inspect "$T/pissa.gguf" --no-tensors | grep '^  trainable:' | sed 's/ (.*//')"
answer() { python3 -c 'import json,sys; print(repr(json.loads(sys.stdin.read())["answer"]))'; }
g0=$("$P" run -m "$T/base.gguf" -p "2+3" -n 6 --temp 0 --json | answer) || fail=1
g1=$("$P" run -m "$T/base.gguf" --adapter "$T/pissa.gguf" -p "2+3" -n 6 --temp 0 --json | answer) || fail=1
check "run --adapter: an answer" yes "$([ -n "$g0" ] && echo yes || echo no)"
check "run --adapter at step 0" "$g0" "$g1"
# chat and eval take the same shared --adapter flag: step 0 chat equals the base chat; a bad file is exit 1
# (bytes shown by od: a reply of newlines only is still a reply)
c0=$(printf '2+3\n' | "$P" chat -m "$T/base.gguf" -n 6 --temp 0 2>/dev/null | od -An -c) || fail=1
c1=$(printf '2+3\n' | "$P" chat -m "$T/base.gguf" --adapter "$T/pissa.gguf" -n 6 --temp 0 2>/dev/null | od -An -c) || fail=1
check "chat --adapter: a reply" yes "$([ -n "$c0" ] && echo yes || echo no)"
check "chat --adapter at step 0" "$c0" "$c1"
expect_err "chat with a missing adapter" 1 "--adapter: .*cannot open" chat -m "$T/base.gguf" --adapter "$T/none.gguf"
expect_err "eval with a missing adapter" 1 "--adapter: .*cannot open" eval -m "$T/base.gguf" --task arith-add --n 1 --adapter "$T/none.gguf"
# a quantised base: PiSSA is initialised from the dequantised weights and is exact at step 0
"$P" quantize "$T/base.gguf" "$T/base_q8.gguf" q8_0 >/dev/null || fail=1
"$P" finetune -m "$T/base_q8.gguf" --adapter pissa --targets q,k,v,o --rank 2 --steps 0 --out "$T/pq.gguf" --quiet >/dev/null || fail=1
"$P" logits -m "$T/base_q8.gguf" --tokens $TOK --all --out "$T/q0.f32" || fail=1
"$P" logits -m "$T/base_q8.gguf" --adapter "$T/pq.gguf" --tokens $TOK --all --out "$T/q1.f32" || fail=1
cmp -s "$T/q0.f32" "$T/q1.f32" && echo "ok   step-0 logits on a q8_0 base" || { echo "FAIL step-0 on q8_0"; fail=1; }
# a few steps of SoKA, then: logits through the hook == logits of the merged model
"$P" finetune -m "$T/base.gguf" --adapter soka --task arith-mul --difficulty 1 --batch 2 --seq 96 --steps 3 --lr 0.02 \
  --eval-n 0 --plot none --quiet --out "$T/s3.gguf" >/dev/null || { echo "FAIL finetune soka 3 steps"; fail=1; }
test -f "$T/s3.gguf.ckpt" && echo "ok   checkpoint written" || { echo "FAIL no checkpoint"; fail=1; }
"$P" logits -m "$T/base.gguf" --adapter "$T/s3.gguf" --tokens $TOK --all --out "$T/hook.f32" || fail=1
"$P" merge "$T/base.gguf" "$T/s3.gguf" "$T/merged.gguf" >/dev/null || fail=1
"$P" logits -m "$T/merged.gguf" --tokens $TOK --all --out "$T/merged.f32" || fail=1
r=$(maxrel "$T/hook.f32" "$T/merged.f32")
awk -v r="$r" 'BEGIN{exit !(r < 1e-4)}' && echo "ok   hook vs merged ($r)" || { echo "FAIL hook vs merged: $r"; fail=1; }
r=$(maxrel "$T/base.f32" "$T/hook.f32")
awk -v r="$r" 'BEGIN{exit !(r > 1e-5)}' && echo "ok   training changed the logits ($r)" || { echo "FAIL no change: $r"; fail=1; }
# --adapter-scale 0 gives the base back
"$P" logits -m "$T/base.gguf" --adapter "$T/s3.gguf" --adapter-scale 0 --tokens $TOK --all --out "$T/s0.f32" || fail=1
cmp -s "$T/base.f32" "$T/s0.f32" && echo "ok   adapter scale 0" || { echo "FAIL adapter scale 0"; fail=1; }
# wrong inputs
expect_err "merge with a model as adapter" 1 "not 'adapter'" merge "$T/base.gguf" "$T/base.gguf" "$T/x.gguf"
expect_err "finetune without base" 2 "-m BASE.gguf is required" finetune --adapter lora --task arith-add --out "$T/x.gguf"
expect_err "finetune bad method" 2 "unknown method 'dora'" finetune -m "$T/base.gguf" --adapter dora --out "$T/x.gguf"
expect_err "resume from a plain adapter" 1 "not a fine-tuning checkpoint" finetune --resume "$T/s3.gguf" --out "$T/x.gguf"
# a real model with its own vocabulary (tiny-llama fixture, q8_0): fresh PiSSA/SoKA adapters need no
# data, are exact at step 0, and a merged fresh PiSSA requantised to q8_0 gives the base back
if have_fixtures "the tiny-llama q8_0 part of test_adapters"; then
  FXM=$FX/models/tiny-llama-q8_0.gguf
  FTOK=1,450,4996,17354,29889
  "$P" logits -m "$FXM" --tokens $FTOK --all --out "$T/fx0.f32" || fail=1
  for m in pissa soka; do
    "$P" finetune -m "$FXM" --adapter $m --targets all $([ $m = soka ] || echo --rank 4) --steps 0 --out "$T/fx_$m.gguf" --quiet >/dev/null || fail=1
    "$P" logits -m "$FXM" --adapter "$T/fx_$m.gguf" --tokens $FTOK --all --out "$T/fx_$m.f32" || fail=1
    cmp -s "$T/fx0.f32" "$T/fx_$m.f32" && echo "ok   tiny-llama q8_0 $m step 0" || { echo "FAIL tiny-llama q8_0 $m step 0"; fail=1; }
  done
  "$P" merge "$FXM" "$T/fx_pissa.gguf" "$T/fx_merged.gguf" --keep-type >/dev/null || fail=1
  "$P" logits -m "$T/fx_merged.gguf" --tokens $FTOK --all --out "$T/fx_m.f32" || fail=1
  r=$(maxrel "$T/fx0.f32" "$T/fx_m.f32")
  awk -v r="$r" 'BEGIN{exit !(r < 1e-5)}' && echo "ok   merged fresh PiSSA (q8_0) == base ($r)" || { echo "FAIL merged fresh PiSSA: $r"; fail=1; }
  # a model ponder did not train fine-tunes with its own tokenizer and chat template (tests/cli/test_anymodel.sh)
  "$P" finetune -m "$FXM" --adapter lora --task arith-add --difficulty 1 --steps 1 --batch 1 --seq 64 --eval-n 0 \
      --plot none --quiet --out "$T/fv.gguf" >/dev/null 2>"$T/err" && [ -s "$T/fv.gguf" ] \
    && echo "ok   finetune a foreign vocabulary" || { echo "FAIL finetune a foreign vocabulary: $(cat "$T/err")"; fail=1; }
fi
# eval --adapter: a fresh PiSSA adapter leaves the sampled records unchanged (temperature 1, fixed seed:
# any change in the logits changes the samples), while a trained adapter changes them; the records are
# compared field by field, timings left out; a missing file is an error
records() { # the records of a JSONL file without their timings, one canonical line each
  python3 -c 'import json,sys
for l in open(sys.argv[1], encoding="latin-1"):
    r = json.loads(l)
    print(json.dumps({k: v for k, v in r.items() if not k.endswith("_s")}, sort_keys=True))' "$1"
}
EV="--task arith-add --difficulty 1 --n 3 -n 8 --temp 1 --seed 7"
"$P" eval -m "$T/base.gguf" $EV --out "$T/e0.jsonl" >/dev/null 2>&1 || fail=1
"$P" eval -m "$T/base.gguf" --adapter "$T/pissa.gguf" $EV --out "$T/e1.jsonl" >/dev/null 2>&1 || fail=1
"$P" eval -m "$T/base.gguf" --adapter "$T/s3.gguf" $EV --out "$T/e2.jsonl" >/dev/null 2>&1 || fail=1
check "eval records: 3 with answers" 3 "$(records "$T/e0.jsonl" | grep -c '"answer": "[^"]')"
check "eval --adapter at step 0" "$(records "$T/e0.jsonl")" "$(records "$T/e1.jsonl")"
[ "$(records "$T/e0.jsonl")" != "$(records "$T/e2.jsonl")" ] && echo "ok   eval --adapter trained differs" \
  || { echo "FAIL eval with a trained adapter gives the base's records"; fail=1; }
expect_err "eval with a missing adapter" 1 "--adapter: /nonexistent.gguf" eval -m "$T/base.gguf" --adapter /nonexistent.gguf --task arith-add --n 1
fixtures_exit $fail
