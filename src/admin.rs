//! The `/_sim/*` control API, which the real service does not have and tests need: health,
//! reset, provisioning numbers, texting as the user, the virtual clock, and inspecting webhook
//! deliveries and scenarios. No API key is asked for (one reason the default host is loopback).

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::api::{self, body};
use crate::app::App;
use crate::body::Reply;
use crate::clock::iso;
use crate::engine::{is_start, is_stop, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::fixtures::config_from;
use crate::model::{EndKind, Sender};
use crate::routes::{not_found, pick, Req};
use crate::store::{number_not_found, ProvisionError};
use crate::validation::{Channel, Fields};

/// Longest clock jump one call may ask for (ten years).
pub const MAX_ADVANCE_SECS: f64 = 10.0 * 365.0 * 86_400.0;

enum Admin {
    Health,
    Reset,
    ListNumbers,
    Provision,
    Inbound,
    Clock,
    Advance,
    Webhooks,
    Scenarios,
    Outbox,
    Requests,
}

pub async fn route(app: &App, req: &Req, segs: &[&str]) -> ApiResult {
    use Method as M;
    let which = match segs {
        ["health"] => pick(&req.method, vec![(M::GET, Admin::Health)]),
        ["reset"] => pick(&req.method, vec![(M::POST, Admin::Reset)]),
        ["numbers"] => pick(
            &req.method,
            vec![(M::GET, Admin::ListNumbers), (M::POST, Admin::Provision)],
        ),
        ["inbound"] => pick(&req.method, vec![(M::POST, Admin::Inbound)]),
        ["clock"] => pick(&req.method, vec![(M::GET, Admin::Clock)]),
        ["clock", "advance"] => pick(&req.method, vec![(M::POST, Admin::Advance)]),
        ["webhooks"] => pick(&req.method, vec![(M::GET, Admin::Webhooks)]),
        ["scenarios"] => pick(&req.method, vec![(M::GET, Admin::Scenarios)]),
        ["outbox"] => pick(&req.method, vec![(M::GET, Admin::Outbox)]),
        ["requests"] => pick(&req.method, vec![(M::GET, Admin::Requests)]),
        _ => Err(not_found(&req.method, &req.path)),
    }?;
    match which {
        Admin::Health => Ok(Reply::new(StatusCode::OK, json!({"status": "ok"}))),
        Admin::Reset => {
            app.reset().await;
            Ok(Reply::ok(json!({"status": "reset", "now": iso(app.now())})))
        }
        Admin::ListNumbers => Ok(Reply::ok(Value::Array(
            app.store
                .all_numbers()
                .iter()
                .map(|n| {
                    let mut v = n.to_json(n.default_channel());
                    v["api_key"] = json!(n.owner);
                    for ch in [Channel::Sms, Channel::Whatsapp, Channel::Imessage] {
                        if let Some(c) = n.config(ch) {
                            v[ch.config_key()] = c.to_json(ch);
                        }
                    }
                    v
                })
                .collect(),
        ))),
        Admin::Provision => provision(app, req),
        Admin::Inbound => inbound(app, req).await,
        Admin::Clock => Ok(Reply::ok(clock_json(app))),
        Admin::Advance => advance(app, req).await,
        Admin::Webhooks => Ok(Reply::ok(webhooks(app, req))),
        Admin::Scenarios => Ok(Reply::ok(app.scenarios.to_json())),
        Admin::Outbox => Ok(Reply::ok(Value::Array(app.store.outbox()))),
        Admin::Requests => Ok(Reply::ok(requests(app, req))),
    }
}

fn clock_json(app: &App) -> Value {
    let pending: Vec<Value> = app
        .timers
        .pending()
        .into_iter()
        .map(|(due, what)| json!({"due_at": iso(due), "timer": what}))
        .collect();
    json!({
        "now": iso(app.now()),
        "mode": format!("{:?}", app.clock.mode()).to_lowercase(),
        "pending_timers": pending,
    })
}

/// `POST /_sim/numbers {"api_key","phone_number","label","imessage","sms_config",…}`.
fn provision(app: &App, req: &Req) -> ApiResult {
    let m = body(req)?;
    let f = Fields(&m);
    let key = f
        .string("api_key")?
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("MISSING_REQUIRED_FIELDS", "api_key is required"))?;
    let phone = f.phone(&["phone_number"])?.ok_or_else(|| {
        ApiError::bad_request("PHONE_NUMBER_REQUIRED", "phone_number is required")
    })?;
    let mut configs = Vec::new();
    for ch in [Channel::Sms, Channel::Whatsapp, Channel::Imessage] {
        if let Some(c) = f.object(ch.config_key())? {
            let cfg = config_from(&c).map_err(|e| {
                let code = if e.contains("warning_time") {
                    "INVALID_TIMEOUT_CONFIG"
                } else {
                    "INVALID_PARAMETER"
                };
                ApiError::bad_request(code, format!("{}: {e}", ch.config_key()))
            })?;
            configs.push((ch, cfg));
        }
    }
    let label = f.string("label")?;
    let imessage = f.bool("imessage")?.unwrap_or(false);
    if let Some(e) = f.bool("enterprise")? {
        app.store.set_enterprise(&key, e);
    }
    let n = app
        .store
        .provision(&key, &phone, label, imessage, configs)
        .map_err(|ProvisionError::OwnedByAnother| {
            ApiError::new(
                StatusCode::CONFLICT,
                "NUMBER_ALREADY_OWNED",
                format!("{phone} is already provisioned to another API key"),
            )
        })?;
    let mut v = n.to_json(n.default_channel());
    v["api_key"] = json!(key);
    Ok(Reply::data(StatusCode::CREATED, v))
}

