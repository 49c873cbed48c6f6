// tests/serve/load.test.mjs — many concurrent streaming clients through the openai npm client, a third of them
// aborted after their first chunk: every other stream ends normally with its usage, the texts of batched
// requests equal the same requests made alone (same seed), the server ends with nothing running or queued,
// answers /health, and exits 0 on SIGTERM (under ASan: no leak or error report). Bounded: 24 requests of at
// most 16 tokens, --parallel 4 (so requests also wait in the queue), per-request timeouts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopClean, client, http, collectChat, waitFor, THINK_PROMPT, MODEL_ID } from "./lib.mjs";

let server, oa;
before(async () => { server = await startServer(["--parallel", "4", "--queue", "64"]); oa = client(server); });
after(() => stopClean(assert, server));

const T = { timeout: 300000 };
const body = (seed) => ({ model: MODEL_ID, messages: THINK_PROMPT, max_tokens: 16, thinking_budget: 4, seed,
                          temperature: 1, stream: true, stream_options: { include_usage: true } });

test("24 concurrent streams, every third aborted: no errors, batched == alone, clean end", T, async () => {
  const N = 24;
  const runs = Array.from({ length: N }, async (_, i) => {
    const ctl = new AbortController();
    const stream = await oa.chat.completions.create(body(1000 + i), { signal: ctl.signal });
    if (i % 3 === 2) {
      // read one chunk, then go away: the server must drop the sequence
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      ctl.abort();
      return { i, aborted: true };
    }
    const r = await collectChat(stream);
    return { i, aborted: false, r };
  });
  const results = await Promise.allSettled(runs);
  const failed = results.filter((x) => x.status === "rejected").map((x) => String(x.reason));
  assert.deepEqual(failed, [], "no request failed");
  const done = results.map((x) => x.value).filter((v) => !v.aborted);
  assert.equal(done.length, 16);
  for (const { i, r } of done) {
    const c = r.choices.get(0);
    assert.ok(c && ["stop", "length"].includes(c.finish_reason), `request ${i}: finished (${c?.finish_reason})`);
    assert.ok(r.usage && r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 16, `request ${i}: usage`);
    assert.ok(r.usage.completion_tokens_details.reasoning_tokens <= 4 + 3, `request ${i}: budget 4 held`);
  }
  // the same requests alone give the same texts (per-sequence sampling, batch-independent)
  for (const { i, r } of done.slice(0, 3)) {
    const alone = await oa.chat.completions.create({ ...body(1000 + i), stream: false, stream_options: undefined });
    assert.equal(r.choices.get(0).content, alone.choices[0].message.content, `request ${i}: batched == alone`);
    assert.equal(r.choices.get(0).reasoning, alone.choices[0].message.reasoning_content ?? "", `request ${i}: reasoning`);
  }
  await waitFor(async () => {
    const m = (await http(server, "GET", "/metrics")).text;
    return /^ponder_requests_running 0$/m.test(m) && /^ponder_queue_length 0$/m.test(m);
  }, "nothing running or queued", { timeoutMs: 20000 });
  assert.equal((await http(server, "GET", "/health")).status, 200);
});
