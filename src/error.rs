//! The one error type handlers return, and the one place it becomes Bland's error envelope
//! `{"data":null,"errors":[{"message":"…","error":"CODE"}]}`.

use hyper::StatusCode;
use serde_json::json;

use crate::body::Reply;

/// An error answer: HTTP status, Bland error code, and a message for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// What handlers return.
pub type ApiResult = Result<Reply, ApiError>;

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
    /// 404 `CONVERSATION_NOT_FOUND`: missing, or another account's.
    pub fn conversation_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "CONVERSATION_NOT_FOUND",
            "Conversation not found",
        )
    }
    /// 401 `AUTH_FAILURE`.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "AUTH_FAILURE", "Unauthorized")
    }

    /// The error in Bland's envelope.
    pub fn into_reply(self) -> Reply {
        Reply::new(
            self.status,
            json!({"data": null, "errors": [{"message": self.message, "error": self.code}]}),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}
