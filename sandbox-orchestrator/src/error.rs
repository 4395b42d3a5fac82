//! Errors of the orchestrator library.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("Docker engine: {0} (is dockerd running and its socket readable?)")]
    Docker(#[from] bollard::errors::Error),
    #[error("sandbox image {image} is missing: run `bash images/build.sh` first")]
    MissingImage { image: String },
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("bad configuration: {0}")]
    Config(String),
    #[error("firewall ({command}): {message}")]
    Firewall { command: String, message: String },
    #[error("no sandbox {0}")]
    NotFound(String),
    #[error("no free subnet left in {0}")]
    NoSubnet(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
