#!/usr/bin/env python3
"""Curves of RL step logs (ponder rl --log) as one SVG, standard library only: mean reward (per step,
moving average of 10) and held-out greedy accuracy (eval lines) against step, one colour per log.
Usage: python3 plot.py OUT.svg NAME=LOG.jsonl [NAME=LOG.jsonl ...]"""
import json, sys

W, H, PAD = 760, 300, 50
COLORS = ["#08519c", "#e6550d", "#31a354", "#756bb1", "#636363"]


def load(path):
    steps, evals = {}, {}
    for line in open(path):
        r = json.loads(line)
        (evals if r.get("eval") else steps)[r["step"]] = r   # a re-run step replaces its line
    rs = sorted(steps.items())
    xs = [s for s, _ in rs]
    ys = [r["reward_mean"] for _, r in rs]
    sm = [sum(ys[max(0, i - 9):i + 1]) / len(ys[max(0, i - 9):i + 1]) for i in range(len(ys))]
    ev = sorted((s, r["accuracy"]) for s, r in evals.items())
    return xs, sm, ev


def panel(x0, title, series, xmax, ymax, ylabel):
    w = (W - 3 * PAD) // 2
    out = [f'<text x="{x0 + w / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
           f'<rect x="{x0}" y="{PAD - 20}" width="{w}" height="{H - PAD - 10}" fill="none" stroke="#999"/>']
    for k in range(5):
        v = ymax * k / 4
        y = H - 30 - (H - PAD - 10) * k / 4
        out.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end" font-size="10">{v:.2f}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{H - 5}" text-anchor="middle" font-size="11">step (0-{xmax}); {ylabel}</text>')
    for color, pts in series:
        p = " ".join(f"{x0 + w * x / xmax:.1f},{H - 30 - (H - PAD - 10) * y / ymax:.1f}" for x, y in pts)
        out.append(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="2"/>')
    return out


def main():
    out_path, runs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    data = [(name, load(path)) for name, path in runs]
    xmax = max(max(xs) for _, (xs, _, _) in data)
    rmax = max(max(sm) for _, (_, sm, _) in data) * 1.1
    amax = max(max(a for _, a in ev) for _, (_, _, ev) in data) * 1.2
    body = panel(PAD, "mean reward (10-step average)", [(COLORS[i], list(zip(d[0], d[1]))) for i, (_, d) in
                                                        enumerate(data)], xmax, rmax, "reward")
    body += panel(2 * PAD + (W - 3 * PAD) // 2, "held-out greedy accuracy (100 items)",
                  [(COLORS[i], d[2]) for i, (_, d) in enumerate(data)], xmax, amax, "accuracy")
    for i, (name, _) in enumerate(data):
        body.append(f'<text x="{PAD + 10 + 150 * i}" y="{PAD}" font-size="11" fill="{COLORS[i]}">{name}</text>')
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif">' + \
        "".join(body) + "</svg>\n"
    open(out_path, "w").write(svg)


main()
