#!/usr/bin/env python3
"""docs/experiments/rl-methods/shape/analyse.py — figures of the rl_shape experiments from `ponder eval`
records (--samples K --out FILE) and `ponder rl` step logs.

  analyse.py eval NAME RECORDS.jsonl     -> one JSON line: accuracy (first sample), pass@k for k = 1..K
                                            (powers of 2; the unbiased estimator 1 - C(n-c,k)/C(n,k)),
                                            mean generated tokens (correct / all), reflection markers per
                                            response (the rl_shape.c list, whole words, case-insensitive)
  analyse.py steps LOG.jsonl [...]       -> per run: accuracy and length at the first/last 5 steps, markers
"""
import json, math, re, sys

MARKERS = ["wait", "hmm", "check", "verify", "recheck", "alternatively", "redo", "on second thought", "hold on",
           "actually", "however", "to be sure", "make sure", "reconsider", "mistake", "again", "confirm",
           "same result", "instead", "oops", "rethink", "recalculate", "recompute"]
PAT = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(m) for m in MARKERS) + r")(?![A-Za-z0-9])", re.I)


def markers(text):
    return len(PAT.findall(text or ""))


def pass_at(n, c, k):
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def eval_records(name, path):
    items = {}
    for line in open(path):
        r = json.loads(line)
        items.setdefault(r["id"], []).append(r)
    K = min(len(v) for v in items.values())
    out = {"name": name, "items": len(items), "samples": K}
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= K]
    for k in ks:
        out["pass@%d" % k] = sum(pass_at(len(v), sum(x["score"] >= 1 for x in v), k) for v in items.values()) / len(items)
    allr = [x for v in items.values() for x in v]
    out["sample_acc"] = sum(x["score"] >= 1 for x in allr) / len(allr)
    toks = [len(x.get("token_ids") or []) for x in allr]
    out["tokens"] = sum(toks) / len(toks)
    ct = [len(x.get("token_ids") or []) for x in allr if x["score"] >= 1]
    out["tokens_correct"] = sum(ct) / len(ct) if ct else None
    out["markers"] = sum(markers((x.get("thinking") or "") + " " + (x.get("answer") or "")) for x in allr) / len(allr)
    print(json.dumps(out))


def steps(paths):
    for p in paths:
        rows = [json.loads(l) for l in open(p)]
        st = [r for r in rows if not r.get("eval")]
        ev = [(r["step"], r["accuracy"], r.get("mean_tokens")) for r in rows if r.get("eval")]
        a = lambda rs, k: sum(r[k] for r in rs) / len(rs)
        print(json.dumps({"log": p, "steps": len(st), "acc_first5": a(st[:5], "accuracy"), "acc_last5": a(st[-5:], "accuracy"),
                          "len_first5": a(st[:5], "len_mean"), "len_last5": a(st[-5:], "len_mean"),
                          "markers_first5": a(st[:5], "reflect_markers"), "markers_last5": a(st[-5:], "reflect_markers"),
                          "eval": ev}))


if __name__ == "__main__":
    if sys.argv[1] == "eval":
        eval_records(sys.argv[2], sys.argv[3])
    else:
        steps(sys.argv[2:])
