// tests/serve/errors.test.mjs — every error `ponder serve` promises, with its HTTP status and OpenAI's
// error shape {"error":{"message","type","param","code"}}: malformed JSON, wrong types, missing fields,
// unknown model, unknown path / method, a prompt longer than the context (400 with both numbers), a full
// queue (429), a missing or wrong API key (401). Each group starts its own server with the flags it needs.
// The openai client is used where it can send the request (it must surface the same status as an
// APIError); raw fetch where it cannot (bytes that are not JSON).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer, stopClean, client, http, postJSON, assertErrorShape, waitFor, THINK_PROMPT, MODEL_ID, sleep } from "./lib.mjs";

const T = { timeout: 240000 }; // generous: ASan builds on a loaded machine are ~5x slower
const servers = [];
async function serve(args) { const s = await startServer(args); servers.push(s); return s; }
after(async () => { for (const s of servers) await stopClean(assert, s); });

const CHAT = "/v1/chat/completions";
const ok = { model: MODEL_ID, messages: THINK_PROMPT, max_tokens: 2 };

async function expectError(s, body, status, what, { path = CHAT, param, code } = {}) {
  const r = await postJSON(s, path, body);
  assert.equal(r.status, status, `${what}: status ${r.status}, body ${r.text}`);
  assert.match(r.headers.get("content-type") || "", /application\/json/, `${what}: JSON content type`);
  assertErrorShape(assert, r.json, what);
  if (param !== undefined) assert.equal(r.json.error.param, param, `${what}: param`);
  if (code !== undefined) assert.equal(r.json.error.code, code, `${what}: code`);
  return r.json.error;
}

test("400: malformed JSON and non-object bodies", T, async () => {
  const s = await serve([]);
  for (const [body, what] of [
    ["{\"model\": ", "truncated JSON"],
    ["{'model': 'x'}", "single quotes"],
    ["", "empty body"],
    ["not json at all", "plain text"],
    ["[1,2,3]", "an array, not an object"],
    ["\"messages\"", "a string, not an object"],
    [JSON.stringify(ok) + "garbage", "trailing garbage"],
  ]) {
    const e = await expectError(s, body, 400, what);
    assert.equal(e.type, "invalid_request_error", `${what}: type`);
  }
  await expectError(s, "{\"prompt\": ", 400, "completions: truncated JSON", { path: "/v1/completions" });
  // the server is still fine after all that
  assert.equal((await http(s, "GET", "/health")).status, 200);
});

test("400: wrong types and out-of-range values name the field", T, async () => {
  const s = await serve([]);
  const cases = [
    [{ messages: "hi" }, "messages"],
    [{ messages: [] }, "messages"],
    [{ messages: [{ role: "wizard", content: "hi" }] }, "messages"],
    [{ messages: [{ role: "user", content: 42 }] }, "messages"],
    [{ temperature: "hot" }, "temperature"],
    [{ temperature: -1 }, "temperature"],
    [{ top_p: 2 }, "top_p"],
    [{ max_tokens: "ten" }, "max_tokens"],
    [{ max_tokens: -3 }, "max_tokens"],
    [{ n: 0 }, "n"],
    [{ n: 1000 }, "n"],
    [{ n: 1.5 }, "n"],
    [{ seed: "abc" }, "seed"],
    [{ stream: "yes" }, "stream"],
    [{ stop: 5 }, "stop"],
    [{ logprobs: "yes" }, "logprobs"],
    [{ top_logprobs: 100, logprobs: true }, "top_logprobs"],
    [{ thinking_budget: "lots" }, "thinking_budget"],
    [{ reasoning_effort: "extreme" }, "reasoning_effort"],
    [{ chat_template_kwargs: { enable_thinking: "no" } }, "enable_thinking"],
    [{ response_format: { type: "xml" } }, "response_format"],
    [{ policy: "no-such-policy" }, "policy"],
  ];
  for (const [patch, field] of cases) {
    const body = { ...ok, ...patch };
    const what = JSON.stringify(patch);
    const e = await expectError(s, JSON.stringify(body), 400, what);
    assert.equal(e.type, "invalid_request_error", `${what}: type`);
    assert.ok(e.message.includes(field) || (e.param || "").includes(field),
              `${what}: the error names "${field}" (message ${JSON.stringify(e.message)}, param ${e.param})`);
  }
  const { messages, ...noMessages } = ok;
  void messages;
  const e = await expectError(s, JSON.stringify(noMessages), 400, "missing messages");
  assert.ok(e.message.includes("messages"));
  await expectError(s, JSON.stringify({ model: MODEL_ID, prompt: 7 }), 400, "completions: prompt a number",
                    { path: "/v1/completions" });
  await expectError(s, JSON.stringify({ model: MODEL_ID }), 400, "completions: no prompt", { path: "/v1/completions" });
  // the client surfaces the same status
  await assert.rejects(client(s).chat.completions.create({ ...ok, temperature: "hot" }),
                       (err) => err instanceof OpenAI.BadRequestError && err.status === 400);
});

