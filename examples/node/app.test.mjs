// The app's test with node:test: a simulator started in `before`, stopped in `after`.
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";

import { startSimulator } from "bland-sms-sim";
import { ReminderApp } from "./app.mjs";

const AGENT = "+15550002222";
const CUSTOMER = "+15550001111";
let sim;
let app;

before(async () => {
  sim = await startSimulator({ manualClock: true });
});
after(() => sim.stop());
afterEach(async () => {
  app?.stop();
  await sim.reset();
});

test("the customer's answer reaches the app", async () => {
  app = await new ReminderApp({ blandUrl: sim.baseUrl, apiKey: sim.apiKey, agentNumber: AGENT }).start();
  const conversation = await app.remind(CUSTOMER, "tomorrow at 10:00");
  // The simulator delivers the message webhook to the app before inbound resolves.
  await sim.inbound({ user: CUSTOMER, agent: AGENT, text: "Confirmed, see you then" });
  assert.deepEqual(app.answers.get(conversation), ["Confirmed, see you then"]);
});

test("a failing Bland is an error the app sees", async () => {
  app = await new ReminderApp({ blandUrl: sim.baseUrl, apiKey: sim.apiKey, agentNumber: AGENT }).start();
  await sim.addFault({ path: "/v1/sms/send", status: 503, error: "SERVICE_UNAVAILABLE" });
  await assert.rejects(app.remind(CUSTOMER, "tomorrow"), /503/);
});
