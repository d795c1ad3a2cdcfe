//! Conversations and messages (§4.2, §4.3), the timeout settings in force for one, and their
//! JSON views.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::number::{normalize_time_out, NumberConfig};
use super::SmallStr;
use crate::base::clock::TimerKey;
use crate::base::event::Status;
use crate::base::validation::Channel;
use crate::scenario::Scenario;
use crate::state::history::History;

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

/// Where an outbound message stands: delivered at once by default; with carrier realism,
/// `queued` → `sent` → `delivered`, or `failed` / `undelivered` by a carrier rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MessageStatus {
    /// Accepted, not yet handed to the carrier (with `--carrier-pending-ms`).
    Pending,
    Queued,
    Sent,
    Delivered,
    Failed,
    Undelivered,
    /// Read by the user (RCS and WhatsApp).
    Read,
}

impl MessageStatus {
    pub fn parse(s: &str) -> Option<MessageStatus> {
        Some(match s {
            "pending" => MessageStatus::Pending,
            "queued" => MessageStatus::Queued,
            "sent" => MessageStatus::Sent,
            "delivered" => MessageStatus::Delivered,
            "failed" => MessageStatus::Failed,
            "undelivered" => MessageStatus::Undelivered,
            "read" => MessageStatus::Read,
            _ => return None,
        })
    }
}

/// Who started a human handoff: a caller of the API, a Transfer-to-Human node, or legacy
/// human mode (`POST /v1/sms/toggle`, shown as `api`: it is an API call too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HandoffSource {
    Api,
    Pathway,
    #[serde(rename = "api")]
    HumanMode,
}

/// A message's id. Those the simulator draws are UUIDs, kept as their 16 bytes and written out
/// when shown; a client's `message_sid` or a document's id is kept as given.
#[derive(Clone, PartialEq, Eq)]
pub enum MessageId {
    Drawn([u8; 16]),
    Given(Box<str>),
}

impl MessageId {
    /// An id as given: a UUID in its usual lowercase form is kept as bytes, anything else as
    /// text (so it is always shown exactly as given).
    pub fn given(s: String) -> MessageId {
        match uuid::Uuid::try_parse(&s) {
            Ok(u) if u.hyphenated().encode_lower(&mut [0; 36]) == s.as_str() => {
                MessageId::Drawn(*u.as_bytes())
            }
            _ => MessageId::Given(s.into()),
        }
    }
    /// The id as text, written into `buf` when it is a drawn one (no allocation).
    pub fn as_str<'a>(&'a self, buf: &'a mut [u8; 36]) -> &'a str {
        match self {
            MessageId::Drawn(b) => drawn_str(b, buf),
            MessageId::Given(s) => s,
        }
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str(&mut [0; 36]))
    }
}

impl std::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str(&mut [0; 36]))
    }
}

impl Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str(&mut [0; 36]))
    }
}

/// One stored message: 48 bytes and its text. `from` and `to` are the conversation's numbers
/// in the sender's direction, unless a document said otherwise ([`Message::route`]).
#[derive(Clone, Debug)]
pub struct Message {
    /// A drawn id's 16 bytes (unused when the id was given as text: see `rare`).
    drawn: [u8; 16],
    /// When it was stored (ms since the epoch) in the high 56 bits; in the low 8, who sent it,
    /// its delivery status and whether it is deleted (see [`Flags`]).
    stamp: i64,
    pub message: Box<str>,
    /// What few messages have, boxed so that the others stay small.
    rare: Option<Box<MessageRare>>,
}

/// A drawn id's text, written into `buf`.
fn drawn_str<'a>(bytes: &[u8; 16], buf: &'a mut [u8; 36]) -> &'a str {
    uuid::Uuid::from_bytes(*bytes)
        .hyphenated()
        .encode_lower(buf)
}

/// A message's rarely set parts.
#[derive(Clone, Debug, Default)]
struct MessageRare {
    /// An id given as text (a client's `message_sid`, a document's id that is not a UUID).
    given_id: Option<Box<str>>,
    /// `[from, to]` when a document gave others than the conversation's.
    route: Option<[String; 2]>,
    /// The carrier's error code of a `failed` or `undelivered` text.
    error_code: Option<u16>,
}

