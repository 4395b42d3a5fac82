//! The detector's configuration file (TOML, snake_case keys with units).
//! Command-line flags override `redis_url`, `syslog_address` and
//! `api_address`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use model::policy::{Mode, Whitelist};
use serde::Deserialize;

use crate::rules::Rules;
use crate::syslog::SyslogLimits;
use crate::whitelist::Networks;
use crate::{Error, Result};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub redis_url: Option<String>,
    /// TCP and UDP syslog on one address.
    pub syslog_address: Option<SocketAddr>,
    pub syslog_udp: bool,
    pub api_address: Option<SocketAddr>,
    pub mode: Mode,
    pub whitelist: Whitelist,
    /// A rules file instead of the built-in set.
    pub rules_file: Option<std::path::PathBuf>,
    pub syslog: SyslogConfig,
    /// Syslog over TLS (RFC 5425) on its own address; off when absent.
    pub syslog_tls: Option<SyslogTls>,
}

/// `[syslog_tls]`: where TLS syslog listens, and its certificate and key
/// (PEM files).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogTls {
    pub address: SocketAddr,
    pub cert_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    pub max_message_bytes: usize,
    /// Per source address; 0 = no limit. TCP senders are slowed, UDP dropped.
    pub rate_limit_messages_per_second: u64,
    pub rate_limit_burst_messages: u64,
    pub max_tcp_connections: usize,
    pub tcp_idle_timeout_seconds: u64,
    /// Lines waiting for the pipeline.
    pub queue_messages: usize,
}

impl Default for FileConfig {
    fn default() -> FileConfig {
        FileConfig {
            redis_url: None,
            syslog_address: None,
            syslog_udp: true,
            api_address: None,
            mode: Mode::Unreal,
            whitelist: Whitelist::default(),
            rules_file: None,
            syslog: SyslogConfig::default(),
            syslog_tls: None,
        }
    }
}

impl Default for SyslogConfig {
    fn default() -> SyslogConfig {
        let limits = SyslogLimits::default();
        SyslogConfig {
            max_message_bytes: limits.max_message_bytes,
            rate_limit_messages_per_second: 200_000,
            rate_limit_burst_messages: 400_000,
            max_tcp_connections: limits.max_tcp_connections,
            tcp_idle_timeout_seconds: limits.tcp_idle_timeout.as_secs(),
            queue_messages: 65_536,
        }
    }
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
    }
}

/// Everything [`crate::Detector::start`] needs, resolved.
#[derive(Clone, Debug)]
pub struct Config {
    pub redis_url: String,
    /// TCP syslog; UDP too on the same port when `syslog_udp`. None = no syslog.
    pub syslog_address: Option<SocketAddr>,
    pub syslog_udp: bool,
    /// Syslog over TLS; None = off.
    pub syslog_tls: Option<SyslogTls>,
    /// None = no API.
    pub api_address: Option<SocketAddr>,
    pub mode: Mode,
    pub whitelist: Whitelist,
    pub rules: Rules,
    pub limits: SyslogLimits,
    pub rate_limit_messages_per_second: u64,
    pub rate_limit_burst_messages: u64,
    pub queue_messages: usize,
}

impl Config {
    /// Defaults: unreal mode, built-in rules, loopback ports chosen by the system.
    pub fn new(redis_url: impl Into<String>) -> Config {
        FileConfig::default()
            .resolve(
                Some(redis_url.into()),
                Some(([127, 0, 0, 1], 0).into()),
                Some(([127, 0, 0, 1], 0).into()),
            )
            .expect("defaults resolve")
    }
}

impl FileConfig {
    /// Applies the flags over the file.
    pub fn resolve(
        self,
        redis_url: Option<String>,
        syslog: Option<SocketAddr>,
        api: Option<SocketAddr>,
    ) -> Result<Config> {
        let rules = match &self.rules_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                Rules::from_toml(&text)?
            }
            None => Rules::builtin(),
        };
        Networks::parse(&self.whitelist.addresses)?;
        let s = self.syslog;
        Ok(Config {
            redis_url: redis_url
                .or(self.redis_url)
                .ok_or_else(|| Error::Config("no redis_url (--redis)".into()))?,
            syslog_address: syslog
                .or(self.syslog_address)
                .or(Some(([0, 0, 0, 0], 514).into())),
            syslog_udp: self.syslog_udp,
            syslog_tls: self.syslog_tls,
            api_address: api
                .or(self.api_address)
                .or(Some(([0, 0, 0, 0], 8514).into())),
            mode: self.mode,
            whitelist: self.whitelist,
            rules,
            limits: SyslogLimits {
                max_message_bytes: s.max_message_bytes.max(64),
                max_tcp_connections: s.max_tcp_connections.max(1),
                tcp_idle_timeout: Duration::from_secs(s.tcp_idle_timeout_seconds.max(1)),
            },
            rate_limit_messages_per_second: s.rate_limit_messages_per_second,
            rate_limit_burst_messages: s.rate_limit_burst_messages,
            queue_messages: s.queue_messages.max(1),
        })
    }
}
