#!/bin/bash
# scripts/demo.sh — interim `make demo` (until generation and training land): run a forward pass of
# a fixture model on a tokenised prompt and print the top next tokens at each position.
# Usage: bash scripts/demo.sh path/to/ponder
set -eu
PONDER=${1:?usage: demo.sh path/to/ponder}
FIX=../shared/fixtures/models
MODEL=$FIX/tiny-qwen3.gguf
PROMPT='Question: what is 12+35? Answer: Let me think step by step.'
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "== model: $MODEL"
echo "== prompt: $PROMPT"
# token ids from the fixture (llama.cpp's tokenisation of the prompt), id<TAB>piece
IDS=$(cut -f1 "$FIX/tiny-qwen3.tokens.txt" | paste -sd, -)
N=$(wc -l < "$FIX/tiny-qwen3.tokens.txt")
echo "== token ids ($N, llama.cpp's tokenisation of the prompt): $IDS"
echo "== forward pass over all positions; the 3 most likely next tokens at each one"
echo "   (random weights with a tied embedding: the input token itself usually comes first)"
"$PONDER" logits -m "$MODEL" --tokens "$IDS" --all --top 3 --out "$T/logits.f32"
echo "== raw logits: $(stat -c %s "$T/logits.f32") bytes ($N positions × 151936 × f32)"
