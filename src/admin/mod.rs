//! The `/_sim/*` control API, which the real service does not have and tests need: health,
//! reset, provisioning numbers, texting as the user, the virtual clock, and inspecting webhook
//! deliveries, requests and scenarios. No API key is asked for (one reason the default host is
//! loopback). Routed by `routes`, like the API. Inspection (webhooks, requests, waiting) is in
//! `inspect`; fault rules in `faults`.

mod faults;
mod inspect;
mod scenarios;
mod state;

pub(crate) use faults::{add_fault, remove_fault};
pub(crate) use inspect::{count_requests, requests, wait, wait_json, webhook, webhooks};
pub(crate) use scenarios::{add_scenario, remove_scenario};
pub(crate) use state::{replace_state, save_state, state};

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::base::clock::{iso, MAX_TIME_MS};
use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::base::validation::Channel;
use crate::engine;
use crate::engine::app::App;
use crate::engine::rules::check_length;
use crate::request::params::{channel, phone, require, MAX_PAGE};
use crate::request::req::Req;
use crate::state::fixtures::config_from;
use crate::state::store::ProvisionError;

/// Longest clock jump one call may ask for (ten years).
pub(crate) const MAX_ADVANCE_SECS: f64 = 10.0 * 365.0 * 86_400.0;

/// `GET /_sim/ui`: the browser UI, one page with its script and styles.
pub(crate) fn ui() -> Reply {
    Reply::page(
        "text/html; charset=utf-8",
        include_bytes!("../ui/index.html"),
    )
}

/// `GET /_sim/events`: the event stream, after the `Last-Event-ID` header (or the
/// `last_event_id` query parameter) when one is given.
pub(crate) fn events(req: &Req) -> Result<Reply, ApiError> {
    let given = req.header("last-event-id").map(str::to_owned).or_else(|| {
        req.query_pairs()
            .into_iter()
            .find(|(k, _)| k == "last_event_id")
            .map(|(_, v)| v)
    });
    let last = match given.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            ApiError::invalid(format!(
                "Last-Event-ID (or last_event_id) must be the `id` of an event this stream \
                 sent (a whole number), got {v:?}; leave it out to start from the next event"
            ))
        })?),
    };
    // The stream takes its place under the cap when `routes` opens it (503 past it).
    Ok(Reply::events(last))
}

/// `POST /_sim/conversations/{id}/messages/{message_id}/read` and `…/click {"url"}`: the user
/// reads the message, or taps a link in it (RCS and WhatsApp): the message becomes `read`,
/// and `read` and `link_clicked` status webhooks fire. Answers the message.
pub(crate) fn receipt(app: &App, req: &Req, id: &str, click: bool) -> Result<Reply, ApiError> {
    // The message id is the path's fifth segment (`/_sim/conversations/{id}/messages/{mid}/…`).
    let message_id = req
        .path
        .trim_start_matches('/')
        .split('/')
        .nth(4)
        .unwrap_or_default()
        .to_string();
    let url = if click {
        let b = req.json_object()?;
        match b.get("url").and_then(Value::as_str) {
            Some(u) if crate::base::input::is_web_url(u) => Some(u.to_string()),
            _ => {
                return Err(ApiError::invalid(
                    "`url` is required: the http:// or https:// link the user tapped",
                ))
            }
        }
    } else {
        None
    };
    let message = engine::apply(app, None, id, |ctx, c| {
        ctx.receipt(c, &message_id, url)?;
        let mut buf = [0; 36];
        let m = c
            .messages
            .iter()
            .find(|m| m.id_str(&mut buf) == message_id)
            .expect("receipt found it");
        Ok::<_, ApiError>(m.to_json(&c.user_number, &c.agent_number))
    })??;
    Ok(Reply::ok(message))
}

/// Webhook node calls a conversation's view shows (the newest).
const MAX_SHOWN_CALLS: usize = 50;

