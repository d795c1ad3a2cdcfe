//! Runs one script against its own simulator: manual clock, fixed seed, webhooks sent to a
//! receiver of its own that answers 200, so every run of a script is the same.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::matcher::{check, pick, substitute};
use crate::recording::script::{Call, Script, Step};
use crate::{Simulator, SimulatorBuilder};

/// How one step went.
#[derive(Debug, Clone)]
pub(crate) struct StepResult {
    pub label: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Passed,
    /// What differed, one line each.
    Failed(Vec<String>),
    /// Not run: an earlier step failed.
    Skipped,
}

/// How one script went.
#[derive(Debug)]
pub(crate) struct ScriptResult {
    pub file: String,
    pub name: String,
    /// Set when the script could not be read or its setup failed (then there are no steps).
    pub error: Option<String>,
    /// The script did not parse (exit status 2).
    pub unparseable: bool,
    pub steps: Vec<StepResult>,
    pub seconds: f64,
}

impl ScriptResult {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.steps.iter().all(|s| s.outcome == Outcome::Passed)
    }
}

/// A webhook receiver on loopback that answers every delivery 200.
async fn receiver(stop: CancellationToken) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hooks", listener.local_addr()?);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = stop.cancelled() => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from_static(
                        b"{}",
                    ))))
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = conn => {}
                    () = stop.cancelled() => {}
                }
            });
        }
    });
    Ok(url)
}

/// A setup value that is either inline or a path relative to the script.
fn inline_or_path(v: &Value, dir: &Path) -> Result<Result<String, PathBuf>, String> {
    match v {
        Value::String(p) => Ok(Err(dir.join(p))),
        Value::Object(_) => Ok(Ok(v.to_string())),
        _ => Err("must be an object or a path".into()),
    }
}

async fn build(
    script: &Script,
    dir: &Path,
    extra_scenarios: &[PathBuf],
    hooks: String,
) -> Result<Simulator, String> {
    let s = &script.setup;
    let mut b: SimulatorBuilder = Simulator::builder()
        .manual_clock()
        .seed(s.seed.unwrap_or(42))
        .start_time(s.start_time.as_deref().unwrap_or("2026-01-01T12:00:00Z"))
        .webhook_url(hooks)
        .webhook_attempts(1);
    if let Some(f) = &s.fixtures {
        b = match inline_or_path(f, dir).map_err(|e| format!("setup.fixtures {e}"))? {
            Ok(json) => b.fixtures_json(&json),
            Err(path) => b.fixtures_path(path),
        }
        .map_err(|e| format!("setup.fixtures: {e}"))?;
    }
    for (i, sc) in s.scenarios.iter().enumerate() {
        b = match inline_or_path(sc, dir).map_err(|e| format!("setup.scenarios[{i}] {e}"))? {
            Ok(json) => b.scenario_json(&json),
            Err(path) if path.is_dir() => b.scenarios_dir(path),
            Err(path) => b.scenario_path(path),
        }
        .map_err(|e| format!("setup.scenarios[{i}]: {e}"))?;
    }
    for path in extra_scenarios {
        b = if path.is_dir() {
            b.scenarios_dir(path)
        } else {
            b.scenario_path(path)
        }
        .map_err(|e| format!("--scenarios: {e}"))?;
    }
    b.bind("127.0.0.1:0")
        .start()
        .await
        .map_err(|e| format!("setup: {e}"))
}

/// One script's run: its simulator, client, variables and cursors.
struct Run {
    sim: Simulator,
    client: Client<HttpConnector, Full<Bytes>>,
    key: String,
    user: Option<String>,
    agent: Option<String>,
    vars: HashMap<String, Value>,
    webhooks_seen: usize,
    requests_seen: usize,
}

/// How long one step's call may take, in real time, answer body included.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

impl Run {
    /// Starts the script's simulator, its webhooks sent to a receiver of its own that stops
    /// with `stop`, and the run's client, key, numbers and cursors.
    async fn start(
        script: &Script,
        dir: &Path,
        extra_scenarios: &[PathBuf],
        stop: CancellationToken,
    ) -> Result<Run, String> {
        let sim = match receiver(stop).await {
            Err(e) => Err(format!("setup: no webhook receiver: {e}")),
            Ok(hooks) => build(script, dir, extra_scenarios, hooks).await,
        }?;
        let key = script
            .setup
            .api_key
            .clone()
            .unwrap_or_else(|| sim.api_key().to_string());
        Ok(Run {
            sim,
            client: Client::builder(TokioExecutor::new()).build_http(),
            key,
            user: script.setup.user_number.clone(),
            agent: script.setup.agent_number.clone(),
            vars: HashMap::new(),
            webhooks_seen: 0,
            requests_seen: 0,
        })
    }

