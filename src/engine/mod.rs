//! The conversation lifecycle, applied under one conversation's map guard by a [`Ctx`]: storing
//! messages, the inactivity timer (§6) and ending here; handoff, resume and `/end` in `handoff`;
//! opening conversations,
//! inbound texts and re-activation in `lifecycle`; end-of-conversation outcomes in `outcomes`;
//! scenario turns and their template variables in `turns`; firing timers and `advance` in
//! `time`. Every step is synchronous; webhooks are only *prepared* (collected in [`Effects`])
//! and sent after the guard is dropped, by [`apply`] or the timer code.

pub(crate) mod app;
pub(crate) mod batch;
pub(crate) mod config;
mod handoff;
mod lifecycle;
mod outcomes;
pub(crate) mod pathway;
pub(crate) mod payload;
mod receipts;
pub(crate) mod rules;
pub(crate) mod send;
pub(crate) mod snapshot;
mod time;
mod turns;

pub(crate) use handoff::{HandoffRequest, ResumeRequest};
pub(crate) use lifecycle::{
    apply, check_timing, delete, inbound, open, reactivate, Opening, Overrides,
};
pub(crate) use outcomes::extract;

/// The longest handoff reason, in characters: what `/handoff` takes, and what a handoff node's
/// rendered reason is cut to.
pub(crate) const MAX_REASON_CHARS: usize = 500;
pub(crate) use time::{advance, drive};

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::base::clock::iso;
use crate::engine::app::App;
use crate::engine::app::TimerKind;
use crate::state::carrier::Failure;
use crate::state::model::Stage;
use crate::state::model::{
    Conversation, EndKind, Message, MessageId, MessageStatus, NumberConfig, Sender, TimeoutAction,
    Timing,
};

use crate::base::event::{Event, Status};
use crate::scenario::Scenario;

/// What a step leaves for after the guard: the webhook deliveries to attempt, in order, and
/// the pathway Webhook node requests to send.
#[derive(Default, Debug)]
pub(crate) struct Effects {
    pub deliveries: Vec<u64>,
    pub calls: Vec<pathway::PendingCall>,
}

impl Effects {
    /// Adds what another step left.
    pub fn merge(&mut self, other: Effects) {
        self.deliveries.extend(other.deliveries);
        self.calls.extend(other.calls);
    }
}

/// Keywords that opt a user out (whole message, any case), as carriers treat them.
pub(crate) const STOP_WORDS: &[&str] = &[
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
];
/// Keywords that opt a user back in.
pub(crate) const START_WORDS: &[&str] = &["start", "unstop", "yes"];

fn is_word(text: &str, words: &[&str]) -> bool {
    let t = text.trim().to_lowercase();
    words.iter().any(|w| *w == t)
}
pub(crate) fn is_stop(text: &str) -> bool {
    is_word(text, STOP_WORDS)
}
pub(crate) fn is_start(text: &str) -> bool {
    is_word(text, START_WORDS)
}

/// The context of one step on one conversation.
pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub cfg: Arc<NumberConfig>,
    pub now: i64,
    pub fx: Effects,
    /// Pathway nodes entered in this step (bounded by `pathway::MAX_HOPS`).
    pub hops: u32,
    /// Pathway Webhook node requests of this turn (bounded by `pathway::MAX_CALLS_PER_TURN`).
    pub calls: u32,
}

/// The effective config of a conversation's number and channel.
pub(crate) fn config_for(app: &App, c: &Conversation) -> Arc<NumberConfig> {
    app.store.effective_config(&c.agent_number, c.channel)
}

impl<'a> Ctx<'a> {
    pub fn new(app: &'a App, cfg: Arc<NumberConfig>) -> Self {
        Ctx {
            app,
            cfg,
            now: app.now(),
            fx: Effects::default(),
            hops: 0,
            calls: 0,
        }
    }

    /// Runs `f` on conversation `id` (owned by `account`, when given) with its number's config.
    pub fn with<T>(
        app: &'a App,
        account: Option<&str>,
        id: &str,
        f: impl FnOnce(&mut Ctx, &mut Conversation) -> T,
    ) -> Option<(T, Effects)> {
        // Read the config first: no number guard is ever held under a conversation guard.
        let (agent, channel) = app
            .store
            .read_conversation(account, id, |c| (c.agent_number.clone(), c.channel))?;
        let cfg = app.store.effective_config(&agent, channel);
        app.store.with_conversation(account, id, |c| {
            let mut ctx = Ctx::new(app, cfg);
            let out = f(&mut ctx, c);
            (out, ctx.fx)
        })
    }

