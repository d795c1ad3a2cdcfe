//! `POST /v1/sms/send` (§3.3) and `POST /v1/sms/create` (§3.5): both resolve the (agent, user)
//! pair's conversation — resume the active one, or start one (archiving the old one with
//! `new_conversation:true`) — and apply the per-conversation overrides. Everything is validated
//! before any state changes.

use serde_json::{json, Map, Value};

use super::numbers::check_timeouts;
use super::{
    agent_number, body, check_opt_out, claim, require, require_enterprise, sender, version_text,
};
use crate::app::App;
use crate::body::Reply;
use crate::engine::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::model::{Conversation, EndKind, NumberRecord, Sender, TimingOverrides};
use crate::routes::Req;
use crate::scenario::Selector;
use crate::validation::{Channel, Fields};

/// The timing fields of a request, checked against what will be in force.
fn timing(
    app: &App,
    f: &Fields,
    number: &NumberRecord,
    channel: Channel,
    user: &str,
    fresh: bool,
) -> Result<TimingOverrides, ApiError> {
    let given = TimingOverrides {
        time_out: f.seconds("time_out")?,
        timeout_message: f.string("timeout_message")?,
        warning_time: f.seconds("warning_time")?,
        warning_message: f.string("warning_message")?,
    };
    if given.time_out.is_some() || given.warning_time.is_some() {
        // Compare with the override the active conversation already carries, else the config.
        let existing = (!fresh)
            .then(|| app.store.pair_latest(&number.phone_number, user))
            .flatten()
            .and_then(|id| {
                app.store
                    .with_conversation(None, &id, |c| c.is_active.then(|| c.timing.clone()))
            })
            .flatten()
            .unwrap_or_default();
        let cfg = number.effective_config(channel);
        let t = given.time_out.or(existing.time_out).or(cfg.time_out);
        let w = given
            .warning_time
            .or(existing.warning_time)
            .or(cfg.warning_time);
        check_timeouts(w, t, given.warning_time.is_some())?;
    }
    Ok(given)
}

/// What picks and seeds a new conversation.
struct Start<'a> {
    key: &'a str,
    number: &'a NumberRecord,
    user: &'a str,
    channel: Channel,
    new_conversation: bool,
    /// Reuse the pair's latest conversation even when it has ended (inbound texts, §6).
    reuse_inactive: bool,
    pathway_id: Option<String>,
    pathway_version: Option<String>,
    start_node_id: Option<String>,
    persona_id: Option<String>,
}

/// Finds or creates the pair's conversation; returns its id.
fn resolve(app: &App, s: &Start) -> String {
    let now = app.now();
    let cfg = s.number.effective_config(s.channel);
    let pathway_id = s.pathway_id.clone().or(cfg.pathway_id.clone());
    let start_node = s.start_node_id.clone().or(cfg.start_node_id.clone());
    let mut archived = None;
    let (id, _) = app.store.resolve_pair(
        s.key,
        &s.number.phone_number,
        s.user,
        |c| {
            if c.is_active && s.new_conversation {
                archived = Some(c.id.clone());
            }
            (c.is_active && !s.new_conversation) || (!c.is_active && s.reuse_inactive)
        },
        || {
            let scenario = app.scenarios.choose(&Selector {
                pathway_id: pathway_id.as_deref(),
                persona_id: s.persona_id.as_deref(),
                start_node_id: start_node.as_deref(),
                agent_number: &s.number.phone_number,
            });
            let version = s
                .pathway_version
                .clone()
                .or_else(|| match &cfg.pathway_version {
                    Value::Null => None,
                    Value::String(v) => Some(v.clone()),
                    v => Some(v.to_string()),
                });
            Conversation {
                id: app.store.ids().uuid(),
                account: s.key.to_string(),
                user_id: app.store.account_info(s.key).1,
                created_at: now,
                updated_at: now,
                user_number: s.user.to_string(),
                agent_number: s.number.phone_number.clone(),
                inbound_id: s.number.inbound_id,
                channel: s.channel,
                variables: None,
                request_data: match &cfg.request_data {
                    Value::Object(m) => m.clone(),
                    _ => Map::new(),
                },
                metadata: Map::new(),
                current_node_id: Some(
                    start_node
                        .clone()
                        .filter(|n| scenario.nodes.contains_key(n))
                        .unwrap_or(scenario.start_node.clone()),
                ),
                curr_pathway_id: pathway_id.clone(),
                curr_pathway_version: version,
                scenario: scenario.name.clone(),
                timed_out_at: None,
                last_message_at: None,
                is_active: true,
                ended: None,
                ended_by_end_call_node: false,
                summary: None,
                citation_variables: None,
                disposition_tag: None,
                disposition_logs: Vec::new(),
                messages: Vec::new(),
                webhook: None,
                timing: TimingOverrides::default(),
                disposition_ids: None,
                citation_schema_ids: None,
                handoff: None,
                timer_id: None,
                timer_anchor: None,
                status_delivery: None,
                turns: 0,
            }
        },
    );
    if let Some(old) = archived {
        // `new_conversation:true`: the old one is archived quietly (no webhook).
        if let Some(fx) = Ctx::run(app, &old, |ctx, c| ctx.end(c, EndKind::Archived, None)) {
            app.deliver_in_background(fx.deliveries);
        }
    }
    id
}

