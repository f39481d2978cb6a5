//! The errors an endpoint answers, and the documented `code` each carries.

use std::fmt;

/// The documented error codes. Hosts branch on these, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed: NULL, invalid UTF-8, not a JSON object, a wrong
    /// type for a known key, a missing required key, a value out of range, or a
    /// body over [`crate::guard::MAX_REQUEST_BYTES`].
    InvalidRequest,
    /// The endpoint needs `InitializeApplication` to have succeeded first.
    NotInitialized,
    /// Reserved for panics caught by the guard; no endpoint returns it itself.
    Panic,
    /// Something failed inside the library (I/O, a lock held by another process...).
    Internal,
}

impl ErrorCode {
    /// The HTTP status status-backend answers with this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::NotInitialized => 409,
            ErrorCode::Panic | ErrorCode::Internal => 500,
        }
    }

    /// The string hosts see in the answer's `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid-request",
            ErrorCode::NotInitialized => "not-initialized",
            ErrorCode::Panic => "panic",
            ErrorCode::Internal => "internal",
        }
    }
}

/// An endpoint's failure: a code for the host and a message that must not hold
/// secrets (it is also logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self { code: ErrorCode::InvalidRequest, message: message.into() }
    }

    pub fn not_initialized() -> Self {
        Self {
            code: ErrorCode::NotInitialized,
            message: "InitializeApplication must succeed before this call".into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self { code: ErrorCode::Internal, message: message.into() }
    }

    /// Only the guard builds these, from a caught panic's message.
    pub(crate) fn panic(message: impl Into<String>) -> Self {
        Self { code: ErrorCode::Panic, message: message.into() }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl std::error::Error for ApiError {}
