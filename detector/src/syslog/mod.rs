//! Syslog in: UDP and TCP listeners, framing, parsing (RFC 3164 and 5424 via
//! `syslog_loose`), per-source rate limits and counters. Parsed lines go to
//! the pipeline through a bounded channel: TCP waits when it is full (the
//! sender's own buffers and spool take the pressure, nothing is lost), UDP
//! drops and counts.

pub mod framing;
mod listener;
mod ratelimit;
pub mod tls;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

pub use listener::{spawn_tcp, spawn_tls, spawn_udp, SyslogLimits};
pub use ratelimit::RateLimiter;

/// One syslog message, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Who sent it (the agent's host, not the attacker).
    pub peer: IpAddr,
    /// HOSTNAME field, when present.
    pub hostname: Option<String>,
    /// APP-NAME (5424) or TAG (3164): picks the normaliser.
    pub app: Option<String>,
    /// The daemon's own line.
    pub msg: String,
}

/// Why a frame was not parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garbage {
    /// No `<PRI>` at the start.
    NoPriority,
    /// Nothing after the header.
    Empty,
}

/// Parses one frame. Invalid UTF-8 is replaced (U+FFFD), never refused: an
/// attacker's user name may be any bytes.
pub fn parse(peer: IpAddr, frame: &[u8]) -> Result<LogLine, Garbage> {
    let text = String::from_utf8_lossy(frame);
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    let Some(after_pri) = after_priority(text) else {
        return Err(Garbage::NoPriority);
    };
    if after_pri.trim().is_empty() {
        return Err(Garbage::Empty);
    }
    let parsed = syslog_loose::parse_message(text, syslog_loose::Variant::Either);
    let msg = parsed.msg.trim_end_matches(['\r', '\n']);
    if msg.is_empty() {
        return Err(Garbage::Empty);
    }
    let nil = |s: Option<&str>| s.filter(|s| !s.is_empty() && *s != "-").map(str::to_owned);
    Ok(LogLine {
        peer,
        hostname: nil(parsed.hostname),
        app: nil(parsed.appname),
        msg: msg.to_owned(),
    })
}

/// The text after `<PRI>`, if it starts with one.
fn after_priority(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('<')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    ((1..=3).contains(&digits) && rest.as_bytes().get(digits) == Some(&b'>'))
        .then(|| &rest[digits + 1..])
}

/// What the receiver saw. `received = accepted + dropped + oversized + garbage`
/// once the pipeline has caught up.
#[derive(Debug, Default)]
pub struct Stats {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub dropped: AtomicU64,
    pub oversized: AtomicU64,
    pub garbage: AtomicU64,
    /// Lines the pipeline has normalised and matched (and counted in Redis).
    pub processed: AtomicU64,
    pub observations: AtomicU64,
    pub detections: AtomicU64,
    pub tcp_connections: AtomicU64,
    /// TLS connections dropped before their handshake completed (plain
    /// text on the TLS port, a bad or no certificate, a timeout).
    pub tls_failures: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    pub received: u64,
    pub accepted: u64,
    pub dropped: u64,
    pub oversized: u64,
    pub garbage: u64,
    pub processed: u64,
    pub observations: u64,
    pub detections: u64,
    pub tcp_connections: u64,
    #[serde(default)]
    pub tls_failures: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            received: get(&self.received),
            accepted: get(&self.accepted),
            dropped: get(&self.dropped),
            oversized: get(&self.oversized),
            garbage: get(&self.garbage),
            processed: get(&self.processed),
            observations: get(&self.observations),
            detections: get(&self.detections),
            tcp_connections: get(&self.tcp_connections),
            tls_failures: get(&self.tls_failures),
        }
    }

    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Datagrams the kernel dropped on the UDP socket bound to `port` (its
/// receive buffer was full before the detector read them), from the `drops`
/// column of `/proc/net/udp` and `/proc/net/udp6`. None where there is no
/// such file (not Linux) or no such socket.
pub fn kernel_udp_drops(port: u16) -> Option<u64> {
    let port_hex = format!(":{port:04X}");
    let mut found = None;
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields
                .get(1)
                .is_some_and(|local| local.ends_with(&port_hex))
            {
                let drops = fields
                    .last()
                    .and_then(|d| d.parse::<u64>().ok())
                    .unwrap_or(0);
                found = Some(found.unwrap_or(0) + drops);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn rfc5424_and_3164_give_app_and_message() {
        let l = parse(PEER, b"<38>1 2026-11-25T21:00:00Z web1 sshd 123 - - Failed password for root from 203.0.113.9 port 4000 ssh2").unwrap();
        assert_eq!(l.app.as_deref(), Some("sshd"));
        assert_eq!(l.hostname.as_deref(), Some("web1"));
        assert!(l.msg.starts_with("Failed password"), "{l:?}");
        let l = parse(
            PEER,
            b"<38>Nov 25 21:00:00 web1 sshd[123]: Invalid user bob from 203.0.113.9 port 4000",
        )
        .unwrap();
        assert_eq!(l.app.as_deref(), Some("sshd"));
        assert_eq!(l.msg, "Invalid user bob from 203.0.113.9 port 4000");
    }

    #[test]
    fn garbage_and_non_utf8_are_errors_or_replaced_not_panics() {
        assert_eq!(parse(PEER, b"hello"), Err(Garbage::NoPriority));
        assert_eq!(parse(PEER, b""), Err(Garbage::NoPriority));
        assert_eq!(parse(PEER, b"<99999>x"), Err(Garbage::NoPriority));
        let l = parse(PEER, b"<13>1 - - app - - - user \xff\xfe name").unwrap();
        assert!(l.msg.contains('\u{fffd}'));
        for bytes in [&b"<1>"[..], b"<13>1", b"<13>1 \xff \xff \xff", b"<0>\0\0\0"] {
            let _ = parse(PEER, bytes);
        }
    }
}
