//! The account's and the number's rules for a text to go out, shared by every way one is
//! sent (`/send`, `/create`, a human's message, a batch row): the plan, the number's owner
//! (provisioned under `--auto-provision`), opt-outs, and the text itself.

use std::sync::Arc;

use hyper::StatusCode;

use crate::base::error::ApiError;
use crate::base::validation::{Channel, MAX_TEXT_CHARS};
use crate::engine::app::App;
use crate::state::model::NumberRecord;
use crate::state::store::ProvisionError;

/// 403 `ENTERPRISE_REQUIRED` unless the key's plan is Enterprise (fixtures may say it is not).
///
/// # Errors
/// As above.
pub(crate) fn require_enterprise(app: &App, key: &str) -> Result<(), ApiError> {
    if app.store.enterprise(key) || app.store.plan(key).is_some() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ENTERPRISE_REQUIRED",
            "The SMS API requires an Enterprise plan (or the Agent Phone Plan); in the simulator, \
             an account is Enterprise unless its fixtures say `\"enterprise\": false`",
        ))
    }
}

/// The Agent Phone Plan's rules (§11) for one more text from `key` on `channel` to `user`
/// (nothing to check for an Enterprise account).
///
/// # Errors
/// 403 `ENTERPRISE_REQUIRED` for WhatsApp and iMessage, 400 `INVALID_PHONE_NUMBER` for a user
/// outside +1, 429 `SMS_RL_PLAN_HOURLY` or `SMS_RL_PLAN_DAILY` past a limit.
pub(crate) fn check_plan(
    app: &App,
    key: &str,
    channel: Channel,
    user: &str,
) -> Result<(), ApiError> {
    match app.store.plan_check(key, channel, user, app.now()) {
        None => Ok(()),
        Some(refused) => Err(ApiError::new(
            StatusCode::from_u16(refused.status()).expect("a valid status"),
            refused.code(),
            refused.message(user),
        )),
    }
}

/// [`check_plan`] for one more text on conversation `id` (owned by `key`).
///
/// # Errors
/// As [`check_plan`]; 404 `CONVERSATION_NOT_FOUND`.
pub(crate) fn check_plan_on(app: &App, key: &str, id: &str) -> Result<(), ApiError> {
    let (channel, user) = app
        .store
        .read_conversation(Some(key), id, |c| (c.channel, c.user_number.clone()))
        .ok_or_else(ApiError::conversation_not_found)?;
    check_plan(app, key, channel, &user)
}

/// The agent number `phone` as the key may use it: owned, or — under `--auto-provision`, when
/// nobody owns it — a record as it would be provisioned (`inbound_id` 0, which no stored number
/// has). Changes nothing; [`claim`] provisions.
///
/// # Errors
/// 404 `INBOUND_NUMBER_NOT_FOUND`, saying how to provision the number.
pub(crate) fn agent_number(
    app: &App,
    key: &str,
    phone: &str,
) -> Result<Arc<NumberRecord>, ApiError> {
    match owned_number(app, key, phone) {
        Err(_) if app.config.auto_provision && app.store.number(phone).is_none() => {
            Ok(Arc::new(NumberRecord::unclaimed(phone, key)))
        }
        owned => owned,
    }
}

/// The agent number `phone`, when the key owns it (a batch's rows: `--auto-provision` does
/// not give a batch a number).
///
/// # Errors
/// 404 `INBOUND_NUMBER_NOT_FOUND`, saying how to provision the number.
pub(crate) fn owned_number(
    app: &App,
    key: &str,
    phone: &str,
) -> Result<Arc<NumberRecord>, ApiError> {
    match app.store.number(phone) {
        Some(n) if n.owner == key => Ok(n),
        _ => Err(ApiError::number_not_found(phone)),
    }
}

/// Makes sure the key owns the number, provisioning it now under `--auto-provision`. Call it once
/// the request is known to be valid, so a failed request provisions nothing.
///
/// # Errors
/// 404 `INBOUND_NUMBER_NOT_FOUND` when another key took the number meanwhile.
pub(crate) fn claim(
    app: &App,
    key: &str,
    number: Arc<NumberRecord>,
) -> Result<Arc<NumberRecord>, ApiError> {
    if number.inbound_id != 0 {
        return Ok(number);
    }
    app.store
        .provision(key, &number.phone_number, None, false, Vec::new(), None)
        .map_err(|ProvisionError::OwnedByAnother| ApiError::number_not_found(&number.phone_number))
}

/// 400 `USER_OPTED_OUT` when the user texted STOP to this agent number.
///
/// # Errors
/// As above.
pub(crate) fn check_opt_out(app: &App, agent: &str, user: &str) -> Result<(), ApiError> {
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

/// 400 `MESSAGE_TOO_LONG` past [`MAX_TEXT_CHARS`].
///
/// # Errors
/// As above.
pub(crate) fn check_length(text: &str) -> Result<(), ApiError> {
    if text.chars().count() > MAX_TEXT_CHARS {
        Err(ApiError::bad_request(
            "MESSAGE_TOO_LONG",
            format!("message must be at most {MAX_TEXT_CHARS} characters"),
        ))
    } else {
        Ok(())
    }
}

/// The agent's text: not blank, and within [`MAX_TEXT_CHARS`].
///
/// # Errors
/// 400 `INVALID_PARAMETER` for a blank one, 400 `MESSAGE_TOO_LONG`.
pub(crate) fn agent_text(text: String) -> Result<String, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::invalid("`agent_message` must not be empty"));
    }
    check_length(&text)?;
    Ok(text)
}
