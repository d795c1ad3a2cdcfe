//! [`Simulator`] and [`SimulatorBuilder`]: the embedding API. A simulator runs on its own
//! listener inside the caller's tokio runtime, fully isolated from any other; the binary is a
//! thin shell over the same API.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::clock::{iso, ClockMode, MAX_TIME_MS};
use crate::config::Config;
use crate::engine;
use crate::error::Error;
use crate::fixtures::Fixtures;
use crate::input::is_web_url;
use crate::scenario::{file, Scenario, Scenarios};
use crate::server;
use crate::validation::e164;
use std::path::PathBuf;

/// The address a simulator binds when none is given: loopback, any free port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:0";

/// The key [`Simulator::api_key`] names when neither the fixtures nor `api_key` give one (then
/// every non-empty key is accepted).
const FALLBACK_KEY: &str = "sk_sim_default";

/// Sets up a [`Simulator`]; every option has a command-line flag of the same name.
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct SimulatorBuilder {
    config: Config,
    seed: Option<u64>,
    start_time: Option<String>,
    fixtures: Option<Fixtures>,
    scenarios: Vec<Source>,
    watch: bool,
    addr: String,
}

impl SimulatorBuilder {
    fn new() -> Self {
        SimulatorBuilder {
            config: Config::default(),
            seed: None,
            start_time: None,
            fixtures: None,
            scenarios: Vec::new(),
            watch: false,
            addr: DEFAULT_ADDR.to_string(),
        }
    }

    /// Where to listen, as `HOST:PORT` (default `127.0.0.1:0`: loopback, a free port).
    pub fn bind(mut self, addr: impl Into<String>) -> Self {
        self.addr = addr.into();
        self
    }

    /// Time moves only by [`Simulator::advance`] (or `POST /_sim/clock/advance`).
    pub fn manual_clock(mut self) -> Self {
        self.config.clock = ClockMode::Manual;
        self
    }

    /// Time follows the wall clock, and `advance` still jumps ahead (the default).
    pub fn real_clock(mut self) -> Self {
        self.config.clock = ClockMode::Real;
        self
    }

    /// Where the manual clock starts, in RFC 3339 (default: now). Checked by `start`.
    pub fn start_time(mut self, rfc3339: &str) -> Self {
        self.start_time = Some(rfc3339.to_string());
        self
    }

