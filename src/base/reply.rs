//! [`Reply`]: a finished answer (status, body, media type) every handler produces, and the one
//! place an [`ApiError`] becomes Bland's error envelope. Idempotent replays keep and reuse them.

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::base::error::ApiError;

/// A finished answer: status and JSON body. Cheap to clone, so idempotent replays reuse it.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
    /// Replayed for a repeated `idempotency-key` (the journal says so).
    pub replay: bool,
    /// The body's media type.
    pub content_type: &'static str,
    /// Set by `GET /_sim/events`: the answer is the event stream, resuming after this
    /// `Last-Event-ID` (or from the next event).
    pub subscribe: Option<Subscribe>,
}

/// Where an event stream starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subscribe {
    pub last_event_id: Option<u64>,
}

impl Reply {
    pub fn new(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            body: Bytes::from(serde_json::to_vec(&body).expect("a Value always serializes")),
            replay: false,
            subscribe: None,
            content_type: "application/json",
        }
    }
    /// 200 with a plain-text body of this media type.
    pub fn text(content_type: &'static str, body: String) -> Self {
        Reply {
            status: StatusCode::OK,
            body: Bytes::from(body),
            replay: false,
            subscribe: None,
            content_type,
        }
    }
    /// 200 with a page embedded in the binary.
    pub fn page(content_type: &'static str, body: &'static [u8]) -> Self {
        Reply {
            status: StatusCode::OK,
            body: Bytes::from_static(body),
            replay: false,
            subscribe: None,
            content_type,
        }
    }
    /// 200 with the event stream (written by `routes`, which holds the subscription).
    pub fn events(last_event_id: Option<u64>) -> Self {
        Reply {
            subscribe: Some(Subscribe { last_event_id }),
            ..Reply::page("text/event-stream", b"")
        }
    }
    /// 200 with a JSON document as it is, not in the envelope (the state, a replay script, the
    /// OpenAPI description: files a user saves).
    pub fn document(body: impl Into<Bytes>) -> Self {
        Reply {
            status: StatusCode::OK,
            body: body.into(),
            replay: false,
            subscribe: None,
            content_type: "application/json",
        }
    }
    /// 200 with `{"data": data, "errors": null}`.
    pub fn ok(data: Value) -> Self {
        Self::new(StatusCode::OK, json!({"data": data, "errors": null}))
    }
    /// 200 with `{"data": data, "errors": null}`, written straight from `data` (no [`Value`]
    /// in between: for the hot paths).
    pub fn ok_typed<T: serde::Serialize>(data: &T) -> Self {
        #[derive(serde::Serialize)]
        struct Envelope<'a, T> {
            data: &'a T,
            errors: (),
        }
        thread_local! {
            /// Written into, then copied out at its exact length: one allocation per answer,
            /// where a `Vec` of its own would need a second to become `Bytes`.
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        /// Past this a scratch buffer is dropped after use instead of kept for the thread.
        const KEPT: usize = 64 * 1024;
        let body = SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            serde_json::to_writer(&mut *buf, &Envelope { data, errors: () })
                .expect("plain data serializes");
            let body = Bytes::copy_from_slice(buf);
            if buf.capacity() > KEPT {
                *buf = Vec::new();
            }
            body
        });
        Reply {
            status: StatusCode::OK,
            body,
            replay: false,
            subscribe: None,
            content_type: "application/json",
        }
    }
    /// `status` with `{"data": data, "errors": null}`.
    pub fn data(status: StatusCode, data: Value) -> Self {
        Self::new(status, json!({"data": data, "errors": null}))
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Reply::new(
            e.status,
            json!({"data": null, "errors": [{"message": e.message, "error": e.code}]}),
        )
    }
}
