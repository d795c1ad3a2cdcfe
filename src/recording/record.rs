//! From exploration to regression test: `GET /_sim/conversations/{id}/replay` writes a replay
//! script that reproduces a conversation from its start. The steps come from the request
//! journal (the API calls on the conversation and the texts sent as its user, in order, with
//! the clock advanced between them as it was); the expectations from the conversation itself
//! (each agent reply, the final state) and from the webhook log (its status webhooks).

use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::script::{Call, Expect, Script, Setup, Step};
use crate::base::clock::iso;
use crate::base::error::ApiError;
use crate::engine::app::App;
use crate::observe::journal::Entry;
use crate::state::model::{Conversation, Sender};

/// Every occurrence of the conversation's id, in a string or a body, as
/// `{{conversation_id}}`, and of its `i`-th message's id as `{{message_i}}` (the replay's ids
/// differ from the recording's).
pub(super) fn templated(v: &Value, c: &Conversation) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s.replace(&*c.id, "{{conversation_id}}");
            let mut buf = [0; 36];
            for (i, m) in c.messages.iter().enumerate() {
                let id = m.id_str(&mut buf);
                if s.contains(id) {
                    s = s.replace(id, &format!("{{{{message_{i}}}}}"));
                }
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| templated(x, c)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), templated(x, c)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// Whether a journaled request belongs in the recording: it found or opened the conversation
/// (`/send`, `/create`, a user's text), or it names the conversation in its path and changed
/// something (a `GET` changes nothing, so a replay needs none).
pub(super) fn belongs(e: &Entry, id: &str) -> bool {
    let changed = e.status.as_u16() < 400 && e.method != hyper::Method::GET;
    changed && (e.conversation_id.as_deref() == Some(id) || e.path.contains(id))
}

/// The replay script for conversation `id`; with `as_app`, for testing the app that took
/// part in it ([`super::as_app`]).
///
/// # Errors
/// 404 `CONVERSATION_NOT_FOUND`.
pub(crate) fn record(app: &App, id: &str, as_app: bool) -> Result<Value, ApiError> {
    let c = find(app, id)?;
    if as_app {
        return Ok(super::as_app::record(app, &c));
    }
    let entries = app.journal.list(|e| belongs(e, id));
    let start = entries
        .first()
        .map_or(c.created_at, |e| e.at.min(c.created_at));
    let mut now = start;
    let mut steps = Vec::new();
    // USER messages are matched to the texts in order; `next_user` is where to look next.
    let mut next_user = 0;
    for e in &entries {
        if let Some(wait) = advance(now, e.at) {
            steps.push(wait);
            now = e.at;
        }
        steps.push(journal_step(e, &c, &mut next_user));
    }
    // Then on to the last thing that happened: a delayed reply, a warning, a timeout.
    steps.extend(advance(now, last_moment(&c, now)));
    steps.push(final_state(app, &c));
    let script = Script {
        name: Some(default_name(&c)),
        description: Some(description(&c, &entries, app.journal.enabled())),
        setup: setup(app, &c, start),
        steps,
    };
    Ok(serde_json::to_value(script).expect("a script serializes"))
}

/// A recording's name: the conversation's scenario and its user's first text.
pub(super) fn default_name(c: &Conversation) -> String {
    let first = c
        .messages
        .iter()
        .find(|m| m.sender() == Sender::User)
        .map(|m| crate::base::input::prefix(&m.message, 60).to_string());
    match first {
        Some(text) => format!("{}: {text:?}", c.scenario),
        None => format!("{}: the agent writes first", c.scenario),
    }
}

/// The conversation's last moment: its last message, its timeout, its last change.
pub(super) fn last_moment(c: &Conversation, from: i64) -> i64 {
    c.messages
        .iter()
        .map(|m| m.created_at())
        .chain(c.timed_out_at)
        .chain(std::iter::once(c.updated_at))
        .max()
        .unwrap_or(from)
        .max(from)
}

/// A copy of conversation `id`, or the 404 that names the list to look in.
fn find(app: &App, id: &str) -> Result<Conversation, ApiError> {
    app.store
        .read_conversation(None, id, Conversation::clone)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "CONVERSATION_NOT_FOUND",
                format!("No conversation {id:?}; GET /v1/sms/conversations lists them"),
            )
        })
}

/// A step that advances the clock from `now` to `to`, when `to` is later.
pub(super) fn advance(now: i64, to: i64) -> Option<Step> {
    (to > now).then(|| Step {
        advance: Some((to - now) as f64 / 1000.0),
        ..Step::default()
    })
}

/// The step that replays one journaled request: a user's text, or an API call.
fn journal_step(e: &Entry, c: &Conversation, next_user: &mut usize) -> Step {
    let body: Option<Value> = serde_json::from_slice(&e.body).ok();
    if e.path == "/_sim/inbound" {
        user_step(body.as_ref(), c, next_user, e.at)
    } else {
        call_step(e, body, c)
    }
}