/// `GET /_sim/conversations/{id}`: a conversation of any account, as
/// `GET /v1/sms/conversations/{id}` shows it, each message with what the carrier makes of it
/// (`carrier: {encoding, segments}`, which Bland's message object does not have).
/// A pathway's conversation also has `pathway`: its node by name and type, and the newest
/// [`MAX_SHOWN_CALLS`] of its Webhook node calls.
pub(crate) fn conversation(app: &App, id: &str) -> Result<Reply, ApiError> {
    let (body, script) = app
        .store
        .read_conversation(None, id, |c| (c.detail_body(), c.script.clone()))
        .ok_or_else(ApiError::conversation_not_found)?;
    let mut v: Value = serde_json::from_slice(&body).expect("a detail is JSON");
    // A pathway's conversation: where it is (by name) and its Webhook node calls.
    if let Some(sc) = script.filter(|s| s.pathway.is_some()) {
        let node_id = v["data"]["current_node_id"].as_str().map(String::from);
        let node = node_id.as_deref().and_then(|n| sc.nodes.get(n));
        let p = node.and_then(|n| n.pathway.as_ref());
        v["data"]["pathway"] = json!({
            "scenario": &*sc.name,
            "node_id": node_id,
            "node_name": p.map(|p| p.name.as_str()),
            "node_type": p.map(|p| p.type_name.as_str()),
            "webhook_calls": app.pathway_calls.of(id, MAX_SHOWN_CALLS),
        });
    }
    if let Some(messages) = v["data"]["messages"].as_array_mut() {
        for m in messages {
            let (encoding, segments) =
                crate::state::carrier::segments(m["message"].as_str().unwrap_or_default());
            m["carrier"] = json!({"encoding": encoding, "segments": segments});
        }
    }
    Ok(Reply::new(StatusCode::OK, v))
}

/// `GET /_sim/carrier/rules`.
pub(crate) fn carrier_rules(app: &App) -> Reply {
    Reply::ok(json!(*app.carrier.rules()))
}

/// `POST /_sim/carrier/rules {"user_number" | "prefix", "status", "error_code"}`.
pub(crate) fn add_carrier_rule(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let bad = |why: String| ApiError::bad_request("INVALID_CARRIER_RULE", why);
    let v = req.json_object()?;
    let rule: crate::state::carrier::Rule = serde_json::from_value(v).map_err(|e| {
        bad(format!(
            "{e}: a rule is {{\"user_number\" or \"prefix\", \"status\": \"failed\" or \
             \"undelivered\", \"error_code\": 30003}}, or {{\"user_number\" or \"prefix\", \
             \"rcs\": false}} for phones without RCS"
        ))
    })?;
    rule.check().map_err(bad)?;
    if !app.carrier.add_rule(rule.clone()) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_CARRIER_RULES",
            format!(
                "At most {} carrier rules are kept: DELETE /_sim/carrier/rules first",
                crate::state::carrier::MAX_RULES
            ),
        ));
    }
    Ok(Reply::data(StatusCode::CREATED, json!(rule)))
}

/// `GET /_sim/batches/{batch_id}?offset=0&limit=100`: a batch, its counts, and a page of its
/// rows with where each stands (a page at a time, so a large batch is never drawn whole).
pub(crate) fn batch(app: &App, req: &Req, id: &str) -> Result<Reply, ApiError> {
    let q = req.query_pairs();
    let number = |name: &str, default: usize, max: usize| -> Result<usize, ApiError> {
        match q.iter().find(|(k, _)| k == name) {
            None => Ok(default),
            Some((_, v)) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "{name} must be a whole number from 0 to {max}, got {v:?}"
                    ))
                }),
        }
    };
    let offset = number("offset", 0, usize::MAX)?;
    let limit = number("limit", 100, MAX_PAGE)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "BATCH_NOT_FOUND",
            format!("No batch {id}: a batch_id is the file_id POST /v1/sms/batch was given"),
        )
    };
    let view = app
        .batches
        .with(id, |b| {
            let pending = b.results.len() - b.sent - b.failed;
            let rows: Vec<Value> = (offset..b.results.len())
                .take(limit)
                .map(|i| batch_row(b, i))
                .collect();
            json!({
                "batch_id": b.id,
                "agent_number": b.agent_number,
                "channel": b.channel.as_str(),
                "rate": b.rate,
                "started_at": iso(b.started_at),
                "status": if pending == 0 { "done" } else { "running" },
                "total": b.rows.len(),
                "pending": pending,
                "sent": b.sent,
                "failed": b.failed,
                "offset": offset,
                "has_more": offset.saturating_add(limit) < b.rows.len(),
                "rows": rows,
            })
        })
        .ok_or_else(not_found)?;
    Ok(Reply::ok(view))
}

