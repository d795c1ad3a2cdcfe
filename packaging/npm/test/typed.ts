// Type-checked with `tsc --noEmit`: the API and the types of Bland's bodies.
import { startSimulator, type Simulator, SimulatorError } from "bland-sms-sim";
import type { components } from "bland-sms-sim/types";

type SendRequest = components["schemas"]["SendRequest"];

export async function demo(): Promise<string[]> {
  const sim: Simulator = await startSimulator({ manualClock: true, seed: 7 });
  const body: SendRequest = { user_number: "+15550001111", agent_number: "+15550002222", agent_message: "hi" };
  await sim.call("POST", "/v1/sms/send", body);
  const replies: string[] = await sim.inbound({ user: "+15550001111", agent: "+15550002222", text: "hi" });
  try {
    await sim.waitForWebhooks({ count: 1, timeoutMs: 10 });
  } catch (e) {
    if (e instanceof SimulatorError && e.code === "WAIT_TIMEOUT") await sim.advance(1);
  }
  await sim.stop();
  return replies;
}
