#!/bin/bash
# LoRA vs PiSSA vs SoKA at comparable budgets: a base trained by ponder on arith-add (difficulty 1-2,
# ~115K params, 2000 steps) is fine-tuned to arith-mul difficulty 1 with each adapter, same data and steps.
# Usage: bash run.sh path/to/ponder   (writes into ./out; about 10 minutes per adapter on 1 thread)
set -eu
P=${1:?usage: run.sh path/to/ponder}
mkdir -p out && cd out
"$P" train --task arith-add --difficulty 1-2 --arch qwen3 --dim 64 --layers 2 --heads 4 --kv-heads 2 --ffn 192 \
    --batch 8 --seq 160 --steps 2000 --lr 3e-3 --seed 1 --out base.gguf --quiet
common="-m base.gguf --targets all --task arith-mul --difficulty 1 --batch 8 --seq 160 --steps 600 --lr 5e-3 \
  --warmup 20 --eval-every 100 --eval-n 50 --max-new 90 --threads 1 --plot none --quiet"
"$P" finetune $common --adapter lora --rank 2 --log lora_2.jsonl --out lora_2.gguf
"$P" finetune $common --adapter pissa --rank 2 --log pissa_2.jsonl --out pissa_2.gguf
"$P" finetune $common --adapter soka --terms 2 --log soka_2.jsonl --out soka_2.gguf
"$P" finetune $common --adapter soka --log soka_adapt_2.jsonl --out soka_adapt_2.gguf
for a in lora_2 pissa_2 soka_2 soka_adapt_2; do
  "$P" eval -m base.gguf --adapter $a.gguf --task arith-mul --difficulty 1 --n 200 --temp 0 -n 90 | grep -i accuracy
done
