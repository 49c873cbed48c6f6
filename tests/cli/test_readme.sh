#!/usr/bin/env bash
# tests/cli/test_readme.sh — every `ponder ...` example in README.md runs as written, after
# `make demo`, on what the demo leaves (demo-out/arith-reasoner.gguf, its .ckpt, ...), in a fresh
# directory with `ponder` on PATH and no ../shared: exit 0, each output file it names exists and is
# well formed (JSON/JSONL parse, SVG/PNG/GGUF signatures), `--json` output parses.
#
# What runs: every line of a ``` fenced block of README.md that starts with `ponder ` (a trailing `\`
# joins the next line), in README order, so a later example may use an earlier one's output.
# What does not:
#   - a line whose comment says "your own" (e.g. `# your own model`): it needs a file the reader brings;
#   - a line whose comment says "takes minutes": too long for the suite (it is still a real command);
#   - a line whose comment says "runs until Ctrl-C" (`ponder serve`) is started with `--port 0`, must print
#     its "listening on http://..." line within 60 s, answer GET /health with 200, and exit 0 on SIGINT
#     (the server's own tests are tests/serve/);
#   - `make ...` lines: `make demo` is replayed first (scripts/demo.sh, the same flags), `make test*`
#     is this suite, the others have their own tests (test_install.sh, CI).
# Step counts are divided by 100 (at least 1): `--steps`, `--ckpt-every`, `--eval-every`, DEMO_STEPS.
# The model trains the same way, for fewer steps, so the test takes about a minute of CPU.
# Run: bash tests/cli/test_readme.sh PONDER [README]
set -u
P=${1:?usage: test_readme.sh /path/to/ponder [README.md]}
P=$(cd "$(dirname "$P")" && pwd)/$(basename "$P")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
README=${2:-$SRC/README.md}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir "$T/bin" "$T/work"
ln -s "$P" "$T/bin/ponder"
export PATH="$T/bin:$PATH" OMP_WAIT_POLICY=passive
cd "$T/work" || exit 1

# make demo (scaled): demo-out/ in this directory, as a user's checkout would have it
DEMO_STEPS=$(( 1500 / 100 )) bash "$SRC/scripts/demo.sh" ponder > "$T/demo.out" 2>&1 ||
  { tail -20 "$T/demo.out"; echo "FAIL make demo (scripts/demo.sh)"; exit 1; }
[ -s demo-out/arith-reasoner.gguf ] || { echo "FAIL make demo left no demo-out/arith-reasoner.gguf"; exit 1; }

python3 - "$README" <<'EOF'
import json, re, shlex, subprocess, sys

readme = open(sys.argv[1], encoding="utf-8").read().split("\n")

# ---- the examples: `ponder` lines of fenced blocks, continuations joined ----
examples, in_fence, pending, start = [], False, None, 0
for no, line in enumerate(readme, 1):
    if line.lstrip().startswith("```"):
        in_fence = not in_fence
        pending = None
        continue
    if not in_fence:
        continue
    if pending is not None:
        pending += " " + line.strip()
    elif line.startswith("ponder ") or line.startswith("make "):
        pending, start = line.strip(), no
    else:
        continue
    if pending.endswith("\\"):
        pending = pending[:-1].rstrip()
        continue
    examples.append((start, pending))
    pending = None

def comment_of(cmd):
    """(the trailing shell comment, the words before it): a '#' starting a word outside quotes"""
    quote, prev = None, " "
    for i, c in enumerate(cmd):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and prev.isspace():
            return cmd[i:], shlex.split(cmd[:i])
        prev = c
    return "", shlex.split(cmd)

