//! Where conversations begin and come back: finding or opening the (agent, user) pair's
//! conversation for `/send`, `/create` and inbound texts; the inbound rules (STOP, START, the
//! user's turn); re-activation by PATCH; and [`apply`], the one way a handler runs a step on a
//! conversation and sends what it caused.

use serde_json::{Map, Value};

use super::{is_start, is_stop, Ctx, Effects};
use crate::base::error::ApiError;
use crate::base::event::Status;
use crate::base::validation::{check_timeouts, Channel};
use crate::engine::app::App;
use crate::scenario::Selector;
use crate::state::model::{
    Conversation, Details, EndKind, Lazy, Message, NumberRecord, Sender, SmallStr, TimingOverrides,
};

/// Runs `f` on conversation `id` (owned by `account`, when given) and sends the webhooks it
/// prepared in the background.
///
/// # Errors
/// 404 `CONVERSATION_NOT_FOUND` when the conversation is missing, another account's, or was
/// deleted in the instant since the caller looked it up.
pub(crate) fn apply<T>(
    app: &App,
    account: Option<&str>,
    id: &str,
    f: impl FnOnce(&mut Ctx, &mut Conversation) -> T,
) -> Result<T, ApiError> {
    let (out, fx) = apply_effects(app, account, id, f)?;
    super::pathway::settle_in_background(app, fx);
    Ok(out)
}

/// The step itself and the deliveries it prepared (not sent), or 404.
pub(super) fn apply_effects<T>(
    app: &App,
    account: Option<&str>,
    id: &str,
    f: impl FnOnce(&mut Ctx, &mut Conversation) -> T,
) -> Result<(T, Effects), ApiError> {
    Ctx::with(app, account, id, f).ok_or_else(ApiError::conversation_not_found)
}

/// What finds or opens the pair's conversation, and what seeds a new one.
pub(crate) struct Opening<'a> {
    pub key: &'a str,
    pub number: &'a NumberRecord,
    pub user: &'a str,
    pub channel: Channel,
    /// `/send`'s `channel: "rcs"`: RCS first, even when the number's priority does not say so.
    pub rcs_requested: bool,
    /// Archive the pair's active conversation and open a new one.
    pub new_conversation: bool,
    /// Reuse the pair's latest conversation even when it has ended (inbound texts, §6).
    pub reuse_inactive: bool,
    pub pathway_id: Option<String>,
    pub pathway_version: Option<String>,
    pub start_node_id: Option<String>,
    pub persona_id: Option<String>,
    /// `/send`'s `objective`: it may choose the scenario of a new conversation.
    pub objective: Option<&'a str>,
}

/// Finds the pair's conversation (the active one, or with `reuse_inactive` the latest) or opens
/// a new one, atomically for concurrent callers; returns its id. With `new_conversation` the
/// active one is archived quietly (no webhook).
pub(crate) fn open(app: &App, o: &Opening) -> String {
    let (id, _) = app.store.resolve_pair(
        o.key,
        &o.number.phone_number,
        o.user,
        |c| {
            if c.is_active && o.new_conversation {
                // Archived under the pair's entry, so the pair never has two active ones.
                archive(app, c);
            }
            (c.is_active && !o.new_conversation) || (!c.is_active && o.reuse_inactive)
        },
        || new_conversation(app, o),
    );
    id
}

/// Ends a conversation quietly because another takes its place: no webhook, no outcomes, so
/// no number config is needed (and none is read under the guards the caller holds).
fn archive(app: &App, c: &mut Conversation) {
    if c.is_active {
        Ctx::new(app, Default::default()).end(c, EndKind::Archived, None);
    }
}

