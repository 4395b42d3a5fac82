//! Log shippers: file followers and Redis MONITOR clients feed a disk spool
//! that one sender drains to the detector as RFC 5424 over TCP.

pub mod file;
pub mod redis;
pub mod redis_admin;
pub mod sender;
pub mod spool;
pub mod syslog;
pub mod tls;
pub mod wake;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, FileConfig, RedisMonitorConfig, ShipperConfig};
use crate::error::{Error, Result};

/// What the shippers need, apart from the rest of the agent's config.
#[derive(Clone, Debug)]
pub struct ShipConfig {
    pub host: String,
    pub state_dir: PathBuf,
    pub syslog_address: String,
    /// TLS to the detector's syslog, trusting this CA (PEM) only.
    pub detector_ca: Option<PathBuf>,
    pub files: Vec<FileConfig>,
    pub redis_monitor: Vec<RedisMonitorConfig>,
    pub shipper: ShipperConfig,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

/// Starts the shipper threads the config asks for (none without a
/// `detector.syslog_address`).
pub fn start(config: &Config) -> Result<Option<Arc<spool::Spool>>> {
    let Some(address) = &config.detector.syslog_address else {
        if !config.files.is_empty() || !config.redis_monitor.is_empty() {
            tracing::warn!("files or redis_monitor configured but no detector.syslog_address: nothing is shipped");
        }
        return Ok(None);
    };
    start_with(ShipConfig {
        host: config.host_name(),
        state_dir: config.state_dir.join("ship"),
        syslog_address: address.clone(),
        detector_ca: config.detector.detector_ca.clone(),
        files: config.files.clone(),
        redis_monitor: config.redis_monitor.clone(),
        shipper: config.shipper.clone(),
        backoff_min: config.detector.reconnect_min(),
        backoff_max: config.detector.reconnect_max(),
    })
    .map(Some)
}

pub fn start_with(config: ShipConfig) -> Result<Arc<spool::Spool>> {
    let tls = match &config.detector_ca {
        Some(ca) => Some(tls::Tls::new(ca, &config.syslog_address)?),
        None => None,
    };
    let spool = Arc::new(spool::Spool::open(
        &config.state_dir,
        config.shipper.spool_max_bytes,
    )?);
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map(|_| ())
            .map_err(|e| Error::io(format!("starting {name}"), e))
    };
    {
        let (address, spool, min, max) = (
            config.syslog_address.clone(),
            spool.clone(),
            config.backoff_min,
            config.backoff_max,
        );
        spawn(
            "ship-send",
            Box::new(move || sender::run(address, tls, spool, min, max)),
        )?;
    }
    let poll = Duration::from_millis(config.shipper.poll_interval_milliseconds.max(10));
    for file in config.files.clone() {
        let (spool, host, dir, line_max) = (
            spool.clone(),
            config.host.clone(),
            config.state_dir.clone(),
            config.shipper.line_max_bytes,
        );
        spawn(
            "ship-file",
            Box::new(move || {
                let mut follower = file::Follower::new(&file.path, file.start_at, &dir, line_max);
                let mut emit = |line: &[u8]| {
                    if let Err(e) = spool.push(&syslog::frame(
                        &host,
                        &file.app_name,
                        line,
                        syslog::now_micros(),
                    )) {
                        tracing::error!(error = %e, "spool write failed");
                    }
                };
                let wake = wake::Wake::new(&file.path);
                loop {
                    if let Err(e) = follower.poll(&mut emit) {
                        tracing::warn!(path = %file.path.display(), error = %e, "following failed");
                    }
                    wake.wait(poll);
                }
            }),
        )?;
    }
    for redis in config.redis_monitor.clone() {
        let admin = redis.clone();
        let own = redis_admin::Own::default();
        let own_for_monitor = own.clone();
        let admin_spool = spool.clone();
        let (spool, host, min, max) = (
            spool.clone(),
            config.host.clone(),
            config.backoff_min,
            config.backoff_max,
        );
        spawn(
            "ship-redis",
            Box::new(move || {
                let app = redis.app_name.clone();
                let mut emit = |line: &[u8]| {
                    if redis_admin::is_own(&own_for_monitor, line) {
                        return;
                    }
                    if let Err(e) =
                        spool.push(&syslog::frame(&host, &app, line, syslog::now_micros()))
                    {
                        tracing::error!(error = %e, "spool write failed");
                    }
                };
                redis::run(redis, &mut emit, min, max)
            }),
        )?;
        let (spool, host, min, max) = (
            admin_spool,
            config.host.clone(),
            config.backoff_min,
            config.backoff_max,
        );
        spawn(
            "ship-redis-admin",
            Box::new(move || {
                let app = admin.app_name.clone();
                let mut emit = |line: &[u8]| {
                    if let Err(e) =
                        spool.push(&syslog::frame(&host, &app, line, syslog::now_micros()))
                    {
                        tracing::error!(error = %e, "spool write failed");
                    }
                };
                redis_admin::run(admin, own, &mut emit, min, max)
            }),
        )?;
    }
    Ok(spool)
}
