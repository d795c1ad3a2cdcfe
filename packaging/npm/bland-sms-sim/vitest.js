// Vitest: `globalSetup: ["bland-sms-sim/vitest"]` starts one simulator for the run (manual
// clock), provides its URL and key (`inject("blandSimulator")`) and sets BLAND_SMS_SIM_URL and
// BLAND_SMS_SIM_API_KEY for the workers (not BLAND_SIM_*: the binary reads those as its flags); in a test, `injectedSimulator()` gives them back and
// `connect(baseUrl)` a client (`beforeEach(() => connect(baseUrl).reset())`). This module does
// not import "vitest" itself: a global setup runs outside Vitest's test context.
import { startSimulator } from "./index.js";

export default async function setup(project) {
  const sim = await startSimulator({ manualClock: true });
  const given = { baseUrl: sim.baseUrl, apiKey: sim.apiKey };
  project?.provide?.("blandSimulator", given);
  process.env.BLAND_SMS_SIM_URL = given.baseUrl;
  process.env.BLAND_SMS_SIM_API_KEY = given.apiKey;
  return async () => {
    await sim.stop();
  };
}

/** The simulator the global setup started: `{ baseUrl, apiKey }`. */
export function injectedSimulator() {
  const baseUrl = process.env.BLAND_SMS_SIM_URL;
  if (!baseUrl) {
    throw new Error('no simulator: add globalSetup: ["bland-sms-sim/vitest"] to the Vitest config');
  }
  return { baseUrl, apiKey: process.env.BLAND_SMS_SIM_API_KEY ?? "" };
}
