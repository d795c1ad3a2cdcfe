//! Replay scripts as data: the script format (`script`) and a conversation recorded as one
//! (`record`, behind `GET /_sim/conversations/{id}/replay`). Running scripts is
//! `simulator::replay`'s.

pub(crate) mod as_app;
pub(crate) mod record;
pub(crate) mod script;
