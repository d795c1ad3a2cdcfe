//! The stored records — number configs, numbers, conversations, messages — and their JSON
//! views in the shapes of Bland's docs (§4 of the API reference).

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::iso;
use crate::error::ApiError;
use crate::validation::{self, Channel, Fields};

/// Bland's smallest inactivity timeout; positive values under it are raised to it.
pub const MIN_TIME_OUT: u64 = 30;

/// A number's per-channel config (`sms_config`, `whatsapp_config`, `imessage_config`), with the
/// defaults Bland's update response shows.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NumberConfig {
    pub webhook: Option<String>,
    pub request_data: Value,
    pub response_data: Value,
    pub time_out: Option<u64>,
    pub timeout_action: Option<String>,
    pub timeout_message: Option<String>,
    pub warning_time: Option<u64>,
    pub warning_message: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub objective: String,
    pub tools: Value,
    pub temperature: Value,
    pub use_candidate_model: Option<bool>,
    pub pathway_id: Option<String>,
    pub pathway_version: Value,
    pub start_node_id: Option<String>,
    pub restart_after_end_call: bool,
    pub timezone: Option<String>,
    pub summary_prompt: Option<String>,
    pub disposition_ids: Option<Vec<String>>,
    pub citation_schema_ids: Option<Vec<String>>,
}

impl Default for NumberConfig {
    fn default() -> Self {
        NumberConfig {
            webhook: None,
            request_data: json!([]),
            response_data: Value::Null,
            time_out: None,
            timeout_action: None,
            timeout_message: None,
            warning_time: None,
            warning_message: None,
            messaging_service_sid: None,
            objective: "Chat with the user".into(),
            tools: json!([]),
            temperature: json!(0),
            use_candidate_model: None,
            pathway_id: None,
            pathway_version: Value::Null,
            start_node_id: None,
            restart_after_end_call: true,
            timezone: None,
            summary_prompt: None,
            disposition_ids: None,
            citation_schema_ids: None,
        }
    }
}

/// Normalizes a `time_out`: 0 disables it, positive values under 30 s become 30 s.
pub fn normalize_time_out(t: Option<u64>) -> Option<u64> {
    match t {
        None | Some(0) => None,
        Some(t) => Some(t.max(MIN_TIME_OUT)),
    }
}

impl NumberConfig {
    /// Merges the known fields of an update body into a copy of this config. A field given as
    /// `null` goes back to its default; unknown fields are ignored. `prompt` and `task` are
    /// aliases of `objective`. Timeout rules are checked by the caller.
    ///
    /// # Errors
    /// 400 naming the first field of the wrong type.
    pub fn merged(&self, f: &Fields) -> Result<NumberConfig, ApiError> {
        let mut c = self.clone();
        let d = NumberConfig::default();
        macro_rules! set {
            ($field:ident, $getter:ident) => {
                if f.has(stringify!($field)) {
                    c.$field = f.$getter(stringify!($field))?;
                }
            };
            ($field:ident, $getter:ident, default) => {
                if f.has(stringify!($field)) {
                    c.$field = f.$getter(stringify!($field))?.unwrap_or(d.$field.clone());
                }
            };
        }
        set!(webhook, url);
        set!(request_data, object_or_array, default);
        if f.has("response_data") {
            c.response_data = f.object_or_array("response_data")?.unwrap_or(Value::Null);
        }
        if f.has("time_out") {
            c.time_out = normalize_time_out(f.seconds("time_out")?);
        }
        set!(timeout_action, string);
        set!(timeout_message, string);
        if f.has("warning_time") {
            c.warning_time = f.seconds("warning_time")?.filter(|&w| w > 0);
        }
        set!(warning_message, string);
        set!(messaging_service_sid, string);
        for alias in ["objective", "prompt", "task"] {
            if f.has(alias) {
                c.objective = f.string(alias)?.unwrap_or(d.objective.clone());
            }
        }
        set!(tools, array_value, default);
        set!(temperature, number, default);
        set!(use_candidate_model, bool);
        set!(pathway_id, string);
        if f.has("pathway_version") {
            c.pathway_version = f
                .string_or_number("pathway_version")?
                .unwrap_or(Value::Null);
        }
        set!(start_node_id, string);
        set!(restart_after_end_call, bool, default);
        if f.has("timezone") {
            c.timezone = f.string("timezone")?;
            if let Some(tz) = &c.timezone {
                validation::timezone(tz)?;
            }
        }
        set!(summary_prompt, string);
        set!(disposition_ids, string_list);
        set!(citation_schema_ids, string_list);
        Ok(c)
    }

