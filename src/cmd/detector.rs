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
    /// Syslog over TLS (RFC 5425) on this address; needs --tls-cert and
    /// --tls-key unless `[syslog_tls]` in the configuration gives them.
    #[arg(long)]
    syslog_tls: Option<SocketAddr>,
    /// PEM certificate (chain) for --syslog-tls.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --syslog-tls.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// TOML configuration: mode, whitelist, rules_file, [syslog] limits (docs/rules.md).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The flags over `[syslog_tls]`: each flag replaces its part.
fn syslog_tls(
    file: Option<detector::SyslogTls>,
    address: Option<SocketAddr>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<Option<detector::SyslogTls>> {
    if file.is_none() && address.is_none() {
        anyhow::ensure!(
            cert.is_none() && key.is_none(),
            "--tls-cert and --tls-key need --syslog-tls ADDR:PORT"
        );
        return Ok(None);
    }
    let address = address.or(file.as_ref().map(|f| f.address));
    let cert_file = cert.or(file.as_ref().map(|f| f.cert_file.clone()));
    let key_file = key.or(file.as_ref().map(|f| f.key_file.clone()));
    match (address, cert_file, key_file) {
        (Some(address), Some(cert_file), Some(key_file)) => Ok(Some(detector::SyslogTls {
            address,
            cert_file,
            key_file,
        })),
        _ => anyhow::bail!("--syslog-tls needs --tls-cert FILE and --tls-key FILE"),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let mut config = file.resolve(args.redis, args.syslog, args.api)?;
    config.syslog_tls = syslog_tls(
        config.syslog_tls.take(),
        args.syslog_tls,
        args.tls_cert,
        args.tls_key,
    )?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let detector = Detector::start(config).await?;
        // One line on stdout so scripts and tests learn the ports chosen.
        println!(
            "{}",
            serde_json::json!({
                "syslog_tcp": detector.syslog_tcp,
                "syslog_udp": detector.syslog_udp,
                "syslog_tls": detector.syslog_tls,
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
