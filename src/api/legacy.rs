//! The legacy endpoints (§3.18) older clients still call, mapped onto today's state. They
//! answer in their own documented shape (`{"status": …}`), not in the envelope; their errors
//! use the envelope, as every other endpoint's do.
//! - `/update` and `/webhook/update` are `number/update` (the prompt is the config's
//!   `objective`; the webhook its `webhook`);
//! - `/messages/get` reads the pair's latest conversation, `/clear` takes its messages out of
//!   the agent's context without deleting them;
//! - `/toggle` turns the number's human mode on (every conversation is handed to a human, and
//!   the agent stays silent) or off (they go back to the agent);
//! - `/register` and `/register/status` keep an A2P brand registration that is `pending` for
//!   ten minutes of simulator time, then `approved` (or `failed` for `ein` `000000000`).

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::numbers;
use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::base::validation::e164;
use crate::engine;
use crate::engine::app::App;
use crate::request::req::Req;
use crate::state::model::{Registration, FAILING_EIN};

fn status(body: Value) -> Reply {
    Reply::new(StatusCode::OK, body)
}

/// `POST /v1/sms/update {phone_number, channel?, prompt, ignore_keywords?, temperature?}`, and
/// `POST /v1/sms/prompt/update {phone_number, prompt}`, which Bland's generated SDKs call
/// (`bland` 0.3.0's `sms.update_prompt`): the number's prompt, its objective.
pub(crate) fn update(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    // `ignore_keywords` is documented; the simulator has no keywords to ignore.
    numbers::apply_update(app, req, key, &["ignore_keywords"])?;
    Ok(status(json!({"status": "Prompt updated"})))
}

/// `POST /v1/sms/webhook/update {phone_number, webhook}`.
pub(crate) fn webhook_update(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let given = req.json_object()?;
    if given.get("webhook").is_none() {
        return Err(ApiError::missing(
            "webhook is required: the URL to send this number's webhooks to (null removes it)",
        ));
    }
    numbers::apply_update(app, req, key, &[])?;
    Ok(status(json!({"status": "success"})))
}

#[derive(Deserialize)]
struct PairBody {
    to: Option<String>,
    from: Option<String>,
}

/// The (agent, user) pair of a `{to, from}` body, in either order: the agent number is the one
/// the key owns.
fn pair(app: &App, req: &Req, key: &str) -> Result<(String, String), ApiError> {
    let b: PairBody = req.json()?;
    let (Some(to), Some(from)) = (b.to, b.from) else {
        return Err(ApiError::missing(
            "Missing required fields: to and from (the agent's number and the user's, in \
             either order)",
        ));
    };
    e164("to", &to)?;
    e164("from", &from)?;
    let owned = |p: &str| app.store.number(p).is_some_and(|n| n.owner == key);
    if owned(&to) {
        Ok((to, from))
    } else if owned(&from) {
        Ok((from, to))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "INBOUND_NUMBER_NOT_FOUND",
            format!(
                "Neither {to} nor {from} is a number of this account: one of `to` and `from` is \
                 the agent's number (GET /v1/sms/numbers lists them)"
            ),
        ))
    }
}

/// `POST /v1/sms/messages/get {to, from}`: `{"messages": "<JSON array>"}` (a string, as the
/// legacy page shows), the pair's latest conversation's messages; `"[]"` without one.
pub(crate) fn messages_get(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let (agent, user) = pair(app, req, key)?;
    let messages: Vec<Value> = app
        .store
        .pair_latest(&agent, &user)
        .and_then(|id| {
            app.store.read_conversation(Some(key), &id, |c| {
                c.visible_messages()
                    .map(|m| m.to_json(&c.user_number, &c.agent_number))
                    .collect()
            })
        })
        .unwrap_or_default();
    let text = serde_json::to_string(&messages).expect("messages serialize");
    Ok(status(json!({"messages": text})))
}

/// `POST /v1/sms/clear {to, from}`: the pair's messages leave the agent's context (they stay
/// stored and shown); `count` is how many did.
pub(crate) fn clear(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let (agent, user) = pair(app, req, key)?;
    let count = app
        .store
        .pair_latest(&agent, &user)
        .and_then(|id| {
            app.store.with_conversation(Some(key), &id, |c| {
                let n = c.context_messages().count();
                c.context_from = c.messages.len() as u32;
                n
            })
        })
        .unwrap_or(0);
    Ok(status(json!({"status": "success", "count": count})))
}

#[derive(Deserialize)]
struct ToggleBody {
    phone_number: Option<String>,
    on: Option<Value>,
}

/// `POST /v1/sms/toggle {phone_number, on}`: human mode on hands every active conversation of
/// the number to a human and keeps the agent silent; off gives them back.
pub(crate) fn toggle(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let b: ToggleBody = req.json()?;
    let phone = b.phone_number.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request("PHONE_NUMBER_REQUIRED", "phone_number is required")
    })?;
    e164("phone_number", &phone)?;
    let on = match b.on {
        Some(Value::Bool(on)) => on,
        _ => return Err(ApiError::invalid("`on` is required: true or false")),
    };
    app.store
        .with_number_mut(key, &phone, |n| n.human_mode = on)
        .ok_or_else(|| ApiError::number_not_found(&phone))?;
    for id in app.store.conversation_ids(key) {
        let mine = app
            .store
            .read_conversation(Some(key), &id, |c| c.agent_number == phone && c.is_active);
        if mine != Some(true) {
            continue;
        }
        // A conversation deleted meanwhile is skipped. Off ends only the handoffs human mode
        // made: one a caller or a pathway made stays.
        let _ = engine::apply(app, Some(key), &id, |ctx, c| {
            if on {
                ctx.human_mode_handoff(c);
            } else if c.handoff.as_ref().is_some_and(|h| h.by_human_mode) {
                ctx.end_handoff(c, None);
            }
        });
    }
    let what = if on { "on" } else { "off" };
    // The docs' `status` and the generated SDKs' `message`, the same words.
    let words = format!("Turned human mode {what}");
    Ok(status(json!({"status": words, "message": words})))
}

