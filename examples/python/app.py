"""A small app of the kind that integrates with Bland's SMS API: it texts a customer an
appointment reminder through `POST /v1/sms/send`, and records the customer's answers that
Bland's webhook brings back. Point it at the simulator instead of https://api.bland.ai."""

import http.server
import json
import threading
from collections import defaultdict

import requests


class ReminderApp:
    def __init__(self, bland_url: str, api_key: str, agent_number: str) -> None:
        self.bland_url = bland_url.rstrip("/")
        self.api_key = api_key
        self.agent_number = agent_number
        self.answers = defaultdict(list)  # conversation id -> the customer's texts
        self.webhook_url = ""
        self._server = None

    def remind(self, customer: str, when: str) -> str:
        """Texts the customer; the conversation's id."""
        r = requests.post(
            f"{self.bland_url}/v1/sms/send",
            headers={"authorization": self.api_key},
            json={
                "user_number": customer,
                "agent_number": self.agent_number,
                "agent_message": f"Reminder: your appointment is {when}. Reply to confirm.",
                "webhook": self.webhook_url,
            },
            timeout=10,
        )
        r.raise_for_status()
        return r.json()["data"]["conversation_id"]

    def start(self) -> "ReminderApp":
        """Listens for Bland's webhooks on a free local port."""
        app = self

        class Webhook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                event = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if event.get("type") == "message" and event.get("sender") == "USER":
                    app.answers[event["conversation_id"]].append(event["message"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.webhook_url = f"http://127.0.0.1:{self._server.server_address[1]}/bland"
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
