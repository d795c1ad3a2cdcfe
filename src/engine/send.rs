//! The agent's text to a user, as `POST /v1/sms/send` and each row of a batch send it: the
//! pair's conversation found or opened, what the request overrides applied, its variables
//! added, then the text (or, with none, the scenario's first word). The callers check the
//! request first (`engine::rules`), each with the same rules.

use serde_json::{Map, Value};

use super::lifecycle::{apply_effects, open, Opening, Overrides};
use super::Effects;
use crate::base::error::ApiError;
use crate::engine::app::App;
use crate::state::model::Sender;

/// One text to send, from a checked request.
pub(crate) struct Outbound<'a> {
    pub opening: Opening<'a>,
    pub overrides: Overrides,
    /// Added to the conversation's variables (a batch row's columns).
    pub variables: Map<String, Value>,
    /// `None`: the scenario speaks first.
    pub text: Option<String>,
}

/// Sends it: the conversation's id and the message's (none when nothing was sent, as to a
/// user who opted out), its webhooks on their way.
///
/// # Errors
/// 404 `CONVERSATION_NOT_FOUND` when the conversation went in between (deleted meanwhile).
pub(crate) fn send(app: &App, o: Outbound) -> Result<(String, Option<String>), ApiError> {
    let (id, message_id, fx) = prepare(app, o)?;
    super::pathway::settle_in_background(app, fx);
    Ok((id, message_id))
}

/// [`send`], its webhooks prepared but not sent (a batch sends a run of rows' at once).
///
/// # Errors
/// As [`send`].
pub(crate) fn prepare(
    app: &App,
    o: Outbound,
) -> Result<(String, Option<String>, Effects), ApiError> {
    let key = o.opening.key;
    let id = open(app, &o.opening);
    let (overrides, variables, text) = (o.overrides, o.variables, o.text);
    let (message_id, fx) = apply_effects(app, Some(key), &id, |ctx, c| {
        overrides.apply(c);
        if !variables.is_empty() {
            c.variables
                .get_or_insert_with(Default::default)
                .extend(variables);
        }
        match text {
            Some(t) => ctx.agent_message(c, Sender::Agent, t),
            None => ctx.speak_first(c),
        }
    })?;
    Ok((id, message_id, fx))
}
