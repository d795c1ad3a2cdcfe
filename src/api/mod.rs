//! The `/v1/sms/*` handlers, one file per resource. Each parses its request into a typed struct,
//! calls the engine (or the store, for plain reads), and renders the answer. The checks they
//! share live here: the Enterprise gate, the agent number a key may use, required fields,
//! message length, opt-out, the `sender` field.

pub(crate) mod analyze;
pub(crate) mod batch;
pub(crate) mod conversations;
pub(crate) mod filter;
pub(crate) mod handoff;
pub(crate) mod legacy;
pub(crate) mod list;
pub(crate) mod numbers;
pub(crate) mod send;
pub(crate) mod webhooks;

// The field checks this API shares with the control API, for the handlers here.
pub(crate) use crate::request::params::{channel, check_length, phone, require_hinted};

use std::sync::Arc;

use hyper::StatusCode;

use crate::base::error::ApiError;
use crate::base::validation::Channel;
use crate::engine::app::App;
use crate::state::model::{NumberRecord, Sender};
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
    match app.store.number(phone) {
        Some(n) if n.owner == key => Ok(n),
        None if app.config.auto_provision => Ok(Arc::new(NumberRecord::unclaimed(phone, key))),
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

/// The `sender` field: one of `allowed` (any case), `allowed[0]` when absent.
///
/// # Errors
/// 400 `INVALID_PARAMETER` naming the allowed values.
pub(crate) fn sender(given: Option<&str>, allowed: &[Sender]) -> Result<Sender, ApiError> {
    let Some(given) = given else {
        return Ok(allowed[0]);
    };
    allowed
        .iter()
        .copied()
        .find(|s| s.as_str().eq_ignore_ascii_case(given))
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
