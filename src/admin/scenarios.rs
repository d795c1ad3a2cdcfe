//! Scenarios at run time: `POST /_sim/scenarios` adds or replaces one (checked as at start-up;
//! a bad one changes nothing), `DELETE /_sim/scenarios/{name}` removes one. Running
//! conversations keep the scenario they started with; a reset restores the start-up set.

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine::app::App;
use crate::request::req::Req;
use crate::scenario::file;

/// Scenarios in force at once (each at most the body limit).
pub(crate) const MAX_SCENARIOS: usize = 1000;
/// Bytes the scenarios in force may hold (their parsed text and compiled regexes; a typical
/// rule's regex holds about 100 KB with its caches, so about 1,300 of them).
pub(crate) const MAX_SCENARIO_BYTES: usize = 128 * 1024 * 1024;

/// `POST /_sim/scenarios` with a scenario document: 201 with the scenario, or 200 when it
/// replaced one of the same name.
pub(crate) fn add_scenario(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let text = std::str::from_utf8(&req.body)
        .map_err(|_| ApiError::bad_request("INVALID_JSON", "The scenario must be UTF-8 JSON"))?;
    if app.scenarios.load().names().len() >= MAX_SCENARIOS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_SCENARIOS} scenarios; DELETE /_sim/scenarios/{{name}} removes one"
        )));
    }
    let scenario =
        file::compile_document(text).map_err(|e| ApiError::bad_request("INVALID_SCENARIO", e))?;
    let view = scenario.to_json();
    let mut replaced = false;
    let mut full = None;
    app.scenarios.rcu(|current| {
        replaced = current.names().contains(&&*scenario.name);
        let held = current.held() - current.held_by(&scenario.name) + scenario.held;
        if held > MAX_SCENARIO_BYTES {
            full = Some(held);
            return current.clone();
        }
        full = None;
        Arc::new(current.with(scenario.clone()))
    });
    if let Some(held) = full {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "SCENARIO_STORAGE_FULL",
            format!(
                "With this one the scenarios would hold {held} bytes (their text and compiled \
                 regexes), past the bound of {MAX_SCENARIO_BYTES}: DELETE \
                 /_sim/scenarios/{{name}} removes one, POST /_sim/reset restores the start-up set"
            ),
        ));
    }
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(Reply::data(status, view))
}

/// `DELETE /_sim/scenarios/{name}`.
pub(crate) fn remove_scenario(app: &App, name: &str) -> Result<Reply, ApiError> {
    let mut outcome = Ok(None);
    app.scenarios.rcu(|current| match current.without(name) {
        Ok(Some(next)) => {
            outcome = Ok(Some(()));
            Arc::new(next)
        }
        other => {
            outcome = other.map(|_| None);
            current.clone()
        }
    });
    match outcome {
        Ok(Some(())) => Ok(Reply::ok(json!({"status": "removed", "name": name}))),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "SCENARIO_NOT_FOUND",
            format!("No scenario {name:?}; GET /_sim/scenarios lists them"),
        )),
        Err(why) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "SCENARIO_IS_DEFAULT",
            why,
        )),
    }
}