    /// The config as JSON; iMessage configs carry no `messaging_service_sid`.
    pub fn to_json(&self, channel: Channel) -> Value {
        let mut v = serde_json::to_value(self).expect("config serializes");
        if channel == Channel::Imessage {
            if let Some(m) = v.as_object_mut() {
                m.remove("messaging_service_sid");
            }
        }
        v
    }
}

impl Fields<'_> {
    fn array_value(&self, field: &str) -> Result<Option<Value>, ApiError> {
        Ok(self.array(field)?.map(Value::Array))
    }
}

/// A provisioned phone number, owned by one account.
#[derive(Clone, Debug)]
pub struct NumberRecord {
    pub phone_number: String,
    pub owner: String,
    pub inbound_id: u64,
    pub label: Option<String>,
    /// iMessage numbers use the `linq` messaging service.
    pub imessage: bool,
    pub sms_config: Option<NumberConfig>,
    pub whatsapp_config: Option<NumberConfig>,
    pub imessage_config: Option<NumberConfig>,
    pub conversation_count: u64,
}

impl NumberRecord {
    pub fn config(&self, channel: Channel) -> Option<&NumberConfig> {
        match channel {
            Channel::Sms => self.sms_config.as_ref(),
            Channel::Whatsapp => self.whatsapp_config.as_ref(),
            Channel::Imessage => self.imessage_config.as_ref(),
        }
    }
    pub fn config_mut(&mut self, channel: Channel) -> &mut Option<NumberConfig> {
        match channel {
            Channel::Sms => &mut self.sms_config,
            Channel::Whatsapp => &mut self.whatsapp_config,
            Channel::Imessage => &mut self.imessage_config,
        }
    }
    /// The config a conversation on `channel` runs with: that channel's, else the SMS one, else
    /// the iMessage one, else the defaults.
    pub fn effective_config(&self, channel: Channel) -> NumberConfig {
        self.config(channel)
            .or(self.sms_config.as_ref())
            .or(self.imessage_config.as_ref())
            .cloned()
            .unwrap_or_default()
    }
    /// The channel a send defaults to on this number.
    pub fn default_channel(&self) -> Channel {
        if self.imessage {
            Channel::Imessage
        } else {
            Channel::Sms
        }
    }
    /// `GET /v1/sms/numbers` item for one channel.
    pub fn to_json(&self, channel: Channel) -> Value {
        let cfg = self.config(channel).cloned().unwrap_or_default();
        let mut m = Map::new();
        m.insert("phone_number".into(), json!(self.phone_number));
        m.insert("label".into(), json!(self.label));
        m.insert(
            "messaging_service".into(),
            if self.imessage {
                json!("linq")
            } else {
                Value::Null
            },
        );
        m.insert(channel.config_key().into(), cfg.to_json(channel));
        m.insert("conversation_count".into(), json!(self.conversation_count));
        Value::Object(m)
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Sender {
    User,
    Agent,
    Human,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::User => "USER",
            Sender::Agent => "AGENT",
            Sender::Human => "HUMAN",
        }
    }
    /// The speaker label in `concatenated_transcript`.
    pub fn transcript_label(self) -> &'static str {
        match self {
            Sender::User => "user",
            Sender::Agent => "assistant",
            Sender::Human => "human",
        }
    }
}

