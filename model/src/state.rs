//! Names of the shared state in Redis, in one place: the detector writes
//! attackers and the policy version, the orchestrator writes sandboxes, the
//! UI reads both. Every key starts with [`PREFIX`] so one Redis can be shared.

use std::net::IpAddr;

pub const PREFIX: &str = "kyoka:";

/// Sorted set: attacker address → expiry (Unix seconds).
pub const ATTACKERS: &str = "kyoka:attackers";
/// Hash per attacker: `reason`, `since`, `expires` (a [`crate::policy::Attacker`] without sandbox).
pub fn attacker(address: IpAddr) -> String {
    format!("kyoka:attacker:{address}")
}
/// String per attacker: JSON of the [`crate::policy::Sandbox`] it was given.
/// Written by the sandbox orchestrator; a write bumps [`POLICY_VERSION`] and
/// publishes on [`POLICY_CHANGED`].
pub fn sandbox_of(address: IpAddr) -> String {
    format!("kyoka:sandbox:{address}")
}
/// String: JSON of the [`crate::policy::Sandbox`] honeypot mode sends everyone else to.
pub const DEFAULT_SANDBOX: &str = "kyoka:sandbox:default";
/// Counter: the policy version, incremented on every change.
pub const POLICY_VERSION: &str = "kyoka:policy:version";
/// Pub/sub channel: the new policy version, published after each change.
pub const POLICY_CHANGED: &str = "kyoka:policy:changed";
/// Stream: one entry per detection (newest last), for the UI.
pub const DETECTIONS: &str = "kyoka:detections";
/// Hash: agent id → JSON of the agent's record (name, key, revoked, last heartbeat).
pub const AGENTS: &str = "kyoka:agents";
