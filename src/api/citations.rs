//! `POST /v1/citation_schemas/backfill` for SMS conversations
//! (`api-v1/post/citation-schemas-backfill.mdx`, 91809e1): a conversation's citation schemas
//! run again, synchronously; the variables they extract are merged into what it holds.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine::app::App;
use crate::request::req::Req;

/// The most conversations one backfill takes.
const MAX_CONVERSATIONS: usize = 50;
/// The most distinct schemas one backfill applies.
const MAX_SCHEMAS: usize = 50;

#[derive(Deserialize)]
struct BackfillBody {
    schema_id: Option<String>,
    schema_ids: Option<Vec<String>>,
    schema: Option<Value>,
    call_id: Option<Value>,
    call_ids: Option<Value>,
    conversation_id: Option<String>,
    conversation_ids: Option<Vec<String>>,
}

/// Runs the schemas on each conversation (scenario-defined schemas: the simulator's citations
/// are templates in a scenario's `outcomes.citations`), merges what they extract into the
/// conversation's `citation_variables`, and answers each conversation's before, new and after.
pub(crate) fn backfill(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let b: BackfillBody = req.json()?;
    if b.call_id.is_some() || b.call_ids.is_some() {
        return Err(ApiError::invalid(
            "call_id and call_ids name calls, which the simulator does not have: backfill SMS \
             conversations with conversation_id or conversation_ids",
        ));
    }
    if b.schema.is_some() && b.schema_ids.is_some() {
        return Err(ApiError::invalid(
            "schema cannot be combined with schema_ids",
        ));
    }
    let mut schemas: Vec<String> = Vec::new();
    for s in b
        .schema_ids
        .unwrap_or_default()
        .into_iter()
        .chain(b.schema_id)
    {
        if !s.is_empty() && !schemas.contains(&s) {
            if schemas.len() == MAX_SCHEMAS {
                return Err(ApiError::invalid(format!(
                    "at most {MAX_SCHEMAS} distinct schemas a backfill"
                )));
            }
            schemas.push(s);
        }
    }
    let inline = b.schema.is_some();
    if schemas.is_empty() && !inline {
        return Err(ApiError::missing(
            "A schema is required: schema_id, schema_ids or an inline schema",
        ));
    }
    let ids: Vec<String> = b
        .conversation_ids
        .unwrap_or_default()
        .into_iter()
        .chain(b.conversation_id)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::missing(
            "conversation_id or conversation_ids is required",
        ));
    }
    if ids.len() > MAX_CONVERSATIONS {
        return Err(ApiError::invalid(format!(
            "conversation_ids takes at most {MAX_CONVERSATIONS} conversations, got {}",
            ids.len()
        )));
    }
    if ids.iter().collect::<HashSet<_>>().len() != ids.len() {
        return Err(ApiError::invalid("conversation_ids must not repeat an id"));
    }
    let conversations: Vec<Value> = ids
        .iter()
        .map(|id| one(app, key, id, &schemas, inline))
        .collect();
    Ok(Reply::new(
        hyper::StatusCode::OK,
        json!({
            "status": "complete",
            "call_count": 0,
            "conversation_count": conversations.len(),
            "schema_count": schemas.len() + usize::from(inline),
            "conversations": conversations,
        }),
    ))
}

/// One conversation's backfill.
fn one(app: &App, key: &str, id: &str, schemas: &[String], inline: bool) -> Value {
    let Some(c) = app.store.conversation(key, id) else {
        return failed(id, "conversation not found");
    };
    if inline {
        return json!({
            "conversation_id": id,
            "status": "skipped",
            "variables_extracted": 0,
            "error": "an inline schema has no extraction rules in the simulator: define it in a \
                      scenario's outcomes.citations and backfill it by id",
        });
    }
    let mut newly = Map::new();
    let registry = app.scenarios.load();
    for schema_id in schemas {
        match registry.citation_schema(&c.scenario, schema_id) {
            Some(schema) => newly.extend(crate::engine::extract(app, &c, &schema.variables)),
            None => {
                return failed(
                    id,
                    &format!(
                    "no citation schema {schema_id:?} in scenario {:?} (its outcomes.citations) \
                         or another loaded scenario",
                    c.scenario
                ),
                )
            }
        }
    }
    // Merged under the conversation's guard, into what it holds then (another backfill may
    // have written since it was read).
    let merge = newly.clone();
    let Some((previous, merged)) = app.store.with_conversation(Some(key), id, move |c| {
        let previous = c.details.citation_variables.clone().unwrap_or_default();
        let mut merged = previous.clone();
        merged.extend(merge);
        c.details.citation_variables = Some(merged.clone());
        (previous, merged)
    }) else {
        return failed(id, "conversation not found");
    };
    json!({
        "conversation_id": id,
        "status": "success",
        "variables_extracted": newly.len(),
        "previous_variables": previous,
        "newly_extracted_variables": newly,
        "final_variables": merged,
    })
}

fn failed(id: &str, why: &str) -> Value {
    json!({"conversation_id": id, "status": "error", "variables_extracted": 0, "error": why})
}