/// `POST /_sim/clock/advance {"seconds": N}`: runs every timer due on the way, then answers.
async fn advance(app: &App, req: &Req) -> ApiResult {
    let m = body(req)?;
    let secs = match m.get("seconds") {
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
    app.advance((secs * 1000.0).round() as i64).await;
    Ok(Reply::ok(clock_json(app)))
}

/// `GET /_sim/webhooks[?conversation_id=…&event=…&type=…]`.
fn webhooks(app: &App, req: &Req) -> Value {
    let q = req.query_pairs();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (conv, event, kind) = (get("conversation_id"), get("event"), get("type"));
    Value::Array(
        app.webhooks
            .list(|d| {
                conv.as_ref().is_none_or(|c| *c == d.conversation_id)
                    && event.as_ref().is_none_or(|e| *e == d.event)
                    && kind.as_ref().is_none_or(|k| k == d.kind)
            })
            .iter()
            .map(|d| d.to_json())
            .collect(),
    )
}

/// `GET /_sim/requests[?method=…&path=…&status=…&api_key=…]`: the journaled API requests.
fn requests(app: &App, req: &Req) -> Value {
    let q = req.query_pairs();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (method, path, status, key) = (get("method"), get("path"), get("status"), get("api_key"));
    Value::Array(
        app.journal
            .list(|e| {
                method
                    .as_ref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(e.method.as_str()))
                    && path.as_ref().is_none_or(|p| *p == e.path)
                    && status
                        .as_ref()
                        .is_none_or(|s| *s == e.status.as_u16().to_string())
                    && key.as_ref().is_none_or(|k| Some(k) == e.api_key.as_ref())
            })
            .iter()
            .map(|e| e.to_json())
            .collect(),
    )
}

/// `POST /_sim/inbound {"user_number","agent_number","message"}`: a text from the user. Answers
/// once every agent reply due now is stored and its webhooks were tried once.
async fn inbound(app: &App, req: &Req) -> ApiResult {
    let m = body(req)?;
    let f = Fields(&m);
    let user = f.phone(&["user_number", "from"])?;
    let agent = f.phone(&["agent_number", "to"])?;
    let text = f.string_alias(&["message", "body"])?;
    api::require(&[
        ("user_number", user.is_some()),
        ("agent_number", agent.is_some()),
        ("message", text.is_some()),
    ])?;
    let (user, agent, text) = (
        user.expect("checked"),
        agent.expect("checked"),
        text.expect("checked"),
    );
    let number = app
        .store
        .number(&agent)
        .ok_or_else(|| number_not_found(&agent))?;
    let channel = f.channel()?.unwrap_or(number.default_channel());
    let cfg = number.effective_config(channel);
    let opted_out = app.store.is_opted_out(&agent, &user);
    let restart = cfg.restart_after_end_call;
    let id = {
        // Reuse the pair's latest conversation when it is active, when the user is opted out,
        // or when the number does not restart ended conversations (§6).
        let reuse_inactive = opted_out || !restart;
        api::send::resolve_for_inbound(app, &number, &user, channel, reuse_inactive)
    };
    let ((message_id, conversation_id, replies), fx) = Ctx::with(app, None, &id, |ctx, c| {
        let idx = ctx.add_message(c, Sender::User, text.clone(), None, true);
        let mid = c.messages[idx].id.clone();
        if is_stop(&text) {
            ctx.app
                .store
                .set_opted_out(&c.agent_number, &c.user_number, true);
            if c.is_active {
                ctx.end(c, EndKind::Blacklisted, None);
            } else {
                ctx.status_webhook(c, "blacklisted", Default::default());
            }
        } else if opted_out {
            if is_start(&text) {
                ctx.app
                    .store
                    .set_opted_out(&c.agent_number, &c.user_number, false);
            }
        } else if c.is_active && c.handoff.is_none() {
            ctx.arm_timer(c);
            ctx.user_turn(c, &text);
        }
        // The replies are what the agent stored after the user's text, within this step.
        let replies: Vec<Value> = c.messages[idx + 1..]
            .iter()
            .filter(|m| m.sender != Sender::User)
            .map(|m| m.to_json())
            .collect();
        (mid, c.id.clone(), replies)
    })
    // Deleted in the instant since it was resolved.
    .ok_or_else(ApiError::conversation_not_found)?;
    app.deliver(fx.deliveries).await;
    Ok(Reply::ok(json!({
        "conversation_id": conversation_id,
        "message_id": message_id,
        "replies": replies,
    })))
}