/// One stored message.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    pub created_at: i64,
    pub message: String,
    pub from: String,
    pub to: String,
    pub sender: Sender,
    /// `None` for inbound texts, `delivered` for outbound ones.
    pub status: Option<&'static str>,
    pub deleted: bool,
}

impl Message {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "created_at": iso(self.created_at),
            "message": self.message,
            "from": self.from,
            "to": self.to,
            "sender": self.sender,
            "status": self.status,
            "error_code": null,
            "attachments": [],
            "app_card": null,
        })
    }
}

/// Why a conversation stopped being active.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndKind {
    /// End Call node or `/end`: status webhook `ended`.
    Ended,
    /// The inactivity timeout: `timeout`.
    Timeout,
    /// The user texted STOP: `blacklisted`.
    Blacklisted,
    /// PATCH `is_active:false`: `inactive`.
    Inactive,
    /// Replaced by `new_conversation:true`; no webhook.
    Archived,
}

impl EndKind {
    /// The status webhook's `status`.
    pub fn webhook_status(self) -> &'static str {
        match self {
            EndKind::Ended => "ended",
            EndKind::Timeout => "timeout",
            EndKind::Blacklisted => "blacklisted",
            EndKind::Inactive | EndKind::Archived => "inactive",
        }
    }
    /// The list filter's `status`: `completed`, `timed_out` or `inactive`.
    pub fn list_status(self) -> &'static str {
        match self {
            EndKind::Ended => "completed",
            EndKind::Timeout => "timed_out",
            _ => "inactive",
        }
    }
}

/// Per-conversation timeout overrides from `/send` or `/create`; each persists until replaced.
/// `time_out: Some(0)` means "disabled for this conversation".
#[derive(Clone, Debug, Default)]
pub struct TimingOverrides {
    pub time_out: Option<u64>,
    pub timeout_message: Option<String>,
    pub warning_time: Option<u64>,
    pub warning_message: Option<String>,
}

/// The inactivity settings in force for a conversation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timing {
    pub time_out: Option<u64>,
    pub warning_time: Option<u64>,
    pub timeout_message: Option<String>,
    pub warning_message: Option<String>,
    pub timeout_action: Option<String>,
}

impl Timing {
    /// Conversation overrides first, then the number's config.
    pub fn effective(cfg: &NumberConfig, ov: &TimingOverrides) -> Timing {
        Timing {
            time_out: match ov.time_out {
                Some(t) => normalize_time_out(Some(t)),
                None => cfg.time_out,
            },
            warning_time: ov.warning_time.or(cfg.warning_time).filter(|&w| w > 0),
            timeout_message: ov.timeout_message.clone().or(cfg.timeout_message.clone()),
            warning_message: ov.warning_message.clone().or(cfg.warning_message.clone()),
            timeout_action: cfg.timeout_action.clone(),
        }
    }
}

/// An active human handoff.
#[derive(Clone, Debug)]
pub struct Handoff {
    pub at: i64,
    pub reason: Option<String>,
    /// `{source, actor, ...caller metadata}`.
    pub metadata: Map<String, Value>,
}

/// A conversation with everything the simulator tracks about it.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: String,
    pub account: String,
    pub user_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub user_number: String,
    pub agent_number: String,
    pub inbound_id: u64,
    pub channel: Channel,
    pub variables: Option<Map<String, Value>>,
    pub request_data: Map<String, Value>,
    pub metadata: Map<String, Value>,
    pub current_node_id: Option<String>,
    pub curr_pathway_id: Option<String>,
    pub curr_pathway_version: Option<String>,
    /// Name of the scenario that plays the agent.
    pub scenario: String,
    pub timed_out_at: Option<i64>,
    pub last_message_at: Option<i64>,
    pub is_active: bool,
    pub ended: Option<EndKind>,
    pub ended_by_end_call_node: bool,
    pub summary: Option<String>,
    pub citation_variables: Option<Map<String, Value>>,
    pub disposition_tag: Option<String>,
    pub disposition_logs: Vec<Value>,
    pub messages: Vec<Message>,
    pub webhook: Option<String>,
    pub timing: TimingOverrides,
    pub disposition_ids: Option<Vec<String>>,
    pub citation_schema_ids: Option<Vec<String>>,
    pub handoff: Option<Handoff>,
    /// Bumped whenever the inactivity timer is re-armed or cancelled; a timer that fires with an
    /// older generation does nothing.
    pub timer_generation: u64,
    /// The timer currently armed, to cancel it.
    pub timer_id: Option<u64>,
    /// When the silence being timed started (last agent or user message).
    pub timer_anchor: Option<i64>,
    /// Delivery id of the latest status webhook (§3.15 log).
    pub status_delivery: Option<u64>,
    /// Counts scenario turns, so a seeded random choice is reproducible per conversation.
    pub turns: u64,
}

