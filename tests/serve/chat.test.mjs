// tests/serve/chat.test.mjs — /v1/chat/completions through the official openai npm client, on tiny-qwen3
// (real Qwen3 vocabulary and chat template, random weights: left alone it thinks forever, so every request
// bounds max_tokens and/or the thinking budget). Truths used: the OpenAI response shapes; the request's own
// bounds (budget, max_tokens, stop strings); the same seed giving the same text (streamed or not); the
// logprob bytes spelling the content; greedy decoding picking the top logprob.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopClean, client, http, collectChat, jsonPrefixError, waitFor, THINK_PROMPT, MODEL_ID } from "./lib.mjs";

let server, oa;
before(async () => { server = await startServer(["--parallel", "4"]); oa = client(server); });
after(() => stopClean(assert, server));

const T = { timeout: 240000 }; // generous: ASan builds on a loaded machine are ~5x slower
const chat = (extra) => oa.chat.completions.create({ model: MODEL_ID, messages: THINK_PROMPT, ...extra });
const NO_THINK = { chat_template_kwargs: { enable_thinking: false } };

test("GET /health and /v1/models", T, async () => {
  const h = await http(server, "GET", "/health");
  assert.equal(h.status, 200);
  assert.deepEqual(h.json, { status: "ok" });
  const models = [];
  for await (const m of oa.models.list()) models.push(m);
  assert.equal(models.length, 1);
  assert.equal(models[0].id, MODEL_ID);
  assert.equal(models[0].object, "model");
});

test("non-streamed chat with a thinking budget: reasoning_content, then content, and usage", T, async () => {
  const r = await chat({ max_tokens: 40, thinking_budget: 8, seed: 11, temperature: 0.8 });
  assert.equal(r.object, "chat.completion");
  assert.equal(typeof r.id, "string");
  assert.equal(typeof r.created, "number");
  assert.equal(r.model, MODEL_ID);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.index, 0);
  assert.equal(c.message.role, "assistant");
  assert.equal(typeof c.message.reasoning_content, "string");
  assert.ok(c.message.reasoning_content.length > 0, "the model thought");
  assert.equal(typeof c.message.content, "string");
  assert.ok(c.message.content.length > 0, "the budget closed the thinking, so an answer follows");
  for (const tag of ["<think>", "</think>"]) {
    assert.ok(!c.message.reasoning_content.includes(tag), `no ${tag} in reasoning_content`);
    assert.ok(!c.message.content.includes(tag), `no ${tag} in content`);
  }
  assert.ok(["stop", "length"].includes(c.finish_reason), c.finish_reason);
  const u = r.usage;
  assert.ok(u.prompt_tokens > 10, `prompt_tokens ${u.prompt_tokens}`);
  assert.ok(u.completion_tokens > 0 && u.completion_tokens <= 40, `completion_tokens ${u.completion_tokens}`);
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  const rt = u.completion_tokens_details.reasoning_tokens;
  assert.ok(rt >= 1 && rt <= 8 + 3, `reasoning_tokens ${rt} within the budget 8 (+ the closing tokens)`);
  assert.ok(rt < u.completion_tokens, "some completion tokens are the answer");
});