    /// Configures `setup.numbers` through the API, in order; the first refusal ends the setup.
    async fn add_numbers(&self, numbers: &[serde_json::Map<String, Value>]) -> Result<(), String> {
        for (i, body) in numbers.iter().enumerate() {
            let empty = serde_json::Map::new();
            let body = Value::Object(body.clone());
            match self
                .http(
                    "POST",
                    "/v1/sms/number/update",
                    Some(self.key.as_str()),
                    &empty,
                    Some(&body),
                )
                .await
            {
                Ok((200, _)) => {}
                Ok((s, v)) => return Err(format!("setup.numbers[{i}]: {s} {v}")),
                Err(e) => return Err(format!("setup.numbers[{i}]: {e}")),
            }
        }
        Ok(())
    }

    /// Runs the steps in order; once one fails, the rest are skipped.
    async fn run_steps(&mut self, steps: &[Step]) -> Vec<StepResult> {
        let mut results = Vec::with_capacity(steps.len());
        let mut failed = false;
        for (i, step) in steps.iter().enumerate() {
            let label = step.label(i);
            let outcome = if failed {
                Outcome::Skipped
            } else {
                match self.step(step).await {
                    Ok(()) => Outcome::Passed,
                    Err(d) => {
                        failed = true;
                        Outcome::Failed(d)
                    }
                }
            };
            results.push(StepResult { label, outcome });
        }
        results
    }

