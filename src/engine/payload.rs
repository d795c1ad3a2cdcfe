//! Webhook bodies (§5), written straight into bytes: the fields before `chat_history` (the
//! head), the conversation's shared `chat_history` list, then the rest (the tail). Field
//! order and bytes are those of one JSON object with these fields in this order.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::base::clock::iso;
use crate::base::event::Status;
use std::sync::Arc;

use crate::state::history::{Body, History};
use crate::state::model::{Conversation, MessageId, Sender};

/// The fields before `chat_history`.
#[derive(Serialize)]
struct Head<'a> {
    conversation_id: &'a str,
    phone_number: &'a str,
    agent_number: &'a str,
    channel: &'static str,
    pathway_id: &'a Option<String>,
    pathway_version: &'a Option<String>,
}

/// The fields after `chat_history` that both kinds share.
#[derive(Serialize)]
struct Shared<'a> {
    variables: Option<&'a Map<String, Value>>,
    metadata: Map<String, Value>,
    pathway_tags: Option<()>,
}

#[derive(Serialize)]
struct MessageTail<'a> {
    #[serde(flatten)]
    shared: Shared<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    message_id: &'a MessageId,
    message: &'a str,
    sender: Sender,
    created_at: String,
}

#[derive(Serialize)]
struct StatusTail<'a> {
    #[serde(flatten)]
    shared: Shared<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    message_count: usize,
    concatenated_transcript: String,
    created_at: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

fn shared(c: &Conversation) -> Shared<'_> {
    let mut metadata = (*c.details.metadata).clone();
    if let Some(h) = &c.handoff {
        let mut m = h.metadata.clone();
        m.insert("reason".into(), json!(h.reason));
        metadata.insert("human_handoff".into(), Value::Object(m));
    }
    Shared {
        variables: c.variables.as_deref(),
        metadata,
        pathway_tags: None,
    }
}

/// `{head fields,"chat_history":` + the conversation's history + `,tail fields}`.
fn body(c: &Conversation, history: (Arc<History>, usize), tail: &impl Serialize) -> Body {
    let head = Head {
        conversation_id: &c.id,
        phone_number: &c.user_number,
        agent_number: &c.agent_number,
        channel: c.channel_name(),
        pathway_id: &c.details.curr_pathway_id,
        pathway_version: &c.details.curr_pathway_version,
    };
    let mut head = serde_json::to_vec(&head).expect("a webhook head serializes");
    head.pop(); // the closing brace
    head.extend_from_slice(b",\"chat_history\":");
    let mut tail = serde_json::to_vec(tail).expect("a webhook tail serializes");
    tail[0] = b','; // the opening brace
    tail.shrink_to_fit();
    Body {
        head: head.into(),
        history: Some(history),
        tail: tail.into(),
    }
}

/// A message webhook's body.
pub(super) fn message(c: &mut Conversation, idx: usize) -> Body {
    let history = c.shared_history();
    let m = &c.messages[idx];
    let tail = MessageTail {
        shared: shared(c),
        kind: "message",
        message_id: &m.id(),
        message: &m.message,
        sender: m.sender(),
        created_at: iso(m.created_at()),
    };
    body(c, history, &tail)
}

/// A status webhook's body, with `extra` fields (outcomes, reason, actor…) last.
pub(crate) fn status(
    c: &mut Conversation,
    status: Status,
    now: i64,
    extra: Map<String, Value>,
) -> Body {
    let history = c.shared_history();
    let transcript: Vec<String> = c
        .visible_messages()
        .map(|m| format!("{}: {}", m.sender().transcript_label(), m.message))
        .collect();
    let tail = StatusTail {
        shared: shared(c),
        kind: "status",
        status: status.as_str(),
        message_count: c.message_count(),
        concatenated_transcript: transcript.join("\n"),
        created_at: iso(now),
        extra,
    };
    body(c, history, &tail)
}

/// The keys every status webhook has; the others are its event's (outcomes, a reason…).
const STATUS_KEYS: [&str; 14] = [
    "conversation_id",
    "phone_number",
    "agent_number",
    "channel",
    "pathway_id",
    "pathway_version",
    "chat_history",
    "variables",
    "metadata",
    "pathway_tags",
    "type",
    "status",
    "message_count",
    "concatenated_transcript",
];

/// A stored status webhook's payload built again from the conversation as it is now: its
/// messages, variables and metadata, and the outcomes (summary, dispositions, citations) as
/// they stand; its event's other fields and its time as stored. `None` when `stored` is not a
/// status payload.
pub(crate) fn rebuilt_status(c: &mut Conversation, stored: &Value) -> Option<Body> {
    let Some(crate::base::event::Event::Status(kind)) = stored["status"]
        .as_str()
        .and_then(crate::base::event::Event::parse)
    else {
        return None;
    };
    let at = stored["created_at"]
        .as_str()
        .and_then(crate::base::clock::parse_iso)?;
    let mut extra: Map<String, Value> = stored
        .as_object()?
        .iter()
        .filter(|(k, _)| !STATUS_KEYS.contains(&k.as_str()) && *k != "created_at")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if extra.contains_key("summary") {
        extra.insert("summary".into(), json!(c.outcomes.summary));
    }
    if let (Some(Value::Array(was)), logs) =
        (extra.get("dispositions"), &c.outcomes.disposition_logs)
    {
        let latest = &logs[logs.len().saturating_sub(was.len())..];
        let latest = json!(latest);
        extra.insert("dispositions".into(), latest);
    }
    if let (true, Some(found)) = (
        extra.contains_key("citations"),
        &c.details.citation_variables,
    ) {
        extra.insert("citations".into(), Value::Object(found.clone()));
    }
    Some(self::status(c, kind, at, extra))
}
