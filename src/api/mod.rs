//! The `/v1/sms/*` handlers, one file per resource, and the helpers they share: reading the
//! JSON body, the Enterprise gate, and resolving an agent number the key may use.

pub mod analyze;
pub mod conversations;
pub mod handoff;
pub mod list;
pub mod numbers;
pub mod send;
pub mod webhooks;

use hyper::StatusCode;
use serde_json::{Map, Value};

use crate::app::App;
use crate::body::parse_json;
use crate::error::ApiError;
use crate::model::NumberRecord;
use crate::routes::Req;
use crate::store::{number_not_found, ProvisionError};

/// The body as a JSON object.
///
/// # Errors
/// 400 `INVALID_JSON`.
pub fn body(req: &Req) -> Result<Map<String, Value>, ApiError> {
    parse_json(&req.body)
}

/// 403 `ENTERPRISE_REQUIRED` unless the key's plan is Enterprise (fixtures may say it is not).
///
/// # Errors
/// As above.
pub fn require_enterprise(app: &App, key: &str) -> Result<(), ApiError> {
    if app.store.account_info(key).0 {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ENTERPRISE_REQUIRED",
            "The SMS API requires an Enterprise plan",
        ))
    }
}

/// The agent number `phone` as the key may use it: owned, or — under `--auto-provision`, when
/// nobody owns it — a record as it would be provisioned (`inbound_id` 0, which no stored number
/// has). Changes nothing; [`claim`] provisions.
///
/// # Errors
/// 404 `INBOUND_NUMBER_NOT_FOUND`, saying how to provision the number.
pub fn agent_number(app: &App, key: &str, phone: &str) -> Result<NumberRecord, ApiError> {
    match app.store.number(phone) {
        Some(n) if n.owner == key => Ok(n),
        None if app.config.auto_provision => Ok(NumberRecord {
            phone_number: phone.to_string(),
            owner: key.to_string(),
            inbound_id: 0,
            label: None,
            imessage: false,
            sms_config: Some(Default::default()),
            whatsapp_config: None,
            imessage_config: None,
            conversation_count: 0,
        }),
        _ => Err(number_not_found(phone)),
    }
}

/// Makes sure the key owns the number, provisioning it now under `--auto-provision`. Call it once
/// the request is known to be valid, so a failed request provisions nothing.
///
/// # Errors
/// 404 `INBOUND_NUMBER_NOT_FOUND` when another key took the number meanwhile.
pub fn claim(app: &App, key: &str, number: NumberRecord) -> Result<NumberRecord, ApiError> {
    if number.inbound_id != 0 {
        return Ok(number);
    }
    app.store
        .provision(key, &number.phone_number, None, false, Vec::new())
        .map_err(|ProvisionError::OwnedByAnother| number_not_found(&number.phone_number))
}
