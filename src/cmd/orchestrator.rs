//! `kyoka orchestrator`: the sandbox service (see sandbox_orchestrator::service).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use sandbox_orchestrator::{Config, Orchestrator};

#[derive(clap::Args)]
/// Runs the sandbox orchestrator: pool, assignment of flagged attackers, reaping
pub struct Args {
    /// Orchestrator settings (TOML); defaults when absent.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides `redis_url`.
    #[arg(long)]
    redis: Option<String>,
    /// Data folder (as `kyoka ingest`/`search` use) that every assigned
    /// sandbox's bridge is captured into; overrides `capture_data`.
    #[arg(long)]
    data: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(url) = args.redis {
        config.redis_url = url;
    }
    if let Some(data) = args.data {
        config.capture_data = Some(data);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let o = Arc::new(Orchestrator::connect(config).await?);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        sandbox_orchestrator::service::run(o, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}
