//! One conversation: `GET` (§3.7), `PATCH` (§3.8), `DELETE` (§3.14), and its messages:
//! `POST …/messages` (§3.10, 202) and `DELETE …/messages` (§3.13, soft delete).

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_length, check_opt_out, check_plan_on, sender};
use crate::base::clock::iso;
use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine;
use crate::engine::app::App;
use crate::request::req::Req;
use crate::state::model::{Conversation, EndKind, Sender};

pub(crate) fn get(app: &App, key: &str, id: &str) -> Result<Reply, ApiError> {
    // Serialized under the guard, straight into the answer's bytes: no copy of the history.
    let body = app
        .store
        .read_conversation(Some(key), id, |c| c.detail_body())
        .ok_or_else(ApiError::conversation_not_found)?;
    Ok(Reply::document(body))
}

#[derive(Deserialize)]
struct PatchBody {
    is_active: Option<Value>,
}

/// Sets `is_active`. Deactivating ends the conversation (`inactive` webhook, outcomes);
/// re-activating makes it the pair's current conversation again.
pub(crate) fn patch(app: &App, req: &Req, key: &str, id: &str) -> Result<Reply, ApiError> {
    let b: PatchBody = req.json()?;
    let Some(Value::Bool(is_active)) = b.is_active else {
        return Err(ApiError::bad_request(
            "INVALID_IS_ACTIVE_VALUE",
            "is_active must be a boolean value",
        ));
    };
    // The view is taken in the same step as the change, so it shows exactly that change.
    let view = |c: &Conversation| json!({"id": c.id, "is_active": c.is_active, "updated_at": iso(c.updated_at)});
    let view = if is_active {
        engine::reactivate(app, key, id, view)?
    } else {
        engine::apply(app, Some(key), id, |ctx, c| {
            ctx.end(c, EndKind::Inactive, None);
            view(c)
        })?
    };
    Ok(Reply::ok(json!({
        "message": "Conversation updated successfully",
        "conversation": view,
    })))
}

/// Deletes the conversation with its messages, timers and webhook log.
pub(crate) fn delete(app: &App, key: &str, id: &str) -> Result<Reply, ApiError> {
    engine::delete(app, key, id)?;
    Ok(Reply::ok(json!({
        "message": "Conversation and all associated messages deleted successfully"
    })))
}

#[derive(Deserialize)]
struct MessageBody {
    message: Option<String>,
    sender: Option<String>,
}

/// Sends a fixed HUMAN (default) or AGENT message on the conversation; works during a handoff.
pub(crate) fn post_message(app: &App, req: &Req, key: &str, id: &str) -> Result<Reply, ApiError> {
    let b: MessageBody = req.json()?;
    let text = b
        .message
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::missing("message is required and must not be empty"))?;
    check_length(&text)?;
    let sender = sender(b.sender.as_deref(), &[Sender::Human, Sender::Agent])?;
    check_plan_on(app, key, id)?;
    let (message_id, handoff) = engine::apply(app, Some(key), id, |ctx, c| {
        check_opt_out(app, &c.agent_number, &c.user_number)?;
        Ok::<_, ApiError>((ctx.agent_message(c, sender, text), c.handoff.is_some()))
    })??;
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

#[derive(Deserialize)]
struct DeleteMessagesBody {
    message_ids: Option<Value>,
}

/// The message ids: strings or numbers (Bland's docs show both).
fn message_ids(v: Option<Value>) -> Result<Vec<String>, ApiError> {
    let refuse = |m: &str| ApiError::bad_request("MESSAGE_IDS_REQUIRED", m);
    match v {
        Some(Value::Array(a)) if !a.is_empty() => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(refuse("message_ids must be an array of message id strings")),
            })
            .collect(),
        _ => Err(refuse(
            "message_ids is required: a non-empty array of message ids",
        )),
    }
}

/// Hides the given messages from GET and from `message_count`; ids of other conversations are
/// ignored.
pub(crate) fn delete_messages(
    app: &App,
    req: &Req,
    key: &str,
    id: &str,
) -> Result<Reply, ApiError> {
    let b: DeleteMessagesBody = req.json()?;
    let ids = message_ids(b.message_ids)?;
    let count = engine::apply(app, Some(key), id, |_, c| {
        let before = c.history.clone();
        let n = c.hide_messages(&ids);
        // Deliveries made so far keep the list the conversation just let go of.
        if let Some(h) = before.filter(|_| n > 0) {
            app.webhooks.orphaned(&h);
        }
        n
    })?;
    Ok(Reply::ok(json!({
        "message": format!("{count} messages marked as deleted"),
        "deleted_count": count,
    })))
}
