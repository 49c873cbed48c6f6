#!/usr/bin/env python3
"""docs/experiments/kv-eviction/analyze.py — the table of an eviction run (run.sh's OUTDIR): per policy
and budget the accuracy with its Wilson 95% interval, the PAIRED change against the full cache on the
same items (items lost / gained, and a 95% interval of the difference from the paired differences), the
trace-line accuracy, fidelity to the full cache's own output (share of items whose generated tokens are
identical to the full cache's, and the mean share of each generation before its first differing token:
eviction's effect on the model's behaviour, meaningful even where the model is often wrong), peak KV
and decode speed. Usage: python3 analyze.py OUTDIR > table.md"""
import json
import math
import os
import sys


def wilson(k, n, z=1.96):
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (100 * (c - h), 100 * (c + h))


def records(path):
    return {r["id"]: r for r in (json.loads(line) for line in open(path))}


def scores(recs):
    return {i: 1 if r.get("score", 0) >= 1 else 0 for i, r in recs.items()}


def fidelity(recs, ref):
    """(share of items token-identical to ref, mean share of ref's tokens before the first difference)"""
    same = pre = 0
    for i, r in ref.items():
        a, b = recs[i].get("token_ids", []), r.get("token_ids", [])
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        same += a == b
        pre += k / len(b) if b else 1.0
    return 100.0 * same / len(ref), 100.0 * pre / len(ref)


def main():
    d = sys.argv[1]
    rows = [json.loads(l) for l in open(os.path.join(d, "results.jsonl"))]
    full_recs = records(os.path.join(d, "records", "full-100.jsonl"))
    full = scores(full_recs)
    n = len(full)
    print("| policy | budget % | accuracy % (95% CI) | Δ vs full, points (95% CI, paired) | lost / gained items "
          "| trace lines % | identical to full % | tokens before 1st difference % | peak KV KiB | decode t/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        recs = records(os.path.join(d, "records", "%s-%d.jsonl" % (r["policy"], r["budget_pct"])))
        s = scores(recs)
        same, pre = fidelity(recs, full_recs)
        ids = sorted(full)
        k = sum(s.get(i, 0) for i in ids)
        lo, hi = wilson(k, n)
        diff = [s.get(i, 0) - full[i] for i in ids]
        mean = sum(diff) / n
        var = sum((x - mean) ** 2 for x in diff) / (n - 1) if n > 1 else 0.0
        half = 1.96 * math.sqrt(var / n)
        lost = sum(1 for x in diff if x < 0)
        gained = sum(1 for x in diff if x > 0)
        delta = "0" if r["policy"] == "full" else "%+.1f (%+.1f, %+.1f)" % (100 * mean, 100 * (mean - half), 100 * (mean + half))
        print("| %s | %d | %.1f (%.1f–%.1f) | %s | %d / %d | %.1f | %.1f | %.1f | %.1f | %.0f |" % (
            r["policy"], r["budget_pct"], 100.0 * k / n, lo, hi, delta, lost, gained,
            100 * r.get("line_accuracy", 0), same, pre, r.get("peak_kv_bytes", 0) / 1024, r.get("tokens_per_s", 0)))
    print("\n%d items; accuracy from the per-item records (score 1 = correct)." % n)


if __name__ == "__main__":
    main()
