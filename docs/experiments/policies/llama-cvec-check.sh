#!/bin/bash
# llama-cvec-check.sh MODEL CV SCALE A+B N — greedy decoding of one arith-add question with a control
# vector at every position (prompt included) by llama.cpp's llama-completion and by `ponder run --policy
# steer:...,when=always,prompt=1`; prints whether the token ids are the same (llama.cpp's text is
# re-tokenised with ponder's byte vocabulary, special tokens parsed). SCALE "none" runs both without a
# vector. Needs a llama.cpp build: LLAMA_BIN=/path/to/build/bin (llama-completion and its libraries),
# PONDER=/path/to/ponder. Writes llama.txt, llama.try and ponder.json in the current directory.
set -u
M=$1 CV=$2 S=$3 Q=$4 N=$5
P=${PONDER:-build/ponder}; L=${LLAMA_BIN:?set LLAMA_BIN to llama.cpp build/bin}
PR=$'<|im_start|>user\nWhat is '"$Q"$'?<|im_end|>\n<|im_start|>assistant\n<think>\n'
CVF=(); POL=()
if [ "$S" != none ]; then CVF=(--control-vector-scaled "$CV:$S"); POL=(--policy "steer:file=$CV,scale=$S,when=always,prompt=1"); fi
# llama-completion prints through its asynchronous log, whose tail is sometimes lost at exit (the text
# is then a strict prefix): run it 3 times and keep the longest output
: > llama.txt
for try in 1 2 3; do
  LD_LIBRARY_PATH=$L $L/llama-completion -m "$M" -p "$PR" -n "$N" --temp 0 -no-cnv -sp --no-display-prompt -t 1 --simple-io \
      "${CVF[@]}" 2>/dev/null > llama.try < /dev/null
  [ "$(wc -c < llama.try)" -gt "$(wc -c < llama.txt)" ] && cp llama.try llama.txt
done
$P run -m "$M" -p "$PR" --no-template --temp 0 -n "$N" --json "${POL[@]}" 2>/dev/null > ponder.json
python3 - "$M" "$P" <<'PY'
import json, subprocess, sys
p = json.load(open("ponder.json"))["token_ids"]
lt = open("llama.txt").read()
end = lt.rfind(" [end of text]")   # llama-completion's end marker after an end token
lt = lt[:end] if end >= 0 else lt.rstrip("\n") if len(lt) > 0 and lt.endswith("\n\n") else lt
l = [int(x) for x in subprocess.run([sys.argv[2], "tokenize", "-m", sys.argv[1], "--ids", "--special", lt], capture_output=True, text=True).stdout.split()]
n = 0
while n < min(len(p), len(l)) and p[n] == l[n]: n += 1
print("ponder %d tokens, llama.cpp %d tokens (its text re-tokenised), identical prefix %d: %s" % (len(p), len(l), n, "SAME" if p == l else "DIFFERENT"))
PY
