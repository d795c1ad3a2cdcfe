"""The simulator's image under testcontainers-python: a text sent through Bland's API, the user's
answer played with /_sim/inbound, the agent's reply and the signed webhook checked.

    pip install "testcontainers>=4.13" pytest
    pytest testcontainers_test.py

Replace the receiver below with your app's webhook endpoint and the direct calls with your app's
code. testcontainers-python has no equivalent of Node's exposeHostPorts, so the container
reaches this machine as host.docker.internal, mapped to the Docker host's gateway
(`host-gateway`); the receiver therefore listens on every interface, not only 127.0.0.1.
"""

import hashlib
import hmac
import http.server
import json
import os
import threading
import urllib.request

import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy

IMAGE = os.environ.get("BLAND_SIM_IMAGE", "ghcr.io/bland-sms-sim/bland-sms-sim:0.1")
API_KEY, WEBHOOK_SECRET = "sk_sim_default", "whsec_bland_sim_default"
AGENT, USER = "+15550002222", "+15550001111"


@pytest.fixture(scope="module")
def webhooks():
    """A webhook receiver on a free port: (port, [(body bytes, X-Webhook-Signature)])."""
    received = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((body, self.headers.get("x-webhook-signature")))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], received
    server.shutdown()


@pytest.fixture(scope="module")
def simulator(webhooks):
    """The simulator's base URL, as this process reaches the container."""
    port, _ = webhooks
    container = (
        DockerContainer(IMAGE)
        .with_exposed_ports(8790)
        .with_env("BLAND_SIM_CLOCK", "manual")
        .with_env("BLAND_SIM_WEBHOOK_URL", f"http://host.docker.internal:{port}/bland/webhook")
        # The test reaches the container under whatever name Testcontainers gives (localhost,
        # a Docker-in-Docker host, a gateway address): admit any, for this throwaway container.
        .with_env("BLAND_SIM_ALLOWED_HOST", "*")
        .with_kwargs(extra_hosts={"host.docker.internal": "host-gateway"})
        .waiting_for(HttpWaitStrategy(8790, "/_sim/health").for_status_code(200))
    )
    with container:
        yield f"http://{container.get_container_host_ip()}:{container.get_exposed_port(8790)}"


def post(url, body, key=None):
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = key
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def test_the_agent_answers_and_the_webhook_arrives_signed(simulator, webhooks):
    sent = post(f"{simulator}/v1/sms/send", {"user_number": USER, "agent_number": AGENT}, API_KEY)
    got = post(
        f"{simulator}/_sim/inbound",
        {"user_number": USER, "agent_number": AGENT, "message": "bye"},
    )
    assert got["conversation_id"] == sent["conversation_id"]
    assert [reply["message"] for reply in got["replies"]] == ["Thanks for chatting. Goodbye!"]

    # /_sim/inbound returns once the webhooks it caused were tried: no polling needed.
    _, received = webhooks
    events = [json.loads(body) for body, _ in received]
    user_texts = [e["message"] for e in events if e["type"] == "message" and e["sender"] == "USER"]
    assert user_texts == ["bye"]
    for body, signature in received:
        assert signature == hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
