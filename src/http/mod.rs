//! HTTP: the accept loop and its limits (`server`), who may reach the simulator (`guard`: Host
//! and Origin), and the one route table (`routes`) that sends each request to a handler in
//! `api` or `admin`, with its OpenAPI description (`openapi.json`).

pub(crate) mod guard;
pub(crate) mod routes;
pub(crate) mod server;
