#!/bin/bash
# tests/cli/test_serve.sh — `ponder serve` over HTTP with curl (python3 reads the JSON): every endpoint,
# reasoning_content / reasoning_tokens with a thinking budget, streamed text == non-streamed text for one
# seed, n=3, stop strings, logprobs, json_object, the errors with their status codes (400 malformed / wrong
# type / context, 401, 404, 405, 429), concurrent requests equal to a lone one, aborted requests, and a clean
# SIGTERM exit (status 0: under ASan that also means no leak).
# Usage: bash tests/cli/test_serve.sh path/to/ponder   (from the repo root)
set -u
PONDER=${1:?usage: test_serve.sh path/to/ponder}
. "$(dirname "$0")/fixtures.sh"
need_fixtures
command -v curl > /dev/null || { echo "SKIPPED: needs curl"; exit 77; }
M=$FX/models/tiny-qwen3.gguf
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.err; do echo "--- $f"; tail -5 "$f"; done >&2; exit 1; }
if ! "$PONDER" serve --help > /dev/null; then fail "serve --help"; fi

# start NAME FLAGS...: a server on a free port; sets PORT_<NAME>, PID_<NAME>
start() {
    local name=$1; shift
    "$PONDER" serve -m "$M" --port 0 "$@" > "$T/$name.out" 2> "$T/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 600); do
        grep -q "listening on" "$T/$name.out" 2> /dev/null && break
        kill -0 "$pid" 2> /dev/null || fail "server $name died: $(cat "$T/$name.err")"
        sleep 0.1
    done
    local port
    port=$(sed -n 's/^ponder serve: listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$T/$name.out")
    [ -n "$port" ] || fail "no 'listening on' line from $name"
    eval "PORT_$name=$port PID_$name=$pid"
}
start A --parallel 4 --ctx 256
U=http://127.0.0.1:$PORT_A
# post PATH BODY OUT: prints the HTTP status
post() { curl -s -o "$3" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "${4:-$U}$1"; }
py() { python3 -c "$@"; }

# ---- plain endpoints
[ "$(curl -s "$U/health")" = '{"status":"ok"}' ] || fail "/health"
curl -s "$U/v1/models" > "$T/models.json"
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["object"]=="list" and d["data"][0]["id"]=="tiny-qwen3", d' \
    "$T/models.json" || fail "/v1/models"
curl -s -D "$T/index.h" "$U/" > "$T/index.html"
grep -qi "content-type: text/html; charset=utf-8" "$T/index.h" || fail "/ content type"
cmp -s "$T/index.html" web/index.html || fail "/ is not web/index.html"

CHAT='"messages":[{"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"<think>\n"}],"continue_final_message":true'
# ---- reasoning: thinking budget 8 then the answer (the prompt opens thinking: vLLM's continue_final_message)
[ "$(post /v1/chat/completions "{$CHAT,\"thinking_budget\":8,\"max_tokens\":20,\"seed\":5,\"temperature\":1}" "$T/r.json")" = 200 ] ||
    fail "reasoning request: $(cat "$T/r.json")"
py '
import json,sys
d=json.load(open(sys.argv[1])); c=d["choices"][0]; u=d["usage"]
assert d["object"]=="chat.completion" and c["message"]["role"]=="assistant", d
assert c["message"]["reasoning_content"], "no reasoning_content"
r=u["completion_tokens_details"]["reasoning_tokens"]
assert 1 <= r <= 8, ("reasoning_tokens", r)
assert u["completion_tokens"]==20 and c["finish_reason"]=="length" and c["finish_detail"]=="max_tokens", (u, c)
assert u["total_tokens"]==u["prompt_tokens"]+20
' "$T/r.json" || fail "reasoning fields: $(cat "$T/r.json")"
# enable_thinking=false: no thinking at all
post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"chat_template_kwargs":{"enable_thinking":false},"max_tokens":6,"seed":1}' \
    "$T/nt.json" > /dev/null
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["usage"]["completion_tokens_details"]["reasoning_tokens"]==0, d' "$T/nt.json" ||
    fail "enable_thinking=false"

# a positive thinking budget opens the thinking itself (Qwen3's prompt leaves it to the model)
post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"thinking_budget":6,"max_tokens":12,"seed":4}' "$T/tb.json" > /dev/null
py 'import json,sys; d=json.load(open(sys.argv[1])); r=d["usage"]["completion_tokens_details"]["reasoning_tokens"]; assert 1<=r<=6 and d["choices"][0]["message"]["reasoning_content"], d' \
    "$T/tb.json" || fail "thinking_budget does not open the thinking: $(cat "$T/tb.json")"
