"use strict";
// Jest `globalTeardown`: stops the simulator `jest-setup` started.
module.exports = async function teardown() {
  await globalThis.__BLAND_SMS_SIM__?.stop();
};