/// The A2P brand form's fields (`api-v1/post/sms-submit-reg.mdx`, 91809e1), each required.
const A2P_FIELDS: [&str; 14] = [
    "businessName",
    "ein",
    "vertical",
    "address",
    "city",
    "state",
    "postalCode",
    "country",
    "email",
    "type",
    "website",
    "opt_in_info",
    "messageSamples",
    "trusted_user",
];

/// "A valid US state code": the 50 states and the District of Columbia.
const US_STATES: [&str; 51] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY",
];

/// The longest text kept of a form field.
const MAX_FORM_TEXT: usize = 1024;

/// `POST /v1/sms/register`: the A2P brand form, checked as the page says (every field present,
/// a US state code); a registration that is `pending` for 10 minutes of simulator time, then
/// `approved`, or `failed` when `ein` is `000000000`.
pub(crate) fn register(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let form = req.json_object()?;
    check_brand_form(&form)?;
    let brand_type = match form.get("brandType").or(form.get("brand_type")) {
        None | Some(Value::Null) => "STANDARD".to_string(),
        Some(Value::String(s)) if s.len() <= 64 => s.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "`brandType` must be a string of at most 64 bytes",
            ))
        }
    };
    let ein = form["ein"].as_str().unwrap_or_default();
    let id = app.store.ids().uuid();
    let kept = app.registrations.add(
        id.clone(),
        Registration {
            account: key.to_string(),
            brand_type: brand_type.clone(),
            created_at: app.now(),
            fails: ein == FAILING_EIN,
        },
    );
    if !kept {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REGISTRATIONS",
            "The simulator keeps 1,000 registrations per account (10,000 in all); POST \
             /_sim/reset to start over",
        ));
    }
    Ok(status(json!({
        "message": "A2P Brand registration successful.",
        "data": {
            "registration_id": id,
            "status": "pending",
            "brandType": brand_type,
            "businessName": form["businessName"],
            "state": form["state"].as_str().map(|s| s.trim().to_ascii_uppercase()),
        },
    })))
}

/// The brand form as documented: every field present (400 `MISSING_REQUIRED_FIELDS` naming
/// each one missing), each of its type, and `state` a US state code (400 `INVALID_PARAMETER`
/// naming the field).
fn check_brand_form(form: &Value) -> Result<(), ApiError> {
    let missing: Vec<&str> = A2P_FIELDS
        .iter()
        .copied()
        .filter(|k| match form.get(*k) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.trim().is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::missing(format!(
            "Missing required fields: {} (the A2P brand form takes {})",
            missing.join(", "),
            A2P_FIELDS.join(", ")
        )));
    }
    for k in A2P_FIELDS {
        let v = &form[k];
        let ok = match k {
            "messageSamples" => v.as_array().is_some_and(|a| {
                a.len() == 3
                    && a.iter().all(|m| {
                        m.as_str()
                            .is_some_and(|s| !s.trim().is_empty() && s.len() <= MAX_FORM_TEXT)
                    })
            }),
            "trusted_user" => v.as_object().is_some_and(|u| {
                ["first_name", "last_name", "position"].iter().all(|f| {
                    u.get(*f)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.trim().is_empty())
                })
            }),
            _ => v.as_str().is_some_and(|s| s.len() <= MAX_FORM_TEXT),
        };
        if !ok {
            let what = match k {
                "messageSamples" => "an array of three sample messages (strings)",
                "trusted_user" => {
                    "an object with the trusted user's `first_name`, `last_name` and `position` \
                     (C-suite or VP), and optionally `email` and `phone_number`"
                }
                _ => "a string of at most 1024 bytes",
            };
            return Err(ApiError::invalid(format!("`{k}` must be {what}")));
        }
    }
    let state = form["state"].as_str().unwrap_or_default().trim();
    if !US_STATES.contains(&state.to_ascii_uppercase().as_str()) {
        return Err(ApiError::invalid(format!(
            "`state` must be a valid US state code (two letters, like CA or NY), got {state:?}"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct StatusBody {
    registration_id: Option<String>,
}

/// `POST /v1/sms/register/status {registration_id}`: `{status, brandType, failureReason}`.
pub(crate) fn register_status(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let b: StatusBody = req.json()?;
    let id = b
        .registration_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing("registration_id is required"))?;
    let r = app.registrations.get(key, &id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "REGISTRATION_NOT_FOUND",
            format!(
                "No registration {id} on this account: use the registration_id that POST \
                 /v1/sms/register answered"
            ),
        )
    })?;
    let (state, reason) = r.status(app.now());
    Ok(status(json!({
        "status": state,
        "brandType": r.brand_type,
        "failureReason": reason,
        // As Bland's generated SDKs spell it (`bland` 0.3.0's CheckStatusResponse).
        "failtureReason": reason,
    })))
}