    /// [`Ctx::with`] for any owner, keeping only the effects.
    pub fn run(
        app: &'a App,
        id: &str,
        f: impl FnOnce(&mut Ctx, &mut Conversation),
    ) -> Option<Effects> {
        Self::with(app, None, id, f).map(|(_, fx)| fx)
    }

    pub(super) fn scenario(&self, c: &Conversation) -> Arc<Scenario> {
        match &c.script {
            Some(s) => s.clone(),
            None => self.app.scenarios.load().get(&c.scenario),
        }
    }

    // ---- messages and webhooks ------------------------------------------------------------

    /// Stores a message (and fires its message webhook when `notify`); returns its index.
    pub fn add_message(
        &mut self,
        c: &mut Conversation,
        sender: Sender,
        text: String,
        id: Option<String>,
        notify: bool,
    ) -> usize {
        // Only a text that is sent meets the carrier (`/create` stores without sending).
        let (status, error_code) = match sender {
            Sender::User => (None, None),
            _ if notify => {
                let (status, code) = self.carrier_start(c, c.messages.len(), &text);
                (Some(status), code)
            }
            _ => (Some(MessageStatus::Delivered), None),
        };
        self.app.metrics.message();
        let id = match id {
            Some(given) => {
                c.foreign_ids = true;
                MessageId::given(given)
            }
            None => MessageId::Drawn(self.fresh_message_id(c)),
        };
        let mut m = Message::new(id, self.now, text.into_boxed_str(), sender, status);
        m.set_error_code(error_code);
        c.push_message(m);
        c.updated_at = self.now;
        c.last_message_at = Some(self.now);
        let idx = c.messages.len() - 1;
        if notify {
            self.message_webhook(c, idx);
        }
        idx
    }

    /// How the carrier takes outbound text `text`, about to be message `index`: its first
    /// status and error code; with realistic timing, its `sent` step is scheduled.
    /// A message id no message of `c` has. Ids drawn in this run never repeat, so only a
    /// conversation that holds ids from elsewhere (a document, a client) is searched, and
    /// a clash draws again.
    fn fresh_message_id(&self, c: &Conversation) -> [u8; 16] {
        loop {
            let id = self.app.store.ids().uuid_bytes();
            if !c.foreign_ids || !c.messages.iter().any(|m| m.has_drawn(&id)) {
                return id;
            }
        }
    }

    fn carrier_start(
        &self,
        c: &mut Conversation,
        index: usize,
        text: &str,
    ) -> (MessageStatus, Option<u16>) {
        let carrier = &self.app.carrier;
        self.app
            .metrics
            .segments(crate::state::carrier::segments(text));
        let failure = carrier.failure_for(&c.user_number);
        if carrier.realistic_for(&c.owner.key) {
            if carrier.pending_after_ms > 0 {
                self.carrier_next(c, index, MessageStatus::Queued, failure);
                return (MessageStatus::Pending, None);
            }
            self.carrier_next(c, index, MessageStatus::Sent, failure);
            return (MessageStatus::Queued, None);
        }
        let (status, code) = match failure {
            None => (MessageStatus::Delivered, None),
            Some((f, code)) => (f.status(), Some(code)),
        };
        if code.is_some() {
            self.app.metrics.carrier_outcome(status);
        }
        (status, code)
    }

    /// With a read rule for the user, on RCS or WhatsApp: message `index`, delivered now, is
    /// read the rule's delay later.
    fn read_later(&self, c: &Conversation, index: usize) {
        if !(c.rcs || c.channel == crate::base::validation::Channel::Whatsapp) {
            return;
        }
        let Some(ms) = self.app.carrier.read_after(&c.user_number) else {
            return;
        };
        let key = self.app.schedule(
            self.now.saturating_add(ms as i64),
            TimerKind::Carrier {
                conversation_id: c.id.to_string(),
                index,
                to: MessageStatus::Read,
                failure: None,
            },
        );
        self.app.carrier.track(&c.id, key);
    }

    /// Schedules message `index`'s carrier step to `to`, a step's delay from now.
    fn carrier_next(
        &self,
        c: &mut Conversation,
        index: usize,
        to: MessageStatus,
        failure: Option<(Failure, u16)>,
    ) {
        let carrier = &self.app.carrier;
        let delay = match to {
            MessageStatus::Queued => carrier.pending_after_ms,
            MessageStatus::Sent => carrier.sent_after_ms,
            _ => carrier.delivered_after_ms,
        };
        let key = self.app.schedule(
            self.now.saturating_add(delay as i64),
            TimerKind::Carrier {
                conversation_id: c.id.to_string(),
                index,
                to,
                failure,
            },
        );
        self.app.carrier.track(&c.id, key);
    }

