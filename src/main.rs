//! The binary: parse flags into a [`SimulatorBuilder`], start, print where it listens, serve
//! until SIGINT or SIGTERM. Every flag is a builder option of the same name.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use bland_sms_sim::{Error, Simulator, SimulatorBuilder};
use clap::{Parser, ValueEnum};

/// mimalloc: the request path allocates and frees many small buffers, and glibc's malloc
/// spent a fifth of the CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 2's `mi_option_purge_delay` (its 16th option; the `-sys` crate names only some).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed is given back to the OS at once, not after mimalloc's default 10 ms (which it
/// only acts on at its next allocation, so an idle simulator kept the peak of a burst: 1,500
/// bodies of 1 MB left 60–80 MiB behind instead of under 45). The request path frees few whole
/// pages, so this costs it nothing measurable (`bench/ratio.sh`).
fn return_freed_memory_at_once() {
    // SAFETY: sets one of mimalloc's options, an atomic store on its side; valid at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

/// How the simulator's clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Clock {
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
    about = "In-memory simulator of Bland AI's SMS API",
    long_about = "In-memory simulator of Bland AI's SMS API: point a Bland SMS client at it \
                  instead of https://api.bland.ai. Scenario files play the agent, webhooks fire \
                  signed and retried, and a control API drives what the real service cannot.",
    after_help = "Bland's API: /v1/sms/* and /v1/files/attach (an API key in `authorization`).\n\
                  Control API: /_sim/health, reset, numbers, inbound, clock, clock/advance, \
                  webhooks, webhooks/wait, requests, requests/count, outbox, scenarios, faults, \
                  state, state/save, conversations, conversations/{id}, conversations/{id}/replay, \
                  batches/{id}, carrier/rules, events (live, SSE), metrics, openapi.json.\n\
                  In a browser: /_sim/ui.\n\
                  `bland-sms-sim replay PATH...` runs conversation tests.\n\
                  Logs go to stderr: BLAND_SIM_LOG=debug for more (default: warn).\n\
                  Every flag can be set by the environment variable shown with it.\n\
                  The README (README.md in the source) has the walk-through, formats and choices."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to bind.
    #[arg(long, env = "BLAND_SIM_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Also answer requests whose Host is this name (repeatable; env: comma-separated): a
    /// container's or a tunnel's name; `.example.com` admits it and every name under it, `*`
    /// any. Loopback names and --host are always admitted.
    #[arg(
        long = "allowed-host",
        env = "BLAND_SIM_ALLOWED_HOST",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Also accept browser requests from this origin (`http://tool.example:3000`; repeatable;
    /// env: comma-separated; `*` any). Pages the simulator serves are always accepted.
    #[arg(
        long = "allowed-origin",
        env = "BLAND_SIM_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// A secret a pathway's Webhook node requests read as `{{SECRET.NAME}}` (repeatable;
    /// never logged). A secret not given is read from `BLAND_SIM_SECRET_NAME`.
    #[arg(long = "pathway-secret", value_name = "NAME=VALUE", value_parser = secret_pair)]
    pathway_secrets: Vec<(String, String)>,
    /// Port to bind; 0 picks a free port.
    #[arg(long, env = "BLAND_SIM_PORT", default_value_t = 8790)]
    port: u16,
    /// Fixtures file (accounts and numbers); default: the embedded fixtures/default.json.
    #[arg(long, env = "BLAND_SIM_FIXTURES")]
    fixtures: Option<PathBuf>,
    /// Keep the state in this file: loaded at start when it exists (instead of --fixtures),
    /// written on SIGINT/SIGTERM and on POST /_sim/state/save.
    #[arg(long, env = "BLAND_SIM_STATE_FILE")]
    state_file: Option<PathBuf>,
    /// Accept only these API keys (repeatable; env: comma-separated).
    #[arg(long = "api-key", env = "BLAND_SIM_API_KEY", value_delimiter = ',')]
    api_keys: Vec<String>,
    /// Require this token on /_sim/* (but /_sim/health): `authorization: Bearer TOKEN` or
    /// `x-sim-admin-token: TOKEN` (/_sim/ui and /_sim/events also take `?admin_token=TOKEN`).
    #[arg(long, env = "BLAND_SIM_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Provision an unowned agent number to the first key that uses it.
    #[arg(long, env = "BLAND_SIM_AUTO_PROVISION", value_parser = boolish(), default_missing_value = "true", num_args = 0..=1)]
    auto_provision: bool,
    /// Seed for ids and the scenarios' random choices (random when absent).
    #[arg(long, env = "BLAND_SIM_SEED")]
    seed: Option<u64>,
    /// Extra scenarios: a directory of *.json, or one scenario file (repeatable), loaded after
    /// the embedded ones.
    #[arg(long, env = "BLAND_SIM_SCENARIOS", value_delimiter = ',')]
    scenarios: Vec<PathBuf>,
    /// Reload the --scenarios files when they change (a broken edit keeps the old ones).
    #[arg(long, env = "BLAND_SIM_WATCH", value_parser = boolish(), default_missing_value = "true", num_args = 0..=1)]
    watch: bool,
    /// `real` (default) or `manual` (time moves only by POST /_sim/clock/advance).
    #[arg(long, env = "BLAND_SIM_CLOCK", value_enum, default_value = "real")]
    clock: Clock,
    /// Start time of the manual clock (RFC 3339); default: now.
    #[arg(long, env = "BLAND_SIM_START_TIME")]
    start_time: Option<String>,
    /// Send every webhook here instead of the conversation's or number's URL.
    #[arg(long, env = "BLAND_SIM_WEBHOOK_URL")]
    webhook_url: Option<String>,
    /// Key for the X-Webhook-Signature HMAC.
    #[arg(
        long,
        env = "BLAND_SIM_WEBHOOK_SECRET",
        default_value = "whsec_bland_sim_default"
    )]
    webhook_secret: String,
    /// Attempts per webhook delivery, the first included.
    #[arg(long, env = "BLAND_SIM_WEBHOOK_ATTEMPTS", default_value_t = 5)]
    webhook_attempts: u32,
    /// Time one webhook attempt may take, in milliseconds (real time).
    #[arg(long, env = "BLAND_SIM_WEBHOOK_TIMEOUT_MS", default_value_t = 5000)]
    webhook_timeout_ms: u64,
    /// Webhook deliveries kept for GET /_sim/webhooks (oldest dropped first).
    #[arg(long, env = "BLAND_SIM_WEBHOOK_LOG", default_value_t = 10_000)]
    webhook_log: usize,
    /// Bytes of webhook deliveries kept for GET /_sim/webhooks (oldest dropped first).
    #[arg(long, env = "BLAND_SIM_WEBHOOK_LOG_BYTES", default_value_t = 64 * 1024 * 1024)]
    webhook_log_bytes: usize,
    /// Webhook attempts in flight at once; the rest wait their turn.
    #[arg(long, env = "BLAND_SIM_WEBHOOK_CONCURRENCY", default_value_t = 256)]
    webhook_concurrency: usize,
    /// How long a connection may wait for a request's headers, from when it opened or sent its
    /// previous answer: the keep-alive idle timeout and the header read timeout, in ms.
    #[arg(
        long,
        env = "BLAND_SIM_KEEP_ALIVE_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    keep_alive_timeout_ms: u64,
    /// How long a request body may take to arrive, in ms (then 408).
    #[arg(long, env = "BLAND_SIM_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    body_timeout_ms: u64,
    /// Connections open at once; at the cap the longest-idle one is closed to make room.
    #[arg(long, env = "BLAND_SIM_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
    /// Refuse (400) what Bland ignores: unknown /v1 body fields, unknown list filters.
    #[arg(long, env = "BLAND_SIM_STRICT", value_parser = boolish(), default_missing_value = "true", num_args = 0..=1)]
    strict: bool,
    /// Added to every answer outside /_sim, in ms.
    #[arg(long, env = "BLAND_SIM_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BLAND_SIM_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// API requests kept for GET /_sim/requests (oldest dropped first); 0 turns the journal off.
    #[arg(long, env = "BLAND_SIM_REQUEST_LOG", default_value_t = 1000)]
    request_log: usize,
    /// Events kept for GET /_sim/events subscribers that fall behind or reconnect.
    #[arg(long, env = "BLAND_SIM_EVENTS_BACKLOG", default_value_t = 10_000)]
    events_backlog: usize,
    /// Bytes of events kept for GET /_sim/events (oldest dropped first).
    #[arg(long, env = "BLAND_SIM_EVENTS_BACKLOG_BYTES", default_value_t = 8 * 1024 * 1024)]
    events_backlog_bytes: usize,
    /// Rows of a POST /v1/sms/batch sent per second of simulator time (0.001 to 1,000,000).
    #[arg(long, env = "BLAND_SIM_BATCH_RATE", default_value_t = 10.0)]
    batch_rate: f64,
    /// Bytes of uploaded files (POST /v1/files/attach) one account may keep.
    #[arg(long, env = "BLAND_SIM_FILES_BYTES", default_value_t = 32 * 1024 * 1024)]
    files_bytes: usize,
    /// `instant` (every text delivered at once) or `realistic` (queued, then sent, then
    /// delivered on the simulator's clock).
    #[arg(long, env = "BLAND_SIM_CARRIER", value_enum, default_value_t = CarrierMode::Instant)]
    carrier: CarrierMode,
    /// With --carrier realistic: milliseconds a text is `pending` before it is `queued` (0:
    /// queued at once).
    #[arg(long, env = "BLAND_SIM_CARRIER_PENDING_MS", default_value_t = 0)]
    carrier_pending_ms: u64,
    /// With --carrier realistic: ms from queued to sent.
    #[arg(long, env = "BLAND_SIM_CARRIER_SENT_MS", default_value_t = 1000)]
    carrier_sent_ms: u64,
    /// With --carrier realistic: ms from sent to delivered.
    #[arg(long, env = "BLAND_SIM_CARRIER_DELIVERED_MS", default_value_t = 2000)]
    carrier_delivered_ms: u64,
}