test("thinking budget honoured: no budget thinks to max_tokens, budgets 4 and 16 bound the thinking", T, async () => {
  // no budget: the prompt is the template's; tiny-qwen3 does not open <think> itself, so the thinking is opened
  // by continuing an assistant message "<think>\n" (vLLM's continue_final_message), and it never ends
  const open = await chat({ max_tokens: 32, thinking_budget: -1, seed: 5, continue_final_message: true,
                            messages: [...THINK_PROMPT, { role: "assistant", content: "<think>\n" }] });
  assert.equal(open.choices[0].finish_reason, "length");
  assert.equal(open.usage.completion_tokens, 32);
  assert.equal(open.usage.completion_tokens_details.reasoning_tokens, 32, "all 32 tokens were thinking");
  assert.ok(!open.choices[0].message.content, "no answer while thinking never ended");
  const rts = [];
  for (const budget of [4, 16]) {
    const r = await chat({ max_tokens: 48, thinking_budget: budget, seed: 5 });
    const rt = r.usage.completion_tokens_details.reasoning_tokens;
    assert.ok(rt >= 1 && rt <= budget + 3, `budget ${budget}: reasoning_tokens ${rt}`);
    assert.ok(r.choices[0].message.content.length > 0, `budget ${budget}: an answer follows`);
    rts.push(rt);
  }
  assert.ok(rts[0] < rts[1], `budget 4 thinks less than budget 16 (${rts})`);
  // the aliases and reasoning_effort are accepted and bound the thinking the same way
  const alias = await chat({ max_tokens: 48, thinking_token_budget: 4, seed: 5 });
  assert.equal(alias.usage.completion_tokens_details.reasoning_tokens, rts[0], "thinking_token_budget = thinking_budget");
  const kw = await chat({ max_tokens: 48, chat_template_kwargs: { thinking_budget: 4 }, seed: 5 });
  assert.equal(kw.usage.completion_tokens_details.reasoning_tokens, rts[0], "chat_template_kwargs.thinking_budget");
  const low = await chat({ max_tokens: 300, reasoning_effort: "low", seed: 5 });
  const lrt = low.usage.completion_tokens_details.reasoning_tokens;
  assert.ok(lrt >= 1 && lrt <= 256 + 3, `reasoning_effort low: reasoning_tokens ${lrt} <= 256`);
  assert.ok(low.choices[0].message.content.length > 0, "reasoning_effort low: an answer after 256 thinking tokens");
});

test("enable_thinking=false: no reasoning, only content", T, async () => {
  const r = await chat({ max_tokens: 16, seed: 3, ...NO_THINK });
  const m = r.choices[0].message;
  assert.ok(!m.reasoning_content, `no reasoning_content (got ${JSON.stringify(m.reasoning_content)})`);
  assert.ok(m.content.length > 0);
  assert.ok(!m.content.includes("<think>") && !m.content.includes("</think>"));
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 0);
  assert.equal(r.usage.completion_tokens, 16);
  assert.equal(r.choices[0].finish_reason, "length");
});

test("streamed chat: role first, reasoning deltas before content deltas, usage chunk last; same text as non-streamed", T, async () => {
  const params = { max_tokens: 40, thinking_budget: 8, seed: 21, temperature: 0.9 };
  const plain = await chat(params);
  const stream = await chat({ ...params, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const ch of stream) chunks.push(ch);
  assert.ok(chunks.length > 3);
  for (const ch of chunks) {
    assert.equal(ch.object, "chat.completion.chunk");
    assert.equal(ch.id, chunks[0].id, "one id for the whole stream");
  }
  assert.equal(chunks[0].choices[0].delta.role, "assistant");
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, [], "the usage chunk has no choices");
  assert.ok(last.usage, "include_usage: the last chunk has usage");
  for (const ch of chunks.slice(0, -1)) assert.ok(!ch.usage, "only the last chunk carries usage");
  const { choices } = await collectChat((async function* () { yield* chunks; })());
  const c = choices.get(0);
  const firstContent = c.phases.indexOf("c");
  assert.ok(firstContent > 0, "reasoning came first");
  assert.ok(!c.phases.slice(firstContent).includes("r"), "no reasoning after the answer started");
  assert.equal(c.reasoning, plain.choices[0].message.reasoning_content, "streamed reasoning == non-streamed");
  assert.equal(c.content, plain.choices[0].message.content, "streamed content == non-streamed");
  assert.equal(c.finish_reason, plain.choices[0].finish_reason);
  assert.deepEqual(last.usage, plain.usage, "same usage streamed and not");
});

test("streamed without include_usage: no usage chunk", T, async () => {
  const stream = await chat({ max_tokens: 8, seed: 2, stream: true, ...NO_THINK });
  const { choices, usage } = await collectChat(stream);
  assert.equal(usage, null);
  assert.equal(choices.get(0).finish_reason, "length");
});

