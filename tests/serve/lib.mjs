// tests/serve/lib.mjs — what every client test of `ponder serve` shares: where the binary and the fixture
// model are (PONDER and PD_SHARED_DIR, set by tests/serve/run.sh), starting a server on a free port (the OS
// picks it: --port 0, the port read from the "listening on" line), stopping it (SIGTERM, then SIGKILL after a
// bounded wait; also on any exit of the test process, so no server outlives its test), an openai client
// for it, and small raw-HTTP helpers for what the client cannot send (malformed JSON, SSE read by hand).
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import OpenAI from "openai";

export const PONDER = process.env.PONDER;
export const SHARED = process.env.PD_SHARED_DIR;
export const MODELS = SHARED ? path.join(SHARED, "fixtures", "models") : "";
export const QWEN3 = path.join(MODELS, "tiny-qwen3.gguf");
export const MODEL_ID = "tiny-qwen3";

// Every wait in these tests is bounded: a hung server fails the test instead of hanging CTest.
export const START_TIMEOUT_MS = Number(process.env.PD_SERVE_START_TIMEOUT_MS || 60000);
export const REQUEST_TIMEOUT_MS = Number(process.env.PD_SERVE_REQUEST_TIMEOUT_MS || 60000);

if (!PONDER || !existsSync(PONDER)) throw new Error("set PONDER to the ponder binary (tests/serve/run.sh does)");
if (!existsSync(QWEN3)) throw new Error(`fixture model missing: ${QWEN3} (tests/serve/run.sh skips then)`);

const live = new Set();
function killAll() {
  for (const p of live) { try { p.kill("SIGKILL"); } catch { /* already gone */ } }
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { killAll(); process.exit(130); });

