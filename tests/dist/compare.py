#!/usr/bin/env python3
"""tests/dist/compare.py — compare two runs' JSONL files (step logs or eval records).

  compare.py steps A.jsonl B.jsonl KEY TOL [FIRST_EXACT]   the KEY of the step lines ("step" and KEY
      present) agree within TOL at every step, the same steps in both; FIRST_EXACT=1: step 1 exactly
  compare.py records A.jsonl B.jsonl                       same records in the same order, every field
      but the wall time equal
Exit 0 when they agree, 1 with a message naming the first difference."""
import json, sys

def lines(p):
    with open(p) as f:
        return [json.loads(l) for l in f if l.strip()]

def main():
    mode, a, b = sys.argv[1], lines(sys.argv[2]), lines(sys.argv[3])
    if mode == "steps":
        key, tol = sys.argv[4], float(sys.argv[5])
        first_exact = len(sys.argv) > 6 and sys.argv[6] == "1"
        sa = [(x["step"], x[key]) for x in a if key in x and not x.get("eval")]
        sb = [(x["step"], x[key]) for x in b if key in x and not x.get("eval")]
        if [s for s, _ in sa] != [s for s, _ in sb] or not sa:
            sys.exit(f"steps differ: {[s for s, _ in sa]} vs {[s for s, _ in sb]}")
        worst = max(abs(x - y) for (_, x), (_, y) in zip(sa, sb))
        if first_exact and sa[0][1] != sb[0][1]:
            sys.exit(f"step 1 {key}: {sa[0][1]} vs {sb[0][1]} (expected identical)")
        if worst > tol:
            sys.exit(f"{key} differs by {worst:.3g} > {tol}: {sa} vs {sb}")
        print(f"{len(sa)} steps, largest {key} difference {worst:.3g}")
    elif mode == "records":
        for r in a + b:
            r.pop("wall_s", None)
        if len(a) != len(b) or not a:
            sys.exit(f"{len(a)} records vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                diff = [k for k in set(x) | set(y) if x.get(k) != y.get(k)]
                sys.exit(f"record {i} differs in {diff}")
        print(f"{len(a)} records equal")
    else:
        sys.exit("usage: compare.py steps|records ...")

main()
