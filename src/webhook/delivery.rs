//! A delivery in the log: its exact body and signature, every attempt, where it stands, and
//! its views for `/_sim/webhooks` and the §3.15 webhook log.

use serde_json::{json, Value};

use crate::clock::iso;
use crate::event::Event;
use crate::history::Body;

/// Why an attempt was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendType {
    /// The original delivery and its retries.
    Spawn,
    /// A re-delivery asked for through `/v1/sms/conversations/webhooks/resend`.
    Resend,
}

impl SendType {
    pub fn as_str(self) -> &'static str {
        match self {
            SendType::Spawn => "spawn",
            SendType::Resend => "resend",
        }
    }
}

/// One HTTP attempt of a delivery.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    pub sent_at: i64,
    pub response_code: Option<u16>,
    pub response_time_ms: u64,
    pub error: Option<String>,
    pub send_type: SendType,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Pending,
    Delivered,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Failed => "failed",
        }
    }
}

/// A webhook to deliver: the exact bytes and signature, and every attempt so far.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub id: u64,
    pub user_id: String,
    pub conversation_id: String,
    pub event: Event,
    pub url: String,
    pub body: Body,
    pub signature: String,
    pub created_at: i64,
    pub attempts: Vec<Attempt>,
    pub state: State,
    pub next_attempt_at: Option<i64>,
    /// The log's generation when it was made.
    pub generation: u64,
}

impl Delivery {
    fn payload(&self) -> Value {
        serde_json::from_slice(&self.body.to_bytes()).unwrap_or(Value::Null)
    }
    /// The `/_sim/webhooks` view.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "conversation_id": self.conversation_id,
            "type": self.event.kind(),
            "event": self.event.as_str(),
            "url": self.url,
            "status": self.state.as_str(),
            "signature": self.signature,
            "created_at": iso(self.created_at),
            "next_attempt_at": self.next_attempt_at.map(iso),
            "attempts": self.attempts.iter().enumerate().map(|(i, a)| json!({
                "attempt": i + 1,
                "sent_at": iso(a.sent_at),
                "response_code": a.response_code,
                "response_time": format!("{}ms", a.response_time_ms),
                "error_message": a.error,
                "send_type": a.send_type.as_str(),
            })).collect::<Vec<_>>(),
            "payload": self.payload(),
        })
    }
    /// The §3.15 webhook-log view.
    pub fn log_json(&self) -> Value {
        json!({
            "conversation_id": self.conversation_id,
            "url": self.url,
            "payload": self.payload(),
            "created_at": iso(self.created_at),
            "user_id": self.user_id,
            "metadata": self.attempts.iter().map(|a| json!({
                "sent_at": iso(a.sent_at),
                "response_code": a.response_code,
                "response_time": format!("{}ms", a.response_time_ms),
                "send_type": a.send_type.as_str(),
                "error_message": a.error,
            })).collect::<Vec<_>>(),
        })
    }
}