# trailing bytes after the JSON value
[ "$(post /v1/chat/completions '{"messages":[{"role":"user","content":"x"}]} x' "$T/e.json")" = 400 ] || fail "trailing garbage accepted"

# ---- streamed == non-streamed for one seed (reasoning and content), usage chunk, [DONE]
BODY="{$CHAT,\"thinking_budget\":10,\"max_tokens\":30,\"seed\":77,\"temperature\":1,\"top_k\":0,\"top_p\":1"
post /v1/chat/completions "$BODY}" "$T/ns.json" > /dev/null
curl -sN -H 'Content-Type: application/json' -d "$BODY,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" \
    "$U/v1/chat/completions" > "$T/s.sse"
cat > "$T/sse.py" << 'EOF'
import json, sys
def read(path):
    ev = [l[6:] for l in open(path, encoding="utf-8").read().split("\n") if l.startswith("data: ")]
    assert ev[-1] == "[DONE]", ev[-1]
    return [json.loads(e) for e in ev[:-1]]
def texts(chunks, n=1):
    r, c, fin = [""] * n, [""] * n, [None] * n
    for ch in chunks:
        for x in ch["choices"]:
            d = x["delta"]; i = x["index"]
            r[i] += d.get("reasoning_content") or ""; c[i] += d.get("content") or ""
            if x["finish_reason"]: fin[i] = x["finish_reason"]
    return r, c, fin
EOF
py '
import json,sys; sys.path.insert(0, sys.argv[3]); from sse import read, texts
ns=json.load(open(sys.argv[1])); ch=read(sys.argv[2]); r,c,fin=texts(ch)
m=ns["choices"][0]["message"]
assert ch[0]["choices"][0]["delta"]["role"]=="assistant"
assert r[0]==(m["reasoning_content"] or "") and c[0]==m["content"], (r, c, m)
assert fin[0]==ns["choices"][0]["finish_reason"]
assert ch[-1]["choices"]==[] and ch[-1]["usage"]==ns["usage"], (ch[-1], ns["usage"])
assert all(x["object"]=="chat.completion.chunk" for x in ch)
' "$T/ns.json" "$T/s.sse" "$T" || fail "stream != non-stream"

# ---- n = 3 (streamed too), seeds give different samples
post /v1/chat/completions "{$CHAT,\"n\":3,\"max_tokens\":12,\"seed\":3,\"temperature\":1,\"thinking_budget\":4}" "$T/n3.json" > /dev/null
curl -sN -H 'Content-Type: application/json' -d "{$CHAT,\"n\":3,\"max_tokens\":12,\"seed\":3,\"temperature\":1,\"thinking_budget\":4,\"stream\":true}" \
    "$U/v1/chat/completions" > "$T/n3.sse"
py '
import json,sys; sys.path.insert(0, sys.argv[3]); from sse import read, texts
d=json.load(open(sys.argv[1])); cs=d["choices"]
assert [c["index"] for c in cs]==[0,1,2], cs
assert len({c["message"]["content"] for c in cs})>1, "3 equal samples"
assert d["usage"]["completion_tokens"]==36, d["usage"]
r,c,fin=texts(read(sys.argv[2]), 3)
assert c==[x["message"]["content"] for x in cs], (c, cs)
' "$T/n3.json" "$T/n3.sse" "$T" || fail "n=3"