/// The low byte of [`Message::stamp`]: bits 0–1 the sender, 2–4 the status (0 for none),
/// 5 deleted.
struct Flags;

impl Flags {
    const SENDERS: [Sender; 3] = [Sender::User, Sender::Agent, Sender::Human];
    const STATUSES: [MessageStatus; 7] = [
        MessageStatus::Pending,
        MessageStatus::Queued,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Failed,
        MessageStatus::Undelivered,
        MessageStatus::Read,
    ];
    const SENDER: i64 = 0b11;
    const STATUS_SHIFT: u32 = 2;
    const STATUS: i64 = 0b111 << Self::STATUS_SHIFT;
    const DELETED: i64 = 1 << 5;

    fn sender(s: Sender) -> i64 {
        Self::SENDERS.iter().position(|&x| x == s).unwrap_or(0) as i64
    }
    fn status(s: Option<MessageStatus>) -> i64 {
        let n = s.and_then(|s| Self::STATUSES.iter().position(|&x| x == s));
        n.map_or(0, |n| n as i64 + 1) << Self::STATUS_SHIFT
    }
}

impl Message {
    /// A message stored at `created_at` (ms), not deleted.
    pub fn new(
        id: MessageId,
        created_at: i64,
        message: Box<str>,
        sender: Sender,
        status: Option<MessageStatus>,
    ) -> Message {
        let mut m = Message {
            drawn: [0; 16],
            stamp: (created_at << 8) | Flags::sender(sender) | Flags::status(status),
            message,
            rare: None,
        };
        match id {
            MessageId::Drawn(b) => m.drawn = b,
            MessageId::Given(s) => m.rare_mut().given_id = Some(s),
        }
        m
    }

    fn rare_mut(&mut self) -> &mut MessageRare {
        self.rare.get_or_insert_with(Box::default)
    }

