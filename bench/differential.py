#!/usr/bin/env python3
"""The same conversation flow against two simulator binaries, compared: every answer (status,
body, warning header), every webhook delivery's exact bytes and signature, and the state
document. For a refactor that must not change behaviour. Loopback only; every wait is bounded.

    bench/differential.py OLD_BINARY NEW_BINARY
"""
import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

KEY = "sk_sim_default"
AGENT, BOOKING = "+15550002222", "+15550003333"


class Receiver(http.server.BaseHTTPRequestHandler):
    """Keeps every delivery's body and signature; answers 200."""

    got = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.got.append((body.decode(), self.headers.get("x-webhook-signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def call(base, method, path, body=None, key=KEY, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = {"content-type": "application/json", **(headers or {})}
    if key:
        h["authorization"] = key
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, text, warn = r.status, r.read().decode(), r.headers.get("x-bland-sim-warning")
    except urllib.error.HTTPError as e:
        status, text, warn = e.code, e.read().decode(), e.headers.get("x-bland-sim-warning")
    try:
        text = json.loads(text)
    except ValueError:
        pass
    return {"call": f"{method} {path}", "status": status, "body": text, "warning": warn}


def flow(base):
    """Every kind of request a client and a test make, in one deterministic order."""
    out = []
    c = lambda *a, **k: out.append(call(base, *a, **k)) or out[-1]
    sim = lambda m, p, b=None: c(m, p, b, key=None)
    first = c("POST", "/v1/sms/send", {"user_number": "+15551110001", "agent_number": AGENT,
                                       "agent_message": "Hi there", "extra_field": 1})
    cid = first["body"]["data"]["conversation_id"]
    for text in ["hello", "tell me more", "human please"]:
        sim("POST", "/_sim/inbound", {"user_number": "+15551110001", "agent_number": AGENT, "message": text})
    c("POST", "/v1/sms/send", {"user_number": "+15551110002", "agent_number": BOOKING,
                               "request_data": {"first_name": "Ada"}})
    sim("POST", "/_sim/inbound", {"user_number": "+15551110002", "agent_number": BOOKING, "message": "yes please"})
    sim("POST", "/_sim/inbound", {"user_number": "+15551110002", "agent_number": BOOKING, "message": "Tuesday at 3"})
    sim("POST", "/_sim/clock/advance", {"seconds": 10})
    c("POST", f"/v1/sms/conversations/{cid}/handoff", {"reason": "needs a person"})
    c("POST", f"/v1/sms/conversations/{cid}/messages", {"message": "A person here", "sender": "HUMAN"})
    c("POST", f"/v1/sms/conversations/{cid}/resume", {})
    c("PATCH", f"/v1/sms/conversations/{cid}", {"metadata": {"k": "v"}})
    c("GET", f"/v1/sms/conversations/{cid}")
    c("GET", "/v1/sms/conversations?agent_number=%2B15550002222&limit=10&sort_by=created_at")
    c("POST", f"/v1/sms/conversations/{cid}/end", {})
    sim("POST", "/_sim/inbound", {"user_number": "+15551110003", "agent_number": AGENT, "message": "STOP"})
    c("POST", "/v1/sms/send", {"user_number": "+15551110003", "agent_number": AGENT, "agent_message": "x"})
    c("POST", "/v1/sms/send", {"user_number": "not a number", "agent_number": AGENT})
    c("POST", "/v1/sms/send", {"agent_number": AGENT})
    c("POST", "/v1/sms/create", {"user_number": "+15551110004", "agent_number": AGENT, "message": "stored"})
    up = c("POST", "/v1/files/attach", {"file_type": "batches", "rows":
           "phone_number,name\n+15551110005,Bo\n+15551110003,Opted\nnope,Bad\n+15551110006,Cy\n"})
    fid = up["body"]["data"]["file_id"]
    c("POST", "/v1/sms/batch", {"file_id": fid, "global": {"agent_number": AGENT, "agent_message": "Hi {{name}}"}})
    sim("POST", "/_sim/clock/advance", {"seconds": 5})
    sim("GET", f"/_sim/batches/{fid}")
    c("POST", "/v1/sms/update", {"phone_number": AGENT, "prompt": "Be brief"})
    c("POST", "/v1/sms/toggle", {"phone_number": AGENT})
    c("POST", "/v1/sms/messages/get", {"phone_number": AGENT})
    c("POST", "/v1/sms/conversations/webhooks/resend", {"conversation_ids": [cid]})
    c("POST", "/v1/sms/analyze", {"conversation_id": cid, "goal": "booked?", "questions": [["booked?", "boolean"]]})
    sim("POST", "/_sim/clock/advance", {"seconds": 3600})
    c("DELETE", f"/v1/sms/conversations/{cid}/messages", {"message_ids": []})
    sim("GET", "/_sim/clock")
    time.sleep(1.0)  # the last deliveries' first attempts (real time, bounded)
    sim("GET", "/_sim/webhooks?payload=full&limit=1000")
    out.append({"call": "GET /_sim/state", "body": json.loads(urllib.request.urlopen(base + "/_sim/state", timeout=10).read())})
    return out


def real_time_out(v):
    """The answer without what real time decides (how long an attempt took)."""
    if isinstance(v, dict):
        return {k: real_time_out(x) for k, x in v.items() if k != "response_time"}
    if isinstance(v, list):
        return [real_time_out(x) for x in v]
    return v


def run(binary, hook):
    Receiver.got = []
    p = subprocess.Popen([binary, "--port", "0", "--clock", "manual", "--seed", "7",
                          "--start-time", "2026-03-02T15:00:00Z", "--webhook-url", hook],
                         stdout=subprocess.PIPE, text=True)
    try:
        base = p.stdout.readline().split()[-1]
        answers = real_time_out(flow(base))
        time.sleep(0.5)
        return answers, sorted(Receiver.got)
    finally:
        p.terminate()
        p.wait(timeout=10)


def main():
    old, new = sys.argv[1], sys.argv[2]
    # One receiver for both runs, so the webhook URL in the answers is the same.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    a_old, h_old = run(old, hook)
    a_new, h_new = run(new, hook)
    server.shutdown()
    differ = 0
    for x, y in zip(a_old, a_new):
        if x != y:
            differ += 1
            xs, ys = json.dumps(x), json.dumps(y)
            at = next((i for i, (p, q) in enumerate(zip(xs, ys)) if p != q), 0)
            print(f"DIFFERS: {x['call']}\n  old: …{xs[max(0, at - 80):at + 240]}\n  new: …{ys[max(0, at - 80):at + 240]}")
    if len(a_old) != len(a_new):
        differ += 1
        print(f"DIFFERS: {len(a_old)} answers against {len(a_new)}")
    if h_old != h_new:
        differ += 1
        print(f"DIFFERS: webhook deliveries ({len(h_old)} against {len(h_new)})")
    print(f"{len(a_new)} answers, {len(h_new)} webhook deliveries (bodies and signatures): "
          f"{'identical' if differ == 0 else f'{differ} differences'}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