def scale(cmd):
    return re.sub(r"(--(?:steps|ckpt-every|eval-every)[ =])(\d+)",
                  lambda m: m.group(1) + str(max(1, int(m.group(2)) // 100)), cmd)

def well_formed(path):
    """a short reason why the output file is not what its name says, or None"""
    try:
        data = open(path, "rb").read()
    except OSError as e:
        return "missing (%s)" % e.strerror
    if not data:
        return "empty"
    if path.endswith(".jsonl"):
        for i, l in enumerate(data.decode("utf-8").splitlines(), 1):
            try:
                json.loads(l)
            except ValueError as e:
                return "line %d is not JSON: %s" % (i, e)
    elif path.endswith(".json"):
        try:
            json.loads(data)
        except ValueError as e:
            return "not JSON: %s" % e
    elif path.endswith(".svg") and b"</svg>" not in data:
        return "not an SVG"
    elif path.endswith(".png") and not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "not a PNG"
    elif (path.endswith(".gguf") or path.endswith(".ckpt")) and not data.startswith(b"GGUF"):
        return "not a GGUF"
    return None

def outputs(words):
    """the files a command says it writes"""
    outs = []
    for i, w in enumerate(words):
        if w in ("--out", "--log", "--report", "--records", "--plot") and i + 1 < len(words):
            if words[i + 1] != "none":
                outs.append(words[i + 1])
        elif w in (">", ">>") and i + 1 < len(words):
            outs.append(words[i + 1])
    pos = [w for w in words[2:] if not w.startswith("-")]
    verb = words[1] if len(words) > 1 else ""
    if verb in ("quantize", "convert") and len(pos) >= 2:
        outs.append(pos[1])
    if verb == "merge" and len(pos) >= 3:
        outs.append(pos[2])
    return outs

def serve_check(cmd):
    """a long-running server line: listening within 60 s, /health 200, exit 0 on SIGINT; None or why not"""
    import select, signal, time, urllib.request
    p = subprocess.Popen(["bash", "-c", "exec " + cmd], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out, end, url = b"", time.time() + 60, None
        while url is None and time.time() < end and p.poll() is None:
            if select.select([p.stdout], [], [], 1)[0]:
                chunk = p.stdout.read1(4096)
                out += chunk
                m = re.search(rb"listening on (http://\S+)", out)
                url = m.group(1).decode() if m else None
        if url is None:
            err = p.stderr.read().decode("utf-8", "replace") if p.poll() is not None else ""
            return "no 'listening on' line within 60 s (exit %s): %s" % (p.poll(), (out.decode("utf-8", "replace") + err)[-300:])
        with urllib.request.urlopen(url + "/health", timeout=30) as r:
            if r.status != 200:
                return "GET /health: %d" % r.status
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=30)
        return None if rc == 0 else "exit %d after SIGINT: %s" % (rc, p.stderr.read().decode("utf-8", "replace")[-300:])
    except Exception as e:
        return "%s: %s" % (type(e).__name__, e)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

fail = ran = skipped = 0
for no, cmd in examples:
    comment, words = comment_of(cmd)
    where = "README.md:%d" % no
    if words and words[0] == "make":
        print("--   %s: %s (make targets are run by CI and their own tests; make demo was replayed first)" % (where, cmd))
        continue
    if "your own" in comment or "takes minutes" in comment:
        skipped += 1
        print("--   %s not run (%s): %s" % (where, comment, cmd))
        continue
    run = scale(cmd)
    ran += 1
    if "runs until Ctrl-C" in comment:
        bad = serve_check(re.sub(r"--port[ =]\d+", "--port 0", run))
        print(("FAIL %s: %s\n     %s" % (where, run, bad)) if bad else ("ok   %s: %s" % (where, run)))
        fail += 1 if bad else 0
        continue
    try:
        r = subprocess.run(["bash", "-c", run], stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        print("FAIL %s: timed out: %s" % (where, run))
        fail += 1
        continue
    bad = []
    if r.returncode != 0:
        bad.append("exit %d: %s" % (r.returncode, r.stderr.decode("utf-8", "replace").strip()[-400:]))
    for out in outputs(comment_of(run)[1]):
        why = well_formed(out)
        if why:
            bad.append("%s: %s" % (out, why))
    if r.returncode == 0 and ("--json" in words or ("-o" in words and "json" in words)) and ">" not in words:
        try:
            text = r.stdout.decode("utf-8")
            try:
                json.loads(text)
            except ValueError:
                for l in text.splitlines():
                    if l.strip():
                        json.loads(l)
        except ValueError as e:
            bad.append("--json output does not parse: %s" % e)
    if bad:
        fail += 1
        print("FAIL %s: %s\n     %s" % (where, run, "\n     ".join(bad)))
    else:
        print("ok   %s: %s" % (where, run))
print("%d examples run, %d not run (marked), %d failed" % (ran, skipped, fail))
if ran == 0:
    print("FAIL no example found in the README")
    fail += 1
sys.exit(1 if fail else 0)
EOF
