//! Orchestrator settings (TOML, snake_case keys with their units).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Label `kyoka.instance` on everything: orchestrators (and tests)
    /// sharing one engine only ever see their own sandboxes.
    pub instance: String,
    /// Services every sandbox runs (names of [`crate::services::SPECS`]).
    pub services: Vec<String>,
    /// Image names are `{image_prefix}{service}:latest`.
    pub image_prefix: String,
    /// Sandbox networks are carved out of this IPv4 block, one /27 each.
    pub subnet_pool: String,
    /// Paused, pre-created sandboxes kept ready.
    pub pool_size: usize,
    /// Sandbox networks kept ready, each with the `sleep` container that
    /// holds its address (no service, about 2.6 MiB): a cold sandbox takes
    /// one instead of waiting for the engine to make both.
    pub spare_networks: usize,
    /// Attacker sandboxes at most; more attackers share one sandbox.
    pub max_sandboxes: usize,
    /// No traffic for this long: the sandbox is paused.
    pub idle_freeze_after_secs: u64,
    /// No traffic for this long: the sandbox is destroyed (evidence kept).
    pub idle_destroy_after_secs: u64,
    /// How often the reaper looks at traffic counters.
    pub reap_interval_ms: u64,
    pub memory_limit_mb: u64,
    pub cpu_limit_cores: f64,
    pub pids_limit: i64,
    /// Where `docker diff` and changed files go when a sandbox is destroyed.
    pub evidence_dir: PathBuf,
    /// Changed files kept per container at most.
    pub evidence_max_mb: u64,
    /// Host name every sandbox container reports (match production).
    pub hostname: String,
    /// Extra environment per service, e.g. `FTP_BANNER`, `SSH_VERSION_ADDENDUM`.
    pub service_env: BTreeMap<String, BTreeMap<String, String>>,
    pub redis_url: String,
    /// `host:port` (UDP) receiving every daemon's log lines as RFC 5424 syslog.
    pub syslog_target: Option<String>,
    /// Data folder (as `kyoka ingest`/`search` use) the service captures
    /// every assigned sandbox's bridge into; `None`: no capture.
    pub capture_data: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            instance: "kyoka".into(),
            services: crate::services::SPECS.iter().map(|s| s.name.to_string()).collect(),
            image_prefix: "kyoka/sandbox-".into(),
            subnet_pool: "10.213.0.0/16".into(),
            pool_size: 2,
            spare_networks: 2,
            max_sandboxes: 50,
            idle_freeze_after_secs: 600,
            idle_destroy_after_secs: 6 * 3600,
            reap_interval_ms: 1000,
            memory_limit_mb: 256,
            cpu_limit_cores: 0.5,
            pids_limit: 128,
            evidence_dir: PathBuf::from("/var/lib/kyoka/evidence"),
            evidence_max_mb: 64,
            hostname: "srv01".into(),
            service_env: BTreeMap::new(),
            redis_url: "redis://127.0.0.1:6379/".into(),
            syslog_target: None,
            capture_data: None,
        }
    }
}

impl Config {
    pub fn load(path: Option<&std::path::Path>) -> Result<Config> {
        let config: Config = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)?;
                toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?
            }
            None => Config::default(),
        };
        config.check()?;
        Ok(config)
    }

    pub fn check(&self) -> Result<()> {
        for s in &self.services {
            if crate::services::spec(s).is_none() {
                return Err(Error::Config(format!("unknown service {s:?}")));
            }
        }
        crate::subnets::parse_pool(&self.subnet_pool)?;
        if self.idle_destroy_after_secs < self.idle_freeze_after_secs {
            return Err(Error::Config("idle_destroy_after_secs is shorter than idle_freeze_after_secs".into()));
        }
        Ok(())
    }
}
