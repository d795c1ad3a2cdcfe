// The JavaScript API from ESM, against the packed tarballs installed into a fresh project.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { SimulatorError, connect, runReplays, startSimulator } from "bland-sms-sim";

const USER = "+15550001111";
const AGENT = "+15550002222";

test("every method", async () => {
  const sim = await startSimulator({
    manualClock: true,
    seed: 7,
    startTime: "2026-01-01T12:00:00Z",
    args: ["--request-log", "5000"],
  });
  try {
    assert.match(sim.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(sim.apiKey, "sk_sim_default");
    const replies = await sim.inbound({ user: USER, agent: AGENT, text: "bye" });
    assert.deepEqual(replies, ["Thanks for chatting. Goodbye!"]);
    assert.equal((await sim.advance(60)).now, "2026-01-01T12:01:00.000Z");
    assert.deepEqual(await sim.webhooks(), []);
    assert.equal((await sim.requests())[0].path, "/_sim/inbound");
    const doc = await sim.state();
    await sim.reset();
    assert.deepEqual(await sim.requests(), []);
    assert.equal((await sim.loadState(doc)).status, "replaced");
    const rule = await sim.addFault({ path: "/v1/sms/send", status: 503, error: "DOWN" });
    assert.ok(rule.id);
    await assert.rejects(
      sim.call("POST", "/v1/sms/send", { user_number: USER, agent_number: AGENT, agent_message: "x" }),
      (e) => e instanceof SimulatorError && e.status === 503 && e.code === "DOWN",
    );
    await sim.clearFaults();
    const sent = await sim.call("POST", "/v1/sms/send", { user_number: USER, agent_number: AGENT, agent_message: "x" });
    assert.equal(sent.data.status, "processing");
    await assert.rejects(
      sim.waitForWebhooks({ count: 1, timeoutMs: 100 }),
      (e) => e instanceof SimulatorError && e.status === 408 && e.code === "WAIT_TIMEOUT",
    );
    const running = connect(sim.baseUrl);
    assert.equal(running.apiKey, "sk_sim_default");
    assert.ok((await running.requests()).length > 0);
    await running.stop(); // leaves it running
    assert.ok((await sim.requests()).length > 0);
  } finally {
    await sim.stop();
  }
});

test("fixtures and scenarios as objects", async () => {
  const sim = await startSimulator({
    manualClock: true,
    fixtures: { accounts: [{ api_key: "sk_js", numbers: [{ phone_number: "+15557770000" }] }] },
    scenarios: [
      {
        version: 1,
        name: "echo",
        default: true,
        start_node: "a",
        nodes: { a: { rules: [{ when: "any", reply: "echo: {{message}}" }] } },
      },
    ],
  });
  try {
    assert.equal(sim.apiKey, "sk_js");
    assert.deepEqual(await sim.inbound({ user: USER, agent: "+15557770000", text: "ping" }), ["echo: ping"]);
  } finally {
    await sim.stop();
  }
});

test("a webhook reaches a local receiver, signed", async () => {
  const got = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      got.push({ body: Buffer.concat(chunks), signature: req.headers["x-webhook-signature"] });
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const sim = await startSimulator({
    manualClock: true,
    webhookUrl: `http://127.0.0.1:${server.address().port}/hook`,
  });
  try {
    await sim.inbound({ user: USER, agent: AGENT, text: "hello" });
    const delivered = await sim.waitForWebhooks({ count: 2, timeoutMs: 5000, type: "message" });
    assert.ok(delivered.length >= 2);
  } finally {
    await sim.stop();
    server.close();
  }
  const { body, signature } = got[0];
  assert.equal(signature, createHmac("sha256", "whsec_bland_sim_default").update(body).digest("hex"));
  assert.equal(JSON.parse(body).type, "message");
});

test("a bad flag rejects with the process's words", async () => {
  await assert.rejects(
    startSimulator({ args: ["--no-such-flag"] }),
    (e) => e instanceof SimulatorError && e.code === "START_FAILED" && e.message.includes("--no-such-flag"),
  );
});

test("replay scripts: one result each, the failing step and its diff", async () => {
  const dir = mkdtempSync(join(tmpdir(), "replays-"));
  const setup = { user_number: USER, agent_number: AGENT };
  writeFileSync(
    join(dir, "good.replay.json"),
    JSON.stringify({ name: "goodbye", setup, steps: [{ user: "bye", replies: ["Thanks for chatting. Goodbye!"] }] }),
  );
  writeFileSync(
    join(dir, "bad.replay.json"),
    JSON.stringify({ name: "wrong reply", setup, steps: [{ user: "hi", replies: ["something else"] }] }),
  );
  const results = await runReplays([join(dir, "good.replay.json"), join(dir, "bad.replay.json")]);
  assert.deepEqual(
    results.map((r) => [r.name, r.passed]),
    [
      ["goodbye", true],
      ["wrong reply", false],
    ],
  );
  assert.match(results[1].failure.step, /step 1/);
  assert.match(JSON.stringify(results[1].failure.diff), /something else/);
  // Against a running simulator: the scripts run there.
  const running = await startSimulator({ manualClock: true });
  try {
    const there = await runReplays([join(dir, "good.replay.json")], { url: running.baseUrl, timeoutMs: 500 });
    assert.deepEqual(there.map((r) => [r.name, r.passed]), [["goodbye", true]]);
    const texts = (await running.requests()).filter((r) => r.path === "/_sim/inbound").map((r) => r.body.message);
    assert.deepEqual(texts, ["bye"]);
  } finally {
    await running.stop();
  }
});
