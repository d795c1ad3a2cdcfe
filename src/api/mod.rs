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
use crate::model::{NumberRecord, Sender};
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

/// Bland's `MISSING_REQUIRED_FIELDS`, listing the `(name, present)` fields that are missing.
///
/// # Errors
/// 400 when any is missing.
pub fn require(fields: &[(&str, bool)]) -> Result<(), ApiError> {
    let missing: Vec<&str> = fields
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "MISSING_REQUIRED_FIELDS",
            format!("Missing required fields: {}", missing.join(", ")),
        ))
    }
}

/// Longest text the conversation message endpoints accept.
pub const MAX_MESSAGE_CHARS: usize = 1600;

/// 400 `MESSAGE_TOO_LONG` past [`MAX_MESSAGE_CHARS`].
///
/// # Errors
/// As above.
pub fn check_length(text: &str) -> Result<(), ApiError> {
    if text.chars().count() > MAX_MESSAGE_CHARS {
        Err(ApiError::bad_request(
            "MESSAGE_TOO_LONG",
            format!("message must be at most {MAX_MESSAGE_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

/// The `sender` field: one of `allowed` (any case), `allowed[0]` when absent.
///
/// # Errors
/// 400 `INVALID_PARAMETER` naming the allowed values.
pub fn sender(m: &Map<String, Value>, allowed: &[Sender]) -> Result<Sender, ApiError> {
    let Some(given) = crate::validation::Fields(m).string("sender")? else {
        return Ok(allowed[0]);
    };
    allowed
        .iter()
        .copied()
        .find(|s| s.as_str().eq_ignore_ascii_case(&given))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
            ApiError::invalid(format!(
                "`sender` must be {}, got {given:?}",
                names.join(" or ")
            ))
        })
}

/// 400 `USER_OPTED_OUT` when the user texted STOP to this agent number.
///
/// # Errors
/// As above.
pub fn check_opt_out(app: &App, agent: &str, user: &str) -> Result<(), ApiError> {
    if app.store.is_opted_out(agent, user) {
        Err(ApiError::bad_request(
            "USER_OPTED_OUT",
            format!(
                "{user} replied STOP to {agent} and has opted out; no message can be sent until \
                 they text START"
            ),
        ))
    } else {
        Ok(())
    }
}

/// A pathway version (string or number in Bland's docs) as the text conversations store.
pub fn version_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}
