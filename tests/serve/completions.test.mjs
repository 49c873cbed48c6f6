// tests/serve/completions.test.mjs — the legacy /v1/completions endpoint through the openai npm client:
// raw prompt text in, text out (no chat template, no thinking split), streamed and not, n=3, stop strings,
// seed reproducibility, usage. Truths: OpenAI's shapes, the request's bounds, same seed -> same text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopClean, client, MODEL_ID } from "./lib.mjs";

let server, oa;
before(async () => { server = await startServer(["--parallel", "4"]); oa = client(server); });
after(() => stopClean(assert, server));

const T = { timeout: 240000 }; // generous: ASan builds on a loaded machine are ~5x slower
const PROMPT = "Question: what is 12+35? Answer: Let me think step by step.";
const complete = (extra) => oa.completions.create({ model: MODEL_ID, prompt: PROMPT, ...extra });

// the openai stream of completion chunks -> per-index text
async function collect(stream) {
  const texts = new Map(), finish = new Map();
  let usage = null, n = 0;
  for await (const ch of stream) {
    n++;
    assert.equal(ch.object, "text_completion");
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) {
      texts.set(c.index, (texts.get(c.index) || "") + (c.text || ""));
      if (c.finish_reason) finish.set(c.index, c.finish_reason);
    }
  }
  return { texts, finish, usage, n };
}

test("non-streamed completion: shape, usage, max_tokens", T, async () => {
  const r = await complete({ max_tokens: 16, seed: 3, temperature: 0.8 });
  assert.equal(r.object, "text_completion");
  assert.equal(r.model, MODEL_ID);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.index, 0);
  assert.equal(typeof c.text, "string");
  assert.ok(c.text.length > 0);
  assert.equal(c.finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 16);
  // the prompt is raw text: the fixture's golden tokenization of this exact prompt has 20 tokens (qwen adds no BOS)
  assert.equal(r.usage.prompt_tokens, 20);
  assert.equal(r.usage.total_tokens, 36);
});

test("streamed completion == non-streamed for the same seed; usage chunk", T, async () => {
  const p = { max_tokens: 24, seed: 17, temperature: 1.0 };
  const plain = await complete(p);
  const s = await collect(await complete({ ...p, stream: true, stream_options: { include_usage: true } }));
  assert.equal(s.texts.get(0), plain.choices[0].text);
  assert.equal(s.finish.get(0), plain.choices[0].finish_reason);
  assert.deepEqual(s.usage, plain.usage);
});

test("n=3, seed reproducibility, stop strings", T, async () => {
  const p = { max_tokens: 16, seed: 5, temperature: 1.0 };
  const r = await complete({ ...p, n: 3 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
  assert.equal(new Set(r.choices.map((c) => c.text)).size, 3, "three different samples");
  assert.equal(r.usage.completion_tokens, 48, "usage counts all three choices (16 each, cut by max_tokens)");
  const again = await complete({ ...p, n: 3 });
  assert.deepEqual(again.choices.map((c) => c.text), r.choices.map((c) => c.text));
  const s = await collect(await complete({ ...p, n: 3, stream: true }));
  for (const c of r.choices) assert.equal(s.texts.get(c.index), c.text, `choice ${c.index} streamed == non-streamed`);

  const full = (await complete({ max_tokens: 40, seed: 9, temperature: 0.7 })).choices[0].text;
  const cps = Array.from(full);
  let at = Math.floor(cps.length / 2);
  while (at < cps.length - 2 && (cps[at] === "\uFFFD" || cps[at + 1] === "\uFFFD" || !cps[at].trim())) at++;
  assert.ok(at < cps.length - 2, `a usable stop string in ${JSON.stringify(full)}`);
  const stop = cps[at] + cps[at + 1];
  const cut = await complete({ max_tokens: 40, seed: 9, temperature: 0.7, stop });
  assert.equal(cut.choices[0].text, full.slice(0, full.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, "stop");
});

test("raw prompts: plain text continues in text; a prompt ending in <think>\\n starts in the thinking", T, async () => {
  const plain = await complete({ max_tokens: 8, seed: 1 });
  assert.ok(!plain.choices[0].reasoning_content, "no reasoning_content for a plain continuation");
  const r = await oa.completions.create({ model: MODEL_ID, prompt: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n",
                                          max_tokens: 8, seed: 1 });
  const c = r.choices[0];
  assert.equal(typeof c.reasoning_content, "string");
  assert.ok(c.reasoning_content.length > 0, "the 8 tokens are thinking");
  assert.equal(c.text, "", "no answer: thinking never ended");
  assert.equal(r.usage.completion_tokens_details?.reasoning_tokens ?? 8, 8);
});

test("prompt as an array of one string = the string", T, async () => {
  const a = await complete({ max_tokens: 6, seed: 2 });
  const b = await oa.completions.create({ model: MODEL_ID, prompt: [PROMPT], max_tokens: 6, seed: 2 });
  assert.equal(b.choices[0].text, a.choices[0].text);
});

test("legacy logprobs shape: tokens, token_logprobs, top_logprobs, text_offset", T, async () => {
  const r = await complete({ max_tokens: 8, temperature: 0, logprobs: 2 });
  const lp = r.choices[0].logprobs;
  assert.ok(lp, "choices[0].logprobs");
  const n = r.usage.completion_tokens;
  for (const k of ["tokens", "token_logprobs", "top_logprobs", "text_offset"]) {
    assert.ok(Array.isArray(lp[k]), `${k} is an array`);
    assert.equal(lp[k].length, n, `${k}: one entry per token`);
  }
  for (let i = 0; i < n; i++) {
    assert.equal(typeof lp.tokens[i], "string");
    assert.ok(lp.token_logprobs[i] <= 0);
    const alts = Object.values(lp.top_logprobs[i]);
    assert.ok(alts.length >= 1 && alts.length <= 2, `top_logprobs[${i}] has 1..2 entries`);
    assert.ok(Math.abs(Math.max(...alts) - lp.token_logprobs[i]) < 1e-5, "greedy: the chosen token is the most likely");
    if (i > 0) assert.ok(lp.text_offset[i] >= lp.text_offset[i - 1], "text_offset grows");
  }
});
