//! `kyoka detector`: syslog in, attackers out, the policy API for agents.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use detector::{Detector, FileConfig};

/// Runs the detector until SIGINT or SIGTERM.
#[derive(clap::Args)]
pub struct Args {
    /// Redis URL (`redis://host:6379`, `redis+unix:///path`); overrides `redis_url`.
    #[arg(long)]
    redis: Option<String>,
    /// TCP and UDP syslog address; overrides `syslog_address` (default 0.0.0.0:514).
    #[arg(long)]
    syslog: Option<SocketAddr>,
    /// Policy API address; overrides `api_address` (default 0.0.0.0:8514).
    #[arg(long)]
    api: Option<SocketAddr>,
    /// TOML configuration: mode, whitelist, rules_file, [syslog] limits (docs/rules.md).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let config = file.resolve(args.redis, args.syslog, args.api)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let detector = Detector::start(config).await?;
        // One line on stdout so scripts and tests learn the ports chosen.
        println!(
            "{}",
            serde_json::json!({
                "syslog_tcp": detector.syslog_tcp,
                "syslog_udp": detector.syslog_udp,
                "api": detector.api,
            })
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!(stats = ?detector.stats.snapshot(), "detector stopping");
        detector.stop();
        Ok(ExitCode::SUCCESS)
    })
}
