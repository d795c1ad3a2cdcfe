//! A Bland pathway's turns beyond a scenario's: variables extracted from the user's text,
//! `skipUserResponse` moves, global nodes that give the conversation back, and Webhook nodes'
//! requests. A request is prepared under the conversation's guard (rendered, its secrets
//! filled) and sent after it is dropped, by [`settle`]; its answer comes back as a step of its
//! own ([`Ctx::call_done`]), which stores `responseData` and routes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use serde_json::{Map, Value};

use super::{Ctx, Effects};
use crate::engine::app::App;
use crate::scenario::pathway::call::Call;
use crate::scenario::pathway::extract_value;
use crate::scenario::template::{Template, Vars};
use crate::scenario::{PathwayNode, Scenario};
use crate::state::events::Change;
use crate::state::model::{Conversation, Message, Sender};
use crate::webhook::call::{elapsed_ms, Answered, NodeCall, Outbound};

/// Webhook node requests one user text (or one opening) may lead to; past it a request is not
/// sent and the conversation waits on its node.
pub(crate) const MAX_CALLS_PER_TURN: u32 = 8;
/// Nodes one step may pass through (`skipUserResponse` and routes chained); past it the
/// conversation stops on the node it reached.
pub(crate) const MAX_HOPS: u32 = 32;

static NEXT_CALL: AtomicU32 = AtomicU32::new(1);

/// A Webhook node's request, rendered, waiting for the guard to be dropped.
#[derive(Debug)]
pub(crate) struct PendingCall {
    pub conversation_id: String,
    pub node_id: String,
    /// Which request of the conversation this is: an answer counts only while it is the
    /// conversation's current one.
    pub token: u32,
    /// The requests of the turn so far, this one included.
    pub depth: u32,
    pub method: hyper::Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: u64,
    pub shown: Shown,
    /// The secrets it carries, by name: cleaned out of its answer and error before they are
    /// kept.
    pub secrets: Vec<(String, String)>,
}

/// A request as the log shows it: secrets as `[secret NAME]`.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The turn's variables, with `{{SECRET.NAME}}`: the secret itself, or `[secret NAME]` for
/// what is shown.
struct CallVars<'a> {
    inner: &'a dyn Vars,
    app: &'a App,
    reveal: bool,
    /// The secrets filled in, by name: what an answer or an error is cleaned of.
    revealed: std::cell::RefCell<Vec<(String, String)>>,
    /// Secrets asked for and not set.
    missing: std::cell::RefCell<Vec<String>>,
    /// Filling a URL: each value percent-encoded (but one that is itself a URL).
    in_url: bool,
}

impl Vars for CallVars<'_> {
    fn lookup(&self, name: &str) -> Option<String> {
        let Some(secret) = name
            .strip_prefix("SECRET.")
            .or_else(|| name.strip_prefix("secret."))
        else {
            let v = self.inner.lookup(name)?;
            return Some(if self.in_url { url_value(&v) } else { v });
        };
        let secret = secret.trim();
        if !self.reveal {
            return Some(format!("[secret {secret}]"));
        }
        let value = self
            .app
            .secrets
            .get(secret)
            .cloned()
            .or_else(|| std::env::var(format!("BLAND_SIM_SECRET_{secret}")).ok());
        match &value {
            Some(v) => self
                .revealed
                .borrow_mut()
                .push((secret.to_string(), v.clone())),
            None => self.missing.borrow_mut().push(secret.to_string()),
        }
        value
    }
}

/// What came back for a request.
pub(crate) struct Outcome {
    pub answer: Result<Answered, String>,
    pub duration_ms: u64,
    pub answered_by: &'static str,
}

