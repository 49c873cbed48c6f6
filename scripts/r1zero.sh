#!/bin/bash
# scripts/r1zero.sh — the R1-Zero experiment at laptop scale (issue 11): can a model learn to think
# from rewards alone?
# 1. Pretrain a tiny byte-level model (qwen3 layout) on task items (countdown by default) with the
#    reasoning removed: every completion is an empty thinking block and the answer
#    ("<think>\n\n</think>\n\n94-41+25").
# 2. RL from it with GRPO, reward = the task's verifier (countdown: 1 right, 0.1 well-formed but wrong,
#    0 none) + a format reward (thinking closed and an answer extractable), temperature 1, up to
#    R1Z_MAX_TOKENS new tokens — room to think that pretraining never used.
# 3. The "aha" curve: thinking tokens and sampled accuracy per step, held-out greedy accuracy, as one
#    SVG (r1zero.svg) and a table of the first and last steps.
# Usage: bash scripts/r1zero.sh path/to/ponder [OUT_DIR]
#   R1Z_PRE_STEPS (1000), R1Z_RL_STEPS (150), R1Z_SEED (1), R1Z_THREADS (1), R1Z_MAX_TOKENS (48),
#   R1Z_EXTRA (more `ponder rl` flags, e.g. "--memory-reward rplus"), R1Z_TASK (countdown) and R1Z_DIFF (3),
#   R1Z_SEQ (the pretraining sequence length, 192) change the run.
set -eu
PONDER=${1:?usage: r1zero.sh path/to/ponder [OUT_DIR]}
OUT=${2:-r1zero-out}
PRE=${R1Z_PRE_STEPS:-1000}
STEPS=${R1Z_RL_STEPS:-150}
SEED=${R1Z_SEED:-1}
TH=${R1Z_THREADS:-1}
MAXT=${R1Z_MAX_TOKENS:-48}
EXTRA=${R1Z_EXTRA:-}
TASK=${R1Z_TASK:-countdown}
DIFF=${R1Z_DIFF:-3}
SEQ=${R1Z_SEQ:-192}
mkdir -p "$OUT"
BASE=$OUT/base.gguf
if [ ! -s "$BASE" ]; then
  "$PONDER" tasks gen --task "$TASK" --n 30000 --difficulty "$DIFF" --split train --seed 5 --out "$OUT/items.jsonl"
  python3 - "$OUT/items.jsonl" "$OUT/answers.jsonl" <<'EOF'
import json, os, sys
src, dst = sys.argv[1:]
tmp = dst + ".tmp"
with open(tmp, "w") as f:
    for line in open(src):
        o = json.loads(line)
        o["reasoning"] = ""          # answers only: no reasoning trace anywhere in pretraining
        f.write(json.dumps(o) + "\n")
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, dst)
EOF
  "$PONDER" train --data "$OUT/answers.jsonl" --arch qwen3 --dim 64 --layers 2 --heads 4 --kv-heads 2 \
      --ffn 192 --ctx 256 --batch 16 --seq "$SEQ" --steps "$PRE" --lr 3e-3 --seed 1 --threads "$TH" --eval-n 0 \
      --plot "$OUT/base-loss.svg" --log "$OUT/base.jsonl" --out "$BASE" --quiet
fi
RUN=$OUT/rl-s$SEED
# shellcheck disable=SC2086
"$PONDER" rl -m "$BASE" --task "$TASK" --difficulty "$DIFF" --algo grpo --group 8 --prompts 8 --steps "$STEPS" \
    --lr 3e-4 --temp 1 --max-tokens "$MAXT" --format-reward 0.5 --seed "$SEED" --threads "$TH" \
    --eval-every 25 --eval-n 100 --max-new "$MAXT" --log "$RUN.jsonl" --plot "$RUN.svg" --out "$RUN.gguf" --quiet $EXTRA
python3 - "$RUN.jsonl" "$OUT/r1zero-s$SEED.svg" <<'EOF'
import json, os, sys
log, svg = sys.argv[1:]
steps = [json.loads(l) for l in open(log)]
tr = [s for s in steps if not s.get("eval")]
ev = [s for s in steps if s.get("eval")]
def smooth(v, k=10):
    return [sum(v[max(0, i - k + 1):i + 1]) / len(v[max(0, i - k + 1):i + 1]) for i in range(len(v))]
x = [s["step"] for s in tr]
think = smooth([s["len_think"] for s in tr])
acc = smooth([s["accuracy"] for s in tr])
W, H, L, R, T, B = 720, 360, 60, 60, 40, 50
xmax = max(x) if x else 1
tmax = max(max(think) if think else 1, 1)
def px(v): return L + (W - L - R) * v / xmax
def py(v, top): return H - B - (H - T - B) * v / top
def line(vals, top, color):
    pts = " ".join(f"{px(a):.1f},{py(b, top):.1f}" for a, b in zip(x, vals))
    return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>'
parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         '<rect width="100%" height="100%" fill="white"/>',
         f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14">R1-Zero run: thinking tokens vs accuracy (10-step means)</text>',
         f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>',
         f'<line x1="{W-R}" y1="{T}" x2="{W-R}" y2="{H-B}" stroke="black"/>',
         f'<text x="{W/2}" y="{H-15}" text-anchor="middle">RL step</text>',
         f'<text x="15" y="{H/2}" transform="rotate(-90 15 {H/2})" text-anchor="middle" fill="#31a354">thinking tokens (0-{tmax:.1f})</text>',
         f'<text x="{W-15}" y="{H/2}" transform="rotate(90 {W-15} {H/2})" text-anchor="middle" fill="#e6550d">accuracy (0-1)</text>',
         line(think, tmax, "#31a354"), line(acc, 1.0, "#e6550d")]
for s in ev:
    parts.append(f'<circle cx="{px(s["step"]):.1f}" cy="{py(s["accuracy"], 1.0):.1f}" r="4" fill="#08519c"/>')
parts.append(f'<text x="{L+10}" y="{T+15}" fill="#08519c">dots: held-out greedy accuracy</text>')
parts.append("</svg>")
tmp = svg + ".tmp"
with open(tmp, "w") as f:
    f.write("\n".join(parts) + "\n")
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, svg)
n = max(1, len(tr) // 5)
def mean(v): return sum(v) / len(v) if v else float("nan")
first, last = tr[:n], tr[-n:]
print(f"| steps | thinking tokens | response tokens | sampled accuracy | reward |")
print(f"|---|---:|---:|---:|---:|")
for name, part in (("first %d" % n, first), ("last %d" % n, last)):
    print(f"| {name} | {mean([s['len_think'] for s in part]):.2f} | {mean([s['len_mean'] for s in part]):.2f} | "
          f"{mean([s['accuracy'] for s in part]):.3f} | {mean([s['reward_mean'] for s in part]):.3f} |")
print("held-out greedy accuracy:", ", ".join(f"step {s['step']}: {s['accuracy']:.3f}" for s in ev))
print("wrote", svg)
EOF
