//! [`Config`]: the plain settings the server runs with, filled in by
//! [`SimulatorBuilder`](crate::SimulatorBuilder) (which the binary's flags drive).

use crate::base::clock::ClockMode;

/// Largest request body accepted, in bytes; larger bodies answer 413.
pub(crate) const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Secret used to sign webhooks when none is given (printed at start-up).
pub(crate) const DEFAULT_WEBHOOK_SECRET: &str = "whsec_bland_sim_default";
/// Attempts per webhook delivery, the first included.
pub(crate) const DEFAULT_WEBHOOK_ATTEMPTS: u32 = 5;
/// Time one webhook attempt may take, in milliseconds (real time).
pub(crate) const DEFAULT_WEBHOOK_TIMEOUT_MS: u64 = 5000;
/// Webhook deliveries kept for `GET /_sim/webhooks`.
pub(crate) const DEFAULT_WEBHOOK_LOG: usize = 10_000;
/// Bytes of webhook deliveries kept for `GET /_sim/webhooks`.
pub(crate) const DEFAULT_WEBHOOK_LOG_BYTES: usize = 64 * 1024 * 1024;
/// Webhook attempts in flight at once.
pub(crate) const DEFAULT_WEBHOOK_CONCURRENCY: usize = 256;
/// How long a connection may wait for a request's headers (also the keep-alive idle timeout).
pub(crate) const DEFAULT_KEEP_ALIVE_TIMEOUT_MS: u64 = 30_000;
/// How long a request body may take to arrive.
pub(crate) const DEFAULT_BODY_TIMEOUT_MS: u64 = 30_000;
/// Connections open at once.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Rows of a batch sent per second of simulator time.
pub(crate) const DEFAULT_BATCH_RATE: f64 = 10.0;
/// API requests kept for `GET /_sim/requests`.
pub(crate) const DEFAULT_REQUEST_LOG: usize = 1000;

/// Everything the server needs, independent of how it was given.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub api_keys: Vec<String>,
    /// When set, `/_sim/*` (but health) needs it.
    pub admin_token: Option<String>,
    pub auto_provision: bool,
    pub seed: u64,
    pub clock: ClockMode,
    /// Manual clock start, in ms since the epoch; `None` means "now".
    pub start_ms: Option<i64>,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    pub webhook_attempts: u32,
    pub webhook_timeout_ms: u64,
    pub webhook_log: usize,
    pub webhook_log_bytes: usize,
    pub webhook_concurrency: usize,
    pub body_limit: usize,
    pub request_log: usize,
    /// Events kept for `GET /_sim/events` reconnects, and their bytes.
    pub events_backlog: usize,
    pub events_backlog_bytes: usize,
    /// Rows of a `/v1/sms/batch` sent per second of simulator time.
    pub batch_rate: f64,
    /// Bytes of uploaded files one account may keep.
    pub files_bytes: usize,
    /// `--carrier realistic`: texts go queued → sent → delivered on the simulator's clock,
    /// `sent` this long after `queued` and `delivered` this long after `sent`.
    pub carrier_realistic: bool,
    pub carrier_sent_ms: u64,
    pub carrier_delivered_ms: u64,
    /// With carrier realism, how long a text is `pending` before it is `queued` (0: queued at
    /// once).
    pub carrier_pending_ms: u64,
    pub keep_alive_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub max_connections: usize,
    /// Added to every answer outside `/_sim`, in ms.
    pub latency_ms: u64,
    /// Refuse what Bland ignores (unknown body fields, list filters).
    pub strict: bool,
    /// Loaded at start when it exists; written on shutdown and `POST /_sim/state/save`.
    pub state_file: Option<std::path::PathBuf>,
    /// The host it was told to listen on (`--host`), `--allowed-host` and `--allowed-origin`:
    /// which `Host` and `Origin` may reach it.
    pub bind_host: String,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    /// `--pathway-secret NAME=VALUE`: what `{{SECRET.NAME}}` reads in a pathway's Webhook
    /// node requests (else the environment's `BLAND_SIM_SECRET_NAME`).
    pub pathway_secrets: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            api_keys: Vec::new(),
            admin_token: None,
            auto_provision: false,
            seed: 0,
            clock: ClockMode::Real,
            start_ms: None,
            webhook_url: None,
            webhook_secret: DEFAULT_WEBHOOK_SECRET.to_string(),
            webhook_attempts: DEFAULT_WEBHOOK_ATTEMPTS,
            webhook_timeout_ms: DEFAULT_WEBHOOK_TIMEOUT_MS,
            webhook_log: DEFAULT_WEBHOOK_LOG,
            webhook_log_bytes: DEFAULT_WEBHOOK_LOG_BYTES,
            webhook_concurrency: DEFAULT_WEBHOOK_CONCURRENCY,
            body_limit: DEFAULT_BODY_LIMIT,
            request_log: DEFAULT_REQUEST_LOG,
            events_backlog: crate::state::events::DEFAULT_BACKLOG,
            events_backlog_bytes: crate::state::events::DEFAULT_BACKLOG_BYTES,
            batch_rate: DEFAULT_BATCH_RATE,
            files_bytes: crate::state::model::FILE_BYTES_PER_ACCOUNT,
            carrier_realistic: false,
            carrier_sent_ms: 1000,
            carrier_delivered_ms: 2000,
            carrier_pending_ms: 0,
            keep_alive_timeout_ms: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
            body_timeout_ms: DEFAULT_BODY_TIMEOUT_MS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            latency_ms: 0,
            strict: false,
            state_file: None,
            bind_host: String::new(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            pathway_secrets: Vec::new(),
        }
    }
}
