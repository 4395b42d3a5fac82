//! MongoDB's structured JSON log (4.4 and later): one JSON object a line with
//! `c` (component), `id`, `msg` and `attr`. Authentication results (ACCESS
//! 20249 failed, 20250 succeeded), accepted connections (NETWORK 22943) and
//! logged commands (COMMAND `Slow query`, every command with `slowms` -1)
//! carry the client in `attr.remote`.

use serde_json::Value;

use super::parse_ip;
use crate::observation::{Kind, Observation, Service};

pub fn line(msg: &str) -> Option<Observation> {
    let msg = msg.trim();
    if !msg.starts_with('{') {
        return None;
    }
    let entry: Value = serde_json::from_str(msg).ok()?;
    let attr = entry.get("attr")?;
    let source = parse_ip(attr.get("remote")?.as_str()?)?;
    let id = entry.get("id").and_then(Value::as_u64);
    let text = entry.get("msg").and_then(Value::as_str).unwrap_or("");
    let user = attr
        .get("principalName")
        .or_else(|| attr.get("user"))
        .and_then(Value::as_str);
    let kind = match (id, text) {
        (Some(20249), _) | (_, "Authentication failed") => Kind::LoginFailed,
        (Some(20250), _) | (_, "Authentication succeeded") => Kind::LoginSucceeded,
        (Some(22943), _) | (_, "Connection accepted") => Kind::Connect,
        (_, "Slow query") => Kind::Command,
        _ => return None,
    };
    let mut obs = Observation::new(Service::Mongo, kind, source);
    if let Some(user) = user {
        obs = obs.user(user);
    }
    if kind == Kind::Command {
        let name = attr
            .get("command")
            .and_then(Value::as_object)
            .and_then(|c| c.keys().next().cloned())
            .unwrap_or_default();
        let ns = attr.get("ns").and_then(Value::as_str).unwrap_or("");
        obs = obs.detail(format!("{name} {ns}").trim().to_owned());
    }
    Some(obs)
}
