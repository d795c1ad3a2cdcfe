//! bland-sms-sim: an in-memory simulator of Bland AI's SMS/messaging API (`/v1/sms/*`) for
//! local development and CI, with the test controls the real service lacks (`/_sim/*`).
//!
//! Start one inside a test with [`Simulator::builder`], point any HTTP client at
//! [`Simulator::base_url`], and drive the agent's side, the clock and the inspection API from
//! the same handle:
//!
//! ```no_run
//! use bland_sms_sim::Simulator;
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), bland_sms_sim::Error> {
//! let sim = Simulator::builder().manual_clock().seed(7).start().await?;
//! let replies = sim.inbound("+15550001111", "+15550002222", "hi").await?;
//! sim.advance(Duration::from_secs(60)).await;
//! assert!(!replies.is_empty());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! Requests flow one way: `server` → `routes` → a handler in `api/*` (Bland's API) or `admin`
//! (`/_sim/*`), which parses the request, calls `engine`, and renders the answer → `engine`
//! (every conversation rule) → `store`. Lower modules never import upper ones.
//! - `simulator/*`: the public [`Simulator`] (`mod`), [`SimulatorBuilder`] (`builder`) and
//!   scenario sources with `--watch` (`watch`); `banner`: the start-up text.
//! - `server`: accept loop and graceful shutdown; `routes`: the one route table, auth, journal.
//! - `api/*`: one file per `/v1/sms` resource (`filter`: the list's typed filters); `admin`:
//!   the `/_sim/*` control API (`admin/*`: `mod`, `inspect`, `faults`, `scenarios`); `req`: the
//!   request snapshot; `input`: typed body parsing.
//! - `engine/*`: the conversation lifecycle — `lifecycle` (opening, inbound texts,
//!   re-activation, deletion, `apply`), `handoff` (handoff, resume, `/end`), `turns` (scenario
//!   turns), `outcomes`, `payload` (webhook bodies), `time` (firing timers, `advance`, the
//!   real-clock driver), and messages, the inactivity timer and ending in `mod`.
//! - `app`: the shared handle (config, store, clock and timers, webhooks, scenarios, fixtures,
//!   journal, idempotency, faults) and what it schedules; `idempotency`: replayed answers;
//!   `faults`: the fault rules of `/_sim/faults`; `metrics`: `/_sim/metrics`.
//! - `store`: all state in `DashMap`s; `model`: records (`conversation`, `number`) and their
//!   JSON views (`view`).
//! - `clock`: the real/manual clock and the ordered timer queue; `webhook/*`: signed deliveries
//!   and retries (`delivery`: one delivery and its views); `event`: what a webhook is about;
//!   `events`: the live stream of changes behind `/_sim/events` (the browser UI, `ui/index.html`,
//!   reads it); `history`: a conversation's `chat_history`, serialized once and shared by
//!   its deliveries; `journal`: the log behind `GET /_sim/requests`; `ring`: the bounded log they
//!   and the outbox share.
//! - `scenario/*`: scenario files, templates and the registry; `fixtures`: accounts and numbers.
//! - `body`, `error`, `validation`, `config`: reply bodies (and reading request bodies), the
//!   error types, value checks, settings.

mod admin;
mod api;
mod app;
mod banner;
mod body;
mod carrier;
mod clock;
mod config;
mod engine;
mod error;
mod event;
mod events;
mod faults;
mod fixtures;
mod guard;
mod hints;
mod history;
mod idempotency;
mod input;
mod journal;
mod maps;
mod metrics;
mod model;
mod params;
pub mod replay;
mod reply;
mod req;
mod ring;
mod routes;
mod scenario;
mod server;
mod simulator;
mod snapshot;
mod store;
mod validation;
mod webhook;

pub use error::Error;
pub use simulator::{Simulator, SimulatorBuilder, DEFAULT_ADDR};