/// How texts are delivered.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CarrierMode {
    Instant,
    Realistic,
}

/// What else the binary does.
#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Exit 0 when a simulator answers /_sim/health within a second, else 1 with the reason
    /// (a container health check without curl).
    Healthcheck {
        /// The simulator's base URL (default: the one this command would serve on, from
        /// BLAND_SIM_HOST and BLAND_SIM_PORT; 0.0.0.0 and :: ask loopback).
        #[arg(long)]
        url: Option<String>,
    },
    /// A webhook receiver for trying the simulator by hand: answers every POST 200 and prints
    /// each delivery, checking its signature with the webhook secret. Stop it with Ctrl-C.
    Receive {
        /// Port to listen on (127.0.0.1); 0 picks a free one.
        #[arg(long, default_value_t = 9000)]
        port: u16,
    },
    /// Run replay scripts (files, or directories of *.json), each in its own simulator or
    /// against a running one (--url); exit 0 when all pass, 1 when one fails, 2 when one does
    /// not parse.
    Replay {
        /// Script files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also write JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Print machine-readable JSON results instead of text.
        #[arg(long)]
        json: bool,
        /// Scenario files or directories added to every script's simulator (repeatable).
        #[arg(long)]
        scenarios: Vec<PathBuf>,
        /// Run against the simulator at this base URL, and the app pointed at it: each
        /// script's setup replaces its state (reset, scenarios, fixtures, clock, seed) first.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// That simulator's admin token, for its /_sim API.
        #[arg(long = "admin-token", env = "BLAND_SIM_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// How long a step waits for the app (within_ms) when it does not say; steps that say
        /// are scaled alike (default 2000).
        #[arg(long, value_name = "MS")]
        timeout_ms: Option<u64>,
    },
}

