//! The vocabulary every layer shares and that knows nothing of the others: errors and Bland's
//! error codes, value checks (E.164, channels, times), typed JSON input and its limits, the
//! clock and its timer queue, what a webhook is about, a finished reply, and the bounded ring
//! and sharded maps the logs and state are built from.

pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod input;
pub(crate) mod maps;
pub(crate) mod reply;
pub(crate) mod ring;
pub(crate) mod validation;