/// A fresh conversation for the opening: its scenario chosen, its start node, pathway and
/// `request_data` from the request or else the number's config.
fn new_conversation(app: &App, o: &Opening) -> Conversation {
    let now = app.now();
    let cfg = o.number.effective_config(o.channel);
    let pathway_id = o.pathway_id.clone().or(cfg.pathway_id.clone());
    let start_node = o.start_node_id.clone().or(cfg.start_node_id.clone());
    let scenario = app.scenarios.load().choose(&Selector {
        pathway_id: pathway_id.as_deref(),
        persona_id: o.persona_id.as_deref(),
        start_node_id: start_node.as_deref(),
        objective: o.objective,
        agent_number: &o.number.phone_number,
    });
    if let Some(p) = pathway_id.as_deref() {
        if !scenario.matcher.pathway_ids.iter().any(|x| x == p) {
            unmatched_pathway(p, &scenario.name);
        }
    }
    let version = o
        .pathway_version
        .clone()
        .or_else(|| match &cfg.pathway_version {
            Value::Null => None,
            Value::String(v) => Some(v.clone()),
            v => Some(v.to_string()),
        });
    let node = start_node
        .filter(|n| scenario.nodes.contains_key(n))
        .unwrap_or(scenario.start_node.clone());
    let owner = app.store.owner(o.key);
    Conversation {
        id: app.store.ids().uuid().into(),
        owner,
        created_at: now,
        updated_at: now,
        user_number: o.user.into(),
        agent_number: o.number.phone_number.as_str().into(),
        inbound_id: o.number.inbound_id,
        channel: o.channel,
        // RCS first (by the number's priority, or asked for), when the user's phone takes it;
        // SMS after it.
        rcs: o.channel == Channel::Sms
            && (o.rcs_requested || o.number.rcs_first)
            && app.carrier.takes_rcs(o.user),
        details: Lazy::unless_empty(Details {
            request_data: match &cfg.request_data {
                Value::Object(m) => Lazy::unless_empty(m.clone()),
                _ => Lazy::default(),
            },
            curr_pathway_id: pathway_id,
            curr_pathway_version: version,
            objective: o.objective.map(Into::into),
            ..Details::default()
        }),
        current_node_id: Some(node.into()),
        scenario: scenario.name.clone(),
        script: Some(scenario),
        ..Conversation::default()
    }
}

/// Warns (once per pathway id, for the first 1,000) that no scenario claims a `pathway_id`, so
/// another plays: the usual reason a team's pathway "does not answer". Ids are remembered by
/// their hash (8 bytes each, however long the id a client sent), and shown cut to 100 bytes.
fn unmatched_pathway(pathway_id: &str, playing: &str) {
    use std::hash::BuildHasher;
    static SEEN: std::sync::OnceLock<dashmap::DashSet<u64>> = std::sync::OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let hash = foldhash::fast::FixedState::default().hash_one(pathway_id);
    if seen.len() >= 1000 || !seen.insert(hash) {
        return;
    }
    let id = crate::base::input::prefix(pathway_id, 100);
    tracing::warn!(
        "pathway_id {id:?} matches no loaded scenario, so {playing:?} plays: load the pathway \
         with --scenarios (a bare file named {id}.json, or an overlay whose match.pathway_ids \
         has it)"
    );
}

/// What a conversation keeps from a `/send` or `/create` until a later request replaces it.
#[derive(Default)]
pub(crate) struct Overrides {
    pub timing: TimingOverrides,
    pub request_data: Option<Value>,
    pub metadata: Option<Map<String, Value>>,
    pub webhook: Option<String>,
    pub disposition_ids: Option<Vec<String>>,
    pub citation_schema_ids: Option<Vec<String>>,
    pub objective: Option<String>,
}