/// The URL a simulator serving on `host:port` answers on this machine: a wildcard address is
/// asked on loopback.
fn local_url(host: &str, port: u16) -> String {
    let host = match host.trim_start_matches('[').trim_end_matches(']') {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    format!("http://{host}:{port}")
}

/// `bland-sms-sim healthcheck`: 0 when `/_sim/health` answers 200 within a second, else 1.
/// The admin token, when one is set, goes along (health does not need it; a proxy may).
async fn healthcheck(url: &str, admin_token: Option<&str>) -> i32 {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let target = format!("{}/_sim/health", url.trim_end_matches('/'));
    let mut request = hyper::Request::get(target.as_str());
    if let Some(token) = admin_token {
        request = request.header("x-sim-admin-token", token);
    }
    let request = match request.body(Empty::<bytes::Bytes>::new()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bland-sms-sim healthcheck: {target:?} is not a URL: {e}");
            return 1;
        }
    };
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    match tokio::time::timeout(Duration::from_secs(1), client.request(request)).await {
        Ok(Ok(r)) if r.status() == 200 => 0,
        Ok(Ok(r)) => {
            eprintln!(
                "bland-sms-sim healthcheck: {target} answered {}",
                r.status()
            );
            1
        }
        Ok(Err(e)) => {
            eprintln!("bland-sms-sim healthcheck: {target}: {e}");
            1
        }
        Err(_) => {
            eprintln!("bland-sms-sim healthcheck: {target} did not answer within a second");
            1
        }
    }
}