test("404: unknown model (model_not_found) and unknown path; 405: wrong method", T, async () => {
  const s = await serve([]);
  const e = await expectError(s, JSON.stringify({ ...ok, model: "gpt-9-ultra" }), 404, "unknown model",
                              { code: "model_not_found" });
  assert.ok(e.message.includes("gpt-9-ultra"), "the message names the model asked for");
  await assert.rejects(client(s).chat.completions.create({ ...ok, model: "gpt-9-ultra" }),
                       (err) => err instanceof OpenAI.NotFoundError && err.code === "model_not_found");
  await assert.rejects(client(s).completions.create({ model: "nope", prompt: "x", max_tokens: 1 }),
                       (err) => err instanceof OpenAI.NotFoundError);
  const p = await http(s, "GET", "/v1/no-such-endpoint");
  assert.equal(p.status, 404);
  assertErrorShape(assert, p.json, "unknown path");
  const m = await http(s, "GET", CHAT);
  assert.equal(m.status, 405, `GET ${CHAT}: ${m.status}`);
  assertErrorShape(assert, m.json, "wrong method");
});

test("400: prompt longer than the context, with both numbers", T, async () => {
  const s = await serve(["--ctx", "64"]);
  const long = "Count with me: " + Array.from({ length: 80 }, (_, i) => String(i)).join(" ");
  const e = await expectError(s, JSON.stringify({ ...ok, messages: [{ role: "user", content: long }] }), 400,
                              "prompt over --ctx 64", { code: "context_length_exceeded" });
  const nums = (e.message.match(/\d+/g) || []).map(Number);
  assert.ok(nums.includes(64), `the message has the context size 64: ${e.message}`);
  assert.ok(nums.some((n) => n > 64), `the message has the prompt's token count (> 64): ${e.message}`);
  const ce = await expectError(s, JSON.stringify({ model: MODEL_ID, prompt: long, max_tokens: 1 }), 400,
                               "completions prompt over --ctx 64", { path: "/v1/completions", code: "context_length_exceeded" });
  assert.ok((ce.message.match(/\d+/g) || []).map(Number).includes(64));
  await assert.rejects(client(s).chat.completions.create({ ...ok, messages: [{ role: "user", content: long }] }),
                       (err) => err.status === 400 && err.code === "context_length_exceeded");
  // a prompt that fits still works on the same server
  const r = await client(s).chat.completions.create({ ...ok, messages: [{ role: "user", content: "Hi" }] });
  assert.equal(r.choices.length, 1);
});

test("401: --api-key needs Authorization: Bearer KEY", T, async () => {
  const s = await serve(["--api-key", "s3cret"]);
  const body = JSON.stringify(ok);
  for (const [headers, what] of [
    [{}, "no key"],
    [{ Authorization: "Bearer wrong" }, "wrong key"],
    [{ Authorization: "s3cret" }, "no Bearer"],
    [{ Authorization: "Bearer s3cret-and-more" }, "key with a suffix"],
  ]) {
    const r = await postJSON(s, CHAT, body, headers);
    assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
    assertErrorShape(assert, r.json, what);
  }
  const models = await http(s, "GET", "/v1/models");
  assert.equal(models.status, 401, "the model list needs the key too");
  await assert.rejects(client(s, { apiKey: "wrong" }).chat.completions.create(ok),
                       (err) => err instanceof OpenAI.AuthenticationError && err.status === 401);
  const good = await client(s, { apiKey: "s3cret" }).chat.completions.create(ok);
  assert.equal(good.choices.length, 1);
  const list = await http(s, "GET", "/v1/models", { headers: { Authorization: "Bearer s3cret" } });
  assert.equal(list.status, 200);
});

// The queue gauge of /metrics (Prometheus text), e.g. `ponder_queue_length 1`.
async function gauge(s, name) {
  const m = await http(s, "GET", "/metrics");
  const line = m.text.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return line ? Number(line.trim().split(/\s+/).pop()) : NaN;
}

test("429: a full queue refuses the next request; the running one is unharmed", T, async () => {
  const s = await serve(["--parallel", "1", "--queue", "1", "--ctx", "4096"]);
  const oa = client(s);
  const long = { model: MODEL_ID, messages: THINK_PROMPT, max_tokens: 4000, thinking_budget: -1 };
  const ctlA = new AbortController(), ctlB = new AbortController();
  // A runs: wait for its first chunk
  const a = await oa.chat.completions.create({ ...long, stream: true }, { signal: ctlA.signal });
  const itA = a[Symbol.asyncIterator]();
  assert.ok(!(await itA.next()).done, "A streams");
  // B waits in the queue
  const bDone = oa.chat.completions.create({ ...long, max_tokens: 4 }, { signal: ctlB.signal }).catch((e) => e);
  await waitFor(async () => (await gauge(s, "ponder_queue_length")) === 1, "B in the queue (ponder_queue_length 1)");
  // C is refused
  const c = await postJSON(s, CHAT, JSON.stringify({ ...long, max_tokens: 4 }));
  assert.equal(c.status, 429, `C: ${c.status} ${c.text}`);
  assertErrorShape(assert, c.json, "queue full");
  await assert.rejects(oa.chat.completions.create({ ...long, max_tokens: 4 }),
                       (err) => err instanceof OpenAI.RateLimitError && err.status === 429);
  // A is still streaming; stop it (client disconnect) and B runs to its end
  assert.ok(!(await itA.next()).done, "A still streams after the refusals");
  ctlA.abort();
  const b = await bDone;
  assert.ok(!(b instanceof Error), `B completes once A is gone: ${b}`);
  assert.equal(b.usage.completion_tokens, 4);
  await sleep(50);
  assert.equal((await http(s, "GET", "/health")).status, 200);
});
