//! Checks on a request's fields that Bland's API and the control API share: required fields
//! (with compatibility hints), phone numbers, channels and text length.

use serde_json::Value;

use crate::base::error::ApiError;
use crate::base::validation::{e164, Channel};
use crate::request::req::Req;

/// Conversations a list page shows at most.
pub(crate) const MAX_PAGE: usize = 1000;

/// Bland's `MISSING_REQUIRED_FIELDS`, listing the `(name, present)` fields that are missing.
///
/// # Errors
/// 400 when any is missing.
pub(crate) fn require(fields: &[(&str, bool)]) -> Result<(), ApiError> {
    require_hinted(None, fields)
}

/// [`require`], adding `req`'s compatibility hints that name a missing field (`Did you
/// mean: …`).
///
/// # Errors
/// As [`require`].
pub(crate) fn require_hinted(req: Option<&Req>, fields: &[(&str, bool)]) -> Result<(), ApiError> {
    let missing: Vec<&str> = fields
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut message = format!("Missing required fields: {}", missing.join(", "));
    let hints = req.map(|r| r.hints_naming(&missing)).unwrap_or_default();
    if !hints.is_empty() {
        message = format!("{message}. Did you mean: {}", hints.join("; "));
    }
    Err(ApiError::missing(message))
}

/// The first of several alias fields that is given, checked as an E.164 number; the alias's
/// own name is the one an error names.
///
/// # Errors
/// 400 `INVALID_PHONE_NUMBER`.
/// The one taken is moved out of the body.
pub(crate) fn phone(
    aliases: &mut [(&str, &mut Option<String>)],
) -> Result<Option<String>, ApiError> {
    match aliases
        .iter_mut()
        .find_map(|(n, v)| v.take().map(|v| (*n, v)))
    {
        Some((name, v)) => {
            e164(name, &v)?;
            Ok(Some(v))
        }
        None => Ok(None),
    }
}

/// The `channel` field, when given.
///
/// # Errors
/// 400 `INVALID_CHANNEL` for anything but `sms`, `whatsapp` or `imessage`.
pub(crate) fn channel(v: &Option<Value>) -> Result<Option<Channel>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Channel::parse(s).map(Some),
        Some(_) => Err(ApiError::bad_request(
            "INVALID_CHANNEL",
            "`channel` must be one of sms, whatsapp, imessage",
        )),
    }
}