/// `1/0`, `true/false`, `yes/no`, `on/off` (any case), for switches set by environment.
fn boolish() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

/// Parses the command line; an invalid value that came from a `BLAND_SIM_*` variable says so.
fn parse_cli() -> Cli {
    use clap::CommandFactory;
    let err = match Cli::try_parse() {
        Ok(cli) => return cli,
        Err(e) => e,
    };
    let args: Vec<String> = std::env::args().collect();
    let from_env = Cli::command().get_arguments().find_map(|a| {
        let (long, var) = (a.get_long()?, a.get_env()?.to_str()?.to_string());
        let flag = format!("--{long}");
        let named = err.to_string().contains(&flag);
        let given = args
            .iter()
            .any(|x| x == &flag || x.starts_with(&format!("{flag}=")));
        (named && !given && std::env::var_os(&var).is_some()).then_some(var)
    });
    if let Some(var) = from_env {
        eprintln!("bland-sms-sim: the value comes from the environment variable {var}");
    }
    err.exit()
}

impl Cli {
    /// The builder these flags describe.
    fn into_builder(self) -> Result<SimulatorBuilder, Error> {
        let mut b = Simulator::builder()
            .bind(format!("{}:{}", self.host, self.port))
            .auto_provision(self.auto_provision)
            .webhook_secret(self.webhook_secret)
            .webhook_attempts(self.webhook_attempts)
            .webhook_timeout(Duration::from_millis(self.webhook_timeout_ms))
            .webhook_log(self.webhook_log)
            .webhook_log_bytes(self.webhook_log_bytes)
            .webhook_concurrency(self.webhook_concurrency)
            .body_limit(self.body_limit)
            .latency(Duration::from_millis(self.latency_ms))
            .strict(self.strict)
            .watch_scenarios(self.watch)
            .keep_alive_timeout(Duration::from_millis(self.keep_alive_timeout_ms))
            .body_timeout(Duration::from_millis(self.body_timeout_ms))
            .max_connections(self.max_connections)
            .request_log(self.request_log)
            .events_backlog(self.events_backlog, self.events_backlog_bytes)
            .batch_rate(self.batch_rate)
            .files_bytes(self.files_bytes);
        if self.carrier == CarrierMode::Realistic {
            b = b
                .realistic_carrier(
                    Duration::from_millis(self.carrier_sent_ms),
                    Duration::from_millis(self.carrier_delivered_ms),
                )
                .carrier_pending(Duration::from_millis(self.carrier_pending_ms));
        }
        if self.clock == Clock::Manual {
            b = b.manual_clock();
        }
        if let Some(t) = &self.start_time {
            b = b.start_time(t);
        }
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        if let Some(token) = self.admin_token {
            b = b.admin_token(token);
        }
        if let Some(url) = self.webhook_url {
            b = b.webhook_url(url);
        }
        for name in self.allowed_hosts {
            b = b.allowed_host(name);
        }
        for origin in self.allowed_origins {
            b = b.allowed_origin(origin);
        }
        for (name, value) in self.pathway_secrets {
            b = b.pathway_secret(name, value);
        }
        for key in self.api_keys {
            b = b.api_key(key);
        }
        if let Some(path) = &self.fixtures {
            b = b.fixtures_path(path)?;
        }
        if let Some(path) = &self.state_file {
            b = b.state_file(path);
        }
        for path in &self.scenarios {
            b = if path.is_dir() {
                b.scenarios_dir(path)?
            } else {
                b.scenario_path(path)?
            };
        }
        Ok(b)
    }
}

