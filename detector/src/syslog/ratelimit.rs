//! Per-source token buckets. The table is bounded: when it is full, buckets
//! that have refilled completely (idle sources) are forgotten first, and if
//! none has, the table starts over (every source gets a full bucket).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MAX_SOURCES: usize = 65_536;

#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `per_second` messages a second from one source, bursts of `burst`.
    /// Zero means no limit.
    pub fn new(per_second: u64, burst: u64) -> RateLimiter {
        RateLimiter {
            per_second: per_second as f64,
            burst: burst.max(1) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `n` tokens from `source`'s bucket. `Ok` when there were enough;
    /// otherwise `Err(wait)`: how long until they are (the tokens are not taken).
    pub fn take(&self, source: IpAddr, n: u64) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&source) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
            if buckets.len() >= MAX_SOURCES {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = (bucket.tokens
            + now.duration_since(bucket.at).as_secs_f64() * self.per_second)
            .min(self.burst);
        bucket.at = now;
        let want = n as f64;
        if bucket.tokens >= want {
            bucket.tokens -= want;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (want - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_source_waits_and_others_do_not() {
        let limiter = RateLimiter::new(10, 5);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(limiter.take(a, 1), Ok(()));
        }
        assert!(limiter.take(a, 1).is_err());
        assert_eq!(limiter.take(b, 1), Ok(()));
        assert_eq!(RateLimiter::new(0, 0).take(a, 1_000_000), Ok(()));
    }
}