impl Conversation {
    pub fn visible_messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().filter(|m| !m.deleted)
    }
    pub fn message_count(&self) -> usize {
        self.visible_messages().count()
    }
    pub fn last_message(&self) -> Option<&Message> {
        self.messages.iter().rev().find(|m| !m.deleted)
    }
    /// `active`, `completed`, `timed_out` or `inactive`.
    pub fn status(&self) -> &'static str {
        match (self.is_active, self.ended) {
            (true, _) => "active",
            (false, Some(k)) => k.list_status(),
            (false, None) => "inactive",
        }
    }
    fn common_json(&self) -> Map<String, Value> {
        let opt_iso = |t: Option<i64>| t.map(iso);
        let handoff = self.handoff.as_ref();
        let v = json!({
            "id": self.id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "user_id": self.user_id,
            "user_number": self.user_number,
            "agent_number": self.agent_number,
            "inbound_id": self.inbound_id,
            "variables": self.variables,
            "current_node_id": self.current_node_id,
            "curr_pathway_id": self.curr_pathway_id,
            "curr_pathway_version": self.curr_pathway_version,
            "timed_out_at": opt_iso(self.timed_out_at),
            "last_message_at": opt_iso(self.last_message_at),
            "is_active": self.is_active,
            "status": self.status(),
            "effective_channel": self.channel.as_str(),
            "message_count": self.message_count(),
            "summary": self.summary,
            "citation_variables": self.citation_variables,
            "disposition_tag": self.disposition_tag,
            "ended_by_end_call_node": self.ended_by_end_call_node,
            "pathway_tags": null,
            "metadata": self.metadata,
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
    /// The detail view: core fields plus `messages[]` and `disposition_logs[]` (newest first).
    pub fn detail_json(&self) -> Value {
        let mut m = self.common_json();
        m.insert(
            "messages".into(),
            Value::Array(self.visible_messages().map(Message::to_json).collect()),
        );
        m.insert(
            "disposition_logs".into(),
            Value::Array(self.disposition_logs.iter().rev().cloned().collect()),
        );
        Value::Object(m)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_out_is_raised_to_thirty_and_zero_disables() {
        assert_eq!(normalize_time_out(Some(10)), Some(30));
        assert_eq!(normalize_time_out(Some(0)), None);
        assert_eq!(normalize_time_out(Some(120)), Some(120));
    }

    #[test]
    fn merge_keeps_untouched_fields_and_null_resets() {
        let base = NumberConfig {
            webhook: Some("http://a/".into()),
            time_out: Some(60),
            ..Default::default()
        };
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"prompt":"Be brief","webhook":null,"nope":1}"#).unwrap();
        let c = base.merged(&Fields(&body)).unwrap();
        assert_eq!(c.objective, "Be brief");
        assert_eq!(c.webhook, None);
        assert_eq!(c.time_out, Some(60));
    }

    #[test]
    fn overrides_win_over_config() {
        let cfg = NumberConfig {
            time_out: Some(300),
            warning_time: Some(100),
            ..Default::default()
        };
        let ov = TimingOverrides {
            time_out: Some(0),
            ..Default::default()
        };
        let t = Timing::effective(&cfg, &ov);
        assert_eq!(t.time_out, None);
        assert_eq!(t.warning_time, Some(100));
    }
}
