//! Runs one script: against a simulator of its own (manual clock, fixed seed, webhooks sent to
//! a receiver of its own that answers 200, so every run of a script is the same), or against
//! a running simulator (`--url`), whose state the script's setup replaces, and the app behind
//! it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::matcher::{check, pick, substitute};
use super::target::{exchange, last_id, Call, Target, CALL_TIMEOUT};
use super::Options;
use crate::recording::script::{Script, Step};
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
    /// What the report says once about the run (an `advance` on a real clock).
    pub notes: Vec<String>,
}

impl ScriptResult {
    /// Every step passed, and the setup did.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.steps.iter().all(|s| s.outcome == Outcome::Passed)
    }
}

/// The clock's start when a script's setup does not say.
pub(super) const START_TIME: &str = "2026-01-01T12:00:00Z";
/// The seed when a script's setup does not say.
pub(super) const SEED: u64 = 42;

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
        .seed(s.seed.unwrap_or(SEED))
        .start_time(s.start_time.as_deref().unwrap_or(START_TIME))
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

/// One script's run: where it runs, the client, key, variables and cursors.
pub(super) struct Run {
    pub target: Target,
    pub client: Client<HttpConnector, Full<Bytes>>,
    pub key: String,
    user: Option<String>,
    agent: Option<String>,
    pub vars: HashMap<String, Value>,
    /// The last delivery and journal entry that `webhooks` and `requests` checks have seen.
    webhooks_seen: Option<u64>,
    requests_seen: Option<u64>,
    /// The newest delivery and journal entry known, where a step's own begin.
    pub newest_delivery: Option<u64>,
    pub newest_request: Option<u64>,
    /// The step running (from 1; 0 for the setup), sent with each call as
    /// `x-bland-sim-replay-step`.
    pub step_no: u32,
    /// `within_ms` is multiplied by this (`--timeout-ms` over its 2000 ms default).
    pub scale: f64,
    /// The simulator's clock is real (against `--url`): an `advance` says so once.
    real_clock: bool,
    /// The script may read `{{message_i}}` (it says `message_`): the conversation's message ids are noted after each
    /// step (a read of the whole conversation, so only when they are used).
    uses_message_ids: bool,
    pub notes: Vec<String>,
}