    /// One request to this simulator: the answer's status, and its body as JSON (as a string
    /// when it is not JSON).
    async fn http(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &serde_json::Map<String, Value>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("{method:?} is not an HTTP method"))?;
        let uri = self.uri(path)?;
        let req = request(method, uri, key, headers, body)?;
        self.exchange(req).await
    }

    /// The URL of `path` on this simulator; an error for anything but a path, or for the
    /// event stream.
    fn uri(&self, path: &str) -> Result<hyper::Uri, String> {
        // Only a path on this simulator: the URL is built from its address, never from the
        // script's text (`@host:port/x` after the base URL would send the key elsewhere).
        let path_and_query = path
            .starts_with('/')
            .then(|| path.parse::<hyper::http::uri::PathAndQuery>().ok())
            .flatten()
            .ok_or_else(|| {
                format!("`path` must be a path on the simulator, starting with `/`: got {path:?}")
            })?;
        if path_and_query.path().trim_end_matches('/') == "/_sim/events" {
            return Err(
                "a step cannot call /_sim/events: the stream never ends (check what it shows \
                 with `webhooks` and `conversation` expectations instead)"
                    .to_string(),
            );
        }
        hyper::Uri::builder()
            .scheme("http")
            .authority(self.sim.addr().to_string())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| format!("the request cannot be built: {e}"))
    }

    /// Sends `req` and reads the whole answer, each within [`CALL_TIMEOUT`].
    async fn exchange(&self, req: Request<Full<Bytes>>) -> Result<(u16, Value), String> {
        // Every call answers at once unless a fault rule delays it; a step that waits longer
        // than this is reported, not waited on for good.
        let resp = tokio::time::timeout(CALL_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| format!("no answer within {} s", CALL_TIMEOUT.as_secs()))?
            .map_err(|e| format!("the request failed: {e}"))?;
        let status = resp.status().as_u16();
        let body = tokio::time::timeout(CALL_TIMEOUT, resp.into_body().collect())
            .await
            .map_err(|_| format!("the answer did not end within {} s", CALL_TIMEOUT.as_secs()))?
            .map_err(|e| format!("the answer broke off: {e}"))?
            .to_bytes();
        let v = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        Ok((status, v))
    }

    /// Runs one step: its call, its user's text and its clock advance, in that order, then
    /// checks what it expects.
    async fn step(&mut self, step: &Step) -> Result<(), Vec<String>> {
        if let Some(call) = &step.call {
            self.call(step, call).await?;
        }
        if let Some(text) = &step.user {
            self.user_text(step, text).await?;
        }
        if let Some(seconds) = step.advance {
            self.sim.advance(Duration::from_secs_f64(seconds)).await;
        }
        self.note_message_ids();
        // The API sends webhooks in the background: let them land before checking.
        self.sim.webhooks_settled(Duration::from_secs(5)).await;
        self.expectations(step).await
    }

    /// A step's API call, its answer checked against `expect`, then what the step saves.
    async fn call(&mut self, step: &Step, call: &Call) -> Result<(), Vec<String>> {
        let path = substitute(&Value::String(call.path.clone()), &self.vars);
        let path = path.as_str().unwrap_or_default().to_string();
        let body = call.body.as_ref().map(|b| substitute(b, &self.vars));
        let key = match &call.key {
            None => Some(self.key.clone()),
            Some(k) => k.clone(),
        };
        let (status, answer) = self
            .http(
                &call.method,
                &path,
                key.as_deref(),
                &call.headers,
                body.as_ref(),
            )
            .await
            .map_err(one)?;
        let diffs = self.answer_diffs(step, status, &answer);
        if !diffs.is_empty() {
            return Err(diffs);
        }
        self.save(step, &answer)
    }

    /// How a call's answer differs from the step's `expect`: its status (a success when none
    /// is given), then its body.
    fn answer_diffs(&self, step: &Step, status: u16, answer: &Value) -> Vec<String> {
        let mut diffs = Vec::new();
        let want_status = step.expect.as_ref().and_then(|e| e.status);
        match want_status {
            Some(s) if s != status => {
                diffs.push(format!("status: expected {s}, got {status}: {answer}"))
            }
            None if status >= 400 => {
                diffs.push(format!("status: expected success, got {status}: {answer}"))
            }
            _ => {}
        }
        if let Some(want) = step.expect.as_ref().and_then(|e| e.body.as_ref()) {
            if let Err(d) = check("body", &substitute(want, &self.vars), answer) {
                diffs.extend(d);
            }
        }
        diffs
    }

    /// Keeps the answer's conversation id, and what the step's `save` names, for later steps.
    fn save(&mut self, step: &Step, answer: &Value) -> Result<(), Vec<String>> {
        if let Some(id) = pick(answer, "data.conversation_id") {
            self.vars.insert("conversation_id".into(), id.clone());
        }
        for (name, path) in &step.save {
            let path = path.as_str().unwrap_or_default();
            let v = pick(answer, path)
                .ok_or_else(|| one(format!("save.{name}: the answer has no {path}")))?;
            self.vars.insert(name.clone(), v.clone());
        }
        Ok(())
    }

    /// A step's user text, sent to `/_sim/inbound`; the agent's replies checked against the
    /// step's `replies`.
    async fn user_text(&mut self, step: &Step, text: &str) -> Result<(), Vec<String>> {
        let from = step.from.clone().or(self.user.clone());
        let to = step.to.clone().or(self.agent.clone());
        let (Some(from), Some(to)) = (from, to) else {
            return Err(one(
                "a user step needs `from` and `to` (or setup.user_number and setup.agent_number)"
                    .into(),
            ));
        };
        let text = substitute(&Value::String(text.to_string()), &self.vars);
        let mut body = json!({"user_number": from, "agent_number": to, "message": text});
        if let Some(ch) = &step.channel {
            body["channel"] = json!(ch);
        }
        let empty = serde_json::Map::new();
        let (status, answer) = self
            .http("POST", "/_sim/inbound", None, &empty, Some(&body))
            .await
            .map_err(one)?;
        if status != 200 {
            return Err(one(format!("the text was refused ({status}): {answer}")));
        }
        if let Some(id) = pick(&answer, "data.conversation_id") {
            self.vars.insert("conversation_id".into(), id.clone());
        }
        if let Some(want) = &step.replies {
            let want: Vec<Value> = want.iter().map(|w| reply_matcher(w, &self.vars)).collect();
            let got: Vec<Value> = answer["data"]["replies"]
                .as_array()
                .map(|r| r.iter().map(|m| m["message"].clone()).collect())
                .unwrap_or_default();
            check("replies", &Value::Array(want), &Value::Array(got))?;
        }
        Ok(())
    }

    /// `{{message_i}}`: the ids of the conversation's messages, for later steps.
    fn note_message_ids(&mut self) {
        if let Some(id) = self.vars.get("conversation_id").and_then(Value::as_str) {
            for (i, m) in self.sim.message_ids(id).into_iter().enumerate() {
                self.vars.insert(format!("message_{i}"), Value::String(m));
            }
        }
    }

    async fn expectations(&mut self, step: &Step) -> Result<(), Vec<String>> {
        let mut diffs = Vec::new();
        if let Some(want) = &step.conversation {
            let id = step
                .conversation_id
                .as_ref()
                .map(|i| substitute(&Value::String(i.clone()), &self.vars))
                .or_else(|| self.vars.get("conversation_id").cloned());
            match id.as_ref().and_then(Value::as_str) {
                None => {
                    diffs.push("conversation: no conversation yet (set `conversation_id`)".into())
                }
                // Read directly, not through the API, so the check leaves no journal entry.
                Some(id) => match self.sim.conversation_json(id) {
                    None => diffs.push(format!("conversation: no conversation {id}")),
                    Some(data) => {
                        if let Err(d) = check("conversation", &substitute(want, &self.vars), &data)
                        {
                            diffs.extend(d);
                        }
                    }
                },
            }
        }
        if step.webhooks.is_some() || step.status_webhooks.is_some() {
            let all = self.sim.webhooks();
            let new: Vec<Value> = all.get(self.webhooks_seen..).unwrap_or_default().to_vec();
            self.webhooks_seen = all.len();
            if let Some(want) = &step.webhooks {
                let want = substitute(&Value::Array(want.clone()), &self.vars);
                if let Err(d) = check("webhooks", &want, &Value::Array(new.clone())) {
                    diffs.extend(d);
                }
            }
            if let Some(want) = &step.status_webhooks {
                let statuses = new.into_iter().filter(|d| d["type"] == "status").collect();
                let want = substitute(&Value::Array(want.clone()), &self.vars);
                if let Err(d) = check("status_webhooks", &want, &Value::Array(statuses)) {
                    diffs.extend(d);
                }
            }
        }
        if let Some(want) = &step.requests {
            let all = self.sim.requests();
            let new: Vec<Value> = all.get(self.requests_seen..).unwrap_or_default().to_vec();
            self.requests_seen = all.len();
            let want = substitute(&Value::Array(want.clone()), &self.vars);
            if let Err(d) = check("requests", &want, &Value::Array(new)) {
                diffs.extend(d);
            }
        }
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(diffs)
        }
    }
}

