// A small app of the kind that integrates with Bland's SMS API: it texts a customer an
// appointment reminder through `POST /v1/sms/send` (with fetch), and records the customer's
// answers that Bland's webhook brings back. Point it at the simulator instead of
// https://api.bland.ai. No framework: node:http.
import { createServer } from "node:http";

export class ReminderApp {
  constructor({ blandUrl, apiKey, agentNumber }) {
    this.blandUrl = blandUrl.replace(/\/+$/, "");
    this.apiKey = apiKey;
    this.agentNumber = agentNumber;
    this.answers = new Map(); // conversation id -> the customer's texts
    this.webhookUrl = "";
  }

  /** Texts the customer; the conversation's id. */
  async remind(customer, when) {
    const res = await fetch(`${this.blandUrl}/v1/sms/send`, {
      method: "POST",
      headers: { authorization: this.apiKey, "content-type": "application/json" },
      body: JSON.stringify({
        user_number: customer,
        agent_number: this.agentNumber,
        agent_message: `Reminder: your appointment is ${when}. Reply to confirm.`,
        webhook: this.webhookUrl,
      }),
    });
    if (!res.ok) throw new Error(`Bland answered ${res.status}: ${await res.text()}`);
    return (await res.json()).data.conversation_id;
  }

  /** Listens for Bland's webhooks on a free local port. */
  async start() {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        const event = JSON.parse(body);
        if (event.type === "message" && event.sender === "USER") {
          const list = this.answers.get(event.conversation_id) ?? [];
          list.push(event.message);
          this.answers.set(event.conversation_id, list);
        }
        res.end();
      });
    });
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.webhookUrl = `http://127.0.0.1:${this.server.address().port}/bland`;
    return this;
  }

  stop() {
    this.server?.close();
  }
}
