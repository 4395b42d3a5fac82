//! Everything that can go wrong while serving one client. None of it stops
//! the decoy: a bad message ends that client's connection only.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("message of {0} bytes is over the limit")]
    TooLarge(usize),
    #[error("unsupported opcode {0}")]
    UnsupportedOpcode(i32),
    #[error("bad BSON: {0}")]
    Bson(String),
}

pub type Result<T> = std::result::Result<T, Error>;
