use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read capture {path}: {message}")]
    BadCapture { path: PathBuf, message: String },
    #[error("capture device {device}: {message}")]
    Device { device: String, message: String },
    #[error("unsupported link type {0}")]
    UnsupportedLinkType(i32),
    #[error("artifact store: {0}")]
    Artifact(#[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