# ---- stop string: cut before its first occurrence in the unstopped answer
post /v1/completions '{"prompt":"Once upon a time","max_tokens":24,"seed":11,"temperature":1}' "$T/ns2.json" > /dev/null
STOP=$(py 'import json,sys; t=json.load(open(sys.argv[1]))["choices"][0]["text"]; print(json.dumps(t[6:9]))' "$T/ns2.json")
post /v1/completions "{\"prompt\":\"Once upon a time\",\"max_tokens\":24,\"seed\":11,\"temperature\":1,\"stop\":[$STOP]}" "$T/st.json" > /dev/null
py '
import json,sys
full=json.load(open(sys.argv[1]))["choices"][0]["text"]; d=json.load(open(sys.argv[2])); c=d["choices"][0]; s=json.loads(sys.argv[3])
assert d["object"]=="text_completion"
assert c["text"]==full[:full.index(s)] and c["finish_reason"]=="stop" and c["finish_detail"]=="stop_string", (full, s, c)
' "$T/ns2.json" "$T/st.json" "$STOP" || fail "stop string"

# ---- logprobs (chat shape; completions legacy shape)
post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":6,"seed":2,"logprobs":true,"top_logprobs":3,"chat_template_kwargs":{"enable_thinking":false}}' \
    "$T/lp.json" > /dev/null
py '
import json,sys
d=json.load(open(sys.argv[1])); c=d["choices"][0]; e=c["logprobs"]["content"]
assert len(e)==d["usage"]["completion_tokens"]-(c["finish_detail"]=="eog"), (len(e), d["usage"])
for x in e:
    assert x["logprob"]<=0 and len(x["top_logprobs"])==3 and x["top_logprobs"][0]["logprob"]>=x["logprob"]-1e-6, x
    assert bytes(x["bytes"]).decode("utf-8","replace")==x["token"] or "\ufffd" in x["token"]
' "$T/lp.json" || fail "chat logprobs: $(cat "$T/lp.json")"
post /v1/completions '{"prompt":"Once","max_tokens":4,"seed":2,"logprobs":2}' "$T/lpc.json" > /dev/null
py '
import json,sys
l=json.load(open(sys.argv[1]))["choices"][0]["logprobs"]
assert len(l["tokens"])==len(l["token_logprobs"])==len(l["top_logprobs"])==len(l["text_offset"])>0, l
assert all(len(t)<=2 for t in l["top_logprobs"])
' "$T/lpc.json" || fail "completion logprobs"

# ---- response_format json_object: a valid JSON object whenever the reply ended by itself, and a prefix that
#      can still become one when max_tokens cut it (no raw control character inside a string, no U+FFFD)
cat > "$T/jsonprefix.py" << 'EOF'
def check_prefix(t):
    ins, esc = False, False
    for ch in t:
        if ins:
            if esc: esc = False
            elif ch == "\\": esc = True
            elif ch == '"': ins = False
            elif ord(ch) < 0x20: raise ValueError("raw control character %r in a string" % ch)
        elif ch == '"': ins = True
EOF
for seed in 1 2 3; do
    post /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"Give JSON\"}],\"chat_template_kwargs\":{\"enable_thinking\":false},\"response_format\":{\"type\":\"json_object\"},\"max_tokens\":120,\"seed\":$seed,\"temperature\":1}" \
        "$T/js.json" > /dev/null
    py '
import json,sys; sys.path.insert(0, sys.argv[2]); from jsonprefix import check_prefix
c=json.load(open(sys.argv[1]))["choices"][0]; t=c["message"]["content"]
assert t.lstrip().startswith("{") and "\ufffd" not in t, t
if c["finish_reason"]=="stop": assert isinstance(json.loads(t), dict), t
else: check_prefix(t)
' "$T/js.json" "$T" || fail "json_object (seed $seed): $(cat "$T/js.json")"
done

# ---- errors: status and OpenAI shape, naming the field
err() { # STATUS PARAM|- BODY [PATH]
    local got
    got=$(post "${4:-/v1/chat/completions}" "$3" "$T/e.json")
    [ "$got" = "$1" ] || fail "expected $1, got $got for $3: $(cat "$T/e.json")"
    py 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["message"] and e["type"]; assert sys.argv[2]=="-" or e["param"]==sys.argv[2], e' \
        "$T/e.json" "$2" || fail "error shape for $3: $(cat "$T/e.json")"
}
err 400 - '{"messages":[{"role":"user","content":"x"}'
err 400 temperature '{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}'
err 400 messages '{"messages":"x"}'
err 400 stop '{"messages":[{"role":"user","content":"x"}],"stop":[1]}'
err 400 policy '{"messages":[{"role":"user","content":"x"}],"policy":"nosuch"}'
err 404 model '{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}'
LONG=$(py 'print("word " * 400)')
err 400 messages "{\"messages\":[{\"role\":\"user\",\"content\":\"$LONG\"}]}"
grep -q "maximum context length is 256 tokens" "$T/e.json" || fail "context error lacks the numbers: $(cat "$T/e.json")"
[ "$(curl -s -o "$T/e.json" -w '%{http_code}' "$U/v1/nothing")" = 404 ] || fail "unknown path"
[ "$(curl -s -o "$T/e.json" -w '%{http_code}' "$U/v1/chat/completions")" = 405 ] || fail "GET on chat"

