#!/usr/bin/env python3
"""docs/experiments/rl-methods/shape/summarise.py — the results table of run.sh's outputs in DIR:
per method and seed, held-out greedy accuracy and tokens (`ponder eval` on the same 69 test items for
every model), pass@1/4/16 at T=1 (34 items x 16 samples), mean tokens of the sampled responses (all /
correct), reflection markers per sampled response, and from the step log the rollouts' mean length and
markers over the last 5 steps and the first step at which the 5-step moving average of rollout accuracy
reaches 0.35. Writes DIR/evals.jsonl (analyse.py eval lines) and prints a markdown table.
Usage: python3 summarise.py DIR"""
import json, os, subprocess, sys

D = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
names = sorted(f[:-len(".samples.jsonl")] for f in os.listdir(D) if f.endswith(".samples.jsonl"))
evals = []
for n in names:
    out = subprocess.run([sys.executable, os.path.join(HERE, "analyse.py"), "eval", n, os.path.join(D, n + ".samples.jsonl")],
                         capture_output=True, text=True, check=True).stdout
    evals.append(json.loads(out))
with open(os.path.join(D, "evals.jsonl"), "w") as f:
    for e in evals:
        f.write(json.dumps(e) + "\n")
print("| run | greedy acc | greedy tokens | pass@1 | pass@4 | pass@16 | sampled tokens (correct) | markers/resp | "
      "rollout len last5 | rollout markers first5 → last5 | step MA5 acc ≥ 0.35 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for e in evals:
    n = e["name"]
    g = [json.loads(l) for l in open(os.path.join(D, n + ".greedy.jsonl"))]
    ga = sum(r["score"] >= 1 for r in g) / len(g)
    gt = sum(len(r.get("token_ids") or []) for r in g) / len(g)
    lp = os.path.join(D, n + ".jsonl")
    l5 = m0 = m5 = reach = "—"
    if os.path.exists(lp) and n != "sft":
        st = [json.loads(l) for l in open(lp)]
        st = [r for r in st if not r.get("eval")]
        l5 = "%.1f" % (sum(r["len_mean"] for r in st[-5:]) / 5)
        m0 = sum(r["reflect_markers"] for r in st[:5]) / 5
        m5 = sum(r["reflect_markers"] for r in st[-5:]) / 5
        m0 = "%.3f → %.3f" % (m0, m5)
        acc = [r["accuracy"] for r in st]
        reach = next((str(i + 1) for i in range(4, len(acc)) if sum(acc[i - 4:i + 1]) / 5 >= 0.35), "never")
    tc = e["tokens_correct"]
    print("| %s | %.3f | %.1f | %.3f | %.3f | %.3f | %.1f (%s) | %.3f | %s | %s | %s |" % (
        n, ga, gt, e["pass@1"], e["pass@4"], e["pass@16"], e["tokens"], "%.1f" % tc if tc else "—", e["markers"], l5,
        m0, reach))
