// The simulator's image under Testcontainers for Node: a text sent through Bland's API, the
// user's answer played with /_sim/inbound, the agent's reply and the signed webhook checked.
//
//   npm i -D testcontainers      (its current major needs Node 22 or later)
//   node --test testcontainers.test.mjs
//
// Replace the receiver below with your app's webhook endpoint and the direct calls with your
// app's code. TestContainers.exposeHostPorts makes a port of this machine reachable from
// containers as host.testcontainers.internal, so the receiver can stay on loopback.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { GenericContainer, TestContainers, Wait } from "testcontainers";

const IMAGE = process.env.BLAND_SIM_IMAGE ?? "ghcr.io/bland-sms-sim/bland-sms-sim:0.1";
const API_KEY = "sk_sim_default";
const WEBHOOK_SECRET = "whsec_bland_sim_default";
const AGENT = "+15550002222";
const USER = "+15550001111";

const received = []; // { body: Buffer, signature } per webhook delivery
let receiver;
let container;
let baseUrl;

before(async () => {
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      received.push({ body: Buffer.concat(chunks), signature: req.headers["x-webhook-signature"] });
      res.end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const port = receiver.address().port;
  await TestContainers.exposeHostPorts(port);

  container = await new GenericContainer(IMAGE)
    .withExposedPorts(8790)
    .withEnvironment({
      BLAND_SIM_CLOCK: "manual",
      BLAND_SIM_WEBHOOK_URL: `http://host.testcontainers.internal:${port}/bland/webhook`,
      // The test reaches the container under whatever name Testcontainers gives (localhost, a
      // Docker-in-Docker host): admit any, for this throwaway container.
      BLAND_SIM_ALLOWED_HOST: "*",
    })
    .withWaitStrategy(Wait.forHttp("/_sim/health", 8790))
    .start();
  baseUrl = `http://${container.getHost()}:${container.getMappedPort(8790)}`;
});

after(async () => {
  await container?.stop();
  receiver?.close();
});

async function post(path, body, key) {
  const headers = { "content-type": "application/json" };
  if (key) headers.authorization = key;
  const res = await fetch(baseUrl + path, { method: "POST", headers, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()).data;
}

test("the agent answers and the webhook arrives signed", async () => {
  const sent = await post("/v1/sms/send", { user_number: USER, agent_number: AGENT }, API_KEY);
  const got = await post("/_sim/inbound", {
    user_number: USER,
    agent_number: AGENT,
    message: "bye",
  });
  assert.equal(got.conversation_id, sent.conversation_id);
  assert.deepEqual(
    got.replies.map((r) => r.message),
    ["Thanks for chatting. Goodbye!"],
  );

  // /_sim/inbound resolves once the webhooks it caused were tried: no polling needed.
  const events = received.map((r) => JSON.parse(r.body.toString("utf8")));
  const userTexts = events
    .filter((e) => e.type === "message" && e.sender === "USER")
    .map((e) => e.message);
  assert.deepEqual(userTexts, ["bye"]);
  for (const { body, signature } of received) {
    assert.equal(signature, createHmac("sha256", WEBHOOK_SECRET).update(body).digest("hex"));
  }
});