# ---- concurrent: 6 requests at once, same seed → the text of a lone request
BODY="{$CHAT,\"thinking_budget\":6,\"max_tokens\":16,\"seed\":42,\"temperature\":1}"
post /v1/chat/completions "$BODY" "$T/lone.json" > /dev/null
CP=()
for i in 1 2 3 4 5 6; do post /v1/chat/completions "$BODY" "$T/c$i.json" > /dev/null & CP+=($!); done
wait "${CP[@]}"
for i in 1 2 3 4 5 6; do
    py 'import json,sys; a,b=(json.load(open(f))["choices"][0]["message"] for f in sys.argv[1:]); assert a==b, (a, b)' \
        "$T/lone.json" "$T/c$i.json" || fail "concurrent request $i differs from the lone one"
done

# ---- aborted requests: clients that hang up mid-stream; the server goes on serving
CP=()
for i in 1 2 3 4; do
    curl -sN --max-time 0.5 -H 'Content-Type: application/json' \
        -d "{$CHAT,\"max_tokens\":100000,\"stream\":true,\"seed\":$i}" "$U/v1/chat/completions" > /dev/null &
    CP+=($!)
done
curl -s --max-time 0.5 -H 'Content-Type: application/json' -d "{$CHAT,\"max_tokens\":100000}" "$U/v1/chat/completions" > /dev/null
wait "${CP[@]}"
for _ in $(seq 100); do
    curl -s "$U/metrics" > "$T/metrics.txt"
    grep -q '^ponder_requests_running 0$' "$T/metrics.txt" && break
    sleep 0.1
done
grep -q '^ponder_requests_running 0$' "$T/metrics.txt" || fail "aborted requests still running"
FAILED=$(sed -n 's/^ponder_generations_failed_total //p' "$T/metrics.txt")
REUSED=$(sed -n 's/^ponder_prefix_reused_tokens_total //p' "$T/metrics.txt")
[ "${REUSED:-0}" -gt 0 ] || fail "no prompt prefix was reused across the identical requests"
KVB=$(sed -n 's/^ponder_kv_bytes //p' "$T/metrics.txt")
[ "${KVB:-0}" -gt 0 ] || fail "ponder_kv_bytes is $KVB with prefix donors kept"
[ "${FAILED:-0}" -ge 5 ] || fail "aborted requests not counted as failed ($FAILED)"
for k in ponder_prompt_tokens_total ponder_completion_tokens_total ponder_reasoning_tokens_total ponder_queue_length \
         ponder_batch_size ponder_kv_bytes 'ponder_time_to_first_token_seconds_bucket{le="+Inf"}' ponder_request_duration_seconds_count \
         'ponder_http_requests_total{endpoint="chat",status="400"}'; do
    grep -qF "$k" "$T/metrics.txt" || fail "metric $k missing"
done
post /v1/chat/completions "$BODY" "$T/after.json" > /dev/null
cmp -s "$T/lone.json" "$T/after.json" ||
    py 'import json,sys; a,b=(json.load(open(f))["choices"][0]["message"] for f in sys.argv[1:]); assert a==b' "$T/lone.json" "$T/after.json" ||
    fail "after the aborts the same request gives another text"

