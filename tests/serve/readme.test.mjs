// tests/serve/readme.test.mjs — the client examples of README.md's `ponder serve` section run as written
// against a server on the fixture model: the curl commands (the JSON reply parses and has reasoning_content;
// the SSE reply ends with data: [DONE]), the Node example (the openai npm client, streaming) and, when
// python3 has the `openai` package, the Python example. Only the address (127.0.0.1:8080 -> the test's
// port) and the model id (arith-reasoner -> tiny-qwen3) are replaced. (tests/cli/test_readme.sh runs the
// README's `ponder serve` line itself, on the demo model.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, stopClean, MODEL_ID } from "./lib.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const README = path.join(HERE, "..", "..", "README.md");
const T = { timeout: 240000 }; // generous: ASan builds on a loaded machine are ~5x slower

// the fenced blocks of the README section whose heading mentions `ponder serve`: [{lang, text}]
function serveBlocks() {
  const lines = readFileSync(README, "utf8").split("\n");
  const start = lines.findIndex((l) => /^#+ .*`ponder serve`/.test(l));
  assert.ok(start >= 0, "README has a `ponder serve` section");
  let end = lines.findIndex((l, i) => i > start && /^#+ /.test(l));
  if (end < 0) end = lines.length;
  const blocks = [];
  let cur = null;
  for (const l of lines.slice(start + 1, end)) {
    const fence = /^```(\w*)\s*$/.exec(l);
    if (fence && !cur) cur = { lang: fence[1], lines: [] };
    else if (fence && cur) { blocks.push({ lang: cur.lang, text: cur.lines.join("\n") }); cur = null; }
    else if (cur) cur.lines.push(l);
  }
  return blocks;
}

let server;
const retarget = (s) => s.replaceAll("http://127.0.0.1:8080", server.url).replaceAll("arith-reasoner", MODEL_ID);
before(async () => { server = await startServer(["--parallel", "2"]); });
after(() => stopClean(assert, server));

test("the README's curl examples", T, async () => {
  const curls = serveBlocks().filter((b) => b.lang === "sh" && b.text.startsWith("curl "));
  assert.equal(curls.length, 2, "a non-streaming and a streaming curl example");
  for (const b of curls) {
    const out = execFileSync("bash", ["-c", retarget(b.text)], { timeout: 60000, encoding: "utf8" });
    if (b.text.includes('"stream": true')) {
      const data = out.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
      assert.equal(data.at(-1), "[DONE]", "the stream ends with data: [DONE]");
      const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
      const d = chunks.map((c) => c.choices[0]?.delta ?? {});
      assert.ok(d.some((x) => x.reasoning_content || x.content), "text deltas");
      assert.ok(chunks.at(-1).usage, "include_usage: a usage chunk last");
    } else {
      const r = JSON.parse(out);
      assert.equal(r.object, "chat.completion", out);
      // (tiny-qwen3 at temperature 0 thinks in newlines, which the reply trims away: count the tokens instead)
      const rt = r.usage.completion_tokens_details.reasoning_tokens;
      assert.ok(rt >= 1 && rt <= 64 + 3, `thinking_budget 64 opened and bounded the thinking (${rt} tokens)`);
    }
  }
});

test("the README's Node example", T, async () => {
  const js = serveBlocks().filter((b) => b.lang === "js");
  assert.equal(js.length, 1);
  const file = path.join(HERE, ".readme-example.mjs"); // here, so that `openai` resolves from node_modules
  writeFileSync(file, retarget(js[0].text));
  try {
    const r = spawnSync(process.execPath, [file], { timeout: 60000, encoding: "utf8" });
    assert.equal(r.status, 0, `node example exits 0: ${r.stderr}`);
    assert.match(r.stdout, /completion_tokens/, "it printed the usage");
    assert.ok(r.stdout.length > 40, "it printed the thinking and the answer");
  } finally {
    rmSync(file, { force: true });
  }
});

test("the README's Python example (when python3 has openai)", T, async (t) => {
  const py = serveBlocks().filter((b) => b.lang === "python");
  assert.equal(py.length, 1);
  if (spawnSync("python3", ["-c", "import openai"]).status !== 0) {
    t.skip("python3 has no openai package (pip install openai to run it)");
    return;
  }
  const r = spawnSync("python3", ["-c", retarget(py[0].text)], { timeout: 60000, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.trim().split("\n").at(-1), /^\d+$/, "the last line is the reasoning token count");
});
