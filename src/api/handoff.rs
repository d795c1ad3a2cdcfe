//! The human handoff family (§3.9–3.12): `…/handoff`, `…/resume`, `…/end`. Each answers with
//! the handoff conversation summary. (`…/messages` lives in `conversations`.)

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::check_length;
use crate::base::error::ApiError;
use crate::base::input::{de_text, de_url};
use crate::base::reply::Reply;
use crate::base::validation::e164;
use crate::engine::app::App;
use crate::engine::{self, HandoffRequest, ResumeRequest};
use crate::request::req::Req;

/// Longest `/end` reason (§3.12), and the handoff `reason` too.
pub(crate) use crate::engine::MAX_REASON_CHARS;

fn check_reason(reason: &Option<String>) -> Result<(), ApiError> {
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(ApiError::invalid(format!(
            "`reason` must be at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct HandoffBody {
    reason: Option<String>,
    metadata: Option<Map<String, Value>>,
    actor: Option<String>,
    #[serde(default, deserialize_with = "de_url")]
    webhook: Option<String>,
    notify_number: Option<String>,
}

/// Pauses the agent and gives the thread to a person. Idempotent (`already_active:true`).
pub(crate) fn handoff(app: &App, req: &Req, key: &str, id: &str) -> Result<Reply, ApiError> {
    let b: HandoffBody = req.json()?;
    check_reason(&b.reason)?;
    if let Some(n) = &b.notify_number {
        e164("notify_number", n)?;
    }
    let request = HandoffRequest {
        reason: b.reason,
        metadata: b.metadata.unwrap_or_default(),
        actor: b.actor,
        webhook: b.webhook,
        notify_number: b.notify_number,
        source: crate::state::model::HandoffSource::Api,
    };
    let (already, view) = engine::apply(app, Some(key), id, |ctx, c| {
        ctx.hand_off(c, request)
            .map(|already| (already, c.handoff_json()))
    })??;
    Ok(Reply::ok(json!({
        "message": if already { "Conversation is already handed off to a human" } else { "Conversation handed off to a human" },
        "already_active": already,
        "conversation": view,
    })))
}

#[derive(Deserialize)]
struct ResumeBody {
    node_id: Option<String>,
    #[serde(default, deserialize_with = "de_text")]
    message: Option<String>,
    generate_reply: Option<bool>,
    actor: Option<String>,
}

/// Gives the thread back to the agent, optionally at `node_id`, with a fixed `message` or a
/// generated reply.
pub(crate) fn resume(app: &App, req: &Req, key: &str, id: &str) -> Result<Reply, ApiError> {
    let b: ResumeBody = req.json()?;
    let generate = b.generate_reply.unwrap_or(false);
    if b.message.is_some() && generate {
        return Err(ApiError::invalid(
            "`message` and `generate_reply` cannot be combined",
        ));
    }
    if let Some(t) = &b.message {
        check_length(t)?;
    }
    if b.message.is_some() || generate {
        // A text goes out: the Agent Phone Plan's rules apply, as to any send.
        super::check_plan_on(app, key, id)?;
    }
    let request = ResumeRequest {
        node_id: b.node_id,
        message: b.message,
        generate_reply: generate,
        actor: b.actor,
    };
    let (was_active, message_id, view) = engine::apply(app, Some(key), id, |ctx, c| {
        let (was_active, message_id) = ctx.resume(c, request)?;
        Ok::<_, ApiError>((was_active, message_id, c.handoff_json()))
    })??;
    let mut data = json!({
        "message": "Conversation returned to the agent",
        "was_active": was_active,
        "conversation": view,
    });
    if let Some(mid) = message_id {
        data["status"] = json!("processing");
        data["message_id"] = json!(mid);
    }
    Ok(Reply::ok(data))
}

#[derive(Deserialize)]
struct EndBody {
    reason: Option<String>,
    actor: Option<String>,
}

/// Closes the conversation: outcomes run and exactly one `ended` webhook fires; nothing is
/// texted. An already-closed conversation answers `was_active:false` and changes nothing.
pub(crate) fn end(app: &App, req: &Req, key: &str, id: &str) -> Result<Reply, ApiError> {
    let b: EndBody = req.json()?;
    check_reason(&b.reason)?;
    let (closed, view) = engine::apply(app, Some(key), id, |ctx, c| {
        (ctx.close(c, b.reason, b.actor), c.handoff_json())
    })?;
    let (was_active, handed_off) = (closed.is_some(), closed.unwrap_or(false));
    let workflow = format!("sms-end:{id}:{}", app.store.ids().uuid());
    Ok(Reply::ok(json!({
        "message": if was_active { "Conversation ended" } else { "Conversation was already ended" },
        "was_active": was_active,
        "was_handed_off": handed_off,
        "conversation": view,
        "workflow_id": workflow,
    })))
}
