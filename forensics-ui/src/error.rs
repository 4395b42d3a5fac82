//! Errors of the UI library ([`Error`]) and the one error every handler
//! returns ([`AppError`]), which never shows internals to the client.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {error}")]
    Io {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is damaged: {reason}")]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl Error {
    pub fn io(path: impl Into<std::path::PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a handler answers when it cannot do what was asked. Pages and the
/// JSON API share it: `page` picks a redirect to the sign-in page (401)
/// or a small text page instead of JSON.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    /// Safe to show: never a path, a backtrace or an internal message.
    pub message: String,
    /// 1-based column of a query error.
    pub column: Option<usize>,
    pub page: bool,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl AppError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> AppError {
        AppError {
            status,
            message: message.into(),
            column: None,
            page: false,
            retry_after: None,
        }
    }
    pub fn unauthorized() -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, "sign in first")
    }
    pub fn forbidden() -> AppError {
        AppError::new(StatusCode::FORBIDDEN, "your role may not do this")
    }
    pub fn not_found() -> AppError {
        AppError::new(StatusCode::NOT_FOUND, "not found")
    }
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, message)
    }
    /// An internal failure: logged here in full, answered as a bare 500.
    pub fn internal(e: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %e, "request failed");
        AppError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error (see the server log)")
    }
    pub fn page(mut self) -> AppError {
        self.page = true;
        self
    }
}

impl From<capture::store::Error> for AppError {
    fn from(e: capture::store::Error) -> AppError {
        use capture::store::Error as E;
        match e {
            E::Query {
                column, message, ..
            } => AppError {
                column: Some(column),
                ..AppError::bad_request(message)
            },
            E::Io { ref error, .. } if error.kind() == std::io::ErrorKind::NotFound => {
                AppError::new(StatusCode::SERVICE_UNAVAILABLE, "no data yet: run `kyoka ingest`")
            }
            other => AppError::internal(other),
        }
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> AppError {
        match e {
            Error::Invalid(m) => AppError::bad_request(m),
            other => AppError::internal(other),
        }
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> AppError {
        AppError::internal(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if self.page && self.status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/login").into_response();
        }
        let mut r = if self.page {
            // Plain text: whatever the message holds is never markup.
            (
                self.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{} {}\n", self.status.as_u16(), self.message),
            )
                .into_response()
        } else {
            let mut body = serde_json::json!({ "error": self.message });
            if let Some(c) = self.column {
                body["column"] = c.into();
            }
            (self.status, axum::Json(body)).into_response()
        };
        if let Some(s) = self.retry_after {
            if let Ok(v) = s.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}
