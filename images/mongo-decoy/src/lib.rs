//! A MongoDB wire-protocol decoy. Debian has no MongoDB server, so the
//! sandboxes run this instead: it answers the handshake, auth (SCRAM),
//! listing, CRUD and cursor commands of real drivers against fake databases
//! and prints one JSON line per command on stdout, which the orchestrator
//! forwards to the detector as syslog.

pub mod commands;
pub mod error;
pub mod scram;
pub mod store;
pub mod wire;

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bson::Bson;

pub use error::{Error, Result};

/// What the decoy says about itself and who may log in.
#[derive(Clone, Debug)]
pub struct Config {
    /// `buildInfo.version`, to match production.
    pub version: String,
    pub hostname: String,
    /// user → password; the same weak pairs as every other sandbox service.
    pub users: Vec<(String, String)>,
}

impl Config {
    pub fn password_of(&self, user: &str) -> Option<&str> {
        self.users.iter().find(|(u, _)| u == user).map(|(_, p)| p.as_str())
    }

    /// Reads `user:password` lines (`#` comments), the format of
    /// `images/credentials.txt`.
    pub fn parse_users(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(':'))
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect()
    }
}

/// One JSON log line. Arguments are cut short: the line is for the
/// detector, the packets keep the rest.
fn log_line(value: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, &value);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

fn summary(doc: &bson::Document) -> String {
    let mut s = Bson::Document(doc.clone()).into_relaxed_extjson().to_string();
    if s.len() > 1024 {
        let mut cut = 1024;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn now() -> String {
    bson::DateTime::now().try_to_rfc3339_string().unwrap_or_default()
}

/// Serves one client until it closes or sends something unparseable.
pub fn serve_client(stream: TcpStream, config: &Config, store: &store::Store, connection_id: i64) -> Result<()> {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    log_line(serde_json::json!({"ts": now(), "event": "connect", "client": peer, "conn": connection_id}));
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut session = commands::Session::new(config, store, connection_id);
    let mut next_id = 1i32;
    let result = loop {
        let (header, body) = match wire::read_message(&mut reader) {
            Ok(Some(m)) => m,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let request = match wire::parse(header, &body) {
            Ok(r) => r,
            Err(e) => break Err(e),
        };
        let outcome = session.handle(&request.db, &request.command);
        let name = commands::Session::name(&request.command);
        let mut line = serde_json::json!({
            "ts": now(), "event": "command", "client": peer, "conn": connection_id,
            "db": request.db, "command": name, "user": session.user,
            "ok": outcome.reply.get("ok").map(|v| v == &Bson::Double(1.0)).unwrap_or(false),
        });
        // SASL payloads hold proofs, not secrets; the rest shows what was asked.
        if !name.to_ascii_lowercase().starts_with("sasl") {
            line["args"] = serde_json::Value::String(summary(&request.command));
        }
        log_line(line);
        if let Some((user, mechanism, success)) = outcome.auth {
            log_line(serde_json::json!({"ts": now(), "event": "auth", "client": peer, "conn": connection_id, "user": user, "mechanism": mechanism, "success": success}));
        }
        if request.more_to_come {
            continue;
        }
        let bytes = wire::reply(&request, next_id, &outcome.reply);
        next_id = next_id.wrapping_add(1);
        if let Err(e) = writer.write_all(&bytes) {
            break Err(e.into());
        }
    };
    let reason = match &result {
        Ok(()) => "closed".to_string(),
        Err(e) => e.to_string(),
    };
    log_line(serde_json::json!({"ts": now(), "event": "disconnect", "client": peer, "conn": connection_id, "reason": reason}));
    result
}

/// Accepts clients forever, one thread each (a sandbox has one attacker).
pub fn serve(listener: TcpListener, config: Config) -> Result<()> {
    let config = Arc::new(config);
    let store = Arc::new(store::Store::with_fake_data());
    let ids = Arc::new(AtomicI64::new(1));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(_) => continue,
        };
        let (config, store) = (config.clone(), store.clone());
        let id = ids.fetch_add(1, Ordering::Relaxed);
        std::thread::spawn(move || {
            let _ = serve_client(stream, &config, &store, id);
        });
    }
    Ok(())
}
