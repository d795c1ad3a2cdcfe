"""The Python API against the installed wheel's binary: start and stop, every method, faults,
a signed webhook to a local receiver, and how a start fails."""

import datetime
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

import bland_sms_sim
from bland_sms_sim import Simulator, SimulatorError

USER, AGENT = "+15550001111", "+15550002222"
SECRET = "whsec_bland_sim_default"


def test_the_binary_is_the_installed_one_on_path():
    path = bland_sms_sim.find_binary()
    assert os.path.isfile(path)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("bland-sms-sim ")


def test_with_starts_on_a_free_port_and_stops_at_the_end():
    with Simulator(manual_clock=True, seed=7, start_time="2026-01-01T12:00:00Z") as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert sim.api_key == "sk_sim_default"
        proc = sim._proc
        assert proc.poll() is None
    assert proc.poll() is not None


def test_start_and_stop_without_with_and_several_at_once():
    a = Simulator(manual_clock=True).start()
    b = Simulator(manual_clock=True).start()
    try:
        assert a.base_url != b.base_url
        a.inbound(user=USER, agent=AGENT, text="only in a")
        assert a.requests() and not b.requests()
    finally:
        a.stop()
        b.stop()


def test_every_method(tmp_path):
    with Simulator(manual_clock=True, seed=7, start_time="2026-01-01T12:00:00Z",
                   args=["--request-log", "5000"]) as sim:
        replies = sim.inbound(user=USER, agent=AGENT, text="hi")
        # The default scenario answers any text with one of two lines, chosen by the seed.
        assert replies in (['Got it: "hi". Anything else?'], ['Thanks! You said "hi". Anything else?'])
        clock = sim.advance(60)
        assert clock["now"] == "2026-01-01T12:01:00.000Z"
        clock = sim.advance(datetime.timedelta(minutes=1))
        assert clock["now"] == "2026-01-01T12:02:00.000Z"
        assert sim.webhooks() == []  # no webhook URL
        journal = sim.requests()
        assert journal[0]["path"] == "/_sim/inbound"
        doc = sim.state()
        assert doc["accounts"][0]["api_key"] == "sk_sim_default"
        sim.reset()
        assert sim.requests() == []
        assert sim.load_state(doc)["status"] == "replaced"
        convs = doc["accounts"][0]["conversations"]
        assert len(sim.state()["accounts"][0]["conversations"]) == len(convs) == 1
        sent = sim.call("POST", "/v1/sms/send",
                        {"user_number": USER, "agent_number": AGENT, "agent_message": "x"})
        assert sent["data"]["status"] == "processing"


def test_fixtures_and_scenarios_may_be_documents():
    fixtures = {"accounts": [{"api_key": "sk_py", "numbers": [{"phone_number": "+15557770000"}]}]}
    scenario = {"version": 1, "name": "echo", "default": True, "start_node": "a",
                "nodes": {"a": {"rules": [{"when": "any", "reply": "echo: {{message}}"}]}}}
    with Simulator(manual_clock=True, fixtures=fixtures, scenarios=[scenario]) as sim:
        assert sim.api_key == "sk_py"
        assert sim.inbound(user=USER, agent="+15557770000", text="ping") == ["echo: ping"]


def test_a_fault_answers_in_the_envelope_and_is_cleared():
    with Simulator(manual_clock=True) as sim:
        rule = sim.add_fault({"path": "/v1/sms/send", "status": 503, "error": "UPSTREAM_DOWN"})
        assert rule["id"]
        with pytest.raises(SimulatorError) as e:
            sim.call("POST", "/v1/sms/send",
                     {"user_number": USER, "agent_number": AGENT, "agent_message": "x"})
        assert (e.value.status, e.value.code) == (503, "UPSTREAM_DOWN")
        sim.clear_faults()
        sim.call("POST", "/v1/sms/send",
                 {"user_number": USER, "agent_number": AGENT, "agent_message": "x"})


