//! Command-line flags (clap derive, each readable from a `BLAND_SIM_*` env var) and the plain
//! [`Config`] the rest of the crate reads. Tests build a `Config` directly with [`Config::default`].

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Port the simulator listens on when `--port` is not given.
pub const DEFAULT_PORT: u16 = 8790;
/// Largest request body accepted, in bytes; larger bodies answer 413.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// Secret used to sign webhooks when `--webhook-secret` is not given (printed at start-up).
pub const DEFAULT_WEBHOOK_SECRET: &str = "whsec_bland_sim_default";

/// How the simulator's clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClockMode {
    /// Wall-clock time; `POST /_sim/clock/advance` still jumps ahead.
    Real,
    /// Time moves only through `POST /_sim/clock/advance`.
    Manual,
}

/// The command line.
#[derive(Parser, Debug)]
#[command(
    name = "bland-sms-sim",
    version,
    about = "In-memory simulator of Bland AI's SMS API"
)]
pub struct Cli {
    /// Address to bind.
    #[arg(long, env = "BLAND_SIM_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free port.
    #[arg(long, env = "BLAND_SIM_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Fixtures file (accounts and numbers); default: the embedded fixtures/default.json.
    #[arg(long, env = "BLAND_SIM_FIXTURES")]
    pub fixtures: Option<PathBuf>,
    /// Accept only these API keys (repeatable; env: comma-separated).
    #[arg(long = "api-key", env = "BLAND_SIM_API_KEY", value_delimiter = ',')]
    pub api_keys: Vec<String>,
    /// Provision an unowned agent number to the first key that uses it.
    #[arg(long, env = "BLAND_SIM_AUTO_PROVISION")]
    pub auto_provision: bool,
    /// Seed for ids and the scenarios' random choices (random when absent).
    #[arg(long, env = "BLAND_SIM_SEED")]
    pub seed: Option<u64>,
    /// Extra scenario files (a directory of *.json), loaded after the embedded ones.
    #[arg(long, env = "BLAND_SIM_SCENARIOS")]
    pub scenarios: Option<PathBuf>,
    /// `real` (default) or `manual` (time moves only by POST /_sim/clock/advance).
    #[arg(long, env = "BLAND_SIM_CLOCK", value_enum, default_value = "real")]
    pub clock: ClockMode,
    /// Start time of the manual clock (RFC 3339); default: now.
    #[arg(long, env = "BLAND_SIM_START_TIME")]
    pub start_time: Option<String>,
    /// Send every webhook here instead of the conversation's or number's URL.
    #[arg(long, env = "BLAND_SIM_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Key for the X-Webhook-Signature HMAC.
    #[arg(long, env = "BLAND_SIM_WEBHOOK_SECRET", default_value = DEFAULT_WEBHOOK_SECRET)]
    pub webhook_secret: String,
    /// Attempts per webhook delivery, the first included.
    #[arg(long, env = "BLAND_SIM_WEBHOOK_ATTEMPTS", default_value_t = 5)]
    pub webhook_attempts: u32,
    /// Time one webhook attempt may take, in milliseconds (real time).
    #[arg(long, env = "BLAND_SIM_WEBHOOK_TIMEOUT_MS", default_value_t = 5000)]
    pub webhook_timeout_ms: u64,
    /// Webhook deliveries kept for GET /_sim/webhooks (oldest dropped first).
    #[arg(long, env = "BLAND_SIM_WEBHOOK_LOG", default_value_t = 10_000)]
    pub webhook_log: usize,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BLAND_SIM_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// API requests kept for GET /_sim/requests (oldest dropped first); 0 turns the journal off.
    #[arg(long, env = "BLAND_SIM_REQUEST_LOG", default_value_t = 1000)]
    pub request_log: usize,
}

/// Everything the server needs, independent of how it was given.
#[derive(Clone, Debug)]
pub struct Config {
    pub fixtures: Option<PathBuf>,
    pub api_keys: Vec<String>,
    pub auto_provision: bool,
    pub seed: u64,
    pub scenarios: Option<PathBuf>,
    pub clock: ClockMode,
    /// Manual clock start, in ms since the epoch; `None` means "now".
    pub start_ms: Option<i64>,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    pub webhook_attempts: u32,
    pub webhook_timeout_ms: u64,
    pub webhook_log: usize,
    pub body_limit: usize,
    pub request_log: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            fixtures: None,
            api_keys: Vec::new(),
            auto_provision: false,
            seed: 0,
            scenarios: None,
            clock: ClockMode::Real,
            start_ms: None,
            webhook_url: None,
            webhook_secret: DEFAULT_WEBHOOK_SECRET.to_string(),
            webhook_attempts: 5,
            webhook_timeout_ms: 5000,
            webhook_log: 10_000,
            body_limit: DEFAULT_BODY_LIMIT,
            request_log: 1000,
        }
    }
}

impl Cli {
    /// Turns the flags into a [`Config`].
    ///
    /// # Errors
    /// A `--start-time` that is not RFC 3339, or a `--webhook-attempts` of 0.
    pub fn into_config(self) -> Result<Config, String> {
        let start_ms = match &self.start_time {
            Some(s) => Some(
                chrono::DateTime::parse_from_rfc3339(s)
                    .map_err(|e| format!("--start-time {s:?} is not RFC 3339: {e}"))?
                    .timestamp_millis(),
            ),
            None => None,
        };
        if self.webhook_attempts == 0 {
            return Err("--webhook-attempts must be at least 1".into());
        }
        Ok(Config {
            fixtures: self.fixtures,
            api_keys: self
                .api_keys
                .into_iter()
                .filter(|k| !k.is_empty())
                .collect(),
            auto_provision: self.auto_provision,
            seed: self.seed.unwrap_or_else(rand::random),
            scenarios: self.scenarios,
            clock: self.clock,
            start_ms,
            webhook_url: self.webhook_url,
            webhook_secret: self.webhook_secret,
            webhook_attempts: self.webhook_attempts,
            webhook_timeout_ms: self.webhook_timeout_ms,
            webhook_log: self.webhook_log.max(1),
            body_limit: self.body_limit,
            request_log: self.request_log,
        })
    }
}
