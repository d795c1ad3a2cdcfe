//! Bodies on the wire: reading a request body under a size cap, and the [`Reply`] every handler
//! produces (an [`ApiError`] becomes one in Bland's envelope here, and only here).

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::{header, Response, StatusCode};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::events::EventStream;

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

/// A response body: a whole one, or the event stream.
pub(crate) type Body = Either<Full<Bytes>, EventStream>;

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
    pub fn into_response(self) -> Response<Body> {
        let mut r = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, self.content_type);
        if self.content_type.starts_with("text/html") {
            // The UI is never shown inside another site's page (clickjacking).
            r = r
                .header("x-frame-options", "DENY")
                .header("content-security-policy", "frame-ancestors 'none'");
        }
        r.body(Either::Left(Full::new(self.body)))
            .expect("status and constant headers are valid")
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

/// Reads the whole body, refusing more than `limit` bytes with 413.
///
/// # Errors
/// 413 `PAYLOAD_TOO_LARGE`, or 400 `INVALID_BODY` when the connection fails mid-body.
pub(crate) async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("Request body is larger than the {limit}-byte limit"),
        )),
        Err(e) => Err(ApiError::bad_request(
            "INVALID_BODY",
            format!("Could not read the request body: {e}"),
        )),
    }
}
