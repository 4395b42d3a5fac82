//! Errors of the data folder: store, index, queries and the operations on them.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The I/O error is part of the message (not a `source`), so that it is
    /// printed once.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("store file {path} is damaged at byte {offset}: {reason}")]
    CorruptStore {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("manifest {path} is damaged: {reason}")]
    CorruptManifest { path: PathBuf, reason: String },
    #[error("index {path}: {message}")]
    Index { path: PathBuf, message: String },
    #[error("bad query at column {column}: {message}\n  {query}\n  {marker}^")]
    Query {
        query: String,
        /// 1-based character position.
        column: usize,
        marker: String,
        message: String,
    },
    #[error("another kyoka process is using {0} (its lock file is held)")]
    Locked(PathBuf),
    #[error(transparent)]
    Capture(#[from] crate::Error),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { path, error }
    }

    pub fn query(query: &str, at: usize, message: impl Into<String>) -> Error {
        let column = query[..at.min(query.len())].chars().count() + 1;
        Error::Query {
            query: query.to_string(),
            column,
            marker: " ".repeat(column - 1),
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
