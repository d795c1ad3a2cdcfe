//! Request and response bodies: reading a body under a size cap, parsing it as JSON into typed
//! structs (naming the field on a type error), and the [`Reply`] every handler produces.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{header, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::error::ApiError;

/// A finished answer: status and JSON body. Cheap to clone, so idempotent replays reuse it.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    pub fn new(status: StatusCode, body: Value) -> Self {
        Reply {
            status,
            body: Bytes::from(serde_json::to_vec(&body).expect("a Value always serializes")),
        }
    }
    /// 200 with `{"data": data, "errors": null}`.
    pub fn ok(data: Value) -> Self {
        Self::new(StatusCode::OK, json!({"data": data, "errors": null}))
    }
    /// `status` with `{"data": data, "errors": null}`.
    pub fn data(status: StatusCode, data: Value) -> Self {
        Self::new(status, json!({"data": data, "errors": null}))
    }
    pub fn into_response(self) -> Response<Full<Bytes>> {
        Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(self.body))
            .expect("status and a constant header are valid")
    }
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
///
/// # Errors
/// 413 `PAYLOAD_TOO_LARGE`, or 400 `INVALID_BODY` when the connection fails mid-body.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
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

/// Parses a JSON object body into `T`. An empty body reads as `{}`; unknown fields are ignored.
///
/// # Errors
/// 400 `INVALID_JSON` for malformed JSON or a non-object, 400 `INVALID_PARAMETER` naming the
/// field whose type is wrong.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(
                "INVALID_JSON",
                format!("Request body is not valid JSON: {e}"),
            )
        })?
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "INVALID_JSON",
            "Request body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        ApiError::invalid(format!("Invalid value for `{path}`: {inner}"))
    })
}
