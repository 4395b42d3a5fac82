//! vsftpd: its own log (`vsftpd_log_file`, with `log_ftp_protocol` or not)
//! and the wu-ftpd style xferlog (`xferlog_std_format`).

use std::sync::LazyLock;

use regex::Regex;

use super::parse_ip;
use crate::observation::{Kind, Observation, Service};

/// `[pid N] [user] OK LOGIN: Client "1.2.3.4"...`; the user part is absent
/// before login.
static EVENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\[pid \d+\] (?:\[(.*)\] )?(CONNECT|OK LOGIN|FAIL LOGIN|OK UPLOAD|OK DOWNLOAD): Client "([^"]+)"(?:, "(.*)", )?"#)
        .unwrap()
});

pub fn line(msg: &str) -> Option<Observation> {
    let msg = msg.trim_end_matches(['\r', '\n']);
    if let Some(c) = EVENT.captures(msg) {
        let source = parse_ip(&c[3])?;
        let kind = match &c[2] {
            "CONNECT" => Kind::Connect,
            "OK LOGIN" => Kind::LoginSucceeded,
            "FAIL LOGIN" => Kind::LoginFailed,
            "OK UPLOAD" => Kind::Upload,
            _ => Kind::Download,
        };
        let mut obs = Observation::new(Service::Ftp, kind, source);
        if let Some(user) = c.get(1) {
            obs = obs.user(user.as_str());
        }
        if let Some(path) = c.get(4) {
            obs = obs.detail(path.as_str());
        }
        return Some(obs);
    }
    xferlog(msg)
}

/// `DAY MON DD HH:MM:SS YYYY secs host size FILE type action dir mode user service auth id status`;
/// the file name may hold spaces, so it is what lies between the fixed fields.
fn xferlog(msg: &str) -> Option<Observation> {
    let fields: Vec<&str> = msg.split_whitespace().collect();
    if fields.len() < 18 || !fields[4].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let tail = &fields[fields.len() - 9..];
    let (direction, access, user, status) = (tail[2], tail[3], tail[4], tail[8]);
    if !matches!(status, "c" | "i") || !matches!(access, "a" | "r" | "g") {
        return None;
    }
    let kind = match direction {
        "i" => Kind::Upload,
        "o" => Kind::Download,
        _ => return None,
    };
    let source = parse_ip(fields[6])?;
    let file = fields[8..fields.len() - 9].join(" ");
    Some(
        Observation::new(Service::Ftp, kind, source)
            .user(user)
            .detail(file),
    )
}
