//! The detector's shared state in Redis (flagged attackers, their
//! sandboxes, detections, the policy, agents), read and changed through the
//! detector's own library so that a hand-made flag takes the same atomic
//! path as a detection: the policy version bumps and agents get the push.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::StatusCode;
use detector::state::Store;
use serde_json::{json, Value};

use crate::error::AppError;
use crate::state::AppState;

/// How long a first connection may take before the page says Redis is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one command (a whole policy read) may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest hand-made flag: a year.
pub const MAX_FLAG_SECONDS: u64 = 366 * 24 * 3600;
/// Detections shown on a page.
pub const DETECTIONS_SHOWN: usize = 50;

/// What to tell the user when there is no detector to read.
pub const HOW_TO_CONNECT: &str =
    "no detector connected: start the UI with `kyoka ui --redis redis://HOST:6379/` (the detector's Redis)";

fn unavailable(message: impl Into<String>) -> AppError {
    AppError::new(StatusCode::SERVICE_UNAVAILABLE, message)
}

/// A failure of the detector's Redis: logged in full, answered as 503.
pub fn redis_failed(e: detector::Error) -> AppError {
    tracing::warn!(error = %e, "detector state");
    unavailable("the detector's Redis did not answer (see the server log)")
}

impl AppState {
    /// The detector's store, connected on first use (the detector may start
    /// after the UI) and kept; 503 without `--redis` or when Redis is down.
    pub async fn detector(&self) -> Result<Store, AppError> {
        let Some(url) = self.config().redis_url.clone() else {
            return Err(unavailable(HOW_TO_CONNECT));
        };
        let mut slot = self.detector_slot().lock().await;
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let store = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&url)).await {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "connecting to the detector's Redis");
                return Err(unavailable("cannot reach the detector's Redis (see the server log)"));
            }
            Err(_) => return Err(unavailable("cannot reach the detector's Redis (no answer in 3 s)")),
        };
        *slot = Some(store.clone());
        Ok(store)
    }
}

/// A connection that waits [`RESPONSE_TIMEOUT`] for an answer: reading a
/// policy of 100,000 attackers takes Redis longer than the client's default
/// 500 ms.
async fn connect(url: &str) -> Result<Store, detector::Error> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_number_of_retries(1);
    let conn = redis::Client::open(url)?.get_connection_manager_with_config(config).await?;
    Ok(Store::with_connection(conn))
}

/// An address from a form or a path, with a clear 400 otherwise.
pub fn address(text: &str) -> Result<IpAddr, AppError> {
    text.trim()
        .parse()
        .map_err(|_| AppError::bad_request(format!("{:?} is not an IP address", crate::pages::cut(text.to_string(), 60))))
}

/// A flag's duration in seconds, from 1 to [`MAX_FLAG_SECONDS`].
pub fn flag_seconds(seconds: Option<u64>) -> Result<u64, AppError> {
    match seconds.unwrap_or(24 * 3600) {
        s @ 1..=MAX_FLAG_SECONDS => Ok(s),
        _ => Err(AppError::bad_request(format!("seconds must be from 1 to {MAX_FLAG_SECONDS}"))),
    }
}

/// Flags by hand; the new policy version.
pub async fn flag(st: &AppState, address: IpAddr, seconds: u64, by: &str) -> Result<u64, AppError> {
    let store = st.detector().await?;
    let version = store.flag(address, seconds, by).await.map_err(redis_failed)?;
    tracing::info!(%address, seconds, by, version, "attacker flagged by hand");
    Ok(version)
}

/// Unflags by hand; the new policy version, 404 when it was not flagged.
pub async fn unflag(st: &AppState, address: IpAddr, by: &str) -> Result<u64, AppError> {
    let store = st.detector().await?;
    match store.unflag(address).await.map_err(redis_failed)? {
        0 => Err(AppError::not_found()),
        version => {
            tracing::info!(%address, by, version, "attacker unflagged by hand");
            Ok(version)
        }
    }
}

/// Unix seconds now (this host's clock; the detector uses Redis').
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `2026-11-26 00:44:06Z`; empty for 0.
pub fn time(unix: i64) -> String {
    if unix == 0 {
        return String::new();
    }
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// `12 s ago`, `5 min ago`, `in 3 h`: how far `unix` is from `now`.
pub fn age(unix: i64, now: i64) -> String {
    let d = now - unix;
    let n = d.unsigned_abs();
    let span = match n {
        0..60 => format!("{n} s"),
        60..3600 => format!("{} min", n / 60),
        3600..172_800 => format!("{} h", n / 3600),
        _ => format!("{} d", n / 86_400),
    };
    if d >= 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

/// A sandbox as one line: `sb-1: ftp 172.18.0.2:21, ssh 172.18.0.3:22`.
pub fn sandbox_text(s: &model::policy::Sandbox) -> String {
    let endpoints: Vec<String> = s
        .endpoints
        .iter()
        .map(|e| format!("{} {}", e.service, std::net::SocketAddr::new(e.address, e.port)))
        .collect();
    format!("{}: {}", s.id, endpoints.join(", "))
}

/// The attackers' JSON (also what the page shows).
pub async fn attackers_json(st: &AppState) -> Result<Value, AppError> {
    let store = st.detector().await?;
    let policy = store.policy().await.map_err(redis_failed)?;
    Ok(json!({
        "version": policy.version,
        "mode": policy.mode,
        "attackers": policy.attackers,
        "default_sandbox": policy.default_sandbox,
    }))
}