impl Overrides {
    /// Merges what was given into the conversation; what was not is kept.
    pub fn apply(self, c: &mut Conversation) {
        let t = self.timing;
        if t.time_out.is_some() {
            c.timing.time_out = t.time_out;
        }
        if t.warning_time.is_some() {
            c.timing.warning_time = t.warning_time;
        }
        if t.timeout_message.is_some() {
            c.timing.timeout_message = t.timeout_message;
        }
        if t.warning_message.is_some() {
            c.timing.warning_message = t.warning_message;
        }
        // Empty maps add nothing (and allocate nothing).
        if let Some(Value::Object(m)) = self
            .request_data
            .filter(|m| m.as_object().is_some_and(|m| !m.is_empty()))
        {
            c.details.request_data.extend(m);
        }
        if let Some(meta) = self.metadata.filter(|m| !m.is_empty()) {
            c.details.metadata.extend(meta);
        }
        if self.webhook.is_some() {
            c.details.webhook = self.webhook;
        }
        if self.disposition_ids.is_some() {
            c.details.disposition_ids = self.disposition_ids.map(Vec::into_boxed_slice);
        }
        if self.citation_schema_ids.is_some() {
            c.details.citation_schema_ids = self.citation_schema_ids.map(Vec::into_boxed_slice);
        }
        if let Some(o) = self.objective {
            c.details.objective = Some(o.into());
        }
    }
}

/// What an inbound text did.
pub(crate) struct Inbound {
    pub conversation_id: String,
    pub message_id: String,
    /// What the agent stored after the user's text, within this step.
    pub replies: Vec<Message>,
}

/// A text from `user` to agent number `number`: lands on the pair's active conversation, or
/// (when the user is opted out or the number does not restart ended conversations, §6) its
/// latest one, else a new one. STOP opts out and ends the conversation; START opts back in; any
/// other text is the user's turn while the agent has the thread. The answer waits until every
/// reply due now is stored and its webhooks were tried once.
///
/// # Errors
/// 404 `CONVERSATION_NOT_FOUND` when the conversation was deleted in the instant since it was
/// resolved.
pub(crate) async fn inbound(
    app: &App,
    number: &NumberRecord,
    user: &str,
    channel: Channel,
    text: String,
) -> Result<Inbound, ApiError> {
    let opted_out = app.store.is_opted_out(&number.phone_number, user);
    let restart = number.effective_config(channel).restart_after_end_call;
    let human_mode = number.human_mode;
    let id = open(
        app,
        &Opening {
            key: &number.owner,
            number,
            user,
            channel,
            rcs_requested: false,
            new_conversation: false,
            reuse_inactive: opted_out || !restart,
            pathway_id: None,
            pathway_version: None,
            start_node_id: None,
            persona_id: None,
            objective: None,
        },
    );
    let ((message_id, mut replies), fx) = apply_effects(app, None, &id, move |ctx, c| {
        let idx = ctx.add_message(c, Sender::User, text.clone(), None, true);
        if is_stop(&text) {
            ctx.opt_out(c);
        } else if opted_out {
            if is_start(&text) {
                let store = &ctx.app.store;
                store.set_opted_out(&c.agent_number, &c.user_number, false);
            }
        } else if c.is_active && c.handoff.is_none() && human_mode {
            // Legacy human mode: the text goes to a human, the agent stays silent.
            ctx.human_mode_handoff(c);
        } else if c.is_active && c.handoff.is_none() {
            ctx.arm_timer(c);
            ctx.user_turn(c, &text);
        }
        let replies: Vec<Message> = c.messages[idx + 1..]
            .iter()
            .filter(|m| m.sender() != Sender::User)
            .cloned()
            .collect();
        (c.messages[idx].id().to_string(), replies)
    })?;
    // What the agent said once a pathway's Webhook node requests were answered.
    replies.extend(super::pathway::settle(app, fx, true).await);
    Ok(Inbound {
        conversation_id: id,
        message_id,
        replies,
    })
}

/// PATCH `is_active:true`: an ended conversation becomes active again and its pair's current
/// one; the pair's other active conversation (if any) is archived, all under the pair's entry
/// so that concurrent re-activations and `new_conversation` sends leave one active conversation.
///
/// # Errors
/// 404 `CONVERSATION_NOT_FOUND`.
pub(crate) fn reactivate<T>(
    app: &App,
    key: &str,
    id: &str,
    then: impl FnOnce(&Conversation) -> T,
) -> Result<T, ApiError> {
    let now = app.now();
    app.store
        .make_current(
            key,
            id,
            |current| archive(app, current),
            |c| {
                if !c.is_active {
                    c.is_active = true;
                    c.ended = None;
                    c.updated_at = now;
                }
                then(c)
            },
        )
        .ok_or_else(ApiError::conversation_not_found)
}

