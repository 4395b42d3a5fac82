//! OpenSSH sshd (syslog or `-E` file; lines from `-E` carry no timestamp and
//! end in CR LF). User names are attacker-chosen and may hold spaces: the
//! address is taken from the last ` from `.

use std::sync::LazyLock;

use regex::Regex;

use super::parse_ip;
use crate::observation::{Kind, Observation, Service};

static FAILED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Failed (\S+) for (?:invalid user )?(.*) from (\S+) port \d+").unwrap());
static ACCEPTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Accepted (\S+) for (.*) from (\S+) port \d+").unwrap());
static INVALID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"Invalid user (.*) from (\S+) port \d+").unwrap());

pub fn line(msg: &str) -> Option<Observation> {
    let msg = msg.trim_end_matches(['\r', '\n']);
    if let Some(c) = FAILED.captures(msg) {
        let source = parse_ip(&c[3])?;
        return Some(Observation::new(Service::Ssh, Kind::LoginFailed, source).user(&c[2]).detail(&c[1]));
    }
    if let Some(c) = ACCEPTED.captures(msg) {
        let source = parse_ip(&c[3])?;
        return Some(Observation::new(Service::Ssh, Kind::LoginSucceeded, source).user(&c[2]).detail(&c[1]));
    }
    if let Some(c) = INVALID.captures(msg) {
        let source = parse_ip(&c[2])?;
        return Some(Observation::new(Service::Ssh, Kind::InvalidUser, source).user(&c[1]));
    }
    None
}
