//! One integration crate: each module drives a real simulator over HTTP on 127.0.0.1:0.

mod support;

mod abuse;
mod admin;
mod app;
mod batch;
#[cfg(feature = "cli")]
mod binary;
mod carrier;
mod conversations;
mod drift;
mod embedding;
mod errors;
mod events;
mod handoff;
mod harness;
mod idempotency;
mod laptop;
mod layout;
mod legacy;
mod list;
mod newcomer;
mod numbers;
mod objective;
mod pathway;
mod plan;
mod replay;
mod scenarios;
mod send;
mod state;
mod tenancy;
mod timeouts;
mod webhooks;
