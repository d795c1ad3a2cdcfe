//! A conversation recorded with the app as the thing under test
//! (`GET /_sim/conversations/{id}/replay?as=app`). The actions stay actions: the call that
//! opened the conversation, the user's texts and the clock's moves. What the app did becomes
//! what each step expects of it: the API calls it made with the account's key after the
//! conversation opened (`expect_requests`, the texts it sent among them) and how it answered
//! each webhook (`expect_deliveries`), on the step that caused them. The number's webhook is
//! written as `{{env.APP_WEBHOOK_URL}}`, so the script runs against wherever the app listens.
//!
//! Which step caused what comes from the order of arrival: a call or a delivery belongs to
//! the last action that arrived before it, or, when the clock had moved on since that action,
//! to the advance after it.

use serde_json::{json, Map, Value};

use super::record::{
    advance, call_step, default_name, description, final_state, last_moment, replies_to, setup,
    templated, user_step,
};
use super::script::{Script, Step};
use crate::engine::app::App;
use crate::observe::journal::{Entry, MAX_KEY};
use crate::state::model::Conversation;

/// The environment variable a recording's webhook URL is read from.
const WEBHOOK_VAR: &str = "{{env.APP_WEBHOOK_URL}}";

/// One action of the recording, and what the app did after it.
struct Slot {
    /// The action's step, and the advance after it (when the clock moved before the next).
    step: Step,
    advance: Option<Step>,
    arrived: u64,
    at: i64,
    /// The texts the app sent in this slot, left out of the agent's replies.
    app_texts: Vec<String>,
}

/// The script for conversation `c` with the app under test.
pub(crate) fn record(app: &App, c: &Conversation) -> Value {
    let id: &str = &c.id;
    let key = crate::base::input::prefix(&c.owner.key, MAX_KEY).to_string();
    // Only what the recording can use: the requests that changed this conversation.
    let mut entries = app.journal.list(|e| super::record::belongs(e, id));
    entries.sort_by_key(|e| e.arrived);
    // The request that opened the conversation: the first, in the order of arrival, that
    // found or opened it. When it is a call (a `/send`, a `/create`), it stays a call step; when
    // the user's text opened it, every call of the app is the app's.
    let first = entries
        .iter()
        .find(|e| e.conversation_id.as_deref() == Some(id));
    let opening = first.filter(|e| e.path != "/_sim/inbound").map(|e| e.id);
    let opened = first.map_or(0, |e| e.arrived);
    let is_action = |e: &Entry| {
        Some(e.id) == opening
            || (e.path == "/_sim/inbound" && e.conversation_id.as_deref() == Some(id))
    };
    let is_app_call = |e: &Entry| {
        e.api_key.as_deref() == Some(key.as_str())
            && !e.path.starts_with("/_sim/")
            && e.method != hyper::Method::GET
            && (e.conversation_id.as_deref() == Some(id) || e.path.contains(id))
            && Some(e.id) != opening
            && e.arrived > opened
    };
    let actions: Vec<&Entry> = entries.iter().filter(|e| is_action(e)).collect();
    let start = actions
        .first()
        .map_or(c.created_at, |e| e.at.min(c.created_at));
    let mut slots = slots(&actions, c, start);
    for e in entries.iter().filter(|e| is_app_call(e)) {
        let body: Option<Value> = serde_json::from_slice(&e.body).ok();
        if let Some(text) = body.as_ref().and_then(sent_text) {
            if let Some(k) = owner(&slots, e.arrived + 1) {
                slots[k].app_texts.push(text);
            }
        }
        let mut want = json!({"method": e.method.as_str(), "path": templated(&json!(e.path), c)});
        if let Some(b) = body {
            want["body"] = templated(&b, c);
        }
        if let Some(step) = step_for(&mut slots, e.arrived + 1, e.at) {
            push(step, Expectation::Request(want));
        }
    }
    let deliveries = app.webhooks.list(|d| *d.conversation_id == *c.id);
    for d in &deliveries {
        let code = d.attempts.last().and_then(|a| a.response_code);
        let want = code.map_or(json!({}), |code| json!({ "status": code }));
        if let Some(step) = step_for(&mut slots, d.after, d.created_at) {
            push(step, Expectation::Delivery(want));
        }
    }
    let mut steps = Vec::new();
    let mut next_user = 0;
    let mut now = start;
    for slot in slots {
        let mut step = slot.step;
        if let Some(text) = step.user.clone() {
            let mut replies = replies_to(c, &mut next_user, &text, slot.at);
            for sent in &slot.app_texts {
                if let Some(i) = replies.iter().position(|r| r == sent.as_str()) {
                    replies.remove(i);
                }
            }
            step.replies = Some(replies);
        }
        steps.push(step);
        now = slot.at;
        if let Some(a) = slot.advance {
            now += (a.advance.unwrap_or(0.0) * 1000.0) as i64;
            steps.push(a);
        }
    }
    steps.extend(advance(now, last_moment(c, now)));
    steps.push(final_state(app, c));
    let mut script_setup = setup(app, c, start);
    if let (Some(f), false) = (&mut script_setup.fixtures, deliveries.is_empty()) {
        app_webhook(f);
    }
    let script = Script {
        name: Some(format!("{} (the app)", default_name(c))),
        description: Some(format!(
            "{} The app under test: its API calls and its answers to the webhooks are what the \
             steps expect of it; its webhook is APP_WEBHOOK_URL.",
            description(c, &entries, app.journal.enabled())
        )),
        setup: script_setup,
        steps,
    };
    serde_json::to_value(script).expect("a script serializes")
}

