#!/usr/bin/env python3
"""docs/experiments/rl-methods/tree/plot.py — from OUTDIR/budgets.jsonl (eval.sh) and the step logs of run.sh:
accuracy against the thinking budget (one SVG, seeds as thin lines, their mean thick), the table of
accuracy per budget, the normalised area under the curve over budgets 16..96, and the paired gradient
figures of BRPO vs v2only. Usage: python3 plot.py OUTDIR OUT.svg > table.md"""
import json, os, statistics as st, sys

d, out = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(os.path.join(d, "budgets.jsonl"))]
acc = {}
for r in rows:
    acc.setdefault(r["model"], {})[r["budget"]] = r["accuracy"]
B = [16, 32, 48, 64, 80, 96]

def auc(m):  # trapezoid over B, divided by the budget span: 1.0 = always right
    a = [acc[m][b] for b in B]
    return sum((a[i] + a[i + 1]) / 2 * (B[i + 1] - B[i]) for i in range(len(B) - 1)) / (B[-1] - B[0])

methods = [("sft", ["sft"], "#7f7f7f"), ("grpo", ["grpo-s1", "grpo-s2"], "#1f77b4"),
           ("elastic t48", ["elastic-s1", "elastic-s2"], "#d62728"),
           ("elastic t64", ["elastic64-s1", "elastic64-s2"], "#ff7f0e"), ("brpo", ["brpo-s1", "brpo-s2"], "#2ca02c"),
           ("grpo 80 steps", ["grpo80-s1", "grpo80-s2"], "#1f77b4", "6,4"),
           ("elastic t64 80 steps", ["elastic64-80-s1", "elastic64-80-s2"], "#ff7f0e", "6,4"),
           ("brpo 80 steps", ["brpo80-s1", "brpo80-s2"], "#2ca02c", "6,4")]
print("| model | " + " | ".join(f"b={b}" for b in B) + " | no budget | AUC 16-96 |")
print("|---|" + "---:|" * (len(B) + 2))
for name, ms, *_ in methods:
    for m in ms:
        if m not in acc: continue
        print(f"| {m} | " + " | ".join(f"{100 * acc[m][b]:.1f}" for b in B) + f" | {100 * acc[m][-1]:.1f} | {auc(m):.3f} |")
# the SVG
W, H, L, R, T, Bm = 720, 420, 60, 210, 30, 50
def X(b): return L + (b - B[0]) / (B[-1] - B[0]) * (W - L - R)
ymax = max(0.05, max(v for m in acc for v in acc[m].values()))
ymax = min(1.0, (int(ymax * 10) + 1) / 10)
def Y(a): return T + (1 - a / ymax) * (H - T - Bm)
s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
     f'<rect width="{W}" height="{H}" fill="white"/>',
     f'<text x="{W / 2 - 120}" y="18" font-size="14">held-out accuracy vs thinking budget (arith-add d2)</text>']
for k in range(0, 6):
    a = ymax * k / 5
    s.append(f'<line x1="{L}" x2="{W - R}" y1="{Y(a):.1f}" y2="{Y(a):.1f}" stroke="#ddd"/>')
    s.append(f'<text x="{L - 8}" y="{Y(a) + 4:.1f}" text-anchor="end">{100 * a:.0f}%</text>')
for b in B:
    s.append(f'<text x="{X(b):.1f}" y="{H - Bm + 18}" text-anchor="middle">{b}</text>')
s.append(f'<text x="{(L + W - R) / 2:.0f}" y="{H - 12}" text-anchor="middle">thinking budget (tokens, closer included; answer budget 12)</text>')
for i, (name, ms, col, *dash) in enumerate(methods):
    da = f' stroke-dasharray="{dash[0]}"' if dash else ""
    have = [m for m in ms if m in acc]
    if not have: continue
    for m in have:
        pts = " ".join(f"{X(b):.1f},{Y(acc[m][b]):.1f}" for b in B)
        s.append(f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="1" stroke-opacity="0.5"{da}/>')
    mean = {b: st.mean(acc[m][b] for m in have) for b in B}
    pts = " ".join(f"{X(b):.1f},{Y(mean[b]):.1f}" for b in B)
    s.append(f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="3"{da}/>')
    s.append(f'<line x1="{W - R + 10}" x2="{W - R + 35}" y1="{T + 20 + 20 * i}" y2="{T + 20 + 20 * i}" stroke="{col}" stroke-width="3"{da}/>')
    s.append(f'<text x="{W - R + 40}" y="{T + 24 + 20 * i}">{name} ({len(have)} seed{"s" if len(have) > 1 else ""})</text>')
s.append("</svg>")
tmp = out + ".tmp"
with open(tmp, "w") as f:
    f.write("\n".join(s) + "\n")
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, out)
# paired gradient figures (run.sh step 3)
print()
print("| from | seed | same trees | mean grad-norm² brpo | v2only | ratio | steps brpo lower | mean A² thinking brpo | v2only |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for pre, s_ in [("var", 1), ("var", 2), ("var2", 1), ("var2", 2)]:
    pa, pb = os.path.join(d, f"{pre}-brpo-s{s_}.jsonl"), os.path.join(d, f"{pre}-v2only-s{s_}.jsonl")
    if not (os.path.exists(pa) and os.path.exists(pb)): continue
    a = [json.loads(l) for l in open(pa)]
    b = [json.loads(l) for l in open(pb)]
    same = all(x["brpo_acc"] == y["brpo_acc"] and x["brpo_fed_tokens"] == y["brpo_fed_tokens"] for x, y in zip(a, b))
    ga, gb = [x["grad_norm"] ** 2 for x in a], [y["grad_norm"] ** 2 for y in b]
    print(f"| {'SFT' if pre == 'var' else f'brpo-s{s_}'} | {s_} | {same} | {st.mean(ga):.4g} | {st.mean(gb):.4g} | {st.mean(ga) / st.mean(gb):.3f} | "
          f"{sum(x < y for x, y in zip(ga, gb))}/{len(a)} | {st.mean(x['brpo_adv2_think'] for x in a):.4g} | "
          f"{st.mean(y['brpo_adv2_think'] for y in b):.4g} |")
