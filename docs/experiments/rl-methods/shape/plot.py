#!/usr/bin/env python3
"""docs/experiments/rl-methods/shape/plot.py — one SVG (standard library only) of the rl_shape runs:
  1. pass@k against k (log2) for each method, seeds averaged (evals.jsonl from analyse.py eval);
  2. held-out greedy accuracy against step (eval lines of the step logs), seeds averaged;
  3. reflection markers per response against step (step logs), seeds averaged;
  4. mean response tokens against step.
Usage: python3 plot.py OUT.svg EVALS.jsonl DIR   (DIR holds METHOD-sSEED.jsonl step logs)"""
import glob, json, math, os, re, sys
from collections import defaultdict

COL = {"sft": "#636363", "grpo": "#08519c", "slpo": "#31a354", "red": "#74c476", "nsr": "#e6550d", "psr": "#756bb1",
       "dsrl": "#d62728", "dsrl5": "#000000", "wr": "#fd8d3c"}
W, H, PAD = 420, 260, 46


def panel(x0, y0, title, series, xlab, logx=False):
    xs = [x for s in series.values() for x, _ in s]
    ys = [y for s in series.values() for _, y in s]
    if not xs:
        return ""
    fx = (lambda v: math.log2(v)) if logx else (lambda v: v)
    lo, hi = fx(min(xs)), fx(max(xs))
    ylo, yhi = min(ys), max(ys)
    if yhi - ylo < 1e-9:
        yhi = ylo + 1
    hi = hi if hi > lo else lo + 1
    px = lambda v: x0 + PAD + (fx(v) - lo) / (hi - lo) * (W - 2 * PAD)
    py = lambda v: y0 + H - PAD + (v - ylo) / (yhi - ylo) * -(H - 2 * PAD)
    o = [f'<text x="{x0 + W / 2}" y="{y0 + 18}" text-anchor="middle" font-size="13">{title}</text>',
         f'<rect x="{x0 + PAD}" y="{y0 + PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" fill="none" stroke="#999"/>',
         f'<text x="{x0 + W / 2}" y="{y0 + H - 8}" text-anchor="middle" font-size="11">{xlab}</text>',
         f'<text x="{x0 + 4}" y="{y0 + PAD}" font-size="10">{yhi:.3g}</text>',
         f'<text x="{x0 + 4}" y="{y0 + H - PAD}" font-size="10">{ylo:.3g}</text>',
         f'<text x="{x0 + PAD}" y="{y0 + H - PAD + 14}" font-size="10">{min(xs):g}</text>',
         f'<text x="{x0 + W - PAD}" y="{y0 + H - PAD + 14}" font-size="10" text-anchor="end">{max(xs):g}</text>']
    for i, (name, s) in enumerate(sorted(series.items())):
        c = COL.get(name, "#000")
        pts = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(s))
        o.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="2"/>')
        o.append(f'<text x="{x0 + W - PAD + 4}" y="{y0 + PAD + 12 * i + 8}" font-size="10" fill="{c}">{name}</text>')
    return "\n".join(o)


def avg(d):
    return {k: [(x, sum(v) / len(v)) for x, v in sorted(m.items())] for k, m in d.items()}


def main():
    out, evals, d = sys.argv[1], sys.argv[2], sys.argv[3]
    pk = defaultdict(lambda: defaultdict(list))
    for line in open(evals):
        r = json.loads(line)
        m = r["name"].split("-s")[0]
        for k, v in r.items():
            if k.startswith("pass@"):
                pk[m][int(k[5:])].append(v)
    acc, mk, ln = (defaultdict(lambda: defaultdict(list)) for _ in range(3))
    for p in sorted(glob.glob(os.path.join(d, "*-s*.jsonl"))):
        b = os.path.basename(p)
        if not re.match(r"^[a-z0-9]+-s\d+\.jsonl$", b):
            continue
        m = b.split("-s")[0]
        for line in open(p):
            r = json.loads(line)
            if r.get("eval"):
                acc[m][r["step"]].append(r["accuracy"])
            else:
                mk[m][r["step"]].append(r["reflect_markers"])
                ln[m][r["step"]].append(r["len_mean"])
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{2 * H}" font-family="sans-serif">',
           '<rect width="100%" height="100%" fill="white"/>',
           panel(0, 0, "pass@k (held-out, T=1)", avg(pk), "k", logx=True),
           panel(W, 0, "held-out greedy accuracy", avg(acc), "step"),
           panel(0, H, "reflection markers / response (rollouts)", avg(mk), "step"),
           panel(W, H, "mean response tokens (rollouts)", avg(ln), "step"), "</svg>"]
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(svg) + "\n")
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
