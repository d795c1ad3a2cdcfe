//! All state, in `DashMap`s behind one [`store::Store`] handle: accounts, numbers and their
//! records (`model`), conversations and their shared chat histories, opt-outs, remembered
//! idempotent answers, the carrier's rules, uploaded files and batches, and the live stream of
//! changes (`events`). `fixtures` reads fixtures and state documents into it.

pub(crate) mod carrier;
pub(crate) mod events;
pub(crate) mod fixtures;
pub(crate) mod history;
pub(crate) mod idempotency;
pub(crate) mod model;
pub(crate) mod store;
