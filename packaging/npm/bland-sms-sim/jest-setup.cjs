"use strict";
// Jest `globalSetup`: starts one simulator for the run; tests read BLAND_SMS_SIM_URL and
// BLAND_SMS_SIM_API_KEY (and `connect(process.env.BLAND_SMS_SIM_URL)` gives a client).
const { startSimulator } = require("./lib.cjs");

module.exports = async function setup() {
  const sim = await startSimulator({ manualClock: true });
  globalThis.__BLAND_SMS_SIM__ = sim;
  process.env.BLAND_SMS_SIM_URL = sim.baseUrl;
  process.env.BLAND_SMS_SIM_API_KEY = sim.apiKey;
};
