//! A real Redis per test, on a Unix socket in its own folder (no ports to
//! collide with other tests), and small helpers to speak syslog.
#![allow(dead_code)]

mod redis;
pub use redis::Redis;

use std::time::{Duration, Instant};

/// An RFC 5424 line from `app`.
pub fn rfc5424(app: &str, msg: &str) -> String {
    format!("<38>1 2026-11-25T21:00:00.000Z prod1 {app} 100 - - {msg}")
}

/// Waits until `cond` holds or panics after `secs`.
pub async fn until(secs: u64, what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
