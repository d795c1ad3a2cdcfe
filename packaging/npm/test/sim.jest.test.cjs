// Jest with the package's global setup and teardown.
const { connect } = require("bland-sms-sim");
test("the simulator from the global setup answers", async () => {
  const sim = connect(process.env.BLAND_SMS_SIM_URL);
  await sim.reset();
  const replies = await sim.inbound({ user: "+15550001111", agent: "+15550002222", text: "bye" });
  expect(replies).toEqual(["Thanks for chatting. Goodbye!"]);
});
