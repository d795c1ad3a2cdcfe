//! The two error types: [`Error`], the public one the embedding API returns, and [`ApiError`],
//! the one every handler returns, which `body` turns into Bland's error envelope
//! `{"data":null,"errors":[{"message":"…","error":"CODE"}]}`.

use std::fmt;

use hyper::StatusCode;

/// Why the simulator could not start, or why a call on it failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An option has a value the simulator cannot use, such as a start time that is not
    /// RFC 3339 or zero webhook attempts.
    Option(String),
    /// A fixtures file or document is unreadable or invalid; the message names the source,
    /// the account or number, and the field.
    Fixtures(String),
    /// A scenario file or document is unreadable or invalid; the message names the source,
    /// the node and the rule.
    Scenario(String),
    /// The listening address could not be bound.
    Bind {
        /// The address asked for.
        addr: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A call answered with an error, as the HTTP API would.
    Api {
        /// The HTTP status the API answers with.
        status: u16,
        /// Bland's error code, such as `INBOUND_NUMBER_NOT_FOUND`.
        code: String,
        /// What went wrong and how to fix it.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Option(m) | Error::Fixtures(m) | Error::Scenario(m) => f.write_str(m),
            Error::Bind { addr, source } if source.kind() == std::io::ErrorKind::AddrInUse => {
                write!(
                    f,
                    "cannot listen on {addr}: {source}; another process holds that port: choose \
                     another with --port, or --port 0 for any free one"
                )
            }
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Api {
                status,
                code,
                message,
            } => write!(f, "{status} {code}: {message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api {
            status: e.status.as_u16(),
            code: e.code.to_string(),
            message: e.message,
        }
    }
}

/// An error answer: HTTP status, Bland error code, and a message for a person.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 400 `INVALID_PARAMETER`, for a field of the wrong type or value.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::bad_request("INVALID_PARAMETER", message)
    }
    /// 400 `MISSING_REQUIRED_FIELDS`.
    pub fn missing(message: impl Into<String>) -> Self {
        Self::bad_request("MISSING_REQUIRED_FIELDS", message)
    }
    /// 404 `CONVERSATION_NOT_FOUND`: missing, or another account's.
    pub fn conversation_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "CONVERSATION_NOT_FOUND",
            "Conversation not found",
        )
    }
    /// 404 `INBOUND_NUMBER_NOT_FOUND` for an agent number the key cannot use, saying how to
    /// fix it.
    pub fn number_not_found(phone: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "INBOUND_NUMBER_NOT_FOUND",
            format!(
                "Agent number {phone} is not provisioned for this API key. Add it to the \
                 fixtures file, POST /_sim/numbers {{\"api_key\":\"…\",\"phone_number\":\
                 \"{phone}\"}}, or start the simulator with --auto-provision"
            ),
        )
    }
    /// 401 `AUTH_FAILURE`.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "AUTH_FAILURE", "Unauthorized")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}