impl Ctx<'_> {
    /// Variables the node declares (and the overlay's rules for any other) from the user's
    /// text.
    pub(super) fn extract_vars(
        &mut self,
        c: &mut Conversation,
        sc: &Scenario,
        p: &PathwayNode,
        text: &str,
    ) {
        let text = text.trim();
        let anywhere = sc.pathway.as_ref().map(|i| i.extract_anywhere.as_slice());
        for x in p.extract.iter().chain(anywhere.unwrap_or_default()) {
            if let Some(v) = extract_value(&x.ty, text, x.regex.as_ref()) {
                self.set_variable(c, &x.var, v);
            }
        }
    }

    /// Whether every variable a node declares is set (a Webhook node waits for them).
    pub(super) fn has_vars(c: &Conversation, p: &PathwayNode) -> bool {
        p.extract.iter().all(|x| {
            c.variables
                .as_ref()
                .and_then(|m| m.get(&x.var))
                .is_some_and(|v| !v.is_null())
        })
    }

    /// What a pathway node does once it has spoken: a Webhook node's request, a
    /// `skipUserResponse` move, or a global node's return to `previous`.
    pub(super) fn after_entering(
        &mut self,
        c: &mut Conversation,
        sc: &Scenario,
        id: &str,
        p: &PathwayNode,
        previous: Option<String>,
        text: &str,
    ) {
        if !c.is_active || c.handoff.is_some() {
            return;
        }
        if let Some(call) = &p.call {
            // Bland extracts a Webhook node's variables before its request: from the text that
            // led here, when they are not set yet.
            if !Self::has_vars(c, p) && !text.trim().is_empty() {
                self.extract_vars(c, sc, p, text);
            }
            if Self::has_vars(c, p) {
                self.start_call(c, sc, id, call, text);
            }
        } else if let Some(next) = &p.next {
            self.enter_node(c, sc, next.clone(), text, true);
        } else if let (true, Some(prev)) = (p.returns, previous) {
            c.current_node_id = Some(prev.as_str().into());
        }
    }

    /// Counts one more node entered in this step; false past [`MAX_HOPS`].
    pub(super) fn hop(&mut self, c: &Conversation) -> bool {
        self.hops += 1;
        if self.hops > MAX_HOPS {
            tracing::warn!(
                scenario = %c.scenario,
                conversation = %c.id,
                "a pathway passed through {MAX_HOPS} nodes in one turn: it stops here"
            );
            return false;
        }
        true
    }

    /// Renders node `id`'s request and sends it after the guard (or answers it now from the
    /// overlay's `response`).
    fn start_call(
        &mut self,
        c: &mut Conversation,
        sc: &Scenario,
        id: &str,
        call: &Call,
        text: &str,
    ) {
        let turn_vars = self.vars(c, &[], Some(text));
        let render = |reveal: bool| {
            let mut v = CallVars {
                inner: &turn_vars,
                app: self.app,
                reveal,
                revealed: Default::default(),
                missing: Default::default(),
                in_url: true,
            };
            let url = call.url.render(&v);
            v.in_url = false;
            let t = |t: &Template| t.render(&v);
            let out = (
                url,
                call.headers
                    .iter()
                    .map(|(k, h)| (k.clone(), t(h)))
                    .collect::<Vec<_>>(),
                call.body.as_ref().map(t),
            );
            (out, v.revealed.into_inner(), v.missing.into_inner())
        };
        let ((s_url, s_headers, s_body), _, _) = render(false);
        let shown = Shown {
            url: s_url,
            headers: s_headers,
            body: s_body.map(|b| {
                crate::base::input::prefix(&b, crate::webhook::call::LOGGED_TEXT).to_string()
            }),
        };
        // Secrets are read only for a request that is sent.
        let sent = (call.canned.is_none() && self.calls < MAX_CALLS_PER_TURN).then(|| render(true));
        let refused = if self.calls >= MAX_CALLS_PER_TURN {
            Some(format!(
                "not sent: a turn makes at most {MAX_CALLS_PER_TURN} Webhook node requests"
            ))
        } else {
            sent.as_ref()
                .and_then(|(_, _, missing)| missing.first())
                .map(|m| {
                    format!(
                        "not sent: the request uses {{{{SECRET.{m}}}}}, which is not set: give \
                     --pathway-secret {m}=VALUE (or BLAND_SIM_SECRET_{m})"
                    )
                })
        };
        if let Some(why) = refused {
            let outcome = Outcome {
                answer: Err(why),
                duration_ms: 0,
                answered_by: "request",
            };
            self.finish_call(c, sc, id, call, &shown, outcome);
            return;
        }
        self.calls += 1;
        if let Some(canned) = &call.canned {
            let outcome = Outcome {
                answer: Ok(Answered {
                    status: 200,
                    json: Some(canned.clone()),
                    text: crate::base::input::prefix(
                        &canned.to_string(),
                        crate::webhook::call::LOGGED_TEXT,
                    )
                    .to_string(),
                }),
                duration_ms: 0,
                answered_by: "overlay",
            };
            self.finish_call(c, sc, id, call, &shown, outcome);
            return;
        }
        // Never 0 (that is "no request"), even when the counter wraps.
        let token = NEXT_CALL.fetch_add(1, Ordering::Relaxed).max(1);
        c.details.pathway_call = std::num::NonZeroU32::new(token);
        let ((url, headers, body), secrets, _) = sent.expect("rendered for a request that is sent");
        self.fx.calls.push(PendingCall {
            conversation_id: c.id.to_string(),
            node_id: id.to_string(),
            token,
            depth: self.calls,
            method: call.method.clone(),
            url,
            headers,
            body,
            timeout_ms: call.timeout_ms,
            shown,
            secrets,
        });
    }

    /// A request's answer is back: it counts when it is still the conversation's current one.
    pub(crate) fn call_done(&mut self, c: &mut Conversation, p: &PendingCall, outcome: Outcome) {
        if c.details.pathway_call.map(std::num::NonZeroU32::get) != Some(p.token) {
            return;
        }
        c.details.pathway_call = None;
        let sc = self.scenario(c);
        let Some(call) = sc
            .nodes
            .get(&p.node_id)
            .and_then(|n| n.pathway.as_ref())
            .and_then(|x| x.call.as_deref())
        else {
            return;
        };
        self.calls = p.depth;
        self.finish_call(c, &sc, &p.node_id, call, &p.shown, outcome);
    }

    /// Stores what the answer sets, logs the call, and goes where the answer leads (or stays
    /// on the node, waiting for the user).
    fn finish_call(
        &mut self,
        c: &mut Conversation,
        sc: &Scenario,
        id: &str,
        call: &Call,
        shown: &Shown,
        outcome: Outcome,
    ) {
        let name = sc.node_name(id);
        let (status, json, text, error) = match outcome.answer {
            Ok(a) => (Some(a.status), a.json, Some(a.text), None),
            Err(e) => (None, None, None, Some(e)),
        };
        // An answer for a node the conversation has left changes nothing but the log.
        let still = c.is_active && c.handoff.is_none() && c.current_node_id.as_deref() == Some(id);
        let mut variables = Map::new();
        for (k, v) in call.extract(json.as_ref()) {
            let v = if depth(&v) > MAX_VALUE_DEPTH {
                tracing::warn!(
                    node = %name,
                    variable = %k,
                    "a Webhook node's answer nests deeper than {MAX_VALUE_DEPTH} levels there: \
                     the variable is set to null"
                );
                Value::Null
            } else {
                v
            };
            variables.insert(k, v);
        }
        if still {
            self.set_variables(c, &variables);
        }
        let vars = c.variables.as_deref();
        let route = call
            .route(|k| vars.and_then(|m| m.get(k)), status)
            .map(|(t, why)| (t.to_string(), why));
        if let Some(e) = &error {
            if route.is_none() {
                tracing::warn!(
                    conversation = %c.id,
                    "the pathway Webhook node {name:?} ({} {}) got no answer: {e}; no edge \
                     leads on, so the conversation waits on the node (the user's next text \
                     sends the request again)",
                    call.method,
                    shown.url
                );
            }
        }
        let record = NodeCall {
            id: 0,
            conversation_id: c.id.to_string(),
            node_id: id.to_string(),
            node_name: name.to_string(),
            at: self.now,
            method: call.method.to_string(),
            url: shown.url.clone(),
            headers: shown.headers.clone(),
            body: shown.body.clone(),
            answered_by: outcome.answered_by,
            status,
            response: text,
            error,
            duration_ms: outcome.duration_ms,
            variables,
            next_node_id: route.as_ref().filter(|_| still).map(|r| r.0.clone()),
            route: route
                .as_ref()
                .map(|r| format!("{} → {}", r.1, sc.node_name(&r.0))),
        };
        let record = self.app.pathway_calls.record(record);
        self.app.events.publish(|| Change::PathwayCall {
            call_id: record.id,
            conversation_id: &record.conversation_id,
            node_id: &record.node_id,
            node_name: &record.node_name,
            status: record.status,
            error: record.error.as_deref(),
            next_node_id: record.next_node_id.as_deref(),
        });
        c.updated_at = self.now;
        if let (true, Some((target, _))) = (still, route) {
            self.enter_node(c, sc, target, "", true);
        }
    }
}