test("seed reproducibility: same seed same text (in turn and concurrently), other seed other text", T, async () => {
  const p = { max_tokens: 24, thinking_budget: 6, temperature: 1.0 };
  const a = await chat({ ...p, seed: 1234 });
  const b = await chat({ ...p, seed: 1234 });
  const [c, d, e] = await Promise.all([chat({ ...p, seed: 1234 }), chat({ ...p, seed: 1234 }), chat({ ...p, seed: 99 })]);
  const text = (r) => r.choices[0].message.reasoning_content + "\u0000" + r.choices[0].message.content;
  assert.equal(text(b), text(a));
  assert.equal(text(c), text(a), "concurrent request, same seed");
  assert.equal(text(d), text(a), "concurrent request, same seed");
  assert.notEqual(text(e), text(a), "another seed samples other tokens (temperature 1 over 151936 tokens)");
});

test("n=3: three choices, indexed, different samples; streamed n=3 matches", T, async () => {
  const p = { max_tokens: 20, thinking_budget: 6, temperature: 1.0, seed: 77, n: 3 };
  const r = await chat(p);
  assert.equal(r.choices.length, 3);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
  const texts = r.choices.map((c) => c.message.reasoning_content + "|" + c.message.content);
  assert.equal(new Set(texts).size, 3, "three different samples");
  for (const c of r.choices) assert.ok(c.message.content.length > 0 && c.message.reasoning_content.length > 0);
  assert.ok(r.usage.completion_tokens >= 3 && r.usage.completion_tokens <= 60, "usage counts all three choices");
  const again = await chat(p);
  assert.deepEqual(again.choices.map((c) => c.message), r.choices.map((c) => c.message), "n=3 reproducible by seed");
  const s = await collectChat(await chat({ ...p, stream: true, stream_options: { include_usage: true } }));
  assert.deepEqual([...s.choices.keys()].sort(), [0, 1, 2]);
  for (const c of r.choices) {
    assert.equal(s.choices.get(c.index).content, c.message.content, `choice ${c.index} streamed == non-streamed`);
    assert.equal(s.choices.get(c.index).reasoning, c.message.reasoning_content);
  }
  assert.deepEqual(s.usage, r.usage);
});

test("stop strings: content ends before the first stop string, finish_reason stop, streamed the same", T, async () => {
  const p = { max_tokens: 40, temperature: 0.7, seed: 8, ...NO_THINK };
  const full = (await chat(p)).choices[0].message.content;
  const cps = Array.from(full);
  // a stop string of 2 whole code points from the middle of the text (no replacement characters)
  let at = Math.floor(cps.length / 2);
  while (at < cps.length - 2 && (cps[at] === "\uFFFD" || cps[at + 1] === "\uFFFD" || !cps[at].trim())) at++;
  assert.ok(at < cps.length - 2, `a usable stop string in ${JSON.stringify(full)}`);
  const stop = cps[at] + cps[at + 1];
  const expected = full.slice(0, full.indexOf(stop));
  const r = await chat({ ...p, stop });
  assert.equal(r.choices[0].message.content, expected, `cut before ${JSON.stringify(stop)}`);
  assert.equal(r.choices[0].finish_reason, "stop");
  const s = await collectChat(await chat({ ...p, stop: [stop], stream: true }));
  assert.equal(s.choices.get(0).content, expected, "streamed: no text of the stop string leaks");
  assert.equal(s.choices.get(0).finish_reason, "stop");
  // of two stop strings the first to occur wins
  const later = cps.slice(cps.length - 2).join("");
  if (full.indexOf(later) > full.indexOf(stop)) {
    const two = await chat({ ...p, stop: [later, stop] });
    assert.equal(two.choices[0].message.content, expected);
  }
  // a stop string that never occurs changes nothing
  const none = await chat({ ...p, stop: ["\u0001never\u0002"] });
  assert.equal(none.choices[0].message.content, full);
  assert.equal(none.choices[0].finish_reason, "length");
});