class _Receiver(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        _Receiver.got.append((body, self.headers["x-webhook-signature"]))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_webhook_reaches_a_local_receiver_signed():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with Simulator(manual_clock=True, webhook_url=url) as sim:
            sim.inbound(user=USER, agent=AGENT, text="hello")
            got = sim.wait_for_webhooks(count=2, timeout=5.0, type="message")
            assert len(got) >= 2
            assert len(sim.webhooks()) >= 2
    finally:
        server.shutdown()
    body, signature = _Receiver.got[0]
    assert signature == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert json.loads(body)["type"] == "message"


def test_a_webhook_to_a_host_name_is_resolved():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://localhost:{server.server_address[1]}/hook"
    _Receiver.got = []
    try:
        with Simulator(manual_clock=True, webhook_url=url) as sim:
            sim.inbound(user=USER, agent=AGENT, text="hello")
            got = sim.wait_for_webhooks(count=1, timeout=5.0)
            assert got[0]["status"] == "delivered", got[0]
    finally:
        server.shutdown()
    assert _Receiver.got


def test_a_wait_that_times_out_raises_408():
    with Simulator(manual_clock=True) as sim:
        with pytest.raises(SimulatorError) as e:
            sim.wait_for_webhooks(count=1, timeout=0.2)
        assert (e.value.status, e.value.code) == (408, "WAIT_TIMEOUT")


def test_connect_uses_a_running_simulator():
    with Simulator(manual_clock=True) as running:
        sim = Simulator.connect(running.base_url)
        assert sim.api_key == "sk_sim_default"
        sim.inbound(user=USER, agent=AGENT, text="hi")
        assert running.requests()
        sim.stop()  # leaves it running
        assert running._proc.poll() is None


def test_a_bad_flag_fails_with_the_process_words():
    with pytest.raises(SimulatorError) as e:
        Simulator(args=["--no-such-flag"]).start()
    assert e.value.code == "START_FAILED"
    assert "--no-such-flag" in e.value.message


def test_a_bad_fixtures_file_fails_naming_it(tmp_path):
    bad = tmp_path / "fixtures.json"
    bad.write_text('{"accounts": [{"api_key": ""}]}')
    with pytest.raises(SimulatorError) as e:
        Simulator(fixtures=str(bad)).start()
    assert "empty api_key" in e.value.message


def test_the_binary_can_be_another_one(tmp_path, monkeypatch):
    script = tmp_path / "fake-sim"
    script.write_text(f"#!{sys.executable}\nimport sys\nprint('not a simulator', file=sys.stderr)\nsys.exit(3)\n")
    script.chmod(0o755)
    monkeypatch.setenv("BLAND_SMS_SIM_BINARY", str(script))
    assert bland_sms_sim.find_binary() == str(script)
    with pytest.raises(SimulatorError) as e:
        Simulator().start()
    assert "not a simulator" in e.value.message
    monkeypatch.setenv("BLAND_SMS_SIM_BINARY", str(tmp_path / "missing"))
    with pytest.raises(SimulatorError) as e:
        Simulator().start()
    assert "BLAND_SMS_SIM_BINARY" in e.value.message


def test_a_simulator_stops_when_garbage_collected():
    import gc

    sim = Simulator(manual_clock=True).start()
    proc = sim._proc
    del sim
    gc.collect()
    proc.wait(timeout=10)
    assert proc.returncode is not None


def test_a_bland_pathway_plays_the_agent(tmp_path):
    # The team's pathway as Bland's CLI keeps it, and an overlay (a dict) that decides what a
    # language model decides in production.
    (tmp_path / "pathways").mkdir()
    (tmp_path / "pathways" / "support.yaml").write_text(
        "name: Support\n"
        "nodes:\n"
        "  Greeting:\n"
        "    type: Default\n"
        "    text: Hi! Is this about billing or shipping?\n"
        "    edges:\n"
        "      - target: Billing\n"
        "        label: Billing question\n"
        "      - target: Goodbye\n"
        "        label: Nothing else\n"
        "  Billing:\n"
        "    type: Default\n"
        "    prompt: Help with the bill.\n"
        "  Goodbye:\n"
        "    type: end_call\n"
        "    text: Bye!\n"
    )
    overlay = {
        "name": "support-overlay",
        "match": {"pathway_ids": ["pw_support"]},
        "pathway": {"nodes": [{"id": "start", "type": "Default",
                               "data": {"name": "Start", "isStart": True, "text": "Order number?"}}],
                    "edges": []},
    }
    with Simulator(manual_clock=True, scenarios=[str(tmp_path / "pathways"), overlay]) as sim:
        sent = sim.call("POST", "/v1/sms/send",
                        {"user_number": USER, "agent_number": AGENT, "pathway_id": "support"})
        cid = sent["data"]["conversation_id"]
        # Several ways on and no overlay rule: the node says its text again.
        assert sim.inbound(user=USER, agent=AGENT, text="billing please") == [
            "Hi! Is this about billing or shipping?"]
        conversation = sim.call("GET", f"/_sim/conversations/{cid}")["data"]
        assert conversation["pathway"]["node_name"] == "Greeting"
        names = [s["name"] for s in sim.call("GET", "/_sim/scenarios")["data"]]
        assert "support" in names and "support-overlay" in names
