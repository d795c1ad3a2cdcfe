// Vitest: `globalSetup: ["bland-sms-sim/vitest"]` starts one simulator for the run (manual
// clock; or, when BLAND_SMS_SIM_URL is set already, as in CI with the image as a service, uses
// that one), provides its URL and key (`inject("blandSimulator")`) and sets BLAND_SMS_SIM_URL and
// BLAND_SMS_SIM_API_KEY for the workers (not BLAND_SIM_*: the binary reads those as its flags); in a test, `injectedSimulator()` gives them back and
// `connect(baseUrl)` a client (`beforeEach(() => connect(baseUrl).reset())`). This module does
// not import "vitest" itself: a global setup runs outside Vitest's test context.
import { connect, startSimulator } from "./index.js";

export default async function setup(project) {
  const running = process.env.BLAND_SMS_SIM_URL;
  const sim = running ? connect(running) : await startSimulator({ manualClock: true });
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
