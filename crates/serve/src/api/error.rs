//! Errors as the API answers them: `{"error": {"code": "...", "message": "..."}}` with a stable
//! machine-readable [`ErrorCode`] (clients match on it; the message is for people) and the
//! HTTP status that goes with it. This is the one place where failures become HTTP answers;
//! unexpected ones are logged and answered as `internal`.

use crate::sql::SqlError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Stable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The body is not valid JSON (400).
    MalformedJson,
    /// Valid JSON of the wrong shape: unknown or missing fields, wrong types (422).
    InvalidRequest,
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// The body is larger than the server accepts (413).
    PayloadTooLarge,
    /// More pairs in a batch than the server accepts (413).
    BatchTooLarge,
    /// A batch without pairs (422).
    EmptyBatch,
    /// A path parameter of the wrong type (400).
    InvalidPath,
    /// A query parameter of the wrong type or out of range (400).
    InvalidQuery,
    /// No such route (404).
    NotFound,
    /// The route exists, the method does not (405).
    MethodNotAllowed,
    /// No such model or version (404).
    ModelNotFound,
    /// A missing or wrong token (401).
    Unauthorized,
    /// The SQL text could not be parsed (400).
    SqlParseError,
    /// Not a single read-only query: DDL, DML, `COPY`, `SET`, ... (403).
    SqlNotReadOnly,
    /// Several statements (400).
    SqlMultipleStatements,
    /// No statement (400).
    SqlEmpty,
    /// The SQL text is longer than the limit (413).
    SqlTooLong,
    /// The query ran longer than the limit and was cancelled (408).
    SqlTimeout,
    /// Too many queries running (429).
    SqlBusy,
    /// Planning or execution failed: unknown table, type error, memory limit (400).
    SqlError,
    /// The server failed (500).
    Internal,
}

impl ErrorCode {
    /// The HTTP status of this code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::MalformedJson
            | ErrorCode::InvalidPath
            | ErrorCode::InvalidQuery
            | ErrorCode::SqlParseError
            | ErrorCode::SqlMultipleStatements
            | ErrorCode::SqlEmpty
            | ErrorCode::SqlError => StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest | ErrorCode::EmptyBatch => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::PayloadTooLarge | ErrorCode::BatchTooLarge | ErrorCode::SqlTooLong => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ErrorCode::NotFound | ErrorCode::ModelNotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::SqlNotReadOnly => StatusCode::FORBIDDEN,
            ErrorCode::SqlTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::SqlBusy => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Stable code (decides the status).
    pub code: ErrorCode,
    /// Message.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into() }
    }

    /// An unexpected failure: logged with its causes, answered without them.
    pub fn internal(e: &dyn std::error::Error) -> Self {
        tracing::error!(error = crate::reload::error_chain(e), "internal error");
        ApiError::new(ErrorCode::Internal, "internal error; see the server log")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        (self.code.status(), Json(body)).into_response()
    }
}

impl From<SqlError> for ApiError {
    fn from(e: SqlError) -> Self {
        let code = match &e {
            SqlError::Empty => ErrorCode::SqlEmpty,
            SqlError::TooLong { .. } => ErrorCode::SqlTooLong,
            SqlError::Parse(_) => ErrorCode::SqlParseError,
            SqlError::MultipleStatements(_) => ErrorCode::SqlMultipleStatements,
            SqlError::NotReadOnly(_) => ErrorCode::SqlNotReadOnly,
            SqlError::Timeout(_) => ErrorCode::SqlTimeout,
            SqlError::Busy(_) => ErrorCode::SqlBusy,
            SqlError::Failed(_) => ErrorCode::SqlError,
            SqlError::Task(_) => return ApiError::internal(&e),
        };
        ApiError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_in_snake_case_with_their_status() {
        let e = ApiError::new(ErrorCode::BatchTooLarge, "too many");
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(serde_json::to_value(ErrorCode::SqlNotReadOnly).expect("json"), "sql_not_read_only");
        assert_eq!(ApiError::from(SqlError::Busy(2)).code, ErrorCode::SqlBusy);
        assert_eq!(ErrorCode::SqlTimeout.status(), StatusCode::REQUEST_TIMEOUT);
    }
}