/// The conversation an inbound text lands on: the pair's active one, else (when
/// `reuse_inactive`) its latest ended one, else a new one.
pub fn resolve_for_inbound(
    app: &App,
    number: &NumberRecord,
    user: &str,
    channel: Channel,
    reuse_inactive: bool,
) -> String {
    resolve(
        app,
        &Start {
            key: &number.owner,
            number,
            user,
            channel,
            new_conversation: false,
            reuse_inactive,
            pathway_id: None,
            pathway_version: None,
            start_node_id: None,
            persona_id: None,
        },
    )
}

/// Merges the persisting overrides of a request into the conversation.
fn apply_overrides(c: &mut Conversation, t: TimingOverrides, request_data: Option<Value>) {
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
    if let Some(Value::Object(m)) = request_data {
        c.request_data.extend(m);
    }
}

/// The channel of a request: as given, else the number's default.
fn channel_of(f: &Fields, number: &NumberRecord) -> Result<Channel, ApiError> {
    Ok(f.channel()?.unwrap_or(number.default_channel()))
}

/// `POST /v1/sms/send`. Accepts Bland's CLI aliases `phone_number`, `from`, `message`.
pub fn send(app: &App, req: &Req, key: &str) -> ApiResult {
    require_enterprise(app, key)?;
    let m = body(req)?;
    let f = Fields(&m);
    let user = f.phone(&["user_number", "phone_number"])?;
    let agent = f.phone(&["agent_number", "from"])?;
    require(&[
        ("user_number", user.is_some()),
        ("agent_number", agent.is_some()),
    ])?;
    let (user, agent) = (user.expect("checked"), agent.expect("checked"));
    let agent_message = match f.string_alias(&["agent_message", "message"])? {
        Some(s) if s.trim().is_empty() => {
            return Err(ApiError::invalid("`agent_message` must not be empty"))
        }
        other => other,
    };
    let content_sid = f.string("content_sid")?;
    let content_variables = f.object("content_variables")?;
    let persona_id = f.string("persona_id")?;
    if let Some(p) = &persona_id {
        if uuid::Uuid::parse_str(p).is_err() {
            return Err(ApiError::bad_request(
                "INVALID_PERSONA_ID",
                format!("persona_id {p:?} is not a UUID"),
            ));
        }
    }
    if let Some(v) = f.string("persona_version")? {
        if v != "production" && v != "draft" {
            return Err(ApiError::invalid(
                "`persona_version` must be production or draft",
            ));
        }
    }
    let persona_settings = f.object("persona_settings")?.unwrap_or_default();
    let ps = Fields(&persona_settings);
    let pathway_id = ps.string("pathway_id")?.or(f.string("pathway_id")?);
    let pathway_version = ps
        .string_or_number("pathway_version")?
        .or(f.string_or_number("pathway_version")?)
        .map(version_text);
    let start_node_id = ps.string("start_node_id")?.or(f.string("start_node_id")?);
    let webhook = f.url("webhook")?;
    let metadata = f.object("metadata")?;
    let request_data = f.object_or_array("request_data")?;
    let disposition_ids = f.string_list("disposition_ids")?;
    let citation_schema_ids = f.string_list("citation_schema_ids")?;
    let new_conversation = f.bool("new_conversation")?.unwrap_or(false);
    f.bool("use_candidate_model")?;
    let number = agent_number(app, key, &agent)?;
    let channel = channel_of(&f, &number)?;
    if content_sid.is_some() && channel != Channel::Whatsapp {
        return Err(ApiError::bad_request(
            "INVALID_TEMPLATE_USAGE",
            "content_sid templates need channel \"whatsapp\"",
        ));
    }
    let timing = timing(app, &f, &number, channel, &user, new_conversation)?;
    check_opt_out(app, &agent, &user)?;

    // Valid: from here on the request changes state.
    let number = claim(app, key, number)?;
    let id = resolve(
        app,
        &Start {
            key,
            number: &number,
            user: &user,
            channel,
            new_conversation,
            reuse_inactive: false,
            pathway_id,
            pathway_version,
            start_node_id,
            persona_id,
        },
    );
    let text = agent_message.or_else(|| {
        content_sid.map(|sid| {
            let vars = content_variables.map(Value::Object).unwrap_or(json!({}));
            format!("[template {sid}] {vars}")
        })
    });
    let (message_id, fx) = Ctx::with(app, Some(key), &id, |ctx, c| {
        apply_overrides(c, timing, request_data);
        if let Some(meta) = metadata {
            c.metadata.extend(meta);
        }
        if webhook.is_some() {
            c.webhook = webhook;
        }
        if disposition_ids.is_some() {
            c.disposition_ids = disposition_ids;
        }
        if citation_schema_ids.is_some() {
            c.citation_schema_ids = citation_schema_ids;
        }
        match text {
            Some(t) => ctx.agent_message(c, Sender::Agent, t),
            None => ctx.speak_first(c),
        }
    })
    // Deleted in the instant since it was resolved.
    .ok_or_else(ApiError::conversation_not_found)?;
    app.deliver_in_background(fx.deliveries);
    let mut data = json!({
        "status": "processing",
        "message": if message_id.is_some() {
            "SMS accepted for delivery. Check status of SMS with the message_id"
        } else {
            "Conversation ready; no message was sent"
        },
        "conversation_id": id,
    });
    if let Some(mid) = message_id {
        data["message_id"] = json!(mid);
    }
    Ok(Reply::ok(data))
}

