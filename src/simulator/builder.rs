//! [`SimulatorBuilder`]: every option, checked when the simulator starts.

use std::path::Path;
use std::time::Duration;

use tokio::net::TcpListener;

use super::watch::{load_all, watch, Source};
use super::{Simulator, DEFAULT_ADDR};
use crate::base::clock::{iso, ClockMode, MAX_TIME_MS};
use crate::base::error::Error;
use crate::base::input::is_web_url;
use crate::engine::app::App;
use crate::engine::config::Config;
use crate::scenario::file;
use crate::state::fixtures::Fixtures;

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
    pub(super) fn new() -> Self {
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

    /// Admits requests whose `Host` is this name (besides loopback names and the bound host):
    /// a container's or a tunnel's name; `.example.com` admits it and every name under it,
    /// `*` any name.
    pub fn allowed_host(mut self, name: impl Into<String>) -> Self {
        self.config.allowed_hosts.push(name.into());
        self
    }

    /// Admits browser requests from this origin (`http://tool.example:3000`; `*` any),
    /// besides pages the simulator serves itself. It still grants no CORS.
    pub fn allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.config.allowed_origins.push(origin.into());
        self
    }

    /// A secret a pathway's Webhook node requests read as `{{SECRET.NAME}}` (never logged; a
    /// secret not given is read from the environment's `BLAND_SIM_SECRET_NAME`).
    pub fn pathway_secret(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config
            .pathway_secrets
            .push((name.into(), value.into()));
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

    /// Events kept for `GET /_sim/events` subscribers that fall behind or reconnect with
    /// `Last-Event-ID` (default 10,000; at least 1), and the bytes they may take (default
    /// 8 MiB), oldest dropped first.
    pub fn events_backlog(mut self, events: usize, bytes: usize) -> Self {
        self.config.events_backlog = events.max(1);
        self.config.events_backlog_bytes = bytes;
        self
    }

    /// Rows of a `POST /v1/sms/batch` sent per second of simulator time (default 10; from
    /// 0.001 to 1,000,000).
    pub fn batch_rate(mut self, rows_per_second: f64) -> Self {
        self.config.batch_rate = if rows_per_second.is_finite() {
            rows_per_second.clamp(0.001, 1_000_000.0)
        } else {
            crate::engine::config::DEFAULT_BATCH_RATE
        };
        self
    }

    /// Bytes of uploaded files (`POST /v1/files/attach`) one account may keep (default
    /// 32 MiB); past it an upload answers 413 `FILE_STORAGE_FULL`.
    pub fn files_bytes(mut self, bytes: usize) -> Self {
        self.config.files_bytes = bytes;
        self
    }

    /// Carrier realism: outbound texts go `queued` → `sent` → `delivered` on the simulator's
    /// clock, `sent` after `sent` and `delivered` after `delivered` more, each at most a day
    /// (by default every text is delivered at once; fixtures may set it per account).
    pub fn realistic_carrier(mut self, sent: Duration, delivered: Duration) -> Self {
        // At most a day each, so a step's due time is always a time the clock can reach.
        const DAY_MS: u128 = 86_400_000;
        self.config.carrier_realistic = true;
        self.config.carrier_sent_ms = sent.as_millis().min(DAY_MS) as u64;
        self.config.carrier_delivered_ms = delivered.as_millis().min(DAY_MS) as u64;
        self
    }

    /// With carrier realism, each text is `pending` this long (at most a day) before it is
    /// `queued` (default 0: queued at once).
    pub fn carrier_pending(mut self, held: Duration) -> Self {
        self.config.carrier_pending_ms = held.as_millis().min(86_400_000) as u64;
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

    /// Keep the state in this file: loaded at start when it exists (instead of the fixtures),
    /// written on [`Simulator::shutdown`] and on `POST /_sim/state/save`. Written to a temporary
    /// file and renamed, so a crash mid-write never leaves a broken file.
    pub fn state_file(mut self, path: impl AsRef<Path>) -> Self {
        self.config.state_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// One more scenario, from a scenario document; it replaces an embedded scenario of the
    /// same name. Repeatable.
    ///
    /// # Errors
    /// [`Error::Scenario`] naming the scenario, the node and the rule.
    pub fn scenario_json(mut self, json: &str) -> Result<Self, Error> {
        let s = file::compile_document(json).map_err(Error::Scenario)?;
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
        config.bind_host = match self.addr.rsplit_once(':') {
            Some((host, _)) => host.to_string(),
            None => self.addr.clone(),
        };
        let scenarios = load_all(&self.scenarios).map_err(Error::Scenario)?;
        if let Some(p) = &config.state_file {
            crate::engine::snapshot::clean_leftovers(p);
            if let Err(e) = crate::engine::snapshot::check_writable(p) {
                tracing::warn!(
                    "the state file cannot be written ({e}): the state will not be saved on \
                     shutdown; make its folder writable (in a container: a named volume, or \
                     --user with the folder's owner)"
                );
            }
        }
        let fixtures = match &config.state_file {
            Some(p) if p.exists() => Fixtures::read_state(p).map_err(Error::Fixtures)?,
            _ => self.fixtures.unwrap_or_else(Fixtures::embedded),
        };
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
        if !addr.ip().is_loopback() && config.admin_token.is_none() {
            tracing::warn!(
                %addr,
                "listening beyond loopback: anyone who reaches this address can use the /_sim \
                 control API (reset, the request journal, numbers); set --admin-token \
                 (BLAND_SIM_ADMIN_TOKEN) to close it to those without the token"
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