/// Checks, before `/send` or `/create` changes anything, that the timeout fields keep
/// `warning_time < time_out` with what is already in force: the overrides of the conversation
/// the request will land on (the pair's active one, unless `fresh`), else the number's config.
///
/// # Errors
/// 400 `INVALID_TIMEOUT_CONFIG`.
pub(crate) fn check_timing(
    app: &App,
    t: &TimingOverrides,
    number: &NumberRecord,
    channel: Channel,
    user: &str,
    fresh: bool,
) -> Result<(), ApiError> {
    if t.time_out.is_none() && t.warning_time.is_none() {
        return Ok(());
    }
    let existing = (!fresh)
        .then(|| app.store.pair_latest(&number.phone_number, user))
        .flatten()
        .and_then(|id| {
            app.store
                .read_conversation(None, &id, |c| c.is_active.then(|| c.timing.clone()))
        })
        .flatten()
        .unwrap_or_default();
    let cfg = number.effective_config(channel);
    let time_out = t.time_out.or(existing.time_out).or(cfg.time_out);
    let warning = t
        .warning_time
        .or(existing.warning_time)
        .or(cfg.warning_time);
    check_timeouts(warning, time_out, t.warning_time.is_some())
}

/// Deletes a conversation with its messages and its pending inactivity timer.
///
/// # Errors
/// 404 `CONVERSATION_NOT_FOUND`.
pub(crate) fn delete(app: &App, key: &str, id: &str) -> Result<(), ApiError> {
    let c = app
        .store
        .delete_conversation(key, id)
        .ok_or_else(ApiError::conversation_not_found)?;
    if let Some(t) = c.timer_id {
        app.timers.cancel(t);
    }
    for t in app.carrier.forget(&c.id) {
        app.timers.cancel(t);
    }
    Ok(())
}

impl Ctx<'_> {
    /// `/create`'s positioning: the pathway, its version and the node, each when given.
    pub(crate) fn position(
        &mut self,
        c: &mut Conversation,
        pathway_id: Option<String>,
        pathway_version: Option<String>,
        node: Option<String>,
    ) {
        if pathway_id.is_some() {
            c.details.curr_pathway_id = pathway_id;
        }
        if pathway_version.is_some() {
            c.details.curr_pathway_version = pathway_version;
        }
        if node.is_some() {
            c.current_node_id = node.map(SmallStr::from);
        }
    }

    /// `/create`'s message: stored without a webhook, unless `message_sid` names a message the
    /// conversation already has (a repeat stores nothing).
    pub(crate) fn record(
        &mut self,
        c: &mut Conversation,
        sender: Sender,
        text: String,
        message_sid: Option<String>,
    ) {
        let duplicate = message_sid
            .as_ref()
            .is_some_and(|sid| c.messages.iter().any(|m| m.id_is(sid)));
        if !duplicate {
            self.add_message(c, sender, text, message_sid, false);
        }
    }

    /// The user texted STOP: opted out of this agent number, and the conversation ends
    /// `blacklisted` (an ended one only sends the webhook).
    pub(crate) fn opt_out(&mut self, c: &mut Conversation) {
        self.app
            .store
            .set_opted_out(&c.agent_number, &c.user_number, true);
        if c.is_active {
            self.end(c, EndKind::Blacklisted, None);
        } else {
            self.status_webhook(c, Status::Blacklisted, Map::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_overrides_keep_a_conversation_plain() {
        let mut c = Conversation::default();
        Overrides {
            request_data: Some(Value::Object(Map::new())),
            metadata: Some(Map::new()),
            ..Overrides::default()
        }
        .apply(&mut c);
        assert!(!c.details.is_set(), "nothing was allocated");
        let mut meta = Map::new();
        meta.insert("k".into(), Value::Bool(true));
        Overrides {
            metadata: Some(meta.clone()),
            ..Overrides::default()
        }
        .apply(&mut c);
        assert_eq!(*c.details.metadata, meta);
    }
}
