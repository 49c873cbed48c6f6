#!/usr/bin/env python3
"""A small SVG line chart of step-log keys (rlmem's experiments; no plotting library needed).
Usage: rlmem_plot.py OUT.svg TITLE KEY[/SMOOTH] LABEL=LOG.jsonl ...
Each LOG contributes one line of KEY (training steps only), averaged over a trailing window of SMOOTH steps."""
import json, os, sys

out, title, key = sys.argv[1], sys.argv[2], sys.argv[3]
k = 1
if "/" in key:
    key, k = key.split("/")[0], int(key.split("/")[1])
series = []
for arg in sys.argv[4:]:
    label, path = arg.split("=", 1)
    rows = [json.loads(l) for l in open(path)]
    rows = [r for r in rows if not r.get("eval") and isinstance(r.get(key), (int, float))]
    xs = [r["step"] for r in rows]
    ys = [r[key] for r in rows]
    ys = [sum(ys[max(0, i - k + 1):i + 1]) / len(ys[max(0, i - k + 1):i + 1]) for i in range(len(ys))]
    series.append((label, xs, ys))
W, H, L, R, T, B = 760, 380, 70, 190, 40, 50
allx = [x for _, xs, _ in series for x in xs] or [0, 1]
ally = [y for _, _, ys in series for y in ys] or [0, 1]
x0, x1, y0, y1 = min(allx), max(allx), min(ally), max(ally)
if y1 == y0:
    y1 = y0 + 1
if x1 == x0:
    x1 = x0 + 1
px = lambda v: L + (W - L - R) * (v - x0) / (x1 - x0)
py = lambda v: H - B - (H - T - B) * (v - y0) / (y1 - y0)
colors = ["#08519c", "#e6550d", "#31a354", "#756bb1", "#de2d26", "#636363", "#fd8d3c", "#6baed6"]
p = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
     '<rect width="100%" height="100%" fill="white"/>',
     f'<text x="{(W - R + L) / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
     f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
     f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
     f'<text x="{(W - R + L) / 2}" y="{H - 12}" text-anchor="middle">step</text>',
     f'<text x="16" y="{(H - B + T) / 2}" transform="rotate(-90 16 {(H - B + T) / 2})" text-anchor="middle">{key}'
     f'{" (%d-step mean)" % k if k > 1 else ""}</text>']
for i in range(5):
    yv = y0 + (y1 - y0) * i / 4
    p.append(f'<text x="{L - 6}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
    xv = x0 + (x1 - x0) * i / 4
    p.append(f'<text x="{px(xv):.1f}" y="{H - B + 16}" text-anchor="middle">{xv:.0f}</text>')
if y0 < 0 < y1:
    p.append(f'<line x1="{L}" y1="{py(0):.1f}" x2="{W - R}" y2="{py(0):.1f}" stroke="#bbb" stroke-dasharray="4 3"/>')
for i, (label, xs, ys) in enumerate(series):
    c = colors[i % len(colors)]
    pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs, ys))
    p.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{pts}"/>')
    p.append(f'<line x1="{W - R + 12}" y1="{T + 18 * i}" x2="{W - R + 32}" y2="{T + 18 * i}" stroke="{c}" stroke-width="2"/>')
    p.append(f'<text x="{W - R + 38}" y="{T + 18 * i + 4}">{label}</text>')
p.append("</svg>")
tmp = out + ".tmp"
with open(tmp, "w") as f:
    f.write("\n".join(p) + "\n")
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, out)
print("wrote", out)