    /// Texts a restored state left in flight (`queued` or `sent`) go on from now: a state
    /// document does not hold the carrier's pending steps.
    pub fn resume_carrier(&self, c: &mut Conversation) {
        let failure = self.app.carrier.failure_for(&c.user_number);
        for index in 0..c.messages.len() {
            match c.messages[index].status() {
                Some(MessageStatus::Pending) => {
                    self.carrier_next(c, index, MessageStatus::Queued, failure)
                }
                Some(MessageStatus::Queued) => {
                    self.carrier_next(c, index, MessageStatus::Sent, failure)
                }
                Some(MessageStatus::Sent) => {
                    self.carrier_next(c, index, MessageStatus::Delivered, failure)
                }
                _ => {}
            }
        }
    }

    /// The carrier's step for message `index` to `to`: `sent` (or `failed`, which ends it),
    /// then `delivered` (or `undelivered`).
    pub fn carrier_step(
        &mut self,
        c: &mut Conversation,
        key: crate::base::clock::TimerKey,
        index: usize,
        to: MessageStatus,
        failure: Option<(Failure, u16)>,
    ) {
        self.app.carrier.done(&c.id, key);
        if index >= c.messages.len() {
            return;
        }
        // A message read stays read (a receipt comes only once it is delivered).
        if c.messages[index].status() == Some(MessageStatus::Read) {
            return;
        }
        if to == MessageStatus::Read {
            // A read rule's step: a message still delivered is read now.
            if c.messages[index].status() == Some(MessageStatus::Delivered) {
                self.mark_read(c, index);
            }
            return;
        }
        let (status, code) = match (to, failure) {
            (MessageStatus::Queued, _) => {
                self.carrier_next(c, index, MessageStatus::Sent, failure);
                (MessageStatus::Queued, None)
            }
            (MessageStatus::Sent, Some((Failure::Failed, code))) => {
                (MessageStatus::Failed, Some(code))
            }
            (MessageStatus::Sent, _) => {
                self.carrier_next(c, index, MessageStatus::Delivered, failure);
                (MessageStatus::Sent, None)
            }
            (_, Some((Failure::Undelivered, code))) => (MessageStatus::Undelivered, Some(code)),
            _ => {
                self.read_later(c, index);
                (MessageStatus::Delivered, None)
            }
        };
        if !matches!(status, MessageStatus::Sent | MessageStatus::Queued) {
            self.app.metrics.carrier_outcome(status);
        }
        let m = &mut c.messages[index];
        m.set_status(Some(status));
        m.set_error_code(code);
        c.message_updates = c.message_updates.wrapping_add(1);
    }

    /// Whether the account may send one more text now (the Agent Phone Plan's limits; always
    /// for Enterprise): counts it when it may.
    fn may_text(&self, c: &Conversation) -> bool {
        let store = &self.app.store;
        store
            .plan_take(&c.owner.key, c.channel, &c.user_number, self.now)
            .is_ok()
    }

    /// An AGENT (or HUMAN) message to the user that restarts the inactivity timer. Returns its
    /// id; `None` when the user has opted out (nothing reaches them).
    pub fn agent_message(
        &mut self,
        c: &mut Conversation,
        sender: Sender,
        text: String,
    ) -> Option<String> {
        if self.app.store.is_opted_out(&c.agent_number, &c.user_number) || !self.may_text(c) {
            return None;
        }
        let idx = self.add_message(c, sender, text, None, true);
        self.arm_timer(c);
        Some(c.messages[idx].id().to_string())
    }

    fn webhook_url(&self, c: &Conversation) -> Option<String> {
        self.app
            .config
            .webhook_url
            .clone()
            .or_else(|| c.details.webhook.clone())
            .or_else(|| self.cfg.webhook.clone())
    }

    fn message_webhook(&mut self, c: &mut Conversation, idx: usize) {
        let Some(url) = self.webhook_url(c) else {
            return;
        };
        let body = payload::message(c, idx);
        let id = self.app.webhooks.prepare(
            (self.now, self.app.journal.arrivals()),
            (&c.id, &c.owner.user_id),
            Event::Message,
            &url,
            body,
        );
        self.fx.deliveries.push(id);
    }

    /// Prepares a status webhook (`ended`, `timeout`, `human_handoff`, …) with `extra` fields:
    /// the conversation's latest, which its webhook log shows and a resend sends again.
    pub fn status_webhook(
        &mut self,
        c: &mut Conversation,
        status: Status,
        extra: Map<String, Value>,
    ) {
        if let Some(id) = self.status_delivery(c, status, extra) {
            c.status_delivery = std::num::NonZeroU64::new(id);
        }
    }

    /// Prepares a status webhook about one message (`read`, `link_clicked`): it leaves the
    /// conversation's webhook log as it was.
    pub fn message_event_webhook(
        &mut self,
        c: &mut Conversation,
        status: Status,
        extra: Map<String, Value>,
    ) {
        self.status_delivery(c, status, extra);
    }

