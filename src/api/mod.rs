//! The `/v1/sms/*` handlers, one file per resource. Each parses its request into a typed struct,
//! calls the engine (or the store, for plain reads), and renders the answer. The checks they
//! share live here: the Enterprise gate, the agent number a key may use, required fields,
//! message length, opt-out, the `sender` field.

pub(crate) mod analyze;
pub(crate) mod batch;
pub(crate) mod citations;
pub(crate) mod conversations;
pub(crate) mod filter;
pub(crate) mod handoff;
pub(crate) mod legacy;
pub(crate) mod list;
pub(crate) mod numbers;
pub(crate) mod send;
pub(crate) mod webhooks;

// The field checks this API shares with the control API, for the handlers here.
pub(crate) use crate::engine::rules::{
    agent_number, agent_text, check_length, check_opt_out, check_plan, check_plan_on, claim,
    require_enterprise,
};
pub(crate) use crate::request::params::{channel, phone, require_hinted};

use crate::base::error::ApiError;
use crate::state::model::Sender;

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
