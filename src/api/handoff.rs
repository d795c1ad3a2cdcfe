//! The human handoff family (§3.9–3.12): `…/handoff`, `…/resume`, `…/end`. Each answers with
//! the handoff conversation summary. (`…/messages` lives in `conversations`.)

use serde_json::{json, Map};

use super::{body, check_length};
use crate::app::App;
use crate::body::Reply;
use crate::engine::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::model::{EndKind, Sender};
use crate::routes::Req;
use crate::validation::{e164, Fields};

/// Longest `/end` reason.
pub const MAX_REASON_CHARS: usize = 500;

fn ended() -> ApiError {
    ApiError::bad_request(
        "CONVERSATION_ENDED",
        "Conversation has ended; its user's next text starts a new conversation",
    )
}

/// Pauses the agent and gives the thread to a person. Idempotent (`already_active:true`).
pub fn handoff(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    let m = body(req)?;
    let f = Fields(&m);
    let reason = f.string("reason")?;
    let metadata = f.object("metadata")?.unwrap_or_default();
    let actor = f.string("actor")?;
    let webhook = f.url("webhook")?;
    let notify = f.string("notify_number")?;
    if let Some(n) = &notify {
        e164("notify_number", n)?;
    }
    let (result, fx) = Ctx::with(app, Some(key), id, |ctx, c| {
        if !c.is_active {
            return Err(ended());
        }
        if webhook.is_some() {
            c.webhook = webhook;
        }
        let already = ctx.start_handoff(c, reason.clone(), metadata, "api", actor);
        if let (false, Some(to)) = (already, notify) {
            // Bland texts the rep a notice from the agent number; it is not part of the thread.
            ctx.app.store.record_outbox(json!({
                "kind": "handoff_notice",
                "conversation_id": c.id,
                "from": c.agent_number,
                "to": to,
                "message": format!(
                    "Conversation {} was handed off to you{}",
                    c.id,
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ),
                "created_at": crate::clock::iso(ctx.now),
            }));
        }
        Ok((already, c.handoff_json()))
    })
    .ok_or_else(ApiError::conversation_not_found)?;
    let (already, view) = result?;
    app.deliver_in_background(fx.deliveries);
    Ok(Reply::ok(json!({
        "message": if already { "Conversation is already handed off to a human" } else { "Conversation handed off to a human" },
        "already_active": already,
        "conversation": view,
    })))
}

/// Gives the thread back to the agent, optionally at `node_id`, with a fixed `message` or a
/// generated reply.
pub fn resume(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    let m = body(req)?;
    let f = Fields(&m);
    let node_id = f.string("node_id")?;
    let message = f.text("message")?;
    let generate = f.bool("generate_reply")?.unwrap_or(false);
    let actor = f.string("actor")?;
    if message.is_some() && generate {
        return Err(ApiError::invalid(
            "`message` and `generate_reply` cannot be combined",
        ));
    }
    if let Some(t) = &message {
        check_length(t)?;
    }
    let (result, fx) = Ctx::with(app, Some(key), id, |ctx, c| {
        if !c.is_active {
            return Err(ended());
        }
        let was_active = ctx.end_handoff(c, actor);
        if let Some(n) = node_id {
            c.current_node_id = Some(n);
            c.updated_at = ctx.now;
        }
        let message_id = match message {
            Some(t) => ctx.agent_message(c, Sender::Agent, t),
            None if generate => ctx.speak_first(c),
            None => None,
        };
        Ok((was_active, message_id, c.handoff_json()))
    })
    .ok_or_else(ApiError::conversation_not_found)?;
    let (was_active, message_id, view) = result?;
    app.deliver_in_background(fx.deliveries);
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

/// Closes the conversation: outcomes run and exactly one `ended` webhook fires; nothing is
/// texted. An already-closed conversation answers `was_active:false` and changes nothing.
pub fn end(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    let m = body(req)?;
    let f = Fields(&m);
    let reason = f.string("reason")?;
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(ApiError::invalid(format!(
            "`reason` must be at most {MAX_REASON_CHARS} characters"
        )));
    }
    let actor = f.string("actor")?;
    let ((was_active, handed_off, view), fx) = Ctx::with(app, Some(key), id, |ctx, c| {
        if !c.is_active {
            return (false, false, c.handoff_json());
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
            let mut m = Map::new();
            m.insert("actor".into(), json!(a));
            c.metadata.insert("ended_by".into(), json!(m));
        }
        ctx.end(c, EndKind::Ended, Some(reason));
        (true, handed_off, c.handoff_json())
    })
    .ok_or_else(ApiError::conversation_not_found)?;
    app.deliver_in_background(fx.deliveries);
    let workflow = format!("sms-end:{id}:{}", app.store.ids().uuid());
    Ok(Reply::ok(json!({
        "message": if was_active { "Conversation ended" } else { "Conversation was already ended" },
        "was_active": was_active,
        "was_handed_off": handed_off,
        "conversation": view,
        "workflow_id": workflow,
    })))
}
