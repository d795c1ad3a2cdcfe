//! bland-sms-sim: an in-memory simulator of Bland AI's SMS/messaging API (`/v1/sms/*`) for
//! local development and CI, with the test controls the real service lacks (`/_sim/*`).
//!
//! # Layout
//! - `config`: CLI flags → [`Config`].
//! - `server`: accept loop and graceful shutdown; `routes`: (method, path) → handler.
//! - `api/*`: one file per `/v1/sms` resource; `admin`: the `/_sim/*` control API.
//! - `app`: the shared [`App`] handle, timers and webhook sending; `engine/*`: the conversation
//!   lifecycle (messages, timeout flow, handoff, outcomes, scenario turns).
//! - `store`: all state in `DashMap`s; `model`: records and their JSON views.
//! - `clock`: the real/manual clock and timer queue; `webhook`: signed deliveries and retries.
//! - `scenario/*`: scenario files, templates and the registry; `fixtures`: accounts and numbers.
//! - `journal`: the log of API requests behind `GET /_sim/requests`; `ring`: the bounded log
//!   it, the webhook log and the outbox share.
//! - `body`, `error`, `validation`: request parsing, the error envelope, input checks.

pub mod admin;
pub mod api;
pub mod app;
pub mod body;
pub mod clock;
pub mod config;
pub mod engine;
pub mod error;
pub mod fixtures;
pub mod journal;
pub mod model;
pub mod ring;
pub mod routes;
pub mod scenario;
pub mod server;
pub mod store;
pub mod validation;
pub mod webhook;

pub use app::App;
pub use config::{Cli, ClockMode, Config};

/// Everything printed at start-up after the `listening on` line: key, numbers, secret, seed.
pub fn banner(app: &App) -> String {
    let mut out = String::new();
    if let Some(key) = app.fixtures.first_key() {
        out.push_str(&format!("api key: {key}\n"));
        let numbers: Vec<String> = app
            .store
            .numbers_of(key)
            .iter()
            .map(|n| n.phone_number.clone())
            .collect();
        out.push_str(&format!("agent numbers: {}\n", numbers.join(", ")));
    }
    if !app.config.api_keys.is_empty() {
        out.push_str(&format!(
            "accepted keys: {}\n",
            app.config.api_keys.join(", ")
        ));
    }
    out.push_str(&format!("webhook secret: {}\n", app.config.webhook_secret));
    out.push_str(&format!(
        "clock: {:?}, seed: {}\n",
        app.clock.mode(),
        app.config.seed
    ));
    out.push_str(&format!(
        "scenarios: {}\n",
        app.scenarios
            .to_json()
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(|s| s["name"].as_str())
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    ));
    out
}
