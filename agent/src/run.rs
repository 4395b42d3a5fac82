//! The agent process: enforce the last good policy at once, then follow the
//! detector, send heartbeats and ship logs until told to stop; on a clean
//! stop remove the table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use model::policy::{Heartbeat, Mode, Policy};

use crate::client::PolicyClient;
use crate::config::Config;
use crate::enforce::Enforcer;
use crate::error::{Error, Result};
use crate::follow::{follow, FollowConfig, VersionGate};
use crate::store::PolicyStore;

pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs until `stop` receives (or its sender is dropped).
pub fn run(config: Config, mode: Mode, stop: Receiver<()>) -> Result<()> {
    std::fs::create_dir_all(&config.state_dir)
        .map_err(|e| Error::io(format!("creating {}", config.state_dir.display()), e))?;
    if config.set_ip_forward && mode != Mode::Firewall {
        enable_forwarding();
    }
    let mut enforcer = Enforcer::new(
        &config.table,
        mode,
        config.nft_path.clone(),
        config.conntrack_path.clone(),
        config.services.clone(),
    );
    enforcer.flush_limit = config.conntrack_flush_limit;
    enforcer.masquerade = config.masquerade_to_sandbox;
    let store = PolicyStore::new(&config.state_dir);
    let mut gate = VersionGate::default();

    // Reconcile: the table is rebuilt from the last good policy before the
    // detector is even asked.
    enforcer.start_empty()?;
    match store.load() {
        Ok(Some(policy)) => match enforcer.apply(&policy) {
            Ok(_) => {
                gate.current = policy.version;
                tracing::info!(
                    version = policy.version,
                    attackers = policy.attackers.len(),
                    "last good policy enforced"
                );
            }
            Err(e) => tracing::error!(error = %e, "the saved policy could not be enforced"),
        },
        Ok(None) => tracing::info!("no saved policy yet"),
        Err(e) => tracing::error!(error = %e, "saved policy unreadable; starting empty"),
    }
    let version = Arc::new(AtomicU64::new(gate.current));

    let key = config.agent_key()?;
    let d = &config.detector;
    let client = PolicyClient::new(
        &d.url,
        &d.agent_id,
        &key,
        Duration::from_secs(d.request_timeout_seconds.max(1)),
        Duration::from_secs(d.stream_idle_timeout_seconds.max(1)),
    )?;
    let (tx, rx) = mpsc::channel::<Policy>();
    {
        let client = client.clone();
        let fc = FollowConfig {
            poll_interval: Duration::from_secs(d.poll_interval_seconds.max(1)),
            reconnect_min: d.reconnect_min(),
            reconnect_max: d.reconnect_max(),
        };
        std::thread::Builder::new()
            .name("policy".into())
            .spawn(move || follow(client, fc, tx))
            .map_err(|e| Error::io("starting the policy thread", e))?;
    }
    {
        let heartbeat = Heartbeat {
            host: config.host_name(),
            agent_version: AGENT_VERSION.into(),
            mode,
            policy_version: 0,
            services: config.services.clone(),
        };
        let interval = Duration::from_secs(d.heartbeat_interval_seconds.max(1));
        let version = version.clone();
        std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || loop {
                let hb = Heartbeat {
                    policy_version: version.load(Ordering::Relaxed),
                    ..heartbeat.clone()
                };
                if let Err(e) = client.heartbeat(&hb) {
                    tracing::warn!(error = %e, "heartbeat failed");
                }
                std::thread::sleep(interval);
            })
            .map_err(|e| Error::io("starting the heartbeat thread", e))?;
    }
    let _spool = crate::ship::start(&config)?;

    let table_check = Duration::from_secs(config.table_check_interval_seconds.max(1));
    let mut last_check = std::time::Instant::now();
    loop {
        if last_check.elapsed() >= table_check {
            last_check = std::time::Instant::now();
            if !enforcer.table_present() {
                tracing::warn!(table = %config.table, "table gone from the kernel; loading it again");
                if let Err(e) = enforcer.rebuild() {
                    tracing::error!(error = %e, "could not load the table again");
                }
            }
        }
        match stop.try_recv() {
            Ok(()) | Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        let policy = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(p) => p,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        // Several queued: only the newest matters.
        let mut newest = policy;
        while let Ok(p) = rx.try_recv() {
            if p.version > newest.version {
                newest = p;
            }
        }
        if !gate.newer(&newest) {
            tracing::debug!(
                version = newest.version,
                current = gate.current,
                "not newer; ignored"
            );
            continue;
        }
        if newest.mode != mode {
            tracing::debug!(
                policy_mode = newest.mode.as_str(),
                mode = mode.as_str(),
                "the agent enforces its own --mode"
            );
        }
        match enforcer.apply(&newest) {
            Ok(applied) => {
                gate.current = newest.version;
                version.store(newest.version, Ordering::Relaxed);
                tracing::info!(
                    version = newest.version,
                    attackers = newest.attackers.len(),
                    new = applied.new_attackers,
                    full = applied.full,
                    "policy enforced"
                );
                if let Err(e) = store.save(&newest) {
                    tracing::error!(error = %e, "could not save the policy");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, version = newest.version, "policy not enforced; the previous one stays")
            }
        }
    }
    tracing::info!("stopping: removing the table");
    enforcer.remove()
}

fn enable_forwarding() {
    for path in [
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/ipv6/conf/all/forwarding",
    ] {
        if let Err(e) = std::fs::write(path, b"1") {
            tracing::warn!(path, error = %e, "could not enable forwarding; redirects to other hosts will fail");
        }
    }
}