    pub fn id(&self) -> MessageId {
        match self.rare.as_ref().and_then(|r| r.given_id.as_ref()) {
            Some(s) => MessageId::Given(s.clone()),
            None => MessageId::Drawn(self.drawn),
        }
    }
    /// The id as text, written into `buf` when it is a drawn one (no allocation).
    pub fn id_str<'a>(&'a self, buf: &'a mut [u8; 36]) -> &'a str {
        match self.rare.as_ref().and_then(|r| r.given_id.as_deref()) {
            Some(s) => s,
            None => drawn_str(&self.drawn, buf),
        }
    }
    /// Whether the id is `s`, without copying it.
    /// Whether its id is the drawn id `id`.
    pub fn has_drawn(&self, id: &[u8; 16]) -> bool {
        self.drawn == *id && self.rare.as_ref().is_none_or(|r| r.given_id.is_none())
    }
    pub fn id_is(&self, s: &str) -> bool {
        self.id_str(&mut [0; 36]) == s
    }
    pub fn set_id(&mut self, id: MessageId) {
        match id {
            MessageId::Drawn(b) => {
                self.drawn = b;
                if let Some(r) = &mut self.rare {
                    r.given_id = None;
                    // Nothing else rare: no box left behind.
                    if r.route.is_none() && r.error_code.is_none() {
                        self.rare = None;
                    }
                }
            }
            MessageId::Given(s) => self.rare_mut().given_id = Some(s),
        }
    }
    pub fn created_at(&self) -> i64 {
        self.stamp >> 8
    }
    pub fn set_created_at(&mut self, at: i64) {
        self.stamp = (at << 8) | (self.stamp & 0xff);
    }
    pub fn sender(&self) -> Sender {
        Flags::SENDERS[(self.stamp & Flags::SENDER) as usize % Flags::SENDERS.len()]
    }
    /// `None` for inbound texts, `delivered` for outbound ones (unless the carrier says
    /// otherwise).
    pub fn status(&self) -> Option<MessageStatus> {
        let n = ((self.stamp & Flags::STATUS) >> Flags::STATUS_SHIFT) as usize;
        n.checked_sub(1)
            .and_then(|n| Flags::STATUSES.get(n).copied())
    }
    pub fn set_status(&mut self, status: Option<MessageStatus>) {
        self.stamp = (self.stamp & !Flags::STATUS) | Flags::status(status);
    }
    pub fn deleted(&self) -> bool {
        self.stamp & Flags::DELETED != 0
    }
    pub fn set_deleted(&mut self, deleted: bool) {
        self.stamp = (self.stamp & !Flags::DELETED) | if deleted { Flags::DELETED } else { 0 };
    }
    /// `[from, to]` when a document gave others than the conversation's.
    pub fn route(&self) -> Option<&[String; 2]> {
        self.rare.as_ref().and_then(|r| r.route.as_ref())
    }
    pub fn set_route(&mut self, route: Option<[String; 2]>) {
        if route.is_some() || self.rare.is_some() {
            self.rare_mut().route = route;
        }
    }
    /// The carrier's error code of a `failed` or `undelivered` text.
    pub fn error_code(&self) -> Option<u16> {
        self.rare.as_ref().and_then(|r| r.error_code)
    }
    pub fn set_error_code(&mut self, code: Option<u16>) {
        if code.is_some() || self.rare.is_some() {
            self.rare_mut().error_code = code;
        }
    }
    /// `from` and `to`, for a conversation between `user` and `agent`.
    pub fn ends<'a>(&'a self, user: &'a str, agent: &'a str) -> (&'a str, &'a str) {
        match (self.route(), self.sender()) {
            (Some(r), _) => (&r[0], &r[1]),
            (None, Sender::User) => (user, agent),
            (None, _) => (agent, user),
        }
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
    const ALL: [EndKind; 5] = [
        EndKind::Ended,
        EndKind::Timeout,
        EndKind::Blacklisted,
        EndKind::Inactive,
        EndKind::Archived,
    ];
    /// How a state document names it.
    pub fn as_str(self) -> &'static str {
        match self {
            EndKind::Ended => "ended",
            EndKind::Timeout => "timeout",
            EndKind::Blacklisted => "blacklisted",
            EndKind::Inactive => "inactive",
            EndKind::Archived => "archived",
        }
    }
    pub fn parse(name: &str) -> Option<EndKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
    /// The status webhook's `status`.
    pub fn webhook_status(self) -> Status {
        match self {
            EndKind::Ended => Status::Ended,
            EndKind::Timeout => Status::Timeout,
            EndKind::Blacklisted => Status::Blacklisted,
            EndKind::Inactive | EndKind::Archived => Status::Inactive,
        }
    }
    /// The list filter's `status`: `completed`, `timed_out` or `inactive`.
    pub fn list_status(self) -> ConversationStatus {
        match self {
            EndKind::Ended => ConversationStatus::Completed,
            EndKind::Timeout => ConversationStatus::TimedOut,
            _ => ConversationStatus::Inactive,
        }
    }
}

/// A conversation's `status` (§4.2), as the list filters on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConversationStatus {
    Active,
    Completed,
    TimedOut,
    Inactive,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Active => "active",
            ConversationStatus::Completed => "completed",
            ConversationStatus::TimedOut => "timed_out",
            ConversationStatus::Inactive => "inactive",
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

impl Rare for TimingOverrides {
    fn empty() -> &'static Self {
        static EMPTY: TimingOverrides = TimingOverrides {
            time_out: None,
            timeout_message: None,
            warning_time: None,
            warning_message: None,
        };
        &EMPTY
    }
}

/// What the end of a conversation produced: its summary, disposition tag and logs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outcomes {
    pub summary: Option<String>,
    pub disposition_tag: Option<String>,
    pub disposition_logs: Vec<DispositionLog>,
}

impl Rare for Outcomes {
    fn empty() -> &'static Self {
        static EMPTY: Outcomes = Outcomes {
            summary: None,
            disposition_tag: None,
            disposition_logs: Vec::new(),
        };
        &EMPTY
    }
}

/// The account a conversation belongs to: its API key and the org id Bland shows as `user_id`,
/// one allocation shared by every conversation of the account.
#[derive(Debug, PartialEq, Eq)]
pub struct Owner {
    pub key: Box<str>,
    pub user_id: Box<str>,
}

