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
//! One folder a layer; a module imports only from its own folder and the folders below it
//! (`docs/ARCHITECTURE.md` has the map, where a request goes and where state lives):
//! - `simulator/`: the public [`Simulator`] and [`SimulatorBuilder`], `--watch`, the banner,
//!   the replay runner ([`replay`]) and a webhook receiver for trying it by hand ([`receive`]).
//! - `http/`: the accept loop, the Host and Origin guard, the route table.
//! - `api/` (Bland's `/v1`) and `admin/` (`/_sim`): one handler file per resource.
//! - `request/`: a request read once, its body, the field checks both share.
//! - `recording/`: replay scripts as data, and a conversation recorded as one.
//! - `engine/`: every conversation rule, on the shared `App` handle, and the
//!   state as one document (`snapshot`).
//! - `webhook/`: signed deliveries and their retries.
//! - `observe/`: the request journal, metrics, fault rules.
//! - `state/`: the store, its records, fixtures, histories, idempotent answers, the carrier's
//!   rules and the live event stream.
//! - `scenario/`: scenario files, templates and the registry.
//! - `base/`: errors, value checks, typed input, the clock, the bounded ring and maps.

mod admin;
mod api;
mod base;
mod engine;
mod http;
mod observe;
mod recording;
mod request;
mod scenario;
mod simulator;
mod state;
mod webhook;

pub use simulator::{receive, replay};

pub use base::error::Error;
pub use simulator::{Simulator, SimulatorBuilder, DEFAULT_ADDR};
