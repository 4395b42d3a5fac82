//! The agent's config file (TOML, snake_case keys, units in the names).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use model::policy::ServiceInfo;
use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Host name reported in heartbeats and syslog; the system's by default.
    #[serde(default)]
    pub host: Option<String>,
    /// Last good policy, spool and file offsets live here.
    pub state_dir: PathBuf,
    /// Name of the agent's own nftables table (family `inet`).
    #[serde(default = "default_table")]
    pub table: String,
    /// Redirecting to another host needs forwarding; the agent turns it on.
    #[serde(default = "yes")]
    pub set_ip_forward: bool,
    #[serde(default = "default_nft")]
    pub nft_path: PathBuf,
    #[serde(default = "default_conntrack")]
    pub conntrack_path: PathBuf,
    /// Redirected connections leave with this host's address: for sandboxes
    /// whose replies would not come back through this host (the sandbox
    /// then no longer sees the attacker's address).
    #[serde(default)]
    pub masquerade_to_sandbox: bool,
    /// How often the agent checks that its table is still loaded (and
    /// loads it again if someone removed it).
    #[serde(default = "default_table_check")]
    pub table_check_interval_seconds: u64,
    /// Most conntrack flushes per policy change (one process each).
    #[serde(default = "default_flush_limit")]
    pub conntrack_flush_limit: usize,
    pub detector: DetectorConfig,
    /// The production services this host runs: what gets redirected.
    #[serde(default)]
    pub services: Vec<ServiceInfo>,
    #[serde(default)]
    pub files: Vec<FileConfig>,
    #[serde(default)]
    pub redis_monitor: Vec<RedisMonitorConfig>,
    #[serde(default)]
    pub shipper: ShipperConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    /// Base URL of the policy API, `http://host:port` (no TLS in the agent yet).
    pub url: String,
    pub agent_id: String,
    /// The key printed by `kyoka agents add`; or `agent_key_file`.
    #[serde(default)]
    pub agent_key: Option<String>,
    #[serde(default)]
    pub agent_key_file: Option<PathBuf>,
    /// Where shipped log lines go (RFC 5424 over TCP, octet counting).
    #[serde(default)]
    pub syslog_address: Option<String>,
    /// The CA (PEM) that signed the detector's syslog TLS certificate: when
    /// set, lines go over TLS (RFC 5425) to `syslog_address`, whose host
    /// part must be in the certificate.
    #[serde(default)]
    pub detector_ca: Option<PathBuf>,
    #[serde(default = "default_heartbeat")]
    pub heartbeat_interval_seconds: u64,
    /// Polling is only a fallback while the push stream is down.
    #[serde(default = "default_poll")]
    pub poll_interval_seconds: u64,
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_milliseconds: u64,
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_seconds: u64,
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// The stream is reopened when nothing (not even a keep-alive) arrives
    /// for this long.
    #[serde(default = "default_stream_idle")]
    pub stream_idle_timeout_seconds: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub path: PathBuf,
    /// RFC 5424 APP-NAME the detector's normalisers key on (`vsftpd`, `sshd`…).
    pub app_name: String,
    /// Where to begin a file seen for the first time: `end` or `beginning`.
    #[serde(default)]
    pub start_at: StartAt,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    #[default]
    End,
    Beginning,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisMonitorConfig {
    pub address: SocketAddr,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_redis_app")]
    pub app_name: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipperConfig {
    #[serde(default = "default_file_poll")]
    pub poll_interval_milliseconds: u64,
    /// Past this the spool refuses new lines (and counts them as dropped).
    #[serde(default = "default_spool_max")]
    pub spool_max_bytes: u64,
    /// Longest log line shipped; longer ones are cut.
    #[serde(default = "default_line_max")]
    pub line_max_bytes: usize,
}

impl Default for ShipperConfig {
    fn default() -> Self {
        ShipperConfig {
            poll_interval_milliseconds: default_file_poll(),
            spool_max_bytes: default_spool_max(),
            line_max_bytes: default_line_max(),
        }
    }
}

fn default_table() -> String {
    "kyoka".into()
}
fn yes() -> bool {
    true
}
fn default_nft() -> PathBuf {
    "nft".into()
}
fn default_conntrack() -> PathBuf {
    "conntrack".into()
}
fn default_table_check() -> u64 {
    5
}
fn default_flush_limit() -> usize {
    32
}
fn default_heartbeat() -> u64 {
    30
}
fn default_poll() -> u64 {
    10
}
fn default_reconnect_min() -> u64 {
    200
}
fn default_reconnect_max() -> u64 {
    30
}
fn default_request_timeout() -> u64 {
    5
}
fn default_stream_idle() -> u64 {
    90
}
fn default_redis_app() -> String {
    "redis".into()
}
fn default_file_poll() -> u64 {
    200
}
fn default_spool_max() -> u64 {
    256 * 1024 * 1024
}
fn default_line_max() -> usize {
    8192
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let config: Config = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.check().map_err(|message| Error::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    fn check(&self) -> std::result::Result<(), String> {
        if self.table.is_empty()
            || !self
                .table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!(
                "table {:?}: letters, digits and _ only",
                self.table
            ));
        }
        if !self.detector.url.starts_with("http://") {
            return Err("detector.url must start with http://".into());
        }
        if self.detector.agent_key.is_none() && self.detector.agent_key_file.is_none() {
            return Err("detector.agent_key or detector.agent_key_file is required".into());
        }
        Ok(())
    }

    /// The agent key, from the config or its file (trimmed).
    pub fn agent_key(&self) -> Result<String> {
        if let Some(key) = &self.detector.agent_key {
            return Ok(key.trim().to_owned());
        }
        let path = self
            .detector
            .agent_key_file
            .as_ref()
            .expect("checked at load");
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Ok(text.trim().to_owned())
    }

    pub fn host_name(&self) -> String {
        self.host.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".into())
        })
    }
}

impl DetectorConfig {
    pub fn reconnect_min(&self) -> Duration {
        Duration::from_millis(self.reconnect_min_milliseconds.max(1))
    }
    pub fn reconnect_max(&self) -> Duration {
        Duration::from_secs(self.reconnect_max_seconds.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in docs/agent.md is a valid config.
    #[test]
    fn the_documented_example_loads() {
        let doc = include_str!("../../docs/agent.md");
        let start = doc.find("```toml\n").expect("toml block") + 8;
        let end = start + doc[start..].find("```").expect("block end");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, &doc[start..end]).unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.table, "kyoka");
        assert_eq!(config.detector.heartbeat_interval_seconds, 30);
        assert_eq!(config.services[0].port, 21);
        assert_eq!(config.files[0].start_at, StartAt::End);
        assert_eq!(config.redis_monitor[0].app_name, "redis");
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        for (text, wanted) in [
            ("state_dir = \"/x\"\n[detector]\nurl = \"http://a:1\"\nagent_id = \"a\"\n", "agent_key"),
            ("state_dir = \"/x\"\ntable = \"a;b\"\n[detector]\nurl = \"http://a:1\"\nagent_id = \"a\"\nagent_key = \"k\"\n", "table"),
            ("state_dir = \"/x\"\n[detector]\nurl = \"https://a:1\"\nagent_id = \"a\"\nagent_key = \"k\"\n", "http://"),
            ("state_dir = \"/x\"\nheartbeat = 3\n[detector]\nurl = \"http://a:1\"\nagent_id = \"a\"\nagent_key = \"k\"\n", "unknown field"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = Config::load(&path).unwrap_err().to_string();
            assert!(err.contains(wanted), "{err}");
        }
    }
}