/// The actions as steps, each with the advance that follows it when the clock moved before
/// the next (or, after the last, before the conversation's last moment).
fn slots(actions: &[&Entry], c: &Conversation, start: i64) -> Vec<Slot> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut now = start;
    let mut next_user = 0;
    for e in actions {
        if let Some(wait) = advance(now, e.at) {
            match slots.last_mut() {
                Some(prev) => prev.advance = Some(wait),
                // Before the first action: a slot of its own, with nothing to do.
                None => slots.push(Slot {
                    step: wait,
                    advance: None,
                    arrived: 0,
                    at: now,
                    app_texts: Vec::new(),
                }),
            }
            now = e.at;
        }
        let body: Option<Value> = serde_json::from_slice(&e.body).ok();
        let mut step = if e.path == "/_sim/inbound" {
            user_step(body.as_ref(), c, &mut next_user, e.at)
        } else {
            call_step(e, body, c)
        };
        if let Some(call) = &mut step.call {
            if let Some(b) = call.body.as_mut().and_then(Value::as_object_mut) {
                if b.get("webhook").is_some_and(Value::is_string) {
                    b.insert("webhook".into(), json!(WEBHOOK_VAR));
                }
            }
        }
        slots.push(Slot {
            step,
            advance: None,
            arrived: e.arrived,
            at: e.at,
            app_texts: Vec::new(),
        });
    }
    if let Some(last) = slots.last_mut() {
        let end = last_moment(c, last.at);
        last.advance = advance(last.at, end);
    }
    slots
}

/// The slot of the last action that arrived before `after` requests had arrived.
fn owner(slots: &[Slot], after: u64) -> Option<usize> {
    slots.iter().rposition(|s| s.arrived < after)
}

/// The step that caused what happened when `after` requests had arrived, at time `at`: the
/// last action before it, or the advance after that action when the clock had moved on.
/// `None` when no journaled action came before it (a loaded conversation, the journal off):
/// it is expected of no step.
fn step_for(slots: &mut [Slot], after: u64, at: i64) -> Option<&mut Step> {
    let k = owner(slots, after)?;
    let slot = &mut slots[k];
    let later = at > slot.at;
    Some(match (&mut slot.advance, later) {
        (Some(a), true) => a,
        _ => &mut slot.step,
    })
}

enum Expectation {
    Request(Value),
    Delivery(Value),
}

fn push(step: &mut Step, what: Expectation) {
    match what {
        Expectation::Request(v) => step.expect_requests.get_or_insert_with(Vec::new).push(v),
        Expectation::Delivery(v) => {
            let list = step.expect_deliveries.get_or_insert_with(|| json!([]));
            if let Some(items) = list.as_array_mut() {
                items.push(v);
            }
        }
    }
}

/// The text an app's call sent to the user, if it is one: `/send`'s `agent_message`, a posted
/// message's `message`.
fn sent_text(body: &Value) -> Option<String> {
    ["agent_message", "message", "text"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .map(String::from)
}

/// Every channel config's webhook in a recording's fixtures, as the app's.
fn app_webhook(fixtures: &mut Value) {
    let numbers = fixtures["accounts"][0]["numbers"].as_array_mut();
    for n in numbers.into_iter().flatten() {
        let Some(configs) = n.as_object_mut() else {
            continue;
        };
        let mut any = false;
        for (k, v) in configs.iter_mut() {
            if let (true, Some(cfg)) = (k.ends_with("_config"), v.as_object_mut()) {
                if cfg.get("webhook").is_some_and(|w| !w.is_null()) {
                    cfg.insert("webhook".into(), json!(WEBHOOK_VAR));
                    any = true;
                }
            }
        }
        if !any {
            let cfg = configs
                .entry("sms_config")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(cfg) = cfg.as_object_mut() {
                cfg.insert("webhook".into(), json!(WEBHOOK_VAR));
            }
        }
    }
}
