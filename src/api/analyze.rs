//! `POST /v1/sms/analyze` (§3.16): citation-schema extraction, answered from the scenario's
//! citation schemas and the conversation's variables.

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine;
use crate::engine::app::App;
use crate::request::req::Req;
use crate::state::model::Message;

#[derive(Deserialize)]
struct AnalyzeBody {
    schema_id: Option<String>,
    conversation_id: Option<String>,
}

pub(crate) fn analyze(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let b: AnalyzeBody = req.json()?;
    let schema_id = b
        .schema_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("MISSING_SCHEMA_ID", "schema_id is required"))?;
    let conversation_id = b.conversation_id.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request("MISSING_CONVERSATION_ID", "conversation_id is required")
    })?;
    let Some(c) = app.store.conversation(key, &conversation_id) else {
        return Err(match app.store.conversation_owner(&conversation_id) {
            Some(_) => ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "This conversation belongs to another organization",
            ),
            None => ApiError::conversation_not_found(),
        });
    };
    let schema = app
        .scenarios
        .load()
        .citation_schema(&c.scenario, &schema_id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "SCHEMA_NOT_FOUND",
                format!("No citation schema {schema_id:?} in any scenario"),
            )
        })?;
    if schema.variables.is_empty() {
        return Err(ApiError::bad_request(
            "INVALID_SCHEMA",
            "The schema has no variables",
        ));
    }
    let messages: Vec<_> = c.visible_messages().cloned().collect();
    if messages.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NO_MESSAGES",
            "The conversation has no messages",
        ));
    }
    let extracted = engine::extract(app, &c, &schema.variables);
    let citations = cite(&extracted, &messages);
    Ok(Reply::ok(json!({
        "status": "success",
        "conversation_id": c.id,
        "schema_id": schema_id,
        "schema_name": schema.name,
        "variables_extracted": extracted.values().filter(|v| !v.is_null()).count(),
        "extracted_variables": extracted,
        "citations": citations,
        "messages_processed": messages.len(),
    })))
}

/// For each extracted value, the first message that contains it.
fn cite(extracted: &Map<String, Value>, messages: &[Message]) -> Vec<Value> {
    extracted
        .iter()
        .filter_map(|(var, v)| {
            let value = v.as_str()?.to_lowercase();
            let source = messages
                .iter()
                .find(|m| m.message.to_lowercase().contains(&value));
            Some(json!({
                "variable": var,
                "message": source.map(|m| m.message.clone()),
                "confidence": if source.is_some() { 0.95 } else { 0.5 },
            }))
        })
        .collect()
}
