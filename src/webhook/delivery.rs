//! A delivery in the log: its exact body and signature, every attempt, where it stands, and
//! its views for `/_sim/webhooks` and the §3.15 webhook log.

use serde_json::{json, Value};

use crate::base::clock::iso;
use crate::base::event::Event;
use crate::state::history::Body;

/// Why an attempt was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendType {
    /// The original delivery and its retries.
    Spawn,
    /// A re-delivery of the stored payload through `/v1/sms/conversations/webhooks/resend`.
    Resend,
    /// A re-delivery through the same endpoint of a payload rebuilt from the conversation.
    Rebuild,
}

impl SendType {
    pub fn as_str(self) -> &'static str {
        match self {
            SendType::Spawn => "spawn",
            SendType::Resend => "resend",
            SendType::Rebuild => "rebuild",
        }
    }
}

/// One HTTP attempt of a delivery.
#[derive(Clone, Debug)]
pub(crate) struct Attempt {
    pub sent_at: i64,
    pub response_code: Option<u16>,
    /// The start of the receiver's answer ([`MAX_ANSWER_TEXT`] bytes at most), for tests
    /// that show what the app said.
    pub response_body: Option<Box<str>>,
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
    /// The latest [`MAX_KEPT_ATTEMPTS`] attempts (use [`Delivery::add_attempt`]).
    pub attempts: Vec<Attempt>,
    /// Attempts made before those kept.
    pub earlier_attempts: u32,
    /// Attempts of the original delivery and its retries (not resends), for the schedule.
    pub spawned: u32,
    pub state: State,
    pub next_attempt_at: Option<i64>,
    /// The log's generation when it was made.
    pub generation: u64,
    /// How many requests had arrived when it was made (the journal's arrival order), for a
    /// recording to tell which step caused it.
    pub after: u64,
}

/// Attempts a delivery keeps (resends can add any number): the oldest go first.
pub(crate) const MAX_KEPT_ATTEMPTS: usize = 20;
/// Bytes of an attempt's error text kept.
pub(crate) const MAX_ERROR_TEXT: usize = 160;
/// Bytes of the receiver's answer an attempt keeps.
pub(crate) const MAX_ANSWER_TEXT: usize = 256;
/// What a delivery counts for its attempts, kept at most [`MAX_KEPT_ATTEMPTS`].
pub(crate) const ATTEMPTS_BYTES: usize =
    MAX_KEPT_ATTEMPTS * (std::mem::size_of::<Attempt>() + MAX_ERROR_TEXT + MAX_ANSWER_TEXT);

impl Delivery {
    /// Adds an attempt, dropping the oldest past [`MAX_KEPT_ATTEMPTS`], its error text cut to
    /// [`MAX_ERROR_TEXT`].
    pub fn add_attempt(&mut self, mut a: Attempt) {
        if let Some(e) = &mut a.error {
            if e.len() > MAX_ERROR_TEXT {
                let keep = crate::base::input::prefix(e, MAX_ERROR_TEXT).len();
                e.truncate(keep);
            }
            e.shrink_to_fit();
        }
        if a.send_type == SendType::Spawn {
            self.spawned += 1;
        }
        if self.attempts.len() >= MAX_KEPT_ATTEMPTS {
            self.attempts.remove(0);
            self.earlier_attempts += 1;
        }
        self.attempts.push(a);
    }

    /// Every attempt made, kept or not.
    pub fn attempt_count(&self) -> usize {
        self.earlier_attempts as usize + self.attempts.len()
    }

    fn payload(&self) -> Value {
        serde_json::from_slice(&self.body.to_bytes()).unwrap_or(Value::Null)
    }
    /// The `/_sim/webhooks` view.
    pub fn to_json(&self) -> Value {
        self.view(self.payload())
    }

    /// The `/_sim/webhooks` list's view: the payload without its `chat_history` (which grows
    /// with the conversation), and how many items it has. Costs the delivery's own bytes.
    pub fn summary_json(&self) -> Value {
        let Some((_, n)) = &self.body.history else {
            return self.to_json();
        };
        let mut bytes = Vec::with_capacity(self.body.own_len() + 2);
        bytes.extend_from_slice(&self.body.head);
        bytes.extend_from_slice(b"[]");
        bytes.extend_from_slice(&self.body.tail);
        let mut payload: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(m) = payload.as_object_mut() {
            m.remove("chat_history");
        }
        let mut v = self.view(payload);
        v["chat_history_length"] = json!(n);
        v
    }

    /// About the bytes [`Delivery::to_json`] answers with.
    pub fn full_len(&self) -> usize {
        let mut n = 512 + self.url.len() + 200 * self.attempts.len();
        self.body.for_each_piece(|p| n += p.len());
        n
    }

    fn view(&self, payload: Value) -> Value {
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
                "attempt": self.earlier_attempts as usize + i + 1,
                "sent_at": iso(a.sent_at),
                "response_code": a.response_code,
                "response_time": format!("{}ms", a.response_time_ms),
                "error_message": a.error,
                "response_body": a.response_body,
                "send_type": a.send_type.as_str(),
            })).collect::<Vec<_>>(),
            "payload": payload,
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
