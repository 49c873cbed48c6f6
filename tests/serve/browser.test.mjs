// tests/serve/browser.test.mjs — the web chat page (web/index.html, served at `/`) in headless Chromium,
// driven by playwright-core: load the page, send a prompt, watch the thinking and the answer stream in
// (counted by a MutationObserver: several updates each, not one at the end), check the page's final texts
// against the API's non-streamed answer for the same seed, collapse the thinking, send a second turn (the
// history it sends drops the reasoning), stop a long generation, show an error. Screenshots are kept in
// $PD_SERVE_ARTIFACTS (CTest: BUILD/serve-artifacts): chat.png, chat-collapsed.png, chat-stopped.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { startServer, stopClean, client, http, MODEL_ID, sleep, waitFor } from "./lib.mjs";

const CHROMIUM = process.env.PD_CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = process.env.PD_SERVE_ARTIFACTS || path.resolve("build", "serve-artifacts");
const T = { timeout: 180000 };
const STEP = 30000; // every wait on the page is bounded

let server, browser, page;
const requests = [];   // every request the page makes: {url, method, body}
const pageErrors = [];

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startServer(["--parallel", "2", "--ctx", "4096"]);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: STEP,
                                    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"] });
  page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  page.setDefaultTimeout(STEP);
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push("console: " + m.text()); });
  page.on("request", (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() }));
  // counts the updates of each streamed element, so the test can tell streaming from one final write
  await page.addInitScript(() => {
    window.__updates = { reasoning: 0, answer: 0 };
    new MutationObserver((muts) => {
      for (const m of muts) {
        const t = m.target.nodeType === 3 ? m.target.parentElement : m.target;
        if (!t || !t.classList) continue;
        if (t.classList.contains("reasoning")) window.__updates.reasoning++;
        if (t.classList.contains("answer")) window.__updates.answer++;
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stopClean(assert, server);
});

async function send(text) {
  await page.fill("#prompt", text);
  await page.press("#prompt", "Enter");
}
const lastAssistant = () => page.locator(".turn.assistant").last();
const lastBody = () => JSON.parse(requests.filter((r) => r.url.endsWith("/v1/chat/completions")).at(-1).body);

test("the page loads from / with no external resource and lists the model", T, async () => {
  const resp = await page.goto(server.url + "/");
  assert.equal(resp.status(), 200);
  assert.match(resp.headers()["content-type"] || "", /text\/html/);
  await page.waitForFunction(() => document.querySelector("#model option") !== null);
  assert.equal(await page.inputValue("#model"), MODEL_ID);
  assert.equal(await page.title(), "ponder chat");
  // accessible names for every control
  for (const name of ["Message", "Thinking", "Thinking budget (tokens)", "Max tokens (thinking + answer)", "Seed"]) {
    assert.equal(await page.getByLabel(name, { exact: true }).count(), 1, `a control labelled ${name}`);
  }
  assert.equal(await page.getByRole("button", { name: "Send" }).count(), 1);
  assert.equal(await page.getByRole("button", { name: "Stop" }).isDisabled(), true, "Stop is off while idle");
});

test("a prompt streams thinking then the answer; texts equal the API's for the same seed", T, async () => {
  await page.fill("#thinking-budget", "8");
  await page.fill("#max-tokens", "40");
  await page.fill("#seed", "7");
  await page.fill("#temperature", "0.8");
  const prompt = "Question: what is 12+35? Think step by step.";
  await send(prompt);
  const turn = lastAssistant();
  await turn.locator("details.thinking .reasoning").waitFor({ state: "visible" });
  await turn.locator(".usage").filter({ hasText: "tokens/s" }).waitFor();
  const reasoning = await turn.locator(".reasoning").textContent();
  const answer = await turn.locator(".answer").textContent();
  const usage = await turn.locator(".usage").textContent();
  const updates = await page.evaluate(() => window.__updates);
  assert.ok(updates.reasoning >= 2, `the thinking streamed (${updates.reasoning} updates)`);
  assert.ok(updates.answer >= 2, `the answer streamed (${updates.answer} updates)`);
  assert.match(usage, /prompt \d+ tokens · completion \d+ \(reasoning \d+\) · [\d.]+ tokens\/s/, usage);
  assert.match(await turn.locator("details.thinking summary").textContent(), /^Thought for [\d.]+ s$/);
  // what the page sent, and what the API answers to the same request without streaming
  const body = lastBody();
  assert.equal(body.stream, true);
  assert.deepEqual(body.stream_options, { include_usage: true });
  assert.equal(body.thinking_budget, 8);
  assert.equal(body.max_tokens, 40);
  assert.equal(body.seed, 7);
  assert.deepEqual(body.messages, [{ role: "user", content: prompt }]);
  const api = await client(server).chat.completions.create({ ...body, stream: false, stream_options: undefined });
  assert.equal(reasoning, api.choices[0].message.reasoning_content, "page thinking == API reasoning_content");
  assert.equal(answer, api.choices[0].message.content, "page answer == API content");
  const u = api.usage;
  assert.ok(usage.includes(`prompt ${u.prompt_tokens} tokens · completion ${u.completion_tokens} ` +
                           `(reasoning ${u.completion_tokens_details.reasoning_tokens})`), usage);
  await page.screenshot({ path: path.join(ARTIFACTS, "chat.png") });
});

test("the thinking block collapses", T, async () => {
  const turn = lastAssistant();
  const details = turn.locator("details.thinking");
  assert.equal(await details.evaluate((d) => d.open), true, "open while and after streaming");
  await turn.locator("details.thinking summary").click();
  assert.equal(await details.evaluate((d) => d.open), false);
  assert.equal(await turn.locator(".reasoning").isVisible(), false, "the thinking text is hidden");
  assert.equal(await turn.locator(".answer").isVisible(), true, "the answer stays");
  await page.screenshot({ path: path.join(ARTIFACTS, "chat-collapsed.png") });
});

test("a second turn sends the history without the reasoning", T, async () => {
  const first = await lastAssistant().locator(".answer").textContent();
  await page.fill("#max-tokens", "12");
  await send("And 3+3?");
  await lastAssistant().locator(".usage").filter({ hasText: "tokens/s" }).waitFor();
  const body = lastBody();
  assert.deepEqual(body.messages, [
    { role: "user", content: "Question: what is 12+35? Think step by step." },
    { role: "assistant", content: first },
    { role: "user", content: "And 3+3?" },
  ]);
});

test("Stop ends a long generation; the page and the server stay usable", T, async () => {
  await page.fill("#thinking-budget", "2000");   // a budget opens the thinking on tiny-qwen3; this one is never reached
  await page.fill("#max-tokens", "3000");
  await page.fill("#seed", "");
  await send("Think for a long time.");
  const turn = lastAssistant();
  const streamed = () => page.evaluate(() => {   // thinking + answer text so far in the last turn
    const t = [...document.querySelectorAll(".turn.assistant")].at(-1);
    return [".reasoning", ".answer"].map((q) => t.querySelector(q)?.textContent ?? "").join("").length;
  });
  await page.waitForFunction(() => {
    const t = [...document.querySelectorAll(".turn.assistant")].at(-1);
    return [".reasoning", ".answer"].map((q) => t.querySelector(q)?.textContent ?? "").join("").length > 20;
  });
  const stop = page.getByRole("button", { name: "Stop" });
  assert.equal(await stop.isEnabled(), true, "Stop is on while generating");
  await stop.click();
  await turn.locator(".stopped").waitFor();
  const len = await streamed();
  await sleep(500);
  assert.equal(await streamed(), len, "nothing more arrives after Stop");
  assert.equal(await stop.isDisabled(), true);
  assert.equal(await page.getByRole("button", { name: "Send" }).isEnabled(), true);
  assert.equal(await page.textContent("#status"), "Stopped.");
  assert.match(await turn.locator("details.thinking summary").textContent(), /^Stopped while thinking/);
  assert.equal(await turn.locator(".answer").textContent(), "", "stopped before any answer");
  await page.screenshot({ path: path.join(ARTIFACTS, "chat-stopped.png") });
  // the server dropped the sequence: a new request is answered at once, metrics show nothing running
  const h = await http(server, "GET", "/health");
  assert.equal(h.status, 200);
  // the stopped request (3000 tokens asked) is cancelled by the disconnect, not decoded to its end
  await waitFor(async () => /^ponder_requests_running 0$/m.test((await http(server, "GET", "/metrics")).text),
                "ponder_requests_running 0 after Stop", { timeoutMs: 15000 });
  await page.fill("#max-tokens", "6");
  await page.uncheck("#enable-thinking");
  assert.equal(await page.isDisabled("#thinking-budget"), true, "no budget without thinking");
  await send("Short one.");
  await lastAssistant().locator(".usage").filter({ hasText: "tokens/s" }).waitFor();
  const body = lastBody();
  assert.deepEqual(body.chat_template_kwargs, { enable_thinking: false });
  assert.equal(body.thinking_budget, undefined);
  assert.equal(await lastAssistant().locator("details.thinking").count(), 0, "no thinking block without thinking");
  assert.match(await lastAssistant().locator(".usage").textContent(), /\(reasoning 0\)/);
});

test("an error from the server is shown, and the message comes back to the box", T, async () => {
  await page.fill("#policy", "no-such-policy");
  await send("This fails.");
  const alert = page.getByRole("alert").last();
  await alert.waitFor();
  assert.match(await alert.textContent(), /^Error: 400: .*policy/);
  assert.equal(await page.inputValue("#prompt"), "This fails.");
  await page.fill("#policy", "");
  // the failed turn is not in the history of the next request
  await page.fill("#prompt", "");
  await send("Again.");
  await lastAssistant().locator(".usage").filter({ hasText: "tokens/s" }).waitFor();
  const msgs = lastBody().messages;
  assert.ok(!msgs.some((m) => m.content === "This fails."), "the failed message is not in the history");
  assert.equal(msgs.at(-1).content, "Again.");
});

test("no request left the server's origin and the page logged no error", T, async () => {
  const origin = new URL(server.url).origin;
  const foreign = requests.filter((r) => !r.url.startsWith(origin) && !r.url.startsWith("data:"));
  assert.deepEqual(foreign, []);
  assert.deepEqual(pageErrors.filter((e) => !/status of 400/.test(e)), []);
});