impl Owner {
    /// The owner of a conversation not yet given one (shared, so that a default record costs
    /// no allocation and no hashing).
    pub fn nobody() -> Arc<Owner> {
        static NOBODY: std::sync::OnceLock<Arc<Owner>> = std::sync::OnceLock::new();
        NOBODY.get_or_init(|| Arc::new(Owner::of(""))).clone()
    }

    pub fn of(key: &str) -> Owner {
        Owner {
            key: key.into(),
            user_id: crate::state::store::user_id_for(key).into(),
        }
    }
}

/// The parts of a conversation most never set, in one box allocated when the first is written
/// (see [`Lazy`]), so that the record of a plain conversation stays small.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Details {
    /// Each boxed again: an ordered map is 72 bytes, and most set one or the other.
    pub request_data: Lazy<Map<String, Value>>,
    pub metadata: Lazy<Map<String, Value>>,
    pub curr_pathway_id: Option<String>,
    pub curr_pathway_version: Option<String>,
    pub citation_variables: Option<Map<String, Value>>,
    pub webhook: Option<String>,
    pub disposition_ids: Option<Box<[String]>>,
    pub citation_schema_ids: Option<Box<[String]>>,
    /// What the conversation is for (`/send`'s `objective`), until a later `/send` replaces it.
    pub objective: Option<Box<str>>,
    /// The pathway Webhook node request in flight, whose answer the conversation waits for
    /// (not saved: a restored conversation waits for the user instead).
    pub pathway_call: Option<std::num::NonZeroU32>,
}

impl Rare for Details {
    fn empty() -> &'static Self {
        static EMPTY: std::sync::OnceLock<Details> = std::sync::OnceLock::new();
        EMPTY.get_or_init(Details::default)
    }
}

impl Rare for Map<String, Value> {
    fn empty() -> &'static Self {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        EMPTY.get_or_init(Map::new)
    }
}

/// A type with a shared empty value, for [`Lazy`].
pub trait Rare: Default + 'static {
    fn empty() -> &'static Self;
}

/// A part of a conversation most never set: nothing is allocated until it is written, and
/// reads see the empty value until then.
#[derive(Clone, Debug, Default)]
pub struct Lazy<T>(Option<Box<T>>);

impl<T: Rare> std::ops::Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or(T::empty())
    }
}

impl<T: Rare> std::ops::DerefMut for Lazy<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(Box::default)
    }
}

impl<T: Rare + PartialEq> PartialEq for Lazy<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T> Lazy<T> {
    /// Whether anything was allocated.
    #[cfg(test)]
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

impl<T: Rare + PartialEq> Lazy<T> {
    /// `t`, boxed only when it is not the empty value.
    pub fn unless_empty(t: T) -> Self {
        if &t == T::empty() {
            Lazy(None)
        } else {
            Lazy(Some(Box::new(t)))
        }
    }
}

impl<T> From<T> for Lazy<T> {
    fn from(t: T) -> Self {
        Lazy(Some(Box::new(t)))
    }
}

/// The inactivity settings in force for a conversation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timing {
    pub time_out: Option<u64>,
    pub warning_time: Option<u64>,
    pub timeout_message: Option<String>,
    pub warning_message: Option<String>,
    pub timeout_action: TimeoutAction,
}

/// What the timeout does besides ending the conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum TimeoutAction {
    /// Texts `timeout_message` (Bland's `send_sms`, and the default when unset).
    #[default]
    SendSms,
    /// Any other `timeout_action`: Bland lists no other values, so it times out silently.
    Silent,
}

impl TimeoutAction {
    /// The action a config's `timeout_action` names.
    pub fn of(value: Option<&str>) -> TimeoutAction {
        match value {
            None | Some("send_sms") => TimeoutAction::SendSms,
            Some(_) => TimeoutAction::Silent,
        }
    }
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
            timeout_action: TimeoutAction::of(cfg.timeout_action.as_deref()),
        }
    }
}

/// Whether a disposition ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum DispositionStatus {
    Complete,
    Error,
}

/// One disposition's outcome, as `disposition_logs[]` and the status webhook show it (§4.2).
/// A `COMPLETE` log carries `error: null` after `result`; an `ERROR` log carries its `error`
/// last, as Bland's examples order them.
#[derive(Clone, Debug)]
pub(crate) struct DispositionLog {
    pub disposition_id: String,
    pub snippet_version: u32,
    pub status: DispositionStatus,
    pub result: Value,
    pub error: Option<String>,
    pub exec_time: u32,
    pub reference_type: &'static str,
    pub tag: Option<String>,
}