/// Deepest a value from a Webhook node's answer may nest and still be kept (a saved state puts
/// it a few levels deeper, within what a document may nest).
pub(crate) const MAX_VALUE_DEPTH: usize = 32;

/// How deep `v` nests (a scalar is 0).
fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(m) => stack.extend(m.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// `text` with each secret's value written as `[secret NAME]`.
fn redact(text: String, secrets: &[(String, String)]) -> String {
    secrets
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .fold(text, |t, (name, v)| {
            t.replace(v.as_str(), &format!("[secret {name}]"))
        })
}

/// Sends what a step prepared: its webhook deliveries (awaited when `await_deliveries`), then
/// its Webhook node requests one after another, applying each answer as a step of its own,
/// until no step asks for more. Returns what the agent said in those steps. The requests run
/// on a task of their own, so a caller that goes away (a client that hung up) leaves no
/// conversation waiting for an answer that never comes.
pub(crate) async fn settle(app: &App, fx: Effects, await_deliveries: bool) -> Vec<Message> {
    if fx.calls.is_empty() {
        if await_deliveries {
            app.deliver(fx.deliveries).await;
        } else {
            app.deliver_in_background(fx.deliveries);
        }
        return Vec::new();
    }
    let task = tokio::spawn(run_calls(app.clone(), fx, await_deliveries));
    task.await.unwrap_or_default()
}

async fn run_calls(app: App, fx: Effects, await_deliveries: bool) -> Vec<Message> {
    let app = &app;
    let send = |ids: Vec<u64>| async move {
        if await_deliveries {
            app.deliver(ids).await;
        } else {
            app.deliver_in_background(ids);
        }
    };
    send(fx.deliveries).await;
    let mut said = Vec::new();
    let mut queue: VecDeque<PendingCall> = fx.calls.into();
    while let Some(p) = queue.pop_front() {
        let out = Outbound {
            method: p.method.clone(),
            url: p.url.clone(),
            headers: p.headers.clone(),
            body: p.body.clone(),
            timeout_ms: p.timeout_ms,
        };
        let started = Instant::now();
        let answer = match app.webhooks.call(out).await {
            Ok(mut a) => {
                a.text = redact(std::mem::take(&mut a.text), &p.secrets);
                Ok(a)
            }
            Err(e) => Err(redact(e, &p.secrets)),
        };
        let outcome = Outcome {
            answer,
            duration_ms: elapsed_ms(started),
            answered_by: "request",
        };
        let step = Ctx::with(app, None, &p.conversation_id, |ctx, c| {
            let before = c.messages.len();
            ctx.call_done(c, &p, outcome);
            c.messages[before.min(c.messages.len())..]
                .iter()
                .filter(|m| m.sender() != Sender::User)
                .cloned()
                .collect::<Vec<_>>()
        });
        if let Some((messages, fx)) = step {
            said.extend(messages);
            send(fx.deliveries).await;
            queue.extend(fx.calls);
        }
    }
    said
}

/// [`settle`] on a task of its own, so the caller answers at once.
pub(crate) fn settle_in_background(app: &App, fx: Effects) {
    if fx.calls.is_empty() {
        app.deliver_in_background(fx.deliveries);
        return;
    }
    tokio::spawn(run_calls(app.clone(), fx, true));
}

/// A value filled into a URL, percent-encoded (every byte but letters, digits, `-._~:@`, which
/// mean the same anywhere in a path or a query), unless it is itself a URL (a base URL kept in
/// a variable).
fn url_value(v: &str) -> String {
    let lower = v.trim_start().to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
