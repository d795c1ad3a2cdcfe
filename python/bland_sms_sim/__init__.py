"""bland-sms-sim for Python: start the Bland SMS API simulator from a test, point your client at
it, and drive the user's side, the clock and the inspection API.

    from bland_sms_sim import Simulator

    with Simulator(manual_clock=True, seed=7) as sim:
        replies = sim.inbound(user="+15550001111", agent="+15550002222", text="hi")
        sim.advance(60)
        assert sim.webhooks()

The simulator is the `bland-sms-sim` binary this package installs (or the one
`BLAND_SMS_SIM_BINARY` names); the package itself needs only the standard library. Installing it
also registers a pytest plugin (`bland_sim` and `bland` fixtures, `*.replay.json` as tests).
"""

from ._simulator import Simulator, SimulatorError, find_binary

__all__ = ["Simulator", "SimulatorError", "find_binary"]