/// A user's text (a `/_sim/inbound` request), with the agent's replies it got.
pub(super) fn user_step(
    body: Option<&Value>,
    c: &Conversation,
    next_user: &mut usize,
    at: i64,
) -> Step {
    let text = body
        .and_then(|b| b.get("message").or(b.get("body")))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let replies = replies_to(c, next_user, &text, at);
    let channel = body.and_then(|b| b.get("channel")).and_then(Value::as_str);
    Step {
        user: Some(text),
        channel: channel.map(String::from),
        replies: Some(replies),
        ..Step::default()
    }
}

/// An API call as it was made (ids templated), expecting the status it got.
pub(super) fn call_step(e: &Entry, body: Option<Value>, c: &Conversation) -> Step {
    let mut call = Call {
        method: e.method.as_str().to_string(),
        path: templated(&Value::String(e.path.clone()), c)
            .as_str()
            .unwrap_or_default()
            .to_string(),
        body: body.map(|b| templated(&b, c)),
        key: None,
        headers: Map::new(),
    };
    if let Some(q) = &e.query {
        call.path = format!("{}?{q}", call.path);
    }
    if let Some(k) = &e.idempotency_key {
        call.headers.insert("idempotency-key".into(), json!(k));
    }
    Step {
        call: Some(call),
        expect: Some(Expect {
            status: Some(e.status.as_u16()),
            body: None,
        }),
        ..Step::default()
    }
}

/// The script's setup: the conversation's account and agent number as fixtures, the clock
/// at `start`, the seed, and the conversation's key and numbers.
pub(super) fn setup(app: &App, c: &Conversation, start: i64) -> Setup {
    let number = app.store.number(&c.agent_number);
    let enterprise = app.store.enterprise(&c.owner.key);
    Setup {
        fixtures: Some(json!({"accounts": [{
            "api_key": c.owner.key,
            "enterprise": enterprise,
            "numbers": number.map(|n| vec![crate::engine::snapshot::number_doc(&n)]).unwrap_or_default(),
        }]})),
        start_time: Some(iso(start)),
        seed: Some(app.store.ids().seed()),
        api_key: Some(c.owner.key.to_string()),
        user_number: Some(c.user_number.to_string()),
        agent_number: Some(c.agent_number.to_string()),
        ..Setup::default()
    }
}

/// The agent's messages stored with the user's text `text` at `at`: the AGENT messages right
/// after it at the same time.
pub(super) fn replies_to(
    c: &Conversation,
    next_user: &mut usize,
    text: &str,
    at: i64,
) -> Vec<Value> {
    let found = c.messages[*next_user..]
        .iter()
        .position(|m| m.sender() == Sender::User && &*m.message == text && m.created_at() == at);
    let Some(i) = found.map(|i| i + *next_user) else {
        return Vec::new();
    };
    *next_user = i + 1;
    c.messages[i + 1..]
        .iter()
        // Hidden later or not, each was the agent's answer then.
        .take_while(|m| m.sender() == Sender::Agent && m.created_at() == at)
        .map(|m| json!(m.message))
        .collect()
}

/// The last step: the conversation as it ended up, and its status webhooks.
pub(super) fn final_state(app: &App, c: &Conversation) -> Step {
    let messages: Vec<Value> = c
        .visible_messages()
        .map(|m| json!({"sender": m.sender().as_str(), "message": m.message}))
        .collect();
    let deliveries = app.webhooks.list(|d| *d.conversation_id == *c.id);
    let statuses: Vec<Value> = deliveries
        .iter()
        .map(|d| d.to_json())
        .filter(|d| d["type"] == "status")
        .map(|d| json!({"type": "status", "payload": {"status": d["payload"]["status"]}}))
        .collect();
    Step {
        name: Some("the conversation as it ended up".into()),
        conversation: Some(json!({
            "status": c.status().as_str(),
            "is_active": c.is_active,
            "current_node_id": c.current_node_id,
            "variables": c.variables,
            "messages": messages,
        })),
        status_webhooks: (!deliveries.is_empty()).then_some(statuses),
        ..Step::default()
    }
}

pub(super) fn description(c: &Conversation, entries: &[Entry], journal_on: bool) -> String {
    let mut d = format!(
        "Recorded from conversation {} between {} and {}.",
        c.id, c.user_number, c.agent_number
    );
    if let Some(sc) = c.script.as_ref().filter(|s| {
        !crate::scenario::EMBEDDED
            .iter()
            .any(|(p, _)| *p == s.source)
    }) {
        let from = if sc.source.starts_with("scenario \"") {
            "it was added at run time: give it in `setup.scenarios` or with --scenarios".into()
        } else {
            format!("--scenarios {}", sc.source)
        };
        d.push_str(&format!(
            " The scenario {:?} played the agent: replay with it loaded ({from}).",
            sc.name
        ));
    }
    if !journal_on {
        d.push_str(" The request journal is off (--request-log 0), so no steps could be recorded.");
    } else if entries.first().is_none_or(|e| e.at > c.created_at) {
        d.push_str(
            " The journal no longer holds the request that started it (raise --request-log): \
             the first steps are missing.",
        );
    }
    d
}