impl Serialize for DispositionLog {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(8))?;
        m.serialize_entry("disposition_id", &self.disposition_id)?;
        m.serialize_entry("snippet_version", &self.snippet_version)?;
        m.serialize_entry("status", &self.status)?;
        m.serialize_entry("result", &self.result)?;
        let complete = self.status == DispositionStatus::Complete;
        if complete {
            m.serialize_entry("error", &self.error)?;
        }
        m.serialize_entry("exec_time", &self.exec_time)?;
        m.serialize_entry("reference_type", &self.reference_type)?;
        m.serialize_entry("tag", &self.tag)?;
        if !complete {
            m.serialize_entry("error", &self.error)?;
        }
        m.end()
    }
}

/// An active human handoff.
#[derive(Clone, Debug)]
pub struct Handoff {
    pub at: i64,
    pub reason: Option<String>,
    /// `{source, actor, ...caller metadata}`.
    pub metadata: Map<String, Value>,
    /// Made by legacy human mode (`POST /v1/sms/toggle`): turning it off ends this handoff,
    /// and only such handoffs.
    pub by_human_mode: bool,
}

/// A conversation with everything the simulator tracks about it. The default is an empty,
/// active conversation that `engine` fills in when it opens one.
#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: Arc<str>,
    /// Shared with every conversation of the account.
    pub owner: Arc<Owner>,
    pub created_at: i64,
    pub updated_at: i64,
    pub user_number: SmallStr,
    pub agent_number: SmallStr,
    pub inbound_id: u64,
    pub channel: Channel,
    /// Delivered by RCS (on an SMS number whose channel priority puts RCS first, to a user
    /// whose phone takes it): the API and webhooks say `rcs`.
    pub rcs: bool,
    /// Boxed, as the other fields most conversations never set: the record stays small.
    pub variables: Option<Box<Map<String, Value>>>,
    /// What most conversations never set (request data, metadata, pathway, webhook…).
    pub details: Lazy<Details>,
    pub current_node_id: Option<SmallStr>,
    /// Name of the scenario that plays the agent.
    pub scenario: Arc<str>,
    /// That scenario as it was when the conversation started (a later change to the
    /// scenario set does not change a running conversation).
    pub script: Option<Arc<Scenario>>,
    pub timed_out_at: Option<i64>,
    pub last_message_at: Option<i64>,
    pub is_active: bool,
    /// Holds message ids that were not drawn in this run (read from a document, or given by a
    /// client), which a new drawn id must be checked against.
    pub foreign_ids: bool,
    pub ended: Option<EndKind>,
    pub ended_by_end_call_node: bool,
    pub(crate) outcomes: Lazy<Outcomes>,
    /// Use [`Conversation::push_message`]: `visible` counts what it stores.
    pub messages: Vec<Message>,
    /// How many of `messages` are not deleted.
    pub(crate) visible: u32,
    /// The visible messages' `chat_history` items, shared with the webhooks that carry them.
    /// Filled only when a webhook needs them ([`Conversation::shared_history`]), so a
    /// conversation without webhooks never serializes one.
    pub(crate) history: Option<Arc<History>>,
    /// `messages[..history_upto]` are in `history` (the visible ones).
    pub(crate) history_upto: u32,
    pub timing: Lazy<TimingOverrides>,
    pub handoff: Option<Box<Handoff>>,
    /// The inactivity timer currently armed: cancelled on re-arm, and the only one that acts.
    pub timer_id: Option<TimerKey>,
    /// When the silence being timed started (last agent or user message).
    pub timer_anchor: Option<i64>,
    /// Delivery id of the latest status webhook (§3.15 log).
    pub status_delivery: Option<std::num::NonZeroU64>,
    /// Counts scenario turns, so a seeded random choice is reproducible per conversation.
    pub turns: u32,
    /// Counts changes to messages' delivery status (so a live view sees them).
    pub message_updates: u16,
    /// `messages[..context_from]` are out of the agent's context (legacy `POST /v1/sms/clear`):
    /// still stored and shown, but no longer what the agent reads.
    pub context_from: u32,
}

