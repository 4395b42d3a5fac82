//! Idle sandboxes are frozen, then destroyed. Activity is read from the
//! byte counters of the sandbox's bridge on the host (every packet an
//! attacker sends in or gets back crosses it): cheap, no engine call.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::orchestrator::Orchestrator;
use crate::sandbox::State;

fn counter(bridge: &str, name: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{bridge}/statistics/{name}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

pub fn bridge_bytes(bridge: &str) -> u64 {
    counter(bridge, "rx_bytes") + counter(bridge, "tx_bytes")
}

/// Last byte count and when it last changed, per sandbox.
#[derive(Default)]
pub struct Activity {
    seen: HashMap<String, (u64, Instant)>,
}

/// What one reaper pass did.
#[derive(Debug, Default)]
pub struct Reaped {
    pub frozen: Vec<String>,
    pub thawed: Vec<String>,
    /// (sandbox, attacker label, evidence folder)
    pub destroyed: Vec<(String, Option<String>, Option<std::path::PathBuf>)>,
}

impl Activity {
    /// How long the sandbox has been quiet.
    pub fn idle(&mut self, id: &str, bytes: u64, now: Instant) -> Duration {
        let entry = self.seen.entry(id.to_string()).or_insert((bytes, now));
        if entry.0 != bytes {
            *entry = (bytes, now);
        }
        now.duration_since(entry.1)
    }

    pub fn forget(&mut self, id: &str) {
        self.seen.remove(id);
    }

    /// One pass over the assigned sandboxes.
    pub async fn reap(&mut self, o: &Orchestrator) -> Result<Reaped> {
        let freeze_after = Duration::from_secs(o.config.idle_freeze_after_secs);
        let destroy_after = Duration::from_secs(o.config.idle_destroy_after_secs);
        let mut done = Reaped::default();
        let now = Instant::now();
        for sb in o.sandboxes().await? {
            if sb.attacker.is_none() || sb.state == State::Broken {
                continue;
            }
            let idle = self.idle(&sb.id, bridge_bytes(&sb.bridge), now);
            if idle >= destroy_after {
                let evidence = o.destroy(&sb.id).await?;
                self.forget(&sb.id);
                done.destroyed.push((sb.id.clone(), sb.attacker.clone(), evidence));
            } else if idle >= freeze_after && sb.state == State::Active {
                o.freeze(&sb).await?;
                done.frozen.push(sb.id.clone());
            } else if idle < freeze_after && sb.state == State::Frozen {
                // Traffic reached a frozen sandbox: wake it for its attacker.
                o.thaw(&sb).await?;
                done.thawed.push(sb.id.clone());
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_restarts_when_bytes_move() {
        let mut a = Activity::default();
        let t0 = Instant::now();
        assert_eq!(a.idle("x", 10, t0), Duration::ZERO);
        assert_eq!(a.idle("x", 10, t0 + Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(a.idle("x", 11, t0 + Duration::from_secs(6)), Duration::ZERO);
    }
}
