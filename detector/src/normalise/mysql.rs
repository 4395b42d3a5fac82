//! MariaDB/MySQL: the general log (connects, queries, refused logins) and
//! the error log's `Access denied` warnings. Query lines carry a connection
//! id only, so the client of each open connection is remembered (per sender,
//! bounded). Addresses need `skip_name_resolve`: a host name is no address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

use super::parse_ip;
use crate::observation::{Kind, Observation, Service};

/// Connections remembered per detector; past this the table starts over.
const MAX_CONNECTIONS: usize = 100_000;

static ENTRY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\d{6}\s+\d{1,2}:\d{2}:\d{2})?\s*(\d+) (Connect|Query|Quit|Init DB|Execute|Prepare|Field List|Change user)\t?(.*)$").unwrap()
});
static DENIED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Access denied for user '(.*)'@'([^']*)'").unwrap());
static CONNECT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(.*)@(\S+) on (\S*)").unwrap());

#[derive(Debug, Default)]
pub struct Connections {
    open: HashMap<(IpAddr, u64), (IpAddr, String)>,
    /// The connection whose statement a continuation line belongs to.
    last: HashMap<IpAddr, u64>,
}

impl Connections {
    pub fn line(&mut self, origin: IpAddr, msg: &str) -> Option<Observation> {
        let msg = msg.trim_end_matches(['\r', '\n']);
        if let Some(c) = DENIED.captures(msg) {
            if let Some(id) = ENTRY.captures(msg).and_then(|e| e[1].parse::<u64>().ok()) {
                self.open.remove(&(origin, id));
            }
            self.last.remove(&origin);
            return Some(
                Observation::new(Service::Mysql, Kind::LoginFailed, parse_ip(&c[2])?).user(&c[1]),
            );
        }
        let Some(c) = ENTRY.captures(msg) else {
            return self.continuation(origin, msg);
        };
        let id: u64 = c[1].parse().ok()?;
        let argument = &c[3];
        match &c[2] {
            "Connect" => {
                let c = CONNECT.captures(argument)?;
                let source = parse_ip(&c[2])?;
                if self.open.len() >= MAX_CONNECTIONS {
                    self.open.clear();
                }
                self.open.insert((origin, id), (source, c[1].to_owned()));
                self.last.remove(&origin);
                Some(Observation::new(Service::Mysql, Kind::Connect, source).user(&c[1]))
            }
            "Quit" => {
                self.open.remove(&(origin, id));
                self.last.remove(&origin);
                None
            }
            _ => {
                let (source, user) = self.open.get(&(origin, id))?.clone();
                self.last.insert(origin, id);
                Some(
                    Observation::new(Service::Mysql, Kind::Query, source)
                        .user(user)
                        .detail(argument),
                )
            }
        }
    }

    /// A statement over several lines: the next lines have no prefix.
    fn continuation(&self, origin: IpAddr, msg: &str) -> Option<Observation> {
        let id = self.last.get(&origin)?;
        let (source, user) = self.open.get(&(origin, *id))?;
        let text = msg.trim();
        if text.is_empty() {
            return None;
        }
        Some(
            Observation::new(Service::Mysql, Kind::Query, *source)
                .user(user.clone())
                .detail(text),
        )
    }
}
