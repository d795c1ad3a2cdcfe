//! The status-webhook log of a conversation (§3.15) and re-delivery (§3.17).

use std::collections::HashSet;

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine::app::App;
use crate::request::req::Req;
use crate::state::model::Conversation;
use crate::webhook::SendType;

/// The latest status webhook of the conversation with its attempts, or `data:null`.
pub(crate) fn log(app: &App, key: &str, id: &str) -> Result<Reply, ApiError> {
    let delivery = app
        .store
        .read_conversation(Some(key), id, |c| c.status_delivery)
        .ok_or_else(ApiError::conversation_not_found)?;
    let data = delivery
        .and_then(|d| app.webhooks.get(d.get()))
        .map(|d| d.log_json())
        .unwrap_or(Value::Null);
    Ok(Reply::ok(data))
}

/// The most conversations one resend takes (`post/sms-conversations-webhooks-resend.mdx`).
const MAX_RESEND: usize = 100;

#[derive(Deserialize)]
struct ResendBody {
    conversation_ids: Option<Value>,
    rebuild: Option<Value>,
}

/// Re-sends each conversation's latest status webhook to its URL: rebuilt from the
/// conversation as it is now (`rebuild`, the default: a `rebuild` attempt, signed anew), or
/// the stored payload byte for byte (a `resend` attempt, same signature). All ids are checked
/// first; if any has no log, nothing is sent. The answer comes once each attempt was made:
/// the logs (attempts included), each with what was sent and whether it was rebuilt.
pub(crate) async fn resend(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let b: ResendBody = req.json()?;
    let rebuild = match b.rebuild {
        None | Some(Value::Null) => true,
        Some(Value::Bool(r)) => r,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "rebuild must be true or false, got {other}"
            )))
        }
    };
    let ids = resend_ids(b.conversation_ids)?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in &ids {
        let delivery = app
            .store
            .read_conversation(Some(key), id, |c| c.status_delivery)
            .flatten()
            .and_then(|d| app.webhooks.get(d.get()));
        match delivery {
            Some(d) => found.push((id, d)),
            None => missing.push(id.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "WEBHOOK_NOT_FOUND",
            format!(
                "No webhook log found for conversation ids: {}",
                missing.join(", ")
            ),
        ));
    }
    let mut sends = tokio::task::JoinSet::new();
    let mut sent = Vec::new();
    for (id, d) in &found {
        let stored = d.to_json()["payload"].clone();
        let body = rebuild
            .then(|| {
                let mut c = app
                    .store
                    .read_conversation(Some(key), id, Conversation::clone)?;
                crate::engine::payload::rebuilt_status(&mut c, &stored)
            })
            .flatten();
        let rebuilt = body.is_some();
        sent.push(match &body {
            Some(b) => (
                serde_json::from_slice(&b.to_bytes()).unwrap_or(Value::Null),
                true,
            ),
            None => (stored, false),
        });
        let send_type = if rebuilt {
            SendType::Rebuild
        } else {
            SendType::Resend
        };
        let (app, delivery) = (app.clone(), d.id);
        sends.spawn(async move { app.attempt_with(delivery, send_type, body).await });
    }
    while sends.join_next().await.is_some() {}
    let data = found
        .iter()
        .zip(sent)
        .map(|((_, d), (payload, rebuilt))| {
            let mut log = app
                .webhooks
                .get(d.id)
                .unwrap_or_else(|| d.clone())
                .log_json();
            log["sent_payload"] = payload;
            log["rebuilt"] = Value::Bool(rebuilt);
            log
        })
        .collect();
    Ok(Reply::ok(Value::Array(data)))
}

/// `conversation_ids`: 1 to 100 distinct, non-empty strings.
fn resend_ids(v: Option<Value>) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = match v {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().filter(|s| !s.is_empty()).map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ApiError::invalid("conversation_ids must be an array of conversation id strings")
            })?,
        _ => {
            return Err(ApiError::invalid(
                "conversation_ids is required: a non-empty array of conversation ids",
            ))
        }
    };
    if ids.len() > MAX_RESEND {
        return Err(ApiError::invalid(format!(
            "conversation_ids takes at most {MAX_RESEND} ids, got {}: send them in several requests",
            ids.len()
        )));
    }
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Err(ApiError::invalid("conversation_ids must not repeat an id"));
    }
    Ok(ids)
}
