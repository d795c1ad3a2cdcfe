//! The human handoff family (§3.9–3.12): `…/handoff`, `…/resume`, `…/end`. Each answers with
//! the handoff conversation summary. (`…/messages` lives in `conversations`.)

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::check_length;
use crate::app::App;
use crate::body::Reply;
use crate::engine;
use crate::error::ApiError;
use crate::input::{de_text, de_url};
use crate::model::{EndKind, Sender};
use crate::req::Req;
use crate::validation::e164;

/// Longest `/end` reason.
pub(crate) const MAX_REASON_CHARS: usize = 500;

fn ended() -> ApiError {
    ApiError::bad_request(
        "CONVERSATION_ENDED",
        "Conversation has ended; its user's next text starts a new conversation",
    )
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
    if let Some(n) = &b.notify_number {
        e164("notify_number", n)?;
    }
    let (already, view) = engine::apply(app, Some(key), id, |ctx, c| {
        if !c.is_active {
            return Err(ended());
        }
        if b.webhook.is_some() {
            c.webhook = b.webhook;
        }
        let metadata = b.metadata.unwrap_or_default();
        let already = ctx.start_handoff(c, b.reason.clone(), metadata, "api", b.actor);
        if let (false, Some(to)) = (already, b.notify_number) {
            ctx.notify_rep(c, to, b.reason);
        }
        Ok((already, c.handoff_json()))
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
    let (was_active, message_id, view) = engine::apply(app, Some(key), id, |ctx, c| {
        if !c.is_active {
            return Err(ended());
        }
        let was_active = ctx.end_handoff(c, b.actor);
        if let Some(n) = b.node_id {
            c.current_node_id = Some(n);
            c.updated_at = ctx.now;
        }
        let message_id = match b.message {
            Some(t) => ctx.agent_message(c, Sender::Agent, t),
            None if generate => ctx.speak_first(c),
            None => None,
        };
        Ok((was_active, message_id, c.handoff_json()))
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
    if b.reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(ApiError::invalid(format!(
            "`reason` must be at most {MAX_REASON_CHARS} characters"
        )));
    }
    let (was_active, handed_off, view) = engine::apply(app, Some(key), id, |ctx, c| {
        if !c.is_active {
            return (false, false, c.handoff_json());
        }
        let handed_off = c.handoff.is_some();
        let reason = b.reason.unwrap_or_else(|| {
            if handed_off {
                "Conversation ended by the human rep".into()
            } else {
                "Conversation ended via API".into()
            }
        });
        if let Some(a) = b.actor {
            c.metadata.insert("ended_by".into(), json!({ "actor": a }));
        }
        ctx.end(c, EndKind::Ended, Some(reason));
        (true, handed_off, c.handoff_json())
    })?;
    let workflow = format!("sms-end:{id}:{}", app.store.ids().uuid());
    Ok(Reply::ok(json!({
        "message": if was_active { "Conversation ended" } else { "Conversation was already ended" },
        "was_active": was_active,
        "was_handed_off": handed_off,
        "conversation": view,
        "workflow_id": workflow,
    })))
}