    /// Seed for ids and the scenarios' random choices (default: random, shown in the banner).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Key for the `X-Webhook-Signature` HMAC.
    pub fn webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.webhook_secret = secret.into();
        self
    }

    /// Send every webhook here instead of the conversation's or the number's URL.
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.config.webhook_url = Some(url.into());
        self
    }

    /// Attempts per webhook delivery, the first included (default 5; at least 1).
    pub fn webhook_attempts(mut self, attempts: u32) -> Self {
        self.config.webhook_attempts = attempts;
        self
    }

    /// How long one webhook attempt may take, in real time (default 5 s).
    pub fn webhook_timeout(mut self, timeout: Duration) -> Self {
        self.config.webhook_timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Webhook deliveries kept for inspection, oldest dropped first (default 10,000).
    pub fn webhook_log(mut self, deliveries: usize) -> Self {
        self.config.webhook_log = deliveries.max(1);
        self
    }

    /// Bytes of webhook deliveries kept for inspection, oldest dropped first (default 64 MiB).
    pub fn webhook_log_bytes(mut self, bytes: usize) -> Self {
        self.config.webhook_log_bytes = bytes;
        self
    }

    /// Webhook attempts in flight at once (default 256); the rest wait their turn.
    pub fn webhook_concurrency(mut self, attempts: usize) -> Self {
        self.config.webhook_concurrency = attempts.max(1);
        self
    }

    /// API requests kept for inspection, oldest dropped first (default 1,000; 0 keeps none).
    pub fn request_log(mut self, requests: usize) -> Self {
        self.config.request_log = requests;
        self
    }

    /// How long a connection may wait for a request's headers, counted from when it opened or
    /// sent its previous answer (default 30 s): both the keep-alive idle timeout and the
    /// header read timeout.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.config.keep_alive_timeout_ms = (timeout.as_millis() as u64).max(1);
        self
    }

    /// How long a request body may take to arrive (default 30 s); later, the answer is 408.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.config.body_timeout_ms = (timeout.as_millis() as u64).max(1);
        self
    }

    /// Connections open at once (default 512). At the cap the longest-idle one is closed to
    /// make room; when all are busy, new ones wait.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.max_connections = connections.max(1);
        self
    }

    /// Refuse what Bland silently ignores — unknown body fields on `/v1` and list filters with
    /// an unknown field or operator — with 400 `INVALID_PARAMETER` (by default they are
    /// ignored with an `x-bland-sim-warning` header).
    pub fn strict(mut self, on: bool) -> Self {
        self.config.strict = on;
        self
    }

    /// Adds this much time to every answer outside `/_sim` (default none).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.config.latency_ms = latency.as_millis() as u64;
        self
    }

    /// Largest accepted request body, in bytes (default 1 MiB); larger ones answer 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// Accept only this API key (repeatable; by default every non-empty key is accepted).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if !key.is_empty() {
            self.config.api_keys.push(key);
        }
        self
    }

    /// Require this token on the `/_sim/*` control API (all of it but `/_sim/health`), as
    /// `authorization: Bearer TOKEN` or `x-sim-admin-token: TOKEN`.
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.config.admin_token = (!token.is_empty()).then_some(token);
        self
    }

    /// Provision an unowned agent number to the first key that uses it.
    pub fn auto_provision(mut self, on: bool) -> Self {
        self.config.auto_provision = on;
        self
    }

    /// Accounts and numbers from a fixtures document, instead of the embedded default.
    ///
    /// # Errors
    /// [`Error::Fixtures`] naming the account or number and the field.
    pub fn fixtures_json(mut self, json: &str) -> Result<Self, Error> {
        self.fixtures = Some(Fixtures::parse("fixtures", json).map_err(Error::Fixtures)?);
        Ok(self)
    }

    /// Accounts and numbers from a fixtures file, instead of the embedded default.
    ///
    /// # Errors
    /// [`Error::Fixtures`] naming the file, the account or number and the field.
    pub fn fixtures_path(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        self.fixtures = Some(Fixtures::read(path.as_ref()).map_err(Error::Fixtures)?);
        Ok(self)
    }

    /// One more scenario, from a scenario document; it replaces an embedded scenario of the
    /// same name. Repeatable.
    ///
    /// # Errors
    /// [`Error::Scenario`] naming the scenario, the node and the rule.
    pub fn scenario_json(mut self, json: &str) -> Result<Self, Error> {
        let name = file::peek_name(json).unwrap_or_else(|| "scenario".into());
        let s = file::compile(&format!("scenario {name:?}"), json).map_err(Error::Scenario)?;
        self.scenarios.push(Source::Doc(Box::new(s)));
        Ok(self)
    }

    /// One more scenario, from a scenario file (as [`SimulatorBuilder::scenario_json`]).
    ///
    /// # Errors
    /// [`Error::Scenario`] naming the file and the reason.
    pub fn scenario_path(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let source = Source::File(path.as_ref().to_path_buf());
        source.load().map_err(Error::Scenario)?;
        self.scenarios.push(source);
        Ok(self)
    }

    /// Every `*.json` scenario file of a directory, in file-name order.
    ///
    /// # Errors
    /// [`Error::Scenario`] naming the file and the reason.
    pub fn scenarios_dir(mut self, dir: impl AsRef<Path>) -> Result<Self, Error> {
        let source = Source::Dir(dir.as_ref().to_path_buf());
        source.load().map_err(Error::Scenario)?;
        self.scenarios.push(source);
        Ok(self)
    }

    /// Reload the scenario files and directories given (`scenario_path`, `scenarios_dir`)
    /// when they change. A broken edit is logged and the scenarios in force are kept; running
    /// conversations keep the scenario they started with.
    pub fn watch_scenarios(mut self, on: bool) -> Self {
        self.watch = on;
        self
    }

    /// Checks the options, binds the listener and starts serving.
    ///
    /// # Errors
    /// [`Error::Option`] for a bad start time or zero webhook attempts, [`Error::Scenario`] for
    /// clashing scenarios, [`Error::Bind`] when the address cannot be bound.
    pub async fn start(self) -> Result<Simulator, Error> {
        let mut config = self.config;
        if self.start_time.is_some() && config.clock == ClockMode::Real {
            tracing::warn!(
                "the start time has no effect with the real clock (it sets the manual clock's)"
            );
        }
        if let Some(t) = &self.start_time {
            let at = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| Error::Option(format!("start time {t:?} is not RFC 3339: {e}")))?;
            config.start_ms = Some(at.timestamp_millis());
        }
        if let Some(url) = config.webhook_url.as_deref().filter(|u| !is_web_url(u)) {
            return Err(Error::Option(format!(
                "webhook URL {url:?} is not an http:// or https:// URL"
            )));
        }
        if config.start_ms.is_some_and(|t| t > MAX_TIME_MS) {
            return Err(Error::Option(format!(
                "start time is past {}",
                iso(MAX_TIME_MS)
            )));
        }
        if config.webhook_attempts == 0 {
            return Err(Error::Option("webhook attempts must be at least 1".into()));
        }
        config.seed = self.seed.unwrap_or_else(rand::random);
        let scenarios = load_all(&self.scenarios).map_err(Error::Scenario)?;
        let fixtures = self.fixtures.unwrap_or_else(Fixtures::embedded);
        let listener = TcpListener::bind(&self.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: self.addr.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.addr.clone(),
            source,
        })?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                admin_token = config.admin_token.is_some(),
                "listening beyond loopback: anyone who reaches this address can use the /_sim \
                 control API (reset, the request journal, numbers) unless an admin token is set"
            );
        }
        let sim = Simulator::serve(App::new(config, scenarios, fixtures), listener, addr);
        if self.watch {
            let (app, stop) = (sim.app.clone(), sim.stop.clone());
            tokio::spawn(watch(app, self.scenarios, stop));
        }
        Ok(sim)
    }
}