/// `POST /v1/sms/create`: stores a message and positions the conversation; sends nothing and
/// fires no webhook.
pub fn create(app: &App, req: &Req, key: &str) -> ApiResult {
    let m = body(req)?;
    let f = Fields(&m);
    let user = f.phone(&["user_number"])?;
    let agent = f.phone(&["agent_number"])?;
    let message = f.string("message")?.filter(|s| !s.trim().is_empty());
    require(&[
        ("user_number", user.is_some()),
        ("agent_number", agent.is_some()),
        ("message", message.is_some()),
    ])?;
    let (user, agent, message) = (
        user.expect("checked"),
        agent.expect("checked"),
        message.expect("checked"),
    );
    let sender = sender(&m, &[Sender::User, Sender::Agent])?;
    let message_sid = f.string("message_sid")?.filter(|s| !s.is_empty());
    let pathway_id = f.string("curr_pathway_id")?;
    let pathway_version = f
        .string_or_number("curr_pathway_version")?
        .map(version_text);
    let node = f.string("current_node_id")?;
    let request_data = f.object_or_array("request_data")?;
    let new_conversation = f.bool("new_conversation")?.unwrap_or(false);
    f.bool("use_candidate_model")?;
    let number = agent_number(app, key, &agent)?;
    let channel = channel_of(&f, &number)?;
    let timing = timing(app, &f, &number, channel, &user, new_conversation)?;
    let number = claim(app, key, number)?;

    let id = resolve(
        app,
        &Start {
            key,
            number: &number,
            user: &user,
            channel,
            new_conversation,
            reuse_inactive: false,
            pathway_id: pathway_id.clone(),
            pathway_version: pathway_version.clone(),
            start_node_id: node.clone(),
            persona_id: None,
        },
    );
    Ctx::with(app, Some(key), &id, |ctx, c| {
        apply_overrides(c, timing, request_data);
        if pathway_id.is_some() {
            c.curr_pathway_id = pathway_id;
        }
        if pathway_version.is_some() {
            c.curr_pathway_version = pathway_version;
        }
        if node.is_some() {
            c.current_node_id = node;
        }
        let duplicate = message_sid
            .as_ref()
            .is_some_and(|sid| c.messages.iter().any(|m| &m.id == sid));
        if !duplicate {
            ctx.add_message(c, sender, message, message_sid, false);
        }
    });
    Ok(Reply::ok(json!({
        "message": "SMS conversation created successfully",
        "conversation_id": id,
    })))
}