#[tokio::main]
async fn main() {
    return_freed_memory_at_once();
    if let Err(e) = run().await {
        // Plain text, not Debug: a bad scenario or fixtures file names its path and the reason.
        eprintln!("bland-sms-sim: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLAND_SIM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = parse_cli();
    if let Some(Command::Healthcheck { url }) = &cli.command {
        let url = url
            .clone()
            .unwrap_or_else(|| local_url(&cli.host, cli.port));
        std::process::exit(healthcheck(&url, cli.admin_token.as_deref()).await);
    }
    if let Some(Command::Replay {
        paths,
        junit,
        json,
        scenarios,
        url,
        admin_token,
        timeout_ms,
    }) = &cli.command
    {
        let options = bland_sms_sim::replay::Options {
            junit: junit.clone(),
            json: *json,
            scenarios: scenarios.clone(),
            url: url.clone(),
            admin_token: admin_token.clone(),
            timeout_ms: *timeout_ms,
        };
        let verdict = bland_sms_sim::replay::run(paths, &options, &mut std::io::stdout()).await;
        std::process::exit(match verdict {
            Ok(v) => v.exit_code(),
            Err(e) => {
                eprintln!("bland-sms-sim replay: {e}");
                2
            }
        });
    }
    if let Some(Command::Receive { port }) = &cli.command {
        return receive(*port, cli.webhook_secret.clone()).await;
    }
    let builder = cli.into_builder()?;
    let shutdown = shutdown_signal();
    let sim = builder.start().await?;
    {
        // The first line is exactly `listening on http://HOST:PORT`, for scripts to read.
        // Best effort: a script that reads that line and closes the pipe must not stop the
        // server, so write errors are ignored.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {}", sim.base_url())
            .and_then(|_| write!(out, "{}", sim.banner()))
            .and_then(|_| out.flush());
    }
    shutdown.await;
    sim.shutdown().await;
    Ok(())
}

/// `bland-sms-sim receive`: serves until SIGINT or SIGTERM.
async fn receive(port: u16, secret: String) -> Result<(), Error> {
    let addr = format!("127.0.0.1:{port}");
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| Error::Bind {
        addr: format!("127.0.0.1:{port}"),
        source,
    })?;
    println!("listening on http://{bound} (webhooks: http://{bound}/hook; Ctrl-C stops)");
    let stop = tokio_util::sync::CancellationToken::new();
    let out: std::sync::Arc<std::sync::Mutex<dyn Write + Send>> =
        std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let server = tokio::spawn(bland_sms_sim::receive::serve(
        listener,
        secret,
        out,
        stop.clone(),
    ));
    shutdown_signal().await;
    stop.cancel();
    let _ = server.await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when it
/// is first polled, so a signal sent right after the `listening on` line is never missed.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    async move {
        tokio::select! {
            _ = received(int.as_mut()) => {}
            _ = received(term.as_mut()) => {}
        }
    }
}

/// Resolves when the signal arrives; never when it could not be installed.
#[cfg(unix)]
async fn received(s: Option<&mut tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `NAME=VALUE` for `--pathway-secret`.
fn secret_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() => Ok((n.trim().to_string(), v.to_string())),
        _ => Err(format!(
            "expected NAME=VALUE (the pathway reads it as {{{{SECRET.NAME}}}}), got {:?}",
            s.split('=').next().unwrap_or_default()
        )),
    }
}
