//! A request as the handlers see it: read once (`req`), its body read under the size cap
//! (`body`), the field checks the API and the control API share (`params`), and the
//! compatibility hints for fields sent under another endpoint's name (`hints`).

pub(crate) mod body;
pub(crate) mod hints;
pub(crate) mod params;
pub(crate) mod req;