/// Row `i` of a batch and where it stands: pending (and when it is due), sent (to which
/// conversation) or failed (why).
fn batch_row(b: &crate::state::model::Batch, i: usize) -> Value {
    use crate::state::model::RowResult;
    let phone = b.rows.get(i, "phone_number").unwrap_or(Value::Null);
    let mut v = json!({"row": i + 1, "phone_number": phone});
    match &b.results[i] {
        RowResult::Pending => {
            v["status"] = json!("pending");
            v["due_at"] = json!(iso(b.due(i)));
        }
        RowResult::Sent {
            conversation_id,
            message_id,
        } => {
            v["status"] = json!("sent");
            v["conversation_id"] = json!(conversation_id);
            v["message_id"] = json!(message_id);
        }
        RowResult::Failed { code, message } => {
            v["status"] = json!("failed");
            v["error"] = json!({"error": code, "message": message});
        }
    }
    v
}

pub(crate) fn health() -> Reply {
    Reply::new(StatusCode::OK, json!({"status": "ok"}))
}

pub(crate) async fn reset(app: &App) -> Reply {
    app.reset().await;
    Reply::ok(json!({"status": "reset", "now": iso(app.now())}))
}

/// `GET /_sim/numbers`: every number with its owner and all its configs.
pub(crate) fn numbers(app: &App) -> Reply {
    let all = app.store.all_numbers();
    Reply::ok(Value::Array(all.iter().map(|n| n.full_json()).collect()))
}

pub(crate) fn clock_json(app: &App) -> Value {
    let pending: Vec<Value> = app
        .timers
        .pending(|kind| kind.describe())
        .into_iter()
        .map(|(due, what)| json!({"due_at": iso(due), "timer": what}))
        .collect();
    json!({
        "now": iso(app.now()),
        "mode": app.clock.mode().as_str(),
        "pending_timers": pending,
    })
}

#[derive(Deserialize)]
struct ProvisionBody {
    api_key: Option<String>,
    phone_number: Option<String>,
    label: Option<String>,
    imessage: Option<bool>,
    enterprise: Option<bool>,
    channel_priority: Option<Vec<String>>,
    sms_config: Option<Map<String, Value>>,
    whatsapp_config: Option<Map<String, Value>>,
    imessage_config: Option<Map<String, Value>>,
}

/// `POST /_sim/numbers {"api_key","phone_number","label","imessage","sms_config",…}`.
pub(crate) fn provision(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let mut b: ProvisionBody = req.json()?;
    let key = b
        .api_key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| ApiError::missing("api_key is required"))?;
    let phone = phone(&mut [("phone_number", &mut b.phone_number)])?.ok_or_else(|| {
        ApiError::bad_request("PHONE_NUMBER_REQUIRED", "phone_number is required")
    })?;
    let mut configs = Vec::new();
    for (ch, m) in [
        (Channel::Sms, b.sms_config),
        (Channel::Whatsapp, b.whatsapp_config),
        (Channel::Imessage, b.imessage_config),
    ] {
        if let Some(m) = m {
            let cfg = config_from(&m).map_err(|e| {
                ApiError::bad_request(e.code, format!("{}: {}", ch.config_key(), e.message))
            })?;
            configs.push((ch, cfg));
        }
    }
    let imessage = b.imessage.unwrap_or(false);
    let rcs_first = match &b.channel_priority {
        None => None,
        Some(p) => Some(crate::state::model::rcs_first(p).map_err(ApiError::invalid)?),
    };
    let n = app
        .store
        .provision(&key, &phone, b.label, imessage, configs, None)
        .map_err(|ProvisionError::OwnedByAnother| {
            ApiError::new(
                StatusCode::CONFLICT,
                "NUMBER_ALREADY_OWNED",
                format!("{phone} is already provisioned to another API key"),
            )
        })?;
    if let Some(e) = b.enterprise {
        app.store.set_enterprise(&key, e);
    }
    let n = match rcs_first {
        Some(first) => app
            .store
            .with_number_mut(&key, &phone, |r| r.rcs_first = first)
            .and_then(|()| app.store.number(&phone))
            .unwrap_or(n),
        None => n,
    };
    let mut v = n.to_json(n.default_channel());
    if n.rcs_first {
        v["channel_priority"] = json!(["rcs", "sms"]);
    }
    v["api_key"] = json!(key);
    Ok(Reply::data(StatusCode::CREATED, v))
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: Option<Value>,
}