    /// A status delivery prepared and queued; its id, or `None` without a webhook URL.
    fn status_delivery(
        &mut self,
        c: &mut Conversation,
        status: Status,
        extra: Map<String, Value>,
    ) -> Option<u64> {
        let url = self.webhook_url(c)?;
        let body = payload::status(c, status, self.now, extra);
        let id = self.app.webhooks.prepare(
            (self.now, self.app.journal.arrivals()),
            (&c.id, &c.owner.user_id),
            Event::Status(status),
            &url,
            body,
        );
        self.fx.deliveries.push(id);
        Some(id)
    }

    // ---- inactivity timer (§6) ------------------------------------------------------------

    pub fn cancel_timer(&mut self, c: &mut Conversation) {
        c.timer_anchor = None;
        if let Some(key) = c.timer_id.take() {
            self.app.timers.cancel(key);
        }
    }

    /// (Re)starts the silence timer from now, when the conversation is active, not handed off,
    /// and has an effective `time_out`.
    pub fn arm_timer(&mut self, c: &mut Conversation) {
        self.cancel_timer(c);
        if !c.is_active || c.handoff.is_some() {
            return;
        }
        let t = Timing::effective(&self.cfg, &c.timing);
        let Some(time_out) = t.time_out else {
            return;
        };
        c.timer_anchor = Some(self.now);
        let (stage, after) = match t.warning_time {
            Some(w) if w < time_out => (Stage::Warning, w),
            _ => (Stage::Timeout, time_out),
        };
        self.schedule_stage(c, stage, self.now + after as i64 * 1000);
    }

    fn schedule_stage(&mut self, c: &mut Conversation, stage: Stage, due: i64) {
        let kind = TimerKind::Inactivity {
            conversation_id: c.id.to_string(),
            stage,
        };
        c.timer_id = Some(self.app.schedule(due, kind));
    }

    /// The warning: sends `warning_message` (without restarting the timer), then waits for the
    /// timeout. Runs only for the current timer, which exists only while the conversation is
    /// active and not handed off (ending and handing off cancel it).
    pub fn warn(&mut self, c: &mut Conversation) {
        let t = Timing::effective(&self.cfg, &c.timing);
        if let Some(msg) = t.warning_message.filter(|m| !m.is_empty()) {
            if self.may_text(c) {
                self.add_message(c, Sender::Agent, msg, None, true);
            }
        }
        if let (Some(anchor), Some(time_out)) = (c.timer_anchor, t.time_out) {
            self.schedule_stage(c, Stage::Timeout, anchor + time_out as i64 * 1000);
        }
    }

    /// The timeout: `timeout_message` (for `timeout_action` `send_sms` or unset), then the end.
    /// Runs only for the current timer, as [`Ctx::warn`].
    pub fn time_out(&mut self, c: &mut Conversation) {
        let t = Timing::effective(&self.cfg, &c.timing);
        let sends = t.timeout_action == TimeoutAction::SendSms;
        if let Some(msg) = t.timeout_message.filter(|m| sends && !m.is_empty()) {
            if self.may_text(c) {
                self.add_message(c, Sender::Agent, msg, None, true);
            }
        }
        self.end(c, EndKind::Timeout, None);
    }

    // ---- ending and outcomes --------------------------------------------------------------

    /// Ends an active conversation: inactive, timer cancelled, handoff moved to
    /// `metadata.last_human_handoff`, outcomes run, and the status webhook (except when
    /// archived by `new_conversation`).
    pub fn end(&mut self, c: &mut Conversation, kind: EndKind, status_reason: Option<String>) {
        if !c.is_active {
            return;
        }
        c.is_active = false;
        c.ended = Some(kind);
        c.updated_at = self.now;
        self.cancel_timer(c);
        if kind == EndKind::Timeout {
            c.timed_out_at = Some(self.now);
        }
        if let Some(h) = c.handoff.take() {
            let mut m = h.metadata;
            m.insert("reason".into(), json!(h.reason));
            m.insert("started_at".into(), json!(iso(h.at)));
            m.insert("ended_at".into(), json!(iso(self.now)));
            c.details
                .metadata
                .insert("last_human_handoff".into(), Value::Object(m));
        }
        if kind == EndKind::Archived {
            return;
        }
        let mut extra = self.run_outcomes(c);
        if let Some(r) = status_reason {
            extra.insert("status_reason".into(), json!(r));
        }
        self.status_webhook(c, kind.webhook_status(), extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_start_words_are_whole_messages() {
        assert!(is_stop(" STOP "));
        assert!(is_stop("Unsubscribe"));
        assert!(!is_stop("please stop texting"));
        assert!(is_start("start"));
    }
}