/// A running simulator. Cheap to share by reference (`Send + Sync`); it stops when dropped or
/// by [`Simulator::shutdown`].
///
/// ```no_run
/// # async fn demo() -> Result<(), bland_sms_sim::Error> {
/// let sim = bland_sms_sim::Simulator::builder().manual_clock().seed(7).start().await?;
/// println!("{} {}", sim.base_url(), sim.api_key());
/// # Ok(()) }
/// ```
pub struct Simulator {
    app: App,
    addr: SocketAddr,
    base_url: String,
    api_key: String,
    stop: CancellationToken,
    server: Option<JoinHandle<()>>,
}

impl Simulator {
    /// A builder with every option at its default.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder::new()
    }

    /// A simulator with every option at its default: the embedded fixtures and scenarios, the
    /// real clock, on `127.0.0.1` at a free port.
    ///
    /// # Errors
    /// As [`SimulatorBuilder::start`].
    pub async fn start() -> Result<Simulator, Error> {
        Self::builder().start().await
    }

    fn serve(app: App, listener: TcpListener, addr: SocketAddr) -> Simulator {
        let stop = CancellationToken::new();
        if app.clock.mode() == ClockMode::Real {
            tokio::spawn(engine::drive(app.clone(), stop.clone()));
        }
        app.webhooks.set_own_addr(addr);
        let server = tokio::spawn(server::run(
            listener,
            app.clone(),
            stop.clone().cancelled_owned(),
        ));
        Simulator {
            api_key: working_key(&app),
            base_url: format!("http://{addr}"),
            addr,
            app,
            stop,
            server: Some(server),
        }
    }

    /// `http://HOST:PORT`, to point a client at.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A key that works: the first fixtures account's (or, when `api_key` restricts the keys
    /// and that one is not among them, the first accepted key).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Moves the clock ahead, firing every timer that falls due on the way (as
    /// `POST /_sim/clock/advance`), but never past 9999-12-31T23:59:59.999Z.
    pub async fn advance(&self, by: Duration) {
        // Never past the last time the clock can show: advance stops there.
        let room = MAX_TIME_MS.saturating_sub(self.app.now()).max(0);
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX).min(room);
        engine::advance(&self.app, ms).await;
    }

    /// A text from `user` to agent number `agent` (as `POST /_sim/inbound`); returns the texts
    /// of the agent's replies due now, once each is stored and its webhooks were tried.
    ///
    /// # Errors
    /// [`Error::Api`]: `INVALID_PHONE_NUMBER` for a number that is not E.164,
    /// `MESSAGE_TOO_LONG` past 1,600 characters, `INBOUND_NUMBER_NOT_FOUND` for an agent number
    /// nobody owns.
    pub async fn inbound(&self, user: &str, agent: &str, text: &str) -> Result<Vec<String>, Error> {
        e164("user_number", user)?;
        e164("agent_number", agent)?;
        crate::api::check_length(text)?;
        let number = self
            .app
            .store
            .number(agent)
            .ok_or_else(|| crate::admin::unowned(agent))?;
        let channel = number.default_channel();
        let r = engine::inbound(&self.app, &number, user, channel, text.to_string()).await?;
        Ok(r.replies.into_iter().map(|m| m.message).collect())
    }

    /// The webhook deliveries, oldest first, as `GET /_sim/webhooks` lists them.
    pub fn webhooks(&self) -> Vec<Value> {
        let all = self.app.webhooks.list(|_| true);
        all.iter().map(|d| d.to_json()).collect()
    }

    /// The journaled API requests, oldest first, as `GET /_sim/requests` lists them.
    pub fn requests(&self) -> Vec<Value> {
        let all = self.app.journal.list(|_| true);
        all.iter().map(|e| e.to_json()).collect()
    }

    /// Adds a fault rule (as `POST /_sim/faults`, with the same JSON); returns it with its `id`.
    ///
    /// # Errors
    /// [`Error::Api`] `INVALID_PARAMETER` naming what is wrong with the rule.
    pub fn add_fault(&self, rule: Value) -> Result<Value, Error> {
        Ok(self.app.faults.add(&rule)?)
    }

    /// Removes every fault rule (as `DELETE /_sim/faults`).
    pub fn clear_faults(&self) {
        self.app.faults.clear();
    }

    /// Waits for webhook deliveries (as `POST /_sim/webhooks/wait`, with the same JSON:
    /// `conversation_id`, `event`, `type`, `count`, `timeout_ms`); returns them.
    ///
    /// # Errors
    /// [`Error::Api`] 408 `WAIT_TIMEOUT`, or 400 for a bad filter.
    pub async fn wait_for_webhooks(&self, filter: Value) -> Result<Vec<Value>, Error> {
        let found = crate::admin::wait_json(&self.app, &filter).await?;
        Ok(found)
    }

    /// Clears all state and reloads the fixtures (as `POST /_sim/reset`).
    pub async fn reset(&self) {
        self.app.reset().await;
    }

    /// What the binary prints after its `listening on` line: keys, numbers, secret, clock,
    /// seed and scenarios.
    pub fn banner(&self) -> String {
        crate::banner::banner(&self.app, &self.api_key)
    }

    /// Stops accepting, lets in-flight requests finish (up to a few seconds), and returns.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Where scenarios come from, kept so `watch_scenarios` can load them again.
