//! `GET /v1/sms/numbers` (§3.1) and `POST /v1/sms/number/update` (§3.2).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{agent_number, channel, claim, require_enterprise};
use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::base::validation::{check_timeouts, e164, Channel};
use crate::engine::app::App;
use crate::request::req::Req;
use crate::state::model::ConfigPatch;

/// Lists the key's numbers that have the `channel`'s config (default `sms`).
pub(crate) fn list(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    let channel = match req.query_pairs().into_iter().find(|(k, _)| k == "channel") {
        Some((_, v)) if !v.is_empty() => Channel::parse(&v)?,
        _ => Channel::Sms,
    };
    let numbers = app.store.numbers_of(key);
    let data: Vec<_> = numbers
        .iter()
        .filter(|n| n.config(channel).is_some())
        .map(|n| n.view(channel))
        .collect();
    Ok(Reply::ok_typed(&data))
}

/// The `/number/update` body's number and channel; the rest is a [`ConfigPatch`].
#[derive(Deserialize)]
struct UpdateTarget {
    phone_number: Option<String>,
    channel: Option<Value>,
}

/// Merges the body into the number's config for the channel; nothing changes on an error.
pub(crate) fn update(app: &App, req: &Req, key: &str) -> Result<Reply, ApiError> {
    require_enterprise(app, key)?;
    let (phone, channel, json_cfg) = apply_update(app, req, key, &[])?;
    let mut data = Map::new();
    data.insert(
        "message".into(),
        json!(format!(
            "{} config updated for number {phone}",
            channel.label()
        )),
    );
    data.insert(channel.config_key().into(), json_cfg);
    Ok(Reply::ok(Value::Object(data)))
}

/// The update itself (the legacy `/v1/sms/update` and `/webhook/update` make it too): the
/// number, the channel and the merged config as shown.
pub(crate) fn apply_update(
    app: &App,
    req: &Req,
    key: &str,
    also: &[&str],
) -> Result<(String, Channel, Value), ApiError> {
    let (b, config): (UpdateTarget, ConfigPatch) = req.json2_knowing(also)?;
    let phone = b.phone_number.filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::bad_request("PHONE_NUMBER_REQUIRED", "phone_number is required")
    })?;
    e164("phone_number", &phone)?;
    let channel_given = channel(&b.channel)?;
    let number = agent_number(app, key, &phone)?;
    let channel = channel_given.unwrap_or(number.default_channel());
    let current = number.config(channel).cloned().unwrap_or_default();
    // `time_out` as given, before it is raised to 30 s.
    let raw_time_out = config.time_out.clone().over(current.time_out);
    let warning_given = config.warning_time.given();
    let merged = current.merged(config)?;
    check_timeouts(merged.warning_time, raw_time_out, warning_given)?;
    let json_cfg = merged.to_json(channel);
    claim(app, key, number)?;
    app.store
        .with_number_mut(key, &phone, |n| {
            *n.config_mut(channel) = Some(Arc::new(merged))
        })
        .ok_or_else(|| ApiError::number_not_found(&phone))?;
    Ok((phone, channel, json_cfg))
}
