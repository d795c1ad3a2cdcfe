//! Webhook bodies (§5), written straight into bytes from the conversation: the fields message
//! and status webhooks share, then each kind's own. Nothing is built as a JSON tree first, so a
//! long conversation's `chat_history` costs one pass over its messages.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::iso;
use crate::model::{Conversation, Message, Sender};
use crate::webhook::Status;

/// One `chat_history` item.
#[derive(Serialize)]
struct HistoryItem<'a> {
    id: &'a str,
    sender: Sender,
    message: &'a str,
    created_at: String,
}

/// The visible messages as `chat_history`.
struct History<'a>(&'a [Message]);

impl Serialize for History<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().filter(|m| !m.deleted).map(|m| HistoryItem {
            id: &m.id,
            sender: m.sender,
            message: &m.message,
            created_at: iso(m.created_at),
        }))
    }
}

/// The fields both kinds share.
#[derive(Serialize)]
struct Common<'a> {
    conversation_id: &'a str,
    phone_number: &'a str,
    agent_number: &'a str,
    channel: &'static str,
    pathway_id: &'a Option<String>,
    pathway_version: &'a Option<String>,
    chat_history: History<'a>,
    variables: &'a Option<Map<String, Value>>,
    metadata: Map<String, Value>,
    pathway_tags: Option<()>,
}

fn common(c: &Conversation) -> Common<'_> {
    let mut metadata = c.metadata.clone();
    if let Some(h) = &c.handoff {
        let mut m = h.metadata.clone();
        m.insert("reason".into(), json!(h.reason));
        metadata.insert("human_handoff".into(), Value::Object(m));
    }
    Common {
        conversation_id: &c.id,
        phone_number: &c.user_number,
        agent_number: &c.agent_number,
        channel: c.channel.as_str(),
        pathway_id: &c.curr_pathway_id,
        pathway_version: &c.curr_pathway_version,
        chat_history: History(&c.messages),
        variables: &c.variables,
        metadata,
        pathway_tags: None,
    }
}

#[derive(Serialize)]
struct MessageBody<'a> {
    #[serde(flatten)]
    common: Common<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    message_id: &'a str,
    message: &'a str,
    sender: Sender,
    created_at: String,
}

#[derive(Serialize)]
struct StatusBody<'a> {
    #[serde(flatten)]
    common: Common<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    message_count: usize,
    concatenated_transcript: String,
    created_at: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

/// A message webhook's body.
pub(super) fn message(c: &Conversation, m: &Message) -> Vec<u8> {
    let body = MessageBody {
        common: common(c),
        kind: "message",
        message_id: &m.id,
        message: &m.message,
        sender: m.sender,
        created_at: iso(m.created_at),
    };
    serde_json::to_vec(&body).expect("a webhook body serializes")
}

/// A status webhook's body, with `extra` fields (outcomes, reason, actor…) last.
pub(super) fn status(
    c: &Conversation,
    status: Status,
    now: i64,
    extra: Map<String, Value>,
) -> Vec<u8> {
    let transcript: Vec<String> = c
        .visible_messages()
        .map(|m| format!("{}: {}", m.sender.transcript_label(), m.message))
        .collect();
    let body = StatusBody {
        common: common(c),
        kind: "status",
        status: status.as_str(),
        message_count: c.message_count(),
        concatenated_transcript: transcript.join("\n"),
        created_at: iso(now),
        extra,
    };
    serde_json::to_vec(&body).expect("a webhook body serializes")
}
