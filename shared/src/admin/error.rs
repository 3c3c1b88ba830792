//! Every way an admin request can fail, each mapped to exactly one HTTP status, here and nowhere
//! else. Messages say what the caller can act on; internal errors are logged, never returned.

use serde_json::{json, Value};

use super::caller::AuthError;
use crate::events::FieldError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdminError {
    #[error("unauthorized: {0}")]
    Unauthorized(AuthError),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the body must be a JSON object (content-type application/json)")]
    UnsupportedMediaType,
    #[error("the body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// The change lost to another one (or was already made): what is there now.
    #[error("conflict: {message}")]
    Conflict { message: String, current: Value },
    /// The resolution would write more items than one transaction holds (a review holding
    /// dozens of commissions): nothing was written.
    #[error("the resolution would write {0} items; one transaction holds at most 100")]
    TooManyWrites(usize),
    /// The store could not be reached or refused: try again.
    #[error("unavailable")]
    Unavailable,
    /// Something stored cannot be read: logged with its detail, answered without it.
    #[error("internal error")]
    Internal,
}

impl AdminError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AdminError::Invalid(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> u16 {
        match self {
            AdminError::Unauthorized(_) => 401,
            AdminError::Forbidden(_) => 403,
            AdminError::NotFound(_) => 404,
            AdminError::MethodNotAllowed => 405,
            AdminError::Conflict { .. } => 409,
            AdminError::TooLarge(_) => 413,
            AdminError::UnsupportedMediaType => 415,
            AdminError::Invalid(_) => 400,
            AdminError::TooManyWrites(_) => 422,
            AdminError::Unavailable => 503,
            AdminError::Internal => 500,
        }
    }

    /// The response body: a stable `error` code and a message; field errors listed.
    pub fn body(&self) -> Value {
        match self {
            AdminError::Unauthorized(e) => {
                json!({"error": "unauthorized", "message": e.to_string()})
            }
            AdminError::Forbidden(why) => json!({"error": "forbidden", "message": why}),
            AdminError::NotFound(what) => {
                json!({"error": "not_found", "message": format!("no {what}")})
            }
            AdminError::MethodNotAllowed => {
                json!({"error": "method_not_allowed", "message": self.to_string()})
            }
            AdminError::UnsupportedMediaType => {
                json!({"error": "unsupported_media_type", "message": self.to_string()})
            }
            AdminError::TooLarge(_) => json!({"error": "too_large", "message": self.to_string()}),
            AdminError::Invalid(errors) => json!({"error": "invalid", "errors": errors}),
            AdminError::TooManyWrites(_) => {
                json!({"error": "too_many_writes", "message": self.to_string()})
            }
            AdminError::Conflict { message, current } => {
                json!({"error": "conflict", "message": message, "current": current})
            }
            AdminError::Unavailable => {
                json!({"error": "unavailable", "message": "the store is unavailable; try again"})
            }
            AdminError::Internal => {
                json!({"error": "internal", "message": "an internal error was logged"})
            }
        }
    }
}

impl From<crate::processor::StoreError> for AdminError {
    fn from(e: crate::processor::StoreError) -> Self {
        use crate::processor::StoreError;
        match e {
            // A lost race is answered by the operation that knows what it raced on.
            StoreError::Conflict(_) => AdminError::Conflict {
                message: "the item changed while this request was being made; reload and retry"
                    .into(),
                current: Value::Null,
            },
            StoreError::Throttled(_) | StoreError::Unavailable(_) => AdminError::Unavailable,
            StoreError::Corrupt(detail) => {
                tracing::error!(detail = %detail, "a stored item could not be read");
                AdminError::Internal
            }
        }
    }
}
