//! Service log lines → [`Observation`]s. The syslog APP-NAME picks the
//! normaliser (`docs/policy-api.md` lists the names); a line from an app not
//! known is offered to each in turn. A line with no client address (startup
//! messages, `[0 lua]` Redis commands) gives nothing.

mod mongo;
mod mysql;
mod redis;
mod rsyncd;
mod sshd;
mod vsftpd;

use std::net::IpAddr;

use crate::observation::{Observation, Service};

/// Turns lines into observations. Holds the little state MySQL's general log
/// needs (its query lines name a connection id, not a client).
#[derive(Debug, Default)]
pub struct Normaliser {
    mysql: mysql::Connections,
}

impl Normaliser {
    pub fn new() -> Normaliser {
        Normaliser::default()
    }

    /// `origin` tells one sender's MySQL connection ids from another's.
    pub fn line(&mut self, origin: IpAddr, app: Option<&str>, msg: &str) -> Option<Observation> {
        match app.and_then(service_of_app) {
            Some(service) => self.by_service(service, origin, msg),
            None => [
                Service::Ssh,
                Service::Ftp,
                Service::Rsync,
                Service::Redis,
                Service::Mongo,
                Service::Mysql,
            ]
            .into_iter()
            .find_map(|s| self.by_service(s, origin, msg)),
        }
    }

    pub fn by_service(
        &mut self,
        service: Service,
        origin: IpAddr,
        msg: &str,
    ) -> Option<Observation> {
        match service {
            Service::Ftp => vsftpd::line(msg),
            Service::Ssh => sshd::line(msg),
            Service::Rsync => rsyncd::line(msg),
            Service::Mysql => self.mysql.line(origin, msg),
            Service::Redis => redis::line(msg),
            Service::Mongo => mongo::line(msg),
        }
    }
}

/// The syslog APP-NAMEs (and 3164 tags) each service's lines arrive under.
pub fn service_of_app(app: &str) -> Option<Service> {
    Some(match app.to_ascii_lowercase().as_str() {
        "vsftpd" | "xferlog" | "ftp" | "ftpd" => Service::Ftp,
        "sshd" | "sshd-session" | "ssh" => Service::Ssh,
        "rsyncd" | "rsync" => Service::Rsync,
        "mariadbd" | "mysqld" | "mariadb" | "mysql" => Service::Mysql,
        "redis" | "redis-server" | "redis-monitor" => Service::Redis,
        "mongod" | "mongodb" | "mongo" => Service::Mongo,
        _ => return None,
    })
}

/// Parses an address as logged: bare, `[v6]`, or with a `:port` / `.port`.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    let text = text.strip_prefix("::ffff:").unwrap_or(text);
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    let (host, _port) = text.rsplit_once(':')?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}