impl Run {
    /// Starts the script's simulator (or takes the running one and puts the script's setup
    /// in it), and the run's client, key, numbers and cursors.
    async fn start(
        script: &Script,
        dir: &Path,
        options: &Options,
        stop: CancellationToken,
    ) -> Result<Run, String> {
        let client = Client::builder(TokioExecutor::new()).build_http();
        let (target, key, real_clock) = match &options.url {
            Some(url) => {
                let target = Target::Running {
                    authority: authority(url)?,
                    admin_token: options.admin_token.clone(),
                };
                let (key, real) =
                    super::setup::running(&target, &client, script, dir, &options.scenarios)
                        .await?;
                (target, key, real)
            }
            None => {
                let sim = match receiver(stop).await {
                    Err(e) => Err(format!("setup: no webhook receiver: {e}")),
                    Ok(hooks) => build(script, dir, &options.scenarios, hooks).await,
                }?;
                let key = sim.api_key().to_string();
                (Target::Own(sim), key, false)
            }
        };
        Ok(Run {
            target,
            client,
            key: script.setup.api_key.clone().unwrap_or(key),
            user: script.setup.user_number.clone(),
            agent: script.setup.agent_number.clone(),
            vars: HashMap::new(),
            webhooks_seen: None,
            requests_seen: None,
            newest_delivery: None,
            newest_request: None,
            step_no: 0,
            scale: options
                .timeout_ms
                .map_or(1.0, |ms| ms as f64 / super::app::DEFAULT_WITHIN_MS as f64),
            real_clock,
            uses_message_ids: serde_json::to_string(&script.steps)
                .is_ok_and(|t| t.contains("message_")),
            notes: Vec::new(),
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

    /// Where the checks start: after everything the setup did.
    async fn mark_setup(&mut self) -> Result<(), String> {
        let hooks = self
            .target
            .deliveries_after(&self.client, None, false)
            .await?;
        let requests = self.target.requests_after(&self.client, None).await?;
        self.webhooks_seen = last_id(&hooks, None);
        self.requests_seen = last_id(&requests, None);
        self.newest_delivery = self.webhooks_seen;
        self.newest_request = self.requests_seen;
        Ok(())
    }

    /// Runs the steps in order; once one fails, the rest are skipped.
    async fn run_steps(&mut self, steps: &[Step]) -> Vec<StepResult> {
        let mut results = Vec::with_capacity(steps.len());
        let mut failed = false;
        for (i, step) in steps.iter().enumerate() {
            let label = step.label(i);
            self.step_no = u32::try_from(i + 1).unwrap_or(u32::MAX);
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

    /// One request to the simulator, sent as this step's: the answer's status, and its body
    /// as JSON (as a string when it is not JSON).
    async fn http(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &serde_json::Map<String, Value>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let uri = self.uri(path)?;
        let admin_token = path
            .starts_with("/_sim")
            .then(|| self.target.admin_token())
            .flatten();
        let call = Call {
            method,
            uri,
            key,
            headers,
            body,
            step: Some(self.step_no),
            admin_token,
            timeout: CALL_TIMEOUT,
        };
        exchange(&self.client, call).await
    }

    /// The URL of `path` on the simulator; an error for anything but a path, or for the
    /// event stream.
    fn uri(&self, path: &str) -> Result<hyper::Uri, String> {
        // Only a path on the simulator: the URL is built from its address, never from the
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
            .authority(self.target.authority())
            .path_and_query(path_and_query)
            .build()
            .map_err(|e| format!("the request cannot be built: {e}"))
    }

    /// Runs one step: its action (a call, the user's text, a clock advance or a request to
    /// any URL), then checks what it expects. What the app did is looked for among what
    /// happened after the step began.
    async fn step(&mut self, step: &Step) -> Result<(), Vec<String>> {
        let watches_app = step.expect_requests.is_some() || step.expect_deliveries.is_some();
        if watches_app {
            self.catch_up().await.map_err(one)?;
        }
        let (requests_from, deliveries_from) = (self.newest_request, self.newest_delivery);
        if let Some(call) = &step.call {
            self.call(step, call).await?;
        }
        if let Some(text) = &step.user {
            self.user_text(step, text).await?;
        }
        if let Some(seconds) = step.advance {
            if self.real_clock && !self.notes.iter().any(|n| n.starts_with("advance")) {
                self.notes.push(
                    "advance: the simulator's clock is real; each advance moved it ahead as \
                     POST /_sim/clock/advance does (start it with --clock manual for time that \
                     moves only then)"
                        .into(),
                );
            }
            self.target
                .advance(&self.client, seconds)
                .await
                .map_err(one)?;
        }
        if let Some(h) = &step.http {
            self.http_step(step, h).await?;
        }
        if self.uses_message_ids {
            self.note_message_ids().await;
        }
        // The API sends webhooks in the background: let them land before checking.
        self.target.settle(&self.client).await;
        let mut diffs = match self.expectations(step).await {
            Ok(()) => Vec::new(),
            Err(d) => d,
        };
        // Both wait at once: a step that fails both waits its `within_ms` once.
        let (calls, hooks) = tokio::join!(
            async {
                match &step.expect_requests {
                    Some(want) => self.expect_requests(step, want, requests_from).await,
                    None => Ok(()),
                }
            },
            async {
                match &step.expect_deliveries {
                    Some(want) => self.expect_deliveries(step, want, deliveries_from).await,
                    None => Ok(()),
                }
            }
        );
        diffs.extend(calls.err().unwrap_or_default());
        diffs.extend(hooks.err().unwrap_or_default());
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(diffs)
        }
    }

    /// Learns the newest delivery and journal entry, where what the next step causes begins.
    async fn catch_up(&mut self) -> Result<(), String> {
        let hooks = self
            .target
            .deliveries_after(&self.client, self.newest_delivery, false)
            .await?;
        let requests = self
            .target
            .requests_after(&self.client, self.newest_request)
            .await?;
        self.newest_delivery = last_id(&hooks, self.newest_delivery);
        self.newest_request = last_id(&requests, self.newest_request);
        Ok(())
    }

    /// A step's API call, its answer checked against `expect`, then what the step saves.
    async fn call(
        &mut self,
        step: &Step,
        call: &crate::recording::script::Call,
    ) -> Result<(), Vec<String>> {
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

    /// How an answer differs from the step's `expect`: its status (a success when none is
    /// given), then its body.
    pub fn answer_diffs(&self, step: &Step, status: u16, answer: &Value) -> Vec<String> {
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
    pub fn save(&mut self, step: &Step, answer: &Value) -> Result<(), Vec<String>> {
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
    async fn note_message_ids(&mut self) {
        if let Some(id) = self.vars.get("conversation_id").and_then(Value::as_str) {
            let id = id.to_string();
            let ids = self.target.message_ids(&self.client, &id).await;
            for (i, m) in ids.into_iter().enumerate() {
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
                // Read without a journal entry.
                Some(id) => match self.target.conversation(&self.client, id).await {
                    Err(e) => diffs.push(format!("conversation: {e}")),
                    Ok(None) => diffs.push(format!("conversation: no conversation {id}")),
                    Ok(Some(data)) => {
                        if let Err(d) = check("conversation", &substitute(want, &self.vars), &data)
                        {
                            diffs.extend(d);
                        }
                    }
                },
            }
        }
        if step.webhooks.is_some() || step.status_webhooks.is_some() {
            let new = self
                .target
                .deliveries_after(&self.client, self.webhooks_seen, true)
                .await
                .map_err(one)?;
            self.webhooks_seen = last_id(&new, self.webhooks_seen);
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
            let new = self
                .target
                .requests_after(&self.client, self.requests_seen)
                .await
                .map_err(one)?;
            self.requests_seen = last_id(&new, self.requests_seen);
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

/// `host:port` of a simulator's base URL (`http://127.0.0.1:8790`, a trailing `/` allowed).
fn authority(url: &str) -> Result<String, String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("--url {url:?} is not a URL: {e}"))?;
    let plain = uri.scheme_str() == Some("http") && uri.path() == "/" && uri.query().is_none();
    match uri.authority() {
        Some(a) if plain => Ok(match a.port_u16() {
            Some(_) => a.as_str().to_string(),
            None => format!("{}:80", a.host()),
        }),
        _ => Err(format!(
            "--url takes the simulator's base URL, like http://127.0.0.1:8790: got {url:?}"
        )),
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
    options: &Options,
) -> ScriptResult {
    let started = Instant::now();
    let mut result = ScriptResult {
        file: file.to_string(),
        name: script_name(script, file),
        error: None,
        unparseable: false,
        steps: Vec::new(),
        seconds: 0.0,
        notes: Vec::new(),
    };
    let stop = CancellationToken::new();
    let _stop_receiver = stop.clone().drop_guard();
    let mut run = match Run::start(script, dir, options, stop).await {
        Ok(run) => run,
        Err(e) => {
            result.error = Some(e);
            return result;
        }
    };
    let setup = match run.add_numbers(&script.setup.numbers).await {
        Ok(()) => run.mark_setup().await,
        Err(e) => Err(e),
    };
    if let Err(e) = setup {
        result.error = Some(e);
    } else {
        result.steps = run.run_steps(&script.steps).await;
    }
    result.notes = std::mem::take(&mut run.notes);
    run.target.finish().await;
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

/// One difference, as a step's list of them.
pub(super) fn one(e: String) -> Vec<String> {
    vec![e]
}
