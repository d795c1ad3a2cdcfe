//! What tests look at and break on purpose: the request journal (`GET /_sim/requests`), the
//! metrics (`GET /_sim/metrics`) and the fault rules (`/_sim/faults`).

pub(crate) mod faults;
pub(crate) mod journal;
pub(crate) mod metrics;
