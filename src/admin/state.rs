//! The state as one document: `GET /_sim/state` answers it (a fixtures file, so it is not
//! wrapped in the envelope), `PUT /_sim/state` replaces the state with one (checked first: a
//! bad document changes nothing), and `POST /_sim/state/save` writes it to `--state-file`.

use hyper::StatusCode;
use serde_json::json;

use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine::app::App;
use crate::engine::snapshot;
use crate::request::req::Req;
use crate::state::fixtures::Fixtures;

/// `GET /_sim/state`: the whole state, as a fixtures document.
pub(crate) async fn state(app: &App) -> Reply {
    let _quiet = app.control.lock().await;
    Reply::document(snapshot::export(app))
}

/// `PUT /_sim/state`: replaces the state with the document in the body.
pub(crate) async fn replace_state(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let text = std::str::from_utf8(&req.body)
        .map_err(|_| ApiError::bad_request("INVALID_JSON", "The state must be UTF-8 JSON"))?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(ApiError::bad_request(
            "INVALID_JSON",
            format!("The state is not valid JSON: {e}"),
        ));
    }
    let fixtures =
        Fixtures::parse("state", text).map_err(|e| ApiError::bad_request("INVALID_STATE", e))?;
    let conversations: usize = fixtures
        .accounts
        .iter()
        .map(|a| a.conversations.len())
        .sum();
    app.replace_state(&fixtures).await;
    Ok(Reply::ok(json!({
        "status": "replaced",
        "accounts": fixtures.accounts.len(),
        "conversations": conversations,
    })))
}

/// `POST /_sim/state/save`: writes the state file now.
pub(crate) async fn save_state(app: &App) -> Result<Reply, ApiError> {
    let Some(path) = app.config.state_file.as_deref() else {
        return Err(ApiError::bad_request(
            "STATE_FILE_NOT_SET",
            "No state file to save to: start the simulator with --state-file PATH \
             (or SimulatorBuilder::state_file); GET /_sim/state answers the state instead",
        ));
    };
    let _quiet = app.control.lock().await;
    snapshot::save(app, path)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "STATE_SAVE_FAILED", e))?;
    Ok(Reply::ok(
        json!({"status": "saved", "path": path.display().to_string()}),
    ))
}
