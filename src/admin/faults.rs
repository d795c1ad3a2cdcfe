//! `/_sim/faults`: adding and removing fault rules (the rules themselves are `crate::observe::faults`).

use hyper::StatusCode;
use serde_json::json;

use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::engine::app::App;
use crate::request::req::Req;

/// `POST /_sim/faults` with a rule: 201 with the rule and its id.
pub(crate) fn add_fault(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let body = req.json_object()?;
    let view = app.faults.add(&body)?;
    Ok(Reply::data(StatusCode::CREATED, view))
}

/// `DELETE /_sim/faults/{id}`.
pub(crate) fn remove_fault(app: &App, id: &str) -> Result<Reply, ApiError> {
    let Some(number) = id.parse::<u64>().ok().filter(|&n| app.faults.remove(n)) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "FAULT_NOT_FOUND",
            format!("No fault rule {id:?}; GET /_sim/faults lists them"),
        ));
    };
    Ok(Reply::ok(json!({"status": "removed", "id": number})))
}
