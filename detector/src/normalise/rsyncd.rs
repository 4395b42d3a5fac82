//! rsync daemon log (`log file`, or syslog). Clients appear as
//! `NAME (ADDRESS)`; NAME is `UNDETERMINED`/`UNKNOWN` without reverse lookup
//! and `user@NAME` after authentication.

use std::sync::LazyLock;

use regex::Regex;

use super::parse_ip;
use crate::observation::{Kind, Observation, Service};

static CONNECT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bconnect from \S+ \(([^)]+)\)$").unwrap());
static LIST: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bmodule-list request from \S+ \(([^)]+)\)$").unwrap());
static TRANSFER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\brsync (on|to) (.*) from (?:(.*)@)?\S+ \(([^)]+)\)$").unwrap());
static AUTH_FAILED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bauth failed on module (.*) from \S+ \(([^)]+)\)(?: for (.*?))?(?::.*)?$")
        .unwrap()
});

pub fn line(msg: &str) -> Option<Observation> {
    let msg = msg.trim_end_matches(['\r', '\n']);
    if let Some(c) = AUTH_FAILED.captures(msg) {
        let mut obs =
            Observation::new(Service::Rsync, Kind::LoginFailed, parse_ip(&c[2])?).detail(&c[1]);
        if let Some(user) = c.get(3) {
            obs = obs.user(user.as_str());
        }
        return Some(obs);
    }
    if let Some(c) = TRANSFER.captures(msg) {
        let kind = if &c[1] == "on" {
            Kind::Download
        } else {
            Kind::Upload
        };
        let mut obs = Observation::new(Service::Rsync, kind, parse_ip(&c[4])?).detail(&c[2]);
        if let Some(user) = c.get(3) {
            obs = obs.user(user.as_str());
        }
        return Some(obs);
    }
    if let Some(c) = LIST.captures(msg) {
        return Some(Observation::new(
            Service::Rsync,
            Kind::ModuleList,
            parse_ip(&c[1])?,
        ));
    }
    if let Some(c) = CONNECT.captures(msg) {
        return Some(Observation::new(
            Service::Rsync,
            Kind::Connect,
            parse_ip(&c[1])?,
        ));
    }
    None
}
