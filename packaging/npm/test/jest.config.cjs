module.exports = { globalSetup: "bland-sms-sim/jest-setup", globalTeardown: "bland-sms-sim/jest-teardown", testMatch: ["**/*.jest.test.cjs"] };