enum Source {
    Doc(Box<Scenario>),
    File(PathBuf),
    Dir(PathBuf),
}

impl Source {
    fn load(&self) -> Result<Vec<Scenario>, String> {
        match self {
            Source::Doc(s) => Ok(vec![(**s).clone()]),
            Source::File(p) => {
                let text = crate::input::read_file(p)?;
                Ok(vec![file::compile(&p.display().to_string(), &text)?])
            }
            Source::Dir(d) => Scenarios::read_dir(d),
        }
    }

    /// What changes when a file changes: each file's path, length and modification time.
    fn fingerprint(&self) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
        let files = match self {
            Source::Doc(_) => Vec::new(),
            Source::File(p) => vec![p.clone()],
            Source::Dir(d) => std::fs::read_dir(d)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default(),
        };
        let mut out: Vec<_> = files
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                let len = meta.as_ref().map_or(0, |m| m.len());
                (p, len, meta.and_then(|m| m.modified().ok()))
            })
            .collect();
        out.sort();
        out
    }
}

/// The embedded scenarios and those of `sources`, in order.
fn load_all(sources: &[Source]) -> Result<Scenarios, String> {
    let mut all = Vec::new();
    for s in sources {
        all.extend(s.load()?);
    }
    Scenarios::build(all)
}

/// How often watched scenario files are looked at.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// Reloads the scenarios when a watched file changes, until `stop`.
async fn watch(app: App, sources: Vec<Source>, stop: CancellationToken) {
    let look = || sources.iter().map(Source::fingerprint).collect::<Vec<_>>();
    let mut seen = look();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(WATCH_EVERY) => {}
        }
        let now = look();
        if now == seen {
            continue;
        }
        seen = now;
        match load_all(&sources) {
            Ok(scenarios) => {
                tracing::info!("scenario files changed: reloaded");
                app.replace_scenarios(scenarios);
            }
            Err(e) => tracing::warn!("{e}; keeping the scenarios in force"),
        }
    }
}

/// The key [`Simulator::api_key`] names.
fn working_key(app: &App) -> String {
    let accepted = &app.config.api_keys;
    let works = |k: &&str| accepted.is_empty() || accepted.iter().any(|a| a == k);
    app.fixtures
        .keys()
        .find(works)
        .or(accepted.first().map(String::as_str))
        .unwrap_or(FALLBACK_KEY)
        .to_string()
}
