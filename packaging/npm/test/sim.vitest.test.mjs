// Vitest with the package's global setup: one simulator for the run, reset before each test.
import { beforeEach, expect, test } from "vitest";
import { connect } from "bland-sms-sim";
import { injectedSimulator } from "bland-sms-sim/vitest";

const { baseUrl, apiKey } = injectedSimulator();
const sim = connect(baseUrl);
beforeEach(() => sim.reset());

test("the injected simulator answers", async () => {
  expect(apiKey).toBe("sk_sim_default");
  const replies = await sim.inbound({ user: "+15550001111", agent: "+15550002222", text: "bye" });
  expect(replies).toEqual(["Thanks for chatting. Goodbye!"]);
  expect(await sim.requests()).toHaveLength(1);
});

test("each test starts from a reset", async () => {
  expect(await sim.requests()).toHaveLength(0);
});
