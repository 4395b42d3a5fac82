//! kyoka-agent: runs on a production host. Ships the services' logs to the
//! detector, follows the detector's signed policy and enforces it with the
//! agent's own nftables table. See `docs/agent.md`.

pub mod client;
pub mod config;
pub mod enforce;
pub mod error;
pub mod follow;
pub mod http;
pub mod nft;
pub mod plan;
pub mod run;
pub mod ship;
pub mod sse;
pub mod store;

pub use error::{Error, Result};