// Starts `ponder serve -m MODEL --port 0 ARGS...`; resolves to {url, port, proc, log(), stop()}.
export function startServer(args = [], { model = QWEN3 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(PONDER, ["serve", "-m", model, "--port", "0", "-t", "1", ...args],
                       { stdio: ["ignore", "pipe", "pipe"] });
    live.add(proc);
    let out = "", err = "", settled = false;
    const log = () => `--- server stdout ---\n${out}\n--- server stderr ---\n${err.slice(-4000)}`;
    const exited = new Promise((res) => proc.on("exit", (code, signal) => { live.delete(proc); res({ code, signal }); }));
    const stop = async (sig = "SIGTERM", graceMs = 15000) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill(sig);
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    };
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      proc.kill("SIGKILL");
      reject(new Error(`server did not say "listening on" within ${START_TIMEOUT_MS} ms\n${log()}`));
    }, START_TIMEOUT_MS);
    proc.stdout.setEncoding("utf8");
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d) => { err += d; });
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s:]+:(\d+))/.exec(out);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ url: m[1], port: Number(m[2]), proc, log, stop, exited });
      }
    });
    proc.on("exit", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening\n${log()}`));
    });
  });
}

// Stops the server and asserts it exited 0 (a clean shutdown; under ASan a leak or an error report exits non-zero).
export async function stopClean(assert, server) {
  if (!server) return;
  const r = await server.stop();
  assert.equal(r.code, 0, `server exits 0 on SIGTERM (got ${r.code ?? r.signal})\n${server.log()}`);
}

// The official client, pointed at the server; no retries (a 429 or 5xx must reach the test as it is).
export function client(server, opts = {}) {
  return new OpenAI({ baseURL: server.url + "/v1", apiKey: opts.apiKey ?? "none", maxRetries: 0,
                      timeout: opts.timeout ?? REQUEST_TIMEOUT_MS });
}

// Raw HTTP: fetch with a deadline; resolves to {status, headers, text, json} (json null when not JSON).
export async function http(server, method, pathname, { body, headers = {}, timeout = REQUEST_TIMEOUT_MS } = {}) {
  const resp = await fetch(server.url + pathname, {
    method, headers, body, signal: AbortSignal.timeout(timeout),
  });
  const text = await resp.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: resp.status, headers: resp.headers, text, json };
}

export const postJSON = (server, pathname, obj, headers = {}) =>
  http(server, "POST", pathname, { body: typeof obj === "string" ? obj : JSON.stringify(obj),
                                   headers: { "Content-Type": "application/json", ...headers } });

// A prompt that makes tiny-qwen3 think: the Qwen3 template opens <think> itself; a thinking budget makes
// the server close it, so a reply has both reasoning_content and content.
export const THINK_PROMPT = [{ role: "user", content: "Question: what is 12+35? Think step by step." }];

// Collects a streamed chat completion (openai client stream) into per-choice texts and the usage.
export async function collectChat(stream) {
  const choices = new Map();
  let usage = null, chunks = 0, order = [];
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      if (!choices.has(ch.index)) choices.set(ch.index, { content: "", reasoning: "", finish_reason: null, phases: [] });
      const c = choices.get(ch.index);
      const d = ch.delta || {};
      if (d.reasoning_content) { c.reasoning += d.reasoning_content; c.phases.push("r"); }
      if (d.content) { c.content += d.content; c.phases.push("c"); }
      if (ch.finish_reason) c.finish_reason = ch.finish_reason;
      order.push(ch.index);
    }
  }
  return { choices, usage, chunks, order };
}

// The OpenAI error shape: {"error": {"message": string, "type": string, "param": ..., "code": ...}}.
export function assertErrorShape(assert, json, what) {
  assert.ok(json && typeof json === "object", `${what}: body is JSON`);
  assert.ok(json.error && typeof json.error === "object", `${what}: has an "error" object: ${JSON.stringify(json)}`);
  assert.equal(typeof json.error.message, "string", `${what}: error.message is a string`);
  assert.ok(json.error.message.length > 0, `${what}: error.message is not empty`);
  assert.equal(typeof json.error.type, "string", `${what}: error.type is a string`);
  assert.ok("param" in json.error, `${what}: error has "param" (null allowed)`);
  assert.ok("code" in json.error, `${what}: error has "code" (null allowed)`);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() (async, truthy = done) every stepMs until it holds or timeoutMs passes.
export async function waitFor(fn, what, { timeoutMs = 20000, stepMs = 20 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(stepMs);
  }
}

// Whether text is a prefix of some valid JSON text (RFC 8259), e.g. a json_object reply cut by max_tokens.
// A pushdown check over the characters: containers, strings (escapes; no raw control characters), numbers,
// literals; at the end any unfinished state is fine. Returns null when it is a valid prefix, else why not.
export function jsonPrefixError(text) {
  const stack = [];              // '{' or '['
  let state = "value";           // value | after-value | key | colon | string | literal | number
  let strIsKey = false, esc = 0, lit = "", num = "";
  const afterValue = () => { state = stack.length ? "after-value" : "done"; };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const ws = c === " " || c === "\t" || c === "\n" || c === "\r";
    if (state === "string") {
      if (esc > 0) {
        if (esc === 1) {
          if (c === "u") { esc = 5; continue; }
          if (!"\"\\/bfnrt".includes(c)) return `bad escape \\${c} at ${i}`;
          esc = 0; continue;
        }
        if (!/[0-9a-fA-F]/.test(c)) return `bad \\u escape at ${i}`;
        esc = esc === 2 ? 0 : esc - 1; continue;
      }
      if (c === "\\") { esc = 1; continue; }
      if (c === "\"") { if (strIsKey) state = "colon"; else afterValue(); continue; }
      if (c.charCodeAt(0) < 0x20) return `raw control character U+${c.charCodeAt(0).toString(16).padStart(4, "0")} in a string at ${i}`;
      continue;
    }
    if (state === "literal") {
      const want = ["true", "false", "null"].find((w) => w.startsWith(lit + c));
      if (want) { lit += c; if (lit === want) afterValue(); continue; }
      return `bad literal ${lit + c} at ${i}`;
    }
    if (state === "number") {
      if (/[0-9+\-.eE]/.test(c)) { num += c; if (!/^-?(0|[1-9]\d*)?(\.\d*)?([eE][+-]?\d*)?$/.test(num)) return `bad number ${num} at ${i}`; continue; }
      if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(num)) return `bad number ${num} at ${i}`;
      afterValue();
      // fall through: c is handled below
    }
    if (ws) continue;
    if (state === "done") return `text after the JSON value at ${i}`;
    if (state === "value") {
      if (c === "{") { stack.push("{"); state = "key-or-end"; continue; }
      if (c === "[") { stack.push("["); state = "value-or-end"; continue; }
      if (c === "\"") { state = "string"; strIsKey = false; continue; }
      if ("tfn".includes(c)) { state = "literal"; lit = c; continue; }
      if (/[-0-9]/.test(c)) { state = "number"; num = c; continue; }
      return `unexpected ${JSON.stringify(c)} where a value starts, at ${i}`;
    }
    if (state === "key-or-end" || state === "key") {
      if (c === "}" && state === "key-or-end") { stack.pop(); afterValue(); continue; }
      if (c === "\"") { state = "string"; strIsKey = true; continue; }
      return `unexpected ${JSON.stringify(c)} where a key starts, at ${i}`;
    }
    if (state === "value-or-end") {
      if (c === "]") { stack.pop(); afterValue(); continue; }
      state = "value"; i--; continue;
    }
    if (state === "colon") {
      if (c === ":") { state = "value"; continue; }
      return `expected ':' at ${i}`;
    }
    if (state === "after-value") {
      const top = stack[stack.length - 1];
      if (c === ",") { state = top === "{" ? "key" : "value"; continue; }
      if ((c === "}" && top === "{") || (c === "]" && top === "[")) { stack.pop(); afterValue(); continue; }
      return `unexpected ${JSON.stringify(c)} after a value, at ${i}`;
    }
  }
  return null;
}
