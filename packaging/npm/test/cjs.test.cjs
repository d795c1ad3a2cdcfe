// The same package from CommonJS.
const assert = require("node:assert/strict");
const { test } = require("node:test");
const { startSimulator, SimulatorError } = require("bland-sms-sim");

test("require works and a simulator starts and stops", async () => {
  const sim = await startSimulator({ manualClock: true });
  try {
    assert.equal(typeof SimulatorError, "function");
    const replies = await sim.inbound({ user: "+15550001111", agent: "+15550002222", text: "bye" });
    assert.deepEqual(replies, ["Thanks for chatting. Goodbye!"]);
  } finally {
    await sim.stop();
  }
});