# ---- API key (401) and a full queue (429) on a second server: 1 slot, 1 waiting
start B --parallel 1 --queue 1 --api-key sekrit --grace 1
UB=http://127.0.0.1:$PORT_B
[ "$(curl -s -o "$T/e.json" -w '%{http_code}' "$UB/v1/models")" = 401 ] || fail "no key: not 401"
[ "$(curl -s -o "$T/e.json" -w '%{http_code}' -H 'Authorization: Bearer nope' "$UB/v1/models")" = 401 ] || fail "wrong key: not 401"
[ "$(curl -s -o "$T/e.json" -w '%{http_code}' -H 'Authorization: Bearer sekrit' "$UB/v1/models")" = 200 ] || fail "right key refused"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$UB/health")" = 200 ] || fail "/health wants a key"
LONGREQ="{$CHAT,\"max_tokens\":100000,\"stream\":true}"
curl -sN -H 'Authorization: Bearer sekrit' -H 'Content-Type: application/json' -d "$LONGREQ" "$UB/v1/chat/completions" > "$T/long1.sse" &
L1=$!
for _ in $(seq 200); do curl -s "$UB/metrics" | grep -q '^ponder_requests_running 1$' && break; sleep 0.05; done
curl -sN -H 'Authorization: Bearer sekrit' -H 'Content-Type: application/json' -d "$LONGREQ" "$UB/v1/chat/completions" > "$T/long2.sse" &
L2=$!
for _ in $(seq 200); do curl -s "$UB/metrics" | grep -q '^ponder_queue_length 1$' && break; sleep 0.05; done
got=$(curl -s -o "$T/e.json" -w '%{http_code}' -H 'Authorization: Bearer sekrit' -H 'Content-Type: application/json' \
      -d "{$CHAT,\"max_tokens\":4}" "$UB/v1/chat/completions")
[ "$got" = 429 ] || fail "full queue: $got $(cat "$T/e.json")"
grep -q rate_limit_error "$T/e.json" || fail "429 shape"

# ---- SIGTERM with streams in flight: they end with an error event then [DONE]; exit status 0
kill -TERM "$PID_B"
wait "$PID_B"; rc=$?
[ "$rc" = 0 ] || fail "server B exit status $rc after SIGTERM: $(tail -3 "$T/B.err")"
wait "$L1" "$L2"
for f in "$T/long1.sse" "$T/long2.sse"; do
    tail -c 200 "$f" | grep -q 'data: \[DONE\]' || fail "$f did not end with [DONE]"
    grep -q '"error"' "$f" || fail "$f has no error event"
done
kill -TERM "$PID_A"
wait "$PID_A"; rc=$?
[ "$rc" = 0 ] || fail "server A exit status $rc after SIGTERM: $(tail -3 "$T/A.err")"
PIDS=()

# ---- per-request timeout: 504 for a reply, an error event for a stream
start C --timeout 1
UC=http://127.0.0.1:$PORT_C
got=$(post /v1/chat/completions "{$CHAT,\"max_tokens\":100000}" "$T/to.json" "$UC")
[ "$got" = 504 ] || fail "timeout: $got $(cat "$T/to.json")"
grep -q '"code":"timeout"' "$T/to.json" || fail "timeout shape: $(cat "$T/to.json")"
curl -sN -H 'Content-Type: application/json' -d "{$CHAT,\"max_tokens\":100000,\"stream\":true}" "$UC/v1/chat/completions" > "$T/to.sse"
grep -q '"code":"timeout"' "$T/to.sse" && tail -c 100 "$T/to.sse" | grep -q 'data: \[DONE\]' || fail "stream timeout: $(tail -c 300 "$T/to.sse")"
kill -TERM "$PID_C"
wait "$PID_C" || fail "server C exit status after SIGTERM"

# ---- the load client: in-process server, bounded, 0 errors, JSON that parses
"$PONDER" bench serve -m "$M" -c 6 --requests 12 -n 8 --ctx 256 --json > "$T/bench.json" || fail "bench serve"
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"]==12 and d["errors"]==0 and d["completion_tokens"]==96 and d["ttft_p99_s"]>=d["ttft_p50_s"]>0, d' \
    "$T/bench.json" || fail "bench serve JSON: $(cat "$T/bench.json")"
"$PONDER" bench serve --url http://127.0.0.1:1 -c 2 --requests 2 -n 2 > /dev/null 2>&1 && fail "bench serve against nothing succeeded"
echo "test_serve: ok"
