//! Keeps the agent up to date with the detector: the push stream first,
//! reopened with backoff when it breaks, with one GET right after each
//! (re)connect to catch up; polling only while the stream is down.

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use model::policy::Policy;

use crate::client::{PolicyClient, StreamItem};

pub struct FollowConfig {
    pub poll_interval: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

/// Runs until `tx`'s receiver is gone. Every verified policy is sent;
/// deciding whether it is newer is the receiver's job.
pub fn follow(client: PolicyClient, config: FollowConfig, tx: Sender<Policy>) {
    let mut backoff = config.reconnect_min;
    let mut last_poll: Option<Instant> = None;
    loop {
        match client.open_stream() {
            Ok(mut stream) => {
                tracing::info!("policy stream open");
                // Subscribe first, then read the current policy once: any
                // change after this GET is pushed, so nothing falls between.
                match client.fetch_policy() {
                    Ok(policy) => {
                        if tx.send(policy).is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "policy fetch after (re)connect failed"),
                }
                loop {
                    match stream.next_item() {
                        Ok(Some(StreamItem::Policy(policy))) => {
                            // A verified message: the stream is healthy.
                            backoff = config.reconnect_min;
                            if tx.send(policy).is_err() {
                                return;
                            }
                        }
                        Ok(Some(StreamItem::Refused(why))) => {
                            tracing::warn!(reason = %why, "pushed policy refused");
                        }
                        Ok(None) => {
                            tracing::warn!("policy stream closed by the detector");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "policy stream broke");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "policy stream unavailable"),
        }
        // Fallback while the stream is down: one poll per poll interval.
        if last_poll.is_none_or(|t| t.elapsed() >= config.poll_interval) {
            last_poll = Some(Instant::now());
            match client.fetch_policy() {
                Ok(policy) => {
                    if tx.send(policy).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "policy poll failed"),
            }
        }
        std::thread::sleep(jitter(backoff));
        backoff = (backoff * 2).min(config.reconnect_max);
    }
}

/// 75–100 % of `d`, so that many agents do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d.mul_f64(0.75 + 0.25 * (nanos % 1000) as f64 / 1000.0)
}

/// Accepts only policies newer than the one enforced: an agent never goes
/// back to a lower version (a replayed or reordered message changes nothing).
#[derive(Debug, Default)]
pub struct VersionGate {
    pub current: u64,
}

impl VersionGate {
    pub fn newer(&self, policy: &Policy) -> bool {
        policy.version > self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::policy::{Mode, Whitelist};

    #[test]
    fn only_newer_versions_pass() {
        let p = |version| Policy {
            version,
            mode: Mode::Unreal,
            whitelist: Whitelist::default(),
            attackers: vec![],
            default_sandbox: None,
        };
        let gate = VersionGate { current: 5 };
        assert!(!gate.newer(&p(4)));
        assert!(!gate.newer(&p(5)));
        assert!(gate.newer(&p(6)));
    }

    #[test]
    fn jitter_stays_in_range() {
        let d = jitter(Duration::from_millis(1000));
        assert!(d >= Duration::from_millis(750) && d <= Duration::from_millis(1000));
    }
}
