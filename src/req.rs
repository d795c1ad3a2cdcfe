//! [`Req`]: a request read once (method, path, query, headers, body under the size cap), with
//! the few ways handlers look at it.

use bytes::Bytes;
use hyper::{HeaderMap, Method};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::input;

/// A request, read once.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `idempotency-key` header, when non-empty.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.header("idempotency-key")
            .filter(|k| !k.trim().is_empty())
    }

    /// The key the request presents in `authorization`, raw or as `Bearer KEY`; `None` when
    /// empty.
    pub fn presented_key(&self) -> Option<&str> {
        let raw = self.header("authorization").unwrap_or("").trim();
        let key = match raw.split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if raw.eq_ignore_ascii_case("bearer") => "",
            _ => raw,
        };
        (!key.is_empty()).then_some(key)
    }

    /// Decoded query pairs (`+` and percent escapes undone).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let q = self.query.as_deref().unwrap_or("");
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    /// The JSON body as an object, to read into more than one struct with [`input::typed`].
    ///
    /// # Errors
    /// As [`input::object`].
    pub fn json_object(&self) -> Result<serde_json::Value, ApiError> {
        input::object(&self.body)
    }

    /// The JSON body as `T`.
    ///
    /// # Errors
    /// As [`input::parse`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        input::parse(&self.body)
    }
}
