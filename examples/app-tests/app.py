"""An appointment-reminder app of the kind that integrates with Bland's SMS API.

- POST /appointments {"customer": "+1555…", "when": "Tuesday 3pm"} texts the customer a reminder
  through Bland (POST /v1/sms/send) and keeps the appointment, "pending", under the conversation's id.
- POST /bland/webhook takes Bland's webhook (signature checked): the customer's "yes"/"confirm"
  confirms the appointment; asking for a human/person/operator/agent hands the conversation off.
- GET /appointments/{conversation_id} answers {"status": …}.

Configured by the environment: BLAND_BASE_URL (the simulator in tests, https://api.bland.ai in
production), BLAND_API_KEY, BLAND_AGENT_NUMBER, BLAND_WEBHOOK_SECRET, PORT. APP_NO_HANDOFF=1 turns
the handoff off: a switch for showing what a failing replay looks like, nothing more.
"""

import hashlib
import hmac
import http.server
import json
import os
import re
import threading

import requests

BLAND = os.environ.get("BLAND_BASE_URL", "https://api.bland.ai").rstrip("/")
API_KEY = os.environ.get("BLAND_API_KEY", "sk_sim_default")
AGENT_NUMBER = os.environ.get("BLAND_AGENT_NUMBER", "+15550002222")
SECRET = os.environ.get("BLAND_WEBHOOK_SECRET", "whsec_bland_sim_default").encode()
PORT = int(os.environ.get("PORT", "8000"))
NO_HANDOFF = os.environ.get("APP_NO_HANDOFF") == "1"

CONFIRM = re.compile(r"\b(yes|confirm\w*)\b", re.IGNORECASE)
HUMAN = re.compile(r"\b(human|person|operator|agent)s?\b", re.IGNORECASE)

appointments = {}  # conversation id -> {"customer", "when", "status"}
lock = threading.Lock()


def bland(method, path, body):
    r = requests.request(method, BLAND + path, json=body, timeout=10,
                         headers={"authorization": API_KEY})
    r.raise_for_status()
    return r.json()["data"]


def book(customer, when):
    sent = bland("POST", "/v1/sms/send", {
        "user_number": customer,
        "agent_number": AGENT_NUMBER,
        "agent_message": f"Reminder: your appointment is {when}. Reply YES to confirm.",
    })
    conversation = sent["conversation_id"]
    with lock:
        appointments[conversation] = {"customer": customer, "when": when, "status": "pending"}
    return conversation


def on_webhook(event):
    if event.get("type") != "message" or event.get("sender") != "USER":
        return
    conversation, text = event["conversation_id"], event.get("message", "")
    if HUMAN.search(text):
        if not NO_HANDOFF:
            bland("POST", f"/v1/sms/conversations/{conversation}/handoff",
                  {"reason": "customer asked for a person"})
    elif CONFIRM.search(text):
        with lock:
            if conversation in appointments:
                appointments[conversation]["status"] = "confirmed"


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        match = re.fullmatch(r"/appointments/([^/]+)", self.path)
        with lock:
            found = match and appointments.get(match.group(1))
            if not found:
                return self.answer(404, {"error": "no such appointment"})
            self.answer(200, {"status": found["status"]})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path == "/appointments":
            body = json.loads(raw or b"{}")
            try:
                conversation = book(body["customer"], body["when"])
            except requests.RequestException as e:
                return self.answer(502, {"error": f"Bland refused the text: {e}"})
            return self.answer(201, {"conversation_id": conversation, "status": "pending"})
        if self.path == "/bland/webhook":
            expected = hmac.new(SECRET, raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self.headers.get("X-Webhook-Signature", "")):
                return self.answer(401, {"error": "bad signature"})
            try:
                on_webhook(json.loads(raw))
            except requests.RequestException as e:  # 500: Bland tries the webhook again later
                return self.answer(500, {"error": str(e)})
            return self.answer(200, {"ok": True})
        self.answer(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print(f"app listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