/// One shared empty string, so that a default record allocates nothing for its id and scenario
/// (every new conversation starts from one and replaces both).
fn empty_text() -> Arc<str> {
    static EMPTY: std::sync::OnceLock<Arc<str>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::from("")).clone()
}

impl Default for Conversation {
    fn default() -> Self {
        Conversation {
            id: empty_text(),
            owner: Owner::nobody(),
            created_at: 0,
            updated_at: 0,
            user_number: SmallStr::default(),
            agent_number: SmallStr::default(),
            inbound_id: 0,
            channel: Channel::Sms,
            rcs: false,
            variables: None,
            details: Lazy::default(),
            current_node_id: None,
            scenario: empty_text(),
            script: None,
            timed_out_at: None,
            last_message_at: None,
            is_active: true,
            foreign_ids: false,
            ended: None,
            ended_by_end_call_node: false,
            outcomes: Lazy::default(),
            messages: Vec::new(),
            visible: 0,
            history: None,
            history_upto: 0,
            timing: Lazy::default(),
            handoff: None,
            timer_id: None,
            timer_anchor: None,
            status_delivery: None,
            turns: 0,
            message_updates: 0,
            context_from: 0,
        }
    }
}

impl Conversation {
    /// The channel the API and webhooks name: `rcs` for a conversation delivered by RCS.
    pub fn channel_name(&self) -> &'static str {
        if self.rcs {
            "rcs"
        } else {
            self.channel.as_str()
        }
    }
    pub fn visible_messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().filter(|m| !m.deleted())
    }
    /// The visible messages the agent reads: those after what a legacy `clear` left out.
    pub fn context_messages(&self) -> impl DoubleEndedIterator<Item = &Message> {
        let from = (self.context_from as usize).min(self.messages.len());
        self.messages[from..].iter().filter(|m| !m.deleted())
    }
    /// The visible messages, counted as they are stored and hidden (not by a scan).
    pub fn message_count(&self) -> usize {
        self.visible as usize
    }
    /// Stores a message.
    pub fn push_message(&mut self, m: Message) {
        let (len, room) = (self.messages.len(), self.messages.capacity());
        if len == room {
            // Many conversations hold one message: room for one, not the usual four. Past
            // that, a quarter more each time (not twice as many), so a conversation keeps
            // about an eighth of its list unused instead of a quarter to a half; from 1,024
            // messages on, twice as many, as copying a long list costs more than its room.
            self.messages.reserve_exact(match len {
                0 => 1,
                1..1024 => len / 4 + 3,
                _ => len,
            });
        }
        if !m.deleted() {
            self.visible += 1;
        }
        self.messages.push(m);
    }
    /// The `chat_history` list with every visible message in it, and how many items that is;
    /// serializes only the messages stored since the last call.
    pub fn shared_history(&mut self) -> (Arc<History>, usize) {
        let history = self.history.get_or_insert_with(Arc::default);
        for m in self.messages[self.history_upto as usize..]
            .iter()
            .filter(|m| !m.deleted())
        {
            history.push(m.history_item());
        }
        self.history_upto = self.messages.len() as u32;
        (Arc::clone(history), self.visible as usize)
    }
    pub fn last_message(&self) -> Option<&Message> {
        self.messages.iter().rev().find(|m| !m.deleted())
    }
    /// Marks the visible messages with these ids deleted; returns how many were.
    pub fn hide_messages(&mut self, ids: &[String]) -> usize {
        let ids: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
        let mut n = 0;
        let mut buf = [0; 36];
        for m in self
            .messages
            .iter_mut()
            .filter(|m| !m.deleted() && ids.contains(m.id_str(&mut buf)))
        {
            m.set_deleted(true);
            n += 1;
        }
        self.visible -= n as u32;
        if n > 0 {
            // Deliveries made so far keep the old list; later ones get a new one.
            self.history = None;
            self.history_upto = 0;
        }
        n
    }
    /// `active`, `completed`, `timed_out` or `inactive`.
    pub fn status(&self) -> ConversationStatus {
        match (self.is_active, self.ended) {
            (true, _) => ConversationStatus::Active,
            (false, Some(k)) => k.list_status(),
            (false, None) => ConversationStatus::Inactive,
        }
    }
}

