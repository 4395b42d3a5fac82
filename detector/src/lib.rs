//! Kyoka's detector: syslog from agents in, one typed observation per
//! service log line, rules over observations, attackers and the policy
//! version in Redis, and the signed policy API agents pull and stream from.
//!
//! Start one with [`Detector::start`]; read the shared state (policy,
//! detections, agents) with [`state::Store`] and [`agents`].

pub mod agents;
pub mod api;
pub mod config;
mod detector;
pub mod error;
pub mod normalise;
pub mod observation;
pub mod pipeline;
pub mod rules;
pub mod state;
pub mod syslog;
pub mod watch;
pub mod whitelist;

pub use config::{Config, FileConfig, SyslogTls};
pub use detector::Detector;
pub use error::{Error, Result};
pub use normalise::Normaliser;
pub use observation::{Kind, Observation, Service};
