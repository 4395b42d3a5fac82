//! OpenSSH sshd (syslog or `-E` file; lines from `-E` carry no timestamp and
//! end in CR LF). User names are attacker-chosen and may hold spaces: the
//! address is taken from the last ` from `. Parsed by hand, not by regex:
//! sshd is the busiest log and this is the hot path of a flood.

use super::parse_ip;
use crate::observation::{Kind, Observation, Service};

pub fn line(msg: &str) -> Option<Observation> {
    let msg = msg.trim_end_matches(['\r', '\n']);
    if let Some(rest) = after(msg, "Failed ") {
        return login(rest, Kind::LoginFailed);
    }
    if let Some(rest) = after(msg, "Accepted ") {
        return login(rest, Kind::LoginSucceeded);
    }
    if let Some(rest) = after(msg, "Invalid user ") {
        let (user, source) = user_and_source(rest)?;
        return Some(Observation::new(Service::Ssh, Kind::InvalidUser, source).user(user));
    }
    None
}

/// The text after `word`, where `word` starts the message or follows a space.
fn after<'a>(msg: &'a str, word: &str) -> Option<&'a str> {
    let at = msg.find(word)?;
    (at == 0 || msg.as_bytes()[at - 1] == b' ').then(|| &msg[at + word.len()..])
}

/// `METHOD for [invalid user ]USER from ADDRESS port N ...`
fn login(rest: &str, kind: Kind) -> Option<Observation> {
    let (method, rest) = rest.split_once(" for ")?;
    if method.is_empty() || method.contains(' ') {
        return None;
    }
    let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
    let (user, source) = user_and_source(rest)?;
    Some(
        Observation::new(Service::Ssh, kind, source)
            .user(user)
            .detail(method),
    )
}

/// `USER from ADDRESS port N...`, USER possibly holding ` from `.
fn user_and_source(rest: &str) -> Option<(&str, std::net::IpAddr)> {
    let (user, tail) = rest.rsplit_once(" from ")?;
    let (address, tail) = tail.split_once(' ')?;
    if !tail.starts_with("port ") {
        return None;
    }
    Some((user, parse_ip(address)?))
}
