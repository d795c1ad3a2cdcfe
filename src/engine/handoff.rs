//! The human handoff family (§3.9–3.12) as engine steps: handing the thread to a person (by the
//! API or a Transfer-to-Human node), giving it back, and closing the conversation by `/end`.

use serde_json::{json, Map, Value};

use super::Ctx;
use crate::base::clock::iso;
use crate::base::error::ApiError;
use crate::base::event::Status;
use crate::state::model::{Conversation, EndKind, Handoff, HandoffSource, Sender};

/// `POST …/handoff`, checked.
pub(crate) struct HandoffRequest {
    pub reason: Option<String>,
    pub metadata: Map<String, Value>,
    pub actor: Option<String>,
    /// Replaces the conversation's webhook URL.
    pub webhook: Option<String>,
    /// A rep's number to text a notice to.
    pub notify_number: Option<String>,
    /// Who hands off: the API, or a scenario's Transfer-to-Human node.
    pub source: HandoffSource,
}

/// `POST …/resume`, checked.
pub(crate) struct ResumeRequest {
    pub node_id: Option<String>,
    pub message: Option<String>,
    pub generate_reply: bool,
    pub actor: Option<String>,
}

fn ended() -> ApiError {
    ApiError::bad_request(
        "CONVERSATION_ENDED",
        "Conversation has ended; its user's next text starts a new conversation",
    )
}

impl Ctx<'_> {
    /// `POST …/handoff`: returns whether a handoff was already active (then nothing changes
    /// but the webhook URL).
    ///
    /// # Errors
    /// 400 `CONVERSATION_ENDED`.
    pub fn hand_off(&mut self, c: &mut Conversation, r: HandoffRequest) -> Result<bool, ApiError> {
        if !c.is_active {
            return Err(ended());
        }
        if r.webhook.is_some() {
            c.details.webhook = r.webhook;
        }
        let reason = r.reason.clone();
        let already = self.start_handoff(c, r.reason, r.metadata, r.source, r.actor);
        if let (false, Some(to)) = (already, r.notify_number) {
            self.notify_rep(c, to, reason);
        }
        Ok(already)
    }

    /// `POST …/resume`: gives the thread back to the agent, optionally at a node, with a fixed
    /// message or a generated reply. Returns whether a handoff was active and the id of the
    /// message sent.
    ///
    /// # Errors
    /// 400 `CONVERSATION_ENDED`.
    pub fn resume(
        &mut self,
        c: &mut Conversation,
        r: ResumeRequest,
    ) -> Result<(bool, Option<String>), ApiError> {
        if !c.is_active {
            return Err(ended());
        }
        let was_active = self.end_handoff(c, r.actor);
        if let Some(n) = r.node_id {
            c.current_node_id = Some(n.into());
            c.updated_at = self.now;
        }
        let message_id = match r.message {
            Some(t) => self.agent_message(c, Sender::Agent, t),
            None if r.generate_reply => self.speak_first(c),
            None => None,
        };
        Ok((was_active, message_id))
    }

    /// `POST …/end`: outcomes run and one `ended` webhook fires; nothing is texted. Returns
    /// whether the conversation was handed off, or `None` when it had already ended.
    pub fn close(
        &mut self,
        c: &mut Conversation,
        reason: Option<String>,
        actor: Option<String>,
    ) -> Option<bool> {
        if !c.is_active {
            return None;
        }
        let handed_off = c.handoff.is_some();
        let reason = reason.unwrap_or_else(|| {
            if handed_off {
                "Conversation ended by the human rep".into()
            } else {
                "Conversation ended via API".into()
            }
        });
        if let Some(a) = actor {
            c.details
                .metadata
                .insert("ended_by".into(), json!({ "actor": a }));
        }
        self.end(c, EndKind::Ended, Some(reason));
        Some(handed_off)
    }

    /// Hands the thread to a human: the agent goes silent, the timer is suspended, one
    /// `human_handoff` webhook fires. Returns `true` when a handoff was already active.
    pub fn start_handoff(
        &mut self,
        c: &mut Conversation,
        reason: Option<String>,
        metadata: Map<String, Value>,
        source: HandoffSource,
        actor: Option<String>,
    ) -> bool {
        if c.handoff.is_some() {
            return true;
        }
        let mut m = Map::new();
        m.insert("source".into(), json!(source));
        if let Some(a) = actor {
            m.insert("actor".into(), json!(a));
        }
        m.extend(metadata);
        c.handoff = Some(Box::new(Handoff {
            at: self.now,
            reason: reason.clone(),
            metadata: m,
            by_human_mode: source == HandoffSource::HumanMode,
        }));
        c.updated_at = self.now;
        self.cancel_timer(c);
        let mut extra = Map::new();
        extra.insert("reason".into(), json!(reason));
        self.status_webhook(c, Status::HumanHandoff, extra);
        false
    }

    /// Legacy human mode's handoff (`POST /v1/sms/toggle`), marked as its own so that turning
    /// human mode off ends it (and leaves any other handoff).
    pub fn human_mode_handoff(&mut self, c: &mut Conversation) {
        let reason = Some(crate::state::model::HUMAN_MODE_REASON.to_string());
        self.start_handoff(c, reason, Map::new(), HandoffSource::HumanMode, None);
    }

    /// Bland texts the rep a notice from the agent number when a handoff names a
    /// `notify_number`; it is not part of the thread, so it goes to the outbox.
    pub(super) fn notify_rep(&mut self, c: &Conversation, to: String, reason: Option<String>) {
        self.app.store.record_outbox(json!({
            "kind": "handoff_notice",
            "conversation_id": c.id,
            "from": c.agent_number,
            "to": to,
            "message": format!(
                "Conversation {} was handed off to you{}",
                c.id,
                reason.map(|r| format!(": {r}")).unwrap_or_default()
            ),
            "created_at": iso(self.now),
        }));
    }

    /// Gives the thread back to the agent; returns whether a handoff was active.
    pub fn end_handoff(&mut self, c: &mut Conversation, actor: Option<String>) -> bool {
        if c.handoff.is_none() {
            return false;
        }
        let mut extra = Map::new();
        extra.insert("actor".into(), json!(actor));
        // The webhook still carries the handoff's metadata; then it is cleared.
        self.status_webhook(c, Status::HumanHandoffEnded, extra);
        c.handoff = None;
        c.updated_at = self.now;
        self.arm_timer(c);
        true
    }
}