/// `POST /_sim/clock/advance {"seconds": N}`: runs every timer due on the way, then answers.
pub(crate) async fn advance(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let b: AdvanceBody = req.json()?;
    let secs = match b.seconds {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(-1.0),
        _ => {
            return Err(ApiError::invalid(
                "`seconds` is required: a non-negative number",
            ))
        }
    };
    if !(0.0..=MAX_ADVANCE_SECS).contains(&secs) {
        return Err(ApiError::invalid(format!(
            "`seconds` must be between 0 and {MAX_ADVANCE_SECS}"
        )));
    }
    let ms = (secs * 1000.0).round() as i64;
    if app.now().saturating_add(ms) > MAX_TIME_MS {
        return Err(ApiError::invalid(format!(
            "the clock cannot move past {}; it is {}",
            iso(MAX_TIME_MS),
            iso(app.now())
        )));
    }
    engine::advance(app, ms).await;
    Ok(Reply::ok(clock_json(app)))
}

/// 404 for a text to an agent number no account owns, saying how to give it one.
pub(crate) fn unowned(agent: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "INBOUND_NUMBER_NOT_FOUND",
        format!(
            "Agent number {agent} belongs to no account, so nobody receives this text. Give it \
             to one: add it to an account in the fixtures file, or POST /_sim/numbers \
             {{\"api_key\":\"…\",\"phone_number\":\"{agent}\"}}"
        ),
    )
}

#[derive(Deserialize)]
struct InboundBody {
    user_number: Option<String>,
    from: Option<String>,
    agent_number: Option<String>,
    to: Option<String>,
    message: Option<String>,
    body: Option<String>,
    channel: Option<Value>,
}

/// `POST /_sim/inbound {"user_number","agent_number","message"}`: a text from the user. Answers
/// once every agent reply due now is stored and its webhooks were tried once.
pub(crate) async fn inbound(app: &App, req: &Req) -> Result<Reply, ApiError> {
    let mut b: InboundBody = req.json()?;
    let user = phone(&mut [("user_number", &mut b.user_number), ("from", &mut b.from)])?;
    let agent = phone(&mut [("agent_number", &mut b.agent_number), ("to", &mut b.to)])?;
    let text = b.message.or(b.body);
    require(&[
        ("user_number", user.is_some()),
        ("agent_number", agent.is_some()),
        ("message", text.is_some()),
    ])?;
    let (user, agent, text) = (
        user.expect("checked"),
        agent.expect("checked"),
        text.expect("checked"),
    );
    check_length(&text)?;
    let number = app.store.number(&agent).ok_or_else(|| unowned(&agent))?;
    let channel = channel(&b.channel)?.unwrap_or(number.default_channel());
    let r = engine::inbound(app, &number, &user, channel, text).await?;
    req.resolved(r.conversation_id.clone());
    Ok(Reply::ok(json!({
        "conversation_id": r.conversation_id,
        "message_id": r.message_id,
        "replies": r.replies.iter().map(|m| m.to_json(&user, &agent)).collect::<Vec<_>>(),
    })))
}
