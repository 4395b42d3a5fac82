//! Redis keeps commands flagged `admin` (CONFIG, SLAVEOF/REPLICAOF, MODULE,
//! SAVE, …) out of MONITOR, so the takeover the detector's Redis rules look
//! for never shows there. This poller watches their call counts in
//! `INFO commandstats`; when one grows it reads `CLIENT LIST`, and every
//! connection whose last command is that one is shipped as a MONITOR-style
//! line (`TIME [0 ADDR] "CONFIG" "SET"`) the detector's normaliser reads.
//! It sees the client only while its connection is open and the admin
//! command is still its last one: it narrows the gap, it cannot close it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::RedisMonitorConfig;
use crate::ship::redis::{authenticate, command, connect};

/// Commands watched (`INFO commandstats` and `CLIENT LIST` names) and the
/// words the shipped line gives them.
pub const WATCHED: &[(&str, &[&str])] = &[
    ("config|set", &["CONFIG", "SET"]),
    ("slaveof", &["SLAVEOF"]),
    ("replicaof", &["REPLICAOF"]),
    ("module|load", &["MODULE", "LOAD"]),
];

/// How often the counts are read.
pub const POLL: Duration = Duration::from_millis(200);

/// Largest reply read (a `CLIENT LIST` of many thousand clients fits).
const REPLY_MAX: usize = 16 << 20;

/// `cmdstat_NAME:calls=N,…` lines → calls per watched command.
pub fn calls(info: &str) -> HashMap<&'static str, u64> {
    let mut out = HashMap::new();
    for line in info.lines() {
        let Some((name, stats)) = line
            .trim()
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let Some((watched, _)) = WATCHED.iter().find(|(w, _)| w.eq_ignore_ascii_case(name)) else {
            continue;
        };
        let n = stats
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        out.insert(*watched, n);
    }
    out
}

/// The `addr=` of every client in `CLIENT LIST` whose last command is `cmd`.
pub fn clients_running<'a>(list: &'a str, cmd: &str) -> Vec<&'a str> {
    list.lines()
        .filter(|l| {
            l.split(' ').any(|f| {
                f.strip_prefix("cmd=")
                    .is_some_and(|c| c.eq_ignore_ascii_case(cmd))
            })
        })
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("addr=")))
        .collect()
}

/// A line in MONITOR's format for one client seen running `words`.
pub fn line(unix_seconds: f64, addr: &str, words: &[&str]) -> String {
    let mut out = format!("{unix_seconds:.6} [0 {addr}]");
    for w in words {
        out.push_str(&format!(" \"{w}\""));
    }
    out
}

/// The poller's own connection as Redis names it (`ADDR:PORT`): its
/// `INFO` calls show in MONITOR, and the MONITOR shipper leaves them out.
pub type Own = Arc<Mutex<Option<String>>>;

/// Whether a MONITOR line is one of the poller's own commands.
pub fn is_own(own: &Own, monitor_line: &[u8]) -> bool {
    let Ok(guard) = own.lock() else {
        return false;
    };
    let Some(addr) = guard.as_deref() else {
        return false;
    };
    let needle = format!(" {addr}] ");
    monitor_line
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Runs forever; reconnects with backoff.
pub fn run(
    config: RedisMonitorConfig,
    own: Own,
    emit: &mut dyn FnMut(&[u8]),
    backoff_min: Duration,
    backoff_max: Duration,
) {
    let mut backoff = backoff_min;
    loop {
        if let Err(e) = session(&config, &own, emit, &mut backoff, backoff_min) {
            tracing::warn!(address = %config.address, error = %e, "redis admin-command poll failed");
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(backoff_max);
    }
}

fn session(
    config: &RedisMonitorConfig,
    own: &Own,
    emit: &mut dyn FnMut(&[u8]),
    backoff: &mut Duration,
    backoff_min: Duration,
) -> std::io::Result<()> {
    let (mut conn, mut reader) = connect(config)?;
    if let Ok(mut guard) = own.lock() {
        *guard = Some(conn.local_addr()?.to_string());
    }
    authenticate(config, &mut conn, &mut reader)?;
    *backoff = backoff_min;
    let mut ask = |args: &[&str]| -> std::io::Result<String> {
        conn.write_all(&command(args))?;
        bulk(&mut reader)
    };
    // What ran before the agent started is not news.
    let mut seen = calls(&ask(&["INFO", "commandstats"])?);
    loop {
        std::thread::sleep(POLL);
        let now = calls(&ask(&["INFO", "commandstats"])?);
        let grown: Vec<&str> = now
            .iter()
            .filter(|(name, n)| **n > seen.get(*name).copied().unwrap_or(0))
            .map(|(name, _)| *name)
            .collect();
        seen = now;
        if grown.is_empty() {
            continue;
        }
        let list = ask(&["CLIENT", "LIST"])?;
        let time = crate::ship::syslog::now_micros() as f64 / 1e6;
        for name in grown {
            let words = WATCHED
                .iter()
                .find(|(w, _)| *w == name)
                .map(|(_, words)| *words)
                .unwrap_or(&[]);
            let clients = clients_running(&list, name);
            if clients.is_empty() {
                tracing::info!(
                    command = name,
                    "redis admin command ran; its client is gone"
                );
            }
            for addr in clients {
                emit(line(time, addr, words).as_bytes());
            }
        }
    }
}

/// One bulk-string reply (`$N\r\n…\r\n`); an error reply is an error.
fn bulk(reader: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut head = String::new();
    reader.by_ref().take(64).read_line(&mut head)?;
    let n: usize = head
        .trim_end()
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .filter(|n| *n <= REPLY_MAX)
        .ok_or_else(|| std::io::Error::other(format!("unexpected reply {:?}", head.trim_end())))?;
    let mut body = vec![0; n + 2];
    reader.read_exact(&mut body)?;
    body.truncate(n);
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_clients_and_lines() {
        let info = "# Commandstats\r\ncmdstat_config|set:calls=3,usec=10,usec_per_call=3.33,rejected_calls=0,failed_calls=1\r\ncmdstat_get:calls=9,usec=1\r\n";
        assert_eq!(calls(info).get("config|set"), Some(&3));
        assert_eq!(calls(info).len(), 1);
        let list = "id=3 addr=203.0.113.5:40000 laddr=10.0.0.1:6379 fd=8 name= age=1 idle=0 flags=N db=0 cmd=config|set user=default\n\
                    id=4 addr=10.0.0.9:40001 laddr=10.0.0.1:6379 fd=9 name= age=1 idle=0 flags=N db=0 cmd=get user=default\n";
        assert_eq!(
            clients_running(list, "config|set"),
            vec!["203.0.113.5:40000"]
        );
        assert_eq!(
            line(1.5, "203.0.113.5:40000", &["CONFIG", "SET"]),
            r#"1.500000 [0 203.0.113.5:40000] "CONFIG" "SET""#
        );
    }
}
