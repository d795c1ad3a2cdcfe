//! Bodies on the wire: reading a request body under a size cap, and a [`Reply`] as the
//! response hyper sends.

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::{header, Response, StatusCode};

use crate::base::error::ApiError;
use crate::base::reply::Reply;
use crate::state::events::EventStream;

/// A response body: a whole one, or the event stream.
pub(crate) type Body = Either<Full<Bytes>, EventStream>;

/// The response hyper sends for `reply`.
pub(crate) fn into_response(reply: Reply) -> Response<Body> {
    let mut r = Response::builder()
        .status(reply.status)
        .header(header::CONTENT_TYPE, reply.content_type);
    if reply.content_type.starts_with("text/html") {
        // The UI is never shown inside another site's page (clickjacking).
        r = r
            .header("x-frame-options", "DENY")
            .header("content-security-policy", "frame-ancestors 'none'");
    }
    r.body(Either::Left(Full::new(reply.body)))
        .expect("status and constant headers are valid")
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