/// Which step of the inactivity timer is next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Warning,
    Timeout,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Warning => "warning",
            Stage::Timeout => "timeout",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::model::NumberConfig;

    #[test]
    fn a_plain_conversation_is_one_small_record() {
        // What memory per conversation rests on (bench/figures.sh): the record fits mimalloc's
        // 320-byte class, and the parts most never set take nothing until written.
        assert!(
            size_of::<Conversation>() <= 320,
            "{}",
            size_of::<Conversation>()
        );
        assert!(size_of::<Message>() <= 48, "{}", size_of::<Message>());
        // mimalloc's 224-byte class.
        assert!(size_of::<Details>() <= 224, "{}", size_of::<Details>());
        assert!(Lazy::unless_empty(Details::default()).0.is_none());
        let mut c = Conversation::default();
        assert!(c.details.metadata.is_empty() && c.details.0.is_none());
        c.details.metadata.insert("k".into(), Value::Null);
        assert!(c.details.0.is_some() && c.details.request_data.0.is_none());
        let given = Details {
            objective: Some("book".into()),
            ..Details::default()
        };
        assert_eq!(Lazy::unless_empty(given).objective.as_deref(), Some("book"));
    }

    #[test]
    fn a_message_keeps_its_time_and_flags_apart() {
        for at in [
            0,
            1,
            -1,
            1_767_268_800_123,
            -62_135_596_800_000,
            253_402_300_799_999,
        ] {
            for sender in [Sender::User, Sender::Agent, Sender::Human] {
                let mut m = Message::new(
                    MessageId::Drawn([7; 16]),
                    at,
                    "hi".into(),
                    sender,
                    Some(MessageStatus::Undelivered),
                );
                assert_eq!((m.created_at(), m.sender()), (at, sender));
                assert_eq!(m.status(), Some(MessageStatus::Undelivered));
                m.set_deleted(true);
                m.set_status(None);
                assert!(m.deleted() && m.status().is_none());
                m.set_status(Some(MessageStatus::Queued));
                m.set_deleted(false);
                m.set_created_at(at - 1);
                assert_eq!(m.created_at(), at - 1);
                assert_eq!((m.sender(), m.deleted()), (sender, false));
                assert_eq!(m.status(), Some(MessageStatus::Queued));
                assert!(m.rare.is_none(), "nothing rare was set");
            }
        }
        let mut m = Message::new(
            MessageId::given("SM1".into()),
            5,
            "x".into(),
            Sender::Agent,
            None,
        );
        assert!(m.id_str(&mut [0; 36]) == "SM1" && m.route().is_none() && m.error_code().is_none());
        m.set_error_code(Some(30_003));
        m.set_route(Some(["+1".into(), "+2".into()]));
        assert_eq!(
            (m.error_code(), m.route().map(|r| r[1].as_str())),
            (Some(30_003), Some("+2"))
        );
        m.set_id(MessageId::Drawn([1; 16]));
        assert_eq!(m.id().to_string(), "01010101-0101-0101-0101-010101010101");
        assert!(m.id_is("01010101-0101-0101-0101-010101010101") && !m.id_is("SM1"));
        assert_eq!(m.error_code(), Some(30_003));
        // A drawn id in place of a given one leaves no empty box behind.
        let mut plain = Message::new(
            MessageId::given("SM2".into()),
            5,
            "x".into(),
            Sender::Agent,
            None,
        );
        plain.set_id(MessageId::Drawn([2; 16]));
        assert!(plain.rare.is_none());
    }

    #[test]
    fn the_message_list_grows_by_a_quarter() {
        let mut c = Conversation::default();
        let m = Message::new(
            MessageId::Drawn([0; 16]),
            0,
            "hi".into(),
            Sender::User,
            None,
        );
        c.push_message(m.clone());
        assert_eq!(c.messages.capacity(), 1);
        for _ in 1..100 {
            c.push_message(m.clone());
        }
        assert_eq!(c.message_count(), 100);
        let room = c.messages.capacity();
        assert!((100..=125).contains(&room), "{room}");
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
