#!/usr/bin/env python3
"""docs/experiments/bf16/analyze.py — f32 vs bf16 training curves of the demo config.

usage: analyze.py RUNS_DIR OUT_DIR
RUNS_DIR holds <precision>-s<seed>.jsonl step logs (`ponder train --log`); writes OUT_DIR/curves.csv
(per step: the training loss of every run), OUT_DIR/heldout.csv (held-out loss at each evaluation),
OUT_DIR/loss.svg (running mean of the training loss, 25 steps, per run; held-out points) and prints
the summary table (markdown). Standard library only."""
import glob, json, math, os, re, statistics, sys

runs_dir, out = sys.argv[1], sys.argv[2]
runs = {}
for p in sorted(glob.glob(os.path.join(runs_dir, "*-s*.jsonl"))):
    m = re.match(r"(f32|bf16)-s(\d+)\.jsonl$", os.path.basename(p))
    if not m:
        continue
    loss, held = {}, {}
    for line in open(p):
        j = json.loads(line)
        if j.get("eval"):
            held[j["step"]] = j["heldout_loss"]
        elif "loss" in j:
            loss[j["step"]] = j["loss"]
    runs[(m.group(1), int(m.group(2)))] = (loss, held)
keys = sorted(runs, key=lambda k: (k[0] != "f32", k[1]))
steps = sorted(set().union(*[set(runs[k][0]) for k in keys]))
evals = sorted(set().union(*[set(runs[k][1]) for k in keys]))
name = lambda k: f"{k[0]}-s{k[1]}"
with open(os.path.join(out, "curves.csv"), "w") as f:
    f.write("step," + ",".join(name(k) for k in keys) + "\n")
    for s in steps:
        f.write(f"{s}," + ",".join(f"{runs[k][0].get(s, float('nan')):.6f}" for k in keys) + "\n")
with open(os.path.join(out, "heldout.csv"), "w") as f:
    f.write("step," + ",".join(name(k) for k in keys) + "\n")
    for s in evals:
        f.write(f"{s}," + ",".join(f"{runs[k][1].get(s, float('nan')):.6f}" for k in keys) + "\n")

def tail_mean(loss, n=50):
    v = [loss[s] for s in sorted(loss)[-n:]]
    return sum(v) / len(v)

def smooth(loss, w=25):
    ss = sorted(loss)
    return [(s, statistics.fmean(loss[t] for t in ss[max(0, i - w + 1): i + 1])) for i, s in enumerate(ss)]

# summary: held-out loss at each evaluation and the last-50-step training loss
f32 = [k for k in keys if k[0] == "f32"]
bf = [k for k in keys if k[0] == "bf16"]
print("| eval step | " + " | ".join(name(k) for k in keys) + " | f32 mean ± sd (min..max) | bf16 mean |")
print("|---:|" + "---:|" * len(keys) + "---|---:|")
for s in evals:
    fv = [runs[k][1][s] for k in f32 if s in runs[k][1]]
    bv = [runs[k][1][s] for k in bf if s in runs[k][1]]
    sd = statistics.stdev(fv) if len(fv) > 1 else float("nan")
    print(f"| {s} | " + " | ".join(f"{runs[k][1].get(s, float('nan')):.4f}" for k in keys) +
          f" | {statistics.fmean(fv):.4f} ± {sd:.4f} ({min(fv):.4f}..{max(fv):.4f}) | "
          f"{statistics.fmean(bv) if bv else float('nan'):.4f} |")
tm = {k: tail_mean(runs[k][0]) for k in keys}
fv = [tm[k] for k in f32]
print("| train loss, mean of the last 50 steps | " + " | ".join(f"{tm[k]:.4f}" for k in keys) +
      f" | {statistics.fmean(fv):.4f} ± {statistics.stdev(fv) if len(fv) > 1 else float('nan'):.4f} "
      f"({min(fv):.4f}..{max(fv):.4f}) | {statistics.fmean(tm[k] for k in bf) if bf else float('nan'):.4f} |")
# same seed, bf16 - f32, against the f32 seed-to-seed spread
print()
for k in bf:
    kf = ("f32", k[1])
    if kf in runs:
        d = [runs[k][1][s] - runs[kf][1][s] for s in evals if s in runs[k][1] and s in runs[kf][1]]
        print(f"seed {k[1]}: held-out bf16 - f32 at the evaluations: " + ", ".join(f"{x:+.4f}" for x in d))

# SVG: smoothed training loss (log scale) + held-out dots
W, H, L, R, T, B = 820, 480, 70, 150, 30, 50
ymin, ymax = math.log10(0.05), math.log10(6)
xs = lambda s: L + (W - L - R) * (s - steps[0]) / (steps[-1] - steps[0])
ys = lambda v: T + (H - T - B) * (ymax - math.log10(max(v, 1e-3))) / (ymax - ymin)
col = {"f32": ["#1f77b4", "#4a90c8", "#7fb2dc"], "bf16": ["#d62728", "#e3625f", "#ee9a98"]}
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{L}" y="18">demo config (qwen3 dim 128, 4 layers, batch 4x320, lr 2e-3): training loss '
       f'(25-step running mean) and held-out loss (dots)</text>']
for v in (0.05, 0.1, 0.2, 0.5, 1, 2, 5):
    y = ys(v)
    svg.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
               f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{v}</text>')
for s in range(0, steps[-1] + 1, 100):
    x = xs(max(s, steps[0]))
    svg.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{H - B}" stroke="#eee"/>'
               f'<text x="{x:.1f}" y="{H - B + 16}" text-anchor="middle">{s}</text>')
svg.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">step</text>')
for i, k in enumerate(keys):
    c = col[k[0]][min(i if k[0] == "f32" else i - len(f32), 2)]
    pts = " ".join(f"{xs(s):.1f},{ys(v):.1f}" for s, v in smooth(runs[k][0]))
    dash = "" if k[0] == "f32" else ' stroke-dasharray="6,3"'
    svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5"{dash} points="{pts}"/>')
    for s, v in runs[k][1].items():
        svg.append(f'<circle cx="{xs(s):.1f}" cy="{ys(v):.1f}" r="3" fill="{c}"/>')
    y = T + 20 + 18 * i
    svg.append(f'<line x1="{W - R + 10}" x2="{W - R + 40}" y1="{y}" y2="{y}" stroke="{c}" stroke-width="2"{dash}/>'
               f'<text x="{W - R + 46}" y="{y + 4}">{name(k)}</text>')
svg.append("</svg>")
open(os.path.join(out, "loss.svg"), "w").write("\n".join(svg) + "\n")
