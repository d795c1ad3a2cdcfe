"use strict";
// Jest `globalSetup`: starts one simulator for the run (or, when BLAND_SMS_SIM_URL is set
// already, as in CI with the image as a service, uses that one); tests read BLAND_SMS_SIM_URL
// and BLAND_SMS_SIM_API_KEY (and `connect(process.env.BLAND_SMS_SIM_URL)` gives a client).
const { connect, startSimulator } = require("./lib.cjs");

module.exports = async function setup() {
  const running = process.env.BLAND_SMS_SIM_URL;
  const sim = running ? connect(running) : await startSimulator({ manualClock: true });
  globalThis.__BLAND_SMS_SIM__ = sim;
  process.env.BLAND_SMS_SIM_URL = sim.baseUrl;
  process.env.BLAND_SMS_SIM_API_KEY = sim.apiKey;
};
