//! One conversation: `GET` (§3.7), `PATCH` (§3.8), `DELETE` (§3.14), and its messages:
//! `POST …/messages` (§3.10, 202) and `DELETE …/messages` (§3.13, soft delete).

use hyper::StatusCode;
use serde_json::{json, Value};

use super::{body, check_length, check_opt_out, sender};
use crate::app::App;
use crate::body::Reply;
use crate::engine::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::model::{EndKind, Sender};
use crate::routes::Req;
use crate::validation::Fields;

pub fn get(app: &App, key: &str, id: &str) -> ApiResult {
    let c = app
        .store
        .conversation(key, id)
        .ok_or_else(ApiError::conversation_not_found)?;
    Ok(Reply::ok(c.detail_json()))
}

/// Sets `is_active`. Deactivating ends the conversation (`inactive` webhook, outcomes);
/// re-activating makes it the pair's current conversation again.
pub fn patch(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    let m = body(req)?;
    let is_active = match m.get("is_active") {
        Some(Value::Bool(b)) => *b,
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_IS_ACTIVE_VALUE",
                "is_active must be a boolean value",
            ))
        }
    };
    let ((view, reactivated), fx) = Ctx::with(app, Some(key), id, |ctx, c| {
        let mut reactivated = None;
        if !is_active {
            ctx.end(c, EndKind::Inactive, None);
        } else if !c.is_active {
            c.is_active = true;
            c.ended = None;
            c.updated_at = ctx.now;
            reactivated = Some((c.agent_number.clone(), c.user_number.clone()));
        }
        (
            json!({"id": c.id, "is_active": c.is_active, "updated_at": crate::clock::iso(c.updated_at)}),
            reactivated,
        )
    })
    .ok_or_else(ApiError::conversation_not_found)?;
    app.deliver_in_background(fx.deliveries);
    if let Some((agent, user)) = reactivated {
        // The pair's other active conversation (if any) is archived; this one takes its place.
        if let Some(other) = app.store.pair_latest(&agent, &user).filter(|o| o != id) {
            if let Some(fx) = Ctx::run(app, &other, |ctx, c| ctx.end(c, EndKind::Archived, None)) {
                app.deliver_in_background(fx.deliveries);
            }
        }
        app.store.set_pair(&agent, &user, id);
    }
    Ok(Reply::ok(json!({
        "message": "Conversation updated successfully",
        "conversation": view,
    })))
}

/// Deletes the conversation with its messages, timers and webhook log.
pub fn delete(app: &App, key: &str, id: &str) -> ApiResult {
    let c = app
        .store
        .delete_conversation(key, id)
        .ok_or_else(ApiError::conversation_not_found)?;
    if let Some(t) = c.timer_id {
        app.timers.cancel(t);
    }
    Ok(Reply::ok(json!({
        "message": "Conversation and all associated messages deleted successfully"
    })))
}

/// Sends a fixed HUMAN (default) or AGENT message on the conversation; works during a handoff.
pub fn post_message(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    let m = body(req)?;
    let f = Fields(&m);
    let text = f
        .string("message")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "MISSING_REQUIRED_FIELDS",
                "message is required and must not be empty",
            )
        })?;
    check_length(&text)?;
    let sender = sender(&m, &[Sender::Human, Sender::Agent])?;
    let c = app
        .store
        .conversation(key, id)
        .ok_or_else(ApiError::conversation_not_found)?;
    check_opt_out(app, &c.agent_number, &c.user_number)?;
    let ((message_id, handoff), fx) = Ctx::with(app, Some(key), id, |ctx, c| {
        (ctx.agent_message(c, sender, text), c.handoff.is_some())
    })
    .ok_or_else(ApiError::conversation_not_found)?;
    app.deliver_in_background(fx.deliveries);
    Ok(Reply::data(
        StatusCode::ACCEPTED,
        json!({
            "status": "processing",
            "message": "Message accepted for delivery",
            "conversation_id": id,
            "sender": sender,
            "message_id": message_id,
            "human_handoff_active": handoff,
        }),
    ))
}

/// Hides the given messages from GET and from `message_count`. Ids may be strings or numbers;
/// ids of other conversations are ignored.
pub fn delete_messages(app: &App, req: &Req, key: &str, id: &str) -> ApiResult {
    let m = body(req)?;
    let ids: Vec<String> = match m.get("message_ids") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(ApiError::bad_request(
                    "MESSAGE_IDS_REQUIRED",
                    "message_ids must be an array of message id strings",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::bad_request(
                "MESSAGE_IDS_REQUIRED",
                "message_ids is required: a non-empty array of message ids",
            ))
        }
    };
    let count = app
        .store
        .with_conversation(Some(key), id, |c| {
            let mut n = 0;
            for msg in c
                .messages
                .iter_mut()
                .filter(|m| !m.deleted && ids.contains(&m.id))
            {
                msg.deleted = true;
                n += 1;
            }
            n
        })
        .ok_or_else(ApiError::conversation_not_found)?;
    Ok(Reply::ok(json!({
        "message": format!("{count} messages marked as deleted"),
        "deleted_count": count,
    })))
}
