//! Per-attacker sandboxes through Docker (bollard). A sandbox is one bridge
//! network (`kyk-*`) with one container per service, all labelled
//! `kyoka.sandbox`, `kyoka.attacker`, `kyoka.service`; Docker is the only
//! state, so the CLI and the service agree and a restart re-adopts.
//!
//! - [`orchestrator`]: create, assign (existing → warm pool → cold →
//!   shared past the maximum), freeze/thaw, destroy with evidence.
//! - [`containment`]: the firewall that keeps sandboxes in.
//! - [`hostkeys`]: RSA host keys made ahead for cold sandboxes.
//! - [`activity`]: idle → frozen → destroyed.
//! - [`publish`] and [`service`]: the Redis contract with detector and agents.
//! - [`syslog`]: daemon logs to the detector.
//! - [`capture`]: every assigned sandbox's bridge captured into the data
//!   folder, flows tagged with the sandbox and put in its attacker's session.

pub mod activity;
pub mod assign_lock;
pub mod capture;
pub mod config;
pub mod containment;
pub mod error;
pub mod evidence;
pub mod hostkeys;
pub mod labels;
pub mod orchestrator;
pub mod probe;
pub mod publish;
pub mod sandbox;
pub mod service;
pub mod services;
pub mod subnets;
pub mod syslog;

pub use config::Config;
pub use error::{Error, Result};
pub use orchestrator::Orchestrator;
pub use sandbox::{Assignment, SandboxInfo, State};
