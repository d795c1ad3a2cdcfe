//! The status-webhook log of a conversation (§3.15) and re-delivery (§3.17).

use std::collections::HashSet;

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine::app::App;
use crate::request::req::Req;
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

/// Re-sends each conversation's latest status webhook — same URL, body and signature — as a
/// `resend` attempt. All ids are checked first; if any has no log, nothing is sent. The attempts
/// run in the background; the answer is the logs as they stand.
#[derive(Deserialize)]
struct ResendBody {
    conversation_ids: Option<Value>,
}

pub(crate) fn resend(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let b: ResendBody = req.json()?;
    let ids: Vec<String> = match b.conversation_ids {
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
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Err(ApiError::invalid("conversation_ids must not repeat an id"));
    }
    let mut deliveries = Vec::new();
    for id in &ids {
        let d = app
            .store
            .read_conversation(Some(key), id, |c| c.status_delivery)
            .flatten()
            .and_then(|d| app.webhooks.get(d.get()))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "WEBHOOK_NOT_FOUND",
                    format!("No status webhook was sent for conversation {id}"),
                )
            })?;
        deliveries.push(d);
    }
    let data: Vec<Value> = deliveries.iter().map(|d| d.log_json()).collect();
    let app2 = app.clone();
    let ids: Vec<u64> = deliveries.iter().map(|d| d.id).collect();
    tokio::spawn(async move {
        for id in ids {
            app2.attempt(id, SendType::Resend).await;
        }
    });
    Ok(Reply::ok(Value::Array(data)))
}