/// A `replies` item as a matcher: a string is exact; `{"contains": …}` and `{"regex": …}`.
fn reply_matcher(w: &Value, vars: &HashMap<String, Value>) -> Value {
    let w = substitute(w, vars);
    match w
        .as_object()
        .and_then(|m| m.iter().next().filter(|_| m.len() == 1))
    {
        Some((k, v)) if k == "contains" => json!({"$contains": v}),
        Some((k, v)) if k == "regex" => json!({"$regex": v}),
        _ => w,
    }
}

/// Runs a parsed script; `dir` resolves its relative paths.
pub(crate) async fn run(
    script: &Script,
    file: &str,
    dir: &Path,
    extra_scenarios: &[PathBuf],
) -> ScriptResult {
    let started = Instant::now();
    let mut result = ScriptResult {
        file: file.to_string(),
        name: script_name(script, file),
        error: None,
        unparseable: false,
        steps: Vec::new(),
        seconds: 0.0,
    };
    let stop = CancellationToken::new();
    let _stop_receiver = stop.clone().drop_guard();
    let mut run = match Run::start(script, dir, extra_scenarios, stop).await {
        Ok(run) => run,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    if let Err(e) = run.add_numbers(&script.setup.numbers).await {
        result.error = Some(e);
        return result;
    }
    // Checks of webhooks and requests start after the setup.
    run.requests_seen = run.sim.requests().len();
    run.webhooks_seen = run.sim.webhooks().len();
    result.steps = run.run_steps(&script.steps).await;
    run.sim.shutdown().await;
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// The script's `name`, or else its file's name without the extension.
fn script_name(script: &Script, file: &str) -> String {
    script.name.clone().unwrap_or_else(|| {
        Path::new(file)
            .file_stem()
            .map_or(file.to_string(), |s| s.to_string_lossy().into_owned())
    })
}

/// The request of a step's call, with the step's key and headers, its body as JSON.
fn request(
    method: Method,
    uri: hyper::Uri,
    key: Option<&str>,
    headers: &serde_json::Map<String, Value>,
    body: Option<&Value>,
) -> Result<Request<Full<Bytes>>, String> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header("authorization", k);
    }
    for (k, v) in headers {
        let v = v
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string());
        req = req.header(k.as_str(), v);
    }
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    req.header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .map_err(|e| format!("the request cannot be built: {e}"))
}

/// One difference, as a step's list of them.
fn one(e: String) -> Vec<String> {
    vec![e]
}
