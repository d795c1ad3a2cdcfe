//! [`Simulator`] and [`SimulatorBuilder`]: the embedding API. A simulator runs on its own
//! listener inside the caller's tokio runtime, fully isolated from any other; the binary is a
//! thin shell over the same API.

pub(crate) mod banner;
mod builder;
pub mod receive;
pub mod replay;
mod watch;

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::base::clock::{ClockMode, MAX_TIME_MS};
use crate::base::error::Error;
use crate::base::validation::e164;
use crate::engine;
use crate::engine::app::App;
use crate::http::server;

pub use builder::SimulatorBuilder;

/// The address a simulator binds when none is given: loopback, any free port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:0";

/// The key [`Simulator::api_key`] names when neither the fixtures nor `api_key` give one (then
/// every non-empty key is accepted).
const FALLBACK_KEY: &str = "sk_sim_default";

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
        crate::engine::rules::check_length(text)?;
        let number = self
            .app
            .store
            .number(agent)
            .ok_or_else(|| crate::admin::unowned(agent))?;
        let channel = number.default_channel();
        let r = engine::inbound(&self.app, &number, user, channel, text.to_string()).await?;
        Ok(r.replies.into_iter().map(|m| m.message.into()).collect())
    }

    /// A conversation as `GET /v1/sms/conversations/{id}` shows its `data` (for the replay
    /// runner, whose checks must not show in the request journal).
    pub(crate) fn conversation_json(&self, id: &str) -> Option<Value> {
        let body = self
            .app
            .store
            .read_conversation(None, id, |c| c.detail_body())?;
        let v: Value = serde_json::from_slice(&body).ok()?;
        Some(v["data"].clone())
    }

    /// The ids of a conversation's messages, hidden ones included, in order.
    pub(crate) fn message_ids(&self, id: &str) -> Vec<String> {
        self.app
            .store
            .read_conversation(None, id, |c| {
                c.messages.iter().map(|m| m.id().to_string()).collect()
            })
            .unwrap_or_default()
    }

    /// Waits (at most `timeout`) until no webhook delivery has an attempt due (for the replay
    /// runner, which checks deliveries after each step; a retry on the clock is not due yet).
    pub(crate) async fn webhooks_settled(&self, timeout: Duration) -> bool {
        self.app.webhooks.settled(timeout, || self.app.now()).await
    }

    /// The webhook deliveries, oldest first, as `GET /_sim/webhooks` lists them.
    pub fn webhooks(&self) -> Vec<Value> {
        let all = self.app.webhooks.list(|_| true);
        all.iter().map(|d| d.to_json()).collect()
    }

    /// The deliveries after the one with id `after` (all when `None`), oldest first: only
    /// those are visited (the replay runner asks after each step). Whole payloads with `full`,
    /// else without each `chat_history`.
    pub(crate) fn webhooks_after(&self, after: Option<u64>, full: bool) -> Vec<Value> {
        let mut out = Vec::new();
        self.app.webhooks.scan(after, false, |d| {
            out.push(if full { d.to_json() } else { d.summary_json() });
            true
        });
        out
    }

    /// The journaled requests after the one with id `after` (all when `None`), oldest first.
    pub(crate) fn requests_after(&self, after: Option<u64>) -> Vec<Value> {
        let mut out = Vec::new();
        self.app.journal.scan(after, |e| {
            out.push(e.to_json());
            true
        });
        out
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
    /// seed, scenarios and the browser UI's address.
    pub fn banner(&self) -> String {
        crate::simulator::banner::banner(&self.app, &self.api_key, &self.base_url)
    }

    /// Stops accepting, lets in-flight requests finish (up to a few seconds), writes the state
    /// file when there is one, and returns.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(path) = &self.app.config.state_file {
            match crate::engine::snapshot::save(&self.app, path) {
                Ok(()) => tracing::info!(path = %path.display(), "state saved"),
                Err(e) => tracing::error!("could not save the state: {e}"),
            }
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.cancel();
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