test("logprobs: OpenAI shape over the content tokens; bytes spell the content; greedy picks the top one", T, async () => {
  const r = await chat({ max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3, ...NO_THINK });
  const c = r.choices[0];
  assert.ok(c.logprobs && Array.isArray(c.logprobs.content), "choices[0].logprobs.content is an array");
  const lp = c.logprobs.content;
  assert.equal(lp.length, r.usage.completion_tokens, "one entry per generated token");
  const bytes = [];
  for (const [i, t] of lp.entries()) {
    assert.equal(typeof t.token, "string");
    assert.ok(Number.isFinite(t.logprob) && t.logprob <= 0, `logprob ${t.logprob}`);
    assert.ok(Array.isArray(t.bytes) && t.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
    bytes.push(...t.bytes);
    assert.equal(t.top_logprobs.length, 3, `token ${i}: 3 top_logprobs`);
    let prev = 0, mass = 0;
    for (const alt of t.top_logprobs) {
      assert.equal(typeof alt.token, "string");
      assert.ok(Number.isFinite(alt.logprob) && alt.logprob <= prev + 1e-9, "top_logprobs sorted descending");
      assert.ok(Array.isArray(alt.bytes));
      prev = alt.logprob;
      mass += Math.exp(alt.logprob);
    }
    assert.ok(mass <= 1 + 1e-5, `probabilities sum to at most 1 (${mass})`);
    assert.equal(t.token, t.top_logprobs[0].token, `token ${i}: greedy = the top alternative`);
    assert.ok(Math.abs(t.logprob - t.top_logprobs[0].logprob) < 1e-5);
  }
  // the answer's leading whitespace (the template's "\n\n" after </think>) may be left out of content
  assert.equal(Buffer.from(bytes).toString("utf8").trimStart(), c.message.content.trimStart(),
               "the token bytes spell the content");
  // sampled: the bytes spell a non-empty content, and each chosen token's logprob is finite and <= 0
  const sampled = await chat({ max_tokens: 12, temperature: 1, seed: 3, logprobs: true, top_logprobs: 1, ...NO_THINK });
  const sc = sampled.choices[0];
  assert.ok(sc.message.content.trim().length > 0, "sampled text is not only whitespace");
  assert.equal(Buffer.from(sc.logprobs.content.flatMap((t) => t.bytes)).toString("utf8").trimStart(),
               sc.message.content.trimStart());
  for (const t of sc.logprobs.content) {
    assert.equal(t.top_logprobs.length, 1);
    assert.ok(t.logprob <= t.top_logprobs[0].logprob + 1e-6, "no token is likelier than the top one");
  }
  const no = await chat({ max_tokens: 4, temperature: 0, ...NO_THINK });
  assert.ok(no.choices[0].logprobs == null, "no logprobs unless asked");
  const s = await chat({ max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 3, stream: true, ...NO_THINK });
  const streamed = [];
  for await (const ch of s) for (const x of ch.choices) if (x.logprobs && x.logprobs.content) streamed.push(...x.logprobs.content);
  assert.deepEqual(streamed, lp, "streamed logprobs == non-streamed");
});

test("conversation history: assistant reasoning_content in the request is dropped (same prompt as without it)", T, async () => {
  const turns = (reasoning) => [
    { role: "system", content: "Be brief." },
    { role: "user", content: "What is 2+2?" },
    { role: "assistant", content: "4", ...(reasoning ? { reasoning_content: reasoning } : {}) },
    { role: "user", content: "And 3+3?" },
  ];
  const base = { model: MODEL_ID, max_tokens: 1, ...NO_THINK };
  const a = await oa.chat.completions.create({ ...base, messages: turns(null) });
  const b = await oa.chat.completions.create({ ...base, messages: turns("Two plus two is four, a long thought.") });
  assert.equal(b.usage.prompt_tokens, a.usage.prompt_tokens, "the earlier reasoning adds no prompt tokens");
  const one = await oa.chat.completions.create({ ...base, messages: turns(null).slice(0, 2) });
  assert.ok(a.usage.prompt_tokens > one.usage.prompt_tokens + 4, "the earlier turns are in the prompt");
});

test("max_completion_tokens is max_tokens", T, async () => {
  const r = await chat({ max_completion_tokens: 5, seed: 1, ...NO_THINK });
  assert.equal(r.usage.completion_tokens, 5);
  assert.equal(r.choices[0].finish_reason, "length");
});

test("response_format json_object: a finished reply is one JSON object, a cut one a valid JSON prefix", T, async () => {
  for (const seed of [1, 2, 3]) {
    const r = await chat({ max_tokens: 120, seed, temperature: 1, messages: [{ role: "user", content: "Give JSON" }],
                           response_format: { type: "json_object" }, ...NO_THINK });
    const c = r.choices[0], text = c.message.content;
    assert.match(text.trimStart(), /^\{/, `seed ${seed}: an object starts: ${JSON.stringify(text)}`);
    if (c.finish_reason === "stop") {
      let v;
      assert.doesNotThrow(() => { v = JSON.parse(text); }, `seed ${seed}: valid JSON: ${JSON.stringify(text)}`);
      assert.ok(v && typeof v === "object" && !Array.isArray(v), `seed ${seed}: an object`);
    } else {
      const why = jsonPrefixError(text);
      assert.equal(why, null, `seed ${seed}: cut by max_tokens, still a JSON prefix: ${why}\n${JSON.stringify(text)}`);
    }
  }
});

test("/metrics counts what the responses report", T, async () => {
  const metric = (text, name) => {
    const m = new RegExp("^" + name + " (\\S+)$", "m").exec(text);
    assert.ok(m, `metric ${name} present`);
    return Number(m[1]);
  };
  const before = (await http(server, "GET", "/metrics")).text;
  const r = await chat({ max_tokens: 20, thinking_budget: 5, seed: 42 });
  // the counters may be bumped just after the reply is sent: wait (bounded) until the generation is counted
  let after = "";
  await waitFor(async () => {
    after = (await http(server, "GET", "/metrics")).text;
    return metric(after, "ponder_generations_total") > metric(before, "ponder_generations_total");
  }, "ponder_generations_total to count the request", { timeoutMs: 5000 });
  const d = (name) => metric(after, name) - metric(before, name);
  assert.equal(d("ponder_completion_tokens_total"), r.usage.completion_tokens);
  assert.equal(d("ponder_prompt_tokens_total"), r.usage.prompt_tokens);
  assert.equal(d("ponder_reasoning_tokens_total"), r.usage.completion_tokens_details.reasoning_tokens);
  assert.equal(d("ponder_generations_total"), 1);
  assert.equal(metric(after, "ponder_requests_running"), 0);
  assert.equal(metric(after, "ponder_queue_length"), 0);
});

test("sampling parameters: top_k 1, min_p 1 and a tiny top_p are greedy; presence/frequency penalties break repeats", T, async () => {
  const toks = async (extra) => {
    const r = await chat({ max_tokens: 10, logprobs: true, seed: 5, ...NO_THINK, ...extra });
    return r.choices[0].logprobs.content.map((t) => t.token);
  };
  const greedy = await toks({ temperature: 0 });
  assert.equal(greedy.length, 10);
  assert.deepEqual(await toks({ temperature: 1, top_k: 1 }), greedy, "top_k 1 = greedy");
  assert.deepEqual(await toks({ temperature: 1, top_k: 0, top_p: 1, min_p: 1 }), greedy, "min_p 1 = greedy");
  assert.deepEqual(await toks({ temperature: 1, top_k: 0, top_p: 1e-6 }), greedy, "top_p 1e-6 = greedy");
  const sampled = await toks({ temperature: 1, top_k: 0, top_p: 1 });
  assert.notDeepEqual(sampled, greedy, "temperature 1 over the whole vocabulary is not greedy");
  // tiny-qwen3's greedy continuation repeats one token; a penalty of 2 (its logits span about 2) breaks that
  const distinct = (a) => new Set(a).size;
  assert.ok(distinct(greedy) <= 3, `greedy repeats (${distinct(greedy)} distinct of 10)`);
  for (const k of ["presence_penalty", "frequency_penalty"]) {
    const pen = await toks({ temperature: 0, [k]: 2 });
    assert.ok(distinct(pen) > distinct(greedy) + 2, `${k} 2: ${distinct(pen)} distinct tokens vs ${distinct(greedy)}`);
  }
});
