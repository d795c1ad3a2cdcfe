//! The JSON views of conversations and messages: the list item, the detail answer (written
//! straight into bytes), the handoff summary and a message as the API shows it (§4.2, §4.3).

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::conversation::{
    Conversation, DispositionLog, Message, MessageId, MessageStatus, Sender,
};
use crate::base::clock::iso;

/// A message as the API shows it (§4.3), serialized straight from the stored one.
#[derive(Serialize)]
struct MessageView<'a> {
    id: MessageId,
    created_at: String,
    message: &'a str,
    from: &'a str,
    to: &'a str,
    sender: Sender,
    status: Option<MessageStatus>,
    error_code: Option<u16>,
    /// `array|null`, and `null` in the page's example (`api-v1/get/sms-conversations-id.mdx`,
    /// 0d80edcf): no message carries media.
    attachments: Option<()>,
    app_card: Option<()>,
}

/// One `chat_history` item of a webhook (§5).
#[derive(Serialize)]
struct HistoryItem<'a> {
    id: &'a MessageId,
    sender: Sender,
    message: &'a str,
    created_at: String,
}

impl Message {
    /// The message as a webhook's `chat_history` item, serialized.
    pub fn history_item(&self) -> bytes::Bytes {
        let item = HistoryItem {
            id: &self.id(),
            sender: self.sender(),
            message: &self.message,
            created_at: iso(self.created_at()),
        };
        serde_json::to_vec(&item)
            .expect("a history item serializes")
            .into()
    }

    /// The message in a conversation between `user` and `agent`.
    fn view<'a>(&'a self, user: &'a str, agent: &'a str) -> MessageView<'a> {
        let (from, to) = self.ends(user, agent);
        MessageView {
            id: self.id(),
            created_at: iso(self.created_at()),
            message: &self.message,
            from,
            to,
            sender: self.sender(),
            status: self.status(),
            error_code: self.error_code(),
            attachments: None,
            app_card: None,
        }
    }

    /// The message as the API shows it, in a conversation between `user` and `agent`.
    pub fn to_json(&self, user: &str, agent: &str) -> Value {
        serde_json::to_value(self.view(user, agent)).expect("a message view serializes")
    }
}

/// The visible messages of a conversation, serialized one by one (no intermediate tree).
struct VisibleMessages<'a>(&'a Conversation);

impl Serialize for VisibleMessages<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        s.collect_seq(
            c.visible_messages()
                .map(|m| m.view(&c.user_number, &c.agent_number)),
        )
    }
}

/// `GET /v1/sms/conversations/{id}`'s answer, in Bland's envelope.
#[derive(Serialize)]
struct DetailReply<'a> {
    data: Detail<'a>,
    errors: Option<()>,
}

#[derive(Serialize)]
struct Detail<'a> {
    #[serde(flatten)]
    common: Map<String, Value>,
    messages: VisibleMessages<'a>,
    disposition_logs: Vec<&'a DispositionLog>,
}

impl Conversation {
    pub(crate) fn common_json(&self) -> Map<String, Value> {
        let opt_iso = |t: Option<i64>| t.map(iso);
        let handoff = self.handoff.as_ref();
        let v = json!({
            "id": self.id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "user_id": self.owner.user_id,
            "user_number": self.user_number,
            "agent_number": self.agent_number,
            "inbound_id": self.inbound_id,
            "variables": self.variables,
            "current_node_id": self.current_node_id,
            "curr_pathway_id": self.details.curr_pathway_id,
            "curr_pathway_version": self.details.curr_pathway_version,
            "timed_out_at": opt_iso(self.timed_out_at),
            "last_message_at": opt_iso(self.last_message_at),
            "is_active": self.is_active,
            "status": self.status().as_str(),
            "effective_channel": self.channel_name(),
            "message_count": self.message_count(),
            "summary": self.outcomes.summary,
            "citation_variables": self.details.citation_variables,
            "disposition_tag": self.outcomes.disposition_tag,
            "ended_by_end_call_node": self.ended_by_end_call_node,
            "pathway_tags": null,
            "metadata": *self.details.metadata,
            "human_handoff_at": handoff.map(|h| iso(h.at)),
            "human_handoff_reason": handoff.and_then(|h| h.reason.clone()),
            "human_handoff_metadata": handoff.map(|h| Value::Object(h.metadata.clone())),
        });
        match v {
            Value::Object(m) => m,
            _ => unreachable!("json! of an object literal is an object"),
        }
    }
    /// The list view: core fields plus `last_message`.
    pub fn list_json(&self) -> Value {
        let mut m = self.common_json();
        m.insert(
            "last_message".into(),
            json!(self.last_message().map(|m| m.message.clone())),
        );
        Value::Object(m)
    }
    /// The detail answer, `{"data": …, "errors": null}`: core fields plus `messages[]` and
    /// `disposition_logs[]` (newest first), written straight into bytes.
    pub fn detail_body(&self) -> Vec<u8> {
        let reply = DetailReply {
            data: Detail {
                common: self.common_json(),
                messages: VisibleMessages(self),
                disposition_logs: self.outcomes.disposition_logs.iter().rev().collect(),
            },
            errors: None,
        };
        serde_json::to_vec(&reply).expect("a conversation serializes")
    }
    /// The handoff family's `conversation` summary (§3.9).
    pub fn handoff_json(&self) -> Value {
        let h = self.handoff.as_ref();
        json!({
            "id": self.id,
            "is_active": self.is_active,
            "current_node_id": self.current_node_id,
            "human_handoff_at": h.map(|h| iso(h.at)),
            "human_handoff_reason": h.and_then(|h| h.reason.clone()),
            "human_handoff_metadata": h.map(|h| Value::Object(h.metadata.clone())),
            "updated_at": iso(self.updated_at),
        })
    }
}
