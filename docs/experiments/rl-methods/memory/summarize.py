#!/usr/bin/env python3
"""Summarise the GRPO vs Memory-R+ runs of run.sh: per run the mean reward, sampled accuracy and
response / thinking length over the first and last fifth of the steps, the held-out greedy accuracy at
each evaluation, and whether the run collapsed (training.md §8's small-scale test: over the last 20
steps the mean reward without the memory terms is 0 — nothing well-formed — or the mean response is at
most 2 tokens). Usage: summarize.py OUT_DIR"""
import glob, json, os, sys

def load(p):
    tr, ev = [], []
    for line in open(p):
        o = json.loads(line)
        (ev if o.get("eval") else tr).append(o)
    return tr, ev

def mean(v):
    return sum(v) / len(v) if v else float("nan")

d = sys.argv[1]
print("| run | steps | base reward first→last | sampled acc first→last | length first→last | thinking first→last "
      "| held-out greedy acc (per eval) | collapsed |")
print("|---|---:|---|---|---|---|---|---|")
for p in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
    tr, ev = load(p)
    if not tr:
        continue
    n = max(1, len(tr) // 5)
    def base_reward(s):   # the verifier + format part (the memory terms taken out)
        return s["reward_mean"] - s.get("mem_exploit", 0) - s.get("mem_explore", 0)
    f, l = tr[:n], tr[-n:]
    last20 = tr[-20:]
    collapsed = mean([base_reward(s) for s in last20]) <= 1e-9 or mean([s["len_mean"] for s in last20]) <= 2
    print(f"| {os.path.basename(p)[:-6]} | {len(tr)} | {mean([base_reward(s) for s in f]):.3f}→{mean([base_reward(s) for s in l]):.3f} "
          f"| {mean([s['accuracy'] for s in f]):.3f}→{mean([s['accuracy'] for s in l]):.3f} "
          f"| {mean([s['len_mean'] for s in f]):.1f}→{mean([s['len_mean'] for s in l]):.1f} "
          f"| {mean([s['len_think'] for s in f]):.2f}→{mean([s['len_think'] for s in l]):.2f} "
          f"| {' '.join('%.2f' % e['accuracy'] for e in ev)} | {'yes' if collapsed else 'no'} |")
