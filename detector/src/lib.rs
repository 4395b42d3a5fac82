//! Kyoka's detector: syslog from agents in, one typed observation per
//! service log line, rules over observations, attackers and the policy
//! version in Redis, and the signed policy API agents pull and stream from.

pub mod error;
pub mod syslog;

pub use error::{Error, Result};
pub mod normalise;
pub mod observation;

pub use normalise::Normaliser;
pub use observation::{Kind, Observation, Service};
pub mod rules;
pub mod whitelist;
pub mod state;
pub mod agents;
pub mod pipeline;
pub mod watch;
pub mod api;
pub mod config;
mod detector;

pub use config::{Config, FileConfig};
pub use detector::Detector;
